/* KVM at the VM level: opening /dev/kvm with capability checks, the VM itself with its
 * in-kernel irqchip and PIT, guest RAM, and the interrupt lines devices are given. */
#ifndef NICVM_KVM_H
#define NICVM_KVM_H

#include "vmm/vm.h"

#include <stdbool.h>
#include <stddef.h>

/* kvm_host_is_pvm: true when the host's KVM is PVM (/sys/module/kvm_pvm and /dev/kvm exist),
 * whose instruction emulator runs the guest kernel (see the project notes). */
bool kvm_host_is_pvm(void);

/* kvm_init: opens /dev/kvm, checks the API version and the capabilities nicvm needs, creates
 * the VM with TSS and identity-map pages, the in-kernel PIC/IOAPIC/LAPIC and PIT, and reads
 * the supported CPUID. Returns 0 or -errno with a message saying what to check in err. */
int kvm_init(struct vm *vm, char *err, size_t errlen);

/* kvm_setup_memory: one anonymous mapping for all guest RAM, registered as one or two
 * memory slots around the PCI hole, and the guestmem regions over it. Returns 0/-errno. */
int kvm_setup_memory(struct vm *vm, char *err, size_t errlen);

/* kvm_setup_irq_lines: fills vm->irq[] so that set() uses KVM_IRQ_LINE and pulse() an irqfd
 * bound to the same GSI. Returns 0 or -errno. */
int kvm_setup_irq_lines(struct vm *vm, char *err, size_t errlen);

/* kvm_ioeventfd: binds eventfd `fd` to guest writes of `len` bytes at MMIO `addr` (with
 * datamatch when match is true). assign false removes it. Returns 0 or -errno. */
int kvm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool match, uint64_t value, int fd,
                  bool assign);

/* kvm_cleanup: closes the VM and /dev/kvm and unmaps RAM. */
void kvm_cleanup(struct vm *vm);

#endif
