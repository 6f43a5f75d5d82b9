/* Packet capture: -object filter-dump,id=ID,netdev=NETDEV,file=PATH[,maxlen=N][,vnet_hdr=on]
 * with QEMU's words. Frames in both directions, with timestamps, as the NIC sent or took
 * them (before software offload, so a TSO frame appears once, as the guest built it).
 *
 *   vnet_hdr=off (default): classic pcap, LINKTYPE_ETHERNET, readable by tcpdump -r and
 *     Wireshark (QEMU's format).
 *   vnet_hdr=on: pcapng (LINKTYPE_ETHERNET) in which every Enhanced Packet Block carries the
 *     direction in epb_flags and the virtio-net header, which QEMU's dump drops, in an
 *     opt_comment: "vnet flags=0x1 gso_type=1 hdr_len=66 gso_size=1448 csum_start=34
 *     csum_offset=16 num_buffers=0". Wireshark shows it as the packet comment; tcpdump -r
 *     reads the file too.
 *
 * A write error (disk full) logs one line and stops that capture; the VM goes on. */
#ifndef NICVM_NET_DUMP_H
#define NICVM_NET_DUMP_H

#include "net/backend.h"
#include "vmm/opts.h"

#include <stdbool.h>
#include <stddef.h>

struct netdump;

struct netdump_config {
    const char *id;
    const char *netdev; /* the -netdev id to capture */
    const char *file;
    size_t maxlen; /* bytes kept per frame (snaplen), default 65535 */
    bool vnet_hdr;
};

/* netdump_parse: reads filter-dump options into *c (strings point into o). Returns 0, or
 * -EINVAL with a one-line message naming the option in err. Does not check unused keys. */
int netdump_parse(struct opts *o, struct netdump_config *c, char *err, size_t errlen);

/* netdump_open: creates the file and writes its header. Returns NULL with a message naming
 * the file in err. */
struct netdump *netdump_open(const struct netdump_config *c, char *err, size_t errlen);

/* netdump_attach: starts capturing nd's frames (registers a netdev observer). Returns 0
 * or -ENOSPC. */
int netdump_attach(struct netdump *d, struct netdev *nd);

/* netdump_close: stops capturing (detaching from the netdev if attached), flushes and
 * closes the file. NULL is accepted. */
void netdump_close(struct netdump *d);

/* netdump_frame: writes one frame (the observer callback; also for tests). */
void netdump_frame(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                   const struct iovec *iov, int iovcnt, size_t len);

/* netdump_frames: frames written so far. */
unsigned long netdump_frames(const struct netdump *d);

/* netdump_netdev / netdump_id: the netdev captured (NULL when not attached) and the
 * capture's id (the filter-dump id, "monitor" for dump-start). */
struct netdev *netdump_netdev(const struct netdump *d);
const char *netdump_id(const struct netdump *d);

/* netdump_info: id, netdev, file, format (pcap or pcapng), snaplen, frames written and
 * whether a write failed, as a new jansson object. */
json_t *netdump_info(const struct netdump *d);

#endif
