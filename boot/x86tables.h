/* The CPU tables a 64-bit kernel needs at its entry point: a GDT with the boot protocol's
 * __BOOT_CS/__BOOT_DS selectors and identity page tables for the first 4 GiB. */
#ifndef NICVM_BOOT_X86TABLES_H
#define NICVM_BOOT_X86TABLES_H

#include "vmm/guestmem.h"

#include <stdint.h>

#define BOOT_GDT_ENTRIES 5

/* boot_gdt_entry: the 64-bit descriptor at index i (0..BOOT_GDT_ENTRIES-1). */
uint64_t boot_gdt_entry(unsigned i);

/* boot_write_gdt: writes the GDT at BOOT_GDT_ADDR. Returns 0 or -EFAULT. */
int boot_write_gdt(const struct guestmem *gm);

/* boot_write_pagetables: writes PML4, PDPT and page directories identity-mapping
 * [0, 4 GiB) with 2 MiB pages at BOOT_PML4_ADDR. Returns 0 or -EFAULT. */
int boot_write_pagetables(const struct guestmem *gm);

#endif
