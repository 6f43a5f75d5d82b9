/* Kernel image loading: a bzImage (Linux x86 boot protocol 2.06 or later, 64-bit entry) or
 * an uncompressed x86-64 ELF (PT_LOAD segments at their physical addresses). Parsing works
 * on a byte buffer and never trusts a field before checking it against the buffer, so the
 * unit tests feed it synthetic and hostile images. */
#ifndef NICVM_BOOT_LOADER_H
#define NICVM_BOOT_LOADER_H

#include "vmm/guestmem.h"

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_ELF_MAX_SEGMENTS 16

enum boot_kernel_type { BOOT_KERNEL_BZIMAGE, BOOT_KERNEL_ELF };

struct boot_segment {
    uint64_t paddr;
    uint64_t offset; /* in the file */
    uint64_t filesz;
    uint64_t memsz;
};

/* What boot_probe_kernel() learned about an image. */
struct boot_kernel {
    enum boot_kernel_type type;
    uint64_t entry;           /* guest-physical 64-bit entry point */
    uint64_t load_start;      /* lowest guest-physical byte the kernel occupies */
    uint64_t load_end;        /* one past the highest, including bss / init_size */
    struct setup_header hdr;  /* bzImage: from the image; ELF: synthesised */
    uint32_t initrd_addr_max; /* highest address an initrd byte may occupy */
    uint32_t cmdline_max;     /* longest command line in bytes, without the NUL */
    unsigned nr_segments;
    struct boot_segment seg[BOOT_ELF_MAX_SEGMENTS];
};

/* boot_probe_kernel: validates img[0..len) and fills *k. Returns 0, or -ENOEXEC (not a
 * bzImage or x86-64 ELF, with the reason in err) or -EINVAL (a field out of range). */
int boot_probe_kernel(const uint8_t *img, size_t len, struct boot_kernel *k, char *err,
                      size_t errlen);

/* boot_load_kernel: copies the probed image into guest memory (zeroing ELF bss). Returns 0
 * or -ENOMEM when [load_start, load_end) is not wholly inside guest RAM (message in err). */
int boot_load_kernel(const uint8_t *img, size_t len, const struct boot_kernel *k,
                     const struct guestmem *gm, char *err, size_t errlen);

/* boot_place_initrd: the highest page-aligned address at which `size` bytes fit below both
 * the kernel's initrd_addr_max and the end of low RAM, above the kernel. Returns 0 with *addr
 * set, or -ENOMEM. */
int boot_place_initrd(const struct boot_kernel *k, uint64_t low_ram_size, uint64_t size,
                      uint64_t *addr);

#endif
