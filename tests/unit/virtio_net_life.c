/* virtio-net unit tests: reset during traffic (also from another thread), link status, and
 * back-pressure from the backend (EAGAIN). */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_reset_during_traffic)
{
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 16);
    post_rx_kick(1, 2048);
    /* TX: the backend is full; one frame is queued in the layer, two wait in the ring. */
    atomic_store(&be.eagain, true);
    tx_post_frames(3, 200, 0);
    kick(TXQ);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    /* RX: one frame delivered, the next one held for lack of buffers. */
    ck_assert(deliver(300, 10));
    ck_assert(!deliver(300, 11));
    ck_assert_uint_eq(used_idx(RXQ), 1);

    wr(VMMIO_STATUS, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    ck_assert_uint_eq(isr(), 0);
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    /* Everything the device could write is filled with a pattern. */
    memset(T.ram + RX_DESC, 0xa5, RAM_SIZE - RX_DESC);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    unsigned irqs0 = irqs();
    uint64_t ignored0 = T.t->stats.kicks_ignored;

    /* The backend drains and keeps delivering; the guest kicks. */
    be_room();
    for (unsigned i = 0; i < 20; i++)
        deliver(300, 20 + i);
    netdev_rx_ready(T.nd);
    wr(VMMIO_QUEUE_NOTIFY, RXQ);
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    pump();
    for (unsigned i = 0; i < 5; i++)
        ck_assert(deliver(300, 40 + i));
    pump();

    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written after reset");
    free(snap);
    ck_assert_uint_eq(irqs(), irqs0);
    ck_assert_uint_eq(isr(), 0);
    ck_assert_uint_ge(T.t->stats.kicks_ignored, ignored0 + 3); /* 2 kicks and tx_ready's */
    ck_assert_uint_eq(be.nsent, 1); /* only the frame the layer had taken before the reset */
    expect_sent(0, 200, 0);
    /* The frame held before the reset was purged from the layer (checklist 4), the 25 that
     * came after were refused by the device. */
    ck_assert_uint_eq(netdev_get_stats(T.nd)->drops[NETDEV_DROP_PURGED], 1);
    ck_assert_uint_eq(st()->rx_drop_not_ready, 25);

    /* A full re-initialisation works. */
    memset(T.ram, 0, RAM_SIZE);
    T.bump = BUF_BASE;
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 16);
    post_rx_kick(2, 2048);
    ck_assert(deliver(400, 60));
    expect_rx_frame(400, 60, 1);
    uint16_t head = tx_frame(120, 61);
    expect_used(TXQ, head, 0);
    expect_sent(1, 120, 61);
}
END_TEST

/* The same with the event loop on its own thread, as in nicvm: the reset (a vCPU) races with
 * the loop delivering frames and processing kicks. */
static struct {
    struct evloop_timer *timer;
    atomic_bool stop;
    atomic_uint delivered;
} R;

static void reset_timer_cb(void *opaque)
{
    (void)opaque;
    if (atomic_load(&R.stop))
        return;
    uint8_t f[300];
    make_frame(f, sizeof(f), atomic_load(&R.delivered));
    struct iovec iov = {f, sizeof(f)};
    netdev_deliver(T.nd, NULL, &iov, 1, sizeof(f));
    netdev_rx_ready(T.nd);
    atomic_fetch_add(&R.delivered, 1);
    evloop_timer_arm(R.timer, 100 * 1000);
}

static void *loop_thread(void *arg)
{
    (void)arg;
    evloop_run(T.loop);
    return NULL;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded: 10 s) until the loop thread has delivered n frames. */
static void wait_delivered(unsigned n)
{
    for (unsigned i = 0; i < 10000 && atomic_load(&R.delivered) < n; i++)
        sleep_ms(1);
    ck_assert_uint_ge(atomic_load(&R.delivered), n);
}

START_TEST(test_reset_threaded)
{
    memset(&R, 0, sizeof(R));
    init_sized(FEAT_BASE | F(VIRTIO_F_EVENT_IDX), 256, 256);
    post_rx_kick(128, 2048);
    R.timer = evloop_timer_new(T.loop, reset_timer_cb, NULL);
    ck_assert_ptr_nonnull(R.timer);
    ck_assert_int_eq(evloop_timer_arm(R.timer, 100 * 1000), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, NULL), 0);

    for (unsigned round = 0; round < 4; round++) {
        tx_post_frames(16, 500, round * 16);
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        sleep_ms(1);
    }
    wait_delivered(20);
    wr(VMMIO_STATUS, 0); /* waits for queue work in progress */
    memset(T.ram + RX_DESC, 0x5a, RAM_SIZE - RX_DESC);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    unsigned at_reset = atomic_load(&R.delivered);
    for (unsigned i = 0; i < 30; i++) {
        wr(VMMIO_QUEUE_NOTIFY, RXQ);
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        sleep_ms(1);
    }
    wait_delivered(at_reset + 20);
    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written after reset");
    free(snap);

    atomic_store(&R.stop, true);
    evloop_stop(T.loop);
    pthread_join(th, NULL);
    evloop_timer_free(R.timer);
    ck_assert_uint_gt(st()->rx_drop_not_ready, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
}
END_TEST

START_TEST(test_link_status)
{
    init(FEAT_BASE);
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    netdev_set_link(T.nd, false);
    ck_assert_uint_eq(cfg(6, 2), 0);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(irqs(), 1);
    wr(VMMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(isr(), 0);
    /* Frames sent while the link is down are dropped by the layer; heads come back. */
    uint16_t head = tx_frame(100, 1);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(st()->tx_drop_backend, 1);
    ack_irq();
    netdev_set_link(T.nd, false); /* no change: nothing */
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    netdev_set_link(T.nd, true);
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 2);
    ck_assert_uint_eq(isr(), VIRTIO_INT_CONFIG);
    tx_frame(100, 2);
    expect_sent(0, 100, 2);
}
END_TEST

START_TEST(test_link_change_before_driver_ok)
{
    /* The driver reads the configuration while initialising: a change must move the
     * generation even before DRIVER_OK (§4.2.2), without an interrupt. */
    ck_assert(negotiate(FEAT_BASE));
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    netdev_set_link(T.nd, false);
    ck_assert_uint_eq(cfg(6, 2), 0);
    ck_assert_uint_ne(rd(VMMIO_CONFIG_GENERATION), gen);
    ck_assert_uint_eq(irqs(), 0);
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(cfg(6, 2), 0);
}
END_TEST

START_TEST(test_tx_eagain_resume)
{
    init(FEAT_BASE);
    atomic_store(&be.eagain, true);
    tx_post_frames(5, 300, 0);
    kick(TXQ);
    ck_assert_uint_eq(be.send_calls, 1); /* one attempt, then the device waits */
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_ge(st()->tx_wait_backend, 1);
    unsigned irqs0 = irqs();
    /* Kicks while the backend is full: bounded work, no new sends, no interrupts. */
    for (unsigned i = 0; i < 10; i++) {
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        ck_assert_int_le(pump(), 2);
    }
    ck_assert_int_eq(evloop_run_once(T.loop, 0), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_eq(irqs(), irqs0);
    /* Still full when the backend says writable: one more try, nothing lost. */
    netdev_backend_writable(T.nd);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(be.send_calls, 2);
    ck_assert_uint_eq(be.nsent, 0);
    /* Room again. */
    be_room();
    expect_sent_frames(5, 300, 0);
    ck_assert_uint_eq(used_idx(TXQ), 5);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->tx_packets, 5);
}
END_TEST

START_TEST(test_tx_ring_full_eagain)
{
    init_sized(FEAT_BASE, 64, 8);
    atomic_store(&be.eagain, true);
    tx_post_frames(8, 200, 0);
    kick(TXQ);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_eq(irqs(), 1);
    for (unsigned i = 0; i < 50; i++) {
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        ck_assert_int_le(pump(), 2);
    }
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(irqs(), 1);
    /* The driver reuses the returned slot: the ring is full again. */
    uint32_t id, len;
    ck_assert(take_used(TXQ, &id, &len));
    T.q[TXQ].next_desc = (uint16_t)id;
    tx_post_frames(1, 200, 8);
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(be.send_calls, 1);

    be_room();
    expect_sent_frames(9, 200, 0);
    ck_assert_uint_eq(used_idx(TXQ), 9);
}
END_TEST

void vn_life_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->life, test_reset_during_traffic);
    tcase_add_test(tc->life, test_reset_threaded);
    tcase_add_test(tc->life, test_link_status);
    tcase_add_test(tc->life, test_link_change_before_driver_ok);
    tcase_add_test(tc->life, test_tx_eagain_resume);
    tcase_add_test(tc->life, test_tx_ring_full_eagain);
}
