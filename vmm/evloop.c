/* Event loop: epoll over registered fds; an eventfd wakes it for deferred calls and stop;
 * timers are kept in memory (evloop_timer.c) and bound each wait's timeout. Sources deleted
 * during a batch are only marked dead and freed after the batch, so a callback may delete
 * any source, including its own. */
#define _GNU_SOURCE
#include "vmm/evloop_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

uint64_t evloop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void evloop_wake(struct evloop *loop)
{
    uint64_t one = 1;
    atomic_fetch_add_explicit(&loop->wake_writes, 1, memory_order_relaxed);
    ssize_t r = write(loop->wakefd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: the loop will wake anyway */
}

static void evloop_run_calls(struct evloop *loop)
{
    pthread_mutex_lock(&loop->lock);
    struct evloop_call *c = loop->calls;
    loop->calls = NULL;
    loop->calls_tail = &loop->calls;
    pthread_mutex_unlock(&loop->lock);
    while (c) {
        struct evloop_call *next = c->next;
        loop->deferred_calls++;
        c->fn(c->opaque);
        free(c);
        c = next;
    }
}

static void evloop_on_wake(void *opaque, uint32_t events)
{
    struct evloop *loop = opaque;
    uint64_t v;
    (void)events;
    ssize_t r = read(loop->wakefd, &v, sizeof(v));
    (void)r;
    evloop_run_calls(loop);
}

struct evloop *evloop_create(void)
{
    struct evloop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    pthread_mutex_init(&loop->lock, NULL);
    pthread_mutex_init(&loop->tlock, NULL);
    loop->calls_tail = &loop->calls;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0 ||
        evloop_add_fd(loop, loop->wakefd, EPOLLIN, evloop_on_wake, loop) < 0) {
        int err = errno;
        evloop_destroy(loop);
        errno = err;
        return NULL;
    }
    evloop_set_name(loop, loop->wakefd, "loop wake-up (deferred calls, stop)");
    return loop;
}

void evloop_destroy(struct evloop *loop)
{
    if (!loop)
        return;
    while (loop->sources) {
        struct evloop_source *s = loop->sources;
        loop->sources = s->next;
        free(s);
    }
    while (loop->calls) {
        struct evloop_call *c = loop->calls;
        loop->calls = c->next;
        free(c);
    }
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    pthread_mutex_destroy(&loop->lock);
    pthread_mutex_destroy(&loop->tlock);
    free(loop);
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *opaque)
{
    struct evloop_source *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct evloop_source){.fd = fd, .fn = fn, .opaque = opaque};
    struct epoll_event ev = {.events = events, .data.ptr = s};
    pthread_mutex_lock(&loop->lock);
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        pthread_mutex_unlock(&loop->lock);
        free(s);
        return -err;
    }
    s->next = loop->sources;
    loop->sources = s;
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static struct evloop_source *evloop_find(struct evloop *loop, int fd)
{
    for (struct evloop_source *s = loop->sources; s; s = s->next)
        if (s->fd == fd && !s->dead)
            return s;
    return NULL;
}

void evloop_name_fmt(char *dst, const char *fmt, va_list ap)
{
    vsnprintf(dst, EVLOOP_NAME_LEN, fmt, ap);
}

int evloop_set_name(struct evloop *loop, int fd, const char *fmt, ...)
{
    pthread_mutex_lock(&loop->lock);
    struct evloop_source *s = evloop_find(loop, fd);
    if (s) {
        va_list ap;
        va_start(ap, fmt);
        evloop_name_fmt(s->name, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&loop->lock);
    return s ? 0 : -ENOENT;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
    pthread_mutex_lock(&loop->lock);
    struct evloop_source *s = evloop_find(loop, fd);
    int rc = -ENOENT;
    if (s) {
        struct epoll_event ev = {.events = events, .data.ptr = s};
        rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&loop->lock);
    return rc;
}

/* Frees dead sources; caller holds the lock and no batch is in progress. */
static void evloop_reap(struct evloop *loop)
{
    for (struct evloop_source **pp = &loop->sources; *pp;) {
        struct evloop_source *s = *pp;
        if (s->dead) {
            *pp = s->next;
            free(s);
        } else {
            pp = &s->next;
        }
    }
}

int evloop_del_fd(struct evloop *loop, int fd)
{
    pthread_mutex_lock(&loop->lock);
    struct evloop_source *s = evloop_find(loop, fd);
    if (s) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        atomic_store(&s->dead, true);
        if (!loop->in_batch)
            evloop_reap(loop);
    }
    pthread_mutex_unlock(&loop->lock);
    return s ? 0 : -ENOENT;
}

/* epoll_pwait2() (Linux 5.11) takes a nanosecond timeout; before it, epoll_wait() rounds
 * the timeout up to whole milliseconds, so a timer fires late rather than early. */
static atomic_bool no_pwait2;

/* Waits for fd events until `deadline` (CLOCK_MONOTONIC ns, UINT64_MAX: none) or for
 * timeout_ms (-1: none), whichever comes first. Returns epoll's count or -1 (errno set). */
static int evloop_wait(struct evloop *loop, struct epoll_event *ev, int timeout_ms,
                       uint64_t deadline)
{
    int64_t ns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
    if (deadline != UINT64_MAX) {
        uint64_t now = evloop_now_ns();
        int64_t left = deadline > now ? (int64_t)(deadline - now) : 0;
        if (ns < 0 || left < ns)
            ns = left;
    }
    if (ns < 0)
        return epoll_wait(loop->epfd, ev, EVLOOP_BATCH, -1);
    if (!atomic_load(&no_pwait2)) {
        struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
        int n = epoll_pwait2(loop->epfd, ev, EVLOOP_BATCH, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store(&no_pwait2, true);
    }
    int64_t ms = (ns + 999999) / 1000000;
    return epoll_wait(loop->epfd, ev, EVLOOP_BATCH, ms > INT_MAX ? INT_MAX : (int)ms);
}

/* The kernel lets a timed wait overrun by the thread's timer slack (50 us by default), as
 * much as the e1000's shortest mitigation delays; a loop thread asks for the minimum. */
static void evloop_tight_slack(void)
{
    static _Thread_local bool done;
    if (!done) {
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        done = true;
    }
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
    struct epoll_event ev[EVLOOP_BATCH];
    evloop_tight_slack();
    /* Mark the batch before waiting: a source deleted by another thread from here on is
     * only marked dead, so the pointers epoll hands back stay valid until the reap below. */
    pthread_mutex_lock(&loop->lock);
    loop->in_batch = true;
    pthread_mutex_unlock(&loop->lock);
    for (unsigned i = 0; i < loop->nr_hooks; i++)
        loop->hooks[i].prepare(loop->hooks[i].opaque, &timeout_ms);
    uint64_t t0 = evloop_now_ns();
    int n = evloop_wait(loop, ev, timeout_ms, evloop_timers_begin_wait(loop));
    int err = errno;
    evloop_timers_end_wait(loop);
    uint64_t t = evloop_now_ns();
    loop->idle_ns += t - t0;
    loop->iterations++;
    t0 = t;
    for (int i = 0; i < n; i++) {
        struct evloop_source *s = ev[i].data.ptr;
        /* A source deleted earlier in this batch is skipped. */
        if (!atomic_load(&s->dead)) {
            s->fn(s->opaque, ev[i].events);
            uint64_t after = evloop_now_ns();
            s->callbacks++;
            s->callback_ns += after - t;
            t = after;
        }
    }
    int fired = evloop_timers_run(loop, t);
    for (unsigned i = 0; i < loop->nr_hooks; i++)
        loop->hooks[i].check(loop->hooks[i].opaque);
    pthread_mutex_lock(&loop->lock);
    loop->in_batch = false;
    evloop_reap(loop);
    pthread_mutex_unlock(&loop->lock);
    loop->busy_ns += evloop_now_ns() - t0;
    if (n < 0)
        return err == EINTR ? fired : -err;
    return n + fired;
}

int evloop_run(struct evloop *loop)
{
    loop->thread = pthread_self();
    atomic_store(&loop->running, true);
    int rc = 0;
    while (!atomic_load(&loop->stop)) {
        rc = evloop_run_once(loop, -1);
        if (rc < 0)
            break;
        rc = 0;
    }
    atomic_store(&loop->running, false);
    return rc;
}

void evloop_stop(struct evloop *loop)
{
    atomic_store(&loop->stop, true);
    evloop_wake(loop);
}

bool evloop_stopping(struct evloop *loop)
{
    return atomic_load(&loop->stop);
}

bool evloop_in_loop_thread(struct evloop *loop)
{
    return atomic_load(&loop->running) && pthread_equal(loop->thread, pthread_self());
}

int evloop_add_hook(struct evloop *loop, const struct evloop_hook *hook)
{
    if (loop->nr_hooks >= EVLOOP_MAX_HOOKS)
        return -ENOSPC;
    loop->hooks[loop->nr_hooks++] = *hook;
    return 0;
}

int evloop_remove_hook(struct evloop *loop, void *opaque)
{
    for (unsigned i = 0; i < loop->nr_hooks; i++) {
        if (loop->hooks[i].opaque == opaque) {
            memmove(&loop->hooks[i], &loop->hooks[i + 1],
                    (loop->nr_hooks - i - 1) * sizeof(loop->hooks[0]));
            loop->nr_hooks--;
            return 0;
        }
    }
    return -ENOENT;
}

void evloop_wakeup(struct evloop *loop)
{
    evloop_wake(loop);
}

int evloop_call(struct evloop *loop, evloop_cb fn, void *opaque)
{
    struct evloop_call *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct evloop_call){NULL, fn, opaque};
    pthread_mutex_lock(&loop->lock);
    *loop->calls_tail = c;
    loop->calls_tail = &c->next;
    pthread_mutex_unlock(&loop->lock);
    evloop_wake(loop);
    return 0;
}
