/* Machine description: allocation of windows, slots and interrupt pins. Nothing here
 * touches KVM, so unit tests build machines freely. */
#include "vmm/machine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Pins handed to devices, in order. 0 (PIT), 1 (keyboard), 2 (cascade), 4 (COM1), 8 (RTC)
 * and 13 (FPU) keep their PC meanings; 3 is left for COM2. */
static const int machine_irq_pool[] = {5,  6,  7,  9,  10, 11, 12, 14, 15,
                                       16, 17, 18, 19, 20, 21, 22, 23};

int machine_init(struct machine *m, uint64_t ram_size, unsigned ncpus)
{
    if (ram_size == 0 || ram_size % 4096 || ncpus == 0 || ncpus > MACHINE_MAX_CPUS)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    m->ram_size = ram_size;
    m->ncpus = ncpus;
    m->low_ram_size = ram_size < MACHINE_PCI_HOLE_START ? ram_size : MACHINE_PCI_HOLE_START;
    m->high_ram_size = ram_size - m->low_ram_size;
    m->pci_slots_used = 1u; /* slot 0: host bridge */
    m->discovery = MACHINE_DISCOVERY_CMDLINE;
    return 0;
}

static struct machine_device *machine_new(struct machine *m, const char *model, const char *id,
                                          enum machine_bus bus)
{
    if (m->nr_devices >= MACHINE_MAX_DEVICES || (id && machine_find(m, id)))
        return NULL;
    struct machine_device *d = &m->dev[m->nr_devices];
    memset(d, 0, sizeof(*d));
    d->model = model;
    d->bus = bus;
    d->irq = -1;
    d->pci_slot = -1;
    if (id)
        snprintf(d->id, sizeof(d->id), "%s", id);
    else if (model[0] && model[strlen(model) - 1] >= '0' && model[strlen(model) - 1] <= '9')
        /* "e1000.0", not "e10000" */
        snprintf(d->id, sizeof(d->id), "%s.%u", model, machine_count_model(m, model));
    else
        snprintf(d->id, sizeof(d->id), "%s%u", model, machine_count_model(m, model));
    return d;
}

static int machine_take_irq(struct machine *m)
{
    for (size_t i = 0; i < sizeof(machine_irq_pool) / sizeof(machine_irq_pool[0]); i++) {
        int irq = machine_irq_pool[i];
        if (!(m->irq_used & (1u << irq))) {
            m->irq_used |= 1u << irq;
            return irq;
        }
    }
    return -1;
}

struct machine_device *machine_add_isa(struct machine *m, const char *model, const char *id,
                                       uint16_t pio_base, uint16_t pio_size, int irq)
{
    if (irq >= MACHINE_IOAPIC_PINS || (irq >= 0 && (m->irq_used & (1u << irq))))
        return NULL;
    for (unsigned i = 0; i < m->nr_devices; i++) {
        const struct machine_device *o = &m->dev[i];
        if (o->pio_size && pio_size && pio_base < o->pio_base + o->pio_size &&
            o->pio_base < pio_base + pio_size)
            return NULL;
    }
    struct machine_device *d = machine_new(m, model, id, MACHINE_BUS_ISA);
    if (!d)
        return NULL;
    d->pio_base = pio_base;
    d->pio_size = pio_size;
    d->irq = irq;
    if (irq >= 0)
        m->irq_used |= 1u << irq;
    m->nr_devices++;
    return d;
}

struct machine_device *machine_add_virtio_mmio(struct machine *m, const char *model, const char *id)
{
    if (m->nr_virtio_mmio >= MACHINE_VIRTIO_MMIO_MAX)
        return NULL;
    struct machine_device *d = machine_new(m, model, id, MACHINE_BUS_VIRTIO_MMIO);
    if (!d)
        return NULL;
    int irq = machine_take_irq(m);
    if (irq < 0)
        return NULL;
    d->mmio_base = MACHINE_VIRTIO_MMIO_BASE + m->nr_virtio_mmio * MACHINE_VIRTIO_MMIO_SIZE;
    d->mmio_size = MACHINE_VIRTIO_MMIO_SIZE;
    d->irq = irq;
    m->nr_virtio_mmio++;
    m->nr_devices++;
    return d;
}

struct machine_device *machine_add_pci(struct machine *m, const char *model, const char *id,
                                       bool irq)
{
    int slot = -1;
    for (int s = 0; s < MACHINE_PCI_MAX_SLOTS; s++) {
        if (!(m->pci_slots_used & (1u << s))) {
            slot = s;
            break;
        }
    }
    if (slot < 0)
        return NULL;
    struct machine_device *d = machine_new(m, model, id, MACHINE_BUS_PCI);
    if (!d)
        return NULL;
    if (irq) {
        d->irq = machine_take_irq(m);
        if (d->irq < 0)
            return NULL;
        d->irq_level = true;
    }
    d->pci_slot = slot;
    m->pci_slots_used |= 1u << slot;
    m->nr_devices++;
    return d;
}

struct machine_device *machine_find(struct machine *m, const char *id)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (strcmp(m->dev[i].id, id) == 0)
            return &m->dev[i];
    return NULL;
}

unsigned machine_count_model(const struct machine *m, const char *model)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->nr_devices; i++)
        n += strcmp(m->dev[i].model, model) == 0;
    return n;
}
