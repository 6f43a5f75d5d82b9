/* The vCPU run loop and its exit table. Each handler returns 0 to re-enter the guest or -1
 * once it has asked the VM to stop. */
#define _GNU_SOURCE
#include "vmm/vcpu.h"
#include "boot/layout.h"
#include "vmm/log.h"
#include "vmm/trace.h"
#include "vmm/x86cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL (SIGRTMIN + 1)

typedef int (*vcpu_exit_fn)(struct vcpu *v);

static void vcpu_kick_handler(int sig)
{
    (void)sig; /* only interrupts KVM_RUN */
}

int vcpu_signal_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vcpu_kick_handler;
    sigemptyset(&sa.sa_mask);
    return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0; /* no SA_RESTART */
}

static int exit_io(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    bool is_write = r->io.direction == KVM_EXIT_IO_OUT;
    unsigned size = r->io.size;
    /* data_offset comes from KVM, but bound it anyway: a string instruction (rep ins/outs)
     * packs count * size bytes there. */
    if (size == 0 || size > 4 || r->io.count == 0 ||
        r->io.data_offset + (uint64_t)r->io.count * size > (uint64_t)v->vm->run_size) {
        vcpu_report(v, "malformed KVM_EXIT_IO");
        vm_request_stop(v->vm, VM_STOP_HOST_ERROR, NICVM_EXIT_HOST);
        return -1;
    }
    uint8_t *data = (uint8_t *)r + r->io.data_offset;
    int id = -1;
    for (uint32_t i = 0; i < r->io.count; i++) {
        id = iobus_dispatch(v->vm->bus, IOBUS_PIO, r->io.port, data + i * size, size, is_write);
        stats_count_io(&v->stats, id, IOBUS_PIO, size, is_write);
    }
    v->last = (struct vcpu_access){id, true, r->io.port, size, is_write, iobus_get_le(data, size)};
    return 0;
}

static int exit_mmio(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    unsigned len = r->mmio.len;
    if (len == 0 || len > sizeof(r->mmio.data)) {
        vcpu_report(v, "malformed KVM_EXIT_MMIO");
        vm_request_stop(v->vm, VM_STOP_HOST_ERROR, NICVM_EXIT_HOST);
        return -1;
    }
    int id = iobus_dispatch(v->vm->bus, IOBUS_MMIO, r->mmio.phys_addr, r->mmio.data, len,
                            r->mmio.is_write);
    stats_count_io(&v->stats, id, IOBUS_MMIO, len, r->mmio.is_write);
    v->last = (struct vcpu_access){
        id, false, r->mmio.phys_addr, len, r->mmio.is_write, iobus_get_le(r->mmio.data, len)};
    return 0;
}

static int exit_continue(struct vcpu *v)
{
    (void)v; /* HLT (only without an in-kernel LAPIC), INTR, IRQ window: re-enter */
    return 0;
}

static int exit_shutdown(struct vcpu *v)
{
    vcpu_report(v, "guest triple fault (KVM_EXIT_SHUTDOWN)");
    vm_request_stop(v->vm, VM_STOP_TRIPLE_FAULT, NICVM_EXIT_TRIPLE_FAULT);
    return -1;
}

static int exit_system_event(struct vcpu *v)
{
    switch (v->run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        log_info("vCPU %u: guest powered off", v->id);
        vm_request_stop(v->vm, VM_STOP_POWEROFF, NICVM_EXIT_OK);
        break;
    case KVM_SYSTEM_EVENT_RESET:
        log_info("vCPU %u: guest requested a reset; stopping (nicvm does not reboot)", v->id);
        vm_request_stop(v->vm, VM_STOP_RESET, NICVM_EXIT_OK);
        break;
    default:
        vcpu_report(v, "guest system event (crash)");
        vm_request_stop(v->vm, VM_STOP_VCPU_ERROR, NICVM_EXIT_VCPU);
        break;
    }
    return -1;
}

static int exit_fatal(struct vcpu *v)
{
    vcpu_report(v, "vCPU cannot continue");
    vm_request_stop(v->vm, VM_STOP_VCPU_ERROR, NICVM_EXIT_VCPU);
    return -1;
}

static const vcpu_exit_fn vcpu_exit_table[STATS_EXIT_REASONS] = {
    [KVM_EXIT_IO] = exit_io,
    [KVM_EXIT_MMIO] = exit_mmio,
    [KVM_EXIT_HLT] = exit_continue,
    [KVM_EXIT_INTR] = exit_continue,
    [KVM_EXIT_IRQ_WINDOW_OPEN] = exit_continue,
    [KVM_EXIT_SHUTDOWN] = exit_shutdown,
    [KVM_EXIT_SYSTEM_EVENT] = exit_system_event,
    [KVM_EXIT_FAIL_ENTRY] = exit_fatal,
    [KVM_EXIT_INTERNAL_ERROR] = exit_fatal,
    /* Every other reason (UNKNOWN, EXCEPTION, DEBUG, ...) is unexpected: exit_fatal. */
};

/* After a timed exit: the handler-time histogram and, when traced, the exit's event. */
static void vcpu_account(struct vcpu *v, unsigned reason, uint64_t t0, uint64_t t1)
{
    stats_record_time(&v->stats, t1 - t0);
    if (!trace_on(TRACE_EXITS))
        return;
    bool io = reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO;
    const struct vcpu_access *a = &v->last;
    if (!trace_exit_wanted(reason, io && a->is_port, io ? a->addr : 0))
        return;
    struct iobus_region_info ri = {.name = "(unclaimed)"};
    if (io && a->region >= 0)
        iobus_region_info(v->vm->bus, a->region, &ri);
    trace_exit(v->track, t0, t1, reason, io ? ri.name : NULL, a->is_port, io ? a->addr : 0,
               io ? a->size : 0, a->is_write, a->data, v->run->s.regs.regs.rip);
}

static void *vcpu_thread(void *opaque)
{
    struct vcpu *v = opaque;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->id);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    bool timed = v->vm->timing;
    if (trace_on(TRACE_EXITS)) {
        trace_thread_track = v->track;
        /* KVM copies the registers into kvm_run on every exit: rip without an ioctl. */
        v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    }

    while (!vm_stopping(v->vm)) {
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                stats_inc(&v->stats.run_interrupted);
                v->run->immediate_exit = 0;
                if (atomic_exchange(&v->dump_requested, false))
                    vcpu_dump_state(v);
                continue;
            }
            log_err("vCPU %u: KVM_RUN failed: %s", v->id, strerror(errno));
            vm_request_stop(v->vm, VM_STOP_HOST_ERROR, NICVM_EXIT_HOST);
            break;
        }
        unsigned reason = v->run->exit_reason;
        vcpu_exit_fn fn = reason < STATS_EXIT_REASONS ? vcpu_exit_table[reason] : NULL;
        stats_inc(&v->stats.exits[reason < STATS_EXIT_REASONS ? reason : KVM_EXIT_UNKNOWN]);
        uint64_t t0 = timed ? trace_now() : 0;
        v->last.region = -1;
        if ((fn ? fn : exit_fatal)(v) < 0)
            break;
        if (timed)
            vcpu_account(v, reason, t0, trace_now());
    }
    return NULL;
}

static int vcpu_setup_state(struct vm *vm, struct vcpu *v)
{
    struct x86cpu_config cc = {
        .id = v->id,
        .ncpus = vm->machine.ncpus,
        .intel_vendor = vm->pvm_quirks,
        .pvm_mask = vm->pvm_quirks,
    };
    int rc = x86cpu_set_cpuid(v->fd, vm->supported_cpuid, &cc);
    if (!rc)
        rc = x86cpu_set_msrs(v->fd);
    if (!rc)
        rc = x86cpu_set_fpu(v->fd);
    if (!rc)
        rc = x86cpu_set_lapic(v->fd);
    if (!rc && v->id == 0)
        rc = x86cpu_set_long_mode(v->fd, vm->kernel.entry, BOOT_ZEROPAGE_ADDR);
    return rc;
}

int vcpu_create(struct vm *vm, unsigned id, struct vcpu **out, char *err, size_t errlen)
{
    struct vcpu *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_CREATE_VCPU %u failed: %s", id, strerror(e));
        free(v);
        return -e;
    }
    v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "mmap of vCPU %u's kvm_run failed: %s", id, strerror(e));
        close(v->fd);
        free(v);
        return -e;
    }
    kvmstats_open(&v->kvm, v->fd); /* optional: older kernels lack it */
    if (trace_mask) {
        char name[32];
        snprintf(name, sizeof(name), "vCPU %u", id);
        v->track = trace_track(name);
    }
    int rc = vcpu_setup_state(vm, v);
    if (rc) {
        snprintf(err, errlen, "setting up vCPU %u's registers failed: %s", id, strerror(-rc));
        vcpu_destroy(v);
        return rc;
    }
    *out = v;
    return 0;
}

int vcpu_start(struct vcpu *v)
{
    int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
    if (rc)
        return -rc;
    v->started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->started)
        return;
    /* immediate_exit covers a kick that lands before the thread enters KVM_RUN; the signal
     * covers one already inside (api.rst, "immediate_exit"). */
    *(volatile uint8_t *)&v->run->immediate_exit = 1;
    pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_request_dump(struct vcpu *v)
{
    atomic_store(&v->dump_requested, true);
    vcpu_kick(v);
}

void vcpu_join(struct vcpu *v)
{
    if (v->started)
        pthread_join(v->thread, NULL);
    v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
    if (!v)
        return;
    if (v->run && v->run != MAP_FAILED)
        munmap(v->run, (size_t)v->vm->run_size);
    kvmstats_close(&v->kvm);
    if (v->fd >= 0)
        close(v->fd);
    free(v);
}
