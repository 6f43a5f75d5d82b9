/* Tap backend tests, the link: the interface deleted under traffic, while reading is paused
 * or while idle takes the link down without a busy loop; open errors. Loop tests: _i == 0
 * with vnet_hdr on, 1 with vnet_hdr=off. */
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

/* --- the interface deleted -----------------------------------------------------------------------
 */

static void check_link_down_and_idle(void)
{
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(g.nic.link_changes, 1);
    ck_assert(!g.nic.link_up);
    struct fn_addr self = guest_addr(44000), host = host_addr(9);
    size_t n = fn_udp(frame, sizeof(frame), &self, &host, "late", 4, FN_CSUM_FULL);
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t down = st->drops[NETDEV_DROP_LINK_DOWN];
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(fn_nic_send(&g.nic, NULL, frame, n), -ENETDOWN);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], down + 10);
    unsigned events = 0, iters = idle_for(1000, &events);
    ck_assert_msg(events <= 2 && iters <= 60,
                  "%u events in %u iterations over 1 s after the tap went away: spinning?", events,
                  iters);
}

START_TEST(test_deleted_under_traffic)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int fd = kernel_socket(SOCK_DGRAM, 0);
    struct fn_addr self = guest_addr(44000), host = host_addr(local_port(fd));
    unsigned sent = 0;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        size_t n = fn_udp(frame, sizeof(frame), &self, &host, "traffic", 7, FN_CSUM_FULL);
        fn_nic_send(&g.nic, NULL, frame, n);
        fn_guest_poll(&g, 1);
        if (++sent == 50)
            sh("ip link del " IFNAME);
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up after the tap was deleted");
    check_link_down_and_idle();
    close(fd);
    close_tap();
}
END_TEST

START_TEST(test_deleted_while_rx_paused)
{
    struct sockaddr_in to;
    int fd = open_tap_nic_full(&to);
    for (int i = 0; i < 3; i++)
        ck_assert_int_gt(sendto(fd, "held", 4, 0, (struct sockaddr *)&to, sizeof(to)), 0);
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (g.nic.refused == 0 && fn_now_ms() < end)
        evloop_run_once(loop, 10);
    ck_assert_uint_eq(g.nic.refused, 1);
    /* Reading is paused; the guest sends nothing. The loss must still be noticed. */
    sh("ip link del " IFNAME);
    end = fn_now_ms() + WAIT_MS;
    unsigned iters = 0;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        evloop_run_once(loop, 20);
        iters++;
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up (%u loop iterations)", iters);
    check_link_down_and_idle();
    close(fd);
    close_tap();
}
END_TEST

START_TEST(test_deleted_while_idle)
{
    open_tap(_i == 0);
    /* No traffic either way: only the read side can notice. */
    sh("ip link del " IFNAME);
    uint64_t end = fn_now_ms() + WAIT_MS;
    unsigned iters = 0;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        evloop_run_once(loop, 20);
        iters++;
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up (%u loop iterations)", iters);
    check_link_down_and_idle();
    close_tap();
}
END_TEST

START_TEST(test_open_errors)
{
    loop = evloop_create();
    char err[512];
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"tap,id=t1,ifname=abcdefghijklmnopq", "longer than 15"},
        {"tap,id=t1,ifname=x,fd=3", "exclude each other"},
        {"tap,id=t1,fd=0", "fd=0 is not an open tap device"},
        {"tap,id=t1,ifname=x,script=/bin/true", "script= and downscript= are not supported"},
        {"tap,id=t1,ifname=x,vnet_hdr=maybe", "vnet_hdr"},
        {"tap,id=t1,ifname=lo", "cannot attach to tap 'lo'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct opts *o = opts_parse(cases[i].spec, "type", err, sizeof(err));
        ck_assert_ptr_nonnull(o);
        struct netdev *bad = netdev_create(loop, o, err, sizeof(err));
        opts_free(o);
        ck_assert_msg(bad == NULL, "%s: accepted", cases[i].spec);
        ck_assert_msg(strstr(err, cases[i].want), "%s: '%s' lacks '%s'", cases[i].spec, err,
                      cases[i].want);
    }
    evloop_destroy(loop);
}
END_TEST

void tap_link_tests(TCase *tc)
{
    tcase_add_loop_test(tc, test_deleted_under_traffic, 0, 2);
    tcase_add_test(tc, test_deleted_while_rx_paused);
    tcase_add_loop_test(tc, test_deleted_while_idle, 0, 2);
    tcase_add_test(tc, test_open_errors);
}
