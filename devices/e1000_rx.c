/* The 82540EM receive path (8254x manual §3.2): address filtering, long-packet and buffer-size
 * rules, VLAN tag stripping, receive checksum status, one frame written across consecutive
 * descriptors (EOP on the last), RXT0 mitigation (RDTR/RADV) and RXDMT0, statistics; and
 * the loopback queue that carries the device's own frames to its receive ring from the
 * event loop. Called with the device lock held. */
#include "devices/e1000_int.h"
#include "net/offload.h"
#include "vmm/guestmem.h"
#include "vmm/fuzz_work.h"
#include "vmm/iov.h"

#include <endian.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PEEK       128 /* header bytes examined: Ethernet, VLAN, IPv4 with options, L4 */
#define ETYPE_IPV4 0x0800
#define ETYPE_IPV6 0x86dd
#define PROTO_TCP  6
#define PROTO_UDP  17

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const struct virtio_net_hdr_v1 zero_hdr;

bool e1000_loopback(const struct e1000 *e)
{
    return (e1000_reg(e, E1000_RCTL) & E1000_RCTL_LBM) || (e->phy[PHY_CTRL] & PHY_CTRL_LOOPBACK);
}

/* --- filtering (§3.2.1) ------------------------------------------------------------------ */

static bool ra_match(const struct e1000 *e, const uint8_t *dst)
{
    for (unsigned i = 0; i < E1000_RA_NUM; i++) {
        uint32_t lo = e->regs[(E1000_RA >> 2) + 2 * i], hi = e->regs[(E1000_RA >> 2) + 2 * i + 1];
        if (!(hi & E1000_RAH_AV) || (hi & E1000_RAH_AS)) /* AS != 0: a source address */
            continue;
        uint8_t a[6] = {(uint8_t)lo,         (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
                        (uint8_t)(lo >> 24), (uint8_t)hi,        (uint8_t)(hi >> 8)};
        if (memcmp(a, dst, 6) == 0)
            return true;
    }
    return false;
}

/* The multicast table: 12 bits of the address chosen by RCTL.MO index 4096 bits. */
static bool mta_match(const struct e1000 *e, const uint8_t *dst)
{
    unsigned mo = (e1000_reg(e, E1000_RCTL) >> E1000_RCTL_MO_SHIFT) & 3;
    static const unsigned shift[4] = {4, 3, 2, 0};
    unsigned hash = ((dst[4] >> shift[mo]) | ((unsigned)dst[5] << (8 - shift[mo]))) & 0xfff;
    return (e->regs[(E1000_MTA >> 2) + (hash >> 5)] >> (hash & 31)) & 1;
}

static bool rx_filter(const struct e1000 *e, const uint8_t *dst)
{
    uint32_t rctl = e1000_reg(e, E1000_RCTL);
    bool mcast = dst[0] & 1, is_bcast = memcmp(dst, bcast, 6) == 0;
    if (!mcast && (rctl & E1000_RCTL_UPE))
        return true;
    if (mcast && (rctl & E1000_RCTL_MPE))
        return true;
    if (is_bcast)
        return (rctl & E1000_RCTL_BAM) || ra_match(e, dst);
    if (ra_match(e, dst))
        return true;
    return mcast && mta_match(e, dst);
}

/* --- receive checksum status (§3.2.3, RXCSUM) ---------------------------------------------- */

struct rx_l4 {
    size_t off, len;
    uint8_t proto;
    uint32_t pseudo; /* addresses and protocol; the length is added by the caller */
};

/* Finds the IPv4/IPv6 header in f (n bytes of a len-byte frame); sets IPCS/IPE; returns
 * true and fills l4 when a whole TCP or UDP segment follows (not a fragment). */
static bool rx_parse_ip(struct e1000 *e, const uint8_t *f, size_t n, size_t len, uint8_t *status,
                        uint8_t *errors, struct rx_l4 *l4)
{
    size_t l3 = E1000_ETH_HLEN;
    uint16_t type = e1000_be16(f + 12);
    if (type == (uint16_t)e1000_reg(e, E1000_VET) && n >= 18) {
        type = e1000_be16(f + 16);
        l3 += 4;
    }
    const uint8_t *ip = f + l3;
    if (type == ETYPE_IPV4 && n >= l3 + 20 && ip[0] >> 4 == 4) {
        size_t ihl = (size_t)(ip[0] & 0xf) * 4, tot = e1000_be16(ip + 2);
        if (ihl < 20 || l3 + ihl > n || tot < ihl || tot > len - l3)
            return false;
        if (e1000_reg(e, E1000_RXCSUM) & E1000_RXCSUM_IPOFL) {
            *status |= E1000_RXD_STAT_IPCS;
            if (offload_csum_fold(offload_csum_add(0, ip, ihl)) != 0)
                *errors |= E1000_RXD_ERR_IPE;
        }
        if (e1000_be16(ip + 6) & 0x3fff)
            return false; /* a fragment: no L4 checksum */
        *l4 = (struct rx_l4){l3 + ihl, tot - ihl, ip[9], offload_csum_add(0, ip + 12, 8) + ip[9]};
        return true;
    }
    if (type == ETYPE_IPV6 && n >= l3 + 40 && ip[0] >> 4 == 6) {
        size_t plen = e1000_be16(ip + 4);
        if (plen > len - l3 - 40)
            return false;
        *l4 = (struct rx_l4){l3 + 40, plen, ip[6], offload_csum_add(0, ip + 8, 32) + ip[6]};
        return true;
    }
    return false;
}

/* Status and error bits for a frame as received (f: its first n bytes). trusted: the
 * backend vouched for the L4 checksum (DATA_VALID), or the device just filled it. */
static void rx_csum(struct e1000 *e, const uint8_t *f, size_t n, const struct iovec *iov,
                    int iovcnt, size_t len, bool trusted, uint8_t *status, uint8_t *errors)
{
    uint32_t rxcsum = e1000_reg(e, E1000_RXCSUM);
    struct rx_l4 l4;
    if (!(rxcsum & (E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL))) {
        *status |= E1000_RXD_STAT_IXSM;
        return;
    }
    if (!rx_parse_ip(e, f, n, len, status, errors, &l4) || !(rxcsum & E1000_RXCSUM_TUOFL))
        return;
    if (!(l4.proto == PROTO_TCP && l4.len >= 20) && !(l4.proto == PROTO_UDP && l4.len >= 8))
        return;
    *status |= E1000_RXD_STAT_TCPCS; /* TCP or UDP (the 82540 has one bit for both) */
    if (trusted)
        return;
    if (l4.proto == PROTO_UDP && l4.off + 8 <= n && e1000_be16(f + l4.off + 6) == 0)
        return; /* UDP without a checksum */
    uint32_t sum = l4.pseudo + (uint32_t)l4.len + e1000_csum_iov(iov, iovcnt, l4.off, l4.len);
    if (offload_csum_fold(sum) != 0)
        *errors |= E1000_RXD_ERR_TCPE;
}

/* --- writing the frame ------------------------------------------------------------------- */

static size_t rx_bufsize(uint32_t rctl)
{
    unsigned bsize = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
    static const size_t normal[4] = {2048, 1024, 512, 256};
    static const size_t extended[4] = {2048, 16384, 8192, 4096}; /* BSEX with 00: reserved */
    return (rctl & E1000_RCTL_BSEX) ? extended[bsize] : normal[bsize];
}

struct rx_frame {
    const struct iovec *src; /* the bytes to write (VLAN tag already stripped) */
    int srccnt;
    size_t flen;  /* bytes of frame in src */
    size_t total; /* written: frame, zero padding to 60 bytes, FCS unless SECRC */
    uint8_t status, errors;
    uint16_t special;
};

/* Writes one descriptor's buffer and then its status: length, errors and VLAN first, the DD
 * byte last, so a driver that sees DD sees the rest. */
static void rx_desc(struct e1000 *e, uint64_t daddr, const struct rx_frame *fr, size_t off,
                    size_t chunk, bool last)
{
    uint8_t d[E1000_DESC_SIZE];
    uint8_t wb[8] = {0};
    if (gmem_read(e->mem, daddr, d, sizeof(d)) < 0)
        return; /* the ring was checked to lie in RAM */
    uint8_t *buf = gmem_ptr(e->mem, e1000_le64(d), chunk);
    if (buf) {
        size_t n = off < fr->flen ? fr->flen - off : 0;
        n = iov_to_buf(fr->src, fr->srccnt, off, buf, n < chunk ? n : chunk);
        memset(buf + n, 0, chunk - n);
    } else {
        wb[5] = E1000_RXD_ERR_RXE; /* buffer outside RAM: nothing written */
        e->stats.bad_ring++;
    }
    e1000_put_le16(wb, (uint16_t)chunk);
    if (last) {
        wb[5] |= fr->errors;
        e1000_put_le16(wb + 6, fr->special);
    }
    gmem_write(e->mem, daddr + 8, wb, sizeof(wb));
    atomic_thread_fence(memory_order_release);
    uint8_t st = E1000_RXD_STAT_DD | (last ? fr->status | E1000_RXD_STAT_EOP : 0);
    gmem_write(e->mem, daddr + 12, &st, 1);
}

/* Receive interrupts after a frame: RXT0 at once with RDTR 0, else after RDTR of quiet (each
 * frame restarts it) or RADV after the first frame, whichever comes first; RXDMT0 when the
 * free descriptors drop to RCTL.RDMTS of the ring. */
static void rx_irq(struct e1000 *e, uint32_t count, uint32_t before, uint32_t after)
{
    uint32_t rdtr = e1000_reg(e, E1000_RDTR) & 0xffff, radv = e1000_reg(e, E1000_RADV) & 0xffff;
    unsigned rdmts = (e1000_reg(e, E1000_RCTL) >> E1000_RCTL_RDMTS_SHIFT) & 3;
    uint32_t thresh = count >> (rdmts + 1);
    if (before > thresh && after <= thresh)
        e->regs[E1000_ICR >> 2] |= E1000_ICR_RXDMT0;
    if (!rdtr) {
        e1000_mtimer_stop(&e->rdtr);
        e1000_mtimer_stop(&e->radv);
        e->regs[E1000_ICR >> 2] |= E1000_ICR_RXT0;
    } else {
        e1000_mtimer_extend(&e->rdtr, (uint64_t)rdtr * 1024);
        if (radv && !e->radv.on)
            e1000_mtimer_start(&e->radv, (uint64_t)radv * 1024);
    }
    e1000_update_irq(e);
}

/* The ring state for `need` descriptors: 1 when they are free, 0 when not yet (the caller
 * waits), -1 when the ring can never take the frame, -2 when it lies outside RAM (both:
 * dropped). */
static int rx_ring_room(struct e1000 *e, size_t need, uint32_t *count, uint32_t *avail)
{
    *count = e1000_reg(e, E1000_RDLEN) / E1000_DESC_SIZE;
    uint32_t head = e1000_reg(e, E1000_RDH), tail = e1000_reg(e, E1000_RDT);
    if (*count == 0)
        return 0; /* no ring yet */
    if (head >= *count || tail >= *count) {
        e->stats.bad_ring++;
        return 0; /* the guest must fix RDH/RDT; until then nothing is written */
    }
    uint64_t base = (uint64_t)e1000_reg(e, E1000_RDBAH) << 32 | e1000_reg(e, E1000_RDBAL);
    if (!gmem_is_ram(e->mem, base, (uint64_t)*count * E1000_DESC_SIZE)) {
        e->stats.bad_ring++;
        return -2;
    }
    *avail = (tail + *count - head) % *count;
    if (need > *count - 1)
        return -1;
    return need <= *avail ? 1 : 0;
}

static size_t rx_write(struct e1000 *e, struct rx_frame *fr, size_t len, const uint8_t *dst)
{
    size_t bufsize = rx_bufsize(e1000_reg(e, E1000_RCTL));
    size_t need = (fr->total + bufsize - 1) / bufsize;
    uint32_t count = 0, avail = 0;
    int room = rx_ring_room(e, need, &count, &avail);
    if (room < 0) {
        room == -1 ? e->stats.rx_drop_oversize++ : e->stats.rx_drop_no_desc++;
        return len;
    }
    if (room == 0) {
        e1000_stat_add(e, E1000_RNBC, 1);
        e->stats.rx_drop_no_desc++;
        e->rx_blocked = true;
        e1000_set_ics(e, E1000_ICR_RXO);
        return 0;
    }
    uint64_t base = (uint64_t)e1000_reg(e, E1000_RDBAH) << 32 | e1000_reg(e, E1000_RDBAL);
    uint32_t idx = e1000_reg(e, E1000_RDH);
    for (size_t i = 0, off = 0; i < need; i++) {
        NICVM_FUZZ_WORK();
        size_t chunk = fr->total - off < bufsize ? fr->total - off : bufsize;
        rx_desc(e, base + (uint64_t)idx * E1000_DESC_SIZE, fr, off, chunk, i + 1 == need);
        off += chunk;
        idx = idx + 1 == count ? 0 : idx + 1;
    }
    e->regs[E1000_RDH >> 2] = idx;
    e->stats.rx_packets++;
    e->stats.rx_bytes += len;
    size_t wire = (len < E1000_MIN_FRAME ? E1000_MIN_FRAME : len) + E1000_FCS_LEN;
    e1000_count_frame(e, false, dst, wire, 1);
    rx_irq(e, count, avail, avail - (uint32_t)need);
    return len;
}

/* A frame the device must change (fill a NEEDS_CSUM checksum, strip a VLAN tag) is copied
 * into e->rxbuf first; f points at its first bytes. */
static bool rx_private_copy(struct e1000 *e, const struct virtio_net_hdr_v1 *hdr,
                            const struct iovec *iov, int iovcnt, size_t len)
{
    iov_to_buf(iov, iovcnt, 0, e->rxbuf, len);
    if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return false;
    size_t start = le16toh(hdr->csum_start), field = start + le16toh(hdr->csum_offset);
    if (start >= len || field + 2 > len)
        return false; /* nonsense offsets: leave the frame alone, its checksum is checked */
    uint16_t c = offload_csum_fold(offload_csum_add(0, e->rxbuf + start, len - start));
    e1000_put_be16(e->rxbuf + field, c);
    return true;
}

size_t e1000_rx_frame(struct e1000 *e, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                      int iovcnt, size_t len, bool looped)
{
    uint32_t rctl = e1000_reg(e, E1000_RCTL);
    if (!(rctl & E1000_RCTL_EN) || !e1000_dma_ok(e) || (!looped && e1000_loopback(e))) {
        e->stats.rx_drop_disabled++; /* receiver off, no bus mastering, or isolated */
        return len;
    }
    uint8_t f[PEEK];
    size_t n = iov_to_buf(iov, iovcnt, 0, f, len < PEEK ? len : PEEK);
    if (n < E1000_ETH_HLEN || hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        e->stats.rx_drop_oversize++; /* GSO: never negotiated, the guest cannot take it */
        return len;
    }
    if (!rx_filter(e, f)) {
        e->stats.rx_drop_filtered++;
        return len;
    }
    size_t wire = (len < E1000_MIN_FRAME ? E1000_MIN_FRAME : len) + E1000_FCS_LEN;
    if (wire > ((rctl & E1000_RCTL_LPE) ? E1000_MAX_LPE : E1000_MAX_STD)) {
        e1000_stat_add(e, E1000_ROC, 1);
        e->stats.rx_drop_oversize++;
        return len;
    }
    bool strip = (e1000_reg(e, E1000_CTRL) & E1000_CTRL_VME) && n >= 18 &&
                 e1000_be16(f + 12) == (uint16_t)e1000_reg(e, E1000_VET);
    struct iovec one;
    struct rx_frame fr = {iov, iovcnt, len, 0, 0, 0, 0};
    bool trusted = hdr->flags & VIRTIO_NET_HDR_F_DATA_VALID;
    if (strip || (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
        trusted |= rx_private_copy(e, hdr, iov, iovcnt, len);
        one = (struct iovec){e->rxbuf, len};
        fr.src = &one;
        fr.srccnt = 1;
    }
    rx_csum(e, fr.src == &one ? e->rxbuf : f, n, fr.src, fr.srccnt, len, trusted, &fr.status,
            &fr.errors);
    if (strip) {
        fr.special = e1000_be16(e->rxbuf + 14);
        fr.status |= E1000_RXD_STAT_VP;
        memmove(e->rxbuf + 12, e->rxbuf + 16, len - 16);
        fr.flen = one.iov_len = len - 4;
    }
    size_t wlen = fr.flen < E1000_MIN_FRAME ? E1000_MIN_FRAME : fr.flen;
    fr.total = wlen + ((rctl & E1000_RCTL_SECRC) ? 0 : E1000_FCS_LEN);
    return rx_write(e, &fr, len, f);
}

/* --- loopback queue ------------------------------------------------------------------------ */

int e1000_lb_push(struct e1000 *e, const uint8_t *frame, size_t len)
{
    if (e->lb_count >= E1000_LB_MAX_FRAMES || len > E1000_LB_MAX_BYTES - e->lb_bytes)
        return -1;
    struct e1000_lbframe *f = malloc(sizeof(*f) + len);
    if (!f)
        return -1;
    f->next = NULL;
    f->len = len;
    memcpy(f->data, frame, len);
    *e->lb_tail = f;
    e->lb_tail = &f->next;
    e->lb_count++;
    e->lb_bytes += len;
    return 0;
}

static void lb_pop(struct e1000 *e)
{
    struct e1000_lbframe *f = e->lb_head;
    e->lb_head = f->next;
    if (!e->lb_head)
        e->lb_tail = &e->lb_head;
    e->lb_count--;
    e->lb_bytes -= f->len;
    free(f);
}

void e1000_lb_flush(struct e1000 *e)
{
    while (e->lb_head)
        lb_pop(e);
}

/* Delivers queued looped-back frames into the receive ring, a bounded number per call; a
 * full ring leaves them queued until the guest moves RDT. */
void e1000_lb_drain(struct e1000 *e)
{
    for (unsigned budget = E1000_LB_BUDGET; e->lb_head; budget--) {
        NICVM_FUZZ_WORK();
        if (!budget) {
            e1000_kick(e, E1000_WORK_LB);
            return;
        }
        struct iovec iov = {e->lb_head->data, e->lb_head->len};
        if (e1000_rx_frame(e, &zero_hdr, &iov, 1, iov.iov_len, true) == 0)
            return;
        lb_pop(e);
    }
    if (e->tx_wait) {
        e->tx_wait = false;
        e1000_kick(e, E1000_WORK_TX);
    }
}
