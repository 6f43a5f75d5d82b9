/* The address-space dispatcher for port I/O and MMIO.
 *
 * One handler signature serves both spaces (after kvmtool's mmio.c). Registration refuses
 * overlapping ranges, and handlers get offsets relative to their region, so a device never
 * knows where the guest (or a PCI BAR) put it. Lookups are lock-free: writers publish a new
 * sorted map with release semantics; readers (vCPU threads) load it with acquire. Retired
 * maps are kept until iobus_destroy(), since regions only move during guest PCI setup. */
#ifndef NICVM_IOBUS_H
#define NICVM_IOBUS_H

#include <stdbool.h>
#include <stdint.h>

enum iobus_space { IOBUS_PIO = 0, IOBUS_MMIO = 1, IOBUS_NR_SPACES = 2 };

#define IOBUS_MAX_REGIONS 128

/* iobus_fn: handles one access.
 *   opaque:   the pointer given at registration (the device)
 *   offset:   address minus the region's base
 *   data:     len bytes, little-endian; the handler fills it on a read
 *   len:      1, 2, 4 or 8 (the guest chooses; handlers must accept any of them)
 *   is_write: true for OUT / MMIO store */
typedef void (*iobus_fn)(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

struct iobus;

/* iobus_create: an empty bus. Returns NULL on allocation failure. */
struct iobus *iobus_create(void);
/* iobus_destroy: frees the bus and every retired map. No dispatch may be running. */
void iobus_destroy(struct iobus *bus);

/* iobus_register: claims [base, base + len) in `space` for `fn`. name is kept by pointer
 * (use a string that outlives the bus). Returns the region id (>= 0), -EEXIST if the range
 * overlaps a mapped region, -EINVAL for len 0 or a wrapping range, -ENOSPC if full. */
int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len,
                   const char *name, iobus_fn fn, void *opaque);

/* iobus_register_unmapped: creates a region that decodes nothing until iobus_map(); PCI BARs
 * start this way. Returns the id or -ENOSPC/-EINVAL. */
int iobus_register_unmapped(struct iobus *bus, enum iobus_space space, uint64_t len,
                            const char *name, iobus_fn fn, void *opaque);

/* iobus_map: places region `id` at `base` (moving it if mapped). Returns 0, -EEXIST on overlap
 * (the region is then left unmapped), -EINVAL for a bad id or wrapping range. */
int iobus_map(struct iobus *bus, int id, uint64_t base);

/* iobus_unmap: stops decoding region `id`; it keeps its id and statistics. Returns 0/-EINVAL. */
int iobus_unmap(struct iobus *bus, int id);

/* iobus_dispatch: routes one access. On a hit, calls the handler and returns the region id.
 * On a miss, fills a read with all ones, counts it, logs it when debug is on, and returns -1.
 * Safe to call from several threads at once. */
int iobus_dispatch(struct iobus *bus, enum iobus_space space, uint64_t addr, uint8_t *data,
                   unsigned len, bool is_write);

/* iobus_set_debug: log every unclaimed access (--debug-io). */
void iobus_set_debug(struct iobus *bus, bool on);

/* Information about a region, for statistics tables and traces. */
struct iobus_region_info {
    const char *name;
    enum iobus_space space;
    uint64_t base;
    uint64_t len;
    bool mapped;
};

/* iobus_region_info: fills *info for region `id`. Returns 0 or -EINVAL. */
int iobus_region_info(struct iobus *bus, int id, struct iobus_region_info *info);

/* iobus_nr_regions: one more than the highest region id ever returned. */
int iobus_nr_regions(struct iobus *bus);

/* iobus_unclaimed: accesses that hit no region, by space and direction (0 read, 1 write). */
uint64_t iobus_unclaimed(struct iobus *bus, enum iobus_space space, bool is_write);

/* iobus_get_le / iobus_put_le: little-endian value helpers for handlers (len 1..8). */
uint64_t iobus_get_le(const uint8_t *data, unsigned len);
void iobus_put_le(uint8_t *data, unsigned len, uint64_t value);

#endif
