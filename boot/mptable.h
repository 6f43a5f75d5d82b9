/* The Intel MultiProcessor Specification 1.4 table: CPUs, the IOAPIC, and how every ISA and
 * PCI interrupt reaches an IOAPIC pin. Linux reads it when there is no ACPI, so SMP guests
 * and PCI INTx work without firmware. Rendered from the machine description. */
#ifndef NICVM_BOOT_MPTABLE_H
#define NICVM_BOOT_MPTABLE_H

#include "vmm/machine.h"

#include <stddef.h>
#include <stdint.h>

/* MP spec 1.4 structures (chapter 4), packed as in memory. */
struct mpf_intel { /* floating pointer, 16 bytes */
    char signature[4];
    uint32_t physptr;
    uint8_t length; /* in 16-byte units: 1 */
    uint8_t specification;
    uint8_t checksum;
    uint8_t feature1; /* 0: a configuration table follows */
    uint8_t feature2;
    uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table { /* configuration table header, 44 bytes */
    char signature[4];
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t oemcount;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum;
    uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu { /* entry type 0, 20 bytes */
    uint8_t type;
    uint8_t apicid;
    uint8_t apicver;
    uint8_t cpuflag;
    uint32_t cpufeature;
    uint32_t featureflag;
    uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus { /* entry type 1, 8 bytes */
    uint8_t type;
    uint8_t busid;
    char bustype[6];
} __attribute__((packed));

struct mpc_ioapic { /* entry type 2, 8 bytes */
    uint8_t type;
    uint8_t apicid;
    uint8_t apicver;
    uint8_t flags;
    uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* entry types 3 (I/O interrupt) and 4 (local interrupt), 8 bytes */
    uint8_t type;
    uint8_t irqtype;
    uint16_t irqflag;
    uint8_t srcbus;
    uint8_t srcbusirq;
    uint8_t dstapic;
    uint8_t dstirq;
} __attribute__((packed));

enum {
    MP_PROCESSOR = 0,
    MP_BUS = 1,
    MP_IOAPIC = 2,
    MP_INTSRC = 3,
    MP_LINTSRC = 4,
    MP_INT = 0,
    MP_NMI = 1,
    MP_EXTINT = 3,
    MP_BUS_PCI = 0,
    MP_BUS_ISA = 1,
    MP_IRQFLAG_LEVEL_LOW = 0xf, /* polarity 11 (active low), trigger 11 (level) */
};

/* mptable_size: bytes mptable_build() writes for machine m. */
size_t mptable_size(const struct machine *m);

/* mptable_build: writes the floating pointer and configuration table for m into buf, as if
 * buf sat at guest-physical base_gpa. Returns the bytes written or -ENOSPC if buflen is too
 * small. */
long mptable_build(const struct machine *m, uint8_t *buf, size_t buflen, uint32_t base_gpa);

/* mptable_checksum: the byte that makes len bytes sum to zero. */
uint8_t mptable_checksum(const uint8_t *p, size_t len);

#endif
