/* virtq unit tests: activation (ring sizes, alignment and placement in guest RAM, §2.7),
 * giving chains back with virtq_unpop(), and reset. */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One placement of the rings of a size-8 queue without INDIRECT, and what activation says. */
struct ring_case {
    uint64_t desc, avail, used;
    bool event_idx;
    int want;
};

static void activate_each(const struct ring_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = fx_activate(8, c[i].desc, c[i].avail, c[i].used, c[i].event_idx, false);
        ck_assert_msg(r == c[i].want, "ring case %zu: %d, want %d", i, r, c[i].want);
    }
}

START_TEST(test_activate_good)
{
    fx_setup(MIB, 8, false, false);
    ck_assert(F.vq.ready);
    ck_assert_ptr_eq(F.vq.desc, F.ram + DESC_GPA);
    ck_assert_ptr_eq(F.vq.avail, F.ram + AVAIL_GPA);
    ck_assert_ptr_eq(F.vq.used, F.ram + USED_GPA);
    ck_assert_uint_eq(F.vq.size, 8);
    ck_assert_uint_eq(virtq_desc_bytes(8), 128);
    ck_assert_uint_eq(virtq_avail_bytes(8, false), 20);
    ck_assert_uint_eq(virtq_avail_bytes(8, true), 22);
    ck_assert_uint_eq(virtq_used_bytes(8, false), 68);
    ck_assert_uint_eq(virtq_used_bytes(8, true), 70);
    ck_assert_uint_eq(virtq_desc_bytes(1024), 16384);
    ck_assert_uint_eq(virtq_used_bytes(1024, true), 8198);
    /* The extremes of the size range, with both features. */
    ck_assert_int_eq(fx_activate(1, DESC_GPA, AVAIL_GPA, USED_GPA, false, false), 0);
    ck_assert_int_eq(fx_activate(1024, DESC_GPA, AVAIL_GPA, USED_GPA, true, true), 0);
    ck_assert(F.vq.ready && F.vq.event_idx && F.vq.indirect);
    ck_assert_uint_eq(F.vq.desc_gpa, DESC_GPA);
    ck_assert_uint_eq(F.vq.last_avail_idx, 0);
    ck_assert_uint_eq(F.vq.used_idx, 0);
    ck_assert(!virtq_has_work(&F.vq));
}
END_TEST

START_TEST(test_activate_bad_size)
{
    static const uint16_t sizes[] = {0, 3, 6, 1025, 2048, 0xffff};

    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    post(0);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ck_assert_int_eq(fx_activate(sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                         -EINVAL);
        ck_assert(!F.vq.ready);
        ck_assert_ptr_null(F.vq.desc);
        ck_assert_int_eq(virtq_pop(&F.vq, &E), 0);
        ck_assert(!virtq_has_work(&F.vq));
        ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    }
    ck_assert_int_eq(virtq_activate(&F.vq, NULL, 8, DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
}
END_TEST

START_TEST(test_activate_misaligned)
{
    static const struct ring_case bad[] = {
        {DESC_GPA + 8, AVAIL_GPA, USED_GPA, false, -EINVAL},
        {DESC_GPA + 1, AVAIL_GPA, USED_GPA, false, -EINVAL},
        {DESC_GPA, AVAIL_GPA + 1, USED_GPA, false, -EINVAL},
        {DESC_GPA, AVAIL_GPA, USED_GPA + 2, false, -EINVAL},
    };
    /* The minimum alignments themselves are accepted. */
    static const struct ring_case good = {DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, false, 0};

    fx_setup(MIB, 8, false, false);
    activate_each(bad, sizeof(bad) / sizeof(bad[0]));
    ck_assert(!F.vq.ready);
    activate_each(&good, 1);
    ck_assert(F.vq.ready);
}
END_TEST

START_TEST(test_activate_straddle_end_of_ram)
{
    const uint64_t end = MIB;
    /* The event fields count: 20 avail bytes fit, 22 do not; 68 used bytes fit, 70 do not. */
    const struct ring_case cases[] = {
        {end - 64, AVAIL_GPA, USED_GPA, false, -EINVAL}, {end - 128, AVAIL_GPA, USED_GPA, false, 0},
        {DESC_GPA, AVAIL_GPA, end - 8, false, -EINVAL},  {DESC_GPA, end - 20, USED_GPA, false, 0},
        {DESC_GPA, end - 20, USED_GPA, true, -EINVAL},   {DESC_GPA, AVAIL_GPA, end - 68, false, 0},
        {DESC_GPA, AVAIL_GPA, end - 68, true, -EINVAL},
    };

    fx_setup(MIB, 8, false, false);
    activate_each(cases, sizeof(cases) / sizeof(cases[0]));
    ck_assert(!F.vq.ready);
}
END_TEST

START_TEST(test_activate_outside_ram)
{
    static uint8_t high[0x1000];
    static const struct ring_case bad[] = {
        {MIB - 64, AVAIL_GPA, USED_GPA, false, -EINVAL},
        {0x10000000, AVAIL_GPA, USED_GPA, false, -EINVAL},
        {DESC_GPA, 1ull << 40, USED_GPA, false, -EINVAL},
        {DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, false, -EINVAL},
        {UINT64_MAX - 15, AVAIL_GPA, USED_GPA, false, -EINVAL},
    };

    fx_setup(MIB, 8, false, false);
    /* A second region right after the first: a ring spanning both is still refused. */
    ck_assert_int_eq(gmem_add_region(&F.gm, MIB, sizeof(high), high), 0);
    activate_each(bad, sizeof(bad) / sizeof(bad[0]));
    ck_assert(!F.vq.ready);
}
END_TEST

START_TEST(test_unpop)
{
    const struct virtq_elem *last2[2] = {&E2, &E3};
    const struct virtq_elem *none[1] = {&E2};

    fx_setup(MIB, 8, false, false);
    set_desc(5, BUF_GPA, 10, 0, 0);
    set_desc(2, BUF_GPA + 0x100, 20, F_WRITE, 0);
    set_desc(7, BUF_GPA + 0x200, 30, 0, 0);
    post(5);
    post(2);
    post(7);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 1);
    virtq_unpop(&F.vq, last2, 2);
    ck_assert_uint_eq(F.vq.last_avail_idx, 1);
    ck_assert_uint_eq(F.vq.inflight, 1);
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 2);
    /* Unpopping a head that is not in flight is ignored. */
    virtq_unpop(&F.vq, none, 1);
    ck_assert_uint_eq(F.vq.last_avail_idx, 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_uint_eq(E2.head, 2);
    check_iov(&E2, 0, BUF_GPA + 0x100, 20);
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 1);
    ck_assert_uint_eq(E3.head, 7);
    check_iov(&E3, 0, BUF_GPA + 0x200, 30);
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 0);
    ck_assert_uint_eq(F.vq.inflight, 3);
}
END_TEST

/* An inactive queue reads and writes no guest memory, whatever it is asked. */
static void check_inactive_touches_nothing(void)
{
    const struct virtq_elem *el[1] = {&E};
    uint8_t *snap = malloc(F.ram_size);

    ck_assert_ptr_nonnull(snap);
    memcpy(snap, F.ram, F.ram_size);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 0);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    virtq_push(&F.vq, &E, 10);
    virtq_flush(&F.vq);
    virtq_unpop(&F.vq, el, 1);
    ck_assert(!virtq_should_notify(&F.vq));
    virtq_set_notification(&F.vq, true);
    virtq_set_notification(&F.vq, false);
    ck_assert_int_eq(memcmp(snap, F.ram, F.ram_size), 0);
    free(snap);
}

/* The driver re-initialises its avail and used rings and activates the queue again. */
static void reactivate(bool event_idx)
{
    memset(F.ram + AVAIL_GPA, 0, virtq_avail_bytes(8, event_idx));
    if (event_idx)
        memset(F.ram + USED_GPA, 0, virtq_used_bytes(8, true));
    F.avail_idx = 0;
    ck_assert_int_eq(fx_activate(8, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx, false), 0);
}

START_TEST(test_reset)
{
    fx_setup(MIB, 8, true, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    post(0);
    virtq_reset(&F.vq);
    ck_assert(!F.vq.ready);
    ck_assert_ptr_null(F.vq.desc);
    ck_assert_uint_eq(F.vq.inflight, 0);
    ck_assert_uint_eq(F.vq.stats.popped, 1); /* counters kept */
    check_inactive_touches_nothing();
    /* The driver re-initialises its rings and the queue works again. */
    reactivate(true);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_push(&F.vq, &E, 10);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(used_len(0), 10);
}
END_TEST

START_TEST(test_reset_after_broken)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    post(8);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    virtq_reset(&F.vq);
    ck_assert(!F.vq.broken);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 0);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_HEAD], 1);
    reactivate(false);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, 0);
}
END_TEST

void virtq_life_tests(const struct virtq_tcases *tc)
{
    tcase_add_test(tc->act, test_activate_good);
    tcase_add_test(tc->act, test_activate_bad_size);
    tcase_add_test(tc->act, test_activate_misaligned);
    tcase_add_test(tc->act, test_activate_straddle_end_of_ram);
    tcase_add_test(tc->act, test_activate_outside_ram);

    tcase_add_test(tc->life, test_unpop);
    tcase_add_test(tc->life, test_reset);
    tcase_add_test(tc->life, test_reset_after_broken);
}
