/* The fake guest network toolkit of fakenet.h, endpoints: a minimal TCP endpoint, a fake NIC
 * and a fake guest that drives the event loop. The frame builders and parsers they use are in
 * fakenet.c. */
#include "tests/common/fakenet.h"
#include "tests/common/fakenet_priv.h"

#include "net/offload.h"
#include "vmm/iov.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define TCP_WINDOW_MAX  65535u
#define TCP_DEFAULT_MSS 536

/* --- a minimal TCP endpoint --------------------------------------------------------------- */

static bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static bool seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

void fn_tcp_init(struct fn_tcp *t, const struct fn_addr *self, uint32_t iss, uint8_t *rx,
                 size_t rx_cap)
{
    memset(t, 0, sizeof(*t));
    t->self = *self;
    t->state = FN_TCP_CLOSED;
    t->iss = t->snd_una = t->snd_nxt = iss;
    t->mss = 1460;
    t->peer_mss = TCP_DEFAULT_MSS;
    t->rx = rx;
    t->rx_cap = rx_cap;
}

void fn_tcp_listen(struct fn_tcp *t)
{
    t->state = FN_TCP_LISTEN;
}

bool fn_tcp_matches(const struct fn_tcp *t, const struct fn_pkt *p)
{
    if (!p->l4 || p->proto != FN_PROTO_TCP || p->daddr != t->self.ip || p->dport != t->self.port)
        return false;
    if (t->state == FN_TCP_LISTEN)
        return true;
    if (t->state == FN_TCP_CLOSED)
        return false;
    return p->saddr == t->peer.ip && p->sport == t->peer.port;
}

/* The fixed TCP header at th (RFC 793 3.1): ports, seq, the ACK number when flags carry ACK,
 * data offset for thl bytes of header, flags, the window our receive buffer has room for,
 * checksum and urgent pointer 0. */
static void tcp_header(const struct fn_tcp *t, uint8_t *th, size_t thl, uint8_t flags, uint32_t seq)
{
    size_t room = t->rx_cap - t->rx_len;
    fn_put16(th, t->self.port);
    fn_put16(th + 2, t->peer.port);
    fn_put32(th + 4, seq);
    fn_put32(th + 8, (flags & FN_TCP_ACK) ? t->rcv_nxt : 0);
    th[12] = (uint8_t)((thl / 4) << 4);
    th[13] = flags;
    fn_put16(th + 14, (uint16_t)(room < TCP_WINDOW_MAX ? room : TCP_WINDOW_MAX));
    fn_put16(th + 16, 0);
    fn_put16(th + 18, 0);
}

size_t fn_tcp_segment(const struct fn_tcp *t, uint8_t *f, size_t cap, uint8_t flags, uint32_t seq,
                      const void *data, size_t len)
{
    size_t thl = FN_TCP_HLEN + ((flags & FN_TCP_SYN) ? 4 : 0);
    size_t l4len = thl + len;
    size_t n = fn_ipv4(f, cap, &t->self, &t->peer, FN_PROTO_TCP, fn_next_ip_id(), l4len);
    if (!n)
        return 0;
    uint8_t *th = f + FN_L4_OFF;
    tcp_header(t, th, thl, flags, seq);
    if (flags & FN_TCP_SYN) {
        th[20] = 2; /* MSS */
        th[21] = 4;
        fn_put16(th + 22, t->mss);
    }
    if (len)
        memcpy(th + thl, data, len);
    fn_fill_l4_csum(th, l4len, 16, fn_pseudo_sum(t->self.ip, t->peer.ip, FN_PROTO_TCP, l4len),
                    FN_CSUM_FULL);
    return n;
}

size_t fn_tcp_syn(struct fn_tcp *t, const struct fn_addr *peer, uint8_t *f, size_t cap)
{
    t->peer = *peer;
    t->snd_una = t->iss;
    t->snd_nxt = t->iss + 1;
    t->state = FN_TCP_SYN_SENT;
    return fn_tcp_segment(t, f, cap, FN_TCP_SYN, t->iss, NULL, 0);
}

size_t fn_tcp_synack(const struct fn_tcp *t, uint8_t *f, size_t cap)
{
    return fn_tcp_segment(t, f, cap, FN_TCP_SYN | FN_TCP_ACK, t->iss, NULL, 0);
}

size_t fn_tcp_ack(const struct fn_tcp *t, uint8_t *f, size_t cap)
{
    return fn_tcp_segment(t, f, cap, FN_TCP_ACK, t->snd_nxt, NULL, 0);
}

size_t fn_tcp_data(struct fn_tcp *t, uint8_t *f, size_t cap, const void *data, size_t len)
{
    size_t n = fn_tcp_segment(t, f, cap, FN_TCP_ACK | FN_TCP_PSH, t->snd_nxt, data, len);
    if (n)
        t->snd_nxt += (uint32_t)len;
    return n;
}

size_t fn_tcp_fin(struct fn_tcp *t, uint8_t *f, size_t cap)
{
    size_t n = fn_tcp_segment(t, f, cap, FN_TCP_FIN | FN_TCP_ACK, t->snd_nxt, NULL, 0);
    if (!n)
        return 0;
    t->snd_nxt++;
    t->fin_sent = true;
    t->state = t->state == FN_TCP_CLOSE_WAIT ? FN_TCP_LAST_ACK : FN_TCP_FIN_WAIT1;
    return n;
}

size_t fn_tcp_gso(struct fn_tcp *t, uint8_t *f, size_t cap, const void *data, size_t len,
                  uint16_t gso_size, struct virtio_net_hdr_v1 *h)
{
    size_t l4len = FN_TCP_HLEN + len;
    size_t n = fn_ipv4(f, cap, &t->self, &t->peer, FN_PROTO_TCP, fn_next_ip_id(), l4len);
    if (!n)
        return 0;
    uint8_t *th = f + FN_L4_OFF;
    tcp_header(t, th, FN_TCP_HLEN, FN_TCP_ACK | FN_TCP_PSH, t->snd_nxt);
    memcpy(th + FN_TCP_HLEN, data, len);
    fn_fill_l4_csum(th, l4len, 16, fn_pseudo_sum(t->self.ip, t->peer.ip, FN_PROTO_TCP, l4len),
                    FN_CSUM_PARTIAL);
    fn_vnet_csum(h, FN_L4_OFF, 16);
    h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h->hdr_len = htole16(FN_L4_OFF + FN_TCP_HLEN);
    h->gso_size = htole16(gso_size);
    t->snd_nxt += (uint32_t)len;
    return n;
}

void fn_tcp_write(struct fn_tcp *t, const void *data, size_t len)
{
    t->tx = data;
    t->tx_len = len;
    t->tx_off = 0;
}

void fn_tcp_close(struct fn_tcp *t)
{
    t->fin_wanted = true;
}

size_t fn_tcp_output(struct fn_tcp *t, uint8_t *f, size_t cap)
{
    if (t->state != FN_TCP_ESTABLISHED && t->state != FN_TCP_CLOSE_WAIT)
        return 0;
    if (t->tx_off < t->tx_len) {
        uint32_t inflight = t->snd_nxt - t->snd_una;
        if (inflight >= t->peer_wnd)
            return 0;
        size_t n = t->tx_len - t->tx_off;
        size_t mss = t->mss < t->peer_mss ? t->mss : t->peer_mss;
        if (n > mss)
            n = mss;
        if (n > t->peer_wnd - inflight)
            n = t->peer_wnd - inflight;
        size_t r = fn_tcp_data(t, f, cap, t->tx + t->tx_off, n);
        if (r)
            t->tx_off += n;
        return r;
    }
    if (t->fin_wanted && !t->fin_sent)
        return fn_tcp_fin(t, f, cap);
    return 0;
}

/* The peer's SYN options and window. */
static void tcp_learn(struct fn_tcp *t, const struct fn_pkt *p)
{
    t->rcv_nxt = p->seq + 1;
    t->peer_mss = p->mss ? p->mss : TCP_DEFAULT_MSS;
    t->peer_wnd = p->window;
}

/* Data and FIN of an acceptable segment: in-order bytes are kept, anything else gets a
 * duplicate ACK. */
static size_t tcp_take(struct fn_tcp *t, const struct fn_pkt *p, uint8_t *f, size_t cap)
{
    bool fin = (p->tcp_flags & FN_TCP_FIN) != 0;
    const uint8_t *d = p->data;
    size_t n = p->data_len;
    uint32_t seq = p->seq;
    if (!n && !fin)
        return 0;
    if (seq_lt(seq, t->rcv_nxt)) {
        uint32_t skip = t->rcv_nxt - seq;
        t->dup_segs++;
        if (skip > n || (skip == n && !fin) || (skip == n && t->peer_fin))
            return fn_tcp_ack(t, f, cap);
        d += skip;
        n -= skip;
        seq = t->rcv_nxt;
    }
    if (seq != t->rcv_nxt) {
        t->ooo_segs++;
        return fn_tcp_ack(t, f, cap);
    }
    size_t room = t->rx_cap - t->rx_len;
    size_t take = n < room ? n : room;
    memcpy(t->rx + t->rx_len, d, take);
    t->rx_len += take;
    t->rcv_nxt += (uint32_t)take;
    if (fin && take == n && !t->peer_fin) {
        t->rcv_nxt++;
        t->peer_fin = true;
        switch (t->state) {
        case FN_TCP_SYN_RCVD:
        case FN_TCP_ESTABLISHED: t->state = FN_TCP_CLOSE_WAIT; break;
        case FN_TCP_FIN_WAIT1: t->state = FN_TCP_CLOSING; break;
        case FN_TCP_FIN_WAIT2: t->state = FN_TCP_TIME_WAIT; break;
        default: break;
        }
    }
    return fn_tcp_ack(t, f, cap);
}

size_t fn_tcp_step(struct fn_tcp *t, const struct fn_pkt *p, uint8_t *f, size_t cap)
{
    if (!fn_tcp_matches(t, p))
        return 0;
    t->segs_in++;
    uint8_t fl = p->tcp_flags;
    if (fl & FN_TCP_RST) {
        if (t->state != FN_TCP_LISTEN) {
            t->state = FN_TCP_CLOSED;
            t->reset = true;
        }
        return 0;
    }
    switch (t->state) {
    case FN_TCP_LISTEN:
        if ((fl & (FN_TCP_SYN | FN_TCP_ACK)) != FN_TCP_SYN)
            return 0;
        memcpy(t->peer.mac, p->src, 6);
        t->peer.ip = p->saddr;
        t->peer.port = p->sport;
        tcp_learn(t, p);
        t->snd_una = t->iss;
        t->snd_nxt = t->iss + 1;
        t->state = FN_TCP_SYN_RCVD;
        return fn_tcp_synack(t, f, cap);
    case FN_TCP_SYN_SENT:
        if ((fl & (FN_TCP_SYN | FN_TCP_ACK)) != (FN_TCP_SYN | FN_TCP_ACK) || p->ack != t->snd_nxt)
            return 0;
        tcp_learn(t, p);
        t->snd_una = p->ack;
        t->state = FN_TCP_ESTABLISHED;
        return fn_tcp_ack(t, f, cap);
    case FN_TCP_SYN_RCVD:
        if (fl & FN_TCP_SYN)
            return fn_tcp_synack(t, f, cap); /* the peer sent its SYN again */
        if (!(fl & FN_TCP_ACK) || p->ack != t->snd_nxt)
            return 0;
        t->state = FN_TCP_ESTABLISHED;
        break;
    default:
        if (fl & FN_TCP_SYN)
            return fn_tcp_ack(t, f, cap); /* a repeated SYN-ACK: our ACK was lost */
        break;
    }
    if (fl & FN_TCP_ACK) {
        if (seq_lt(t->snd_una, p->ack) && seq_le(p->ack, t->snd_nxt))
            t->snd_una = p->ack;
        t->peer_wnd = p->window;
        if (t->fin_sent && t->snd_una == t->snd_nxt) {
            if (t->state == FN_TCP_FIN_WAIT1)
                t->state = FN_TCP_FIN_WAIT2;
            else if (t->state == FN_TCP_CLOSING)
                t->state = FN_TCP_TIME_WAIT;
            else if (t->state == FN_TCP_LAST_ACK)
                t->state = FN_TCP_CLOSED;
        }
    }
    return tcp_take(t, p, f, cap);
}

/* --- a fake NIC ----------------------------------------------------------------------------- */

static size_t nic_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    struct fn_nic *n = opaque;
    n->receive_calls++;
    if (n->refuse || n->accept_budget == 0) {
        n->refused++;
        return 0;
    }
    if (n->accept_budget > 0)
        n->accept_budget--;
    n->received++;
    struct fn_frame *fr = n->count < FN_NIC_MAX_FRAMES ? malloc(sizeof(*fr) + len) : NULL;
    if (!fr) {
        n->overflow++;
        return len;
    }
    fr->next = NULL;
    fr->hdr = *hdr;
    fr->len = len;
    iov_to_buf(iov, iovcnt, 0, fr->data, len);
    *n->tail = fr;
    n->tail = &fr->next;
    n->count++;
    return len;
}

static void nic_tx_ready(void *opaque)
{
    struct fn_nic *n = opaque;
    n->tx_ready_calls++;
}

static void nic_link_changed(void *opaque, bool up)
{
    struct fn_nic *n = opaque;
    n->link_changes++;
    n->link_up = up;
}

static const struct netdev_nic_ops fn_nic_ops = {
    .receive = nic_receive,
    .tx_ready = nic_tx_ready,
    .link_changed = nic_link_changed,
};

int fn_nic_attach(struct fn_nic *n, struct netdev *nd, const char *name)
{
    memset(n, 0, sizeof(*n));
    n->tail = &n->head;
    n->nd = nd;
    n->link_up = true;
    n->accept_budget = -1;
    return netdev_attach(nd, name, &fn_nic_ops, n);
}

struct fn_frame *fn_nic_pop(struct fn_nic *n)
{
    struct fn_frame *fr = n->head;
    if (!fr)
        return NULL;
    n->head = fr->next;
    if (!n->head)
        n->tail = &n->head;
    n->count--;
    fr->next = NULL;
    return fr;
}

void fn_nic_clear(struct fn_nic *n)
{
    struct fn_frame *fr;
    while ((fr = fn_nic_pop(n)))
        free(fr);
}

int fn_nic_send(struct fn_nic *n, const struct virtio_net_hdr_v1 *h, const void *f, size_t len)
{
    static const struct virtio_net_hdr_v1 zero;
    struct iovec iov = {(void *)f, len};
    return netdev_send(n->nd, h ? h : &zero, &iov, 1, len);
}

/* --- a fake guest --------------------------------------------------------------------------- */

uint64_t fn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fn_guest_init(struct fn_guest *g, struct evloop *loop, const struct fn_addr *self)
{
    memset(g, 0, sizeof(*g));
    g->loop = loop;
    g->self = *self;
    g->nic.tail = &g->nic.head;
}

int fn_guest_add_tcp(struct fn_guest *g, struct fn_tcp *t)
{
    if (g->ntcp >= FN_GUEST_MAX_TCP)
        return -ENOSPC;
    g->tcp[g->ntcp++] = t;
    return 0;
}

void fn_guest_send(struct fn_guest *g, const void *f, size_t len)
{
    if (len == 0 || fn_nic_send(&g->nic, NULL, f, len) < 0)
        g->send_errors++;
}

/* The checksums of an IPv4 frame, unless its header says they are left to the receiver. */
static bool guest_csum_ok(const struct fn_frame *fr, const struct fn_pkt *p)
{
    if (!p->ip || (fr->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return true;
    return p->ip_csum_ok && (!p->l4 || p->l4_csum_ok);
}

/* Handles one received frame; returns true if the frame was kept by someone. */
static bool guest_handle(struct fn_guest *g, struct fn_frame *fr)
{
    struct fn_pkt p;
    if (g->on_frame)
        g->on_frame(g->opaque, fr);
    fn_parse(fr->data, fr->len, &p);
    if (g->check_csum && !guest_csum_ok(fr, &p)) {
        g->bad_csum++;
        return false;
    }
    if (g->wait_match && !g->wait_hit && g->wait_match(g->wait_arg, &p)) {
        g->wait_hit = fr;
        return true;
    }
    if (p.arp && p.arp_op == FN_ARP_REQUEST && p.arp_tpa == g->self.ip) {
        struct fn_addr to = {.ip = p.arp_spa};
        memcpy(to.mac, p.arp_sha, 6);
        fn_guest_send(g, g->buf, fn_arp_reply(g->buf, sizeof(g->buf), &g->self, &to));
        g->arp_answered++;
        return false;
    }
    for (unsigned i = 0; i < g->ntcp; i++) {
        if (fn_tcp_matches(g->tcp[i], &p)) {
            size_t n = fn_tcp_step(g->tcp[i], &p, g->buf, sizeof(g->buf));
            if (n)
                fn_guest_send(g, g->buf, n);
            return false;
        }
    }
    return g->other && g->other(g->opaque, fr);
}

void fn_guest_poll(struct fn_guest *g, int timeout_ms)
{
    evloop_run_once(g->loop, timeout_ms);
    struct fn_frame *fr;
    while ((fr = fn_nic_pop(&g->nic)))
        if (!guest_handle(g, fr))
            free(fr);
    for (unsigned i = 0; i < g->ntcp; i++) {
        size_t n;
        while ((n = fn_tcp_output(g->tcp[i], g->buf, sizeof(g->buf))))
            fn_guest_send(g, g->buf, n);
    }
    if (g->tick)
        g->tick(g->opaque);
}

bool fn_guest_run_until(struct fn_guest *g, bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t end = fn_now_ms() + (uint64_t)timeout_ms;
    while (!cond(arg)) {
        if (fn_now_ms() >= end)
            return cond(arg);
        fn_guest_poll(g, 10);
    }
    return true;
}

struct fn_frame *fn_guest_wait(struct fn_guest *g, bool (*match)(void *arg, const struct fn_pkt *p),
                               void *arg, int timeout_ms)
{
    uint64_t end = fn_now_ms() + (uint64_t)timeout_ms;
    g->wait_match = match;
    g->wait_arg = arg;
    g->wait_hit = NULL;
    while (!g->wait_hit && fn_now_ms() < end)
        fn_guest_poll(g, 10);
    struct fn_frame *hit = g->wait_hit;
    g->wait_match = NULL;
    g->wait_hit = NULL;
    return hit;
}
