/* vCPU threads: each runs KVM_RUN in a loop and dispatches every exit through a table
 * indexed by exit reason. Port I/O and MMIO go to the iobus; failures are decoded, the
 * faulting instruction disassembled, registers dumped, and the VM stopped. */
#ifndef NICVM_VCPU_H
#define NICVM_VCPU_H

#include "vmm/kvmstats.h"
#include "vmm/stats.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

struct kvm_run;

/* The port or MMIO access of the exit being handled (for traces). */
struct vcpu_access {
    int region; /* iobus region id, -1 unclaimed */
    bool is_port;
    uint64_t addr;
    unsigned size;
    bool is_write;
    uint64_t data;
};

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;
    atomic_bool dump_requested;
    struct vcpu_stats stats;
    struct kvmstats kvm; /* in-kernel counters (KVM_GET_STATS_FD) */
    struct vcpu_access last;
    int track; /* trace track */
};

/* vcpu_create: KVM_CREATE_VCPU, the kvm_run mapping, and the power-on state for this CPU
 * (CPUID, MSRs, FPU, LAPIC; long mode at vm->kernel.entry for vCPU 0). Returns 0/-errno. */
int vcpu_create(struct vm *vm, unsigned id, struct vcpu **out, char *err, size_t errlen);

/* vcpu_start: starts the thread. Returns 0 or -errno. */
int vcpu_start(struct vcpu *v);

/* vcpu_kick: makes the vCPU leave KVM_RUN promptly (immediate_exit plus a signal). */
void vcpu_kick(struct vcpu *v);

/* vcpu_request_dump: asks the vCPU thread to print its registers, the instruction at rip
 * and the top of its stack, then carry on (Ctrl-A r). Any thread. */
void vcpu_request_dump(struct vcpu *v);

/* vcpu_join: waits for the thread (after vm_request_stop and vcpu_kick). */
void vcpu_join(struct vcpu *v);

/* vcpu_destroy: unmaps and closes. */
void vcpu_destroy(struct vcpu *v);

/* vcpu_signal_init: installs the kick signal's handler (once per process). */
int vcpu_signal_init(void);

/* vcpu_report: prints the failure report for the current exit: what, the decoded reason,
 * the instruction at rip disassembled, and the registers. */
void vcpu_report(struct vcpu *v, const char *what);

/* vcpu_dump_state: prints registers, the instruction at rip and the stack's top words
 * (for a running vCPU, on its own thread). */
void vcpu_dump_state(struct vcpu *v);

#endif
