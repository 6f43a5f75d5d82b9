/* Split virtqueue, device side (virtio 1.2 §2.7), testable with fake guest memory.
 *
 * The transport (virtio-mmio) configures a queue and activates it once, when the driver
 * sets DRIVER_OK; activation validates size and ring placement and freezes them. The device
 * then pops descriptor chains as iovecs and pushes used entries:
 *   - every guest index, length and address is checked; every range lies wholly in RAM;
 *   - each descriptor is copied once from guest memory and only the copy is used;
 *   - chains are bounded by the queue size (loops, over-long chains and indirect tables
 *     included), INDIRECT_DESC without nesting;
 *   - every head handed out by virtq_pop() (including malformed chains, which are returned
 *     as a head with no buffers) must be given back exactly once with virtq_push() or
 *     virtq_fill()/virtq_flush(); the queue tracks which heads are in flight;
 *   - EVENT_IDX is implemented both for notification suppression (avail_event) and for
 *     interrupt suppression (used_event), with the barriers the specification requires.
 * Errors the device cannot recover from (a head index out of range, avail.idx moving by
 * more than the queue size, a head posted while already in flight) mark the queue broken;
 * the transport then sets DEVICE_NEEDS_RESET.
 *
 * Threads: one thread at a time per queue (the event loop in nicvm). */
#ifndef NICVM_VIRTQ_H
#define NICVM_VIRTQ_H

#include "vmm/guestmem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_MAX_SIZE 1024 /* QueueNumMax nicvm reports; also the longest chain */

/* Descriptor flags and ring flags (§2.7.5, §2.7.6, §2.7.8). */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Why a chain or queue was refused (counters; see virtq_stats). */
enum virtq_error {
    VIRTQ_ERR_NONE = 0,
    VIRTQ_ERR_DESC_INDEX, /* next or head index >= queue size (chain) */
    VIRTQ_ERR_LOOP,       /* chain longer than the queue size: a loop */
    VIRTQ_ERR_ADDR,       /* buffer not wholly in RAM, or addr + len overflows */
    VIRTQ_ERR_ORDER,      /* readable descriptor after a writable one */
    VIRTQ_ERR_INDIRECT,   /* indirect without the feature, nested, with NEXT, bad length */
    VIRTQ_ERR_TOTAL_LEN,  /* chain total over 4 GiB */
    VIRTQ_ERR_HEAD,       /* avail ring entry >= queue size: queue broken */
    VIRTQ_ERR_AVAIL_IDX,  /* avail.idx moved by more than the queue size: queue broken */
    VIRTQ_ERR_DUP_HEAD,   /* head already in flight: queue broken */
    VIRTQ_ERR_COUNT
};

/* One popped chain: out[] readable (driver to device) buffers first, then in[] writable. */
struct virtq_elem {
    uint16_t head;
    uint16_t ndesc;           /* descriptors walked (for traces) */
    unsigned out_num, in_num; /* iov[0..out_num) readable, iov[out_num..+in_num) writable */
    size_t out_len, in_len;   /* bytes in each direction */
    enum virtq_error error;   /* != NONE: malformed chain, out_num = in_num = 0 */
    struct iovec iov[VIRTQ_MAX_SIZE];
};

struct virtq_stats {
    uint64_t popped, pushed;
    uint64_t errors[VIRTQ_ERR_COUNT];
    uint64_t zero_len_desc; /* zero-length descriptors skipped */
    uint64_t notify_enabled, notify_disabled;
    uint64_t irq_needed, irq_suppressed;
    uint64_t bad_fill; /* virtq_fill() of a head not in flight: ignored */
};

/* Why the last virtq_should_notify() said what it said (for traces). */
enum virtq_irq_reason {
    VIRTQ_IRQ_SENT = 0,
    VIRTQ_IRQ_SUPPRESSED_EVENT_IDX, /* used_event not crossed */
    VIRTQ_IRQ_SUPPRESSED_FLAG,      /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    VIRTQ_IRQ_NOT_READY,
};

struct virtq {
    /* Configuration, frozen by virtq_activate(). */
    const struct guestmem *mem;
    uint16_t size;
    bool event_idx, indirect, ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* Host views of the rings, valid while ready. */
    uint8_t *desc, *avail, *used;
    /* Device state. */
    uint16_t last_avail_idx; /* next avail entry to pop */
    uint16_t used_idx;       /* shadow of used.idx (entries published) */
    uint16_t pending;        /* entries filled but not yet flushed */
    uint16_t signalled_used; /* used.idx at the last interrupt (EVENT_IDX) */
    bool signalled_used_valid;
    uint16_t inflight; /* heads popped and not yet pushed */
    bool broken;
    uint8_t last_irq_reason; /* enum virtq_irq_reason */
    uint8_t inflight_map[VIRTQ_MAX_SIZE / 8];
    struct virtq_stats stats;
};

/* virtq_reset: back to the unconfigured, inactive state (counters kept). */
void virtq_reset(struct virtq *vq);

/* virtq_activate: validates and freezes the configuration. size must be a power of two in
 * [1, VIRTQ_MAX_SIZE]; desc 16-byte aligned, avail 2-byte, used 4-byte aligned (§2.7); each
 * ring wholly inside RAM. event_idx / indirect: the negotiated features. Returns 0 or
 * -EINVAL (the queue stays inactive). */
int virtq_activate(struct virtq *vq, const struct guestmem *mem, uint16_t size, uint64_t desc,
                   uint64_t avail, uint64_t used, bool event_idx, bool indirect);

/* virtq_ring_bytes: bytes of each ring for a queue size (for overlap checks and tests). */
size_t virtq_desc_bytes(uint16_t size);
size_t virtq_avail_bytes(uint16_t size, bool event_idx);
size_t virtq_used_bytes(uint16_t size, bool event_idx);

/* virtq_pop: takes the next available chain. Returns 1 with *elem filled (elem->error set
 * and no buffers if the chain was malformed: push it back with length 0), 0 if the ring is
 * empty, or -EIO if the queue is (or just became) broken. */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/* virtq_unpop: gives back the last n popped chains unconsumed (they will be popped again),
 * e.g. when a frame turns out not to fit the buffers available yet. */
void virtq_unpop(struct virtq *vq, const struct virtq_elem *const *elems, unsigned n);

/* virtq_fill: writes the used entry for elem at position used_idx + pending, without
 * publishing it; len is clamped to elem->in_len. A head not in flight is ignored (and
 * counted). */
void virtq_fill(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);

/* virtq_flush: publishes every filled entry: a release barrier (pairing with the driver's
 * read barrier after it reads used.idx), then the used.idx store. */
void virtq_flush(struct virtq *vq);

/* virtq_push: virtq_fill() then virtq_flush(). */
void virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);

/* virtq_should_notify: after publishing used entries, whether to interrupt the driver:
 * with EVENT_IDX, whether used.idx crossed used_event since the last interrupt; otherwise
 * unless VIRTQ_AVAIL_F_NO_INTERRUPT is set. Counts irq_needed / irq_suppressed. */
bool virtq_should_notify(struct virtq *vq);

/* virtq_set_notification: enables or disables the driver's notifications (kicks): with
 * EVENT_IDX by writing avail_event, otherwise VIRTQ_USED_F_NO_NOTIFY. Enabling is followed
 * by a full barrier, so the caller must re-check virtq_has_work() afterwards to close the
 * race with a buffer posted meanwhile. */
void virtq_set_notification(struct virtq *vq, bool enable);

/* virtq_notify_on_next_post: enables the driver's kicks for the next chain it posts, past
 * those already available: with EVENT_IDX, avail_event is set to the avail.idx the driver has
 * published (re-read after the barrier until it is stable, at most the queue size times);
 * otherwise as virtq_set_notification(vq, true). For a device that leaves available chains
 * in the ring because they are not enough (mergeable receive buffers): there,
 * virtq_set_notification() would ask for last_avail_idx, which the driver has already
 * passed, and no kick would come. The caller re-checks afterwards. */
void virtq_notify_on_next_post(struct virtq *vq);

/* virtq_has_work: true if the avail ring holds chains not yet popped. */
bool virtq_has_work(struct virtq *vq);

/* virtq_avail_count: how many chains are available (0 when broken or inactive). */
uint16_t virtq_avail_count(struct virtq *vq);

#endif
