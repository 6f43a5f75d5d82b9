/* Exit accounting. Each vCPU counts its exits by reason and its I/O by device region,
 * direction and access size, in counters only its own thread writes (so counting costs a
 * plain add, never a locked instruction); readers such as the final table use relaxed
 * atomic loads. */
#ifndef NICVM_STATS_H
#define NICVM_STATS_H

#include "vmm/iobus.h"
#include "vmm/kvmstats.h"

#include <jansson.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define STATS_EXIT_REASONS 64 /* KVM_EXIT_* values are below this */
#define STATS_SIZES        4  /* access sizes 1, 2, 4, 8 */
#define STATS_HIST_BUCKETS 40 /* handler time: bucket b holds [2^b, 2^(b+1)) ns */

typedef _Atomic uint64_t stats_counter;

struct vcpu_stats {
    stats_counter exits[STATS_EXIT_REASONS];
    stats_counter run_interrupted; /* KVM_RUN returned EINTR (kicks, signals) */
    stats_counter region[IOBUS_MAX_REGIONS][2][STATS_SIZES]; /* [id][write][size index] */
    stats_counter unclaimed[IOBUS_NR_SPACES][2];
    /* Time in nicvm's handler per exit (collected when statistics or traces are on). */
    stats_counter handler_hist[STATS_HIST_BUCKETS];
    stats_counter handler_max_ns;
    stats_counter handler_total_ns;
};

/* stats_record_time: one handler time into the histogram. */
void stats_record_time(struct vcpu_stats *s, uint64_t ns);

/* stats_percentile: the upper bound (ns) of the bucket holding percentile p (0-100) of the
 * handler times of nr vCPUs, or 0 without samples. */
uint64_t stats_percentile(struct vcpu_stats *const *v, unsigned nr, double p);

/* stats_inc: adds one; single writer, so a relaxed load and store suffice. */
static inline void stats_inc(stats_counter *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* stats_get: reads a counter from any thread. */
static inline uint64_t stats_get(const stats_counter *c)
{
    return atomic_load_explicit((stats_counter *)c, memory_order_relaxed);
}

/* stats_size_index: 1 -> 0, 2 -> 1, 4 -> 2, 8 -> 3 (other sizes count as 8). */
static inline unsigned stats_size_index(unsigned len)
{
    return len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3;
}

/* stats_count_io: records one access that iobus_dispatch() routed to `region` (-1 when
 * unclaimed). */
void stats_count_io(struct vcpu_stats *s, int region, enum iobus_space space, unsigned len,
                    bool is_write);

/* stats_exit_name: "IO", "MMIO", "HLT", ... for a KVM exit reason, or NULL if unknown. */
const char *stats_exit_name(unsigned reason);

#define MACHINE_MAX_CPUS_STATS 32

/* Everything an exit-statistics report draws from. kvm_vcpu / kvm_vm may be NULL (KVM
 * without binary statistics, or unit tests). */
struct stats_sources {
    struct vcpu_stats *const *vcpu;
    const struct kvmstats *const *kvm_vcpu;
    unsigned nr;
    const struct kvmstats *kvm_vm;
    struct iobus *bus;
};

/* stats_print_text: the --exit-stats table: exits by reason per vCPU, KVM's in-kernel
 * counters beside them, handler time (p50, p99, max), accesses by device region. */
void stats_print_text(FILE *out, const struct stats_sources *src);

/* stats_to_json: the same as a jansson object (new reference): vcpus[] with exits, handler
 * histogram and KVM counters, kvm_vm, regions[], unclaimed. */
json_t *stats_to_json(const struct stats_sources *src);

#endif
