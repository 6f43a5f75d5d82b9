/* Address-space dispatcher: a sorted, immutable map per space published with atomics (see
 * iobus.h for the concurrency scheme), and a fixed region table indexed by id so that
 * statistics survive a PCI BAR move. */
#include "vmm/iobus.h"
#include "vmm/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct iobus_region {
    const char *name;
    enum iobus_space space;
    uint64_t base;
    uint64_t len;
    bool mapped;
    bool used;
    iobus_fn fn;
    void *opaque;
};

/* One published map: entries sorted by base, non-overlapping. Immutable once published. */
struct iobus_map {
    struct iobus_map *retired_next;
    unsigned nr;
    struct iobus_entry {
        uint64_t base;
        uint64_t last; /* inclusive, so a region may end at 2^64 - 1 */
        iobus_fn fn;
        void *opaque;
        int id;
    } e[];
};

struct iobus {
    pthread_mutex_t lock; /* serialises writers */
    _Atomic(struct iobus_map *) map[IOBUS_NR_SPACES];
    struct iobus_map *retired;
    struct iobus_region regions[IOBUS_MAX_REGIONS];
    int nr_regions;
    atomic_bool debug;
    atomic_uint_fast64_t unclaimed[IOBUS_NR_SPACES][2];
};

struct iobus *iobus_create(void)
{
    struct iobus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    pthread_mutex_init(&bus->lock, NULL);
    return bus;
}

void iobus_destroy(struct iobus *bus)
{
    if (!bus)
        return;
    for (int s = 0; s < IOBUS_NR_SPACES; s++)
        free(atomic_load(&bus->map[s]));
    while (bus->retired) {
        struct iobus_map *m = bus->retired;
        bus->retired = m->retired_next;
        free(m);
    }
    pthread_mutex_destroy(&bus->lock);
    free(bus);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct iobus_entry *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* Rebuilds and publishes the map of `space` from the region table. Caller holds bus->lock. */
static int iobus_publish(struct iobus *bus, enum iobus_space space)
{
    unsigned nr = 0;
    for (int i = 0; i < bus->nr_regions; i++)
        nr += bus->regions[i].used && bus->regions[i].mapped && bus->regions[i].space == space;
    struct iobus_map *m = calloc(1, sizeof(*m) + nr * sizeof(m->e[0]));
    if (!m)
        return -ENOMEM;
    for (int i = 0; i < bus->nr_regions; i++) {
        const struct iobus_region *r = &bus->regions[i];
        if (r->used && r->mapped && r->space == space)
            m->e[m->nr++] =
                (struct iobus_entry){r->base, r->base + r->len - 1, r->fn, r->opaque, i};
    }
    qsort(m->e, m->nr, sizeof(m->e[0]), entry_cmp);
    /* Pairs with the acquire load in iobus_dispatch(): a reader sees a complete map. */
    struct iobus_map *old = atomic_exchange_explicit(&bus->map[space], m, memory_order_acq_rel);
    if (old) {
        old->retired_next = bus->retired;
        bus->retired = old;
    }
    return 0;
}

static bool iobus_overlaps(struct iobus *bus, int self, enum iobus_space space, uint64_t base,
                           uint64_t last)
{
    for (int i = 0; i < bus->nr_regions; i++) {
        const struct iobus_region *r = &bus->regions[i];
        if (i == self || !r->used || !r->mapped || r->space != space)
            continue;
        if (base <= r->base + r->len - 1 && r->base <= last)
            return true;
    }
    return false;
}

static int iobus_alloc(struct iobus *bus, enum iobus_space space, uint64_t len, const char *name,
                       iobus_fn fn, void *opaque)
{
    if (len == 0 || (unsigned)space >= IOBUS_NR_SPACES || !fn)
        return -EINVAL;
    if (bus->nr_regions >= IOBUS_MAX_REGIONS)
        return -ENOSPC;
    int id = bus->nr_regions++;
    bus->regions[id] = (struct iobus_region){
        .name = name, .space = space, .len = len, .used = true, .fn = fn, .opaque = opaque};
    return id;
}

int iobus_register_unmapped(struct iobus *bus, enum iobus_space space, uint64_t len,
                            const char *name, iobus_fn fn, void *opaque)
{
    pthread_mutex_lock(&bus->lock);
    int id = iobus_alloc(bus, space, len, name, fn, opaque);
    pthread_mutex_unlock(&bus->lock);
    return id;
}

/* Maps region id at base; caller holds the lock. */
static int iobus_map_locked(struct iobus *bus, int id, uint64_t base)
{
    struct iobus_region *r = &bus->regions[id];
    uint64_t last = base + r->len - 1;
    if (last < base)
        return -EINVAL;
    bool was_mapped = r->mapped;
    if (iobus_overlaps(bus, id, r->space, base, last)) {
        r->mapped = false;
        if (was_mapped)
            iobus_publish(bus, r->space);
        return -EEXIST;
    }
    r->base = base;
    r->mapped = true;
    int rc = iobus_publish(bus, r->space);
    if (rc)
        r->mapped = was_mapped;
    return rc;
}

int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len,
                   const char *name, iobus_fn fn, void *opaque)
{
    pthread_mutex_lock(&bus->lock);
    int id = iobus_alloc(bus, space, len, name, fn, opaque);
    if (id >= 0) {
        int rc = iobus_map_locked(bus, id, base);
        if (rc) {
            /* Registration failed as a whole: give the id back (it was the last one). */
            bus->nr_regions--;
            id = rc;
        }
    }
    pthread_mutex_unlock(&bus->lock);
    return id;
}

int iobus_map(struct iobus *bus, int id, uint64_t base)
{
    if (id < 0 || id >= IOBUS_MAX_REGIONS)
        return -EINVAL;
    pthread_mutex_lock(&bus->lock);
    int rc = id < bus->nr_regions ? iobus_map_locked(bus, id, base) : -EINVAL;
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

int iobus_unmap(struct iobus *bus, int id)
{
    if (id < 0 || id >= IOBUS_MAX_REGIONS)
        return -EINVAL;
    pthread_mutex_lock(&bus->lock);
    int rc = -EINVAL;
    if (id < bus->nr_regions) {
        rc = 0;
        if (bus->regions[id].mapped) {
            bus->regions[id].mapped = false;
            rc = iobus_publish(bus, bus->regions[id].space);
        }
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

static const struct iobus_entry *iobus_lookup(const struct iobus_map *m, uint64_t addr)
{
    unsigned lo = 0, hi = m ? m->nr : 0;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct iobus_entry *e = &m->e[mid];
        if (addr < e->base)
            hi = mid;
        else if (addr > e->last)
            lo = mid + 1;
        else
            return e;
    }
    return NULL;
}

int iobus_dispatch(struct iobus *bus, enum iobus_space space, uint64_t addr, uint8_t *data,
                   unsigned len, bool is_write)
{
    static const char *const space_name[] = {"port", "mmio"};
    if (len == 0 || len > 8 || (unsigned)space >= IOBUS_NR_SPACES)
        return -1;
    const struct iobus_map *m = atomic_load_explicit(&bus->map[space], memory_order_acquire);
    const struct iobus_entry *e = iobus_lookup(m, addr);
    /* An access that starts inside a region but runs past its end is the region's to
     * handle: devices see the offset and the length and decide (registers reject it). */
    if (e) {
        e->fn(e->opaque, addr - e->base, data, len, is_write);
        return e->id;
    }
    if (!is_write)
        memset(data, 0xff, len);
    atomic_fetch_add_explicit(&bus->unclaimed[space][is_write], 1, memory_order_relaxed);
    if (atomic_load_explicit(&bus->debug, memory_order_relaxed)) {
        if (is_write)
            log_info("unclaimed %s write 0x%llx len %u value 0x%llx", space_name[space],
                     (unsigned long long)addr, len, (unsigned long long)iobus_get_le(data, len));
        else
            log_info("unclaimed %s read 0x%llx len %u", space_name[space], (unsigned long long)addr,
                     len);
    }
    return -1;
}

void iobus_set_debug(struct iobus *bus, bool on)
{
    atomic_store(&bus->debug, on);
}

int iobus_region_info(struct iobus *bus, int id, struct iobus_region_info *info)
{
    if (id < 0 || id >= IOBUS_MAX_REGIONS)
        return -EINVAL;
    pthread_mutex_lock(&bus->lock);
    int rc = -EINVAL;
    if (id < bus->nr_regions) {
        const struct iobus_region *r = &bus->regions[id];
        *info = (struct iobus_region_info){r->name, r->space, r->base, r->len, r->mapped};
        rc = 0;
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

int iobus_nr_regions(struct iobus *bus)
{
    pthread_mutex_lock(&bus->lock);
    int n = bus->nr_regions;
    pthread_mutex_unlock(&bus->lock);
    return n;
}

uint64_t iobus_unclaimed(struct iobus *bus, enum iobus_space space, bool is_write)
{
    return atomic_load(&bus->unclaimed[space][is_write]);
}

uint64_t iobus_get_le(const uint8_t *data, unsigned len)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < len && i < 8; i++)
        v |= (uint64_t)data[i] << (8 * i);
    return v;
}

void iobus_put_le(uint8_t *data, unsigned len, uint64_t value)
{
    for (unsigned i = 0; i < len && i < 8; i++)
        data[i] = (uint8_t)(value >> (8 * i));
}
