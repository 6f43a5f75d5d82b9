/* Intel 82540EM gigabit Ethernet controller (vendor 0x8086, device 0x100E) on PCI, after
 * Intel's PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's Manual
 * (8254x). Linux's stock e1000 driver drives it with no special options.
 *
 * BAR0 is the 128 KiB register window, BAR1 the I/O window (IOADDR/IODATA). Registers are
 * table-driven, one handler per register; unknown offsets read 0 and log once; read-only
 * registers ignore writes. The EEPROM (64 words: MAC and a valid checksum) is readable
 * through EERD and bit-banged EECD; the PHY (M88E1000-style) through MDIC. RX runs when the
 * backend has frames and the ring has room; TX runs on the event loop after a TDT write,
 * with a per-kick budget. TSO and checksum insertion become a virtio-net header on the
 * frame handed to the netdev layer, which passes it to tap or, for backends without the
 * header, segments and checksums in software. Interrupt mitigation (ITR, RDTR, RADV, TADV)
 * uses real timers. The interrupt is the device's level-triggered INTx line.
 *
 * Threads: register accesses come from vCPU threads, RX, TX and timers run on the event
 * loop; one lock guards the device. */
#ifndef NICVM_E1000_H
#define NICVM_E1000_H

#include "devices/pci.h"
#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/irq.h"

#include <jansson.h>

#define E1000_VENDOR_ID 0x8086
#define E1000_DEVICE_ID 0x100e
#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE   0x40

struct e1000;

struct e1000_params {
    uint8_t mac[6];
    struct netdev *netdev;
    const struct guestmem *mem;
    struct irq_line *irq; /* level-triggered (PCI INTA#) */
    struct evloop *loop;
    const char *name; /* for messages and statistics */
};

/* Counters for the monitor and traces (besides the guest-visible statistics registers). */
struct e1000_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_drop_filtered;  /* unicast/multicast/broadcast filters said no */
    uint64_t rx_drop_no_desc;   /* ring full (also counted in MPC/RNBC) */
    uint64_t rx_drop_oversize;  /* longer than the buffer without long-packet mode */
    uint64_t rx_drop_disabled;  /* RCTL.EN clear, or the device in reset */
    uint64_t tx_drop_malformed; /* bad descriptors, bad context, over 64 KiB */
    uint64_t tx_drop_backend;
    uint64_t tx_wait_backend; /* TX stopped because the backend was full */
    uint64_t tx_budget_yields;
    uint64_t irq_raised, irq_lowered;
    /* mitigation timer firings */
    uint64_t itr_fired, rdtr_fired, radv_fired, tidv_fired, tadv_fired;
    uint64_t bad_ring;    /* ring registers outside RAM or inconsistent */
    uint64_t unknown_reg; /* accesses to unknown offsets */
};

/* e1000_create: the device, attached as the netdev's peer, with its PCI header and BARs
 * declared (not yet on a bus). Returns NULL with a message in err. */
struct e1000 *e1000_create(const struct e1000_params *p, char *err, size_t errlen);

/* e1000_destroy: stops its timers and frees it. */
void e1000_destroy(struct e1000 *e);

/* e1000_reset: back to the power-on state as on PCI RST# (a machine reset), like CTRL.RST:
 * TX, RX and timer work in progress finish first, and nothing is written to guest memory
 * afterwards. Any thread. */
void e1000_reset(struct e1000 *e);

/* e1000_pci: the PCI function to put on the bus. */
struct pci_device *e1000_pci(struct e1000 *e);

/* e1000_info: the device's report (a new jansson reference): registers, rings, ICR/IMS, link
 * and counters. Never clears a clear-on-read register. Any thread. */
json_t *e1000_info(struct e1000 *e);

/* e1000_get_stats: the counters. */
const struct e1000_stats *e1000_get_stats(const struct e1000 *e);

/* e1000_mmio: the BAR0 handler (register window); e1000_io: the BAR1 handler. Exposed for
 * tests and fuzzers, which drive the device without a bus. */
void e1000_mmio(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);
void e1000_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
