/* The 82540EM transmit path (8254x manual §3.3-3.5): the TX ring walk with a per-kick budget,
 * legacy, context and data descriptors, packets gathered until EOP (bounded), and the offloads
 * turned into a virtio-net header for the netdev layer: TSE becomes TCPV4/TCPV6 GSO with a
 * normalised header (IPv4 total length and header checksum, TCP checksum seeded with the
 * full pseudo header), TCP/UDP checksum insertion becomes NEEDS_CSUM, and what a header
 * cannot express (IPv4 header checksums, partial ranges) is computed here. Runs on the loop
 * thread with the device lock held. */
#include "devices/e1000_int.h"
#include "net/offload.h"
#include "vmm/guestmem.h"
#include "vmm/fuzz_work.h"
#include "vmm/iov.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define IPV4_HLEN      20
#define IPV6_HLEN      40
#define CSUM_START_MIN 20 /* the smallest csum_start the netdev layer (and tap) accepts */
#define TCP_FLAGS_OFF  13

static void bad_ring(struct e1000 *e, const char *what)
{
    e->stats.bad_ring++;
    log_ratelimited(&e->rl, LOG_WARN, "%s: %s", e->name, what);
}

void e1000_tx_reset(struct e1000 *e)
{
    memset(&e->ctx_tso, 0, sizeof(e->ctx_tso));
    memset(&e->ctx_csum, 0, sizeof(e->ctx_csum));
    e->pkt.active = false;
    e->pkt.nrs = 0;
    e->tx_wait = false;
    e->tx_irq_delayed = false;
}

/* RFC 1071 sum of bytes [off, off + len) of an iovec array: pieces that start at an odd
 * position contribute their sum byte-swapped (RFC 1071 §2(B)). */
uint32_t e1000_csum_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
    uint32_t sum = 0;
    size_t pos = 0;
    for (int i = 0; i < iovcnt && len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len ? l - off : len;
        uint32_t s = offload_csum_add(0, (const uint8_t *)iov[i].iov_base + off, n);
        if (pos & 1)
            s = ((s & 0xff) << 8) | (s >> 8);
        sum += s;
        sum = (sum & 0xffff) + (sum >> 16);
        pos += n;
        len -= n;
        off = 0;
    }
    return sum;
}

/* Statistics of `n` frames of wire_len bytes (FCS included) to or from dst (§13.7). */
void e1000_count_frame(struct e1000 *e, bool tx, const uint8_t *dst, size_t wire_len, uint32_t n)
{
    static const size_t limits[] = {64, 127, 255, 511, 1023};
    uint32_t bucket = tx ? E1000_PTC64 : E1000_PRC64;
    for (size_t i = 0; i < 5 && wire_len > limits[i]; i++)
        bucket += 4;
    e1000_stat_add(e, bucket, n);
    e1000_stat_add(e, tx ? E1000_GPTC : E1000_GPRC, n);
    e1000_stat_add(e, tx ? E1000_TPT : E1000_TPR, n);
    uint64_t octets = (uint64_t)wire_len * n;
    if (tx) {
        e->gotc += octets;
        e->tot += octets;
    } else {
        e->gorc += octets;
        e->tor += octets;
    }
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (memcmp(dst, bcast, 6) == 0)
        e1000_stat_add(e, tx ? E1000_BPTC : E1000_BPRC, n);
    else if (dst[0] & 1)
        e1000_stat_add(e, tx ? E1000_MPTC : E1000_MPRC, n);
}

/* --- descriptor write-back and TXDW -------------------------------------------------------- */

static void tx_writeback(struct e1000 *e, uint32_t ent)
{
    uint64_t base = (uint64_t)e1000_reg(e, E1000_TDBAH) << 32 | e1000_reg(e, E1000_TDBAL);
    uint32_t idx = ent & ~E1000_RS_IDE;
    uint8_t dd = E1000_TXD_STAT_DD;
    if (gmem_write(e->mem, base + (uint64_t)idx * E1000_DESC_SIZE + 12, &dd, 1) < 0)
        bad_ring(e, "TX descriptor write-back outside RAM");
    /* IDE delays TXDW by TIDV (and at most TADV); otherwise it is immediate and flushes a
     * delayed one. */
    if ((ent & E1000_RS_IDE) && (e1000_reg(e, E1000_TIDV) & 0xffff)) {
        e->tx_irq_delayed = true;
    } else {
        e1000_mtimer_stop(&e->tidv);
        e1000_mtimer_stop(&e->tadv);
        e->tx_irq_delayed = false;
        e->regs[E1000_ICR >> 2] |= E1000_ICR_TXDW;
    }
}

static void tx_note_rs(struct e1000 *e, uint32_t idx, bool ide)
{
    struct e1000_txpkt *p = &e->pkt;
    uint32_t ent = idx | (ide ? E1000_RS_IDE : 0);
    /* Descriptors whose data is still referenced get DD after the frame is sent; a packet
     * already refused references nothing. */
    if (p->active && !p->bad && p->nrs < E1000_TX_MAX_RS)
        p->rs[p->nrs++] = ent;
    else
        tx_writeback(e, ent);
}

/* --- gathering --------------------------------------------------------------------------- */

static void tx_context(struct e1000 *e, const uint8_t *d)
{
    uint32_t lower = e1000_le32(d + 8), upper = e1000_le32(d + 12);
    struct e1000_txctx c = {
        .valid = true,
        .ipcss = d[0],
        .ipcso = d[1],
        .ipcse = e1000_le16(d + 2),
        .tucss = d[4],
        .tucso = d[5],
        .tucse = e1000_le16(d + 6),
        .paylen = lower & 0xfffff,
        .cmd = lower,
        .hdrlen = (uint8_t)(upper >> 8),
        .mss = (uint16_t)(upper >> 16),
    };
    /* A packet in progress keeps the context it started with (§3.3.6 allows no change). */
    if (lower & E1000_TXD_TSE)
        e->ctx_tso = c;
    else
        e->ctx_csum = c;
}

static void tx_start(struct e1000 *e, uint32_t lower, uint32_t upper, bool ext, bool tse)
{
    struct e1000_txpkt *p = &e->pkt;
    p->active = true;
    p->bad = false;
    p->ext = ext;
    p->tse = tse;
    p->len = p->prefix_len = 0;
    p->niov = 0;
    p->popts = ext ? (uint8_t)(upper >> 8) : 0; /* POPTS: first data descriptor (§3.3.7) */
    p->css = ext ? 0 : (uint8_t)(upper >> 8);   /* CSS: first legacy descriptor */
    p->vle = tse && (lower & E1000_TXD_VLE);    /* TSE: VLE and VLAN from the first one */
    p->vlan = (uint16_t)(upper >> 16);
    p->ctx = tse ? e->ctx_tso : e->ctx_csum;
    if (tse && !p->ctx.valid) {
        p->bad = true;
        log_ratelimited(&e->rl, LOG_WARN, "%s: TSE data descriptor without a TSE context", e->name);
    }
}

/* Appends len bytes at guest address addr: the first bytes into the private prefix, the
 * rest as iovecs into guest RAM. Past 64 KiB, outside RAM or past the iovec table: the
 * packet is marked bad and grows no further. */
static void tx_append(struct e1000 *e, uint64_t addr, size_t len)
{
    struct e1000_txpkt *p = &e->pkt;
    if (len > E1000_TX_MAX_LEN - p->len) {
        p->bad = true;
        return;
    }
    if (p->prefix_len < E1000_TX_PREFIX) {
        size_t n = E1000_TX_PREFIX - p->prefix_len < len ? E1000_TX_PREFIX - p->prefix_len : len;
        if (gmem_read(e->mem, addr, p->buf + 4 + p->prefix_len, n) < 0) {
            p->bad = true;
            return;
        }
        p->prefix_len += n;
        p->len += n;
        addr += n;
        len -= n;
    }
    if (!len)
        return;
    uint8_t *hva = gmem_ptr(e->mem, addr, len);
    struct iovec *last = p->niov ? &p->iov[p->niov] : NULL;
    if (!hva) {
        p->bad = true;
    } else if (last && (uint8_t *)last->iov_base + last->iov_len == hva) {
        last->iov_len += len; /* contiguous in host memory: one iovec */
        p->len += len;
    } else if (p->niov == E1000_TX_MAX_IOV) {
        p->bad = true;
    } else {
        p->iov[++p->niov] = (struct iovec){hva, len};
        p->len += len;
    }
}

/* --- offloads ---------------------------------------------------------------------------- */

static struct iovec *tx_view(struct e1000 *e, int *n)
{
    struct e1000_txpkt *p = &e->pkt;
    p->iov[0] = (struct iovec){p->buf + 4, p->prefix_len};
    *n = 1 + p->niov;
    return p->iov;
}

/* Computes the checksum of bytes [start, end] into the field at `field` (which lies in the
 * prefix: every offset is below 256 and field + 2 <= len was checked). */
static void tx_csum_put(struct e1000 *e, size_t start, size_t end, size_t field)
{
    int n;
    struct iovec *v = tx_view(e, &n);
    uint32_t sum = e1000_csum_iov(v, n, start, end - start + 1);
    e1000_put_be16(e->pkt.buf + 4 + field, offload_csum_fold(sum));
}

static void set_needs_csum(struct virtio_net_hdr_v1 *h, unsigned start, unsigned field)
{
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->csum_start = htole16((uint16_t)start);
    h->csum_offset = htole16((uint16_t)(field - start));
}

/* One checksum insertion (TCP/UDP, or a legacy descriptor's): over [start, end] into
 * `field`. NEEDS_CSUM when the header can say it (to the end of the frame, field after the
 * start, start past the IP header's minimum); computed here otherwise. Out of range: not
 * inserted, as the hardware ignores it (§3.3.3.1). */
static void tx_l4_csum(struct e1000 *e, struct virtio_net_hdr_v1 *h, size_t start, size_t end,
                       size_t field)
{
    size_t len = e->pkt.len;
    if (start >= len || field + 2 > len || end < start)
        return;
    if (end > len - 1)
        end = len - 1;
    if (end == len - 1 && field >= start && start >= CSUM_START_MIN && field < E1000_TX_PREFIX)
        set_needs_csum(h, (unsigned)start, (unsigned)field);
    else
        tx_csum_put(e, start, end, field);
}

/* Checksum offload without segmentation: a legacy descriptor's IC (CSS from the first
 * descriptor, CSO and IC from the EOP one), or POPTS with the normal context. */
static int tx_csum(struct e1000 *e, struct virtio_net_hdr_v1 *h, uint32_t eop_lower)
{
    struct e1000_txpkt *p = &e->pkt;
    size_t len = p->len;
    if (!p->ext) {
        if (eop_lower & E1000_TXD_IC)
            tx_l4_csum(e, h, p->css, len - 1, (eop_lower >> 16) & 0xff);
        return 0;
    }
    const struct e1000_txctx *c = &p->ctx;
    if (!c->valid)
        return 0; /* no context ever given: nothing to insert */
    if (p->popts & E1000_TXD_POPTS_IXSM) {
        size_t end = c->ipcse ? c->ipcse : len - 1;
        if (c->ipcss < len && (size_t)c->ipcso + 2 <= len && end >= c->ipcss)
            tx_csum_put(e, c->ipcss, end < len ? end : len - 1, c->ipcso);
    }
    if (p->popts & E1000_TXD_POPTS_TXSM)
        tx_l4_csum(e, h, c->tucss, c->tucse ? c->tucse : len - 1, c->tucso);
    return 0;
}

/* The TSE context checked against the gathered header (§3.3.6, §3.5). */
static int tso_check(const struct e1000_txctx *c, size_t len, bool v4)
{
    if (!(c->cmd & E1000_TXD_CTX_TCP))
        return -EINVAL; /* UDP segmentation has no virtio-net equivalent here */
    if (c->mss == 0 || c->hdrlen == 0 || c->hdrlen > len || (uint32_t)c->mss + c->hdrlen > 0xffff)
        return -EINVAL;
    if (c->tucss >= c->hdrlen || c->tucso < c->tucss || (size_t)c->tucso + 2 > c->hdrlen)
        return -EINVAL;
    size_t iphl = v4 ? IPV4_HLEN : IPV6_HLEN;
    if ((size_t)c->ipcss + iphl > c->tucss || (v4 && (size_t)c->ipcso + 2 > c->hdrlen))
        return -EINVAL;
    /* the whole frame must be one IP packet of at most 64 KiB */
    if (len - c->ipcss - (v4 ? 0 : IPV6_HLEN) > 0xffff)
        return -EINVAL;
    return 0;
}

/* TSE: the gathered frame becomes one GSO frame in the form virtio-net (and Linux's own
 * GSO) expects. The driver zeroed the IPv4 total length and seeded the TCP checksum with a
 * pseudo header without the length (the hardware adds each segment's length); here the
 * frame gets its real lengths, a valid IPv4 header checksum and the seed plus the TCP
 * length, as a stack would hand a CHECKSUM_PARTIAL GSO packet to a device. */
static int tx_tso(struct e1000 *e, struct virtio_net_hdr_v1 *h)
{
    struct e1000_txpkt *p = &e->pkt;
    const struct e1000_txctx *c = &p->ctx;
    bool v4 = c->cmd & E1000_TXD_CTX_IP;
    size_t len = p->len;
    if (tso_check(c, len, v4) < 0)
        return -EINVAL;
    uint8_t *f = p->buf + 4;
    uint8_t *ip = f + c->ipcss;
    /* HDRLEN is what every segment repeats: it must end where the TCP header does. */
    size_t thl = (size_t)(f[c->tucss + 12] >> 4) * 4;
    if (thl < 20 || c->tucss + thl != c->hdrlen)
        return -EINVAL;
    if (v4) {
        size_t ihl = (size_t)(ip[0] & 0xf) * 4;
        if (ihl < IPV4_HLEN || c->ipcss + ihl > c->tucss)
            return -EINVAL;
        e1000_put_be16(ip + 2, (uint16_t)(len - c->ipcss));
        e1000_put_be16(f + c->ipcso, 0);
        e1000_put_be16(f + c->ipcso, offload_csum_fold(offload_csum_add(0, ip, ihl)));
    } else {
        e1000_put_be16(ip + 4, (uint16_t)(len - c->ipcss - IPV6_HLEN));
    }
    uint32_t seed = e1000_be16(f + c->tucso) + (uint32_t)(len - c->tucss);
    seed = (seed & 0xffff) + (seed >> 16);
    e1000_put_be16(f + c->tucso, (uint16_t)((seed & 0xffff) + (seed >> 16)));
    set_needs_csum(h, c->tucss, c->tucso);
    if (len - c->hdrlen > c->mss) {
        h->gso_type = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
        h->gso_size = htole16(c->mss);
        h->hdr_len = htole16(c->hdrlen);
    }
    return 0;
}

/* --- sending ----------------------------------------------------------------------------- */

static int lb_emit(void *opaque, const uint8_t *frame, size_t len)
{
    struct e1000 *e = opaque;
    if (e1000_lb_push(e, frame, len) < 0)
        e->stats.tx_drop_backend++;
    return 0;
}

/* Loopback (RCTL.LBM or PHY loopback): the frame, its offloads done in software, goes to the
 * loopback queue, drained into the RX ring from the loop: never a direct call into RX. */
static int tx_loop(struct e1000 *e, const struct virtio_net_hdr_v1 *h, const struct iovec *iov,
                   int n, size_t len)
{
    if (!e->lb_linear)
        e->lb_linear = malloc(NETDEV_MAX_FRAME);
    if (!e->lb_scratch)
        e->lb_scratch = malloc(65536 + 128);
    if (!e->lb_linear || !e->lb_scratch || len > NETDEV_MAX_FRAME || len < E1000_ETH_HLEN)
        return -ENOMEM;
    size_t got = iov_to_buf(iov, n, 0, e->lb_linear, len);
    int rc = offload_segment(h, e->lb_linear, got, e->lb_scratch, lb_emit, e);
    e1000_kick(e, E1000_WORK_LB);
    return rc < 0 ? rc : 0;
}

static void tx_count(struct e1000 *e, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                     size_t len)
{
    e->stats.tx_packets++;
    e->stats.tx_bytes += len;
    if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        e1000_count_frame(e, true, f, (len < E1000_MIN_FRAME ? E1000_MIN_FRAME : len) + 4, 1);
        return;
    }
    size_t hl = le16toh(h->hdr_len), mss = le16toh(h->gso_size);
    size_t payload = len - hl, segs = (payload + mss - 1) / mss;
    e1000_count_frame(e, true, f, hl + mss + E1000_FCS_LEN, (uint32_t)(segs - 1));
    e1000_count_frame(e, true, f, hl + payload - (segs - 1) * mss + E1000_FCS_LEN, 1);
    e1000_stat_add(e, E1000_TSCTC, 1);
}

/* VLAN insertion (CTRL.VME and VLE): the tag goes after the addresses, which moves every
 * offset in the header by four bytes. */
static void tx_send(struct e1000 *e, struct virtio_net_hdr_v1 *h)
{
    struct e1000_txpkt *p = &e->pkt;
    int n;
    struct iovec *v = tx_view(e, &n);
    size_t len = p->len;
    if (p->vle && (e1000_reg(e, E1000_CTRL) & E1000_CTRL_VME) && p->prefix_len >= 12) {
        memmove(p->buf, p->buf + 4, 12);
        e1000_put_be16(p->buf + 12, (uint16_t)e1000_reg(e, E1000_VET));
        e1000_put_be16(p->buf + 14, p->vlan);
        v[0] = (struct iovec){p->buf, p->prefix_len + 4};
        len += 4;
        if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
            h->csum_start = htole16((uint16_t)(le16toh(h->csum_start) + 4));
        if (h->hdr_len)
            h->hdr_len = htole16((uint16_t)(le16toh(h->hdr_len) + 4));
    }
    const uint8_t *f = v[0].iov_base;
    int rc = e1000_loopback(e)  ? tx_loop(e, h, v, n, len)
             : e1000_tracing(e) ? e1000_trace_send(e, h, v, n, len)
                                : netdev_send(e->nd, h, v, n, len);
    if (rc == 0)
        tx_count(e, h, f, len);
    else if (rc == -EINVAL)
        e->stats.tx_drop_malformed++;
    else
        e->stats.tx_drop_backend++;
}

static void tx_finish(struct e1000 *e, uint32_t lower, uint32_t upper)
{
    struct e1000_txpkt *p = &e->pkt;
    struct virtio_net_hdr_v1 h;
    memset(&h, 0, sizeof(h));
    int rc = -EINVAL;
    if (!p->bad)
        rc = p->tse ? tx_tso(e, &h) : tx_csum(e, &h, lower);
    if (rc == 0) {
        if (!p->tse) { /* VLE and VLAN: the EOP descriptor's without TSE */
            p->vle = lower & E1000_TXD_VLE;
            p->vlan = (uint16_t)(upper >> 16);
        }
        tx_send(e, &h);
    } else {
        e->stats.tx_drop_malformed++;
        if (p->tse)
            e1000_stat_add(e, E1000_TSCTFC, 1);
    }
    p->active = false;
    for (unsigned i = 0; i < p->nrs; i++)
        tx_writeback(e, p->rs[i]);
    p->nrs = 0;
}

/* A legacy (DEXT clear) or data (DEXT, DTYP 1) descriptor. */
static void tx_data(struct e1000 *e, const uint8_t *d, uint32_t idx, bool ext)
{
    struct e1000_txpkt *p = &e->pkt;
    uint64_t addr = e1000_le64(d);
    uint32_t lower = e1000_le32(d + 8), upper = e1000_le32(d + 12);
    size_t len = ext ? (lower & 0xfffff) : (lower & 0xffff);
    bool tse = ext && (lower & E1000_TXD_TSE);
    if (!p->active)
        tx_start(e, lower, upper, ext, tse);
    else if (p->ext != ext || p->tse != tse)
        p->bad = true;          /* legacy and extended, or TSE and not, in one packet */
    if (addr && len && !p->bad) /* a null address or zero length carries no data */
        tx_append(e, addr, len);
    if (lower & E1000_TXD_RS)
        tx_note_rs(e, idx, lower & E1000_TXD_IDE);
    if (lower & E1000_TXD_EOP)
        tx_finish(e, lower, upper);
}

static void tx_desc(struct e1000 *e, const uint8_t *d, uint32_t idx)
{
    uint32_t lower = e1000_le32(d + 8);
    unsigned dtyp = (lower >> E1000_TXD_DTYP_SHIFT) & 0xf;
    if (!(lower & E1000_TXD_DEXT)) {
        tx_data(e, d, idx, false);
    } else if (dtyp == 1) {
        tx_data(e, d, idx, true);
    } else {
        if (dtyp == 0)
            tx_context(e, d);
        else if (e->pkt.active)
            e->pkt.bad = true; /* reserved descriptor type inside a packet */
        if (lower & E1000_TXD_RS)
            tx_note_rs(e, idx, lower & E1000_TXD_IDE);
        if (dtyp != 0 && (lower & E1000_TXD_EOP) && e->pkt.active)
            tx_finish(e, lower, 0);
    }
}

/* Frames may start only when the backend (or the loopback queue) has room. */
static bool tx_blocked(struct e1000 *e)
{
    if (e1000_loopback(e))
        return e->lb_head != NULL;
    return !netdev_can_send(e->nd);
}

static void tx_batch_end(struct e1000 *e, bool empty)
{
    if (empty)
        e->regs[E1000_ICR >> 2] |= E1000_ICR_TXQE;
    if (e->tx_irq_delayed) {
        e->tx_irq_delayed = false;
        uint32_t tadv = e1000_reg(e, E1000_TADV) & 0xffff;
        e1000_mtimer_extend(&e->tidv, (uint64_t)(e1000_reg(e, E1000_TIDV) & 0xffff) * 1024);
        if (tadv && !e->tadv.on)
            e1000_mtimer_start(&e->tadv, (uint64_t)tadv * 1024);
    }
    e1000_update_irq(e);
}

/* The ring walk: descriptors from TDH to TDT, each copied once from guest memory, at most
 * E1000_TX_BUDGET per call (the rest is kicked again). TDLEN 0, or TDH/TDT past the ring,
 * stop the walk: nothing is read until the guest fixes them. */
void e1000_tx_run(struct e1000 *e)
{
    if (!(e1000_reg(e, E1000_TCTL) & E1000_TCTL_EN) || !e1000_dma_ok(e))
        return;
    uint32_t count = e1000_reg(e, E1000_TDLEN) / E1000_DESC_SIZE;
    uint32_t head = e1000_reg(e, E1000_TDH), tail = e1000_reg(e, E1000_TDT);
    if (count == 0)
        return;
    if (head >= count || tail >= count) {
        bad_ring(e, "TX head or tail past the ring: TX stopped");
        return;
    }
    uint64_t base = (uint64_t)e1000_reg(e, E1000_TDBAH) << 32 | e1000_reg(e, E1000_TDBAL);
    unsigned budget = E1000_TX_BUDGET;
    bool any = false;
    while (head != tail) {
        NICVM_FUZZ_WORK();
        if (!budget) {
            e->stats.tx_budget_yields++;
            e1000_kick(e, E1000_WORK_TX);
            break;
        }
        if (!e->pkt.active && tx_blocked(e)) {
            e->stats.tx_wait_backend++;
            e->tx_wait = true;
            break;
        }
        uint8_t d[E1000_DESC_SIZE];
        if (gmem_read(e->mem, base + (uint64_t)head * E1000_DESC_SIZE, d, sizeof(d)) < 0) {
            bad_ring(e, "TX descriptor outside RAM: TX stopped");
            break;
        }
        uint32_t idx = head;
        head = head + 1 == count ? 0 : head + 1;
        e->regs[E1000_TDH >> 2] = head;
        tx_desc(e, d, idx);
        budget--;
        any = true;
    }
    if (any)
        tx_batch_end(e, head == tail);
}
