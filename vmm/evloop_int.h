/* Internals of the event loop shared by evloop.c (fds, calls, the wait) and evloop_timer.c
 * (timers kept in memory). Nothing outside vmm/evloop*.c includes this. */
#ifndef NICVM_EVLOOP_INT_H
#define NICVM_EVLOOP_INT_H

#include "vmm/evloop.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define EVLOOP_BATCH 64

#define EVLOOP_NAME_LEN 48

struct evloop_source {
    struct evloop_source *next;
    int fd;
    atomic_bool dead;
    evloop_fd_fn fn;
    void *opaque;
    char name[EVLOOP_NAME_LEN];      /* "" until evloop_set_name() */
    uint64_t callbacks, callback_ns; /* loop thread only */
};

struct evloop_call {
    struct evloop_call *next;
    evloop_cb fn;
    void *opaque;
};

/* A timer: an absolute CLOCK_MONOTONIC deadline (0 while disarmed) in the loop's list of
 * timers. Arming is a store under tlock, not a system call: the loop bounds its next wait by
 * the earliest deadline instead (evloop_timers_begin_wait()). */
struct evloop_timer {
    struct evloop *loop;
    evloop_cb fn;
    void *opaque;
    _Atomic uint64_t deadline; /* 0: disarmed */
    struct evloop_timer *next; /* the loop's timers, armed or not */
    char name[EVLOOP_NAME_LEN];
    uint64_t fired, callback_ns; /* loop thread only */
};

struct evloop {
    int epfd;
    int wakefd;
    atomic_bool stop;
    pthread_t thread;
    atomic_bool running;
    pthread_mutex_t lock; /* sources list and call queue */
    struct evloop_source *sources;
    struct evloop_call *calls, **calls_tail;
    bool in_batch;
    struct evloop_hook hooks[EVLOOP_MAX_HOOKS];
    unsigned nr_hooks;
    /* Timers, under tlock (taken after any device lock, never before). */
    pthread_mutex_t tlock;
    bool waiting;                   /* the loop thread is in (or entering) its wait */
    uint64_t wait_deadline;         /* what that wait is bounded by (UINT64_MAX: none) */
    struct evloop_timer *timers;    /* all of them, unsorted: a loop has a handful */
    struct evloop_timer *cur_timer; /* the timer whose callback runs (NULL once it frees it) */
    /* Statistics (evloop_stats_json()): written by the loop thread, except wake_writes. */
    uint64_t iterations, idle_ns, busy_ns, deferred_calls;
    _Atomic uint64_t wake_writes; /* eventfd writes by evloop_wake(), from any thread */
};

/* evloop_wake: makes a waiting loop return from its wait (eventfd write). Any thread. */
void evloop_wake(struct evloop *loop);

/* evloop_timers_begin_wait: marks the loop as waiting and returns the earliest armed
 * deadline (UINT64_MAX when none), which the wait must not sleep past. Loop thread. */
uint64_t evloop_timers_begin_wait(struct evloop *loop);
/* evloop_timers_end_wait: the wait returned. Loop thread. */
void evloop_timers_end_wait(struct evloop *loop);
/* evloop_timers_run: calls every timer whose deadline is at or before `now`, each once
 * (a callback that re-arms its timer runs again in a later pass, never in this one).
 * Returns how many ran. Loop thread. */
int evloop_timers_run(struct evloop *loop, uint64_t now);

/* evloop_name_fmt: formats a source or timer name into dst (EVLOOP_NAME_LEN bytes). */
void evloop_name_fmt(char *dst, const char *fmt, va_list ap);

#endif
