/* fuzz_virtio_net: the virtio-mmio transport and the virtio-net device through their public
 * entry points, as a guest and a backend would drive them: an operation stream of MMIO
 * writes and reads (any offset and width), guest-memory writes, kicks, backend frames with
 * any virtio-net header, backend errors, resets, link changes and the monitor's report, with
 * the event loop pumped after each operation.
 *
 * Input: u8 flags (bit0: the backend carries the virtio-net header, so the TSO features are
 * offered; bit6: packet tracing on, so the device's trace events and the netdev's frame
 * summaries run), then operations: u8 opcode and its arguments (see run_op). Oracles: ASan/UBSan,
 * the work bound, and after every operation both queues' invariants (fz_check_virtq). */
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "tests/fuzz/fuzz_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE  (256 * 1024)
#define MMIO_BASE 0xd0000000ull

struct fz_vnet {
    struct fz_nic_env env;
    struct virtio_net *vn;
    struct virtio_mmio *t;
    struct fz_vq_shadow sh[2];
};

static const unsigned widths[4] = {4, 1, 2, 8};

static void mmio_wr(struct fz_vnet *f, uint64_t off, uint64_t v, unsigned len)
{
    uint8_t d[8];
    for (unsigned i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    virtio_mmio_io(f->t, off, d, len, true);
}

static void backend_frame(struct fz_vnet *f, struct fz_in *in)
{
    struct fz_frame fr;
    if (fz_take_frame(in, &fr) == 0)
        netdev_deliver(f->env.nd, &fr.hdr, &fr.iov, 1, fr.len);
    fz_frame_free(&fr);
}

/* The usual driver sequence with fuzzer-chosen features and ring placement. */
static void driver_init(struct fz_vnet *f, struct fz_in *in)
{
    uint64_t feat = fz_u64(in);
    mmio_wr(f, VMMIO_STATUS, 0, 4);
    /* The queues restart from index 0 within this operation: the shadows must see the reset. */
    fz_check_virtq(&f->t->vq[VIRTIO_NET_RXQ], &f->sh[0], "rxq");
    fz_check_virtq(&f->t->vq[VIRTIO_NET_TXQ], &f->sh[1], "txq");
    mmio_wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 4);
    for (unsigned sel = 0; sel < 2; sel++) {
        mmio_wr(f, VMMIO_DRIVER_FEATURES_SEL, sel, 4);
        mmio_wr(f, VMMIO_DRIVER_FEATURES, (uint32_t)(feat >> (32 * sel)), 4);
    }
    mmio_wr(f, VMMIO_STATUS,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 4);
    for (unsigned q = 0; q < 2; q++) {
        mmio_wr(f, VMMIO_QUEUE_SEL, q, 4);
        mmio_wr(f, VMMIO_QUEUE_NUM, fz_u16(in), 4);
        mmio_wr(f, VMMIO_QUEUE_DESC_LOW, fz_u32(in), 4);
        mmio_wr(f, VMMIO_QUEUE_DRIVER_LOW, fz_u32(in), 4);
        mmio_wr(f, VMMIO_QUEUE_DEVICE_LOW, fz_u32(in), 4);
        mmio_wr(f, VMMIO_QUEUE_READY, 1, 4);
    }
    mmio_wr(f, VMMIO_STATUS,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                VIRTIO_STATUS_DRIVER_OK,
            4);
}

static void run_op(struct fz_vnet *f, struct fz_in *in, uint8_t op)
{
    uint8_t d[8];
    switch (op % 10) {
    case 0: {
        uint64_t off = fz_u16(in) & 0xfff;
        unsigned len = widths[fz_u8(in) & 3];
        mmio_wr(f, off, fz_u64(in), len);
        break;
    }
    case 1: {
        uint64_t off = fz_u16(in) & 0xfff;
        virtio_mmio_io(f->t, off, d, widths[fz_u8(in) & 3], false);
        break;
    }
    case 2: {
        uint32_t gpa = fz_u32(in);
        fz_mem_write(&f->env.m, gpa, in, fz_u16(in) % 1025);
        break;
    }
    case 3: {
        uint8_t q = fz_u8(in);
        if (q < 0x80)
            virtio_mmio_kick(f->t, q % 2);
        else
            mmio_wr(f, VMMIO_QUEUE_NOTIFY, fz_u32(in), 4);
        break;
    }
    case 4: backend_frame(f, in); break;
    case 5: fz_set_send_rc(f->env.nd, fz_u8(in)); break;
    case 6: mmio_wr(f, VMMIO_STATUS, 0, 4); break;
    case 7: netdev_set_link(f->env.nd, fz_u8(in) & 1); break;
    case 8: driver_init(f, in); break;
    default: /* the monitor's report (it reads ring indices from guest RAM), then the pump */
        json_decref(virtio_net_info(f->vn));
        break;
    }
}

/* One operation and the pump, then both queues' invariants. */
static void step(void *ctx, struct fz_in *in, uint8_t op)
{
    struct fz_vnet *f = ctx;
    const struct virtq *rings[2] = {&f->t->vq[VIRTIO_NET_RXQ], &f->t->vq[VIRTIO_NET_TXQ]};
    bool clob = fz_writes_rings(rings[0], rings, 2);
    run_op(f, in, op);
    fz_pump(f->env.loop);
    clob = clob || fz_writes_rings(rings[0], rings, 2);
    f->sh[0].clobbered = f->sh[1].clobbered = clob;
    fz_check_virtq(&f->t->vq[VIRTIO_NET_RXQ], &f->sh[0], "rxq");
    fz_check_virtq(&f->t->vq[VIRTIO_NET_TXQ], &f->sh[1], "txq");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_vnet f;
    struct fz_in in = {data, size};
    char err[256];
    memset(&f, 0, sizeof(f));
    fz_nic_env_init(&f.env, RAM_SIZE, &in);
    struct virtio_net_params p = {
        .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
        .netdev = f.env.nd,
        .mem = &f.env.m.gm,
        .irq = &fz_irq,
        .loop = f.env.loop,
        .base = MMIO_BASE,
        .name = "fuzz-vnet",
    };
    f.vn = virtio_net_create(&p, err, sizeof(err));
    if (!f.vn)
        fz_fail("virtio_net_create: %s", err);
    f.t = virtio_net_transport(f.vn);
    fz_run_ops(&in, step, &f);
    if (getenv("FZ_VERBOSE")) {
        const struct virtio_net_stats *st = virtio_net_get_stats(f.vn);
        fprintf(stderr, "status %#x tx %llu rx %llu sends %llu irqs %llu\n", f.t->status,
                (unsigned long long)st->tx_packets, (unsigned long long)st->rx_packets,
                (unsigned long long)fz_be.sends, (unsigned long long)fz_irq_events);
    }
    virtio_net_destroy(f.vn);
    fz_nic_env_free(&f.env);
    return 0;
}
