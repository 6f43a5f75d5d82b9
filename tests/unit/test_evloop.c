/* Unit tests for the event loop: in-memory timers (deadline order, re-arming, disarming, a
 * callback that re-arms or frees timers, never firing before the deadline, a wait bounded
 * by the earliest timer, another thread's arm waking a sleeping loop), deferred calls, and
 * fd sources deleted inside a batch. */
#include "vmm/evloop.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MS 1000000ull

struct rec {
    int order[16];
    int n;
    uint64_t at[16];
};

struct tctx {
    struct rec *rec;
    int id;
    struct evloop_timer *t;
    struct evloop_timer *other; /* freed by the callback when set */
    uint64_t rearm_ns;          /* re-armed by the callback when non-zero */
    struct evloop *stop;        /* stopped by the callback when set */
    bool free_self;             /* the callback frees its own timer */
};

static void tfire(void *opaque)
{
    struct tctx *c = opaque;
    if (c->rec->n < 16) {
        c->rec->at[c->rec->n] = evloop_now_ns();
        c->rec->order[c->rec->n++] = c->id;
    }
    if (c->rearm_ns)
        evloop_timer_arm(c->t, c->rearm_ns);
    if (c->other) {
        evloop_timer_free(c->other);
        c->other = NULL;
    }
    if (c->stop)
        evloop_stop(c->stop);
    if (c->free_self) {
        evloop_timer_free(c->t);
        c->t = NULL;
    }
}

/* Gives c a timer on loop that records into c->rec. */
static void add_timer(struct evloop *loop, struct tctx *c)
{
    c->t = evloop_timer_new(loop, tfire, c);
    ck_assert_ptr_nonnull(c->t);
}

/* Runs the loop until `n` timers have fired or 5 s have passed. */
static void run_until(struct evloop *loop, struct rec *r, int n)
{
    uint64_t end = evloop_now_ns() + 5000 * MS;
    while (r->n < n && evloop_now_ns() < end)
        evloop_run_once(loop, 100);
}

START_TEST(timers_fire_in_deadline_order)
{
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx c[3] = {{.rec = &r, .id = 0}, {.rec = &r, .id = 1}, {.rec = &r, .id = 2}};
    uint64_t ns[3] = {30 * MS, 10 * MS, 20 * MS};
    for (int i = 0; i < 3; i++) {
        add_timer(loop, &c[i]);
        ck_assert_int_eq(evloop_timer_arm(c[i].t, ns[i]), 0);
        ck_assert(evloop_timer_armed(c[i].t));
    }
    usleep(40 * 1000); /* all three are due: one pass runs them, earliest deadline first */
    ck_assert_int_eq(evloop_run_once(loop, 0), 3);
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.order[0], 1);
    ck_assert_int_eq(r.order[1], 2);
    ck_assert_int_eq(r.order[2], 0);
    for (int i = 0; i < 3; i++) {
        ck_assert(!evloop_timer_armed(c[i].t));
        evloop_timer_free(c[i].t);
    }
    ck_assert_int_eq(evloop_run_once(loop, 0), 0); /* one-shot: nothing more */
    evloop_destroy(loop);
}
END_TEST

START_TEST(timer_never_fires_before_its_deadline)
{
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx c = {.rec = &r, .id = 7};
    add_timer(loop, &c);
    uint64_t delays[] = {50000, 300000, 2 * MS, 15 * MS};
    for (unsigned i = 0; i < 4; i++) {
        uint64_t t0 = evloop_now_ns();
        evloop_timer_arm(c.t, delays[i]);
        run_until(loop, &r, (int)i + 1);
        ck_assert_int_eq(r.n, (int)i + 1);
        ck_assert_uint_ge(r.at[i] - t0, delays[i]);
    }
    evloop_timer_free(c.t);
    evloop_destroy(loop);
}
END_TEST

START_TEST(rearm_replaces_and_zero_disarms)
{
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx a = {.rec = &r, .id = 1}, b = {.rec = &r, .id = 2};
    add_timer(loop, &a);
    add_timer(loop, &b);
    evloop_timer_arm(a.t, 1 * MS);
    uint64_t t0 = evloop_now_ns();
    evloop_timer_arm(a.t, 40 * MS); /* later deadline replaces the earlier one */
    evloop_timer_arm(b.t, 1 * MS);
    evloop_timer_arm(b.t, 0); /* disarmed: never fires */
    ck_assert(!evloop_timer_armed(b.t));
    run_until(loop, &r, 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.order[0], 1);
    ck_assert_uint_ge(r.at[0] - t0, 40 * MS);
    usleep(5000);
    ck_assert_int_eq(evloop_run_once(loop, 0), 0);
    ck_assert_int_eq(r.n, 1);
    evloop_timer_arm(b.t, 0); /* disarming a disarmed timer is harmless */
    evloop_timer_free(a.t);
    evloop_timer_free(b.t);
    evloop_destroy(loop);
}
END_TEST

/* A callback that re-arms its timer for 1 ns runs once per pass, not in a tight loop. */
START_TEST(rearm_in_callback_does_not_spin)
{
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx c = {.rec = &r, .id = 3};
    add_timer(loop, &c);
    c.rearm_ns = 1;
    evloop_timer_arm(c.t, 1);
    usleep(1000);
    ck_assert_int_eq(evloop_run_once(loop, 0), 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert(evloop_timer_armed(c.t));
    ck_assert_int_eq(evloop_run_once(loop, 10), 1); /* due again at once on the next pass */
    ck_assert_int_eq(r.n, 2);
    c.rearm_ns = 0;
    evloop_timer_free(c.t);
    evloop_destroy(loop);
}
END_TEST

/* A callback may free another due timer (which then does not run) and its own. */
START_TEST(callback_frees_timers)
{
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx a = {.rec = &r, .id = 1}, b = {.rec = &r, .id = 2};
    add_timer(loop, &a);
    add_timer(loop, &b);
    a.other = b.t;
    a.free_self = true;
    evloop_timer_arm(a.t, 1 * MS);
    evloop_timer_arm(b.t, 2 * MS);
    usleep(5000);
    ck_assert_int_eq(evloop_run_once(loop, 0), 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.order[0], 1);
    ck_assert_ptr_null(a.t);
    evloop_destroy(loop);
}
END_TEST

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3); /* a wait that ignored its timer would hang the test: fail it instead */
}

/* A wait with no timeout of its own returns when the earliest timer is due. */
START_TEST(timer_bounds_an_unbounded_wait)
{
    signal(SIGALRM, on_alarm);
    alarm(10);
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx c = {.rec = &r, .id = 4};
    add_timer(loop, &c);
    evloop_timer_arm(c.t, 3 * MS);
    ck_assert_int_eq(evloop_run_once(loop, -1), 1);
    ck_assert_int_eq(r.n, 1);
    alarm(0);
    evloop_timer_free(c.t);
    evloop_destroy(loop);
}
END_TEST

static void *loop_thread(void *opaque)
{
    evloop_run(opaque);
    return NULL;
}

/* Another thread arms a timer while the loop sleeps with no deadline: the loop wakes,
 * fires it on time, and the callback stops the loop. */
START_TEST(arm_from_other_thread_wakes_the_loop)
{
    signal(SIGALRM, on_alarm);
    alarm(10);
    struct evloop *loop = evloop_create();
    struct rec r = {0};
    struct tctx c = {.rec = &r, .id = 5};
    add_timer(loop, &c);
    c.stop = loop;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, loop), 0);
    usleep(20 * 1000); /* let the loop block in its wait */
    uint64_t t0 = evloop_now_ns();
    evloop_timer_arm(c.t, 2 * MS);
    pthread_join(th, NULL);
    alarm(0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_ge(r.at[0] - t0, 2 * MS);
    evloop_timer_free(c.t);
    evloop_destroy(loop);
}
END_TEST

static int call_log[8], call_n;

static void log_call(void *opaque)
{
    if (call_n < 8)
        call_log[call_n++] = (int)(intptr_t)opaque;
}

START_TEST(deferred_calls_run_in_order_once)
{
    struct evloop *loop = evloop_create();
    call_n = 0;
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(evloop_call(loop, log_call, (void *)i), 0);
    ck_assert_int_gt(evloop_run_once(loop, 0), 0);
    ck_assert_int_eq(call_n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(call_log[i], i);
    ck_assert_int_eq(evloop_run_once(loop, 0), 0);
    ck_assert_int_eq(call_n, 5);
    evloop_destroy(loop);
}
END_TEST

struct fdctx {
    struct evloop *loop;
    int self, victim;
    int calls;
};

static void fd_deletes_victim(void *opaque, uint32_t events)
{
    struct fdctx *c = opaque;
    (void)events;
    c->calls++;
    evloop_del_fd(c->loop, c->victim);
    evloop_del_fd(c->loop, c->self);
}

/* Two ready fds; whichever runs first deletes the other, which must not run in the same
 * batch (its callback would touch a freed source). */
START_TEST(fd_deleted_in_batch_is_skipped)
{
    struct evloop *loop = evloop_create();
    int a = eventfd(1, EFD_NONBLOCK), b = eventfd(1, EFD_NONBLOCK);
    struct fdctx shared = {loop, -1, -1, 0};
    struct fdctx ca = shared, cb = shared;
    ca.self = a, ca.victim = b;
    cb.self = b, cb.victim = a;
    ck_assert_int_eq(evloop_add_fd(loop, a, EPOLLIN, fd_deletes_victim, &ca), 0);
    ck_assert_int_eq(evloop_add_fd(loop, b, EPOLLIN, fd_deletes_victim, &cb), 0);
    evloop_run_once(loop, 0);
    ck_assert_int_eq(ca.calls + cb.calls, 1);
    ck_assert_int_eq(evloop_del_fd(loop, a), -ENOENT);
    close(a);
    close(b);
    evloop_destroy(loop);
}
END_TEST

static void on_readable(void *opaque, uint32_t events)
{
    (void)events;
    uint64_t v;
    if (read(*(int *)opaque, &v, sizeof(v)) < 0)
        return;
    usleep(2000); /* a slow handler: the report must put it first */
}

static json_t *row_named(json_t *rows, const char *name)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
            return row;
    }
    return NULL;
}

static json_int_t field(json_t *o, const char *key)
{
    ck_assert_msg(json_is_integer(json_object_get(o, key)), "no integer %s", key);
    return json_integer_value(json_object_get(o, key));
}

/* The report counts each named source's callbacks and timer's firings, busiest first,
 * another thread's wake-ups, deferred calls, and the loop's iterations, busy and idle time. */
START_TEST(stats_report_where_time_went)
{
    struct evloop *loop = evloop_create();
    int slow = eventfd(0, EFD_NONBLOCK), quiet = eventfd(0, EFD_NONBLOCK);
    ck_assert_int_eq(evloop_add_fd(loop, slow, EPOLLIN, on_readable, &slow), 0);
    ck_assert_int_eq(evloop_add_fd(loop, quiet, EPOLLIN, on_readable, &quiet), 0);
    ck_assert_int_eq(evloop_set_name(loop, slow, "slow %s", "handler"), 0);
    ck_assert_int_eq(evloop_set_name(loop, 12345, "nobody"), -ENOENT);
    struct rec r = {0};
    struct tctx c = {.rec = &r, .id = 1}, gone = {.rec = &r, .id = 2};
    add_timer(loop, &c);
    add_timer(loop, &gone);
    evloop_timer_set_name(c.t, "tick");
    gone.free_self = true;
    uint64_t one = 1;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(write(slow, &one, sizeof(one)), (ssize_t)sizeof(one));
        evloop_timer_arm(c.t, 1);
        usleep(100);
        evloop_run_once(loop, 100);
    }
    evloop_timer_arm(gone.t, 1); /* frees itself when it fires: no row, no crash */
    usleep(100);
    evloop_run_once(loop, 100);
    evloop_call(loop, log_call, NULL);
    evloop_run_once(loop, 100);
    json_t *st = evloop_stats_json(loop);
    ck_assert_int_ge(field(st, "iterations"), 5);
    ck_assert_int_ge(field(st, "busy_ns"), 3 * 2000000);
    ck_assert_int_ge(field(st, "deferred_calls"), 1);
    ck_assert_int_ge(field(st, "wakeup_requests"), 1); /* evloop_call's wake */
    json_t *src = json_object_get(st, "sources");
    json_t *first = json_array_get(src, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "name")), "slow handler");
    ck_assert_int_eq(field(first, "callbacks"), 3);
    ck_assert_int_ge(field(first, "ns"), 3 * 2000000);
    ck_assert_int_eq(field(first, "fd"), slow);
    char unnamed[32];
    snprintf(unnamed, sizeof(unnamed), "fd %d", quiet);
    json_t *q = row_named(src, unnamed);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(field(q, "callbacks"), 0);
    json_t *tick = row_named(json_object_get(st, "timers"), "tick");
    ck_assert_ptr_nonnull(tick);
    ck_assert_int_eq(field(tick, "fired"), 3);
    ck_assert(json_is_false(json_object_get(tick, "armed")));
    ck_assert_uint_eq(json_array_size(json_object_get(st, "timers")), 1);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    evloop_stats_print(mem, st);
    fclose(mem);
    ck_assert_msg(strstr(text, "deferred calls\n  fd source ") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "\n  slow handler ") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "\n  tick ") != NULL, "%s", text);
    /* busiest first: the slow handler's line comes before the quiet fd's */
    ck_assert(strstr(text, "slow handler") < strstr(text, unnamed));
    free(text);
    json_decref(st);
    evloop_timer_free(c.t);
    evloop_del_fd(loop, slow);
    evloop_del_fd(loop, quiet);
    close(slow);
    close(quiet);
    evloop_destroy(loop);
}
END_TEST

static Suite *evloop_suite(void)
{
    Suite *s = suite_create("evloop");
    TCase *tc = tcase_create("timers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, timers_fire_in_deadline_order);
    tcase_add_test(tc, timer_never_fires_before_its_deadline);
    tcase_add_test(tc, rearm_replaces_and_zero_disarms);
    tcase_add_test(tc, rearm_in_callback_does_not_spin);
    tcase_add_test(tc, callback_frees_timers);
    tcase_add_test(tc, timer_bounds_an_unbounded_wait);
    tcase_add_test(tc, arm_from_other_thread_wakes_the_loop);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("loop");
    tcase_add_test(tl, deferred_calls_run_in_order_once);
    tcase_add_test(tl, fd_deleted_in_batch_is_skipped);
    tcase_add_test(tl, stats_report_where_time_went);
    suite_add_tcase(s, tl);
    return s;
}

UNIT_MAIN(evloop_suite)
