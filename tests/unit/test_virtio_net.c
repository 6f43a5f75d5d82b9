/* Unit tests for the virtio-mmio transport and the virtio-net device: a fake driver in this file
 * programs the registers through virtio_mmio_io() and lays out split rings byte by byte in a
 * fake guest RAM at gpa 0 (as test_virtq.c does); a fake netdev backend records what the device
 * sends and pushes frames to it with netdev_deliver(); kicks reach the device through the event
 * loop, which the tests run in bounded steps. Besides the normal paths (negotiation, TX, RX with
 * and without MRG_RXBUF, EVENT_IDX, reset, link, back-pressure) every applicable item of the
 * malicious-guest checklist (sections 1 and 3) is posted to check that the device processes it
 * safely or refuses it (dropped and counted, or DEVICE_NEEDS_RESET), never touching memory
 * outside guest RAM (the ASan build checks that). */
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/irq.h"
#include "vmm/opts.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F(bit)    (1ull << (bit))
#define MIB       (1024ull * 1024ull)
#define RAM_SIZE  (8 * MIB)
#define MMIO_BASE 0xd0000000ull /* the device's window: not RAM */
#define HDR       sizeof(struct virtio_net_hdr_v1)

#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ

/* Ring placement: room for 1024-entry queues with EVENT_IDX. */
#define RX_DESC  0x10000ull
#define RX_AVAIL 0x14000ull
#define RX_USED  0x15000ull
#define TX_DESC  0x20000ull
#define TX_AVAIL 0x24000ull
#define TX_USED  0x25000ull
#define BUF_BASE 0x100000ull

#define F_NEXT  VIRTQ_DESC_F_NEXT
#define F_WRITE VIRTQ_DESC_F_WRITE
#define F_IND   VIRTQ_DESC_F_INDIRECT

#define ST_ACK  VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV  VIRTIO_STATUS_DRIVER
#define ST_FOK  VIRTIO_STATUS_FEATURES_OK
#define ST_DOK  VIRTIO_STATUS_DRIVER_OK
#define ST_NR   VIRTIO_STATUS_NEEDS_RESET
#define ST_FAIL VIRTIO_STATUS_FAILED
#define ST_LIVE (ST_ACK | ST_DRV | ST_FOK | ST_DOK)

/* What a driver typically acks; tests add MRG_RXBUF, EVENT_IDX, offloads. */
#define FEAT_BASE                                                                                  \
    (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MTU))
#define OFFERED_NO_VNET                                                                            \
    (FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |   \
     F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX))
#define TSO_BITS                                                                                   \
    (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_GUEST_TSO4) |          \
     F(VIRTIO_NET_F_GUEST_TSO6))
#define FEAT_OFFLOADS (FEAT_BASE | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | TSO_BITS)

static const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* --- the fake backend ------------------------------------------------------------------------ */

struct sent_frame {
    bool has_hdr;
    struct virtio_net_hdr_v1 hdr;
    size_t len;
    uint8_t *data;
};

#define BE_MAX_SENT 1024

/* One per test process (Check forks each test). */
static struct {
    atomic_bool eagain;  /* send() returns -EAGAIN while set */
    unsigned send_calls; /* every call, EAGAIN included */
    unsigned nsent;      /* frames accepted */
    unsigned offload_calls;
    unsigned last_offloads;
    void (*hook)(void); /* called at the start of send() (the guest acting meanwhile) */
    struct sent_frame sent[BE_MAX_SENT];
} be;

static int fake_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    bool vnet;
    if (opts_get_bool(o, "vnet", false, &vnet, err, errlen) < 0)
        return -EINVAL;
    netdev_set_caps(nd, vnet ? NETDEV_CAP_VNET_HDR : 0);
    return 0;
}

static int fake_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd;
    be.send_calls++;
    if (be.hook)
        be.hook();
    if (atomic_load(&be.eagain))
        return -EAGAIN;
    if (be.nsent >= BE_MAX_SENT)
        return -ENOBUFS;
    struct sent_frame *s = &be.sent[be.nsent++];
    s->has_hdr = hdr != NULL;
    if (hdr)
        s->hdr = *hdr;
    s->len = len;
    s->data = malloc(len ? len : 1);
    size_t off = 0;
    for (int i = 0; s->data && i < iovcnt && off < len; i++) {
        size_t c = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(s->data + off, iov[i].iov_base, c);
        off += c;
    }
    return 0;
}

static int fake_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    (void)nd;
    be.offload_calls++;
    be.last_offloads = flags;
    return 0;
}

static const struct netdev_backend_ops fake_ops = {
    .type = "fake",
    .summary = "test backend",
    .open = fake_open,
    .send = fake_send,
    .set_rx_offloads = fake_set_rx_offloads,
};

/* --- fixture ------------------------------------------------------------------------------- */

/* The fake driver's view of one queue. */
struct dq {
    uint16_t size;
    uint64_t desc, avail, used;
    uint16_t avail_idx; /* the driver's shadow of avail.idx */
    uint16_t last_used; /* next used entry to read */
    uint16_t next_desc; /* next descriptor slot to fill */
};

static struct {
    uint8_t *ram;
    struct guestmem gm;
    struct evloop *loop;
    struct netdev *nd;
    struct virtio_net *vn;
    struct virtio_mmio *t;
    struct irq_line irq;
    atomic_uint irqs;
    bool event_idx;
    struct dq q[2];
    uint64_t bump;
    uint64_t rx_gpa[VIRTQ_MAX_SIZE]; /* RX head -> its buffer */
    uint32_t rx_len[VIRTQ_MAX_SIZE];
} T;

static void fake_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static void fake_irq_pulse(struct irq_line *l)
{
    (void)l;
    atomic_fetch_add(&T.irqs, 1);
}

static unsigned irqs(void)
{
    return atomic_load(&T.irqs);
}

static void setup_with(bool vnet)
{
    char err[256] = "";
    memset(&be, 0, sizeof(be));
    memset(&T, 0, sizeof(T));
    T.ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(T.ram);
    ck_assert_int_eq(gmem_add_region(&T.gm, 0, RAM_SIZE, T.ram), 0);
    T.loop = evloop_create();
    ck_assert_ptr_nonnull(T.loop);
    struct opts *o = opts_parse(vnet ? "fake,vnet=on" : "fake", "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    T.nd = netdev_create_with(T.loop, &fake_ops, "n0", o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(T.nd != NULL, "netdev_create_with: %s", err);
    T.irq = (struct irq_line){.set = fake_irq_set, .pulse = fake_irq_pulse, .gsi = 5, .irqfd = -1};
    struct virtio_net_params p = {
        .netdev = T.nd,
        .mem = &T.gm,
        .irq = &T.irq,
        .loop = T.loop,
        .base = MMIO_BASE,
        .name = "vnet0",
    };
    memcpy(p.mac, MAC, 6);
    T.vn = virtio_net_create(&p, err, sizeof(err));
    ck_assert_msg(T.vn != NULL, "virtio_net_create: %s", err);
    T.t = virtio_net_transport(T.vn);
    T.bump = BUF_BASE;
}

static void setup(void)
{
    setup_with(false);
}

static void setup_vnet(void)
{
    setup_with(true);
}

static void teardown(void)
{
    virtio_net_destroy(T.vn);
    netdev_destroy(T.nd);
    evloop_destroy(T.loop);
    free(T.ram);
    for (unsigned i = 0; i < be.nsent; i++)
        free(be.sent[i].data);
}

static const struct virtio_net_stats *st(void)
{
    return virtio_net_get_stats(T.vn);
}

/* Runs the loop until it has nothing left to do; returns the busy iterations. A device that
 * keeps itself busy (a busy loop) fails the test instead of hanging it. */
static int pump(void)
{
    for (int i = 0; i < 64; i++) {
        int n = evloop_run_once(T.loop, 0);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            return i;
    }
    ck_abort_msg("the event loop is still busy after 64 iterations");
    return -1;
}

/* --- guest memory and registers ---------------------------------------------------------- */

static void put16(uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(T.ram + gpa, &le, 2);
}

static void put32(uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(T.ram + gpa, &le, 4);
}

static void put64(uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(T.ram + gpa, &le, 8);
}

static uint16_t get16(uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, T.ram + gpa, 2);
    return le16toh(le);
}

static uint32_t get32(uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, T.ram + gpa, 4);
    return le32toh(le);
}

static uint64_t balloc(uint64_t len)
{
    uint64_t gpa = T.bump;
    T.bump = (T.bump + len + 63) & ~63ull;
    ck_assert_uint_le(T.bump, RAM_SIZE);
    return gpa;
}

static uint32_t rdn(uint64_t off, unsigned len)
{
    uint8_t d[8];
    memset(d, 0xee, sizeof(d));
    virtio_mmio_io(T.t, off, d, len, false);
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

static uint32_t rd(uint64_t off)
{
    return rdn(off, 4);
}

static void wrn(uint64_t off, uint64_t v, unsigned len)
{
    uint8_t d[8];
    for (unsigned i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    virtio_mmio_io(T.t, off, d, len, true);
}

static void wr(uint64_t off, uint32_t v)
{
    wrn(off, v, 4);
}

static uint32_t cfg(uint64_t off, unsigned len)
{
    return rdn(VIRTIO_MMIO_CONFIG + off, len);
}

static uint32_t isr(void)
{
    return rd(VMMIO_INTERRUPT_STATUS);
}

static void ack_irq(void)
{
    wr(VMMIO_INTERRUPT_ACK, isr());
}

/* --- the fake driver ------------------------------------------------------------------------ */

static uint64_t read_offered(void)
{
    wr(VMMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = rd(VMMIO_DEVICE_FEATURES);
    wr(VMMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)rd(VMMIO_DEVICE_FEATURES) << 32;
}

static void write_features(uint64_t feat)
{
    wr(VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)feat);
    wr(VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck. */
static bool negotiate(uint64_t feat)
{
    wr(VMMIO_STATUS, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    (void)read_offered();
    write_features(feat);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    T.event_idx = feat & F(VIRTIO_F_EVENT_IDX);
    return rd(VMMIO_STATUS) & ST_FOK;
}

/* Programs queue qi (rings zeroed when they are RAM) and sets QueueReady. */
static void setup_queue_at(unsigned qi, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    struct dq *q = &T.q[qi];
    *q = (struct dq){.size = (uint16_t)size, .desc = desc, .avail = avail, .used = used};
    if (size && size <= VIRTQ_MAX_SIZE) {
        if (gmem_is_ram(&T.gm, desc, 16ull * size))
            memset(T.ram + desc, 0, 16ull * size);
        if (gmem_is_ram(&T.gm, avail, 6 + 2ull * size))
            memset(T.ram + avail, 0, 6 + 2ull * size);
        if (gmem_is_ram(&T.gm, used, 6 + 8ull * size))
            memset(T.ram + used, 0, 6 + 8ull * size);
    }
    wr(VMMIO_QUEUE_SEL, qi);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    wr(VMMIO_QUEUE_NUM, size);
    wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    wr(VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    wr(VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    wr(VMMIO_QUEUE_READY, 1);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 1);
}

static void setup_queues(uint16_t rxsize, uint16_t txsize)
{
    setup_queue_at(RXQ, rxsize, RX_DESC, RX_AVAIL, RX_USED);
    setup_queue_at(TXQ, txsize, TX_DESC, TX_AVAIL, TX_USED);
}

static void driver_ok(void)
{
    wr(VMMIO_STATUS, ST_LIVE);
    pump();
}

/* The whole initialisation; the device must come up live. */
static void init_sized(uint64_t feat, uint16_t rxsize, uint16_t txsize)
{
    ck_assert_msg(negotiate(feat), "features 0x%llx refused", (unsigned long long)feat);
    setup_queues(rxsize, txsize);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(virtio_net_acked(T.vn), feat);
}

static void init(uint64_t feat)
{
    init_sized(feat, 64, 64);
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    uint16_t flags; /* F_WRITE, F_IND */
};

static void set_desc(const struct dq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint64_t d = q->desc + 16ull * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

/* Makes head available: ring entry, then a release barrier, then avail.idx. */
static void publish(unsigned qi, uint16_t head)
{
    struct dq *q = &T.q[qi];
    put16(q->avail + 4 + 2ull * (q->avail_idx % q->size), head);
    atomic_thread_fence(memory_order_release);
    q->avail_idx++;
    put16(q->avail + 2, q->avail_idx);
}

/* Writes a chain into consecutive descriptor slots and publishes it; returns its head. */
static uint16_t post(unsigned qi, const struct seg *s, unsigned n)
{
    struct dq *q = &T.q[qi];
    uint16_t head = q->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((q->next_desc + i) % q->size);
        uint16_t nx = (uint16_t)((q->next_desc + i + 1) % q->size);
        bool more = i + 1 < n;
        set_desc(q, d, s[i].gpa, s[i].len, (uint16_t)(s[i].flags | (more ? F_NEXT : 0)),
                 more ? nx : 0);
    }
    q->next_desc = (uint16_t)((q->next_desc + n) % q->size);
    publish(qi, head);
    return head;
}

static uint16_t avail_event(unsigned qi)
{
    return get16(T.q[qi].used + 4 + 8ull * T.q[qi].size);
}

static void set_used_event(unsigned qi, uint16_t v)
{
    put16(T.q[qi].avail + 4 + 2ull * T.q[qi].size, v);
}

/* The driver's rule for kicking after moving avail.idx from old (§2.7.10, §2.7.7). */
static bool kick_needed(unsigned qi, uint16_t old)
{
    const struct dq *q = &T.q[qi];
    atomic_thread_fence(memory_order_seq_cst);
    if (T.event_idx)
        return (uint16_t)(q->avail_idx - avail_event(qi) - 1) < (uint16_t)(q->avail_idx - old);
    return !(get16(q->used) & VIRTQ_USED_F_NO_NOTIFY);
}

static void kick(unsigned qi)
{
    wr(VMMIO_QUEUE_NOTIFY, qi);
    pump();
}

/* Kicks only when the device asked for it, as a real driver does. */
static void kick_if_needed(unsigned qi, uint16_t old)
{
    if (kick_needed(qi, old))
        kick(qi);
    else
        pump();
}

static uint16_t used_idx(unsigned qi)
{
    return get16(T.q[qi].used + 2);
}

static bool take_used(unsigned qi, uint32_t *id, uint32_t *len)
{
    struct dq *q = &T.q[qi];
    if (q->last_used == used_idx(qi))
        return false;
    uint64_t e = q->used + 4 + 8ull * (q->last_used % q->size);
    *id = get32(e);
    *len = get32(e + 4);
    q->last_used++;
    return true;
}

/* Expects the next used entry to be (id, len). */
static void expect_used(unsigned qi, uint32_t id, uint32_t len)
{
    uint32_t gid, glen;
    ck_assert_msg(take_used(qi, &gid, &glen), "queue %u: no used entry (expected head %u)", qi, id);
    ck_assert_uint_eq(gid, id);
    ck_assert_uint_eq(glen, len);
}

static void expect_no_used(unsigned qi)
{
    ck_assert_uint_eq(used_idx(qi), T.q[qi].last_used);
}

/* --- frames ----------------------------------------------------------------------------------- */

static void make_frame(uint8_t *f, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    if (len >= 14) {
        memcpy(f, MAC, 6);
        f[6] = 0x02;
        f[7] = (uint8_t)seed;
        f[12] = 0x88; /* local experimental ethertype: nothing parses it */
        f[13] = 0xb5;
    }
}

/* A TX chain of one descriptor: header then frame. */
static uint16_t tx_post(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len)
{
    static const struct virtio_net_hdr_v1 zero;
    uint64_t b = balloc(HDR + len);
    memcpy(T.ram + b, h ? h : &zero, HDR);
    memcpy(T.ram + b + HDR, frame, len);
    struct seg s = {b, (uint32_t)(HDR + len), 0};
    return post(TXQ, &s, 1);
}

/* Posts a frame of len bytes with pattern seed and kicks. */
static uint16_t tx_frame(size_t len, unsigned seed)
{
    uint8_t *f = malloc(len ? len : 1);
    make_frame(f, len, seed);
    uint16_t old = T.q[TXQ].avail_idx;
    uint16_t head = tx_post(NULL, f, len);
    free(f);
    kick_if_needed(TXQ, old);
    return head;
}

static void expect_sent(unsigned i, size_t len, unsigned seed)
{
    ck_assert_uint_gt(be.nsent, i);
    uint8_t *f = malloc(len);
    make_frame(f, len, seed);
    ck_assert_uint_eq(be.sent[i].len, len);
    ck_assert_msg(memcmp(be.sent[i].data, f, len) == 0, "sent frame %u: bytes differ", i);
    free(f);
}

/* Posts n writable RX buffers of size bytes each. */
static void post_rx(unsigned n, uint32_t size)
{
    for (unsigned i = 0; i < n; i++) {
        struct seg s = {balloc(size), size, F_WRITE};
        uint16_t head = post(RXQ, &s, 1);
        T.rx_gpa[head] = s.gpa;
        T.rx_len[head] = size;
    }
}

static bool deliver_hdr(const struct virtio_net_hdr_v1 *h, size_t len, unsigned seed)
{
    uint8_t *f = malloc(len);
    make_frame(f, len, seed);
    struct iovec iov = {f, len};
    bool r = netdev_deliver(T.nd, h, &iov, 1, len);
    free(f);
    return r;
}

static bool deliver(size_t len, unsigned seed)
{
    return deliver_hdr(NULL, len, seed);
}

/* Reads one received frame: the first used entry's header, then num_buffers entries in all.
 * Checks every used length against its buffer. Returns the frame length. */
static size_t rx_collect(uint8_t *out, size_t cap, struct virtio_net_hdr_v1 *h, unsigned *nbufs)
{
    uint32_t id, len;
    ck_assert(take_used(RXQ, &id, &len));
    ck_assert_uint_ge(len, HDR);
    ck_assert_uint_le(len, T.rx_len[id]);
    memcpy(h, T.ram + T.rx_gpa[id], HDR);
    unsigned n = le16toh(h->num_buffers);
    ck_assert_uint_ge(n, 1);
    size_t total = len - HDR;
    ck_assert_uint_le(total, cap);
    memcpy(out, T.ram + T.rx_gpa[id] + HDR, total);
    for (unsigned i = 1; i < n; i++) {
        ck_assert(take_used(RXQ, &id, &len));
        ck_assert_uint_le(len, T.rx_len[id]);
        ck_assert_uint_le(total + len, cap);
        memcpy(out + total, T.ram + T.rx_gpa[id], len);
        total += len;
    }
    *nbufs = n;
    return total;
}

static void expect_rx_frame(size_t len, unsigned seed, unsigned nbufs)
{
    uint8_t *got = malloc(NETDEV_MAX_FRAME), *want = malloc(len);
    struct virtio_net_hdr_v1 h;
    unsigned n;
    size_t glen = rx_collect(got, NETDEV_MAX_FRAME, &h, &n);
    make_frame(want, len, seed);
    ck_assert_uint_eq(glen, len);
    ck_assert_uint_eq(n, nbufs);
    ck_assert_msg(memcmp(got, want, len) == 0, "received frame bytes differ");
    free(got);
    free(want);
}

/* ============================================================================================ */
/* Feature negotiation and configuration space                                                  */
/* ============================================================================================ */

START_TEST(test_identity_registers)
{
    ck_assert_uint_eq(rd(VMMIO_MAGIC), 0x74726976);
    ck_assert_uint_eq(rd(VMMIO_VERSION), 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_ID), 1);
    ck_assert_uint_eq(rd(VMMIO_VENDOR_ID), 0x4d56434e);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    ck_assert_uint_eq(rd(VMMIO_INTERRUPT_STATUS), 0);
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    /* No shared memory regions: length -1 (§4.2.2). */
    ck_assert_uint_eq(rd(VMMIO_SHM_LEN_LOW), 0xffffffffu);
    ck_assert_uint_eq(rd(VMMIO_SHM_LEN_HIGH), 0xffffffffu);
    ck_assert_uint_eq(T.t->stats.bad_access, 0);
}
END_TEST

START_TEST(test_offered_features_no_vnet)
{
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET);
    ck_assert_uint_eq(read_offered() & TSO_BITS, 0);
    ck_assert_uint_eq(virtio_net_offered(T.vn), OFFERED_NO_VNET);
    wr(VMMIO_DEVICE_FEATURES_SEL, 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_FEATURES), 0);
    wr(VMMIO_DEVICE_FEATURES_SEL, 0xffffffff);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_FEATURES), 0);
    /* Without the vnet header the guest cannot get TSO: acking it is refused. */
    ck_assert(!negotiate(FEAT_OFFLOADS));
    ck_assert(negotiate(OFFERED_NO_VNET));
}
END_TEST

START_TEST(test_offered_features_vnet)
{
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET | TSO_BITS);
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    /* The tap offloads follow what was acked (set on the loop thread at DRIVER_OK). */
    ck_assert_uint_ge(be.offload_calls, 1);
    ck_assert_uint_eq(be.last_offloads, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
    wr(VMMIO_STATUS, 0);
    pump();
    ck_assert_uint_eq(be.last_offloads, 0);
}
END_TEST

START_TEST(test_features_not_offered_refused)
{
    uint64_t refused0 = T.t->stats.features_refused;
    /* VIRTIO_NET_F_MQ (22) and a high-word bit (33, VIRTIO_F_ACCESS_PLATFORM) are not offered. */
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_MQ)));
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert(!negotiate(FEAT_BASE | F(33)));
    ck_assert(!negotiate(FEAT_BASE | F(63)));
    ck_assert_uint_eq(T.t->stats.features_refused, refused0 + 3);
    /* DRIVER_OK after a refusal is refused too. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_DOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* The driver may try again with a subset without a reset. */
    write_features(FEAT_BASE);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV | ST_FOK);
}
END_TEST

START_TEST(test_feature_dependencies)
{
    /* GUEST_TSO4 without GUEST_CSUM, HOST_TSO4 without CSUM (§5.1.3.1). */
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO4)));
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_CSUM)));
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_CSUM)));
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_CSUM)));
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_CSUM)));
    ck_assert(negotiate(FEAT_OFFLOADS));
}
END_TEST

START_TEST(test_version1_required)
{
    ck_assert(!negotiate(FEAT_BASE & ~F(VIRTIO_F_VERSION_1)));
    ck_assert(!negotiate(0));
    ck_assert(negotiate(F(VIRTIO_F_VERSION_1)));
}
END_TEST

START_TEST(test_features_frozen_after_features_ok)
{
    ck_assert(negotiate(FEAT_BASE));
    uint64_t bad0 = T.t->stats.bad_status;
    write_features(OFFERED_NO_VNET); /* ignored: the set is frozen */
    ck_assert_uint_eq(T.t->stats.bad_status, bad0 + 2);
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(virtio_net_acked(T.vn), FEAT_BASE);
    write_features(OFFERED_NO_VNET);
    ck_assert_uint_eq(virtio_net_acked(T.vn), FEAT_BASE);
    /* And before DRIVER: ignored as well. */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    write_features(FEAT_BASE);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV); /* acked 0: no VERSION_1 */
}
END_TEST

START_TEST(test_config_space)
{
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(cfg(i, 1), MAC[i]);
    ck_assert_uint_eq(cfg(0, 2), 0x5452);
    ck_assert_uint_eq(cfg(2, 2), 0x1200);
    ck_assert_uint_eq(cfg(4, 2), 0x5634);
    ck_assert_uint_eq(cfg(0, 4), 0x12005452);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634); /* mac[4..5], status LINK_UP */
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(cfg(6, 1), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(cfg(7, 1), 0);
    ck_assert_uint_eq(cfg(8, 2), 1); /* max_virtqueue_pairs */
    ck_assert_uint_eq(cfg(10, 2), 1500);
    ck_assert_uint_eq(cfg(10, 1), 1500 & 0xff);
    ck_assert_uint_eq(cfg(11, 1), 1500 >> 8);
    ck_assert_uint_eq(cfg(8, 4), 1u | 1500u << 16);
    /* Past the structure, and at the very end of the window: zeros. */
    ck_assert_uint_eq(cfg(12, 4), 0);
    ck_assert_uint_eq(cfg(0xefc, 4), 0);
    ck_assert_uint_eq(cfg(0xeff, 1), 0);
    /* Writes are ignored; the generation does not move. */
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    wrn(VIRTIO_MMIO_CONFIG, 0xff, 1);
    wrn(VIRTIO_MMIO_CONFIG + 4, 0xffffffff, 4);
    wrn(VIRTIO_MMIO_CONFIG + 10, 9000, 2);
    ck_assert_uint_eq(cfg(0, 4), 0x12005452);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634);
    ck_assert_uint_eq(cfg(10, 2), 1500);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen);
    /* The same while live. */
    init(FEAT_BASE);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634);
    ck_assert_uint_eq(cfg(10, 2), 1500);
}
END_TEST

/* ============================================================================================ */
/* TX                                                                                           */
/* ============================================================================================ */

START_TEST(test_tx_single)
{
    init(FEAT_BASE);
    uint16_t head = tx_frame(60, 1);
    ck_assert_uint_eq(be.nsent, 1);
    expect_sent(0, 60, 1);
    ck_assert(!be.sent[0].has_hdr); /* no vnet header without the capability */
    expect_used(TXQ, head, 0);
    expect_no_used(TXQ);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    ck_assert_uint_eq(isr(), 0);
    ck_assert_uint_eq(st()->tx_packets, 1);
    ck_assert_uint_eq(st()->tx_bytes, 60);
    ck_assert_uint_eq(T.t->stats.kicks[TXQ], 1);
    /* A second one: same again. */
    head = tx_frame(1514, 2);
    expect_sent(1, 1514, 2);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 2);
}
END_TEST

START_TEST(test_tx_chained)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_CSUM));
    /* A UDP frame with a partial checksum: the header reaches the vnet backend unchanged. */
    struct fn_addr a = {{0x52, 0x54, 0, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 4000};
    struct fn_addr b = {{0x52, 0x55, 10, 0, 2, 2}, FN_IP4(10, 0, 2, 2), 53};
    uint8_t payload[1200], frame[1500];
    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13);
    size_t len = fn_udp(frame, sizeof(frame), &a, &b, payload, sizeof(payload), FN_CSUM_PARTIAL);
    ck_assert_uint_gt(len, 1000);
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    h.num_buffers = htole16(0x7777); /* the driver's garbage: not passed on */

    /* Chain 1: header split 5 + 7, frame split over three descriptors. */
    uint64_t h1 = balloc(5), h2 = balloc(7), f1 = balloc(10), f2 = balloc(1000),
             f3 = balloc(len - 1010);
    memcpy(T.ram + h1, &h, 5);
    memcpy(T.ram + h2, (uint8_t *)&h + 5, 7);
    memcpy(T.ram + f1, frame, 10);
    memcpy(T.ram + f2, frame + 10, 1000);
    memcpy(T.ram + f3, frame + 1010, len - 1010);
    struct seg c1[] = {
        {h1, 5, 0}, {h2, 7, 0}, {f1, 10, 0}, {f2, 1000, 0}, {f3, (uint32_t)(len - 1010), 0}};
    uint16_t head1 = post(TXQ, c1, 5);

    /* Chain 2: header in its own descriptor, frame in two; a header/frame boundary inside a
     * descriptor for chain 3 (header + 20 bytes, then the rest). */
    uint64_t g0 = balloc(HDR), g1 = balloc(100), g2 = balloc(len - 100);
    memcpy(T.ram + g0, &h, HDR);
    memcpy(T.ram + g1, frame, 100);
    memcpy(T.ram + g2, frame + 100, len - 100);
    struct seg c2[] = {{g0, HDR, 0}, {g1, 100, 0}, {g2, (uint32_t)(len - 100), 0}};
    uint16_t head2 = post(TXQ, c2, 3);
    uint64_t k0 = balloc(HDR + 20), k1 = balloc(len - 20);
    memcpy(T.ram + k0, &h, HDR);
    memcpy(T.ram + k0 + HDR, frame, 20);
    memcpy(T.ram + k1, frame + 20, len - 20);
    struct seg c3[] = {{k0, (uint32_t)(HDR + 20), 0}, {k1, (uint32_t)(len - 20), 0}};
    uint16_t head3 = post(TXQ, c3, 2);
    kick(TXQ);

    ck_assert_uint_eq(be.nsent, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert(be.sent[i].has_hdr);
        ck_assert_uint_eq(be.sent[i].len, len);
        ck_assert(memcmp(be.sent[i].data, frame, len) == 0);
        ck_assert_uint_eq(be.sent[i].hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
        ck_assert_uint_eq(be.sent[i].hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
        ck_assert_uint_eq(le16toh(be.sent[i].hdr.csum_start), FN_L4_OFF);
        ck_assert_uint_eq(le16toh(be.sent[i].hdr.csum_offset), 6);
        ck_assert_uint_eq(be.sent[i].hdr.num_buffers, 0);
    }
    expect_used(TXQ, head1, 0);
    expect_used(TXQ, head2, 0);
    expect_used(TXQ, head3, 0);
    expect_no_used(TXQ);
    ck_assert_uint_eq(irqs(), 1); /* one batch, one interrupt */
    ck_assert_uint_eq(st()->tx_packets, 3);
    ck_assert_uint_eq(st()->tx_drop_malformed + st()->tx_drop_feature + st()->tx_bad_chain, 0);
}
END_TEST

START_TEST(test_tx_interrupt_suppressed)
{
    init(FEAT_BASE);
    put16(T.q[TXQ].avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t head = tx_frame(100, 3);
    expect_sent(0, 100, 3);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 0);
    ck_assert_uint_eq(isr(), 0);
    put16(T.q[TXQ].avail, 0);
    head = tx_frame(100, 4);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 1);
}
END_TEST

START_TEST(test_tx_budget)
{
    /* More chains than one wake-up's budget: the device yields once and finishes later. */
    init_sized(FEAT_BASE, 64, 512);
    unsigned n = VIRTIO_NET_TX_BUDGET + 44;
    uint8_t f[64];
    for (unsigned i = 0; i < n; i++) {
        make_frame(f, sizeof(f), i);
        tx_post(NULL, f, sizeof(f));
    }
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, n);
    for (unsigned i = 0; i < n; i++)
        expect_sent(i, sizeof(f), i);
    ck_assert_uint_eq(used_idx(TXQ), n);
    ck_assert_uint_eq(st()->tx_budget_yields, 1);
    ck_assert_uint_eq(T.t->stats.kicks[TXQ], 2); /* the guest's and the device's own */
}
END_TEST

START_TEST(test_tx_indirect)
{
    init(FEAT_BASE | F(VIRTIO_F_INDIRECT_DESC));
    uint8_t f[300];
    make_frame(f, sizeof(f), 9);
    uint64_t table = balloc(48), h = balloc(HDR), b1 = balloc(100), b2 = balloc(200);
    memset(T.ram + h, 0, HDR);
    memcpy(T.ram + b1, f, 100);
    memcpy(T.ram + b2, f + 100, 200);
    struct dq ind = {.size = 3, .desc = table};
    set_desc(&ind, 0, h, HDR, F_NEXT, 1);
    set_desc(&ind, 1, b1, 100, F_NEXT, 2);
    set_desc(&ind, 2, b2, 200, 0, 0);
    struct seg s = {table, 48, F_IND};
    uint16_t head = post(TXQ, &s, 1);
    kick(TXQ);
    expect_sent(0, 300, 9);
    expect_used(TXQ, head, 0);

    /* Without the feature the same chain is malformed: returned, never sent. */
    init(FEAT_BASE);
    head = post(TXQ, &s, 1);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(st()->tx_bad_chain, 1);
}
END_TEST

/* ============================================================================================ */
/* RX                                                                                           */
/* ============================================================================================ */

START_TEST(test_rx_single_no_mrg)
{
    init(FEAT_BASE);
    post_rx(4, 2048);
    kick(RXQ);
    ck_assert(deliver(100, 1));
    pump();
    uint32_t id, len;
    ck_assert(take_used(RXQ, &id, &len));
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, HDR + 100);
    struct virtio_net_hdr_v1 h, want = {0};
    memcpy(&h, T.ram + T.rx_gpa[0], HDR);
    want.num_buffers = htole16(1);
    ck_assert(memcmp(&h, &want, HDR) == 0);
    uint8_t f[100];
    make_frame(f, 100, 1);
    ck_assert(memcmp(T.ram + T.rx_gpa[0] + HDR, f, 100) == 0);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* A full-size frame into the next buffer. */
    ck_assert(deliver(1514, 2));
    expect_rx_frame(1514, 2, 1);
    ck_assert_uint_eq(st()->rx_packets, 2);
    ck_assert_uint_eq(st()->rx_bytes, 1614);
    ck_assert_uint_eq(irqs(), 2);
}
END_TEST

START_TEST(test_rx_mergeable)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(8, 1526);
    kick(RXQ);
    ck_assert(deliver(5000, 7));
    /* 12 + 5000 bytes over 1526-byte buffers: 1526, 1526, 1526, 434. */
    static const uint32_t lens[] = {1526, 1526, 1526, 5012 - 3 * 1526};
    struct dq save = T.q[RXQ];
    for (uint32_t i = 0; i < 4; i++)
        expect_used(RXQ, i, lens[i]);
    T.q[RXQ] = save;
    expect_rx_frame(5000, 7, 4);
    struct virtio_net_hdr_v1 h;
    memcpy(&h, T.ram + T.rx_gpa[0], HDR);
    ck_assert_uint_eq(le16toh(h.num_buffers), 4);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(h.gso_type, 0);
    ck_assert_uint_eq(irqs(), 1);
    /* The next small frame takes one buffer, num_buffers 1. */
    ck_assert(deliver(60, 8));
    expect_rx_frame(60, 8, 1);
    /* Exactly filling: 12 + 3040 = 2 buffers of 1526. */
    ck_assert(deliver(3052 - HDR, 9));
    expect_rx_frame(3052 - HDR, 9, 2);
    ck_assert_uint_eq(st()->rx_packets, 3);
}
END_TEST

START_TEST(test_rx_oversize_non_mergeable)
{
    init(FEAT_BASE);
    post_rx(2, 1526);
    kick(RXQ);
    ck_assert(deliver(1526 - HDR + 1, 1)); /* one byte too many: dropped, not held */
    pump();
    ck_assert_uint_eq(st()->rx_drop_oversize, 1);
    expect_no_used(RXQ);
    ck_assert_uint_eq(irqs(), 0);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    /* The buffer stayed available: the next frame lands in it (head 0). */
    ck_assert(deliver(1526 - HDR, 2));
    uint32_t id, len;
    ck_assert(take_used(RXQ, &id, &len));
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, 1526);
    ck_assert_uint_eq(st()->rx_packets, 1);
}
END_TEST

START_TEST(test_rx_held_until_buffers)
{
    init(FEAT_BASE);
    ck_assert(!deliver(200, 1)); /* no buffers: held by the layer */
    ck_assert(!deliver(300, 2)); /* behind it, in order */
    pump();
    ck_assert_uint_eq(st()->rx_wait_buffers, 1);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 2);
    expect_no_used(RXQ);
    uint16_t old = T.q[RXQ].avail_idx;
    post_rx(1, 2048);
    ck_assert(kick_needed(RXQ, old));
    kick(RXQ);
    expect_rx_frame(200, 1, 1);
    expect_no_used(RXQ);
    old = T.q[RXQ].avail_idx;
    post_rx(1, 2048);
    kick_if_needed(RXQ, old);
    expect_rx_frame(300, 2, 1);
    ck_assert_uint_eq(st()->rx_packets, 2);
}
END_TEST

START_TEST(test_rx_held_event_idx)
{
    /* With EVENT_IDX the device must ask for the kick (avail_event) when it waits. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    uint16_t old = T.q[RXQ].avail_idx;
    post_rx(2, 2048);
    kick_if_needed(RXQ, old);
    ck_assert(deliver(100, 1));
    ck_assert(deliver(100, 2));
    ck_assert(!deliver(100, 3)); /* ring empty: held */
    ck_assert_uint_eq(avail_event(RXQ), T.q[RXQ].avail_idx);
    old = T.q[RXQ].avail_idx;
    post_rx(1, 2048);
    ck_assert(kick_needed(RXQ, old));
    kick(RXQ);
    expect_rx_frame(100, 1, 1);
    expect_rx_frame(100, 2, 1);
    expect_rx_frame(100, 3, 1);
}
END_TEST

START_TEST(test_rx_mrg_partial_buffers_event_idx)
{
    /* MRG_RXBUF + EVENT_IDX: some buffers are available but not enough for the frame. The
     * device must ask to be kicked for the next buffer posted, not for ones already posted,
     * or the frame (and every one after it) waits forever. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MRG_RXBUF));
    uint16_t old = T.q[RXQ].avail_idx;
    post_rx(2, 1526);
    kick_if_needed(RXQ, old);
    ck_assert(!deliver(5000, 1)); /* 3052 bytes available, 5012 needed: held */
    pump();
    expect_no_used(RXQ);
    ck_assert_uint_ge(st()->rx_wait_buffers, 1);
    /* The driver adds buffers one at a time and kicks only when asked to. */
    for (unsigned i = 0; i < 2; i++) {
        old = T.q[RXQ].avail_idx;
        post_rx(1, 1526);
        kick_if_needed(RXQ, old);
    }
    expect_rx_frame(5000, 1, 4);
    ck_assert_uint_eq(st()->rx_packets, 1);
}
END_TEST

START_TEST(test_rx_mrg_large_gso)
{
    /* GUEST_TSO4 with MRG_RXBUF: a 30000-byte GSO frame with its header over 20 buffers. */
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(32, 1526);
    kick(RXQ);
    struct virtio_net_hdr_v1 h = {0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr_len = htole16(54);
    h.gso_size = htole16(1448);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);
    ck_assert(deliver_hdr(&h, 30000, 5));
    uint8_t *got = malloc(NETDEV_MAX_FRAME), *want = malloc(30000);
    struct virtio_net_hdr_v1 g;
    unsigned n;
    ck_assert_uint_eq(rx_collect(got, NETDEV_MAX_FRAME, &g, &n), 30000);
    ck_assert_uint_eq(n, 20); /* 19 * 1526 < 30012 <= 20 * 1526 */
    make_frame(want, 30000, 5);
    ck_assert(memcmp(got, want, 30000) == 0);
    h.num_buffers = htole16(20);
    ck_assert(memcmp(&g, &h, HDR) == 0);
    free(got);
    free(want);
    ck_assert_uint_eq(st()->rx_drop_offload, 0);
}
END_TEST

/* ============================================================================================ */
/* EVENT_IDX                                                                                    */
/* ============================================================================================ */

START_TEST(test_event_idx_used_event_tx)
{
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    tx_frame(100, 0); /* the first completion after activation always interrupts */
    ck_assert_uint_eq(irqs(), 1);
    ack_irq();
    set_used_event(TXQ, 3); /* interrupt when entry 3 is published */
    tx_frame(100, 1);
    ck_assert_uint_eq(used_idx(TXQ), 2);
    ck_assert_uint_eq(irqs(), 1);
    tx_frame(100, 2);
    ck_assert_uint_eq(used_idx(TXQ), 3);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), 0);
    tx_frame(100, 3);
    ck_assert_uint_eq(used_idx(TXQ), 4);
    ck_assert_uint_eq(irqs(), 2);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* A batch crossing used_event: one interrupt. */
    set_used_event(TXQ, 5);
    uint16_t old = T.q[TXQ].avail_idx;
    uint8_t f[100];
    for (unsigned i = 0; i < 3; i++) {
        make_frame(f, sizeof(f), 10 + i);
        tx_post(NULL, f, sizeof(f));
    }
    kick_if_needed(TXQ, old);
    ck_assert_uint_eq(used_idx(TXQ), 7);
    ck_assert_uint_eq(irqs(), 3);
    /* used_event 0xffff, never reached: no interrupt at all, let alone a storm. */
    set_used_event(TXQ, 0xffff);
    for (unsigned i = 0; i < 8; i++)
        tx_frame(60, 20 + i);
    ck_assert_uint_eq(used_idx(TXQ), 15);
    ck_assert_uint_eq(irqs(), 3);
    ck_assert_uint_eq(be.nsent, 15);
}
END_TEST

START_TEST(test_event_idx_used_event_rx)
{
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    uint16_t old = T.q[RXQ].avail_idx;
    post_rx(8, 2048);
    kick_if_needed(RXQ, old);
    ck_assert(deliver(100, 0));
    ck_assert_uint_eq(irqs(), 1);
    set_used_event(RXQ, 2);
    ck_assert(deliver(100, 1)); /* used.idx 2 */
    ck_assert_uint_eq(irqs(), 1);
    ck_assert(deliver(100, 2)); /* used.idx 3: entry 2 published */
    ck_assert_uint_eq(irqs(), 2);
    ck_assert(deliver(100, 3));
    ck_assert_uint_eq(irqs(), 2);
    for (unsigned i = 0; i < 4; i++)
        expect_rx_frame(100, i, 1);
}
END_TEST

static bool hook_kick_needed;
static unsigned hook_posted;

/* The guest posting one more frame while the device is inside send(). */
static void hook_post_frame(void)
{
    if (hook_posted)
        return;
    hook_posted++;
    uint8_t f[80];
    make_frame(f, sizeof(f), 50);
    uint16_t old = T.q[TXQ].avail_idx;
    tx_post(NULL, f, sizeof(f));
    hook_kick_needed = kick_needed(TXQ, old);
}

START_TEST(test_event_idx_avail_event)
{
    hook_posted = 0;
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    be.hook = hook_post_frame;
    uint16_t old = T.q[TXQ].avail_idx;
    uint8_t f[80];
    make_frame(f, sizeof(f), 49);
    tx_post(NULL, f, sizeof(f));
    ck_assert(kick_needed(TXQ, old)); /* avail_event 0: the first post kicks */
    kick(TXQ);
    /* The frame posted during processing needed no kick, and was sent in the same run. */
    ck_assert_uint_eq(hook_posted, 1);
    ck_assert(!hook_kick_needed);
    ck_assert_uint_eq(be.nsent, 2);
    expect_sent(0, 80, 49);
    expect_sent(1, 80, 50);
    ck_assert_uint_eq(used_idx(TXQ), 2);
    /* Kicks re-enabled for the next index. */
    ck_assert_uint_eq(avail_event(TXQ), T.q[TXQ].avail_idx);
    be.hook = NULL;
    old = T.q[TXQ].avail_idx;
    tx_post(NULL, f, sizeof(f));
    ck_assert(kick_needed(TXQ, old));
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 3);
    ck_assert_uint_eq(avail_event(TXQ), 3);
}
END_TEST

START_TEST(test_no_notify_flag_during_tx)
{
    /* Without EVENT_IDX the device suppresses kicks with VIRTQ_USED_F_NO_NOTIFY. */
    hook_posted = 0;
    init(FEAT_BASE);
    be.hook = hook_post_frame;
    tx_frame(80, 49);
    ck_assert_uint_eq(hook_posted, 1);
    ck_assert(!hook_kick_needed);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(get16(T.q[TXQ].used), 0); /* kicks wanted again */
}
END_TEST

/* ============================================================================================ */
/* Reset                                                                                        */
/* ============================================================================================ */

START_TEST(test_reset_during_traffic)
{
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 16);
    post_rx(1, 2048);
    kick(RXQ);
    /* TX: the backend is full; one frame is queued in the layer, two wait in the ring. */
    atomic_store(&be.eagain, true);
    uint8_t f[200];
    for (unsigned i = 0; i < 3; i++) {
        make_frame(f, sizeof(f), i);
        tx_post(NULL, f, sizeof(f));
    }
    kick(TXQ);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    /* RX: one frame delivered, the next one held for lack of buffers. */
    ck_assert(deliver(300, 10));
    ck_assert(!deliver(300, 11));
    ck_assert_uint_eq(used_idx(RXQ), 1);

    wr(VMMIO_STATUS, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    ck_assert_uint_eq(isr(), 0);
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    /* Everything the device could write is filled with a pattern. */
    memset(T.ram + RX_DESC, 0xa5, RAM_SIZE - RX_DESC);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    unsigned irqs0 = irqs();
    uint64_t ignored0 = T.t->stats.kicks_ignored;

    /* The backend drains and keeps delivering; the guest kicks. */
    atomic_store(&be.eagain, false);
    netdev_backend_writable(T.nd);
    pump();
    for (unsigned i = 0; i < 20; i++)
        deliver(300, 20 + i);
    netdev_rx_ready(T.nd);
    wr(VMMIO_QUEUE_NOTIFY, RXQ);
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    pump();
    for (unsigned i = 0; i < 5; i++)
        ck_assert(deliver(300, 40 + i));
    pump();

    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written after reset");
    free(snap);
    ck_assert_uint_eq(irqs(), irqs0);
    ck_assert_uint_eq(isr(), 0);
    ck_assert_uint_ge(T.t->stats.kicks_ignored, ignored0 + 3); /* 2 kicks and tx_ready's */
    ck_assert_uint_eq(be.nsent, 1); /* only the frame the layer had taken before the reset */
    expect_sent(0, 200, 0);
    /* The frame held before the reset was purged from the layer (checklist 4), the 25 that
     * came after were refused by the device. */
    ck_assert_uint_eq(netdev_get_stats(T.nd)->drops[NETDEV_DROP_PURGED], 1);
    ck_assert_uint_eq(st()->rx_drop_not_ready, 25);

    /* A full re-initialisation works. */
    memset(T.ram, 0, RAM_SIZE);
    T.bump = BUF_BASE;
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 16);
    post_rx(2, 2048);
    kick(RXQ);
    ck_assert(deliver(400, 60));
    expect_rx_frame(400, 60, 1);
    uint16_t head = tx_frame(120, 61);
    expect_used(TXQ, head, 0);
    expect_sent(1, 120, 61);
}
END_TEST

/* The same with the event loop on its own thread, as in nicvm: the reset (a vCPU) races with
 * the loop delivering frames and processing kicks. */
static struct {
    struct evloop_timer *timer;
    atomic_bool stop;
    atomic_uint delivered;
} R;

static void reset_timer_cb(void *opaque)
{
    (void)opaque;
    if (atomic_load(&R.stop))
        return;
    uint8_t f[300];
    make_frame(f, sizeof(f), atomic_load(&R.delivered));
    struct iovec iov = {f, sizeof(f)};
    netdev_deliver(T.nd, NULL, &iov, 1, sizeof(f));
    netdev_rx_ready(T.nd);
    atomic_fetch_add(&R.delivered, 1);
    evloop_timer_arm(R.timer, 100 * 1000);
}

static void *loop_thread(void *arg)
{
    (void)arg;
    evloop_run(T.loop);
    return NULL;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded: 10 s) until the loop thread has delivered n frames. */
static void wait_delivered(unsigned n)
{
    for (unsigned i = 0; i < 10000 && atomic_load(&R.delivered) < n; i++)
        sleep_ms(1);
    ck_assert_uint_ge(atomic_load(&R.delivered), n);
}

START_TEST(test_reset_threaded)
{
    memset(&R, 0, sizeof(R));
    init_sized(FEAT_BASE | F(VIRTIO_F_EVENT_IDX), 256, 256);
    post_rx(128, 2048);
    kick(RXQ);
    R.timer = evloop_timer_new(T.loop, reset_timer_cb, NULL);
    ck_assert_ptr_nonnull(R.timer);
    ck_assert_int_eq(evloop_timer_arm(R.timer, 100 * 1000), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, NULL), 0);

    uint8_t f[500];
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = 0; i < 16; i++) {
            make_frame(f, sizeof(f), round * 16 + i);
            tx_post(NULL, f, sizeof(f));
        }
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        sleep_ms(1);
    }
    wait_delivered(20);
    wr(VMMIO_STATUS, 0); /* waits for queue work in progress */
    memset(T.ram + RX_DESC, 0x5a, RAM_SIZE - RX_DESC);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    unsigned at_reset = atomic_load(&R.delivered);
    for (unsigned i = 0; i < 30; i++) {
        wr(VMMIO_QUEUE_NOTIFY, RXQ);
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        sleep_ms(1);
    }
    wait_delivered(at_reset + 20);
    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written after reset");
    free(snap);

    atomic_store(&R.stop, true);
    evloop_stop(T.loop);
    pthread_join(th, NULL);
    evloop_timer_free(R.timer);
    ck_assert_uint_gt(st()->rx_drop_not_ready, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
}
END_TEST

/* ============================================================================================ */
/* Link status                                                                                  */
/* ============================================================================================ */

START_TEST(test_link_status)
{
    init(FEAT_BASE);
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    netdev_set_link(T.nd, false);
    ck_assert_uint_eq(cfg(6, 2), 0);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(irqs(), 1);
    wr(VMMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(isr(), 0);
    /* Frames sent while the link is down are dropped by the layer; heads come back. */
    uint16_t head = tx_frame(100, 1);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(st()->tx_drop_backend, 1);
    ack_irq();
    netdev_set_link(T.nd, false); /* no change: nothing */
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    netdev_set_link(T.nd, true);
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 2);
    ck_assert_uint_eq(isr(), VIRTIO_INT_CONFIG);
    tx_frame(100, 2);
    expect_sent(0, 100, 2);
}
END_TEST

START_TEST(test_link_change_before_driver_ok)
{
    /* The driver reads the configuration while initialising: a change must move the
     * generation even before DRIVER_OK (§4.2.2), without an interrupt. */
    ck_assert(negotiate(FEAT_BASE));
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    netdev_set_link(T.nd, false);
    ck_assert_uint_eq(cfg(6, 2), 0);
    ck_assert_uint_ne(rd(VMMIO_CONFIG_GENERATION), gen);
    ck_assert_uint_eq(irqs(), 0);
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(cfg(6, 2), 0);
}
END_TEST

/* ============================================================================================ */
/* Back-pressure                                                                                */
/* ============================================================================================ */

START_TEST(test_tx_eagain_resume)
{
    init(FEAT_BASE);
    atomic_store(&be.eagain, true);
    uint8_t f[300];
    for (unsigned i = 0; i < 5; i++) {
        make_frame(f, sizeof(f), i);
        tx_post(NULL, f, sizeof(f));
    }
    kick(TXQ);
    ck_assert_uint_eq(be.send_calls, 1); /* one attempt, then the device waits */
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_ge(st()->tx_wait_backend, 1);
    unsigned irqs0 = irqs();
    /* Kicks while the backend is full: bounded work, no new sends, no interrupts. */
    for (unsigned i = 0; i < 10; i++) {
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        ck_assert_int_le(pump(), 2);
    }
    ck_assert_int_eq(evloop_run_once(T.loop, 0), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_eq(irqs(), irqs0);
    /* Still full when the backend says writable: one more try, nothing lost. */
    netdev_backend_writable(T.nd);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(be.send_calls, 2);
    ck_assert_uint_eq(be.nsent, 0);
    /* Room again. */
    atomic_store(&be.eagain, false);
    netdev_backend_writable(T.nd);
    pump();
    ck_assert_uint_eq(be.nsent, 5);
    for (unsigned i = 0; i < 5; i++)
        expect_sent(i, 300, i);
    ck_assert_uint_eq(used_idx(TXQ), 5);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->tx_packets, 5);
}
END_TEST

START_TEST(test_tx_ring_full_eagain)
{
    init_sized(FEAT_BASE, 64, 8);
    atomic_store(&be.eagain, true);
    uint8_t f[200];
    for (unsigned i = 0; i < 8; i++) {
        make_frame(f, sizeof(f), i);
        tx_post(NULL, f, sizeof(f));
    }
    kick(TXQ);
    ck_assert_uint_eq(used_idx(TXQ), 1);
    ck_assert_uint_eq(irqs(), 1);
    for (unsigned i = 0; i < 50; i++) {
        wr(VMMIO_QUEUE_NOTIFY, TXQ);
        ck_assert_int_le(pump(), 2);
    }
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(irqs(), 1);
    /* The driver reuses the returned slot: the ring is full again. */
    uint32_t id, len;
    ck_assert(take_used(TXQ, &id, &len));
    make_frame(f, sizeof(f), 8);
    T.q[TXQ].next_desc = (uint16_t)id;
    tx_post(NULL, f, sizeof(f));
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(be.send_calls, 1);

    atomic_store(&be.eagain, false);
    netdev_backend_writable(T.nd);
    pump();
    ck_assert_uint_eq(be.nsent, 9);
    for (unsigned i = 0; i < 9; i++)
        expect_sent(i, 200, i);
    ck_assert_uint_eq(used_idx(TXQ), 9);
}
END_TEST

/* ============================================================================================ */
/* Transport: hostile register accesses                                                         */
/* ============================================================================================ */

START_TEST(test_bad_widths)
{
    static const uint64_t regs[] = {VMMIO_MAGIC,  VMMIO_DEVICE_FEATURES,  VMMIO_QUEUE_NUM_MAX,
                                    VMMIO_STATUS, VMMIO_INTERRUPT_STATUS, VMMIO_CONFIG_GENERATION};
    uint64_t bad = T.t->stats.bad_access;
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        static const unsigned widths[] = {1, 2, 8};
        for (unsigned w = 0; w < 3; w++) {
            uint8_t d[8];
            memset(d, 0xff, sizeof(d));
            virtio_mmio_io(T.t, regs[i], d, widths[w], false);
            for (unsigned k = 0; k < widths[w]; k++)
                ck_assert_uint_eq(d[k], 0);
            n++;
        }
        for (unsigned off = 1; off < 4; off++) {
            ck_assert_uint_eq(rd(regs[i] + off), 0); /* unaligned 32-bit */
            n++;
        }
    }
    ck_assert_uint_eq(T.t->stats.bad_access, bad + n);
    /* Writes of the wrong width or alignment change nothing. */
    wrn(VMMIO_STATUS, ST_ACK, 1);
    wrn(VMMIO_STATUS, ST_ACK, 2);
    wrn(VMMIO_STATUS, ST_ACK, 8);
    wrn(VMMIO_STATUS + 1, ST_ACK, 4);
    wrn(VMMIO_STATUS - 2, (uint64_t)ST_ACK << 16, 4);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wrn(VMMIO_DRIVER_FEATURES, FEAT_BASE, 8);
    wrn(VMMIO_DRIVER_FEATURES_SEL, 1, 2);
    wrn(VMMIO_DRIVER_FEATURES, 1, 1); /* would be VERSION_1 in word 1 */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV); /* nothing was acked */
    ck_assert_uint_eq(T.t->stats.bad_access, bad + n + 8);

    /* Kicks and interrupt ACKs of the wrong width are ignored too. */
    init(FEAT_BASE);
    uint8_t f[64];
    make_frame(f, sizeof(f), 1);
    tx_post(NULL, f, sizeof(f));
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 2);
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 1);
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 8);
    wrn(VMMIO_QUEUE_NOTIFY + 2, TXQ, 4);
    pump();
    ck_assert_uint_eq(be.nsent, 0);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    wrn(VMMIO_INTERRUPT_ACK, 0xff, 1);
    wrn(VMMIO_INTERRUPT_ACK, 0xffffffffffffffffull, 8);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    /* Queue registers of the wrong width are ignored (checked on the next setup). */
    ck_assert(negotiate(FEAT_BASE));
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 64);
    wrn(VMMIO_QUEUE_NUM, 3, 2);
    wrn(VMMIO_QUEUE_DESC_LOW, 0x12345, 8);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 64);
    ck_assert_uint_eq(T.t->qcfg[TXQ].desc, 0);
}
END_TEST

START_TEST(test_undefined_and_readonly)
{
    /* Reads of undefined offsets and of write-only registers: 0. */
    /* Undefined offsets, then write-only registers. */
    static const uint64_t undef[] = {0x018, 0x01c, 0x028, 0x03c, 0x040, 0x048, 0x054, 0x068,
                                     0x074, 0x0c0, 0x0f8, 0x038, 0x050, 0x064, 0x080};
    uint64_t bad = T.t->stats.bad_access;
    for (unsigned i = 0; i < sizeof(undef) / sizeof(undef[0]); i++)
        ck_assert_uint_eq(rd(undef[i]), 0);
    ck_assert_uint_eq(T.t->stats.bad_access, bad + sizeof(undef) / sizeof(undef[0]));

    init(FEAT_BASE);
    netdev_set_link(T.nd, false); /* a config interrupt pending */
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    uint64_t ro = T.t->stats.ro_write;
    /* Magic, version, device and vendor ID, device features, QueueNumMax, InterruptStatus,
     * ConfigGeneration, SHMLenLow, SHMBaseHigh, and two undefined offsets. */
    static const uint64_t ro_regs[] = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x034,
                                       0x060, 0x0fc, 0x0b0, 0x0bc, 0x018, 0x0f8};
    for (unsigned i = 0; i < sizeof(ro_regs) / sizeof(ro_regs[0]); i++)
        wr(ro_regs[i], 0);
    ck_assert_uint_eq(T.t->stats.ro_write, ro + sizeof(ro_regs) / sizeof(ro_regs[0]));
    ck_assert_uint_eq(rd(VMMIO_MAGIC), 0x74726976);
    ck_assert_uint_eq(rd(VMMIO_VERSION), 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_ID), 1);
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET);
    wr(VMMIO_QUEUE_SEL, 0);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    ck_assert_uint_eq(rd(VMMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    netdev_set_link(T.nd, true);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_queue_sel_out_of_range)
{
    ck_assert(negotiate(FEAT_BASE));
    static const uint32_t sels[] = {2, 3, 4, 5, 0x100, 0xffff, 0x10000, 0xffffffff};
    uint64_t late = T.t->stats.late_queue_write;
    for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
        wr(VMMIO_QUEUE_SEL, sels[i]);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), 0);
        wr(VMMIO_QUEUE_NUM, 64);
        wr(VMMIO_QUEUE_DESC_LOW, 0x40000);
        wr(VMMIO_QUEUE_DRIVER_LOW, 0x41000);
        wr(VMMIO_QUEUE_DEVICE_LOW, 0x42000);
        wr(VMMIO_QUEUE_READY, 1);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    ck_assert_uint_eq(T.t->stats.late_queue_write, late + 5 * sizeof(sels) / sizeof(sels[0]));
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->qcfg[q].ready);
    /* The real queues are unaffected and the device comes up. */
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    for (unsigned q = 2; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->vq[q].ready);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_queue_notify_bogus)
{
    init(FEAT_BASE);
    uint64_t ignored = T.t->stats.kicks_ignored;
    static const uint32_t vals[] = {2, 3, 4, 0x10000, 0x80000000u, 0xffffffffu};
    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        wr(VMMIO_QUEUE_NOTIFY, vals[i]);
    ck_assert_int_le(pump(), 1);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ignored + sizeof(vals) / sizeof(vals[0]));
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(irqs(), 0);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

/* With the queues set up, sets DRIVER_OK and expects the device to refuse the configuration:
 * DEVICE_NEEDS_RESET, a config interrupt, nothing processed. */
static void expect_refused_at_driver_ok(void)
{
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    unsigned irqs0 = irqs();
    wr(VMMIO_STATUS, ST_LIVE);
    pump();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(isr() & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    ck_assert_uint_eq(irqs(), irqs0 + 1);
    ck_assert(!virtio_mmio_driver_ok(T.t));
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->vq[q].ready); /* no queue left active */
    /* Kicks and frames are refused; nothing is written to the rings. */
    uint64_t nr = st()->rx_drop_not_ready, ign = T.t->stats.kicks_ignored;
    wr(VMMIO_QUEUE_NOTIFY, RXQ);
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 2);
    ck_assert(deliver(100, 1));
    ck_assert_uint_eq(st()->rx_drop_not_ready, nr + 1);
    ck_assert_uint_eq(be.nsent, 0);
    /* Setting DRIVER_OK again does not retry the activation. */
    wr(VMMIO_STATUS, ST_LIVE);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
}

static void try_queue(unsigned qi, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_F_EVENT_IDX)));
    if (qi == RXQ) {
        setup_queue_at(RXQ, size, desc, avail, used);
        setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
    } else {
        setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
        setup_queue_at(TXQ, size, desc, avail, used);
    }
    expect_refused_at_driver_ok();
}

START_TEST(test_queue_num_invalid)
{
    static const uint32_t sizes[] = {0, 3, 6, 1000, 2048, 4096, 0x10000, 0x10040, 0xffffffffu};
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        try_queue(i % 2, sizes[i], i % 2 ? TX_DESC : RX_DESC, i % 2 ? TX_AVAIL : RX_AVAIL,
                  i % 2 ? TX_USED : RX_USED);
    }
    /* Valid extremes work: 1 and QueueNumMax. */
    init_sized(FEAT_BASE, 1, VIRTQ_MAX_SIZE);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
    post_rx(1, 2048);
    kick(RXQ);
    ck_assert(deliver(100, 2));
    expect_rx_frame(100, 2, 1);
}
END_TEST

START_TEST(test_queue_ready_no_addresses)
{
    for (unsigned qi = 0; qi < 2; qi++) {
        ck_assert(negotiate(FEAT_BASE));
        if (qi == TXQ)
            setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
        wr(VMMIO_QUEUE_SEL, qi);
        wr(VMMIO_QUEUE_NUM, 64);
        wr(VMMIO_QUEUE_READY, 1);
        if (qi == RXQ)
            setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
        expect_refused_at_driver_ok();
    }
    /* Only the descriptor table given. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 64);
    wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)TX_DESC);
    wr(VMMIO_QUEUE_READY, 1);
    expect_refused_at_driver_ok();
}
END_TEST

START_TEST(test_queue_write_after_driver_ok)
{
    init(FEAT_BASE);
    uint64_t late = T.t->stats.late_queue_write;
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        wr(VMMIO_QUEUE_NUM, 8);
        wr(VMMIO_QUEUE_DESC_LOW, 0x40000);
        wr(VMMIO_QUEUE_DESC_HIGH, 1);
        wr(VMMIO_QUEUE_DRIVER_LOW, 0x41000);
        wr(VMMIO_QUEUE_DRIVER_HIGH, 1);
        wr(VMMIO_QUEUE_DEVICE_LOW, 0x42000);
        wr(VMMIO_QUEUE_DEVICE_HIGH, 1);
        wr(VMMIO_QUEUE_READY, 0);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 1);
    }
    ck_assert_uint_eq(T.t->stats.late_queue_write, late + 16);
    ck_assert_uint_eq(T.t->qcfg[TXQ].desc, TX_DESC);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 64);
    ck_assert_uint_eq(T.t->vq[TXQ].desc_gpa, TX_DESC);
    ck_assert_uint_eq(T.t->vq[TXQ].size, 64);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    /* The queues keep working where they were. */
    uint16_t head = tx_frame(100, 1);
    expect_sent(0, 100, 1);
    expect_used(TXQ, head, 0);
    post_rx(1, 2048);
    kick(RXQ);
    ck_assert(deliver(100, 2));
    expect_rx_frame(100, 2, 1);
    /* Before FEATURES_OK, too. */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 8);
    wr(VMMIO_QUEUE_READY, 1);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 0);
}
END_TEST

START_TEST(test_ring_addresses_bad)
{
    struct {
        unsigned q;
        uint32_t size;
        uint64_t desc, avail, used;
    } cases[] = {
        /* unaligned */
        {TXQ, 64, TX_DESC + 8, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL + 1, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RX_USED + 2},
        /* overlapping: within a queue, and across queues */
        {RXQ, 64, RX_DESC, RX_DESC + 0x100, RX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RX_AVAIL},
        {TXQ, 64, TX_DESC, TX_AVAIL, TX_DESC + 0x3f0},
        {TXQ, 64, RX_DESC, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL, RX_USED},
        {TXQ, 64, TX_DESC, RX_USED + 0x100, TX_USED},
        /* outside RAM, straddling its end, in the device's window, above 4 GiB */
        {TXQ, 64, 0x40000000, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, RAM_SIZE - 0x80, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RAM_SIZE - 0x100},
        {TXQ, 64, RAM_SIZE - 0x200, TX_AVAIL, TX_USED},
        {TXQ, 64, MMIO_BASE, TX_AVAIL, TX_USED},
        {RXQ, 64, RX_DESC, MMIO_BASE + 0x100, RX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL, MMIO_BASE + VMMIO_QUEUE_NOTIFY},
        {TXQ, 64, TX_DESC | (1ull << 32), TX_AVAIL, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, 0xfffffffffffff000ull},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *snap = malloc(RAM_SIZE);
        ck_assert(negotiate(FEAT_BASE | F(VIRTIO_F_EVENT_IDX)));
        if (cases[i].q == RXQ) {
            setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
            setup_queue_at(RXQ, cases[i].size, cases[i].desc, cases[i].avail, cases[i].used);
        } else {
            setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
            setup_queue_at(TXQ, cases[i].size, cases[i].desc, cases[i].avail, cases[i].used);
        }
        memcpy(snap, T.ram, RAM_SIZE);
        expect_refused_at_driver_ok();
        ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "case %u: guest memory written", i);
        free(snap);
    }
    /* The same rings placed properly work. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_status_misuse)
{
    uint64_t bad = T.t->stats.bad_status;
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    /* DRIVER_OK without FEATURES_OK. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_DOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert_uint_eq(T.t->stats.bad_status, bad + 1);
    /* Clearing bits. */
    wr(VMMIO_STATUS, ST_ACK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    wr(VMMIO_STATUS, ST_DRV);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* Undefined bits (16, 32, and above 8 bits). */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x10);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x20);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x100);
    wr(VMMIO_STATUS, 0xffffffff);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert_uint_eq(T.t->stats.bad_status, bad + 7);
    /* The driver cannot set NEEDS_RESET. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_NR);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* FEATURES_OK without DRIVER: refused (reads back clear). */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK);

    /* A kick before DRIVER_OK is ignored; the chain waits for the live device's first kick. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queues(64, 64);
    uint8_t f[100];
    make_frame(f, sizeof(f), 1);
    tx_post(NULL, f, sizeof(f));
    uint64_t ign = T.t->stats.kicks_ignored;
    kick(TXQ);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 1);
    ck_assert_uint_eq(be.nsent, 0);
    expect_no_used(TXQ);
    ck_assert(deliver(100, 2)); /* RX before DRIVER_OK: dropped */
    ck_assert_uint_eq(st()->rx_drop_not_ready, 1);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);

    /* FAILED after DRIVER_OK: the device stops; kicks and frames are refused. */
    post_rx(2, 2048);
    kick(RXQ);
    wr(VMMIO_STATUS, ST_LIVE | ST_FAIL);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_FAIL);
    tx_post(NULL, f, sizeof(f));
    ign = T.t->stats.kicks_ignored;
    kick(TXQ);
    kick(RXQ);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 2);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(deliver(100, 3));
    ck_assert_uint_eq(st()->rx_drop_not_ready, 2);
    expect_no_used(RXQ);
    /* FAILED set during negotiation: DRIVER_OK then activates nothing. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queues(64, 64);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK | ST_FAIL);
    wr(VMMIO_STATUS, ST_LIVE | ST_FAIL);
    ck_assert(!virtio_mmio_driver_ok(T.t));
    tx_post(NULL, f, sizeof(f));
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    /* Reset recovers. */
    init(FEAT_BASE);
    tx_frame(100, 4);
    expect_sent(1, 100, 4);
}
END_TEST

/* ============================================================================================ */
/* virtio-net: hostile TX                                                                       */
/* ============================================================================================ */

START_TEST(test_tx_short_and_malformed_chains)
{
    init(FEAT_BASE);
    uint8_t f[64];
    make_frame(f, sizeof(f), 1);
    uint64_t b = balloc(HDR + 64);
    memset(T.ram + b, 0, HDR);
    memcpy(T.ram + b + HDR, f, 64);
    uint16_t heads[16];
    unsigned n = 0;
    struct seg s;
    /* Shorter than the header. */
    s = (struct seg){b, 8, 0};
    heads[n++] = post(TXQ, &s, 1);
    /* Header only, one byte, 13 bytes (under an Ethernet header). */
    s = (struct seg){b, HDR, 0};
    heads[n++] = post(TXQ, &s, 1);
    s = (struct seg){b, HDR + 1, 0};
    heads[n++] = post(TXQ, &s, 1);
    s = (struct seg){b, HDR + 13, 0};
    heads[n++] = post(TXQ, &s, 1);
    /* Header split with its second half missing. */
    struct seg two[] = {{b, 6, 0}, {b + 6, 0, 0}};
    heads[n++] = post(TXQ, two, 2);
    /* Device-writable only (no readable bytes at all). */
    s = (struct seg){b, HDR + 64, F_WRITE};
    heads[n++] = post(TXQ, &s, 1);
    /* Outside RAM, in the device's window, straddling the end of RAM, wrapping. */
    s = (struct seg){0x40000000, HDR + 64, 0};
    heads[n++] = post(TXQ, &s, 1);
    s = (struct seg){MMIO_BASE, HDR + 64, 0};
    heads[n++] = post(TXQ, &s, 1);
    s = (struct seg){RAM_SIZE - 10, HDR + 64, 0};
    heads[n++] = post(TXQ, &s, 1);
    s = (struct seg){0xfffffffffffffff0ull, 0x20, 0};
    heads[n++] = post(TXQ, &s, 1);
    /* Length 0xffffffff. */
    s = (struct seg){b, 0xffffffffu, 0};
    heads[n++] = post(TXQ, &s, 1);
    /* A descriptor chained to itself. */
    uint16_t self = T.q[TXQ].next_desc;
    set_desc(&T.q[TXQ], self, b, HDR + 64, F_NEXT, self);
    T.q[TXQ].next_desc++;
    publish(TXQ, self);
    heads[n++] = self;
    /* A next index past the queue size. */
    uint16_t far = T.q[TXQ].next_desc;
    set_desc(&T.q[TXQ], far, b, HDR + 64, F_NEXT, 64);
    T.q[TXQ].next_desc++;
    publish(TXQ, far);
    heads[n++] = far;
    /* Readable after writable. */
    struct seg mix[] = {{b, HDR, F_WRITE}, {b + HDR, 64, 0}};
    heads[n++] = post(TXQ, mix, 2);
    /* Then one good frame: 14 bytes. */
    s = (struct seg){b, HDR + 14, 0};
    heads[n++] = post(TXQ, &s, 1);
    kick(TXQ);

    for (unsigned i = 0; i < n; i++)
        expect_used(TXQ, heads[i], 0);
    expect_no_used(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(be.sent[0].len, 14);
    ck_assert(memcmp(be.sent[0].data, f, 14) == 0);
    ck_assert_uint_eq(st()->tx_drop_malformed, 6);
    ck_assert_uint_eq(st()->tx_bad_chain, 8);
    ck_assert_uint_eq(st()->tx_packets, 1);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(irqs(), 1);
}
END_TEST

START_TEST(test_tx_oversize)
{
    init(FEAT_BASE);
    size_t max = NETDEV_MAX_FRAME;
    uint8_t *f = malloc(max + 1);
    make_frame(f, max + 1, 3);
    /* max + 1 bytes over four descriptors: dropped. */
    uint64_t h = balloc(HDR), d = balloc(max + 1);
    memset(T.ram + h, 0, HDR);
    memcpy(T.ram + d, f, max + 1);
    size_t q4 = (max + 1) / 4;
    struct seg big[] = {{h, HDR, 0},
                        {d, (uint32_t)q4, 0},
                        {d + q4, (uint32_t)q4, 0},
                        {d + 2 * q4, (uint32_t)q4, 0},
                        {d + 3 * q4, (uint32_t)(max + 1 - 3 * q4), 0}};
    uint16_t h1 = post(TXQ, big, 5);
    /* Exactly the largest frame: sent. */
    big[4].len--;
    uint16_t h2 = post(TXQ, big, 5);
    /* Way over: 1 MiB in one descriptor. */
    struct seg huge = {BUF_BASE, (uint32_t)MIB, 0};
    uint16_t h3 = post(TXQ, &huge, 1);
    kick(TXQ);
    expect_used(TXQ, h1, 0);
    expect_used(TXQ, h2, 0);
    expect_used(TXQ, h3, 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(be.sent[0].len, max);
    ck_assert(memcmp(be.sent[0].data, f, max) == 0);
    ck_assert_uint_eq(st()->tx_drop_malformed, 2);
    free(f);
}
END_TEST

/* Sends frame with header h; expects it dropped (counted in *counter), its head returned and
 * nothing reaching the backend. */
static void expect_tx_dropped(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len,
                              const uint64_t *counter, const char *what)
{
    uint64_t before = *counter;
    unsigned calls = be.send_calls;
    uint16_t head = tx_post(h, frame, len);
    kick(TXQ);
    ck_assert_msg(*counter == before + 1, "%s: not counted", what);
    ck_assert_msg(be.send_calls == calls, "%s: reached the backend", what);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
}

static size_t gso_frame(uint8_t *f, size_t cap, size_t payload, struct virtio_net_hdr_v1 *h)
{
    static uint8_t rxbuf[16];
    static uint8_t data[65536];
    struct fn_addr a = {{0x52, 0x54, 0, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 40000};
    struct fn_addr b = {{0x52, 0x55, 10, 0, 2, 2}, FN_IP4(10, 0, 2, 2), 5001};
    struct fn_tcp t;
    fn_tcp_init(&t, &a, 1000, rxbuf, sizeof(rxbuf));
    t.peer = b;
    for (size_t i = 0; i < payload; i++)
        data[i] = (uint8_t)(i * 3);
    return fn_tcp_gso(&t, f, cap, data, payload, 1448, h);
}

START_TEST(test_tx_bogus_headers)
{
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    static uint8_t f[70000];
    struct virtio_net_hdr_v1 good, h;
    size_t len = gso_frame(f, sizeof(f), 8000, &good);
    ck_assert_uint_gt(len, 8000);
    const uint64_t *mal = &st()->tx_drop_malformed, *feat = &st()->tx_drop_feature;

    /* The good GSO frame goes through, header intact. */
    uint16_t head = tx_post(&good, f, len);
    kick(TXQ);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(be.sent[0].has_hdr);
    ck_assert(memcmp(&be.sent[0].hdr, &good, HDR) == 0);
    ck_assert_uint_eq(be.sent[0].len, len);

    h = good;
    h.gso_type = 0x42;
    expect_tx_dropped(&h, f, len, feat, "unknown gso_type");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    expect_tx_dropped(&h, f, len, feat, "UFO");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
    expect_tx_dropped(&h, f, len, feat, "ECN without HOST_ECN");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_ECN;
    expect_tx_dropped(&h, f, len, feat, "ECN alone");
    h = good;
    h.flags = 0;
    expect_tx_dropped(&h, f, len, mal, "GSO without NEEDS_CSUM");
    h = good;
    h.csum_start = htole16((uint16_t)len);
    expect_tx_dropped(&h, f, len, mal, "csum_start past the frame");
    h = good;
    h.csum_offset = htole16((uint16_t)(len - 34 - 1));
    expect_tx_dropped(&h, f, len, mal, "csum_offset past the frame");
    h = good;
    h.hdr_len = htole16((uint16_t)(len + 1));
    expect_tx_dropped(&h, f, len, mal, "hdr_len past the frame (GSO)");
    h = good;
    h.hdr_len = 0;
    expect_tx_dropped(&h, f, len, mal, "hdr_len 0 (GSO)");
    h = good;
    h.gso_size = 0;
    expect_tx_dropped(&h, f, len, mal, "gso_size 0");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* an IPv4 frame */
    expect_tx_dropped(&h, f, len, mal, "TCPV6 header on an IPv4 frame");

    /* Without GSO: a checksum request past the frame, hdr_len past the frame. */
    uint8_t small[100];
    make_frame(small, sizeof(small), 4);
    h = (struct virtio_net_hdr_v1){0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = htole16(90);
    h.csum_offset = htole16(9);
    expect_tx_dropped(&h, small, sizeof(small), mal, "NEEDS_CSUM past the frame");
    h = (struct virtio_net_hdr_v1){0};
    h.hdr_len = htole16(101);
    expect_tx_dropped(&h, small, sizeof(small), mal, "hdr_len past the frame");
    h = (struct virtio_net_hdr_v1){0};
    h.hdr_len = htole16(0xffff);
    expect_tx_dropped(&h, small, sizeof(small), mal, "hdr_len 0xffff");

    /* A GSO frame over 64 KiB plus header (bytes past the IP datagram). */
    static uint8_t big[70000];
    struct virtio_net_hdr_v1 bh;
    size_t blen = gso_frame(big, sizeof(big), 65000, &bh) + 600;
    ck_assert_uint_gt(blen, NETDEV_MAX_FRAME);
    expect_tx_dropped(&bh, big, blen, mal, "GSO frame over 64 KiB");

    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(st()->tx_packets, 1);
    /* Still fine afterwards. */
    head = tx_post(&good, f, len);
    kick(TXQ);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 2);
}
END_TEST

START_TEST(test_tx_offload_not_negotiated)
{
    static uint8_t f[70000];
    struct virtio_net_hdr_v1 good, h;
    size_t len = gso_frame(f, sizeof(f), 3000, &good);
    const uint64_t *feat = &st()->tx_drop_feature;
    /* No CSUM: neither NEEDS_CSUM nor GSO. */
    init(FEAT_BASE);
    expect_tx_dropped(&good, f, len, feat, "GSO without any offload acked");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    expect_tx_dropped(&h, f, len, feat, "NEEDS_CSUM without CSUM");
    /* CSUM only: checksums go, TSO does not. */
    init(FEAT_BASE | F(VIRTIO_NET_F_CSUM));
    expect_tx_dropped(&good, f, len, feat, "TCPV4 without HOST_TSO4");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    expect_tx_dropped(&h, f, len, feat, "TCPV6 without HOST_TSO6");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    h.hdr_len = 0;
    h.gso_size = 0;
    uint16_t head = tx_post(&h, f, len);
    kick(TXQ);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(be.sent[0].has_hdr);
    ck_assert_uint_eq(be.sent[0].hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(be.sent[0].hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
}
END_TEST

START_TEST(test_tx_offload_software)
{
    /* Without the vnet header the layer segments a GSO frame in software; TSO is not offered,
     * so a GSO header is refused before it. Checksums are done in software. */
    static uint8_t f[70000];
    struct virtio_net_hdr_v1 good, h;
    size_t len = gso_frame(f, sizeof(f), 3000, &good);
    init(FEAT_BASE | F(VIRTIO_NET_F_CSUM));
    expect_tx_dropped(&good, f, len, &st()->tx_drop_feature, "GSO without the vnet header");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    h.gso_size = 0;
    uint16_t head = tx_post(&h, f, len);
    kick(TXQ);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(!be.sent[0].has_hdr);
    ck_assert_uint_eq(be.sent[0].len, len);
    struct fn_pkt p;
    ck_assert(fn_parse(be.sent[0].data, be.sent[0].len, &p));
    ck_assert(p.l4 && p.l4_csum_ok);
}
END_TEST

/* ============================================================================================ */
/* Split ring through the device                                                                */
/* ============================================================================================ */

START_TEST(test_tx_ring_broken)
{
    /* avail.idx jumping by more than the queue size: the queue is broken, NEEDS_RESET. */
    init_sized(FEAT_BASE, 64, 16);
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    put16(T.q[TXQ].avail + 2, 17);
    kick(TXQ);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(isr() & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    expect_no_used(TXQ);
    ck_assert_uint_eq(be.send_calls, 0);
    unsigned irqs0 = irqs();
    kick(TXQ); /* ignored now */
    ck_assert_uint_eq(irqs(), irqs0);

    /* A head past the queue size. */
    init_sized(FEAT_BASE, 64, 16);
    publish(TXQ, 16);
    kick(TXQ);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(be.send_calls, 0);

    /* A head posted twice while in flight (the backend holds the first). */
    init_sized(FEAT_BASE, 64, 16);
    atomic_store(&be.eagain, true);
    uint8_t f[100];
    make_frame(f, sizeof(f), 1);
    uint16_t head = tx_post(NULL, f, sizeof(f));
    publish(TXQ, head);
    kick(TXQ);
    atomic_store(&be.eagain, false);
    netdev_backend_writable(T.nd);
    pump();
    /* Either processed again (it was returned before the second pop) or refused. */
    ck_assert(be.nsent <= 2);
    ck_assert_uint_le(used_idx(TXQ), 2);

    /* After a reset everything works again. */
    init_sized(FEAT_BASE, 64, 16);
    tx_frame(100, 2);
    ck_assert_uint_eq(used_idx(TXQ), 1);
}
END_TEST

START_TEST(test_rx_ring_broken)
{
    init_sized(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 16, 64);
    post_rx(2, 2048);
    kick(RXQ);
    put16(T.q[RXQ].avail + 2, 40); /* 38 past what was posted */
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    ck_assert(deliver(100, 1)); /* refused: not held for later */
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(isr() & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
    ck_assert(deliver(100, 2));
    pump();
    ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "guest memory written");
    free(snap);
    ck_assert_uint_eq(st()->rx_packets, 0);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
}
END_TEST

/* ============================================================================================ */
/* virtio-net: hostile RX                                                                       */
/* ============================================================================================ */

static void post_bad_rx(uint16_t *heads, unsigned *n)
{
    uint64_t b = balloc(4096);
    struct seg s;
    s = (struct seg){b, 2048, 0}; /* read-only */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, 0, F_WRITE}; /* zero-length */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, (uint32_t)HDR - 1, F_WRITE}; /* smaller than the header */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){b, 1, F_WRITE};
    heads[(*n)++] = post(RXQ, &s, 1);
    struct seg mix[] = {{b, 100, 0}, {b + 100, 2048, F_WRITE}}; /* readable part */
    heads[(*n)++] = post(RXQ, mix, 2);
    s = (struct seg){MMIO_BASE, 2048, F_WRITE}; /* not RAM */
    heads[(*n)++] = post(RXQ, &s, 1);
    s = (struct seg){RAM_SIZE - 1000, 2048, F_WRITE}; /* straddling the end */
    heads[(*n)++] = post(RXQ, &s, 1);
}

static void test_rx_bad_buffers_with(uint64_t feat)
{
    init(feat);
    uint16_t heads[16];
    unsigned n = 0;
    post_bad_rx(heads, &n);
    kick(RXQ);
    uint8_t *snap = malloc(RAM_SIZE);
    memcpy(snap, T.ram, RAM_SIZE);
    /* Only bad buffers: all returned empty (and the guest told), the frame waits. */
    ck_assert(!deliver(100, 1));
    for (unsigned i = 0; i < n; i++)
        expect_used(RXQ, heads[i], 0);
    expect_no_used(RXQ);
    ck_assert_uint_eq(st()->rx_bad_chain, n);
    ck_assert_uint_ge(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    /* Only the used ring changed. */
    memcpy(snap + RX_USED, T.ram + RX_USED, 6 + 8 * 64);
    ck_assert(memcmp(snap, T.ram, RAM_SIZE) == 0);
    free(snap);
    /* Bad buffers then a good one: the frame lands in the good one. */
    n = 0;
    post_bad_rx(heads, &n);
    post_rx(1, 2048);
    kick(RXQ);
    for (unsigned i = 0; i < n; i++)
        expect_used(RXQ, heads[i], 0);
    expect_rx_frame(100, 1, 1);
    ck_assert_uint_eq(st()->rx_bad_chain, 2 * n);
    ck_assert_uint_eq(st()->rx_packets, 1);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
}

START_TEST(test_rx_bad_buffers)
{
    test_rx_bad_buffers_with(FEAT_BASE);
}
END_TEST

START_TEST(test_rx_bad_buffers_mergeable)
{
    test_rx_bad_buffers_with(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
}
END_TEST

START_TEST(test_rx_bad_buffer_between_good_ones)
{
    /* MRG_RXBUF: a bad buffer among good ones while a frame waits for more room. Every head
     * must come back exactly once, and the frame must arrive whole. */
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(1, 1526);
    struct seg ro = {balloc(2048), 2048, 0};
    uint16_t bad = post(RXQ, &ro, 1);
    post_rx(1, 1526);
    kick(RXQ);
    ck_assert(!deliver(5000, 1)); /* 3052 bytes of good buffers: not enough */
    ck_assert_uint_eq(st()->rx_bad_chain, 1);
    post_rx(3, 1526);
    kick(RXQ);
    ck_assert_uint_eq(st()->rx_packets, 1);
    /* Collect every used entry: heads 0..5 once each, the frame whole. */
    unsigned seen[8] = {0};
    uint8_t *got = malloc(8192), *want = malloc(5000);
    size_t total = 0;
    bool in_frame = false;
    unsigned left = 0;
    uint32_t id, len;
    while (take_used(RXQ, &id, &len)) {
        ck_assert_uint_lt(id, 8);
        seen[id]++;
        if (len == 0) {
            ck_assert(!in_frame);
            continue;
        }
        ck_assert(id != bad);
        const uint8_t *p = T.ram + T.rx_gpa[id];
        if (!in_frame) {
            struct virtio_net_hdr_v1 h;
            memcpy(&h, p, HDR);
            left = le16toh(h.num_buffers);
            in_frame = true;
            p += HDR;
            len -= HDR;
        }
        memcpy(got + total, p, len);
        total += len;
        if (--left == 0)
            in_frame = false;
    }
    for (unsigned i = 0; i < 6; i++)
        ck_assert_msg(seen[i] == 1, "head %u returned %u times", i, seen[i]);
    ck_assert_uint_eq(total, 5000);
    make_frame(want, 5000, 1);
    ck_assert(memcmp(got, want, 5000) == 0);
    free(got);
    free(want);
}
END_TEST

START_TEST(test_rx_offload_not_acked)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(64, 1526);
    kick(RXQ);
    struct virtio_net_hdr_v1 h = {0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = htole16(1448);
    h.hdr_len = htole16(54);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);
    ck_assert(deliver_hdr(&h, 30000, 1)); /* GSO for a guest without GUEST_TSO4 */
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    ck_assert(deliver_hdr(&h, 1000, 2)); /* NEEDS_CSUM without GUEST_CSUM */
    ck_assert_uint_eq(st()->rx_drop_offload, 2);
    expect_no_used(RXQ);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    /* DATA_VALID is fine; frames after the drops flow. */
    h = (struct virtio_net_hdr_v1){0};
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    ck_assert(deliver_hdr(&h, 1000, 3));
    expect_rx_frame(1000, 3, 1);
}
END_TEST

START_TEST(test_rx_offload_ecn_not_acked)
{
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    post_rx(64, 1526);
    kick(RXQ);
    struct virtio_net_hdr_v1 h = {0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
    h.gso_size = htole16(1448);
    h.hdr_len = htole16(54);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);
    ck_assert(deliver_hdr(&h, 5000, 1));
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    ck_assert(deliver_hdr(&h, 5000, 2));
    h.gso_type = 0x42;
    ck_assert(deliver_hdr(&h, 5000, 3));
    ck_assert_uint_eq(st()->rx_drop_offload, 3);
    expect_no_used(RXQ);
}
END_TEST

START_TEST(test_rx_large_frame_dropped_not_retried)
{
    struct virtio_net_hdr_v1 h = {0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = htole16(1448);
    h.hdr_len = htole16(54);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);

    /* GUEST_TSO4 without MRG_RXBUF, small buffers: the frame can never fit one. */
    init(FEAT_OFFLOADS);
    post_rx(8, 1526);
    kick(RXQ);
    ck_assert(deliver_hdr(&h, 30000, 1));
    ck_assert_uint_eq(st()->rx_drop_oversize, 1);
    expect_no_used(RXQ);
    ck_assert(deliver(100, 2));
    expect_rx_frame(100, 2, 1);

    /* MRG_RXBUF with every buffer of a full ring not enough (8 x 1526 < 30012). */
    init_sized(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF), 8, 64);
    post_rx(8, 1526);
    kick(RXQ);
    ck_assert(deliver_hdr(&h, 30000, 3));
    ck_assert_uint_eq(st()->rx_drop_oversize, 2);
    expect_no_used(RXQ);
    ck_assert_uint_eq(st()->rx_wait_buffers, 0);
    ck_assert(deliver(100, 4));
    expect_rx_frame(100, 4, 1);

    /* MRG_RXBUF with more than the buffers one frame may take (64 x 256 < 30012). */
    init_sized(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF), 128, 64);
    post_rx(100, 256);
    kick(RXQ);
    ck_assert(deliver_hdr(&h, 30000, 5));
    ck_assert_uint_eq(st()->rx_drop_oversize, 3);
    expect_no_used(RXQ);
    ck_assert(deliver(200, 6));
    expect_rx_frame(200, 6, 1);
    ck_assert_uint_eq(netdev_get_stats(T.nd)->rx_queued, 0);
    ck_assert_int_le(pump(), 1);
}
END_TEST

static Suite *virtio_net_suite(void)
{
    Suite *s = suite_create("virtio_net");
    TCase *neg = tcase_create("negotiation");
    TCase *neg_vnet = tcase_create("negotiation_vnet");
    TCase *tx = tcase_create("tx");
    TCase *rx = tcase_create("rx");
    TCase *rx_vnet = tcase_create("rx_vnet");
    TCase *evidx = tcase_create("event_idx");
    TCase *life = tcase_create("reset_link_backpressure");
    TCase *transport = tcase_create("transport_hostile");
    TCase *ring = tcase_create("ring_hostile");
    TCase *net = tcase_create("net_hostile");
    TCase *net_vnet = tcase_create("net_hostile_vnet");
    TCase *all[] = {neg, neg_vnet, tx, rx, rx_vnet, evidx, life, transport, ring, net, net_vnet};

    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        bool vnet = all[i] == neg_vnet || all[i] == rx_vnet || all[i] == net_vnet;
        tcase_add_checked_fixture(all[i], vnet ? setup_vnet : setup, teardown);
        tcase_set_timeout(all[i], 60);
    }

    tcase_add_test(neg, test_identity_registers);
    tcase_add_test(neg, test_offered_features_no_vnet);
    tcase_add_test(neg, test_features_not_offered_refused);
    tcase_add_test(neg, test_version1_required);
    tcase_add_test(neg, test_features_frozen_after_features_ok);
    tcase_add_test(neg, test_config_space);
    tcase_add_test(neg_vnet, test_offered_features_vnet);
    tcase_add_test(neg_vnet, test_feature_dependencies);

    tcase_add_test(tx, test_tx_single);
    tcase_add_test(net_vnet, test_tx_chained);
    tcase_add_test(tx, test_tx_interrupt_suppressed);
    tcase_add_test(tx, test_tx_budget);
    tcase_add_test(tx, test_tx_indirect);

    tcase_add_test(rx, test_rx_single_no_mrg);
    tcase_add_test(rx, test_rx_mergeable);
    tcase_add_test(rx, test_rx_oversize_non_mergeable);
    tcase_add_test(rx, test_rx_held_until_buffers);
    tcase_add_test(rx, test_rx_held_event_idx);
    tcase_add_test(rx, test_rx_mrg_partial_buffers_event_idx);
    tcase_add_test(rx_vnet, test_rx_mrg_large_gso);

    tcase_add_test(evidx, test_event_idx_used_event_tx);
    tcase_add_test(evidx, test_event_idx_used_event_rx);
    tcase_add_test(evidx, test_event_idx_avail_event);
    tcase_add_test(evidx, test_no_notify_flag_during_tx);

    tcase_add_test(life, test_reset_during_traffic);
    tcase_add_test(life, test_reset_threaded);
    tcase_add_test(life, test_link_status);
    tcase_add_test(life, test_link_change_before_driver_ok);
    tcase_add_test(life, test_tx_eagain_resume);
    tcase_add_test(life, test_tx_ring_full_eagain);

    tcase_add_test(transport, test_bad_widths);
    tcase_add_test(transport, test_undefined_and_readonly);
    tcase_add_test(transport, test_queue_sel_out_of_range);
    tcase_add_test(transport, test_queue_notify_bogus);
    tcase_add_test(transport, test_queue_num_invalid);
    tcase_add_test(transport, test_queue_ready_no_addresses);
    tcase_add_test(transport, test_queue_write_after_driver_ok);
    tcase_add_test(transport, test_ring_addresses_bad);
    tcase_add_test(transport, test_status_misuse);

    tcase_add_test(ring, test_tx_ring_broken);
    tcase_add_test(ring, test_rx_ring_broken);

    tcase_add_test(net, test_tx_short_and_malformed_chains);
    tcase_add_test(net, test_tx_oversize);
    tcase_add_test(net_vnet, test_tx_bogus_headers);
    tcase_add_test(net_vnet, test_tx_offload_not_negotiated);
    tcase_add_test(net, test_tx_offload_software);
    tcase_add_test(net, test_rx_bad_buffers);
    tcase_add_test(net, test_rx_bad_buffers_mergeable);
    tcase_add_test(net, test_rx_bad_buffer_between_good_ones);
    tcase_add_test(net, test_rx_offload_not_acked);
    tcase_add_test(net_vnet, test_rx_offload_ecn_not_acked);
    tcase_add_test(net_vnet, test_rx_large_frame_dropped_not_retried);

    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        suite_add_tcase(s, all[i]);
    return s;
}

UNIT_MAIN(virtio_net_suite)
