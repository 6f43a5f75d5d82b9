/* Tap backend tests, guest -> kernel: ARP and ping answered by the kernel; UDP with NEEDS_CSUM
 * and a 32 KiB TCP GSO frame delivered to kernel sockets with vnet_hdr on (the kernel does the
 * offload) and off (nicvm does it). Loop tests: _i == 0 with vnet_hdr on, 1 with
 * vnet_hdr=off. */
#include "tests/unit/tap_fixture.h"

#include "net/backend.h"
#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- ARP and ping
 * --------------------------------------------------------------------------------- */

static bool match_arp_reply(void *arg, const struct fn_pkt *p)
{
    (void)arg;
    return p->arp && p->arp_op == FN_ARP_REPLY && p->arp_spa == HOST_IP;
}

static bool match_echo_reply(void *arg, const struct fn_pkt *p)
{
    uint16_t seq = *(uint16_t *)arg;
    return p->l4 && p->proto == FN_PROTO_ICMP && p->icmp_type == FN_ICMP_REPLY &&
           p->saddr == HOST_IP && p->icmp_id == 0x7777 && p->icmp_seq == seq;
}

START_TEST(test_arp_and_ping)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    struct fn_addr self = guest_addr(0), host = host_addr(0);
    fn_guest_send(&g, frame, fn_arp_request(frame, sizeof(frame), &self, HOST_IP));
    struct fn_frame *fr = fn_guest_wait(&g, match_arp_reply, NULL, WAIT_MS);
    ck_assert_msg(fr != NULL, "no ARP reply from the kernel");
    struct fn_pkt p;
    fn_parse(fr->data, fr->len, &p);
    ck_assert_mem_eq(p.arp_sha, host_mac, 6);
    ck_assert_mem_eq(p.src, host_mac, 6);
    ck_assert_mem_eq(p.dst, guest_mac, 6);
    ck_assert_mem_eq(p.arp_tha, guest_mac, 6);
    ck_assert_uint_eq(p.arp_tpa, GUEST_IP);
    free(fr);
    for (uint16_t seq = 1; seq <= 3; seq++) {
        uint8_t payload[200];
        for (size_t i = 0; i < sizeof(payload); i++)
            payload[i] = (uint8_t)(i * seq);
        size_t n = fn_icmp_echo(frame, sizeof(frame), &self, &host, FN_ICMP_ECHO, 0x7777, seq,
                                payload, sizeof(payload));
        fn_guest_send(&g, frame, n);
        fr = fn_guest_wait(&g, match_echo_reply, &seq, WAIT_MS);
        ck_assert_msg(fr != NULL, "no echo reply for seq %u", seq);
        fn_parse(fr->data, fr->len, &p);
        ck_assert(p.ip_csum_ok && p.l4_csum_ok);
        ck_assert_uint_eq(p.daddr, GUEST_IP);
        ck_assert_uint_eq(p.data_len, sizeof(payload));
        ck_assert_mem_eq(p.data, payload, sizeof(payload));
        free(fr);
    }
    ck_assert_uint_eq(g.send_errors, 0);
    close_tap();
}
END_TEST

/* --- guest -> kernel offloads ---------------------------------------------------------------- */

/* Polls the guest until the kernel socket fd has a datagram (returns its length) or ms pass
 * (returns -1). */
static ssize_t wait_datagram(int fd, uint8_t *buf, size_t cap, struct sockaddr_in *from, int ms)
{
    uint64_t end = fn_now_ms() + (uint64_t)ms;
    do {
        socklen_t flen = sizeof(*from);
        ssize_t n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &flen);
        if (n >= 0)
            return n;
        fn_guest_poll(&g, 10);
    } while (fn_now_ms() < end);
    return -1;
}

START_TEST(test_udp_needs_csum)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int fd = kernel_socket(SOCK_DGRAM, 0);
    struct fn_addr self = guest_addr(41000), host = host_addr(local_port(fd));
    static const size_t sizes[] = {1, 333, 1400};
    long errs0 = udp_csum_errors();
    ck_assert_int_ge(errs0, 0);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint8_t payload[1400], got[2000];
        for (size_t i = 0; i < sizes[k]; i++)
            payload[i] = (uint8_t)(i * 3 + k);
        size_t n = fn_udp(frame, sizeof(frame), &self, &host, payload, sizes[k], FN_CSUM_PARTIAL);
        struct virtio_net_hdr_v1 h;
        fn_vnet_csum(&h, FN_L4_OFF, 6);
        ck_assert_int_eq(fn_nic_send(&g.nic, &h, frame, n), 0);
        struct sockaddr_in from;
        ssize_t r = wait_datagram(fd, got, sizeof(got), &from, WAIT_MS);
        ck_assert_msg(r == (ssize_t)sizes[k], "datagram of %zu bytes: got %zd", sizes[k], r);
        ck_assert_mem_eq(got, payload, sizes[k]);
        ck_assert_uint_eq(ntohl(from.sin_addr.s_addr), GUEST_IP);
        ck_assert_uint_eq(ntohs(from.sin_port), 41000);
    }
    ck_assert_int_eq(udp_csum_errors(), errs0);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_checksummed, vnet ? 0 : 3);
    /* The control: a wrong checksum without NEEDS_CSUM is caught by the kernel, so the good
     * ones above were really checked. */
    uint8_t got[64];
    size_t n = fn_udp(frame, sizeof(frame), &self, &host, "bad", 3, FN_CSUM_BAD);
    ck_assert_int_eq(fn_nic_send(&g.nic, NULL, frame, n), 0);
    struct sockaddr_in from;
    ck_assert_int_eq(wait_datagram(fd, got, sizeof(got), &from, 300), -1);
    ck_assert_int_eq(udp_csum_errors(), errs0 + 1);
    close(fd);
    close_tap();
}
END_TEST

START_TEST(test_tcp_gso_to_kernel)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int lfd = kernel_socket(SOCK_STREAM, 0);
    static uint8_t rx[64], data[32768], got[32768 + 1];
    struct fn_tcp t;
    int c = connect_guest(&t, lfd, 42000, rx, sizeof(rx));
    ck_assert_msg(t.peer_wnd >= sizeof(data), "the kernel's window (%u) is below 32 KiB",
                  t.peer_wnd);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 11 + (i >> 10));
    struct virtio_net_hdr_v1 h;
    size_t n = fn_tcp_gso(&t, frame, sizeof(frame), data, sizeof(data), 1448, &h);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(fn_nic_send(&g.nic, &h, frame, n), 0);
    size_t have = 0;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (have < sizeof(data) && fn_now_ms() < end) {
        ssize_t r = recv(c, got + have, sizeof(got) - have, MSG_DONTWAIT);
        if (r > 0)
            have += (size_t)r;
        else
            fn_guest_poll(&g, 10);
    }
    ck_assert_msg(have == sizeof(data), "the listener got %zu of %zu bytes", have, sizeof(data));
    ck_assert_mem_eq(got, data, sizeof(data));
    /* Everything was acknowledged by the kernel's TCP. */
    end = fn_now_ms() + WAIT_MS;
    while (t.snd_una != t.snd_nxt && fn_now_ms() < end)
        fn_guest_poll(&g, 10);
    ck_assert_uint_eq(t.snd_una, t.snd_nxt);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, vnet ? 0 : 1);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_BACKEND] + st->drops[NETDEV_DROP_MALFORMED], 0);
    close_rst(c);
    close(lfd);
    close_tap();
}
END_TEST

void tap_tx_tests(TCase *tc)
{
    tcase_add_loop_test(tc, test_arp_and_ping, 0, 2);
    tcase_add_loop_test(tc, test_udp_needs_csum, 0, 2);
    tcase_add_loop_test(tc, test_tcp_gso_to_kernel, 0, 2);
}
