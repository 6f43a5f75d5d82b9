/* virtio_net_bench_ring.c: virtio_net_bench's fake guest driver at work on its rings, the
 * way Linux's virtio_net does (EVENT_IDX kicks and interrupts, §2.7.10; mergeable RX buffers,
 * §5.1.6.3), and the memcpy reference every case is compared with. */
#include "virtio_net_bench.h"

#include <endian.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* --- the driver's ring work ------------------------------------------------------------ */

static uint16_t used_idx(struct bench *b, unsigned qi)
{
    return vnb_get16(b, b->q[qi].used + 2);
}

/* Publishes avail.idx (after a release barrier, pairing with the device's acquire) and kicks
 * if the device asked for it since `old` (EVENT_IDX, §2.7.10). */
static void publish_and_kick(struct bench *b, unsigned qi, uint16_t old)
{
    struct dq *q = &b->q[qi];
    atomic_thread_fence(memory_order_release);
    vnb_put16(b, q->avail + 2, q->avail_idx);
    atomic_thread_fence(memory_order_seq_cst);
    uint16_t event = vnb_get16(b, q->used + 4 + 8ull * q->size);
    if ((uint16_t)(q->avail_idx - event - 1) < (uint16_t)(q->avail_idx - old)) {
        vnb_wr(b, VMMIO_QUEUE_NOTIFY, qi);
        b->kicks++;
    }
}

static uint64_t tx_buf(unsigned slot)
{
    return TXBUF + (uint64_t)(slot % TX_NBUF) * TX_STRIDE;
}

/* TX buffers hold header + frame; TSO slots get their indirect table once. */
void vnb_tx_setup(struct bench *b)
{
    const struct vcase *c = b->c;
    for (unsigned i = 0; i < TX_NBUF; i++) {
        memcpy(b->ram + tx_buf(i), &c->hdr, HDR);
        memcpy(b->ram + tx_buf(i) + HDR, c->frame, c->len);
    }
    if (!c->tso)
        return;
    for (unsigned s = 0; s < g_opt.ring; s++) {
        uint64_t tbl = TX_TABLES + (uint64_t)s * TBL_STRIDE, buf = tx_buf(s);
        uint16_t n = 0;
        vnb_set_desc(b, tbl, n, buf, (uint32_t)(HDR + TSO_HDRS), VIRTQ_DESC_F_NEXT, 1);
        for (size_t off = TSO_HDRS; off < c->len; off += FRAG) {
            uint32_t l = (uint32_t)(c->len - off < FRAG ? c->len - off : FRAG);
            n++;
            bool last = off + l >= c->len;
            vnb_set_desc(b, tbl, n, buf + HDR + off, l, last ? 0 : VIRTQ_DESC_F_NEXT,
                         last ? 0 : (uint16_t)(n + 1));
        }
    }
}

/* Posts one frame: its head descriptor and avail entry (avail.idx is published later). */
static void tx_post(struct bench *b)
{
    struct dq *q = &b->q[TXQ];
    uint16_t slot = q->avail_idx & (q->size - 1);
    if (b->c->tso)
        vnb_set_desc(b, q->desc, slot, TX_TABLES + (uint64_t)slot * TBL_STRIDE,
                     16u * (1 + (unsigned)((b->c->len - TSO_HDRS + FRAG - 1) / FRAG)),
                     VIRTQ_DESC_F_INDIRECT, 0);
    else
        vnb_set_desc(b, q->desc, slot, tx_buf(slot), (uint32_t)(HDR + b->c->len), 0, 0);
    vnb_put16(b, q->avail + 4 + 2ull * slot, slot);
    q->avail_idx++;
}

/* Reaps used TX entries (the chains complete in order, so no bookkeeping per head) and
 * asks for an interrupt after the next batch (used_event). Returns the entries reaped. */
static unsigned tx_reap(struct bench *b)
{
    struct dq *q = &b->q[TXQ];
    uint16_t end = used_idx(b, TXQ);
    atomic_thread_fence(memory_order_acquire);
    unsigned n = (uint16_t)(end - q->last_used);
    q->last_used = end;
    vnb_put16(b, q->avail + 4 + 2ull * q->size, (uint16_t)(end + g_opt.batch - 1));
    return n;
}

int vnb_tx_batch(struct bench *b, unsigned n)
{
    struct dq *q = &b->q[TXQ];
    uint16_t old = q->avail_idx;
    for (unsigned k = 0; k < n; k++)
        tx_post(b);
    publish_and_kick(b, TXQ, old);
    evloop_run_once(b->loop, 0);
    tx_reap(b);
    /* The device takes a whole batch per kick (budget 256); anything left is a stall. */
    for (int i = 0; i < 100 && q->last_used != q->avail_idx; i++) {
        evloop_run_once(b->loop, 1);
        tx_reap(b);
    }
    return q->last_used == q->avail_idx ? 0 : -1;
}

double vnb_run_tx(struct bench *b, uint64_t *pkts)
{
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, g_opt.seconds);
    for (;;) {
        if (vnb_tx_batch(b, g_opt.batch) < 0) {
            fprintf(stderr, "virtio_net_bench: TX stalled\n");
            break;
        }
        n += g_opt.batch;
        if ((n % TIME_STEP) == 0 && bench_timer_due(&t))
            break;
    }
    *pkts = n;
    return bench_timer_secs(&t);
}

/* Writes RX descriptor `id` (its buffer never moves) and offers it. */
static void rx_post(struct bench *b, uint16_t id)
{
    struct dq *q = &b->q[RXQ];
    vnb_set_desc(b, q->desc, id, RXBUF + (uint64_t)id * b->rxbuf, b->rxbuf, VIRTQ_DESC_F_WRITE, 0);
    vnb_put16(b, q->avail + 4 + 2ull * (q->avail_idx & (q->size - 1)), id);
    q->avail_idx++;
}

void vnb_rx_setup(struct bench *b)
{
    uint16_t old = b->q[RXQ].avail_idx;
    for (unsigned i = 0; i < g_opt.ring; i++)
        rx_post(b, (uint16_t)i);
    publish_and_kick(b, RXQ, old);
    evloop_run_once(b->loop, 0);
}

/* Reaps used RX buffers, counting frames by the num_buffers of their first buffer, reposts
 * every buffer and asks for an interrupt at the next frame. Returns frames completed, or -1
 * on a num_buffers no frame can have. */
static int rx_reap(struct bench *b)
{
    struct dq *q = &b->q[RXQ];
    uint16_t end = used_idx(b, RXQ), old = q->avail_idx;
    atomic_thread_fence(memory_order_acquire);
    int frames = 0;
    while (q->last_used != end) {
        uint64_t e = q->used + 4 + 8ull * (q->last_used & (q->size - 1));
        uint16_t id = (uint16_t)vnb_get32(b, e);
        if (b->rx_left == 0) {
            b->rx_left = vnb_get16(b, RXBUF + (uint64_t)id * b->rxbuf + HDR - 2);
            if (b->rx_left == 0 || b->rx_left > VIRTIO_NET_RX_MAX_BUFS)
                return -1;
        }
        if (--b->rx_left == 0)
            frames++;
        rx_post(b, id);
        q->last_used++;
    }
    vnb_put16(b, q->avail + 4 + 2ull * q->size, q->last_used);
    publish_and_kick(b, RXQ, old);
    return frames;
}

/* Before timing: one frame delivered, gathered back from the used buffers and compared. */
bool vnb_rx_verify(struct bench *b)
{
    const struct vcase *c = b->c;
    struct iovec iov = {c->frame, c->len};
    struct dq *q = &b->q[RXQ];
    netdev_deliver(b->nd, &c->hdr, &iov, 1, c->len);
    uint16_t first = q->last_used, n = (uint16_t)(used_idx(b, RXQ) - first);
    size_t off = 0;
    struct virtio_net_hdr_v1 h;
    for (uint16_t i = 0; i < n; i++) {
        uint64_t e = q->used + 4 + 8ull * ((first + i) & (q->size - 1));
        uint64_t buf = RXBUF + (uint64_t)vnb_get32(b, e) * b->rxbuf;
        uint32_t l = vnb_get32(b, e + 4), skip = i == 0 ? (uint32_t)HDR : 0;
        if (i == 0)
            memcpy(&h, b->ram + buf, HDR);
        if (l < skip || off + l - skip > NETDEV_MAX_FRAME)
            return false;
        memcpy(b->scratch + off, b->ram + buf + skip, l - skip);
        off += l - skip;
    }
    bool ok = n > 0 && le16toh(h.num_buffers) == n && memcmp(&h, &c->hdr, HDR - 2) == 0 &&
              off == c->len && memcmp(b->scratch, c->frame, c->len) == 0;
    return rx_reap(b) == 1 && ok;
}

double vnb_run_rx(struct bench *b, uint64_t *pkts)
{
    const struct vcase *c = b->c;
    struct iovec iov = {c->frame, c->len};
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, g_opt.seconds);
    for (;;) {
        for (unsigned k = 0; k < g_opt.batch; k++)
            if (!netdev_deliver(b->nd, &c->hdr, &iov, 1, c->len))
                break; /* no buffers: the layer holds it until the driver reposts */
        int got = rx_reap(b);
        if (got < 0) {
            fprintf(stderr, "virtio_net_bench: RX num_buffers out of range\n");
            break;
        }
        n += (uint64_t)got;
        evloop_run_once(b->loop, 0);
        if (bench_timer_due(&t))
            break;
    }
    *pkts = n;
    return bench_timer_secs(&t);
}

/* --- reference: memcpy of the same bytes --------------------------------------------------- */

static volatile uint8_t sink;

/* What a device that copies would do: TX from the guest's buffers into one host buffer, RX
 * from one host buffer into the guest's buffers (the same guest memory the device uses). */
double vnb_run_memcpy(struct bench *b, uint64_t *pkts)
{
    const struct vcase *c = b->c;
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, g_opt.seconds);
    size_t rx_slots = (g_opt.ring * (size_t)b->rxbuf) / ((c->len + 63) & ~(size_t)63);
    for (;;) {
        for (unsigned k = 0; k < TIME_STEP; k++, n++) {
            if (c->tx)
                memcpy(b->scratch, b->ram + tx_buf((unsigned)n) + HDR, c->len);
            else
                memcpy(b->ram + RXBUF + (n % rx_slots) * ((c->len + 63) & ~(size_t)63), c->frame,
                       c->len);
        }
        sink = c->tx ? b->scratch[n % c->len] : b->ram[RXBUF];
        if (bench_timer_due(&t))
            break;
    }
    *pkts = n;
    return bench_timer_secs(&t);
}
