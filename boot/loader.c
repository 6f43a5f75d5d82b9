/* Kernel loader for the two image formats nicvm boots. Every header field is checked
 * against the buffer before use (lengths overflow-safe); a hostile image gets -ENOEXEC or
 * -EINVAL with a reason, never an out-of-bounds read. */
#include "boot/loader.h"
#include "boot/layout.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BZ_HDR_OFFSET     0x1f1u
#define BZ_MIN_VERSION    0x0206u
#define BZ_ENTRY64_OFFSET 0x200u /* startup_64 is 0x200 after the protected-mode start */
#define ELF_CMDLINE_MAX   2047u  /* x86 COMMAND_LINE_SIZE - 1 */
#define ELF_INITRD_MAX    0x7fffffffu
#define ELF_MAX_PHDRS     64u

/* Returns true if [off, off+size) lies inside a buffer of len bytes, without overflow. */
static bool in_buffer(uint64_t off, uint64_t size, size_t len)
{
    return size <= len && off <= len - size;
}

static int probe_bzimage(const uint8_t *img, size_t len, struct boot_kernel *k, char *err,
                         size_t errlen)
{
    memcpy(&k->hdr, img + BZ_HDR_OFFSET, sizeof(k->hdr));
    struct setup_header *h = &k->hdr;
    if (h->version < BZ_MIN_VERSION) {
        snprintf(err, errlen, "boot protocol %u.%02u is too old: nicvm needs 2.06 or later",
                 h->version >> 8, h->version & 0xff);
        return -ENOEXEC;
    }
    if (!(h->loadflags & LOADED_HIGH)) {
        snprintf(err, errlen, "bzImage is not loaded high (a zImage): not supported");
        return -ENOEXEC;
    }
    if (h->version >= 0x020c && !(h->xloadflags & XLF_KERNEL_64)) {
        snprintf(err, errlen, "bzImage has no 64-bit entry point (a 32-bit kernel?)");
        return -ENOEXEC;
    }
    unsigned setup_sects = h->setup_sects ? h->setup_sects : 4;
    uint64_t setup_size = (uint64_t)(setup_sects + 1) * 512;
    if (setup_size + BZ_ENTRY64_OFFSET >= len) {
        snprintf(err, errlen, "bzImage is truncated: %zu bytes, setup alone is %llu", len,
                 (unsigned long long)setup_size);
        return -ENOEXEC;
    }
    uint64_t load = BOOT_KERNEL_ADDR;
    if (h->version >= 0x020a && h->relocatable_kernel && h->pref_address >= BOOT_KERNEL_ADDR &&
        h->pref_address < (1ull << 32))
        load = h->pref_address;
    uint64_t payload = len - setup_size;
    uint64_t span = payload;
    if (h->version >= 0x020a && h->init_size > span)
        span = h->init_size;
    k->type = BOOT_KERNEL_BZIMAGE;
    k->load_start = load;
    k->load_end = load + span;
    k->entry = load + BZ_ENTRY64_OFFSET;
    k->nr_segments = 1;
    k->seg[0] = (struct boot_segment){load, setup_size, payload, payload};
    k->initrd_addr_max = h->version >= 0x0203 ? h->initrd_addr_max : 0x37ffffff;
    k->cmdline_max = h->cmdline_size ? h->cmdline_size : 255;
    return 0;
}

/* Finds the guest-physical address of an entry point that may be given as a virtual
 * address (ELF kernels put physical addresses in p_paddr, virtual ones in p_vaddr). */
static bool elf_entry_paddr(const Elf64_Phdr *ph, unsigned n, uint64_t entry, uint64_t *out)
{
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (entry >= ph[i].p_paddr && entry - ph[i].p_paddr < ph[i].p_memsz) {
            *out = entry;
            return true;
        }
        if (entry >= ph[i].p_vaddr && entry - ph[i].p_vaddr < ph[i].p_memsz) {
            *out = ph[i].p_paddr + (entry - ph[i].p_vaddr);
            return true;
        }
    }
    return false;
}

static int probe_elf_segment(const Elf64_Phdr *p, size_t len, struct boot_kernel *k, char *err,
                             size_t errlen)
{
    if (p->p_filesz > p->p_memsz || !in_buffer(p->p_offset, p->p_filesz, len)) {
        snprintf(err, errlen, "ELF segment at offset 0x%llx runs past the end of the file",
                 (unsigned long long)p->p_offset);
        return -ENOEXEC;
    }
    if (p->p_paddr + p->p_memsz < p->p_paddr) {
        snprintf(err, errlen, "ELF segment at 0x%llx wraps around the address space",
                 (unsigned long long)p->p_paddr);
        return -EINVAL;
    }
    if (p->p_paddr < BOOT_KERNEL_ADDR) {
        snprintf(err, errlen,
                 "ELF segment at physical 0x%llx overlaps nicvm's boot area below 1 MiB",
                 (unsigned long long)p->p_paddr);
        return -EINVAL;
    }
    if (k->nr_segments >= BOOT_ELF_MAX_SEGMENTS) {
        snprintf(err, errlen, "ELF has more than %d loadable segments", BOOT_ELF_MAX_SEGMENTS);
        return -EINVAL;
    }
    k->seg[k->nr_segments++] =
        (struct boot_segment){p->p_paddr, p->p_offset, p->p_filesz, p->p_memsz};
    if (p->p_paddr < k->load_start)
        k->load_start = p->p_paddr;
    if (p->p_paddr + p->p_memsz > k->load_end)
        k->load_end = p->p_paddr + p->p_memsz;
    return 0;
}

static void elf_synthesise_header(struct boot_kernel *k)
{
    /* A vmlinux carries no setup header; the kernel still reads boot_params.hdr for the
     * command line and initrd, so fill in what a boot loader would (boot protocol §"64-bit
     * boot protocol"). */
    struct setup_header *h = &k->hdr;
    memset(h, 0, sizeof(*h));
    h->boot_flag = 0xAA55;
    h->header = 0x53726448; /* "HdrS" */
    h->version = 0x020f;
    h->loadflags = LOADED_HIGH;
    h->kernel_alignment = 0x1000000;
    h->initrd_addr_max = ELF_INITRD_MAX;
    h->cmdline_size = ELF_CMDLINE_MAX;
    k->initrd_addr_max = ELF_INITRD_MAX;
    k->cmdline_max = ELF_CMDLINE_MAX;
}

static int probe_elf(const uint8_t *img, size_t len, struct boot_kernel *k, char *err,
                     size_t errlen)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh)) {
        snprintf(err, errlen, "ELF file is truncated (%zu bytes)", len);
        return -ENOEXEC;
    }
    memcpy(&eh, img, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64) {
        snprintf(err, errlen, "ELF file is not x86-64 (class %u, machine %u)", eh.e_ident[EI_CLASS],
                 eh.e_machine);
        return -ENOEXEC;
    }
    if (eh.e_type != ET_EXEC) {
        snprintf(err, errlen, "ELF file is not an executable (type %u)", eh.e_type);
        return -ENOEXEC;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS ||
        !in_buffer(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
        snprintf(err, errlen, "ELF program headers are missing or out of bounds");
        return -ENOEXEC;
    }
    Elf64_Phdr ph[ELF_MAX_PHDRS];
    memcpy(ph, img + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));
    k->type = BOOT_KERNEL_ELF;
    k->load_start = UINT64_MAX;
    k->load_end = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        int rc = probe_elf_segment(&ph[i], len, k, err, errlen);
        if (rc)
            return rc;
    }
    if (k->nr_segments == 0) {
        snprintf(err, errlen, "ELF file has no loadable segment");
        return -ENOEXEC;
    }
    if (!elf_entry_paddr(ph, eh.e_phnum, eh.e_entry, &k->entry)) {
        snprintf(err, errlen, "ELF entry point 0x%llx is outside every loadable segment",
                 (unsigned long long)eh.e_entry);
        return -EINVAL;
    }
    elf_synthesise_header(k);
    return 0;
}

int boot_probe_kernel(const uint8_t *img, size_t len, struct boot_kernel *k, char *err,
                      size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (len >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0)
        return probe_elf(img, len, k, err, errlen);
    if (len >= BZ_HDR_OFFSET + sizeof(struct setup_header)) {
        uint32_t magic;
        uint16_t flag;
        memcpy(&magic, img + 0x202, sizeof(magic));
        memcpy(&flag, img + 0x1fe, sizeof(flag));
        if (magic == 0x53726448 && flag == 0xAA55)
            return probe_bzimage(img, len, k, err, errlen);
    }
    snprintf(err, errlen, "not a Linux bzImage or an x86-64 ELF kernel");
    return -ENOEXEC;
}

int boot_load_kernel(const uint8_t *img, size_t len, const struct boot_kernel *k,
                     const struct guestmem *gm, char *err, size_t errlen)
{
    if (!gmem_is_ram(gm, k->load_start, k->load_end - k->load_start)) {
        snprintf(err, errlen,
                 "guest memory too small for the kernel: it needs [0x%llx, 0x%llx) in RAM "
                 "(raise -m)",
                 (unsigned long long)k->load_start, (unsigned long long)k->load_end);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < k->nr_segments; i++) {
        const struct boot_segment *s = &k->seg[i];
        uint8_t *dst = gmem_ptr(gm, s->paddr, s->memsz);
        if (!dst || !in_buffer(s->offset, s->filesz, len))
            return -EINVAL; /* cannot happen after a successful probe */
        memcpy(dst, img + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}

int boot_place_initrd(const struct boot_kernel *k, uint64_t low_ram_size, uint64_t size,
                      uint64_t *addr)
{
    uint64_t top = low_ram_size; /* one past the last usable byte */
    if ((uint64_t)k->initrd_addr_max + 1 < top)
        top = (uint64_t)k->initrd_addr_max + 1;
    if (size > top)
        return -ENOMEM;
    uint64_t a = (top - size) & ~0xfffull;
    if (a < k->load_end)
        return -ENOMEM;
    *addr = a;
    return 0;
}
