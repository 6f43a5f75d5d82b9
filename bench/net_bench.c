/* net_bench: throughput of nicvm's network layer (net/) between a fake NIC and the tap, user
 * (libslirp) and stream (unix socket) backends, guest -> host (tx) and host -> guest (rx),
 * with 64 B and 1500 B UDP frames and 64 KiB TCP GSO frames, each case against the same work
 * done with raw syscalls in the same invocation. One JSON object per case on stdout; progress
 * and a table on stderr. bench/README.md says what each figure measures. This file: options,
 * small helpers, the case table, output and main; net_bench.h names the other files. */
#include "net_bench.h"

#include "vmm/log.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
/* tap tx frames go to this MAC, not the tap's: the kernel takes each frame whole (tun_get_user
 * copies it, checks the vnet header and builds the skb) and drops it in ip_rcv as
 * PACKET_OTHERHOST, before routing or any socket, so the kernel's share stays small. */
const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
const uint8_t slirp_host_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
uint8_t tap_mac[6];

/* --- options, stop flag, small helpers -------------------------------------------------- */

struct nb_opts g_opt = {2.0, 0.25, 2, false, false, NULL, NULL, 1};

volatile sig_atomic_t g_stop;

__attribute__((format(printf, 1, 2))) void nb_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("net_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The CPUs the process was started on (taskset, bench/run --cpus): "CPU 0" and "CPU 1" of
 * the pinning below are the first two of these, not the host's. */
static cpu_set_t g_allowed;

void nb_pin_cpu(int cpu)
{
    if (g_opt.ncpu < 2)
        return;
    int seen = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &g_allowed) && seen++ == cpu) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(c, &set);
            sched_setaffinity(0, sizeof(set), &set); /* best effort: only steadies the figures */
            return;
        }
    }
}

void nb_wait_fd(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    poll(&p, 1, WAIT_MS);
}

uint32_t nb_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* nb_put_seq: RFC 1624's eqn. 3, HC' = ~(~HC + ~m + m'), for each 16-bit half of the field. */
void nb_put_seq(uint8_t *frame, size_t off, size_t csum, uint32_t v)
{
    uint32_t old = nb_get32(frame + off);
    nb_put32(frame + off, v);
    if (!csum)
        return;
    uint32_t s = (uint16_t) ~(frame[csum] << 8 | frame[csum + 1]);
    s += (uint16_t) ~(old >> 16) + (uint16_t)~old + (v >> 16) + (v & 0xffff);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    nb_put16(frame + csum, (uint16_t)~s ? (uint16_t)~s : 0xffff);
}

int nb_writev_all(int fd, const struct iovec *v, int n, size_t total, atomic_bool *stop)
{
    ssize_t k = writev(fd, v, n);
    if (k == (ssize_t)total)
        return 0; /* nearly always */
    struct iovec rest[MAX_PIECES + 2];
    memcpy(rest, v, (size_t)n * sizeof(*v));
    struct iovec *p = rest;
    for (;;) {
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        for (; k > 0 && (size_t)k >= p->iov_len; p++, n--)
            k -= (ssize_t)p->iov_len;
        if (n == 0)
            return 0;
        if (k > 0)
            *p = (struct iovec){(uint8_t *)p->iov_base + k, p->iov_len - (size_t)k};
        if (g_stop || atomic_load(stop))
            return -EINTR;
        k = writev(fd, p, n);
    }
}

/* --- the case table, output, main ------------------------------------------------------------ */

static const struct bcase cases[] = {
    {"tap", false, 64, true, false, case_tap_tx, "writev() on the same tap"},
    {"tap", false, 1500, true, true, case_tap_tx, "writev() on the same tap"},
    {"tap", false, SIZE_GSO, true, true, case_tap_tx, "writev() on the same tap"},
    {"tap", false, SIZE_GSO, false, false, case_tap_tx,
     "write() of the same segments on the same tap"},
    {"tap", true, 64, true, false, case_tap_rx, "read() on the same tap"},
    {"tap", true, 1500, true, true, case_tap_rx, "read() on the same tap"},
    {"tap", true, SIZE_GSO, true, true, case_tap_rx, "read() on the same tap"},
    {"user", false, 64, false, false, case_user_tx, "sendto() on a loopback UDP socket"},
    {"user", false, 1500, false, true, case_user_tx, "sendto() on a loopback UDP socket"},
    {"user", false, SIZE_GSO, false, true, case_user_tx, "send() on a loopback TCP socket"},
    {"user", true, 64, false, false, case_user_rx, "recvfrom() on a loopback UDP socket"},
    {"user", true, 1500, false, true, case_user_rx, "recvfrom() on a loopback UDP socket"},
    {"stream", false, 64, false, false, case_stream, "writev() on a unix stream socket"},
    {"stream", false, 1500, false, true, case_stream, "writev() on a unix stream socket"},
    {"stream", false, SIZE_GSO, false, true, case_stream,
     "writev() of the same segments on a unix stream socket"},
    {"stream", true, 64, false, false, case_stream, "read() on a unix stream socket"},
    {"stream", true, 1500, false, true, case_stream, "read() on a unix stream socket"},
};

static struct result g_results[MAX_RESULTS];
static int g_nresults;

static double per_sec(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0;
}

static double gbit(uint64_t bytes, double secs)
{
    return per_sec(bytes, secs) * 8 / 1e9;
}

static double ratio_of(const struct result *r)
{
    double ref = gbit(r->ref.bytes, r->ref.secs);
    return ref > 0 ? gbit(r->nic.bytes, r->nic.secs) / ref : 0;
}

/* cpu_ns: the measuring thread's CPU time per frame, in ns. */
static double cpu_ns(const struct meas *m)
{
    return m->frames ? m->cpu * 1e9 / (double)m->frames : 0;
}

/* cpu_ratio: the reference's CPU time per byte over nicvm's (1: the same cost; below 1, nicvm
 * spends more). The same as ratio when both sides keep their thread busy. */
static double cpu_ratio(const struct result *r)
{
    double nic = r->nic.bytes ? r->nic.cpu / (double)r->nic.bytes : 0;
    double ref = r->ref.bytes ? r->ref.cpu / (double)r->ref.bytes : 0;
    return nic > 0 ? ref / nic : 0;
}

static double aux_value(const struct result *r, const struct meas *m)
{
    return r->aux_bytes ? gbit(m->aux, m->secs) : per_sec(m->aux, m->secs);
}

/* print_case_id: the keys every line of a case has (bench/run reads them). */
static void print_case_id(const struct bcase *c)
{
    bench_json_begin("net");
    bench_json_str("backend", c->backend);
    bench_json_str("dir", c->rx ? "rx" : "tx");
    bench_json_uint("size", c->size);
}

static void print_json(const struct result *r)
{
    const struct bcase *c = r->c;
    char ref_aux[64];
    print_case_id(c);
    if (r->error[0]) {
        bench_json_str("error", r->error);
        bench_json_end();
        return;
    }
    bench_json_uint("frame_bytes", r->frame_bytes);
    bench_json_bool("offload", c->size == SIZE_GSO);
    if (strcmp(c->backend, "tap") == 0)
        bench_json_bool("vnet_hdr", c->vnet_hdr);
    bench_json_num("pps", 0, per_sec(r->nic.frames, r->nic.secs));
    bench_json_num("gbps", 3, gbit(r->nic.bytes, r->nic.secs));
    bench_json_num("ref_pps", 0, per_sec(r->ref.frames, r->ref.secs));
    bench_json_num("ref_gbps", 3, gbit(r->ref.bytes, r->ref.secs));
    bench_json_num("ratio", 3, ratio_of(r));
    bench_json_num("cpu_ns", 0, cpu_ns(&r->nic));
    bench_json_num("ref_cpu_ns", 0, cpu_ns(&r->ref));
    bench_json_num("cpu_ratio", 3, cpu_ratio(r));
    bench_json_num("busy", 2, r->nic.secs > 0 ? r->nic.cpu / r->nic.secs : 0);
    bench_json_num("ref_busy", 2, r->ref.secs > 0 ? r->ref.cpu / r->ref.secs : 0);
    bench_json_num("seconds", 2, r->nic.secs);
    bench_json_uint("rounds", (unsigned)g_opt.rounds);
    int prec = r->aux_bytes ? 3 : 0;
    snprintf(ref_aux, sizeof(ref_aux), "ref_%s", r->aux_name);
    bench_json_num(r->aux_name, prec, aux_value(r, &r->nic));
    bench_json_num(ref_aux, prec, aux_value(r, &r->ref));
    bench_json_uint("drops", r->drops);
    bench_json_str("ref", c->ref);
    bench_json_end();
}

static void case_name(const struct bcase *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s %s%s", c->backend, c->rx ? "rx" : "tx",
             c->size == 64     ? "64 B"
             : c->size == 1500 ? "1500 B"
                               : "64 KiB GSO",
             strcmp(c->backend, "tap") == 0 && !c->vnet_hdr ? " (vnet_hdr=off)" : "");
}

static void print_table(void)
{
    fprintf(stderr,
            "\nnet_bench: nicvm against raw syscalls, %.1f s per side in %d round(s); Mpps and "
            "Gbit/s of Ethernet frames, us of CPU per frame (busy: share of the time the "
            "measuring thread ran)\n",
            g_opt.seconds, g_opt.rounds);
    fprintf(stderr, "%-34s %8s %8s %8s %8s %6s | %7s %7s %5s %5s %6s\n", "case", "Mpps", "Gbit/s",
            "ref Mpps", "ref Gb/s", "ratio", "us/fr", "ref", "busy", "ref", "cpu r.");
    for (int i = 0; i < g_nresults; i++) {
        const struct result *r = &g_results[i];
        char name[64];
        case_name(r->c, name, sizeof(name));
        if (r->error[0]) {
            fprintf(stderr, "%-34s error: %s\n", name, r->error);
            continue;
        }
        fprintf(stderr, "%-34s %8.4f %8.3f %8.4f %8.3f %6.3f | %7.2f %7.2f %5.2f %5.2f %6.3f\n",
                name, per_sec(r->nic.frames, r->nic.secs) / 1e6, gbit(r->nic.bytes, r->nic.secs),
                per_sec(r->ref.frames, r->ref.secs) / 1e6, gbit(r->ref.bytes, r->ref.secs),
                ratio_of(r), cpu_ns(&r->nic) / 1e3, cpu_ns(&r->ref) / 1e3, r->nic.cpu / r->nic.secs,
                r->ref.cpu / r->ref.secs, cpu_ratio(r));
    }
}

static const char usage[] =
    "usage: net_bench [--seconds N] [--rounds N] [--quick] [--only tap|user|stream]\n"
    "                 [--match TEXT]\n"
    "  --seconds N  measured time per side of each case (default 2, quick 0.5)\n"
    "  --rounds N   nicvm and the reference alternate N times (default 2)\n"
    "  --quick      1500 B and 64 KiB cases only, 0.5 s each, 1 round\n"
    "  --only B     only the tap, the user or the stream backend\n"
    "  --match TEXT only the cases whose name contains TEXT ('tap tx 64 KiB')\n"
    "tap and user need root (network namespace, tap); without it they are skipped and\n"
    "the stream cases still run. JSON lines on stdout, table on stderr.\n";

/* parse_args: the command line into g_opt. Returns 0, 1 for --help, -1 when malformed. */
static int parse_args(int argc, char **argv)
{
    const struct bench_opt opts[] = {
        {"--quick", BENCH_OPT_FLAG, &g_opt.quick, 0, 0, NULL, NULL},
        {"--seconds", BENCH_OPT_DOUBLE, &g_opt.seconds, 0.05, 3600, NULL, &g_opt.seconds_given},
        {"--only", BENCH_OPT_STR, &g_opt.only, 0, 0, "tap|user|stream", NULL},
        {"--rounds", BENCH_OPT_INT, &g_opt.rounds, 1, 100, NULL, NULL},
        {"--match", BENCH_OPT_STR, &g_opt.match, 0, 0, NULL, NULL},
    };
    int rc = bench_parse_args(argc, argv, opts, sizeof(opts) / sizeof(opts[0]));
    if (rc)
        return rc;
    if (g_opt.quick && !g_opt.seconds_given)
        g_opt.seconds = 0.5;
    if (g_opt.quick) {
        g_opt.warmup = 0.1;
        g_opt.rounds = 1;
    }
    return 0;
}

/* g_root_skipped: the tap and user cases cannot run here (no root, no namespace or tap). */
static bool g_root_skipped;

/* needs_root: tap and user run in a network namespace of their own; stream needs nothing. */
static bool needs_root(const struct bcase *c)
{
    return strcmp(c->backend, "stream") != 0;
}

/* case_selected: c is among the cases the command line asks for. */
static bool case_selected(const struct bcase *c)
{
    char name[64];
    case_name(c, name, sizeof(name));
    return (!g_opt.only || strcmp(g_opt.only, c->backend) == 0) && (!g_opt.quick || c->quick) &&
           (!g_opt.match || strstr(name, g_opt.match));
}

/* case_wanted: c is selected and can run here. */
static bool case_wanted(const struct bcase *c)
{
    return case_selected(c) && !(g_root_skipped && needs_root(c));
}

/* selected_count: how many selected cases need root (root) or do not. */
static int selected_count(bool root)
{
    int n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        n += case_selected(&cases[i]) && needs_root(&cases[i]) == root;
    return n;
}

/* preflight: why this machine cannot run the tap and user cases, or NULL. */
static const char *preflight(void)
{
    if (geteuid() != 0)
        return "needs root (creates a network namespace and a tap device)";
    if ((!g_opt.only || strcmp(g_opt.only, "tap") == 0) && access("/dev/net/tun", R_OK | W_OK))
        return "no usable /dev/net/tun";
    return NULL;
}

/* root_setup: the namespace and tap for the tap and user cases, when any is selected. When
 * they cannot run, prints the skipped line (bench/run shows it) and marks them skipped. */
static void root_setup(void)
{
    static char why[160];
    if (!selected_count(true))
        return;
    const char *skip = preflight();
    if (!skip && ns_create(why, sizeof(why)) < 0)
        skip = why;
    if (!skip && (!g_opt.only || strcmp(g_opt.only, "tap") == 0) && tap_setup() < 0)
        skip = "cannot set up the tap device " TAP_IF " in the namespace";
    if (!skip)
        return;
    bench_json_begin("net");
    bench_json_str("skipped", skip);
    bench_json_end();
    ns_destroy();
    g_root_skipped = true;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: waits return early with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void run_cases(void)
{
    int total = 0, n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        total += case_wanted(&cases[i]);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !g_stop; i++) {
        const struct bcase *c = &cases[i];
        if (!case_wanted(c) || g_nresults >= MAX_RESULTS)
            continue;
        struct result *r = &g_results[g_nresults];
        char name[64];
        case_name(c, name, sizeof(name));
        nb_progress("[%d/%d] %s ...", ++n, total, name);
        memset(r, 0, sizeof(*r));
        r->c = c;
        c->run(c, r);
        if (g_stop)
            break;
        g_nresults++;
        print_json(r);
        if (!r->error[0])
            nb_progress("[%d/%d] %s: nicvm %.0f pps, raw %.0f pps, ratio %.3f", n, total, name,
                        per_sec(r->nic.frames, r->nic.secs), per_sec(r->ref.frames, r->ref.secs),
                        ratio_of(r));
        if (r->drops)
            nb_progress("warning: the layer dropped %llu frames", (unsigned long long)r->drops);
    }
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc)
        return bench_usage(rc, usage);
    log_set_level(LOG_WARN);
    root_setup();
    if (g_root_skipped && !selected_count(false))
        return 0;
    if (g_root_skipped)
        nb_progress("skipping the tap and user cases; running the stream cases");
    install_signals();
    if (sched_getaffinity(0, sizeof(g_allowed), &g_allowed) == 0)
        g_opt.ncpu = CPU_COUNT(&g_allowed);
    else
        g_opt.ncpu = 1; /* unknown: pin nothing */
    nb_pin_cpu(0);
    nb_progress("%s%s, %.2f s per side in %d round(s), %d CPUs", g_ns[0] ? "namespace " : "",
                g_ns[0] ? g_ns : "no namespace", g_opt.seconds, g_opt.rounds, g_opt.ncpu);
    run_cases();
    ns_destroy();
    if (g_stop) {
        nb_progress("interrupted");
        return 130;
    }
    print_table();
    int failed = 0;
    for (int i = 0; i < g_nresults; i++)
        failed += g_results[i].error[0] != 0;
    return failed ? 1 : 0;
}
