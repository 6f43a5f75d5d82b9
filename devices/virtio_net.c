/* virtio-net device (virtio 1.2 §5.1): feature policy, configuration space, and the TX and
 * RX paths between the split virtqueues and the netdev layer; the report is in
 * virtio_net_info.c. Queue work runs on the event loop with the transport lock held (see
 * virtio_mmio.h). */
#include "devices/virtio_net_int.h"
#include "vmm/iov.h"
#include "vmm/log.h"
#include "vmm/fuzz_work.h"
#include "vmm/trace.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(bit)  (1ull << (bit))
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)

/* --- packet trace (vmm/trace.h) --------------------------------------------------------- */

static bool vn_tracing(const struct virtio_net *vn)
{
    return trace_on(TRACE_PACKETS) && vn->traced;
}

static const char *const vn_irq_reason[] = {
    [VIRTQ_IRQ_SENT] = "injected",
    [VIRTQ_IRQ_SUPPRESSED_EVENT_IDX] = "suppressed: EVENT_IDX (used_event not reached)",
    [VIRTQ_IRQ_SUPPRESSED_FLAG] = "suppressed: VIRTQ_AVAIL_F_NO_INTERRUPT",
    [VIRTQ_IRQ_NOT_READY] = "suppressed: queue not ready",
};

/* Signals queue q's used entries and, when traced, records the outcome as an event that
 * ends `flow` (0: none). */
static void vn_signal(struct virtio_net *vn, unsigned q, uint64_t flow)
{
    uint64_t t0 = vn_tracing(vn) ? trace_now() : 0;
    virtio_mmio_signal_used(&vn->t, q);
    if (!t0)
        return;
    uint64_t t1 = trace_now();
    uint8_t why = vn->t.vq[q].last_irq_reason;
    const char *reason = why < 4 ? vn_irq_reason[why] : "?";
    trace_event(vn->track[q], why == VIRTQ_IRQ_SENT ? "interrupt" : "interrupt suppressed", t0,
                t1 > t0 ? t1 - t0 : 1, NULL, NULL, 0, "reason", reason);
    if (flow)
        trace_flow(vn->track[q], flow, TRACE_FLOW_END, t0, "packet");
}

static uint64_t virtio_net_features(const struct netdev *nd)
{
    uint64_t f = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MTU) |
                 F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
                 F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_VERSION_1);
    /* Segmentation offloads need the header to reach, and come from, the host kernel. */
    if (netdev_caps(nd) & NETDEV_CAP_VNET_HDR)
        f |= F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_GUEST_TSO4) |
             F(VIRTIO_NET_F_GUEST_TSO6);
    /* A backend that takes a TSO frame as one large packet (user: libslirp's TCP takes the
     * whole segment) gains from the guest not segmenting; it never sends large frames back,
     * so the guest side stays MTU-sized. */
    else if (netdev_caps(nd) & NETDEV_CAP_GSO_COALESCED)
        f |= F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6);
    return f;
}

/* Feature dependencies (§5.1.3.1). */
static int virtio_net_validate(void *dev, uint64_t f)
{
    (void)dev;
    uint64_t guest_gso = F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
                         F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_GUEST_UFO);
    uint64_t host_gso = F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
                        F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_HOST_UFO);
    if ((f & guest_gso) && !(f & F(VIRTIO_NET_F_GUEST_CSUM)))
        return -EINVAL;
    if ((f & host_gso) && !(f & F(VIRTIO_NET_F_CSUM)))
        return -EINVAL;
    return 0;
}

/* --- configuration space (§5.1.4) ------------------------------------------------------ */

static void virtio_net_config_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
    struct virtio_net *vn = dev;
    uint8_t cfg[12] = {0};
    memcpy(cfg, vn->mac, 6);
    cfg[6] = vn->link_up ? VIRTIO_NET_S_LINK_UP : 0; /* status, le16 */
    cfg[8] = 1;                                      /* max_virtqueue_pairs */
    cfg[10] = VIRTIO_NET_MTU & 0xff;                 /* mtu, le16 */
    cfg[11] = VIRTIO_NET_MTU >> 8;
    for (unsigned i = 0; i < len; i++)
        data[i] = off + i < sizeof(cfg) ? cfg[off + i] : 0;
}

static void virtio_net_config_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
    (void)dev, (void)off, (void)data, (void)len; /* read-only for a modern driver */
}

/* --- TX -------------------------------------------------------------------------------- */

/* Checks the guest's header against what was negotiated. */
static bool tx_header_allowed(const struct virtio_net *vn, const struct virtio_net_hdr_v1 *h)
{
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(vn->acked & F(VIRTIO_NET_F_CSUM)))
        return false;
    /* ECN only with HOST_ECN (never offered), and never alone. */
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(vn->acked & F(VIRTIO_NET_F_HOST_ECN)))
        return false;
    switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE: return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
    case VIRTIO_NET_HDR_GSO_TCPV4: return vn->acked & F(VIRTIO_NET_F_HOST_TSO4);
    case VIRTIO_NET_HDR_GSO_TCPV6: return vn->acked & F(VIRTIO_NET_F_HOST_TSO6);
    default: return false;
    }
}

/* Sends one popped chain. The header is copied once from guest memory (it may be split
 * across descriptors); only the copy is used. */
static void tx_one(struct virtio_net *vn, struct virtq_elem *e)
{
    struct virtio_net_hdr_v1 hdr;
    if (e->error || e->out_len < HDR_LEN ||
        iov_to_buf(e->iov, (int)e->out_num, 0, &hdr, HDR_LEN) != HDR_LEN) {
        e->error ? vn->stats.tx_bad_chain++ : vn->stats.tx_drop_malformed++;
        return;
    }
    if (!tx_header_allowed(vn, &hdr)) {
        vn->stats.tx_drop_feature++;
        log_ratelimited(&vn->rl, LOG_WARN,
                        "%s: guest used an offload it did not negotiate (flags 0x%x gso_type %u)",
                        vn->name, hdr.flags, hdr.gso_type);
        return;
    }
    size_t len;
    int n = iov_slice(e->iov, (int)e->out_num, HDR_LEN, e->out_len - HDR_LEN, vn->frame_iov,
                      VIRTQ_MAX_SIZE, &len);
    /* hdr_len past the frame: tap rejects it (tun_get_user), offload or not. */
    if (le16toh(hdr.hdr_len) > len) {
        vn->stats.tx_drop_malformed++;
        return;
    }
    hdr.num_buffers = 0;
    int rc = netdev_send(vn->nd, &hdr, vn->frame_iov, n, len);
    if (rc == -EINVAL)
        vn->stats.tx_drop_malformed++;
    else if (rc < 0)
        vn->stats.tx_drop_backend++;
    else {
        vn->stats.tx_packets++;
        vn->stats.tx_bytes += len;
    }
}

/* tx_one with its trace: the chain as an event on the TX track, starting the packet's flow,
 * which the backend's write ends (net/netdev.c). */
static void tx_one_traced(struct virtio_net *vn, struct virtq_elem *e)
{
    uint64_t t0 = trace_now(), flow = trace_new_flow();
    trace_current_flow = flow;
    tx_one(vn, e);
    trace_current_flow = 0;
    static const char *const keys[] = {"head", "bytes", "descriptors", "malformed"};
    uint64_t vals[] = {e->head, e->out_len, e->ndesc, e->error != VIRTQ_ERR_NONE};
    trace_event(vn->track[VIRTIO_NET_TXQ], "tx chain", t0, trace_now() - t0 + 1, keys, vals, 4,
                NULL, NULL);
    trace_flow(vn->track[VIRTIO_NET_TXQ], flow, TRACE_FLOW_START, t0, "packet");
}

/* Processes the TX queue: up to the budget per call, stopping while the backend is full
 * (tx_ready resumes it), with kicks suppressed meanwhile (§2.7.10). */
static void virtio_net_tx(struct virtio_net *vn)
{
    struct virtq *vq = &vn->t.vq[VIRTIO_NET_TXQ];
    unsigned budget = VIRTIO_NET_TX_BUDGET;
    bool popped;
    for (;;) {
        virtq_set_notification(vq, false);
        popped = false;
        while (budget) {
            NICVM_FUZZ_WORK();
            if (!netdev_can_send(vn->nd)) {
                vn->stats.tx_wait_backend++;
                goto out; /* resumed by tx_ready; a kick meanwhile finds it still full */
            }
            int rc = virtq_pop(vq, vn->tx_elem);
            if (rc < 0) {
                virtio_mmio_needs_reset(&vn->t);
                goto out;
            }
            if (rc == 0)
                break;
            budget--;
            if (vn_tracing(vn))
                tx_one_traced(vn, vn->tx_elem);
            else
                tx_one(vn, vn->tx_elem);
            virtq_fill(vq, vn->tx_elem, 0);
            popped = true;
        }
        if (popped) {
            virtq_flush(vq);
            vn_signal(vn, VIRTIO_NET_TXQ, 0);
        }
        if (!budget) {
            vn->stats.tx_budget_yields++;
            virtio_mmio_kick(&vn->t, VIRTIO_NET_TXQ); /* continue after other work */
            return;
        }
        /* Re-enable kicks, then look again: a chain posted in between would be missed. */
        virtq_set_notification(vq, true);
        if (!virtq_has_work(vq))
            return;
    }
out:
    /* Interrupt only for entries published: a kick while the backend is full is no news. */
    if (popped) {
        virtq_flush(vq);
        vn_signal(vn, VIRTIO_NET_TXQ, 0);
    }
    virtq_set_notification(vq, true);
}

/* --- RX -------------------------------------------------------------------------------- */

static bool rx_offload_allowed(const struct virtio_net *vn, const struct virtio_net_hdr_v1 *h)
{
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(vn->acked & F(VIRTIO_NET_F_GUEST_CSUM)))
        return false;
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(vn->acked & F(VIRTIO_NET_F_GUEST_ECN)))
        return false;
    switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE: return true;
    case VIRTIO_NET_HDR_GSO_TCPV4: return vn->acked & F(VIRTIO_NET_F_GUEST_TSO4);
    case VIRTIO_NET_HDR_GSO_TCPV6: return vn->acked & F(VIRTIO_NET_F_GUEST_TSO6);
    default: return false;
    }
}

/* Pops buffers until `need` bytes fit. Returns how many were popped (all kept), 0 if the
 * ring ran dry first (everything given back), or -1 if the frame can never fit (dropped;
 * buffers given back). Malformed chains met on the way are returned empty; *returned is set
 * when used entries were published. */
static int rx_take_buffers(struct virtio_net *vn, size_t need, bool mergeable, bool *returned)
{
    struct virtq *vq = &vn->t.vq[VIRTIO_NET_RXQ];
    unsigned max = mergeable ? VIRTIO_NET_RX_MAX_BUFS : 1;
    size_t have = 0;
    int n = 0;
    while (have < need && (unsigned)n < max) {
        NICVM_FUZZ_WORK();
        struct virtq_elem *e = vn->rx_elem[n];
        int rc = virtq_pop(vq, e);
        if (rc < 0) {
            virtio_mmio_needs_reset(&vn->t);
            break;
        }
        if (rc == 0)
            break;
        if (e->error || e->in_len < HDR_LEN || e->out_num) {
            /* Read-only, malformed, or too small for the header (§5.1.6.3.1): give it back
             * empty. The buffers taken before it go back unused as well: virtq_unpop() can
             * only give back the chains popped last, and this one is returned now. */
            vn->stats.rx_bad_chain++;
            for (int i = 0; i < n; i++)
                virtq_fill(vq, vn->rx_elem[i], 0);
            virtq_fill(vq, e, 0);
            virtq_flush(vq);
            *returned = true;
            n = 0;
            have = 0;
            continue;
        }
        have += e->in_len;
        n++;
    }
    if (have >= need && n > 0)
        return n;
    virtq_unpop(vq, (const struct virtq_elem *const *)vn->rx_elem, (unsigned)n);
    /* Too big for what one frame may use: one buffer without MRG_RXBUF, or the most
     * buffers we take, or every buffer of a full ring. Waiting would not help. */
    if ((n > 0 && !mergeable) || (unsigned)n == max || n == vq->size)
        return -1;
    return 0;
}

/* Counts a dropped RX frame and, when traced, ends its flow with the reason. */
static size_t vn_rx_drop(struct virtio_net *vn, uint64_t *counter, const char *why, size_t len)
{
    (*counter)++;
    if (vn_tracing(vn)) {
        uint64_t t = trace_now();
        static const char *const keys[] = {"bytes"};
        uint64_t vals[] = {len};
        trace_event(vn->track[VIRTIO_NET_RXQ], "rx dropped", t, 1, keys, vals, 1, "reason", why);
        if (trace_current_flow)
            trace_flow(vn->track[VIRTIO_NET_RXQ], trace_current_flow, TRACE_FLOW_END, t, "packet");
    }
    return len;
}

/* Writes the frame into the n buffers rx_take_buffers() popped: the header first
 * (num_buffers included, §5.1.6.4), then the frame across the buffers. The used entries are
 * published only after every byte is written (virtq_flush). */
static void rx_write_frame(struct virtio_net *vn, const struct virtio_net_hdr_v1 *h, int n,
                           const struct iovec *iov, int iovcnt, size_t len)
{
    struct virtq *vq = &vn->t.vq[VIRTIO_NET_RXQ];
    struct virtio_net_hdr_v1 hdr = *h;
    hdr.num_buffers = (uint16_t)n;
    size_t frame_off = 0;
    for (int i = 0; i < n; i++) {
        struct virtq_elem *e = vn->rx_elem[i];
        const struct iovec *in = &e->iov[e->out_num];
        size_t used = i == 0 ? iov_from_buf(in, (int)e->in_num, 0, &hdr, HDR_LEN) : 0;
        size_t c = iov_copy(in, (int)e->in_num, used, iov, iovcnt, frame_off, len - frame_off);
        frame_off += c;
        virtq_fill(vq, e, (uint32_t)(used + c));
    }
    virtq_flush(vq);
}

static size_t virtio_net_receive_locked(struct virtio_net *vn, const struct virtio_net_hdr_v1 *h,
                                        const struct iovec *iov, int iovcnt, size_t len)
{
    struct virtq *vq = &vn->t.vq[VIRTIO_NET_RXQ];
    uint64_t t0 = vn_tracing(vn) ? trace_now() : 0;
    if (!virtio_mmio_driver_ok(&vn->t) || !vq->ready || vq->broken)
        return vn_rx_drop(vn, &vn->stats.rx_drop_not_ready, "driver not ready", len);
    if (!rx_offload_allowed(vn, h))
        return vn_rx_drop(vn, &vn->stats.rx_drop_offload, "offload not negotiated", len);
    bool mergeable = vn->acked & F(VIRTIO_NET_F_MRG_RXBUF);
    bool returned = false;
    int n = rx_take_buffers(vn, HDR_LEN + len, mergeable, &returned);
    if (n == 0 && !vq->broken) {
        /* No room: ask for a kick when the guest posts more buffers (past the ones that may
         * be there but are not enough), then look once more. */
        virtq_notify_on_next_post(vq);
        if (virtq_has_work(vq))
            n = rx_take_buffers(vn, HDR_LEN + len, mergeable, &returned);
    }
    if (n <= 0) {
        if (returned) /* malformed chains went back empty: tell the guest */
            virtio_mmio_signal_used(&vn->t, VIRTIO_NET_RXQ);
        if (vq->broken) /* DEVICE_NEEDS_RESET: nothing more until a reset */
            return vn_rx_drop(vn, &vn->stats.rx_drop_not_ready, "queue broken", len);
        if (n < 0)
            return vn_rx_drop(vn, &vn->stats.rx_drop_oversize, "does not fit the buffers", len);
        vn->stats.rx_wait_buffers++;
        if (t0)
            trace_event(vn->track[VIRTIO_NET_RXQ], "rx waits for buffers", t0, 0, NULL, NULL, 0,
                        NULL, NULL);
        return 0;
    }
    rx_write_frame(vn, h, n, iov, iovcnt, len);
    if (t0) {
        static const char *const keys[] = {"bytes", "buffers", "first_head"};
        uint64_t vals[] = {len, (uint64_t)n, vn->rx_elem[0]->head};
        trace_event(vn->track[VIRTIO_NET_RXQ], "rx buffers", t0, trace_now() - t0 + 1, keys, vals,
                    3, NULL, NULL);
        if (trace_current_flow)
            trace_flow(vn->track[VIRTIO_NET_RXQ], trace_current_flow, TRACE_FLOW_STEP, t0,
                       "packet");
    }
    vn_signal(vn, VIRTIO_NET_RXQ, trace_current_flow);
    vn->stats.rx_packets++;
    vn->stats.rx_bytes += len;
    return len;
}

static size_t virtio_net_receive(void *opaque, const struct virtio_net_hdr_v1 *h,
                                 const struct iovec *iov, int iovcnt, size_t len)
{
    struct virtio_net *vn = opaque;
    pthread_mutex_lock(&vn->t.lock);
    size_t r = virtio_net_receive_locked(vn, h, iov, iovcnt, len);
    pthread_mutex_unlock(&vn->t.lock);
    return r;
}

/* --- device callbacks ------------------------------------------------------------------ */

static void virtio_net_notify(void *dev, unsigned q)
{
    struct virtio_net *vn = dev;
    if (q == VIRTIO_NET_TXQ)
        virtio_net_tx(vn);
    else if (q == VIRTIO_NET_RXQ)
        netdev_rx_ready(vn->nd); /* new buffers: frames the layer held can come in */
}

static void virtio_net_tx_ready(void *opaque)
{
    struct virtio_net *vn = opaque;
    virtio_mmio_kick(&vn->t, VIRTIO_NET_TXQ);
}

static void virtio_net_link_changed(void *opaque, bool up)
{
    struct virtio_net *vn = opaque;
    pthread_mutex_lock(&vn->t.lock);
    vn->link_up = up;
    /* The generation moves with any change (§4.2.2: a driver reading the configuration while
     * it initialises must see it); the interrupt only once the driver is up. */
    if (vn->t.status & VIRTIO_STATUS_DRIVER_OK)
        virtio_mmio_config_changed(&vn->t);
    else
        vn->t.config_generation++;
    pthread_mutex_unlock(&vn->t.lock);
}

/* The tap offloads follow what the guest acked: TUN_F_* for frames the guest accepts. */
static unsigned tun_flags_for(uint64_t f)
{
    unsigned t = 0;
    if (f & F(VIRTIO_NET_F_GUEST_CSUM))
        t |= TUN_F_CSUM;
    if (f & F(VIRTIO_NET_F_GUEST_TSO4))
        t |= TUN_F_TSO4;
    if (f & F(VIRTIO_NET_F_GUEST_TSO6))
        t |= TUN_F_TSO6;
    if (f & F(VIRTIO_NET_F_GUEST_ECN))
        t |= TUN_F_TSO_ECN;
    return t;
}

static void virtio_net_apply_offloads(void *opaque)
{
    struct virtio_net *vn = opaque;
    pthread_mutex_lock(&vn->t.lock);
    unsigned flags = tun_flags_for(vn->acked);
    pthread_mutex_unlock(&vn->t.lock);
    /* Without the vnet header (user, socket) frames always arrive complete: nothing to set. */
    if (!(netdev_caps(vn->nd) & NETDEV_CAP_VNET_HDR))
        return;
    if (netdev_set_rx_offloads(vn->nd, flags) < 0)
        log_warn("%s: the backend refused offloads 0x%x", vn->name, flags);
}

static int virtio_net_activate(void *dev, uint64_t features)
{
    struct virtio_net *vn = dev;
    vn->acked = features;
    /* netdev calls belong to the loop thread; this runs on a vCPU. */
    evloop_call(vn->t.loop, virtio_net_apply_offloads, vn);
    netdev_rx_ready(vn->nd);
    return 0;
}

/* After a reset, on the loop: offloads off, and frames the layer held for the old rings
 * dropped (checklist 4: backend queues flushed on a guest reset). */
static void virtio_net_after_reset(void *opaque)
{
    struct virtio_net *vn = opaque;
    virtio_net_apply_offloads(vn);
    netdev_purge_rx(vn->nd);
}

static void virtio_net_reset(void *dev)
{
    struct virtio_net *vn = dev;
    vn->acked = 0;
    evloop_call(vn->t.loop, virtio_net_after_reset, vn);
}

static const struct virtio_dev_ops virtio_net_dev_ops = {
    .device_id = 1, /* network card (§5) */
    .num_queues = 2,
    .validate = virtio_net_validate,
    .config_read = virtio_net_config_read,
    .config_write = virtio_net_config_write,
    .activate = virtio_net_activate,
    .reset = virtio_net_reset,
    .notify = virtio_net_notify,
};

static const struct netdev_nic_ops virtio_net_nic_ops = {
    .receive = virtio_net_receive,
    .tx_ready = virtio_net_tx_ready,
    .link_changed = virtio_net_link_changed,
};

struct virtio_net *virtio_net_create(const struct virtio_net_params *cfg, char *err, size_t errlen)
{
    struct virtio_net *vn = calloc(1, sizeof(*vn));
    if (!vn) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(vn->name, sizeof(vn->name), "%s", cfg->name ? cfg->name : "virtio-net");
    if (trace_mask) {
        char track[48];
        vn->traced = trace_nic_wanted(vn->name) || trace_nic_wanted(netdev_id(cfg->netdev));
        snprintf(track, sizeof(track), "%s rx queue", vn->name);
        vn->track[VIRTIO_NET_RXQ] = trace_track(track);
        snprintf(track, sizeof(track), "%s tx queue", vn->name);
        vn->track[VIRTIO_NET_TXQ] = trace_track(track);
    }
    memcpy(vn->mac, cfg->mac, 6);
    vn->nd = cfg->netdev;
    vn->link_up = netdev_link_up(cfg->netdev);
    vn->tx_elem = malloc(sizeof(*vn->tx_elem));
    bool ok = vn->tx_elem != NULL;
    for (int i = 0; i < VIRTIO_NET_RX_MAX_BUFS && ok; i++)
        ok = (vn->rx_elem[i] = malloc(sizeof(*vn->rx_elem[i]))) != NULL;
    int rc =
        ok ? virtio_mmio_init(&vn->t, &virtio_net_dev_ops, vn, virtio_net_features(vn->nd),
                              cfg->base, cfg->mem, cfg->irq, cfg->loop, cfg->bind, cfg->bind_opaque)
           : -ENOMEM;
    if (rc == 0 && netdev_attach(vn->nd, vn->name, &virtio_net_nic_ops, vn) < 0) {
        snprintf(err, errlen, "netdev %s is already used by another NIC", netdev_id(vn->nd));
        rc = -EBUSY;
    } else if (rc < 0) {
        snprintf(err, errlen, "cannot set up the device: %s", strerror(-rc));
    }
    if (rc < 0) {
        virtio_net_destroy(vn);
        return NULL;
    }
    return vn;
}

void virtio_net_destroy(struct virtio_net *vn)
{
    if (!vn)
        return;
    if (vn->t.ops) /* the transport was initialised */
        virtio_mmio_destroy(&vn->t);
    free(vn->tx_elem);
    for (int i = 0; i < VIRTIO_NET_RX_MAX_BUFS; i++)
        free(vn->rx_elem[i]);
    free(vn);
}

struct virtio_mmio *virtio_net_transport(struct virtio_net *vn)
{
    return &vn->t;
}

const struct virtio_net_stats *virtio_net_get_stats(const struct virtio_net *vn)
{
    return &vn->stats;
}

uint64_t virtio_net_offered(const struct virtio_net *vn)
{
    return vn->t.offered;
}

uint64_t virtio_net_acked(const struct virtio_net *vn)
{
    return vn->acked;
}
