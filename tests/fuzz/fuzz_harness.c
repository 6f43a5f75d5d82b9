/* The shared fuzzing harness (see fuzz_harness.h): input reader and operation loop, fake RAM,
 * fake backend, work bound and virtqueue invariants. */
#include "tests/fuzz/fuzz_harness.h"
#include "vmm/fuzz_work.h"
#include "vmm/log.h"
#include "vmm/opts.h"
#include "vmm/trace.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The counter behind NICVM_FUZZ_WORK() in the device sources built for fuzzing. */
unsigned long nicvm_fuzz_work_count;
unsigned long nicvm_fuzz_work_limit = FZ_WORK_LIMIT;

void nicvm_fuzz_work_exceeded(void)
{
    fz_fail("work bound exceeded: %lu loop iterations over guest data in one operation",
            nicvm_fuzz_work_count);
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz oracle: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* --- input ------------------------------------------------------------------------------ */

void fz_bytes(struct fz_in *in, void *dst, size_t n)
{
    size_t c = in->n < n ? in->n : n;
    memcpy(dst, in->p, c);
    memset((uint8_t *)dst + c, 0, n - c);
    in->p += c;
    in->n -= c;
}

uint8_t fz_u8(struct fz_in *in)
{
    uint8_t v;
    fz_bytes(in, &v, 1);
    return v;
}

uint16_t fz_u16(struct fz_in *in)
{
    uint8_t b[2];
    fz_bytes(in, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t fz_u32(struct fz_in *in)
{
    return fz_u16(in) | (uint32_t)fz_u16(in) << 16;
}

uint64_t fz_u64(struct fz_in *in)
{
    return fz_u32(in) | (uint64_t)fz_u32(in) << 32;
}

bool fz_done(const struct fz_in *in)
{
    return in->n == 0;
}

int fz_take_frame(struct fz_in *in, struct fz_frame *fr)
{
    fz_bytes(in, &fr->hdr, sizeof(fr->hdr));
    fr->len = fz_u16(in);
    fr->iov.iov_base = malloc(fr->len ? fr->len : 1);
    fr->iov.iov_len = fr->len;
    if (!fr->iov.iov_base)
        return -ENOMEM;
    fz_bytes(in, fr->iov.iov_base, fr->len);
    return 0;
}

void fz_frame_free(struct fz_frame *fr)
{
    free(fr->iov.iov_base);
    fr->iov.iov_base = NULL;
}

void fz_run_ops(struct fz_in *in, fz_step_fn *step, void *ctx)
{
    for (unsigned ops = 0; ops < FZ_MAX_OPS && !fz_done(in); ops++) {
        fz_op_begin();
        uint8_t op = fz_u8(in);
        step(ctx, in, op);
    }
}

/* --- guest memory ------------------------------------------------------------------------- */

void fz_mem_init(struct fz_mem *m, size_t size)
{
    memset(m, 0, sizeof(*m));
    /* Exactly size bytes, so the allocator's redzone starts right after the last byte. */
    m->ram = calloc(1, size);
    if (!m->ram || gmem_add_region(&m->gm, 0, size, m->ram) < 0)
        fz_fail("cannot set up fake RAM");
    m->size = size;
}

void fz_mem_free(struct fz_mem *m)
{
    free(m->ram);
    m->ram = NULL;
}

void fz_mem_write(struct fz_mem *m, uint64_t gpa, struct fz_in *in, size_t n)
{
    if (gpa >= m->size)
        gpa %= m->size;
    if (n > m->size - gpa)
        n = m->size - gpa;
    fz_bytes(in, m->ram + gpa, n);
}

/* --- fake backend ----------------------------------------------------------------------- */

size_t fz_read_iov(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    unsigned sum = 0;
    for (int i = 0; i < iovcnt; i++) {
        const volatile uint8_t *b = iov[i].iov_base;
        for (size_t k = 0; k < iov[i].iov_len; k++)
            sum += b[k];
        total += iov[i].iov_len;
    }
    (void)sum;
    return total;
}

struct fz_backend fz_be;

static int fz_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    bool vnet;
    if (opts_get_bool(o, "vnet", false, &vnet, err, errlen) < 0)
        return -EINVAL;
    netdev_set_caps(nd, vnet ? NETDEV_CAP_VNET_HDR : 0);
    return 0;
}

/* Reads every byte it is given, so a bad iovec shows up under ASan here. */
static int fz_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                   int iovcnt, size_t len)
{
    (void)nd, (void)hdr;
    size_t total = fz_read_iov(iov, iovcnt);
    if (total < len)
        fz_fail("backend send: %zu bytes in the iovec for a %zu-byte frame", total, len);
    if (len > NETDEV_MAX_FRAME + sizeof(struct virtio_net_hdr_v1))
        fz_fail("backend send: %zu-byte frame", len);
    fz_be.sends++;
    if (fz_be.send_rc == 0)
        fz_be.bytes += len;
    return fz_be.send_rc;
}

static int fz_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    (void)nd, (void)flags;
    return 0;
}

static const struct netdev_backend_ops fz_ops = {
    .type = "fuzz",
    .summary = "fuzzing backend",
    .open = fz_open,
    .send = fz_send,
    .set_rx_offloads = fz_set_rx_offloads,
};

struct netdev *fz_netdev(struct evloop *loop, bool vnet)
{
    char err[256] = "";
    struct opts *o = opts_parse(vnet ? "fuzz,vnet=on" : "fuzz", "type", err, sizeof(err));
    if (!o)
        fz_fail("opts_parse: %s", err);
    struct netdev *nd = netdev_create_with(loop, &fz_ops, "fz0", o, err, sizeof(err));
    opts_free(o);
    if (!nd)
        fz_fail("netdev_create_with: %s", err);
    memset(&fz_be, 0, sizeof(fz_be));
    return nd;
}

void fz_set_send_rc(struct netdev *nd, uint8_t choice)
{
    static const int rcs[] = {0, -EAGAIN, -EIO, -EINVAL, -EBADFD, 0, 0, 0};
    int was = fz_be.send_rc;
    fz_be.send_rc = rcs[choice & 7];
    if (was == -EAGAIN && fz_be.send_rc != -EAGAIN)
        netdev_backend_writable(nd);
}

/* Tracing on or off for this run. The trace sink is /dev/null, opened once per process:
 * the events are still built and written (json_dumps, the stdio buffer), which is the code
 * that reads guest-controlled state; only the file is free. trace_mask is the switch the
 * devices and the netdev test, and they sample it when they are created. */
static void fz_trace_select(bool on)
{
    static bool opened;
    char err[256] = "";
    if (on && !opened) {
        if (trace_open("/dev/null", NULL, err, sizeof(err)) < 0)
            fz_fail("trace_open: %s", err);
        opened = true;
    }
    trace_mask = on ? TRACE_EXITS | TRACE_PACKETS : 0;
}

void fz_nic_env_init(struct fz_nic_env *env, size_t ram_size, struct fz_in *in)
{
    uint8_t flags = fz_u8(in);
    fz_trace_select(flags & FZ_FLAG_TRACE);
    fz_mem_init(&env->m, ram_size);
    env->loop = evloop_create();
    if (!env->loop)
        fz_fail("evloop_create");
    env->nd = fz_netdev(env->loop, flags & FZ_FLAG_VNET);
}

void fz_nic_env_free(struct fz_nic_env *env)
{
    netdev_destroy(env->nd);
    evloop_destroy(env->loop);
    fz_mem_free(&env->m);
}

uint64_t fz_irq_events;

static void fz_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
    fz_irq_events++;
}

static void fz_irq_pulse(struct irq_line *l)
{
    (void)l;
    fz_irq_events++;
}

struct irq_line fz_irq = {.set = fz_irq_set, .pulse = fz_irq_pulse, .gsi = 5, .irqfd = -1};

/* --- operations ------------------------------------------------------------------------------ */

void fz_op_begin(void)
{
    static bool quiet;
    if (!quiet) {
        log_set_level(LOG_ERROR); /* the devices log guest errors (rate-limited) */
        quiet = true;
    }
    nicvm_fuzz_work_count = 0;
}

void fz_pump(struct evloop *loop)
{
    for (int i = 0; i < 8; i++)
        if (evloop_run_once(loop, 0) <= 0)
            break;
}

/* --- virtqueue invariants ----------------------------------------------------------------- */

static uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return le16toh(v);
}

static uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

/* True if [a, a + n) meets any ring of vq. */
static bool meets_rings(const struct virtq *vq, uint64_t a, uint64_t n)
{
    const uint64_t start[3] = {vq->desc_gpa, vq->avail_gpa, vq->used_gpa};
    const uint64_t len[3] = {virtq_desc_bytes(vq->size), virtq_avail_bytes(vq->size, true),
                             virtq_used_bytes(vq->size, true)};
    for (int i = 0; i < 3; i++)
        if (a < start[i] + len[i] && start[i] < a + n)
            return true;
    return false;
}

/* The writable bytes of the chain at head as the harness reads it now (an independent
 * walker: direct table, one level of indirection). -1 if it cannot tell: malformed, or a
 * buffer over the rings (the device may have written there itself). */
static int64_t chain_writable(const struct virtq *vq, uint16_t head)
{
    const uint8_t *table = vq->desc;
    uint32_t n = vq->size, i = head;
    int64_t total = 0;
    bool indirect_done = false;
    for (uint32_t steps = 0; steps < 2u * VIRTQ_MAX_SIZE + 2; steps++) {
        const uint8_t *d = table + (size_t)i * 16;
        uint64_t addr = ld32(d) | (uint64_t)ld32(d + 4) << 32;
        uint32_t len = ld32(d + 8);
        uint16_t flags = ld16(d + 12), next = ld16(d + 14);
        if ((flags & VIRTQ_DESC_F_INDIRECT) && !indirect_done) {
            table = gmem_ptr(vq->mem, addr, len);
            if (!table || len < 16 || len / 16 > VIRTQ_MAX_SIZE)
                return -1;
            n = len / 16, i = 0, indirect_done = true;
            continue;
        }
        if (len && (addr > UINT64_MAX - len || meets_rings(vq, addr, len)))
            return -1;
        if (flags & VIRTQ_DESC_F_WRITE)
            total += len;
        if (!(flags & VIRTQ_DESC_F_NEXT))
            return total;
        if (next >= n)
            return -1;
        i = next;
    }
    return -1;
}

static void check_used(const struct virtq *vq, struct fz_vq_shadow *sh, const char *name)
{
    uint16_t n = (uint16_t)(vq->used_idx - sh->used_idx), first = 0;
    if (n > vq->size) /* heads held across operations came back too: look at the last lap */
        first = (uint16_t)(n - vq->size);
    for (uint16_t k = first; k < n; k++) {
        const uint8_t *e =
            vq->used + 4 + 8 * (size_t)((uint16_t)(sh->used_idx + k) & (vq->size - 1));
        uint32_t id = ld32(e), len = ld32(e + 4);
        if (id >= vq->size)
            fz_fail("%s: used entry names head %u, queue size %u", name, id, vq->size);
        if (len == 0 || sh->skip_len)
            continue;
        int64_t w = chain_writable(vq, (uint16_t)id);
        if (w >= 0 && len > (uint64_t)w)
            fz_fail("%s: used.len %u for head %u with %lld writable bytes", name, len, id,
                    (long long)w);
    }
}

void fz_check_virtq(const struct virtq *vq, struct fz_vq_shadow *sh, const char *name)
{
    const struct virtq_stats *s = &vq->stats;
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof(vq->inflight_map); i++)
        bits += (unsigned)__builtin_popcount(vq->inflight_map[i]);
    if (bits != vq->inflight)
        fz_fail("%s: %u heads in the in-flight map, counter says %u", name, bits, vq->inflight);
    if (s->bad_fill != sh->bad_fill)
        fz_fail("%s: the device returned a head that was not in flight", name);
    if (!vq->ready) {
        sh->valid = false;
        sh->base = s->popped - s->pushed - vq->inflight;
        return;
    }
    if (vq->inflight > vq->size)
        fz_fail("%s: %u heads in flight, queue size %u", name, vq->inflight, vq->size);
    if (s->popped - s->pushed - sh->base != vq->inflight)
        fz_fail("%s: popped %llu - pushed %llu != %u in flight", name,
                (unsigned long long)(s->popped - sh->base), (unsigned long long)s->pushed,
                vq->inflight);
    if (sh->valid && !sh->clobbered)
        check_used(vq, sh, name);
    sh->valid = true;
    sh->used_idx = vq->used_idx;
}

/* Scans n descriptors of table for writable buffers over the rings; *budget bounds the work. */
static bool table_writes_rings(const struct virtq *vq, const uint8_t *table, uint32_t n,
                               const struct virtq *const *rings, unsigned nr, bool nested,
                               unsigned *budget)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!(*budget)--)
            return true; /* too much to tell: assume the worst */
        const uint8_t *d = table + (size_t)i * 16;
        uint64_t addr = ld32(d) | (uint64_t)ld32(d + 4) << 32;
        uint32_t len = ld32(d + 8);
        uint16_t flags = ld16(d + 12);
        if ((flags & VIRTQ_DESC_F_INDIRECT) && !nested) {
            const uint8_t *t = gmem_ptr(vq->mem, addr, len);
            if (t && table_writes_rings(vq, t, len / 16, rings, nr, true, budget))
                return true;
            continue;
        }
        if (!(flags & VIRTQ_DESC_F_WRITE) || !len || addr > UINT64_MAX - len)
            continue;
        for (unsigned k = 0; k < nr; k++)
            if (rings[k]->ready && meets_rings(rings[k], addr, len))
                return true;
    }
    return false;
}

bool fz_writes_rings(const struct virtq *vq, const struct virtq *const *rings, unsigned n)
{
    unsigned budget = 8192;
    if (!vq->ready)
        return false;
    return table_writes_rings(vq, vq->desc, vq->size, rings, n, false, &budget);
}
