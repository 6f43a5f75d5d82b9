/* virtio-net (virtio 1.2 §5.1) over virtio-mmio: one receive and one transmit queue, no
 * control queue. Offered: VERSION_1, MAC, STATUS, MTU, MRG_RXBUF, CSUM, GUEST_CSUM,
 * INDIRECT_DESC, EVENT_IDX, and HOST_TSO4/6 with GUEST_TSO4/6 when the backend carries the
 * virtio-net header (tap), since only then can offloaded frames reach the host kernel or
 * arrive from it. The offloads tap is given follow exactly what the guest acked.
 *
 * TX runs on the event loop when the guest kicks (through ioeventfd, with no exit to user
 * space), in batches with a budget. RX runs when the backend delivers a frame; with
 * MRG_RXBUF a frame fills several buffers and num_buffers is written before the used
 * entries are published. A frame that cannot fit is dropped and counted, never retried
 * forever. Link status follows the backend. */
#ifndef NICVM_VIRTIO_NET_H
#define NICVM_VIRTIO_NET_H

#include "devices/virtio_mmio.h"
#include "net/netdev.h"

#include <jansson.h>

#define VIRTIO_NET_RXQ         0
#define VIRTIO_NET_TXQ         1
#define VIRTIO_NET_TX_BUDGET   256 /* chains per wake-up before yielding to other work */
#define VIRTIO_NET_RX_MAX_BUFS 64  /* buffers one frame may take with MRG_RXBUF */
#define VIRTIO_NET_MTU         1500

struct virtio_net_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_drop_not_ready; /* driver not up: frame dropped */
    uint64_t rx_drop_oversize;  /* does not fit the buffers the guest could ever offer */
    uint64_t rx_drop_offload;   /* offloaded frame for a guest that did not ack it */
    uint64_t rx_bad_chain;      /* RX chain malformed or read-only: returned empty */
    uint64_t rx_wait_buffers;   /* frames that had to wait for guest buffers */
    uint64_t tx_drop_malformed; /* shorter than the header, or an invalid frame */
    uint64_t tx_drop_feature;   /* header uses an offload the guest did not negotiate */
    uint64_t tx_bad_chain;      /* TX chain malformed: returned empty */
    uint64_t tx_drop_backend;   /* the layer dropped it (backend failure, link down) */
    uint64_t tx_wait_backend;   /* batches stopped because the backend was full */
    uint64_t tx_budget_yields;  /* batches stopped by the budget */
};

struct virtio_net;

struct virtio_net_params {
    uint8_t mac[6];
    struct netdev *netdev;
    const struct guestmem *mem;
    struct irq_line *irq;
    struct evloop *loop;
    uint64_t base;            /* MMIO window */
    virtio_mmio_bind_fn bind; /* KVM ioeventfd binder, or NULL for --no-ioeventfd */
    void *bind_opaque;
    const char *name;
};

/* virtio_net_create: the device, attached as the netdev's peer. Returns NULL with a message
 * in err (netdev already in use, resources). */
struct virtio_net *virtio_net_create(const struct virtio_net_params *cfg, char *err, size_t errlen);

/* virtio_net_destroy: detaches nothing (the netdev is destroyed with the VM) and frees. */
void virtio_net_destroy(struct virtio_net *vn);

/* virtio_net_transport: the virtio-mmio transport (iobus handler opaque, monitor). */
struct virtio_mmio *virtio_net_transport(struct virtio_net *vn);

/* virtio_net_get_stats: the counters. */
const struct virtio_net_stats *virtio_net_get_stats(const struct virtio_net *vn);

/* virtio_net_offered / virtio_net_features: what was offered, what the guest acked. */
uint64_t virtio_net_offered(const struct virtio_net *vn);
uint64_t virtio_net_acked(const struct virtio_net *vn);

/* virtio_net_info: a report of the device (new jansson reference): features offered and
 * acked, the offloads given to tap, spec violations seen, counters, and each queue's indices
 * (last avail, used, in flight, event-index thresholds' effect), kicks and interrupts. Any
 * thread (takes the transport lock). */
json_t *virtio_net_info(struct virtio_net *vn);

#endif
