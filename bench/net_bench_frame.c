/* net_bench_frame.c: the frames net_bench's fake guest sends (UDP, TCP with and without
 * TSO, ARP) and its fake TCP end: the guest's side of one connection, just enough for bulk
 * data. */
#include "net_bench.h"

#include "net/offload.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- byte order -------------------------------------------------------------------------- */

void nb_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void nb_put32(uint8_t *p, uint32_t v)
{
    nb_put16(p, (uint16_t)(v >> 16));
    nb_put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* --- frames ------------------------------------------------------------------------------ */

struct frame *frame_new(void)
{
    struct frame *f = calloc(1, sizeof(*f));
    if (f && !(f->buf = aligned_alloc(PAGE, (NETDEV_MAX_FRAME + PAGE - 1) / PAGE * PAGE))) {
        free(f);
        f = NULL;
    }
    if (!f) {
        fprintf(stderr, "net_bench: out of memory\n");
        exit(1);
    }
    return f;
}

void frame_free(struct frame *f)
{
    if (f)
        free(f->buf);
    free(f);
}

static void frame_split(struct frame *f)
{
    f->iovcnt = 0;
    for (size_t off = 0; off < f->len; off += PAGE) {
        size_t n = f->len - off < PAGE ? f->len - off : PAGE;
        f->iov[f->iovcnt++] = (struct iovec){f->buf + off, n};
    }
}

/* put_eth_ip: Ethernet and IPv4 headers (DF, TTL 64, checksum) for ip_len bytes of IP. */
static void put_eth_ip(uint8_t *f, const struct flow *fl, uint8_t proto, size_t ip_len)
{
    memcpy(f, fl->dmac, 6);
    memcpy(f + 6, fl->smac, 6);
    nb_put16(f + 12, ETH_P_IP);
    uint8_t *ip = f + ETH_HLEN;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    nb_put16(ip + 2, (uint16_t)ip_len);
    nb_put16(ip + 4, 1);
    nb_put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    nb_put32(ip + 12, fl->saddr);
    nb_put32(ip + 16, fl->daddr);
    nb_put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, 20)));
}

/* pseudo_sum: the IPv4 pseudo-header sum (RFC 793 §3.1) for l4_len bytes of proto. */
static uint32_t pseudo_sum(const struct flow *fl, uint8_t proto, size_t l4_len)
{
    uint8_t a[8];
    nb_put32(a, fl->saddr);
    nb_put32(a + 4, fl->daddr);
    return offload_csum_add(0, a, 8) + proto + (uint32_t)l4_len;
}

/* build_udp: a UDP/IPv4 frame of exactly len bytes with a full checksum, no offload. */
void frame_udp(struct frame *f, const struct flow *fl, size_t len)
{
    put_eth_ip(f->buf, fl, IPPROTO_UDP, len - ETH_HLEN);
    uint8_t *u = f->buf + ETH_HLEN + 20;
    size_t ulen = len - ETH_HLEN - 20;
    nb_put16(u, fl->sport);
    nb_put16(u + 2, fl->dport);
    nb_put16(u + 4, (uint16_t)ulen);
    nb_put16(u + 6, 0);
    for (size_t i = 8; i < ulen; i++)
        u[i] = (uint8_t)i;
    uint16_t c = offload_csum_fold(offload_csum_add(pseudo_sum(fl, IPPROTO_UDP, ulen), u, ulen));
    nb_put16(u + 6, c ? c : 0xffff);
    f->len = len;
    memset(&f->hdr, 0, sizeof(f->hdr));
    frame_split(f);
}

/* build_tcp: a TCP/IPv4 frame. Without GSO the checksum is complete; with GSO (payload larger
 * than GSO_MSS) the field holds the pseudo-header sum, as Linux's virtio-net driver leaves it,
 * and the header asks for checksum and TSO (gso_size GSO_MSS). */
void frame_tcp(struct frame *f, const struct flow *fl, const struct tcp_fields *t)
{
    size_t thl = 20 + t->optlen, tcp_len = thl + t->payload;
    put_eth_ip(f->buf, fl, IPPROTO_TCP, 20 + tcp_len);
    uint8_t *th = f->buf + ETH_HLEN + 20;
    nb_put16(th, fl->sport);
    nb_put16(th + 2, fl->dport);
    nb_put32(th + 4, t->seq);
    nb_put32(th + 8, t->ack);
    th[12] = (uint8_t)(thl / 4 << 4);
    th[13] = t->flags;
    nb_put16(th + 14, t->win);
    nb_put32(th + 16, 0);
    memcpy(th + 20, t->opts, t->optlen);
    for (size_t i = 0; i < t->payload; i++)
        th[thl + i] = (uint8_t)(i * 7);
    uint32_t sum = pseudo_sum(fl, IPPROTO_TCP, tcp_len);
    memset(&f->hdr, 0, sizeof(f->hdr));
    if (t->payload > GSO_MSS) {
        nb_put16(th + 16, (uint16_t)~offload_csum_fold(sum));
        f->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        f->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        f->hdr.hdr_len = htole16((uint16_t)(ETH_HLEN + 20 + thl));
        f->hdr.gso_size = htole16(GSO_MSS);
        f->hdr.csum_start = htole16(ETH_HLEN + 20);
        f->hdr.csum_offset = htole16(16);
    } else {
        nb_put16(th + 16, offload_csum_fold(offload_csum_add(sum, th, tcp_len)));
    }
    f->len = ETH_HLEN + 20 + tcp_len;
    frame_split(f);
}

/* build_arp_request: "who has tip, tell sip" from smac, padded to 60 bytes. */
void frame_arp_request(struct frame *f, const uint8_t *smac, uint32_t sip, uint32_t tip)
{
    uint8_t *a = f->buf + ETH_HLEN;
    memset(f->buf, 0, 60);
    memset(f->buf, 0xff, 6);
    memcpy(f->buf + 6, smac, 6);
    nb_put16(f->buf + 12, ETH_P_ARP);
    nb_put16(a, 1);
    nb_put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    nb_put16(a + 6, 1);
    memcpy(a + 8, smac, 6);
    nb_put32(a + 14, sip);
    nb_put32(a + 24, tip);
    f->len = 60;
    memset(&f->hdr, 0, sizeof(f->hdr));
    frame_split(f);
}

/* --- a fake TCP end: the guest's side of one connection, just enough for bulk data ------ */

struct tcp_seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    size_t plen;
};

static bool parse_tcp_frame(const uint8_t *f, size_t len, struct tcp_seg *s)
{
    if (len < HDRS_TCP4 || get16(f + 12) != ETH_P_IP)
        return false;
    const uint8_t *ip = f + ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 15) * 4, ip_len = get16(ip + 2);
    if (ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP || ihl < 20 || ip_len < ihl + 20 ||
        ETH_HLEN + ip_len > len)
        return false;
    const uint8_t *th = ip + ihl;
    size_t thl = (size_t)(th[12] >> 4) * 4;
    if (thl < 20 || ihl + thl > ip_len)
        return false;
    *s = (struct tcp_seg){get16(th), get16(th + 2),  get32(th + 4),     get32(th + 8),
                          th[13],    get16(th + 14), ip_len - ihl - thl};
    return true;
}

static bool seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

static void ftcp_on_syn(struct ftcp *t, const struct tcp_seg *s)
{
    t->rcv_nxt = s->seq + 1;
    if (t->server && !(s->flags & TCPFL_ACK)) {
        t->fl.dport = s->sport;
        t->snd_una = FTCP_ISS;
        t->snd_nxt = FTCP_ISS + 1;
        t->synack_due = t->established = true;
        t->reset = false;
    } else if (!t->server && (s->flags & TCPFL_ACK)) {
        t->snd_una = s->ack;
        t->snd_wnd = s->win;
        t->established = t->ack_due = true;
    }
}

void ftcp_input(struct ftcp *t, const uint8_t *f, size_t len)
{
    struct tcp_seg s;
    /* The sink takes its peer's port from the SYN (dport 0 until then). */
    if (!parse_tcp_frame(f, len, &s) || s.dport != t->fl.sport ||
        (t->fl.dport && s.sport != t->fl.dport))
        return;
    if (s.flags & TCPFL_RST) {
        t->reset = true;
        t->established = false;
        return;
    }
    if (s.flags & TCPFL_SYN) {
        ftcp_on_syn(t, &s);
        return;
    }
    if (!t->established)
        return;
    if (s.flags & TCPFL_ACK) {
        if (seq_after(s.ack, t->snd_una) && !seq_after(s.ack, t->snd_nxt))
            t->snd_una = s.ack;
        t->snd_wnd = s.win;
    }
    uint32_t fin = (s.flags & TCPFL_FIN) ? 1 : 0;
    if (s.plen + fin == 0)
        return;
    if (s.seq == t->rcv_nxt) {
        t->rcv_nxt += (uint32_t)s.plen + fin;
        t->rcv_bytes += s.plen;
    }
    t->ack_due = true;
}

/* ftcp_ctl: builds the SYN-ACK or ACK that is due into f; false when none is. The sink
 * offers MSS 1460 and window scale 9 (a 32 MiB window: the sender is never window-bound). */
bool ftcp_ctl(struct ftcp *t, struct frame *f)
{
    static const uint8_t synack_opts[8] = {2, 4, GSO_MSS >> 8, GSO_MSS & 0xff, 1, 3, 3, 9};
    struct tcp_fields tf = {t->snd_nxt, t->rcv_nxt, TCPFL_ACK, 0xffff, NULL, 0, 0};
    if (t->synack_due) {
        tf.seq = FTCP_ISS;
        tf.flags |= TCPFL_SYN;
        tf.opts = synack_opts;
        tf.optlen = sizeof(synack_opts);
    } else if (!t->ack_due) {
        return false;
    }
    t->synack_due = t->ack_due = false;
    frame_tcp(f, &t->fl, &tf);
    return true;
}

/* ftcp_syn: the client's SYN (MSS 1460, no window scaling) into f. */
void ftcp_syn(struct ftcp *t, struct frame *f)
{
    static const uint8_t syn_opts[4] = {2, 4, GSO_MSS >> 8, GSO_MSS & 0xff};
    t->snd_una = FTCP_ISS;
    t->snd_nxt = FTCP_ISS + 1;
    struct tcp_fields tf = {FTCP_ISS, 0, TCPFL_SYN, 0xffff, syn_opts, sizeof(syn_opts), 0};
    frame_tcp(f, &t->fl, &tf);
}
