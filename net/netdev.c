/* The netdev data path: frames crossing between a NIC and its backend. Bounded queues in
 * both directions, back-pressure, software offload for backends that cannot carry the
 * virtio-net header, observers, and the backend's side of the packet trace. Creating a
 * netdev, pairing it and its settings are in netdev_setup.c. Runs on the event-loop thread
 * (see netdev.h). */
#include "net/netdev_int.h"
#include "net/offload.h"
#include "vmm/log.h"
#include "net/pktsum.h"
#include "vmm/fuzz_work.h"
#include "vmm/iov.h"
#include "vmm/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Bounds on frames held by the layer. Host -> guest: a push backend (user) can queue this
 * much while the guest has no buffers; beyond it frames are dropped and TCP retransmits.
 * Guest -> host: enough for the segments of one 64 KiB GSO frame while tap is full. */
#define NETDEV_RXQ_MAX_FRAMES 256
#define NETDEV_RXQ_MAX_BYTES  (1u << 20)
#define NETDEV_TXQ_MAX_FRAMES 128
#define NETDEV_TXQ_MAX_BYTES  (512u << 10)
#define NETDEV_SCRATCH        (65536 + 128)
/* What offload_check() reads of a frame: the Ethernet header, one 802.1Q tag, an IPv4 header
 * with options or an IPv6 header, and the TCP header up to its data offset (14 + 4 + 60 + 13
 * bytes); the rest of its checks compare offsets with the length only. */
#define NETDEV_CHECK_PREFIX 256

static bool nd_tracing(const struct netdev *nd)
{
    return trace_on(TRACE_PACKETS) && nd->traced;
}

/* The backend's side of a packet on the trace: an event ending (write) or starting (read)
 * the packet's flow. */
static void nd_trace(struct netdev *nd, const char *what, uint64_t t0, uint64_t flow,
                     enum trace_flow_phase phase, const struct iovec *iov, int iovcnt, size_t len,
                     int rc)
{
    static const char *const keys[] = {"bytes", "result"};
    uint64_t vals[] = {len, (uint64_t)(int64_t)rc};
    char sum[200];
    pkt_summary(iov, iovcnt, len, sum, sizeof(sum));
    trace_event(nd->track, what, t0, trace_now() - t0 + 1, keys, vals, 2, "packet", sum);
    if (flow)
        trace_flow(nd->track, flow, phase, t0, "packet");
}

/* --- queues --------------------------------------------------------------------------- */

static void frameq_init(struct netdev_frameq *q, unsigned max_frames, size_t max_bytes)
{
    *q = (struct netdev_frameq){NULL, &q->head, 0, 0, max_frames, max_bytes};
}

/* Copies a frame into the queue. Returns 0 or -ENOBUFS when the queue is full. */
static int frameq_push(struct netdev_frameq *q, const struct virtio_net_hdr_v1 *hdr,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    if (q->count >= q->max_frames || q->bytes + len > q->max_bytes)
        return -ENOBUFS;
    struct netdev_qframe *f = malloc(sizeof(*f) + len);
    if (!f)
        return -ENOBUFS;
    f->next = NULL;
    f->flow = trace_current_flow;
    f->has_hdr = hdr != NULL;
    if (hdr)
        f->hdr = *hdr;
    f->len = len;
    iov_to_buf(iov, iovcnt, 0, f->data, len);
    *q->tail = f;
    q->tail = &f->next;
    q->count++;
    q->bytes += len;
    return 0;
}

static void frameq_pop(struct netdev_frameq *q)
{
    struct netdev_qframe *f = q->head;
    q->head = f->next;
    if (!q->head)
        q->tail = &q->head;
    q->count--;
    q->bytes -= f->len;
    free(f);
}

static void frameq_clear(struct netdev_frameq *q)
{
    while (q->head)
        frameq_pop(q);
}

/* --- observers ------------------------------------------------------------------------ */

int netdev_add_observer(struct netdev *nd, const struct netdev_observer *obs)
{
    if (nd->nr_obs >= NETDEV_MAX_OBSERVERS)
        return -ENOSPC;
    nd->obs[nd->nr_obs++] = *obs;
    return 0;
}

int netdev_remove_observer(struct netdev *nd, void *opaque)
{
    for (unsigned i = 0; i < nd->nr_obs; i++) {
        if (nd->obs[i].opaque == opaque) {
            memmove(&nd->obs[i], &nd->obs[i + 1], (nd->nr_obs - i - 1) * sizeof(nd->obs[0]));
            nd->nr_obs--;
            return 0;
        }
    }
    return -ENOENT;
}

static void netdev_observe(struct netdev *nd, enum netdev_dir dir,
                           const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov, int iovcnt,
                           size_t len)
{
    for (unsigned i = 0; i < nd->nr_obs; i++)
        nd->obs[i].frame(nd->obs[i].opaque, dir, hdr, iov, iovcnt, len);
}

/* --- guest -> host -------------------------------------------------------------------- */

static void netdev_drop(struct netdev *nd, enum netdev_drop_reason why)
{
    nd->stats.drops[why]++;
}

/* Sends one frame to the backend, or queues it behind earlier ones / on EAGAIN. */
static void netdev_tx_one(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    if (!nd->txq.head) {
        uint64_t t0 = nd_tracing(nd) ? trace_now() : 0;
        nd->in_send = true;
        int rc = nd->ops->send(nd, hdr, iov, iovcnt, len);
        nd->in_send = false;
        if (t0)
            nd_trace(nd, rc == -EAGAIN ? "backend full: queued" : "backend write", t0,
                     trace_current_flow, TRACE_FLOW_END, iov, iovcnt, len, rc);
        if (rc == 0)
            return;
        if (rc != -EAGAIN) {
            netdev_drop(nd, NETDEV_DROP_BACKEND);
            log_ratelimited(&nd->log_rl, LOG_WARN, "netdev %s: send failed: %s (frame dropped)",
                            nd->id, strerror(-rc));
            return;
        }
        nd->stats.tx_eagain++;
    }
    if (frameq_push(&nd->txq, hdr, iov, iovcnt, len) < 0)
        netdev_drop(nd, NETDEV_DROP_BACKEND);
}

static int netdev_emit_segment(void *opaque, const uint8_t *frame, size_t len)
{
    struct netdev *nd = opaque;
    struct iovec iov = {(void *)frame, len};
    netdev_tx_one(nd, NULL, &iov, 1, len);
    return 0;
}

static bool iov_holds(const struct iovec *iov, int iovcnt, size_t len)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt && total < len; i++)
        total += iov[i].iov_len;
    return total >= len;
}

/* check_offload: offload_check() on a copy of the frame in nd->linear. A backend that carries
 * the header sends the guest's iovecs, not the copy, so only the headers are copied (a 64 KiB
 * copy per GSO frame was as costly as the host kernel's own); software offload works on the
 * copy and needs all of it. */
static int check_offload(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                         const struct iovec *iov, int iovcnt, size_t len)
{
    bool prefix = (nd->caps & NETDEV_CAP_VNET_HDR) && len > NETDEV_CHECK_PREFIX;
    size_t n = prefix ? NETDEV_CHECK_PREFIX : len;
    if (!iov_holds(iov, iovcnt, len) || iov_to_buf(iov, iovcnt, 0, nd->linear, n) != n)
        return -EINVAL;
    return offload_check(hdr, nd->linear, len);
}

/* The offloads of a checked frame in nd->linear, in software: a GSO frame coalesced into
 * large packets for a backend that takes them, segmented otherwise, or the checksum filled.
 * The frame is the layer's copy, which offload_coalesce may finish in place. */
static void netdev_soft_offload(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, size_t len)
{
    int rc;
    if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE && (nd->caps & NETDEV_CAP_GSO_COALESCED)) {
        nd->stats.sw_coalesced++;
        rc = offload_coalesce(hdr, nd->linear, len, &nd->coalesce_max, nd->scratch,
                              netdev_emit_segment, nd);
    } else {
        if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE)
            nd->stats.sw_segmented++;
        else
            nd->stats.sw_checksummed++;
        rc = offload_segment(hdr, nd->linear, len, nd->scratch, netdev_emit_segment, nd);
    }
    /* Only a guest rewriting the header after check_offload() gets here. */
    if (rc < 0)
        netdev_drop(nd, NETDEV_DROP_MALFORMED);
}

int netdev_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                int iovcnt, size_t len)
{
    if (!nd->link_up) {
        netdev_drop(nd, NETDEV_DROP_LINK_DOWN);
        return -ENETDOWN;
    }
    if (len < 14 || len > NETDEV_MAX_FRAME) {
        netdev_drop(nd, NETDEV_DROP_MALFORMED);
        return -EINVAL;
    }
    bool offload = offload_needed(hdr);
    if (offload) {
        /* The header is the guest's: check it against the frame before anything acts on
         * it (tap would reject it; software GSO must not be misled by it). */
        if (check_offload(nd, hdr, iov, iovcnt, len) < 0) {
            netdev_drop(nd, NETDEV_DROP_MALFORMED);
            return -EINVAL;
        }
    }
    netdev_observe(nd, NETDEV_TX, hdr, iov, iovcnt, len);
    nd->stats.tx_packets++;
    nd->stats.tx_bytes += len;
    if (nd->caps & NETDEV_CAP_VNET_HDR) {
        netdev_tx_one(nd, hdr, iov, iovcnt, len);
    } else if (!offload) {
        netdev_tx_one(nd, NULL, iov, iovcnt, len);
    } else {
        netdev_soft_offload(nd, hdr, len);
    }
    return 0;
}

void netdev_set_coalesce_max(struct netdev *nd, size_t ipv4_max, size_t ipv6_max)
{
    nd->coalesce_max = (struct offload_coalesce_max){ipv4_max, ipv6_max};
}

bool netdev_can_send(const struct netdev *nd)
{
    return nd->txq.head == NULL;
}

void netdev_backend_writable(struct netdev *nd)
{
    while (nd->txq.head) {
        NICVM_FUZZ_WORK();
        struct netdev_qframe *f = nd->txq.head;
        struct iovec iov = {f->data, f->len};
        uint64_t t0 = nd_tracing(nd) ? trace_now() : 0;
        int rc = nd->ops->send(nd, f->has_hdr ? &f->hdr : NULL, &iov, 1, f->len);
        if (t0)
            nd_trace(nd, "backend write (queued)", t0, f->flow, TRACE_FLOW_END, &iov, 1, f->len,
                     rc);
        if (rc == -EAGAIN) {
            nd->stats.tx_eagain++;
            return; /* still full: the backend keeps waiting for room */
        }
        if (rc < 0)
            netdev_drop(nd, NETDEV_DROP_BACKEND);
        frameq_pop(&nd->txq);
    }
    if (nd->nic && nd->nic->tx_ready)
        nd->nic->tx_ready(nd->nic_opaque);
}

/* --- host -> guest -------------------------------------------------------------------- */

static const struct virtio_net_hdr_v1 netdev_zero_hdr;

/* Offers one frame to the NIC; returns true if the NIC took (or dropped) it. */
static bool netdev_offer(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                         const struct iovec *iov, int iovcnt, size_t len)
{
    if (!nd->nic)
        return true; /* no peer: nobody to deliver to */
    if (nd->nic->receive(nd->nic_opaque, hdr ? hdr : &netdev_zero_hdr, iov, iovcnt, len) == 0)
        return false;
    netdev_observe(nd, NETDEV_RX, hdr ? hdr : &netdev_zero_hdr, iov, iovcnt, len);
    nd->stats.rx_packets++;
    nd->stats.rx_bytes += len;
    return true;
}

static void netdev_pause_rx(struct netdev *nd)
{
    if (!nd->rx_paused && nd->ops->rx_pause) {
        nd->ops->rx_pause(nd);
        nd->rx_paused = true;
    }
}

static bool netdev_deliver_frame(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                                 const struct iovec *iov, int iovcnt, size_t len);

bool netdev_deliver(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                    int iovcnt, size_t len)
{
    if (!nd_tracing(nd))
        return netdev_deliver_frame(nd, hdr, iov, iovcnt, len);
    /* The frame's flow starts at the backend's read; the NIC continues it. */
    uint64_t t0 = trace_now(), flow = trace_new_flow();
    nd_trace(nd, "backend read", t0, flow, TRACE_FLOW_START, iov, iovcnt, len, 0);
    /* A backend may deliver inside send() (libslirp): the sender's flow resumes after. */
    uint64_t outer = trace_current_flow;
    trace_current_flow = flow;
    bool more = netdev_deliver_frame(nd, hdr, iov, iovcnt, len);
    trace_current_flow = outer;
    return more;
}

static bool netdev_deliver_frame(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                                 const struct iovec *iov, int iovcnt, size_t len)
{
    if (!nd->link_up) {
        netdev_drop(nd, NETDEV_DROP_LINK_DOWN);
        return true;
    }
    if (len < 14 || len > NETDEV_MAX_FRAME) {
        netdev_drop(nd, NETDEV_DROP_MALFORMED);
        return true;
    }
    /* A backend answering inside send() (libslirp replies from slirp_input) would re-enter
     * the NIC while it processes its TX queue: such frames go through the queue and are
     * offered from the loop (checklist 1.6, no re-entrancy). */
    if (nd->in_send) {
        if (frameq_push(&nd->rxq, hdr, iov, iovcnt, len) < 0)
            netdev_drop(nd, NETDEV_DROP_QUEUE_FULL);
        netdev_rx_ready(nd);
        return true;
    }
    /* Frames already waiting go first, so the guest sees them in order. */
    if (!nd->rxq.head && netdev_offer(nd, hdr, iov, iovcnt, len))
        return true;
    if (frameq_push(&nd->rxq, hdr, iov, iovcnt, len) < 0)
        netdev_drop(nd, NETDEV_DROP_QUEUE_FULL);
    else
        nd->stats.rx_queued++;
    netdev_pause_rx(nd);
    return false;
}

static void netdev_flush_rx(struct netdev *nd)
{
    while (nd->rxq.head) {
        NICVM_FUZZ_WORK();
        struct netdev_qframe *f = nd->rxq.head;
        struct iovec iov = {f->data, f->len};
        uint64_t outer = trace_current_flow;
        trace_current_flow = f->flow;
        bool taken = netdev_offer(nd, f->has_hdr ? &f->hdr : NULL, &iov, 1, f->len);
        trace_current_flow = outer;
        if (!taken)
            return;
        frameq_pop(&nd->rxq);
    }
    if (nd->rx_paused) {
        nd->rx_paused = false;
        nd->ops->rx_resume(nd);
    }
}

void netdev_purge_rx(struct netdev *nd)
{
    nd->stats.drops[NETDEV_DROP_PURGED] += nd->rxq.count;
    frameq_clear(&nd->rxq);
    if (nd->rx_paused) {
        nd->rx_paused = false;
        nd->ops->rx_resume(nd);
    }
}

static void netdev_on_rx_ready(void *opaque, uint32_t events)
{
    struct netdev *nd = opaque;
    uint64_t v;
    (void)events;
    if (read(nd->rx_ready_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    atomic_store(&nd->rx_ready_pending, false);
    netdev_flush_rx(nd);
}

void netdev_rx_ready(struct netdev *nd)
{
    /* Always deferred to the loop, even from the loop thread: the NIC may hold its own lock
     * here, and receive() must not re-enter it. One wake-up covers any number of calls. */
    if (!atomic_exchange(&nd->rx_ready_pending, true)) {
        uint64_t one = 1;
        if (write(nd->rx_ready_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            atomic_store(&nd->rx_ready_pending, false);
    }
}

/* --- resources ------------------------------------------------------------------------ */

int netdev_frames_init(struct netdev *nd)
{
    nd->rx_ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    frameq_init(&nd->rxq, NETDEV_RXQ_MAX_FRAMES, NETDEV_RXQ_MAX_BYTES);
    frameq_init(&nd->txq, NETDEV_TXQ_MAX_FRAMES, NETDEV_TXQ_MAX_BYTES);
    nd->linear = malloc(NETDEV_MAX_FRAME);
    nd->scratch = malloc(NETDEV_SCRATCH);
    nd->coalesce_max = (struct offload_coalesce_max){OFFLOAD_IP_MAX, OFFLOAD_IP_MAX};
    if (nd->rx_ready_fd < 0 || !nd->linear || !nd->scratch ||
        evloop_add_fd(nd->loop, nd->rx_ready_fd, EPOLLIN, netdev_on_rx_ready, nd) < 0)
        return -ENOMEM;
    evloop_set_name(nd->loop, nd->rx_ready_fd, "netdev %s rx-ready (NIC has buffers)", nd->id);
    return 0;
}

void netdev_frames_release(struct netdev *nd)
{
    if (nd->rx_ready_fd >= 0) {
        evloop_del_fd(nd->loop, nd->rx_ready_fd);
        close(nd->rx_ready_fd);
    }
    frameq_clear(&nd->rxq);
    frameq_clear(&nd->txq);
    free(nd->linear);
    free(nd->scratch);
}
