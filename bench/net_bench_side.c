/* net_bench_side.c: net_bench's fake NIC (a netdev frontend that counts and never runs out of
 * buffers) and the measurement of one side of a case: warm-up, a counted window, and the
 * nicvm and reference rounds alternating. */
#include "net_bench.h"

#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --- the fake NIC ---------------------------------------------------------------------- */

/* nic_receive: counts, and shows TCP frames to the fake TCP end. Never out of buffers, and
 * no copy into guest memory: what is measured is the layer, not a NIC model. */
static size_t nic_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    struct fake_nic *nic = opaque;
    (void)hdr;
    nic->rx_frames++;
    nic->rx_bytes += len;
    if (nic->tcp && iovcnt > 0)
        ftcp_input(nic->tcp, iov[0].iov_base, iov[0].iov_len < len ? iov[0].iov_len : len);
    return len;
}

static const struct netdev_nic_ops nic_ops = {.receive = nic_receive};

int nic_open(struct fake_nic *nic, const char *spec, struct result *r)
{
    char err[256] = "";
    memset(nic, 0, sizeof(*nic));
    nic->loop = evloop_create();
    struct opts *o = nic->loop ? opts_parse(spec, "type", err, sizeof(err)) : NULL;
    nic->nd = o ? netdev_create(nic->loop, o, err, sizeof(err)) : NULL;
    opts_free(o);
    if (!nic->nd) {
        nb_set_error(r, "%s", err[0] ? err : strerror(errno));
        evloop_destroy(nic->loop);
        return -1;
    }
    netdev_attach(nic->nd, "bench-nic", &nic_ops, nic);
    nic->ctl = frame_new();
    return 0;
}

void nic_close(struct fake_nic *nic)
{
    netdev_destroy(nic->nd);
    evloop_destroy(nic->loop);
    frame_free(nic->ctl);
    nic->nd = NULL;
    nic->loop = NULL;
    nic->ctl = NULL;
}

int nic_send(struct fake_nic *nic, const struct frame *f)
{
    int rc = netdev_send(nic->nd, &f->hdr, f->iov, f->iovcnt, f->len);
    if (rc == 0) {
        nic->tx_frames++;
        nic->tx_bytes += f->len;
    }
    return rc;
}

/* nic_send_ctl: the fake TCP end's due SYN-ACK or ACK, if any. */
int nic_send_ctl(struct fake_nic *nic)
{
    if (!nic->tcp || !ftcp_ctl(nic->tcp, nic->ctl))
        return 0;
    return netdev_send(nic->nd, &nic->ctl->hdr, nic->ctl->iov, nic->ctl->iovcnt, nic->ctl->len);
}

uint64_t nic_drops(const struct fake_nic *nic)
{
    const struct netdev_stats *st = netdev_get_stats(nic->nd);
    uint64_t n = 0;
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        n += st->drops[i];
    return n;
}

/* nic_slirp_arp: an ARP request for 10.0.2.2, so libslirp learns the guest's MAC (it needs
 * it to send to the guest) and the guest learns the gateway's; waits for the reply. */
int nic_slirp_arp(struct fake_nic *nic)
{
    frame_arp_request(nic->ctl, guest_mac, SLIRP_GUEST_IP, SLIRP_HOST_IP);
    uint64_t before = nic->rx_frames, end = evloop_now_ns() + bench_ns(2);
    if (nic_send(nic, nic->ctl) < 0)
        return -EIO;
    while (nic->rx_frames == before && evloop_now_ns() < end && !g_stop)
        evloop_run_once(nic->loop, 10);
    return nic->rx_frames > before ? 0 : -ETIMEDOUT;
}

int nic_tx_step(void *ctx)
{
    struct nic_tx *t = ctx;
    struct fake_nic *nic = t->nic;
    for (int i = 0; i < BATCH && netdev_can_send(nic->nd); i++) {
        int rc = nic_send(nic, t->f);
        if (rc < 0)
            return rc;
    }
    /* Back to the loop after each batch, as a NIC does after a TX queue kick; when the
     * backend pushed back, until tx_ready (the loop returns after handling it). */
    int rc = evloop_run_once(nic->loop, netdev_can_send(nic->nd) ? 0 : WAIT_MS);
    return rc < 0 ? rc : 0;
}

void nic_tx_count(void *ctx, uint64_t c[3])
{
    struct nic_tx *t = ctx;
    c[0] = t->nic->tx_frames;
    c[1] = t->nic->tx_bytes;
    c[2] = t->aux ? atomic_load(&t->aux->count) : tap_kernel_rx();
}

int nic_rx_step(void *ctx)
{
    struct nic_rx *x = ctx;
    int rc = evloop_run_once(x->nic->loop, WAIT_MS);
    if (rc >= 0)
        rc = nic_send_ctl(x->nic); /* the ACK for this batch, as a guest would send it */
    if (rc >= 0 && atomic_load(&x->gen->err))
        rc = -atomic_load(&x->gen->err);
    return rc < 0 ? rc : netdev_link_up(x->nic->nd) ? 0 : -ENETDOWN;
}

void nic_rx_count(void *ctx, uint64_t c[3])
{
    struct nic_rx *x = ctx;
    c[0] = x->nic->rx_frames;
    c[1] = x->nic->rx_bytes;
    c[2] = atomic_load(&x->gen->count);
}

/* --- measurement: one side (nicvm or reference) of one case --------------------------------- */

static int run_until(const struct side *s, uint64_t end)
{
    while (!g_stop && evloop_now_ns() < end) {
        int rc = s->step(s->ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* run_side: a warm-up (not counted), then one round's share of g_opt.seconds of counted
 * work, added to m. */
static int run_side(const struct side *s, struct meas *m)
{
    uint64_t c0[3], c1[3];
    int rc = run_until(s, evloop_now_ns() + bench_ns(g_opt.warmup));
    s->count(s->ctx, c0);
    uint64_t t0 = evloop_now_ns();
    double cpu0 = bench_thread_cpu();
    if (rc == 0)
        rc = run_until(s, t0 + bench_ns(g_opt.seconds / g_opt.rounds));
    s->count(s->ctx, c1);
    m->cpu += bench_thread_cpu() - cpu0;
    m->secs += (double)(evloop_now_ns() - t0) / 1e9;
    m->frames += c1[0] - c0[0];
    m->bytes += c1[1] - c0[1];
    m->aux += c1[2] - c0[2];
    return rc;
}

/* --- cases and results ------------------------------------------------------------------- */

void nb_set_error(struct result *r, const char *fmt, ...)
{
    va_list ap;
    if (r->error[0])
        return; /* the first failure says most */
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    for (char *p = r->error; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
}

size_t nb_frame_len(unsigned size)
{
    return size == 64 ? 64 : size == 1500 ? 1500 + ETH_HLEN : HDRS_TCP4 + GSO_PAYLOAD;
}

/* side_run: runs one side and records a failure as the case's error. */
void nb_side_run(const struct side *s, struct meas *m, struct result *r, const char *who)
{
    uint64_t before = m->frames;
    int rc = run_side(s, m);
    if (rc < 0)
        nb_set_error(r, "%s: %s", who, strerror(-rc));
    else if (!g_stop && m->frames == before)
        nb_set_error(r, "%s: no frames went through", who);
}

/* run_rounds: nicvm, reference, reference, nicvm, ...: the alternation cancels a steady
 * drift of the machine's speed (a VM's neighbours, clocks) out of the ratio. */
void nb_run_rounds(struct case_ctx *x, side_fn nicvm, side_fn ref)
{
    for (int i = 0; i < g_opt.rounds && !x->r->error[0] && !g_stop; i++) {
        (i & 1 ? ref : nicvm)(x);
        if (!x->r->error[0] && !g_stop)
            (i & 1 ? nicvm : ref)(x);
    }
}
