/* Tests for IPv4 reassembly (net/ipfrag.c) on frames built here, with the time driven by
 * the test: in order, out of order with IP options in the first fragment, identical
 * re-sends, overlaps with different data (the whole datagram goes), the 65535-byte limit
 * (the largest legal datagram completes, one byte more is refused), malformed fragments
 * refused with their reason, inconsistent ends, the timeout, LRU eviction by slot count and
 * by held bytes, non-fragments passed untouched, and the lone last fragment that crashes
 * libslirp 4.7.0: held, then expired, never handed on. */
#include "net/ipfrag.h"
#include "net/offload.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"

#include <check.h>
#include <stdbool.h>
#include <string.h>

#define SEC      1000000000ull
#define HDR_OFF  FN_ETH_HLEN
#define MAX_DGRM 65535

static struct ipfrag *t;
static struct ipfrag_out out;
static uint8_t data[MAX_DGRM + 64];    /* the datagram's payload (and past its end) */
static uint8_t f[FN_ETH_HLEN + 70000]; /* one fragment */

static void setup(void)
{
    t = ipfrag_new();
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8) + 1);
}

static void teardown(void)
{
    ipfrag_free(t);
}

static void ip_csum(uint8_t *ip, unsigned hlen)
{
    fn_put16(ip + 10, 0);
    fn_put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, hlen)));
}

/* A fragment of datagram id (UDP, 10.0.2.15 -> 10.0.2.2): an IPv4 header of hlen bytes
 * (options: NOPs) and payload data[off, off + plen), MF as more says; the source MAC ends
 * in mac. Returns the frame length. */
static size_t mkfrag(uint16_t id, unsigned hlen, uint32_t off, size_t plen, bool more, uint8_t mac)
{
    static const uint8_t dst_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
    const uint8_t src_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, mac};
    fn_eth(f, dst_mac, src_mac, FN_ETH_P_IP);
    uint8_t *ip = f + HDR_OFF;
    memset(ip, 1, hlen); /* NOP options past the 20 bytes */
    ip[0] = (uint8_t)(0x40 | hlen / 4);
    ip[1] = 0;
    fn_put16(ip + 2, (uint16_t)(hlen + plen));
    fn_put16(ip + 4, id);
    fn_put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
    ip[8] = 64;
    ip[9] = FN_PROTO_UDP;
    fn_put32(ip + 12, FN_IP4(10, 0, 2, 15));
    fn_put32(ip + 16, FN_IP4(10, 0, 2, 2));
    memcpy(ip + hlen, data + off, plen);
    ip_csum(ip, hlen);
    return FN_ETH_HLEN + hlen + plen;
}

static enum ipfrag_result feed(size_t len, uint64_t now)
{
    return ipfrag_input(t, f, len, now, &out);
}

/* A fragment of datagram id with a 20-byte header at time 0. */
static enum ipfrag_result frag(uint16_t id, uint32_t off, size_t plen, bool more)
{
    return feed(mkfrag(id, 20, off, plen, more, 1), 0);
}

/* The completed frame: source MAC ending in mac, a header of hlen bytes describing a
 * whole datagram of plen payload bytes (checksum valid), and data[0, plen). */
static void check_complete(unsigned hlen, size_t plen, uint8_t mac)
{
    ck_assert_ptr_nonnull(out.frame);
    ck_assert_uint_eq(out.len, FN_ETH_HLEN + hlen + plen);
    const uint8_t *ip = out.frame + HDR_OFF;
    ck_assert_uint_eq(out.frame[11], mac);
    ck_assert_uint_eq(fn_get16(out.frame + 12), FN_ETH_P_IP);
    ck_assert_uint_eq(ip[0], 0x40 | hlen / 4);
    ck_assert_uint_eq(fn_get16(ip + 2), hlen + plen);
    ck_assert_uint_eq(fn_get16(ip + 6) & 0xbfff, 0); /* MF, offset, reserved bit clear */
    ck_assert_uint_eq(offload_csum_fold(offload_csum_add(0, ip, hlen)), 0);
    ck_assert_mem_eq(ip + hlen, data, plen);
}

static void check_nothing_held(void)
{
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 0);
    ck_assert_uint_eq(ipfrag_stats(t)->held_bytes, 0);
}

START_TEST(test_in_order)
{
    ck_assert_int_eq(frag(1, 0, 1480, true), IPFRAG_HELD);
    ck_assert_int_eq(frag(1, 1480, 1480, true), IPFRAG_HELD);
    ck_assert_uint_eq(ipfrag_stats(t)->held_bytes, 2960);
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 1);
    ck_assert_int_eq(frag(1, 2960, 41, false), IPFRAG_COMPLETE);
    check_complete(20, 3001, 1);
    check_nothing_held();
    const struct ipfrag_stats *st = ipfrag_stats(t);
    ck_assert_uint_eq(st->fragments, 3);
    ck_assert_uint_eq(st->held, 3);
    ck_assert_uint_eq(st->reassembled, 1);
    ck_assert_uint_eq(st->duplicates, 0);
    for (int r = 0; r < IPFRAG_DROP_REASONS; r++)
        ck_assert_uint_eq(st->dropped[r], 0);
}
END_TEST

/* Last, middle, first: the first carries 8 bytes of options and its own MAC, which the
 * datagram takes; DF on the first is kept. */
START_TEST(test_out_of_order)
{
    ck_assert_int_eq(feed(mkfrag(2, 20, 2000, 100, false, 3), 0), IPFRAG_HELD);
    ck_assert_int_eq(feed(mkfrag(2, 20, 1000, 1000, true, 3), 0), IPFRAG_HELD);
    size_t n = mkfrag(2, 28, 0, 1000, true, 9);
    f[HDR_OFF + 6] |= 0x40;
    ip_csum(f + HDR_OFF, 28);
    ck_assert_int_eq(feed(n, 0), IPFRAG_COMPLETE);
    check_complete(28, 2100, 9);
    check_nothing_held();
    ck_assert_uint_eq(fn_get16(out.frame + HDR_OFF + 6), 0x4000);
    /* Another datagram with the same id from the same source after completion: new. */
    ck_assert_int_eq(frag(2, 8, 8, false), IPFRAG_HELD);
}
END_TEST

START_TEST(test_duplicate)
{
    ck_assert_int_eq(frag(3, 0, 800, true), IPFRAG_HELD);
    ck_assert_int_eq(frag(3, 0, 800, true), IPFRAG_HELD);
    /* Overlapping the held bytes with the same data, at other boundaries: kept. */
    ck_assert_int_eq(frag(3, 400, 800, true), IPFRAG_HELD);
    ck_assert_uint_eq(ipfrag_stats(t)->held_bytes, 1200);
    ck_assert_int_eq(frag(3, 1200, 33, false), IPFRAG_COMPLETE);
    check_complete(20, 1233, 1);
    check_nothing_held();
    ck_assert_uint_eq(ipfrag_stats(t)->duplicates, 1);
    ck_assert_uint_eq(ipfrag_stats(t)->held, 4);
}
END_TEST

START_TEST(test_overlap_different_data)
{
    ck_assert_int_eq(frag(4, 0, 16, true), IPFRAG_HELD);
    size_t n = mkfrag(4, 20, 8, 16, true, 1);
    f[HDR_OFF + 20 + 3] ^= 0xff; /* byte 11 of the datagram differs */
    ck_assert_int_eq(feed(n, 0), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERLAP);
    const struct ipfrag_stats *st = ipfrag_stats(t);
    ck_assert_uint_eq(st->dropped[IPFRAG_DROP_OVERLAP], 1);
    ck_assert_uint_eq(st->in_progress, 0);
    ck_assert_uint_eq(st->held_bytes, 0);
    /* The rest alone starts over: not completed from the dropped pieces. */
    ck_assert_int_eq(frag(4, 16, 10, false), IPFRAG_HELD);
    /* A different last fragment over a held one with different data. */
    ck_assert_int_eq(frag(5, 16, 10, false), IPFRAG_HELD);
    n = mkfrag(5, 20, 16, 10, false, 1);
    f[n - 1] ^= 1;
    ck_assert_int_eq(feed(n, 0), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERLAP);
}
END_TEST

/* 65535 bytes complete; a byte more, through the offset or the first's options, does not. */
START_TEST(test_size_limit)
{
    uint32_t off = 0;
    for (int i = 0; off + 8000 < 65515; i++, off += 8000)
        ck_assert_int_eq(frag(6, off, 8000, true), IPFRAG_HELD);
    ck_assert_int_eq(frag(6, off, 65515 - off, false), IPFRAG_COMPLETE);
    check_complete(20, 65515, 1);
    check_nothing_held();
    ck_assert_uint_eq(out.len, FN_ETH_HLEN + MAX_DGRM);
    /* Ping of death: the last fragment at offset 65528. */
    ck_assert_int_eq(frag(7, 65528, 8, false), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERSIZE);
    ck_assert_int_eq(frag(7, 65512, 8, false), IPFRAG_DROPPED); /* 20 + 65520 */
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERSIZE);
    /* Legal alone with 20 bytes of header, too long under the first's 60: all dropped. */
    ck_assert_int_eq(frag(8, 65496, 16, false), IPFRAG_HELD);
    ck_assert_int_eq(feed(mkfrag(8, 60, 0, 8, true, 1), 0), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERSIZE);
    ck_assert_uint_eq(ipfrag_stats(t)->dropped[IPFRAG_DROP_OVERSIZE], 3);
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 0);
    /* And in the other order: the first with 60 bytes, then a last that ends too far. */
    ck_assert_int_eq(feed(mkfrag(9, 60, 0, 8, true, 1), 0), IPFRAG_HELD);
    ck_assert_int_eq(frag(9, 65472, 8, false), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_OVERSIZE);
}
END_TEST

static void expect_drop(size_t len, enum ipfrag_drop why)
{
    ck_assert_int_eq(feed(len, 0), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, why);
}

START_TEST(test_bad_fragments)
{
    expect_drop(mkfrag(10, 20, 0, 12, true, 1), IPFRAG_DROP_ALIGN);
    expect_drop(mkfrag(10, 20, 8, 20, true, 1), IPFRAG_DROP_ALIGN);
    size_t n = mkfrag(10, 20, 0, 16, true, 1);
    f[HDR_OFF + 10] ^= 1;
    expect_drop(n, IPFRAG_DROP_CSUM);
    n = mkfrag(10, 20, 0, 16, true, 1);
    f[HDR_OFF] = 0x44; /* IHL 4 */
    expect_drop(n, IPFRAG_DROP_HEADER);
    f[HDR_OFF] = 0x65; /* version 6 */
    expect_drop(n, IPFRAG_DROP_HEADER);
    n = mkfrag(10, 20, 0, 16, true, 1);
    fn_put16(f + HDR_OFF + 2, 37); /* longer than the frame */
    ip_csum(f + HDR_OFF, 20);
    expect_drop(n, IPFRAG_DROP_HEADER);
    expect_drop(mkfrag(10, 20, 8, 0, false, 1), IPFRAG_DROP_HEADER); /* no payload */
    n = mkfrag(10, 60, 8, 8, false, 1);
    expect_drop(n - 10, IPFRAG_DROP_HEADER); /* options cut by the frame's end */
    expect_drop(FN_ETH_HLEN + 20, IPFRAG_DROP_HEADER);
    /* Padded past the total length (a short frame's Ethernet padding): fine. */
    n = mkfrag(11, 20, 8, 8, false, 1);
    ck_assert_int_eq(feed(n + 30, 0), IPFRAG_HELD);
    ck_assert_uint_eq(ipfrag_stats(t)->held_bytes, 8);
    ck_assert_uint_eq(ipfrag_stats(t)->fragments, 10);
    ck_assert_uint_eq(ipfrag_stats(t)->dropped[IPFRAG_DROP_HEADER], 6);
}
END_TEST

START_TEST(test_inconsistent_ends)
{
    ck_assert_int_eq(frag(12, 64, 36, false), IPFRAG_HELD); /* ends at 100 */
    ck_assert_int_eq(frag(12, 96, 16, true), IPFRAG_DROPPED);
    ck_assert_int_eq(out.reason, IPFRAG_DROP_INCONSISTENT);
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 0);
    ck_assert_int_eq(frag(13, 64, 36, false), IPFRAG_HELD);
    ck_assert_int_eq(frag(13, 64, 44, false), IPFRAG_DROPPED); /* a second, other end */
    ck_assert_int_eq(out.reason, IPFRAG_DROP_INCONSISTENT);
    ck_assert_int_eq(frag(14, 64, 64, true), IPFRAG_HELD);
    ck_assert_int_eq(frag(14, 8, 40, false), IPFRAG_DROPPED); /* ends before held data */
    ck_assert_int_eq(out.reason, IPFRAG_DROP_INCONSISTENT);
    ck_assert_uint_eq(ipfrag_stats(t)->dropped[IPFRAG_DROP_INCONSISTENT], 3);
}
END_TEST

START_TEST(test_timeout)
{
    uint64_t t0 = 5 * SEC;
    ck_assert_uint_eq(ipfrag_next_expiry(t), UINT64_MAX);
    ck_assert_int_eq(feed(mkfrag(15, 20, 0, 8, true, 1), t0), IPFRAG_HELD);
    ck_assert_uint_eq(ipfrag_next_expiry(t), t0 + IPFRAG_TIMEOUT_NS);
    /* Later fragments do not extend the time (RFC 1122 3.3.2: a fixed value). */
    ck_assert_int_eq(feed(mkfrag(15, 20, 8, 8, true, 1), t0 + SEC), IPFRAG_HELD);
    ck_assert_int_eq(ipfrag_expire(t, t0 + IPFRAG_TIMEOUT_NS - 1), 0);
    ck_assert_int_eq(ipfrag_expire(t, t0 + IPFRAG_TIMEOUT_NS), 1);
    ck_assert_uint_eq(ipfrag_stats(t)->dropped[IPFRAG_DROP_TIMEOUT], 1);
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 0);
    ck_assert_uint_eq(ipfrag_next_expiry(t), UINT64_MAX);
    /* The last piece alone later does not complete anything. */
    ck_assert_int_eq(feed(mkfrag(15, 20, 16, 8, false, 1), t0 + IPFRAG_TIMEOUT_NS), IPFRAG_HELD);
    /* Expiry on input too: another datagram's fragment, a timeout later. */
    uint64_t t1 = t0 + 2 * IPFRAG_TIMEOUT_NS;
    ck_assert_int_eq(feed(mkfrag(16, 20, 0, 8, true, 1), t1), IPFRAG_HELD);
    ck_assert_uint_eq(ipfrag_stats(t)->dropped[IPFRAG_DROP_TIMEOUT], 2);
    ck_assert_uint_eq(ipfrag_stats(t)->in_progress, 1);
}
END_TEST

/* Slot count: the least recently used datagram goes when a 17th begins. */
START_TEST(test_table_full)
{
    for (uint16_t id = 100; id < 100 + IPFRAG_MAX_DATAGRAMS; id++)
        ck_assert_int_eq(frag(id, 0, 8, true), IPFRAG_HELD);
    ck_assert_int_eq(frag(100, 8, 8, true), IPFRAG_HELD); /* 101 is now the oldest */
    ck_assert_int_eq(frag(200, 0, 8, true), IPFRAG_HELD);
    const struct ipfrag_stats *st = ipfrag_stats(t);
    ck_assert_uint_eq(st->dropped[IPFRAG_DROP_EVICTED], 1);
    ck_assert_uint_eq(st->in_progress, IPFRAG_MAX_DATAGRAMS);
    ck_assert_int_eq(frag(100, 16, 8, false), IPFRAG_COMPLETE);
    check_complete(20, 24, 1);
    ck_assert_int_eq(frag(102, 8, 8, false), IPFRAG_COMPLETE);
    ck_assert_int_eq(frag(101, 8, 8, false), IPFRAG_HELD); /* its first went with it */
}
END_TEST

/* Byte budget: big first fragments until IPFRAG_MAX_HELD would be passed. */
START_TEST(test_held_bytes_limit)
{
    const uint32_t big = 60000;
    uint16_t id = 300;
    for (; (id - 299u) * big <= IPFRAG_MAX_HELD; id++)
        ck_assert_int_eq(frag(id, 0, big, true), IPFRAG_HELD);
    const struct ipfrag_stats *st = ipfrag_stats(t);
    ck_assert_uint_eq(st->dropped[IPFRAG_DROP_EVICTED], 0);
    ck_assert_int_eq(frag(id, 0, big, true), IPFRAG_HELD);
    ck_assert_uint_eq(st->dropped[IPFRAG_DROP_EVICTED], 1);
    ck_assert_uint_le(st->held_bytes, IPFRAG_MAX_HELD);
    ck_assert_int_eq(frag(300, big, 8, false), IPFRAG_HELD); /* 300 was the one given up */
    ck_assert_int_eq(frag(id, big, 8, false), IPFRAG_COMPLETE);
    check_complete(20, big + 8, 1);
}
END_TEST

START_TEST(test_not_fragments_pass)
{
    size_t n = mkfrag(20, 20, 0, 100, false, 1);
    ck_assert_int_eq(feed(n, 0), IPFRAG_PASS);
    f[HDR_OFF + 6] = 0x40; /* DF */
    ck_assert_int_eq(feed(n, 0), IPFRAG_PASS);
    f[HDR_OFF + 6] = 0x80; /* the reserved bit alone: not a fragment either */
    ck_assert_int_eq(feed(n, 0), IPFRAG_PASS);
    /* Not IPv4 by ethertype, or too short to say: passed (the consumer checks). */
    f[HDR_OFF + 6] = 0x20;
    fn_put16(f + 12, FN_ETH_P_ARP);
    ck_assert_int_eq(feed(n, 0), IPFRAG_PASS);
    fn_put16(f + 12, 0x86dd);
    ck_assert_int_eq(feed(n, 0), IPFRAG_PASS);
    fn_put16(f + 12, FN_ETH_P_IP);
    ck_assert_int_eq(feed(FN_ETH_HLEN + 19, 0), IPFRAG_PASS);
    ck_assert_int_eq(feed(0, 0), IPFRAG_PASS);
    ck_assert_uint_eq(ipfrag_stats(t)->fragments, 0);
    ck_assert_ptr_null(out.frame);
    ck_assert_uint_eq(f[HDR_OFF + 6], 0x20); /* the frame itself is not touched */
}
END_TEST

/* The frame of tests/fuzz/corpus/slirp_glue/regress_ipv4_lone_last_fragment: a last
 * fragment at offset 128 with nothing before it. */
START_TEST(test_lone_last_fragment)
{
    size_t n = mkfrag(21, 20, 128, 8, false, 1);
    ck_assert_int_eq(feed(n, 0), IPFRAG_HELD);
    ck_assert_ptr_null(out.frame);
    for (uint64_t s = 1; s < 30; s++)
        ck_assert_int_eq(ipfrag_expire(t, s * SEC), 0);
    ck_assert_int_eq(ipfrag_expire(t, IPFRAG_TIMEOUT_NS), 1);
    const struct ipfrag_stats *st = ipfrag_stats(t);
    ck_assert_uint_eq(st->reassembled, 0);
    ck_assert_uint_eq(st->dropped[IPFRAG_DROP_TIMEOUT], 1);
    ck_assert_uint_eq(st->in_progress, 0);
    ck_assert_uint_eq(st->held_bytes, 0);
}
END_TEST

static Suite *ipfrag_suite(void)
{
    Suite *s = suite_create("ipfrag");
    TCase *tc = tcase_create("reassembly");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_in_order);
    tcase_add_test(tc, test_out_of_order);
    tcase_add_test(tc, test_duplicate);
    tcase_add_test(tc, test_overlap_different_data);
    tcase_add_test(tc, test_size_limit);
    tcase_add_test(tc, test_bad_fragments);
    tcase_add_test(tc, test_inconsistent_ends);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_table_full);
    tcase_add_test(tc, test_held_bytes_limit);
    tcase_add_test(tc, test_not_fragments_pass);
    tcase_add_test(tc, test_lone_last_fragment);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(ipfrag_suite)
