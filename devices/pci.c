/* PCI bus 0 with configuration mechanism #1 (PCI Local Bus Specification 3.0, §3.2.2.3.2)
 * and BAR sizing and relocation (§6.2.5.1). Configuration writes go through per-byte masks,
 * so a guest can only change what a device declares writable. */
#include "devices/pci.h"
#include "vmm/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PCI_ADDR_ENABLE (1u << 31)
#define PCI_BAR_IO_FLAG 0x1u

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision, uint8_t int_pin)
{
    memset(d, 0, sizeof(*d));
    put16(&d->cfg[PCI_VENDOR_ID], vendor);
    put16(&d->cfg[PCI_DEVICE_ID], device);
    d->cfg[PCI_REVISION_ID] = revision;
    d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    put16(&d->cfg[PCI_CLASS_DEVICE], (uint16_t)(class_code >> 8));
    d->cfg[PCI_INTERRUPT_PIN] = int_pin;
    d->cfg[PCI_INTERRUPT_LINE] = 0xff;
    /* Command: I/O, memory, bus master, parity, SERR, INTx disable. */
    put16(&d->wmask[PCI_COMMAND], 0x0547);
    /* Status: the error bits are write-1-to-clear (§6.2.3). */
    put16(&d->w1cmask[PCI_STATUS], 0xf900);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    for (int i = 0; i < PCI_NUM_BARS; i++)
        d->bar[i].region = -1;
    d->slot = -1;
}

void pci_device_set_bar(struct pci_device *d, int i, uint64_t size, bool io, iobus_fn fn,
                        void *opaque, const char *name)
{
    struct pci_bar *b = &d->bar[i];
    *b = (struct pci_bar){size, io, fn, opaque, name, -1, 0, false};
    /* The address bits below the size read back as zero: that is how sizing works. */
    uint32_t mask = (uint32_t) ~(size - 1) & (io ? ~0x3u : ~0xfu);
    put32(&d->wmask[PCI_BAR0 + 4 * i], mask);
    put32(&d->cfg[PCI_BAR0 + 4 * i], io ? PCI_BAR_IO_FLAG : 0);
}

bool pci_bus_master(const struct pci_device *d)
{
    return d->cfg[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

bool pci_intx_disabled(const struct pci_device *d)
{
    return (d->cfg[PCI_COMMAND + 1] << 8) & PCI_COMMAND_INTX_DISABLE;
}

/* Maps, moves or unmaps BAR i to follow its address and the command register. */
static void pci_update_bar(struct pci_device *d, int i)
{
    struct pci_bar *b = &d->bar[i];
    if (!b->size || b->region < 0)
        return;
    uint32_t raw = get32(&d->cfg[PCI_BAR0 + 4 * i]);
    uint64_t addr = raw & (b->io ? ~0x3u : ~0xfu);
    uint16_t cmd = (uint16_t)(d->cfg[PCI_COMMAND] | d->cfg[PCI_COMMAND + 1] << 8);
    bool decode = cmd & (b->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
    uint64_t limit = b->io ? 0x10000ull : 0x100000000ull;
    /* Address 0 is "unassigned"; a range past the space (the sizing pattern of an I/O BAR)
     * cannot decode. */
    bool valid = decode && addr != 0 && addr + b->size <= limit;
    if (!valid) {
        if (b->mapped)
            iobus_unmap(d->bus->iobus, b->region);
        b->mapped = false;
        return;
    }
    if (b->mapped && b->mapped_at == addr)
        return;
    int rc = iobus_map(d->bus->iobus, b->region, addr);
    b->mapped = rc == 0;
    b->mapped_at = addr;
    if (rc < 0)
        log_warn("pci: %s at 0x%llx overlaps another device: left unmapped", b->name,
                 (unsigned long long)addr);
}

static void pci_update_bars(struct pci_device *d)
{
    for (int i = 0; i < PCI_NUM_BARS; i++)
        pci_update_bar(d, i);
}

static struct pci_device *pci_find(struct pci_bus *bus, int slot)
{
    return slot >= 0 && slot < PCI_MAX_SLOTS ? bus->slot[slot] : NULL;
}

uint32_t pci_config_read(struct pci_bus *bus, int slot, unsigned off, unsigned len)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_device *d = pci_find(bus, slot);
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)(d && off + i < 256 ? d->cfg[off + i] : 0xff) << (8 * i);
    pthread_mutex_unlock(&bus->lock);
    return v;
}

void pci_config_write(struct pci_bus *bus, int slot, unsigned off, unsigned len, uint32_t val)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_device *d = pci_find(bus, slot);
    if (!d || off >= 256 || len > 256 - off) {
        pthread_mutex_unlock(&bus->lock);
        return;
    }
    for (unsigned i = 0; i < len; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        unsigned o = off + i;
        d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (b & d->wmask[o]));
        d->cfg[o] &= (uint8_t) ~(b & d->w1cmask[o]);
    }
    /* BARs move, or stop and start decoding, when they or the command register change. */
    if (off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + len > PCI_COMMAND)
        pci_update_bars(d);
    pthread_mutex_unlock(&bus->lock);
    if (d->cfg_written)
        d->cfg_written(d, off, len);
}

void pci_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct pci_bus *bus = opaque;
    if (offset < 4) {
        /* Only dword accesses reach CONFIG_ADDRESS; narrower ones belong to other
         * legacy ports on real chipsets (0xCF9 reset control), which nicvm lacks. */
        if (offset == 0 && len == 4) {
            if (is_write)
                bus->config_address = (uint32_t)iobus_get_le(data, 4) & 0x80fffffcu;
            else
                iobus_put_le(data, 4, bus->config_address);
        } else if (!is_write) {
            memset(data, 0xff, len);
        }
        return;
    }
    unsigned k = (unsigned)offset - 4;
    uint32_t a = bus->config_address;
    unsigned bus_no = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, fn = (a >> 8) & 0x7;
    unsigned reg = (a & 0xfc) + k;
    /* Bus 0, function 0 only; an access past the dword is cut at its end. */
    unsigned n = len > 4 - k ? 4 - k : len;
    bool present = (a & PCI_ADDR_ENABLE) && bus_no == 0 && fn == 0;
    if (is_write) {
        if (present)
            pci_config_write(bus, (int)slot, reg, n, (uint32_t)iobus_get_le(data, n));
        return;
    }
    uint32_t v = present ? pci_config_read(bus, (int)slot, reg, n) : 0xffffffffu;
    memset(data, 0xff, len);
    iobus_put_le(data, n, v);
}

int pci_bus_init(struct pci_bus *bus, struct iobus *iobus, uint64_t mmio_base, uint64_t mmio_size,
                 uint32_t io_base, uint32_t io_size)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->iobus = iobus;
    bus->next_mmio = mmio_base;
    bus->mmio_end = mmio_base + mmio_size;
    bus->next_io = io_base;
    bus->io_end = io_base + io_size;
    /* The host bridge: Intel 440FX, class 0x060000, as the PC platform Linux expects. */
    pci_device_init(&bus->host_bridge, 0x8086, 0x1237, 0x060000, 0x02, 0);
    bus->host_bridge.slot = 0;
    bus->host_bridge.bus = bus;
    bus->slot[0] = &bus->host_bridge;
    int id = iobus_register(iobus, IOBUS_PIO, PCI_CONFIG_ADDR_PORT, 8, "pci-config", pci_io, bus);
    return id < 0 ? id : 0;
}

/* Firmware-style placement: the next naturally aligned address in the window. */
static int pci_assign(struct pci_bus *bus, struct pci_bar *b, uint64_t *addr)
{
    if (b->io) {
        uint64_t a = (bus->next_io + b->size - 1) & ~(b->size - 1);
        if (a + b->size > bus->io_end)
            return -ENOSPC;
        bus->next_io = (uint32_t)(a + b->size);
        *addr = a;
    } else {
        uint64_t a = (bus->next_mmio + b->size - 1) & ~(b->size - 1);
        if (a + b->size > bus->mmio_end)
            return -ENOSPC;
        bus->next_mmio = a + b->size;
        *addr = a;
    }
    return 0;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int slot, int gsi)
{
    if (slot < 1 || slot >= PCI_MAX_SLOTS)
        return -EINVAL;
    if (bus->slot[slot])
        return -EBUSY;
    uint16_t cmd = 0;
    d->bus = bus;
    d->slot = slot;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &d->bar[i];
        uint64_t addr;
        if (!b->size)
            continue;
        if ((b->size & (b->size - 1)) || b->size < (b->io ? 4u : 16u))
            return -EINVAL;
        b->region = iobus_register_unmapped(bus->iobus, b->io ? IOBUS_PIO : IOBUS_MMIO, b->size,
                                            b->name, b->fn, b->opaque);
        if (b->region < 0)
            return b->region;
        if (pci_assign(bus, b, &addr) < 0)
            return -ENOSPC;
        put32(&d->cfg[PCI_BAR0 + 4 * i], (uint32_t)addr | (b->io ? PCI_BAR_IO_FLAG : 0));
        cmd |= b->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    put16(&d->cfg[PCI_COMMAND], cmd);
    d->cfg[PCI_INTERRUPT_LINE] = gsi >= 0 && gsi < 255 ? (uint8_t)gsi : 0xff;
    pthread_mutex_lock(&bus->lock);
    bus->slot[slot] = d;
    pci_update_bars(d);
    pthread_mutex_unlock(&bus->lock);
    return 0;
}
