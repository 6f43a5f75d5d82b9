/* netdev core unit tests, the offload path: a 64 KiB TSO frame segmented in software (checked
 * with an independent checksum), also when the backend is full; UDP checksum offload done in
 * software; and the virtio-net header passed through untouched to a backend that takes it,
 * with RX offloads reaching the backend. */
#include "tests/unit/netdev_fixture.h"

#include <check.h>
#include <linux/if_tun.h>
#include <string.h>

/* The TCP checksum of a segment, verified independently of net/offload.c: returns 0 when it
 * checks out. */
static uint16_t tcp_csum_check(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + FN_ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    size_t tcp_len = len - FN_ETH_HLEN - ihl;
    uint32_t pseudo = 0;
    for (int i = 12; i < 20; i += 2)
        pseudo += fn_get16(ip + i);
    pseudo += ip[9] + (uint32_t)tcp_len;
    return fn_csum_naive(pseudo, ip + ihl, tcp_len);
}

/* Checks segment i of the frame orig of gso_frame(): off payload bytes before it, seg in it. */
static void check_segment(const struct sent_frame *s, unsigned i, bool last, const uint8_t *orig,
                          size_t off, size_t seg)
{
    struct fn_pkt p;
    ck_assert(!s->has_hdr);
    ck_assert_uint_eq(s->len, FN_L4_OFF + FN_TCP_HLEN + seg);
    ck_assert(fn_parse(s->data, s->len, &p));
    ck_assert_msg(p.ip && p.l4 && p.proto == FN_PROTO_TCP, "segment %u does not parse", i);
    ck_assert_uint_eq(p.ip_len, s->len - FN_ETH_HLEN);
    ck_assert_uint_eq(p.ip_id, (uint16_t)(fn_get16(orig + FN_ETH_HLEN + 4) + i));
    ck_assert_msg(fn_csum_naive(0, s->data + FN_ETH_HLEN, FN_IP_HLEN) == 0,
                  "segment %u: bad IP header checksum", i);
    ck_assert_msg(tcp_csum_check(s->data, s->len) == 0, "segment %u: bad TCP checksum", i);
    ck_assert(p.ip_csum_ok && p.l4_csum_ok);
    ck_assert_uint_eq(p.seq, (uint32_t)(0xfffff000u + off));
    ck_assert_uint_eq(p.ack, 0x55667788u);
    ck_assert_uint_eq(p.tcp_flags, FN_TCP_ACK | (last ? FN_TCP_PSH : 0));
    ck_assert_uint_eq(p.data_len, seg);
    ck_assert_mem_eq(p.data, gso_payload + off, seg);
    /* Addresses, ports and the Ethernet header are the guest's. */
    ck_assert_mem_eq(s->data, orig, FN_ETH_HLEN);
    ck_assert_uint_eq(p.saddr, guest.ip);
    ck_assert_uint_eq(p.daddr, host.ip);
    ck_assert_uint_eq(p.sport, guest.port);
    ck_assert_uint_eq(p.dport, host.port);
}

/* Checks the segments the backend got for the frame orig of gso_frame(), from sent[first]. */
static void check_segments(unsigned first, const uint8_t *orig)
{
    unsigned nseg = (unsigned)((gso_plen + 1447) / 1448);
    ck_assert_uint_eq(nseg, 46);
    ck_assert_uint_eq(be.nsent - first, nseg);
    size_t off = 0;
    for (unsigned i = 0; i < nseg; i++) {
        size_t seg = gso_plen - off < 1448 ? gso_plen - off : 1448;
        check_segment(&be.sent[first + i], i, i == nseg - 1, orig, off, seg);
        off += seg;
    }
    ck_assert_uint_eq(off, gso_plen);
}

START_TEST(test_sw_gso_64k)
{
    open_fake(false);
    struct virtio_net_hdr_v1 h;
    size_t n = gso_frame(frame, &h);
    struct iovec iov[3] = {{frame, 100}, {frame + 100, 30000}, {frame + 30100, n - 30100}};
    ck_assert_int_eq(netdev_send(nd, &h, iov, 3, n), 0);
    check_segments(0, frame);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, 1);
    ck_assert_uint_eq(st->tx_packets, 1);
    ck_assert_uint_eq(st->tx_bytes, n);
    close_fake();
}
END_TEST

START_TEST(test_sw_gso_while_backend_full)
{
    open_fake(false);
    struct virtio_net_hdr_v1 h;
    size_t n = gso_frame(frame, &h);
    be.eagain = true;
    ck_assert_int_eq(fn_nic_send(&nic, &h, frame, n), 0);
    ck_assert(!netdev_can_send(nd));
    ck_assert_uint_eq(be.send_calls, 1);
    /* Every segment of one 64 KiB frame fits the TX queue. */
    be.eagain = false;
    netdev_backend_writable(nd);
    check_segments(0, frame);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_BACKEND], 0);
    ck_assert_uint_eq(nic.tx_ready_calls, 1);
    close_fake();
}
END_TEST

/* A UDP frame with NEEDS_CSUM and the pseudo-header seed reaches the backend with a valid
 * checksum; plen odd and even. */
static void check_sw_udp_csum(size_t plen)
{
    uint8_t payload[1500];
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(0xa5 ^ i);
    size_t n = fn_udp(frame, FN_MAX_FRAME, &guest, &host, payload, plen, FN_CSUM_PARTIAL);
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    struct iovec iov[2] = {{frame, 37}, {frame + 37, n - 37}}; /* split inside the UDP header */
    unsigned before = be.nsent;
    ck_assert_int_eq(netdev_send(nd, &h, iov, 2, n), 0);
    ck_assert_uint_eq(be.nsent, before + 1);
    const struct sent_frame *s = &be.sent[before];
    ck_assert(!s->has_hdr);
    ck_assert_uint_eq(s->len, n);
    /* Only the checksum field changed. */
    ck_assert_mem_eq(s->data, frame, FN_L4_OFF + 6);
    ck_assert_mem_eq(s->data + FN_L4_OFF + 8, frame + FN_L4_OFF + 8, n - FN_L4_OFF - 8);
    uint32_t pseudo = (guest.ip >> 16) + (guest.ip & 0xffff) + (host.ip >> 16) +
                      (host.ip & 0xffff) + FN_PROTO_UDP + (uint32_t)(n - FN_L4_OFF);
    ck_assert_uint_ne(fn_get16(s->data + FN_L4_OFF + 6), 0);
    ck_assert_msg(fn_csum_naive(pseudo, s->data + FN_L4_OFF, n - FN_L4_OFF) == 0,
                  "UDP checksum of a %zu-byte payload does not verify", plen);
    struct fn_pkt p;
    fn_parse(s->data, s->len, &p);
    ck_assert(p.l4 && p.l4_csum_ok);
}

START_TEST(test_sw_csum_udp)
{
    open_fake(false);
    check_sw_udp_csum(100);
    check_sw_udp_csum(333);
    check_sw_udp_csum(1);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_checksummed, 3);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_segmented, 0);
    close_fake();
}
END_TEST

/* Sends f (len bytes) with h and expects the backend to get both as they are, as sent[i]. */
static void expect_passed_through(unsigned i, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                                  size_t len)
{
    ck_assert_int_eq(fn_nic_send(&nic, h, f, len), 0);
    ck_assert_uint_eq(be.nsent, i + 1);
    ck_assert(be.sent[i].has_hdr);
    ck_assert_mem_eq(&be.sent[i].hdr, h, sizeof(*h));
    ck_assert_uint_eq(be.sent[i].len, len);
    ck_assert_mem_eq(be.sent[i].data, f, len);
}

START_TEST(test_vnet_hdr_passthrough)
{
    open_fake(true);
    ck_assert_uint_eq(netdev_caps(nd), NETDEV_CAP_VNET_HDR);
    struct virtio_net_hdr_v1 h;
    size_t n = gso_frame(frame, &h);
    expect_passed_through(0, &h, frame, n);
    /* A checksum-only frame too, and a frame that asks for nothing. */
    size_t u = fn_udp(frame, FN_MAX_FRAME, &guest, &host, "abc", 3, FN_CSUM_PARTIAL);
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    expect_passed_through(1, &h, frame, u);
    memset(&h, 0, sizeof(h));
    expect_passed_through(2, &h, frame, u);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, 0);
    ck_assert_uint_eq(st->sw_checksummed, 0);
    /* RX offloads reach the backend's op. */
    ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM | TUN_F_TSO4), 0);
    ck_assert_uint_eq(be.last_offloads, TUN_F_CSUM | TUN_F_TSO4);
    ck_assert_uint_eq(netdev_rx_offloads(nd), TUN_F_CSUM | TUN_F_TSO4);
    close_fake();
}
END_TEST

void netdev_offload_tests(TCase *tc)
{
    tcase_add_test(tc, test_sw_gso_64k);
    tcase_add_test(tc, test_sw_gso_while_backend_full);
    tcase_add_test(tc, test_sw_csum_udp);
    tcase_add_test(tc, test_vnet_hdr_passthrough);
}
