/* Software offload unit tests, offload_check() against each bogus virtio-net header of the
 * malicious-guest checklist: unknown GSO types and flags, checksum ranges past the frame,
 * hdr_len and gso_size out of range, truncated or wrong IP and TCP headers, short and
 * oversize frames; and the headers that must pass. */
#include "tests/unit/offload_fixture.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A valid IPv4 GSO frame of 2000 payload bytes in frame_buf. */
static struct virtio_net_hdr_v1 v4_gso(struct layout *b, bool vlan)
{
    struct spec sp = {.vlan = vlan, .payload = 2000, .flags = TCP_ACK};
    build(frame_buf, &sp, b);
    return gso_hdr(&sp, b, 1448);
}

static struct virtio_net_hdr_v1 v6_gso(struct layout *b, bool vlan)
{
    struct spec sp = {.v6 = true, .vlan = vlan, .payload = 2000, .flags = TCP_ACK};
    build(frame_buf, &sp, b);
    return gso_hdr(&sp, b, 1428);
}

#define CHECK_BAD(h, len) ck_assert_int_eq(check_exact(&(h), (len)), -EINVAL)
#define CHECK_OK(h, len)  ck_assert_int_eq(check_exact(&(h), (len)), 0)

START_TEST(test_check_valid_headers)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    memset(frame_buf, 0, 64);
    CHECK_OK(h, 14);
    CHECK_OK(h, 60);
    h = v4_gso(&b, false);
    CHECK_OK(h, b.len);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    CHECK_OK(h, b.len);
    h.flags |= VIRTIO_NET_HDR_F_DATA_VALID; /* ignored */
    CHECK_OK(h, b.len);
    h = v4_gso(&b, true);
    CHECK_OK(h, b.len);
    h.hdr_len = htole16(14); /* shorter than the real headers: tap fixes it up */
    CHECK_OK(h, b.len);
    h.hdr_len = htole16((uint16_t)b.len);
    CHECK_OK(h, b.len);
    h.gso_size = htole16(OFFLOAD_MIN_MSS);
    CHECK_OK(h, b.len);
    h.gso_size = htole16(0xfffe); /* payload fits one segment */
    CHECK_OK(h, b.len);
    h = v6_gso(&b, false);
    CHECK_OK(h, b.len);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    CHECK_OK(h, b.len);
    h = v6_gso(&b, true);
    CHECK_OK(h, b.len);
    /* NEEDS_CSUM on the last two bytes, and at the smallest csum_start tap allows. */
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)(b.len - 2), 0);
    CHECK_OK(h, b.len);
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, (uint16_t)(b.len - 22));
    CHECK_OK(h, b.len);
}
END_TEST

START_TEST(test_check_unknown_gso_type)
{
    static const uint8_t types[] = {
        2, VIRTIO_NET_HDR_GSO_UDP, 5, 6, 0x7f, 0x80, 0x83, 0x85, 0x21, 0x41, 0x24, 0xff};
    struct layout b;
    for (size_t i = 0; i < sizeof(types); i++) {
        struct virtio_net_hdr_v1 h = v4_gso(&b, false);
        h.gso_type = types[i];
        CHECK_BAD(h, b.len);
    }
}
END_TEST

START_TEST(test_check_unknown_flags)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.flags |= VIRTIO_NET_HDR_F_RSC_INFO;
    CHECK_BAD(h, b.len);
    h = mkhdr(0x80, 0, 0, 0, 0, 0);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_without_needs_csum)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.flags = 0;
    CHECK_BAD(h, b.len);
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    h.flags = 0;
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_csum_past_frame)
{
    struct layout b;
    v4_gso(&b, false);
    const uint8_t f = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    const uint16_t len = (uint16_t)b.len;
    struct virtio_net_hdr_v1 h = mkhdr(f, 0, 0, 0, len, 0); /* start at the end */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, (uint16_t)(len - 1), 0); /* field straddles the end */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 34, (uint16_t)(len - 35));
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0xffff, 0xffff); /* 16-bit sums that wrap */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0xfffe, 2);
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 34, 0xfffe); /* 34 + 0xfffe + 2 wraps to 34 in 16 bits */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0x8000, 0x8000);
    CHECK_BAD(h, 0xffff);
    /* Too small a csum_start: tap refuses one below sizeof(struct iphdr). */
    h = mkhdr(f, 0, 0, 0, 14, 16);
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0, 0);
    CHECK_BAD(h, b.len);
    /* GSO: csum_start must be the TCP header and csum_offset its check field. */
    h = v4_gso(&b, false);
    h.csum_start = htole16(36);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    h.csum_offset = htole16(6);
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    h.csum_start = htole16(58 - 4);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_hdr_len)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.hdr_len = 0;
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16((uint16_t)(b.len + 1));
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(0xffff);
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(13); /* tap: nonzero and shorter than Ethernet */
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(1);
    CHECK_BAD(h, b.len);
    /* Without GSO hdr_len 0 is normal, but past the frame is still refused. */
    h = mkhdr(0, 0, 0, 0, 0, 0);
    CHECK_OK(h, b.len);
    h.hdr_len = htole16((uint16_t)(b.len + 1));
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(5);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_size)
{
    static const uint16_t bad[] = {0, 1, 47, 0xffff};
    struct layout b;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct virtio_net_hdr_v1 h = v4_gso(&b, false);
        h.gso_size = htole16(bad[i]);
        CHECK_BAD(h, b.len);
        h = v6_gso(&b, false);
        h.gso_size = htole16(bad[i]);
        CHECK_BAD(h, b.len);
    }
}
END_TEST

START_TEST(test_check_truncated_headers)
{
    const uint8_t f = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    struct layout b;
    /* IPv4 header cut short (csum range itself inside the frame). */
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 19);
    /* ihl = 15 declares 60 bytes, the frame has 56 after Ethernet. */
    h = v4_gso(&b, false);
    frame_buf[14] = 0x4f;
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 56);
    /* TCP header cut short: 19 of its 20 bytes. */
    h = v4_gso(&b, false);
    h.hdr_len = htole16(34);
    h.csum_offset = htole16(0);
    CHECK_BAD(h, 14 + 20 + 19);
    CHECK_BAD(h, 14 + 20 + 12); /* not even the data offset byte */
    /* data offset past the frame (15 words, 60 bytes, with 40 present). */
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0xf0;
    CHECK_BAD(h, 14 + 20 + 40);
    /* IPv6 header cut short, and its TCP header. */
    h = v6_gso(&b, false);
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 39);
    h = v6_gso(&b, false);
    h.hdr_len = htole16(54);
    h.csum_offset = htole16(0);
    CHECK_BAD(h, 14 + 40 + 19);
    CHECK_BAD(h, 14 + 40 + 12);
    /* 802.1Q tag cut short (refused already by the csum_start rules). */
    h = mkhdr(f, VIRTIO_NET_HDR_GSO_TCPV4, 14, 1448, 20, 0);
    v4_gso(&b, true);
    CHECK_BAD(h, 17);
}
END_TEST

START_TEST(test_check_bad_ip_header)
{
    struct layout b;
    struct virtio_net_hdr_v1 h;
    static const uint8_t bad_vihl[] = {0x44, 0x40, 0x41, 0x64, 0x55, 0x05};
    for (size_t i = 0; i < sizeof(bad_vihl); i++) {
        h = v4_gso(&b, false);
        frame_buf[14] = bad_vihl[i]; /* ihl < 5, or not version 4 */
        CHECK_BAD(h, b.len);
    }
    /* ihl 2..4 with csum_start and a TCP header where that ihl would put them. */
    for (size_t ihl = 2; ihl < 5; ihl++) {
        h = v4_gso(&b, false);
        frame_buf[14] = (uint8_t)(0x40 | ihl);
        h.csum_start = htole16((uint16_t)(14 + 4 * ihl));
        frame_buf[14 + 4 * ihl + 12] = 0x50;
        CHECK_BAD(h, b.len);
    }
    h = v6_gso(&b, false);
    frame_buf[14] = 0x45; /* IPv4 version in an IPv6 ethertype */
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0x40; /* TCP data offset 4 */
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0x00;
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_non_tcp)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    frame_buf[14 + 9] = PROTO_UDP;
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[14 + 9] = 1; /* ICMP */
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, false);
    frame_buf[14 + 6] = PROTO_UDP;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    frame_buf[18 + 6] = 0; /* hop-by-hop extension header */
    CHECK_BAD(h, b.len);
    /* Ethertype not IP, or not the IP version gso_type names. */
    h = v4_gso(&b, false);
    wr16(frame_buf + 12, 0x0806);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, false);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, true);
    wr16(frame_buf + 16, 0x8100); /* a second tag */
    CHECK_BAD(h, b.len);
    /* IPv4 fragments: MF, or a fragment offset. */
    h = v4_gso(&b, false);
    wr16(frame_buf + 14 + 6, 0x2000);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    wr16(frame_buf + 14 + 6, 0x4001);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_no_payload)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    CHECK_BAD(h, b.hdrs);
    h = v6_gso(&b, true);
    CHECK_BAD(h, b.hdrs);
    CHECK_OK(h, b.hdrs + 1);
}
END_TEST

START_TEST(test_check_short_frames)
{
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    memset(frame_buf, 0, 64);
    CHECK_BAD(h, 0);
    CHECK_BAD(h, 1);
    CHECK_BAD(h, 13);
    CHECK_OK(h, 14);
    ck_assert_int_eq(offload_check(&h, NULL, 0), -EINVAL);
    struct layout b;
    h = v4_gso(&b, false);
    CHECK_BAD(h, 13);
}
END_TEST

START_TEST(test_check_oversize)
{
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    CHECK_OK(h, MAX_FRAME);
    /* Refused before any byte is read. */
    ck_assert_int_eq(offload_check(&h, frame_buf, MAX_FRAME + 1), -EINVAL);
    ck_assert_int_eq(offload_check(&h, frame_buf, SIZE_MAX), -EINVAL);
    /* A GSO frame whose payload fits one gso_size but not one IPv4 datagram. */
    struct spec sp = {.vlan = true, .tcp_opts = 12, .flags = TCP_ACK};
    sp.payload = MAX_FRAME - (18 + 20 + 32);
    struct layout b;
    build(frame_buf, &sp, &b);
    h = gso_hdr(&sp, &b, 0xfffe);
    CHECK_BAD(h, b.len);
    h = gso_hdr(&sp, &b, 1448);
    CHECK_OK(h, b.len);
    h = gso_hdr(&sp, &b, 1448);
    h.gso_size = htole16(0xfffe);
    CHECK_OK(h, b.len - 1); /* exactly 65535 bytes of IP */
}
END_TEST

void offload_check_tests(TCase *tc)
{
    tcase_add_test(tc, test_check_valid_headers);
    tcase_add_test(tc, test_check_unknown_gso_type);
    tcase_add_test(tc, test_check_unknown_flags);
    tcase_add_test(tc, test_check_gso_without_needs_csum);
    tcase_add_test(tc, test_check_csum_past_frame);
    tcase_add_test(tc, test_check_hdr_len);
    tcase_add_test(tc, test_check_gso_size);
    tcase_add_test(tc, test_check_truncated_headers);
    tcase_add_test(tc, test_check_bad_ip_header);
    tcase_add_test(tc, test_check_gso_non_tcp);
    tcase_add_test(tc, test_check_gso_no_payload);
    tcase_add_test(tc, test_check_short_frames);
    tcase_add_test(tc, test_check_oversize);
}
