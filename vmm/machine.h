/* The machine description: RAM layout, vCPUs, and every device with its MMIO or port window
 * and interrupt. Filled from the command line before anything is created; the boot
 * structures (e820, MP table, device tree, virtio_mmio.device=) are rendered from it and the
 * devices are instantiated from it, so adding a device is one entry here. */
#ifndef NICVM_MACHINE_H
#define NICVM_MACHINE_H

#include "vmm/opts.h"

#include <stdbool.h>
#include <stdint.h>

/* Guest-physical layout (x86 PC conventions, no firmware). */
#define MACHINE_PCI_HOLE_START   0xC0000000ull /* RAM above 3 GiB moves to 4 GiB */
#define MACHINE_HIGH_RAM_START   0x100000000ull
#define MACHINE_PCI_MMIO_START   0xC0000000ull /* window for PCI memory BARs */
#define MACHINE_PCI_MMIO_SIZE    0x10000000ull
#define MACHINE_VIRTIO_MMIO_BASE 0xD0000000ull /* one 4 KiB window per virtio-mmio device */
#define MACHINE_VIRTIO_MMIO_SIZE 0x1000ull
#define MACHINE_VIRTIO_MMIO_MAX  32
#define MACHINE_IOAPIC_ADDR      0xFEC00000ull
#define MACHINE_LAPIC_ADDR       0xFEE00000ull
#define MACHINE_KVM_IDENT_ADDR   0xFEFFC000ull /* KVM's identity map page (VMX real mode) */
#define MACHINE_KVM_TSS_ADDR     0xFEFFD000ull /* three pages for KVM's TSS */
#define MACHINE_PCI_IO_START     0xC000u       /* window for PCI I/O BARs */
#define MACHINE_PCI_IO_SIZE      0x4000u
#define MACHINE_IOAPIC_PINS      24
#define MACHINE_MAX_CPUS         32
#define MACHINE_MAX_DEVICES      32
#define MACHINE_PCI_MAX_SLOTS    32

enum machine_bus { MACHINE_BUS_ISA, MACHINE_BUS_VIRTIO_MMIO, MACHINE_BUS_PCI };

/* How the guest learns about virtio-mmio devices. */
enum machine_discovery {
    MACHINE_DISCOVERY_CMDLINE = 1, /* virtio_mmio.device= on the kernel command line */
    MACHINE_DISCOVERY_DTB = 2,     /* a device tree through setup_data (SETUP_DTB) */
    MACHINE_DISCOVERY_BOTH = 3,
};

struct machine_device {
    char id[32];       /* user-visible name, e.g. "net0" or "virtio-net0" */
    const char *model; /* device model name from the model table */
    enum machine_bus bus;
    uint64_t mmio_base; /* fixed MMIO window (virtio-mmio), 0 if none */
    uint64_t mmio_size;
    uint16_t pio_base; /* fixed port window (ISA), 0 if none */
    uint16_t pio_size;
    int irq;           /* IOAPIC pin / GSI, -1 if none */
    bool irq_level;    /* level-triggered, active low (PCI INTx); else edge, active high */
    int pci_slot;      /* device number on PCI bus 0, -1 unless PCI */
    struct opts *opts; /* the -device options (borrowed from the config), or NULL */
    void *state;       /* the instantiated device, once created */
};

struct machine {
    uint64_t ram_size;
    uint64_t low_ram_size;  /* at guest-physical 0 */
    uint64_t high_ram_size; /* at MACHINE_HIGH_RAM_START */
    unsigned ncpus;
    struct machine_device dev[MACHINE_MAX_DEVICES];
    unsigned nr_devices;
    uint32_t irq_used; /* bitmap of IOAPIC pins */
    unsigned nr_virtio_mmio;
    uint32_t pci_slots_used;
    enum machine_discovery discovery;
};

/* machine_init: an empty machine with ram_size bytes split around the PCI hole, and ncpus
 * vCPUs. Returns 0 or -EINVAL (ram_size not a multiple of 4 KiB, ncpus out of range). */
int machine_init(struct machine *m, uint64_t ram_size, unsigned ncpus);

/* machine_add_isa: a legacy device at fixed ports [pio_base, pio_base+pio_size) with edge
 * interrupt `irq` (-1 for none). Returns the entry, or NULL if the table is full, the IRQ is
 * taken, or the ports overlap another device. */
struct machine_device *machine_add_isa(struct machine *m, const char *model, const char *id,
                                       uint16_t pio_base, uint16_t pio_size, int irq);

/* machine_add_virtio_mmio: a virtio-mmio device in the next free 4 KiB window with the next
 * free edge interrupt. Returns the entry, or NULL when windows or IRQs run out. */
struct machine_device *machine_add_virtio_mmio(struct machine *m, const char *model,
                                               const char *id);

/* machine_add_pci: a device on PCI bus 0 in the next free slot (slot 0 is the host bridge)
 * with a level-triggered INTA# routed to a free IOAPIC pin (irq false: no interrupt). */
struct machine_device *machine_add_pci(struct machine *m, const char *model, const char *id,
                                       bool irq);

/* machine_find: the device with this id, or NULL. */
struct machine_device *machine_find(struct machine *m, const char *id);

/* machine_count_model: how many devices of this model exist (for default ids). */
unsigned machine_count_model(const struct machine *m, const char *model);

#endif
