/* Trace writer: Chrome trace-event JSON (the "JSON Object Format" with a traceEvents array),
 * events built with jansson and written under one lock by whichever thread produced them. */
#include "vmm/trace.h"
#include "vmm/log.h"
#include "vmm/opts.h"
#include "vmm/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRACE_PID        1
#define TRACE_MAX_RANGES 8
#define TRACE_MAX_NICS   8

unsigned trace_mask;
_Thread_local int trace_thread_track;
_Thread_local uint64_t trace_current_flow;

struct trace_range {
    uint64_t lo, hi;
};

static struct {
    FILE *f;
    pthread_mutex_t lock;
    uint64_t t0;
    unsigned long events;
    atomic_int next_track;
    atomic_uint_fast64_t next_flow;
    /* Filter. */
    uint64_t reasons; /* bit per KVM_EXIT_*; 0 = all */
    struct trace_range port[TRACE_MAX_RANGES], addr[TRACE_MAX_RANGES];
    unsigned nport, naddr;
    char *nic[TRACE_MAX_NICS];
    unsigned nnic;
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

uint64_t trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double trace_us(uint64_t ns)
{
    return ns > T.t0 ? (double)(ns - T.t0) / 1000.0 : 0.0;
}

/* Appends one event (takes the reference). */
static void trace_emit(json_t *ev)
{
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (!s)
        return;
    pthread_mutex_lock(&T.lock);
    if (T.f) {
        fputs(T.events++ ? ",\n" : "\n", T.f);
        fputs(s, T.f);
    }
    pthread_mutex_unlock(&T.lock);
    free(s);
}

static int parse_range(const char *v, struct trace_range *r)
{
    char *end;
    r->lo = strtoull(v, &end, 0);
    if (*end == '-')
        r->hi = strtoull(end + 1, &end, 0);
    else
        r->hi = r->lo;
    return *end || r->hi < r->lo ? -EINVAL : 0;
}

static int parse_reasons(const char *v, char *err, size_t errlen)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    for (char *save, *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        unsigned r;
        for (r = 0; r < STATS_EXIT_REASONS; r++) {
            const char *name = stats_exit_name(r);
            if (name && strcasecmp(name, tok) == 0)
                break;
        }
        if (r == STATS_EXIT_REASONS) {
            snprintf(err, errlen, "--trace-filter reason=%s: unknown exit reason '%s'", v, tok);
            return -EINVAL;
        }
        T.reasons |= 1ull << r;
    }
    return 0;
}

static int parse_ranges(struct opts *o, const char *key, struct trace_range *out, unsigned *n,
                        char *err, size_t errlen)
{
    const char *vals[TRACE_MAX_RANGES];
    unsigned total = opts_get_all(o, key, vals, TRACE_MAX_RANGES);
    for (unsigned i = 0; i < total; i++) {
        if (i >= TRACE_MAX_RANGES || parse_range(vals[i], &out[i]) < 0) {
            snprintf(err, errlen, "--trace-filter %s=%s: expected LO-HI (at most %d)", key,
                     i < TRACE_MAX_RANGES ? vals[i] : "", TRACE_MAX_RANGES);
            return -EINVAL;
        }
    }
    *n = total;
    return 0;
}

static int trace_parse_filter(const char *spec, char *err, size_t errlen)
{
    char sub[200];
    struct opts *o = opts_parse(spec, NULL, sub, sizeof(sub));
    if (!o) {
        snprintf(err, errlen, "--trace-filter %s: %s", spec, sub);
        return -EINVAL;
    }
    bool exits, packets;
    const char *reason = opts_get(o, "reason");
    const char *nics[TRACE_MAX_NICS];
    int rc = reason ? parse_reasons(reason, err, errlen) : 0;
    if (!rc)
        rc = parse_ranges(o, "port", T.port, &T.nport, err, errlen);
    if (!rc)
        rc = parse_ranges(o, "addr", T.addr, &T.naddr, err, errlen);
    if (!rc && opts_get_bool(o, "exits", true, &exits, sub, sizeof(sub)) < 0)
        rc = -EINVAL;
    if (!rc && opts_get_bool(o, "packets", true, &packets, sub, sizeof(sub)) < 0)
        rc = -EINVAL;
    unsigned nn = rc ? 0 : opts_get_all(o, "nic", nics, TRACE_MAX_NICS);
    for (unsigned i = 0; i < nn && i < TRACE_MAX_NICS; i++)
        T.nic[T.nnic++] = strdup(nics[i]);
    if (!rc && opts_check_unused(o, "--trace-filter", sub, sizeof(sub)) < 0)
        rc = -EINVAL;
    if (rc && !err[0])
        snprintf(err, errlen, "%s", sub);
    if (!rc)
        trace_mask = (exits ? TRACE_EXITS : 0) | (packets ? TRACE_PACKETS : 0);
    opts_free(o);
    return rc;
}

int trace_open(const char *path, const char *filter, char *err, size_t errlen)
{
    trace_mask = TRACE_EXITS | TRACE_PACKETS;
    if (filter && trace_parse_filter(filter, err, errlen) < 0) {
        trace_mask = 0;
        return -EINVAL;
    }
    T.f = fopen(path, "w");
    if (!T.f) {
        int e = errno;
        snprintf(err, errlen, "--trace %s: cannot create: %s", path, strerror(e));
        trace_mask = 0;
        return -e;
    }
    setvbuf(T.f, NULL, _IOFBF, 1 << 20);
    T.t0 = trace_now();
    fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"nicvm\"},\"traceEvents\":[",
          T.f);
    json_t *m = json_pack("{s:s, s:s, s:i, s:{s:s}}", "name", "process_name", "ph", "M", "pid",
                          TRACE_PID, "args", "name", "nicvm");
    trace_emit(m);
    return 0;
}

void trace_close(void)
{
    pthread_mutex_lock(&T.lock);
    if (T.f) {
        fputs("\n]}\n", T.f);
        if (fclose(T.f) != 0)
            log_err("--trace: writing the trace failed: %s", strerror(errno));
        else
            log_info("trace: %lu events written", T.events);
        T.f = NULL;
    }
    pthread_mutex_unlock(&T.lock);
    for (unsigned i = 0; i < T.nnic; i++)
        free(T.nic[i]);
    T.nnic = 0;
    trace_mask = 0;
}

int trace_track(const char *name)
{
    int id = atomic_fetch_add(&T.next_track, 1) + 1;
    if (trace_mask)
        trace_emit(json_pack("{s:s, s:s, s:i, s:i, s:{s:s}}", "name", "thread_name", "ph", "M",
                             "pid", TRACE_PID, "tid", id, "args", "name", name));
    return id;
}

static bool in_ranges(const struct trace_range *r, unsigned n, uint64_t a)
{
    for (unsigned i = 0; i < n; i++)
        if (a >= r[i].lo && a <= r[i].hi)
            return true;
    return false;
}

bool trace_exit_wanted(unsigned reason, bool is_port, uint64_t addr)
{
    if (!(trace_mask & TRACE_EXITS))
        return false;
    if (T.reasons && (reason >= 64 || !(T.reasons & (1ull << reason))))
        return false;
    if (reason == KVM_EXIT_IO && T.nport)
        return in_ranges(T.port, T.nport, addr) && is_port;
    if (reason == KVM_EXIT_MMIO && T.naddr)
        return in_ranges(T.addr, T.naddr, addr) && !is_port;
    return true;
}

bool trace_nic_wanted(const char *name)
{
    if (!(trace_mask & TRACE_PACKETS))
        return false;
    if (!T.nnic)
        return true;
    for (unsigned i = 0; i < T.nnic; i++)
        if (strcmp(T.nic[i], name) == 0)
            return true;
    return false;
}

static json_t *hex(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
    return json_string(buf);
}

void trace_exit(int track, uint64_t t0, uint64_t t1, unsigned reason, const char *region,
                bool is_port, uint64_t addr, unsigned size, bool is_write, uint64_t data,
                uint64_t rip)
{
    const char *rname = stats_exit_name(reason);
    char name[96];
    if (reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO)
        snprintf(name, sizeof(name), "%s %s %s", rname, is_write ? "write" : "read", region);
    else
        snprintf(name, sizeof(name), "%s", rname ? rname : "exit");
    json_t *args =
        json_pack("{s:s, s:s, s:i, s:o, s:o}", "reason", rname ? rname : "?", "region",
                  region ? region : "-", "size", (int)size, "rip", hex(rip), "data", hex(data));
    json_object_set_new(args, is_port ? "port" : "addr", hex(addr));
    json_object_set_new(args, "dir", json_string(is_write ? "write" : "read"));
    trace_emit(json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:i, s:o}", "name", name, "cat", "exit",
                         "ph", "X", "ts", trace_us(t0), "dur",
                         t1 > t0 ? (double)(t1 - t0) / 1000.0 : 0.0, "pid", TRACE_PID, "tid", track,
                         "args", args));
}

void trace_event(int track, const char *name, uint64_t ts, uint64_t dur, const char *const *keys,
                 const uint64_t *vals, unsigned n, const char *skey, const char *sval)
{
    json_t *args = json_object();
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(args, keys[i], json_integer((json_int_t)vals[i]));
    if (skey && sval)
        json_object_set_new(args, skey, json_string(sval));
    json_t *ev = json_pack("{s:s, s:s, s:s, s:f, s:i, s:i, s:o}", "name", name, "cat", "packet",
                           "ph", dur ? "X" : "i", "ts", trace_us(ts), "pid", TRACE_PID, "tid",
                           track, "args", args);
    if (dur)
        json_object_set_new(ev, "dur", json_real((double)dur / 1000.0));
    else
        json_object_set_new(ev, "s", json_string("t"));
    trace_emit(ev);
}

void trace_flow(int track, uint64_t id, enum trace_flow_phase phase, uint64_t ts, const char *name)
{
    char ph[2] = {(char)phase, 0};
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:I, s:f, s:i, s:i}", "name", name, "cat", "packet", "ph", ph,
                  "id", (json_int_t)id, "ts", trace_us(ts), "pid", TRACE_PID, "tid", track);
    if (phase != TRACE_FLOW_START)
        json_object_set_new(ev, "bp", json_string("e"));
    trace_emit(ev);
}

uint64_t trace_new_flow(void)
{
    return atomic_fetch_add(&T.next_flow, 1) + 1;
}
