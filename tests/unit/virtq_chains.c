/* virtq unit tests: well-formed descriptor chains (single, chained, completed out of order,
 * used lengths clamped) and indirect descriptors (§2.7.5.3), well formed and malformed. */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <stdint.h>

START_TEST(test_single_descriptor)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 100, 0, 0);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 0);
    post(0);
    ck_assert(virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, 0);
    ck_assert_uint_eq(E.ndesc, 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.out_num, 1);
    ck_assert_uint_eq(E.in_num, 0);
    ck_assert_uint_eq(E.out_len, 100);
    ck_assert_uint_eq(E.in_len, 0);
    check_iov(&E, 0, BUF_GPA, 100);
    ck_assert_uint_eq(F.vq.inflight, 1);
    ck_assert_uint_eq(F.vq.last_avail_idx, 1);
    ck_assert_uint_eq(F.vq.stats.popped, 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 0);
    ck_assert(!virtq_has_work(&F.vq));
    virtq_push(&F.vq, &E, 50);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(used_id(0), 0);
    ck_assert_uint_eq(used_len(0), 0); /* nothing writable */
    ck_assert_uint_eq(F.vq.inflight, 0);
    ck_assert_uint_eq(F.vq.stats.pushed, 1);
}
END_TEST

/* check_chain: e has the readable and writable buffer counts and byte totals given. */
static void check_chain(const struct virtq_elem *e, unsigned out_num, unsigned in_num,
                        uint64_t out_len, uint64_t in_len)
{
    ck_assert_uint_eq(e->out_num, out_num);
    ck_assert_uint_eq(e->in_num, in_num);
    ck_assert_uint_eq(e->out_len, out_len);
    ck_assert_uint_eq(e->in_len, in_len);
}

START_TEST(test_chained_frame)
{
    fx_setup(MIB, 8, false, false);
    /* Header and payload readable, then one writable status buffer: 2 -> 5 -> 1. */
    set_desc(2, BUF_GPA, 12, F_NEXT, 5);
    set_desc(5, BUF_GPA + 0x1000, 1500, F_NEXT, 1);
    set_desc(1, BUF_GPA + 0x2000, 2048, F_WRITE, 0);
    /* Two writable buffers: 4 -> 7. */
    set_desc(4, BUF_GPA + 0x3000, 1514, F_WRITE | F_NEXT, 7);
    set_desc(7, BUF_GPA + 0x4000, 4096, F_WRITE, 0);
    post(2);
    post(4);
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 2);

    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, 2);
    ck_assert_uint_eq(E.ndesc, 3);
    check_chain(&E, 2, 1, 1512, 2048);
    check_iov(&E, 0, BUF_GPA, 12);
    check_iov(&E, 1, BUF_GPA + 0x1000, 1500);
    check_iov(&E, 2, BUF_GPA + 0x2000, 2048);

    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_uint_eq(E2.head, 4);
    check_chain(&E2, 0, 2, 0, 1514 + 4096);
    check_iov(&E2, 0, BUF_GPA + 0x3000, 1514);
    check_iov(&E2, 1, BUF_GPA + 0x4000, 4096);
    ck_assert_uint_eq(F.vq.inflight, 2);

    /* Completion out of order. */
    virtq_push(&F.vq, &E2, 3000);
    virtq_push(&F.vq, &E, 1);
    ck_assert_uint_eq(used_idx(), 2);
    ck_assert_uint_eq(used_id(0), 4);
    ck_assert_uint_eq(used_len(0), 3000);
    ck_assert_uint_eq(used_id(1), 2);
    ck_assert_uint_eq(used_len(1), 1);
    ck_assert_uint_eq(F.vq.inflight, 0);
}
END_TEST

START_TEST(test_used_len_clamped_and_batched)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 100, F_WRITE, 0);
    set_desc(1, BUF_GPA + 0x1000, 100, 0, 0);
    post(0);
    post(1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    virtq_fill(&F.vq, &E, 1000);
    virtq_fill(&F.vq, &E2, 50);
    /* Filled but not published. */
    ck_assert_uint_eq(used_idx(), 0);
    ck_assert_uint_eq(F.vq.pending, 2);
    virtq_flush(&F.vq);
    ck_assert_uint_eq(used_idx(), 2);
    ck_assert_uint_eq(F.vq.pending, 0);
    ck_assert_uint_eq(used_len(0), 100); /* clamped to the writable bytes */
    ck_assert_uint_eq(used_len(1), 0);   /* readable only */
    virtq_flush(&F.vq);                  /* nothing pending: no change */
    ck_assert_uint_eq(used_idx(), 2);
}
END_TEST

START_TEST(test_indirect_chains)
{
    fx_setup(MIB, 8, false, true);
    /* Head 3 points at a table of three, walked 0 -> 2 -> 1; the WRITE flag on the indirect
     * descriptor itself is ignored (§2.7.5.3.2). */
    set_desc_at(TABLE_GPA, 0, 0x30000, 10, F_NEXT, 2);
    set_desc_at(TABLE_GPA, 2, 0x31000, 20, F_WRITE | F_NEXT, 1);
    set_desc_at(TABLE_GPA, 1, 0x32000, 30, F_WRITE, 0);
    set_desc(3, TABLE_GPA, 48, F_IND | F_WRITE, 0);
    /* Direct descriptors followed by an indirect one: 0 -> 6 -> table [0]. */
    set_desc(0, 0x33000, 14, F_NEXT, 6);
    set_desc(6, TABLE_GPA + 0x1000, 16, F_IND, 0);
    set_desc_at(TABLE_GPA + 0x1000, 0, 0x34000, 64, F_WRITE, 0);
    post(3);
    post(0);

    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.head, 3);
    ck_assert_uint_eq(E.ndesc, 4);
    check_chain(&E, 1, 2, 10, 50);
    check_iov(&E, 0, 0x30000, 10);
    check_iov(&E, 1, 0x31000, 20);
    check_iov(&E, 2, 0x32000, 30);

    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_int_eq(E2.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E2.head, 0);
    ck_assert_uint_eq(E2.ndesc, 3);
    ck_assert_uint_eq(E2.out_num, 1);
    ck_assert_uint_eq(E2.in_num, 1);
    check_iov(&E2, 0, 0x33000, 14);
    check_iov(&E2, 1, 0x34000, 64);
    virtq_push(&F.vq, &E, 0);
    virtq_push(&F.vq, &E2, 0);

    /* Direction order holds across the indirect boundary. */
    set_desc(5, 0x35000, 8, F_WRITE | F_NEXT, 7);
    set_desc(7, TABLE_GPA + 0x2000, 16, F_IND, 0);
    set_desc_at(TABLE_GPA + 0x2000, 0, 0x36000, 8, 0, 0);
    pop_malformed(5, VIRTQ_ERR_ORDER);
}
END_TEST

START_TEST(test_indirect_larger_than_queue)
{
    const unsigned big = VIRTQ_MAX_SIZE;

    fx_setup(MIB, 4, false, true);
    /* A table may hold more descriptors than the queue size, up to VIRTQ_MAX_SIZE. */
    for (unsigned i = 0; i < big; i++)
        set_desc_at(TABLE_GPA, i, BUF_GPA + i, 1, i + 1 < big ? F_NEXT : 0, (uint16_t)(i + 1));
    set_desc(0, TABLE_GPA, big * 16, F_IND, 0);
    post_pop(0, &E);
    ck_assert_uint_eq(E.ndesc, big + 1);
    ck_assert_uint_eq(E.out_num, big);
    ck_assert_uint_eq(E.out_len, big);
    check_iov(&E, big - 1, BUF_GPA + big - 1, 1);
    virtq_push(&F.vq, &E, 0);
    /* One direct buffer before it makes VIRTQ_MAX_SIZE + 1 buffers: refused. */
    set_desc(1, BUF_GPA, 1, F_NEXT, 0);
    pop_malformed(1, VIRTQ_ERR_LOOP);
}
END_TEST

START_TEST(test_indirect_without_feature)
{
    fx_setup(MIB, 8, false, false);
    set_desc_at(TABLE_GPA, 0, BUF_GPA, 10, 0, 0);
    set_desc(0, TABLE_GPA, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
}
END_TEST

START_TEST(test_indirect_malformed)
{
    static const struct vq_bad_desc bad[] = {
        /* Nested: a table entry pointing at another table. */
        {TABLE_GPA + 0x100, 16, F_IND, 0, VIRTQ_ERR_INDIRECT},
        /* INDIRECT together with NEXT. */
        {TABLE_GPA, 16, F_IND | F_NEXT, 1, VIRTQ_ERR_INDIRECT},
        /* Lengths: 0, not a multiple of 16, more than VIRTQ_MAX_SIZE entries. */
        {TABLE_GPA, 0, F_IND, 0, VIRTQ_ERR_INDIRECT},
        {TABLE_GPA, 24, F_IND, 0, VIRTQ_ERR_INDIRECT},
        {TABLE_GPA, (VIRTQ_MAX_SIZE + 1) * 16, F_IND, 0, VIRTQ_ERR_INDIRECT},
        {TABLE_GPA, 0xfffffff0u, F_IND, 0, VIRTQ_ERR_INDIRECT},
        /* Outside RAM, straddling its end, wrapping around. */
        {4 * MIB, 16, F_IND, 0, VIRTQ_ERR_INDIRECT},
        {2 * MIB - 16, 32, F_IND, 0, VIRTQ_ERR_INDIRECT},
        {UINT64_MAX - 15, 32, F_IND, 0, VIRTQ_ERR_INDIRECT},
        /* Inside a table: loops, next past the table, buffers outside RAM. */
        {TABLE_GPA + 0x200, 16, F_IND, 0, VIRTQ_ERR_LOOP}, /* self loop in a one-entry table */
        {TABLE_GPA + 0x300, 32, F_IND, 0, VIRTQ_ERR_LOOP},
        {TABLE_GPA + 0x300, 16, F_IND, 0, VIRTQ_ERR_DESC_INDEX}, /* entry 0's next is past it */
        {TABLE_GPA + 0x400, 16, F_IND, 0, VIRTQ_ERR_ADDR},
    };

    fx_setup(2 * MIB, 8, false, true);
    set_desc_at(TABLE_GPA, 0, BUF_GPA, 10, 0, 0);
    set_desc_at(TABLE_GPA + 0x100, 0, TABLE_GPA, 16, F_IND, 0);
    set_desc(1, BUF_GPA, 10, 0, 0);
    set_desc_at(TABLE_GPA + 0x200, 0, BUF_GPA, 10, F_NEXT, 0);
    set_desc_at(TABLE_GPA + 0x300, 0, BUF_GPA, 10, F_NEXT, 1);
    set_desc_at(TABLE_GPA + 0x300, 1, BUF_GPA, 10, F_NEXT, 0);
    set_desc_at(TABLE_GPA + 0x400, 0, 3 * MIB, 10, 0, 0);
    pop_malformed_each(0, 0, bad, sizeof(bad) / sizeof(bad[0]));
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_INDIRECT], 9);
    ck_assert_uint_eq(F.vq.stats.popped, F.vq.stats.pushed);
}
END_TEST

void virtq_chain_tests(const struct virtq_tcases *tc)
{
    tcase_add_test(tc->chain, test_single_descriptor);
    tcase_add_test(tc->chain, test_chained_frame);
    tcase_add_test(tc->chain, test_used_len_clamped_and_batched);
    tcase_add_test(tc->chain, test_indirect_chains);
    tcase_add_test(tc->chain, test_indirect_larger_than_queue);

    tcase_add_test(tc->hostile, test_indirect_without_feature);
    tcase_add_test(tc->hostile, test_indirect_malformed);
}
