/* Unit tests for the split virtqueue: a fake guest RAM at gpa 0 holds descriptor, avail and
 * used rings laid out byte by byte as a driver would, and every hostile case of the
 * malicious-guest checklist (split ring) is posted to check that it is processed or refused. */
#include "devices/virtq.h"
#include "vmm/guestmem.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIB       (1024ull * 1024ull)
#define DESC_GPA  0x4000ull /* up to 1024 descriptors: ends at 0x8000 */
#define AVAIL_GPA 0x8000ull
#define USED_GPA  0x9000ull
#define BUF_GPA   0x10000ull
#define TABLE_GPA 0x20000ull /* indirect tables */

#define F_NEXT  VIRTQ_DESC_F_NEXT
#define F_WRITE VIRTQ_DESC_F_WRITE
#define F_IND   VIRTQ_DESC_F_INDIRECT

/* One queue over fake RAM, plus the driver's own copy of avail.idx. The Check runner forks
 * each test, so file-scope state is per test. */
static struct {
    uint8_t *ram;
    uint64_t ram_size;
    struct guestmem gm;
    struct virtq vq;
    uint16_t size;
    uint16_t avail_idx;
} F;

static struct virtq_elem E, E2, E3, E4; /* 16 KiB each: kept off the stack */

static void fx_setup(uint64_t ram_size, uint16_t size, bool event_idx, bool indirect)
{
    memset(&F, 0, sizeof(F));
    F.ram = calloc(1, ram_size);
    ck_assert_ptr_nonnull(F.ram);
    F.ram_size = ram_size;
    ck_assert_int_eq(gmem_add_region(&F.gm, 0, ram_size, F.ram), 0);
    F.size = size;
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, size, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx, indirect), 0);
}

static void fx_free(void)
{
    free(F.ram);
    F.ram = NULL;
}

/* Driver-side accessors: little-endian fields at explicit offsets. */
static void put16(uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

static void put32(uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

static void put64(uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

static uint16_t get16(uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, F.ram + gpa, sizeof(le));
    return le16toh(le);
}

static uint32_t get32(uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, F.ram + gpa, sizeof(le));
    return le32toh(le);
}

static void set_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    uint64_t d = table + 16ull * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    set_desc_at(DESC_GPA, i, addr, len, flags, next);
}

static void set_avail_idx(uint16_t idx)
{
    F.avail_idx = idx;
    put16(AVAIL_GPA + 2, idx);
}

/* Posts a head: ring entry first, then avail.idx (the device must not see one without the
 * other). */
static void post(uint16_t head)
{
    put16(AVAIL_GPA + 4 + 2ull * (F.avail_idx & (F.size - 1)), head);
    set_avail_idx((uint16_t)(F.avail_idx + 1));
}

static uint16_t used_idx(void)
{
    return get16(USED_GPA + 2);
}

static uint32_t used_id(unsigned slot)
{
    return get32(USED_GPA + 4 + 8ull * slot);
}

static uint32_t used_len(unsigned slot)
{
    return get32(USED_GPA + 8 + 8ull * slot);
}

static void set_used_event(uint16_t v)
{
    put16(AVAIL_GPA + 4 + 2ull * F.size, v);
}

static uint16_t avail_event(void)
{
    return get16(USED_GPA + 4 + 8ull * F.size);
}

static void check_iov(const struct virtq_elem *e, unsigned i, uint64_t gpa, size_t len)
{
    ck_assert_ptr_eq(e->iov[i].iov_base, F.ram + gpa);
    ck_assert_uint_eq(e->iov[i].iov_len, len);
}

/* Posts head, expects a malformed chain with error err, pushes it back with a length the
 * device would like to report and checks the used ring shows the head with length 0. */
static void pop_malformed(uint16_t head, enum virtq_error err)
{
    uint64_t before = F.vq.stats.errors[err];
    unsigned slot = F.vq.used_idx & (F.size - 1);

    post(head);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, head);
    ck_assert_int_eq(E.error, err);
    ck_assert_uint_eq(E.out_num, 0);
    ck_assert_uint_eq(E.in_num, 0);
    ck_assert_uint_eq(E.out_len, 0);
    ck_assert_uint_eq(E.in_len, 0);
    ck_assert_uint_eq(F.vq.stats.errors[err], before + 1);
    ck_assert(!F.vq.broken);
    ck_assert_uint_eq(F.vq.inflight, 1);
    virtq_push(&F.vq, &E, 1000);
    ck_assert_uint_eq(used_idx(), F.vq.used_idx);
    ck_assert_uint_eq(used_id(slot), head);
    ck_assert_uint_eq(used_len(slot), 0);
    ck_assert_uint_eq(F.vq.inflight, 0);
}

/* ---- activation ---- */

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
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 1, DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                     0);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 1024, DESC_GPA, AVAIL_GPA, USED_GPA, true, true),
                     0);
    ck_assert(F.vq.ready && F.vq.event_idx && F.vq.indirect);
    ck_assert_uint_eq(F.vq.desc_gpa, DESC_GPA);
    ck_assert_uint_eq(F.vq.last_avail_idx, 0);
    ck_assert_uint_eq(F.vq.used_idx, 0);
    ck_assert(!virtq_has_work(&F.vq));
    fx_free();
}
END_TEST

START_TEST(test_activate_bad_size)
{
    static const uint16_t sizes[] = {0, 3, 6, 1025, 2048, 0xffff};

    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    post(0);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ck_assert_int_eq(
            virtq_activate(&F.vq, &F.gm, sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
            -EINVAL);
        ck_assert(!F.vq.ready);
        ck_assert_ptr_null(F.vq.desc);
        ck_assert_int_eq(virtq_pop(&F.vq, &E), 0);
        ck_assert(!virtq_has_work(&F.vq));
        ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    }
    ck_assert_int_eq(virtq_activate(&F.vq, NULL, 8, DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
    fx_free();
}
END_TEST

START_TEST(test_activate_misaligned)
{
    fx_setup(MIB, 8, false, false);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, false, false), -EINVAL);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA + 1, AVAIL_GPA, USED_GPA, false, false), -EINVAL);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, false, false), -EINVAL);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, false, false), -EINVAL);
    ck_assert(!F.vq.ready);
    /* The minimum alignments themselves are accepted. */
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, false, false),
        0);
    ck_assert(F.vq.ready);
    fx_free();
}
END_TEST

START_TEST(test_activate_straddle_end_of_ram)
{
    const uint64_t end = MIB;

    fx_setup(MIB, 8, false, false);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, end - 64, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, end - 128, AVAIL_GPA, USED_GPA, false, false),
                     0);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, end - 8, false, false),
                     -EINVAL);
    /* The event fields count: 20 avail bytes fit, 22 do not; 68 used bytes fit, 70 do not. */
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, end - 20, USED_GPA, false, false),
                     0);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, end - 20, USED_GPA, true, false),
                     -EINVAL);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, end - 68, false, false),
                     0);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, end - 68, true, false),
                     -EINVAL);
    ck_assert(!F.vq.ready);
    fx_free();
}
END_TEST

START_TEST(test_activate_outside_ram)
{
    static uint8_t high[0x1000];

    fx_setup(MIB, 8, false, false);
    /* A second region right after the first: a ring spanning both is still refused. */
    ck_assert_int_eq(gmem_add_region(&F.gm, MIB, sizeof(high), high), 0);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, MIB - 64, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, 0x10000000, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, 1ull << 40, USED_GPA, false, false),
                     -EINVAL);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, false, false),
        -EINVAL);
    ck_assert_int_eq(
        virtq_activate(&F.vq, &F.gm, 8, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, false, false),
        -EINVAL);
    ck_assert(!F.vq.ready);
    fx_free();
}
END_TEST

/* ---- well-formed chains ---- */

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
    fx_free();
}
END_TEST

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
    ck_assert_uint_eq(E.out_num, 2);
    ck_assert_uint_eq(E.in_num, 1);
    ck_assert_uint_eq(E.out_len, 1512);
    ck_assert_uint_eq(E.in_len, 2048);
    check_iov(&E, 0, BUF_GPA, 12);
    check_iov(&E, 1, BUF_GPA + 0x1000, 1500);
    check_iov(&E, 2, BUF_GPA + 0x2000, 2048);

    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 1);
    ck_assert_uint_eq(E2.head, 4);
    ck_assert_uint_eq(E2.out_num, 0);
    ck_assert_uint_eq(E2.in_num, 2);
    ck_assert_uint_eq(E2.in_len, 1514 + 4096);
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
    fx_free();
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
    fx_free();
}
END_TEST

/* ---- indirect descriptors ---- */

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
    ck_assert_uint_eq(E.out_num, 1);
    ck_assert_uint_eq(E.in_num, 2);
    ck_assert_uint_eq(E.out_len, 10);
    ck_assert_uint_eq(E.in_len, 50);
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
    fx_free();
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
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.ndesc, big + 1);
    ck_assert_uint_eq(E.out_num, big);
    ck_assert_uint_eq(E.out_len, big);
    check_iov(&E, big - 1, BUF_GPA + big - 1, 1);
    virtq_push(&F.vq, &E, 0);
    /* One direct buffer before it makes VIRTQ_MAX_SIZE + 1 buffers: refused. */
    set_desc(1, BUF_GPA, 1, F_NEXT, 0);
    pop_malformed(1, VIRTQ_ERR_LOOP);
    fx_free();
}
END_TEST

START_TEST(test_indirect_without_feature)
{
    fx_setup(MIB, 8, false, false);
    set_desc_at(TABLE_GPA, 0, BUF_GPA, 10, 0, 0);
    set_desc(0, TABLE_GPA, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    fx_free();
}
END_TEST

START_TEST(test_indirect_malformed)
{
    fx_setup(2 * MIB, 8, false, true);
    set_desc_at(TABLE_GPA, 0, BUF_GPA, 10, 0, 0);
    /* Nested: a table entry pointing at another table. */
    set_desc_at(TABLE_GPA + 0x100, 0, TABLE_GPA, 16, F_IND, 0);
    set_desc(0, TABLE_GPA + 0x100, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    /* INDIRECT together with NEXT. */
    set_desc(1, BUF_GPA, 10, 0, 0);
    set_desc(0, TABLE_GPA, 16, F_IND | F_NEXT, 1);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    /* Lengths: 0, not a multiple of 16, more than VIRTQ_MAX_SIZE entries. */
    set_desc(0, TABLE_GPA, 0, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    set_desc(0, TABLE_GPA, 24, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    set_desc(0, TABLE_GPA, (VIRTQ_MAX_SIZE + 1) * 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    set_desc(0, TABLE_GPA, 0xfffffff0u, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    /* Outside RAM, straddling its end, wrapping around. */
    set_desc(0, 4 * MIB, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    set_desc(0, 2 * MIB - 16, 32, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    set_desc(0, UINT64_MAX - 15, 32, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_INDIRECT);
    /* Inside a table: loops, next past the table, buffers outside RAM. */
    set_desc_at(TABLE_GPA + 0x200, 0, BUF_GPA, 10, F_NEXT, 0);
    set_desc(0, TABLE_GPA + 0x200, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_LOOP); /* self loop in a one-entry table */
    set_desc_at(TABLE_GPA + 0x300, 0, BUF_GPA, 10, F_NEXT, 1);
    set_desc_at(TABLE_GPA + 0x300, 1, BUF_GPA, 10, F_NEXT, 0);
    set_desc(0, TABLE_GPA + 0x300, 32, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_LOOP);
    set_desc(0, TABLE_GPA + 0x300, 16, F_IND, 0); /* entry 0's next (1) is past one entry */
    pop_malformed(0, VIRTQ_ERR_DESC_INDEX);
    set_desc_at(TABLE_GPA + 0x400, 0, 3 * MIB, 10, 0, 0);
    set_desc(0, TABLE_GPA + 0x400, 16, F_IND, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_INDIRECT], 9);
    ck_assert_uint_eq(F.vq.stats.popped, F.vq.stats.pushed);
    fx_free();
}
END_TEST

/* ---- split ring checklist ---- */

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
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.ndesc, 8);
    ck_assert_uint_eq(E.out_num, 8);
    ck_assert_uint_eq(E.out_len, 8);
    virtq_push(&F.vq, &E, 0);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_LOOP], 4);
    fx_free();
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
    fx_free();
}
END_TEST

START_TEST(test_avail_entry_out_of_range)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, 0, 0);
    post(8);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert(F.vq.broken);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_HEAD], 1);
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
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_HEAD], 1);
    fx_free();
}
END_TEST

START_TEST(test_same_head_twice)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE, 0);
    /* Reposting a head once it came back is legal. */
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
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
    fx_free();
}
END_TEST

START_TEST(test_avail_idx_jump)
{
    fx_setup(MIB, 8, false, false);
    set_avail_idx(9);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    ck_assert(!F.vq.broken);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert(F.vq.broken);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_AVAIL_IDX], 1);
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
    fx_free();
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
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_AVAIL_IDX], 1);
    fx_free();

    fx_setup(MIB, 8, false, false);
    set_avail_idx(0xffff);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), -EIO);
    fx_free();
}
END_TEST

START_TEST(test_index_wrap)
{
    const unsigned total = 70000;
    unsigned done = 0, iter = 0;

    fx_setup(MIB, 4, false, false);
    /* Batches of 1 to 4 chains across the 65535 -> 0 wrap of both indices. */
    while (done < total) {
        unsigned batch = 1 + iter++ % 4;
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
        done += batch;
        ck_assert_uint_eq(used_idx(), (uint16_t)done);
        ck_assert_uint_eq(used_id((done - 1) & 3), 0); /* filled in reverse: head 0 last */
    }
    ck_assert_uint_eq(F.vq.last_avail_idx, (uint16_t)done);
    ck_assert_uint_eq(F.vq.stats.popped, done);
    ck_assert_uint_eq(F.vq.stats.pushed, done);
    ck_assert_uint_eq(F.vq.inflight, 0);
    ck_assert(!F.vq.broken);
    fx_free();
}
END_TEST

START_TEST(test_desc_addresses)
{
    fx_setup(MIB, 8, false, false);
    /* Address 0 is RAM here: processed. */
    set_desc(0, 0, 64, F_WRITE, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    check_iov(&E, 0, 0, 64);
    virtq_push(&F.vq, &E, 64);
    /* A buffer over the rings themselves is still RAM: processed (the guest's problem). */
    set_desc(0, DESC_GPA, 128, 0, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    check_iov(&E, 0, DESC_GPA, 128);
    virtq_push(&F.vq, &E, 0);
    /* Beyond RAM, straddling its end, addr + len overflowing, len 0xffffffff. */
    set_desc(0, MIB, 1, 0, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    set_desc(0, MIB - 10, 20, F_WRITE, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    set_desc(0, UINT64_MAX - 0xf, 0x20, 0, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    set_desc(0, UINT64_MAX, 1, 0, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    set_desc(0, 0, 0xffffffffu, F_WRITE, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    /* A bad buffer after good ones: the whole chain is refused, no iov left behind. */
    set_desc(0, BUF_GPA, 10, F_NEXT, 1);
    set_desc(1, 1ull << 40, 10, F_WRITE, 0);
    pop_malformed(0, VIRTQ_ERR_ADDR);
    ck_assert_uint_eq(E.ndesc, 2);
    ck_assert_uint_eq(F.vq.stats.errors[VIRTQ_ERR_ADDR], 6);
    fx_free();
}
END_TEST

START_TEST(test_zero_length_skipped)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 0, F_NEXT, 1);
    set_desc(1, BUF_GPA, 10, F_NEXT, 2);
    set_desc(2, 0xdead00000000ull, 0, F_WRITE | F_NEXT, 3); /* never dereferenced */
    set_desc(3, BUF_GPA + 0x100, 5, F_WRITE, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.ndesc, 4);
    ck_assert_uint_eq(E.out_num, 1);
    ck_assert_uint_eq(E.in_num, 1);
    check_iov(&E, 0, BUF_GPA, 10);
    check_iov(&E, 1, BUF_GPA + 0x100, 5);
    ck_assert_uint_eq(F.vq.stats.zero_len_desc, 2);
    virtq_push(&F.vq, &E, 5);
    /* A chain of nothing but empty descriptors is well formed and empty. */
    set_desc(4, BUF_GPA, 0, 0, 0);
    post(4);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.out_num + E.in_num, 0);
    ck_assert_uint_eq(F.vq.stats.zero_len_desc, 3);
    fx_free();
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

    fx_setup(ram, 512, false, false);
    /* 255 * 16 MiB + (16 MiB - 1) = 2^32 - 1 bytes: the largest legal chain. */
    big_chain(256, ram, ram - 1, 0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.out_len, UINT32_MAX);
    ck_assert_uint_eq(E.out_num, 256);
    virtq_push(&F.vq, &E, 0);
    /* One byte more, readable or writable: refused. */
    big_chain(256, ram, ram, 0);
    pop_malformed(0, VIRTQ_ERR_TOTAL_LEN);
    big_chain(256, ram, ram, F_WRITE);
    pop_malformed(0, VIRTQ_ERR_TOTAL_LEN);
    big_chain(400, ram, ram, F_WRITE);
    pop_malformed(0, VIRTQ_ERR_TOTAL_LEN);
    ck_assert_uint_eq(E.ndesc, 256);
    /* Each direction is bounded on its own: 3 GiB out and 3 GiB in is accepted. */
    big_chain(384, ram, ram, 0);
    for (unsigned i = 192; i < 384; i++)
        set_desc(i, 0, ram, (uint16_t)(F_WRITE | (i + 1 < 384 ? F_NEXT : 0)), (uint16_t)(i + 1));
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_int_eq(E.error, VIRTQ_ERR_NONE);
    ck_assert_uint_eq(E.out_len, 192ull * ram);
    ck_assert_uint_eq(E.in_len, 192ull * ram);
    ck_assert_uint_eq(E.out_num, 192);
    ck_assert_uint_eq(E.in_num, 192);
    virtq_push(&F.vq, &E, UINT32_MAX);
    ck_assert_uint_eq(used_len(4), 192ull * ram); /* clamped to the writable 3 GiB */
    fx_free();
}
END_TEST

START_TEST(test_readable_after_writable)
{
    fx_setup(MIB, 8, false, false);
    set_desc(0, BUF_GPA, 10, F_WRITE | F_NEXT, 1);
    set_desc(1, BUF_GPA + 0x100, 10, 0, 0);
    pop_malformed(0, VIRTQ_ERR_ORDER);
    /* Even an empty readable descriptor after a writable one. */
    set_desc(1, BUF_GPA + 0x100, 0, 0, 0);
    pop_malformed(0, VIRTQ_ERR_ORDER);
    fx_free();
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
    fx_free();
}
END_TEST

/* ---- every head back exactly once ---- */

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
    fx_free();
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
    fx_free();
}
END_TEST

/* ---- interrupt suppression ---- */

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
    fx_free();
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
    fx_free();
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
    fx_free();
}
END_TEST

/* ---- notification suppression ---- */

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
    fx_free();
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
    fx_free();
}
END_TEST

/* ---- unpop and reset ---- */

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
    fx_free();
}
END_TEST

START_TEST(test_reset)
{
    const struct virtq_elem *el[1] = {&E};
    uint8_t *snap;

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
    /* Inactive: nothing reads or writes guest memory. */
    snap = malloc(MIB);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, F.ram, MIB);
    ck_assert_int_eq(virtq_pop(&F.vq, &E2), 0);
    ck_assert(!virtq_has_work(&F.vq));
    ck_assert_uint_eq(virtq_avail_count(&F.vq), 0);
    virtq_push(&F.vq, &E, 10);
    virtq_flush(&F.vq);
    virtq_unpop(&F.vq, el, 1);
    ck_assert(!virtq_should_notify(&F.vq));
    virtq_set_notification(&F.vq, true);
    virtq_set_notification(&F.vq, false);
    ck_assert_int_eq(memcmp(snap, F.ram, MIB), 0);
    free(snap);
    /* The driver re-initialises its rings and the queue works again. */
    memset(F.ram + AVAIL_GPA, 0, virtq_avail_bytes(8, true));
    memset(F.ram + USED_GPA, 0, virtq_used_bytes(8, true));
    F.avail_idx = 0;
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, true, false),
                     0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    virtq_push(&F.vq, &E, 10);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(used_len(0), 10);
    fx_free();
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
    memset(F.ram + AVAIL_GPA, 0, virtq_avail_bytes(8, false));
    F.avail_idx = 0;
    ck_assert_int_eq(virtq_activate(&F.vq, &F.gm, 8, DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                     0);
    post(0);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, 0);
    fx_free();
}
END_TEST

static Suite *virtq_suite(void)
{
    Suite *s = suite_create("virtq");
    TCase *act = tcase_create("activate");
    TCase *chain = tcase_create("chains");
    TCase *hostile = tcase_create("hostile");
    TCase *notify = tcase_create("notify");
    TCase *life = tcase_create("lifecycle");

    tcase_add_test(act, test_activate_good);
    tcase_add_test(act, test_activate_bad_size);
    tcase_add_test(act, test_activate_misaligned);
    tcase_add_test(act, test_activate_straddle_end_of_ram);
    tcase_add_test(act, test_activate_outside_ram);
    suite_add_tcase(s, act);

    tcase_add_test(chain, test_single_descriptor);
    tcase_add_test(chain, test_chained_frame);
    tcase_add_test(chain, test_used_len_clamped_and_batched);
    tcase_add_test(chain, test_indirect_chains);
    tcase_add_test(chain, test_indirect_larger_than_queue);
    suite_add_tcase(s, chain);

    tcase_add_test(hostile, test_indirect_without_feature);
    tcase_add_test(hostile, test_indirect_malformed);
    tcase_add_test(hostile, test_loops);
    tcase_add_test(hostile, test_next_out_of_range);
    tcase_add_test(hostile, test_avail_entry_out_of_range);
    tcase_add_test(hostile, test_same_head_twice);
    tcase_add_test(hostile, test_avail_idx_jump);
    tcase_add_test(hostile, test_avail_idx_backwards);
    tcase_add_test(hostile, test_index_wrap);
    tcase_add_test(hostile, test_desc_addresses);
    tcase_add_test(hostile, test_zero_length_skipped);
    tcase_add_test(hostile, test_total_length);
    tcase_add_test(hostile, test_readable_after_writable);
    tcase_add_test(hostile, test_desc_changed_after_posting);
    tcase_add_test(hostile, test_fill_not_in_flight);
    tcase_add_test(hostile, test_fill_whole_ring_before_flush);
    tcase_set_timeout(hostile, 60);
    suite_add_tcase(s, hostile);

    tcase_add_test(notify, test_no_interrupt_flag);
    tcase_add_test(notify, test_event_idx_tracking);
    tcase_add_test(notify, test_event_idx_ffff_and_stale);
    tcase_add_test(notify, test_notification_event_idx);
    tcase_add_test(notify, test_notification_flags);
    tcase_set_timeout(notify, 60);
    suite_add_tcase(s, notify);

    tcase_add_test(life, test_unpop);
    tcase_add_test(life, test_reset);
    tcase_add_test(life, test_reset_after_broken);
    suite_add_tcase(s, life);
    return s;
}

UNIT_MAIN(virtq_suite)
