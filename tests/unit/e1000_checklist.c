/* e1000 unit tests: one test per item of section 2 of the malicious-guest checklist (rings,
 * descriptors, contexts, loopback into the device's own BAR). */
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

static uint64_t bad_ring(void)
{
    return e1000_get_stats(dev)->bad_ring;
}

/* TDLEN/RDLEN of 0: the rings are off; nothing is read or written, no division by zero. */
START_TEST(test_cl_ring_len_zero)
{
    tx_init(16);
    wr(TDLEN, 0);
    txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, 5);
    pump();
    ck_assert_uint_eq(rd(TDH), 0);
    ck_assert_uint_eq(be.send_calls, 0);
    rx_init(16, RCTL_STD);
    wr(RDLEN, 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(!deliver(frame, n)); /* kept by the layer */
    ck_assert(!rx_done(0));
    wr(RDLEN, 16 * 16);
    wr(RDT, 15);
    pump();
    rx_expect(0, frame, n, 4);
}
END_TEST

/* A huge ring (TDLEN 0xfff80) placed near the end of RAM: the walk stops at the first
 * descriptor outside RAM, within the budget; RX refuses a ring that is not all RAM. */
START_TEST(test_cl_ring_huge)
{
    tx_init(16);
    wr(TDBAL, (uint32_t)(RAM_SIZE - 100 * 16));
    wr(TDLEN, 0xfff80);
    wr(TDT, 0xfff0);
    pump();
    ck_assert_uint_eq(rd(TDH), 100);
    ck_assert_uint_ge(bad_ring(), 1);
    ck_assert_uint_eq(be.send_calls, 0);
    rx_init(16, RCTL_STD);
    wr(RDBAL, (uint32_t)(RAM_SIZE - 100 * 16));
    wr(RDLEN, 0xfff80);
    wr(RDT, 0xfff0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n)); /* dropped */
    ck_assert_uint_ge(bad_ring(), 2);
    ck_assert_uint_ge(e1000_get_stats(dev)->rx_drop_no_desc, 1);
}
END_TEST

/* TDH/TDT/RDH/RDT at or past LEN/16, or above 0xffff (kept to 16 bits): nothing walks. */
START_TEST(test_cl_head_tail_past_ring)
{
    tx_init(16);
    txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, 16);
    pump();
    wr(TDT, 0x10001); /* 1 after the 16-bit cut, fine */
    ck_assert_uint_eq(rd(TDT), 1);
    wr(TDH, 40);
    pump();
    ck_assert_uint_eq(rd(TDH), 40);
    ck_assert_uint_eq(be.send_calls, 0);
    ck_assert_uint_ge(bad_ring(), 1);
    wr(TDH, 0);
    wr(TDT, 1);
    pump();
    ck_assert_uint_eq(rd(TDH), 1);
    rx_init(16, RCTL_STD);
    wr(RDT, 0xffff);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(!deliver(frame, n));
    ck_assert(!rx_done(0));
    wr(RDT, 15);
    wr(RDH, 16);
    pump();
    ck_assert(!rx_done(0));
    wr(RDH, 0);
    wr(RDT, 15);
    pump();
    ck_assert(rx_done(0));
}
END_TEST

/* Ring bases outside RAM, inside the device's own BAR, straddling the end of RAM, and moved
 * while the units run. */
START_TEST(test_cl_ring_base)
{
    tx_init(8);
    size_t n = tx_udp_frame(peer_mac, 60);
    wr(TDBAL, (uint32_t)BAR0);
    wr(TDT, 3);
    pump();
    ck_assert_uint_eq(rd(TDH), 0);
    ck_assert_uint_ge(bad_ring(), 1);
    /* Straddling: two descriptors in RAM, the rest beyond. */
    uint64_t base = RAM_SIZE - 32;
    for (int i = 0; i < 2; i++) {
        uint8_t *d = ram + base + 16 * i;
        memset(d, 0, 16);
        put64le(d, TXBUF);
        put16le(d + 8, (uint16_t)n);
        d[11] = C_EOP | C_RS;
    }
    wr(TDBAL, (uint32_t)base);
    wr(TDH, 0);
    wr(TDT, 5);
    pump();
    ck_assert_uint_eq(rd(TDH), 2);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert(ram[base + 12] & 1 && ram[base + 28] & 1);
    wr(TDBAH, 0xffffffffu);
    wr(TDT, 6);
    pump();
    ck_assert_uint_eq(rd(TDH), 2);
    /* Moved while enabled: the next descriptors come from the new place. */
    tx_init(8);
    txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(3);
    rx_init(16, RCTL_STD);
    wr(RDBAL, (uint32_t)BAR0);
    ck_assert(deliver(frame, n));
    wr(RDBAL, (uint32_t)(RAM_SIZE - 64));
    ck_assert(deliver(frame, n));
    wr(RDBAL, (uint32_t)RXRING);
    wr(RDBAH, 1);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_packets, 0);
}
END_TEST

/* TX descriptors of length 0 or 0xffff, address 0 (no data, per §3.3.3) or outside RAM. */
START_TEST(test_cl_tx_desc_fields)
{
    tx_init(64);
    size_t n = tx_udp_frame(peer_mac, 60);
    unsigned a = txd_legacy(TXBUF, 0, C_EOP | C_RS, 0, 0, 0); /* empty packet */
    tx_kick_done(a, 0);
    txd_legacy(0, 500, C_RS, 0, 0, 0); /* null address: no data */
    txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(1);
    ck_assert_uint_eq(be.sent[0].len, n);
    txd_legacy(0xffffffffffff0000ull, 100, C_RS, 0, 0, 0); /* outside RAM */
    a = txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(1);
    ck_assert(txd_done(a));
    txd_legacy(RAM_SIZE - 50, 100, C_EOP | C_RS, 0, 0, 0); /* straddles the end of RAM */
    tx_kick_sent(1);
    a = txd_legacy(TXBUF, 0xffff, C_EOP | C_RS, 0, 0, 0); /* 65535 bytes from RAM: sent */
    tx_kick_done(a, 2);
    ck_assert_uint_eq(be.sent[1].len, 0xffff);
    a = txd_data(TXBUF, 0xfffff, C_EOP | C_RS, 0, 0); /* DTALEN 1 MiB - 1: over 64 KiB */
    tx_kick_done(a, 2);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 4);
}
END_TEST

/* A packet whose EOP never comes: 300 descriptors of 4 KiB. The packet stops growing at
 * 64 KiB and is dropped at EOP; the ring keeps moving. */
START_TEST(test_cl_eop_never)
{
    tx_init(512);
    for (int i = 0; i < 300; i++)
        txd_legacy(TXBUF, 4096, i % 10 ? 0 : C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 300);
    ck_assert_uint_eq(be.send_calls, 0);
    ck_assert(txd_done(290)); /* refused already: nothing referenced, DD at once */
    unsigned a = txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert(txd_done(a) && txd_done(0));
    ck_assert_uint_eq(be.send_calls, 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 1);
    size_t n = tx_udp_frame(peer_mac, 60);
    txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(1);
}
END_TEST

/* One TSE packet with the given context; returns how many frames reached the backend. */
static unsigned tso_with(const struct ctx *c)
{
    size_t n = tcp4_frame(frame, 2000, 1, FN_TCP_ACK);
    linux_tso_prep(frame);
    memcpy(ram + TXBUF, frame, n);
    unsigned before = be.nsent;
    txd_ctx(c, C_TSE);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_IXSM | POPTS_TXSM, 0);
    tx_kick();
    return be.nsent - before;
}

/* Context descriptors with MSS 0, MSS + HDRLEN over 64 KiB, HDRLEN 0 or 255, checksum
 * offsets past HDRLEN or past the frame: refused (dropped, TSCTFC), never segmented. */
START_TEST(test_cl_context_bad)
{
    tx_init(64);
    const struct ctx good = {14, 24, 34, 50, 54, T_TCP | T_IP, 33, 0, 1000, 2000};
    ck_assert_uint_eq(tso_with(&good), 2);
    struct ctx c[8];
    for (int i = 0; i < 8; i++)
        c[i] = good;
    c[0].mss = 0;
    c[1].mss = 65500;
    c[2].hdrlen = 0;
    c[3].hdrlen = 255;
    c[4].tucso = 60; /* past HDRLEN */
    c[5].tucss = 200;
    c[6].ipcso = 250;
    c[7].tucmd = T_IP; /* UDP segmentation */
    for (int i = 0; i < 8; i++)
        ck_assert_msg(tso_with(&c[i]) == 0, "context %d accepted", i);
    ck_assert_uint_eq(rd(TSCTFC), 8);
    /* A frame shorter than HDRLEN 255. */
    struct ctx big = good;
    big.hdrlen = 255;
    size_t n = tcp4_frame(frame, 100, 1, FN_TCP_ACK);
    memcpy(ram + TXBUF, frame, n);
    txd_ctx(&big, C_TSE);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_TXSM, 0);
    tx_kick();
    ck_assert_uint_eq(rd(TSCTFC), 1);
    /* Checksum (non-TSE) context offsets past the frame: not inserted, frame sent. */
    struct ctx cs = {200, 250, 240, 250, 0, 0, 0, 0, 0, 0};
    txd_ctx(&cs, 0);
    txd_data(TXBUF, (uint32_t)n, C_EOP | C_RS, POPTS_TXSM | POPTS_IXSM, 0);
    tx_kick();
    ck_assert_uint_eq(be.sent[be.nsent - 1].len, n);
    ck_assert_mem_eq(be.sent[be.nsent - 1].data, frame, n);
}
END_TEST

/* A context change in the middle of a packet: the packet keeps the context it started
 * with (the new one applies to the next packet). */
START_TEST(test_cl_context_change_mid_packet)
{
    tx_init(64);
    size_t n;
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    n = tcp4_frame(frame, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    linux_tso_prep(frame);
    memcpy(ram + TXBUF, frame, n);
    struct ctx c = {14, 24, 34, 50, TSO_HDRS, T_TCP | T_IP, 33, 0, TSO_MSS, TSO_PAYLOAD};
    struct ctx evil = {0, 0, 0, 0, 255, T_TCP | T_IP, 0, 0, 0, 0};
    txd_ctx(&c, C_TSE);
    txd_data(TXBUF, 1000, C_TSE, POPTS_IXSM | POPTS_TXSM, 0);
    txd_ctx(&evil, C_TSE);
    txd_data(TXBUF + 1000, (uint32_t)(n - 1000), C_TSE | C_EOP | C_RS, 0, 0);
    tx_kick_sent(4);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(tcp4_check(be.sent[i].data, be.sent[i].len), 0);
    /* The next packet uses the evil context: refused. */
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, 0, 0);
    tx_kick_sent(4);
    ck_assert_uint_eq(rd(TSCTFC), 1);
}
END_TEST

/* A data descriptor after a legacy one in the same packet (TSO mode), and TSE without any
 * TSE context: dropped and counted. */
START_TEST(test_cl_mixed_and_no_context)
{
    tx_init(64);
    size_t n = tcp4_frame(frame, 2000, 1, FN_TCP_ACK);
    memcpy(ram + TXBUF, frame, n);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_TXSM, 0); /* no context yet */
    tx_kick_sent(0);
    ck_assert_uint_eq(rd(TSCTFC), 1);
    struct ctx c = {14, 24, 34, 50, 54, T_TCP | T_IP, 33, 0, 1000, 2000};
    txd_ctx(&c, C_TSE);
    txd_legacy(TXBUF, 54, 0, 0, 0, 0);
    unsigned a = txd_data(TXBUF + 54, (uint32_t)(n - 54), C_TSE | C_EOP | C_RS, POPTS_TXSM, 0);
    tx_kick_done(a, 0);
    /* and the other way round */
    txd_data(TXBUF, 54, C_TSE, POPTS_TXSM, 0);
    txd_legacy(TXBUF + 54, (uint16_t)(n - 54), C_EOP | C_RS, 0, 0, 0);
    tx_kick_sent(0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 3);
    /* A reserved descriptor type inside a packet. */
    txd_legacy(TXBUF, 54, 0, 0, 0, 0);
    unsigned i = tx_next++ % tx_count;
    memset(txd(i), 0, 16);
    put32le(txd(i) + 8, 0xfu << 20 | (uint32_t)(C_DEXT | C_EOP | C_RS) << 24);
    tx_kick_done(i, 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 4);
}
END_TEST

/* Loopback with the RX buffers pointing at the device's own registers: not RAM, so nothing
 * is written there and nothing recurses; the descriptors complete with RXE. */
START_TEST(test_cl_loopback_own_bar)
{
    tx_init(16);
    rx_init(16, RCTL_STD | RCTL_LBM);
    for (unsigned i = 0; i < 16; i++)
        put64le(rxd(i), BAR0 + 0x400); /* TCTL's address in the BAR */
    size_t n = tx_udp_burst(mac, 100, 5);
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 5);
    ck_assert_uint_eq(rd(RDH), 5);
    for (unsigned i = 0; i < 5; i++)
        ck_assert(rxd(i)[13] & RX_RXE);
    ck_assert(rd(TCTL) & 2);
    ck_assert_uint_eq(be.nsent, 0);
    /* PHY loopback as ethtool's self-test sets it. */
    wr(RCTL, RCTL_STD);
    mdic(1, 0, true, 0x4140);
    txd_frame(n, C_EOP | C_RS);
    tx_kick();
    ck_assert_uint_eq(rd(RDH), 6);
    ck_assert_uint_eq(be.nsent, 0);
}
END_TEST

/* RX descriptor buffer address 0 (CVE-2020-28916 class): RAM at gpa 0 here, so the frame is
 * written there and the ring advances; no descriptor is skipped or revisited. */
START_TEST(test_cl_rx_buffer_zero)
{
    rx_init(8, RCTL_STD);
    for (unsigned i = 0; i < 8; i++)
        put64le(rxd(i), 0);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    for (int i = 0; i < 10; i++)
        deliver(frame, n);
    ck_assert_uint_eq(rd(RDH), 7);
    ck_assert_mem_eq(ram, frame, n);
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_packets, 7);
}

void e1000_checklist_tests(const struct e1000_tcases *tc)
{
    tcase_add_test(tc->checklist, test_cl_ring_len_zero);
    tcase_add_test(tc->checklist, test_cl_ring_huge);
    tcase_add_test(tc->checklist, test_cl_head_tail_past_ring);
    tcase_add_test(tc->checklist, test_cl_ring_base);
    tcase_add_test(tc->checklist, test_cl_tx_desc_fields);
    tcase_add_test(tc->checklist, test_cl_eop_never);
    tcase_add_test(tc->checklist, test_cl_context_bad);
    tcase_add_test(tc->checklist, test_cl_context_change_mid_packet);
    tcase_add_test(tc->checklist, test_cl_mixed_and_no_context);
    tcase_add_test(tc->checklist, test_cl_loopback_own_bar);
    tcase_add_test(tc->checklist, test_cl_rx_buffer_zero);
}
