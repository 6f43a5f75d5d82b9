/* virtio_net_bench: packets per second through the virtio-net device without KVM: the real
 * virtio-mmio transport (devices/virtio_mmio.c), split virtqueue (devices/virtq.c) and
 * virtio-net device (devices/virtio_net.c) between a fake guest driver in this file and a
 * null netdev backend that carries the virtio-net header (as tap with vnet_hdr does), all on
 * one thread. The driver acks every offered feature, as Linux does (MRG_RXBUF, EVENT_IDX,
 * INDIRECT_DESC, CSUM, HOST_TSO4, GUEST_TSO4, ...), uses 1024-entry queues (QueueNumMax)
 * and lays its rings out in fake guest RAM the way Linux's virtio_net does:
 *   tx: each frame is one chain, the 12-byte header pushed in front of the frame in one
 *       descriptor (64 B, 1500 B), or an indirect table of the header and TCP/IP headers
 *       followed by 4 KiB page fragments (64 KiB TSO frames: NEEDS_CSUM, GSO_TCPV4,
 *       gso_size 1460), BATCH frames per avail.idx update; the driver kicks when EVENT_IDX
 *       says so, the event loop runs the device, which pops, gathers and hands each frame to
 *       the backend, then pushes used; the driver reaps. The backend sees TSO frames whole.
 *   rx: the backend delivers BATCH frames with netdev_deliver() into posted buffers
 *       (mergeable: 1536-byte buffers, 4096 for 64 KiB GSO frames, as Linux's EWMA-sized
 *       buffers are); the driver reaps frames by num_buffers and reposts every buffer.
 * Before timing, one frame of each case is checked byte for byte on the other side. Each case
 * is compared with the memcpy of the same bytes in the same run. One JSON object per case on
 * stdout; a table and the targets (2 Mpps at 64 B, 20 Gbit/s at 64 KiB) on stderr. */
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/backend.h"
#include "net/offload.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/iobus.h"
#include "vmm/irq.h"
#include "vmm/opts.h"

#include <endian.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RAM_SIZE   (64u << 20)
#define MMIO_BASE  0xd0000000ull
#define HDR        sizeof(struct virtio_net_hdr_v1)
#define RING_DEF   1024
#define RX_DESC    0x10000u
#define RX_AVAIL   0x14000u
#define RX_USED    0x15000u
#define TX_DESC    0x20000u
#define TX_AVAIL   0x24000u
#define TX_USED    0x25000u
#define TX_TABLES  0x40000u /* one indirect table per TX slot */
#define TBL_STRIDE 512u     /* 32 descriptors */
#define TXBUF      0x100000u
#define TX_NBUF    256 /* distinct TX buffers, reused round robin */
#define TX_STRIDE  0x12000u
#define RXBUF      0x2000000u
#define RXBUF_MAX  4096u
#define FRAG       4096u /* TSO payload fragments (pages) */
#define TSO_MSS    1460u
#define TSO_HDRS   54u /* Ethernet + IPv4 + TCP */
#define BATCH_DEF  32
#define BATCH_MAX  256
#define TIME_STEP  1024

#define F(bit) (1ull << (bit))
#define RXQ    VIRTIO_NET_RXQ
#define TXQ    VIRTIO_NET_TXQ

static const uint8_t dev_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static struct {
    double seconds;
    const char *only; /* NULL, "tx" or "rx" */
    size_t size;      /* 0: every size */
    bool no_ref;
    unsigned batch, ring;
} opt = {1.0, NULL, 0, false, BATCH_DEF, RING_DEF};

/* One case: nominal size (64, 1500, 65536), frame length, and the header it travels with. */
struct vcase {
    bool tx;
    size_t size, len;
    bool tso;
    struct virtio_net_hdr_v1 hdr;
    uint8_t *frame; /* the frame's bytes (template) */
};

/* The fake driver's view of one queue. */
struct dq {
    uint16_t size, avail_idx, last_used;
    uint64_t desc, avail, used;
};

struct bench {
    uint8_t *ram;
    struct guestmem gm;
    struct evloop *loop;
    struct netdev *nd;
    struct virtio_net *vn;
    struct virtio_mmio *t;
    struct dq q[2];
    const struct vcase *c;
    uint32_t rxbuf;   /* RX buffer size */
    unsigned rx_left; /* buffers of the frame being reaped still to come */
    uint64_t kicks, irqs, be_frames, be_gso_whole;
    bool verify, verified;
    uint8_t *scratch;
};

static struct bench *g_bench;

/* --- null backend: carries the header, discards the frame ------------------------------- */

static int null_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    netdev_set_caps(nd, NETDEV_CAP_VNET_HDR);
    return 0;
}

/* While verifying, the frame must arrive as the driver posted it: header and every byte. */
static void null_check(struct bench *b, const struct virtio_net_hdr_v1 *hdr,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < len; i++) {
        size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(b->scratch + off, iov[i].iov_base, n);
        off += n;
    }
    b->verified = hdr && off == len && len == b->c->len && memcmp(hdr, &b->c->hdr, HDR - 2) == 0 &&
                  memcmp(b->scratch, b->c->frame, len) == 0;
}

static int null_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd;
    struct bench *b = g_bench;
    b->be_frames++;
    if (hdr && hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && len == b->c->len)
        b->be_gso_whole++;
    if (b->verify)
        null_check(b, hdr, iov, iovcnt, len);
    return 0;
}

static int null_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    (void)nd, (void)flags;
    return 0;
}

static const struct netdev_backend_ops null_ops = {.type = "null",
                                                   .summary = "discards, carries the header",
                                                   .open = null_open,
                                                   .send = null_send,
                                                   .set_rx_offloads = null_set_rx_offloads};

static void null_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static void null_irq_pulse(struct irq_line *l)
{
    (void)l;
    g_bench->irqs++;
}

static struct irq_line irq = {null_irq_set, null_irq_pulse, NULL, 5, -1};

/* --- guest memory and registers ---------------------------------------------------------- */

static void put16(struct bench *b, uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(b->ram + gpa, &le, 2);
}

static void put32(struct bench *b, uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(b->ram + gpa, &le, 4);
}

static void put64(struct bench *b, uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(b->ram + gpa, &le, 8);
}

static uint16_t get16(struct bench *b, uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, b->ram + gpa, 2);
    return le16toh(le);
}

static uint32_t get32(struct bench *b, uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, b->ram + gpa, 4);
    return le32toh(le);
}

static void wr(struct bench *b, uint64_t off, uint32_t v)
{
    uint8_t d[4];
    iobus_put_le(d, 4, v);
    virtio_mmio_io(b->t, off, d, 4, true);
}

static uint32_t rd(struct bench *b, uint64_t off)
{
    uint8_t d[4];
    virtio_mmio_io(b->t, off, d, 4, false);
    return (uint32_t)iobus_get_le(d, 4);
}

static void set_desc(struct bench *b, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint64_t d = table + 16ull * i;
    put64(b, d, addr);
    put32(b, d + 8, len);
    put16(b, d + 12, flags);
    put16(b, d + 14, next);
}

/* --- frames ---------------------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 (checksummed) for an L4 payload of l4len bytes. */
static void make_ip(uint8_t *f, size_t l4len, uint8_t proto)
{
    memcpy(f, dev_mac, 6);
    memcpy(f + 6, "\x52\x55\x0a\x00\x02\x02", 6);
    put_be16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put_be16(ip + 2, (uint16_t)(20 + l4len));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, "\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8);
    put_be16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, 20)));
}

/* The sum of the IPv4 pseudo header of make_ip's addresses. */
static uint32_t pseudo_sum(uint8_t proto, size_t l4len)
{
    return offload_csum_add(0, (const uint8_t *)"\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8) + proto +
           (uint32_t)l4len;
}

/* A UDP/IPv4 frame of len bytes with full checksums, header without offloads. */
static void make_udp(struct vcase *c)
{
    uint8_t *f = c->frame, *udp = f + 34;
    size_t ulen = c->len - 34;
    make_ip(f, ulen, 17);
    put_be16(udp, 5000);
    put_be16(udp + 2, 5001);
    put_be16(udp + 4, (uint16_t)ulen);
    for (size_t i = 8; i < ulen; i++)
        udp[i] = (uint8_t)i;
    uint16_t s = offload_csum_fold(offload_csum_add(pseudo_sum(17, ulen), udp, ulen));
    put_be16(udp + 6, s ? s : 0xffff);
}

/* One TCP/IPv4 GSO frame of 44 x 1460 payload bytes with the pseudo-header sum in the TCP
 * checksum, as Linux's virtio_net sends it with HOST_TSO4 (and receives it with GUEST_TSO4). */
static void make_tso(struct vcase *c)
{
    uint8_t *f = c->frame, *tcp = f + 34;
    size_t tlen = c->len - 34;
    make_ip(f, tlen, 6);
    put_be16(tcp, 40000);
    put_be16(tcp + 2, 5201);
    memcpy(tcp + 4, "\x00\x01\x00\x00\x00\x02\x00\x00", 8); /* seq, ack */
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; /* PSH | ACK */
    put_be16(tcp + 14, 0xffff);
    for (size_t i = 20; i < tlen; i++)
        tcp[i] = (uint8_t)(i * 7);
    put_be16(tcp + 16, (uint16_t)~offload_csum_fold(pseudo_sum(6, tlen)));
    c->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    c->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    c->hdr.hdr_len = htole16(TSO_HDRS);
    c->hdr.gso_size = htole16(TSO_MSS);
    c->hdr.csum_start = htole16(34);
    c->hdr.csum_offset = htole16(16);
}

static int case_init(struct vcase *c, bool tx, size_t size)
{
    memset(c, 0, sizeof(*c));
    c->tx = tx;
    c->size = size;
    c->tso = size == 65536;
    c->len = c->tso ? TSO_HDRS + 44 * TSO_MSS : size == 1500 ? 1514 : size;
    c->frame = calloc(1, c->len);
    if (!c->frame)
        return -1;
    if (c->tso)
        make_tso(c);
    else
        make_udp(c);
    return 0;
}

/* --- setup ----------------------------------------------------------------------------- */

static void queue_setup(struct bench *b, unsigned qi, uint64_t desc, uint64_t avail, uint64_t used)
{
    b->q[qi] = (struct dq){.size = (uint16_t)opt.ring, .desc = desc, .avail = avail, .used = used};
    wr(b, VMMIO_QUEUE_SEL, qi);
    wr(b, VMMIO_QUEUE_NUM, opt.ring);
    wr(b, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(b, VMMIO_QUEUE_DESC_HIGH, 0);
    wr(b, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(b, VMMIO_QUEUE_DRIVER_HIGH, 0);
    wr(b, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(b, VMMIO_QUEUE_DEVICE_HIGH, 0);
    wr(b, VMMIO_QUEUE_READY, 1);
}

/* The driver's initialisation (§3.1.1): every offered feature acked, both queues live. */
static int driver_init(struct bench *b)
{
    wr(b, VMMIO_STATUS, 0);
    wr(b, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(b, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint32_t f[2];
    for (unsigned sel = 0; sel < 2; sel++) {
        wr(b, VMMIO_DEVICE_FEATURES_SEL, sel);
        f[sel] = rd(b, VMMIO_DEVICE_FEATURES);
        wr(b, VMMIO_DRIVER_FEATURES_SEL, sel);
        wr(b, VMMIO_DRIVER_FEATURES, f[sel]);
    }
    uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    wr(b, VMMIO_STATUS, st);
    queue_setup(b, RXQ, RX_DESC, RX_AVAIL, RX_USED);
    queue_setup(b, TXQ, TX_DESC, TX_AVAIL, TX_USED);
    wr(b, VMMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
    for (int i = 0; i < 16 && evloop_run_once(b->loop, 0) > 0; i++)
        ;
    uint64_t need = F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_HOST_TSO4) |
                    F(VIRTIO_NET_F_GUEST_TSO4);
    if (rd(b, VMMIO_STATUS) != (st | VIRTIO_STATUS_DRIVER_OK) ||
        (virtio_net_acked(b->vn) & need) != need) {
        fprintf(stderr, "virtio_net_bench: the device did not come up with the features needed\n");
        return -1;
    }
    return 0;
}

static int bench_open(struct bench *b, const struct vcase *c)
{
    char err[256] = "";
    memset(b, 0, sizeof(*b));
    g_bench = b;
    b->c = c;
    b->ram = aligned_alloc(4096, RAM_SIZE);
    b->scratch = malloc(NETDEV_MAX_FRAME);
    b->loop = evloop_create();
    if (!b->ram || !b->scratch || !b->loop || gmem_add_region(&b->gm, 0, RAM_SIZE, b->ram) < 0)
        return -1;
    memset(b->ram, 0, RAM_SIZE);
    struct opts *o = opts_parse("null", "type", err, sizeof(err));
    b->nd = o ? netdev_create_with(b->loop, &null_ops, "n0", o, err, sizeof(err)) : NULL;
    opts_free(o);
    struct virtio_net_params p = {.netdev = b->nd,
                                  .mem = &b->gm,
                                  .irq = &irq,
                                  .loop = b->loop,
                                  .base = MMIO_BASE,
                                  .name = "vnet0"};
    memcpy(p.mac, dev_mac, 6);
    b->vn = b->nd ? virtio_net_create(&p, err, sizeof(err)) : NULL;
    if (!b->vn) {
        fprintf(stderr, "virtio_net_bench: %s\n", err);
        return -1;
    }
    b->t = virtio_net_transport(b->vn);
    b->rxbuf = c->tso ? RXBUF_MAX : 1536;
    return driver_init(b);
}

static void bench_close(struct bench *b)
{
    virtio_net_destroy(b->vn);
    netdev_destroy(b->nd);
    evloop_destroy(b->loop);
    free(b->scratch);
    free(b->ram);
}

/* --- the driver's ring work ------------------------------------------------------------ */

static uint16_t used_idx(struct bench *b, unsigned qi)
{
    return get16(b, b->q[qi].used + 2);
}

/* Publishes avail.idx (after a release barrier, pairing with the device's acquire) and kicks
 * if the device asked for it since `old` (EVENT_IDX, §2.7.10). */
static void publish_and_kick(struct bench *b, unsigned qi, uint16_t old)
{
    struct dq *q = &b->q[qi];
    atomic_thread_fence(memory_order_release);
    put16(b, q->avail + 2, q->avail_idx);
    atomic_thread_fence(memory_order_seq_cst);
    uint16_t event = get16(b, q->used + 4 + 8ull * q->size);
    if ((uint16_t)(q->avail_idx - event - 1) < (uint16_t)(q->avail_idx - old)) {
        wr(b, VMMIO_QUEUE_NOTIFY, qi);
        b->kicks++;
    }
}

static uint64_t tx_buf(unsigned slot)
{
    return TXBUF + (uint64_t)(slot % TX_NBUF) * TX_STRIDE;
}

/* TX buffers hold header + frame; TSO slots get their indirect table once. */
static void tx_setup(struct bench *b)
{
    const struct vcase *c = b->c;
    for (unsigned i = 0; i < TX_NBUF; i++) {
        memcpy(b->ram + tx_buf(i), &c->hdr, HDR);
        memcpy(b->ram + tx_buf(i) + HDR, c->frame, c->len);
    }
    if (!c->tso)
        return;
    for (unsigned s = 0; s < opt.ring; s++) {
        uint64_t tbl = TX_TABLES + (uint64_t)s * TBL_STRIDE, buf = tx_buf(s);
        uint16_t n = 0;
        set_desc(b, tbl, n, buf, (uint32_t)(HDR + TSO_HDRS), VIRTQ_DESC_F_NEXT, 1);
        for (size_t off = TSO_HDRS; off < c->len; off += FRAG) {
            uint32_t l = (uint32_t)(c->len - off < FRAG ? c->len - off : FRAG);
            n++;
            bool last = off + l >= c->len;
            set_desc(b, tbl, n, buf + HDR + off, l, last ? 0 : VIRTQ_DESC_F_NEXT,
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
        set_desc(b, q->desc, slot, TX_TABLES + (uint64_t)slot * TBL_STRIDE,
                 16u * (1 + (unsigned)((b->c->len - TSO_HDRS + FRAG - 1) / FRAG)),
                 VIRTQ_DESC_F_INDIRECT, 0);
    else
        set_desc(b, q->desc, slot, tx_buf(slot), (uint32_t)(HDR + b->c->len), 0, 0);
    put16(b, q->avail + 4 + 2ull * slot, slot);
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
    put16(b, q->avail + 4 + 2ull * q->size, (uint16_t)(end + opt.batch - 1));
    return n;
}

static int tx_batch(struct bench *b, unsigned n)
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

static double run_tx(struct bench *b, uint64_t *pkts)
{
    uint64_t start = evloop_now_ns(), end = start + (uint64_t)(opt.seconds * 1e9), n = 0;
    for (;;) {
        if (tx_batch(b, opt.batch) < 0) {
            fprintf(stderr, "virtio_net_bench: TX stalled\n");
            break;
        }
        n += opt.batch;
        if ((n % TIME_STEP) == 0 && evloop_now_ns() >= end)
            break;
    }
    *pkts = n;
    return (double)(evloop_now_ns() - start) / 1e9;
}

/* Writes RX descriptor `id` (its buffer never moves) and offers it. */
static void rx_post(struct bench *b, uint16_t id)
{
    struct dq *q = &b->q[RXQ];
    set_desc(b, q->desc, id, RXBUF + (uint64_t)id * b->rxbuf, b->rxbuf, VIRTQ_DESC_F_WRITE, 0);
    put16(b, q->avail + 4 + 2ull * (q->avail_idx & (q->size - 1)), id);
    q->avail_idx++;
}

static void rx_setup(struct bench *b)
{
    uint16_t old = b->q[RXQ].avail_idx;
    for (unsigned i = 0; i < opt.ring; i++)
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
        uint16_t id = (uint16_t)get32(b, e);
        if (b->rx_left == 0) {
            b->rx_left = get16(b, RXBUF + (uint64_t)id * b->rxbuf + HDR - 2);
            if (b->rx_left == 0 || b->rx_left > VIRTIO_NET_RX_MAX_BUFS)
                return -1;
        }
        if (--b->rx_left == 0)
            frames++;
        rx_post(b, id);
        q->last_used++;
    }
    put16(b, q->avail + 4 + 2ull * q->size, q->last_used);
    publish_and_kick(b, RXQ, old);
    return frames;
}

/* Before timing: one frame delivered, gathered back from the used buffers and compared. */
static bool rx_verify(struct bench *b)
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
        uint64_t buf = RXBUF + (uint64_t)get32(b, e) * b->rxbuf;
        uint32_t l = get32(b, e + 4), skip = i == 0 ? (uint32_t)HDR : 0;
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

static double run_rx(struct bench *b, uint64_t *pkts)
{
    const struct vcase *c = b->c;
    struct iovec iov = {c->frame, c->len};
    uint64_t start = evloop_now_ns(), end = start + (uint64_t)(opt.seconds * 1e9), n = 0;
    for (;;) {
        for (unsigned k = 0; k < opt.batch; k++)
            if (!netdev_deliver(b->nd, &c->hdr, &iov, 1, c->len))
                break; /* no buffers: the layer holds it until the driver reposts */
        int got = rx_reap(b);
        if (got < 0) {
            fprintf(stderr, "virtio_net_bench: RX num_buffers out of range\n");
            break;
        }
        n += (uint64_t)got;
        evloop_run_once(b->loop, 0);
        if (evloop_now_ns() >= end)
            break;
    }
    *pkts = n;
    return (double)(evloop_now_ns() - start) / 1e9;
}

/* --- reference: memcpy of the same bytes --------------------------------------------------- */

static volatile uint8_t sink;

/* What a device that copies would do: TX from the guest's buffers into one host buffer, RX
 * from one host buffer into the guest's buffers (the same guest memory the device uses). */
static double run_memcpy(struct bench *b, uint64_t *pkts)
{
    const struct vcase *c = b->c;
    uint64_t start = evloop_now_ns(), end = start + (uint64_t)(opt.seconds * 1e9), n = 0;
    size_t rx_slots = (opt.ring * (size_t)b->rxbuf) / ((c->len + 63) & ~(size_t)63);
    for (;;) {
        for (unsigned k = 0; k < TIME_STEP; k++, n++) {
            if (c->tx)
                memcpy(b->scratch, b->ram + tx_buf((unsigned)n) + HDR, c->len);
            else
                memcpy(b->ram + RXBUF + (n % rx_slots) * ((c->len + 63) & ~(size_t)63), c->frame,
                       c->len);
        }
        sink = c->tx ? b->scratch[n % c->len] : b->ram[RXBUF];
        if (evloop_now_ns() >= end)
            break;
    }
    *pkts = n;
    return (double)(evloop_now_ns() - start) / 1e9;
}

/* --- cases ----------------------------------------------------------------------------- */

/* Rates by the wall clock and per second of this thread's CPU time ("on one core": the
 * machine may be shared, and busy = cpu / wall shows how much of it the thread had). */
struct result {
    double pps, gbps, ref_pps;
    double cpu_pps, cpu_gbps, ref_cpu_pps, busy, ref_busy;
    bool ok;
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool verify_case(struct bench *b)
{
    if (!b->c->tx) {
        rx_setup(b);
        return rx_verify(b);
    }
    tx_setup(b);
    b->verify = true;
    bool ok = tx_batch(b, 1) == 0 && b->verified && b->be_frames == 1;
    b->verify = false;
    return ok;
}

/* No drop anywhere, and every frame the device sent (`frames`, from its counter) reached the
 * backend; TSO frames whole. */
static bool counters_ok(struct bench *b, uint64_t frames)
{
    const struct virtio_net_stats *s = virtio_net_get_stats(b->vn);
    const struct netdev_stats *ns = netdev_get_stats(b->nd);
    uint64_t drops = s->rx_drop_not_ready + s->rx_drop_oversize + s->rx_drop_offload +
                     s->rx_bad_chain + s->tx_drop_malformed + s->tx_drop_feature + s->tx_bad_chain +
                     s->tx_drop_backend;
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        drops += ns->drops[i];
    if (b->c->tx)
        return drops == 0 && b->be_frames == frames && (!b->c->tso || b->be_gso_whole == frames);
    return drops == 0;
}

static void print_case(const struct bench *b, const struct result *r, uint64_t pkts, double secs)
{
    const struct vcase *c = b->c;
    double bits = (double)c->len * 8 / 1e9;
    /* The targets, judged per core (CPU time): 2 Mpps at 64 B, 20 Gbit/s at 64 KiB. */
    bool has_target = c->size == 64 || c->size == 65536;
    bool meets = c->size == 64 ? r->cpu_pps >= 2e6 : r->cpu_gbps >= 20.0;
    printf("{\"bench\":\"virtio-net\",\"dir\":\"%s\",\"size\":%zu,\"frame_bytes\":%zu,"
           "\"offload\":%s,\"batch\":%u,\"ring\":%u,\"rx_buf\":%u,\"pps\":%.0f,"
           "\"ns_per_pkt\":%.1f,\"gbps\":%.3f,\"ref_pps\":%.0f,\"ref_ns_per_pkt\":%.1f,"
           "\"ref_gbps\":%.3f,\"ratio\":%.4f,\"cpu_pps\":%.0f,\"cpu_ns_per_pkt\":%.1f,"
           "\"cpu_gbps\":%.3f,\"ref_cpu_ns_per_pkt\":%.1f,\"cpu_ratio\":%.4f,\"busy\":%.2f,"
           "\"ref_busy\":%.2f,\"packets\":%llu,\"seconds\":%.2f,\"kicks_per_pkt\":%.4f,"
           "\"irqs_per_pkt\":%.4f,\"verified\":%s,",
           c->tx ? "tx" : "rx", c->size, c->len, c->tso ? "true" : "false", opt.batch, opt.ring,
           c->tx ? 0 : b->rxbuf, r->pps, 1e9 / r->pps, r->pps * bits, r->ref_pps, 1e9 / r->ref_pps,
           r->ref_pps * bits, r->pps / r->ref_pps, r->cpu_pps, 1e9 / r->cpu_pps, r->cpu_gbps,
           1e9 / r->ref_cpu_pps, r->cpu_pps / r->ref_cpu_pps, r->busy, r->ref_busy,
           (unsigned long long)pkts, secs, (double)b->kicks / (double)pkts,
           (double)b->irqs / (double)pkts, r->ok ? "true" : "false");
    if (has_target)
        printf("\"target\":\"%s per core\",\"meets_target\":%s,",
               c->size == 64 ? ">= 2 Mpps" : ">= 20 Gbit/s", meets ? "true" : "false");
    printf("\"ref\":\"memcpy of the same bytes\"}\n");
    fprintf(stderr, "virtio-net %s %5zu B%s %8.3f %8.2f %7.1f %8.3f %8.2f %6.3f %6.1f %5.2f%s%s\n",
            c->tx ? "tx" : "rx", c->size, c->tso ? " TSO" : "    ", r->pps / 1e6, r->pps * bits,
            1e9 / r->cpu_pps, r->ref_pps / 1e6, r->ref_pps * bits, r->pps / r->ref_pps,
            1e9 / r->ref_cpu_pps, r->busy, r->ok ? "" : "  NOT VERIFIED",
            has_target ? (meets ? "  target met" : "  BELOW TARGET") : "");
    fflush(stdout);
}

/* Runs one case; returns 0, or 1 when it could not run or its frames did not check out. */
static int run_case(bool tx, size_t size)
{
    struct vcase c;
    struct bench b;
    if (case_init(&c, tx, size) < 0 || bench_open(&b, &c) < 0) {
        printf("{\"bench\":\"virtio-net\",\"dir\":\"%s\",\"size\":%zu,\"error\":\"setup\"}\n",
               tx ? "tx" : "rx", size);
        free(c.frame);
        return 1;
    }
    bool verified = verify_case(&b);
    b.kicks = b.irqs = b.be_frames = b.be_gso_whole = 0;
    const struct virtio_net_stats *s = virtio_net_get_stats(b.vn);
    uint64_t base = tx ? s->tx_packets : s->rx_packets, pkts = 0, ref_pkts = 0;
    double cpu0 = cpu_now();
    double secs = tx ? run_tx(&b, &pkts) : run_rx(&b, &pkts);
    double cpu1 = cpu_now();
    uint64_t done = (tx ? s->tx_packets : s->rx_packets) - base;
    double ref_secs = opt.no_ref ? 1 : run_memcpy(&b, &ref_pkts);
    double ref_cpu = opt.no_ref ? 1 : cpu_now() - cpu1;
    struct result r = {.pps = (double)pkts / secs, .cpu_pps = (double)pkts / (cpu1 - cpu0)};
    r.gbps = r.pps * (double)c.len * 8 / 1e9;
    r.cpu_gbps = r.cpu_pps * (double)c.len * 8 / 1e9;
    r.busy = (cpu1 - cpu0) / secs;
    r.ref_pps = opt.no_ref ? r.pps : (double)ref_pkts / ref_secs;
    r.ref_cpu_pps = opt.no_ref ? r.cpu_pps : (double)ref_pkts / ref_cpu;
    r.ref_busy = opt.no_ref ? r.busy : ref_cpu / ref_secs;
    r.ok = verified && pkts > 0 && counters_ok(&b, done) && done >= pkts;
    print_case(&b, &r, pkts, secs);
    bench_close(&b);
    free(c.frame);
    return r.ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            opt.seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--quick") == 0) {
            opt.seconds = 0.2;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt.only = argv[++i];
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            opt.size = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            opt.batch = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc) {
            opt.ring = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-ref") == 0) {
            opt.no_ref = true;
        } else {
            fprintf(stderr, "usage: virtio_net_bench [--seconds N] [--quick] [--only tx|rx] "
                            "[--size 64|1500|65536] [--batch N] [--ring N] [--no-ref]\n");
            return 2;
        }
    }
    if (opt.seconds <= 0)
        opt.seconds = 1.0;
    if (opt.batch == 0 || opt.batch > BATCH_MAX || TIME_STEP % opt.batch)
        opt.batch = BATCH_DEF; /* a power of two up to 256 */
    if (opt.ring < 64 || opt.ring > VIRTQ_MAX_SIZE || (opt.ring & (opt.ring - 1)))
        opt.ring = RING_DEF; /* a power of two, 64 to 1024 */
    size_t sizes[] = {64, 1500, 65536};
    int rc = 0;
    fprintf(
        stderr,
        "virtio_net_bench: fake guest ring -> virtio-mmio -> virtio-net -> null backend, "
        "%.1f s per case, batch %u, ring %u (cpu: ns of this thread's CPU per frame; "
        "busy: its share of the wall clock)\n"
        "case                     Mpps   Gbit/s  cpu ns ref Mpps ref Gb/s  ratio ref ns  busy\n",
        opt.seconds, opt.batch, opt.ring);
    for (int dir = 0; dir < 2; dir++) {
        if (opt.only && strcmp(opt.only, dir == 0 ? "tx" : "rx") != 0)
            continue;
        for (size_t s = 0; s < 3; s++)
            if (!opt.size || opt.size == sizes[s])
                rc |= run_case(dir == 0, sizes[s]);
    }
    return rc;
}
