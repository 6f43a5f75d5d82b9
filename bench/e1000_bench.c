/* e1000_bench: packets per second through the 82540EM model (devices/e1000*.c) without KVM.
 * A fake driver in this file keeps a TX ring and an RX ring in fake guest memory, the way
 * Linux's e1000 driver does (legacy TX descriptors with EOP|IFCS|RS|IDE, TIDV 8 and TADV 32;
 * RX buffers of 2048 bytes, RXCSUM.TUOFL, RDTR 0), and drives the device through its
 * register handler and the event loop on one thread:
 *   tx: the driver posts BATCH frames and writes TDT; the loop runs the TX kick; the frames
 *       go through the netdev layer to a backend that discards them.
 *   rx: a backend delivers frames with netdev_deliver(); the driver reclaims the written
 *       descriptors and gives them back (RDT) every BATCH frames.
 * Each case is compared with the bare memcpy of the same bytes, in the same run. One JSON
 * object per case on stdout; a table on stderr. */
#include "bench_util.h"
#include "devices/e1000.h"
#include "net/backend.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/iobus.h"
#include "vmm/irq.h"
#include "vmm/opts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE  (64u << 20)
#define RING      4096 /* descriptors per ring */
#define TXRING    0x10000u
#define RXRING    0x20000u
#define TXBUF     0x100000u
#define RXBUF     0x1000000u
#define BUFSZ     2048
#define BATCH_DEF 32 /* frames per TDT write, and per RX refill (Linux refills by 16) */
#define BATCH_MAX 1024
#define TIME_STEP 1024

static const uint8_t dev_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static struct bench_dev_opts opt = {.seconds = 1.0, .batch = BATCH_DEF};

struct bench {
    uint8_t *ram;
    struct guestmem gm;
    struct evloop *loop;
    struct netdev *nd;
    struct e1000 *dev;
    uint64_t sent;
};

static struct bench *g_bench;

static int null_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    (void)nd, (void)o, (void)err, (void)errlen;
    return 0;
}

static int null_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd, (void)hdr, (void)iov, (void)iovcnt, (void)len;
    g_bench->sent++;
    return 0;
}

static const struct netdev_backend_ops null_ops = {
    .type = "null", .summary = "discards", .open = null_open, .send = null_send};

static void null_irq(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static struct irq_line irq = {null_irq, NULL, NULL, 10, -1};

static void wr(struct bench *b, uint32_t off, uint32_t v)
{
    uint8_t d[4];
    iobus_put_le(d, 4, v);
    e1000_mmio(b->dev, off, d, 4, true);
}

static uint32_t rd(struct bench *b, uint32_t off)
{
    uint8_t d[4];
    e1000_mmio(b->dev, off, d, 4, false);
    return (uint32_t)iobus_get_le(d, 4);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A UDP/IPv4 frame of len bytes to the device's MAC with valid checksums. */
static void make_frame(uint8_t *f, size_t len)
{
    memset(f, 0, len);
    memcpy(f, dev_mac, 6);
    memcpy(f + 6, "\x52\x55\x0a\x00\x02\x02", 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *udp = f + 34;
    size_t iplen = len - 14, ulen = len - 34;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(iplen >> 8);
    ip[3] = (uint8_t)iplen;
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8);
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2)
        s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    ip[10] = (uint8_t)(~s >> 8);
    ip[11] = (uint8_t)~s;
    udp[0] = 0x13;
    udp[1] = 0x88;
    udp[2] = 0x13;
    udp[3] = 0x89;
    udp[4] = (uint8_t)(ulen >> 8);
    udp[5] = (uint8_t)ulen;
    for (size_t i = 8; i < ulen; i++)
        udp[i] = (uint8_t)i;
    s = 17 + (uint32_t)ulen;
    for (int i = 12; i < 20; i += 2)
        s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    for (size_t i = 0; i + 1 < ulen; i += 2)
        s += (uint32_t)(udp[i] << 8 | udp[i + 1]);
    if (ulen & 1)
        s += (uint32_t)udp[ulen - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    udp[6] = (uint8_t)(~s >> 8);
    udp[7] = (uint8_t)~s;
}

static int bench_open(struct bench *b)
{
    char err[256] = "";
    memset(b, 0, sizeof(*b));
    g_bench = b;
    b->ram = calloc(1, RAM_SIZE);
    b->loop = evloop_create();
    if (!b->ram || !b->loop || gmem_add_region(&b->gm, 0, RAM_SIZE, b->ram) < 0)
        return -1;
    struct opts *o = opts_parse("null", "type", err, sizeof(err));
    b->nd = o ? netdev_create_with(b->loop, &null_ops, "n0", o, err, sizeof(err)) : NULL;
    opts_free(o);
    struct e1000_params p = {.netdev = b->nd, .mem = &b->gm, .irq = &irq, .loop = b->loop};
    memcpy(p.mac, dev_mac, 6);
    b->dev = b->nd ? e1000_create(&p, err, sizeof(err)) : NULL;
    if (!b->dev) {
        fprintf(stderr, "e1000_bench: %s\n", err);
        return -1;
    }
    e1000_pci(b->dev)->cfg[4] |= 0x7; /* I/O, memory, bus master */
    return 0;
}

static void bench_close(struct bench *b)
{
    e1000_destroy(b->dev);
    netdev_destroy(b->nd);
    evloop_destroy(b->loop);
    free(b->ram);
}

/* --- TX ----------------------------------------------------------------------------------- */

static void tx_setup(struct bench *b, size_t len)
{
    for (unsigned i = 0; i < RING; i++)
        make_frame(b->ram + TXBUF + (size_t)i * BUFSZ, len);
    wr(b, 0x3800, TXRING); /* TDBAL */
    wr(b, 0x3808, RING * 16);
    wr(b, 0x3820, 8);  /* TIDV */
    wr(b, 0x382c, 32); /* TADV */
    wr(b, 0x0400, 0x0103f0fa);
}

/* Posts n frames at *tail and writes TDT (the device has completed the previous batch, so
 * the descriptors are free again). */
static void tx_post(struct bench *b, unsigned *tail, unsigned n, size_t len)
{
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (*tail + k) % RING;
        uint8_t *d = b->ram + TXRING + (size_t)i * 16;
        put_le(d, TXBUF + (uint64_t)i * BUFSZ, 8);
        /* EOP | IFCS | RS | IDE, length */
        put_le(d + 8, (uint32_t)len | 0x8b000000u, 4);
        put_le(d + 12, 0, 4);
    }
    *tail = (*tail + n) % RING;
    wr(b, 0x3818, *tail);
}

static double run_tx(struct bench *b, size_t len, uint64_t *pkts)
{
    unsigned tail = 0;
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, opt.seconds);
    for (;;) {
        tx_post(b, &tail, opt.batch, len);
        evloop_run_once(b->loop, 0);
        for (int i = 0; i < 100 && rd(b, 0x3810) != tail; i++)
            evloop_run_once(b->loop, 1);
        n += opt.batch;
        if ((n % TIME_STEP) == 0 && bench_timer_due(&t))
            break;
    }
    for (int i = 0; i < 100 && evloop_run_once(b->loop, 0) > 0; i++)
        ;
    *pkts = b->sent;
    return bench_timer_secs(&t);
}

/* --- RX ----------------------------------------------------------------------------------- */

static void rx_setup(struct bench *b)
{
    for (unsigned i = 0; i < RING; i++) {
        uint8_t *d = b->ram + RXRING + (size_t)i * 16;
        memset(d, 0, 16);
        put_le(d, RXBUF + (uint64_t)i * BUFSZ, 8);
    }
    wr(b, 0x2800, RXRING);
    wr(b, 0x2808, RING * 16);
    wr(b, 0x2810, 0);
    wr(b, 0x2818, RING - 1);
    wr(b, 0x282c, 8);      /* RADV */
    wr(b, 0x5000, 0x200);  /* RXCSUM.TUOFL */
    wr(b, 0x0100, 0x8102); /* EN | BAM | RDMTS 1/2, 2048-byte buffers */
}

static double run_rx(struct bench *b, size_t len, uint64_t *pkts)
{
    uint8_t *f = malloc(len);
    make_frame(f, len);
    struct iovec iov = {f, len};
    unsigned clean = 0;
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, opt.seconds);
    for (;;) {
        for (unsigned k = 0; k < opt.batch; k++)
            netdev_deliver(b->nd, NULL, &iov, 1, len);
        /* The driver: every written descriptor back to the device. */
        for (unsigned k = 0; k < opt.batch; k++) {
            uint8_t *d = b->ram + RXRING + (size_t)clean * 16;
            if (!(d[12] & 1))
                break;
            d[12] = 0;
            clean = (clean + 1) % RING;
            n++;
        }
        wr(b, 0x2818, (clean + RING - 1) % RING);
        evloop_run_once(b->loop, 0);
        if (bench_timer_due(&t))
            break;
    }
    free(f);
    *pkts = n;
    return bench_timer_secs(&t);
}

/* --- reference: memcpy of the same bytes --------------------------------------------------- */

static volatile uint8_t sink;

static double run_memcpy(struct bench *b, size_t len, bool tx, uint64_t *pkts)
{
    uint64_t n = 0;
    struct bench_timer t;
    bench_timer_start(&t, opt.seconds);
    uint8_t *src = b->ram + (tx ? TXBUF : RXBUF), *dst = b->ram + (tx ? RXBUF : TXBUF);
    for (;;) {
        for (unsigned k = 0; k < TIME_STEP; k++, n++) {
            size_t i = n % RING;
            memcpy(dst + i * BUFSZ, src + i * BUFSZ, len);
        }
        sink = dst[(n % RING) * BUFSZ];
        if (bench_timer_due(&t))
            break;
    }
    *pkts = n;
    return bench_timer_secs(&t);
}

/* print_case: the case's JSON line on stdout and its row on stderr; done: the packets the
 * device counted. */
static void print_case(bool tx, size_t len, double pps, double ref_pps, uint64_t done, double secs)
{
    bench_json_begin("e1000");
    bench_json_str("dir", tx ? "tx" : "rx");
    bench_json_uint("size", len);
    bench_json_uint("frame_bytes", len);
    bench_json_uint("batch", opt.batch);
    bench_json_num("pps", 0, pps);
    bench_json_num("ns_per_pkt", 1, 1e9 / pps);
    bench_json_num("gbps", 3, pps * (double)len * 8 / 1e9);
    if (!opt.no_ref) { /* --no-ref: no reference, so no ratio either */
        bench_json_num("ref_pps", 0, ref_pps);
        bench_json_num("ref_ns_per_pkt", 1, 1e9 / ref_pps);
        bench_json_num("ratio", 4, pps / ref_pps);
    }
    bench_json_uint("packets", done);
    bench_json_num("seconds", 2, secs);
    bench_json_str("ref", opt.no_ref ? "none (--no-ref)" : "memcpy of the same bytes");
    bench_json_end();
    fprintf(stderr, "e1000 %s %5zu B: %8.3f Mpps (%6.1f ns/pkt)", tx ? "tx" : "rx", len, pps / 1e6,
            1e9 / pps);
    if (!opt.no_ref)
        fprintf(stderr, "  memcpy %9.3f Mpps  ratio %.4f", ref_pps / 1e6, pps / ref_pps);
    fputc('\n', stderr);
}

static void run_case(bool tx, size_t len)
{
    struct bench b;
    if (bench_open(&b) < 0)
        exit(1);
    uint64_t pkts = 0, ref_pkts = 0;
    double secs, ref_secs;
    if (tx) {
        tx_setup(&b, len);
        secs = run_tx(&b, len, &pkts);
    } else {
        rx_setup(&b);
        secs = run_rx(&b, len, &pkts);
    }
    ref_secs = opt.no_ref ? 1 : run_memcpy(&b, len, tx, &ref_pkts);
    double pps = (double)pkts / secs, ref_pps = opt.no_ref ? 1 : (double)ref_pkts / ref_secs;
    const struct e1000_stats *st = e1000_get_stats(b.dev);
    print_case(tx, len, pps, ref_pps, tx ? st->tx_packets : st->rx_packets, secs);
    bench_close(&b);
}

int main(int argc, char **argv)
{
    int rc = bench_dev_parse(argc, argv, &opt, false);
    if (rc)
        return bench_usage(rc, "usage: e1000_bench [--seconds N] [--quick] [--only tx|rx] "
                               "[--size 64|1514] [--batch N] [--no-ref]\n");
    opt.batch = bench_pow2_or(opt.batch, 1, BATCH_MAX, BATCH_DEF);
    size_t sizes[] = {64, 1514};
    for (int dir = 0; dir < 2; dir++)
        for (size_t s = 0; s < 2; s++)
            if (bench_dev_wanted(&opt, dir == 0, sizes[s]))
                run_case(dir == 0, sizes[s]);
    return 0;
}
