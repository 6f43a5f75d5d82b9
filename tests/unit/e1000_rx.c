/* e1000 unit tests: RX filtering, checksum status, VLAN stripping, multi-descriptor frames,
 * a full ring, RX disabled, and MAC loopback. */
#include "tests/unit/e1000_fixture.h"

#include "devices/pci.h"
#include "net/offload.h"
#include "vmm/iobus.h"

#include <check.h>
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_rx_unicast)
{
    rx_init(16, RCTL_STD);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    wr(IMS, ICR_RXT0);
    ck_assert(deliver(frame, n));
    rx_expect(0, frame, n, 4);
    ck_assert_uint_eq(rd(RDH), 1);
    ck_assert(line.level);
    ck_assert(rd(ICR) & ICR_RXT0);
    /* Status: IPv4 and UDP checksums verified good (RXCSUM's defaults). */
    ck_assert_uint_eq(rxd(0)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    ck_assert_uint_eq(rxd(0)[13], 0);
    /* Another unicast address: filtered, counted. */
    uint8_t other[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
    n = udp_frame(frame, other, 100, FN_CSUM_FULL);
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(1));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_filtered, 1);
    /* A second receive address (RAR1, as e1000_set_rx_mode fills it). */
    wr(RA + 8, other[0] | other[1] << 8 | other[2] << 16 | (uint32_t)other[3] << 24);
    wr(RA + 12, other[4] | other[5] << 8 | 0x80000000u);
    ck_assert(deliver(frame, n));
    rx_expect(1, frame, n, 4);
    /* Short frames are padded to 60 bytes; SECRC strips the FCS from the count. */
    wr(RCTL, RCTL_STD | RCTL_SECRC);
    n = 42;
    ck_assert(deliver(frame, n));
    rx_expect(2, frame, n, 0);
    ck_assert_uint_eq(rd(GPRC), 3);
    ck_assert_uint_eq(rd(TPR), 3);
    ck_assert_uint_eq(rd(PRC64), 1);
}
END_TEST

/* The frame (n bytes) is filtered until reg is written with v; then it lands in descriptor
 * d. */
static void rx_filtered_until(size_t n, unsigned d, uint32_t reg, uint32_t v)
{
    deliver(frame, n);
    ck_assert_msg(!rx_done(d), "frame %u accepted before 0x%x = 0x%x", d, reg, v);
    wr(reg, v);
    deliver(frame, n);
    ck_assert_msg(rx_done(d), "frame %u filtered after 0x%x = 0x%x", d, reg, v);
}

START_TEST(test_rx_multicast_broadcast_promisc)
{
    rx_init(32, RCTL_EN); /* no BAM */
    size_t n = udp_frame(frame, fn_broadcast, 40, FN_CSUM_FULL);
    rx_filtered_until(n, 0, RCTL, RCTL_EN | RCTL_BAM);
    /* Multicast 01:00:5e:00:00:fb through the table (MO 0: bits 47:36). */
    uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    n = udp_frame(frame, mc, 40, FN_CSUM_FULL);
    unsigned hash = ((mc[4] >> 4) | (unsigned)mc[5] << 4) & 0xfff;
    rx_filtered_until(n, 1, MTA + 4 * (hash >> 5), 1u << (hash & 31));
    /* MO 3 (bits 43:32) uses another bit. */
    wr(RCTL, RCTL_EN | RCTL_BAM | 3u << 12);
    rx_filtered_until(n, 2, RCTL, RCTL_EN | RCTL_BAM | RCTL_MPE);
    /* Unicast promiscuous. */
    uint8_t other[6] = {0x02, 0, 0, 0, 0, 1};
    n = udp_frame(frame, other, 40, FN_CSUM_FULL);
    rx_filtered_until(n, 3, RCTL, RCTL_EN | RCTL_UPE);
    ck_assert_uint_eq(rd(BPRC), 1);
    ck_assert_uint_eq(rd(MPRC), 2);
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_filtered, 4);
}
END_TEST

START_TEST(test_rx_checksum_status)
{
    rx_init(16, RCTL_STD);
    size_t n = tcp4_frame(frame, 300, 9, FN_TCP_ACK);
    memcpy(frame, mac, 6);
    deliver(frame, n);
    ck_assert_uint_eq(rxd(0)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    ck_assert_uint_eq(rxd(0)[13], 0);
    frame[60] ^= 1; /* payload corrupted */
    deliver(frame, n);
    ck_assert_uint_eq(rxd(1)[13], RX_TCPE);
    frame[60] ^= 1;
    frame[22] ^= 1; /* TTL: the IP header checksum breaks */
    deliver(frame, n);
    ck_assert_uint_eq(rxd(2)[13] & RX_IPE, RX_IPE);
    frame[22] ^= 1;
    wr(RXCSUM, 0);
    deliver(frame, n);
    ck_assert_uint_eq(rxd(3)[12], RX_DD | RX_EOP | RX_IXSM);
    /* A frame from a backend with NEEDS_CSUM (tap with offloads): completed by the device. */
    wr(RXCSUM, 0x300);
    uint16_t good = fn_get16(frame + 50);
    fn_put16(frame + 50, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34)));
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, 34, 16);
    deliver_hdr(&h, frame, n);
    ck_assert_uint_eq(fn_get16(rxbuf(4) + 50), good);
    ck_assert_uint_eq(rxd(4)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    /* GSO frames are never accepted (not negotiated): dropped and counted. */
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = htole16(100);
    uint64_t before = e1000_get_stats(dev)->rx_drop_oversize;
    deliver_hdr(&h, frame, n);
    ck_assert(!rx_done(5));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_oversize, before + 1);
}
END_TEST

START_TEST(test_rx_vlan_strip)
{
    rx_init(16, RCTL_STD);
    wr(CTRL, rd(CTRL) | 0x40000000u);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    uint8_t tagged[200];
    memcpy(tagged, frame, 12);
    fn_put16(tagged + 12, 0x8100);
    fn_put16(tagged + 14, 0x6007);
    memcpy(tagged + 16, frame + 12, n - 12);
    deliver(tagged, n + 4);
    rx_expect(0, frame, n, 4);
    ck_assert(rxd(0)[12] & RX_VP);
    ck_assert(rxd(0)[12] & RX_TCPCS);
    ck_assert_uint_eq(get16le(rxd(0) + 14), 0x6007);
    /* Without VME the tag stays. */
    wr(CTRL, rd(CTRL) & ~0x40000000u);
    deliver(tagged, n + 4);
    rx_expect(1, tagged, n + 4, 4);
    ck_assert_uint_eq(rxd(1)[12] & RX_VP, 0);
}
END_TEST

/* Long packets: span consecutive descriptors, EOP on the last (LPE and 1024-byte buffers);
 * without LPE a frame over 1522 bytes is dropped and counted (ROC). */
START_TEST(test_rx_long_frames)
{
    rx_init(16, RCTL_STD | RCTL_LPE | 1u << 16); /* BSIZE 1024 */
    size_t n = udp_frame(frame, mac, 3000, FN_CSUM_FULL);
    deliver(frame, n);
    size_t total = n + 4, off = 0;
    unsigned d = 0;
    for (; off < total; d++) {
        size_t chunk = total - off < 1024 ? total - off : 1024;
        ck_assert(rxd(d)[12] & RX_DD);
        ck_assert_uint_eq(!!(rxd(d)[12] & RX_EOP), off + chunk == total);
        ck_assert_uint_eq(get16le(rxd(d) + 8), chunk);
        size_t data = off < n ? (n - off < chunk ? n - off : chunk) : 0;
        ck_assert_mem_eq(rxbuf(d), frame + off, data);
        off += chunk;
    }
    ck_assert_uint_eq(d, 3);
    ck_assert_uint_eq(rd(RDH), 3);
    ck_assert(rxd(2)[12] & RX_TCPCS);
    /* Checklist: frame longer than the buffer with long-packet mode off. */
    wr(RCTL, RCTL_STD);
    deliver(frame, n);
    ck_assert(!rx_done(3));
    ck_assert_uint_eq(rd(ROC), 1);
    n = udp_frame(frame, mac, 1472, FN_CSUM_FULL); /* 1514: fits a 2048-byte buffer */
    deliver(frame, n);
    rx_expect(3, frame, n, 4);
    /* 1522 with FCS: a VLAN-sized frame is still accepted, 1523 is not. */
    n = udp_frame(frame, mac, 1476, FN_CSUM_FULL);
    deliver(frame, n);
    rx_expect(4, frame, n, 4);
    n = udp_frame(frame, mac, 1477, FN_CSUM_FULL);
    deliver(frame, n);
    ck_assert(!rx_done(5));
    ck_assert_uint_eq(rd(ROC), 1);
}
END_TEST

/* Checklist: no free descriptors. receive() says "no room": the layer keeps the frame (RNBC
 * counts the refusal, RXO is raised); when RDT moves the frame arrives. Frames past the
 * layer's bounded queue are dropped there and show up in MPC. */
START_TEST(test_rx_ring_full)
{
    rx_init(8, RCTL_STD); /* seven descriptors for the device */
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    for (int i = 0; i < 7; i++)
        ck_assert(deliver(frame, n));
    ck_assert_uint_eq(rd(RDH), 7);
    ck_assert(!deliver(frame, n)); /* queued by the layer */
    ck_assert_uint_eq(rd(RNBC), 1);
    ck_assert(rd(ICR) & ICR_RXO);
    ck_assert_uint_eq(rd(ICR), 0); /* read-to-clear */
    /* The driver cleans descriptor 0 and gives it back. */
    memset(rxd(0) + 8, 0, 8);
    wr(RDT, 0);
    pump();
    ck_assert(rx_done(7));
    ck_assert_uint_eq(rd(RDH), 0);
    /* Flood a full ring: 256 frames fit the layer's queue, the rest are missed. */
    for (int i = 0; i < 300; i++)
        deliver(frame, n);
    ck_assert_uint_eq(rd(MPC), 300 - 256);
    ck_assert_uint_eq(rd(MPC), 0);
    ck_assert_uint_ge(e1000_get_stats(dev)->rx_drop_no_desc, 1);
}
END_TEST

START_TEST(test_rx_disabled)
{
    rx_init(16, 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n)); /* dropped by the NIC, not queued */
    ck_assert(!rx_done(0));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_disabled, 1);
    /* No bus mastering: no DMA either. */
    wr(RCTL, RCTL_STD);
    e1000_pci(dev)->cfg[PCI_COMMAND] &= (uint8_t)~PCI_COMMAND_MASTER;
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(0));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_disabled, 2);
    e1000_pci(dev)->cfg[PCI_COMMAND] |= PCI_COMMAND_MASTER;
    ck_assert(deliver(frame, n));
    ck_assert(rx_done(0));
}
END_TEST

/* MAC loopback: frames sent come back through the receive ring, via the loopback queue. */
START_TEST(test_loopback)
{
    tx_init(16);
    rx_init(16, RCTL_STD | RCTL_LBM);
    size_t n = tx_udp_frame(mac, 200);
    txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(0);
    rx_expect(0, frame, n, 4);
    /* A TSO frame comes back segmented and checksummed. */
    size_t len;
    tso4_post(&len);
    memcpy(frame, mac, 6);
    memcpy(ram + TXBUF, mac, 6);
    tx_kick();
    for (unsigned i = 1; i <= 4; i++) {
        ck_assert(rx_done(i));
        ck_assert_uint_eq(tcp4_check(rxbuf(i), get16le(rxd(i) + 8) - 4), 0);
    }
    /* Frames from the backend are not received while in loopback. */
    deliver(frame, 60);
    ck_assert(!rx_done(5));
}
END_TEST

void e1000_rx_tests(const struct e1000_tcases *tc)
{
    tcase_add_test(tc->rx, test_rx_unicast);
    tcase_add_test(tc->rx, test_rx_multicast_broadcast_promisc);
    tcase_add_test(tc->rx, test_rx_checksum_status);
    tcase_add_test(tc->rx, test_rx_vlan_strip);
    tcase_add_test(tc->rx, test_rx_long_frames);
    tcase_add_test(tc->rx, test_rx_ring_full);
    tcase_add_test(tc->rx, test_rx_disabled);
    tcase_add_test(tc->rx, test_loopback);
}
