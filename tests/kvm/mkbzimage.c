/* mkbzimage IN.elf OUT: wraps a tiny guest (one PT_LOAD at 0x100200) in a minimal bzImage
 * (boot protocol 2.15 header, 4 setup sectors, 0x200 bytes before the 64-bit entry) so the
 * kvm tests also boot nicvm's bzImage path. */
#include <asm/bootparam.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mkbzimage IN.elf OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    static uint8_t elf[1 << 20];
    size_t n = in ? fread(elf, 1, sizeof(elf), in) : 0;
    if (in)
        fclose(in);
    Elf64_Ehdr eh;
    if (n < sizeof(eh)) {
        fprintf(stderr, "mkbzimage: cannot read %s\n", argv[1]);
        return 1;
    }
    memcpy(&eh, elf, sizeof(eh));
    const Elf64_Phdr *seg = NULL;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *p = (const Elf64_Phdr *)(elf + eh.e_phoff + i * sizeof(Elf64_Phdr));
        if (p->p_type == PT_LOAD && p->p_paddr == 0x100200) {
            seg = p;
            break;
        }
    }
    if (!seg || seg->p_paddr != 0x100200 || seg->p_offset + seg->p_filesz > n) {
        fprintf(stderr, "mkbzimage: %s has no PT_LOAD at 0x100200\n", argv[1]);
        return 1;
    }
    size_t setup = 5 * 512, pad = 0x200, len = setup + pad + seg->p_filesz;
    uint8_t *img = calloc(1, len);
    struct setup_header h;
    memset(&h, 0, sizeof(h));
    h.setup_sects = 4;
    h.boot_flag = 0xAA55;
    h.header = 0x53726448;
    h.version = 0x020f;
    h.loadflags = LOADED_HIGH;
    h.xloadflags = XLF_KERNEL_64;
    h.kernel_alignment = 0x200000;
    h.cmdline_size = 2047;
    h.initrd_addr_max = 0x7fffffff;
    h.pref_address = 0x100000;
    h.init_size = (uint32_t)(pad + seg->p_memsz + 4095) & ~4095u;
    memcpy(img + 0x1f1, &h, sizeof(h));
    memcpy(img + setup + pad, elf + seg->p_offset, seg->p_filesz);
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(img, 1, len, out) != len || fclose(out) != 0) {
        fprintf(stderr, "mkbzimage: cannot write %s\n", argv[2]);
        return 1;
    }
    free(img);
    return 0;
}
