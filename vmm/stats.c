/* Exit statistics: counting helpers and the --exit-stats table (text, or JSON through
 * jansson). */
#include "vmm/stats.h"

#include <inttypes.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <stdio.h>

static const char *const exit_names[STATS_EXIT_REASONS] = {
    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
    [KVM_EXIT_IO] = "IO",
    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
    [KVM_EXIT_DEBUG] = "DEBUG",
    [KVM_EXIT_HLT] = "HLT",
    [KVM_EXIT_MMIO] = "MMIO",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
    [KVM_EXIT_INTR] = "INTR",
    [KVM_EXIT_SET_TPR] = "SET_TPR",
    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
    [KVM_EXIT_NMI] = "NMI",
    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [KVM_EXIT_OSI] = "OSI",
    [KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
    [KVM_EXIT_WATCHDOG] = "WATCHDOG",
    [KVM_EXIT_EPR] = "EPR",
    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
    [KVM_EXIT_HYPERV] = "HYPERV",
    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
    [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
    [KVM_EXIT_AP_RESET_HOLD] = "AP_RESET_HOLD",
    [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
    [KVM_EXIT_XEN] = "XEN",
};

const char *stats_exit_name(unsigned reason)
{
    return reason < STATS_EXIT_REASONS ? exit_names[reason] : NULL;
}

void stats_count_io(struct vcpu_stats *s, int region, enum iobus_space space, unsigned len,
                    bool is_write)
{
    if (region >= 0 && region < IOBUS_MAX_REGIONS)
        stats_inc(&s->region[region][is_write][stats_size_index(len)]);
    else
        stats_inc(&s->unclaimed[space][is_write]);
}

void stats_record_time(struct vcpu_stats *s, uint64_t ns)
{
    unsigned b = 0;
    while (b + 1 < STATS_HIST_BUCKETS && (ns >> (b + 1)))
        b++;
    stats_inc(&s->handler_hist[b]);
    if (ns > stats_get(&s->handler_max_ns))
        atomic_store_explicit(&s->handler_max_ns, ns, memory_order_relaxed);
    atomic_store_explicit(&s->handler_total_ns, stats_get(&s->handler_total_ns) + ns,
                          memory_order_relaxed);
}

uint64_t stats_percentile(struct vcpu_stats *const *v, unsigned nr, double p)
{
    uint64_t hist[STATS_HIST_BUCKETS] = {0}, total = 0;
    for (unsigned c = 0; c < nr; c++) {
        for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
            uint64_t n = stats_get(&v[c]->handler_hist[b]);
            hist[b] += n;
            total += n;
        }
    }
    if (!total)
        return 0;
    uint64_t want = (uint64_t)((double)total * p / 100.0), seen = 0;
    for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen > want || b + 1 == STATS_HIST_BUCKETS)
            return (2ull << b) - 1;
    }
    return 0;
}

static uint64_t sum_exits(struct vcpu_stats *const *v, unsigned nr, unsigned reason)
{
    uint64_t t = 0;
    for (unsigned c = 0; c < nr; c++)
        t += stats_get(&v[c]->exits[reason]);
    return t;
}

static uint64_t sum_region(struct vcpu_stats *const *v, unsigned nr, int id, int w, int size)
{
    uint64_t t = 0;
    for (unsigned c = 0; c < nr; c++)
        t += stats_get(&v[c]->region[id][w][size]);
    return t;
}

static void print_exit_rows(FILE *out, struct vcpu_stats *const *v, unsigned nr)
{
    fprintf(out, "%-18s", "exit reason");
    for (unsigned c = 0; c < nr; c++)
        fprintf(out, " %12s%-2u", "vcpu", c);
    fprintf(out, " %14s\n", "total");
    for (unsigned r = 0; r < STATS_EXIT_REASONS; r++) {
        uint64_t total = sum_exits(v, nr, r);
        if (!total)
            continue;
        fprintf(out, "%-18s", exit_names[r] ? exit_names[r] : "?");
        for (unsigned c = 0; c < nr; c++)
            fprintf(out, " %14" PRIu64, stats_get(&v[c]->exits[r]));
        fprintf(out, " %14" PRIu64 "\n", total);
    }
}

static void print_region_rows(FILE *out, struct vcpu_stats *const *v, unsigned nr,
                              struct iobus *bus)
{
    static const char *const space[] = {"port", "mmio"};
    fprintf(out, "\n%-16s %-4s %-23s %-5s %12s %12s %12s %12s %14s\n", "device region", "spc",
            "range", "dir", "1 byte", "2 bytes", "4 bytes", "8 bytes", "total");
    int nregions = iobus_nr_regions(bus);
    for (int id = 0; id < nregions; id++) {
        struct iobus_region_info ri;
        if (iobus_region_info(bus, id, &ri) < 0)
            continue;
        for (int w = 0; w < 2; w++) {
            uint64_t n[STATS_SIZES], total = 0;
            for (int s = 0; s < STATS_SIZES; s++)
                total += n[s] = sum_region(v, nr, id, w, s);
            if (!total)
                continue;
            char range[40];
            snprintf(range, sizeof(range), "0x%" PRIx64 "-0x%" PRIx64, ri.base,
                     ri.base + ri.len - 1);
            fprintf(out, "%-16s %-4s %-23s %-5s", ri.name, space[ri.space], range,
                    w ? "write" : "read");
            for (int s = 0; s < STATS_SIZES; s++)
                fprintf(out, " %12" PRIu64, n[s]);
            fprintf(out, " %14" PRIu64 "\n", total);
        }
    }
    for (int sp = 0; sp < IOBUS_NR_SPACES; sp++) {
        for (int w = 0; w < 2; w++) {
            uint64_t t = 0;
            for (unsigned c = 0; c < nr; c++)
                t += stats_get(&v[c]->unclaimed[sp][w]);
            if (t)
                fprintf(out, "%-16s %-4s %-23s %-5s %12s %12s %12s %12s %14" PRIu64 "\n",
                        "(unclaimed)", space[sp], "-", w ? "write" : "read", "", "", "", "", t);
        }
    }
}

static json_t *json_regions(struct vcpu_stats *const *v, unsigned nr, struct iobus *bus)
{
    static const char *const space[] = {"port", "mmio"};
    static const char *const size_key[] = {"1", "2", "4", "8"};
    json_t *arr = json_array();
    int nregions = iobus_nr_regions(bus);
    for (int id = 0; id < nregions; id++) {
        struct iobus_region_info ri;
        if (iobus_region_info(bus, id, &ri) < 0)
            continue;
        json_t *r = json_pack("{s:s, s:s, s:I, s:I}", "name", ri.name, "space", space[ri.space],
                              "base", (json_int_t)ri.base, "length", (json_int_t)ri.len);
        for (int w = 0; w < 2; w++) {
            json_t *sizes = json_object();
            for (int s = 0; s < STATS_SIZES; s++)
                json_object_set_new(sizes, size_key[s],
                                    json_integer((json_int_t)sum_region(v, nr, id, w, s)));
            json_object_set_new(r, w ? "writes" : "reads", sizes);
        }
        json_array_append_new(arr, r);
    }
    return arr;
}

/* In-kernel counters shown beside nicvm's own: what KVM handled without an exit to us. */
static const char *const kvm_shown[] = {
    "exits",     "io_exits",       "mmio_exits",          "halt_exits",       "halt_wakeup",
    "irq_exits", "signal_exits",   "irq_injections",      "irq_window_exits", "pf_taken",
    "pf_fixed",  "insn_emulation", "insn_emulation_fail", "hypercalls",       "host_state_reload",
};

static void print_kvm_rows(FILE *out, const struct stats_sources *src)
{
    uint64_t vals[MACHINE_MAX_CPUS_STATS][KVMSTATS_MAX];
    unsigned nr = src->nr < MACHINE_MAX_CPUS_STATS ? src->nr : MACHINE_MAX_CPUS_STATS;
    bool any = false;
    for (unsigned c = 0; c < nr; c++)
        any |= src->kvm_vcpu[c] && kvmstats_read(src->kvm_vcpu[c], vals[c]) == 0;
    if (!any)
        return;
    fprintf(out, "\n%-18s", "in KVM (stats fd)");
    for (unsigned c = 0; c < nr; c++)
        fprintf(out, " %12s%-2u", "vcpu", c);
    fprintf(out, " %14s\n", "total");
    for (size_t k = 0; k < sizeof(kvm_shown) / sizeof(kvm_shown[0]); k++) {
        int i = kvmstats_find(src->kvm_vcpu[0], kvm_shown[k]);
        if (i < 0)
            continue;
        uint64_t total = 0;
        for (unsigned c = 0; c < nr; c++)
            total += vals[c][i];
        fprintf(out, "%-18s", kvm_shown[k]);
        for (unsigned c = 0; c < nr; c++)
            fprintf(out, " %14" PRIu64, vals[c][i]);
        fprintf(out, " %14" PRIu64 "\n", total);
    }
}

static void print_handler_time(FILE *out, const struct stats_sources *src)
{
    uint64_t count = 0, max = 0, sum = 0;
    for (unsigned c = 0; c < src->nr; c++) {
        for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++)
            count += stats_get(&src->vcpu[c]->handler_hist[b]);
        uint64_t m = stats_get(&src->vcpu[c]->handler_max_ns);
        max = m > max ? m : max;
        sum += stats_get(&src->vcpu[c]->handler_total_ns);
    }
    if (!count)
        return;
    fprintf(out,
            "\ntime in nicvm's handler per exit: %" PRIu64 " exits, mean %" PRIu64
            " ns, p50 <= %" PRIu64 " ns, p99 <= %" PRIu64 " ns, max %" PRIu64 " ns\n",
            count, sum / count, stats_percentile(src->vcpu, src->nr, 50),
            stats_percentile(src->vcpu, src->nr, 99), max);
}

void stats_print_text(FILE *out, const struct stats_sources *src)
{
    unsigned nr = src->nr;
    fprintf(out, "\n==== nicvm exit statistics (%u vCPU%s) ====\n", nr, nr == 1 ? "" : "s");
    print_exit_rows(out, src->vcpu, nr);
    uint64_t intr = 0;
    for (unsigned c = 0; c < nr; c++)
        intr += stats_get(&src->vcpu[c]->run_interrupted);
    if (intr)
        fprintf(out, "%-18s %14s %" PRIu64 "\n", "(KVM_RUN EINTR)", "", intr);
    print_kvm_rows(out, src);
    print_handler_time(out, src);
    print_region_rows(out, src->vcpu, nr, src->bus);
    fflush(out);
}

static json_t *json_kvm(const struct kvmstats *k)
{
    uint64_t vals[KVMSTATS_MAX];
    if (!k || kvmstats_read(k, vals) < 0)
        return json_null();
    json_t *o = json_object();
    for (unsigned i = 0; i < k->n; i++)
        json_object_set_new(o, k->item[i].name, json_integer((json_int_t)vals[i]));
    return o;
}

static json_t *json_vcpu(const struct stats_sources *src, unsigned c)
{
    struct vcpu_stats *v = src->vcpu[c];
    json_t *exits = json_object();
    for (unsigned r = 0; r < STATS_EXIT_REASONS; r++) {
        uint64_t n = stats_get(&v->exits[r]);
        if (n)
            json_object_set_new(exits, exit_names[r] ? exit_names[r] : "?",
                                json_integer((json_int_t)n));
    }
    json_t *hist = json_array();
    uint64_t count = 0;
    for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
        uint64_t n = stats_get(&v->handler_hist[b]);
        count += n;
        json_array_append_new(hist, json_integer((json_int_t)n));
    }
    struct vcpu_stats *one[1] = {v};
    json_t *handler =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "count", (json_int_t)count, "p50_ns",
                  (json_int_t)stats_percentile(one, 1, 50), "p99_ns",
                  (json_int_t)stats_percentile(one, 1, 99), "max_ns",
                  (json_int_t)stats_get(&v->handler_max_ns), "total_ns",
                  (json_int_t)stats_get(&v->handler_total_ns), "log2_ns_histogram", hist);
    return json_pack("{s:i, s:o, s:I, s:o, s:o}", "vcpu", (int)c, "exits", exits, "run_interrupted",
                     (json_int_t)stats_get(&v->run_interrupted), "handler", handler, "kvm",
                     json_kvm(src->kvm_vcpu ? src->kvm_vcpu[c] : NULL));
}

json_t *stats_to_json(const struct stats_sources *src)
{
    json_t *root = json_object();
    json_t *cpus = json_array();
    for (unsigned c = 0; c < src->nr; c++)
        json_array_append_new(cpus, json_vcpu(src, c));
    json_object_set_new(root, "vcpus", cpus);
    json_object_set_new(root, "kvm_vm", json_kvm(src->kvm_vm));
    json_object_set_new(root, "regions", json_regions(src->vcpu, src->nr, src->bus));
    json_t *unclaimed = json_object();
    static const char *const keys[2][2] = {{"port_read", "port_write"},
                                           {"mmio_read", "mmio_write"}};
    for (int sp = 0; sp < IOBUS_NR_SPACES; sp++)
        for (int w = 0; w < 2; w++) {
            uint64_t t = 0;
            for (unsigned c = 0; c < src->nr; c++)
                t += stats_get(&src->vcpu[c]->unclaimed[sp][w]);
            json_object_set_new(unclaimed, keys[sp][w], json_integer((json_int_t)t));
        }
    json_object_set_new(root, "unclaimed", unclaimed);
    return root;
}
