/* Unit tests for the address-space dispatcher: overlaps refused, lookups with relative
 * offsets and sizes, unclaimed accesses, moves that keep ids, and the guest-memory accessor. */
#include "vmm/guestmem.h"
#include "vmm/iobus.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct recorder {
    int calls;
    uint64_t offset;
    unsigned len;
    bool is_write;
    uint64_t value;
};

static void rec_fn(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct recorder *r = opaque;
    r->calls++;
    r->offset = offset;
    r->len = len;
    r->is_write = is_write;
    if (is_write)
        r->value = iobus_get_le(data, len);
    else
        iobus_put_le(data, len, 0x1122334455667788ull);
}

START_TEST(test_overlap_refused)
{
    struct iobus *bus = iobus_create();
    struct recorder r = {0};
    ck_assert_int_ge(iobus_register(bus, IOBUS_PIO, 0x3f8, 8, "uart", rec_fn, &r), 0);
    ck_assert_int_eq(iobus_register(bus, IOBUS_PIO, 0x3f8, 8, "dup", rec_fn, &r), -EEXIST);
    ck_assert_int_eq(iobus_register(bus, IOBUS_PIO, 0x3f0, 9, "tail", rec_fn, &r), -EEXIST);
    ck_assert_int_eq(iobus_register(bus, IOBUS_PIO, 0x3ff, 1, "last", rec_fn, &r), -EEXIST);
    ck_assert_int_eq(iobus_register(bus, IOBUS_PIO, 0x3f0, 0x20, "cover", rec_fn, &r), -EEXIST);
    /* Adjacent ranges and the other space are fine. */
    ck_assert_int_ge(iobus_register(bus, IOBUS_PIO, 0x3f0, 8, "below", rec_fn, &r), 0);
    ck_assert_int_ge(iobus_register(bus, IOBUS_PIO, 0x400, 8, "above", rec_fn, &r), 0);
    ck_assert_int_ge(iobus_register(bus, IOBUS_MMIO, 0x3f8, 8, "mmio", rec_fn, &r), 0);
    /* Zero length and wrap-around are refused. */
    ck_assert_int_eq(iobus_register(bus, IOBUS_MMIO, 0x1000, 0, "zero", rec_fn, &r), -EINVAL);
    ck_assert_int_eq(iobus_register(bus, IOBUS_MMIO, UINT64_MAX - 2, 8, "wrap", rec_fn, &r),
                     -EINVAL);
    ck_assert_int_eq(iobus_nr_regions(bus), 4);
    iobus_destroy(bus);
}
END_TEST

START_TEST(test_dispatch_offsets_and_sizes)
{
    struct iobus *bus = iobus_create();
    struct recorder a = {0}, b = {0};
    int ida = iobus_register(bus, IOBUS_MMIO, 0xd0000000, 0x1000, "a", rec_fn, &a);
    int idb = iobus_register(bus, IOBUS_MMIO, 0xd0001000, 0x1000, "b", rec_fn, &b);
    uint8_t data[8];
    iobus_put_le(data, 4, 0xdeadbeef);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xd0000070, data, 4, true), ida);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_uint_eq(a.offset, 0x70);
    ck_assert_uint_eq(a.len, 4);
    ck_assert(a.is_write);
    ck_assert_uint_eq(a.value, 0xdeadbeef);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xd0001ffe, data, 2, false), idb);
    ck_assert_uint_eq(b.offset, 0xffe);
    ck_assert_uint_eq(iobus_get_le(data, 2), 0x7788);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xd0000000, data, 8, false), ida);
    ck_assert_uint_eq(iobus_get_le(data, 8), 0x1122334455667788ull);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xd0001000, data, 1, true), idb);
    ck_assert_uint_eq(b.offset, 0);
    ck_assert_uint_eq(b.len, 1);
    iobus_destroy(bus);
}
END_TEST

START_TEST(test_unclaimed)
{
    struct iobus *bus = iobus_create();
    struct recorder a = {0};
    iobus_register(bus, IOBUS_PIO, 0x60, 5, "i8042", rec_fn, &a);
    uint8_t data[4] = {0, 0, 0, 0};
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_PIO, 0x70, data, 4, false), -1);
    ck_assert_uint_eq(iobus_get_le(data, 4), 0xffffffffu); /* all ones */
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_PIO, 0x65, data, 1, true), -1);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0x60, data, 1, false), -1);
    ck_assert_int_eq(a.calls, 0);
    ck_assert_uint_eq(iobus_unclaimed(bus, IOBUS_PIO, false), 1);
    ck_assert_uint_eq(iobus_unclaimed(bus, IOBUS_PIO, true), 1);
    ck_assert_uint_eq(iobus_unclaimed(bus, IOBUS_MMIO, false), 1);
    /* Bad lengths never reach a handler. */
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_PIO, 0x60, data, 0, false), -1);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_PIO, 0x60, data, 9, false), -1);
    ck_assert_int_eq(a.calls, 0);
    iobus_destroy(bus);
}
END_TEST

START_TEST(test_move_keeps_id)
{
    struct iobus *bus = iobus_create();
    struct recorder a = {0}, other = {0};
    int id = iobus_register_unmapped(bus, IOBUS_MMIO, 0x20000, "bar0", rec_fn, &a);
    ck_assert_int_ge(id, 0);
    iobus_register(bus, IOBUS_MMIO, 0xc0040000, 0x1000, "other", rec_fn, &other);
    uint8_t data[4];
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xc0000000, data, 4, false), -1);
    ck_assert_int_eq(iobus_map(bus, id, 0xc0000000), 0);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xc0000010, data, 4, false), id);
    ck_assert_uint_eq(a.offset, 0x10);
    /* Moving onto another region is refused and leaves it unmapped. */
    ck_assert_int_eq(iobus_map(bus, id, 0xc0030000), -EEXIST);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xc0000010, data, 4, false), -1);
    ck_assert_int_eq(iobus_map(bus, id, 0xc0100000), 0);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xc0100004, data, 4, false), id);
    ck_assert_uint_eq(a.offset, 4);
    struct iobus_region_info ri;
    ck_assert_int_eq(iobus_region_info(bus, id, &ri), 0);
    ck_assert_str_eq(ri.name, "bar0");
    ck_assert_uint_eq(ri.base, 0xc0100000);
    ck_assert(ri.mapped);
    ck_assert_int_eq(iobus_unmap(bus, id), 0);
    ck_assert_int_eq(iobus_dispatch(bus, IOBUS_MMIO, 0xc0100004, data, 4, false), -1);
    ck_assert_int_eq(iobus_map(bus, 99, 0), -EINVAL);
    iobus_destroy(bus);
}
END_TEST

START_TEST(test_many_regions_lookup)
{
    struct iobus *bus = iobus_create();
    static struct recorder r[64];
    memset(r, 0, sizeof(r));
    /* Registered out of order: lookup must still find each. */
    for (int i = 63; i >= 0; i--)
        ck_assert_int_ge(
            iobus_register(bus, IOBUS_PIO, 0x1000 + 0x10 * i, 0x10, "r", rec_fn, &r[i]), 0);
    uint8_t d[1] = {0};
    for (int i = 0; i < 64; i++) {
        iobus_dispatch(bus, IOBUS_PIO, 0x1000 + 0x10 * i + 3, d, 1, true);
        ck_assert_int_eq(r[i].calls, 1);
        ck_assert_uint_eq(r[i].offset, 3);
    }
    iobus_destroy(bus);
}
END_TEST

START_TEST(test_guestmem_ranges)
{
    static uint8_t low[0x10000], high[0x1000];
    struct guestmem gm = {0};
    ck_assert_int_eq(gmem_add_region(&gm, 0, sizeof(low), low), 0);
    ck_assert_int_eq(gmem_add_region(&gm, 0x100000000ull, sizeof(high), high), 0);
    ck_assert_int_eq(gmem_add_region(&gm, 0x8000, 0x10000, low), -EINVAL); /* overlap */
    ck_assert_ptr_eq(gmem_ptr(&gm, 0, sizeof(low)), low);
    ck_assert_ptr_eq(gmem_ptr(&gm, 0xfff0, 0x10), low + 0xfff0);
    ck_assert_ptr_null(gmem_ptr(&gm, 0xfff0, 0x11));     /* straddles the end */
    ck_assert_ptr_null(gmem_ptr(&gm, 0x10000, 1));       /* hole */
    ck_assert_ptr_null(gmem_ptr(&gm, 0x10, UINT64_MAX)); /* huge length */
    ck_assert_ptr_null(gmem_ptr(&gm, UINT64_MAX, 2));    /* wraps */
    ck_assert_ptr_null(gmem_ptr(&gm, 0xffff0, 0x20000)); /* spans regions and hole */
    ck_assert_ptr_eq(gmem_ptr(&gm, 0x100000fffull, 1), high + 0xfff);
    ck_assert_ptr_eq(gmem_ptr(&gm, 0x10000, 0), low + 0x10000); /* empty range at the end */
    uint8_t buf[4] = {1, 2, 3, 4};
    ck_assert_int_eq(gmem_write(&gm, 0x100, buf, 4), 0);
    ck_assert_int_eq(low[0x102], 3);
    ck_assert_int_eq(gmem_write(&gm, 0xfffe, buf, 4), -EFAULT);
    ck_assert_int_eq(gmem_read(&gm, 0x100000ffeull, buf, 4), -EFAULT);
    ck_assert_uint_eq(gmem_total(&gm), sizeof(low) + sizeof(high));
}
END_TEST

static Suite *iobus_suite(void)
{
    Suite *s = suite_create("iobus");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_overlap_refused);
    tcase_add_test(tc, test_dispatch_offsets_and_sizes);
    tcase_add_test(tc, test_unclaimed);
    tcase_add_test(tc, test_move_keeps_id);
    tcase_add_test(tc, test_many_regions_lookup);
    tcase_add_test(tc, test_guestmem_ranges);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(iobus_suite)
