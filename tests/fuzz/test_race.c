/* Race test for ThreadSanitizer (scripts/sanitize.sh --thread; a plain unit test elsewhere):
 * a vCPU-like thread drives a virtio-net device (virtio-mmio registers) and an e1000 (BAR0
 * registers) as a guest driver would -- queue setup, TX chains and kicks, RX buffers,
 * interrupt acks, configuration reads, resets in the middle of traffic -- while the event
 * loop thread processes the same devices: TX to a fake backend, RX of frames that the
 * "backend" injects on the loop thread, timers.
 *
 * Guest RAM itself is shared without synchronisation by design (the guest and the device
 * race on ring memory exactly as with real hardware), so the guest side writes RAM only in
 * functions named gram_*, which tsan.supp exempts; every other report (device state, the
 * transport, the netdev layer) is a real race. Exits 0 when both devices moved traffic. */
#include "devices/e1000.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/backend.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/log.h"
#include "vmm/opts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE    (1024 * 1024)
#define VN_BASE     0xd0000000ull
#define QSIZE       64
#define ROUNDS      2000
#define FRAME_LEN   60
#define E1000_TD    0x40000u
#define E1000_RD    0x41000u
#define E1000_BUF   0x50000u
#define VN_TXBUF    0x80000u
#define VN_RXBUF    0xa0000u
#define VN_DESC(q)  (0x10000u + 0x2000u * (q))
#define VN_AVAIL(q) (VN_DESC(q) + 0x400u)
#define VN_USED(q)  (VN_DESC(q) + 0x800u)

static uint8_t *ram;
static struct guestmem gm;
static struct evloop *loop;
static struct netdev *nd_vn, *nd_e;
static struct virtio_net *vn;
static struct e1000 *e1000;
static atomic_ulong sends, irqs, delivered;

static int be_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    netdev_set_caps(nd, 0);
    return 0;
}

static int be_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                   int iovcnt, size_t len)
{
    (void)nd, (void)hdr, (void)iov, (void)iovcnt, (void)len;
    atomic_fetch_add(&sends, 1);
    return 0;
}

static const struct netdev_backend_ops be_ops = {
    .type = "race", .summary = "race test backend", .open = be_open, .send = be_send};

static void race_irq_set(struct irq_line *l, bool level)
{
    (void)l;
    if (level)
        atomic_fetch_add(&irqs, 1);
}

static void race_irq_pulse(struct irq_line *l)
{
    (void)l;
    atomic_fetch_add(&irqs, 1);
}

static struct irq_line irq_vn = {
    .set = race_irq_set, .pulse = race_irq_pulse, .gsi = 5, .irqfd = -1};
static struct irq_line irq_e = {
    .set = race_irq_set, .pulse = race_irq_pulse, .gsi = 10, .irqfd = -1};

/* --- guest RAM (exempt from race reports: see the top comment) -------------------------- */

__attribute__((noinline)) static void gram_write(uint64_t gpa, const void *p, size_t n)
{
    memcpy(ram + gpa, p, n);
}

__attribute__((noinline)) static void gram_put16(uint64_t gpa, uint16_t v)
{
    gram_write(gpa, &v, 2);
}

__attribute__((noinline)) static void gram_desc(uint64_t table, unsigned i, uint64_t addr,
                                                uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8), memcpy(d + 8, &len, 4), memcpy(d + 12, &flags, 2),
        memcpy(d + 14, &next, 2);
    gram_write(table + 16ull * i, d, 16);
}

/* --- the backend side, run on the loop thread --------------------------------------------- */

static void deliver(void *opaque)
{
    struct netdev *nd = opaque;
    uint8_t f[FRAME_LEN];
    memset(f, 0xff, 6); /* broadcast: both devices accept it */
    memset(f + 6, 0x02, FRAME_LEN - 6);
    struct virtio_net_hdr_v1 h = {0};
    struct iovec iov = {f, sizeof(f)};
    netdev_deliver(nd, &h, &iov, 1, sizeof(f));
    atomic_fetch_add(&delivered, 1);
}

static void *loop_main(void *arg)
{
    (void)arg;
    evloop_run(loop);
    return NULL;
}

/* --- the vCPU thread: a virtio-net driver ---------------------------------------------------- */

static void vn_wr(uint64_t off, uint32_t v)
{
    uint8_t d[4];
    memcpy(d, &v, 4);
    virtio_mmio_io(virtio_net_transport(vn), off, d, 4, true);
}

static uint32_t vn_rd(uint64_t off)
{
    uint8_t d[4];
    uint32_t v;
    virtio_mmio_io(virtio_net_transport(vn), off, d, 4, false);
    memcpy(&v, d, 4);
    return v;
}

static void vn_bringup(void)
{
    vn_wr(VMMIO_STATUS, 0);
    vn_wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vn_wr(VMMIO_DRIVER_FEATURES_SEL, 1);
    vn_wr(VMMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    vn_wr(VMMIO_DRIVER_FEATURES_SEL, 0);
    vn_wr(VMMIO_DRIVER_FEATURES, 1u << 5); /* MAC */
    vn_wr(VMMIO_STATUS, 11);
    for (unsigned q = 0; q < 2; q++) {
        for (unsigned i = 0; i < QSIZE; i++) /* fresh rings after a reset */
            gram_desc(VN_DESC(q), i, 0, 0, 0, 0);
        gram_put16(VN_AVAIL(q) + 2, 0);
        vn_wr(VMMIO_QUEUE_SEL, q);
        vn_wr(VMMIO_QUEUE_NUM, QSIZE);
        vn_wr(VMMIO_QUEUE_DESC_LOW, VN_DESC(q));
        vn_wr(VMMIO_QUEUE_DRIVER_LOW, VN_AVAIL(q));
        vn_wr(VMMIO_QUEUE_DEVICE_LOW, VN_USED(q));
        vn_wr(VMMIO_QUEUE_READY, 1);
    }
    vn_wr(VMMIO_STATUS, 15);
}

/* Posts one TX chain (header + frame) and one RX buffer, kicks both queues, acks. */
static void vn_round(unsigned r, uint16_t idx)
{
    uint16_t h = (uint16_t)((2 * r) % QSIZE);
    gram_desc(VN_DESC(1), h, VN_TXBUF, 12, 1, (uint16_t)(h + 1));
    gram_desc(VN_DESC(1), h + 1u, VN_TXBUF + 64, FRAME_LEN, 0, 0);
    gram_put16(VN_AVAIL(1) + 4 + 2 * (idx % QSIZE), h);
    gram_desc(VN_DESC(0), r % QSIZE, VN_RXBUF + 2048ull * (r % QSIZE), 2048, 2, 0);
    gram_put16(VN_AVAIL(0) + 4 + 2 * (idx % QSIZE), (uint16_t)(r % QSIZE));
    __atomic_thread_fence(__ATOMIC_RELEASE);
    gram_put16(VN_AVAIL(1) + 2, (uint16_t)(idx + 1));
    gram_put16(VN_AVAIL(0) + 2, (uint16_t)(idx + 1));
    vn_wr(VMMIO_QUEUE_NOTIFY, 1);
    vn_wr(VMMIO_QUEUE_NOTIFY, 0);
    vn_wr(VMMIO_INTERRUPT_ACK, vn_rd(VMMIO_INTERRUPT_STATUS));
    (void)vn_rd(VIRTIO_MMIO_CONFIG + 6); /* link status */
}

/* --- the vCPU thread: an e1000 driver ------------------------------------------------------- */

static void e_wr(uint32_t off, uint32_t v)
{
    uint8_t d[4];
    memcpy(d, &v, 4);
    e1000_mmio(e1000, off, d, 4, true);
}

static uint32_t e_rd(uint32_t off)
{
    uint8_t d[4];
    uint32_t v;
    e1000_mmio(e1000, off, d, 4, false);
    memcpy(&v, d, 4);
    return v;
}

static void e_bringup(void)
{
    e_wr(0x0000, 0x04000000); /* CTRL.RST */
    e_wr(0x0000, 0x60);       /* SLU | ASDE */
    for (unsigned i = 0; i < QSIZE; i++) {
        uint64_t a = E1000_BUF + 2048ull * i, z = 0;
        uint8_t d[16];
        memcpy(d, &a, 8), memcpy(d + 8, &z, 8);
        gram_write(E1000_RD + 16ull * i, d, 16);
    }
    e_wr(0x3800, E1000_TD), e_wr(0x3804, 0), e_wr(0x3808, QSIZE * 16);
    e_wr(0x3810, 0), e_wr(0x3818, 0), e_wr(0x0400, 0x400fa);
    e_wr(0x2800, E1000_RD), e_wr(0x2804, 0), e_wr(0x2808, QSIZE * 16);
    e_wr(0x2810, 0), e_wr(0x2818, QSIZE - 1), e_wr(0x0100, 0x2 | 0x8000 | 0x4000000);
    e_wr(0x00d0, 0x9d);
}

static void e_round(unsigned r)
{
    unsigned t = r % QSIZE;
    uint64_t a = VN_TXBUF + 64;
    uint64_t cmd = FRAME_LEN | 0x0b000000ull; /* EOP | IFCS | RS */
    uint8_t d[16];
    memcpy(d, &a, 8), memcpy(d + 8, &cmd, 8);
    gram_write(E1000_TD + 16ull * t, d, 16);
    e_wr(0x3818, (t + 1) % QSIZE);                    /* TDT */
    e_wr(0x2818, (e_rd(0x2810) + QSIZE - 1) % QSIZE); /* RDT: everything back */
    (void)e_rd(0x00c0);                               /* ICR, clear on read */
    (void)e_rd(0x0008);
    e_wr(0x00c4, r & 1 ? 0 : 100); /* ITR */
}

/* A machine reset (PCI RST#) arriving on the loop thread while the vCPU writes registers. */
static void reset_e1000(void *opaque)
{
    (void)opaque;
    e1000_reset(e1000);
}

static void *vcpu_main(void *arg)
{
    (void)arg;
    uint8_t f[FRAME_LEN];
    memset(f, 0xff, 6), memset(f + 6, 0x52, FRAME_LEN - 6);
    gram_write(VN_TXBUF + 64, f, sizeof(f));
    gram_write(VN_TXBUF, (uint8_t[12]){0}, 12);
    vn_bringup();
    e_bringup();
    uint16_t idx = 0;
    for (unsigned r = 0; r < ROUNDS; r++) {
        if (r % 100 == 99) { /* reset in the middle of traffic, then start again */
            vn_bringup();
            e_bringup();
            idx = 0;
        }
        vn_round(r, idx++);
        e_round(r);
        evloop_call(loop, deliver, nd_vn);
        evloop_call(loop, deliver, nd_e);
        if (r % 50 == 0)
            evloop_call(loop, reset_e1000, NULL);
    }
    evloop_stop(loop);
    return NULL;
}

static struct netdev *make_netdev(const char *id)
{
    char err[256] = "";
    struct opts *o = opts_parse("race", "type", err, sizeof(err));
    struct netdev *nd = o ? netdev_create_with(loop, &be_ops, id, o, err, sizeof(err)) : NULL;
    opts_free(o);
    if (!nd) {
        fprintf(stderr, "netdev: %s\n", err);
        exit(1);
    }
    return nd;
}

int main(void)
{
    char err[256];
    log_set_level(LOG_ERROR);
    ram = calloc(1, RAM_SIZE);
    loop = evloop_create();
    if (!ram || !loop || gmem_add_region(&gm, 0, RAM_SIZE, ram) < 0)
        return 1;
    nd_vn = make_netdev("vn0");
    nd_e = make_netdev("e0");
    struct virtio_net_params vp = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56},
                                   .netdev = nd_vn,
                                   .mem = &gm,
                                   .irq = &irq_vn,
                                   .loop = loop,
                                   .base = VN_BASE,
                                   .name = "vn0"};
    struct e1000_params ep = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x57},
                              .netdev = nd_e,
                              .mem = &gm,
                              .irq = &irq_e,
                              .loop = loop,
                              .name = "e0"};
    vn = virtio_net_create(&vp, err, sizeof(err));
    e1000 = vn ? e1000_create(&ep, err, sizeof(err)) : NULL;
    if (!vn || !e1000) {
        fprintf(stderr, "device: %s\n", err);
        return 1;
    }
    e1000_pci(e1000)->cfg[4] |= 0x7; /* IO, memory, bus master */
    pthread_t lt, vt;
    if (pthread_create(&lt, NULL, loop_main, NULL) || pthread_create(&vt, NULL, vcpu_main, NULL))
        return 1;
    pthread_join(vt, NULL);
    pthread_join(lt, NULL);
    printf("test_race: %lu frames sent, %lu delivered, %lu interrupts\n", atomic_load(&sends),
           atomic_load(&delivered), atomic_load(&irqs));
    bool ok = atomic_load(&sends) > 0 && atomic_load(&delivered) > 0;
    virtio_net_destroy(vn);
    e1000_destroy(e1000);
    netdev_destroy(nd_vn);
    netdev_destroy(nd_e);
    evloop_destroy(loop);
    free(ram);
    return ok ? 0 : 1;
}
