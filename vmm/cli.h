/* The nicvm command line: QEMU-style words with one or two leading dashes, parsed into a
 * struct nicvm_config. Parsing only checks syntax; vm setup checks files and sizes. */
#ifndef NICVM_CLI_H
#define NICVM_CLI_H

#include "vmm/opts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_MAX_LISTS 16
/* The NIC model of a -nic without model=. */
#define CLI_NIC_DEFAULT_MODEL "virtio-net"

enum exit_stats_mode { EXIT_STATS_OFF = 0, EXIT_STATS_TEXT, EXIT_STATS_JSON };

struct nicvm_config {
    const char *kernel;
    const char *initrd;
    const char *append;
    uint64_t mem_size;
    unsigned smp;
    struct opts *netdev[CLI_MAX_LISTS];
    unsigned nr_netdev;
    struct opts *device[CLI_MAX_LISTS];
    unsigned nr_device;
    unsigned nr_nic; /* -nic options seen: each added one netdev and one device */
    struct opts *object[CLI_MAX_LISTS];
    unsigned nr_object;
    enum exit_stats_mode exit_stats;
    const char *exit_stats_file; /* --exit-stats=json:FILE; NULL means stderr */
    bool debug_io;
    bool no_pvm_quirks;
    bool no_ioeventfd;
    bool no_irqfd;
    bool quiet;
    const char *dump_dtb;
    int virtio_discovery; /* enum machine_discovery; 0 = default */
    const char *monitor;
    const char *trace;
    const char *trace_filter;
    bool help;
    bool device_help; /* -device help: list the device models and exit */
    bool version;
};

/* cli_parse: fills cfg from argv. Returns 0, or -EINVAL with a one-line message in err that
 * names the offending option. cfg must be freed with cli_free even on error. */
int cli_parse(int argc, char **argv, struct nicvm_config *cfg, char *err, size_t errlen);

/* cli_free: releases the option lists held by cfg. */
void cli_free(struct nicvm_config *cfg);

/* cli_usage: the --help text. */
const char *cli_usage(void);

#endif
