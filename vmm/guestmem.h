/* Guest memory: the one place where guest-physical addresses become host pointers.
 *
 * Every device, the boot code and the tests go through gmem_ptr()/gmem_read()/gmem_write().
 * A range is accepted only if it lies wholly inside one RAM region; holes (the 32-bit PCI
 * hole), device windows and ranges that wrap around are refused. Unit tests and fuzzers back
 * a struct guestmem with a plain allocation, so devices never need KVM. */
#ifndef NICVM_GUESTMEM_H
#define NICVM_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUESTMEM_MAX_REGIONS 4

/* One contiguous RAM region: guest-physical [gpa, gpa + size) at host address hva. */
struct guestmem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
};

struct guestmem {
    struct guestmem_region region[GUESTMEM_MAX_REGIONS];
    unsigned nr_regions;
};

/* gmem_add_region: appends a RAM region. Returns 0, -EINVAL if it overlaps another region or
 * wraps, -ENOSPC if the table is full. */
int gmem_add_region(struct guestmem *gm, uint64_t gpa, uint64_t size, void *hva);

/* gmem_ptr: host pointer for guest-physical [gpa, gpa + len), or NULL unless the whole range
 * lies in one RAM region. len 0 is accepted inside RAM. Overflow-safe. */
void *gmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len);

/* gmem_read: copies len bytes from guest-physical gpa into dst. Returns 0 or -EFAULT. */
int gmem_read(const struct guestmem *gm, uint64_t gpa, void *dst, size_t len);

/* gmem_write: copies len bytes from src to guest-physical gpa. Returns 0 or -EFAULT. */
int gmem_write(const struct guestmem *gm, uint64_t gpa, const void *src, size_t len);

/* gmem_is_ram: true if [gpa, gpa + len) is wholly inside one RAM region. */
bool gmem_is_ram(const struct guestmem *gm, uint64_t gpa, uint64_t len);

/* gmem_total: sum of the region sizes in bytes. */
uint64_t gmem_total(const struct guestmem *gm);

#endif
