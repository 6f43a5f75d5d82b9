/* virtq unit tests, malicious-guest checklist (split ring, avail and used rings): heads out of
 * range or posted twice, avail.idx jumping ahead or going back, both indices wrapping at
 * 2^16, and every head given back exactly once. A broken ring stops the queue for good
 * (-EIO) instead of being guessed at. */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>

/* The queue is broken by an avail entry or index error: pop gives -EIO and counts it once. */
static void expect_broken(enum virtq_error err)
{
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert(F.vq.broken);
    ck_assert_uint_eq(F.vq.stats.errors[err], 1);
}

START_TEST(test_avail_entry_out_of_range)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    post(8);
    expect_broken(VIRTQ_ERR_HEAD);
    ck_assert_uint_eq(F.vq.inflight, 0);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    /* Broken for good: a valid chain afterwards changes nothing. */
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_HEAD], 1);
    ck_assert_uint_eq(F.vq.stats.popped, 0);
    ck_assert_uint_eq(used_idx(), 0);
    fx_free();

    fx_setup(MIB, 8, false, false);
    post(0xffff);
    expect_broken(VIRTQ_ERR_HEAD);
}
END_TEST

START_TEST(test_same_head_twice)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    /* Reposting a head once it came back is legal. */
    post_pop(0, &E);
    virtq_push(&F.vq, &E, 10);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, 0);
    /* Posting it again while it is in flight breaks the queue. */
    post(0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), -EIO);
    ck_assert(F.vq.broken);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_DUP_HEAD], 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), -EIO);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_DUP_HEAD], 1);
    /* The head legitimately in flight can still be returned. */
    ck_assert_uint_eq(F.vq.inflight, 1);
    virtq_push(&F.vq, &E, 4);
    ck_assert_uint_eq(used_idx(), 2);
    ck_assert_uint_eq(used_len(1), 4);
    ck_assert_uint_eq(F.vq.inflight, 0);
}
END_TEST

START_TEST(test_avail_idx_jump)
{
    fx_setup(MIB, 8, false, false);
    set_avail_idx(9);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    ck_assert(!F.vq.broken);
    expect_broken(VIRTQ_ERR_AVAIL_IDX);
    ck_assert_uint_eq(F.vq.last_avail_idx, 0);
    fx_free();

    /* Exactly size entries outstanding is legal. */
    fx_setup(MIB, 8, false, false);
    for (unsigned i = 0; i < 8; i++) {
        set_desc(i, BUF_GPA + 0x100 * i, 0x100, 0, 0);
        post((uint16_t)(7 - i));
    }
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 8);
    for (unsigned i = 0; i < 8; i++) {
        ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
        ck_assert_uint_eq(E.head, 7 - i);
        check_iov(&E, 0, BUF_GPA + 0x100 * (7 - i), 0x100);
    }
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 0);
    ck_assert_uint_eq(F.vq.inflight, 8);
}
END_TEST

START_TEST(test_avail_idx_backwards)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    set_desc(1, BUF_GPA, 10, 0, 0);
    post(0);
    post(1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    virtq_push(&F.vq, &E, 0);
    virtq_push(&F.vq, &E2, 0);
    set_avail_idx(1);
    ck_assert(!virtq_has_work(&F.vq));
    expect_broken(VIRTQ_ERR_AVAIL_IDX);
    fx_free();

    fx_setup(MIB, 8, false, false);
    set_avail_idx(0xffff);
    expect_broken(VIRTQ_ERR_AVAIL_IDX);
}
END_TEST

/* One batch of test_index_wrap: chains done..done+batch-1 on heads 0..batch-1, popped in
 * order and filled in reverse with one flush. */
static void wrap_batch(unsigned done, unsigned batch)
{
    struct virtq_elem *el[4] = {&E, &E2, &E3, &E4};

    for (unsigned b = 0; b < batch; b++) {
        unsigned n = done + b;
        set_desc(b, BUF_GPA + 16 * (n % 4096), 1 + n % 100, F_WRITE, 0);
        post((uint16_t)b);
    }
    ck_assert_uint_eq(virtq_avail_count(&F.vq), batch);
    for (unsigned b = 0; b < batch; b++) {
        unsigned n = done + b;
        ck_assert_int_eq(virtq_pop(&F.vq, el[b]), 1);
        ck_assert_uint_eq(el[b]->head, b);
        check_iov(el[b], 0, BUF_GPA + 16 * (n % 4096), 1 + n % 100);
    }
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 0);
    for (unsigned b = batch; b-- > 0;)
        virtq_fill(&F.vq, el[b], 1);
    virtq_flush(&F.vq);
}

START_TEST(test_index_wrap)
{
    const unsigned total = 70000;
    unsigned done = 0, iter = 0;

    fx_setup(MIB, 4, false, false);
    /* Batches of 1 to 4 chains across the 65535 -> 0 wrap of both indices. */
    while (done < total) {
        unsigned batch = 1 + iter++ % 4;

        wrap_batch(done, batch);
        done += batch;
        ck_assert_uint_eq(used_idx(), (uint16_t)done);
        ck_assert_uint_eq(used_id((done - 1) & 3), 0); /* filled in reverse: head 0 last */
    }
    ck_assert_uint_eq(F.vq.last_avail_idx, (uint16_t)done);
    ck_assert_uint_eq(F.vq.stats.popped, done);
    ck_assert_uint_eq(F.vq.stats.pushed, done);
    ck_assert_uint_eq(F.vq.inflight, 0);
    ck_assert(!F.vq.broken);
}
END_TEST

START_TEST(test_fill_not_in_flight)
{
    struct virtq_elem forged = {.head = 9};

    fx_setup(MIB, 8, false, false);
    set_desc(3, BUF_GPA, 100, F_WRITE, 0);
    post(3);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_push(&F.vq, &E, 50);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(used_id(0), 3);
    ck_assert_uint_eq(used_len(0), 50);
    put32(USED_GPA + 4 + 8, 0xdeadbeef);
    put32(USED_GPA + 8 + 8, 0xcafef00d);
    /* Twice, never popped, out of range: ignored and counted, used ring untouched. */
    virtq_push(&F.vq, &E, 50);
    E.head = 5;
    virtq_push(&F.vq, &E, 50);
    virtq_push(&F.vq, &forged, 50);
    ck_assert_uint_eq(F.vq.stats.bad_fill, 3);
    ck_assert_uint_eq(F.vq.stats.pushed, 1);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(get32(USED_GPA + 4 + 8), 0xdeadbeef);
    ck_assert_uint_eq(get32(USED_GPA + 8 + 8), 0xcafef00d);
    ck_assert_uint_eq(F.vq.pending, 0);
}
END_TEST

START_TEST(test_fill_whole_ring_before_flush)
{
    fx_setup(MIB, 2, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    set_desc(1, BUF_GPA, 20, F_WRITE, 0);
    post(0);
    post(1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    virtq_fill(&F.vq, &E, 10);
    virtq_fill(&F.vq, &E2, 20);
    ck_assert_uint_eq(F.vq.pending, 2);
    /* A driver reposting head 0 before seeing it used: the device publishes the full ring
     * rather than overwrite an unpublished entry. */
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 1);
    virtq_fill(&F.vq, &E3, 5);
    ck_assert_uint_eq(used_idx(), 2);
    ck_assert_uint_eq(used_id(1), 1);
    ck_assert_uint_eq(used_len(1), 20);
    ck_assert_uint_eq(F.vq.pending, 1);
    virtq_flush(&F.vq);
    ck_assert_uint_eq(used_idx(), 3);
    ck_assert_uint_eq(used_id(0), 0);
    ck_assert_uint_eq(used_len(0), 5);
}
END_TEST

void virtq_avail_tests(const struct virtq_tcases *tc)
{
    tcase_add_test(tc->hostile, test_avail_entry_out_of_range);
    tcase_add_test(tc->hostile, test_same_head_twice);
    tcase_add_test(tc->hostile, test_avail_idx_jump);
    tcase_add_test(tc->hostile, test_avail_idx_backwards);
    tcase_add_test(tc->hostile, test_index_wrap);
    tcase_add_test(tc->hostile, test_fill_not_in_flight);
    tcase_add_test(tc->hostile, test_fill_whole_ring_before_flush);
}
