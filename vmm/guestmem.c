/* Guest memory accessor: range checks for guest-physical addresses (checklist rule 1.1:
 * the whole [gpa, gpa+len) inside one region, computed without overflow). */
#include "vmm/guestmem.h"

#include <errno.h>
#include <string.h>

int gmem_add_region(struct guestmem *gm, uint64_t gpa, uint64_t size, void *hva)
{
    if (gm->nr_regions >= GUESTMEM_MAX_REGIONS)
        return -ENOSPC;
    if (size == 0 || gpa + size < gpa)
        return -EINVAL;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct guestmem_region *r = &gm->region[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return -EINVAL;
    }
    gm->region[gm->nr_regions++] = (struct guestmem_region){gpa, size, hva};
    return 0;
}

void *gmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct guestmem_region *r = &gm->region[i];
        /* gpa - r->gpa cannot underflow once gpa >= r->gpa; comparing against size - len
         * instead of gpa + len avoids the wrap-around of a hostile 64-bit length. */
        if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

bool gmem_is_ram(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
    return gmem_ptr(gm, gpa, len) != NULL;
}

int gmem_read(const struct guestmem *gm, uint64_t gpa, void *dst, size_t len)
{
    const void *p = gmem_ptr(gm, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(dst, p, len);
    return 0;
}

int gmem_write(const struct guestmem *gm, uint64_t gpa, const void *src, size_t len)
{
    void *p = gmem_ptr(gm, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, src, len);
    return 0;
}

uint64_t gmem_total(const struct guestmem *gm)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < gm->nr_regions; i++)
        total += gm->region[i].size;
    return total;
}
