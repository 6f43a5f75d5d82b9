/* Tests for the user backend (net/slirp.c, net/slirp_opts.c) with the real libslirp and a
 * fake guest (tests/common/fakenet) on non-default addresses: DHCP DISCOVER/OFFER and
 * REQUEST/ACK carry the configured addresses, ARP and ping of the gateway, TCP through
 * hostfwd with data both ways, guest -> host connections one after another (the second
 * right after the first was reset), guestfwd to a unix socket and to a command, restrict=on,
 * bad forwards and options refused with a message naming them, malformed frames dropped
 * without harm, and IPv4 fragments from the guest reassembled before libslirp (a ping and a
 * 4000-byte UDP datagram get through; a lone last fragment is held, never crashing it).
 * Host-side sockets are non-blocking and driven together with the loop. The tests are in
 * slirp_addr.c, slirp_conn.c, slirp_fwd.c and slirp_frames.c over the shared slirp_fixture;
 * this file builds the suite. */
#include "tests/unit/slirp_fixture.h"
#include "tests/unit/unit.h"

#include <check.h>

static Suite *slirp_suite(void)
{
    Suite *s = suite_create("slirp");
    TCase *tc = tcase_create("user");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, gf_path_setup, gf_path_teardown);
    slirp_addr_tests(tc);
    slirp_conn_tests(tc);
    slirp_fwd_tests(tc);
    slirp_frames_tests(tc);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(slirp_suite)
