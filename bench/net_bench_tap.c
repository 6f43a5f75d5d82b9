/* net_bench_tap.c: net_bench's tap cases: guest -> host (nicvm's writes against writev() on
 * the same tap, the kernel's rx count as the check) and host -> guest (against read() on the
 * same tap, with UDP or a TCP connection to the fake guest's sink as the traffic). */
#include "net_bench.h"

#include "net/offload.h"
#include "vmm/evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_tun.h>

/* --- tap, guest -> host ------------------------------------------------------------------- */

/* The reference: each frame written with one writev() (the same pieces behind the same
 * vnet header), or for the software-GSO case its segments with one write() each. */
struct raw_tx {
    int fd;
    int npk; /* writes per frame */
    struct {
        struct iovec v[MAX_PIECES + 1];
        int n;
    } pk[GSO_SEGS + 1];
    uint8_t *segs, *next; /* the segments' bytes */
    size_t flen;
    uint64_t frames, bytes;
};

static int raw_tx_step(void *ctx)
{
    struct raw_tx *t = ctx;
    for (int i = 0; i < BATCH; i++) {
        for (int k = 0; k < t->npk; k++) {
            while (writev(t->fd, t->pk[k].v, t->pk[k].n) < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    return -errno;
                if (g_stop)
                    return 0;
                nb_wait_fd(t->fd, POLLOUT);
            }
        }
        t->frames++;
        t->bytes += t->flen;
    }
    return 0;
}

static void raw_tx_count(void *ctx, uint64_t c[3])
{
    struct raw_tx *t = ctx;
    c[0] = t->frames;
    c[1] = t->bytes;
    c[2] = tap_kernel_rx();
}

static int collect_segment(void *opaque, const uint8_t *frame, size_t len)
{
    struct raw_tx *t = opaque;
    if (t->npk >= GSO_SEGS + 1)
        return 1;
    memcpy(t->next, frame, len);
    t->pk[t->npk].v[0] = (struct iovec){t->next, len};
    t->pk[t->npk++].n = 1;
    t->next += len;
    return 0;
}

/* raw_tx_prepare: the reference's writes for f: with the vnet header, or (vnet_hdr=off and a
 * GSO frame) the segments net/offload.c makes of it, computed here once, outside the timing. */
static int raw_tx_prepare(struct raw_tx *t, const struct frame *f, bool vnet)
{
    static const struct virtio_net_hdr_v1 zero;
    t->flen = f->len;
    if (!vnet && f->hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        uint8_t *scratch = malloc(65536 + 128);
        t->segs = t->next = malloc(2 * NETDEV_MAX_FRAME);
        int n = scratch && t->segs
                    ? offload_segment(&f->hdr, f->buf, f->len, scratch, collect_segment, t)
                    : -ENOMEM;
        free(scratch);
        return n < 0 ? n : 0;
    }
    int n = 0;
    if (vnet)
        t->pk[0].v[n++] =
            (struct iovec){(void *)(f->hdr.gso_type ? &f->hdr : &zero), NETDEV_VNET_HDR_LEN};
    memcpy(&t->pk[0].v[n], f->iov, (size_t)f->iovcnt * sizeof(f->iov[0]));
    t->pk[0].n = n + f->iovcnt;
    t->npk = 1;
    return 0;
}

static void build_tap_tx_frame(struct frame *f, unsigned size)
{
    struct flow fl = {other_mac, guest_mac, TAP_GUEST_IP, TAP_HOST_IP, GUEST_PORT, DISCARD_PORT};
    if (size != SIZE_GSO) {
        frame_udp(f, &fl, nb_frame_len(size));
        return;
    }
    fl.dport = SINK_PORT;
    struct tcp_fields tf = {1, 1, TCPFL_ACK | TCPFL_PSH, 0xffff, NULL, 0, GSO_PAYLOAD};
    frame_tcp(f, &fl, &tf);
}

static void tap_tx_nicvm(struct case_ctx *x)
{
    struct fake_nic nic;
    char spec[96];
    snprintf(spec, sizeof(spec), "tap,id=t0,ifname=%s,vnet_hdr=%s", TAP_IF,
             x->c->vnet_hdr ? "on" : "off");
    if (nic_open(&nic, spec, x->r) < 0)
        return;
    tap_wait_running();
    struct nic_tx tx = {&nic, x->f, NULL};
    struct side s = {nic_tx_step, nic_tx_count, &tx};
    nb_side_run(&s, &x->r->nic, x->r, "nicvm");
    x->r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void tap_tx_raw(struct case_ctx *x)
{
    struct raw_tx *t = x->raw;
    t->fd = tap_open_raw(x->c->vnet_hdr, 0);
    if (t->fd < 0) {
        nb_set_error(x->r, "reference: %s", strerror(-t->fd));
        return;
    }
    tap_wait_running();
    struct side s = {raw_tx_step, raw_tx_count, t};
    nb_side_run(&s, &x->r->ref, x->r, "reference");
    close(t->fd);
}

void case_tap_tx(const struct bcase *c, struct result *r)
{
    struct frame *f = frame_new();
    struct raw_tx *t = calloc(1, sizeof(*t));
    struct case_ctx x = {.c = c, .r = r, .f = f, .raw = t};
    build_tap_tx_frame(f, c->size);
    r->frame_bytes = f->len;
    r->aux_name = "kernel_pps";
    int rc = t ? raw_tx_prepare(t, f, c->vnet_hdr) : -ENOMEM;
    if (rc < 0)
        nb_set_error(r, "reference: %s", strerror(-rc));
    else
        nb_run_rounds(&x, tap_tx_nicvm, tap_tx_raw);
    if (t)
        free(t->segs);
    free(t);
    frame_free(f);
}

/* --- tap, host -> guest -------------------------------------------------------------------- */

/* The reference: read() until EAGAIN (at most BATCH), then poll(). */
struct raw_rx {
    int fd;
    size_t hlen;
    uint8_t *buf;
    struct ftcp *tcp;
    struct frame *ctl;
    struct gen *gen;
    uint64_t frames, bytes;
};

static int raw_send_ctl(struct raw_rx *x)
{
    static const struct virtio_net_hdr_v1 zero;
    if (!x->tcp || !ftcp_ctl(x->tcp, x->ctl))
        return 0;
    struct iovec v[2] = {{(void *)&zero, x->hlen}, {x->ctl->buf, x->ctl->len}};
    return writev(x->fd, v, 2) < 0 && errno != EAGAIN ? -errno : 0;
}

static int raw_rx_step(void *ctx)
{
    struct raw_rx *x = ctx;
    int i, err = 0;
    for (i = 0; i < BATCH; i++) {
        ssize_t n = read(x->fd, x->buf, RAW_BUF);
        if (n < 0) {
            err = errno;
            break;
        }
        if ((size_t)n <= x->hlen)
            continue;
        x->frames++;
        x->bytes += (size_t)n - x->hlen;
        if (x->tcp)
            ftcp_input(x->tcp, x->buf + x->hlen, (size_t)n - x->hlen);
    }
    int rc = raw_send_ctl(x);
    if (err && err != EAGAIN && err != EINTR)
        return -err;
    if (rc == 0 && atomic_load(&x->gen->err))
        rc = -atomic_load(&x->gen->err);
    if (rc == 0 && err == EAGAIN)
        nb_wait_fd(x->fd, POLLIN);
    return rc;
}

static void raw_rx_count(void *ctx, uint64_t c[3])
{
    struct raw_rx *x = ctx;
    c[0] = x->frames;
    c[1] = x->bytes;
    c[2] = atomic_load(&x->gen->count);
}

/* tap_rx_gen: UDP datagrams of the case's frame size to 10.77.0.2:9, or (64 KiB) a TCP
 * connection to the fake guest's sink, from the kernel in this namespace. */
static int tap_rx_gen(const struct bcase *c, struct gen *g)
{
    memset(g, 0, sizeof(*g));
    g->fd = -1;
    if (c->size == SIZE_GSO) {
        g->kind = GEN_TCP;
        g->to = nb_sin(TAP_GUEST_IP, SINK_PORT);
    } else {
        struct sockaddr_in to = nb_sin(TAP_GUEST_IP, DISCARD_PORT);
        g->kind = GEN_UDP;
        g->payload = nb_frame_len(c->size) - HDRS_UDP4;
        g->fd = nb_udp_socket(0, 0, &to);
        if (g->fd < 0)
            return g->fd;
    }
    return gen_start(g);
}

static void ftcp_sink_init(struct ftcp *t)
{
    memset(t, 0, sizeof(*t));
    t->server = true;
    t->fl = (struct flow){tap_mac, guest_mac, TAP_GUEST_IP, TAP_HOST_IP, SINK_PORT, 0};
}

static void tap_rx_nicvm(struct case_ctx *x)
{
    const struct bcase *c = x->c;
    struct result *r = x->r;
    struct fake_nic nic;
    struct ftcp sink;
    struct gen g = {.fd = -1};
    if (nic_open(&nic, "tap,id=t0,ifname=" TAP_IF, r) < 0)
        return;
    int rc = netdev_set_rx_offloads(nic.nd, x->offloads);
    ftcp_sink_init(&sink);
    nic.tcp = c->size == SIZE_GSO ? &sink : NULL;
    tap_wait_running();
    if (rc == 0)
        rc = tap_rx_gen(c, &g);
    if (rc < 0) {
        nb_set_error(r, "nicvm: %s", strerror(-rc));
    } else {
        struct nic_rx nx = {&nic, &g};
        struct side s = {nic_rx_step, nic_rx_count, &nx};
        nb_side_run(&s, &r->nic, r, "nicvm");
    }
    gen_stop(&g);
    r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void tap_rx_raw(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct ftcp sink;
    struct gen g = {.fd = -1};
    struct raw_rx x = {.hlen = NETDEV_VNET_HDR_LEN, .gen = &g};
    ftcp_sink_init(&sink);
    x.tcp = c->size == SIZE_GSO ? &sink : NULL;
    x.fd = tap_open_raw(true, cx->offloads);
    x.buf = malloc(RAW_BUF);
    x.ctl = frame_new();
    int rc = x.fd < 0 ? x.fd : x.buf ? 0 : -ENOMEM;
    if (rc == 0) {
        tap_wait_running();
        rc = tap_rx_gen(c, &g);
    }
    if (rc < 0) {
        nb_set_error(r, "reference: %s", strerror(-rc));
    } else {
        struct side s = {raw_rx_step, raw_rx_count, &x};
        nb_side_run(&s, &r->ref, r, "reference");
    }
    gen_stop(&g);
    if (x.fd >= 0)
        close(x.fd);
    free(x.buf);
    frame_free(x.ctl);
}

void case_tap_rx(const struct bcase *c, struct result *r)
{
    bool tcp = c->size == SIZE_GSO;
    struct case_ctx x = {.c = c, .r = r, .offloads = tcp ? TUN_F_CSUM | TUN_F_TSO4 : 0};
    r->aux_name = tcp ? "gen_gbps" : "gen_pps";
    r->aux_bytes = tcp;
    nb_run_rounds(&x, tap_rx_nicvm, tap_rx_raw);
    /* TCP frames vary in size: the average of what nicvm's side received. */
    r->frame_bytes = !tcp            ? nb_frame_len(c->size)
                     : r->nic.frames ? r->nic.bytes / r->nic.frames
                                     : 0;
}
