/* The kernel command line nicvm passes: the user's -append, a serial console if none was
 * named, one virtio_mmio.device= entry per virtio-mmio device, and on PVM hosts the
 * parameters that keep the guest away from instructions the host's emulator lacks. */
#ifndef NICVM_BOOT_CMDLINE_H
#define NICVM_BOOT_CMDLINE_H

#include "vmm/machine.h"

#include <stdbool.h>
#include <stddef.h>

/* Parameters for PVM hosts (../shared/notes/kvm-on-these-machines.md): no XSAVE or PCID, and
 * clearcpuid for SMAP, SMEP, XSAVE, CX16, POPCNT, FSGSBASE, RDPID, INVPCID, PCID, RDRAND,
 * RDSEED, CLFLUSHOPT and CLWB, whose instructions the emulator does not handle. */
#define BOOT_PVM_QUIRKS                                                                            \
    "noxsave nopcid clearcpuid=308,295,154,141,151,288,534,298,145,158,306,311,312"

/* boot_build_cmdline: writes the full command line into out. `user` may be NULL. Returns
 * the length, or -E2BIG (with a message naming the limit in err) if it exceeds max_len
 * (the kernel's limit) or outlen - 1. */
int boot_build_cmdline(const struct machine *m, const char *user, bool pvm_quirks, size_t max_len,
                       char *out, size_t outlen, char *err, size_t errlen);

#endif
