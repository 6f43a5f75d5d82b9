/* virtio-net unit tests, malicious-guest checklist section 3, RX: a broken RX ring, bad
 * buffers, offloads the driver did not ack, frames too large for the buffers. */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_rx_ring_broken)
{
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 64);
    post_rx_kick(2, 2048);
    put16(T.q[RXQ].avail + 2, 40); /* 38 past what was posted */
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    ck_assert(deliver(100, 1)); /* refused: not held for later */
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(isr() & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
    ck_assert(deliver(100, 2));
    pump();
    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written");
    free(snap);
    ck_assert_uint_eq(st()->rx_packets, 0);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
}
END_TEST

static void post_bad_rx(uint16_t *heads, unsigned *n)
{
    uint64_t b = balloc(4096);
    struct seg s;
    s = (struct seg){b, 2048, 0}; /* read-only */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, 0, F_WRITE}; /* zero-length */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, (uint32_t)HDR - 1, F_WRITE}; /* smaller than the header */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, 1, F_WRITE};
    heads[(*n)++] = post(RXQ, &s, 1);
    struct seg mix[] = {{b, 100, 0}, {b + 100, 2048, F_WRITE}}; /* readable part */
    heads[(*n)++] = post(RXQ, mix, 2);
    s = (struct seg){MMIO_BASE, 2048, F_WRITE}; /* not RAM */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){RAM_SIZE - 1000, 2048, F_WRITE}; /* straddling the end */
    heads[(*n)++] = post(RXQ, &s, 1);
}

static void test_rx_bad_buffers_with(uint64_t feat)
{
    init(feat);
    uint16_t heads[16];
    unsigned n = 0;
    post_bad_rx(heads, &n);
    kick(RXQ);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    /* Only bad buffers: all returned empty (and the guest told), the frame waits. */
    ck_assert(!deliver(100, 1));
    for (unsigned i = 0; i < n; i++)
        expect_used(RXQ, heads[i], 0);
    expect_no_used(RXQ);
    ck_assert_uint_eq(st()->rx_bad_chain, n);
    ck_assert_uint_ge(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* Only the used ring changed. */
    memcpy(snap + RX_USED, T.ram + RX_USED, 6 + 8 * 64);
    ck_assert(memcmp(snap, T.ram, RAM_SIZE) == 0);
    free(snap);
    /* Bad buffers then a good one: the frame lands in the good one. */
    n = 0;
    post_bad_rx(heads, &n);
    post_rx_kick(1, 2048);
    for (unsigned i = 0; i < n; i++)
        expect_used(RXQ, heads[i], 0);
    expect_rx_frame(100, 1, 1);
    ck_assert_uint_eq(st()->rx_bad_chain, 2 * n);
    ck_assert_uint_eq(st()->rx_packets, 1);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
}

START_TEST(test_rx_bad_buffers)
{
    test_rx_bad_buffers_with(FEAT_BASE);
}
END_TEST

START_TEST(test_rx_bad_buffers_mergeable)
{
    test_rx_bad_buffers_with(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
}
END_TEST

START_TEST(test_rx_bad_buffer_between_good_ones)
{
    /* MRG_RXBUF: a bad buffer among good ones while a frame waits for more room. Every head
     * must come back exactly once, and the frame must arrive whole. */
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(1, 1526);
    struct seg ro = {balloc(2048), 2048, 0};
    uint16_t bad = post(RXQ, &ro, 1);
    post_rx_kick(1, 1526);
    ck_assert(!deliver(5000, 1)); /* 3052 bytes of good buffers: not enough */
    ck_assert_uint_eq(st()->rx_bad_chain, 1);
    post_rx_kick(3, 1526);
    ck_assert_uint_eq(st()->rx_packets, 1);
    /* Collect every used entry: heads 0..5 once each, the frame whole. */
    unsigned seen[8] = {0};
    uint8_t *got = malloc(8192), *want = malloc(5000);
    size_t total = 0;
    bool in_frame = false;
    unsigned left = 0;
    uint32_t id, len;
    while (take_used(RXQ, &id, &len)) {
        ck_assert_uint_lt(id, 8);
        seen[id]++;
        if (len == 0) {
            ck_assert(!in_frame);
            continue;
        }
        ck_assert(id != bad);
        const uint8_t *p = T.ram + T.rx_gpa[id];
        if (!in_frame) {
            struct virtio_net_hdr_v1 h;
            memcpy(&h, p, HDR);
            left = le16toh(h.num_buffers);
            in_frame = true;
            p += HDR;
            len -= HDR;
        }
        memcpy(got + total, p, len);
        total += len;
        if (--left == 0)
            in_frame = false;
    }
    for (unsigned i = 0; i < 6; i++)
        ck_assert_msg(seen[i] == 1, "head %u returned %u times", i, seen[i]);
    ck_assert_uint_eq(total, 5000);
    make_frame(want, 5000, 1);
    ck_assert(memcmp(got, want, 5000) == 0);
    free(got);
    free(want);
}
END_TEST

START_TEST(test_rx_offload_not_acked)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx_kick(64, 1526);
    struct virtio_net_hdr_v1 h = tcp4_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert(deliver_hdr(&h, 30000, 1)); /* GSO for a guest without GUEST_TSO4 */
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    ck_assert(deliver_hdr(&h, 1000, 2)); /* NEEDS_CSUM without GUEST_CSUM */
    ck_assert_uint_eq(st()->rx_drop_offload, 2);
    expect_no_used(RXQ);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    /* DATA_VALID is fine; frames after the drops flow. */
    h = (struct virtio_net_hdr_v1){0};
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    ck_assert(deliver_hdr(&h, 1000, 3));
    expect_rx_frame(1000, 3, 1);
}
END_TEST

START_TEST(test_rx_offload_ecn_not_acked)
{
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx_kick(64, 1526);
    struct virtio_net_hdr_v1 h = tcp4_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
    ck_assert(deliver_hdr(&h, 5000, 1));
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    ck_assert(deliver_hdr(&h, 5000, 2));
    h.gso_type = 0x42;
    ck_assert(deliver_hdr(&h, 5000, 3));
    ck_assert_uint_eq(st()->rx_drop_offload, 3);
    expect_no_used(RXQ);
}
END_TEST

START_TEST(test_rx_large_frame_dropped_not_retried)
{
    struct virtio_net_hdr_v1 h = tcp4_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);

    /* A 30000-byte frame whose buffers can never hold it: dropped at once, not retried, and
     * a small frame after it arrives. */
    static const struct {
        const char *why;
        bool mrg;
        uint16_t ring;
        unsigned nbufs, bufsize;
        size_t small;
    } cases[] = {
        {"GUEST_TSO4 without MRG_RXBUF, small buffers: never fits one", false, 0, 8, 1526, 100},
        {"MRG_RXBUF, every buffer of a full ring too few (8 x 1526 < 30012)", true, 8, 8, 1526,
         100},
        {"MRG_RXBUF, more than the buffers one frame may take (64 x 256 < 30012)", true, 128, 100,
         256, 200},
    };
    for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint64_t feat = FEAT_OFFLOADS | (cases[c].mrg ? F(VIRTIO_NET_F_MRG_RXBUF) : 0);
        if (cases[c].ring)
            init_sized(feat, cases[c].ring, 64);
        else
            init(feat);
        post_rx_kick(cases[c].nbufs, cases[c].bufsize);
        ck_assert_msg(deliver_hdr(&h, 30000, 2 * c + 1), "%s", cases[c].why);
        ck_assert_msg(st()->rx_drop_oversize == c + 1, "%s", cases[c].why);
        expect_no_used(RXQ);
        ck_assert_msg(st()->rx_wait_buffers == 0, "%s", cases[c].why);
        ck_assert(deliver(cases[c].small, 2 * c + 2));
        expect_rx_frame(cases[c].small, 2 * c + 2, 1);
    }
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    ck_assert_int_le(pump(), 1);
}
END_TEST

void vn_rx_hostile_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->ring, test_rx_ring_broken);
    tcase_add_test(tc->net, test_rx_bad_buffers);
    tcase_add_test(tc->net, test_rx_bad_buffers_mergeable);
    tcase_add_test(tc->net, test_rx_bad_buffer_between_good_ones);
    tcase_add_test(tc->net, test_rx_offload_not_acked);
    tcase_add_test(tc->net_vnet, test_rx_offload_ecn_not_acked);
    tcase_add_test(tc->net_vnet, test_rx_large_frame_dropped_not_retried);
}
