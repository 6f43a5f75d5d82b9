/* Unit tests for the split virtqueue: a fake guest RAM at gpa 0 holds descriptor, avail and
 * used rings laid out byte by byte as a driver would (virtq_fixture.c), and every hostile case
 * of the malicious-guest checklist (split ring) is posted to check that it is processed or
 * refused. The tests are by topic: virtq_life.c (activation, unpop, reset), virtq_chains.c
 * (chains and indirect tables), virtq_hostile.c (hostile descriptors), virtq_avail.c (hostile
 * avail and used rings, index wrap), virtq_notify.c (interrupt and notification suppression,
 * EVENT_IDX). This file builds the suite. */
#include "tests/unit/unit.h"
#include "tests/unit/virtq_fixture.h"

#include <check.h>

static Suite *virtq_suite(void)
{
    Suite *s = suite_create("virtq");
    struct virtq_tcases tc = {
        .act = tcase_create("activate"),
        .chain = tcase_create("chains"),
        .hostile = tcase_create("hostile"),
        .notify = tcase_create("notify"),
        .life = tcase_create("lifecycle"),
    };
    TCase *all[] = {tc.act, tc.chain, tc.hostile, tc.notify, tc.life};

    /* Each test sets the queue up as it needs; the RAM is freed even when a test fails. */
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tcase_add_checked_fixture(all[i], NULL, fx_free);
    tcase_set_timeout(tc.hostile, 60);
    tcase_set_timeout(tc.notify, 60);
    virtq_life_tests(&tc);
    virtq_chain_tests(&tc);
    virtq_desc_hostile_tests(&tc);
    virtq_avail_tests(&tc);
    virtq_notify_tests(&tc);
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        suite_add_tcase(s, all[i]);
    return s;
}

UNIT_MAIN(virtq_suite)
