/* netdev core unit tests, queues and back-pressure: the TX queue under EAGAIN, bounded and
 * flushed in order when the backend is writable again; backend errors; answers a backend gives
 * inside send() deferred to the loop; the bounded RX queue with rx_pause/rx_resume while the
 * NIC refuses, drained after netdev_rx_ready() from another thread. */
#include "tests/unit/netdev_fixture.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

/* --- guest -> host: EAGAIN ------------------------------------------------------------------- */

START_TEST(test_tx_eagain_queues_and_flushes)
{
    open_fake(false);
    size_t la = seq_frame(frame, 1, 100);
    be.eagain = true;
    ck_assert(netdev_can_send(nd));
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, la), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(netdev_get_stats(nd)->tx_eagain, 1);
    ck_assert(!netdev_can_send(nd));
    /* A second frame goes behind the first without touching the backend. */
    uint8_t second[200];
    size_t lb = seq_frame(second, 2, 120);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, second, lb), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(be.nsent, 0);
    /* Writable while still full: nothing leaves, tx_ready is not called. */
    netdev_backend_writable(nd);
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(nic.tx_ready_calls, 0);
    ck_assert_uint_eq(netdev_get_stats(nd)->tx_eagain, 2);
    ck_assert(!netdev_can_send(nd));
    /* Room again: both frames in order, then tx_ready once. */
    be.eagain = false;
    netdev_backend_writable(nd);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(be.sent[0].len, la);
    ck_assert_mem_eq(be.sent[0].data, frame, la);
    ck_assert_uint_eq(be.sent[1].len, lb);
    ck_assert_mem_eq(be.sent[1].data, second, lb);
    ck_assert(!be.sent[0].has_hdr && !be.sent[1].has_hdr);
    ck_assert_uint_eq(nic.tx_ready_calls, 1);
    ck_assert(netdev_can_send(nd));
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->tx_packets, 2);
    ck_assert_uint_eq(st->tx_bytes, la + lb);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(st->drops[i], 0);
    close_fake();
}
END_TEST

START_TEST(test_tx_queue_bounded)
{
    open_fake(false);
    be.eagain = true;
    unsigned sent = 300;
    for (uint32_t i = 0; i < sent; i++) {
        size_t n = seq_frame(frame, i, 64);
        ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0); /* accepted: sent or queued */
    }
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t dropped = st->drops[NETDEV_DROP_BACKEND];
    ck_assert_msg(dropped > 0 && dropped < sent, "%llu of %u frames dropped: queue unbounded?",
                  (unsigned long long)dropped, sent);
    be.eagain = false;
    netdev_backend_writable(nd);
    /* What was queued leaves in order, and nothing else. */
    ck_assert_uint_eq(be.nsent + dropped, sent);
    for (unsigned i = 0; i < be.nsent; i++)
        ck_assert_uint_eq(frame_seq(be.sent[i].data, be.sent[i].len), i);
    ck_assert(netdev_can_send(nd));
    close_fake();
}
END_TEST

START_TEST(test_tx_backend_error_dropped)
{
    open_fake(false);
    size_t n = seq_frame(frame, 7, 64);
    be.fail_errno = EIO;
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_BACKEND], 1);
    ck_assert(netdev_can_send(nd)); /* a lost frame is not queued */
    be.fail_errno = 0;
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0);
    ck_assert_uint_eq(be.nsent, 1);
    close_fake();
}
END_TEST

/* A backend that answers inside send() (libslirp replies from slirp_input) must not re-enter
 * the NIC, which is in the middle of its TX path: the answer comes from the loop. */
START_TEST(test_answer_inside_send_deferred)
{
    open_fake(false);
    be.echo = true;
    for (uint32_t i = 0; i < 3; i++) {
        size_t n = seq_frame(frame, i, 64);
        ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0);
    }
    ck_assert_uint_eq(be.nic_calls_in_send, 0);
    ck_assert_uint_eq(nic.receive_calls, 0);
    run_until_received(3);
    for (uint32_t i = 0; i < 3; i++) {
        struct fn_frame *fr = pop_seq(i);
        ck_assert_uint_eq(fr->len, be.sent[i].len);
        ck_assert_mem_eq(fr->data, be.sent[i].data, fr->len);
        free(fr);
    }
    close_fake();
}
END_TEST

/* --- host -> guest: the bounded RX queue ----------------------------------------------------- */

/* Pops the NIC's frames first..last-1, which must be in order. */
static void expect_received_in_order(uint32_t first, uint32_t last)
{
    for (uint32_t i = first; i < last; i++)
        free(pop_seq(i));
}

/* Delivers frames first..last-1 of plen payload bytes while the NIC refuses; each one is
 * answered "stop reading". */
static void deliver_refused(uint32_t first, uint32_t last, size_t plen)
{
    nic.refuse = true;
    for (uint32_t i = first; i < last; i++) {
        size_t n = seq_frame(frame, i, plen);
        ck_assert(!deliver(frame, n));
    }
}

/* Delivers `count` frames of plen payload bytes while the NIC refuses, then lets the NIC
 * accept from another thread; returns how many were queued. */
static unsigned rx_fill_and_drain(unsigned count, size_t plen)
{
    deliver_refused(0, count, plen);
    const struct netdev_stats *st = netdev_get_stats(nd);
    unsigned queued = (unsigned)st->rx_queued;
    ck_assert_uint_eq(queued + st->drops[NETDEV_DROP_QUEUE_FULL], count);
    ck_assert_uint_eq(be.pause_calls, 1);
    ck_assert_uint_eq(be.resume_calls, 0);
    ck_assert_uint_eq(nic.received, 0);
    /* The queue is offered only after netdev_rx_ready, and then on the loop thread. */
    run_idle();
    ck_assert_uint_eq(nic.refused, 1);
    nic.refuse = false;
    rx_ready_from_thread();
    ck_assert_uint_eq(nic.received, 0);
    run_until_received(queued);
    ck_assert_uint_eq(nic.received, queued);
    expect_received_in_order(0, queued); /* the oldest frames, in order */
    ck_assert_uint_eq(be.resume_calls, 1);
    ck_assert_uint_eq(st->rx_packets, queued);
    return queued;
}

START_TEST(test_rx_queue_bounded_by_frames)
{
    open_fake(false);
    unsigned queued = rx_fill_and_drain(400, 64);
    ck_assert_uint_eq(queued, 256);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_QUEUE_FULL], 400 - 256);
    /* Afterwards frames go straight through. */
    size_t n = seq_frame(frame, 1000, 64);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(nic.received, 257);
    close_fake();
}
END_TEST

START_TEST(test_rx_queue_bounded_by_bytes)
{
    open_fake(false);
    unsigned queued = rx_fill_and_drain(200, 9000);
    size_t len = seq_frame(frame, 0, 9000);
    ck_assert_uint_eq(queued, (1u << 20) / len); /* 1 MiB of frames */
    close_fake();
}
END_TEST

/* Lets the NIC accept (at most budget frames; negative: no limit) and wakes the loop from
 * another thread `wakes` times; expects the NIC to have received `want` frames in all. */
static void rx_accept(int64_t budget, unsigned wakes, uint64_t want)
{
    nic.refuse = false;
    nic.accept_budget = budget;
    for (unsigned i = 0; i < wakes; i++)
        rx_ready_from_thread();
    run_until_received(want);
    run_idle();
    ck_assert_uint_eq(nic.received, want);
}

START_TEST(test_rx_partial_drain)
{
    open_fake(false);
    nic.refuse = true;
    for (uint32_t i = 0; i < 10; i++) {
        size_t n = seq_frame(frame, i, 64);
        deliver(frame, n);
    }
    ck_assert_uint_eq(netdev_get_stats(nd)->rx_queued, 10);
    /* The NIC takes all ten in one flush and reading resumes. */
    nic.refuse = false;
    rx_ready_from_thread();
    run_until_received(1);
    ck_assert_uint_eq(nic.received, 10); /* all went in one flush */
    ck_assert_uint_eq(be.resume_calls, 1);

    /* Now the NIC takes two of five queued frames and refuses again: the rest stays queued,
     * reading stays paused, and a later netdev_rx_ready wakes the loop again. */
    deliver_refused(10, 15, 64);
    ck_assert_uint_eq(be.pause_calls, 2);
    rx_accept(2, 1, 12);
    ck_assert_uint_eq(be.resume_calls, 1);
    /* A new frame waits behind the queued ones instead of being offered first. */
    nic.accept_budget = -1;
    size_t n = seq_frame(frame, 15, 64);
    ck_assert(!deliver(frame, n));
    ck_assert_uint_eq(nic.received, 12);
    /* Two calls: one wake-up is enough, nothing is offered twice. */
    rx_accept(-1, 2, 16);
    expect_received_in_order(0, 16);
    ck_assert_uint_eq(be.resume_calls, 2);
    close_fake();
}
END_TEST

void netdev_queue_tests(TCase *tc)
{
    tcase_add_test(tc, test_tx_eagain_queues_and_flushes);
    tcase_add_test(tc, test_tx_queue_bounded);
    tcase_add_test(tc, test_tx_backend_error_dropped);
    tcase_add_test(tc, test_answer_inside_send_deferred);
    tcase_add_test(tc, test_rx_queue_bounded_by_frames);
    tcase_add_test(tc, test_rx_queue_bounded_by_bytes);
    tcase_add_test(tc, test_rx_partial_drain);
}
