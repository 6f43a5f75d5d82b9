/* Command-line parsing: a table of options; each accepts "-name value", "--name value",
 * "-name=value" and "--name=value", like QEMU's (which takes one or two dashes). */
#include "vmm/cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cli_arg { CLI_NONE, CLI_REQUIRED, CLI_OPTIONAL /* only as --name=value */ };

struct cli_option {
    const char *name;
    enum cli_arg arg;
    int (*apply)(struct nicvm_config *cfg, const char *val, char *err, size_t errlen);
};

static int set_str(const char **dst, const char *val)
{
    *dst = val;
    return 0;
}

static int opt_kernel(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    (void)e, (void)n;
    return set_str(&c->kernel, v);
}

static int opt_initrd(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    (void)e, (void)n;
    return set_str(&c->initrd, v);
}

static int opt_append(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    (void)e, (void)n;
    return set_str(&c->append, v);
}

static int opt_mem(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    uint64_t size;
    /* QEMU accepts "-m size=512M" too. */
    if (strncmp(v, "size=", 5) == 0)
        v += 5;
    if (parse_size(v, true, &size) < 0 || size < (16u << 20) || size > (1ull << 40)) {
        snprintf(e, n, "-m %s: expected a size from 16M to 1T, such as 512M or 2G", v);
        return -EINVAL;
    }
    c->mem_size = size;
    return 0;
}

static int opt_smp(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    char *end;
    if (strncmp(v, "cpus=", 5) == 0)
        v += 5;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 1 || x > 32) {
        snprintf(e, n, "-smp %s: expected a number of vCPUs from 1 to 32", v);
        return -EINVAL;
    }
    c->smp = (unsigned)x;
    return 0;
}

static int add_list(struct opts **list, unsigned *nr, const char *what, const char *implied,
                    const char *v, char *e, size_t n)
{
    if (*nr >= CLI_MAX_LISTS) {
        snprintf(e, n, "%s: at most %d allowed", what, CLI_MAX_LISTS);
        return -EINVAL;
    }
    char sub[200];
    struct opts *o = opts_parse(v, implied, sub, sizeof(sub));
    if (!o) {
        snprintf(e, n, "%s %s: %s", what, v, sub);
        return -EINVAL;
    }
    list[(*nr)++] = o;
    return 0;
}

static int opt_netdev(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    return add_list(c->netdev, &c->nr_netdev, "-netdev", "type", v, e, n);
}

/* QEMU's spellings for "list the models": -device help, -device ?, -nic ...,model=help. */
static bool asks_for_help(const char *v)
{
    return strcmp(v, "help") == 0 || strcmp(v, "?") == 0;
}

static int opt_device(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    if (asks_for_help(v)) {
        c->device_help = true;
        return 0;
    }
    return add_list(c->device, &c->nr_device, "-device", "driver", v, e, n);
}

/* The -nic keys that belong to the NIC; every other key goes to the backend. */
static bool nic_key(const char *key)
{
    return strcmp(key, "type") == 0 || strcmp(key, "id") == 0 || strcmp(key, "model") == 0 ||
           strcmp(key, "mac") == 0;
}

/* Builds the -netdev and -device pair that a parsed -nic stands for and appends both. */
static int nic_expand(struct nicvm_config *c, struct opts *o, const char *type, char *e, size_t n)
{
    if (c->nr_netdev >= CLI_MAX_LISTS || c->nr_device >= CLI_MAX_LISTS) {
        snprintf(e, n, "-nic %s: at most %d backends and %d devices allowed", o->text,
                 CLI_MAX_LISTS, CLI_MAX_LISTS);
        return -EINVAL;
    }
    char gen[24];
    const char *id = opts_get(o, "id"), *model = opts_get(o, "model"), *mac = opts_get(o, "mac");
    if (!id) { /* QEMU names them __org.qemu.nicN; ids with two underscores are not the user's */
        snprintf(gen, sizeof(gen), "__nic%u", c->nr_nic);
        id = gen;
    }
    struct opts *nd = opts_new(o->text, "-nic"), *dev = opts_new(o->text, "-nic");
    int rc = nd && dev ? 0 : -ENOMEM;
    if (!rc)
        rc = opts_add(nd, "type", type) ?: opts_add(nd, "id", id) ?:
             opts_add(dev, "driver", model ? model : CLI_NIC_DEFAULT_MODEL) ?:
             opts_add(dev, "netdev", id) ?: (mac ? opts_add(dev, "mac", mac) : 0);
    for (unsigned i = 0; !rc && i < o->n; i++)
        if (!nic_key(o->o[i].key))
            rc = opts_add(nd, o->o[i].key, o->o[i].value);
    if (rc) {
        opts_free(nd);
        opts_free(dev);
        snprintf(e, n, "-nic %s: out of memory", o->text);
        return rc;
    }
    c->netdev[c->nr_netdev++] = nd;
    c->device[c->nr_device++] = dev;
    c->nr_nic++;
    return 0;
}

/* -nic TYPE[,model=MODEL][,mac=MAC][,id=ID][,backend options]: QEMU's shorthand for a
 * -netdev TYPE,id=ID,... and a -device MODEL,netdev=ID,mac=MAC. -nic none is accepted (nicvm
 * adds no NIC of its own); model=help lists the models. */
static int opt_nic(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    char sub[200];
    struct opts *o = opts_parse(v, "type", sub, sizeof(sub));
    if (!o) {
        snprintf(e, n, "-nic %s: %s", v, sub);
        return -EINVAL;
    }
    const char *model = opts_get(o, "model"), *type = opts_get(o, "type");
    int rc = 0;
    if (model && asks_for_help(model)) {
        c->device_help = true;
    } else if (!type || !*type) {
        snprintf(e, n,
                 "-nic %s: name the backend first, as in -nic user,model=e1000 or -nic tap,...", v);
        rc = -EINVAL;
    } else if (strcmp(type, "none") == 0) {
        if (o->n > 1) {
            snprintf(e, n, "-nic %s: 'none' takes no options", v);
            rc = -EINVAL;
        }
    } else {
        rc = nic_expand(c, o, type, e, n);
    }
    opts_free(o);
    return rc;
}

static int opt_object(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    return add_list(c->object, &c->nr_object, "-object", "qom-type", v, e, n);
}

static int opt_exit_stats(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    if (!v || strcmp(v, "text") == 0) {
        c->exit_stats = EXIT_STATS_TEXT;
    } else if (strcmp(v, "json") == 0) {
        c->exit_stats = EXIT_STATS_JSON;
    } else if (strncmp(v, "json:", 5) == 0 && v[5]) {
        c->exit_stats = EXIT_STATS_JSON;
        c->exit_stats_file = v + 5;
    } else {
        snprintf(e, n, "--exit-stats=%s: expected text, json or json:FILE", v);
        return -EINVAL;
    }
    return 0;
}

static int opt_virtio_discovery(struct nicvm_config *c, const char *v, char *e, size_t n)
{
    static const char *const names[] = {NULL, "cmdline", "dtb", "both"};
    for (int i = 1; i <= 3; i++)
        if (strcmp(v, names[i]) == 0)
            return c->virtio_discovery = i, 0;
    snprintf(e, n, "--virtio-discovery %s: expected cmdline, dtb or both", v);
    return -EINVAL;
}

#define FLAG_OPTION(fn, field)                                                                     \
    static int fn(struct nicvm_config *c, const char *v, char *e, size_t n)                        \
    {                                                                                              \
        (void)v, (void)e, (void)n;                                                                 \
        c->field = true;                                                                           \
        return 0;                                                                                  \
    }
FLAG_OPTION(opt_debug_io, debug_io)
FLAG_OPTION(opt_no_pvm_quirks, no_pvm_quirks)
FLAG_OPTION(opt_no_ioeventfd, no_ioeventfd)
FLAG_OPTION(opt_no_irqfd, no_irqfd)
FLAG_OPTION(opt_quiet, quiet)
FLAG_OPTION(opt_help, help)
FLAG_OPTION(opt_version, version)

#define STRING_OPTION(fn, field)                                                                   \
    static int fn(struct nicvm_config *c, const char *v, char *e, size_t n)                        \
    {                                                                                              \
        (void)e, (void)n;                                                                          \
        return set_str(&c->field, v);                                                              \
    }
STRING_OPTION(opt_dump_dtb, dump_dtb)
STRING_OPTION(opt_monitor, monitor)
STRING_OPTION(opt_trace, trace)
STRING_OPTION(opt_trace_filter, trace_filter)

static const struct cli_option cli_options[] = {
    {"kernel", CLI_REQUIRED, opt_kernel},
    {"initrd", CLI_REQUIRED, opt_initrd},
    {"append", CLI_REQUIRED, opt_append},
    {"m", CLI_REQUIRED, opt_mem},
    {"smp", CLI_REQUIRED, opt_smp},
    {"netdev", CLI_REQUIRED, opt_netdev},
    {"device", CLI_REQUIRED, opt_device},
    {"nic", CLI_REQUIRED, opt_nic},
    {"object", CLI_REQUIRED, opt_object},
    {"exit-stats", CLI_OPTIONAL, opt_exit_stats},
    {"debug-io", CLI_NONE, opt_debug_io},
    {"no-pvm-quirks", CLI_NONE, opt_no_pvm_quirks},
    {"no-ioeventfd", CLI_NONE, opt_no_ioeventfd},
    {"no-irqfd", CLI_NONE, opt_no_irqfd},
    {"dump-dtb", CLI_REQUIRED, opt_dump_dtb},
    {"virtio-discovery", CLI_REQUIRED, opt_virtio_discovery},
    {"monitor", CLI_REQUIRED, opt_monitor},
    {"trace", CLI_REQUIRED, opt_trace},
    {"trace-filter", CLI_REQUIRED, opt_trace_filter},
    {"quiet", CLI_NONE, opt_quiet},
    {"q", CLI_NONE, opt_quiet},
    {"help", CLI_NONE, opt_help},
    {"h", CLI_NONE, opt_help},
    {"version", CLI_NONE, opt_version},
};

static const struct cli_option *cli_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(cli_options) / sizeof(cli_options[0]); i++)
        if (strlen(cli_options[i].name) == len && strncmp(cli_options[i].name, name, len) == 0)
            return &cli_options[i];
    return NULL;
}

int cli_parse(int argc, char **argv, struct nicvm_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_size = 512ull << 20;
    cfg->smp = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s' (options start with -; see --help)", a);
            return -EINVAL;
        }
        const char *name = a + 1 + (a[1] == '-');
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_option *opt = cli_find(name, len);
        if (!opt) {
            snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(len + (name - a)), a);
            return -EINVAL;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (opt->arg == CLI_NONE && val) {
            snprintf(err, errlen, "option '-%s' takes no value", opt->name);
            return -EINVAL;
        }
        if (opt->arg == CLI_REQUIRED && !val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option '-%s' needs a value", opt->name);
                return -EINVAL;
            }
            val = argv[++i];
        }
        int rc = opt->apply(cfg, val, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (!cfg->help && !cfg->version && !cfg->device_help && !cfg->kernel) {
        snprintf(err, errlen, "no kernel given: use -kernel PATH (see --help)");
        return -EINVAL;
    }
    return 0;
}

void cli_free(struct nicvm_config *cfg)
{
    for (unsigned i = 0; i < cfg->nr_netdev; i++)
        opts_free(cfg->netdev[i]);
    for (unsigned i = 0; i < cfg->nr_device; i++)
        opts_free(cfg->device[i]);
    for (unsigned i = 0; i < cfg->nr_object; i++)
        opts_free(cfg->object[i]);
    cfg->nr_netdev = cfg->nr_device = cfg->nr_object = 0;
}

const char *cli_usage(void)
{
    return "Usage: nicvm -kernel PATH [options]\n"
           "Boot a Linux kernel under KVM with virtual NICs; options take one or two dashes.\n"
           "\n"
           "Machine:\n"
           "  -kernel PATH          bzImage (boot protocol 2.06+) or x86-64 ELF vmlinux\n"
           "  -initrd PATH          initial ramdisk\n"
           "  -append CMDLINE       kernel command line (console=ttyS0 is added if absent)\n"
           "  -m SIZE               guest RAM, e.g. 512M or 2G (default 512M)\n"
           "  -smp N                number of vCPUs, 1 to 32 (default 1)\n"
           "Network (QEMU syntax):\n"
           "  -netdev TYPE,id=ID,...   backend: user, tap, socket, stream, dgram\n"
           "  -device MODEL,netdev=ID[,mac=MAC]   NIC: virtio-net, e1000\n"
           "  -nic TYPE[,model=MODEL][,mac=MAC][,backend options]   both at once\n"
           "                        (model defaults to virtio-net; model=help lists them)\n"
           "  -device isa-debug-exit[,iobase=0x501]   guest writes V to exit with (V<<1)|1\n"
           "  -object filter-dump,id=ID,netdev=ID,file=PATH   capture to pcap\n"
           "Debugging:\n"
           "  --exit-stats[=text|json|json:FILE]   print exit statistics when the VM stops\n"
           "  --debug-io            log every access that no device claims\n"
           "  --trace FILE          write a Chrome trace-event timeline of exits and packets\n"
           "  --trace-filter SPEC   narrow the trace\n"
           "  -monitor unix:PATH    JSON control socket\n"
           "  --virtio-discovery cmdline|dtb|both   how the guest finds virtio-mmio devices:\n"
           "                        virtio_mmio.device= (default) or a device tree (SETUP_DTB)\n"
           "  --dump-dtb FILE       write the device tree (read it with dtc -I dtb)\n"
           "  --no-pvm-quirks       do not add kernel parameters for PVM hosts\n"
           "  --no-ioeventfd        take virtqueue kicks as MMIO exits (for comparison)\n"
           "  --no-irqfd            inject virtio interrupts with KVM_IRQ_LINE ioctls\n"
           "  -q, --quiet           only errors from nicvm itself\n"
           "  --help, --version\n"
           "\n"
           "Console: guest ttyS0 on stdout; stdin goes to the guest. Ctrl-A x quits,\n"
           "Ctrl-A s prints exit statistics, Ctrl-A r vCPU registers, Ctrl-A a sends Ctrl-A.\n"
           "\n"
           "Exit status: 0 guest powered off or rebooted (nicvm stops instead of resetting),\n"
           "or Ctrl-A x; 1 nicvm failed at run time (KVM setup, host resources); 2 bad command\n"
           "line or input file; 3 guest triple fault; 4 vCPU failure (emulation error,\n"
           "failed entry, internal error); N = (V<<1)|1 from isa-debug-exit;\n"
           "128+signal on SIGINT, SIGTERM or SIGHUP.\n";
}
