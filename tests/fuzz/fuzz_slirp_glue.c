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
    size_t total = 0;
    unsigned sum = 0;
    for (int i = 0; i < iovcnt; i++) {
        const volatile uint8_t *b = iov[i].iov_base;
        for (size_t k = 0; k < iov[i].iov_len; k++)
            sum += b[k];
        total += iov[i].iov_len;
    }
    (void)sum;
    if (total < len)
        fz_fail("slirp: %zu bytes in the iovec for a %zu-byte frame", total, len);
    n->frames++;
    return len;
}

static const struct netdev_nic_ops nic_ops = {.receive = nic_receive};

static void send_frame(struct netdev *nd, struct fz_in *in)
{
    struct virtio_net_hdr_v1 hdr;
    fz_bytes(in, &hdr, sizeof(hdr));
    size_t len = fz_u16(in);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    fz_bytes(in, buf, len);
    struct iovec iov = {buf, len};
    if (netdev_can_send(nd))
        netdev_send(nd, &hdr, &iov, 1, len);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fz_nic nic = {0};
    char err[256] = "";
    fz_op_begin();
    struct evloop *loop = evloop_create();
    struct opts *o = opts_parse("user,id=u0,restrict=on", "type", err, sizeof(err));
    if (!loop || !o)
        fz_fail("setup: %s", err);
    struct netdev *nd = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    if (!nd || netdev_attach(nd, "fuzz-nic", &nic_ops, &nic) < 0)
        fz_fail("netdev_create: %s", err);
    for (unsigned ops = 0; ops < FZ_MAX_OPS && !fz_done(&in); ops++) {
        fz_op_begin();
        uint8_t kind = fz_u8(&in);
        switch (kind % 4) {
        case 0:
        case 1: send_frame(nd, &in); break;
        case 2:
            nic.refuse = kind & 0x10;
            if (!nic.refuse)
                netdev_rx_ready(nd);
            break;
        default: netdev_set_link(nd, !(kind & 0x10)); break;
        }
        fz_pump(loop);
    }
    netdev_destroy(nd);
    evloop_destroy(loop);
    return 0;
}
