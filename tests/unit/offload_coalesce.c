/* Software offload unit tests, coalescing for backends that take large packets
 * (offload_coalesce): whole frames finished in place, packets held within the backend's IPv4
 * and IPv6 limits, and bogus headers refused without a byte written. */
#include "tests/unit/offload_fixture.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* run_coalesce: builds the frame of sp as Linux may leave a GSO frame (IP length 0, IPv4
 * header checksum stale, any TCP seed; ECN allowed), hands it to offload_coalesce() with the
 * limits max, and checks the packets: chunk bytes of payload each, lengths and checksums
 * against the reference. Returns the number of packets. */
static int run_coalesce(const struct spec *sp, uint16_t mss, size_t max4, size_t max6, size_t chunk)
{
    struct layout b;
    build(frame_buf, sp, &b);
    wr16(frame_buf + b.l4 + 16, 0xbeef);
    wr16(frame_buf + b.l3 + (sp->v6 ? 4 : 2), 0);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = gso_hdr(sp, &b, mss);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    struct offload_coalesce_max max = {max4, max6};
    struct collect *c = calloc(1, sizeof(*c));
    uint8_t *in = exact(b.len);
    ck_assert_ptr_nonnull(c);
    int n = offload_coalesce(&h, in, b.len, &max, scratch_buf, collect_fn, c);
    ck_assert_int_eq(n, (int)((b.len - b.hdrs + chunk - 1) / chunk));
    ck_assert_int_eq(c->n, n);
    if (n == 1)
        ck_assert_ptr_eq(c->last_ptr, in); /* finished in place: no copy */
    else
        ck_assert_mem_eq(in, orig_buf, b.len);
    check_packets(sp, &b, chunk, c);
    free(in);
    free(c);
    return n;
}

START_TEST(test_coalesce_whole_v4)
{
    struct spec sp = {.tcp_opts = 12, .payload = 64000, .seq = 0xffff0000, .id = 0x4321};
    sp.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    ck_assert_int_eq(run_coalesce(&sp, 1448, 0xffff, 0xffff, sp.payload), 1);
    /* IP options, a tag, a 40-byte TCP header; the packet exactly at the IPv4 limit. */
    struct spec opt = {.vlan = true, .ip_opts = 8, .tcp_opts = 20, .flags = TCP_ACK, .id = 9};
    opt.payload = 0xffff - 28 - 40;
    ck_assert_int_eq(run_coalesce(&opt, 536, 0xffff, 0, opt.payload), 1);
    /* The emit function's stop value comes back as for offload_segment. */
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct offload_coalesce_max max = {0xffff, 0xffff};
    struct collect *c = calloc(1, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = 5;
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.len, &max, scratch_buf, collect_fn, c), -5);
    free(c);
}
END_TEST

START_TEST(test_coalesce_whole_v6)
{
    struct spec sp = {.v6 = true, .tcp_opts = 12, .payload = 60001, .seq = 77};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    ck_assert_int_eq(run_coalesce(&sp, 1428, 1500, 0xffff, sp.payload), 1);
    struct spec tagged = {.v6 = true, .vlan = true, .payload = 2 * 1440 + 1, .flags = TCP_ACK};
    ck_assert_int_eq(run_coalesce(&tagged, 1440, 0, 3000, tagged.payload), 1);
}
END_TEST

START_TEST(test_coalesce_within_limits)
{
    /* IPv6 held to a 1500-byte MTU (libslirp's ip6_input): gso_size segments, as before. */
    struct spec v6 = {.v6 = true, .tcp_opts = 12, .payload = 20000, .flags = TCP_ACK | TCP_CWR};
    ck_assert_int_eq(run_coalesce(&v6, 1428, 0xffff, 1500, 1428), 15);
    /* A 9000-byte limit: six segments a packet (40 + 32 + 6 * 1428 <= 9000). */
    v6.payload = 60000;
    ck_assert_int_eq(run_coalesce(&v6, 1428, 0xffff, 9000, 6 * 1428), 8);
    /* An IPv4 packet over 65535 bytes (the guest may say 0 for it): 44 segments, then the
     * rest; a limit above 65535 counts as 65535. */
    struct spec big = {.vlan = true, .flags = TCP_ACK | TCP_PSH | TCP_CWR, .id = 0xffff};
    big.payload = MAX_FRAME - (18 + 20 + 20);
    ck_assert_int_eq(run_coalesce(&big, 1460, 0xffff, 0xffff, 44 * 1460), 2);
    ck_assert_int_eq(run_coalesce(&big, 1460, 1u << 20, 0, 44 * 1460), 2);
    /* A limit below one segment: gso_size segments. */
    ck_assert_int_eq(run_coalesce(&big, 1460, 0, 0, 1460), 45);
}
END_TEST

START_TEST(test_coalesce_refuses_bogus)
{
    struct spec sp = {.payload = 3000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    memcpy(orig_buf, frame_buf, b.len);
    struct offload_coalesce_max max = {0xffff, 0xffff};
    struct virtio_net_hdr_v1 bad[5];
    for (int i = 0; i < 5; i++)
        bad[i] = gso_hdr(&sp, &b, 1448);
    bad[0].gso_size = htole16(0);
    bad[1].csum_start = htole16((uint16_t)(b.l4 + 2));
    bad[2].csum_offset = htole16(6);
    bad[3].csum_start = htole16(0xffff);
    bad[4] = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 16); /* no GSO */
    struct collect *c = calloc(1, sizeof(*c));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(
            offload_coalesce(&bad[i], frame_buf, b.len, &max, scratch_buf, collect_fn, c), -EINVAL);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.len, NULL, scratch_buf, collect_fn, c),
                     -EINVAL);
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.hdrs, &max, scratch_buf, collect_fn, c),
                     -EINVAL);
    ck_assert_int_eq(c->n, 0);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len); /* nothing written */
    free(c);
}
END_TEST

void offload_coalesce_tests(TCase *tc)
{
    tcase_add_test(tc, test_coalesce_whole_v4);
    tcase_add_test(tc, test_coalesce_whole_v6);
    tcase_add_test(tc, test_coalesce_within_limits);
    tcase_add_test(tc, test_coalesce_refuses_bogus);
}
