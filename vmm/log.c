/* Logging: single-write lines on stderr so that lines from vCPU threads and the event
 * loop never interleave mid-line, plus a per-source rate limiter. */
#include "vmm/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_INFO;

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

enum log_level log_get_level(void)
{
    return log_threshold;
}

uint64_t log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "nicvm: %s", prefix[level]);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(buf) - 1)
        len = sizeof(buf) - 1;
    /* The console's raw mode keeps OPOST, so "\n" still returns the carriage. */
    buf[len++] = '\n';
    ssize_t r = write(STDERR_FILENO, buf, len);
    (void)r;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
    enum { BURST = 10, INTERVAL_MS = 5000 };
    if (level > log_threshold)
        return;
    uint64_t now = log_now_ms();
    if (now - rl->window_start_ms >= INTERVAL_MS) {
        if (rl->suppressed)
            log_msg(level, "(%u similar messages suppressed)", rl->suppressed);
        rl->window_start_ms = now;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    if (rl->printed >= BURST) {
        rl->suppressed++;
        return;
    }
    rl->printed++;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
