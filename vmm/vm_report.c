/* The VM's reports: the --exit-stats output (text or JSON, at exit), the same document for
 * the monitor's query-stats, and the NIC and backend reports that go into both. The sources
 * are the vCPUs' and KVM's exit counters (vmm/stats.h) and each device's and netdev's own
 * report (board_device_info(), netdev_info()). */
#include "vmm/vm.h"
#include "vmm/board.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "net/netdev.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vm_stats_view(struct vm *vm, struct vm_stats_view *v)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        v->vcpu[i] = &vm->vcpu[i]->stats;
        v->kvm[i] = &vm->vcpu[i]->kvm;
    }
    v->src = (struct stats_sources){v->vcpu, v->kvm, vm->nr_vcpus, &vm->kvm_stats, vm->bus};
}

json_t *vm_nic_report(struct vm *vm)
{
    json_t *root = json_object(), *nics = json_array(), *netdevs = json_array();
    for (unsigned i = 0; i < vm->machine.nr_devices; i++) {
        json_t *info = board_device_info(&vm->machine.dev[i]);
        if (info)
            json_array_append_new(nics, info);
    }
    for (unsigned i = 0; i < vm->nr_netdevs; i++)
        json_array_append_new(netdevs, netdev_info(vm->netdev[i]));
    json_object_set_new(root, "nics", nics);
    json_object_set_new(root, "netdevs", netdevs);
    return root;
}

/* Prints a report object as indented "key: value" lines. */
static void print_json_text(FILE *out, json_t *v, int indent)
{
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        if (json_is_object(val)) {
            fprintf(out, "%*s%s:\n", indent, "", key);
            print_json_text(out, val, indent + 2);
        } else if (json_is_array(val) && json_array_size(val) &&
                   json_is_object(json_array_get(val, 0))) {
            size_t i;
            json_t *item;
            json_array_foreach(val, i, item)
            {
                fprintf(out, "%*s%s[%zu]:\n", indent, "", key, i);
                print_json_text(out, item, indent + 2);
            }
        } else {
            char *s = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(out, "%*s%s: %s\n", indent, "", key, s ? s : "?");
            free(s);
        }
    }
}

json_t *vm_stats_json(struct vm *vm)
{
    struct vm_stats_view view;
    vm_stats_view(vm, &view);
    json_t *root = stats_to_json(&view.src);
    json_t *nics = vm_nic_report(vm);
    json_object_update(root, nics);
    json_decref(nics);
    json_object_set_new(root, "event_loop", evloop_stats_json(vm->loop));
    return root;
}

void vm_print_stats(struct vm *vm)
{
    struct vm_stats_view view;
    vm_stats_view(vm, &view);
    json_t *nics = vm_nic_report(vm);
    if (vm->cfg->exit_stats == EXIT_STATS_TEXT) {
        stats_print_text(stderr, &view.src);
        if (json_array_size(json_object_get(nics, "nics")) ||
            json_array_size(json_object_get(nics, "netdevs"))) {
            fprintf(stderr, "\n==== NICs and backends ====\n");
            print_json_text(stderr, nics, 0);
        }
        json_decref(nics);
        json_t *loop = evloop_stats_json(vm->loop);
        fprintf(stderr, "\n==== event loop ====\n");
        evloop_stats_print(stderr, loop);
        json_decref(loop);
        return;
    }
    json_decref(nics);
    FILE *out = stderr;
    if (vm->cfg->exit_stats_file && !(out = fopen(vm->cfg->exit_stats_file, "w"))) {
        log_err("cannot write exit statistics to '%s': %s", vm->cfg->exit_stats_file,
                strerror(errno));
        return;
    }
    json_t *root = vm_stats_json(vm);
    json_dumpf(root, out, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', out);
    json_decref(root);
    if (out != stderr)
        fclose(out);
}
