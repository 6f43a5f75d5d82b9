/* User backend tests, addresses: DHCP DISCOVER/OFFER and REQUEST/ACK carry the configured
 * addresses; ARP and ping of the gateway and the DNS address. */
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

struct dhcp_wait {
    uint32_t xid;
    uint8_t type;
};

static bool match_dhcp(void *arg, const struct fn_pkt *p)
{
    struct dhcp_wait *w = arg;
    struct fn_dhcp d;
    return fn_dhcp_parse(p, &d) && d.xid == w->xid && d.msg_type == w->type;
}

static bool match_arp_reply(void *arg, const struct fn_pkt *p)
{
    return p->arp && p->arp_op == FN_ARP_REPLY && p->arp_spa == *(uint32_t *)arg;
}
/* --- DHCP, ARP, ping ---------------------------------------------------------------------------
 */

static void check_dhcp_reply(struct fn_frame *fr, uint8_t type, uint32_t xid)
{
    ck_assert_msg(fr != NULL, "no DHCP reply of type %u", type);
    struct fn_pkt p;
    struct fn_dhcp d;
    fn_parse(fr->data, fr->len, &p);
    ck_assert(fn_dhcp_parse(&p, &d));
    ck_assert_uint_eq(d.msg_type, type);
    ck_assert_uint_eq(d.xid, xid);
    ck_assert_uint_eq(d.yiaddr, GUEST_IP);
    ck_assert_uint_eq(d.router, GW_IP);
    ck_assert_uint_eq(d.dns, DNS_IP);
    ck_assert_uint_eq(d.server_id, GW_IP);
    ck_assert_uint_eq(d.mask, FN_IP4(255, 255, 255, 0));
    ck_assert_uint_gt(d.lease, 0);
    ck_assert_mem_eq(d.chaddr, guest_mac, 6);
    ck_assert_mem_eq(p.src, gw_mac, 6);
    ck_assert_uint_eq(p.saddr, GW_IP);
    ck_assert(p.ip_csum_ok && p.l4_csum_ok);
    free(fr);
}

START_TEST(test_dhcp_discover_offer_request_ack)
{
    open_user("");
    struct dhcp_wait w = {0x1badcafe, FN_DHCP_OFFER};
    size_t n = fn_dhcp_client(frame, sizeof(frame), guest_mac, FN_DHCP_DISCOVER, w.xid, 0, 0);
    fn_guest_send(&g, frame, n);
    check_dhcp_reply(fn_guest_wait(&g, match_dhcp, &w, WAIT_MS), FN_DHCP_OFFER, w.xid);
    w = (struct dhcp_wait){0x1badcaff, FN_DHCP_ACK};
    n = fn_dhcp_client(frame, sizeof(frame), guest_mac, FN_DHCP_REQUEST, w.xid, GUEST_IP, GW_IP);
    fn_guest_send(&g, frame, n);
    check_dhcp_reply(fn_guest_wait(&g, match_dhcp, &w, WAIT_MS), FN_DHCP_ACK, w.xid);
    ck_assert_uint_eq(g.send_errors, 0);
    close_user();
}
END_TEST

START_TEST(test_arp_gateway)
{
    open_user("");
    struct fn_addr self;
    guest_addr(&self, 0);
    uint32_t gw = GW_IP;
    fn_guest_send(&g, frame, fn_arp_request(frame, sizeof(frame), &self, gw));
    struct fn_frame *fr = fn_guest_wait(&g, match_arp_reply, &gw, WAIT_MS);
    ck_assert_msg(fr != NULL, "no ARP reply for the gateway");
    struct fn_pkt p;
    fn_parse(fr->data, fr->len, &p);
    ck_assert_mem_eq(p.dst, guest_mac, 6);
    ck_assert_mem_eq(p.arp_sha, gw_mac, 6);
    ck_assert_mem_eq(p.src, gw_mac, 6);
    ck_assert_mem_eq(p.arp_tha, guest_mac, 6);
    ck_assert_uint_eq(p.arp_tpa, GUEST_IP);
    free(fr);
    /* The DNS address answers too (it is configured, not the default .3). */
    uint32_t dns = DNS_IP;
    fn_guest_send(&g, frame, fn_arp_request(frame, sizeof(frame), &self, dns));
    fr = fn_guest_wait(&g, match_arp_reply, &dns, WAIT_MS);
    ck_assert_msg(fr != NULL, "no ARP reply for the DNS address");
    free(fr);
    close_user();
}
END_TEST

START_TEST(test_ping_gateway)
{
    open_user("");
    /* No ARP first: libslirp resolves the guest itself (fn_guest answers). */
    ping(GW_IP, 1);
    ping(GW_IP, 2);
    ping(DNS_IP, 3);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_ge(st->tx_packets, 3);
    ck_assert_uint_ge(st->rx_packets, 3);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(st->drops[i], 0);
    close_user();
}
END_TEST

void slirp_addr_tests(TCase *tc)
{
    tcase_add_test(tc, test_dhcp_discover_offer_request_ack);
    tcase_add_test(tc, test_arp_gateway);
    tcase_add_test(tc, test_ping_gateway);
}
