/* Exit accounting. Each vCPU counts its exits by reason and its I/O by device region,
 * direction and access size, in counters only its own thread writes (so counting costs a
 * plain add, never a locked instruction); readers such as the final table use relaxed
 * atomic loads. */
#ifndef NICVM_STATS_H
#define NICVM_STATS_H

#include "vmm/iobus.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define STATS_EXIT_REASONS 64 /* KVM_EXIT_* values are below this */
#define STATS_SIZES        4  /* access sizes 1, 2, 4, 8 */

typedef _Atomic uint64_t stats_counter;

struct vcpu_stats {
    stats_counter exits[STATS_EXIT_REASONS];
    stats_counter run_interrupted; /* KVM_RUN returned EINTR (kicks, signals) */
    stats_counter region[IOBUS_MAX_REGIONS][2][STATS_SIZES]; /* [id][write][size index] */
    stats_counter unclaimed[IOBUS_NR_SPACES][2];
};

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

/* stats_print_text: the --exit-stats table for nr vCPUs to out. */
void stats_print_text(FILE *out, struct vcpu_stats *const *vcpus, unsigned nr, struct iobus *bus);

/* stats_print_json: the same as JSON (one object) to out. */
void stats_print_json(FILE *out, struct vcpu_stats *const *vcpus, unsigned nr, struct iobus *bus);

#endif
