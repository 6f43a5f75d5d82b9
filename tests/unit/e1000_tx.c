/* e1000 unit tests: TX of legacy, checksum-offload and TSO frames built as Linux's e1000
 * driver builds them (checked byte by byte after software segmentation, and as one GSO frame
 * with its header), VLAN insertion, back-pressure and the per-kick budget. */
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

/* tx_post_sent: a ring of count descriptors, post() on it, then the kick, which must send
 * nsent frames. Returns post()'s frame length. */
static size_t tx_post_sent(unsigned count, size_t (*post)(void), unsigned nsent)
{
    tx_init(count);
    size_t n = post();
    tx_kick_sent(nsent);
    return n;
}

START_TEST(test_tx_legacy)
{
    tx_init(16);
    size_t n = udp_frame(frame, peer_mac, 100, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, 40);
    memcpy(ram + TXBUF + 0x1000, frame + 40, n - 40);
    unsigned a = txd_legacy(TXBUF, 40, C_IFCS, 0, 0, 0);
    unsigned b = txd_legacy(TXBUF + 0x1000, (uint16_t)(n - 40), C_EOP | C_IFCS | C_RS, 0, 0, 0);
    wr(IMS, ICR_TXDW);
    tx_kick_sent(1);
    ck_assert(!be.sent[0].has_hdr);
    ck_assert_uint_eq(be.sent[0].len, n);
    ck_assert_mem_eq(be.sent[0].data, frame, n);
    ck_assert(txd_done(b));
    ck_assert(!txd_done(a)); /* no RS: no write-back */
    ck_assert_uint_eq(rd(TDH), 2);
    ck_assert(line.level);
    uint32_t icr = rd(ICR);
    ck_assert_uint_eq(icr & (ICR_TXDW | ICR_TXQE), ICR_TXDW | ICR_TXQE);
    ck_assert(!line.level);
    ck_assert_uint_eq(rd(GPTC), 1);
    ck_assert_uint_eq(rd(TPT), 1);
    ck_assert_uint_eq(rd(GOTCL), n + 4);
    ck_assert_uint_eq(rd(GOTCH), 0);
    ck_assert_uint_eq(rd(GOTCL), 0); /* cleared by the read of the high half */
    ck_assert_uint_eq(rd(GPTC), 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_packets, 1);
}
END_TEST

START_TEST(test_tx_tso_segments)
{
    tx_init(64);
    size_t n;
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    unsigned last = tso4_post(&n);
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    tx_kick();
    ck_assert(txd_done(last));
    unsigned segs = (TSO_PAYLOAD + TSO_MSS - 1) / TSO_MSS;
    ck_assert_uint_eq(be.nsent, segs);
    size_t off = 0;
    for (unsigned i = 0; i < segs; i++) {
        const struct sent_frame *s = &be.sent[i];
        size_t pl = TSO_PAYLOAD - off < TSO_MSS ? TSO_PAYLOAD - off : TSO_MSS;
        ck_assert(!s->has_hdr);
        ck_assert_uint_eq(s->len, TSO_HDRS + pl);
        ck_assert_mem_eq(s->data, orig, 14);
        const uint8_t *ip = s->data + 14, *t = s->data + 34;
        ck_assert_uint_eq(fn_get16(ip + 2), 40 + pl);
        ck_assert_uint_eq(fn_get16(ip + 4), 0x1234 + i);
        ck_assert_uint_eq(ip4_check(s->data), 0);
        ck_assert_uint_eq(tcp4_check(s->data, s->len), 0);
        ck_assert_uint_eq(fn_get32(t + 4), 1000 + off);
        ck_assert_uint_eq(fn_get32(t + 8), 777);
        ck_assert_uint_eq(t[13], i + 1 == segs ? FN_TCP_ACK | FN_TCP_PSH : FN_TCP_ACK);
        ck_assert_mem_eq(t + 20, orig + TSO_HDRS + off, pl);
        off += pl;
    }
    ck_assert_uint_eq(rd(TSCTC), 1);
    ck_assert_uint_eq(rd(TSCTFC), 0);
    ck_assert_uint_eq(rd(GPTC), segs);
    ck_assert_uint_eq(rd(GOTCL), TSO_PAYLOAD + segs * (TSO_HDRS + 4));
}
END_TEST

START_TEST(test_tx_tso_vnet)
{
    tx_init(64);
    size_t n;
    tso4_post(&n);
    tx_kick_sent(1);
    const struct sent_frame *s = &be.sent[0];
    ck_assert(s->has_hdr);
    ck_assert_uint_eq(s->len, n);
    ck_assert_uint_eq(s->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(le16toh(s->hdr.gso_size), TSO_MSS);
    ck_assert_uint_eq(le16toh(s->hdr.hdr_len), TSO_HDRS);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 34);
    ck_assert_uint_eq(le16toh(s->hdr.csum_offset), 16);
    /* A normal GSO packet: real total length, valid header checksum, TCP checksum seeded with
     * the full pseudo header (length included). */
    ck_assert_uint_eq(fn_get16(s->data + 16), n - 14);
    ck_assert_uint_eq(ip4_check(s->data), 0);
    uint16_t seed = fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34));
    ck_assert_uint_eq(fn_get16(s->data + 50), seed);
    ck_assert_int_eq(offload_check(&s->hdr, s->data, s->len), 0);
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    ck_assert_mem_eq(s->data + TSO_HDRS, orig + TSO_HDRS, TSO_PAYLOAD);
}
END_TEST

/* IPv6 TSO as tcp_v6_gso_csum_prep leaves it: payload length 0, pseudo header seed without
 * the length; no IP bit, no IXSM. */
static size_t tso6_post(void)
{
    const size_t pl = 2500, hl = 14 + 40 + 20;
    uint8_t *f = frame;
    memset(f, 0, hl + pl);
    memcpy(f, host.mac, 6);
    memcpy(f + 6, guest.mac, 6);
    fn_put16(f + 12, 0x86dd);
    uint8_t *ip = f + 14, *t = f + 54;
    ip[0] = 0x60;
    ip[6] = FN_PROTO_TCP;
    ip[7] = 64;
    for (int i = 0; i < 16; i++) {
        ip[8 + i] = (uint8_t)(0x20 + i);
        ip[24 + i] = (uint8_t)(0x40 + i);
    }
    fn_put16(t, 1111);
    fn_put16(t + 2, 2222);
    fn_put32(t + 4, 5000);
    t[12] = 5 << 4;
    t[13] = FN_TCP_ACK;
    for (size_t i = 0; i < pl; i++)
        t[20 + i] = (uint8_t)(i * 3);
    uint32_t ps = offload_csum_add(0, ip + 8, 32) + FN_PROTO_TCP;
    fn_put16(t + 16, fold16(ps));
    memcpy(ram + TXBUF, f, hl);
    memcpy(ram + TXBUF + 0x1000, f + hl, pl);
    struct ctx c = {14, 24, 54, 70, (uint8_t)hl, T_TCP, 0, 0, 1200, (uint32_t)pl};
    txd_ctx(&c, C_TSE);
    txd_data(TXBUF, (uint32_t)hl, C_TSE | C_IFCS, POPTS_TXSM, 0);
    txd_data(TXBUF + 0x1000, (uint32_t)pl, C_TSE | C_IFCS | C_EOP | C_RS, POPTS_TXSM, 0);
    return hl + pl;
}

START_TEST(test_tx_tso6)
{
    tx_post_sent(64, tso6_post, 3);
    for (unsigned i = 0; i < 3; i++) {
        const struct sent_frame *s = &be.sent[i];
        size_t pl = i < 2 ? 1200 : 100;
        ck_assert_uint_eq(s->len, 74 + pl);
        ck_assert_uint_eq(fn_get16(s->data + 18), 20 + pl);
        uint32_t ps = offload_csum_add(0, s->data + 22, 32) + FN_PROTO_TCP + (uint32_t)(20 + pl);
        ck_assert_uint_eq(fn_csum_naive(ps, s->data + 54, 20 + pl), 0);
        ck_assert_uint_eq(fn_get32(s->data + 58), 5000 + 1200 * i);
        ck_assert_mem_eq(s->data + 74, frame + 74 + 1200 * i, pl);
    }
}
END_TEST

START_TEST(test_tx_tso6_vnet)
{
    size_t n = tx_post_sent(64, tso6_post, 1);
    const struct sent_frame *s = &be.sent[0];
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 54);
    ck_assert_uint_eq(le16toh(s->hdr.hdr_len), 74);
    ck_assert_uint_eq(fn_get16(s->data + 18), n - 54);
    uint32_t ps = offload_csum_add(0, frame + 22, 32) + FN_PROTO_TCP + (uint32_t)(n - 54);
    ck_assert_uint_eq(fn_get16(s->data + 70), fold16(ps));
}
END_TEST

/* Checksum offload as e1000_tx_csum() sets it up (a context without TSE, POPTS.TXSM on the
 * data descriptors), here for UDP, plus IXSM for the IPv4 header. */
static size_t udp_csum_post(void)
{
    size_t n = udp_frame(frame, peer_mac, 300, FN_CSUM_PARTIAL);
    fn_put16(frame + 24, 0); /* IP header checksum: the device's job (IXSM) */
    memcpy(ram + TXBUF, frame, n);
    struct ctx c = {14, 24, 34, 40, 0, 0, 33, 0, 0, 0};
    txd_ctx(&c, 0);
    txd_data(TXBUF, 100, C_IFCS, POPTS_TXSM | POPTS_IXSM, 0);
    txd_data(TXBUF + 100, (uint32_t)(n - 100), C_IFCS | C_EOP | C_RS, 0, 0);
    return n;
}

START_TEST(test_tx_csum_udp)
{
    size_t n = tx_post_sent(16, udp_csum_post, 1);
    struct fn_pkt p;
    ck_assert(fn_parse(be.sent[0].data, be.sent[0].len, &p));
    ck_assert_uint_eq(be.sent[0].len, n);
    ck_assert(p.ip_csum_ok);
    ck_assert(p.l4_csum_ok);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_checksummed, 1);
}
END_TEST

START_TEST(test_tx_csum_udp_vnet)
{
    size_t n = tx_post_sent(16, udp_csum_post, 1);
    const struct sent_frame *s = &be.sent[0];
    ck_assert_uint_eq(s->len, n);
    ck_assert_uint_eq(s->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 34);
    ck_assert_uint_eq(le16toh(s->hdr.csum_offset), 6);
    ck_assert_uint_eq(ip4_check(s->data), 0);
    ck_assert_mem_eq(s->data + 26, frame + 26, n - 26); /* the rest untouched */
}
END_TEST

/* A legacy descriptor's IC with CSS/CSO, and a partial range (TUCSE) computed in the
 * device. */
START_TEST(test_tx_legacy_ic)
{
    tx_init(16);
    size_t n = tcp4_frame(frame, 200, 1, FN_TCP_ACK);
    uint16_t good = fn_get16(frame + 50);
    fn_put16(frame + 50, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34)));
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, 20, 0, 0, 34, 0); /* CSS in the first descriptor */
    txd_legacy(TXBUF + 20, (uint16_t)(n - 20), C_EOP | C_IC | C_RS, 50, 0, 0);
    tx_kick_sent(1);
    ck_assert_uint_eq(fn_get16(be.sent[0].data + 50), good);
    /* IC out of range (CSO >= length - 1): ignored, the frame goes out as it is. */
    memcpy(ram + TXBUF, frame, 60);
    txd_legacy(TXBUF, 60, C_EOP | C_IC | C_RS, 59, 0, 0);
    tx_kick_sent(2);
    ck_assert_mem_eq(be.sent[1].data, frame, 60);
}
END_TEST

START_TEST(test_tx_vlan_insert)
{
    tx_init(16);
    wr(CTRL, rd(CTRL) | 0x40000000u); /* VME */
    size_t n = tx_udp_frame(peer_mac, 64);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_VLE, 0, 0, 0x2005);
    tx_kick_sent(1);
    ck_assert_uint_eq(be.sent[0].len, n + 4);
    ck_assert_mem_eq(be.sent[0].data, frame, 12);
    ck_assert_uint_eq(fn_get16(be.sent[0].data + 12), 0x8100);
    ck_assert_uint_eq(fn_get16(be.sent[0].data + 14), 0x2005);
    ck_assert_mem_eq(be.sent[0].data + 16, frame + 12, n - 12);
}
END_TEST

/* Back-pressure: the backend says EAGAIN, the layer queues that frame and TX stops (no busy
 * loop) until tx_ready. */
START_TEST(test_tx_backpressure)
{
    tx_init(16);
    tx_udp_burst(peer_mac, 64, 3);
    be.eagain = true;
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 1);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_ge(e1000_get_stats(dev)->tx_wait_backend, 1);
    pump_for(20);
    ck_assert_uint_eq(be.send_calls, 1);
    be.eagain = false;
    netdev_backend_writable(nd);
    pump();
    ck_assert_uint_eq(be.nsent, 3);
    ck_assert_uint_eq(rd(TDH), 3);
}
END_TEST

/* The per-kick budget: 300 frames take two passes of the loop. */
START_TEST(test_tx_budget)
{
    tx_init(512);
    tx_udp_burst(peer_mac, 18, 300);
    wr(TDT, 300);
    evloop_run_once(loop, 100);
    ck_assert_uint_eq(rd(TDH), 256);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_budget_yields, 1);
    pump();
    ck_assert_uint_eq(rd(TDH), 300);
    ck_assert_uint_eq(be.nsent, 256); /* the recorder's limit; the rest were sent too */
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_packets, 300);
}
END_TEST

void e1000_tx_tests(const struct e1000_tcases *tc)
{
    tcase_add_test(tc->tx, test_tx_legacy);
    tcase_add_test(tc->tx, test_tx_tso_segments);
    tcase_add_test(tc->tx, test_tx_tso6);
    tcase_add_test(tc->tx, test_tx_csum_udp);
    tcase_add_test(tc->tx, test_tx_legacy_ic);
    tcase_add_test(tc->tx, test_tx_vlan_insert);
    tcase_add_test(tc->tx, test_tx_backpressure);
    tcase_add_test(tc->tx, test_tx_budget);
    tcase_add_test(tc->tx_vnet, test_tx_tso_vnet);
    tcase_add_test(tc->tx_vnet, test_tx_tso6_vnet);
    tcase_add_test(tc->tx_vnet, test_tx_csum_udp_vnet);
}
