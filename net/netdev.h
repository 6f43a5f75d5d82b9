/* The network layer as NIC models see it: a backend ("netdev", created by -netdev) and a NIC
 * front end form a pair of peers, like QEMU's NetClientState pairs. NIC models include only
 * this header.
 *
 * Frames cross as iovecs together with a virtio-net header (struct virtio_net_hdr_v1), which
 * carries checksum and segmentation offloads. The header is always present at this boundary;
 * a NIC that has no offload to ask for passes a zeroed one. When the backend cannot carry
 * the header to the host (user, socket, or tap with vnet_hdr=off), the layer performs the
 * offload in software (net/offload.c) before the backend sees the frame.
 *
 * Threads: everything here runs on the event-loop thread, except netdev_rx_ready(), which
 * any thread may call. Flow control never spins:
 *   - NIC -> host: the NIC checks netdev_can_send() before taking a frame from the guest;
 *     netdev_send() then always accepts it (it goes out, or is queued while the backend
 *     reports EAGAIN), and tx_ready() says when sending may resume.
 *   - host -> NIC: receive() returning 0 means "no guest buffers": the layer keeps the frame
 *     (bounded queue), stops reading the backend where it can, and waits for
 *     netdev_rx_ready(). */
#ifndef NICVM_NETDEV_H
#define NICVM_NETDEV_H

#include <jansson.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Largest frame at this boundary: a 64 KiB GSO payload plus Ethernet and VLAN headers. */
#define NETDEV_MAX_FRAME    (65536 + 14 + 4)
#define NETDEV_VNET_HDR_LEN sizeof(struct virtio_net_hdr_v1)

struct netdev;

/* What a NIC model provides. All called on the event-loop thread. */
struct netdev_nic_ops {
    /* receive: one frame for the guest, len bytes in iov (hdr: offload metadata, zeroed
     * when there is none). Returns len when the frame was delivered or dropped by the NIC
     * (which counts why), or 0 when the NIC has no room now: the layer keeps the frame and
     * offers it again after netdev_rx_ready(). */
    size_t (*receive)(void *opaque, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                      int iovcnt, size_t len);
    /* tx_ready: netdev_can_send() has become true again. May be NULL. */
    void (*tx_ready)(void *opaque);
    /* link_changed: the backend's link went up or down. May be NULL. */
    void (*link_changed)(void *opaque, bool up);
};

/* Offload capabilities of a backend. */
enum {
    NETDEV_CAP_VNET_HDR = 1u << 0, /* frames reach the host with their virtio-net header */
    /* Without the header: a TCP GSO frame arrives as one large IP packet, lengths and
     * checksums complete, as GRO would have merged its segments (or as few packets as the
     * backend's netdev_set_coalesce_max() allows), not as gso_size segments. */
    NETDEV_CAP_GSO_COALESCED = 1u << 1,
};

/* Why frames were dropped, for counters and traces. */
enum netdev_drop_reason {
    NETDEV_DROP_QUEUE_FULL = 0, /* host -> guest: the NIC had no buffers and the queue was full */
    NETDEV_DROP_MALFORMED,      /* guest -> host: bad size or a header the host would reject */
    NETDEV_DROP_BACKEND,        /* guest -> host: the backend failed to send */
    NETDEV_DROP_LINK_DOWN,      /* either way, while the link is down */
    NETDEV_DROP_PURGED,         /* host -> guest: queued when the NIC was reset */
    NETDEV_DROP_REASONS
};

struct netdev_stats {
    uint64_t tx_packets, tx_bytes; /* guest -> host, as the NIC sent them */
    uint64_t rx_packets, rx_bytes; /* host -> guest, as the NIC took them */
    uint64_t drops[NETDEV_DROP_REASONS];
    uint64_t tx_eagain;      /* times the backend pushed back (EAGAIN) */
    uint64_t rx_queued;      /* frames held because the NIC had no room */
    uint64_t sw_segmented;   /* GSO frames split in software */
    uint64_t sw_coalesced;   /* GSO frames sent as large packets (NETDEV_CAP_GSO_COALESCED) */
    uint64_t sw_checksummed; /* checksums filled in software */
};

/* netdev_id: the -netdev id. */
const char *netdev_id(const struct netdev *nd);
/* netdev_type: "tap", "user", "socket", ... */
const char *netdev_type(const struct netdev *nd);

/* netdev_attach: makes `nic_name` (for messages) the peer of nd. Returns 0, or -EBUSY if
 * another NIC already uses nd. */
int netdev_attach(struct netdev *nd, const char *nic_name, const struct netdev_nic_ops *ops,
                  void *opaque);

/* netdev_can_send: true when netdev_send() will not need to queue. */
bool netdev_can_send(const struct netdev *nd);

/* netdev_send: one frame from the guest (len bytes in iov, with its header). Returns 0 when
 * the frame was sent or queued, or a negative reason (-EINVAL malformed, -EIO backend
 * failure, -ENETDOWN link down) when it was dropped; drops are counted. */
int netdev_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                int iovcnt, size_t len);

/* netdev_rx_ready: the NIC has new receive buffers. Any thread; the queued frames are
 * offered again on the event-loop thread. */
void netdev_rx_ready(struct netdev *nd);

/* netdev_purge_rx: drops the frames held for the guest (the NIC was reset: nothing queued
 * before the reset may reach the re-initialised rings). Loop thread. */
void netdev_purge_rx(struct netdev *nd);

/* netdev_caps: NETDEV_CAP_* of the backend. */
uint32_t netdev_caps(const struct netdev *nd);

/* netdev_set_rx_offloads: which offloaded frames the guest accepts (TUN_F_CSUM, TUN_F_TSO4,
 * TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO from <linux/if_tun.h>); a tap backend passes exactly
 * these to TUNSETOFFLOAD. Returns 0 or -errno. */
int netdev_set_rx_offloads(struct netdev *nd, unsigned tun_flags);
/* netdev_rx_offloads: what was last set (for feature reports). */
unsigned netdev_rx_offloads(const struct netdev *nd);

/* netdev_link_up: the link state the NIC sees (set_link and carrier both up). */
bool netdev_link_up(const struct netdev *nd);
/* netdev_set_link: the user's link state (the monitor's set_link). The link is up while
 * this and the backend's carrier (netdev_set_carrier in backend.h) both are; the NIC's
 * link_changed is told when that changes. */
void netdev_set_link(struct netdev *nd, bool up);

/* netdev_get_stats: the counters (loop thread, or racy reads for display). */
const struct netdev_stats *netdev_get_stats(const struct netdev *nd);

/* netdev_info: id, type, peer NIC, link, offload capability and counters (drops by reason,
 * EAGAIN waits, software offloads, queue depths), and the backend's own report under "backend"
 * when it has one (user: IPv4 reassembly), as a new jansson object. Loop thread, or
 * racy reads for display. */
json_t *netdev_info(const struct netdev *nd);

#endif
