/* Checksum and TCP segmentation offload in software, driven by a virtio-net header
 * (virtio 1.2 §5.1.6.2): what the host kernel's tap would do with the header, done by nicvm
 * when the backend cannot carry the header (user, socket, tap with vnet_hdr=off).
 *
 * Also the validation of guest-supplied headers: offload_check() refuses every header that
 * the host kernel would reject or that would make the segmentation loop misbehave, so that
 * nothing malformed reaches tap and nothing unbounded runs here. */
#ifndef NICVM_OFFLOAD_H
#define NICVM_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OFFLOAD_MIN_MSS 48 /* smallest gso_size accepted (Linux's TCP_MIN_SND_MSS) */

/* offload_check: 0 if hdr may accompany a frame of len bytes, else -EINVAL. Accepted:
 * flags 0 or VIRTIO_NET_HDR_F_NEEDS_CSUM (DATA_VALID is ignored), csum_start + csum_offset + 2
 * <= len; gso_type NONE, or TCPV4 / TCPV6 (optionally | ECN) with NEEDS_CSUM, gso_size >=
 * OFFLOAD_MIN_MSS, and a frame that parses as Ethernet (optional 802.1Q tag) + IPv4/IPv6 +
 * TCP with csum_start at the TCP header. */
int offload_check(const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len);

/* offload_needed: true if hdr asks for any work (NEEDS_CSUM or GSO). */
bool offload_needed(const struct virtio_net_hdr_v1 *hdr);

/* offload_csum: fills the checksum hdr asks for (NEEDS_CSUM) in frame, in place: the 16-bit
 * ones' complement sum from csum_start to the end, folded into the field at csum_start +
 * csum_offset (which holds the pseudo-header sum, as the driver leaves it). Call after
 * offload_check(). */
void offload_csum(const struct virtio_net_hdr_v1 *hdr, uint8_t *frame, size_t len);

/* offload_emit_fn: receives one finished frame; returns 0 to go on, non-zero to stop. */
typedef int (*offload_emit_fn)(void *opaque, const uint8_t *frame, size_t len);

/* offload_segment: for a GSO frame (after offload_check()), emits one frame per gso_size
 * bytes of TCP payload: headers copied, IPv4 total length, id and header checksum, IPv6
 * payload length, TCP sequence numbers and flags (FIN and PSH only on the last segment,
 * CWR only on the first) fixed, and the TCP checksum computed in full. For a frame without
 * GSO, emits the frame with its checksum filled. `scratch` must hold 65536 + 128 bytes.
 * Returns the number of frames emitted, or the emit function's non-zero value negated (a
 * negative value is returned as is), or -EINVAL if offload_check() fails. */
int offload_segment(const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len,
                    uint8_t *scratch, offload_emit_fn emit, void *opaque);

/* The largest IP packet there can be: the 16-bit IPv4 total length (RFC 791 3.1), which also
 * bounds an IPv6 packet without a jumbo payload option. */
#define OFFLOAD_IP_MAX 0xffff

/* The largest IP packets (IP header included) a backend takes from offload_coalesce(), per
 * family. Values above OFFLOAD_IP_MAX are taken as OFFLOAD_IP_MAX. */
struct offload_coalesce_max {
    size_t ipv4;
    size_t ipv6;
};

/* offload_coalesce: a TCP GSO frame (TCPV4/TCPV6, with or without ECN) for a backend that
 * takes it as one large IP packet, as GRO would have built it (NETDEV_CAP_GSO_COALESCED):
 * when the whole frame fits max, it is finished in place in frame (IPv4 total length and
 * header checksum, or IPv6 payload length, set from len, whatever the guest left there, 0
 * included; the TCP checksum computed in full) and emitted once. A frame too big for max is
 * split as offload_segment() does, but into the largest multiple of gso_size that fits (at
 * least gso_size). `scratch` as for offload_segment(). Returns the number of packets
 * emitted, the emit function's non-zero value negated, or -EINVAL for a frame without GSO or
 * one offload_check() refuses (nothing is emitted or written then). */
int offload_coalesce(const struct virtio_net_hdr_v1 *hdr, uint8_t *frame, size_t len,
                     const struct offload_coalesce_max *max, uint8_t *scratch, offload_emit_fn emit,
                     void *opaque);

/* Internet checksum helpers (RFC 1071), shared with the NIC models. offload_csum_add adds
 * p[0..len) to sum and returns a partial sum <= 0xffff (plain 16-bit values, e.g. pseudo-header
 * fields, may be added to it); chained calls on consecutive pieces need every piece but the
 * last to have an even length. offload_csum_fold folds and complements: the value to store
 * big-endian in a checksum field. */
uint32_t offload_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t offload_csum_fold(uint32_t sum);

#endif
