/* A recording fake netdev backend shared by the device and netdev unit tests: the "vnet"
 * option, the copy of each sent frame, and creating a netdev over a test's own ops table. */
#ifndef NICVM_TESTS_UNIT_FAKEBE_H
#define NICVM_TESTS_UNIT_FAKEBE_H

#include "net/backend.h"
#include "net/netdev.h"
#include "vmm/evloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* One frame a fake backend's send() accepted, with its virtio-net header if it had one. */
struct sent_frame {
    bool has_hdr;
    struct virtio_net_hdr_v1 hdr;
    size_t len;
    uint8_t *data;
};

/* fakebe_open: the open() of the fakes: option "vnet" (default off) sets
 * NETDEV_CAP_VNET_HDR. Returns 0, or -EINVAL with err filled. */
int fakebe_open(struct netdev *nd, struct opts *o, char *err, size_t errlen);

/* fakebe_record: copies the len bytes of iov (and hdr, NULL for none) into s; fails the test
 * when memory runs out or iov holds fewer than len bytes. */
void fakebe_record(struct sent_frame *s, const struct virtio_net_hdr_v1 *hdr,
                   const struct iovec *iov, int iovcnt, size_t len);

/* fakebe_free: frees the data of the first n frames of s. */
void fakebe_free(struct sent_frame *s, unsigned n);

/* fakebe_create: a netdev "name" over ops on loop, opened with vnet=on or off; fails the test
 * when it cannot be created. */
struct netdev *fakebe_create(struct evloop *loop, const struct netdev_backend_ops *ops,
                             const char *name, bool vnet);

#endif
