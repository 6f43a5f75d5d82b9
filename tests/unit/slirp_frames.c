/* User backend tests, frames: malformed frames dropped without harm, and IPv4 fragments from
 * the guest reassembled before libslirp (a ping and a 4000-byte UDP datagram get through; a
 * lone last fragment is held, never crashing it). */
#include "tests/unit/slirp_fixture.h"

#include "net/backend.h"
#include "net/ipfrag.h"
#include "net/netdev.h"
#include "net/offload.h"
#include "net/slirp.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* --- malformed frames ----------------------------------------------------------------------------
 */

/* The IPv4 header checksum of frame f, after a field was changed. */
static void ip_refresh_csum(uint8_t *f)
{
    uint8_t *ip = f + FN_ETH_HLEN;
    size_t hlen = (size_t)(ip[0] & 0xf) * 4;
    fn_put16(ip + 10, 0);
    fn_put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, hlen)));
}

START_TEST(test_malformed_frames)
{
    open_user("");
    ping(GW_IP, 1);
    struct fn_addr src, dst;
    guest_addr(&src, 1234);
    gw_addr(&dst, GW_IP, 7);
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t malformed0 = st->drops[NETDEV_DROP_MALFORMED];

    /* Runts (refused by the layer before libslirp). */
    memset(frame, 0xab, 64);
    fn_guest_send(&g, frame, 1);
    fn_guest_send(&g, frame, 13);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_MALFORMED], malformed0 + 2);
    /* An Ethernet header alone, and a truncated IP header. */
    fn_eth(frame, gw_mac, guest_mac, FN_ETH_P_IP);
    fn_guest_send(&g, frame, FN_ETH_HLEN);
    fn_guest_send(&g, frame, FN_ETH_HLEN + 10);
    /* IP total length larger than the frame, and smaller than its header. */
    size_t n = fn_udp(frame, sizeof(frame), &src, &dst, "x", 1, FN_CSUM_FULL);
    fn_put16(frame + FN_ETH_HLEN + 2, 1500);
    fn_guest_send(&g, frame, n);
    fn_put16(frame + FN_ETH_HLEN + 2, 10);
    fn_guest_send(&g, frame, n);
    /* IHL of 15 in a short frame, and of 2. */
    n = fn_udp(frame, sizeof(frame), &src, &dst, "x", 1, FN_CSUM_FULL);
    frame[FN_ETH_HLEN] = 0x4f;
    fn_guest_send(&g, frame, n);
    frame[FN_ETH_HLEN] = 0x42;
    fn_guest_send(&g, frame, n);
    /* A UDP length past the IP payload; a TCP data offset past the segment; ICMP cut short. */
    n = fn_udp(frame, sizeof(frame), &src, &dst, "abcd", 4, FN_CSUM_FULL);
    fn_put16(frame + FN_L4_OFF + 4, 400);
    fn_guest_send(&g, frame, n);
    n = fn_ipv4(frame, sizeof(frame), &src, &dst, FN_PROTO_TCP, 1, 24);
    memset(frame + FN_L4_OFF, 0, 24);
    frame[FN_L4_OFF + 12] = 0xf0;
    frame[FN_L4_OFF + 13] = FN_TCP_SYN;
    fn_guest_send(&g, frame, n);
    n = fn_ipv4(frame, sizeof(frame), &src, &dst, FN_PROTO_ICMP, 2, 3);
    memset(frame + FN_L4_OFF, 8, 3);
    fn_guest_send(&g, frame, n);
    /* A first fragment whose rest never comes, and a lone last fragment. */
    n = fn_udp(frame, sizeof(frame), &src, &dst, "fragment", 8, FN_CSUM_FULL);
    fn_put16(frame + FN_ETH_HLEN + 6, 0x2000);
    ip_refresh_csum(frame);
    fn_guest_send(&g, frame, n);
    fn_put16(frame + FN_ETH_HLEN + 6, 0x0100);
    ip_refresh_csum(frame);
    fn_guest_send(&g, frame, n);
    ck_assert_uint_eq(slirp_ipfrag_stats(nd)->held, 2);
    /* Garbage behind IPv4, ARP and IPv6 ethertypes, and a truncated ARP. */
    static const uint16_t types[] = {FN_ETH_P_IP, FN_ETH_P_ARP, 0x86dd, 0x1234};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        fn_eth(frame, gw_mac, guest_mac, types[i]);
        for (size_t k = FN_ETH_HLEN; k < 1000; k++)
            frame[k] = (uint8_t)(k * 151 + i * 7);
        fn_guest_send(&g, frame, 1000);
        fn_guest_send(&g, frame, FN_ETH_HLEN + 5);
    }
    /* A version-6 header whose payload length is past the frame. */
    fn_eth(frame, gw_mac, guest_mac, 0x86dd);
    memset(frame + FN_ETH_HLEN, 0, 40);
    frame[FN_ETH_HLEN] = 0x60;
    fn_put16(frame + FN_ETH_HLEN + 4, 9000);
    frame[FN_ETH_HLEN + 6] = 58;
    fn_guest_send(&g, frame, FN_ETH_HLEN + 48);
    /* Larger than any MTU: libslirp takes it whole (ip_input has no MTU check, and the
     * backend takes frames up to NETDEV_MAX_FRAME for its coalesced TCP GSO frames). */
    n = fn_udp(frame, sizeof(frame), &src, &dst, to_guest, 20000, FN_CSUM_FULL);
    fn_guest_send(&g, frame, n);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_BACKEND], 0);

    for (int i = 0; i < 20; i++)
        fn_guest_poll(&g, 5);
    ping(GW_IP, 2);
    ping(DNS_IP, 3);
    close_user();
}
END_TEST

/* --- IPv4 fragments from the guest ------------------------------------------------------------
 */

/* Sends the IPv4 datagram in whole (a frame with a 20-byte header) as fragments of chunk
 * payload bytes (a multiple of 8), the last first when reverse. Returns how many. */
static int send_fragments(const uint8_t *whole, size_t len, size_t chunk, bool reverse)
{
    static uint8_t piece[FN_MAX_FRAME];
    size_t plen = len - FN_L4_OFF;
    int n = (int)((plen + chunk - 1) / chunk);
    for (int k = 0; k < n; k++) {
        size_t i = (size_t)(reverse ? n - 1 - k : k), off = i * chunk;
        size_t m = plen - off < chunk ? plen - off : chunk;
        memcpy(piece, whole, FN_L4_OFF);
        memcpy(piece + FN_L4_OFF, whole + FN_L4_OFF + off, m);
        fn_put16(piece + FN_ETH_HLEN + 2, (uint16_t)(FN_IP_HLEN + m));
        fn_put16(piece + FN_ETH_HLEN + 6, (uint16_t)((off + m < plen ? 0x2000 : 0) | off / 8));
        ip_refresh_csum(piece);
        fn_guest_send(&g, piece, FN_L4_OFF + m);
    }
    return n;
}

/* Takes the frames for the guest until libslirp's reply (fragmented to its 1500-byte MTU)
 * is whole again in a reassembly table of the test's own. Returns its length in reply, or
 * 0. */
static size_t wait_fragmented_reply(uint8_t *reply, size_t cap)
{
    struct ipfrag *rt = ipfrag_new();
    ck_assert_ptr_nonnull(rt);
    size_t len = 0;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (len == 0 && fn_now_ms() < end) {
        evloop_run_once(loop, 10);
        struct fn_frame *fr;
        while ((fr = fn_nic_pop(&g.nic))) {
            struct ipfrag_out out;
            if (ipfrag_input(rt, fr->data, fr->len, 0, &out) == IPFRAG_COMPLETE && out.len <= cap &&
                len == 0) {
                memcpy(reply, out.frame, out.len);
                len = out.len;
            }
            free(fr);
        }
    }
    ipfrag_free(rt);
    return len;
}

START_TEST(test_fragments_from_guest)
{
    open_user("");
    struct fn_addr src, dst;
    guest_addr(&src, 0);
    gw_addr(&dst, GW_IP, 0);
    static uint8_t payload[4000], reply[FN_MAX_FRAME];
    fill_pattern(payload, sizeof(payload), 7);
    /* A 1000-byte ping in two fragments, the last first: the reply fits one frame. */
    size_t n =
        fn_icmp_echo(frame, sizeof(frame), &src, &dst, FN_ICMP_ECHO, 0x4343, 1, payload, 1000);
    ck_assert_int_eq(send_fragments(frame, n, 512, true), 2);
    struct echo_wait w = {GW_IP, 0x4343, 1};
    struct fn_frame *fr = fn_guest_wait(&g, match_echo_reply, &w, WAIT_MS);
    ck_assert_msg(fr != NULL, "no reply to a fragmented ping");
    struct fn_pkt p;
    fn_parse(fr->data, fr->len, &p);
    ck_assert(p.ip_csum_ok && p.l4_csum_ok);
    ck_assert_uint_eq(p.data_len, 1000);
    ck_assert_mem_eq(p.data, payload, 1000);
    free(fr);
    /* ping -s 4000: three fragments out, libslirp's reply comes fragmented too. */
    n = fn_icmp_echo(frame, sizeof(frame), &src, &dst, FN_ICMP_ECHO, 0x4343, 2, payload, 4000);
    ck_assert_int_eq(send_fragments(frame, n, 1480, false), 3);
    size_t rlen = wait_fragmented_reply(reply, sizeof(reply));
    ck_assert_msg(rlen > 0, "no reassembled reply to ping -s 4000");
    fn_parse(reply, rlen, &p);
    ck_assert(p.l4 && p.icmp_type == FN_ICMP_REPLY && p.icmp_seq == 2 && p.l4_csum_ok);
    ck_assert_uint_eq(p.saddr, GW_IP);
    ck_assert_uint_eq(p.data_len, 4000);
    ck_assert_mem_eq(p.data, payload, 4000);
    const struct ipfrag_stats *st = slirp_ipfrag_stats(nd);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(st->fragments, 5);
    ck_assert_uint_eq(st->reassembled, 2);
    ck_assert_uint_eq(st->in_progress, 0);
    close_user();
}
END_TEST

/* Waits for a datagram on the host socket fd. Returns its length, or -1. */
static ssize_t host_recv(int fd, uint8_t *buf, size_t cap)
{
    ssize_t r = -1;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (r < 0 && fn_now_ms() < end) {
        fn_guest_poll(&g, 10);
        r = recv(fd, buf, cap, MSG_DONTWAIT);
    }
    return r;
}

/* 4000 bytes of UDP, then the largest datagram IPv4 allows (65535 bytes: 14 + 65535 reach
 * libslirp at once), to a socket on the host's loopback (the gateway address). */
START_TEST(test_fragmented_udp_to_host)
{
    open_user("");
    int fd = bound_socket(SOCK_DGRAM, 0);
    struct fn_addr src, dst;
    guest_addr(&src, 5555);
    gw_addr(&dst, GW_IP, (uint16_t)local_port(fd));
    enum { MAX_UDP = 65535 - FN_IP_HLEN - FN_UDP_HLEN };
    static uint8_t payload[MAX_UDP], got[MAX_UDP + 1];
    fill_pattern(payload, sizeof(payload), 11);
    size_t n = fn_udp(frame, sizeof(frame), &src, &dst, payload, 4000, FN_CSUM_FULL);
    ck_assert_int_eq(send_fragments(frame, n, 1480, false), 3);
    ck_assert_int_eq(host_recv(fd, got, sizeof(got)), 4000);
    ck_assert_mem_eq(got, payload, 4000);
    n = fn_udp(frame, sizeof(frame), &src, &dst, payload, MAX_UDP, FN_CSUM_FULL);
    ck_assert_int_eq(send_fragments(frame, n, 1480, true), 45);
    ck_assert_int_eq(host_recv(fd, got, sizeof(got)), MAX_UDP);
    ck_assert_mem_eq(got, payload, MAX_UDP);
    ck_assert_uint_eq(slirp_ipfrag_stats(nd)->reassembled, 2);
    close(fd);
    close_user();
}
END_TEST

/* The crash libslirp 4.7.0 has in ip_reass(): a last fragment alone, with a valid header.
 * It is held here, never handed to libslirp, which goes on answering. */
START_TEST(test_lone_last_fragment)
{
    open_user("");
    struct fn_addr src, dst;
    guest_addr(&src, 1234);
    gw_addr(&dst, GW_IP, 7);
    size_t n = fn_udp(frame, sizeof(frame), &src, &dst, "fragment", 8, FN_CSUM_FULL);
    fn_put16(frame + FN_ETH_HLEN + 6, 0x0010); /* offset 128, MF clear */
    ip_refresh_csum(frame);
    fn_guest_send(&g, frame, n);
    fn_guest_send(&g, frame, n);
    for (int i = 0; i < 5; i++)
        fn_guest_poll(&g, 5);
    const struct ipfrag_stats *st = slirp_ipfrag_stats(nd);
    ck_assert_uint_eq(st->held, 2);
    ck_assert_uint_eq(st->duplicates, 1);
    ck_assert_uint_eq(st->in_progress, 1);
    ck_assert_uint_eq(st->reassembled, 0);
    /* The monitor's and --exit-stats' netdev report carries the same counters. */
    json_t *info = netdev_info(nd);
    json_t *frag = json_object_get(json_object_get(info, "backend"), "ipv4_reassembly");
    ck_assert_ptr_nonnull(frag);
    ck_assert_int_eq(json_integer_value(json_object_get(frag, "fragments_held")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(frag, "in_progress_now")), 1);
    json_decref(info);
    ping(GW_IP, 5);
    close_user();
}
END_TEST

void slirp_frames_tests(TCase *tc)
{
    tcase_add_test(tc, test_malformed_frames);
    tcase_add_test(tc, test_fragments_from_guest);
    tcase_add_test(tc, test_fragmented_udp_to_host);
    tcase_add_test(tc, test_lone_last_fragment);
}
