/* net_bench.h: what the files of net_bench share: its constants, the frames, the fake TCP
 * end, the helper threads, the fake NIC and the measurement of one side of a case
 * (net_bench.c runs the cases and reports them; net_bench_tap.c, net_bench_user.c and
 * net_bench_stream.c are the cases; the others are their tools). Built with _GNU_SOURCE
 * (bench/CMakeLists.txt). */
#ifndef NICVM_NET_BENCH_H
#define NICVM_NET_BENCH_H

#include "bench_util.h"
#include "net/backend.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <linux/if_ether.h>

#define NS_PREFIX "nicvm-bench-"
#define TAP_IF    "nb0"
#define TAP_NET   "10.77.0.1/24"
#define IP4(a, b, c, d)                                                                            \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define TAP_HOST_IP    IP4(10, 77, 0, 1) /* the kernel's end of the tap */
#define TAP_GUEST_IP   IP4(10, 77, 0, 2) /* the fake guest behind the tap */
#define SLIRP_HOST_IP  IP4(10, 0, 2, 2)  /* libslirp's host address: the host's loopback */
#define SLIRP_GUEST_IP IP4(10, 0, 2, 15)
#define LOOPBACK_IP    IP4(127, 0, 0, 1)
#define GUEST_PORT     7777 /* the fake guest's UDP port */
#define DISCARD_PORT   9    /* tap tx and rx UDP destination (nothing listens) */
#define SINK_PORT      5001 /* the fake guest's TCP sink (tap rx, 64 KiB) */
#define USER_UDP_PORT  5555 /* host UDP receiver behind 10.0.2.2 (user tx) */
#define USER_TCP_PORT  5556 /* host TCP receiver behind 10.0.2.2 (user tx, 64 KiB) */
#define FWD_PORT       6666 /* hostfwd=udp toward the guest (user rx) */
#define REF_PORT       6667 /* the reference's UDP socket (user rx) */
#define CLIENT_PORT    40000

#define BATCH       64   /* frames per step between returns to the loop or time checks */
#define WAIT_MS     100  /* longest wait of one step, so the clock and ^C are seen */
#define GSO_MSS     1460 /* gso_size: an MTU-1500 TCP segment */
#define GSO_SEGS    44
#define GSO_PAYLOAD (GSO_SEGS * GSO_MSS) /* 64240 bytes: a 64 KiB TSO frame */
#define HDRS_TCP4   (ETH_HLEN + 20 + 20)
#define HDRS_UDP4   (ETH_HLEN + 20 + 8)
#define PAGE        4096 /* guest frames arrive as page-sized pieces, like a driver's frags */
#define MAX_PIECES  (NETDEV_MAX_FRAME / PAGE + 2)
#define RAW_BUF     (NETDEV_VNET_HDR_LEN + NETDEV_MAX_FRAME)
#define SIZE_GSO    65536 /* the nominal size of the GSO cases */
#define FTCP_ISS    1000000u
#define MAX_RESULTS 24

#define TCPFL_FIN 0x01
#define TCPFL_SYN 0x02
#define TCPFL_RST 0x04
#define TCPFL_PSH 0x08
#define TCPFL_ACK 0x10

struct flow {
    const uint8_t *dmac, *smac;
    uint32_t saddr, daddr; /* host order, like the ports */
    uint16_t sport, dport;
};

/* A frame as guest memory: bytes in page-sized pieces, with its virtio-net header. */
struct frame {
    uint8_t *buf;
    size_t len;
    struct virtio_net_hdr_v1 hdr;
    struct iovec iov[MAX_PIECES];
    int iovcnt;
};

struct tcp_fields {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const uint8_t *opts;
    size_t optlen; /* a multiple of 4 */
    size_t payload;
};

/* A sink (server: answers a SYN, then ACKs in-order data once per batch) or a client (sends
 * data inside the peer's window). No retransmission, SACK or timestamps: the path is
 * lossless, and out-of-order data is dropped and ACKed at rcv_nxt. */
struct ftcp {
    struct flow fl; /* as this end sends */
    bool server, established, reset;
    bool synack_due, ack_due;
    uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt;
    uint64_t rcv_bytes;
};

enum gen_kind {
    GEN_UDP,   /* sendmmsg() on a connected UDP socket */
    GEN_TCP,   /* connects, then send()s 64 KiB at a time */
    DRAIN_UDP, /* recvmmsg() on a bound UDP socket */
    DRAIN_TCP, /* accepts and recv()s on a listening socket */
};

struct gen {
    enum gen_kind kind;
    int fd;                /* GEN_UDP, DRAIN_*: made by the caller, closed by gen_stop */
    struct sockaddr_in to; /* GEN_TCP */
    size_t payload;        /* GEN_UDP */
    pthread_t th;
    bool started;
    atomic_bool stop;
    _Atomic uint64_t count; /* datagrams, or bytes for TCP */
    atomic_int err;         /* the first failure (errno) */
};

struct fake_nic {
    struct evloop *loop;
    struct netdev *nd;
    struct ftcp *tcp; /* fed with every frame received, when set */
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
    struct frame *ctl; /* for control frames (ARP, SYN, ACK) */
};

/* One side (nicvm or reference) of one case. */
struct meas {
    double secs, cpu; /* the measured window, and the measuring thread's CPU time in it */
    uint64_t frames, bytes, aux; /* deltas over the measured window */
};

struct side {
    int (*step)(void *ctx); /* at most BATCH frames or one wait of WAIT_MS; <0: -errno */
    void (*count)(void *ctx, uint64_t c[3]); /* frames, bytes, aux so far */
    void *ctx;
};

struct bcase;
struct stream_case;

struct result {
    const struct bcase *c;
    size_t frame_bytes;
    const char *aux_name; /* what aux counts, e.g. "gen_pps"; NULL: nothing */
    bool aux_bytes;       /* aux counts bytes (shown in Gbit/s), not frames */
    struct meas nic, ref;
    uint64_t drops; /* frames the layer dropped on the nicvm side */
    char error[200];
};

struct bcase {
    const char *backend; /* "tap", "user" or "stream" */
    bool rx;
    unsigned size; /* 64, 1500 or SIZE_GSO */
    bool vnet_hdr; /* tap: vnet_hdr=on */
    bool quick;    /* also run with --quick */
    void (*run)(const struct bcase *c, struct result *r);
    const char *ref; /* what the reference does */
};
/* What the two sides of a case share. */
struct case_ctx {
    const struct bcase *c;
    struct result *r;
    const struct frame *f;      /* tap tx: the frame */
    struct raw_tx *raw;         /* tap tx: the reference's writes */
    unsigned offloads;          /* tap rx: TUN_F_* for both sides */
    struct gen *drain;          /* user tx: the host-side receiver */
    struct stream_case *stream; /* stream: the frames, the listener (net_bench_stream.c) */
};

typedef void (*side_fn)(struct case_ctx *x);

/* The fake NIC as the sending side: ctx of nic_tx_step. */
struct nic_tx {
    struct fake_nic *nic;
    const struct frame *f;
    struct gen *aux; /* the host-side receiver (user), or NULL: the tap's kernel rx count */
};

/* The fake NIC as the receiving side: ctx of nic_rx_step. */
struct nic_rx {
    struct fake_nic *nic;
    struct gen *gen;
};

/* --- net_bench.c: options, stop flag, small helpers ----------------------------------------- */

/* The command line (see usage in net_bench.c). */
struct nb_opts {
    double seconds, warmup; /* per side of a case (all rounds), and per round */
    int rounds;             /* nicvm and the reference alternate this many times */
    bool seconds_given, quick;
    const char *only;  /* NULL, "tap", "user" or "stream" */
    const char *match; /* NULL, or a piece of the case names to run */
    int ncpu;
};

extern struct nb_opts g_opt;
extern volatile sig_atomic_t g_stop; /* set by SIGINT, SIGTERM and SIGHUP */

extern const uint8_t guest_mac[6];
extern const uint8_t other_mac[6];
extern const uint8_t slirp_host_mac[6];
extern uint8_t tap_mac[6]; /* the tap's own MAC (tap_setup) */

/* nb_progress: a line of progress on stderr, prefixed "net_bench: ". */
__attribute__((format(printf, 1, 2))) void nb_progress(const char *fmt, ...);

/* nb_pin_cpu: this thread onto the cpu-th CPU the process may use, when it may use two or
 * more (best effort). */
void nb_pin_cpu(int cpu);

/* nb_wait_fd: polls fd for events, at most WAIT_MS. */
void nb_wait_fd(int fd, short events);

/* nb_get32: the big-endian (network order) value at p. */
uint32_t nb_get32(const uint8_t *p);

/* nb_put_seq: the 32-bit sequence number v at frame + off, with the ones' complement checksum
 * at frame + csum (0: none) adjusted to match, so that a frame stays valid (RFC 1624). */
void nb_put_seq(uint8_t *frame, size_t off, size_t csum, uint32_t v);

/* nb_writev_all: all total bytes of v[0..n) (n <= MAX_PIECES + 2) on a blocking fd with
 * SO_SNDTIMEO, the rest again after a partial write or a timeout. Returns 0, -EINTR once
 * *stop or g_stop is set, or -errno. */
int nb_writev_all(int fd, const struct iovec *v, int n, size_t total, atomic_bool *stop);

/* --- net_bench_ns.c: network namespace and tap device ---------------------------------------- */

extern char g_ns[64]; /* our namespace's name; "" when there is none */

/* ns_create: makes and enters nicvm-bench-<pid>. Returns 0, or -1 with the reason in why. */
int ns_create(char *why, size_t len);

/* ns_destroy: deletes the tap and the namespace (atexit, errors, ^C). Idempotent. */
void ns_destroy(void);

/* tap_setup: the tap TAP_IF with the host at TAP_HOST_IP and the fake guest as a permanent
 * neighbour; fills tap_mac. Returns 0, or nonzero on failure. */
int tap_setup(void);

/* tap_wait_running: waits for the carrier that attaching an fd brings. */
void tap_wait_running(void);

/* tap_kernel_rx: frames the kernel took from the tap so far. */
uint64_t tap_kernel_rx(void);

/* tap_open_raw: the reference's fd on the tap (vnet: with a vnet header and offloads).
 * Returns the fd, or -errno. */
int tap_open_raw(bool vnet, unsigned offloads);

/* --- net_bench_frame.c: frames and the fake TCP end ------------------------------------------- */

/* nb_put16 / nb_put32: big-endian (network order) values at p. */
void nb_put16(uint8_t *p, uint16_t v);
void nb_put32(uint8_t *p, uint32_t v);

/* frame_new: an empty frame with room for NETDEV_MAX_FRAME bytes (exits without memory). */
struct frame *frame_new(void);

/* frame_free: frees f (NULL is fine). */
void frame_free(struct frame *f);

/* frame_udp: a UDP/IPv4 frame of exactly len bytes with a full checksum, no offload. */
void frame_udp(struct frame *f, const struct flow *fl, size_t len);

/* frame_tcp: a TCP/IPv4 frame; with t->payload over GSO_MSS a TSO frame (NEEDS_CSUM). */
void frame_tcp(struct frame *f, const struct flow *fl, const struct tcp_fields *t);

/* frame_arp_request: "who has tip, tell sip" from smac, padded to 60 bytes. */
void frame_arp_request(struct frame *f, const uint8_t *smac, uint32_t sip, uint32_t tip);

/* ftcp_input: the frame f of len bytes, shown to the fake TCP end t. */
void ftcp_input(struct ftcp *t, const uint8_t *f, size_t len);

/* ftcp_ctl: the SYN-ACK or ACK that is due, built into f; false when none is. */
bool ftcp_ctl(struct ftcp *t, struct frame *f);

/* ftcp_syn: the client's SYN into f. */
void ftcp_syn(struct ftcp *t, struct frame *f);

/* --- net_bench_gen.c: sockets, traffic generators and host-side receivers ------------------- */

/* nb_sin: an IPv4 socket address; addr and port in host order. */
struct sockaddr_in nb_sin(uint32_t addr, uint16_t port);

/* nb_tcp_connect: a blocking TCP socket connected to `to`, or -errno (stop: gives up). */
int nb_tcp_connect(const struct sockaddr_in *to, atomic_bool *stop);

/* nb_udp_socket: bound to bind_port (0: any) on bind_addr, connected to `to` when given;
 * the fd or -errno. */
int nb_udp_socket(uint32_t bind_addr, uint16_t bind_port, const struct sockaddr_in *to);

/* nb_tcp_listener: a listening TCP socket on addr:port, or -errno. */
int nb_tcp_listener(uint32_t addr, uint16_t port);

/* gen_start: g's thread, counting from 0. Returns 0 or -errno. */
int gen_start(struct gen *g);

/* gen_stop: stops g's thread and closes its fd. */
void gen_stop(struct gen *g);

/* --- net_bench_side.c: the fake NIC, one side's measurement, rounds ------------------------- */

/* nic_open: the netdev of spec (opts syntax) with the fake NIC attached. Returns 0, or -1
 * with the reason as r's error. */
int nic_open(struct fake_nic *nic, const char *spec, struct result *r);
void nic_close(struct fake_nic *nic);

/* nic_send: f through the layer, counted when taken. Returns netdev_send's rc. */
int nic_send(struct fake_nic *nic, const struct frame *f);

/* nic_send_ctl: the fake TCP end's due SYN-ACK or ACK, if any. Returns 0 or -errno. */
int nic_send_ctl(struct fake_nic *nic);

/* nic_drops: the frames the layer dropped. */
uint64_t nic_drops(const struct fake_nic *nic);

/* nic_slirp_arp: ARP for 10.0.2.2 and its answer. Returns 0 or -errno. */
int nic_slirp_arp(struct fake_nic *nic);

/* nic_tx_step / nic_tx_count, nic_rx_step / nic_rx_count: a side (struct side) of the fake
 * NIC sending (ctx: struct nic_tx) or receiving (ctx: struct nic_rx). */
int nic_tx_step(void *ctx);
void nic_tx_count(void *ctx, uint64_t c[3]);
int nic_rx_step(void *ctx);
void nic_rx_count(void *ctx, uint64_t c[3]);

/* nb_set_error: r's error, unless it has one (quotes and control characters replaced). */
__attribute__((format(printf, 2, 3))) void nb_set_error(struct result *r, const char *fmt, ...);

/* nb_frame_len: the Ethernet frame length of a nominal size (64, 1500, SIZE_GSO). */
size_t nb_frame_len(unsigned size);

/* nb_side_run: one round of side s into m; a failure becomes r's error, named by who. */
void nb_side_run(const struct side *s, struct meas *m, struct result *r, const char *who);

/* nb_run_rounds: nicvm and ref alternately, g_opt.rounds times. */
void nb_run_rounds(struct case_ctx *x, side_fn nicvm, side_fn ref);

/* --- net_bench_tap.c, net_bench_user.c and net_bench_stream.c: the cases ------------------ */

/* case_BACKEND_tx / case_BACKEND_rx: both sides of case c, rounds alternating, into r. */
void case_tap_tx(const struct bcase *c, struct result *r);
void case_tap_rx(const struct bcase *c, struct result *r);
void case_user_tx(const struct bcase *c, struct result *r);
void case_user_rx(const struct bcase *c, struct result *r);
void case_stream(const struct bcase *c, struct result *r); /* tx and rx */

#endif
