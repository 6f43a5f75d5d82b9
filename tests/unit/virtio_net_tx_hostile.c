/* virtio-net unit tests, malicious-guest checklist section 3, TX: short and malformed chains,
 * oversize frames, bogus headers, offloads not negotiated, a broken TX ring. */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    uint16_t head = tx_post_frames(1, 100, 1);
    publish(TXQ, head);
    kick(TXQ);
    be_room();
    /* Either processed again (it was returned before the second pop) or refused. */
    ck_assert(be.nsent <= 2);
    ck_assert_uint_le(used_idx(TXQ), 2);

    /* After a reset everything works again. */
    init_sized(FEAT_BASE, 64, 16);
    tx_frame(100, 2);
    ck_assert_uint_eq(used_idx(TXQ), 1);
}
END_TEST

void vn_tx_hostile_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->ring, test_tx_ring_broken);
    tcase_add_test(tc->net, test_tx_short_and_malformed_chains);
    tcase_add_test(tc->net, test_tx_oversize);
    tcase_add_test(tc->net_vnet, test_tx_bogus_headers);
    tcase_add_test(tc->net_vnet, test_tx_offload_not_negotiated);
    tcase_add_test(tc->net, test_tx_offload_software);
}
