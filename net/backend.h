/* The backend side of the network layer, after bhyve's net_backends.h: an opaque netdev with
 * an ops table per backend type, registered in one explicit table in netdev_setup.c. Backends
 * and the code that creates them (vmm/) include this; NIC models include only netdev.h. */
#ifndef NICVM_NET_BACKEND_H
#define NICVM_NET_BACKEND_H

#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

struct netdev_backend_ops {
    const char *type;
    const char *summary;
    size_t priv_size; /* zeroed private state, reached with netdev_priv() */
    /* open: parses the backend's options (opts_get marks them used; the caller rejects any
     * left unused) and acquires its resources. Returns 0 or -errno with a one-line message
     * naming the option in err. */
    int (*open)(struct netdev *nd, struct opts *o, char *err, size_t errlen);
    /* send: one frame toward the host, len bytes in iov. hdr is the virtio-net header when
     * the backend has NETDEV_CAP_VNET_HDR, NULL otherwise (offloads already done in
     * software). Returns 0 when sent, -EAGAIN when nothing was sent because the host side is
     * full (the layer queues the frame and waits for netdev_backend_writable()), or another
     * -errno when the frame is lost. */
    int (*send)(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                int iovcnt, size_t len);
    /* rx_pause / rx_resume: stop and restart reading from the host (pull backends such as
     * tap and socket). May be NULL for backends that cannot pause (user). */
    void (*rx_pause)(struct netdev *nd);
    void (*rx_resume)(struct netdev *nd);
    /* set_rx_offloads: which offloaded frames to accept from the host (TUN_F_*). May be
     * NULL (no vnet header support). */
    int (*set_rx_offloads)(struct netdev *nd, unsigned tun_flags);
    /* close: releases everything open() acquired. */
    void (*close)(struct netdev *nd);
    /* info: the backend's own report, a new jansson object that netdev_info() puts under
     * "backend" (user: IPv4 reassembly counters). May be NULL. */
    json_t *(*info)(struct netdev *nd);
};

/* netdev_create: a backend from "-netdev TYPE,id=ID,..." options, on the given loop. Returns
 * NULL with a one-line message in err (unknown type, missing id, bad option, open
 * failure). */
struct netdev *netdev_create(struct evloop *loop, struct opts *o, char *err, size_t errlen);

/* netdev_create_with: the same with an explicit ops table (tests, benchmarks). */
struct netdev *netdev_create_with(struct evloop *loop, const struct netdev_backend_ops *ops,
                                  const char *id, struct opts *o, char *err, size_t errlen);

/* netdev_destroy: closes the backend and frees queued frames. */
void netdev_destroy(struct netdev *nd);

/* netdev_types: the registered type names, comma-separated (for messages). */
const char *netdev_types(void);

/* --- for backends ---------------------------------------------------------------------- */

/* netdev_priv: the backend's private state (priv_size bytes). */
void *netdev_priv(struct netdev *nd);
/* netdev_loop: the event loop the backend runs on. */
struct evloop *netdev_loop(struct netdev *nd);
/* netdev_set_caps: the backend's NETDEV_CAP_* (set in open()). */
void netdev_set_caps(struct netdev *nd, uint32_t caps);

/* netdev_set_coalesce_max: the largest IP packets, header included, per family, that a
 * backend with NETDEV_CAP_GSO_COALESCED takes (default 65535 for both; larger values count
 * as 65535). A GSO frame too big for them is split into as few packets as fit. */
void netdev_set_coalesce_max(struct netdev *nd, size_t ipv4_max, size_t ipv6_max);

/* netdev_deliver: a frame from the host for the guest. Returns true if the backend may
 * deliver more now, false when the frame was queued (or, queue full, dropped) because the
 * NIC has no room: a pull backend should stop reading until rx_resume(). */
bool netdev_deliver(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                    int iovcnt, size_t len);

/* netdev_set_carrier: the backend's own link state (its tap device failed, its peer left or
 * came back). The NIC's link is up while the carrier is up and the user has not set it down
 * with set_link (netdev_set_link); each side alone cannot raise it. */
void netdev_set_carrier(struct netdev *nd, bool up);

/* netdev_backend_writable: the host side has room again after send() returned -EAGAIN. */
void netdev_backend_writable(struct netdev *nd);

/* --- observers (packet captures, traces) ------------------------------------------------ */

enum netdev_dir { NETDEV_TX = 0 /* guest -> host */, NETDEV_RX = 1 /* host -> guest */ };

struct netdev_observer {
    /* frame: called for every frame the NIC sends (before software offload) and every frame
     * the NIC takes, on the loop thread. */
    void (*frame)(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                  const struct iovec *iov, int iovcnt, size_t len);
    void *opaque;
};

#define NETDEV_MAX_OBSERVERS 4

/* netdev_add_observer / netdev_remove_observer: returns 0, -ENOSPC or -ENOENT. */
int netdev_add_observer(struct netdev *nd, const struct netdev_observer *obs);
int netdev_remove_observer(struct netdev *nd, void *opaque);

#endif
