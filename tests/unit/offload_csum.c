/* Software offload unit tests, checksum completion (offload_csum) for TCP and UDP over IPv4
 * and IPv6, seeded as Linux seeds it, and the RFC 1071 helpers against the reference. */
#include "tests/unit/offload_fixture.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* csum_case: a frame of sp with its L4 checksum seeded, completed by offload_csum() and
 * verified with the reference; every other byte unchanged. Returns the stored checksum. */
static uint16_t csum_case(const struct spec *sp)
{
    struct layout b;
    uint8_t proto = sp->proto ? sp->proto : PROTO_TCP;
    size_t off = proto == PROTO_UDP ? 6 : 16;
    build(frame_buf, sp, &b);
    seed(frame_buf, &b, proto, off);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h =
        mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, (uint16_t)off);
    ck_assert_int_eq(offload_check(&h, frame_buf, b.len), 0);
    uint8_t *in = exact(b.len);
    offload_csum(&h, in, b.len);
    memcpy(frame_buf, in, b.len);
    free(in);
    uint32_t sum = ref_pseudo(frame_buf, &b, proto, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, frame_buf + b.l4, b.len - b.l4)), 0xffff);
    ck_assert_mem_eq(frame_buf, orig_buf, b.l4 + off);
    ck_assert_mem_eq(frame_buf + b.l4 + off + 2, orig_buf + b.l4 + off + 2, b.len - b.l4 - off - 2);
    return be16(frame_buf + b.l4 + off);
}

static const size_t csum_lengths[] = {0, 1, 2, 3, 17, 64, 255, 1001, 1460, 9000};

START_TEST(test_csum_tcp_udp_v4)
{
    for (size_t i = 0; i < sizeof(csum_lengths) / sizeof(csum_lengths[0]); i++) {
        struct spec tcp = {.payload = csum_lengths[i], .flags = TCP_ACK, .seq = (uint32_t)i};
        csum_case(&tcp);
        struct spec udp = {.vlan = true, .payload = csum_lengths[i], .proto = PROTO_UDP};
        csum_case(&udp);
    }
}
END_TEST

START_TEST(test_csum_tcp_udp_v6)
{
    for (size_t i = 0; i < sizeof(csum_lengths) / sizeof(csum_lengths[0]); i++) {
        struct spec tcp = {.v6 = true, .vlan = true, .payload = csum_lengths[i], .tcp_opts = 12};
        csum_case(&tcp);
        struct spec udp = {.v6 = true, .payload = csum_lengths[i], .proto = PROTO_UDP};
        csum_case(&udp);
    }
}
END_TEST

START_TEST(test_csum_udp_zero_sent_as_ffff)
{
    /* Choose the last two payload bytes so that the checksum computes to 0: it must be
     * stored as 0xffff, since 0 means "no checksum" for UDP (RFC 768). */
    struct spec sp = {.payload = 64, .proto = PROTO_UDP};
    struct layout b;
    build(frame_buf, &sp, &b);
    uint8_t *last = frame_buf + b.len - 2;
    wr16(last, 0);
    uint16_t s = ref_fold(ref_sum(ref_pseudo(frame_buf, &b, PROTO_UDP, b.len - b.l4),
                                  frame_buf + b.l4, b.len - b.l4));
    wr16(last, (uint16_t)(0xffff - s));
    uint8_t payload_end[2] = {last[0], last[1]};
    seed(frame_buf, &b, PROTO_UDP, 6);
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 6);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_uint_eq(be16(frame_buf + b.l4 + 6), 0xffff);
    ck_assert_mem_eq(last, payload_end, 2);
    uint32_t sum = ref_pseudo(frame_buf, &b, PROTO_UDP, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, frame_buf + b.l4, b.len - b.l4)), 0xffff);
}
END_TEST

START_TEST(test_csum_without_flag_is_noop)
{
    struct spec sp = {.payload = 100, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    seed(frame_buf, &b, PROTO_TCP, 16);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, (uint16_t)b.l4, 16);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
    /* A range past the frame is never written, even without offload_check(). */
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xffff, 0xffff);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
}
END_TEST

/* ---- RFC 1071 helpers ---- */

START_TEST(test_csum_rfc1071_example)
{
    /* RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d. */
    static const uint8_t data[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    ck_assert_uint_eq(offload_csum_add(0, data, 8), 0xddf2);
    ck_assert_uint_eq(offload_csum_fold(offload_csum_add(0, data, 8)), 0x220d);
    ck_assert_uint_eq(offload_csum_add(0, data, 0), 0);
    ck_assert_uint_eq(offload_csum_add(0x1234, data, 0), 0x1234);
    ck_assert_uint_eq(offload_csum_add(0, data, 1), 0);
    ck_assert_uint_eq(offload_csum_add(0, data + 1, 1), 0x0100);
    ck_assert_uint_eq(offload_csum_fold(0), 0xffff);
    ck_assert_uint_eq(offload_csum_fold(0xffff), 0);
    ck_assert_uint_eq(offload_csum_fold(0x1fffe), 0);
    ck_assert_uint_eq(offload_csum_fold(0xffffffffu), 0);
    ck_assert_uint_eq(offload_csum_fold(0x00012345), (uint16_t)~0x2346);
}
END_TEST

START_TEST(test_csum_add_matches_reference)
{
    static uint8_t data[4096];
    srand(12345);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)rand();
    for (size_t start = 0; start < 16; start++) {
        for (size_t len = 0; len < 700; len++) {
            uint16_t want = ref_fold(ref_sum(0, data + start, len));
            ck_assert_uint_eq(offload_csum_add(0, data + start, len), want);
            want = ref_fold(ref_sum(0xfedcba98u, data + start, len));
            ck_assert_uint_eq(offload_csum_fold(offload_csum_add(0xfedcba98u, data + start, len)),
                              (uint16_t)~want);
        }
    }
    ck_assert_uint_eq(offload_csum_add(0, data + 3, 4093), ref_fold(ref_sum(0, data + 3, 4093)));
    /* All-ones data: many end-around carries. */
    static uint8_t ones[70000];
    memset(ones, 0xff, sizeof(ones));
    ck_assert_uint_eq(offload_csum_add(0xffffffffu, ones + 1, sizeof(ones) - 2), 0xffff);
    ck_assert_uint_eq(offload_csum_add(0xffffffffu, ones + 1, sizeof(ones) - 1), 0xff00);
}
END_TEST

START_TEST(test_csum_add_incremental)
{
    static uint8_t data[3001];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 97 + 13);
    uint16_t whole = ref_fold(ref_sum(0, data, sizeof(data)));
    /* Even-length pieces, then an odd last one, at any alignment. */
    static const size_t cuts[][4] = {{2, 4, 6, 8}, {10, 100, 1000, 2000}, {0, 0, 2, 3000}};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        uint32_t sum = 0;
        size_t at = 0;
        for (size_t j = 0; j < 4; j++) {
            sum = offload_csum_add(sum, data + at, cuts[k][j] - at);
            at = cuts[k][j];
        }
        sum = offload_csum_add(sum, data + at, sizeof(data) - at);
        ck_assert_uint_eq(sum, whole);
    }
}
END_TEST

void offload_csum_tests(TCase *tc)
{
    tcase_add_test(tc, test_csum_tcp_udp_v4);
    tcase_add_test(tc, test_csum_tcp_udp_v6);
    tcase_add_test(tc, test_csum_udp_zero_sent_as_ffff);
    tcase_add_test(tc, test_csum_without_flag_is_noop);
    tcase_add_test(tc, test_csum_rfc1071_example);
    tcase_add_test(tc, test_csum_add_matches_reference);
    tcase_add_test(tc, test_csum_add_incremental);
}
