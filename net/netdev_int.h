/* Internals of the netdev layer shared by netdev.c (frames crossing between NIC and backend:
 * queues, back-pressure, software offload, observers) and netdev_setup.c (the backend table,
 * creating and destroying a netdev, pairing, link and offload settings, the report). Not for
 * use outside net/netdev*. */
#ifndef NICVM_NETDEV_INT_H
#define NICVM_NETDEV_INT_H

#include "net/backend.h"
#include "net/offload.h"
#include "vmm/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame the layer holds: copied out of the guest's or the backend's buffers. */
struct netdev_qframe {
    struct netdev_qframe *next;
    struct virtio_net_hdr_v1 hdr;
    bool has_hdr;
    uint64_t flow; /* trace flow the frame belongs to, 0 if none */
    size_t len;
    uint8_t data[];
};

/* A bounded FIFO of frames (limits in netdev.c). */
struct netdev_frameq {
    struct netdev_qframe *head, **tail;
    unsigned count;
    size_t bytes;
    unsigned max_frames;
    size_t max_bytes;
};

struct netdev {
    char id[32];
    const struct netdev_backend_ops *ops;
    struct evloop *loop;
    void *priv;
    uint32_t caps;
    unsigned rx_offloads;
    bool link_up;  /* what the NIC sees: admin_up && carrier */
    bool admin_up; /* netdev_set_link(): the monitor's set_link */
    bool carrier;  /* netdev_set_carrier(): the backend's own state (tap gone, peer gone) */
    const struct netdev_nic_ops *nic;
    void *nic_opaque;
    char nic_name[32];
    struct netdev_frameq txq, rxq;
    bool rx_paused;
    bool in_send; /* inside the backend's send(): deliveries must not re-enter the NIC */
    int rx_ready_fd;
    atomic_bool rx_ready_pending;
    struct netdev_stats stats;
    struct netdev_observer obs[NETDEV_MAX_OBSERVERS];
    unsigned nr_obs;
    uint8_t *linear;  /* the guest's frame, gathered, when an offload must be checked or done */
    uint8_t *scratch; /* one output segment of software GSO */
    struct offload_coalesce_max coalesce_max; /* NETDEV_CAP_GSO_COALESCED's packet limits */
    struct log_ratelimit log_rl;
    bool traced; /* the trace keeps this backend's packet events */
    int track;
};

/* netdev_frames_init: the data path's resources of a new netdev: the two bounded queues, the
 * offload buffers, and the rx-ready eventfd watched on nd->loop. Returns 0 or -ENOMEM; what
 * was acquired is released by netdev_frames_release() either way. */
int netdev_frames_init(struct netdev *nd);

/* netdev_frames_release: stops watching the eventfd and frees queued frames and buffers. */
void netdev_frames_release(struct netdev *nd);

#endif
