/* Split virtqueue, device side (virtio 1.2 §2.7): ring validation at activation, chain walking
 * that treats every descriptor byte as hostile, in-flight head tracking, used-ring publication
 * and EVENT_IDX notification/interrupt suppression with the barriers §2.7 asks for. */
#include "devices/virtq.h"
#include "vmm/fuzz_work.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

/* Ring layouts (§2.7.5, §2.7.6, §2.7.8), all fields little-endian:
 *   desc[i]:  le64 addr @0, le32 len @8, le16 flags @12, le16 next @14   (16 bytes)
 *   avail:    le16 flags @0, le16 idx @2, le16 ring[size] @4, le16 used_event @4 + 2 * size
 *   used:     le16 flags @0, le16 idx @2, {le32 id, le32 len} ring[size] @4,
 *             le16 avail_event @4 + 8 * size
 * used_event and avail_event exist only with VIRTIO_F_EVENT_IDX. */
#define DESC_BYTES     16
#define DESC_LEN_OFF   8
#define DESC_FLAGS_OFF 12
#define DESC_NEXT_OFF  14
#define RING_FLAGS_OFF 0
#define RING_IDX_OFF   2
#define RING_OFF       4
#define AVAIL_ELEM     2
#define USED_ELEM      8

/* Host-side alignment the volatile accesses below need (equal to the §2.7 requirements). */
#define DESC_ALIGN  16
#define AVAIL_ALIGN 2
#define USED_ALIGN  4

/* A descriptor as copied out of guest memory: the only version the device looks at. */
struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

/* State of one chain walk. The byte totals accumulate in elem->out_len / in_len directly:
 * totals kept here and copied out at the end were two 8-byte stores read back as one 16-byte
 * load, a store-forwarding stall on every pop. */
struct walk {
    struct virtq *vq;
    struct virtq_elem *elem;
    unsigned nbuf; /* buffer descriptors walked (all but indirect pointers) */
    bool seen_writable;
};

/* Shared ring fields are read and written exactly once per access through volatile
 * pointers, so the compiler neither tears, repeats nor elides them; the fences below give
 * the ordering. The ring addresses and the host mapping are aligned (checked at activation). */
static uint16_t ring_ld16(const uint8_t *p)
{
    return le16toh(*(const volatile uint16_t *)(const void *)p);
}

static void ring_st16(uint8_t *p, uint16_t v)
{
    *(volatile uint16_t *)(void *)p = htole16(v);
}

static void ring_st32(uint8_t *p, uint32_t v)
{
    *(volatile uint32_t *)(void *)p = htole32(v);
}

size_t virtq_desc_bytes(uint16_t size)
{
    return (size_t)DESC_BYTES * size;
}

size_t virtq_avail_bytes(uint16_t size, bool event_idx)
{
    return RING_OFF + (size_t)AVAIL_ELEM * size + (event_idx ? 2 : 0);
}

size_t virtq_used_bytes(uint16_t size, bool event_idx)
{
    return RING_OFF + (size_t)USED_ELEM * size + (event_idx ? 2 : 0);
}

static uint8_t *used_event_ptr(const struct virtq *vq)
{
    return vq->avail + RING_OFF + (size_t)AVAIL_ELEM * vq->size;
}

static uint8_t *avail_event_ptr(const struct virtq *vq)
{
    return vq->used + RING_OFF + (size_t)USED_ELEM * vq->size;
}

static bool inflight_test(const struct virtq *vq, uint16_t head)
{
    return vq->inflight_map[head / 8] & (1u << (head % 8));
}

static void inflight_set(struct virtq *vq, uint16_t head)
{
    vq->inflight_map[head / 8] |= (uint8_t)(1u << (head % 8));
    vq->inflight++;
}

static void inflight_clear(struct virtq *vq, uint16_t head)
{
    vq->inflight_map[head / 8] &= (uint8_t) ~(1u << (head % 8));
    vq->inflight--;
}

void virtq_reset(struct virtq *vq)
{
    struct virtq_stats stats = vq->stats;

    /* Forgets the rings' host pointers: nothing touches guest memory until activation. */
    memset(vq, 0, sizeof(*vq));
    vq->stats = stats;
}

static bool host_aligned(const void *p, uintptr_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

int virtq_activate(struct virtq *vq, const struct guestmem *mem, uint16_t size, uint64_t desc,
                   uint64_t avail, uint64_t used, bool event_idx, bool indirect)
{
    uint8_t *d, *a, *u;

    virtq_reset(vq);
    /* Size 0 means disabled and is refused before anything divides by it (checklist 1.4). */
    if (!mem || size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) != 0)
        return -EINVAL;
    /* §2.7 alignment: descriptor table 16, available ring 2, used ring 4. */
    if ((desc & (DESC_ALIGN - 1)) || (avail & (AVAIL_ALIGN - 1)) || (used & (USED_ALIGN - 1)))
        return -EINVAL;
    /* Each ring wholly inside one RAM region; the pointers stay valid while ready. */
    d = gmem_ptr(mem, desc, virtq_desc_bytes(size));
    a = gmem_ptr(mem, avail, virtq_avail_bytes(size, event_idx));
    u = gmem_ptr(mem, used, virtq_used_bytes(size, event_idx));
    if (!d || !a || !u)
        return -EINVAL;
    /* RAM is page-aligned in nicvm; a test mapping that is not would break the volatile
     * 16- and 32-bit ring accesses, so refuse it rather than misalign them. */
    if (!host_aligned(d, DESC_ALIGN) || !host_aligned(a, AVAIL_ALIGN) ||
        !host_aligned(u, USED_ALIGN))
        return -EINVAL;

    vq->mem = mem;
    vq->size = size;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->desc_gpa = desc;
    vq->avail_gpa = avail;
    vq->used_gpa = used;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->ready = true;
    return 0;
}

/* Reads avail.idx once, then orders every later read of the avail ring and of the
 * descriptors after it. The acquire fence pairs with the driver's write barrier between
 * filling the ring entry (and descriptors) and updating avail.idx (§2.7.13.3). */
static uint16_t avail_idx_acquire(const struct virtq *vq)
{
    uint16_t idx = ring_ld16(vq->avail + RING_IDX_OFF);

    atomic_thread_fence(memory_order_acquire);
    return idx;
}

/* Chains posted and not yet popped, or -1 if avail.idx moved by more than the size
 * (a driver can never have more than size entries outstanding, §2.7.6). */
static int avail_pending(const struct virtq *vq)
{
    uint16_t n = (uint16_t)(avail_idx_acquire(vq) - vq->last_avail_idx);

    return n > vq->size ? -1 : n;
}

static int mark_broken(struct virtq *vq, enum virtq_error err)
{
    vq->broken = true;
    vq->stats.errors[err]++;
    return -EIO;
}

/* An 8-byte load at any alignment, since indirect tables need not be aligned: one load on
 * x86, the compiler's safe sequence on hosts that need one. */
typedef uint64_t __attribute__((aligned(1), may_alias)) desc_word;

/* Copies descriptor i of a table once, as two volatile 8-byte loads, so that a guest
 * rewriting it concurrently cannot make the device see two different versions (double
 * fetch, FreeBSD-SA-24:17.bhyve): every field comes from that one copy. (A byte-by-byte copy
 * read back as wider fields stalled store forwarding: about a tenth of a 64-byte frame.) */
static void desc_copy(const uint8_t *table, uint32_t i, struct vdesc *d)
{
    const volatile desc_word *src = (const volatile desc_word *)(table + (size_t)i * DESC_BYTES);
    uint64_t lo = le64toh(src[0]), hi = le64toh(src[1]);

    /* Little-endian fields: addr in the first word, len, flags and next in the second. */
    d->addr = lo;
    d->len = (uint32_t)(hi >> 8 * (DESC_LEN_OFF - 8));
    d->flags = (uint16_t)(hi >> 8 * (DESC_FLAGS_OFF - 8));
    d->next = (uint16_t)(hi >> 8 * (DESC_NEXT_OFF - 8));
}

/* Adds one buffer descriptor to the element: direction order (§2.7.4.2: device-writable
 * descriptors come after device-readable ones), range wholly in RAM, 32-bit totals. */
static enum virtq_error add_buffer(struct walk *w, const struct vdesc *d)
{
    struct virtq_elem *elem = w->elem;
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    size_t *total = writable ? &elem->in_len : &elem->out_len;
    unsigned n = elem->out_num + elem->in_num;
    void *p;

    if (writable)
        w->seen_writable = true;
    else if (w->seen_writable)
        return VIRTQ_ERR_ORDER;
    if (d->len == 0) {
        /* Nothing to transfer: no iovec, and the address is never used. */
        w->vq->stats.zero_len_desc++;
        return VIRTQ_ERR_NONE;
    }
    if (d->addr > UINT64_MAX - d->len)
        return VIRTQ_ERR_ADDR;
    p = gmem_ptr(w->vq->mem, d->addr, d->len);
    if (!p)
        return VIRTQ_ERR_ADDR;
    /* §2.7.5: chains are at most 2^32 - 1 bytes; used.len is 32 bits. */
    if (*total + d->len > UINT32_MAX)
        return VIRTQ_ERR_TOTAL_LEN;
    if (n >= VIRTQ_MAX_SIZE) /* cannot happen: nbuf is bounded by VIRTQ_MAX_SIZE */
        return VIRTQ_ERR_LOOP;
    *total += d->len;
    elem->iov[n].iov_base = p;
    elem->iov[n].iov_len = d->len;
    if (writable)
        elem->in_num++;
    else
        elem->out_num++;
    return VIRTQ_ERR_NONE;
}

static enum virtq_error walk_table(struct walk *w, const uint8_t *table, uint32_t n, uint32_t first,
                                   bool in_indirect);

/* Follows a descriptor with VIRTQ_DESC_F_INDIRECT (§2.7.5.3). Its WRITE flag is ignored
 * (§2.7.5.3.2); it must be the last descriptor of the chain, and its table holds 1 to
 * VIRTQ_MAX_SIZE whole descriptors in RAM. */
static enum virtq_error walk_indirect(struct walk *w, const struct vdesc *d, bool in_indirect)
{
    const uint8_t *table;

    if (!w->vq->indirect || in_indirect || (d->flags & VIRTQ_DESC_F_NEXT))
        return VIRTQ_ERR_INDIRECT;
    if (d->len == 0 || d->len % DESC_BYTES != 0 || d->len / DESC_BYTES > VIRTQ_MAX_SIZE)
        return VIRTQ_ERR_INDIRECT;
    table = gmem_ptr(w->vq->mem, d->addr, d->len);
    if (!table)
        return VIRTQ_ERR_INDIRECT;
    return walk_table(w, table, d->len / DESC_BYTES, 0, true);
}

/* Walks a chain in a table of n descriptors (the ring's table or an indirect one) from
 * index first. Bounded three ways: next < n, at most n descriptors from this table (more
 * means a cycle), and VIRTQ_MAX_SIZE buffer descriptors in all (direct ones followed by an
 * indirect table), so elem->iov cannot overflow. Recursion is at most one level deep:
 * walk_indirect() refuses nested tables. */
static enum virtq_error walk_table(struct walk *w, const uint8_t *table, uint32_t n, uint32_t first,
                                   bool in_indirect)
{
    uint32_t i = first, steps = 0;
    enum virtq_error err;
    struct vdesc d;

    for (;;) {
        NICVM_FUZZ_WORK();
        desc_copy(table, i, &d);
        w->elem->ndesc++;
        steps++;
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return walk_indirect(w, &d, in_indirect);
        if (w->nbuf++ >= VIRTQ_MAX_SIZE)
            return VIRTQ_ERR_LOOP;
        err = add_buffer(w, &d);
        if (err != VIRTQ_ERR_NONE)
            return err;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return VIRTQ_ERR_NONE;
        if (d.next >= n)
            return VIRTQ_ERR_DESC_INDEX;
        if (steps >= n)
            return VIRTQ_ERR_LOOP;
        i = d.next;
    }
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
    struct walk w = {.vq = vq, .elem = elem};
    enum virtq_error err;
    uint16_t head;
    int avail;

    if (vq->broken)
        return -EIO;
    if (!vq->ready)
        return 0;
    avail = avail_pending(vq);
    if (avail < 0)
        return mark_broken(vq, VIRTQ_ERR_AVAIL_IDX);
    if (avail == 0)
        return 0;
    /* size is a power of two, so & (size - 1) is the ring position (§2.7.6). */
    head = ring_ld16(vq->avail + RING_OFF +
                     (size_t)AVAIL_ELEM * (vq->last_avail_idx & (vq->size - 1)));
    if (head >= vq->size)
        return mark_broken(vq, VIRTQ_ERR_HEAD);
    if (inflight_test(vq, head))
        return mark_broken(vq, VIRTQ_ERR_DUP_HEAD);

    /* From here the head is consumed and in flight, whatever its chain looks like. */
    vq->last_avail_idx++;
    inflight_set(vq, head);
    vq->stats.popped++;
    elem->head = head;
    elem->ndesc = 0;
    elem->out_num = elem->in_num = 0;
    elem->out_len = elem->in_len = 0;
    err = walk_table(&w, vq->desc, vq->size, head, false);
    elem->error = err;
    if (err != VIRTQ_ERR_NONE) {
        /* Malformed: returned with no buffers, to be pushed back with length 0. */
        vq->stats.errors[err]++;
        elem->out_num = elem->in_num = 0;
        elem->out_len = elem->in_len = 0;
    }
    return 1;
}

void virtq_unpop(struct virtq *vq, const struct virtq_elem *const *elems, unsigned n)
{
    if (!vq->ready)
        return;
    for (unsigned i = 0; i < n; i++) {
        uint16_t head = elems[i]->head;

        if (head >= vq->size || !inflight_test(vq, head))
            continue;
        inflight_clear(vq, head);
        vq->last_avail_idx--;
        vq->stats.popped--;
    }
}

void virtq_fill(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
    uint8_t *entry;
    uint16_t head = elem->head;

    if (!vq->ready)
        return;
    if (head >= vq->size || !inflight_test(vq, head)) {
        vq->stats.bad_fill++;
        return;
    }
    /* Only a driver that re-posted heads it has not got back can fill a whole ring's worth
     * before a flush; publish first rather than overwrite unpublished entries. */
    if (vq->pending == vq->size)
        virtq_flush(vq);
    if (len > elem->in_len)
        len = (uint32_t)elem->in_len;
    entry = vq->used + RING_OFF +
            (size_t)USED_ELEM * ((uint16_t)(vq->used_idx + vq->pending) & (vq->size - 1));
    ring_st32(entry, head);
    ring_st32(entry + 4, len);
    inflight_clear(vq, head);
    vq->pending++;
    vq->stats.pushed++;
}

void virtq_flush(struct virtq *vq)
{
    if (!vq->ready || vq->pending == 0)
        return;
    /* Release: the buffer contents and used ring entries written before this point become
     * visible before the new used.idx. Pairs with the driver reading used.idx, then issuing
     * its read barrier, then reading the entries and buffers (§2.7.8, §2.7.14). */
    atomic_thread_fence(memory_order_release);
    vq->used_idx = (uint16_t)(vq->used_idx + vq->pending);
    ring_st16(vq->used + RING_IDX_OFF, vq->used_idx);
    vq->pending = 0;
}

void virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
    virtq_fill(vq, elem, len);
    virtq_flush(vq);
}

/* §2.7.10: true if event lies in [old, new), i.e. used.idx just moved past the index the
 * driver asked to be interrupted after (all mod 2^16). */
static bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
    bool notify;

    if (!vq->ready) {
        vq->last_irq_reason = VIRTQ_IRQ_NOT_READY;
        return false;
    }
    /* Full barrier: the used.idx store must be visible before flags/used_event are read.
     * Pairs with the driver's barrier between writing used_event (or clearing
     * NO_INTERRUPT) and re-reading used.idx; otherwise both sides could miss each other. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!vq->event_idx) {
        /* §2.7.7.2: without EVENT_IDX the flag is the only hint. */
        notify = !(ring_ld16(vq->avail + RING_FLAGS_OFF) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    } else {
        /* With EVENT_IDX the flags are ignored. The window always restarts at the last
         * check (as vhost and QEMU do), so a stale or 0xffff used_event is crossed at most
         * once per 2^16 entries: no storm, and no wake-up lost for good. The first check
         * after activation always interrupts. */
        uint16_t old_idx = vq->signalled_used;
        bool valid = vq->signalled_used_valid;

        notify = !valid || vring_need_event(ring_ld16(used_event_ptr(vq)), vq->used_idx, old_idx);
        vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
    }
    if (notify)
        vq->stats.irq_needed++;
    else
        vq->stats.irq_suppressed++;
    vq->last_irq_reason = notify          ? VIRTQ_IRQ_SENT
                          : vq->event_idx ? VIRTQ_IRQ_SUPPRESSED_EVENT_IDX
                                          : VIRTQ_IRQ_SUPPRESSED_FLAG;
    return notify;
}

void virtq_set_notification(struct virtq *vq, bool enable)
{
    if (!vq->ready)
        return;
    if (enable)
        vq->stats.notify_enabled++;
    else
        vq->stats.notify_disabled++;
    if (vq->event_idx) {
        /* §2.7.10: kick me once the driver publishes entry last_avail_idx. Disabling leaves
         * the old value: the driver kicks at most once more, when it crosses it. */
        if (enable)
            ring_st16(avail_event_ptr(vq), vq->last_avail_idx);
    } else {
        /* used.flags has no other defined bit: write it whole, never read guest memory. */
        ring_st16(vq->used + RING_FLAGS_OFF, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
    }
    if (enable) {
        /* Full barrier: the store above must be visible before the caller re-reads avail.idx
         * with virtq_has_work(). Pairs with the driver's barrier between writing avail.idx
         * and reading avail_event / used.flags (§2.7.13.4). */
        atomic_thread_fence(memory_order_seq_cst);
    }
}

void virtq_notify_on_next_post(struct virtq *vq)
{
    uint16_t idx, now;

    if (!vq->ready)
        return;
    if (!vq->event_idx) {
        virtq_set_notification(vq, true);
        return;
    }
    vq->stats.notify_enabled++;
    /* §2.7.10: the driver kicks when it moves avail.idx past avail_event. Asking for the
     * index it has published means "the next chain you post". A chain posted between the
     * read and the store may have been published without seeing the new avail_event, so
     * read again after the barrier and move avail_event along until it is stable; bounded,
     * since a hostile driver could keep moving avail.idx. */
    idx = ring_ld16(vq->avail + RING_IDX_OFF);
    for (unsigned i = 0; i <= vq->size; i++) {
        NICVM_FUZZ_WORK();
        ring_st16(avail_event_ptr(vq), idx);
        atomic_thread_fence(memory_order_seq_cst);
        now = ring_ld16(vq->avail + RING_IDX_OFF);
        if (now == idx)
            break;
        idx = now;
    }
}

bool virtq_has_work(struct virtq *vq)
{
    return virtq_avail_count(vq) != 0;
}

uint16_t virtq_avail_count(struct virtq *vq)
{
    int n;

    if (!vq->ready || vq->broken)
        return 0;
    /* A jump past the size is not work; virtq_pop() is what marks the queue broken. */
    n = avail_pending(vq);
    return n < 0 ? 0 : (uint16_t)n;
}
