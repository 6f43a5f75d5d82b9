/* Unit tests for the virtio-mmio transport and the virtio-net device: a fake driver
 * (virtio_net_fixture.c) programs the registers through virtio_mmio_io() and lays out split
 * rings byte by byte in a fake guest RAM at gpa 0 (as test_virtq.c does); a fake netdev
 * backend records what the device sends and pushes frames to it with netdev_deliver(); kicks
 * reach the device through the event loop, which the tests run in bounded steps. Besides the
 * normal paths (virtio_net_features.c: negotiation; virtio_net_tx.c, virtio_net_rx.c: TX, RX
 * with and without MRG_RXBUF, EVENT_IDX; virtio_net_life.c: reset, link, back-pressure) every
 * applicable item of the malicious-guest checklist (sections 1 and 3: virtio_net_transport.c,
 * virtio_net_tx_hostile.c, virtio_net_rx_hostile.c) is posted to check that the device
 * processes it safely or refuses it (dropped and counted, or DEVICE_NEEDS_RESET), never
 * touching memory outside guest RAM (the ASan build checks that). This file builds the
 * suite. */
#include "tests/unit/unit.h"
#include "tests/unit/virtio_net_fixture.h"

#include <check.h>

static Suite *virtio_net_suite(void)
{
    Suite *s = suite_create("virtio_net");
    struct vn_tcases tc = {
        .neg = tcase_create("negotiation"),
        .neg_vnet = tcase_create("negotiation_vnet"),
        .tx = tcase_create("tx"),
        .rx = tcase_create("rx"),
        .rx_vnet = tcase_create("rx_vnet"),
        .evidx = tcase_create("event_idx"),
        .life = tcase_create("reset_link_backpressure"),
        .transport = tcase_create("transport_hostile"),
        .ring = tcase_create("ring_hostile"),
        .net = tcase_create("net_hostile"),
        .net_vnet = tcase_create("net_hostile_vnet"),
    };
    TCase *all[] = {tc.neg,  tc.neg_vnet,  tc.tx,   tc.rx,  tc.rx_vnet, tc.evidx,
                    tc.life, tc.transport, tc.ring, tc.net, tc.net_vnet};

    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        bool vnet = all[i] == tc.neg_vnet || all[i] == tc.rx_vnet || all[i] == tc.net_vnet;
        tcase_add_checked_fixture(all[i], vnet ? setup_vnet : setup, teardown);
        tcase_set_timeout(all[i], 60);
    }
    vn_features_tests(&tc);
    vn_tx_tests(&tc);
    vn_rx_tests(&tc);
    vn_life_tests(&tc);
    vn_transport_tests(&tc);
    vn_tx_hostile_tests(&tc);
    vn_rx_hostile_tests(&tc);
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        suite_add_tcase(s, all[i]);
    return s;
}

UNIT_MAIN(virtio_net_suite)
