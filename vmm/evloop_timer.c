/* Event-loop timers kept in memory. Arming, re-arming and disarming store a deadline under
 * a mutex; the loop bounds its next wait by the earliest armed deadline and runs the timers
 * that are due after each wait. So the e1000's mitigation timers, re-armed for every TX and
 * RX batch (8254x manual 3.4: TIDV/TADV, RDTR/RADV), cost no system call on the loop
 * thread, where one timerfd per timer cost a timerfd_settime() each time. A thread other
 * than the loop's wakes the loop only when its new deadline is earlier than the one the
 * loop is sleeping towards. */
#include "vmm/evloop_int.h"

#include <stdarg.h>
#include <stdlib.h>

struct evloop_timer *evloop_timer_new(struct evloop *loop, evloop_cb fn, void *opaque)
{
    struct evloop_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->loop = loop;
    t->fn = fn;
    t->opaque = opaque;
    pthread_mutex_lock(&loop->tlock);
    t->next = loop->timers;
    loop->timers = t;
    pthread_mutex_unlock(&loop->tlock);
    return t;
}

void evloop_timer_set_name(struct evloop_timer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evloop_name_fmt(t->name, fmt, ap);
    va_end(ap);
}

int evloop_timer_arm(struct evloop_timer *t, uint64_t ns)
{
    struct evloop *loop = t->loop;
    uint64_t deadline = 0;
    if (ns) {
        uint64_t now = evloop_now_ns();
        deadline = ns < UINT64_MAX - 1 - now ? now + ns : UINT64_MAX - 1;
    }
    bool wake = false;
    pthread_mutex_lock(&loop->tlock);
    atomic_store(&t->deadline, deadline);
    /* Only another thread can find the loop waiting: the loop thread arms timers between
     * waits, and the next wait is bounded by what it armed. */
    if (deadline && loop->waiting && deadline < loop->wait_deadline) {
        loop->wait_deadline = deadline;
        wake = true;
    }
    pthread_mutex_unlock(&loop->tlock);
    if (wake)
        evloop_wake(loop);
    return 0;
}

bool evloop_timer_armed(struct evloop_timer *t)
{
    return atomic_load(&t->deadline) != 0;
}

void evloop_timer_free(struct evloop_timer *t)
{
    if (!t)
        return;
    struct evloop *loop = t->loop;
    pthread_mutex_lock(&loop->tlock);
    for (struct evloop_timer **pp = &loop->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&loop->tlock);
    if (loop->cur_timer == t)
        loop->cur_timer = NULL; /* freed by its own callback: no statistics to add */
    free(t);
}

static uint64_t earliest_locked(struct evloop *loop)
{
    uint64_t min = UINT64_MAX;
    for (struct evloop_timer *t = loop->timers; t; t = t->next) {
        uint64_t d = atomic_load(&t->deadline);
        if (d && d < min)
            min = d;
    }
    return min;
}

uint64_t evloop_timers_begin_wait(struct evloop *loop)
{
    pthread_mutex_lock(&loop->tlock);
    loop->waiting = true;
    loop->wait_deadline = earliest_locked(loop);
    uint64_t d = loop->wait_deadline;
    pthread_mutex_unlock(&loop->tlock);
    return d;
}

void evloop_timers_end_wait(struct evloop *loop)
{
    pthread_mutex_lock(&loop->tlock);
    loop->waiting = false;
    pthread_mutex_unlock(&loop->tlock);
}

/* The due timer with the earliest deadline, disarmed, or NULL. */
static struct evloop_timer *take_due(struct evloop *loop, uint64_t now)
{
    pthread_mutex_lock(&loop->tlock);
    struct evloop_timer *due = NULL;
    uint64_t first = 0;
    for (struct evloop_timer *t = loop->timers; t; t = t->next) {
        uint64_t d = atomic_load(&t->deadline);
        if (d && d <= now && (!due || d < first))
            due = t, first = d;
    }
    if (due)
        atomic_store(&due->deadline, 0);
    pthread_mutex_unlock(&loop->tlock);
    return due;
}

int evloop_timers_run(struct evloop *loop, uint64_t now)
{
    int n = 0;
    /* Bounded: a callback that re-arms its timer sets a deadline after `now`. */
    for (struct evloop_timer *t; (t = take_due(loop, now)) != NULL; n++) {
        uint64_t t0 = evloop_now_ns();
        t->fired++;
        loop->cur_timer = t;
        t->fn(t->opaque); /* may re-arm or free t */
        if (loop->cur_timer == t)
            t->callback_ns += evloop_now_ns() - t0;
        loop->cur_timer = NULL;
    }
    return n;
}
