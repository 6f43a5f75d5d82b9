/* The device tree nicvm passes to kernels built with CONFIG_OF (and, on x86-64,
 * OF_EARLY_FLATTREE), through the boot protocol's setup_data (SETUP_DTB). It describes the
 * IOAPIC, as the interrupt parent, and every virtio-mmio device with its window and
 * interrupt, rendered from the machine description with libfdt. x86 Linux still takes the
 * CPUs from the MP table; see mptable.c for how the two share the IOAPIC. */
#ifndef NICVM_BOOT_FDT_H
#define NICVM_BOOT_FDT_H

#include "vmm/machine.h"

#include <stddef.h>

/* boot_fdt_build: writes the flattened tree for m into buf. Returns its size, or -ENOSPC
 * if len is too small, or -EINVAL on a libfdt error. */
long boot_fdt_build(const struct machine *m, void *buf, size_t len);

#endif
