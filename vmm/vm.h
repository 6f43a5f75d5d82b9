/* The VM: everything a running nicvm owns, and its lifetime in three steps.
 *   vm_prepare()  command line -> machine description, kernel probed, command line built,
 *                 network backends opened on the event loop. No KVM yet; every failure
 *                 here comes from the user's input (exit status 2).
 *   vm_create()   KVM VM, guest RAM, irqchip, devices, boot structures, vCPUs (status 1).
 *   vm_run()      vCPU threads plus the event loop on the calling thread, until the guest
 *                 or the user stops the VM; returns the documented exit status. */
#ifndef NICVM_VM_H
#define NICVM_VM_H

#include "boot/loader.h"
#include "devices/legacy.h"
#include "vmm/cli.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/iobus.h"
#include "vmm/irq.h"
#include "vmm/kvmstats.h"
#include "vmm/machine.h"
#include "vmm/stats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit statuses (README and --help document them). */
enum {
    NICVM_EXIT_OK = 0,           /* guest powered off or rebooted, or Ctrl-A x */
    NICVM_EXIT_HOST = 1,         /* nicvm failed at run time: KVM, host resources */
    NICVM_EXIT_USAGE = 2,        /* bad command line or input file */
    NICVM_EXIT_TRIPLE_FAULT = 3, /* KVM_EXIT_SHUTDOWN */
    NICVM_EXIT_VCPU = 4,         /* emulation failure, failed entry, internal error */
};

enum vm_stop_reason {
    VM_STOP_NONE = 0,
    VM_STOP_POWEROFF,
    VM_STOP_RESET,
    VM_STOP_USER_QUIT,
    VM_STOP_DEBUG_EXIT,
    VM_STOP_HOST_ERROR,
    VM_STOP_TRIPLE_FAULT,
    VM_STOP_VCPU_ERROR,
    VM_STOP_SIGNAL,
};

struct vcpu;
struct console;
struct uart;
struct netdev;
struct netdump;
struct pci_bus;
struct monitor;

struct vm {
    struct nicvm_config *cfg;
    struct machine machine;
    bool pvm;        /* host KVM is PVM (/sys/module/kvm_pvm) */
    bool pvm_quirks; /* and the quirks are applied */

    /* Boot inputs, from vm_prepare(). */
    uint8_t *kernel_img;
    size_t kernel_len;
    struct boot_kernel kernel;
    int initrd_fd;
    uint64_t initrd_size;
    char *cmdline;
    uint8_t *dtb; /* the device tree, built in vm_prepare */
    size_t dtb_len;

    /* KVM. */
    int kvm_fd, vm_fd;
    int run_size;
    void *supported_cpuid; /* struct kvm_cpuid2 * */
    uint8_t *ram;
    struct guestmem mem;
    struct irq_line irq[MACHINE_IOAPIC_PINS];
    struct kvmstats kvm_stats; /* VM-wide in-kernel counters */
    bool timing;               /* measure handler time per exit */

    struct iobus *bus;
    struct evloop *loop;
    struct vcpu *vcpu[MACHINE_MAX_CPUS];
    unsigned nr_vcpus;

    struct uart *uart;
    struct pci_bus *pci;
    struct console *console;
    struct legacy legacy;

    /* Network backends (-netdev) and captures (-object filter-dump), on vm->loop. */
    struct netdev *netdev[CLI_MAX_LISTS];
    unsigned nr_netdevs;
    struct netdump *dump[CLI_MAX_LISTS];
    unsigned nr_dumps;
    struct monitor *monitor; /* -monitor, on vm->loop */

    /* Stopping: the first request wins. */
    pthread_mutex_t stop_lock;
    atomic_bool stopping;
    enum vm_stop_reason stop_reason;
    int exit_status;
    bool stopped; /* vm_run has finished stopping (under stop_lock) */
    pthread_t signal_thread;
    bool signal_thread_started;
};

/* vm_prepare: checks cfg and builds the machine description and boot inputs. Returns 0, or
 * -errno with a one-line message naming the problem in err (exit status 2). */
int vm_prepare(struct vm *vm, struct nicvm_config *cfg, char *err, size_t errlen);

/* vm_create: creates the KVM VM, memory, devices and vCPUs and loads the kernel. Returns 0
 * or -errno with the message in err (exit status 1). */
int vm_create(struct vm *vm, char *err, size_t errlen);

/* vm_run: runs until the VM stops; returns the exit status. */
int vm_run(struct vm *vm);

/* vm_destroy: releases everything (safe after a failed prepare or create). */
void vm_destroy(struct vm *vm);

/* vm_request_stop: asks the VM to stop with `reason` and exit `status`; the first request
 * wins. Any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status);

/* vm_stopping: true once a stop was requested. */
static inline bool vm_stopping(struct vm *vm)
{
    return atomic_load_explicit(&vm->stopping, memory_order_acquire);
}

/* vm_find_netdev: the backend with this -netdev id, or NULL. */
struct netdev *vm_find_netdev(struct vm *vm, const char *id);

/* vm_nic_report: {"nics": [...], "netdevs": [...]}: every NIC's and backend's report (new
 * jansson reference). */
json_t *vm_nic_report(struct vm *vm);

/* vm_stats_json: the --exit-stats=json document (exit statistics, NICs and backends) as a
 * new jansson reference; the monitor's query-stats returns the same. */
json_t *vm_stats_json(struct vm *vm);

/* vm_print_stats: the --exit-stats output in the configured format. */
void vm_print_stats(struct vm *vm);

/* The VM's statistics sources in the shape stats.h takes (arrays live in the view). */
struct vm_stats_view {
    struct vcpu_stats *vcpu[MACHINE_MAX_CPUS];
    const struct kvmstats *kvm[MACHINE_MAX_CPUS];
    struct stats_sources src;
};

/* vm_stats_view: fills v for the VM's current vCPUs. */
void vm_stats_view(struct vm *vm, struct vm_stats_view *v);

#endif
