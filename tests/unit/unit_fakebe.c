/* The shared part of the unit tests' fake netdev backends (see unit_fakebe.h). */
#include "tests/unit/unit_fakebe.h"

#include "vmm/iov.h"
#include "vmm/opts.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fakebe_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    bool vnet;
    if (opts_get_bool(o, "vnet", false, &vnet, err, errlen) < 0)
        return -EINVAL;
    netdev_set_caps(nd, vnet ? NETDEV_CAP_VNET_HDR : 0);
    return 0;
}

void fakebe_record(struct sent_frame *s, const struct virtio_net_hdr_v1 *hdr,
                   const struct iovec *iov, int iovcnt, size_t len)
{
    s->has_hdr = hdr != NULL;
    if (hdr)
        s->hdr = *hdr;
    s->len = len;
    s->data = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(s->data);
    ck_assert_uint_eq(iov_to_buf(iov, iovcnt, 0, s->data, len), len);
}

void fakebe_free(struct sent_frame *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(s[i].data);
}

struct netdev *fakebe_create(struct evloop *loop, const struct netdev_backend_ops *ops,
                             const char *name, bool vnet)
{
    char err[256] = "";
    struct opts *o = opts_parse(vnet ? "fake,vnet=on" : "fake", "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *nd = netdev_create_with(loop, ops, name, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "netdev_create_with: %s", err);
    return nd;
}

/* The recording backend: its private state is the pointer to the test's log. */
static struct fakebe_log *log_of(struct netdev *nd)
{
    return *(struct fakebe_log **)netdev_priv(nd);
}

static int log_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                    int iovcnt, size_t len)
{
    struct fakebe_log *log = log_of(nd);
    log->send_calls++;
    if (log->hook)
        log->hook();
    if (atomic_load(&log->eagain))
        return -EAGAIN;
    if (log->nsent >= log->cap)
        return log->full_ret;
    fakebe_record(&log->sent[log->nsent++], hdr, iov, iovcnt, len);
    return 0;
}

static int log_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    struct fakebe_log *log = log_of(nd);
    log->offload_calls++;
    log->last_offloads = flags;
    return 0;
}

static const struct netdev_backend_ops log_ops = {
    .type = "fake",
    .summary = "test backend",
    .priv_size = sizeof(struct fakebe_log *),
    .open = fakebe_open,
    .send = log_send,
    .set_rx_offloads = log_set_rx_offloads,
};

struct netdev *fakebe_log_create(struct evloop *loop, struct fakebe_log *log, const char *name,
                                 bool vnet)
{
    struct netdev *nd = fakebe_create(loop, &log_ops, name, vnet);
    *(struct fakebe_log **)netdev_priv(nd) = log;
    return nd;
}
