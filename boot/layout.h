/* Where nicvm puts the boot structures in low guest memory (below 1 MiB, which Linux keeps
 * for itself), following the addresses kvmtool and Firecracker use. */
#ifndef NICVM_BOOT_LAYOUT_H
#define NICVM_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR        0x500u  /* 5 entries */
#define BOOT_ZEROPAGE_ADDR   0x7000u /* struct boot_params, 4 KiB */
#define BOOT_STACK_ADDR      0x8ff0u /* initial rsp; the kernel sets its own soon */
#define BOOT_PML4_ADDR       0x9000u
#define BOOT_PDPT_ADDR       0xA000u
#define BOOT_PD_ADDR         0xB000u /* 4 page directories: 0xB000-0xEFFF, 2 MiB pages */
#define BOOT_PD_COUNT        4u      /* identity map of the first 4 GiB */
#define BOOT_CMDLINE_ADDR    0x20000u
#define BOOT_CMDLINE_MAX     0x10000u  /* bytes reserved; the kernel's limit is in the header */
#define BOOT_SETUP_DATA_ADDR 0x30000u  /* setup_data chain (device tree) */
#define BOOT_SETUP_DATA_MAX  0x60000u  /* up to 0x90000 */
#define BOOT_MPTABLE_ADDR    0x9FC00u  /* last KiB of base memory: Linux scans it for "_MP_" */
#define BOOT_LOW_RAM_END     0x9FC00u  /* e820: RAM below the MP table */
#define BOOT_KERNEL_ADDR     0x100000u /* 1 MiB: where a bzImage's protected-mode code goes */

/* GDT selectors the 64-bit boot protocol expects (__BOOT_CS, __BOOT_DS). */
#define BOOT_GDT_CODE_SEL 0x10u
#define BOOT_GDT_DATA_SEL 0x18u
#define BOOT_GDT_TSS_SEL  0x20u

#endif
