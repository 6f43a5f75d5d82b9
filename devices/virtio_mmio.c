/* virtio-mmio version 2 transport (virtio 1.2 §4.2). Every guest write is checked against
 * the status state machine (§2.1, §3.1.1): features only while negotiating, queue setup
 * only between FEATURES_OK and DRIVER_OK, activation validated once, refusals counted. */
#include "devices/virtio_mmio.h"
#include "vmm/iobus.h"
#include "vmm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR      0x4d56434e /* "NCVM" */
#define VIRTIO_STATUS_VALID                                                                        \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |                  \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

static struct log_ratelimit vmmio_rl = LOG_RATELIMIT_INIT;

bool virtio_mmio_driver_ok(const struct virtio_mmio *t)
{
    return (t->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(t->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

static void virtio_mmio_raise(struct virtio_mmio *t, unsigned bits)
{
    atomic_fetch_or(&t->int_status, bits);
    t->stats.irqs++;
    if (t->irq)
        irq_pulse(t->irq);
}

bool virtio_mmio_signal_used(struct virtio_mmio *t, unsigned q)
{
    if (q >= t->ops->num_queues || !virtq_should_notify(&t->vq[q]))
        return false;
    virtio_mmio_raise(t, VIRTIO_INT_VRING);
    return true;
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    t->config_generation++;
    virtio_mmio_raise(t, VIRTIO_INT_CONFIG);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
    if (t->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    t->status |= VIRTIO_STATUS_NEEDS_RESET;
    log_ratelimited(&vmmio_rl, LOG_WARN, "virtio-mmio@0x%llx: device error: DEVICE_NEEDS_RESET set",
                    (unsigned long long)t->base);
    virtio_mmio_config_changed(t);
}

/* --- kicks ---------------------------------------------------------------------------- */

void virtio_mmio_kick(struct virtio_mmio *t, unsigned q)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is saturated, so a kick is pending anyway. */
    if (q < t->ops->num_queues && write(t->kick[q].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_ratelimited(&vmmio_rl, LOG_WARN, "virtio-mmio: kick eventfd: %s", strerror(errno));
}

static void virtio_mmio_on_kick(void *opaque, uint32_t events)
{
    struct virtio_mmio_kick *k = opaque;
    struct virtio_mmio *t = k->t;
    uint64_t n;
    (void)events;
    if (read(k->fd, &n, sizeof(n)) < 0)
        return;
    pthread_mutex_lock(&t->lock);
    t->stats.kicks[k->q]++;
    if (virtio_mmio_driver_ok(t) && t->vq[k->q].ready && !t->vq[k->q].broken)
        t->ops->notify(t->dev, k->q);
    else
        t->stats.kicks_ignored++;
    pthread_mutex_unlock(&t->lock);
}

/* --- status state machine ------------------------------------------------------------- */

/* Back to the power-on state (§2.4). Lock held; the device's reset quiesces its work. */
static void virtio_mmio_reset(struct virtio_mmio *t)
{
    t->ops->reset(t->dev);
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
        virtq_reset(&t->vq[q]);
        t->qcfg[q] = (struct virtio_queue_cfg){0};
    }
    t->acked = 0;
    t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
    t->status = 0;
    atomic_store(&t->int_status, 0);
}

static bool virtio_mmio_features_ok(struct virtio_mmio *t)
{
    uint64_t f = t->acked;
    if ((f & ~t->offered) || !(f & (1ull << VIRTIO_F_VERSION_1)) ||
        t->ops->validate(t->dev, f) < 0) {
        t->stats.features_refused++;
        log_ratelimited(&vmmio_rl, LOG_WARN,
                        "virtio-mmio@0x%llx: refused driver features 0x%llx (offered 0x%llx)",
                        (unsigned long long)t->base, (unsigned long long)f,
                        (unsigned long long)t->offered);
        return false;
    }
    return true;
}

/* True if any two rings of the activated queues overlap (checklist 3: a ring the device
 * writes must not alias another ring; unset addresses, all 0, land here too). Each range was
 * found wholly inside RAM by virtq_activate(), so start + length does not wrap. */
static bool virtio_mmio_rings_overlap(const struct virtio_mmio *t, bool event_idx)
{
    uint64_t start[VIRTIO_MMIO_MAX_QUEUES * 3], len[VIRTIO_MMIO_MAX_QUEUES * 3];
    unsigned n = 0;
    for (unsigned q = 0; q < t->ops->num_queues; q++) {
        const struct virtq *vq = &t->vq[q];
        if (!vq->ready)
            continue;
        start[n] = vq->desc_gpa;
        len[n++] = virtq_desc_bytes(vq->size);
        start[n] = vq->avail_gpa;
        len[n++] = virtq_avail_bytes(vq->size, event_idx);
        start[n] = vq->used_gpa;
        len[n++] = virtq_used_bytes(vq->size, event_idx);
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++)
            if (start[i] < start[j] + len[j] && start[j] < start[i] + len[i])
                return true;
    return false;
}

/* DRIVER_OK: validate and freeze every ready queue, then start the device. On a refusal no
 * queue stays active. */
static int virtio_mmio_activate(struct virtio_mmio *t)
{
    bool event_idx = t->acked & (1ull << VIRTIO_F_EVENT_IDX);
    bool indirect = t->acked & (1ull << VIRTIO_F_INDIRECT_DESC);
    for (unsigned q = 0; q < t->ops->num_queues; q++) {
        const struct virtio_queue_cfg *c = &t->qcfg[q];
        if (!c->ready)
            continue;
        if (virtq_activate(&t->vq[q], t->mem, c->num, c->desc, c->driver, c->device, event_idx,
                           indirect) < 0) {
            log_ratelimited(&vmmio_rl, LOG_WARN,
                            "virtio-mmio@0x%llx: queue %u refused at DRIVER_OK: size %u, "
                            "rings 0x%llx/0x%llx/0x%llx",
                            (unsigned long long)t->base, q, c->num, (unsigned long long)c->desc,
                            (unsigned long long)c->driver, (unsigned long long)c->device);
            goto refused;
        }
    }
    if (virtio_mmio_rings_overlap(t, event_idx)) {
        log_ratelimited(&vmmio_rl, LOG_WARN,
                        "virtio-mmio@0x%llx: overlapping rings refused at DRIVER_OK",
                        (unsigned long long)t->base);
        goto refused;
    }
    return t->ops->activate(t->dev, t->acked);
refused:
    for (unsigned q = 0; q < t->ops->num_queues; q++)
        virtq_reset(&t->vq[q]);
    return -EINVAL;
}

static void virtio_mmio_write_status(struct virtio_mmio *t, uint32_t v)
{
    if (v == 0) {
        virtio_mmio_reset(t);
        return;
    }
    /* Undefined bits, or bits the driver may not clear (§2.1.1): refuse the write. */
    if ((v & ~VIRTIO_STATUS_VALID) || (t->status & ~v & ~VIRTIO_STATUS_NEEDS_RESET)) {
        t->stats.bad_status++;
        return;
    }
    uint8_t add = (uint8_t)(v & ~t->status & ~VIRTIO_STATUS_NEEDS_RESET);
    if ((add & VIRTIO_STATUS_FEATURES_OK) &&
        (!(t->status & VIRTIO_STATUS_DRIVER) || !virtio_mmio_features_ok(t)))
        add &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* reads back clear: refused */
    if ((add & VIRTIO_STATUS_DRIVER_OK) && !((t->status | add) & VIRTIO_STATUS_FEATURES_OK)) {
        t->stats.bad_status++;
        add &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
    }
    t->status |= add;
    if ((add & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_FAILED) &&
        virtio_mmio_activate(t) < 0)
        virtio_mmio_needs_reset(t);
}

/* --- registers ------------------------------------------------------------------------ */

/* Queue setup is accepted only between FEATURES_OK and DRIVER_OK (checklist 1.5). */
static struct virtio_queue_cfg *queue_cfg_for_write(struct virtio_mmio *t)
{
    if (t->queue_sel >= t->ops->num_queues || !(t->status & VIRTIO_STATUS_FEATURES_OK) ||
        (t->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED))) {
        t->stats.late_queue_write++;
        return NULL;
    }
    return &t->qcfg[t->queue_sel];
}

static void set_low(uint64_t *field, uint32_t v)
{
    *field = (*field & 0xffffffff00000000ull) | v;
}

static void set_high(uint64_t *field, uint32_t v)
{
    *field = (*field & 0xffffffffull) | ((uint64_t)v << 32);
}

static void virtio_mmio_write_queue(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    struct virtio_queue_cfg *c = queue_cfg_for_write(t);
    if (!c)
        return;
    switch (off) {
    case VMMIO_QUEUE_NUM: c->num = v > 0xffff ? 0 : (uint16_t)v; break; /* checked at activation */
    case VMMIO_QUEUE_READY: c->ready = v & 1; break;
    case VMMIO_QUEUE_DESC_LOW: set_low(&c->desc, v); break;
    case VMMIO_QUEUE_DESC_HIGH: set_high(&c->desc, v); break;
    case VMMIO_QUEUE_DRIVER_LOW: set_low(&c->driver, v); break;
    case VMMIO_QUEUE_DRIVER_HIGH: set_high(&c->driver, v); break;
    case VMMIO_QUEUE_DEVICE_LOW: set_low(&c->device, v); break;
    case VMMIO_QUEUE_DEVICE_HIGH: set_high(&c->device, v); break;
    default: break;
    }
}

static void virtio_mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    switch (off) {
    case VMMIO_DEVICE_FEATURES_SEL: t->dev_feat_sel = v; break;
    case VMMIO_DRIVER_FEATURES_SEL: t->drv_feat_sel = v; break;
    case VMMIO_DRIVER_FEATURES:
        /* Only while negotiating: after FEATURES_OK the set is frozen (§3.1.1). */
        if (!(t->status & VIRTIO_STATUS_DRIVER) || (t->status & VIRTIO_STATUS_FEATURES_OK))
            t->stats.bad_status++;
        else if (t->drv_feat_sel == 0)
            set_low(&t->acked, v);
        else if (t->drv_feat_sel == 1)
            set_high(&t->acked, v);
        break;
    case VMMIO_QUEUE_SEL: t->queue_sel = v; break;
    case VMMIO_QUEUE_NUM:
    case VMMIO_QUEUE_READY:
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
    case VMMIO_QUEUE_DRIVER_LOW:
    case VMMIO_QUEUE_DRIVER_HIGH:
    case VMMIO_QUEUE_DEVICE_LOW:
    case VMMIO_QUEUE_DEVICE_HIGH: virtio_mmio_write_queue(t, off, v); break;
    case VMMIO_INTERRUPT_ACK: atomic_fetch_and(&t->int_status, ~v); break;
    case VMMIO_STATUS: virtio_mmio_write_status(t, v); break;
    case VMMIO_SHM_SEL: break;
    default: t->stats.ro_write++; break;
    }
}

static uint32_t virtio_mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
    bool qvalid = t->queue_sel < t->ops->num_queues;
    switch (off) {
    case VMMIO_MAGIC: return VIRTIO_MMIO_MAGIC_VALUE;
    case VMMIO_VERSION: return 2;
    case VMMIO_DEVICE_ID: return t->ops->device_id;
    case VMMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VMMIO_DEVICE_FEATURES:
        return t->dev_feat_sel == 0   ? (uint32_t)t->offered
               : t->dev_feat_sel == 1 ? (uint32_t)(t->offered >> 32)
                                      : 0;
    case VMMIO_QUEUE_NUM_MAX: return qvalid ? VIRTQ_MAX_SIZE : 0; /* 0: no such queue */
    case VMMIO_QUEUE_READY: return qvalid && t->qcfg[t->queue_sel].ready;
    case VMMIO_INTERRUPT_STATUS: return atomic_load(&t->int_status);
    case VMMIO_STATUS: return t->status;
    case VMMIO_SHM_LEN_LOW:
    case VMMIO_SHM_LEN_HIGH: return 0xffffffffu; /* no shared memory regions (§4.2.2) */
    case VMMIO_CONFIG_GENERATION: return t->config_generation;
    default: t->stats.bad_access++; return 0;
    }
}

const char *virtio_mmio_reg_name(unsigned i)
{
    /* §4.2.2's names, by offset / 4. */
    static const char *const names[VIRTIO_MMIO_REG_SLOTS] = {
        [VMMIO_MAGIC / 4] = "MagicValue",
        [VMMIO_VERSION / 4] = "Version",
        [VMMIO_DEVICE_ID / 4] = "DeviceID",
        [VMMIO_VENDOR_ID / 4] = "VendorID",
        [VMMIO_DEVICE_FEATURES / 4] = "DeviceFeatures",
        [VMMIO_DEVICE_FEATURES_SEL / 4] = "DeviceFeaturesSel",
        [VMMIO_DRIVER_FEATURES / 4] = "DriverFeatures",
        [VMMIO_DRIVER_FEATURES_SEL / 4] = "DriverFeaturesSel",
        [VMMIO_QUEUE_SEL / 4] = "QueueSel",
        [VMMIO_QUEUE_NUM_MAX / 4] = "QueueNumMax",
        [VMMIO_QUEUE_NUM / 4] = "QueueNum",
        [VMMIO_QUEUE_READY / 4] = "QueueReady",
        [VMMIO_QUEUE_NOTIFY / 4] = "QueueNotify",
        [VMMIO_INTERRUPT_STATUS / 4] = "InterruptStatus",
        [VMMIO_INTERRUPT_ACK / 4] = "InterruptACK",
        [VMMIO_STATUS / 4] = "Status",
        [VMMIO_QUEUE_DESC_LOW / 4] = "QueueDescLow",
        [VMMIO_QUEUE_DESC_HIGH / 4] = "QueueDescHigh",
        [VMMIO_QUEUE_DRIVER_LOW / 4] = "QueueDriverLow",
        [VMMIO_QUEUE_DRIVER_HIGH / 4] = "QueueDriverHigh",
        [VMMIO_QUEUE_DEVICE_LOW / 4] = "QueueDeviceLow",
        [VMMIO_QUEUE_DEVICE_HIGH / 4] = "QueueDeviceHigh",
        [VMMIO_SHM_SEL / 4] = "SHMSel",
        [VMMIO_SHM_LEN_LOW / 4] = "SHMLenLow",
        [VMMIO_SHM_LEN_HIGH / 4] = "SHMLenHigh",
        [VMMIO_SHM_BASE_LOW / 4] = "SHMBaseLow",
        [VMMIO_SHM_BASE_HIGH / 4] = "SHMBaseHigh",
        [VMMIO_CONFIG_GENERATION / 4] = "ConfigGeneration",
        [VIRTIO_MMIO_REG_SLOTS - 1] = "config",
    };
    return i < VIRTIO_MMIO_REG_SLOTS ? names[i] : NULL;
}

void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct virtio_mmio *t = opaque;
    unsigned slot = offset >= VIRTIO_MMIO_CONFIG ? VIRTIO_MMIO_REG_SLOTS - 1 : (unsigned)offset / 4;
    atomic_fetch_add_explicit(&t->reg_access[slot][is_write], 1, memory_order_relaxed);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        pthread_mutex_lock(&t->lock);
        if (is_write)
            t->ops->config_write(t->dev, offset - VIRTIO_MMIO_CONFIG, data, len);
        else
            t->ops->config_read(t->dev, offset - VIRTIO_MMIO_CONFIG, data, len);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    /* Control registers take only aligned 32-bit accesses (§4.2.2.2). */
    if (len != 4 || (offset & 3)) {
        t->stats.bad_access++;
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    if (is_write && offset == VMMIO_QUEUE_NOTIFY) {
        /* Without ioeventfd the kick arrives here: hand it to the loop like KVM would. */
        uint32_t q = (uint32_t)iobus_get_le(data, 4);
        if (q < t->ops->num_queues)
            virtio_mmio_kick(t, q);
        else
            t->stats.kicks_ignored++;
        return;
    }
    if (is_write && offset == VMMIO_INTERRUPT_ACK) {
        atomic_fetch_and(&t->int_status, ~(uint32_t)iobus_get_le(data, 4));
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (is_write)
        virtio_mmio_write_reg(t, offset, (uint32_t)iobus_get_le(data, 4));
    else
        iobus_put_le(data, 4, virtio_mmio_read_reg(t, offset));
    pthread_mutex_unlock(&t->lock);
}

/* --- lifetime ------------------------------------------------------------------------- */

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
                     uint64_t offered, uint64_t base, const struct guestmem *mem,
                     struct irq_line *irq, struct evloop *loop, virtio_mmio_bind_fn bind,
                     void *bind_opaque)
{
    if (ops->num_queues > VIRTIO_MMIO_MAX_QUEUES)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->ops = ops;
    t->dev = dev;
    t->offered = offered | (1ull << VIRTIO_F_VERSION_1);
    t->base = base;
    t->mem = mem;
    t->irq = irq;
    t->loop = loop;
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        t->kick[q] = (struct virtio_mmio_kick){t, q, -1};
    t->ioeventfd = bind != NULL;
    for (unsigned q = 0; q < ops->num_queues; q++) {
        struct virtio_mmio_kick *k = &t->kick[q];
        k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->fd < 0)
            return -errno;
        int rc = evloop_add_fd(loop, k->fd, EPOLLIN, virtio_mmio_on_kick, k);
        if (rc == 0)
            evloop_set_name(loop, k->fd, "virtio-mmio@0x%" PRIx64 " queue %u kick", base, q);
        /* QueueNotify writes of value q go straight to this eventfd, without an exit. */
        if (rc == 0 && bind)
            rc = bind(bind_opaque, base + VMMIO_QUEUE_NOTIFY, 4, q, k->fd);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
        if (t->kick[q].fd >= 0) {
            evloop_del_fd(t->loop, t->kick[q].fd);
            close(t->kick[q].fd);
            t->kick[q].fd = -1;
        }
    }
    pthread_mutex_destroy(&t->lock);
}
