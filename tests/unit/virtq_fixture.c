/* The fixture of the split-virtqueue unit tests (test_virtq.c and the virtq_*.c files it
 * runs): fake guest RAM at gpa 0 and a fake driver that writes descriptors and the avail ring
 * and reads the used ring, all little-endian at the offsets of the virtio spec (§2.7). */
#include "tests/unit/virtq_fixture.h"

#include <check.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

struct virtq_fx F;
struct virtq_elem E, E2, E3, E4;

/* Which case of pop_malformed_each() runs, for the failure message (-1: none). */
static int bad_case = -1;

void fx_setup(uint64_t ram_size, uint16_t size, bool event_idx, bool indirect)
{
    memset(&F, 0, sizeof(F));
    F.ram = calloc(1, ram_size);
    ck_assert_ptr_nonnull(F.ram);
    F.ram_size = ram_size;
    ck_assert_int_eq(gmem_add_region(&F.gm, 0, ram_size, F.ram), 0);
    F.size = size;
    ck_assert_int_eq(fx_activate(size, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx, indirect), 0);
}

void fx_free(void)
{
    free(F.ram);
    F.ram = NULL;
}

int fx_activate(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used, bool event_idx,
                bool indirect)
{
    return virtq_activate(&F.vq, &F.gm, size, desc, avail, used, event_idx, indirect);
}

void put16(uint64_t gpa, uint16_t v)
{
    uint16_t le = htole16(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

void put32(uint64_t gpa, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

void put64(uint64_t gpa, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(F.ram + gpa, &le, sizeof(le));
}

uint16_t get16(uint64_t gpa)
{
    uint16_t le;
    memcpy(&le, F.ram + gpa, sizeof(le));
    return le16toh(le);
}

uint32_t get32(uint64_t gpa)
{
    uint32_t le;
    memcpy(&le, F.ram + gpa, sizeof(le));
    return le32toh(le);
}

void set_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    uint64_t d = table + 16ull * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    set_desc_at(DESC_GPA, i, addr, len, flags, next);
}

void set_avail_idx(uint16_t idx)
{
    F.avail_idx = idx;
    put16(AVAIL_GPA + 2, idx);
}

void post(uint16_t head)
{
    put16(AVAIL_GPA + 4 + 2ull * (F.avail_idx & (F.size - 1)), head);
    set_avail_idx((uint16_t)(F.avail_idx + 1));
}

void post_pop(uint16_t head, struct virtq_elem *e)
{
    post(head);
    ck_assert_int_eq(virtq_pop(&F.vq, e), 1);
    ck_assert_int_eq(e->error, VIRTQ_ERR_NONE);
}

uint16_t used_idx(void)
{
    return get16(USED_GPA + 2);
}

uint32_t used_id(unsigned slot)
{
    return get32(USED_GPA + 4 + 8ull * slot);
}

uint32_t used_len(unsigned slot)
{
    return get32(USED_GPA + 8 + 8ull * slot);
}

void set_used_event(uint16_t v)
{
    put16(AVAIL_GPA + 4 + 2ull * F.size, v);
}

uint16_t avail_event(void)
{
    return get16(USED_GPA + 4 + 8ull * F.size);
}

void check_iov(const struct virtq_elem *e, unsigned i, uint64_t gpa, size_t len)
{
    ck_assert_ptr_eq(e->iov[i].iov_base, F.ram + gpa);
    ck_assert_uint_eq(e->iov[i].iov_len, len);
}

void pop_malformed(uint16_t head, enum virtq_error err)
{
    uint64_t before = F.vq.stats.errors[err];
    unsigned slot = F.vq.used_idx & (F.size - 1);

    post(head);
    ck_assert_int_eq(virtq_pop(&F.vq, &E), 1);
    ck_assert_uint_eq(E.head, head);
    ck_assert_msg(E.error == err, "case %d: error %d, want %d", bad_case, (int)E.error, (int)err);
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

void pop_malformed_each(unsigned i, uint16_t head, const struct vq_bad_desc *c, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        bad_case = (int)k;
        set_desc(i, c[k].addr, c[k].len, c[k].flags, c[k].next);
        pop_malformed(head, c[k].err);
    }
    bad_case = -1;
}
