/* The event loop: one thread that owns backend file descriptors, timers, ioeventfds and
 * deferred calls, built on epoll and eventfd; timers live in memory and bound the wait.
 *
 * Callbacks always run on the loop thread. evloop_call(), evloop_stop() and timer arming
 * may be used from any thread (vCPU threads use them to hand work to the loop). */
#ifndef NICVM_EVLOOP_H
#define NICVM_EVLOOP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

struct evloop;
struct evloop_timer;
struct json_t; /* jansson's; evloop.h does not pull jansson.h into every user */

/* evloop_fd_fn: called on the loop thread with the ready epoll events (EPOLLIN, ...). */
typedef void (*evloop_fd_fn)(void *opaque, uint32_t events);
/* evloop_cb: a deferred call or timer expiry. */
typedef void (*evloop_cb)(void *opaque);

/* evloop_create: a new, idle loop. Returns NULL (errno set) on failure. */
struct evloop *evloop_create(void);
/* evloop_destroy: closes the loop's fds and frees pending calls and timers. Not running. */
void evloop_destroy(struct evloop *loop);

/* evloop_add_fd: watches fd for `events` (EPOLLIN, EPOLLOUT; level-triggered). One
 * registration per fd. Returns 0 or -errno. */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *opaque);
/* evloop_mod_fd: changes the event mask of a watched fd (0 pauses it). Returns 0 or -errno. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);
/* evloop_del_fd: stops watching fd; its callback is not called again, even within the
 * current batch. Does not close fd. Returns 0 or -ENOENT. */
int evloop_del_fd(struct evloop *loop, int fd);

/* evloop_run: dispatches events until evloop_stop(). Returns 0 or -errno on epoll failure. */
int evloop_run(struct evloop *loop);
/* evloop_run_once: waits up to timeout_ms (-1 forever; sooner when a timer is due) and
 * dispatches one batch: ready fds, then due timers. For tests and single-threaded tools.
 * Returns the number of fd events and timers handled, or -errno. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* evloop_stop: makes evloop_run() return. Any thread, async-signal-safe. */
void evloop_stop(struct evloop *loop);
/* evloop_stopping: true once evloop_stop() has been called. */
bool evloop_stopping(struct evloop *loop);

/* evloop_call: queues fn(opaque) to run on the loop thread. Any thread. Returns 0 or
 * -ENOMEM. */
int evloop_call(struct evloop *loop, evloop_cb fn, void *opaque);

/* A hook run around every wait of the loop, for libraries that must be polled rather than
 * driven by fd callbacks (libslirp): prepare may lower *timeout_ms (-1 = no limit) before
 * the wait; check runs after the wait and its callbacks, on every iteration. */
struct evloop_hook {
    void (*prepare)(void *opaque, int *timeout_ms);
    void (*check)(void *opaque);
    void *opaque;
};

/* evloop_add_hook: registers a hook (at most EVLOOP_MAX_HOOKS). Returns 0 or -ENOSPC. */
int evloop_add_hook(struct evloop *loop, const struct evloop_hook *hook);
/* evloop_remove_hook: unregisters the hook with this opaque. Returns 0 or -ENOENT. */
int evloop_remove_hook(struct evloop *loop, void *opaque);
#define EVLOOP_MAX_HOOKS 4

/* evloop_wakeup: makes the loop run one more iteration soon (hooks re-prepare). Any
 * thread. */
void evloop_wakeup(struct evloop *loop);

/* evloop_in_loop_thread: true when called from the thread inside evloop_run(). */
bool evloop_in_loop_thread(struct evloop *loop);

/* evloop_timer_new: a disarmed one-shot timer calling fn(opaque) on the loop thread.
 * Returns NULL on failure. */
struct evloop_timer *evloop_timer_new(struct evloop *loop, evloop_cb fn, void *opaque);
/* evloop_timer_arm: fires once after `ns` nanoseconds (re-arming replaces the deadline);
 * ns == 0 disarms. Any thread; no system call, except an eventfd write when another thread
 * moves the deadline the loop is sleeping towards earlier. Returns 0. */
int evloop_timer_arm(struct evloop_timer *t, uint64_t ns);
/* evloop_timer_armed: true while the timer is pending. */
bool evloop_timer_armed(struct evloop_timer *t);
/* evloop_timer_free: disarms and frees. Loop thread or before the loop runs. */
void evloop_timer_free(struct evloop_timer *t);

/* evloop_set_name: names the watched fd in the loop's statistics (printf-style; truncated
 * to 47 bytes), such as "tap n0" or "virtio-net0 kick q1". Returns 0 or -ENOENT. */
int evloop_set_name(struct evloop *loop, int fd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* evloop_timer_set_name: the same for a timer ("e1000.0 TIDV"). */
void evloop_timer_set_name(struct evloop_timer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* evloop_stats_json: where the loop thread's time went, as a new jansson object: iterations
 * (waits), busy and idle nanoseconds, wake-up requests (deferred calls, stop, timers armed
 * by other threads: eventfd writes), deferred calls,
 * and per fd source and per timer the callbacks (firings) and nanoseconds spent in them.
 * Loop thread, or after the loop stopped (other threads get racy figures). */
struct json_t *evloop_stats_json(struct evloop *loop);
/* evloop_stats_print: that report as text: a summary line, then one line per source and per
 * timer (count, total ms, mean us), busiest first. */
void evloop_stats_print(FILE *out, struct json_t *stats);

/* evloop_now_ns: CLOCK_MONOTONIC in nanoseconds. */
uint64_t evloop_now_ns(void);

#endif
