/* fuzz_virtqueue: one split virtqueue (devices/virtq.c) against fuzzer-chosen queue state and
 * ring bytes, then a stream of pop, read/write of the buffers, push, unpop, notification and
 * guest-memory writes, and finally every held chain pushed back ("until done").
 *
 * Input: u8 flags (bit0 EVENT_IDX, bit1 INDIRECT, bit2 raw size), u8 or u16 size, u32 desc,
 * u32 avail, u32 used (guest-physical, in a 64 KiB RAM), u16 n + n bytes of initial RAM at
 * 0, then operations (u8 opcode and its arguments). Oracles: ASan/UBSan on every buffer
 * byte, each head popped at most once while held, used.len never above the chain's writable
 * bytes, the queue's counters consistent, the work bound. */
#include "tests/fuzz/fuzz_harness.h"

#include <endian.h>
#include <string.h>

#define RAM_SIZE (64 * 1024)
#define MAX_HELD 32

static struct virtq_elem held[MAX_HELD];
static unsigned nheld;
static uint8_t held_map[VIRTQ_MAX_SIZE];

/* Touches every byte of the chain: reads the readable part, writes the writable part. */
static void use_elem(const struct virtq_elem *e, uint8_t fill)
{
    unsigned sum = 0;
    if (e->error && (e->out_num || e->in_num || e->out_len || e->in_len))
        fz_fail("malformed chain with buffers");
    for (unsigned i = 0; i < e->out_num; i++) {
        const volatile uint8_t *b = e->iov[i].iov_base;
        for (size_t k = 0; k < e->iov[i].iov_len; k++)
            sum += b[k];
    }
    (void)sum;
    for (unsigned i = e->out_num; i < e->out_num + e->in_num; i++)
        memset(e->iov[i].iov_base, fill, e->iov[i].iov_len);
}

static void do_pop(struct virtq *vq)
{
    if (nheld == MAX_HELD)
        return;
    struct virtq_elem *e = &held[nheld];
    int rc = virtq_pop(vq, e);
    if (rc <= 0)
        return;
    if (e->head >= vq->size)
        fz_fail("popped head %u, size %u", e->head, vq->size);
    if (held_map[e->head])
        fz_fail("head %u popped twice without a push", e->head);
    held_map[e->head] = 1;
    use_elem(e, 0xa5);
    nheld++;
}

/* Pushes held[i] with length len and checks the used entry the queue wrote. */
static void do_push(struct virtq *vq, unsigned i, uint32_t len)
{
    struct virtq_elem *e = &held[i];
    uint16_t pos = (uint16_t)(vq->used_idx + vq->pending) & (vq->size - 1);
    virtq_push(vq, e, len);
    uint32_t id, ulen;
    memcpy(&id, vq->used + 4 + 8 * (size_t)pos, 4);
    memcpy(&ulen, vq->used + 4 + 8 * (size_t)pos + 4, 4);
    if (le32toh(id) == e->head && le32toh(ulen) > e->in_len)
        fz_fail("used.len %u above the %zu writable bytes", le32toh(ulen), e->in_len);
    held_map[e->head] = 0;
    held[i] = held[--nheld];
}

static void do_unpop(struct virtq *vq)
{
    if (!nheld)
        return;
    const struct virtq_elem *last = &held[nheld - 1];
    virtq_unpop(vq, &last, 1);
    held_map[last->head] = 0;
    nheld--;
}

static void run_op(struct virtq *vq, struct fz_mem *m, struct fz_in *in, uint8_t op)
{
    switch (op % 9) {
    case 0: do_pop(vq); break;
    case 1:
        if (nheld)
            do_push(vq, fz_u8(in) % nheld, fz_u32(in));
        break;
    case 2:
        if (nheld) { /* fill without flush, then flush */
            unsigned i = fz_u8(in) % nheld;
            virtq_fill(vq, &held[i], fz_u32(in));
            held_map[held[i].head] = 0;
            held[i] = held[--nheld];
            virtq_flush(vq);
        }
        break;
    case 3: {
        uint32_t gpa = fz_u16(in);
        fz_mem_write(m, gpa, in, fz_u8(in));
        break;
    }
    case 4: virtq_set_notification(vq, fz_u8(in) & 1); break;
    case 5: virtq_notify_on_next_post(vq); break;
    case 6:
        (void)virtq_should_notify(vq);
        (void)virtq_avail_count(vq);
        break;
    case 7: do_unpop(vq); break;
    default:
        while (nheld) /* drain: pop everything available, push it all */
            do_push(vq, 0, fz_u32(in));
        for (unsigned k = 0; k < vq->size && nheld < MAX_HELD; k++)
            do_pop(vq);
        break;
    }
}

static struct virtq vq;
static struct fz_vq_shadow sh;

/* One operation, then the queue's invariants. */
static void step(void *ctx, struct fz_in *in, uint8_t op)
{
    run_op(&vq, ctx, in, op);
    sh.bad_fill = vq.stats.bad_fill; /* the harness may push what it unpopped */
    fz_check_virtq(&vq, &sh, "vq");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fz_mem m;
    fz_mem_init(&m, RAM_SIZE);
    memset(&vq, 0, sizeof(vq));
    memset(&sh, 0, sizeof(sh));
    sh.skip_len = true; /* do_push checks it against the popped element */
    memset(held_map, 0, sizeof(held_map));
    nheld = 0;

    uint8_t flags = fz_u8(&in);
    uint16_t qsize = (flags & 4) ? fz_u16(&in) : (uint16_t)(1u << (fz_u8(&in) % 11));
    uint64_t desc = fz_u32(&in), avail = fz_u32(&in), used = fz_u32(&in);
    fz_mem_write(&m, 0, &in, fz_u16(&in));
    fz_op_begin();
    if (virtq_activate(&vq, &m.gm, qsize, desc, avail, used, flags & 1, flags & 2) == 0) {
        fz_run_ops(&in, step, &m);
        fz_op_begin();
        while (nheld)
            do_push(&vq, 0, UINT32_MAX);
        fz_check_virtq(&vq, &sh, "vq");
        if (vq.inflight != 0)
            fz_fail("%u heads still in flight after every one was pushed", vq.inflight);
    }
    virtq_reset(&vq);
    fz_mem_free(&m);
    return 0;
}
