/* The netdev core: peer pairing, bounded queues in both directions, back-pressure, software
 * offload for backends that cannot carry the virtio-net header, observers, and the one
 * table of backend types. Runs on the event-loop thread (see netdev.h). */
#include "net/backend.h"
#include "net/offload.h"
#include "vmm/log.h"
#include "net/pktsum.h"
#include "vmm/fuzz_work.h"
#include "vmm/trace.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
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

extern const struct netdev_backend_ops tap_backend_ops;
extern const struct netdev_backend_ops slirp_backend_ops;
extern const struct netdev_backend_ops socket_backend_ops;

/* The registered backend types (after bhyve's net_backends: one explicit table). */
static const struct netdev_backend_ops *const netdev_backends[] = {
    &tap_backend_ops,
    &slirp_backend_ops,
    &socket_backend_ops,
};

struct netdev_qframe {
    struct netdev_qframe *next;
    struct virtio_net_hdr_v1 hdr;
    bool has_hdr;
    uint64_t flow; /* trace flow the frame belongs to, 0 if none */
    size_t len;
    uint8_t data[];
};

struct netdev_frameq {
    struct netdev_qframe *head, **tail;
    unsigned count;
    size_t bytes;
    unsigned max_frames;
    size_t max_bytes;
};

struct netdev {
    char id[32];
    const struct netdev_backend_ops *ops;
    struct evloop *loop;
    void *priv;
    uint32_t caps;
    unsigned rx_offloads;
    bool link_up;
    const struct netdev_nic_ops *nic;
    void *nic_opaque;
    char nic_name[32];
    struct netdev_frameq txq, rxq;
    bool rx_paused;
    bool in_send; /* inside the backend's send(): deliveries must not re-enter the NIC */
    int rx_ready_fd;
    atomic_bool rx_ready_pending;
    struct netdev_stats stats;
    struct netdev_observer obs[NETDEV_MAX_OBSERVERS];
    unsigned nr_obs;
    uint8_t *linear;  /* the guest's frame, gathered, when an offload must be checked or done */
    uint8_t *scratch; /* one output segment of software GSO */
    struct log_ratelimit log_rl;
    bool traced; /* the trace keeps this backend's packet events */
    int track;
};

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

const char *netdev_types(void)
{
    static char list[128];
    if (!list[0]) {
        size_t off = 0;
        for (size_t i = 0; i < sizeof(netdev_backends) / sizeof(netdev_backends[0]); i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
                                    netdev_backends[i]->type);
    }
    return list;
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
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < len; i++) {
        size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(f->data + off, iov[i].iov_base, n);
        off += n;
    }
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

static size_t gather(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < len; i++) {
        size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(dst + off, iov[i].iov_base, n);
        off += n;
    }
    return off;
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
    if (!iov_holds(iov, iovcnt, len) || gather(nd->linear, iov, iovcnt, n) != n)
        return -EINVAL;
    return offload_check(hdr, nd->linear, len);
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
        if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE)
            nd->stats.sw_segmented++;
        else
            nd->stats.sw_checksummed++;
        offload_segment(hdr, nd->linear, len, nd->scratch, netdev_emit_segment, nd);
    }
    return 0;
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

/* --- peers, link, offloads ------------------------------------------------------------- */

int netdev_attach(struct netdev *nd, const char *nic_name, const struct netdev_nic_ops *ops,
                  void *opaque)
{
    if (nd->nic)
        return -EBUSY;
    nd->nic = ops;
    nd->nic_opaque = opaque;
    snprintf(nd->nic_name, sizeof(nd->nic_name), "%s", nic_name);
    nd->traced = nd->traced || trace_nic_wanted(nic_name);
    return 0;
}

const char *netdev_id(const struct netdev *nd)
{
    return nd->id;
}

const char *netdev_type(const struct netdev *nd)
{
    return nd->ops->type;
}

uint32_t netdev_caps(const struct netdev *nd)
{
    return nd->caps;
}

void netdev_set_caps(struct netdev *nd, uint32_t caps)
{
    nd->caps = caps;
}

int netdev_set_rx_offloads(struct netdev *nd, unsigned tun_flags)
{
    if (!(nd->caps & NETDEV_CAP_VNET_HDR) || !nd->ops->set_rx_offloads) {
        nd->rx_offloads = 0;
        return tun_flags ? -EOPNOTSUPP : 0;
    }
    int rc = nd->ops->set_rx_offloads(nd, tun_flags);
    if (rc == 0)
        nd->rx_offloads = tun_flags;
    return rc;
}

unsigned netdev_rx_offloads(const struct netdev *nd)
{
    return nd->rx_offloads;
}

bool netdev_link_up(const struct netdev *nd)
{
    return nd->link_up;
}

void netdev_set_link(struct netdev *nd, bool up)
{
    if (nd->link_up == up)
        return;
    nd->link_up = up;
    if (nd->nic && nd->nic->link_changed)
        nd->nic->link_changed(nd->nic_opaque, up);
}

const struct netdev_stats *netdev_get_stats(const struct netdev *nd)
{
    return &nd->stats;
}

void *netdev_priv(struct netdev *nd)
{
    return nd->priv;
}

struct evloop *netdev_loop(struct netdev *nd)
{
    return nd->loop;
}

/* --- lifetime ------------------------------------------------------------------------- */

struct netdev *netdev_create_with(struct evloop *loop, const struct netdev_backend_ops *ops,
                                  const char *id, struct opts *o, char *err, size_t errlen)
{
    struct netdev *nd = calloc(1, sizeof(*nd));
    if (!nd) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(nd->id, sizeof(nd->id), "%s", id);
    nd->ops = ops;
    nd->loop = loop;
    nd->link_up = true;
    if (trace_mask) {
        char track[64];
        snprintf(track, sizeof(track), "netdev %s (%s)", id, ops->type);
        nd->track = trace_track(track);
        nd->traced = trace_nic_wanted(id);
    }
    nd->rx_ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    frameq_init(&nd->rxq, NETDEV_RXQ_MAX_FRAMES, NETDEV_RXQ_MAX_BYTES);
    frameq_init(&nd->txq, NETDEV_TXQ_MAX_FRAMES, NETDEV_TXQ_MAX_BYTES);
    nd->priv = ops->priv_size ? calloc(1, ops->priv_size) : NULL;
    nd->linear = malloc(NETDEV_MAX_FRAME);
    nd->scratch = malloc(NETDEV_SCRATCH);
    if (nd->rx_ready_fd < 0 || (ops->priv_size && !nd->priv) || !nd->linear || !nd->scratch ||
        evloop_add_fd(loop, nd->rx_ready_fd, EPOLLIN, netdev_on_rx_ready, nd) < 0) {
        snprintf(err, errlen, "-netdev %s: out of resources", id);
        nd->ops = NULL; /* not opened: nothing for close() to release */
        netdev_destroy(nd);
        return NULL;
    }
    if (ops->open(nd, o, err, errlen) < 0) {
        nd->ops = NULL; /* open failed: nothing for close() to release */
        netdev_destroy(nd);
        return NULL;
    }
    return nd;
}

struct netdev *netdev_create(struct evloop *loop, struct opts *o, char *err, size_t errlen)
{
    const char *type = opts_get(o, "type");
    const char *id = opts_get(o, "id");
    const struct netdev_backend_ops *ops = NULL;
    for (size_t i = 0; type && i < sizeof(netdev_backends) / sizeof(netdev_backends[0]); i++)
        if (strcmp(netdev_backends[i]->type, type) == 0)
            ops = netdev_backends[i];
    if (!ops) {
        snprintf(err, errlen, "-netdev %s: unknown type '%s' (available: %s)", o->text,
                 type ? type : "", netdev_types());
        return NULL;
    }
    if (!id || !*id) {
        snprintf(err, errlen, "-netdev %s: id= is required", o->text);
        return NULL;
    }
    char sub[256] = "";
    struct netdev *nd = netdev_create_with(loop, ops, id, o, sub, sizeof(sub));
    if (nd && opts_check_unused(o, type, sub, sizeof(sub)) < 0) {
        netdev_destroy(nd);
        nd = NULL;
    }
    if (!nd)
        snprintf(err, errlen, "-netdev %s: %s", o->text, sub);
    return nd;
}

void netdev_destroy(struct netdev *nd)
{
    if (!nd)
        return;
    if (nd->ops && nd->ops->close)
        nd->ops->close(nd);
    if (nd->rx_ready_fd >= 0) {
        evloop_del_fd(nd->loop, nd->rx_ready_fd);
        close(nd->rx_ready_fd);
    }
    frameq_clear(&nd->rxq);
    frameq_clear(&nd->txq);
    free(nd->priv);
    free(nd->linear);
    free(nd->scratch);
    free(nd);
}

json_t *netdev_info(const struct netdev *nd)
{
    const struct netdev_stats *s = &nd->stats;
    json_t *drops = json_pack("{s:I, s:I, s:I, s:I, s:I}", "queue_full",
                              (json_int_t)s->drops[NETDEV_DROP_QUEUE_FULL], "malformed",
                              (json_int_t)s->drops[NETDEV_DROP_MALFORMED], "backend_error",
                              (json_int_t)s->drops[NETDEV_DROP_BACKEND], "link_down",
                              (json_int_t)s->drops[NETDEV_DROP_LINK_DOWN], "purged_on_reset",
                              (json_int_t)s->drops[NETDEV_DROP_PURGED]);
    return json_pack("{s:s, s:s, s:s?, s:b, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, "
                     "s:i, s:i}",
                     "id", nd->id, "type", nd->ops ? nd->ops->type : "?", "peer",
                     nd->nic ? nd->nic_name : NULL, "link_up", nd->link_up, "vnet_hdr",
                     (nd->caps & NETDEV_CAP_VNET_HDR) != 0, "tx_packets", (json_int_t)s->tx_packets,
                     "tx_bytes", (json_int_t)s->tx_bytes, "rx_packets", (json_int_t)s->rx_packets,
                     "rx_bytes", (json_int_t)s->rx_bytes, "drops", drops, "backend_eagain_waits",
                     (json_int_t)s->tx_eagain, "rx_queued", (json_int_t)s->rx_queued,
                     "sw_segmented", (json_int_t)s->sw_segmented, "sw_checksummed",
                     (json_int_t)s->sw_checksummed, "rx_queue_now", (int)nd->rxq.count,
                     "tx_queue_now", (int)nd->txq.count);
}
