/* fuzz_e1000: the 82540EM model (devices/e1000*.c) through its BAR handlers, as a guest and a
 * backend would drive it: an operation stream over the register window (any offset and
 * width) and the I/O BAR, descriptor and buffer memory writes, backend frames with any
 * virtio-net header, backend errors, bus-master toggles, resets and link changes, with the
 * event loop pumped after each operation.
 *
 * Input: u8 flags (bit0: the backend carries the virtio-net header; bit6: packet tracing on,
 * so e1000_trace.c and the netdev's frame summaries run), then operations: u8 opcode and its
 * arguments (see run_op). Oracles: ASan/UBSan, the work bound, and after every
 * operation: a TDH or RDH the device moved lies inside its ring. */
#include "devices/e1000.h"
#include "devices/e1000_int.h"
#include "tests/fuzz/fuzz_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (256 * 1024)

struct fz_e1000 {
    struct fz_nic_env env;
    struct e1000 *e;
};

static const unsigned widths[4] = {4, 1, 2, 8};

static void bar_access(struct fz_e1000 *f, bool io, uint64_t off, unsigned len, uint64_t v,
                       bool is_write)
{
    uint8_t d[8];
    for (unsigned i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    if (io)
        e1000_io(f->e, off, d, len, is_write);
    else
        e1000_mmio(f->e, off, d, len, is_write);
}

static void backend_frame(struct fz_e1000 *f, struct fz_in *in)
{
    struct fz_frame fr;
    if (fz_take_frame(in, &fr) == 0)
        netdev_deliver(f->env.nd, &fr.hdr, &fr.iov, 1, fr.len);
    fz_frame_free(&fr);
}

static void set_command(struct fz_e1000 *f, uint8_t cmd)
{
    struct pci_device *d = e1000_pci(f->e);
    d->cfg[PCI_COMMAND] = cmd & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    if (d->cfg_written)
        d->cfg_written(d, PCI_COMMAND, 2);
}

static void run_op(struct fz_e1000 *f, struct fz_in *in, uint8_t op)
{
    switch (op % 10) {
    case 0:
    case 1: {
        uint64_t off = fz_u32(in) % E1000_MMIO_SIZE;
        unsigned len = widths[fz_u8(in) & 3];
        bar_access(f, false, off, len, op % 10 == 0 ? fz_u64(in) : 0, op % 10 == 0);
        break;
    }
    case 2: {
        uint64_t off = fz_u8(in) % E1000_IO_SIZE;
        uint8_t w = fz_u8(in);
        bar_access(f, true, off, widths[w & 3], fz_u32(in), w & 4);
        break;
    }
    case 3: {
        uint32_t gpa = fz_u32(in);
        fz_mem_write(&f->env.m, gpa, in, fz_u16(in) % 1025);
        break;
    }
    case 4: backend_frame(f, in); break;
    case 5: fz_set_send_rc(f->env.nd, fz_u8(in)); break;
    case 6: set_command(f, fz_u8(in)); break;
    case 7: e1000_reset(f->e); break;
    case 8: netdev_set_link(f->env.nd, fz_u8(in) & 1); break;
    default: /* the monitor's report, then the pump */ json_decref(e1000_info(f->e)); break;
    }
}

/* A head the device moved must lie inside the ring (the guest may write any value). */
static void check_head(const struct fz_e1000 *f, uint32_t hreg, uint32_t lreg, uint32_t before,
                       const char *name)
{
    uint32_t head = f->e->regs[hreg >> 2], len = f->e->regs[lreg >> 2];
    if (head != before && head != 0 && head >= len / E1000_DESC_SIZE) /* reset: 0 */
        fz_fail("%s moved by the device to %u, ring of %u descriptors", name, head,
                len / E1000_DESC_SIZE);
}

/* One operation, then the pump, each followed by the head checks. */
static void step(void *ctx, struct fz_in *in, uint8_t op)
{
    struct fz_e1000 *f = ctx;
    uint32_t tdh = f->e->regs[E1000_TDH >> 2], rdh = f->e->regs[E1000_RDH >> 2];
    run_op(f, in, op);
    if (op % 10 != 0 && op % 10 != 2) { /* not a register write: any change is the device's */
        check_head(f, E1000_TDH, E1000_TDLEN, tdh, "TDH");
        check_head(f, E1000_RDH, E1000_RDLEN, rdh, "RDH");
    }
    tdh = f->e->regs[E1000_TDH >> 2], rdh = f->e->regs[E1000_RDH >> 2];
    fz_pump(f->env.loop);
    check_head(f, E1000_TDH, E1000_TDLEN, tdh, "TDH");
    check_head(f, E1000_RDH, E1000_RDLEN, rdh, "RDH");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_e1000 f;
    struct fz_in in = {data, size};
    char err[256];
    memset(&f, 0, sizeof(f));
    fz_nic_env_init(&f.env, RAM_SIZE, &in);
    struct e1000_params p = {
        .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
        .netdev = f.env.nd,
        .mem = &f.env.m.gm,
        .irq = &fz_irq,
        .loop = f.env.loop,
        .name = "fuzz-e1000",
    };
    f.e = e1000_create(&p, err, sizeof(err));
    if (!f.e)
        fz_fail("e1000_create: %s", err);
    set_command(&f, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    fz_run_ops(&in, step, &f);
    if (getenv("FZ_VERBOSE")) {
        const struct e1000_stats *st = e1000_get_stats(f.e);
        fprintf(stderr, "tx %llu rx %llu sends %llu malformed %llu bad_ring %llu\n",
                (unsigned long long)st->tx_packets, (unsigned long long)st->rx_packets,
                (unsigned long long)fz_be.sends, (unsigned long long)st->tx_drop_malformed,
                (unsigned long long)st->bad_ring);
    }
    e1000_destroy(f.e);
    fz_nic_env_free(&f.env);
    return 0;
}
