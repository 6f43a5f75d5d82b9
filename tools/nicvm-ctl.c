/* nicvm-ctl: sends one command to a nicvm control socket (-monitor unix:PATH) and prints the
 * reply as tables (query-stats, query-network, query-virtqueue) or "key: value" lines.
 *
 *   nicvm-ctl [--json] [--timeout SECONDS] PATH COMMAND [KEY=VALUE | KEY:=JSON ...]
 *
 * KEY=VALUE arguments are converted to the type the command declares (query-commands
 * tells), so "up=off" becomes false and "maxlen=128" a number; KEY:=JSON passes raw JSON.
 * Exit status: 0 success, 1 error reply or no answer, 2 usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_MAX_LINE (16 * 1024 * 1024)

enum { CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2 };

struct ctl_conn {
    int fd;
    int timeout_ms;
    char *buf;
    size_t len, cap;
};

static int ctl_usage(void)
{
    fprintf(stderr,
            "usage: nicvm-ctl [--json] [--timeout SECONDS] PATH COMMAND [KEY=VALUE|KEY:=JSON ...]\n"
            "  PATH     the socket of nicvm -monitor unix:PATH\n"
            "  COMMAND  query-stats, query-network, query-virtqueue [device=ID], query-e1000,\n"
            "           set_link name=ID up=on|off, hostfwd_add|hostfwd_remove [netdev=ID]\n"
            "           rule=tcp:[HOST]:PORT-[GUEST]:PORT, dump-start netdev=ID file=PATH,\n"
            "           dump-stop netdev=ID|id=ID, query-dumps, quit, query-commands\n"
            "  --json   print the reply's JSON instead of tables\n");
    return CTL_USAGE;
}

static json_int_t geti(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *gets(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* --- the connection ----------------------------------------------------------------------- */

static int ctl_connect(struct ctl_conn *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "nicvm-ctl: socket path too long: %s\n", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "nicvm-ctl: cannot connect to %s: %s\n", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Reads one line as a JSON object (new reference), or NULL on EOF, timeout or bad JSON. */
static json_t *ctl_read(struct ctl_conn *c)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            json_error_t jerr;
            json_t *v = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &jerr);
            c->len -= (size_t)(nl + 1 - c->buf);
            memmove(c->buf, nl + 1, c->len);
            if (!v)
                fprintf(stderr, "nicvm-ctl: bad JSON from nicvm: %s\n", jerr.text);
            return v;
        }
        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 65536;
            char *p = cap <= CTL_MAX_LINE ? realloc(c->buf, cap) : NULL;
            if (!p) {
                fprintf(stderr, "nicvm-ctl: reply line too long\n");
                return NULL;
            }
            c->buf = p;
            c->cap = cap;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int rc = poll(&pfd, 1, c->timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        ssize_t n = rc > 0 ? read(c->fd, c->buf + c->len, c->cap - c->len) : -1;
        if (n <= 0) {
            fprintf(stderr, "nicvm-ctl: %s\n",
                    rc == 0 ? "no answer from nicvm (timed out)" : "nicvm closed the connection");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

/* Sends one request and returns the reply carrying the same id (events are skipped). */
static json_t *ctl_call(struct ctl_conn *c, const char *cmd, json_t *args, int id)
{
    json_t *req = json_pack("{s:s, s:i}", "execute", cmd, "id", id);
    if (args)
        json_object_set(req, "arguments", args);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t len = s ? strlen(s) : 0, off = 0;
    if (s)
        s[len++] = '\n'; /* replaces the terminator; the length is tracked */
    while (s && off < len) {
        ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            fprintf(stderr, "nicvm-ctl: send: %s\n", strerror(errno));
            free(s);
            return NULL;
        }
        off += (size_t)n;
    }
    free(s);
    for (;;) {
        json_t *r = ctl_read(c);
        if (!r || json_integer_value(json_object_get(r, "id")) == id ||
            (json_object_get(r, "error") && !json_object_get(r, "id")))
            return r;
        json_decref(r);
    }
}

/* --- arguments --------------------------------------------------------------------------- */

/* The declared type of cmd's argument key ("string", "bool", "int", "array"), or NULL. */
static const char *ctl_arg_type(json_t *commands, const char *cmd, const char *key)
{
    size_t i, j;
    json_t *c, *a;
    json_array_foreach(commands, i, c)
    {
        if (strcmp(gets(c, "name"), cmd) != 0)
            continue;
        json_array_foreach(json_object_get(c, "args"), j, a)
        {
            if (strcmp(gets(a, "name"), key) == 0)
                return json_string_value(json_object_get(a, "type"));
        }
    }
    return NULL;
}

static json_t *ctl_convert(const char *type, const char *v)
{
    if (type && strcmp(type, "bool") == 0) {
        static const char *const yes[] = {"on", "true", "yes", "1", "up"};
        static const char *const no[] = {"off", "false", "no", "0", "down"};
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(v, yes[i]) == 0)
                return json_true();
            if (strcasecmp(v, no[i]) == 0)
                return json_false();
        }
        return NULL;
    }
    if (type && strcmp(type, "int") == 0) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 0);
        return errno || end == v || *end ? NULL : json_integer(n);
    }
    if (type && strcmp(type, "array") == 0)
        return json_loads(v, JSON_DECODE_ANY, NULL);
    return json_string(v);
}

/* Builds the arguments object from KEY=VALUE / KEY:=JSON words. Returns NULL on a bad word. */
static json_t *ctl_args(struct ctl_conn *c, const char *cmd, char **words, int n)
{
    json_t *args = json_object(), *commands = NULL;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq || eq == words[i]) {
            fprintf(stderr, "nicvm-ctl: '%s': expected KEY=VALUE or KEY:=JSON\n", words[i]);
            goto bad;
        }
        bool raw = eq > words[i] + 1 && eq[-1] == ':';
        char *key = strndup(words[i], (size_t)(eq - words[i]) - raw);
        if (!raw && !commands) {
            json_t *r = ctl_call(c, "query-commands", NULL, 0);
            commands = json_incref(json_object_get(r, "return"));
            json_decref(r);
        }
        const char *type = raw ? NULL : ctl_arg_type(commands, cmd, key);
        json_t *v = raw ? json_loads(eq + 1, JSON_DECODE_ANY, NULL) : ctl_convert(type, eq + 1);
        if (!v) {
            fprintf(stderr, "nicvm-ctl: %s: '%s' is not a valid %s\n", key, eq + 1,
                    raw ? "JSON value" : type);
            free(key);
            goto bad;
        }
        json_object_set_new(args, key, v);
        free(key);
    }
    json_decref(commands);
    return args;
bad:
    json_decref(commands);
    json_decref(args);
    return NULL;
}

/* --- printing ---------------------------------------------------------------------------- */

/* One scalar: integers in hex under "registers" (device registers read better so). */
static void ctl_print_scalar(json_t *v, bool hex)
{
    if (hex && json_is_integer(v)) {
        printf("0x%llx\n", (unsigned long long)json_integer_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("%s\n", s ? s : "?");
    free(s);
}

/* Prints any JSON value as indented "key: value" lines. */
static void ctl_print_kv(json_t *v, int indent, bool hex)
{
    const char *key;
    json_t *val;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, val)
        {
            printf("%*s[%zu]%s", indent, "", i, json_is_object(val) ? ":\n" : " ");
            if (json_is_object(val) || json_is_array(val))
                ctl_print_kv(val, indent + 2, hex);
            else
                ctl_print_scalar(val, hex);
        }
        return;
    }
    if (!json_is_object(v)) {
        printf("%*s", indent, "");
        ctl_print_scalar(v, hex);
        return;
    }
    json_object_foreach(v, key, val)
    {
        bool h = hex || strcmp(key, "registers") == 0;
        if (json_is_object(val) || (json_is_array(val) && json_is_object(json_array_get(val, 0)))) {
            printf("%*s%s:\n", indent, "", key);
            ctl_print_kv(val, indent + 2, h);
        } else {
            printf("%*s%s: ", indent, "", key);
            ctl_print_scalar(val, h);
        }
    }
}

/* KVM's in-kernel counters worth a row (as nicvm's own --exit-stats table shows them). */
static const char *const ctl_kvm_shown[] = {
    "exits",     "io_exits",       "mmio_exits",          "halt_exits",       "halt_wakeup",
    "irq_exits", "signal_exits",   "irq_injections",      "irq_window_exits", "pf_taken",
    "pf_fixed",  "insn_emulation", "insn_emulation_fail", "hypercalls",       "host_state_reload",
};

static bool ctl_row_shown(const char *member, const char *key)
{
    if (strcmp(member, "kvm") != 0)
        return true;
    for (size_t i = 0; i < sizeof(ctl_kvm_shown) / sizeof(ctl_kvm_shown[0]); i++)
        if (strcmp(ctl_kvm_shown[i], key) == 0)
            return true;
    return false;
}

/* Rows of a per-vCPU object member (exits, kvm): one row per key, one column per vCPU. */
static void ctl_print_per_vcpu(json_t *vcpus, const char *member, const char *title)
{
    json_t *keys = json_object(), *cpu, *val;
    size_t i, n = json_array_size(vcpus);
    const char *key;
    json_array_foreach(vcpus, i, cpu) json_object_foreach(json_object_get(cpu, member), key, val)
    {
        if (ctl_row_shown(member, key))
            json_object_set(keys, key, json_true());
    }
    if (json_object_size(keys) == 0) {
        printf("\n%s: none\n", title);
        json_decref(keys);
        return;
    }
    printf("\n%-22s", title);
    for (i = 0; i < n; i++)
        printf(" %10s%-2zu", "vcpu", i);
    printf(" %14s\n", "total");
    json_object_foreach(keys, key, val)
    {
        json_int_t total = 0;
        printf("%-22s", key);
        json_array_foreach(vcpus, i, cpu)
        {
            json_int_t v = geti(json_object_get(cpu, member), key);
            total += v;
            printf(" %12" JSON_INTEGER_FORMAT, v);
        }
        printf(" %14" JSON_INTEGER_FORMAT "\n", total);
    }
    json_decref(keys);
}

static void ctl_print_stats(json_t *r)
{
    json_t *vcpus = json_object_get(r, "vcpus"), *cpu, *reg;
    size_t i;
    printf("==== exit statistics (%zu vCPU%s) ====", json_array_size(vcpus),
           json_array_size(vcpus) == 1 ? "" : "s");
    ctl_print_per_vcpu(vcpus, "exits", "exits by reason");
    ctl_print_per_vcpu(vcpus, "kvm", "in KVM (stats fd)");
    printf("\n%-6s %12s %12s %12s %12s\n", "vcpu", "handled", "p50 ns<=", "p99 ns<=", "max ns");
    json_array_foreach(vcpus, i, cpu)
    {
        json_t *h = json_object_get(cpu, "handler");
        printf("%-6zu %12" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT
               " %12" JSON_INTEGER_FORMAT "\n",
               i, geti(h, "count"), geti(h, "p50_ns"), geti(h, "p99_ns"), geti(h, "max_ns"));
    }
    printf("\n%-16s %-4s %-23s %-5s %10s %10s %10s %10s\n", "device region", "spc", "range", "dir",
           "1 byte", "2 bytes", "4 bytes", "8 bytes");
    json_array_foreach(json_object_get(r, "regions"), i, reg)
    {
        for (int w = 0; w < 2; w++) {
            json_t *sz = json_object_get(reg, w ? "writes" : "reads");
            if (!geti(sz, "1") && !geti(sz, "2") && !geti(sz, "4") && !geti(sz, "8"))
                continue;
            char range[48];
            snprintf(range, sizeof(range), "0x%llx+0x%llx", (unsigned long long)geti(reg, "base"),
                     (unsigned long long)geti(reg, "length"));
            printf("%-16s %-4s %-23s %-5s %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
                   " %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT "\n",
                   gets(reg, "name"), gets(reg, "space"), range, w ? "write" : "read",
                   geti(sz, "1"), geti(sz, "2"), geti(sz, "4"), geti(sz, "8"));
        }
    }
    printf("\nunclaimed accesses:\n");
    ctl_print_kv(json_object_get(r, "unclaimed"), 0, false);
}

/* A NIC counter: counters.KEY (virtio-net) or KEY at the top (other models). */
static json_int_t ctl_nic_counter(json_t *nic, const char *key)
{
    json_t *c = json_object_get(nic, "counters");
    return json_object_get(c, key) ? geti(c, key) : geti(nic, key);
}

static void ctl_print_network(json_t *r)
{
    json_t *nd, *nic;
    size_t i;
    printf("%-12s %-7s %-14s %-5s %10s %12s %10s %12s %8s %8s\n", "netdev", "type", "peer", "link",
           "rx pkts", "rx bytes", "tx pkts", "tx bytes", "drops", "eagain");
    json_array_foreach(json_object_get(r, "netdevs"), i, nd)
    {
        json_int_t drops = 0;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(nd, "drops"), k, v) drops += json_integer_value(v);
        printf("%-12s %-7s %-14s %-5s %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT
               " %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
               " %8" JSON_INTEGER_FORMAT "\n",
               gets(nd, "id"), gets(nd, "type"), gets(nd, "peer"),
               json_is_true(json_object_get(nd, "link_up")) ? "up" : "down", geti(nd, "rx_packets"),
               geti(nd, "rx_bytes"), geti(nd, "tx_packets"), geti(nd, "tx_bytes"), drops,
               geti(nd, "backend_eagain_waits"));
    }
    printf("\n%-14s %-11s %-12s %-17s %-5s %10s %12s %10s %12s\n", "NIC", "model", "netdev", "mac",
           "link", "rx pkts", "rx bytes", "tx pkts", "tx bytes");
    json_array_foreach(json_object_get(r, "nics"), i, nic)
    {
        json_t *up = json_object_get(nic, "link_up");
        printf("%-14s %-11s %-12s %-17s %-5s %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT
               " %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT "\n",
               gets(nic, "name"), gets(nic, "model"), gets(nic, "netdev"), gets(nic, "mac"),
               up ? (json_is_true(up) ? "up" : "down") : "-", ctl_nic_counter(nic, "rx_packets"),
               ctl_nic_counter(nic, "rx_bytes"), ctl_nic_counter(nic, "tx_packets"),
               ctl_nic_counter(nic, "tx_bytes"));
    }
}

/* An optional integer column: "-" when the queue does not report it. */
static const char *ctl_opt_int(json_t *o, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return "-";
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
}

static void ctl_print_virtqueue(json_t *r)
{
    json_t *q;
    size_t i;
    printf("%-14s %-5s %-5s %5s %9s %8s %9s %8s %10s %11s %8s %8s %9s  %s\n", "device", "queue",
           "ready", "size", "avail idx", "last av", "used idx", "inflight", "used_event",
           "avail_event", "kicks", "irqs", "irqs supp", "in-flight heads");
    json_array_foreach(r, i, q)
    {
        char a[24], ue[24], ae[24];
        char *heads = json_dumps(json_object_get(q, "in_flight_heads"), JSON_COMPACT);
        printf(
            "%-14s %-5s %-5s %5" JSON_INTEGER_FORMAT " %9s %8" JSON_INTEGER_FORMAT
            " %9" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT " %10s %11s %8" JSON_INTEGER_FORMAT
            " %8" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT "  %s\n",
            gets(q, "device"), gets(q, "queue"),
            json_is_true(json_object_get(q, "ready")) ? "yes" : "no", geti(q, "size"),
            ctl_opt_int(q, "avail_idx", a, sizeof(a)), geti(q, "last_avail_idx"),
            geti(q, "used_idx"), geti(q, "in_flight"), ctl_opt_int(q, "used_event", ue, sizeof(ue)),
            ctl_opt_int(q, "avail_event", ae, sizeof(ae)), geti(q, "kicks"), geti(q, "interrupts"),
            geti(q, "interrupts_suppressed"), heads ? heads : "-");
        free(heads);
    }
}

static void ctl_print(const char *cmd, json_t *ret)
{
    if (strcmp(cmd, "query-stats") == 0)
        ctl_print_stats(ret);
    else if (strcmp(cmd, "query-network") == 0)
        ctl_print_network(ret);
    else if (strcmp(cmd, "query-virtqueue") == 0)
        ctl_print_virtqueue(ret);
    else if (json_is_object(ret) && json_object_size(ret) == 0)
        printf("ok\n");
    else
        ctl_print_kv(ret, 0, false);
}

/* --- main --------------------------------------------------------------------------------- */

static int ctl_run(struct ctl_conn *c, const char *cmd, char **words, int n, bool as_json)
{
    json_t *greeting = ctl_read(c);
    if (!json_object_get(greeting, "QMP")) {
        fprintf(stderr, "nicvm-ctl: no greeting from nicvm\n");
        json_decref(greeting);
        return CTL_ERROR;
    }
    json_decref(greeting);
    json_t *args = n ? ctl_args(c, cmd, words, n) : NULL;
    if (n && !args)
        return CTL_USAGE;
    json_t *r = ctl_call(c, cmd, args, 1);
    json_decref(args);
    if (!r)
        return CTL_ERROR;
    json_t *err = json_object_get(r, "error");
    int status = err ? CTL_ERROR : CTL_OK;
    if (err)
        fprintf(stderr, "nicvm-ctl: %s: %s\n", gets(err, "class"), gets(err, "desc"));
    if (as_json && !err)
        json_dumpf(json_object_get(r, "return"), stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    else if (as_json)
        json_dumpf(r, stdout, JSON_INDENT(2));
    if (as_json)
        putchar('\n');
    else if (!err)
        ctl_print(cmd, json_object_get(r, "return"));
    json_decref(r);
    return status;
}

int main(int argc, char **argv)
{
    bool as_json = false;
    double timeout_s = 30;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = atof(argv[++i]);
        else
            return ctl_usage();
    }
    if (argc - i < 2 || timeout_s <= 0)
        return ctl_usage();
    struct ctl_conn c = {.fd = -1, .timeout_ms = (int)(timeout_s * 1000)};
    int status = CTL_ERROR;
    if (ctl_connect(&c, argv[i]) == 0)
        status = ctl_run(&c, argv[i + 1], argv + i + 2, argc - i - 2, as_json);
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    return status;
}
