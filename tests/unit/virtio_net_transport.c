/* virtio-net unit tests, malicious-guest checklist section 1: the virtio-mmio transport
 * (access widths, undefined and read-only registers, queue selection and setup, ring
 * addresses, status misuse). */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_bad_widths)
{
    static const uint64_t regs[] = {VMMIO_MAGIC,  VMMIO_DEVICE_FEATURES,  VMMIO_QUEUE_NUM_MAX,
                                    VMMIO_STATUS, VMMIO_INTERRUPT_STATUS, VMMIO_CONFIG_GENERATION};
    uint64_t bad = T.t->stats.bad_access;
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        static const unsigned widths[] = {1, 2, 8};
        for (unsigned w = 0; w < 3; w++) {
            uint8_t d[8];
            memset(d, 0xff, sizeof(d));
            virtio_mmio_io(T.t, regs[i], d, widths[w], false);
            for (unsigned k = 0; k < widths[w]; k++)
                ck_assert_uint_eq(d[k], 0);
            n++;
        }
        for (unsigned off = 1; off < 4; off++) {
            ck_assert_uint_eq(rd(regs[i] + off), 0); /* unaligned 32-bit */
            n++;
        }
    }
    ck_assert_uint_eq(T.t->stats.bad_access, bad + n);
    /* Writes of the wrong width or alignment change nothing. */
    wrn(VMMIO_STATUS, ST_ACK, 1);
    wrn(VMMIO_STATUS, ST_ACK, 2);
    wrn(VMMIO_STATUS, ST_ACK, 8);
    wrn(VMMIO_STATUS + 1, ST_ACK, 4);
    wrn(VMMIO_STATUS - 2, (uint64_t)ST_ACK << 16, 4);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wrn(VMMIO_DRIVER_FEATURES, FEAT_BASE, 8);
    wrn(VMMIO_DRIVER_FEATURES_SEL, 1, 2);
    wrn(VMMIO_DRIVER_FEATURES, 1, 1); /* would be VERSION_1 in word 1 */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV); /* nothing was acked */
    ck_assert_uint_eq(T.t->stats.bad_access, bad + n + 8);

    /* Kicks and interrupt ACKs of the wrong width are ignored too. */
    init(FEAT_BASE);
    tx_post_frames(1, 64, 1);
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 2);
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 1);
    wrn(VMMIO_QUEUE_NOTIFY, TXQ, 8);
    wrn(VMMIO_QUEUE_NOTIFY + 2, TXQ, 4);
    pump();
    ck_assert_uint_eq(be.nsent, 0);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    wrn(VMMIO_INTERRUPT_ACK, 0xff, 1);
    wrn(VMMIO_INTERRUPT_ACK, 0xffffffffffffffffull, 8);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    /* Queue registers of the wrong width are ignored (checked on the next setup). */
    ck_assert(negotiate(FEAT_BASE));
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 64);
    wrn(VMMIO_QUEUE_NUM, 3, 2);
    wrn(VMMIO_QUEUE_DESC_LOW, 0x12345, 8);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 64);
    ck_assert_uint_eq(T.t->qcfg[TXQ].desc, 0);
}
END_TEST

START_TEST(test_undefined_and_readonly)
{
    /* Reads of undefined offsets and of write-only registers: 0. */
    /* Undefined offsets, then write-only registers. */
    static const uint64_t undef[] = {0x018, 0x01c, 0x028, 0x03c, 0x040, 0x048, 0x054, 0x068,
                                     0x074, 0x0c0, 0x0f8, 0x038, 0x050, 0x064, 0x080};
    uint64_t bad = T.t->stats.bad_access;
    for (unsigned i = 0; i < sizeof(undef) / sizeof(undef[0]); i++)
        ck_assert_uint_eq(rd(undef[i]), 0);
    ck_assert_uint_eq(T.t->stats.bad_access, bad + sizeof(undef) / sizeof(undef[0]));

    init(FEAT_BASE);
    netdev_set_link(T.nd, false); /* a config interrupt pending */
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    uint64_t ro = T.t->stats.ro_write;
    /* Magic, version, device and vendor ID, device features, QueueNumMax, InterruptStatus,
     * ConfigGeneration, SHMLenLow, SHMBaseHigh, and two undefined offsets. */
    static const uint64_t ro_regs[] = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x034,
                                       0x060, 0x0fc, 0x0b0, 0x0bc, 0x018, 0x0f8};
    for (unsigned i = 0; i < sizeof(ro_regs) / sizeof(ro_regs[0]); i++)
        wr(ro_regs[i], 0);
    ck_assert_uint_eq(T.t->stats.ro_write, ro + sizeof(ro_regs) / sizeof(ro_regs[0]));
    ck_assert_uint_eq(rd(VMMIO_MAGIC), 0x74726976);
    ck_assert_uint_eq(rd(VMMIO_VERSION), 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_ID), 1);
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET);
    wr(VMMIO_QUEUE_SEL, 0);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    ck_assert_uint_eq(rd(VMMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    netdev_set_link(T.nd, true);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_queue_sel_out_of_range)
{
    ck_assert(negotiate(FEAT_BASE));
    static const uint32_t sels[] = {2, 3, 4, 5, 0x100, 0xffff, 0x10000, 0xffffffff};
    uint64_t late = T.t->stats.late_queue_write;
    for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
        wr(VMMIO_QUEUE_SEL, sels[i]);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), 0);
        wr(VMMIO_QUEUE_NUM, 64);
        wr(VMMIO_QUEUE_DESC_LOW, 0x40000);
        wr(VMMIO_QUEUE_DRIVER_LOW, 0x41000);
        wr(VMMIO_QUEUE_DEVICE_LOW, 0x42000);
        wr(VMMIO_QUEUE_READY, 1);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    ck_assert_uint_eq(T.t->stats.late_queue_write, late + 5 * sizeof(sels) / sizeof(sels[0]));
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->qcfg[q].ready);
    /* The real queues are unaffected and the device comes up. */
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    for (unsigned q = 2; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->vq[q].ready);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_queue_notify_bogus)
{
    init(FEAT_BASE);
    uint64_t ignored = T.t->stats.kicks_ignored;
    static const uint32_t vals[] = {2, 3, 4, 0x10000, 0x80000000u, 0xffffffffu};
    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        wr(VMMIO_QUEUE_NOTIFY, vals[i]);
    ck_assert_int_le(pump(), 1);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ignored + sizeof(vals) / sizeof(vals[0]));
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(irqs(), 0);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

/* With the queues set up, sets DRIVER_OK and expects the device to refuse the configuration:
 * DEVICE_NEEDS_RESET, a config interrupt, nothing processed. */
static void expect_refused_at_driver_ok(void)
{
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    unsigned irqs0 = irqs();
    wr(VMMIO_STATUS, ST_LIVE);
    pump();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(isr() & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
    ck_assert_uint_eq(irqs(), irqs0 + 1);
    ck_assert(!virtio_mmio_driver_ok(T.t));
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        ck_assert(!T.t->vq[q].ready); /* no queue left active */
    /* Kicks and frames are refused; nothing is written to the rings. */
    uint64_t nr = st()->rx_drop_not_ready, ign = T.t->stats.kicks_ignored;
    wr(VMMIO_QUEUE_NOTIFY, RXQ);
    wr(VMMIO_QUEUE_NOTIFY, TXQ);
    ck_assert_int_le(pump(), 2);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 2);
    ck_assert(deliver(100, 1));
    ck_assert_uint_eq(st()->rx_drop_not_ready, nr + 1);
    ck_assert_uint_eq(be.nsent, 0);
    /* Setting DRIVER_OK again does not retry the activation. */
    wr(VMMIO_STATUS, ST_LIVE);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_NR);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen + 1);
}

static void try_queue(unsigned qi, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_F_EVENT_IDX)));
    if (qi == RXQ) {
        setup_queue_at(RXQ, size, desc, avail, used);
        setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
    } else {
        setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
        setup_queue_at(TXQ, size, desc, avail, used);
    }
    expect_refused_at_driver_ok();
}

START_TEST(test_queue_num_invalid)
{
    static const uint32_t sizes[] = {0, 3, 6, 1000, 2048, 4096, 0x10000, 0x10040, 0xffffffffu};
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        try_queue(i % 2, sizes[i], i % 2 ? TX_DESC : RX_DESC, i % 2 ? TX_AVAIL : RX_AVAIL,
                  i % 2 ? TX_USED : RX_USED);
    }
    /* Valid extremes work: 1 and QueueNumMax. */
    init_sized(FEAT_BASE, 1, VIRTQ_MAX_SIZE);
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
    post_rx_kick(1, 2048);
    ck_assert(deliver(100, 2));
    expect_rx_frame(100, 2, 1);
}
END_TEST

START_TEST(test_queue_ready_no_addresses)
{
    for (unsigned qi = 0; qi < 2; qi++) {
        ck_assert(negotiate(FEAT_BASE));
        if (qi == TXQ)
            setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
        wr(VMMIO_QUEUE_SEL, qi);
        wr(VMMIO_QUEUE_NUM, 64);
        wr(VMMIO_QUEUE_READY, 1);
        if (qi == RXQ)
            setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
        expect_refused_at_driver_ok();
    }
    /* Only the descriptor table given. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 64);
    wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)TX_DESC);
    wr(VMMIO_QUEUE_READY, 1);
    expect_refused_at_driver_ok();
}
END_TEST

START_TEST(test_queue_write_after_driver_ok)
{
    init(FEAT_BASE);
    uint64_t late = T.t->stats.late_queue_write;
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        wr(VMMIO_QUEUE_NUM, 8);
        wr(VMMIO_QUEUE_DESC_LOW, 0x40000);
        wr(VMMIO_QUEUE_DESC_HIGH, 1);
        wr(VMMIO_QUEUE_DRIVER_LOW, 0x41000);
        wr(VMMIO_QUEUE_DRIVER_HIGH, 1);
        wr(VMMIO_QUEUE_DEVICE_LOW, 0x42000);
        wr(VMMIO_QUEUE_DEVICE_HIGH, 1);
        wr(VMMIO_QUEUE_READY, 0);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 1);
    }
    ck_assert_uint_eq(T.t->stats.late_queue_write, late + 16);
    ck_assert_uint_eq(T.t->qcfg[TXQ].desc, TX_DESC);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 64);
    ck_assert_uint_eq(T.t->vq[TXQ].desc_gpa, TX_DESC);
    ck_assert_uint_eq(T.t->vq[TXQ].size, 64);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    /* The queues keep working where they were. */
    uint16_t head = tx_frame(100, 1);
    expect_sent(0, 100, 1);
    expect_used(TXQ, head, 0);
    post_rx_kick(1, 2048);
    ck_assert(deliver(100, 2));
    expect_rx_frame(100, 2, 1);
    /* Before FEATURES_OK, too. */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wr(VMMIO_QUEUE_SEL, TXQ);
    wr(VMMIO_QUEUE_NUM, 8);
    wr(VMMIO_QUEUE_READY, 1);
    ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    ck_assert_uint_eq(T.t->qcfg[TXQ].num, 0);
}
END_TEST

START_TEST(test_ring_addresses_bad)
{
    struct {
        unsigned q;
        uint32_t size;
        uint64_t desc, avail, used;
    } cases[] = {
        /* unaligned */
        {TXQ, 64, TX_DESC + 8, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL + 1, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RX_USED + 2},
        /* overlapping: within a queue, and across queues */
        {RXQ, 64, RX_DESC, RX_DESC + 0x100, RX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RX_AVAIL},
        {TXQ, 64, TX_DESC, TX_AVAIL, TX_DESC + 0x3f0},
        {TXQ, 64, RX_DESC, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL, RX_USED},
        {TXQ, 64, TX_DESC, RX_USED + 0x100, TX_USED},
        /* outside RAM, straddling its end, in the device's window, above 4 GiB */
        {TXQ, 64, 0x40000000, TX_AVAIL, TX_USED},
        {TXQ, 64, TX_DESC, RAM_SIZE - 0x80, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, RAM_SIZE - 0x100},
        {TXQ, 64, RAM_SIZE - 0x200, TX_AVAIL, TX_USED},
        {TXQ, 64, MMIO_BASE, TX_AVAIL, TX_USED},
        {RXQ, 64, RX_DESC, MMIO_BASE + 0x100, RX_USED},
        {TXQ, 64, TX_DESC, TX_AVAIL, MMIO_BASE + VMMIO_QUEUE_NOTIFY},
        {TXQ, 64, TX_DESC | (1ull << 32), TX_AVAIL, TX_USED},
        {RXQ, 64, RX_DESC, RX_AVAIL, 0xfffffffffffff000ull},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *snap = malloc(RAM_SIZE);
        ck_assert(negotiate(FEAT_BASE | F(VIRTIO_F_EVENT_IDX)));
        if (cases[i].q == RXQ) {
            setup_queue_at(TXQ, 64, TX_DESC, TX_AVAIL, TX_USED);
            setup_queue_at(RXQ, cases[i].size, cases[i].desc, cases[i].avail, cases[i].used);
        } else {
            setup_queue_at(RXQ, 64, RX_DESC, RX_AVAIL, RX_USED);
            setup_queue_at(TXQ, cases[i].size, cases[i].desc, cases[i].avail, cases[i].used);
        }
        memcpy(snap, T.ram, RAM_SIZE);
        expect_refused_at_driver_ok();
        ck_assert_msg(memcmp(snap, T.ram, RAM_SIZE) == 0, "case %u: guest memory written", i);
        free(snap);
    }
    /* The same rings placed properly work. */
    init(FEAT_BASE | F(VIRTIO_F_EVENT_IDX));
    tx_frame(100, 1);
    expect_sent(0, 100, 1);
}
END_TEST

START_TEST(test_status_misuse)
{
    uint64_t bad = T.t->stats.bad_status;
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    /* DRIVER_OK without FEATURES_OK. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_DOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert_uint_eq(T.t->stats.bad_status, bad + 1);
    /* Clearing bits. */
    wr(VMMIO_STATUS, ST_ACK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    wr(VMMIO_STATUS, ST_DRV);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* Undefined bits (16, 32, and above 8 bits). */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x10);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x20);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | 0x100);
    wr(VMMIO_STATUS, 0xffffffff);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert_uint_eq(T.t->stats.bad_status, bad + 7);
    /* The driver cannot set NEEDS_RESET. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_NR);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* FEATURES_OK without DRIVER: refused (reads back clear). */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    wr(VMMIO_STATUS, ST_ACK | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK);

    /* A kick before DRIVER_OK is ignored; the chain waits for the live device's first kick. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queues(64, 64);
    tx_post_frames(1, 100, 1);
    uint64_t ign = T.t->stats.kicks_ignored;
    kick(TXQ);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 1);
    ck_assert_uint_eq(be.nsent, 0);
    expect_no_used(TXQ);
    ck_assert(deliver(100, 2)); /* RX before DRIVER_OK: dropped */
    ck_assert_uint_eq(st()->rx_drop_not_ready, 1);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);

    /* FAILED after DRIVER_OK: the device stops; kicks and frames are refused. */
    post_rx_kick(2, 2048);
    wr(VMMIO_STATUS, ST_LIVE | ST_FAIL);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE | ST_FAIL);
    tx_post_frames(1, 100, 1);
    ign = T.t->stats.kicks_ignored;
    kick(TXQ);
    kick(RXQ);
    ck_assert_uint_eq(T.t->stats.kicks_ignored, ign + 2);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(deliver(100, 3));
    ck_assert_uint_eq(st()->rx_drop_not_ready, 2);
    expect_no_used(RXQ);
    /* FAILED set during negotiation: DRIVER_OK then activates nothing. */
    ck_assert(negotiate(FEAT_BASE));
    setup_queues(64, 64);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK | ST_FAIL);
    wr(VMMIO_STATUS, ST_LIVE | ST_FAIL);
    ck_assert(!virtio_mmio_driver_ok(T.t));
    tx_post_frames(1, 100, 1);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    /* Reset recovers. */
    init(FEAT_BASE);
    tx_frame(100, 4);
    expect_sent(1, 100, 4);
}
END_TEST

void vn_transport_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->transport, test_bad_widths);
    tcase_add_test(tc->transport, test_undefined_and_readonly);
    tcase_add_test(tc->transport, test_queue_sel_out_of_range);
    tcase_add_test(tc->transport, test_queue_notify_bogus);
    tcase_add_test(tc->transport, test_queue_num_invalid);
    tcase_add_test(tc->transport, test_queue_ready_no_addresses);
    tcase_add_test(tc->transport, test_queue_write_after_driver_ok);
    tcase_add_test(tc->transport, test_ring_addresses_bad);
    tcase_add_test(tc->transport, test_status_misuse);
}
