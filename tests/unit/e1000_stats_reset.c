/* e1000 unit tests: clear-on-read statistics, and reset (CTRL.RST during traffic, from another
 * thread while the loop walks the ring, and a machine reset). */
#include "tests/unit/e1000_fixture.h"

#include "devices/pci.h"
#include "net/offload.h"
#include "vmm/iobus.h"

#include <check.h>
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t ms_since(uint64_t t0)
{
    return (evloop_now_ns() - t0) / 1000000u;
}

START_TEST(test_stats_clear_on_read)
{
    rx_init(16, RCTL_STD);
    tx_init(16);
    size_t n = udp_frame(frame, mac, 200, FN_CSUM_FULL);
    deliver(frame, n);
    deliver(frame, n);
    n = udp_frame(frame, fn_broadcast, 200, FN_CSUM_FULL);
    deliver(frame, n);
    memcpy(ram + TXBUF, frame, n);
    txd_frame(n, C_EOP | C_RS);
    tx_kick();
    ck_assert_uint_eq(rd(GPRC), 3);
    ck_assert_uint_eq(rd(GPRC), 0);
    ck_assert_uint_eq(rd(TPR), 3);
    ck_assert_uint_eq(rd(BPRC), 1);
    ck_assert_uint_eq(rd(GORCL), 3 * (n + 4));
    ck_assert_uint_eq(rd(GORCH), 0);
    ck_assert_uint_eq(rd(GORCL), 0);
    ck_assert_uint_eq(rd(0x40c0), 3 * (n + 4)); /* TORL */
    ck_assert_uint_eq(rd(0x40c4), 0);
    ck_assert_uint_eq(rd(0x40c0), 0);
    ck_assert_uint_eq(rd(GPTC), 1);
    ck_assert_uint_eq(rd(TPT), 1);
    ck_assert_uint_eq(rd(0x40f4), 1); /* BPTC */
    ck_assert_uint_eq(rd(GOTCL), n + 4);
    ck_assert_uint_eq(rd(GOTCH), 0);
    ck_assert_uint_eq(rd(0x40c8), n + 4); /* TOTL */
    ck_assert_uint_eq(rd(0x40cc), 0);
    ck_assert_uint_eq(rd(MPC), 0);
    ck_assert_uint_eq(rd(PRC64 + 4 * 2), 3); /* 128-255 bytes */
    ck_assert_uint_eq(rd(PTC64 + 4 * 2), 1);
    /* Statistics are read-only. */
    wr(GPRC, 55);
    ck_assert_uint_eq(rd(GPRC), 0);
    for (uint32_t off = 0x4000; off < 0x4100; off += 4)
        rd(off);
    for (uint32_t off = 0x4000; off < 0x4100; off += 4)
        ck_assert_uint_eq(rd(off), 0);
}
END_TEST

/* CTRL.RST with TX descriptors posted (the kick not yet run), delay timers pending and a
 * packet half gathered: afterwards the registers are at their defaults, nothing more is
 * written to guest memory, no timer fires, and the device works again once reprogrammed. */
START_TEST(test_reset_during_traffic)
{
    tx_init(64);
    rx_init(16, RCTL_STD);
    wr(RDTR, 5000);
    wr(TIDV, 5000);
    wr(IMS, 0xffffffffu);
    size_t n = tx_udp_frame(mac, 100);
    txd_frame(n, C_EOP | C_RS | C_IDE);   /* TIDV pending */
    txd_legacy(TXBUF, 50, C_RS, 0, 0, 0); /* half a packet */
    tx_kick_sent(1);
    deliver(frame, n); /* RDTR pending */
    txd_legacy(TXBUF + 50, (uint16_t)(n - 50), C_EOP | C_RS, 0, 0, 0);
    for (int i = 0; i < 20; i++)
        txd_frame(n, C_EOP | C_RS);
    wr(TDT, tx_next); /* kick queued, not yet run */
    unsigned sent = be.nsent;
    wr(CTRL, rd(CTRL) | 0x04000000u);
    ck_assert_uint_eq(rd(CTRL) & 0x04000000u, 0);
    uint8_t *snap = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, ram, RAM_SIZE);
    ck_assert(!line.level);
    unsigned rises = line.rises;
    deliver(frame, n);
    pump_for(30);
    ck_assert(memcmp(snap, ram, RAM_SIZE) == 0);
    ck_assert_uint_eq(be.nsent, sent);
    ck_assert_uint_eq(line.rises, rises);
    uint32_t zero[] = {TCTL, RCTL, TDH, TDT, TDLEN, RDH, RDT, RDLEN, IMS, ICR, RDTR, TIDV, GPRC};
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
        ck_assert_msg(rd(zero[i]) == 0, "register 0x%x not reset", zero[i]);
    ck_assert_uint_eq(rd(RA + 4), mac[4] | mac[5] << 8 | 0x80000000u);
    ck_assert(rd(STATUS) & 2);
    free(snap);
    /* Reprogrammed, it works; the half packet from before the reset is gone. */
    tx_init(64);
    rx_init(16, RCTL_STD);
    txd_frame(n, C_EOP | C_RS);
    tx_kick_sent(sent + 1);
    ck_assert_uint_eq(be.sent[be.nsent - 1].len, n);
    deliver(frame, n);
    ck_assert(rx_done(0));
}
END_TEST

static void *loop_thread(void *arg)
{
    (void)arg;
    evloop_run(loop);
    return NULL;
}

/* CTRL.RST from a vCPU thread while the loop thread walks a long TX ring and a timer is
 * running: the reset waits for the walk; after it returns guest memory stays untouched. */
START_TEST(test_reset_concurrent)
{
    tx_init(4096);
    wr(TIDV, 1);
    size_t n = tx_udp_frame(mac, 60);
    for (int i = 0; i < 4000; i++)
        txd_frame(n, C_EOP | C_RS | C_IDE);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, NULL), 0);
    wr(TDT, 4000);
    uint64_t t0 = evloop_now_ns();
    while (rd(TDH) < 300 && ms_since(t0) < 5000)
        ;
    ck_assert_uint_ge(rd(TDH), 300);
    wr(CTRL, 0x04000000u);
    uint8_t *snap = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, ram, RAM_SIZE);
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    ck_assert(memcmp(snap, ram, RAM_SIZE) == 0);
    evloop_stop(loop);
    pthread_join(th, NULL);
    free(snap);
    ck_assert_uint_eq(rd(TDH), 0);
}
END_TEST

/* e1000_reset (PCI RST#, a machine reset): as CTRL.RST. */
START_TEST(test_machine_reset)
{
    rx_init(16, RCTL_STD);
    wr(IMS, ICR_LSC);
    wr(ICS, ICR_LSC);
    ck_assert(line.level);
    e1000_reset(dev);
    ck_assert(!line.level);
    ck_assert_uint_eq(rd(RCTL), 0);
    ck_assert_uint_eq(rd(RDLEN), 0);
    ck_assert_uint_eq(rd(IMS), 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(0));
}
END_TEST

void e1000_stats_reset_tests(const struct e1000_tcases *tc)
{
    tcase_add_test(tc->interrupts, test_stats_clear_on_read);
    tcase_add_test(tc->interrupts, test_reset_during_traffic);
    tcase_add_test(tc->interrupts, test_reset_concurrent);
    tcase_add_test(tc->registers, test_machine_reset);
}
