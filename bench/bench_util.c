/* bench_util: the command line, clocks and JSON result lines that net_bench, e1000_bench and
 * virtio_net_bench share (bench_util.h says what each does). */
#include "bench_util.h"

#include "vmm/evloop.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- command line -------------------------------------------------------------------------- */

/* choice_ok: whether v is one of the '|'-separated words of choices. */
static bool choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* opt_value: stores v into o's destination. Returns 0, or -1 when v does not fit. */
static int opt_value(const struct bench_opt *o, const char *v)
{
    char *end;
    double d = 0;
    if (o->kind == BENCH_OPT_STR) {
        if (o->choices && !choice_ok(o->choices, v))
            return -1;
        *(const char **)o->dst = v;
        return 0;
    }
    if (o->kind == BENCH_OPT_DOUBLE)
        d = strtod(v, &end);
    else
        d = (double)strtol(v, &end, 10);
    if (end == v || *end || (o->max > o->min && !(d >= o->min && d <= o->max)))
        return -1;
    if (o->kind == BENCH_OPT_DOUBLE)
        *(double *)o->dst = d;
    else if (o->kind == BENCH_OPT_UINT)
        *(unsigned *)o->dst = d < 0 ? 0 : (unsigned)d;
    else
        *(int *)o->dst = (int)d;
    return 0;
}

static const struct bench_opt *find_opt(const struct bench_opt *opts, size_t n, const char *a)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(opts[k].name, a) == 0)
            return &opts[k];
    return NULL;
}

int bench_parse_args(int argc, char **argv, const struct bench_opt *opts, size_t n)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct bench_opt *o = find_opt(opts, n, a);
        if (!o)
            return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? 1 : -1;
        if (o->kind == BENCH_OPT_FLAG)
            *(bool *)o->dst = true;
        else if (i + 1 >= argc || opt_value(o, argv[++i]) < 0)
            return -1;
        if (o->given)
            *o->given = true;
    }
    return 0;
}

int bench_usage(int rc, const char *usage)
{
    fputs(usage, rc > 0 ? stdout : stderr);
    return rc > 0 ? 0 : 2;
}

int bench_dev_parse(int argc, char **argv, struct bench_dev_opts *o, bool with_ring)
{
    bool quick = false, seconds_given = false;
    const struct bench_opt opts[] = {
        {"--seconds", BENCH_OPT_DOUBLE, &o->seconds, 0, 0, NULL, &seconds_given},
        {"--quick", BENCH_OPT_FLAG, &quick, 0, 0, NULL, NULL},
        {"--only", BENCH_OPT_STR, &o->only, 0, 0, "tx|rx", NULL},
        {"--size", BENCH_OPT_UINT, &o->size, 0, 0, NULL, NULL},
        {"--batch", BENCH_OPT_UINT, &o->batch, 0, 0, NULL, NULL},
        {"--no-ref", BENCH_OPT_FLAG, &o->no_ref, 0, 0, NULL, NULL},
        {"--ring", BENCH_OPT_UINT, &o->ring, 0, 0, NULL, NULL},
    };
    int rc = bench_parse_args(argc, argv, opts, sizeof(opts) / sizeof(opts[0]) - !with_ring);
    if (quick && !seconds_given)
        o->seconds = 0.2;
    if (o->seconds <= 0)
        o->seconds = 1.0;
    return rc;
}

unsigned bench_pow2_or(unsigned v, unsigned lo, unsigned hi, unsigned def)
{
    return v >= lo && v <= hi && v && (v & (v - 1)) == 0 ? v : def;
}

bool bench_dev_wanted(const struct bench_dev_opts *o, bool tx, size_t size)
{
    return (!o->only || strcmp(o->only, tx ? "tx" : "rx") == 0) && (!o->size || o->size == size);
}

/* --- clocks -------------------------------------------------------------------------------- */

uint64_t bench_ns(double seconds)
{
    return (uint64_t)(seconds * 1e9);
}

double bench_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_timer_start(struct bench_timer *t, double seconds)
{
    t->start = evloop_now_ns();
    t->end = t->start + bench_ns(seconds);
}

bool bench_timer_due(const struct bench_timer *t)
{
    return evloop_now_ns() >= t->end;
}

double bench_timer_secs(const struct bench_timer *t)
{
    return (double)(evloop_now_ns() - t->start) / 1e9;
}

/* --- results ------------------------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_key(const char *key)
{
    putchar(',');
    json_string(key);
    putchar(':');
}

void bench_json_begin(const char *name)
{
    fputs("{\"bench\":", stdout);
    json_string(name);
}

void bench_json_str(const char *key, const char *val)
{
    json_key(key);
    json_string(val);
}

void bench_json_bool(const char *key, bool val)
{
    json_key(key);
    fputs(val ? "true" : "false", stdout);
}

void bench_json_uint(const char *key, unsigned long long val)
{
    json_key(key);
    printf("%llu", val);
}

void bench_json_num(const char *key, int prec, double val)
{
    json_key(key);
    printf("%.*f", prec, val);
}

void bench_json_end(void)
{
    fputs("}\n", stdout);
    fflush(stdout);
}
