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
 * stdout; a table and the targets (2 Mpps at 64 B, 20 Gbit/s at 64 KiB) on stderr.
 * This file runs the cases and reports them; virtio_net_bench_dev.c sets the device up and
 * virtio_net_bench_ring.c is the driver's ring work. */
#include "virtio_net_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_dev_opts g_opt = {.seconds = 1.0, .batch = BATCH_DEF, .ring = RING_DEF};

/* --- cases ----------------------------------------------------------------------------- */

/* Rates by the wall clock and per second of this thread's CPU time ("on one core": the
 * machine may be shared, and busy = cpu / wall shows how much of it the thread had). */
struct result {
    double pps, gbps, ref_pps;
    double cpu_pps, cpu_gbps, ref_cpu_pps, busy, ref_busy;
    bool ok;
};

static bool verify_case(struct bench *b)
{
    if (!b->c->tx) {
        vnb_rx_setup(b);
        return vnb_rx_verify(b);
    }
    vnb_tx_setup(b);
    b->verify = true;
    bool ok = vnb_tx_batch(b, 1) == 0 && b->verified && b->be_frames == 1;
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

/* The targets, judged per core (CPU time): 2 Mpps at 64 B, 20 Gbit/s at 64 KiB. */
static bool has_target(const struct vcase *c)
{
    return c->size == 64 || c->size == 65536;
}

static bool meets_target(const struct vcase *c, const struct result *r)
{
    return c->size == 64 ? r->cpu_pps >= 2e6 : r->cpu_gbps >= 20.0;
}

static void print_json(const struct bench *b, const struct result *r, uint64_t pkts, double secs)
{
    const struct vcase *c = b->c;
    double bits = (double)c->len * 8 / 1e9;
    bench_json_begin("virtio-net");
    bench_json_str("dir", c->tx ? "tx" : "rx");
    bench_json_uint("size", c->size);
    bench_json_uint("frame_bytes", c->len);
    bench_json_bool("offload", c->tso);
    bench_json_uint("batch", g_opt.batch);
    bench_json_uint("ring", g_opt.ring);
    bench_json_uint("rx_buf", c->tx ? 0 : b->rxbuf);
    bench_json_num("pps", 0, r->pps);
    bench_json_num("ns_per_pkt", 1, 1e9 / r->pps);
    bench_json_num("gbps", 3, r->pps * bits);
    if (!g_opt.no_ref) { /* --no-ref: no reference, so no ratio either */
        bench_json_num("ref_pps", 0, r->ref_pps);
        bench_json_num("ref_ns_per_pkt", 1, 1e9 / r->ref_pps);
        bench_json_num("ref_gbps", 3, r->ref_pps * bits);
        bench_json_num("ratio", 4, r->pps / r->ref_pps);
    }
    bench_json_num("cpu_pps", 0, r->cpu_pps);
    bench_json_num("cpu_ns_per_pkt", 1, 1e9 / r->cpu_pps);
    bench_json_num("cpu_gbps", 3, r->cpu_gbps);
    if (!g_opt.no_ref) {
        bench_json_num("ref_cpu_ns_per_pkt", 1, 1e9 / r->ref_cpu_pps);
        bench_json_num("cpu_ratio", 4, r->cpu_pps / r->ref_cpu_pps);
    }
    bench_json_num("busy", 2, r->busy);
    if (!g_opt.no_ref)
        bench_json_num("ref_busy", 2, r->ref_busy);
    bench_json_uint("packets", pkts);
    bench_json_num("seconds", 2, secs);
    bench_json_num("kicks_per_pkt", 4, (double)b->kicks / (double)pkts);
    bench_json_num("irqs_per_pkt", 4, (double)b->irqs / (double)pkts);
    bench_json_bool("verified", r->ok);
    if (has_target(c)) {
        bench_json_str("target", c->size == 64 ? ">= 2 Mpps per core" : ">= 20 Gbit/s per core");
        bench_json_bool("meets_target", meets_target(c, r));
    }
    bench_json_str("ref", g_opt.no_ref ? "none (--no-ref)" : "memcpy of the same bytes");
    bench_json_end();
}

static void print_row(const struct bench *b, const struct result *r)
{
    const struct vcase *c = b->c;
    double bits = (double)c->len * 8 / 1e9;
    fprintf(stderr, "virtio-net %s %5zu B%s %8.3f %8.2f %7.1f %8.3f %8.2f %6.3f %6.1f %5.2f%s%s\n",
            c->tx ? "tx" : "rx", c->size, c->tso ? " TSO" : "    ", r->pps / 1e6, r->pps * bits,
            1e9 / r->cpu_pps, r->ref_pps / 1e6, r->ref_pps * bits, r->pps / r->ref_pps,
            1e9 / r->ref_cpu_pps, r->busy, r->ok ? "" : "  NOT VERIFIED",
            has_target(c) ? (meets_target(c, r) ? "  target met" : "  BELOW TARGET") : "");
}

/* Runs one case; returns 0, or 1 when it could not run or its frames did not check out. */
static int run_case(bool tx, size_t size)
{
    struct vcase c;
    struct bench b;
    if (vnb_case_init(&c, tx, size) < 0 || vnb_open(&b, &c) < 0) {
        bench_json_begin("virtio-net");
        bench_json_str("dir", tx ? "tx" : "rx");
        bench_json_uint("size", size);
        bench_json_str("error", "setup");
        bench_json_end();
        free(c.frame);
        return 1;
    }
    bool verified = verify_case(&b);
    b.kicks = b.irqs = b.be_frames = b.be_gso_whole = 0;
    const struct virtio_net_stats *s = virtio_net_get_stats(b.vn);
    uint64_t base = tx ? s->tx_packets : s->rx_packets, pkts = 0, ref_pkts = 0;
    double cpu0 = bench_thread_cpu();
    double secs = tx ? vnb_run_tx(&b, &pkts) : vnb_run_rx(&b, &pkts);
    double cpu1 = bench_thread_cpu();
    uint64_t done = (tx ? s->tx_packets : s->rx_packets) - base;
    double ref_secs = g_opt.no_ref ? 1 : vnb_run_memcpy(&b, &ref_pkts);
    double ref_cpu = g_opt.no_ref ? 1 : bench_thread_cpu() - cpu1;
    struct result r = {.pps = (double)pkts / secs, .cpu_pps = (double)pkts / (cpu1 - cpu0)};
    r.gbps = r.pps * (double)c.len * 8 / 1e9;
    r.cpu_gbps = r.cpu_pps * (double)c.len * 8 / 1e9;
    r.busy = (cpu1 - cpu0) / secs;
    r.ref_pps = g_opt.no_ref ? r.pps : (double)ref_pkts / ref_secs;
    r.ref_cpu_pps = g_opt.no_ref ? r.cpu_pps : (double)ref_pkts / ref_cpu;
    r.ref_busy = g_opt.no_ref ? r.busy : ref_cpu / ref_secs;
    r.ok = verified && pkts > 0 && counters_ok(&b, done) && done >= pkts;
    print_json(&b, &r, pkts, secs);
    print_row(&b, &r);
    vnb_close(&b);
    free(c.frame);
    return r.ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc = bench_dev_parse(argc, argv, &g_opt, true);
    if (rc)
        return bench_usage(rc, "usage: virtio_net_bench [--seconds N] [--quick] [--only tx|rx] "
                               "[--size 64|1500|65536] [--batch N] [--ring N] [--no-ref]\n");
    g_opt.batch = bench_pow2_or(g_opt.batch, 1, BATCH_MAX, BATCH_DEF);
    g_opt.ring = bench_pow2_or(g_opt.ring, 64, VIRTQ_MAX_SIZE, RING_DEF);
    size_t sizes[] = {64, 1500, 65536};
    fprintf(
        stderr,
        "virtio_net_bench: fake guest ring -> virtio-mmio -> virtio-net -> null backend, "
        "%.1f s per case, batch %u, ring %u (cpu: ns of this thread's CPU per frame; "
        "busy: its share of the wall clock)\n"
        "case                     Mpps   Gbit/s  cpu ns ref Mpps ref Gb/s  ratio ref ns  busy\n",
        g_opt.seconds, g_opt.batch, g_opt.ring);
    for (int dir = 0; dir < 2; dir++)
        for (size_t s = 0; s < 3; s++)
            if (bench_dev_wanted(&g_opt, dir == 0, sizes[s]))
                rc |= run_case(dir == 0, sizes[s]);
    return rc;
}
