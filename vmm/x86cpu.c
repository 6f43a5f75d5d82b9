/* Initial x86 vCPU state. References: Intel SDM vol. 3 (9.1 power-on state, 9.8 long-mode
 * initialisation), Linux Documentation/x86/boot.rst (64-bit boot protocol), and the CPUID
 * leaf layouts in SDM vol. 2A. */
#include "vmm/x86cpu.h"
#include "boot/layout.h"
#include "boot/x86tables.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC          0x10
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

/* CPUID bits hidden on PVM hosts (the kernel also gets clearcpuid=, as some hosts ignore
 * KVM_SET_CPUID2 masks). Leaf 1 ECX / leaf 7 EBX / leaf 7 ECX. */
#define CPUID1_ECX_PVM_HIDE                                                                        \
    ((1u << 13) | (1u << 17) | (1u << 23) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30))
#define CPUID7_EBX_PVM_HIDE                                                                        \
    ((1u << 0) | (1u << 7) | (1u << 10) | (1u << 18) | (1u << 20) | (1u << 23) | (1u << 24))
#define CPUID7_ECX_PVM_HIDE (1u << 22)
/* KVM paravirt features that work by hypercall (KVM_HC_KICK_CPU, KVM_HC_SEND_IPI,
 * KVM_HC_SCHED_YIELD): a guest told it runs on Intel issues `vmcall`, which a PVM host on AMD
 * never completes (the vCPU sits on the instruction). Leaf 0x40000001 EAX bits 7, 11, 13. */
#define KVM_FEATURES_PVM_HIDE ((1u << 7) | (1u << 11) | (1u << 13))

/* ceil(log2(n)): the APIC-id bits that number n CPUs. */
static unsigned id_bits(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

/* Topology: one package of `ncpus` cores with one thread each, APIC ids 0..ncpus-1. The
 * host's own topology leaves describe the host (dozens of cores, SMT) and would contradict
 * the MP table, so they are rewritten (SDM vol. 3, 9.9.1; AMD APM vol. 3, E.4). */
static void cpuid_topology(struct kvm_cpuid_entry2 *e, const struct x86cpu_config *cfg)
{
    unsigned bits = id_bits(cfg->ncpus);
    switch (e->function) {
    case 1:
        e->ebx = (e->ebx & 0x0000ffffu) | (cfg->id << 24) | ((1u << bits) << 16);
        if (cfg->ncpus > 1)
            e->edx |= 1u << 28; /* HTT: EBX[23:16] is valid */
        else
            e->edx &= ~(1u << 28);
        break;
    case 4: /* cores per package - 1 in EAX[31:26]; one thread per cache per core */
        if (e->eax & 0x1f)
            e->eax = (e->eax & 0x00003fffu) | ((cfg->ncpus - 1) << 26);
        break;
    case 0x80000008: /* AMD: NC = cores - 1, ApicIdCoreIdSize */
        e->ecx = (e->ecx & ~0xf0ffu) | (bits << 12) | (cfg->ncpus - 1);
        break;
    case 0x8000001e: /* AMD: extended APIC id, core id, one thread per core, node 0 */
        e->eax = cfg->id;
        e->ebx = cfg->id & 0xff;
        e->ecx = 0;
        break;
    default: break;
    }
}

static void cpuid_patch(struct kvm_cpuid_entry2 *e, const struct x86cpu_config *cfg)
{
    cpuid_topology(e, cfg);
    switch (e->function) {
    case 0:
        if (cfg->intel_vendor) {
            /* "GenuineIntel": the guest then skips AMD-only paths (fnclex for the FXSAVE
             * leak) that the PVM emulator cannot run. */
            e->ebx = 0x756e6547;
            e->edx = 0x49656e69;
            e->ecx = 0x6c65746e;
        }
        break;
    case 1:
        e->ecx |= 1u << 31; /* hypervisor present */
        if (cfg->pvm_mask)
            e->ecx &= ~CPUID1_ECX_PVM_HIDE;
        break;
    case 7:
        if (cfg->pvm_mask && e->index == 0) {
            e->ebx &= ~CPUID7_EBX_PVM_HIDE;
            e->ecx &= ~CPUID7_ECX_PVM_HIDE;
        }
        break;
    case 0xd:
        if (cfg->pvm_mask)
            e->eax = e->ebx = e->ecx = e->edx = 0; /* no XSAVE state */
        break;
    case 0x40000001: /* KVM_CPUID_FEATURES */
        if (cfg->pvm_mask)
            e->eax &= ~KVM_FEATURES_PVM_HIDE;
        break;
    default: break;
    }
}

/* Leaf 0xB (extended topology), written out whole: KVM may list only sub-leaf 0, and a
 * missing sub-leaf 1 would make each CPU its own package. */
static unsigned cpuid_add_leaf_b(struct kvm_cpuid_entry2 *e, const struct x86cpu_config *cfg)
{
    unsigned bits = id_bits(cfg->ncpus);
    const uint32_t sig = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    e[0] = (struct kvm_cpuid_entry2){.function = 0xb,
                                     .index = 0,
                                     .flags = sig,
                                     .eax = 0,
                                     .ebx = 1,
                                     .ecx = (1u << 8) | 0,
                                     .edx = cfg->id};
    e[1] = (struct kvm_cpuid_entry2){.function = 0xb,
                                     .index = 1,
                                     .flags = sig,
                                     .eax = bits,
                                     .ebx = cfg->ncpus,
                                     .ecx = (2u << 8) | 1,
                                     .edx = cfg->id};
    e[2] = (struct kvm_cpuid_entry2){
        .function = 0xb, .index = 2, .flags = sig, .eax = 0, .ebx = 0, .ecx = 2, .edx = cfg->id};
    return 3;
}

int x86cpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported,
                     const struct x86cpu_config *cfg)
{
    unsigned max = supported->nent + 3;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + max * sizeof(c->entries[0]));
    if (!c)
        return -ENOMEM;
    uint32_t max_basic = 0;
    for (unsigned i = 0; i < supported->nent; i++) {
        struct kvm_cpuid_entry2 e = supported->entries[i];
        if (e.function == 0)
            max_basic = e.eax;
        /* 0xB is rebuilt below; 0x1F (V2 topology) is dropped so that the guest falls back
         * to 0xB rather than read the host's dies and cores. */
        if (e.function == 0xb || e.function == 0x1f)
            continue;
        cpuid_patch(&e, cfg);
        c->entries[c->nent++] = e;
    }
    if (max_basic >= 0xb)
        c->nent += cpuid_add_leaf_b(&c->entries[c->nent], cfg);
    int rc = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
    free(c);
    return rc;
}

int x86cpu_set_msrs(int vcpu_fd)
{
    static const struct {
        uint32_t index;
        uint64_t value;
    } boot_msrs[] = {
        {MSR_IA32_SYSENTER_CS, 0},
        {MSR_IA32_SYSENTER_ESP, 0},
        {MSR_IA32_SYSENTER_EIP, 0},
        {MSR_STAR, 0},
        {MSR_LSTAR, 0},
        {MSR_CSTAR, 0},
        {MSR_KERNEL_GS_BASE, 0},
        {MSR_SYSCALL_MASK, 0},
        {MSR_IA32_TSC, 0},
        {MSR_IA32_MISC_ENABLE, 1},           /* fast-string enable */
        {MSR_MTRR_DEF_TYPE, (1u << 11) | 6}, /* MTRRs on, default type write-back */
    };
    enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[N];
    } msrs;
    memset(&msrs, 0, sizeof(msrs));
    msrs.hdr.nmsrs = N;
    for (unsigned i = 0; i < N; i++) {
        msrs.e[i].index = boot_msrs[i].index;
        msrs.e[i].data = boot_msrs[i].value;
    }
    int n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
    if (n < 0)
        return -errno;
    /* KVM stops at the first MSR it refuses; the rest keep their reset values, which the
     * kernel overwrites anyway. Only a total failure is an error. */
    return n == 0 ? -EINVAL : 0;
}

int x86cpu_set_fpu(int vcpu_fd)
{
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    return ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

int x86cpu_set_lapic(int vcpu_fd)
{
    enum { APIC_LVT_LINT0 = 0x350, APIC_LVT_LINT1 = 0x360, MODE_NMI = 4, MODE_EXTINT = 7 };
    struct kvm_lapic_state lapic;
    if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
        return -errno;
    uint32_t lint0, lint1;
    memcpy(&lint0, &lapic.regs[APIC_LVT_LINT0], 4);
    memcpy(&lint1, &lapic.regs[APIC_LVT_LINT1], 4);
    lint0 = (lint0 & ~0x700u) | (MODE_EXTINT << 8);
    lint1 = (lint1 & ~0x700u) | (MODE_NMI << 8);
    memcpy(&lapic.regs[APIC_LVT_LINT0], &lint0, 4);
    memcpy(&lapic.regs[APIC_LVT_LINT1], &lint1, 4);
    return ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

/* A KVM segment from a GDT descriptor (SDM vol. 3, figure 3-8). */
static struct kvm_segment segment_from_gdt(uint64_t d, uint16_t selector)
{
    uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
    bool g = (d >> 55) & 1;
    return (struct kvm_segment){
        .base = (uint64_t)(((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24)),
        .limit = g ? (limit << 12) | 0xfff : limit,
        .selector = selector,
        .type = (uint8_t)((d >> 40) & 0xf),
        .present = (uint8_t)((d >> 47) & 1),
        .dpl = (uint8_t)((d >> 45) & 3),
        .db = (uint8_t)((d >> 54) & 1),
        .s = (uint8_t)((d >> 44) & 1),
        .l = (uint8_t)((d >> 53) & 1),
        .g = g,
        .avl = (uint8_t)((d >> 52) & 1),
        .unusable = !((d >> 47) & 1),
    };
}

int x86cpu_set_long_mode(int vcpu_fd, uint64_t entry, uint64_t zeropage)
{
    enum {
        CR0_PE = 1u << 0,
        CR0_ET = 1u << 4,
        CR0_PG = 1u << 31,
        CR4_PAE = 1u << 5,
        EFER_LME = 1u << 8,
        EFER_LMA = 1u << 10
    };
    struct kvm_sregs s;
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
        return -errno;
    s.cs = segment_from_gdt(boot_gdt_entry(BOOT_GDT_CODE_SEL / 8), BOOT_GDT_CODE_SEL);
    s.ds = segment_from_gdt(boot_gdt_entry(BOOT_GDT_DATA_SEL / 8), BOOT_GDT_DATA_SEL);
    s.es = s.fs = s.gs = s.ss = s.ds;
    s.tr = segment_from_gdt(boot_gdt_entry(BOOT_GDT_TSS_SEL / 8), BOOT_GDT_TSS_SEL);
    s.gdt.base = BOOT_GDT_ADDR;
    s.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0; /* no IDT: the kernel installs its own before enabling interrupts */
    s.cr0 = CR0_PE | CR0_ET | CR0_PG;
    s.cr3 = BOOT_PML4_ADDR;
    s.cr4 = CR4_PAE;
    s.efer = EFER_LME | EFER_LMA;
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0)
        return -errno;
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rflags = 0x2; /* reserved bit 1; interrupts off */
    r.rip = entry;
    r.rsi = zeropage;
    r.rsp = r.rbp = BOOT_STACK_ADDR;
    return ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0 ? -errno : 0;
}
