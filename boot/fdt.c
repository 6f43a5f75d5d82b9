/* Device tree for x86 guests, built with libfdt's sequential-write API. Bindings: virtio,mmio
 * (Documentation/devicetree/bindings/virtio/mmio.yaml) and the x86 IOAPIC binding
 * (intel,ce4100-ioapic: two interrupt cells, pin and type, where type 3 is rising edge,
 * arch/x86/kernel/devicetree.c of_ioapic_type[]). */
#include "boot/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#define FDT_IOAPIC_PHANDLE  1
#define FDT_IRQ_EDGE_RISING 3

static int fdt_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t reg[2] = {cpu_to_fdt64(base), cpu_to_fdt64(size)};
    return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int fdt_ioapic(void *fdt)
{
    char name[64];
    snprintf(name, sizeof(name), "ioapic@%llx", (unsigned long long)MACHINE_IOAPIC_ADDR);
    int rc = fdt_begin_node(fdt, name);
    if (!rc)
        rc = fdt_property_string(fdt, "compatible", "intel,ce4100-ioapic");
    if (!rc)
        rc = fdt_reg(fdt, MACHINE_IOAPIC_ADDR, 0x1000);
    if (!rc)
        rc = fdt_property(fdt, "interrupt-controller", NULL, 0);
    if (!rc)
        rc = fdt_property_u32(fdt, "#interrupt-cells", 2);
    if (!rc)
        rc = fdt_property_u32(fdt, "#address-cells", 0);
    if (!rc)
        rc = fdt_property_u32(fdt, "phandle", FDT_IOAPIC_PHANDLE);
    return rc ? rc : fdt_end_node(fdt);
}

static int fdt_virtio(void *fdt, const struct machine_device *d)
{
    char name[64];
    snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)d->mmio_base);
    fdt32_t irq[2] = {cpu_to_fdt32((uint32_t)d->irq), cpu_to_fdt32(FDT_IRQ_EDGE_RISING)};
    int rc = fdt_begin_node(fdt, name);
    if (!rc)
        rc = fdt_property_string(fdt, "compatible", "virtio,mmio");
    if (!rc)
        rc = fdt_reg(fdt, d->mmio_base, d->mmio_size);
    if (!rc)
        rc = fdt_property(fdt, "interrupts", irq, sizeof(irq));
    if (!rc)
        rc = fdt_property(fdt, "dma-coherent", NULL, 0);
    return rc ? rc : fdt_end_node(fdt);
}

long boot_fdt_build(const struct machine *m, void *buf, size_t len)
{
    int rc = fdt_create(buf, (int)len);
    if (!rc)
        rc = fdt_finish_reservemap(buf);
    if (!rc)
        rc = fdt_begin_node(buf, "");
    if (!rc)
        rc = fdt_property_string(buf, "compatible", "nicvm,pc");
    if (!rc)
        rc = fdt_property_string(buf, "model", "nicvm");
    if (!rc)
        rc = fdt_property_u32(buf, "#address-cells", 2);
    if (!rc)
        rc = fdt_property_u32(buf, "#size-cells", 2);
    if (!rc)
        rc = fdt_property_u32(buf, "interrupt-parent", FDT_IOAPIC_PHANDLE);
    if (!rc)
        rc = fdt_ioapic(buf);
    for (unsigned i = 0; !rc && i < m->nr_devices; i++)
        if (m->dev[i].bus == MACHINE_BUS_VIRTIO_MMIO)
            rc = fdt_virtio(buf, &m->dev[i]);
    if (!rc)
        rc = fdt_end_node(buf);
    if (!rc)
        rc = fdt_finish(buf);
    if (rc == -FDT_ERR_NOSPACE)
        return -ENOSPC;
    if (rc)
        return -EINVAL;
    return (long)fdt_totalsize(buf);
}
