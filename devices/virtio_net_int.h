/* Internals of the virtio-net model shared by virtio_net.c (feature policy, configuration
 * space, the TX and RX paths) and virtio_net_info.c (the report). Not for use outside
 * devices/virtio_net*. */
#ifndef NICVM_VIRTIO_NET_INT_H
#define NICVM_VIRTIO_NET_INT_H

#include "devices/virtio_net.h"
#include "vmm/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* One device; its queues and register state are the transport's (t). */
struct virtio_net {
    struct virtio_mmio t;
    struct netdev *nd;
    char name[32];
    uint8_t mac[6];
    bool link_up;
    uint64_t acked;
    struct virtq_elem *tx_elem;
    struct virtq_elem *rx_elem[VIRTIO_NET_RX_MAX_BUFS];
    struct iovec frame_iov[VIRTQ_MAX_SIZE];
    struct virtio_net_stats stats;
    struct log_ratelimit rl;
    bool traced;  /* the trace keeps this NIC's packet events */
    int track[2]; /* trace tracks: RX and TX queue */
};

#endif
