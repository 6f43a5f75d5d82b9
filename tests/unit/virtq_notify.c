/* virtq unit tests: interrupt suppression (VIRTQ_AVAIL_F_NO_INTERRUPT, and used_event with
 * EVENT_IDX across the 16-bit wrap, §2.7.7) and notification suppression (used.flags, and
 * avail_event with EVENT_IDX, §2.7.10). */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <stdint.h>

/* Pops and pushes one chain (head 0) with one flush; returns virtq_should_notify(). */
static bool push_one(void)
{
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_push(&F.vq, &E, 0);
    return virtq_should_notify(&F.vq);
}

START_TEST(test_no_interrupt_flag)
{
    fx_setup(MIB, 4, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    ck_assert(push_one());
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    ck_assert(!push_one());
    ck_assert(!push_one());
    put16(AVAIL_GPA, 0);
    ck_assert(push_one());
    ck_assert_uint_eq(F.vq.stats.irq_needed, 2);
    ck_assert_uint_eq(F.vq.stats.irq_suppressed, 2);
}
END_TEST

START_TEST(test_event_idx_tracking)
{
    fx_setup(MIB, 4, true, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    set_desc(1, BUF_GPA, 10, F_WRITE, 0);
    set_desc(2, BUF_GPA, 10, F_WRITE, 0);
    ck_assert(push_one()); /* used.idx 1: the first check always interrupts */
    set_used_event(2);
    ck_assert(!push_one()); /* 2: not past 2 yet */
    ck_assert(push_one());  /* 3: passed 2 */
    ck_assert(!push_one()); /* 4: used_event stale */
    /* Three entries in one flush (4 -> 7) crossing used_event 5: exactly one interrupt. */
    set_used_event(5);
    for (uint16_t h = 0; h < 3; h++)
        post(h);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E3), 1);
    virtq_fill(&F.vq, &E, 0);
    virtq_fill(&F.vq, &E2, 0);
    virtq_fill(&F.vq, &E3, 0);
    virtq_flush(&F.vq);
    ck_assert_uint_eq(used_idx(), 7);
    ck_assert(virtq_should_notify(&F.vq));
    ck_assert(!virtq_should_notify(&F.vq)); /* nothing new published */
    /* NO_INTERRUPT is ignored with EVENT_IDX. */
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    set_used_event(7);
    ck_assert(push_one()); /* 8 */
    ck_assert_uint_eq(F.vq.stats.irq_needed, 4);
    ck_assert_uint_eq(F.vq.stats.irq_suppressed, 3);
}
END_TEST

START_TEST(test_event_idx_ffff_and_stale)
{
    unsigned irqs = 0, at = 0;

    fx_setup(MIB, 4, true, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    /* 0xffff: one interrupt when used.idx goes 0xffff -> 0 (plus the first one). */
    set_used_event(0xffff);
    for (unsigned i = 1; i <= 70000; i++) {
        if (push_one()) {
            irqs++;
            at = i;
        }
    }
    ck_assert_uint_eq(irqs, 2);
    ck_assert_uint_eq(at, 0x10000);
    fx_free();

    /* A stale used_event (5, never updated): no storm, and it is crossed again after 2^16
     * entries, so a lost update cannot silence the queue forever. */
    fx_setup(MIB, 4, true, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    set_used_event(5);
    irqs = 0;
    for (unsigned i = 1; i <= 70000; i++)
        irqs += push_one();
    ck_assert_uint_eq(irqs, 3); /* at used.idx 1, 6 and 65542 */
    /* The driver catches up (used_event = what it has seen): the next entry interrupts. */
    set_used_event(used_idx());
    ck_assert(push_one());
    /* used_event far behind (the window since the last check does not contain it). */
    set_used_event((uint16_t)(used_idx() - 100));
    ck_assert(!push_one());
}
END_TEST

START_TEST(test_notification_event_idx)
{
    fx_setup(MIB, 8, true, false);
    for (uint16_t i = 0; i < 8; i++)
        set_desc(i, BUF_GPA, 10, 0, 0);
    for (uint16_t i = 0; i < 3; i++)
        post(i);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_set_notification(&F.vq, true);
    ck_assert_uint_eq(avail_event(), 3);
    ck_assert_uint_eq(get16(USED_GPA), 0); /* used.flags untouched */
    post(3);
    post(4);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_set_notification(&F.vq, false);
    ck_assert_uint_eq(avail_event(), 3); /* disabling leaves it */
    ck_assert_uint_eq(get16(USED_GPA), 0);
    /* A chain posted while notifications were off is found by the re-check. */
    post(5);
    virtq_set_notification(&F.vq, true);
    ck_assert_uint_eq(avail_event(), 5);
    ck_assert(virtq_has_work(&F.vq));
    ck_assert_uint_eq(F.vq.stats.notify_enabled, 2);
    ck_assert_uint_eq(F.vq.stats.notify_disabled, 1);
}
END_TEST

START_TEST(test_notification_flags)
{
    fx_setup(MIB, 8, false, false);
    put16(USED_GPA + 4 + 8 * 8, 0xabcd); /* where avail_event would be: not ours */
    virtq_set_notification(&F.vq, false);
    ck_assert_uint_eq(get16(USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
    virtq_set_notification(&F.vq, true);
    ck_assert_uint_eq(get16(USED_GPA), 0);
    virtq_set_notification(&F.vq, false);
    ck_assert_uint_eq(get16(USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 0xabcd);
}
END_TEST

void virtq_notify_tests(const struct virtq_tcases *tc)
{
    tcase_add_test(tc->notify, test_no_interrupt_flag);
    tcase_add_test(tc->notify, test_event_idx_tracking);
    tcase_add_test(tc->notify, test_event_idx_ffff_and_stale);
    tcase_add_test(tc->notify, test_notification_event_idx);
    tcase_add_test(tc->notify, test_notification_flags);
}
