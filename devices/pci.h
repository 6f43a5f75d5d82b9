/* PCI bus 0 behind a host bridge with configuration mechanism #1 (ports 0xCF8/0xCFC, PCI Local
 * Bus Specification 3.0, §3.2.2.3.2), as a firmware-less PC has it.
 *
 * Each device has a 256-byte type-0 configuration space with per-byte write masks (and
 * write-one-to-clear masks for status bits); accesses of any width at any offset go through
 * them. BARs are sized the standard way (write all ones, read back the size mask) and, when
 * the guest moves one or changes the command register's decode bits, the BAR's region is
 * mapped, moved or unmapped in the address-space dispatcher; an overlapping placement is
 * refused (left unmapped) and logged. nicvm assigns BARs and the interrupt line as firmware
 * would, so Linux keeps them; Linux may still move them. Devices never see KVM. */
#ifndef NICVM_PCI_H
#define NICVM_PCI_H

#include "vmm/iobus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_ADDR_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc
#define PCI_MAX_SLOTS        32
#define PCI_NUM_BARS         6

/* Standard header offsets (type 0). */
enum {
    PCI_VENDOR_ID = 0x00,
    PCI_DEVICE_ID = 0x02,
    PCI_COMMAND = 0x04,
    PCI_STATUS = 0x06,
    PCI_REVISION_ID = 0x08,
    PCI_CLASS_PROG = 0x09,
    PCI_CLASS_DEVICE = 0x0a,
    PCI_CACHE_LINE_SIZE = 0x0c,
    PCI_LATENCY_TIMER = 0x0d,
    PCI_HEADER_TYPE = 0x0e,
    PCI_BAR0 = 0x10,
    PCI_SUBSYSTEM_VENDOR_ID = 0x2c,
    PCI_SUBSYSTEM_ID = 0x2e,
    PCI_ROM_ADDRESS = 0x30,
    PCI_CAPABILITY_LIST = 0x34,
    PCI_INTERRUPT_LINE = 0x3c,
    PCI_INTERRUPT_PIN = 0x3d,
};

/* Command register bits. */
enum {
    PCI_COMMAND_IO = 0x1,
    PCI_COMMAND_MEMORY = 0x2,
    PCI_COMMAND_MASTER = 0x4,
    PCI_COMMAND_INTX_DISABLE = 0x400,
};

struct pci_bar {
    uint64_t size; /* power of two; 0 = BAR not implemented */
    bool io;       /* I/O space (else 32-bit memory) */
    iobus_fn fn;   /* the BAR's handler (offsets relative to the BAR) */
    void *opaque;
    const char *name;   /* for statistics ("e1000.0-bar0") */
    int region;         /* iobus region id, -1 before registration */
    uint64_t mapped_at; /* where the region decodes now (valid if mapped) */
    bool mapped;
};

struct pci_bus;

struct pci_device {
    uint8_t cfg[256];
    uint8_t wmask[256];   /* bits the guest may write */
    uint8_t w1cmask[256]; /* bits the guest clears by writing 1 (status) */
    struct pci_bar bar[PCI_NUM_BARS];
    int slot;
    /* cfg_written: optional hook after a guest write of len bytes at off (already
     * applied); e.g. a device reacting to bus mastering being turned off. */
    void (*cfg_written)(struct pci_device *d, unsigned off, unsigned len);
    void *owner;         /* the device model */
    struct pci_bus *bus; /* set by pci_bus_add */
};

struct pci_bus {
    pthread_mutex_t lock;
    struct iobus *iobus;
    uint32_t config_address; /* the latched 0xCF8 value */
    struct pci_device *slot[PCI_MAX_SLOTS];
    struct pci_device host_bridge;
    uint64_t next_mmio, mmio_end; /* firmware-style BAR assignment windows */
    uint32_t next_io, io_end;
};

/* pci_device_init: an empty type-0 header: vendor/device/class/revision, interrupt pin
 * (0 for none, 1 = INTA#), the standard write masks (command, cache line, latency,
 * interrupt line) and the status register's write-1-to-clear bits. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision, uint8_t int_pin);

/* pci_device_set_bar: declares BAR i: size (a power of two, at least 16 for I/O and 128 for
 * memory), space, and the handler for accesses inside it. */
void pci_device_set_bar(struct pci_device *d, int i, uint64_t size, bool io, iobus_fn fn,
                        void *opaque, const char *name);

/* pci_bus_init: bus 0 with the host bridge in slot 0, BARs assigned from
 * [mmio_base, mmio_base + mmio_size) and [io_base, io_base + io_size). Registers the
 * 0xCF8-0xCFF ports on iobus. Returns 0 or -errno. */
int pci_bus_init(struct pci_bus *bus, struct iobus *iobus, uint64_t mmio_base, uint64_t mmio_size,
                 uint32_t io_base, uint32_t io_size);

/* pci_bus_add: puts d in `slot` (1..31), registers its BARs on the iobus (unmapped), assigns
 * them addresses, sets the interrupt line to `gsi` (or 0xff for none) and enables decoding
 * (as firmware would). Returns 0 or -EBUSY / -ENOSPC / -EINVAL. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int slot, int gsi);

/* pci_config_read / pci_config_write: a configuration access to (slot, offset) of len 1, 2
 * or 4 bytes (used by the port handler and by tests). Absent devices read all ones. */
uint32_t pci_config_read(struct pci_bus *bus, int slot, unsigned off, unsigned len);
void pci_config_write(struct pci_bus *bus, int slot, unsigned off, unsigned len, uint32_t val);

/* pci_io: the iobus handler for ports 0xCF8-0xCFF. */
void pci_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* pci_bus_master: true when the device may DMA (command register bit 2). */
bool pci_bus_master(const struct pci_device *d);

/* pci_intx_disabled: true when the guest disabled INTx (command register bit 10). */
bool pci_intx_disabled(const struct pci_device *d);

#endif
