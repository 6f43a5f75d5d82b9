/* virtio-net unit tests: TX of single, chained and indirect frames, interrupt suppression and
 * the per-kick budget. */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_tx_single)
{
    init(FEAT_BASE);
    uint16_t head = tx_frame(60, 1);
    ck_assert_uint_eq(be.nsent, 1);
    expect_sent(0, 60, 1);
    ck_assert(!be.sent[0].has_hdr); /* no vnet header without the capability */
    expect_used(TXQ, head, 0);
    expect_no_used(TXQ);
    ck_assert_uint_eq(irqs(), 1);
    ck_assert_uint_eq(isr(), VIRTIO_INT_VRING);
    ack_irq();
    ck_assert_uint_eq(isr(), 0);
    ck_assert_uint_eq(st()->tx_packets, 1);
    ck_assert_uint_eq(st()->tx_bytes, 60);
    ck_assert_uint_eq(T.t->stats.kicks[TXQ], 1);
    /* A second one: same again. */
    head = tx_frame(1514, 2);
    expect_sent(1, 1514, 2);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 2);
}
END_TEST

START_TEST(test_tx_chained)
{
    init(FEAT_BASE | F(VIRTIO_NET_F_CSUM));
    /* A UDP frame with a partial checksum: the header reaches the vnet backend unchanged. */
    struct fn_addr a = {{0x52, 0x54, 0, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 4000};
    struct fn_addr b = {{0x52, 0x55, 10, 0, 2, 2}, FN_IP4(10, 0, 2, 2), 53};
    uint8_t payload[1200], frame[1500];
    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13);
    size_t len = fn_udp(frame, sizeof(frame), &a, &b, payload, sizeof(payload), FN_CSUM_PARTIAL);
    ck_assert_uint_gt(len, 1000);
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    h.num_buffers = htole16(0x7777); /* the driver's garbage: not passed on */

    /* Chain 1: header split 5 + 7, frame split over three descriptors. */
    uint64_t h1 = balloc(5), h2 = balloc(7), f1 = balloc(10), f2 = balloc(1000),
             f3 = balloc(len - 1010);
    memcpy(T.ram + h1, &h, 5);
    memcpy(T.ram + h2, (uint8_t *)&h + 5, 7);
    memcpy(T.ram + f1, frame, 10);
    memcpy(T.ram + f2, frame + 10, 1000);
    memcpy(T.ram + f3, frame + 1010, len - 1010);
    struct seg c1[] = {
        {h1, 5, 0}, {h2, 7, 0}, {f1, 10, 0}, {f2, 1000, 0}, {f3, (uint32_t)(len - 1010), 0}};
    uint16_t head1 = post(TXQ, c1, 5);

    /* Chain 2: header in its own descriptor, frame in two; a header/frame boundary inside a
     * descriptor for chain 3 (header + 20 bytes, then the rest). */
    uint64_t g0 = balloc(HDR), g1 = balloc(100), g2 = balloc(len - 100);
    memcpy(T.ram + g0, &h, HDR);
    memcpy(T.ram + g1, frame, 100);
    memcpy(T.ram + g2, frame + 100, len - 100);
    struct seg c2[] = {{g0, HDR, 0}, {g1, 100, 0}, {g2, (uint32_t)(len - 100), 0}};
    uint16_t head2 = post(TXQ, c2, 3);
    uint64_t k0 = balloc(HDR + 20), k1 = balloc(len - 20);
    memcpy(T.ram + k0, &h, HDR);
    memcpy(T.ram + k0 + HDR, frame, 20);
    memcpy(T.ram + k1, frame + 20, len - 20);
    struct seg c3[] = {{k0, (uint32_t)(HDR + 20), 0}, {k1, (uint32_t)(len - 20), 0}};
    uint16_t head3 = post(TXQ, c3, 2);
    kick(TXQ);

    ck_assert_uint_eq(be.nsent, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert(be.sent[i].has_hdr);
        ck_assert_uint_eq(be.sent[i].len, len);
        ck_assert(memcmp(be.sent[i].data, frame, len) == 0);
        ck_assert_uint_eq(be.sent[i].hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
        ck_assert_uint_eq(be.sent[i].hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
        ck_assert_uint_eq(le16toh(be.sent[i].hdr.csum_start), FN_L4_OFF);
        ck_assert_uint_eq(le16toh(be.sent[i].hdr.csum_offset), 6);
        ck_assert_uint_eq(be.sent[i].hdr.num_buffers, 0);
    }
    expect_used(TXQ, head1, 0);
    expect_used(TXQ, head2, 0);
    expect_used(TXQ, head3, 0);
    expect_no_used(TXQ);
    ck_assert_uint_eq(irqs(), 1); /* one batch, one interrupt */
    ck_assert_uint_eq(st()->tx_packets, 3);
    ck_assert_uint_eq(st()->tx_drop_malformed + st()->tx_drop_feature + st()->tx_bad_chain, 0);
}
END_TEST

START_TEST(test_tx_interrupt_suppressed)
{
    init(FEAT_BASE);
    put16(T.q[TXQ].avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t head = tx_frame(100, 3);
    expect_sent(0, 100, 3);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 0);
    ck_assert_uint_eq(isr(), 0);
    put16(T.q[TXQ].avail, 0);
    head = tx_frame(100, 4);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(irqs(), 1);
}
END_TEST

START_TEST(test_tx_budget)
{
    /* More chains than one wake-up's budget: the device yields once and finishes later. */
    init_sized(FEAT_BASE, 64, 512);
    unsigned n = VIRTIO_NET_TX_BUDGET + 44;
    tx_post_frames(n, 64, 0);
    kick(TXQ);
    expect_sent_frames(n, 64, 0);
    ck_assert_uint_eq(used_idx(TXQ), n);
    ck_assert_uint_eq(st()->tx_budget_yields, 1);
    ck_assert_uint_eq(T.t->stats.kicks[TXQ], 2); /* the guest's and the device's own */
}
END_TEST

START_TEST(test_tx_indirect)
{
    init(FEAT_BASE | F(VIRTIO_F_INDIRECT_DESC));
    uint8_t f[300];
    make_frame(f, sizeof(f), 9);
    uint64_t table = balloc(48), h = balloc(HDR), b1 = balloc(100), b2 = balloc(200);
    memset(T.ram + h, 0, HDR);
    memcpy(T.ram + b1, f, 100);
    memcpy(T.ram + b2, f + 100, 200);
    struct dq ind = {.size = 3, .desc = table};
    set_desc(&ind, 0, h, HDR, F_NEXT, 1);
    set_desc(&ind, 1, b1, 100, F_NEXT, 2);
    set_desc(&ind, 2, b2, 200, 0, 0);
    struct seg s = {table, 48, F_IND};
    uint16_t head = post(TXQ, &s, 1);
    kick(TXQ);
    expect_sent(0, 300, 9);
    expect_used(TXQ, head, 0);

    /* Without the feature the same chain is malformed: returned, never sent. */
    init(FEAT_BASE);
    head = post(TXQ, &s, 1);
    kick(TXQ);
    ck_assert_uint_eq(be.nsent, 1);
    expect_used(TXQ, head, 0);
    ck_assert_uint_eq(st()->tx_bad_chain, 1);
}
END_TEST

void vn_tx_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->tx, test_tx_single);
    tcase_add_test(tc->net_vnet, test_tx_chained);
    tcase_add_test(tc->tx, test_tx_interrupt_suppressed);
    tcase_add_test(tc->tx, test_tx_budget);
    tcase_add_test(tc->tx, test_tx_indirect);
}
