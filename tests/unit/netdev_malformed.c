/* netdev core unit tests, malformed frames and guest headers: frames too short or too long,
 * virtio-net headers with unknown or inconsistent GSO and checksum fields (virtio spec
 * §5.1.6.2), refused with -EINVAL and counted before any backend sees them, with and without
 * a backend that takes the header; and malformed frames from the backend. */
#include "tests/unit/netdev_fixture.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

/* Sends f with h and expects a MALFORMED drop that the backend never sees. */
static void expect_malformed(const struct virtio_net_hdr_v1 *h, const uint8_t *f, size_t len,
                             const char *what)
{
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t before = st->drops[NETDEV_DROP_MALFORMED], tx = st->tx_packets;
    unsigned calls = be.send_calls;
    struct iovec iov = {(void *)f, len};
    ck_assert_msg(netdev_send(nd, h, &iov, 1, len) == -EINVAL, "%s: not refused", what);
    ck_assert_msg(st->drops[NETDEV_DROP_MALFORMED] == before + 1, "%s: not counted", what);
    ck_assert_msg(be.send_calls == calls, "%s: reached the backend", what);
    ck_assert_uint_eq(st->tx_packets, tx);
}

/* Frames too short for an Ethernet header, or over NETDEV_MAX_FRAME. */
static void malformed_lengths(void)
{
    static const struct {
        size_t len;
        const char *what;
    } cases[] = {{0, "empty frame"}, {1, "1-byte frame"}, {13, "13-byte frame"}};
    static const struct virtio_net_hdr_v1 zero;
    static uint8_t big[NETDEV_MAX_FRAME + 1];

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_malformed(&zero, frame, cases[i].len, cases[i].what);
    memcpy(big, frame, 64);
    expect_malformed(&zero, big, NETDEV_MAX_FRAME + 1, "frame over NETDEV_MAX_FRAME");
}

/* The fields of a virtio-net header one case of malformed_gso() changes. */
enum hdr_field { HF_GSO_TYPE, HF_FLAGS, HF_GSO_SIZE, HF_HDR_LEN, HF_CSUM_START, HF_CSUM_OFFSET };

struct hdr_case {
    enum hdr_field field;
    uint16_t value;
    const char *what;
};

static void set_field(struct virtio_net_hdr_v1 *h, enum hdr_field f, uint16_t v)
{
    switch (f) {
    case HF_GSO_TYPE: h->gso_type = (uint8_t)v; break;
    case HF_FLAGS: h->flags = (uint8_t)v; break;
    case HF_GSO_SIZE: h->gso_size = htole16(v); break;
    case HF_HDR_LEN: h->hdr_len = htole16(v); break;
    case HF_CSUM_START: h->csum_start = htole16(v); break;
    case HF_CSUM_OFFSET: h->csum_offset = htole16(v); break;
    }
}

/* The good GSO header of the n-byte frame of gso_frame() with one field changed. */
static void malformed_gso(const struct virtio_net_hdr_v1 *good, size_t n)
{
    const struct hdr_case cases[] = {
        {HF_GSO_TYPE, 7, "unknown gso_type"},
        {HF_GSO_TYPE, VIRTIO_NET_HDR_GSO_UDP, "gso_type UDP"}, /* UFO: not offered */
        {HF_GSO_TYPE, VIRTIO_NET_HDR_GSO_ECN, "gso_type ECN alone"},
        {HF_FLAGS, 0, "GSO without NEEDS_CSUM"},
        {HF_FLAGS, (uint16_t)(good->flags | 0x80), "unknown flag"},
        {HF_GSO_SIZE, 0, "gso_size 0"},
        {HF_GSO_SIZE, 0xffff, "gso_size GSO_BY_FRAGS"},
        {HF_HDR_LEN, 0, "GSO with hdr_len 0"},
        {HF_CSUM_START, FN_L4_OFF + 4, "GSO with csum_start off the TCP header"},
        {HF_CSUM_OFFSET, 6, "GSO with csum_offset off the TCP checksum"},
        {HF_GSO_TYPE, VIRTIO_NET_HDR_GSO_TCPV6, "TCPV6 GSO over an IPv4 frame"},
    };

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct virtio_net_hdr_v1 h = *good;
        set_field(&h, cases[i].field, cases[i].value);
        expect_malformed(&h, frame, n, cases[i].what);
    }
    expect_malformed(good, frame, FN_L4_OFF + FN_TCP_HLEN, "GSO without payload");
}

/* Headers that do not fit a small TCP frame (hdr_len) or a UDP frame (checksum offsets past
 * the frame, the field straddling its end, wrapping 16 bits; TCP GSO over UDP). */
static void malformed_small(const struct virtio_net_hdr_v1 *good)
{
    struct virtio_net_hdr_v1 h = *good;
    size_t small = FN_L4_OFF + FN_TCP_HLEN + 100;
    uint8_t smallf[FN_L4_OFF + FN_TCP_HLEN + 100];

    memcpy(smallf, frame, sizeof(smallf));
    fn_put16(smallf + FN_ETH_HLEN + 2, (uint16_t)(small - FN_ETH_HLEN));
    h.hdr_len = htole16((uint16_t)(small + 1));
    h.gso_size = htole16(48);
    expect_malformed(&h, smallf, small, "hdr_len past the frame");

    size_t u = fn_udp(smallf, sizeof(smallf), &guest, &host, "0123456789", 10, FN_CSUM_PARTIAL);
    const struct {
        uint16_t start, offset;
        const char *what;
    } csum[] = {
        {(uint16_t)u, 0, "csum_start past the frame"},
        {FN_L4_OFF, (uint16_t)(u - FN_L4_OFF - 1), "csum field straddling the end"},
        {FN_L4_OFF, 0xfffe, "csum_offset 0xfffe"},
        {0xffff, 0xffff, "csum_start and csum_offset 0xffff"},
        {4, 0, "csum_start inside the Ethernet header"},
    };
    for (unsigned i = 0; i < sizeof(csum) / sizeof(csum[0]); i++) {
        fn_vnet_csum(&h, csum[i].start, csum[i].offset);
        expect_malformed(&h, smallf, u, csum[i].what);
    }
    expect_malformed(good, smallf, u, "TCPV4 GSO over a UDP frame");
}

static void malformed_suite(bool vnet)
{
    struct virtio_net_hdr_v1 good;

    open_fake(vnet);
    size_t n = gso_frame(frame, &good);
    malformed_lengths();
    malformed_gso(&good, n);
    malformed_small(&good);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_MALFORMED], 23);
    /* The good header still goes out afterwards. */
    ck_assert_int_eq(fn_nic_send(&nic, &good, frame, n), 0);
    ck_assert_uint_eq(be.nsent, vnet ? 1 : 46);
    close_fake();
}

START_TEST(test_malformed_sw)
{
    malformed_suite(false);
}
END_TEST

START_TEST(test_malformed_vnet)
{
    malformed_suite(true);
}
END_TEST

START_TEST(test_malformed_from_backend)
{
    open_fake(false);
    uint8_t f[16] = {0};
    struct iovec iov = {f, 13};
    ck_assert(netdev_deliver(nd, NULL, &iov, 1, 13));
    ck_assert(netdev_deliver(nd, NULL, &iov, 1, 0));
    static uint8_t big[NETDEV_MAX_FRAME + 1];
    ck_assert(deliver(big, sizeof(big)));
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_MALFORMED], 3);
    ck_assert_uint_eq(nic.receive_calls, 0);
    close_fake();
}
END_TEST

void netdev_malformed_tests(TCase *tc)
{
    tcase_add_test(tc, test_malformed_sw);
    tcase_add_test(tc, test_malformed_vnet);
    tcase_add_test(tc, test_malformed_from_backend);
}
