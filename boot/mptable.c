/* MP table builder (MultiProcessor Specification 1.4, chapter 4). Layout: floating pointer,
 * then the configuration table with processor, bus, IOAPIC, I/O interrupt and local
 * interrupt entries, each in the order the specification lists them. */
#include "boot/mptable.h"

#include <errno.h>
#include <string.h>

#define MP_APIC_VERSION   0x14 /* integrated local APIC */
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED    0x1
#define MP_CPU_BSP        0x2

/* Which pins the ISA bus uses: every pin not given to a PCI device. */
static bool pin_is_pci(const struct machine *m, unsigned pin)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->dev[i].bus == MACHINE_BUS_PCI && m->dev[i].irq == (int)pin)
            return true;
    return false;
}

static bool mptable_ioapic_in_dt(const struct machine *m);

static unsigned mptable_nr_entries(const struct machine *m, unsigned *pci_irqs)
{
    unsigned pci = 0;
    for (unsigned i = 0; i < m->nr_devices; i++)
        pci += m->dev[i].bus == MACHINE_BUS_PCI && m->dev[i].irq >= 0;
    *pci_irqs = pci;
    if (mptable_ioapic_in_dt(m))
        return 3; /* the placeholder, LINT0 and LINT1 */
    /* ISA entries for the other pins, one per PCI interrupt, LINT0 and LINT1. */
    return (MACHINE_IOAPIC_PINS - pci) + pci + 2;
}

/* With a device tree, Linux registers the IOAPIC from the tree before it reads this table
 * (x86_dtb_init() runs before get_smp_config()), and a second registration of the same
 * IOAPIC fails. A tree-registered IOAPIC serves only interrupts the tree describes: its irq
 * domain allocates from device-tree specifiers (dt_irqdomain_alloc), so routing ISA IRQs to
 * it from this table makes the allocation of IRQ 0 fail and free IRQ 0's descriptor, and
 * the timer check then dereferences NULL. So in that mode the table lists CPUs, buses, the
 * LINT pins and one I/O interrupt entry addressed to no IOAPIC (an empty list would make
 * Linux construct a default one routed to the IOAPIC): legacy IRQs (timer, COM1) reach the
 * CPU through the 8259 in ExtINT virtual-wire mode, virtio-mmio interrupts through the
 * IOAPIC as the tree says. */
#define MP_NO_IOAPIC 0x7f
static bool mptable_ioapic_in_dt(const struct machine *m)
{
    return m->discovery & MACHINE_DISCOVERY_DTB;
}

size_t mptable_size(const struct machine *m)
{
    unsigned pci;
    unsigned ints = mptable_nr_entries(m, &pci);
    return sizeof(struct mpf_intel) + sizeof(struct mpc_table) + m->ncpus * sizeof(struct mpc_cpu) +
           2 * sizeof(struct mpc_bus) + (mptable_ioapic_in_dt(m) ? 0 : sizeof(struct mpc_ioapic)) +
           ints * sizeof(struct mpc_intsrc);
}

uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

static uint8_t *put(uint8_t *p, const void *entry, size_t len)
{
    memcpy(p, entry, len);
    return p + len;
}

static uint8_t *mptable_interrupts(const struct machine *m, uint8_t *p, uint8_t ioapic_id)
{
    if (mptable_ioapic_in_dt(m)) {
        struct mpc_intsrc e = {MP_INTSRC, MP_INT, 0, MP_BUS_ISA, 15, MP_NO_IOAPIC, 15};
        p = put(p, &e, sizeof(e));
    }
    for (unsigned pin = 0; pin < MACHINE_IOAPIC_PINS && !mptable_ioapic_in_dt(m); pin++) {
        if (pin_is_pci(m, pin))
            continue;
        /* ISA IRQ n on pin n, conforming to the bus (edge, active high). */
        struct mpc_intsrc e = {MP_INTSRC,    MP_INT,    0,           MP_BUS_ISA,
                               (uint8_t)pin, ioapic_id, (uint8_t)pin};
        p = put(p, &e, sizeof(e));
    }
    for (unsigned i = 0; i < m->nr_devices; i++) {
        const struct machine_device *d = &m->dev[i];
        if (d->bus != MACHINE_BUS_PCI || d->irq < 0 || mptable_ioapic_in_dt(m))
            continue;
        /* Source bus IRQ for PCI: device number in bits 2-6, INTA# (0) in bits 0-1. */
        struct mpc_intsrc e = {MP_INTSRC,
                               MP_INT,
                               MP_IRQFLAG_LEVEL_LOW,
                               MP_BUS_PCI,
                               (uint8_t)(d->pci_slot << 2),
                               ioapic_id,
                               (uint8_t)d->irq};
        p = put(p, &e, sizeof(e));
    }
    /* LINT0 is the 8259's ExtINT, LINT1 NMI, on every local APIC (0xff). */
    struct mpc_intsrc lint0 = {MP_LINTSRC, MP_EXTINT, 0, MP_BUS_ISA, 0, 0xff, 0};
    struct mpc_intsrc lint1 = {MP_LINTSRC, MP_NMI, 0, MP_BUS_ISA, 0, 0xff, 1};
    p = put(p, &lint0, sizeof(lint0));
    return put(p, &lint1, sizeof(lint1));
}

long mptable_build(const struct machine *m, uint8_t *buf, size_t buflen, uint32_t base_gpa)
{
    size_t size = mptable_size(m);
    if (buflen < size)
        return -ENOSPC;
    memset(buf, 0, size);
    uint8_t *p = buf + sizeof(struct mpf_intel);
    uint8_t *table = p;
    p += sizeof(struct mpc_table);

    for (unsigned c = 0; c < m->ncpus; c++) {
        struct mpc_cpu cpu = {
            .type = MP_PROCESSOR,
            .apicid = (uint8_t)c,
            .apicver = MP_APIC_VERSION,
            .cpuflag = MP_CPU_ENABLED | (c == 0 ? MP_CPU_BSP : 0),
            .cpufeature = 0x600,  /* family 6 */
            .featureflag = 0x201, /* CPUID.1:EDX FPU | APIC */
        };
        p = put(p, &cpu, sizeof(cpu));
    }
    struct mpc_bus pci = {MP_BUS, MP_BUS_PCI, {'P', 'C', 'I', ' ', ' ', ' '}};
    struct mpc_bus isa = {MP_BUS, MP_BUS_ISA, {'I', 'S', 'A', ' ', ' ', ' '}};
    p = put(p, &pci, sizeof(pci));
    p = put(p, &isa, sizeof(isa));
    uint8_t ioapic_id = (uint8_t)m->ncpus; /* after the local APIC ids */
    if (!mptable_ioapic_in_dt(m)) {
        struct mpc_ioapic ioapic = {MP_IOAPIC, ioapic_id, MP_IOAPIC_VERSION, 1,
                                    (uint32_t)MACHINE_IOAPIC_ADDR};
        p = put(p, &ioapic, sizeof(ioapic));
    }
    p = mptable_interrupts(m, p, ioapic_id);

    struct mpc_table hdr = {
        .signature = {'P', 'C', 'M', 'P'},
        .length = (uint16_t)(p - table),
        .spec = 4,
        .oem = {'N', 'I', 'C', 'V', 'M', ' ', ' ', ' '},
        .productid = {'n', 'i', 'c', 'v', 'm', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
        .lapic = (uint32_t)MACHINE_LAPIC_ADDR,
    };
    memcpy(table, &hdr, sizeof(hdr));
    table[offsetof(struct mpc_table, checksum)] = mptable_checksum(table, hdr.length);

    struct mpf_intel mpf = {
        .signature = {'_', 'M', 'P', '_'},
        .physptr = base_gpa + (uint32_t)sizeof(struct mpf_intel),
        .length = 1,
        .specification = 4,
    };
    memcpy(buf, &mpf, sizeof(mpf));
    buf[offsetof(struct mpf_intel, checksum)] = mptable_checksum(buf, sizeof(mpf));
    return (long)(p - buf);
}
