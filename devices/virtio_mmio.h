/* virtio-mmio transport, version 2 (virtio 1.2 §4.2): the register window a virtio device
 * sits behind. It owns the status state machine, feature negotiation across both 32-bit
 * feature words, queue configuration (writable only between FEATURES_OK and DRIVER_OK,
 * validated once at activation), the interrupt status and ACK, the configuration
 * generation, and reset at any time.
 *
 * Threads: register accesses come from vCPU threads; queue work runs on the event loop.
 * A device's queue processing and every state change made by a register write (status,
 * reset, activation) hold the transport's lock, so a reset waits for the queue work in
 * progress and no guest memory is written after the reset returns. Kicks arrive on one
 * eventfd per queue: bound to QueueNotify with KVM ioeventfd (no exit to user space), or
 * written by the MMIO handler when ioeventfd is off. */
#ifndef NICVM_VIRTIO_MMIO_H
#define NICVM_VIRTIO_MMIO_H

#include "devices/virtq.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/irq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_MMIO_MAX_QUEUES 4
#define VIRTIO_MMIO_SIZE       0x1000
#define VIRTIO_MMIO_CONFIG     0x100 /* device-specific configuration space */
#define VIRTIO_MMIO_REG_SLOTS  (VIRTIO_MMIO_CONFIG / 4 + 1)

/* Register offsets (§4.2.2). */
enum {
    VMMIO_MAGIC = 0x000,
    VMMIO_VERSION = 0x004,
    VMMIO_DEVICE_ID = 0x008,
    VMMIO_VENDOR_ID = 0x00c,
    VMMIO_DEVICE_FEATURES = 0x010,
    VMMIO_DEVICE_FEATURES_SEL = 0x014,
    VMMIO_DRIVER_FEATURES = 0x020,
    VMMIO_DRIVER_FEATURES_SEL = 0x024,
    VMMIO_QUEUE_SEL = 0x030,
    VMMIO_QUEUE_NUM_MAX = 0x034,
    VMMIO_QUEUE_NUM = 0x038,
    VMMIO_QUEUE_READY = 0x044,
    VMMIO_QUEUE_NOTIFY = 0x050,
    VMMIO_INTERRUPT_STATUS = 0x060,
    VMMIO_INTERRUPT_ACK = 0x064,
    VMMIO_STATUS = 0x070,
    VMMIO_QUEUE_DESC_LOW = 0x080,
    VMMIO_QUEUE_DESC_HIGH = 0x084,
    VMMIO_QUEUE_DRIVER_LOW = 0x090,
    VMMIO_QUEUE_DRIVER_HIGH = 0x094,
    VMMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VMMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VMMIO_SHM_SEL = 0x0ac,
    VMMIO_SHM_LEN_LOW = 0x0b0,
    VMMIO_SHM_LEN_HIGH = 0x0b4,
    VMMIO_SHM_BASE_LOW = 0x0b8,
    VMMIO_SHM_BASE_HIGH = 0x0bc,
    VMMIO_CONFIG_GENERATION = 0x0fc,
};

/* Device status bits (§2.1). */
enum {
    VIRTIO_STATUS_ACKNOWLEDGE = 1,
    VIRTIO_STATUS_DRIVER = 2,
    VIRTIO_STATUS_DRIVER_OK = 4,
    VIRTIO_STATUS_FEATURES_OK = 8,
    VIRTIO_STATUS_NEEDS_RESET = 64,
    VIRTIO_STATUS_FAILED = 128,
};

/* Interrupt status bits (§4.2.2). */
enum { VIRTIO_INT_VRING = 1, VIRTIO_INT_CONFIG = 2 };

/* Transport-independent feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

/* What the device behind the transport provides. Called with the transport lock held. */
struct virtio_dev_ops {
    uint32_t device_id;
    unsigned num_queues;
    /* validate: 0 if the driver's feature set is acceptable (subset already checked). */
    int (*validate)(void *dev, uint64_t features);
    /* config_read / config_write: device configuration space, offset from 0x100. */
    void (*config_read)(void *dev, uint64_t off, uint8_t *data, unsigned len);
    void (*config_write)(void *dev, uint64_t off, const uint8_t *data, unsigned len);
    /* activate: DRIVER_OK with every ready queue validated; 0 or -errno (NEEDS_RESET). */
    int (*activate)(void *dev, uint64_t features);
    /* reset: back to the initial state; queue work is not running. */
    void (*reset)(void *dev);
    /* notify: the driver kicked queue q (event-loop thread, lock held). */
    void (*notify)(void *dev, unsigned q);
};

/* Counters for the monitor and traces. */
struct virtio_mmio_stats {
    uint64_t bad_access;       /* wrong width or alignment, undefined offset */
    uint64_t ro_write;         /* writes to read-only registers */
    uint64_t late_queue_write; /* queue setup outside FEATURES_OK..DRIVER_OK */
    uint64_t bad_status;       /* clearing bits, DRIVER_OK without FEATURES_OK, ... */
    uint64_t features_refused;
    uint64_t kicks[VIRTIO_MMIO_MAX_QUEUES];
    uint64_t kicks_ignored; /* bad queue index, or not DRIVER_OK */
    uint64_t irqs;          /* interrupts raised */
};

struct virtio_mmio;

/* One queue's kick: the eventfd and where it leads (the evloop callback's opaque). */
struct virtio_mmio_kick {
    struct virtio_mmio *t;
    unsigned q;
    int fd;
};

struct virtio_queue_cfg {
    uint16_t num;
    bool ready;
    uint64_t desc, driver, device;
};

struct virtio_mmio {
    pthread_mutex_t lock;
    const struct virtio_dev_ops *ops;
    void *dev;
    const struct guestmem *mem;
    struct irq_line *irq;
    struct evloop *loop;
    uint64_t base;
    uint64_t offered; /* device features */
    uint64_t acked;   /* driver features (while negotiating, then frozen) */
    uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
    uint8_t status;
    atomic_uint int_status;
    uint32_t config_generation;
    struct virtio_queue_cfg qcfg[VIRTIO_MMIO_MAX_QUEUES];
    struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
    struct virtio_mmio_kick kick[VIRTIO_MMIO_MAX_QUEUES];
    bool ioeventfd; /* kicks bypass the MMIO handler */
    struct virtio_mmio_stats stats;
    /* Guest accesses that reached the handler (each one an exit), by register: [offset / 4]
     * for the control registers, [VIRTIO_MMIO_REG_SLOTS - 1] for the configuration space;
     * [reads, writes]. Relaxed atomics: vCPU threads count without the lock. */
    atomic_uint_least64_t reg_access[VIRTIO_MMIO_REG_SLOTS][2];
};

/* virtio_mmio_reg_name: the spec's name of the register at slot i of reg_access
 * ("QueueNotify", "InterruptStatus", ..., "config"), or NULL for a reserved offset. */
const char *virtio_mmio_reg_name(unsigned i);

/* Binds an eventfd to 4-byte guest writes of `value` at `addr` (KVM_IOEVENTFD), supplied by
 * the VMM; NULL in unit tests. Returns 0 or -errno. */
typedef int (*virtio_mmio_bind_fn)(void *opaque, uint64_t addr, unsigned len, uint64_t value,
                                   int fd);

/* virtio_mmio_init: a transport for a device at guest-physical `base`. offered: the device's
 * features (VERSION_1 is added). bind may be NULL (kicks then always go through the MMIO
 * handler). Returns 0 or -errno. */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
                     uint64_t offered, uint64_t base, const struct guestmem *mem,
                     struct irq_line *irq, struct evloop *loop, virtio_mmio_bind_fn bind,
                     void *bind_opaque);

/* virtio_mmio_destroy: stops watching the kick eventfds and closes them. */
void virtio_mmio_destroy(struct virtio_mmio *t);

/* virtio_mmio_io: the iobus handler for the window. */
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* virtio_mmio_signal_used: after used entries were published on queue q: raises the used
 * buffer interrupt unless the driver suppressed it (virtq_should_notify). Returns true if
 * it raised it (vq->last_irq_reason says why not). Lock held. */
bool virtio_mmio_signal_used(struct virtio_mmio *t, unsigned q);

/* virtio_mmio_config_changed: bumps the configuration generation and raises the
 * configuration change interrupt. Lock held. */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/* virtio_mmio_needs_reset: a fatal error in the device or a queue: sets
 * DEVICE_NEEDS_RESET and tells the driver (configuration change interrupt). Lock held. */
void virtio_mmio_needs_reset(struct virtio_mmio *t);

/* virtio_mmio_kick: schedules queue q's processing on the loop, as a guest kick would
 * (a device that must retry later, tests). Any thread. */
void virtio_mmio_kick(struct virtio_mmio *t, unsigned q);

/* virtio_mmio_driver_ok: true while the device is live (DRIVER_OK, no NEEDS_RESET or
 * FAILED). Lock held. */
bool virtio_mmio_driver_ok(const struct virtio_mmio *t);

#endif
