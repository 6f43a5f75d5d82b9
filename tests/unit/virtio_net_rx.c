/* virtio-net unit tests: RX with and without MRG_RXBUF, frames held until buffers come, large
 * GSO frames, and EVENT_IDX (used_event and avail_event, NO_NOTIFY). */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_rx_single_no_mrg)
{
    init(FEAT_BASE);
    post_rx_kick(4, 2048);
    ck_assert(deliver(100, 1));
    pump();
    uint32_t id, len;
    ck_assert(take_used(RXQ, &id, &len));
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, HDR + 100);
    struct virtio_net_hdr_v1 h, want = {0};
    memcpy(&h, T.ram + T.rx_gpa[0], HDR);
    want.num_buffers = htole16(1);
    ck_assert(memcmp(&h, &want, HDR) == 0);
    uint8_t f[100];
    make_frame(f, 100, 1);
    ck_assert(memcmp(T.ram + T.rx_gpa[0] + HDR, f, 100) == 0);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* A full-size frame into the next buffer. */
    ck_assert(deliver(1514, 2));
    expect_rx_frame(1514, 2, 1);
    ck_assert_uint_eq(st()->rx_packets, 2);
    ck_assert_uint_eq(st()->rx_bytes, 1614);
    ck_assert_uint_eq(irqs(), 2);
}
END_TEST

START_TEST(test_rx_mergeable)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx_kick(8, 1526);
    ck_assert(deliver(5000, 7));
    /* 12 + 5000 bytes over 1526-byte buffers: 1526, 1526, 1526, 434. */
    static const uint32_t lens[] = {1526, 1526, 1526, 5012 - 3 * 1526};
    struct dq save = T.q[RXQ];
    for (uint32_t i = 0; i < 4; i++)
        expect_used(RXQ, i, lens[i]);
    T.q[RXQ] = save;
    expect_rx_frame(5000, 7, 4);
    struct virtio_net_hdr_v1 h;
    memcpy(&h, T.ram + T.rx_gpa[0], HDR);
    ck_assert_uint_eq(le16toh(h.num_buffers), 4);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(h.gso_type, 0);
    ck_assert_uint_eq(irqs(), 1);
    /* The next small frame takes one buffer, num_buffers 1. */
    ck_assert(deliver(60, 8));
    expect_rx_frame(60, 8, 1);
    /* Exactly filling: 12 + 3040 = 2 buffers of 1526. */
    ck_assert(deliver(3052 - HDR, 9));
    expect_rx_frame(3052 - HDR, 9, 2);
    ck_assert_uint_eq(st()->rx_packets, 3);
}
END_TEST

START_TEST(test_rx_oversize_non_mergeable)
{
    init(FEAT_BASE);
    post_rx_kick(2, 1526);
    ck_assert(deliver(1526 - HDR + 1, 1)); /* one byte too many: dropped, not held */
    pump();
    ck_assert_uint_eq(st()->rx_drop_oversize, 1);
    expect_no_used(RXQ);
    ck_assert_uint_eq(irqs(), 0);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    /* The buffer stayed available: the next frame lands in it (head 0). */
    ck_assert(deliver(1526 - HDR, 2));
    uint32_t id, len;
    ck_assert(take_used(RXQ, &id, &len));
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, 1526);
    ck_assert_uint_eq(st()->rx_packets, 1);
}
END_TEST

START_TEST(test_rx_held_until_buffers)
{
    init(FEAT_BASE);
    ck_assert(!deliver(200, 1)); /* no buffers: held by the layer */
    ck_assert(!deliver(300, 2)); /* behind it, in order */
    pump();
    ck_assert_uint_eq(st()->rx_wait_buffers, 1);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 2);
    expect_no_used(RXQ);
    ck_assert(post_rx_needs_kick(1, 2048));
    kick(RXQ);
    expect_rx_frame(200, 1, 1);
    expect_no_used(RXQ);
    refill_rx(1, 2048);
    expect_rx_frame(300, 2, 1);
    ck_assert_uint_eq(st()->rx_packets, 2);
}
END_TEST

START_TEST(test_rx_held_event_idx)
{
    /* With EVENT_IDX the device must ask for the kick (avail_event) when it waits. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    refill_rx(2, 2048);
    ck_assert(deliver(100, 1));
    ck_assert(deliver(100, 2));
    ck_assert(!deliver(100, 3)); /* ring empty: held */
    ck_assert_uint_eq(avail_event(RXQ), T.q[RXQ].avail_idx);
    ck_assert(post_rx_needs_kick(1, 2048));
    kick(RXQ);
    expect_rx_frame(100, 1, 1);
    expect_rx_frame(100, 2, 1);
    expect_rx_frame(100, 3, 1);
}
END_TEST

START_TEST(test_rx_mrg_partial_buffers_event_idx)
{
    /* MRG_RXBUF + EVENT_IDX: some buffers are available but not enough for the frame. The
     * device must ask to be kicked for the next buffer posted, not for ones already posted,
     * or the frame (and every one after it) waits forever. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MRG_RXBUF));
    refill_rx(2, 1526);
    ck_assert(!deliver(5000, 1)); /* 3052 bytes available, 5012 needed: held */
    pump();
    expect_no_used(RXQ);
    ck_assert_uint_ge(st()->rx_wait_buffers, 1);
    /* The driver adds buffers one at a time and kicks only when asked to. */
    for (unsigned i = 0; i < 2; i++)
        refill_rx(1, 1526);
    expect_rx_frame(5000, 1, 4);
    ck_assert_uint_eq(st()->rx_packets, 1);
}
END_TEST

START_TEST(test_rx_mrg_large_gso)
{
    /* GUEST_TSO4 with MRG_RXBUF: a 30000-byte GSO frame with its header over 20 buffers. */
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx_kick(32, 1526);
    struct virtio_net_hdr_v1 h = tcp4_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert(deliver_hdr(&h, 30000, 5));
    uint8_t *got = malloc(NETDEV_MAX_FRAME), *want = malloc(30000);
    struct virtio_net_hdr_v1 g;
    unsigned n;
    ck_assert_uint_eq(rx_collect(got, NETDEV_MAX_FRAME, &g, &n), 30000);
    ck_assert_uint_eq(n, 20); /* 19 * 1526 < 30012 <= 20 * 1526 */
    make_frame(want, 30000, 5);
    ck_assert(memcmp(got, want, 30000) == 0);
    h.num_buffers = htole16(20);
    ck_assert(memcmp(&g, &h, HDR) == 0);
    free(got);
    free(want);
    ck_assert_uint_eq(st()->rx_drop_offload, 0);
}
END_TEST

START_TEST(test_event_idx_used_event_tx)
{
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    tx_frame(100, 0); /* the first completion after activation always interrupts */
    ck_assert_uint_eq(irqs(), 1);
    ack_irq();
    set_used_event(TXQ, 3); /* interrupt when entry 3 is published */
    tx_frame(100, 1);
    ck_assert_uint_eq(used_idx(TXQ), 2);
    ck_assert_uint_eq(irqs(), 1);
    tx_frame(100, 2);
    ck_assert_uint_eq(used_idx(TXQ), 3);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), 0);
    tx_frame(100, 3);
    ck_assert_uint_eq(used_idx(TXQ), 4);
    ck_assert_uint_eq(irqs(), 2);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* A batch crossing used_event: one interrupt. */
    set_used_event(TXQ, 5);
    uint16_t old = T.q[TXQ].avail_idx;
    tx_post_frames(3, 100, 10);
    kick_if_needed(TXQ, old);
    ck_assert_uint_eq(used_idx(TXQ), 7);
    ck_assert_uint_eq(irqs(), 3);
    /* used_event 0xffff, never reached: no interrupt at all, let alone a storm. */
    set_used_event(TXQ, 0xffff);
    for (unsigned i = 0; i < 8; i++)
        tx_frame(60, 20 + i);
    ck_assert_uint_eq(used_idx(TXQ), 15);
    ck_assert_uint_eq(irqs(), 3);
    ck_assert_uint_eq(be.nsent, 15);
}
END_TEST

START_TEST(test_event_idx_used_event_rx)
{
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    refill_rx(8, 2048);
    ck_assert(deliver(100, 0));
    ck_assert_uint_eq(irqs(), 1);
    set_used_event(RXQ, 2);
    ck_assert(deliver(100, 1)); /* used.idx 2 */
    ck_assert_uint_eq(irqs(), 1);
    ck_assert(deliver(100, 2)); /* used.idx 3: entry 2 published */
    ck_assert_uint_eq(irqs(), 2);
    ck_assert(deliver(100, 3));
    ck_assert_uint_eq(irqs(), 2);
    for (unsigned i = 0; i < 4; i++)
        expect_rx_frame(100, i, 1);
}
END_TEST

static bool hook_kick_needed;
static unsigned hook_posted;

/* The guest posting one more frame while the device is inside send(). */
static void hook_post_frame(void)
{
    if (hook_posted)
        return;
    hook_posted++;
    uint16_t old = T.q[TXQ].avail_idx;
    tx_post_frames(1, 80, 50);
    hook_kick_needed = kick_needed(TXQ, old);
}

START_TEST(test_event_idx_avail_event)
{
    hook_posted = 0;
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    be.hook = hook_post_frame;
    uint16_t old = T.q[TXQ].avail_idx;
    tx_post_frames(1, 80, 49);
    ck_assert(kick_needed(TXQ, old)); /* avail_event 0: the first post kicks */
    kick(TXQ);
    /* The frame posted during processing needed no kick, and was sent in the same run. */
    ck_assert_uint_eq(hook_posted, 1);
    ck_assert(!hook_kick_needed);
    ck_assert_uint_eq(be.nsent, 2);
    expect_sent(0, 80, 49);
    expect_sent(1, 80, 50);
    ck_assert_uint_eq(used_idx(TXQ), 2);
    /* Kicks re-enabled for the next index. */
    ck_assert_uint_eq(avail_event(TXQ), T.q[TXQ].avail_idx);
    be.hook = NULL;
    old = T.q[TXQ].avail_idx;
    tx_post_frames(1, 80, 49);
    ck_assert(kick_needed(TXQ, old));
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 3);
    ck_assert_uint_eq(avail_event(TXQ), 3);
}
END_TEST

START_TEST(test_no_notify_flag_during_tx)
{
    /* Without EVENT_IDX the device suppresses kicks with VIRTQ_USED_F_NO_NOTIFY. */
    hook_posted = 0;
    init(FEAT_BASE);
    be.hook = hook_post_frame;
    tx_frame(80, 49);
    ck_assert_uint_eq(hook_posted, 1);
    ck_assert(!hook_kick_needed);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(get16(T.q[TXQ].used), 0); /* kicks wanted again */
}
END_TEST

void vn_rx_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->rx, test_rx_single_no_mrg);
    tcase_add_test(tc->rx, test_rx_mergeable);
    tcase_add_test(tc->rx, test_rx_oversize_non_mergeable);
    tcase_add_test(tc->rx, test_rx_held_until_buffers);
    tcase_add_test(tc->rx, test_rx_held_event_idx);
    tcase_add_test(tc->rx, test_rx_mrg_partial_buffers_event_idx);
    tcase_add_test(tc->rx_vnet, test_rx_mrg_large_gso);
    tcase_add_test(tc->evidx, test_event_idx_used_event_tx);
    tcase_add_test(tc->evidx, test_event_idx_used_event_rx);
    tcase_add_test(tc->evidx, test_event_idx_avail_event);
    tcase_add_test(tc->evidx, test_no_notify_flag_during_tx);
}
