/* virtq unit tests, malicious-guest checklist (split ring, descriptors): loops, next and
 * buffer addresses out of range, zero-length buffers, the 4 GiB total, direction order and
 * descriptors rewritten after posting. Each chain must be processed or refused (returned
 * with length 0 and counted), never followed outside guest RAM. */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <stdint.h>

START_TEST(test_loops)
{
    fx_setup(MIB, 8, false, false);
    /* Self loop. */
    set_desc(0, BUF_GPA, 10, F_NEXT, 0);
    pop_malformed(0, VIRTQ_ERR_LOOP);
    ck_assert_uint_eq(E.ndesc, 8);
    /* Two-cycle. */
    set_desc(1, BUF_GPA, 10, F_NEXT, 2);
    set_desc(2, BUF_GPA, 10, F_NEXT, 1);
    pop_malformed(1, VIRTQ_ERR_LOOP);
    ck_assert_uint_eq(E.ndesc, 8);
    /* A cycle the head is not part of: 3 -> 4 -> 5 -> 4. */
    set_desc(3, BUF_GPA, 10, F_NEXT, 4);
    set_desc(4, BUF_GPA, 10, F_NEXT, 5);
    set_desc(5, BUF_GPA, 10, F_NEXT, 4);
    pop_malformed(3, VIRTQ_ERR_LOOP);
    /* Long cycle through every descriptor: 0 -> 1 -> ... -> 7 -> 0. */
    for (unsigned i = 0; i < 8; i++)
        set_desc(i, BUF_GPA + i, 1, F_NEXT, (i + 1) % 8);
    pop_malformed(6, VIRTQ_ERR_LOOP);
    ck_assert_uint_eq(E.ndesc, 8);
    /* The longest legal chain uses all 8 descriptors. */
    set_desc(7, BUF_GPA + 7, 1, 0, 0);
    post_pop(0, &E);
    ck_assert_uint_eq(E.ndesc, 8);
    ck_assert_uint_eq(E.out_num, 8);
    ck_assert_uint_eq(E.out_len, 8);
    virtq_push(&F.vq, &E, 0);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_LOOP], 4);
}
END_TEST

START_TEST(test_next_out_of_range)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, F_NEXT, 8);
    pop_malformed(0, VIRTQ_ERR_DESC_INDEX);
    set_desc(0, BUF_GPA, 10, F_NEXT, 1);
    set_desc(1, BUF_GPA, 10, F_NEXT, 0xffff);
    pop_malformed(0, VIRTQ_ERR_DESC_INDEX);
    ck_assert_uint_eq(E.ndesc, 2);
}
END_TEST

START_TEST(test_desc_addresses)
{
    /* Address 0 is RAM here, and a buffer over the rings themselves is still RAM: processed
     * (the guest's problem). */
    static const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
    } good[] = {{0, 64, F_WRITE}, {DESC_GPA, 128, 0}};
    /* Beyond RAM, straddling its end, addr + len overflowing, len 0xffffffff. */
    static const struct vq_bad_desc bad[] = {
        {MIB, 1, 0, 0, VIRTQ_ERR_ADDR},
        {MIB - 10, 20, F_WRITE, 0, VIRTQ_ERR_ADDR},
        {UINT64_MAX - 0xf, 0x20, 0, 0, VIRTQ_ERR_ADDR},
        {UINT64_MAX, 1, 0, 0, VIRTQ_ERR_ADDR},
        {0, 0xffffffffu, F_WRITE, 0, VIRTQ_ERR_ADDR},
    };

    fx_setup(MIB, 8, false, false);
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        set_desc(0, good[i].addr, good[i].len, good[i].flags, 0);
        post_pop(0, &E);
        check_iov(&E, 0, good[i].addr, good[i].len);
        virtq_push(&F.vq, &E, good[i].flags & F_WRITE ? good[i].len : 0);
    }
    pop_malformed_each(0, 0, bad, sizeof(bad) / sizeof(bad[0]));
    /* A bad buffer after good ones: the whole chain is refused, no iov left behind. */
    set_desc(0, BUF_GPA, 10, F_NEXT, 1);
    set_desc(1, 1ull << 40, 10, F_WRITE, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    ck_assert_uint_eq(E.ndesc, 2);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_ADDR], 6);
}
END_TEST

START_TEST(test_zero_length_skipped)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 0, F_NEXT, 1);
    set_desc(1, BUF_GPA, 10, F_NEXT, 2);
    set_desc(2, 0xdead00000000ull, 0, F_WRITE | F_NEXT, 3); /* never dereferenced */
    set_desc(3, BUF_GPA + 0x100, 5, F_WRITE, 0);
    post_pop(0, &E);
    ck_assert_uint_eq(E.ndesc, 4);
    ck_assert_uint_eq(E.out_num, 1);
    ck_assert_uint_eq(E.in_num, 1);
    check_iov(&E, 0, BUF_GPA, 10);
    check_iov(&E, 1, BUF_GPA + 0x100, 5);
    ck_assert_uint_eq(F.vq.stats.zero_len_desc, 2);
    virtq_push(&F.vq, &E, 5);
    /* A chain of nothing but empty descriptors is well formed and empty. */
    set_desc(4, BUF_GPA, 0, 0, 0);
    post_pop(4, &E);
    ck_assert_uint_eq(E.out_num + E.in_num, 0);
    ck_assert_uint_eq(F.vq.stats.zero_len_desc, 3);
}
END_TEST

/* n descriptors 0..n-1 chained, each len bytes of the whole RAM, the last one last_len. */
static void big_chain(unsigned n, uint32_t len, uint32_t last_len, uint16_t flags)
{
    for (unsigned i = 0; i < n; i++)
        set_desc(i, 0, i + 1 < n ? len : last_len, (uint16_t)(flags | (i + 1 < n ? F_NEXT : 0)),
                 (uint16_t)(i + 1));
}

START_TEST(test_total_length)
{
    const uint32_t ram = 16 * MIB; /* 256 whole-RAM descriptors make 4 GiB */
    /* One byte more than the largest legal chain, readable or writable: refused. */
    static const struct {
        unsigned n;
        uint16_t flags;
    } over[] = {{256, 0}, {256, F_WRITE}, {400, F_WRITE}};

    fx_setup(ram, 512, false, false);
    /* 255 * 16 MiB + (16 MiB - 1) = 2^32 - 1 bytes: the largest legal chain. */
    big_chain(256, ram, ram - 1, 0);
    post_pop(0, &E);
    ck_assert_uint_eq(E.out_len, UINT32_MAX);
    ck_assert_uint_eq(E.out_num, 256);
    virtq_push(&F.vq, &E, 0);
    for (unsigned i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        big_chain(over[i].n, ram, ram, over[i].flags);
        pop_malformed(0, VIRTQ_ERR_TOTAL_LEN);
    }
    ck_assert_uint_eq(E.ndesc, 256);
    /* Each direction is bounded on its own: 3 GiB out and 3 GiB in is accepted. */
    big_chain(384, ram, ram, 0);
    for (unsigned i = 192; i < 384; i++)
        set_desc(i, 0, ram, (uint16_t)(F_WRITE | (i + 1 < 384 ? F_NEXT : 0)), (uint16_t)(i + 1));
    post_pop(0, &E);
    ck_assert_uint_eq(E.out_len, 192ull * ram);
    ck_assert_uint_eq(E.in_len, 192ull * ram);
    ck_assert_uint_eq(E.out_num, 192);
    ck_assert_uint_eq(E.in_num, 192);
    virtq_push(&F.vq, &E, UINT32_MAX);
    ck_assert_uint_eq(used_len(4), 192ull * ram); /* clamped to the writable 3 GiB */
}
END_TEST

START_TEST(test_readable_after_writable)
{
    /* Even an empty readable descriptor after a writable one. */
    static const struct vq_bad_desc bad[] = {
        {BUF_GPA + 0x100, 10, 0, 0, VIRTQ_ERR_ORDER},
        {BUF_GPA + 0x100, 0, 0, 0, VIRTQ_ERR_ORDER},
    };

    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE | F_NEXT, 1);
    pop_malformed_each(1, 0, bad, sizeof(bad) / sizeof(bad[0]));
}
END_TEST

START_TEST(test_desc_changed_after_posting)
{
    const struct virtq_elem *el[1] = {&E};

    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 100, 0, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    /* The guest rewrites the descriptor (and the avail entry) after the pop. */
    set_desc(0, MIB - 1, 0x1000, F_WRITE | F_NEXT, 0);
    put16(AVAIL_GPA + 4, 7);
    ck_assert_uint_eq(E.out_num, 1);
    ck_assert_uint_eq(E.in_num, 0);
    check_iov(&E, 0, BUF_GPA, 100);
    /* Popping it again reads it again, with the same checks. */
    virtq_unpop(&F.vq, el, 1);
    set_desc(0, BUF_GPA + 0x200, 300, F_WRITE, 0);
    put16(AVAIL_GPA + 4, 0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.out_num, 0);
    ck_assert_uint_eq(E.in_num, 1);
    check_iov(&E, 0, BUF_GPA + 0x200, 300);
}
END_TEST

void virtq_desc_hostile_tests(const struct virtq_tcases *tc)
{
    tcase_add_test(tc->hostile, test_loops);
    tcase_add_test(tc->hostile, test_next_out_of_range);
    tcase_add_test(tc->hostile, test_desc_addresses);
    tcase_add_test(tc->hostile, test_zero_length_skipped);
    tcase_add_test(tc->hostile, test_total_length);
    tcase_add_test(tc->hostile, test_readable_after_writable);
    tcase_add_test(tc->hostile, test_desc_changed_after_posting);
}
