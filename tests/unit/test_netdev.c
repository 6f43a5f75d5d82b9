/* Unit tests for the netdev core (net/netdev.c) with a fake backend (netdev_fixture.c) and the
 * fake NIC of tests/common/fakenet: the TX queue under EAGAIN and its flush, the bounded RX
 * queue with rx_pause/rx_resume and netdev_rx_ready from another thread (netdev_queues.c);
 * software GSO and checksum offload checked with an independent checksum, vnet header
 * pass-through (netdev_offload.c); malformed frames and guest headers dropped and counted
 * (netdev_malformed.c); link down, observers and attach rules (netdev_link.c). This file
 * builds the suite. */
#include "tests/unit/netdev_fixture.h"
#include "tests/unit/unit.h"

#include <check.h>

static Suite *netdev_suite(void)
{
    Suite *s = suite_create("netdev");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    netdev_queue_tests(tc);
    netdev_offload_tests(tc);
    netdev_malformed_tests(tc);
    netdev_link_tests(tc);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(netdev_suite)
