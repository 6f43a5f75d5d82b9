/* virtio_net_bench_dev.c: virtio_net_bench's device side: the null netdev backend that
 * carries the virtio-net header (as tap with vnet_hdr does), the fake guest's memory and
 * register accessors, the frames of each case, and the driver's initialisation (§3.1.1). */
#include "virtio_net_bench.h"

#include "net/offload.h"
#include "vmm/iobus.h"
#include "vmm/iov.h"
#include "vmm/irq.h"
#include "vmm/opts.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t dev_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static struct bench *g_bench;

/* --- null backend: carries the header, discards the frame ------------------------------- */

static int null_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    netdev_set_caps(nd, NETDEV_CAP_VNET_HDR);
    return 0;
}

/* While verifying, the frame must arrive as the driver posted it: header and every byte. */
static void null_check(struct bench *b, const struct virtio_net_hdr_v1 *hdr,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    size_t off = iov_to_buf(iov, iovcnt, 0, b->scratch, len);
    b->verified = hdr && off == len && len == b->c->len && memcmp(hdr, &b->c->hdr, HDR - 2) == 0 &&
                  memcmp(b->scratch, b->c->frame, len) == 0;
}

static int null_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd;
    struct bench *b = g_bench;
    b->be_frames++;
    if (hdr && hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && len == b->c->len)
        b->be_gso_whole++;
    if (b->verify)
        null_check(b, hdr, iov, iovcnt, len);
    return 0;
}

static int null_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    (void)nd, (void)flags;
    return 0;
}

static const struct netdev_backend_ops null_ops = {.type = "null",
                                                   .summary = "discards, carries the header",
                                                   .open = null_open,
                                                   .send = null_send,
                                                   .set_rx_offloads = null_set_rx_offloads};

static void null_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static void null_irq_pulse(struct irq_line *l)
{
    (void)l;
    g_bench->irqs++;
}

static struct irq_line irq = {null_irq_set, null_irq_pulse, NULL, 5, -1};

/* --- guest memory and registers ---------------------------------------------------------- */

void vnb_wr(struct bench *b, uint64_t off, uint32_t v)
{
    uint8_t d[4];
    iobus_put_le(d, 4, v);
    virtio_mmio_io(b->t, off, d, 4, true);
}

static uint32_t rd(struct bench *b, uint64_t off)
{
    uint8_t d[4];
    virtio_mmio_io(b->t, off, d, 4, false);
    return (uint32_t)iobus_get_le(d, 4);
}

/* --- frames ---------------------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 (checksummed) for an L4 payload of l4len bytes. */
static void make_ip(uint8_t *f, size_t l4len, uint8_t proto)
{
    memcpy(f, dev_mac, 6);
    memcpy(f + 6, "\x52\x55\x0a\x00\x02\x02", 6);
    put_be16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put_be16(ip + 2, (uint16_t)(20 + l4len));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, "\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8);
    put_be16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, 20)));
}

/* The sum of the IPv4 pseudo header of make_ip's addresses. */
static uint32_t pseudo_sum(uint8_t proto, size_t l4len)
{
    return offload_csum_add(0, (const uint8_t *)"\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8) + proto +
           (uint32_t)l4len;
}

/* A UDP/IPv4 frame of len bytes with full checksums, header without offloads. */
static void make_udp(struct vcase *c)
{
    uint8_t *f = c->frame, *udp = f + 34;
    size_t ulen = c->len - 34;
    make_ip(f, ulen, 17);
    put_be16(udp, 5000);
    put_be16(udp + 2, 5001);
    put_be16(udp + 4, (uint16_t)ulen);
    for (size_t i = 8; i < ulen; i++)
        udp[i] = (uint8_t)i;
    uint16_t s = offload_csum_fold(offload_csum_add(pseudo_sum(17, ulen), udp, ulen));
    put_be16(udp + 6, s ? s : 0xffff);
}

/* One TCP/IPv4 GSO frame of 44 x 1460 payload bytes with the pseudo-header sum in the TCP
 * checksum, as Linux's virtio_net sends it with HOST_TSO4 (and receives it with GUEST_TSO4). */
static void make_tso(struct vcase *c)
{
    uint8_t *f = c->frame, *tcp = f + 34;
    size_t tlen = c->len - 34;
    make_ip(f, tlen, 6);
    put_be16(tcp, 40000);
    put_be16(tcp + 2, 5201);
    memcpy(tcp + 4, "\x00\x01\x00\x00\x00\x02\x00\x00", 8); /* seq, ack */
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; /* PSH | ACK */
    put_be16(tcp + 14, 0xffff);
    for (size_t i = 20; i < tlen; i++)
        tcp[i] = (uint8_t)(i * 7);
    put_be16(tcp + 16, (uint16_t)~offload_csum_fold(pseudo_sum(6, tlen)));
    c->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    c->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    c->hdr.hdr_len = htole16(TSO_HDRS);
    c->hdr.gso_size = htole16(TSO_MSS);
    c->hdr.csum_start = htole16(34);
    c->hdr.csum_offset = htole16(16);
}

int vnb_case_init(struct vcase *c, bool tx, size_t size)
{
    memset(c, 0, sizeof(*c));
    c->tx = tx;
    c->size = size;
    c->tso = size == 65536;
    c->len = c->tso ? TSO_HDRS + 44 * TSO_MSS : size == 1500 ? 1514 : size;
    c->frame = calloc(1, c->len);
    if (!c->frame)
        return -1;
    if (c->tso)
        make_tso(c);
    else
        make_udp(c);
    return 0;
}

/* --- setup ----------------------------------------------------------------------------- */

static void queue_setup(struct bench *b, unsigned qi, uint64_t desc, uint64_t avail, uint64_t used)
{
    b->q[qi] =
        (struct dq){.size = (uint16_t)g_opt.ring, .desc = desc, .avail = avail, .used = used};
    vnb_wr(b, VMMIO_QUEUE_SEL, qi);
    vnb_wr(b, VMMIO_QUEUE_NUM, g_opt.ring);
    vnb_wr(b, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    vnb_wr(b, VMMIO_QUEUE_DESC_HIGH, 0);
    vnb_wr(b, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    vnb_wr(b, VMMIO_QUEUE_DRIVER_HIGH, 0);
    vnb_wr(b, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    vnb_wr(b, VMMIO_QUEUE_DEVICE_HIGH, 0);
    vnb_wr(b, VMMIO_QUEUE_READY, 1);
}

/* The driver's initialisation (§3.1.1): every offered feature acked, both queues live. */
static int driver_init(struct bench *b)
{
    vnb_wr(b, VMMIO_STATUS, 0);
    vnb_wr(b, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    vnb_wr(b, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint32_t f[2];
    for (unsigned sel = 0; sel < 2; sel++) {
        vnb_wr(b, VMMIO_DEVICE_FEATURES_SEL, sel);
        f[sel] = rd(b, VMMIO_DEVICE_FEATURES);
        vnb_wr(b, VMMIO_DRIVER_FEATURES_SEL, sel);
        vnb_wr(b, VMMIO_DRIVER_FEATURES, f[sel]);
    }
    uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    vnb_wr(b, VMMIO_STATUS, st);
    queue_setup(b, RXQ, RX_DESC, RX_AVAIL, RX_USED);
    queue_setup(b, TXQ, TX_DESC, TX_AVAIL, TX_USED);
    vnb_wr(b, VMMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
    for (int i = 0; i < 16 && evloop_run_once(b->loop, 0) > 0; i++)
        ;
    uint64_t need = F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_HOST_TSO4) |
                    F(VIRTIO_NET_F_GUEST_TSO4);
    if (rd(b, VMMIO_STATUS) != (st | VIRTIO_STATUS_DRIVER_OK) ||
        (virtio_net_acked(b->vn) & need) != need) {
        fprintf(stderr, "virtio_net_bench: the device did not come up with the features needed\n");
        return -1;
    }
    return 0;
}

int vnb_open(struct bench *b, const struct vcase *c)
{
    char err[256] = "";
    memset(b, 0, sizeof(*b));
    g_bench = b;
    b->c = c;
    b->ram = aligned_alloc(4096, RAM_SIZE);
    b->scratch = malloc(NETDEV_MAX_FRAME);
    b->loop = evloop_create();
    if (!b->ram || !b->scratch || !b->loop || gmem_add_region(&b->gm, 0, RAM_SIZE, b->ram) < 0)
        return -1;
    memset(b->ram, 0, RAM_SIZE);
    struct opts *o = opts_parse("null", "type", err, sizeof(err));
    b->nd = o ? netdev_create_with(b->loop, &null_ops, "n0", o, err, sizeof(err)) : NULL;
    opts_free(o);
    struct virtio_net_params p = {.netdev = b->nd,
                                  .mem = &b->gm,
                                  .irq = &irq,
                                  .loop = b->loop,
                                  .base = MMIO_BASE,
                                  .name = "vnet0"};
    memcpy(p.mac, dev_mac, 6);
    b->vn = b->nd ? virtio_net_create(&p, err, sizeof(err)) : NULL;
    if (!b->vn) {
        fprintf(stderr, "virtio_net_bench: %s\n", err);
        return -1;
    }
    b->t = virtio_net_transport(b->vn);
    b->rxbuf = c->tso ? RXBUF_MAX : 1536;
    return driver_init(b);
}

void vnb_close(struct bench *b)
{
    virtio_net_destroy(b->vn);
    netdev_destroy(b->nd);
    evloop_destroy(b->loop);
    free(b->scratch);
    free(b->ram);
}
