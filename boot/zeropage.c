/* Zero page and e820: what a boot loader hands the kernel besides the image itself. */
#include "boot/zeropage.h"
#include "boot/layout.h"

#include <string.h>

static unsigned e820_add(struct boot_e820_entry *tbl, unsigned n, unsigned max, uint64_t addr,
                         uint64_t size, uint32_t type)
{
    if (n < max && size)
        tbl[n++] = (struct boot_e820_entry){.addr = addr, .size = size, .type = type};
    return n;
}

unsigned boot_build_e820(const struct machine *m, struct boot_e820_entry *tbl, unsigned max)
{
    enum { E820_RAM = 1, E820_RESERVED = 2 };
    unsigned n = 0;
    /* Base memory ends where the MP table begins, so Linux finds and keeps the table. */
    n = e820_add(tbl, n, max, 0, BOOT_LOW_RAM_END, E820_RAM);
    n = e820_add(tbl, n, max, BOOT_LOW_RAM_END, 0xA0000 - BOOT_LOW_RAM_END, E820_RESERVED);
    if (m->low_ram_size > BOOT_KERNEL_ADDR)
        n = e820_add(tbl, n, max, BOOT_KERNEL_ADDR, m->low_ram_size - BOOT_KERNEL_ADDR, E820_RAM);
    /* KVM's identity-map and TSS pages: keep PCI resource allocation away, as QEMU does. */
    n = e820_add(tbl, n, max, MACHINE_KVM_IDENT_ADDR, 4 * 4096, E820_RESERVED);
    n = e820_add(tbl, n, max, MACHINE_HIGH_RAM_START, m->high_ram_size, E820_RAM);
    return n;
}

void boot_build_zeropage(const struct machine *m, const struct boot_kernel *k,
                         const struct boot_placement *pl, struct boot_params *bp)
{
    memset(bp, 0, sizeof(*bp));
    bp->hdr = k->hdr;
    struct setup_header *h = &bp->hdr;
    h->type_of_loader = 0xff; /* "undefined" boot loader */
    h->loadflags &= (uint8_t) ~(QUIET_FLAG | KEEP_SEGMENTS);
    h->loadflags |= CAN_USE_HEAP;
    h->heap_end_ptr = 0xfe00;
    h->cmd_line_ptr = (uint32_t)pl->cmdline_addr;
    bp->ext_cmd_line_ptr = (uint32_t)(pl->cmdline_addr >> 32);
    h->ramdisk_image = (uint32_t)pl->initrd_addr;
    bp->ext_ramdisk_image = (uint32_t)(pl->initrd_addr >> 32);
    h->ramdisk_size = (uint32_t)pl->initrd_size;
    bp->ext_ramdisk_size = (uint32_t)(pl->initrd_size >> 32);
    h->setup_data = pl->setup_data_addr;
    bp->e820_entries = (uint8_t)boot_build_e820(m, bp->e820_table,
                                                sizeof(bp->e820_table) / sizeof(bp->e820_table[0]));
}
