/* The zero page (struct boot_params) and the e820 memory map, rendered from the machine
 * description (Linux Documentation/x86/boot.rst, "64-bit boot protocol"). */
#ifndef NICVM_BOOT_ZEROPAGE_H
#define NICVM_BOOT_ZEROPAGE_H

#include "boot/loader.h"
#include "vmm/machine.h"

#include <asm/bootparam.h>

/* Where the command line, initrd and setup_data chain are in guest memory. */
struct boot_placement {
    uint64_t cmdline_addr;
    uint64_t initrd_addr; /* 0 when there is no initrd */
    uint64_t initrd_size;
    uint64_t setup_data_addr; /* first setup_data node, 0 if none */
};

/* boot_build_e820: writes the e820 map of `m` into tbl (at most max entries). Returns the
 * number of entries. */
unsigned boot_build_e820(const struct machine *m, struct boot_e820_entry *tbl, unsigned max);

/* boot_build_zeropage: fills *bp (zeroed first) from the kernel's header, the placement and
 * the machine's e820 map. */
void boot_build_zeropage(const struct machine *m, const struct boot_kernel *k,
                         const struct boot_placement *pl, struct boot_params *bp);

#endif
