/* bench_util: what the device-level benchmarks (net_bench, e1000_bench, virtio_net_bench)
 * share: their command lines, their clocks, and their results as one JSON object per line on
 * stdout, the lines bench/run parses (keys "bench", "backend", "dir", "size", "offload",
 * "pps", "gbps", "ratio", "skipped"). */
#ifndef NICVM_BENCH_UTIL_H
#define NICVM_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- command line -------------------------------------------------------------------------- */

enum bench_opt_kind {
    BENCH_OPT_FLAG,   /* no value; dst is a bool */
    BENCH_OPT_DOUBLE, /* dst is a double */
    BENCH_OPT_UINT,   /* dst is an unsigned */
    BENCH_OPT_INT,    /* dst is an int */
    BENCH_OPT_STR,    /* dst is a const char * (into argv) */
};

/* One option: "--name" and where its value goes. Numbers outside [min, max] (when max > min)
 * and strings not among choices ("a|b", when set) are refused. */
struct bench_opt {
    const char *name;
    enum bench_opt_kind kind;
    void *dst;
    double min, max;
    const char *choices;
    bool *given; /* set when the option appears; may be NULL */
};

/* bench_parse_args: parses argv[1..argc-1] against opts[0..n-1].
 * Returns 0, 1 for --help or -h, or -1 for anything unknown, missing or malformed. */
int bench_parse_args(int argc, char **argv, const struct bench_opt *opts, size_t n);

/* bench_usage: prints usage for bench_parse_args's rc (1: to stdout, else to stderr).
 * Returns the exit status: 0 for help, 2 for a bad command line. */
int bench_usage(int rc, const char *usage);

/* The options e1000_bench and virtio_net_bench share. Callers fill in the defaults first. */
struct bench_dev_opts {
    double seconds;   /* per case and per reference; --quick makes it 0.2 unless given */
    const char *only; /* NULL, "tx" or "rx" */
    unsigned size;    /* 0: every size */
    unsigned batch;   /* frames per doorbell */
    unsigned ring;    /* --ring, for programs that take it */
    bool no_ref;      /* skip the memcpy reference */
};

/* bench_dev_parse: --seconds N, --quick, --only tx|rx, --size N, --batch N, --no-ref and, when
 * with_ring, --ring N into o. Returns 0, or bench_parse_args's nonzero rc. seconds <= 0
 * becomes 1.0; batch and ring are the caller's to check. */
int bench_dev_parse(int argc, char **argv, struct bench_dev_opts *o, bool with_ring);

/* bench_pow2_or: v when it is a power of two from lo to hi, else def (batches divide the
 * time-check step of 1024 frames; rings are powers of two, virtio 1.1 §2.7). */
unsigned bench_pow2_or(unsigned v, unsigned lo, unsigned hi, unsigned def);

/* bench_dev_wanted: whether o selects the case of direction tx (else rx) and nominal size. */
bool bench_dev_wanted(const struct bench_dev_opts *o, bool tx, size_t size);

/* --- clocks -------------------------------------------------------------------------------- */

/* bench_ns: seconds as nanoseconds. */
uint64_t bench_ns(double seconds);

/* bench_thread_cpu: the calling thread's CPU time, in seconds. */
double bench_thread_cpu(void);

/* A measured window: started now, due after `seconds`. */
struct bench_timer {
    uint64_t start, end; /* evloop_now_ns() */
};

/* bench_timer_start: t starts now and is due `seconds` from now. */
void bench_timer_start(struct bench_timer *t, double seconds);

/* bench_timer_due: whether t's time is up. */
bool bench_timer_due(const struct bench_timer *t);

/* bench_timer_secs: seconds since t started. */
double bench_timer_secs(const struct bench_timer *t);

/* --- results: one JSON object per line on stdout ------------------------------------------- */

/* bench_json_begin: opens a result line with "bench":name; every other key follows it. */
void bench_json_begin(const char *name);

/* bench_json_str: ,"key":"val" (quotes, backslashes and control characters escaped). */
void bench_json_str(const char *key, const char *val);

/* bench_json_bool: ,"key":true or false. */
void bench_json_bool(const char *key, bool val);

/* bench_json_uint: ,"key":val. */
void bench_json_uint(const char *key, unsigned long long val);

/* bench_json_num: ,"key":val with prec digits after the point. */
void bench_json_num(const char *key, int prec, double val);

/* bench_json_end: closes the line and flushes stdout, so bench/run sees each case at once. */
void bench_json_end(void);

#endif
