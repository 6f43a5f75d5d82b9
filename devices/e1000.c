/* The 82540EM device: creation and teardown, its PCI function, device reset, the interrupt
 * line with ITR throttling, the RDTR/RADV/TIDV/TADV mitigation timers (8254x manual §3.4 and
 * §13.4.14-15, §13.4.31-34), and the glue to the event loop and the netdev layer. The
 * register window is in e1000_regs.c, EEPROM and PHY in e1000_phy.c, the data paths in
 * e1000_tx.c and e1000_rx.c. */
#include "devices/e1000_int.h"
#include "vmm/evloop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NS_PER_DELAY_UNIT 1024 /* RDTR, RADV, TIDV, TADV: 1.024 us */
#define NS_PER_ITR_UNIT   256

/* --- interrupts ------------------------------------------------------------------------- */

bool e1000_dma_ok(const struct e1000 *e)
{
    return pci_bus_master(&e->pci);
}

/* The INTx line follows ICR & IMS, unless the command register disables INTx; a rising edge
 * waits until ITR's interval since the previous one has passed. */
void e1000_update_irq(struct e1000 *e)
{
    bool pending = (e1000_reg(e, E1000_ICR) & e1000_reg(e, E1000_IMS)) != 0;
    if (pending)
        e->pci.cfg[PCI_STATUS] |= 0x08; /* interrupt status, visible even with INTx off */
    else
        e->pci.cfg[PCI_STATUS] &= (uint8_t)~0x08;
    bool want = pending && !pci_intx_disabled(&e->pci);
    if (want == e->irq_level)
        return;
    if (!want) {
        e->irq_level = false;
        e->stats.irq_lowered++;
        irq_set(e->irq, false);
        return;
    }
    uint32_t itr = e1000_reg(e, E1000_ITR) & 0xffff;
    if (itr) {
        uint64_t now = evloop_now_ns();
        if (now < e->itr_next_ns) {
            if (!e->itr.on)
                e1000_mtimer_start(&e->itr, e->itr_next_ns - now);
            return;
        }
        e->itr_next_ns = now + (uint64_t)itr * NS_PER_ITR_UNIT;
    }
    e->irq_level = true;
    e->stats.irq_raised++;
    irq_set(e->irq, true);
}

void e1000_set_ics(struct e1000 *e, uint32_t causes)
{
    e->regs[E1000_ICR >> 2] |= causes & E1000_ICR_VALID;
    e1000_update_irq(e);
}

/* --- mitigation timers -------------------------------------------------------------------- */

void e1000_mtimer_start(struct e1000_mtimer *m, uint64_t ns)
{
    m->deadline = evloop_now_ns() + ns;
    m->on = true;
    evloop_timer_arm(m->t, ns ? ns : 1);
}

/* A packet timer: moves the deadline; the loop's timer is only armed when it was idle (a
 * firing before the deadline re-arms it for the rest), so a packet costs no loop lock. */
void e1000_mtimer_extend(struct e1000_mtimer *m, uint64_t ns)
{
    if (!m->on) {
        e1000_mtimer_start(m, ns);
        return;
    }
    m->deadline = evloop_now_ns() + ns;
}

void e1000_mtimer_stop(struct e1000_mtimer *m)
{
    if (!m->on)
        return;
    m->on = false;
    evloop_timer_arm(m->t, 0);
}

static void mtimer_cb(void *opaque)
{
    struct e1000_mtimer *m = opaque;
    struct e1000 *e = m->e;
    pthread_mutex_lock(&e->lock);
    if (m->on) { /* else stopped (reset, flush) after it expired */
        uint64_t now = evloop_now_ns();
        if (now < m->deadline) {
            evloop_timer_arm(m->t, m->deadline - now);
        } else {
            m->on = false;
            m->fire(e);
        }
    }
    pthread_mutex_unlock(&e->lock);
}

static void fire_itr(struct e1000 *e)
{
    e->stats.itr_fired++;
    if (e1000_tracing(e))
        e1000_trace_timer(e, "ITR");
    e1000_update_irq(e);
}

static void rx_delay_done(struct e1000 *e)
{
    e1000_mtimer_stop(&e->rdtr);
    e1000_mtimer_stop(&e->radv);
    e1000_set_ics(e, E1000_ICR_RXT0);
}

static void fire_rdtr(struct e1000 *e)
{
    e->stats.rdtr_fired++;
    if (e1000_tracing(e))
        e1000_trace_timer(e, "RDTR");
    rx_delay_done(e);
}

static void fire_radv(struct e1000 *e)
{
    e->stats.radv_fired++;
    if (e1000_tracing(e))
        e1000_trace_timer(e, "RADV");
    rx_delay_done(e);
}

static void tx_delay_done(struct e1000 *e)
{
    e1000_mtimer_stop(&e->tidv);
    e1000_mtimer_stop(&e->tadv);
    e1000_set_ics(e, E1000_ICR_TXDW);
}

static void fire_tidv(struct e1000 *e)
{
    e->stats.tidv_fired++;
    if (e1000_tracing(e))
        e1000_trace_timer(e, "TIDV");
    tx_delay_done(e);
}

static void fire_tadv(struct e1000 *e)
{
    e->stats.tadv_fired++;
    if (e1000_tracing(e))
        e1000_trace_timer(e, "TADV");
    tx_delay_done(e);
}

/* RDTR/TIDV written with FPD: a pending delayed interrupt happens now. */
void e1000_rx_delay_flush(struct e1000 *e)
{
    if (e->rdtr.on || e->radv.on)
        rx_delay_done(e);
}

void e1000_tx_delay_flush(struct e1000 *e)
{
    if (e->tidv.on || e->tadv.on)
        tx_delay_done(e);
}

static int mtimer_init(struct e1000 *e, struct e1000_mtimer *m, void (*fire)(struct e1000 *),
                       const char *reg)
{
    m->e = e;
    m->fire = fire;
    m->t = evloop_timer_new(e->loop, mtimer_cb, m);
    if (m->t)
        evloop_timer_set_name(m->t, "%s %s", e->name, reg);
    return m->t ? 0 : -ENOMEM;
}

/* --- link --------------------------------------------------------------------------------- */

bool e1000_link_up(const struct e1000 *e)
{
    return e->backend_link && !(e->phy[PHY_CTRL] & PHY_CTRL_POWERDOWN);
}

/* After anything that may change the link: a change raises LSC. */
void e1000_link_update(struct e1000 *e, bool was_up)
{
    if (e1000_link_up(e) != was_up)
        e1000_set_ics(e, E1000_ICR_LSC);
}

static void e1000_link_changed(void *opaque, bool up)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    bool was_up = e1000_link_up(e);
    e->backend_link = up;
    e1000_link_update(e, was_up);
    pthread_mutex_unlock(&e->lock);
}

/* --- work on the loop --------------------------------------------------------------------- */

/* Hands work to the loop thread (any thread, lock held): one eventfd wake-up covers any
 * number of kicks. */
void e1000_kick(struct e1000 *e, unsigned work)
{
    bool was_idle = e->work == 0;
    e->work |= work;
    uint64_t one = 1;
    if (was_idle && write(e->work_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_ratelimited(&e->rl, LOG_WARN, "%s: work eventfd: %s", e->name, strerror(errno));
}

static void e1000_on_work(void *opaque, uint32_t events)
{
    struct e1000 *e = opaque;
    uint64_t v;
    (void)events;
    if (read(e->work_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&e->lock);
    unsigned work = e->work;
    e->work = 0;
    if (work & E1000_WORK_LB)
        e1000_lb_drain(e);
    if (work & E1000_WORK_TX)
        e1000_tx_run(e);
    pthread_mutex_unlock(&e->lock);
}

static void e1000_tx_ready(void *opaque)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    if (e->tx_wait) {
        e->tx_wait = false;
        e1000_kick(e, E1000_WORK_TX);
    }
    pthread_mutex_unlock(&e->lock);
}

static size_t e1000_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                            const struct iovec *iov, int iovcnt, size_t len)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    size_t r = e1000_tracing(e) ? e1000_trace_rx(e, hdr, iov, iovcnt, len)
                                : e1000_rx_frame(e, hdr, iov, iovcnt, len, false);
    pthread_mutex_unlock(&e->lock);
    return r;
}

static const struct netdev_nic_ops e1000_nic_ops = {
    .receive = e1000_receive,
    .tx_ready = e1000_tx_ready,
    .link_changed = e1000_link_changed,
};

/* --- reset -------------------------------------------------------------------------------- */

/* CTRL.RST (and creation): every register, the PHY, the TX state and the loopback queue
 * back to power-on values, timers stopped. Runs under the lock, so TX, RX and timer work in
 * progress finish first; with TCTL/RCTL cleared nothing touches guest memory afterwards. */
void e1000_reset_locked(struct e1000 *e)
{
    e1000_mtimer_stop(&e->itr);
    e1000_mtimer_stop(&e->rdtr);
    e1000_mtimer_stop(&e->radv);
    e1000_mtimer_stop(&e->tidv);
    e1000_mtimer_stop(&e->tadv);
    e1000_regs_reset(e);
    e1000_phy_reset(e);
    memset(&e->ee, 0, sizeof(e->ee));
    e->ioaddr = 0;
    e1000_tx_reset(e);
    e1000_lb_flush(e);
    e->work = 0;
    e->rx_blocked = false;
    e->itr_next_ns = 0;
    e1000_update_irq(e); /* the link stays as the backend has it: no LSC for a reset */
}

/* A guest write to the PCI header: bus mastering or INTx masking may have changed. */
static void e1000_cfg_written(struct pci_device *d, unsigned off, unsigned len)
{
    struct e1000 *e = d->owner;
    if (off > PCI_COMMAND + 1 || off + len <= PCI_COMMAND)
        return;
    pthread_mutex_lock(&e->lock);
    e1000_update_irq(e);
    if (e1000_dma_ok(e)) {
        e1000_kick(e, E1000_WORK_TX | (e->lb_head ? E1000_WORK_LB : 0));
        if (e->rx_blocked) {
            e->rx_blocked = false;
            netdev_rx_ready(e->nd);
        }
    }
    pthread_mutex_unlock(&e->lock);
}

/* --- lifetime ----------------------------------------------------------------------------- */

static void e1000_init_pci(struct e1000 *e)
{
    struct pci_device *d = &e->pci;
    pci_device_init(d, E1000_VENDOR_ID, E1000_DEVICE_ID, 0x020000, 0x03, 1);
    d->cfg[PCI_SUBSYSTEM_VENDOR_ID] = 0x86;
    d->cfg[PCI_SUBSYSTEM_VENDOR_ID + 1] = 0x80;
    d->cfg[PCI_SUBSYSTEM_ID] = 0x1e;
    d->cfg[PCI_SUBSYSTEM_ID + 1] = 0x00;
    d->owner = e;
    d->cfg_written = e1000_cfg_written;
    snprintf(e->bar0_name, sizeof(e->bar0_name), "%s-bar0", e->name);
    snprintf(e->bar1_name, sizeof(e->bar1_name), "%s-bar1", e->name);
    pci_device_set_bar(d, 0, E1000_MMIO_SIZE, false, e1000_mmio, e, e->bar0_name);
    pci_device_set_bar(d, 1, E1000_IO_SIZE, true, e1000_io, e, e->bar1_name);
}

static int e1000_init_loop(struct e1000 *e)
{
    e->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->work_fd < 0)
        return -errno;
    int rc = evloop_add_fd(e->loop, e->work_fd, EPOLLIN, e1000_on_work, e);
    if (rc < 0) {
        close(e->work_fd);
        e->work_fd = -1;
        return rc;
    }
    evloop_set_name(e->loop, e->work_fd, "%s work (TDT writes, resets)", e->name);
    if (mtimer_init(e, &e->itr, fire_itr, "ITR") < 0 ||
        mtimer_init(e, &e->rdtr, fire_rdtr, "RDTR") < 0 ||
        mtimer_init(e, &e->radv, fire_radv, "RADV") < 0 ||
        mtimer_init(e, &e->tidv, fire_tidv, "TIDV") < 0 ||
        mtimer_init(e, &e->tadv, fire_tadv, "TADV") < 0)
        return -ENOMEM;
    return 0;
}

struct e1000 *e1000_create(const struct e1000_params *p, char *err, size_t errlen)
{
    if (!p->netdev || !p->mem || !p->irq || !p->loop) {
        snprintf(err, errlen, "e1000: missing netdev, memory, interrupt or loop");
        return NULL;
    }
    struct e1000 *e = calloc(1, sizeof(*e));
    if (!e || !(e->rxbuf = malloc(E1000_MAX_LPE + 64))) {
        snprintf(err, errlen, "out of memory");
        free(e);
        return NULL;
    }
    e->work_fd = -1;
    pthread_mutex_init(&e->lock, NULL);
    snprintf(e->name, sizeof(e->name), "%s", p->name ? p->name : "e1000");
    memcpy(e->mac, p->mac, 6);
    e->nd = p->netdev;
    e->mem = p->mem;
    e->irq = p->irq;
    e->loop = p->loop;
    e->lb_tail = &e->lb_head;
    e->backend_link = netdev_link_up(p->netdev);
    e->mpc_layer_seen = netdev_get_stats(p->netdev)->drops[NETDEV_DROP_QUEUE_FULL];
    e1000_init_pci(e);
    e1000_eeprom_init(e);
    e1000_trace_init(e);
    int rc = e1000_init_loop(e);
    if (rc < 0) {
        snprintf(err, errlen, "e1000: cannot set up its event sources: %s", strerror(-rc));
        e1000_destroy(e);
        return NULL;
    }
    e1000_reset_locked(e);
    if (netdev_attach(e->nd, e->name, &e1000_nic_ops, e) < 0) {
        snprintf(err, errlen, "netdev %s is already used by another NIC", netdev_id(e->nd));
        e1000_destroy(e);
        return NULL;
    }
    return e;
}

void e1000_destroy(struct e1000 *e)
{
    if (!e)
        return;
    struct e1000_mtimer *timers[] = {&e->itr, &e->rdtr, &e->radv, &e->tidv, &e->tadv};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        evloop_timer_free(timers[i]->t);
    if (e->work_fd >= 0) {
        evloop_del_fd(e->loop, e->work_fd);
        close(e->work_fd);
    }
    e1000_lb_flush(e);
    free(e->lb_linear);
    free(e->lb_scratch);
    free(e->rxbuf);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void e1000_reset(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    e1000_reset_locked(e);
    pthread_mutex_unlock(&e->lock);
}

struct pci_device *e1000_pci(struct e1000 *e)
{
    return &e->pci;
}

const struct e1000_stats *e1000_get_stats(const struct e1000 *e)
{
    return &e->stats;
}
