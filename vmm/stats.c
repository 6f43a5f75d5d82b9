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

void stats_print_text(FILE *out, struct vcpu_stats *const *vcpus, unsigned nr, struct iobus *bus)
{
    fprintf(out, "\n==== nicvm exit statistics (%u vCPU%s) ====\n", nr, nr == 1 ? "" : "s");
    print_exit_rows(out, vcpus, nr);
    uint64_t intr = 0;
    for (unsigned c = 0; c < nr; c++)
        intr += stats_get(&vcpus[c]->run_interrupted);
    if (intr)
        fprintf(out, "%-18s %14s %" PRIu64 "\n", "(KVM_RUN EINTR)", "", intr);
    print_region_rows(out, vcpus, nr, bus);
    fflush(out);
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

void stats_print_json(FILE *out, struct vcpu_stats *const *vcpus, unsigned nr, struct iobus *bus)
{
    json_t *root = json_object();
    json_t *cpus = json_array();
    for (unsigned c = 0; c < nr; c++) {
        json_t *exits = json_object();
        for (unsigned r = 0; r < STATS_EXIT_REASONS; r++) {
            uint64_t n = stats_get(&vcpus[c]->exits[r]);
            if (n)
                json_object_set_new(exits, exit_names[r] ? exit_names[r] : "?",
                                    json_integer((json_int_t)n));
        }
        json_array_append_new(cpus, json_pack("{s:i, s:o, s:I}", "vcpu", (int)c, "exits", exits,
                                              "run_interrupted",
                                              (json_int_t)stats_get(&vcpus[c]->run_interrupted)));
    }
    json_object_set_new(root, "vcpus", cpus);
    json_object_set_new(root, "regions", json_regions(vcpus, nr, bus));
    json_t *unclaimed = json_object();
    static const char *const keys[2][2] = {{"port_read", "port_write"},
                                           {"mmio_read", "mmio_write"}};
    for (int sp = 0; sp < IOBUS_NR_SPACES; sp++)
        for (int w = 0; w < 2; w++) {
            uint64_t t = 0;
            for (unsigned c = 0; c < nr; c++)
                t += stats_get(&vcpus[c]->unclaimed[sp][w]);
            json_object_set_new(unclaimed, keys[sp][w], json_integer((json_int_t)t));
        }
    json_object_set_new(root, "unclaimed", unclaimed);
    json_dumpf(root, out, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', out);
    fflush(out);
    json_decref(root);
}
