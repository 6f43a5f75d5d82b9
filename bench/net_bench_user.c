/* net_bench_user.c: net_bench's user (libslirp) cases: guest -> host (UDP to a host socket,
 * or TCP GSO frames coalesced by the layer, against sendto() or send() on loopback) and
 * host -> guest (hostfwd UDP, against recvfrom() on loopback). */
#include "net_bench.h"

#include "vmm/evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- user (libslirp), guest -> host ----------------------------------------------------------- */

/* The fake guest as a TCP client of a host socket behind 10.0.2.2: 64 KiB GSO frames that the
 * layer hands libslirp as one packet each (NETDEV_CAP_GSO_COALESCED). */
struct user_tcp {
    struct fake_nic *nic;
    struct ftcp tcp;
    struct frame *f;
    struct gen *drain;
    uint64_t last_probe; /* evloop_now_ns() of the last window probe */
};

#define PROBE_NS 1000000 /* 1 ms between window probes */

/* libslirp 4.7.0 announces a window that reopened (its buffer toward the host socket drained)
 * only in answer to a segment. A guest's TCP sends what fits, or probes (RFC 9293 §3.8.6.1);
 * this guest sends whole GSO frames only, so once everything is ACKed and the window is
 * short of a frame it probes: a bare ACK one byte back in sequence, as Linux's
 * tcp_xmit_probe_skb, which libslirp answers with an ACK carrying its window. */
static int user_tcp_probe(struct user_tcp *u)
{
    struct ftcp *t = &u->tcp;
    uint64_t now = evloop_now_ns();
    if (t->snd_nxt != t->snd_una || now - u->last_probe < PROBE_NS)
        return 0;
    u->last_probe = now;
    struct tcp_fields tf = {t->snd_nxt - 1, t->rcv_nxt, TCPFL_ACK, 0xffff, NULL, 0, 0};
    frame_tcp(u->nic->ctl, &t->fl, &tf);
    return nic_send(u->nic, u->nic->ctl);
}

static int user_tcp_step(void *ctx)
{
    struct user_tcp *u = ctx;
    struct ftcp *t = &u->tcp;
    bool sent = false;
    if (t->reset || !t->established)
        return -ECONNRESET;
    if (netdev_can_send(u->nic->nd) && t->snd_nxt - t->snd_una + GSO_PAYLOAD <= t->snd_wnd) {
        uint8_t *th = u->f->buf + ETH_HLEN + 20;
        nb_put32(th + 4, t->snd_nxt);
        nb_put32(th + 8, t->rcv_nxt);
        int rc = nic_send(u->nic, u->f); /* libslirp ACKs from inside this call */
        if (rc < 0)
            return rc;
        t->snd_nxt += GSO_PAYLOAD;
        sent = true;
    } else if (netdev_can_send(u->nic->nd)) {
        int rc = user_tcp_probe(u);
        if (rc < 0)
            return rc;
    }
    int rc = evloop_run_once(u->nic->loop, sent ? 0 : 10);
    if (rc >= 0)
        rc = nic_send_ctl(u->nic);
    return rc < 0 ? rc : 0;
}

static void user_tcp_count(void *ctx, uint64_t c[3])
{
    struct user_tcp *u = ctx;
    c[0] = u->nic->tx_frames;
    c[1] = u->nic->tx_bytes;
    c[2] = atomic_load(&u->drain->count);
}

/* user_tcp_connect: SYN to 10.0.2.2:5556 (libslirp connects to 127.0.0.1:5556), waits for the
 * SYN-ACK, ACKs it; the data frame template goes to u->f. */
static int user_tcp_connect(struct user_tcp *u)
{
    struct ftcp *t = &u->tcp;
    memset(t, 0, sizeof(*t));
    t->fl = (struct flow){slirp_host_mac, guest_mac,   SLIRP_GUEST_IP,
                          SLIRP_HOST_IP,  CLIENT_PORT, USER_TCP_PORT};
    u->nic->tcp = t;
    ftcp_syn(t, u->nic->ctl);
    if (nic_send(u->nic, u->nic->ctl) < 0)
        return -EIO;
    uint64_t end = evloop_now_ns() + bench_ns(3);
    while (!t->established && !t->reset && evloop_now_ns() < end && !g_stop)
        evloop_run_once(u->nic->loop, 10);
    if (!t->established)
        return t->reset ? -ECONNREFUSED : -ETIMEDOUT;
    int rc = nic_send_ctl(u->nic);
    struct tcp_fields tf = {t->snd_nxt, t->rcv_nxt, TCPFL_ACK | TCPFL_PSH, 0xffff, NULL,
                            0,          GSO_PAYLOAD};
    frame_tcp(u->f, &t->fl, &tf);
    return rc;
}

static void user_tx_nicvm(struct case_ctx *x)
{
    const struct bcase *c = x->c;
    struct result *r = x->r;
    struct gen *drain = x->drain;
    struct fake_nic nic;
    struct frame *f = frame_new();
    if (nic_open(&nic, "user,id=u0", r) < 0) {
        frame_free(f);
        return;
    }
    struct nic_tx tx = {&nic, f, drain};
    struct user_tcp u = {.nic = &nic, .f = f, .drain = drain};
    struct side s = {nic_tx_step, nic_tx_count, &tx};
    int rc = nic_slirp_arp(&nic);
    if (rc == 0 && c->size == SIZE_GSO) {
        rc = user_tcp_connect(&u);
        s = (struct side){user_tcp_step, user_tcp_count, &u};
    } else {
        struct flow fl = {slirp_host_mac, guest_mac,  SLIRP_GUEST_IP,
                          SLIRP_HOST_IP,  GUEST_PORT, USER_UDP_PORT};
        frame_udp(f, &fl, nb_frame_len(c->size));
    }
    if (rc < 0)
        nb_set_error(r, "nicvm: %s", strerror(-rc));
    else
        nb_side_run(&s, &r->nic, r, "nicvm");
    r->drops += nic_drops(&nic);
    nic_close(&nic);
    frame_free(f);
}

/* The reference: the same payloads with sendto() on a UDP socket (as libslirp sends them), or
 * the same bytes with send() on a loopback TCP connection, 64240 bytes a call. */
struct sock_tx {
    int fd;
    bool tcp;
    struct sockaddr_in to;
    uint8_t *payload;
    size_t plen, flen;
    uint64_t sent; /* datagrams, or bytes for TCP */
    struct gen *drain;
};

static int sock_tx_step(void *ctx)
{
    struct sock_tx *x = ctx;
    for (int i = 0; i < BATCH && !g_stop; i++) {
        ssize_t n = x->tcp ? send(x->fd, x->payload, x->plen, MSG_NOSIGNAL)
                           : sendto(x->fd, x->payload, x->plen, 0, (struct sockaddr *)&x->to,
                                    sizeof(x->to));
        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
            return -errno;
        if (n > 0)
            x->sent += x->tcp ? (uint64_t)n : 1;
        if (x->tcp)
            break; /* one 64 KiB send is a step */
    }
    return 0;
}

static void sock_tx_count(void *ctx, uint64_t c[3])
{
    struct sock_tx *x = ctx;
    c[0] = x->tcp ? x->sent / GSO_PAYLOAD : x->sent;
    c[1] = c[0] * x->flen;
    c[2] = atomic_load(&x->drain->count);
}

static void user_tx_ref(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct sock_tx x = {.tcp = c->size == SIZE_GSO, .drain = cx->drain};
    x.flen = nb_frame_len(c->size);
    x.plen = x.tcp ? GSO_PAYLOAD : x.flen - HDRS_UDP4;
    x.payload = malloc(x.plen);
    x.to = nb_sin(LOOPBACK_IP, x.tcp ? USER_TCP_PORT : USER_UDP_PORT);
    x.fd = x.tcp ? nb_tcp_connect(&x.to, NULL) : nb_udp_socket(0, 0, NULL);
    if (x.fd < 0 || !x.payload) {
        nb_set_error(r, "reference: %s", strerror(x.fd < 0 ? -x.fd : ENOMEM));
    } else {
        memset(x.payload, 0x5a, x.plen);
        struct side s = {sock_tx_step, sock_tx_count, &x};
        nb_side_run(&s, &r->ref, r, "reference");
    }
    if (x.fd >= 0)
        close(x.fd);
    free(x.payload);
}

void case_user_tx(const struct bcase *c, struct result *r)
{
    bool tcp = c->size == SIZE_GSO;
    struct gen drain = {.kind = tcp ? DRAIN_TCP : DRAIN_UDP};
    r->frame_bytes = nb_frame_len(c->size);
    r->aux_name = tcp ? "delivered_gbps" : "delivered_pps";
    r->aux_bytes = tcp;
    drain.fd = tcp ? nb_tcp_listener(LOOPBACK_IP, USER_TCP_PORT)
                   : nb_udp_socket(LOOPBACK_IP, USER_UDP_PORT, NULL);
    int rc = drain.fd < 0 ? drain.fd : gen_start(&drain);
    if (rc < 0) {
        nb_set_error(r, "host receiver: %s", strerror(-rc));
        gen_stop(&drain);
        return;
    }
    struct case_ctx x = {.c = c, .r = r, .drain = &drain};
    nb_run_rounds(&x, user_tx_nicvm, user_tx_ref);
    gen_stop(&drain);
}

/* --- user (libslirp), host -> guest ----------------------------------------------------------- */

struct sock_rx {
    int fd;
    size_t flen;
    struct gen *gen;
    uint64_t frames;
};

/* The reference: recvfrom() until EAGAIN (at most BATCH), then poll(). */
static int sock_rx_step(void *ctx)
{
    struct sock_rx *x = ctx;
    uint8_t buf[2048];
    struct sockaddr_in from;
    int i, err = 0;
    for (i = 0; i < BATCH; i++) {
        socklen_t flen = sizeof(from);
        if (recvfrom(x->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen) < 0) {
            err = errno;
            break;
        }
        x->frames++;
    }
    if (err && err != EAGAIN && err != EINTR)
        return -err;
    if (err == EAGAIN)
        nb_wait_fd(x->fd, POLLIN);
    return 0;
}

static void sock_rx_count(void *ctx, uint64_t c[3])
{
    struct sock_rx *x = ctx;
    c[0] = x->frames;
    c[1] = x->frames * x->flen;
    c[2] = atomic_load(&x->gen->count);
}

static int user_rx_gen(const struct bcase *c, uint16_t port, struct gen *g)
{
    struct sockaddr_in to = nb_sin(LOOPBACK_IP, port);
    memset(g, 0, sizeof(*g));
    g->kind = GEN_UDP;
    g->payload = nb_frame_len(c->size) - HDRS_UDP4;
    g->fd = nb_udp_socket(0, 0, &to);
    return g->fd < 0 ? g->fd : gen_start(g);
}

static void user_rx_nicvm(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct fake_nic nic;
    struct gen g = {.fd = -1};
    char spec[128];
    snprintf(spec, sizeof(spec), "user,id=u0,hostfwd=udp:127.0.0.1:%d-10.0.2.15:%d", FWD_PORT,
             GUEST_PORT);
    if (nic_open(&nic, spec, r) < 0)
        return;
    int rc = nic_slirp_arp(&nic);
    if (rc == 0)
        rc = user_rx_gen(c, FWD_PORT, &g);
    if (rc < 0) {
        nb_set_error(r, "nicvm: %s", strerror(-rc));
    } else {
        struct nic_rx x = {&nic, &g};
        struct side s = {nic_rx_step, nic_rx_count, &x};
        nb_side_run(&s, &r->nic, r, "nicvm");
    }
    gen_stop(&g);
    r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void user_rx_ref(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct gen g = {.fd = -1};
    struct sock_rx x = {.flen = nb_frame_len(c->size), .gen = &g};
    x.fd = nb_udp_socket(LOOPBACK_IP, REF_PORT, NULL);
    int rc = x.fd < 0 ? x.fd : user_rx_gen(c, REF_PORT, &g);
    if (rc < 0) {
        nb_set_error(r, "reference: %s", strerror(-rc));
    } else {
        struct side s = {sock_rx_step, sock_rx_count, &x};
        nb_side_run(&s, &r->ref, r, "reference");
    }
    gen_stop(&g);
    if (x.fd >= 0)
        close(x.fd);
}

void case_user_rx(const struct bcase *c, struct result *r)
{
    r->frame_bytes = nb_frame_len(c->size);
    struct case_ctx x = {.c = c, .r = r};
    r->aux_name = "gen_pps";
    nb_run_rounds(&x, user_rx_nicvm, user_rx_ref);
}
