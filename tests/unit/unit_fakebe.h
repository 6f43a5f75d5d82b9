/* A recording fake netdev backend shared by the device and netdev unit tests: the "vnet"
 * option, the copy of each sent frame, creating a netdev over a test's own ops table, and a
 * whole recording backend (fakebe_log_create) for the NIC models' tests. */
#ifndef NICVM_TESTS_UNIT_FAKEBE_H
#define NICVM_TESTS_UNIT_FAKEBE_H

#include "net/backend.h"
#include "net/netdev.h"
#include "vmm/evloop.h"

#include <stdatomic.h>
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

/* What a recording backend made by fakebe_log_create() saw; one per test process (Check forks
 * each test). The test owns sent (cap frames) and sets full_ret before creating the netdev. */
struct fakebe_log {
    atomic_bool eagain;  /* send() returns -EAGAIN while set (another thread may set it) */
    unsigned send_calls; /* every send(), EAGAIN included */
    unsigned nsent;      /* frames recorded in sent */
    unsigned cap;        /* how many frames sent holds */
    int full_ret;        /* send()'s answer once sent is full: 0 (sent, not recorded) or -errno */
    void (*hook)(void);  /* called first in every send() (the guest acting meanwhile), or NULL */
    unsigned offload_calls;  /* set_rx_offloads() calls */
    unsigned last_offloads;  /* the flags of the last one */
    struct sent_frame *sent; /* the first cap frames sent */
};

/* fakebe_log_create: a netdev "name" on loop, opened with vnet=on or off, whose send() and
 * set_rx_offloads() record into log (which must outlive it); fails the test when it cannot be
 * created. */
struct netdev *fakebe_log_create(struct evloop *loop, struct fakebe_log *log, const char *name,
                                 bool vnet);

#endif
