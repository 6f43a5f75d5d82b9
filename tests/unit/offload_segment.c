/* Software offload unit tests, TCP segmentation (offload_segment): IPv4 and IPv6 frames, with
 * and without an 802.1Q tag, IP and TCP options, sequence number and IP id wrapping, checked
 * byte by byte against the reference; the emit function's stop value; frames without GSO. */
#include "tests/unit/offload_fixture.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* run_gso: builds the frame of sp, segments it with mss and checks every segment and the
 * reassembled payload. Returns the number of segments. */
static int run_gso(const struct spec *sp, uint16_t mss)
{
    struct layout b;
    build(frame_buf, sp, &b);
    wr16(frame_buf + b.l4 + 16, 0xbeef); /* any seed: a full checksum is computed */
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = gso_hdr(sp, &b, mss);
    ck_assert_int_eq(offload_check(&h, frame_buf, b.len), 0);
    ck_assert(offload_needed(&h));
    struct collect *c = calloc(1, sizeof(*c));
    uint8_t *in = exact(b.len), *scratch = malloc(SCRATCH);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(scratch);
    int n = offload_segment(&h, in, b.len, scratch, collect_fn, c);
    size_t payload = b.len - b.hdrs;
    ck_assert_int_eq(n, (int)((payload + mss - 1) / mss));
    ck_assert_int_eq(c->n, n);
    ck_assert_mem_eq(in, orig_buf, b.len); /* the input is left alone */
    free(in);
    free(scratch);
    check_packets(sp, &b, mss, c);
    free(c);
    return n;
}

START_TEST(test_gso_v4_mss1448_64k)
{
    struct spec sp = {.tcp_opts = 12, .payload = 65000, .seq = 0x10000000, .id = 0x1234};
    sp.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    ck_assert_int_eq(run_gso(&sp, 1448), 45);
    /* The last segment is shorter: 65000 - 44 * 1448 = 1288 bytes. */
    struct collect *c = calloc(1, sizeof(*c));
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 45);
    ck_assert_uint_eq(c->len[0], 14 + 20 + 32 + 1448);
    ck_assert_uint_eq(c->len[44], 14 + 20 + 32 + 1288);
    free(c);
}
END_TEST

START_TEST(test_gso_largest_frames)
{
    /* The largest frame accepted, tagged and untagged: 65536 + 18 bytes in all. */
    struct spec sp = {.vlan = true, .tcp_opts = 12, .flags = TCP_ACK | TCP_PSH, .seq = 7};
    sp.payload = MAX_FRAME - (18 + 20 + 32);
    ck_assert_int_eq(run_gso(&sp, 1448), 46);
    struct spec sp6 = {.v6 = true, .tcp_opts = 12, .flags = TCP_ACK, .seq = 99};
    sp6.payload = MAX_FRAME - (14 + 40 + 32);
    ck_assert_int_eq(run_gso(&sp6, 1428), 46);
}
END_TEST

START_TEST(test_gso_exact_multiple)
{
    struct spec sp = {.payload = 1448 * 10, .flags = TCP_ACK | TCP_PSH | TCP_FIN, .id = 1};
    ck_assert_int_eq(run_gso(&sp, 1448), 10);
    struct spec sp6 = {.v6 = true, .vlan = true, .payload = 1428 * 7, .flags = TCP_ACK | TCP_PSH};
    ck_assert_int_eq(run_gso(&sp6, 1428), 7);
}
END_TEST

START_TEST(test_gso_v6_vlan)
{
    struct spec sp = {.v6 = true, .vlan = true, .tcp_opts = 12, .payload = 30001};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    sp.seq = 0xdeadbeef;
    ck_assert_int_eq(run_gso(&sp, 1440), 21);
    struct spec plain = {.v6 = true, .payload = 5000, .flags = TCP_ACK | TCP_FIN};
    ck_assert_int_eq(run_gso(&plain, 1000), 5);
}
END_TEST

START_TEST(test_gso_v4_vlan_options_wrap)
{
    /* IP options, a 40-byte TCP header, and sequence number and IP id wrapping. */
    struct spec sp = {.vlan = true, .ip_opts = 8, .tcp_opts = 20, .payload = 5000};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    sp.seq = 0xfffff000;
    sp.id = 0xfffe;
    ck_assert_int_eq(run_gso(&sp, 536), 10);
    struct spec tiny = {.payload = 1000, .flags = TCP_ACK | TCP_PSH};
    ck_assert_int_eq(run_gso(&tiny, OFFLOAD_MIN_MSS), 21);
}
END_TEST

START_TEST(test_gso_payload_below_mss)
{
    /* One segment, with lengths and checksums fixed even though the guest left garbage. */
    struct spec sp = {.payload = 100, .flags = TCP_ACK | TCP_PSH | TCP_FIN, .id = 42};
    ck_assert_int_eq(run_gso(&sp, 1448), 1);
    struct layout b;
    build(frame_buf, &sp, &b);
    wr16(frame_buf + b.l3 + 2, 0);       /* bogus total length */
    wr16(frame_buf + b.l3 + 10, 0x1111); /* bogus header checksum */
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct collect *c = calloc(1, sizeof(*c));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    const uint8_t *seg = c->buf;
    ck_assert_uint_eq(c->len[0], b.len);
    ck_assert_uint_eq(be16(seg + b.l3 + 2), b.len - b.l3);
    ck_assert_uint_eq(ref_fold(ref_sum(0, seg + b.l3, 20)), 0xffff);
    ck_assert_uint_eq(seg[b.l4 + 13], TCP_ACK | TCP_PSH | TCP_FIN);
    free(c);
    struct spec sp6 = {.v6 = true, .vlan = true, .payload = 1, .flags = TCP_ACK | TCP_CWR};
    ck_assert_int_eq(run_gso(&sp6, 1428), 1);
}
END_TEST

START_TEST(test_gso_emit_stops)
{
    struct spec sp = {.payload = 20000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct collect *c = calloc(1, sizeof(*c));
    c->stop_at = 3;
    c->stop_rc = 7;
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -7);
    ck_assert_int_eq(c->n, 3);
    memset(c, 0, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = -EAGAIN; /* a negative errno comes back unchanged */
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EAGAIN);
    ck_assert_int_eq(c->n, 1);
    /* Non-GSO frames stop the same way. */
    struct virtio_net_hdr_v1 none = mkhdr(0, 0, 0, 0, 0, 0);
    memset(c, 0, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = 1;
    ck_assert_int_eq(offload_segment(&none, frame_buf, b.len, scratch_buf, collect_fn, c), -1);
    free(c);
}
END_TEST

START_TEST(test_segment_without_gso)
{
    struct spec sp = {.vlan = true, .payload = 777, .flags = TCP_ACK | TCP_PSH};
    struct layout b;
    build(frame_buf, &sp, &b);
    seed(frame_buf, &b, PROTO_TCP, 16);
    memcpy(orig_buf, frame_buf, b.len);
    struct collect *c = calloc(1, sizeof(*c));
    /* No offload: the frame itself goes out, untouched. */
    struct virtio_net_hdr_v1 none = mkhdr(0, 0, 0, 0, 0, 0);
    ck_assert(!offload_needed(&none));
    ck_assert_int_eq(offload_segment(&none, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    ck_assert_ptr_eq(c->last_ptr, frame_buf);
    ck_assert_mem_eq(c->buf, orig_buf, b.len);
    /* NEEDS_CSUM only: one frame with the checksum filled, the input unchanged. */
    memset(c, 0, sizeof(*c));
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 16);
    ck_assert(offload_needed(&h));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    ck_assert_uint_eq(c->len[0], b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
    uint32_t sum = ref_pseudo(c->buf, &b, PROTO_TCP, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, c->buf + b.l4, b.len - b.l4)), 0xffff);
    ck_assert_mem_eq(c->buf, orig_buf, b.l4 + 16);
    ck_assert_mem_eq(c->buf + b.l4 + 18, orig_buf + b.l4 + 18, b.len - b.l4 - 18);
    free(c);
}
END_TEST

START_TEST(test_segment_refuses_bogus)
{
    struct spec sp = {.payload = 3000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    h.gso_size = htole16(0);
    struct collect *c = calloc(1, sizeof(*c));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EINVAL);
    h = gso_hdr(&sp, &b, 1448);
    h.csum_start = htole16(0xffff);
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EINVAL);
    ck_assert_int_eq(offload_segment(&h, frame_buf, 10, scratch_buf, collect_fn, c), -EINVAL);
    ck_assert_int_eq(c->n, 0);
    free(c);
}
END_TEST

void offload_segment_tests(TCase *tc)
{
    tcase_add_test(tc, test_gso_v4_mss1448_64k);
    tcase_add_test(tc, test_gso_largest_frames);
    tcase_add_test(tc, test_gso_exact_multiple);
    tcase_add_test(tc, test_gso_v6_vlan);
    tcase_add_test(tc, test_gso_v4_vlan_options_wrap);
    tcase_add_test(tc, test_gso_payload_below_mss);
    tcase_add_test(tc, test_gso_emit_stops);
    tcase_add_test(tc, test_segment_without_gso);
    tcase_add_test(tc, test_segment_refuses_bogus);
}
