/* GDT and identity page tables for the 64-bit entry point (Intel SDM vol. 3, 3.4.5 for
 * descriptors, 4.5 for 4-level paging). */
#include "boot/x86tables.h"
#include "boot/layout.h"

#include <errno.h>
#include <string.h>

/* Descriptor from flags (G, D/B, L, AVL in bits 12-15 of `flags`, access byte in 0-7). */
static uint64_t gdt_make(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
           ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
           (uint64_t)(limit & 0x0000ffffu);
}

uint64_t boot_gdt_entry(unsigned i)
{
    switch (i) {
    case BOOT_GDT_CODE_SEL / 8: return gdt_make(0xa09b, 0, 0xfffff); /* 64-bit code, G, L */
    case BOOT_GDT_DATA_SEL / 8: return gdt_make(0xc093, 0, 0xfffff); /* data, G, D/B */
    case BOOT_GDT_TSS_SEL / 8: return gdt_make(0x808b, 0, 0xfffff);  /* busy 64-bit TSS */
    default: return 0;
    }
}

int boot_write_gdt(const struct guestmem *gm)
{
    uint64_t gdt[BOOT_GDT_ENTRIES];
    for (unsigned i = 0; i < BOOT_GDT_ENTRIES; i++)
        gdt[i] = boot_gdt_entry(i);
    return gmem_write(gm, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

int boot_write_pagetables(const struct guestmem *gm)
{
    enum { PRESENT_RW = 0x3, PAGE_2M = 0x80 };
    uint64_t *pml4 = gmem_ptr(gm, BOOT_PML4_ADDR, 4096);
    uint64_t *pdpt = gmem_ptr(gm, BOOT_PDPT_ADDR, 4096);
    uint64_t *pd = gmem_ptr(gm, BOOT_PD_ADDR, 4096 * BOOT_PD_COUNT);
    if (!pml4 || !pdpt || !pd)
        return -EFAULT;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = BOOT_PDPT_ADDR | PRESENT_RW;
    for (unsigned i = 0; i < BOOT_PD_COUNT; i++)
        pdpt[i] = (BOOT_PD_ADDR + 4096u * i) | PRESENT_RW;
    for (uint64_t j = 0; j < 512u * BOOT_PD_COUNT; j++)
        pd[j] = (j << 21) | PRESENT_RW | PAGE_2M;
    return 0;
}
