/* Unit tests for boot/: bzImage and ELF probing (synthetic, truncated and hostile images),
 * loading into fake guest memory, the zero page and e820 map, the MP table, and the kernel
 * command line. */
#include "boot/cmdline.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "boot/mptable.h"
#include "boot/x86tables.h"
#include "boot/zeropage.h"
#include "vmm/machine.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024u * 1024u)

/* A synthetic bzImage: setup header at 0x1f1 with the given protocol version, 4 setup
 * sectors (setup_sects = 0 means 4), then `payload` bytes of protected-mode code. */
static uint8_t *make_bzimage(uint16_t version, size_t payload, size_t *len)
{
    size_t setup = 5 * 512;
    *len = setup + payload;
    uint8_t *img = calloc(1, *len);
    struct setup_header h;
    memset(&h, 0, sizeof(h));
    h.setup_sects = 0;
    h.boot_flag = 0xAA55;
    h.header = 0x53726448;
    h.version = version;
    h.loadflags = LOADED_HIGH;
    h.initrd_addr_max = 0x7fffffff;
    h.kernel_alignment = 0x200000;
    h.relocatable_kernel = 1;
    h.cmdline_size = 2047;
    h.xloadflags = XLF_KERNEL_64;
    h.pref_address = 0x1000000;
    h.init_size = 8 * MiB;
    memcpy(img + 0x1f1, &h, sizeof(h));
    memset(img + setup, 0x90, payload);
    return img;
}

START_TEST(test_bzimage_probe)
{
    size_t len;
    uint8_t *img = make_bzimage(0x020f, 0x4000, &len);
    struct boot_kernel k;
    char err[256];
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(k.type, BOOT_KERNEL_BZIMAGE);
    ck_assert_uint_eq(k.load_start, 0x1000000);         /* pref_address */
    ck_assert_uint_eq(k.entry, 0x1000000 + 0x200);      /* 64-bit entry */
    ck_assert_uint_eq(k.load_end, 0x1000000 + 8 * MiB); /* init_size > payload */
    ck_assert_uint_eq(k.seg[0].offset, 5 * 512);
    ck_assert_uint_eq(k.cmdline_max, 2047);
    ck_assert_uint_eq(k.initrd_addr_max, 0x7fffffff);
    free(img);
}
END_TEST

START_TEST(test_bzimage_refusals)
{
    size_t len;
    struct boot_kernel k;
    char err[256];
    uint8_t *img = make_bzimage(0x0205, 0x4000, &len); /* too old */
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "2.06"));
    free(img);
    img = make_bzimage(0x020f, 0x4000, &len);
    img[0x1f1 + offsetof(struct setup_header, xloadflags)] = 0; /* 32-bit only */
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "64-bit"));
    free(img);
    img = make_bzimage(0x020f, 0x4000, &len);
    img[0x1f1] = 200; /* setup_sects past the end of the file */
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    /* Truncated to the header alone, and to less than the header. */
    ck_assert_int_eq(
        boot_probe_kernel(img, 0x1f1 + sizeof(struct setup_header), &k, err, sizeof(err)),
        -ENOEXEC);
    ck_assert_int_eq(boot_probe_kernel(img, 0x200, &k, err, sizeof(err)), -ENOEXEC);
    free(img);
    uint8_t junk[4096];
    memset(junk, 0x41, sizeof(junk));
    ck_assert_int_eq(boot_probe_kernel(junk, sizeof(junk), &k, err, sizeof(err)), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "not a Linux bzImage"));
    ck_assert_int_eq(boot_probe_kernel(junk, 0, &k, err, sizeof(err)), -ENOEXEC);
}
END_TEST

/* A synthetic ELF64 executable with `n` PT_LOAD headers taken from segs. */
struct elf_seg {
    uint64_t paddr, vaddr, filesz, memsz;
};

static uint8_t *make_elf(const struct elf_seg *segs, unsigned n, uint64_t entry, size_t *len)
{
    size_t data_off = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr);
    size_t total = data_off;
    for (unsigned i = 0; i < n; i++)
        total += segs[i].filesz;
    uint8_t *img = calloc(1, total);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = entry;
    eh->e_phoff = sizeof(Elf64_Ehdr);
    eh->e_ehsize = sizeof(Elf64_Ehdr);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = (uint16_t)n;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr));
    size_t off = data_off;
    for (unsigned i = 0; i < n; i++) {
        ph[i].p_type = PT_LOAD;
        ph[i].p_offset = off;
        ph[i].p_paddr = segs[i].paddr;
        ph[i].p_vaddr = segs[i].vaddr;
        ph[i].p_filesz = segs[i].filesz;
        ph[i].p_memsz = segs[i].memsz;
        memset(img + off, 0xA0 + (int)i, segs[i].filesz);
        off += segs[i].filesz;
    }
    *len = total;
    return img;
}

static uint8_t *fake_ram;
static struct guestmem fake_gm;

static void ram_setup(void)
{
    fake_ram = calloc(1, 64 * MiB);
    memset(&fake_gm, 0, sizeof(fake_gm));
    gmem_add_region(&fake_gm, 0, 64 * MiB, fake_ram);
}

static void ram_teardown(void)
{
    free(fake_ram);
}

START_TEST(test_elf_load)
{
    /* Like vmlinux: virtual addresses high, physical at 16 MiB, entry given virtually. */
    struct elf_seg segs[2] = {
        {0x1000000, 0xffffffff81000000ull, 0x3000, 0x3000},
        {0x1004000, 0xffffffff81004000ull, 0x1000, 0x5000}, /* 16 KiB of bss */
    };
    size_t len;
    uint8_t *img = make_elf(segs, 2, 0xffffffff81000040ull, &len);
    struct boot_kernel k;
    char err[256];
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(k.type, BOOT_KERNEL_ELF);
    ck_assert_uint_eq(k.entry, 0x1000040);
    ck_assert_uint_eq(k.load_start, 0x1000000);
    ck_assert_uint_eq(k.load_end, 0x1009000);
    ck_assert_uint_eq(k.hdr.header, 0x53726448);
    memset(fake_ram + 0x1004000, 0x55, 0x5000); /* stale bytes must become bss zeros */
    ck_assert_int_eq(boot_load_kernel(img, len, &k, &fake_gm, err, sizeof(err)), 0);
    ck_assert_int_eq(fake_ram[0x1000000], 0xA0);
    ck_assert_int_eq(fake_ram[0x1002fff], 0xA0);
    ck_assert_int_eq(fake_ram[0x1004fff], 0xA1);
    ck_assert_int_eq(fake_ram[0x1005000], 0);
    ck_assert_int_eq(fake_ram[0x1008fff], 0);
    free(img);
}
END_TEST

START_TEST(test_elf_hostile)
{
    struct boot_kernel k;
    char err[256];
    size_t len;
    struct elf_seg ok = {0x100000, 0x100000, 0x100, 0x100};
    uint8_t *img;

    /* Segment extends past the end of the file. */
    img = make_elf(&ok, 1, 0x100000, &len);
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))->p_filesz = 0x10000;
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))->p_memsz = 0x10000;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    /* Offset that wraps when the size is added. */
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))->p_offset = UINT64_MAX - 0x10;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    free(img);

    /* filesz larger than memsz. */
    struct elf_seg bad = {0x100000, 0x100000, 0x100, 0x10};
    img = make_elf(&bad, 1, 0x100000, &len);
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    free(img);

    /* Physical address range that wraps around. */
    struct elf_seg wrap = {UINT64_MAX - 0x10, UINT64_MAX - 0x10, 0x10, 0x100};
    img = make_elf(&wrap, 1, UINT64_MAX - 0x10, &len);
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -EINVAL);
    free(img);

    /* Segment over nicvm's boot structures below 1 MiB. */
    struct elf_seg low = {0x7000, 0x7000, 0x100, 0x100};
    img = make_elf(&low, 1, 0x7000, &len);
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "1 MiB"));
    free(img);

    /* Entry point outside every segment. */
    img = make_elf(&ok, 1, 0x900000, &len);
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -EINVAL);
    free(img);

    /* Program headers out of bounds, too many of them, wrong entry size. */
    img = make_elf(&ok, 1, 0x100000, &len);
    ((Elf64_Ehdr *)img)->e_phoff = len - 8;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ((Elf64_Ehdr *)img)->e_phoff = sizeof(Elf64_Ehdr);
    ((Elf64_Ehdr *)img)->e_phnum = 65535;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ((Elf64_Ehdr *)img)->e_phnum = 1;
    ((Elf64_Ehdr *)img)->e_phentsize = 12;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ((Elf64_Ehdr *)img)->e_phentsize = sizeof(Elf64_Phdr);
    /* 32-bit class and another machine. */
    img[EI_CLASS] = ELFCLASS32;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    img[EI_CLASS] = ELFCLASS64;
    ((Elf64_Ehdr *)img)->e_machine = EM_AARCH64;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    ((Elf64_Ehdr *)img)->e_machine = EM_X86_64;
    ((Elf64_Ehdr *)img)->e_type = ET_DYN;
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), -ENOEXEC);
    /* Every truncation of a valid file is refused or accepted, never read out of bounds
     * (run under ASan in the sanitizer build). */
    ((Elf64_Ehdr *)img)->e_type = ET_EXEC;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, img, cut);
        ck_assert_int_ne(boot_probe_kernel(t, cut, &k, err, sizeof(err)), 0);
        free(t);
    }
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), 0);
    free(img);
}
END_TEST

START_TEST(test_elf_too_big_for_ram)
{
    struct elf_seg big = {60 * MiB, 60 * MiB, 0x1000, 8 * MiB};
    size_t len;
    uint8_t *img = make_elf(&big, 1, 60 * MiB, &len);
    struct boot_kernel k;
    char err[256];
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(boot_load_kernel(img, len, &k, &fake_gm, err, sizeof(err)), -ENOMEM);
    ck_assert_ptr_nonnull(strstr(err, "raise -m"));
    free(img);
}
END_TEST

START_TEST(test_zeropage_and_e820)
{
    size_t len;
    uint8_t *img = make_bzimage(0x020f, 0x4000, &len);
    struct boot_kernel k;
    char err[256];
    ck_assert_int_eq(boot_probe_kernel(img, len, &k, err, sizeof(err)), 0);
    struct machine m;
    ck_assert_int_eq(machine_init(&m, 4096ull * MiB, 2), 0); /* 4 GiB: split at 3 GiB */
    ck_assert_uint_eq(m.low_ram_size, 3072ull * MiB);
    ck_assert_uint_eq(m.high_ram_size, 1024ull * MiB);
    struct boot_placement pl = {BOOT_CMDLINE_ADDR, 0x7f000000, 0x123456, 0};
    static struct boot_params bp;
    boot_build_zeropage(&m, &k, &pl, &bp);
    ck_assert_uint_eq(bp.hdr.header, 0x53726448);
    ck_assert_uint_eq(bp.hdr.version, 0x020f);
    ck_assert_uint_eq(bp.hdr.type_of_loader, 0xff);
    ck_assert_uint_eq(bp.hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
    ck_assert_uint_eq(bp.hdr.ramdisk_image, 0x7f000000);
    ck_assert_uint_eq(bp.hdr.ramdisk_size, 0x123456);
    ck_assert(bp.hdr.loadflags & LOADED_HIGH);
    ck_assert_uint_eq(bp.e820_entries, 5);
    /* base memory, MP table, RAM to 3 GiB, KVM pages, RAM above 4 GiB */
    ck_assert_uint_eq(bp.e820_table[0].addr, 0);
    ck_assert_uint_eq(bp.e820_table[0].size, BOOT_LOW_RAM_END);
    ck_assert_uint_eq(bp.e820_table[0].type, 1);
    ck_assert_uint_eq(bp.e820_table[1].addr, BOOT_MPTABLE_ADDR);
    ck_assert_uint_eq(bp.e820_table[1].type, 2);
    ck_assert_uint_eq(bp.e820_table[2].addr, 0x100000);
    ck_assert_uint_eq(bp.e820_table[2].size, 3072ull * MiB - 0x100000);
    ck_assert_uint_eq(bp.e820_table[3].type, 2);
    ck_assert_uint_eq(bp.e820_table[4].addr, 0x100000000ull);
    ck_assert_uint_eq(bp.e820_table[4].size, 1024ull * MiB);
    /* With 512 MiB there is no high RAM entry. */
    ck_assert_int_eq(machine_init(&m, 512ull * MiB, 1), 0);
    boot_build_zeropage(&m, &k, &pl, &bp);
    ck_assert_uint_eq(bp.e820_entries, 4);
    /* The initrd goes as high as allowed below low RAM's end, above the kernel. */
    uint64_t addr;
    ck_assert_int_eq(boot_place_initrd(&k, 512ull * MiB, 0x200001, &addr), 0);
    ck_assert_uint_eq(addr, (512ull * MiB - 0x200001) & ~0xfffull);
    ck_assert_int_eq(boot_place_initrd(&k, 20ull * MiB, 16 * MiB, &addr), -ENOMEM);
    free(img);
}
END_TEST

START_TEST(test_mptable)
{
    struct machine m;
    ck_assert_int_eq(machine_init(&m, 512ull * MiB, 4), 0);
    struct machine_device *nic = machine_add_pci(&m, "e1000", "nic0", true);
    ck_assert_ptr_nonnull(nic);
    ck_assert_int_eq(nic->pci_slot, 1);
    uint8_t buf[1024];
    memset(buf, 0xee, sizeof(buf));
    long n = mptable_build(&m, buf, sizeof(buf), BOOT_MPTABLE_ADDR);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, mptable_size(&m));
    ck_assert_int_le(n, 1024);
    /* Floating pointer: signature, pointer, length, checksum over 16 bytes. */
    ck_assert_int_eq(memcmp(buf, "_MP_", 4), 0);
    struct mpf_intel mpf;
    memcpy(&mpf, buf, sizeof(mpf));
    ck_assert_uint_eq(mpf.physptr, BOOT_MPTABLE_ADDR + 16);
    ck_assert_uint_eq(mpf.length, 1);
    ck_assert_uint_eq(mpf.specification, 4);
    ck_assert_uint_eq(mptable_checksum(buf, 16), 0);
    /* Configuration table: checksum over its length. */
    struct mpc_table t;
    memcpy(&t, buf + 16, sizeof(t));
    ck_assert_int_eq(memcmp(t.signature, "PCMP", 4), 0);
    ck_assert_uint_eq(t.length, (size_t)n - 16);
    ck_assert_uint_eq(mptable_checksum(buf + 16, t.length), 0);
    ck_assert_uint_eq(t.lapic, MACHINE_LAPIC_ADDR);
    /* Four processors, the first one the BSP, APIC ids 0..3. */
    const uint8_t *p = buf + 16 + sizeof(t);
    for (unsigned c = 0; c < 4; c++, p += sizeof(struct mpc_cpu)) {
        struct mpc_cpu cpu;
        memcpy(&cpu, p, sizeof(cpu));
        ck_assert_uint_eq(cpu.type, MP_PROCESSOR);
        ck_assert_uint_eq(cpu.apicid, c);
        ck_assert_uint_eq(cpu.cpuflag, c == 0 ? 3 : 1);
    }
    /* Buses and the IOAPIC, whose id follows the CPUs'. */
    ck_assert_int_eq(memcmp(p + 2, "PCI   ", 6), 0);
    ck_assert_int_eq(memcmp(p + 8 + 2, "ISA   ", 6), 0);
    p += 16;
    struct mpc_ioapic io;
    memcpy(&io, p, sizeof(io));
    ck_assert_uint_eq(io.type, MP_IOAPIC);
    ck_assert_uint_eq(io.apicid, 4);
    ck_assert_uint_eq(io.apicaddr, MACHINE_IOAPIC_ADDR);
    p += sizeof(io);
    /* Interrupts: 23 ISA pins, the NIC's pin from PCI slot 1 INTA# level/low, LINT0, LINT1. */
    unsigned isa = 0, pci = 0, lint = 0;
    const uint8_t *end = buf + n;
    for (; p < end; p += sizeof(struct mpc_intsrc)) {
        struct mpc_intsrc e;
        memcpy(&e, p, sizeof(e));
        if (e.type == MP_INTSRC && e.srcbus == MP_BUS_ISA) {
            ck_assert_uint_eq(e.srcbusirq, e.dstirq);
            ck_assert_int_ne(e.dstirq, nic->irq);
            isa++;
        } else if (e.type == MP_INTSRC && e.srcbus == MP_BUS_PCI) {
            ck_assert_uint_eq(e.srcbusirq, 1 << 2);
            ck_assert_uint_eq(e.dstirq, nic->irq);
            ck_assert_uint_eq(e.irqflag, MP_IRQFLAG_LEVEL_LOW);
            pci++;
        } else {
            ck_assert_uint_eq(e.type, MP_LINTSRC);
            ck_assert_uint_eq(e.dstirq, lint);
            ck_assert_uint_eq(e.irqtype, lint == 0 ? MP_EXTINT : MP_NMI);
            lint++;
        }
    }
    ck_assert_uint_eq(isa, 23);
    ck_assert_uint_eq(pci, 1);
    ck_assert_uint_eq(lint, 2);
    ck_assert_int_eq(mptable_build(&m, buf, 100, BOOT_MPTABLE_ADDR), -ENOSPC);
}
END_TEST

START_TEST(test_cmdline)
{
    struct machine m;
    machine_init(&m, 512ull * MiB, 1);
    machine_add_virtio_mmio(&m, "virtio-net", "net0");
    machine_add_virtio_mmio(&m, "virtio-net", "net1");
    char out[1024], err[256];
    int n = boot_build_cmdline(&m, "root=/dev/ram0 quiet", false, 2047, out, sizeof(out), err,
                               sizeof(err));
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(out, "console=ttyS0 root=/dev/ram0 quiet "
                          "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    /* A console named by the user is kept as is; PVM parameters go last. */
    n = boot_build_cmdline(&m, "console=hvc0", true, 2047, out, sizeof(out), err, sizeof(err));
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_null(strstr(out, "ttyS0"));
    ck_assert_ptr_nonnull(strstr(out, BOOT_PVM_QUIRKS));
    ck_assert_int_eq(strncmp(out, "console=hvc0 ", 13), 0);
    /* Too long for the kernel's limit, or for the buffer. */
    ck_assert_int_eq(boot_build_cmdline(&m, "x", false, 20, out, sizeof(out), err, sizeof(err)),
                     -E2BIG);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    ck_assert_int_eq(boot_build_cmdline(&m, "x", false, 2047, out, 30, err, sizeof(err)), -E2BIG);
}
END_TEST

START_TEST(test_pagetables_gdt)
{
    ck_assert_int_eq(boot_write_pagetables(&fake_gm), 0);
    ck_assert_int_eq(boot_write_gdt(&fake_gm), 0);
    uint64_t pml4, pdpt3, pd;
    memcpy(&pml4, fake_ram + BOOT_PML4_ADDR, 8);
    ck_assert_uint_eq(pml4, BOOT_PDPT_ADDR | 3);
    memcpy(&pdpt3, fake_ram + BOOT_PDPT_ADDR + 3 * 8, 8);
    ck_assert_uint_eq(pdpt3, (BOOT_PD_ADDR + 3 * 4096) | 3);
    /* The last 2 MiB page below 4 GiB maps itself. */
    memcpy(&pd, fake_ram + BOOT_PD_ADDR + (2048 - 1) * 8, 8);
    ck_assert_uint_eq(pd, 0xFFE00000ull | 0x83);
    uint64_t cs;
    memcpy(&cs, fake_ram + BOOT_GDT_ADDR + BOOT_GDT_CODE_SEL, 8);
    ck_assert_uint_eq(cs, 0x00af9b000000ffffull);
    ck_assert_uint_eq(boot_gdt_entry(BOOT_GDT_DATA_SEL / 8), 0x00cf93000000ffffull);
}
END_TEST

START_TEST(test_mptable_with_device_tree)
{
    /* With the IOAPIC in the device tree, the table has CPUs, buses, one placeholder I/O
     * interrupt addressed to no IOAPIC, and the LINT entries; no IOAPIC entry. */
    struct machine m;
    ck_assert_int_eq(machine_init(&m, 512ull * MiB, 2), 0);
    m.discovery = MACHINE_DISCOVERY_DTB;
    machine_add_virtio_mmio(&m, "virtio-net", "net0");
    uint8_t buf[1024];
    long n = mptable_build(&m, buf, sizeof(buf), BOOT_MPTABLE_ADDR);
    ck_assert_int_eq(n, (long)mptable_size(&m));
    struct mpc_table t;
    memcpy(&t, buf + 16, sizeof(t));
    ck_assert_uint_eq(mptable_checksum(buf + 16, t.length), 0);
    const uint8_t *p =
        buf + 16 + sizeof(t) + 2 * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus);
    unsigned intsrc = 0, lint = 0;
    for (; p < buf + n; p += 8) {
        ck_assert_uint_ne(p[0], MP_IOAPIC);
        if (p[0] == MP_INTSRC) {
            ck_assert_uint_eq(p[6], 0x7f); /* no IOAPIC has this id */
            intsrc++;
        } else {
            ck_assert_uint_eq(p[0], MP_LINTSRC);
            lint++;
        }
    }
    ck_assert_uint_eq(intsrc, 1);
    ck_assert_uint_eq(lint, 2);
    /* And the command line then names no virtio_mmio.device. */
    char out[512], err[128];
    ck_assert_int_gt(boot_build_cmdline(&m, NULL, false, 2047, out, sizeof(out), err, sizeof(err)),
                     0);
    ck_assert_str_eq(out, "console=ttyS0");
    m.discovery = MACHINE_DISCOVERY_BOTH;
    boot_build_cmdline(&m, NULL, false, 2047, out, sizeof(out), err, sizeof(err));
    ck_assert_str_eq(out, "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5");
}
END_TEST

static Suite *boot_suite(void)
{
    Suite *s = suite_create("boot");
    TCase *tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
    tcase_add_test(tc, test_bzimage_probe);
    tcase_add_test(tc, test_bzimage_refusals);
    tcase_add_test(tc, test_elf_load);
    tcase_add_test(tc, test_elf_hostile);
    tcase_add_test(tc, test_elf_too_big_for_ram);
    tcase_add_test(tc, test_pagetables_gdt);
    suite_add_tcase(s, tc);
    TCase *tz = tcase_create("tables");
    tcase_add_test(tz, test_zeropage_and_e820);
    tcase_add_test(tz, test_mptable);
    tcase_add_test(tz, test_mptable_with_device_tree);
    tcase_add_test(tz, test_cmdline);
    suite_add_tcase(s, tz);
    return s;
}

UNIT_MAIN(boot_suite)
