/* The shared fixture of the virtio-net unit tests (see virtio_net_fixture.c): a fake driver
 * that programs the virtio-mmio registers and lays out split rings byte by byte in fake guest
 * RAM at gpa 0, a fake netdev backend that records what the device sends, and helpers that
 * post and collect frames. Each virtio_net_*.c test file adds its tests to the TCases of
 * struct vn_tcases; test_virtio_net.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_VIRTIO_NET_FIXTURE_H
#define NICVM_TESTS_UNIT_VIRTIO_NET_FIXTURE_H

#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/netdev.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/irq.h"

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

extern const uint8_t MAC[6];

/* The TCases of the suite, by name; each test file adds its tests to some of them. */
struct vn_tcases {
    TCase *neg, *neg_vnet, *tx, *rx, *rx_vnet, *evidx, *life, *transport, *ring, *net, *net_vnet;
};

/* Each test file's entry point: adds the file's tests to the TCases of tc. */
typedef void vn_tests_fn(const struct vn_tcases *tc);
vn_tests_fn vn_features_tests, vn_tx_tests, vn_rx_tests, vn_life_tests, vn_transport_tests,
    vn_tx_hostile_tests, vn_rx_hostile_tests;

#define BE_MAX_SENT 1024

/* The fake driver's view of one queue. */
struct dq {
    uint16_t size;
    uint64_t desc, avail, used;
    uint16_t avail_idx; /* the driver's shadow of avail.idx */
    uint16_t last_used; /* next used entry to read */
    uint16_t next_desc; /* next descriptor slot to fill */
};

/* The device under test and the fake driver's state. */
struct vn_state {
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
};

/* One descriptor of a chain post() writes. */
struct seg {
    uint64_t gpa;
    uint32_t len;
    uint16_t flags; /* F_WRITE, F_IND */
};

extern struct fakebe_log be; /* holds the first BE_MAX_SENT frames sent */
extern struct vn_state T;

/* setup / setup_vnet: the device over a backend without / with the virtio-net header;
 * teardown frees both. */
unsigned irqs(void);
void setup(void);
void setup_vnet(void);
void teardown(void);
const struct virtio_net_stats *st(void);
/* Runs the loop until it has nothing left to do; returns the busy iterations. A device that
 * keeps itself busy (a busy loop) fails the test instead of hanging it. */
int pump(void);
void put16(uint64_t gpa, uint16_t v);
void put32(uint64_t gpa, uint32_t v);
void put64(uint64_t gpa, uint64_t v);
uint16_t get16(uint64_t gpa);
uint32_t get32(uint64_t gpa);
uint64_t balloc(uint64_t len);
uint32_t rdn(uint64_t off, unsigned len);
uint32_t rd(uint64_t off);
void wrn(uint64_t off, uint64_t v, unsigned len);
void wr(uint64_t off, uint32_t v);
uint32_t cfg(uint64_t off, unsigned len);
uint32_t isr(void);
void ack_irq(void);
uint64_t read_offered(void);
void write_features(uint64_t feat);
/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck. */
bool negotiate(uint64_t feat);
/* Programs queue qi (rings zeroed when they are RAM) and sets QueueReady. */
void setup_queue_at(unsigned qi, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used);
void setup_queues(uint16_t rxsize, uint16_t txsize);
void driver_ok(void);
/* The whole initialisation; the device must come up live. */
void init_sized(uint64_t feat, uint16_t rxsize, uint16_t txsize);
void init(uint64_t feat);
void set_desc(const struct dq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next);
/* Makes head available: ring entry, then a release barrier, then avail.idx. */
void publish(unsigned qi, uint16_t head);
/* Writes a chain into consecutive descriptor slots and publishes it; returns its head. */
uint16_t post(unsigned qi, const struct seg *s, unsigned n);
uint16_t avail_event(unsigned qi);
void set_used_event(unsigned qi, uint16_t v);
/* The driver's rule for kicking after moving avail.idx from old (§2.7.10, §2.7.7). */
bool kick_needed(unsigned qi, uint16_t old);
void kick(unsigned qi);
/* Kicks only when the device asked for it, as a real driver does. */
void kick_if_needed(unsigned qi, uint16_t old);
uint16_t used_idx(unsigned qi);
bool take_used(unsigned qi, uint32_t *id, uint32_t *len);
/* Expects the next used entry to be (id, len). */
void expect_used(unsigned qi, uint32_t id, uint32_t len);
void expect_no_used(unsigned qi);
void make_frame(uint8_t *f, size_t len, unsigned seed);
/* A TX chain of one descriptor: header then frame. */
uint16_t tx_post(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len);
/* Posts n frames of len bytes with patterns seed0, seed0 + 1, ... without kicking; returns the
 * last head. */
uint16_t tx_post_frames(unsigned n, size_t len, unsigned seed0);
/* Posts a frame of len bytes with pattern seed and kicks. */
uint16_t tx_frame(size_t len, unsigned seed);
void expect_sent(unsigned i, size_t len, unsigned seed);
/* The backend has room again: eagain cleared, the layer told, the loop run. */
void be_room(void);
/* Exactly n frames were sent: len bytes each, patterns seed0, seed0 + 1, ... */
void expect_sent_frames(unsigned n, size_t len, unsigned seed0);
/* Posts n writable RX buffers of size bytes each. */
void post_rx(unsigned n, uint32_t size);
/* post_rx(), then a kick. */
void post_rx_kick(unsigned n, uint32_t size);
/* post_rx(), then whether the driver must kick (kick_needed); does not kick. */
bool post_rx_needs_kick(unsigned n, uint32_t size);
/* post_rx(), then a kick only when the device asked for it (kick_if_needed). */
void refill_rx(unsigned n, uint32_t size);
/* The header of a TCP/IPv4 GSO frame (gso_type: TCPV4, perhaps with ECN) as a host sends it:
 * NEEDS_CSUM, 54 header bytes, MSS 1448. */
struct virtio_net_hdr_v1 tcp4_gso_hdr(uint8_t gso_type);
bool deliver_hdr(const struct virtio_net_hdr_v1 *h, size_t len, unsigned seed);
bool deliver(size_t len, unsigned seed);
/* Reads one received frame: the first used entry's header, then num_buffers entries in all.
 * Checks every used length against its buffer. Returns the frame length. */
size_t rx_collect(uint8_t *out, size_t cap, struct virtio_net_hdr_v1 *h, unsigned *nbufs);
void expect_rx_frame(size_t len, unsigned seed, unsigned nbufs);

#endif
