/* The shared fixture of the split-virtqueue unit tests (see virtq_fixture.c): one queue over a
 * fake guest RAM at gpa 0 whose descriptor, avail and used rings the tests lay out byte by byte
 * as a driver would, and the driver-side helpers. Each virtq_*.c test file adds its tests to
 * the TCases of struct virtq_tcases; test_virtq.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_VIRTQ_FIXTURE_H
#define NICVM_TESTS_UNIT_VIRTQ_FIXTURE_H

#include "devices/virtq.h"
#include "vmm/guestmem.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * each test, so this state is per test. */
struct virtq_fx {
    uint8_t *ram;
    uint64_t ram_size;
    struct guestmem gm;
    struct virtq vq;
    uint16_t size;
    uint16_t avail_idx;
};

extern struct virtq_fx F;
extern struct virtq_elem E, E2, E3, E4; /* 16 KiB each: kept off the stack */

/* The TCases of the suite, by name; each test file adds its tests to some of them. */
struct virtq_tcases {
    TCase *act, *chain, *hostile, *notify, *life;
};

void virtq_life_tests(const struct virtq_tcases *tc);
void virtq_chain_tests(const struct virtq_tcases *tc);
void virtq_desc_hostile_tests(const struct virtq_tcases *tc);
void virtq_avail_tests(const struct virtq_tcases *tc);
void virtq_notify_tests(const struct virtq_tcases *tc);

/* fx_setup: ram_size bytes of zeroed RAM at gpa 0 and the queue (size, EVENT_IDX, INDIRECT)
 * activated over the rings at DESC_GPA, AVAIL_GPA and USED_GPA; fails the test otherwise. */
void fx_setup(uint64_t ram_size, uint16_t size, bool event_idx, bool indirect);
/* fx_free: frees the RAM (the suite's teardown; tests that set up twice call it between). */
void fx_free(void);
/* fx_activate: virtq_activate() of F.vq over F.gm; returns its result. */
int fx_activate(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used, bool event_idx,
                bool indirect);

/* Driver-side accessors: little-endian fields at explicit offsets. */
void put16(uint64_t gpa, uint16_t v);
void put32(uint64_t gpa, uint32_t v);
void put64(uint64_t gpa, uint64_t v);
uint16_t get16(uint64_t gpa);
uint32_t get32(uint64_t gpa);

void set_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next);
void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void set_avail_idx(uint16_t idx);
/* Posts a head: ring entry first, then avail.idx (the device must not see one without the
 * other). */
void post(uint16_t head);
/* post_pop: posts head and pops it into e as a well-formed chain. */
void post_pop(uint16_t head, struct virtq_elem *e);
uint16_t used_idx(void);
uint32_t used_id(unsigned slot);
uint32_t used_len(unsigned slot);
void set_used_event(uint16_t v);
uint16_t avail_event(void);
/* check_iov: e's buffer i is len bytes at gpa. */
void check_iov(const struct virtq_elem *e, unsigned i, uint64_t gpa, size_t len);

/* Posts head, expects a malformed chain with error err, pushes it back with a length the
 * device would like to report and checks the used ring shows the head with length 0. */
void pop_malformed(uint16_t head, enum virtq_error err);

/* One rewrite of a descriptor that makes the chain malformed with error err. */
struct vq_bad_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    enum virtq_error err;
};

/* pop_malformed_each: for each of the n cases, writes descriptor i as the case says and
 * checks the chain at head with pop_malformed(). */
void pop_malformed_each(unsigned i, uint16_t head, const struct vq_bad_desc *c, size_t n);

#endif
