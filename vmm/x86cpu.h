/* x86 vCPU state at power-on for the 64-bit Linux boot protocol: CPUID, MSRs, FPU, local
 * APIC LINT pins, and long-mode registers on the boot CPU. */
#ifndef NICVM_X86CPU_H
#define NICVM_X86CPU_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_cpuid2;

struct x86cpu_config {
    unsigned id; /* APIC id = vCPU index */
    unsigned ncpus;
    bool intel_vendor; /* report GenuineIntel (PVM quirk) */
    bool pvm_mask;     /* hide features PVM's emulator cannot execute */
};

/* x86cpu_set_cpuid: derives this vCPU's CPUID from KVM_GET_SUPPORTED_CPUID (APIC ids,
 * topology, hypervisor bit, PVM masks) and sets it with KVM_SET_CPUID2. Returns 0/-errno. */
int x86cpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported,
                     const struct x86cpu_config *cfg);

/* x86cpu_set_msrs: the boot MSRs (SYSENTER/SYSCALL zeroed, fast strings, MTRRs enabled with
 * write-back default). Returns 0 or -errno. */
int x86cpu_set_msrs(int vcpu_fd);

/* x86cpu_set_fpu: FCW 0x37f, MXCSR 0x1f80 (the power-on values). Returns 0 or -errno. */
int x86cpu_set_fpu(int vcpu_fd);

/* x86cpu_set_lapic: LINT0 as ExtINT and LINT1 as NMI, as the MP table says. 0 or -errno. */
int x86cpu_set_lapic(int vcpu_fd);

/* x86cpu_set_long_mode: segment registers from nicvm's boot GDT, paging on with the boot
 * identity map, EFER.LME/LMA, and rip = entry, rsi = zero page. Boot CPU only: the other
 * CPUs wait for INIT/SIPI in the in-kernel LAPIC. Returns 0 or -errno. */
int x86cpu_set_long_mode(int vcpu_fd, uint64_t entry, uint64_t zeropage);

#endif
