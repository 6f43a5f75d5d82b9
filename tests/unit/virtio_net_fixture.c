/* The fixture of the virtio-net unit tests (test_virtio_net.c and the virtio_net_*.c files it
 * runs): fake guest RAM at gpa 0, an interrupt line that counts pulses, a fake backend that
 * records what the device sends, and a fake driver for the virtio-mmio registers and split
 * rings. */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/iobus.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* --- the fake backend ------------------------------------------------------------------------ */

/* What the device sends; a frame past the BE_MAX_SENT recorded ones is refused (ENOBUFS). */
struct fakebe_log be;
static struct sent_frame sent[BE_MAX_SENT];

/* --- fixture ------------------------------------------------------------------------------- */

struct vn_state T;

static void fake_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static void fake_irq_pulse(struct irq_line *l)
{
    (void)l;
    atomic_fetch_add(&T.irqs, 1);
}

unsigned irqs(void)
{
    return atomic_load(&T.irqs);
}

static void setup_with(bool vnet)
{
    char err[256] = "";
    memset(&be, 0, sizeof(be));
    be.sent = sent;
    be.cap = BE_MAX_SENT;
    be.full_ret = -ENOBUFS;
    memset(&T, 0, sizeof(T));
    T.ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(T.ram);
    ck_assert_int_eq(gmem_add_region(&T.gm, 0, RAM_SIZE, T.ram), 0);
    T.loop = evloop_create();
    ck_assert_ptr_nonnull(T.loop);
    T.nd = fakebe_log_create(T.loop, &be, "n0", vnet);
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

void setup(void)
{
    setup_with(false);
}

void setup_vnet(void)
{
    setup_with(true);
}

void teardown(void)
{
    virtio_net_destroy(T.vn);
    netdev_destroy(T.nd);
    evloop_destroy(T.loop);
    free(T.ram);
    fakebe_free(be.sent, be.nsent);
}

const struct virtio_net_stats *st(void)
{
    return virtio_net_get_stats(T.vn);
}

/* Runs the loop until it has nothing left to do; returns the busy iterations. A device that
 * keeps itself busy (a busy loop) fails the test instead of hanging it. */
int pump(void)
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

void put16(uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(T.ram + gpa, &le, 2);
}

void put32(uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(T.ram + gpa, &le, 4);
}

void put64(uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(T.ram + gpa, &le, 8);
}

uint16_t get16(uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, T.ram + gpa, 2);
    return le16toh(le);
}

uint32_t get32(uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, T.ram + gpa, 4);
    return le32toh(le);
}

uint64_t balloc(uint64_t len)
{
    uint64_t gpa = T.bump;
    T.bump = (T.bump + len + 63) & ~63ull;
    ck_assert_uint_le(T.bump, RAM_SIZE);
    return gpa;
}

uint32_t rdn(uint64_t off, unsigned len)
{
    uint8_t d[8];
    memset(d, 0xee, sizeof(d));
    virtio_mmio_io(T.t, off, d, len, false);
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

uint32_t rd(uint64_t off)
{
    return rdn(off, 4);
}

void wrn(uint64_t off, uint64_t v, unsigned len)
{
    uint8_t d[8];
    for (unsigned i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    virtio_mmio_io(T.t, off, d, len, true);
}

void wr(uint64_t off, uint32_t v)
{
    wrn(off, v, 4);
}

uint32_t cfg(uint64_t off, unsigned len)
{
    return rdn(VIRTIO_MMIO_CONFIG + off, len);
}

uint32_t isr(void)
{
    return rd(VMMIO_INTERRUPT_STATUS);
}

void ack_irq(void)
{
    wr(VMMIO_INTERRUPT_ACK, isr());
}

/* --- the fake driver ------------------------------------------------------------------------ */

uint64_t read_offered(void)
{
    wr(VMMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = rd(VMMIO_DEVICE_FEATURES);
    wr(VMMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)rd(VMMIO_DEVICE_FEATURES) << 32;
}

void write_features(uint64_t feat)
{
    wr(VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)feat);
    wr(VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck. */
bool negotiate(uint64_t feat)
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
void setup_queue_at(unsigned qi, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
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

void setup_queues(uint16_t rxsize, uint16_t txsize)
{
    setup_queue_at(RXQ, rxsize, RX_DESC, RX_AVAIL, RX_USED);
    setup_queue_at(TXQ, txsize, TX_DESC, TX_AVAIL, TX_USED);
}

void driver_ok(void)
{
    wr(VMMIO_STATUS, ST_LIVE);
    pump();
}

/* The whole initialisation; the device must come up live. */
void init_sized(uint64_t feat, uint16_t rxsize, uint16_t txsize)
{
    ck_assert_msg(negotiate(feat), "features 0x%llx refused", (unsigned long long)feat);
    setup_queues(rxsize, txsize);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(virtio_net_acked(T.vn), feat);
}

void init(uint64_t feat)
{
    init_sized(feat, 64, 64);
}

void set_desc(const struct dq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next)
{
    uint64_t d = q->desc + 16ull * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

/* Makes head available: ring entry, then a release barrier, then avail.idx. */
void publish(unsigned qi, uint16_t head)
{
    struct dq *q = &T.q[qi];
    put16(q->avail + 4 + 2ull * (q->avail_idx % q->size), head);
    atomic_thread_fence(memory_order_release);
    q->avail_idx++;
    put16(q->avail + 2, q->avail_idx);
}

/* Writes a chain into consecutive descriptor slots and publishes it; returns its head. */
uint16_t post(unsigned qi, const struct seg *s, unsigned n)
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

uint16_t avail_event(unsigned qi)
{
    return get16(T.q[qi].used + 4 + 8ull * T.q[qi].size);
}

void set_used_event(unsigned qi, uint16_t v)
{
    put16(T.q[qi].avail + 4 + 2ull * T.q[qi].size, v);
}

/* The driver's rule for kicking after moving avail.idx from old (§2.7.10, §2.7.7). */
bool kick_needed(unsigned qi, uint16_t old)
{
    const struct dq *q = &T.q[qi];
    atomic_thread_fence(memory_order_seq_cst);
    if (T.event_idx)
        return (uint16_t)(q->avail_idx - avail_event(qi) - 1) < (uint16_t)(q->avail_idx - old);
    return !(get16(q->used) & VIRTQ_USED_F_NO_NOTIFY);
}

void kick(unsigned qi)
{
    wr(VMMIO_QUEUE_NOTIFY, qi);
    pump();
}

/* Kicks only when the device asked for it, as a real driver does. */
void kick_if_needed(unsigned qi, uint16_t old)
{
    if (kick_needed(qi, old))
        kick(qi);
    else
        pump();
}

uint16_t used_idx(unsigned qi)
{
    return get16(T.q[qi].used + 2);
}

bool take_used(unsigned qi, uint32_t *id, uint32_t *len)
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
void expect_used(unsigned qi, uint32_t id, uint32_t len)
{
    uint32_t gid, glen;
    ck_assert_msg(take_used(qi, &gid, &glen), "queue %u: no used entry (expected head %u)", qi, id);
    ck_assert_uint_eq(gid, id);
    ck_assert_uint_eq(glen, len);
}

void expect_no_used(unsigned qi)
{
    ck_assert_uint_eq(used_idx(qi), T.q[qi].last_used);
}

/* --- frames ----------------------------------------------------------------------------------- */

void make_frame(uint8_t *f, size_t len, unsigned seed)
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
uint16_t tx_post(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len)
{
    static const struct virtio_net_hdr_v1 zero;
    uint64_t b = balloc(HDR + len);
    memcpy(T.ram + b, h ? h : &zero, HDR);
    memcpy(T.ram + b + HDR, frame, len);
    struct seg s = {b, (uint32_t)(HDR + len), 0};
    return post(TXQ, &s, 1);
}

uint16_t tx_post_frames(unsigned n, size_t len, unsigned seed0)
{
    uint8_t *f = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(f);
    uint16_t head = 0;
    for (unsigned i = 0; i < n; i++) {
        make_frame(f, len, seed0 + i);
        head = tx_post(NULL, f, len);
    }
    free(f);
    return head;
}

/* Posts a frame of len bytes with pattern seed and kicks. */
uint16_t tx_frame(size_t len, unsigned seed)
{
    uint16_t old = T.q[TXQ].avail_idx;
    uint16_t head = tx_post_frames(1, len, seed);
    kick_if_needed(TXQ, old);
    return head;
}

void expect_sent(unsigned i, size_t len, unsigned seed)
{
    ck_assert_uint_gt(be.nsent, i);
    uint8_t *f = malloc(len);
    make_frame(f, len, seed);
    ck_assert_uint_eq(be.sent[i].len, len);
    ck_assert_msg(memcmp(be.sent[i].data, f, len) == 0, "sent frame %u: bytes differ", i);
    free(f);
}

void be_room(void)
{
    atomic_store(&be.eagain, false);
    netdev_backend_writable(T.nd);
    pump();
}

void expect_sent_frames(unsigned n, size_t len, unsigned seed0)
{
    ck_assert_uint_eq(be.nsent, n);
    for (unsigned i = 0; i < n; i++)
        expect_sent(i, len, seed0 + i);
}

/* Posts n writable RX buffers of size bytes each. */
void post_rx(unsigned n, uint32_t size)
{
    for (unsigned i = 0; i < n; i++) {
        struct seg s = {balloc(size), size, F_WRITE};
        uint16_t head = post(RXQ, &s, 1);
        T.rx_gpa[head] = s.gpa;
        T.rx_len[head] = size;
    }
}

void post_rx_kick(unsigned n, uint32_t size)
{
    post_rx(n, size);
    kick(RXQ);
}

bool post_rx_needs_kick(unsigned n, uint32_t size)
{
    uint16_t old = T.q[RXQ].avail_idx;
    post_rx(n, size);
    return kick_needed(RXQ, old);
}

void refill_rx(unsigned n, uint32_t size)
{
    if (post_rx_needs_kick(n, size))
        kick(RXQ);
    else
        pump();
}

bool deliver_hdr(const struct virtio_net_hdr_v1 *h, size_t len, unsigned seed)
{
    uint8_t *f = malloc(len);
    make_frame(f, len, seed);
    struct iovec iov = {f, len};
    bool r = netdev_deliver(T.nd, h, &iov, 1, len);
    free(f);
    return r;
}

struct virtio_net_hdr_v1 tcp4_gso_hdr(uint8_t gso_type)
{
    struct virtio_net_hdr_v1 h = {0};
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = gso_type;
    h.hdr_len = htole16(54);
    h.gso_size = htole16(1448);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);
    return h;
}

bool deliver(size_t len, unsigned seed)
{
    return deliver_hdr(NULL, len, seed);
}

/* Reads one received frame: the first used entry's header, then num_buffers entries in all.
 * Checks every used length against its buffer. Returns the frame length. */
size_t rx_collect(uint8_t *out, size_t cap, struct virtio_net_hdr_v1 *h, unsigned *nbufs)
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

void expect_rx_frame(size_t len, unsigned seed, unsigned nbufs)
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
