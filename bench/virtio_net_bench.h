/* virtio_net_bench.h: what the files of virtio_net_bench share: the fake guest's memory
 * layout, the case and bench state, and the fake driver's steps (virtio_net_bench_dev.c sets
 * the device up, virtio_net_bench_ring.c drives its rings, virtio_net_bench.c runs the cases).
 */
#ifndef NICVM_VIRTIO_NET_BENCH_H
#define NICVM_VIRTIO_NET_BENCH_H

#include "bench_util.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/backend.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RAM_SIZE   (64u << 20)
#define MMIO_BASE  0xd0000000ull
#define HDR        sizeof(struct virtio_net_hdr_v1)
#define RING_DEF   1024
#define RX_DESC    0x10000u
#define RX_AVAIL   0x14000u
#define RX_USED    0x15000u
#define TX_DESC    0x20000u
#define TX_AVAIL   0x24000u
#define TX_USED    0x25000u
#define TX_TABLES  0x40000u /* one indirect table per TX slot */
#define TBL_STRIDE 512u     /* 32 descriptors */
#define TXBUF      0x100000u
#define TX_NBUF    256 /* distinct TX buffers, reused round robin */
#define TX_STRIDE  0x12000u
#define RXBUF      0x2000000u
#define RXBUF_MAX  4096u
#define FRAG       4096u /* TSO payload fragments (pages) */
#define TSO_MSS    1460u
#define TSO_HDRS   54u /* Ethernet + IPv4 + TCP */
#define BATCH_DEF  32
#define BATCH_MAX  256
#define TIME_STEP  1024

#define F(bit) (1ull << (bit))
#define RXQ    VIRTIO_NET_RXQ
#define TXQ    VIRTIO_NET_TXQ

/* The command line (--ring included). */
extern struct bench_dev_opts g_opt;

/* One case: nominal size (64, 1500, 65536), frame length, and the header it travels with. */
struct vcase {
    bool tx;
    size_t size, len;
    bool tso;
    struct virtio_net_hdr_v1 hdr;
    uint8_t *frame; /* the frame's bytes (template) */
};

/* The fake driver's view of one queue. */
struct dq {
    uint16_t size, avail_idx, last_used;
    uint64_t desc, avail, used;
};

struct bench {
    uint8_t *ram;
    struct guestmem gm;
    struct evloop *loop;
    struct netdev *nd;
    struct virtio_net *vn;
    struct virtio_mmio *t;
    struct dq q[2];
    const struct vcase *c;
    uint32_t rxbuf;   /* RX buffer size */
    unsigned rx_left; /* buffers of the frame being reaped still to come */
    uint64_t kicks, irqs, be_frames, be_gso_whole;
    bool verify, verified;
    uint8_t *scratch;
};

/* --- virtio_net_bench_dev.c: null backend, guest memory, frames, setup ------------------------ */

/* vnb_put16 ... vnb_get32: little-endian values at guest address gpa (inline: the driver's
 * ring work does them for every frame). */
static inline void vnb_put16(struct bench *b, uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(b->ram + gpa, &le, 2);
}

static inline void vnb_put32(struct bench *b, uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(b->ram + gpa, &le, 4);
}

static inline void vnb_put64(struct bench *b, uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(b->ram + gpa, &le, 8);
}

static inline uint16_t vnb_get16(struct bench *b, uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, b->ram + gpa, 2);
    return le16toh(le);
}

static inline uint32_t vnb_get32(struct bench *b, uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, b->ram + gpa, 4);
    return le32toh(le);
}

/* vnb_wr: writes v to the virtio-mmio register at off. */
void vnb_wr(struct bench *b, uint64_t off, uint32_t v);

/* vnb_set_desc: descriptor i of the table at guest address table. */
static inline void vnb_set_desc(struct bench *b, uint64_t table, uint16_t i, uint64_t addr,
                                uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t d = table + 16ull * i;
    vnb_put64(b, d, addr);
    vnb_put32(b, d + 8, len);
    vnb_put16(b, d + 12, flags);
    vnb_put16(b, d + 14, next);
}

/* vnb_case_init: the case of direction tx (else rx) and nominal size 64, 1500 or 65536, its
 * frame template allocated (the caller frees c->frame). Returns 0, or -1 without memory. */
int vnb_case_init(struct vcase *c, bool tx, size_t size);

/* vnb_open: guest memory, null backend and device for case c, driver initialised with every
 * feature acked. Returns 0, or -1 (said on stderr). */
int vnb_open(struct bench *b, const struct vcase *c);

/* vnb_close: frees what vnb_open made. */
void vnb_close(struct bench *b);

/* --- virtio_net_bench_ring.c: the fake driver's ring work and the reference ----------------- */

/* vnb_tx_setup: TX buffers filled with header + frame, TSO slots' indirect tables written. */
void vnb_tx_setup(struct bench *b);

/* vnb_tx_batch: posts n frames, kicks, runs the device and reaps. Returns 0, or -1 when the
 * device did not complete them all (a stall). */
int vnb_tx_batch(struct bench *b, unsigned n);

/* vnb_run_tx / vnb_run_rx: g_opt.seconds of batches; *pkts: frames done. Returns seconds. */
double vnb_run_tx(struct bench *b, uint64_t *pkts);
double vnb_run_rx(struct bench *b, uint64_t *pkts);

/* vnb_rx_setup: every RX buffer posted and offered. */
void vnb_rx_setup(struct bench *b);

/* vnb_rx_verify: one frame delivered and compared byte for byte; whether it matched. */
bool vnb_rx_verify(struct bench *b);

/* vnb_run_memcpy: the reference, memcpy of the same bytes for g_opt.seconds; *pkts: copies.
 * Returns seconds. */
double vnb_run_memcpy(struct bench *b, uint64_t *pkts);

#endif
