/* KVM's binary statistics (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst §4.133): the
 * counters of what KVM handled in the kernel without an exit to nicvm (halts, in-kernel I/O
 * and MMIO, interrupt injections, page faults, emulated instructions), per VM and per vCPU.
 * The descriptors are read once; values are read on demand. */
#ifndef NICVM_KVMSTATS_H
#define NICVM_KVMSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVMSTATS_MAX 96

struct kvmstats {
    int fd; /* -1 when KVM has no binary statistics */
    unsigned n;
    uint64_t data_offset;
    struct kvmstats_item {
        char name[48];
        uint32_t offset; /* of the first value, from data_offset */
        uint32_t size;   /* values (u64) */
        bool cumulative; /* a counter (vs an instant value or a peak) */
    } item[KVMSTATS_MAX];
};

/* kvmstats_open: reads the descriptors of a VM or vCPU fd's statistics. Returns 0, or -errno
 * (fd stays -1) when KVM_GET_STATS_FD is not available. */
int kvmstats_open(struct kvmstats *s, int kvm_object_fd);

/* kvmstats_read: the first value of every statistic into values[] (n entries). Returns 0 or
 * -errno. */
int kvmstats_read(const struct kvmstats *s, uint64_t *values);

/* kvmstats_find: the index of a statistic by name, or -1. */
int kvmstats_find(const struct kvmstats *s, const char *name);

/* kvmstats_close: closes the statistics fd. */
void kvmstats_close(struct kvmstats *s);

#endif
