/* Unit tests for the 82540EM model (devices/e1000*.c), driven the way QEMU's e1000e-test drives
 * a NIC with no guest OS: a fake driver (e1000_fixture.c) programs the registers through
 * e1000_mmio()/e1000_io() and lays out descriptor rings byte by byte in fake guest RAM at
 * gpa 0; a fake netdev backend records what the device sends (with or without the virtio-net
 * header) and pushes frames with netdev_deliver(); a fake INTx line records its level; the
 * event loop runs in bounded steps. The tests live by topic in e1000_regs.c (EEPROM, PHY,
 * registers), e1000_tx.c, e1000_rx.c, e1000_irq.c (causes, masks, mitigation timers),
 * e1000_stats_reset.c and e1000_checklist.c (section 2 of the malicious-guest checklist);
 * this file builds the suite. */
#include "tests/unit/e1000_fixture.h"
#include "tests/unit/unit.h"

#include <check.h>

static Suite *e1000_suite(void)
{
    Suite *s = suite_create("e1000");
    struct e1000_tcases tc = {
        .registers = tcase_create("registers"),
        .tx = tcase_create("tx"),
        .tx_vnet = tcase_create("tx-vnet"),
        .rx = tcase_create("rx"),
        .interrupts = tcase_create("interrupts"),
        .checklist = tcase_create("checklist"),
    };
    TCase *all[] = {tc.registers, tc.tx, tc.tx_vnet, tc.rx, tc.interrupts, tc.checklist};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tcase_add_checked_fixture(all[i], all[i] == tc.tx_vnet ? setup_vnet : setup, teardown);
    tcase_set_timeout(tc.interrupts, 30);
    tcase_set_timeout(tc.checklist, 30);
    e1000_regs_tests(&tc);
    e1000_tx_tests(&tc);
    e1000_rx_tests(&tc);
    e1000_irq_tests(&tc);
    e1000_stats_reset_tests(&tc);
    e1000_checklist_tests(&tc);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        suite_add_tcase(s, all[i]);
    return s;
}

UNIT_MAIN(e1000_suite)
