/* Logging for nicvm: one-line messages on stderr with a "nicvm: " prefix, and a
 * rate limiter so that a hostile guest cannot flood the host's log. */
#ifndef NICVM_LOG_H
#define NICVM_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* log_set_level: messages above `level` are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* log_get_level: the current threshold. */
enum log_level log_get_level(void);

/* log_msg: prints "nicvm: [level: ]message\n" to stderr as one write. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A rate limiter: at most `burst` messages per `interval_ms`, then one line saying how many
 * were suppressed. Zero-initialise with LOG_RATELIMIT_INIT. */
struct log_ratelimit {
    uint64_t window_start_ms;
    unsigned printed;
    unsigned suppressed;
};
#define LOG_RATELIMIT_INIT                                                                         \
    {                                                                                              \
        0, 0, 0                                                                                    \
    }

/* log_ratelimited: like log_msg, subject to `rl` (10 messages per 5 s). Not thread-safe per
 * limiter; each limiter belongs to one device or backend. */
void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_once: prints the message the first time `*flag` is false, then sets it. */
#define log_once(flag, level, ...)                                                                 \
    do {                                                                                           \
        if (!*(flag)) {                                                                            \
            *(flag) = true;                                                                        \
            log_msg(level, __VA_ARGS__);                                                           \
        }                                                                                          \
    } while (0)

/* log_now_ms: CLOCK_MONOTONIC in milliseconds. */
uint64_t log_now_ms(void);

#endif
