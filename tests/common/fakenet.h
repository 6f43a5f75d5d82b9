/* A "fake guest" network toolkit for the network tests: builders and parsers for the frames a
 * guest sends and receives (Ethernet, ARP, IPv4, ICMP echo, UDP, DHCP, TCP), a minimal TCP
 * endpoint, a fake NIC that attaches to a netdev and records what it receives, and a fake
 * guest that drives an event loop, answers ARP and runs its TCP endpoints.
 *
 * Conventions: IPv4 addresses and ports are in host byte order (FN_IP4(10, 0, 2, 15)).
 * Builders write a whole frame into f (capacity cap) and return its length, or 0 when it does
 * not fit. Checksums use offload_csum_add / offload_csum_fold from net/offload.h. Everything
 * is single-threaded and bounded; nothing here retransmits. */
#ifndef NICVM_TESTS_FAKENET_H
#define NICVM_TESTS_FAKENET_H

#include "net/netdev.h"
#include "vmm/evloop.h"

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FN_IP4(a, b, c, d)                                                                         \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define FN_ETH_HLEN      14
#define FN_ETH_P_IP      0x0800
#define FN_ETH_P_ARP     0x0806
#define FN_IP_HLEN       20
#define FN_UDP_HLEN      8
#define FN_TCP_HLEN      20
#define FN_L4_OFF        (FN_ETH_HLEN + FN_IP_HLEN) /* L4 header offset in frames built here */
#define FN_PROTO_ICMP    1
#define FN_PROTO_TCP     6
#define FN_PROTO_UDP     17
#define FN_ARP_REQUEST   1
#define FN_ARP_REPLY     2
#define FN_ICMP_ECHO     8
#define FN_ICMP_REPLY    0
#define FN_MAX_FRAME     (65536 + 128)
#define FN_TCP_FIN       0x01
#define FN_TCP_SYN       0x02
#define FN_TCP_RST       0x04
#define FN_TCP_PSH       0x08
#define FN_TCP_ACK       0x10
#define FN_DHCP_DISCOVER 1
#define FN_DHCP_OFFER    2
#define FN_DHCP_REQUEST  3
#define FN_DHCP_ACK      5
#define FN_DHCP_NAK      6

extern const uint8_t fn_broadcast[6];

/* --- bytes and checksums ------------------------------------------------------------------ */

/* fn_get16 / fn_get32 / fn_put16 / fn_put32: big-endian loads and stores. */
uint16_t fn_get16(const uint8_t *p);
uint32_t fn_get32(const uint8_t *p);
void fn_put16(uint8_t *p, uint16_t v);
void fn_put32(uint8_t *p, uint32_t v);

/* fn_pseudo_sum: the partial ones' complement sum of an IPv4 pseudo header (RFC 768, RFC 793)
 * for an L4 segment of l4len bytes; feed it to offload_csum_add / offload_csum_fold. */
uint32_t fn_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len);

/* fn_csum_naive: RFC 1071 checksum of p[0..len) plus sum (a 32-bit partial sum), computed
 * byte pair by byte pair: an implementation independent of net/offload.c for cross-checks.
 * Returns the folded, complemented value (0 when a buffer with its checksum verifies). */
uint16_t fn_csum_naive(uint32_t sum, const uint8_t *p, size_t len);

/* How an L4 checksum is filled by the builders. */
enum fn_csum {
    FN_CSUM_FULL,    /* the complete checksum */
    FN_CSUM_PARTIAL, /* the folded pseudo-header sum, as a driver using NEEDS_CSUM leaves it */
    FN_CSUM_ZERO,    /* 0 (UDP: "no checksum") */
    FN_CSUM_BAD,     /* the complete checksum with one bit flipped */
};

/* fn_vnet_csum: a virtio-net header asking for the checksum at csum_start + csum_offset. */
void fn_vnet_csum(struct virtio_net_hdr_v1 *h, uint16_t csum_start, uint16_t csum_offset);

/* --- building frames ---------------------------------------------------------------------- */

/* One side of a flow. */
struct fn_addr {
    uint8_t mac[6];
    uint32_t ip;
    uint16_t port;
};

/* fn_eth: an Ethernet header; returns FN_ETH_HLEN. */
size_t fn_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

/* fn_arp_request: a broadcast "who has target_ip" from src. */
size_t fn_arp_request(uint8_t *f, size_t cap, const struct fn_addr *src, uint32_t target_ip);
/* fn_arp_reply: "src->ip is at src->mac", to dst. */
size_t fn_arp_reply(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst);

/* fn_ipv4: Ethernet + a 20-byte IPv4 header (DF, TTL 64, header checksum) from src to dst
 * for l4len bytes of payload, which the caller writes at f + FN_L4_OFF. Returns the frame
 * length (FN_L4_OFF + l4len) or 0. */
size_t fn_ipv4(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
               uint8_t proto, uint16_t id, size_t l4len);

/* fn_udp: a UDP datagram src:port -> dst:port with the checksum filled as `mode` says. */
size_t fn_udp(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
              const void *payload, size_t plen, enum fn_csum mode);

/* fn_icmp_echo: an ICMP echo request (FN_ICMP_ECHO) or reply (FN_ICMP_REPLY). */
size_t fn_icmp_echo(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
                    uint8_t type, uint16_t id, uint16_t seq, const void *payload, size_t plen);

/* fn_dhcp_client: a DHCP DISCOVER or REQUEST from mac (0.0.0.0:68 to 255.255.255.255:67,
 * broadcast), with options 53 (type), 50 (requested_ip, if non-zero), 54 (server_id, if
 * non-zero) and 55 (parameter list: mask, router, DNS, lease). */
size_t fn_dhcp_client(uint8_t *f, size_t cap, const uint8_t mac[6], uint8_t msg_type, uint32_t xid,
                      uint32_t requested_ip, uint32_t server_id);

/* --- parsing frames ----------------------------------------------------------------------- */

/* A parsed frame. Each layer's flag says whether that layer parsed; pointers point into the
 * frame given to fn_parse. */
struct fn_pkt {
    const uint8_t *frame;
    size_t len;
    uint8_t dst[6], src[6];
    uint16_t type;
    /* ARP over Ethernet/IPv4 */
    bool arp;
    uint16_t arp_op;
    uint8_t arp_sha[6], arp_tha[6];
    uint32_t arp_spa, arp_tpa;
    /* IPv4: version 4, ihl >= 5, total length inside the frame */
    bool ip;
    size_t l3, ip_hlen;
    uint16_t ip_len, ip_id, ip_frag;
    uint8_t ttl, proto;
    uint32_t saddr, daddr;
    bool ip_csum_ok;
    /* L4 (not a fragment, header inside ip_len): UDP, TCP or ICMP */
    bool l4;
    size_t l4_off, l4_len;
    bool l4_csum_ok; /* a UDP checksum of 0 ("none") counts as not ok */
    uint16_t sport, dport;
    const uint8_t *data; /* UDP/TCP payload, ICMP echo data */
    size_t data_len;
    uint32_t seq, ack;
    uint8_t tcp_flags;
    uint16_t window, mss; /* mss: the MSS option of a SYN, 0 if none */
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, icmp_seq;
};

/* fn_parse: parses f as far as it is well formed. Returns false for a frame shorter than an
 * Ethernet header. */
bool fn_parse(const uint8_t *f, size_t len, struct fn_pkt *p);

/* A DHCP reply. */
struct fn_dhcp {
    uint8_t msg_type;
    uint32_t xid, yiaddr;
    uint8_t chaddr[6];
    uint32_t server_id, router, dns, mask, lease;
};

/* fn_dhcp_parse: a BOOTP reply (UDP 67 -> 68, op 2, magic cookie) with its options. */
bool fn_dhcp_parse(const struct fn_pkt *p, struct fn_dhcp *d);

/* --- a minimal TCP endpoint --------------------------------------------------------------- */

enum fn_tcp_state {
    FN_TCP_CLOSED,
    FN_TCP_LISTEN,
    FN_TCP_SYN_SENT,
    FN_TCP_SYN_RCVD,
    FN_TCP_ESTABLISHED,
    FN_TCP_FIN_WAIT1,
    FN_TCP_FIN_WAIT2,
    FN_TCP_CLOSE_WAIT,
    FN_TCP_CLOSING,
    FN_TCP_LAST_ACK,
    FN_TCP_TIME_WAIT,
};

/* One connection: in-order data both ways, an ACK for every segment that carries data or
 * FIN, FIN close in either order. No retransmission, no reordering buffer (out-of-order
 * data is dropped and answered with a duplicate ACK), no options but MSS on SYNs. */
struct fn_tcp {
    struct fn_addr self, peer; /* peer: learnt from the SYN in LISTEN */
    enum fn_tcp_state state;
    uint32_t iss, snd_una, snd_nxt, rcv_nxt;
    uint16_t mss;      /* largest payload we send (and the MSS we announce) */
    uint16_t peer_mss; /* from the peer's SYN (536 if absent) */
    uint32_t peer_wnd;
    const uint8_t *tx; /* data to send (caller's buffer), tx_off bytes handed out */
    size_t tx_len, tx_off;
    bool fin_wanted, fin_sent, peer_fin, reset;
    uint8_t *rx; /* received in-order data (caller's buffer) */
    size_t rx_cap, rx_len;
    unsigned segs_in, dup_segs, ooo_segs;
};

/* fn_tcp_init: a CLOSED endpoint at self with initial sequence number iss, receiving into
 * rx[0..rx_cap). */
void fn_tcp_init(struct fn_tcp *t, const struct fn_addr *self, uint32_t iss, uint8_t *rx,
                 size_t rx_cap);
/* fn_tcp_listen: waits for a SYN to self->port. */
void fn_tcp_listen(struct fn_tcp *t);
/* fn_tcp_matches: p is a TCP segment of this connection (or a SYN for it in LISTEN). */
bool fn_tcp_matches(const struct fn_tcp *t, const struct fn_pkt *p);

/* fn_tcp_segment: a segment from t to its peer with the given flags, seq and payload (ack =
 * rcv_nxt; an MSS option on SYNs; full checksum). Changes no state. */
size_t fn_tcp_segment(const struct fn_tcp *t, uint8_t *f, size_t cap, uint8_t flags, uint32_t seq,
                      const void *data, size_t len);
/* fn_tcp_syn: connects to peer: the SYN; state SYN_SENT. */
size_t fn_tcp_syn(struct fn_tcp *t, const struct fn_addr *peer, uint8_t *f, size_t cap);
/* fn_tcp_synack: the SYN-ACK answering a SYN (what fn_tcp_step sends in LISTEN). */
size_t fn_tcp_synack(const struct fn_tcp *t, uint8_t *f, size_t cap);
/* fn_tcp_ack: a bare ACK of everything received. */
size_t fn_tcp_ack(const struct fn_tcp *t, uint8_t *f, size_t cap);
/* fn_tcp_data: an ACK|PSH segment with len bytes at snd_nxt; advances snd_nxt. */
size_t fn_tcp_data(struct fn_tcp *t, uint8_t *f, size_t cap, const void *data, size_t len);
/* fn_tcp_fin: a FIN|ACK at snd_nxt; advances snd_nxt, state FIN_WAIT1 or LAST_ACK. */
size_t fn_tcp_fin(struct fn_tcp *t, uint8_t *f, size_t cap);
/* fn_tcp_gso: one ACK|PSH segment carrying len bytes (up to 65495) at snd_nxt, with the
 * pseudo-header seed in the checksum field and in *h the virtio-net header of a TCPV4 GSO
 * frame (NEEDS_CSUM, gso_size) for the NIC to send; advances snd_nxt. */
size_t fn_tcp_gso(struct fn_tcp *t, uint8_t *f, size_t cap, const void *data, size_t len,
                  uint16_t gso_size, struct virtio_net_hdr_v1 *h);

/* fn_tcp_write: queues data[0..len) (the caller keeps it alive) for fn_tcp_output. */
void fn_tcp_write(struct fn_tcp *t, const void *data, size_t len);
/* fn_tcp_close: a FIN follows the queued data. */
void fn_tcp_close(struct fn_tcp *t);
/* fn_tcp_output: the next segment of queued data (at most one MSS, inside the peer's window)
 * or the FIN, or 0 when there is nothing to send now. */
size_t fn_tcp_output(struct fn_tcp *t, uint8_t *f, size_t cap);
/* fn_tcp_step: consumes a received segment p of this connection (checksums are the caller's
 * business) and writes the reply to send, if any, in f. Returns the reply's length or 0. */
size_t fn_tcp_step(struct fn_tcp *t, const struct fn_pkt *p, uint8_t *f, size_t cap);

/* --- a fake NIC ----------------------------------------------------------------------------- */

/* A frame the fake NIC received (header, length, bytes). Free with free(). */
struct fn_frame {
    struct fn_frame *next;
    struct virtio_net_hdr_v1 hdr;
    size_t len;
    uint8_t data[];
};

#define FN_NIC_MAX_FRAMES 65536 /* frames kept; later ones are counted in `overflow` */

/* The NIC side of a netdev: receive() keeps frames, or refuses them (returns 0) while
 * `refuse` is set or accept_budget is 0; the counters record every callback. */
struct fn_nic {
    struct netdev *nd;
    struct fn_frame *head, **tail;
    unsigned count;
    bool refuse;
    int64_t accept_budget; /* frames to take before refusing; negative: no limit */
    uint64_t receive_calls, refused, received, overflow;
    unsigned tx_ready_calls, link_changes;
    bool link_up; /* the last state link_changed reported */
};

/* fn_nic_attach: attaches n to nd as `name`. Returns netdev_attach's result. */
int fn_nic_attach(struct fn_nic *n, struct netdev *nd, const char *name);
/* fn_nic_pop: the oldest kept frame (the caller frees it), or NULL. */
struct fn_frame *fn_nic_pop(struct fn_nic *n);
/* fn_nic_clear: frees every kept frame. */
void fn_nic_clear(struct fn_nic *n);
/* fn_nic_send: netdev_send of one linear frame with header h (NULL: a zeroed header). */
int fn_nic_send(struct fn_nic *n, const struct virtio_net_hdr_v1 *h, const void *f, size_t len);

/* --- a fake guest --------------------------------------------------------------------------- */

#define FN_GUEST_MAX_TCP 4

/* A guest on a fake NIC: fn_guest_poll runs the loop once and then handles what arrived:
 * ARP requests for self.ip are answered, TCP segments go to the registered endpoints (whose
 * replies and queued output are sent), and everything else is handed to `other` (if set) and
 * freed. With check_csum, IPv4 frames whose IP or L4 checksum is wrong (and whose header
 * does not carry NEEDS_CSUM) are counted in bad_csum and dropped. */
struct fn_guest {
    struct evloop *loop;
    struct fn_nic nic;
    struct fn_addr self;
    struct fn_tcp *tcp[FN_GUEST_MAX_TCP];
    unsigned ntcp;
    bool check_csum;
    unsigned bad_csum, arp_answered, send_errors;
    /* every received frame, before it is handled (may be NULL) */
    void (*on_frame)(void *opaque, const struct fn_frame *f);
    /* frames not consumed by ARP or TCP; return true to keep the frame (the callee then owns
     * and frees it) */
    bool (*other)(void *opaque, struct fn_frame *f);
    /* called once per poll, after the frames (host-side I/O of a test) */
    void (*tick)(void *opaque);
    void *opaque;
    /* fn_guest_wait's state */
    bool (*wait_match)(void *arg, const struct fn_pkt *p);
    void *wait_arg;
    struct fn_frame *wait_hit;
    uint8_t buf[FN_MAX_FRAME]; /* for replies */
};

/* fn_guest_init: a guest at self on loop (attach with fn_nic_attach(&g->nic, ...)). */
void fn_guest_init(struct fn_guest *g, struct evloop *loop, const struct fn_addr *self);
/* fn_guest_add_tcp: registers an endpoint. Returns 0 or -ENOSPC. */
int fn_guest_add_tcp(struct fn_guest *g, struct fn_tcp *t);
/* fn_guest_send: sends one frame (zeroed header); failures are counted. */
void fn_guest_send(struct fn_guest *g, const void *f, size_t len);
/* fn_guest_poll: one loop iteration of up to timeout_ms, then the frames. */
void fn_guest_poll(struct fn_guest *g, int timeout_ms);
/* fn_guest_run_until: polls (10 ms steps) until cond(arg) or timeout_ms; returns cond's last
 * value. */
bool fn_guest_run_until(struct fn_guest *g, bool (*cond)(void *arg), void *arg, int timeout_ms);
/* fn_guest_wait: polls until a frame that match(arg, pkt) accepts arrives and returns it (the
 * caller frees it), or NULL after timeout_ms. Frames that do not match are handled as
 * fn_guest_poll does. */
struct fn_frame *fn_guest_wait(struct fn_guest *g, bool (*match)(void *arg, const struct fn_pkt *p),
                               void *arg, int timeout_ms);

/* fn_now_ms: CLOCK_MONOTONIC in milliseconds. */
uint64_t fn_now_ms(void);

/* fn_free_port: a port of `type` (SOCK_DGRAM or SOCK_STREAM) that was free a moment ago on
 * 127.0.0.1 (fails the test if the kernel gives none). */
int fn_free_port(int type);

#endif
