/* fuzz_slirp_glue: frames from a guest into nicvm's libslirp backend (net/slirp.c) through the
 * netdev layer (net/netdev.c, with its software offload in net/offload.c, since the user
 * backend cannot carry the virtio-net header), and libslirp's answers back to a NIC that
 * accepts or refuses them as the input says. restrict=on keeps libslirp from opening
 * connections to the outside world.
 *
 * Input: a sequence of records: u8 kind, then for a frame: a 12-byte virtio-net header, u16
 * length and the bytes; other kinds toggle the NIC's refusal, the link, or just pump the
 * loop. Oracles: ASan/UBSan, the work bound, frames handed to the NIC no larger than
 * NETDEV_MAX_FRAME and readable in full. */
#include "net/backend.h"
#include "tests/fuzz/fuzz_harness.h"
#include "vmm/opts.h"

#include <stdlib.h>
#include <string.h>

struct fz_nic {
    bool refuse;
    uint64_t frames;
};

static size_t nic_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    struct fz_nic *n = opaque;
    (void)hdr;
    if (n->refuse)
        return 0;
    if (len > NETDEV_MAX_FRAME)
        fz_fail("slirp: %zu-byte frame for the guest", len);
    size_t total = fz_read_iov(iov, iovcnt);
    if (total < len)
        fz_fail("slirp: %zu bytes in the iovec for a %zu-byte frame", total, len);
    n->frames++;
    return len;
}

static const struct netdev_nic_ops nic_ops = {.receive = nic_receive};

struct fz_slirp {
    struct evloop *loop;
    struct netdev *nd;
    struct fz_nic nic;
};

static void send_frame(struct netdev *nd, struct fz_in *in)
{
    struct fz_frame fr;
    if (fz_take_frame(in, &fr) == 0 && netdev_can_send(nd))
        netdev_send(nd, &fr.hdr, &fr.iov, 1, fr.len);
    fz_frame_free(&fr);
}

/* One record (kind: its opcode), then the pump. */
static void step(void *ctx, struct fz_in *in, uint8_t kind)
{
    struct fz_slirp *s = ctx;
    switch (kind % 4) {
    case 0:
    case 1: send_frame(s->nd, in); break;
    case 2:
        s->nic.refuse = kind & 0x10;
        if (!s->nic.refuse)
            netdev_rx_ready(s->nd);
        break;
    default: netdev_set_link(s->nd, !(kind & 0x10)); break;
    }
    fz_pump(s->loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fz_slirp s = {0};
    char err[256] = "";
    fz_op_begin();
    s.loop = evloop_create();
    struct opts *o = opts_parse("user,id=u0,restrict=on", "type", err, sizeof(err));
    if (!s.loop || !o)
        fz_fail("setup: %s", err);
    s.nd = netdev_create(s.loop, o, err, sizeof(err));
    opts_free(o);
    if (!s.nd || netdev_attach(s.nd, "fuzz-nic", &nic_ops, &s.nic) < 0)
        fz_fail("netdev_create: %s", err);
    fz_run_ops(&in, step, &s);
    netdev_destroy(s.nd);
    evloop_destroy(s.loop);
    return 0;
}
