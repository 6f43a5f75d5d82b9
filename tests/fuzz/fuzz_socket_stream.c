/* fuzz_socket_stream: the socket backend's TCP stream mode (net/socket_stream.c, QEMU's
 * -netdev socket,listen= / connect=: a 4-byte big-endian length, then the frame) over real
 * TCP connections on 127.0.0.1, the fuzzer playing the remote peer byte by byte and a fake
 * NIC on nicvm's side. Each input gets a new event loop and netdev: listen= on a port picked
 * once per process (flags bit 0 clear; the test connects to it, in the same thread, and
 * the listen backlog completes the connection at once) or connect= to a listener of the
 * test's (bit 0 set, bits 1-2 its socket options; connect= retries after a second, so such
 * an input has one connection). Nothing sleeps: loopback TCP delivers inside send(), and the
 * loop is pumped with zero timeouts (short waits only before a stall is reported).
 *
 * Input: u8 flags, then operations (fz_run_ops), opcode % 10:
 *   0   WRITE: u16 n, n bytes: the peer writes them (any bytes: frames, garbage, halves)
 *   1   FRAME: u8 length choice [u16 | u32], u8 seed, u8 split: a frame on the wire with
 *       that length field (bad ones too), written whole (split 0) or in pieces of split
 *       bytes with the loop run after each
 *   2   PUMP: u8 rounds: the loop runs 1-8 rounds without waiting
 *   3   SETTLE: the loop runs until nothing moves, then the liveness oracles
 *   4   NIC: u8 bit 0 refuse frames (receive returns 0) or take them, bit 1 netdev_rx_ready
 *   5   SEND: u8 length choice [u16 | u32], u8 iovec split, u8 count: the NIC sends count
 *       frames (while netdev_can_send) in 1-72 pieces (more than 64: the copy path), with
 *       empty pieces between when bit 7 of the split is set
 *   6   READ: u8 bit 0: the peer reads (eagerly, after every operation) or stops reading,
 *       so that the kernel's buffers fill and nicvm's sends block
 *   7   CLOSE: u8 how % 3: close (FIN), close with SO_LINGER 0 (RST), shutdown(SHUT_WR)
 *   8   CONNECT: u8 socket options (receive buffer, MSS): a new peer connection (listen=);
 *       one that comes while a peer is connected must be refused
 *   9   PUMP of one round
 * The peer's operations act on the backend's peer while the test has it open, else on the
 * newest connection not yet accepted.
 *
 * Oracles (besides ASan/UBSan), from a reference model of each connection: every frame the
 * NIC is offered is the next whole frame with a valid length (1..NETDEV_MAX_FRAME) of the
 * bytes the peer of the connection nicvm has now wrote, in order (those under 14 bytes
 * dropped and counted by the layer instead), or the frame the NIC refused last time;
 * nothing after a bad length; a link-down is a protocol error exactly when a bad length
 * follows the frames taken, and otherwise the peer closed (a half-close only after every
 * whole frame was taken); the peer reads every frame the NIC sent while it was connected,
 * its length and bytes, in order; link-ups take the oldest waiting connection (its port
 * checked in the backend's info), the others are refused (they read EOF). After every operation the
 * backend's counters (accepted, refused, connections made, protocol errors) and the layer's (frames
 * taken, queued, dropped by reason) are the model's. After SETTLE: whatever the peer wrote has been
 * taken unless the NIC holds a frame back (a bad length closed the connection), a close was
 * noticed, every frame the NIC sent arrived while the peer reads, and every connection was accepted
 * or refused. */
#include "net/backend.h"
#include "tests/fuzz/fuzz_harness.h"
#include "tests/fuzz/fuzz_socket_stream.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXPENDING 3          /* waiting in nicvm's backlog (4): connects complete at once */
#define BYTES_MAX  (4u << 20) /* what the peers write, and the NIC sends, per input */
#define SETTLE_MAX 20000      /* loop rounds of one SETTLE: 4 MiB through a 4 KiB window */
#define MAXPIECES  72

static const struct virtio_net_hdr_v1 zero_hdr;
static uint8_t scratch[NETDEV_MAX_FRAME + 8];

/* A length from the input: sel < 0x40 picks a boundary, else a u16 or u32 follows. */
static uint32_t pick_len(uint8_t sel, struct fz_in *in)
{
    static const uint32_t lens[16] = {0,
                                      1,
                                      13,
                                      14,
                                      60,
                                      64,
                                      1514,
                                      1518,
                                      9014,
                                      32768,
                                      65535,
                                      NETDEV_MAX_FRAME - 1,
                                      NETDEV_MAX_FRAME,
                                      NETDEV_MAX_FRAME + 1,
                                      0x7fffffff,
                                      0xffffffff};
    if (sel < 0x40)
        return lens[sel % 16];
    return sel < 0x80 ? fz_u16(in) : fz_u32(in);
}

/* --- the peer ----------------------------------------------------------------------------- */

/* The connection the peer's operations act on: nicvm's peer while the test has it open,
 * else the newest waiting one. */
static struct conn *target(struct fz_ss *s, bool half_too)
{
    if (s->cur >= 0 && s->c[s->cur].fd >= 0 && (half_too || s->c[s->cur].shut == S_OPEN))
        return &s->c[s->cur];
    for (unsigned i = s->nc; i-- > 0;)
        if (s->c[i].st == C_PENDING && s->c[i].fd >= 0 && (half_too || s->c[i].shut == S_OPEN))
            return &s->c[i];
    return NULL;
}

/* Writes what the peers have to write, as far as the kernel takes it. Returns true if
 * anything went. */
static bool flush_out(struct fz_ss *s)
{
    bool moved = false;
    for (unsigned i = 0; i < s->nc; i++) {
        struct conn *c = &s->c[i];
        if (c->fd < 0 || !c->out.n)
            continue;
        ssize_t n = send(c->fd, c->out.p, c->out.n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            c->out.n = 0; /* refused or dropped by nicvm */
        if (n <= 0)
            continue;
        ssm_buf_add(&c->w, c->out.p, (size_t)n);
        memmove(c->out.p, c->out.p + n, c->out.n - (size_t)n);
        c->out.n -= (size_t)n;
        moved = true;
    }
    return moved;
}

/* The peers read what is there (refused ones: EOF). Returns true if anything came. */
static bool drain(struct fz_ss *s)
{
    bool moved = false;
    for (unsigned i = 0; i < s->nc; i++) {
        struct conn *c = &s->c[i];
        ssize_t n;
        while (c->fd >= 0 && (n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT)) > 0) {
            if (c->st == C_PENDING || c->st == C_REFUSED)
                fz_fail("%zd bytes on a connection nicvm never took", n);
            ssm_peer_feed(c, scratch, (size_t)n);
            moved = true;
        }
    }
    return moved;
}

static void close_conn(struct conn *c, bool rst)
{
    if (c->fd < 0)
        return;
    if (rst)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
    close(c->fd);
    c->fd = -1;
    c->shut = S_CLOSED;
    c->out.n = 0;
}

/* The peer's socket options, before connect() or listen(): a small receive buffer (the
 * window scale is agreed in the SYN) and a small MSS, which keeps the kernel from sizing
 * nicvm's send buffer for 64 KiB loopback segments, so that a few hundred KiB fill it. */
static void peer_sockopts(int fd, uint8_t sel)
{
    static const int rcvbufs[4] = {0, 2048, 8192, 65536}, mss[4] = {0, 536, 1460, 0};
    int one = 1;
    if (rcvbufs[sel % 4])
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbufs[sel % 4], sizeof(int));
    if (mss[sel % 4])
        setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss[sel % 4], sizeof(int));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A connection of the test's to nicvm's listen port, complete on return (loopback TCP: the
 * backlog answers at once). Non-blocking and polled, so that a signal (libFuzzer's timer)
 * cannot leave a connection behind that the model does not know. */
static void peer_connect(struct fz_ss *s, uint8_t sel)
{
    unsigned waiting = 0;
    for (unsigned i = 0; i < s->nc; i++)
        waiting += s->c[i].st == C_PENDING;
    if (s->connect_mode || s->nc == MAXCONNS || waiting >= MAXPENDING)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa), elen = sizeof(err);
    if (fd < 0)
        return;
    peer_sockopts(fd, sel);
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS;
    for (int i = 0; ok && i < 100 && poll(&pfd, 1, 10) <= 0; i++)
        continue;
    if (!ok || !(pfd.revents & POLLOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
        err || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd); /* out of ports: no connection this time */
        return;
    }
    s->c[s->nc++] = (struct conn){.fd = fd, .port = ntohs(sa.sin_port), .st = C_PENDING};
}

/* --- the loop and the liveness oracles -------------------------------------------------- */

static void pump(struct fz_ss *s, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        flush_out(s);
        if (evloop_run_once(s->loop, 0) < 0)
            fz_fail("evloop_run_once");
    }
}

/* Runs the loop, with the peers writing and (when they read) reading, until nothing moves. */
static void settle(struct fz_ss *s)
{
    int idle = 0;
    for (int r = 0; r < SETTLE_MAX && idle < 2; r++) {
        bool moved = flush_out(s);
        if (s->reading)
            moved |= drain(s);
        int n = evloop_run_once(s->loop, 0);
        if (n < 0)
            fz_fail("evloop_run_once");
        idle = moved || n > 0 ? 0 : idle + 1;
    }
}

/* SETTLE: the loop idle, then the oracles; the test closes the refused connections. */
static void settle_check(struct fz_ss *s)
{
    settle(s);
    ssm_check_counters(s);
    const char *why = ssm_stalled(s);
    /* Loopback delivers inside send() unless a busy kernel defers it to ksoftirqd: up to
     * 200 ms more before a stall counts. */
    for (int i = 0; why && i < 100; i++) {
        evloop_run_once(s->loop, 2);
        settle(s);
        ssm_check_counters(s);
        why = ssm_stalled(s);
    }
    if (why)
        fz_fail("after the loop went idle: %s", why);
    for (unsigned i = 0; i < s->nc; i++) {
        struct conn *c = &s->c[i];
        if (c->st != C_REFUSED || c->fd < 0)
            continue;
        ssize_t n = recv(c->fd, scratch, 1, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && errno != ECONNRESET))
            fz_fail("a refused connection is still open");
        close_conn(c, true);
    }
}

/* --- operations --------------------------------------------------------------------------- */

NO_COVERAGE static void rx_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31u + (i >> 9));
}

static void op_write(struct fz_ss *s, struct fz_in *in)
{
    size_t n = fz_u16(in);
    if (n > in->n)
        n = in->n;
    struct conn *c = target(s, false);
    if (c && s->wbytes + n <= BYTES_MAX)
        ssm_buf_add(&c->out, in->p, n), s->wbytes += n;
    in->p += n, in->n -= n;
}

/* A frame with any length field, written whole or in pieces with the loop run after each. */
static void op_frame(struct fz_ss *s, struct fz_in *in)
{
    uint32_t len = pick_len(fz_u8(in), in);
    uint8_t seed = fz_u8(in), split = fz_u8(in);
    size_t n = 4 + (len <= NETDEV_MAX_FRAME + 1 ? len : 16);
    struct conn *c = target(s, false);
    if (!c || s->wbytes + n > BYTES_MAX)
        return;
    s->wbytes += n;
    uint8_t *f = malloc(n);
    if (!f)
        fz_fail("out of memory");
    f[0] = (uint8_t)(len >> 24), f[1] = (uint8_t)(len >> 16), f[2] = (uint8_t)(len >> 8);
    f[3] = (uint8_t)len;
    rx_pattern(f + 4, n - 4, seed);
    size_t piece = split ? split : n;
    if ((n + piece - 1) / piece > 64)
        piece = (n + 63) / 64;
    for (size_t off = 0; off < n; off += piece) {
        ssm_buf_add(&c->out, f + off, n - off < piece ? n - off : piece);
        pump(s, 1);
    }
    free(f);
}

/* A frame of len bytes for the NIC to send, in pieces (each its own allocation). */
static int nic_send(struct fz_ss *s, uint32_t len, uint8_t split)
{
    struct iovec iov[2 * MAXPIECES];
    int pieces = 1 + split % MAXPIECES, n = 0;
    uint32_t seq = s->seq++, off = 0;
    for (int i = 0; i < pieces; i++) {
        uint32_t k = len / (uint32_t)pieces + (i < (int)(len % (uint32_t)pieces));
        uint8_t *p = malloc(k ? k : 1);
        if (!p)
            fz_fail("out of memory");
        ssm_tx_fill(p, seq, off, k);
        iov[n++] = (struct iovec){p, k};
        off += k;
        if (split & 0x80) /* an empty piece between */
            iov[n++] = (struct iovec){p, 0};
    }
    int rc = netdev_send(s->nd, &zero_hdr, iov, n, len);
    for (int i = 0; i < n; i += split & 0x80 ? 2 : 1)
        free(iov[i].iov_base);
    if (rc == 0) {
        if (s->cur < 0)
            fz_fail("netdev_send took a frame with no peer connected");
        struct conn *c = &s->c[s->cur];
        if (c->ntx == c->captx) {
            c->captx = c->captx * 2 + 16;
            c->tx = realloc(c->tx, c->captx * sizeof(*c->tx));
            if (!c->tx)
                fz_fail("out of memory");
        }
        c->tx[c->ntx++] = (struct txf){seq, len};
        s->sent++;
    } else if (rc == -ENETDOWN && s->cur < 0) {
        s->drop_down++;
    } else if (rc == -EINVAL && (len < 14 || len > NETDEV_MAX_FRAME)) {
        s->drop_bad++;
    } else {
        fz_fail("netdev_send of %u bytes: %d", len, rc);
    }
    return rc;
}

static void op_send(struct fz_ss *s, struct fz_in *in)
{
    uint32_t len = pick_len(fz_u8(in), in);
    uint8_t split = fz_u8(in), count = 1 + fz_u8(in) % 16;
    if (len > NETDEV_MAX_FRAME + 1)
        len = NETDEV_MAX_FRAME + 1;
    for (uint8_t i = 0; i < count && netdev_can_send(s->nd) && s->tbytes + len <= BYTES_MAX; i++) {
        s->tbytes += len;
        nic_send(s, len, split);
    }
}

static void op_close(struct fz_ss *s, uint8_t how)
{
    struct conn *c = target(s, true);
    if (!c)
        return;
    if (how % 3 == 2 && c->shut == S_OPEN) {
        flush_out(s); /* what is left goes now or never */
        c->out.n = 0;
        shutdown(c->fd, SHUT_WR);
        c->shut = S_HALF;
    } else {
        close_conn(c, how % 3 == 1);
    }
}

static void step(void *ctx, struct fz_in *in, uint8_t op)
{
    struct fz_ss *s = ctx;
    switch (op % 10) {
    case 0: op_write(s, in); break;
    case 1: op_frame(s, in); break;
    case 2: pump(s, 1 + fz_u8(in) % 8); break;
    case 3: settle_check(s); break;
    case 4: {
        uint8_t v = fz_u8(in);
        s->refuse = v & 1;
        if (v & 2)
            netdev_rx_ready(s->nd);
        break;
    }
    case 5: op_send(s, in); break;
    case 6: s->reading = fz_u8(in) & 1; break;
    case 7: op_close(s, fz_u8(in)); break;
    case 8: peer_connect(s, fz_u8(in)); break;
    default: pump(s, 1); break;
    }
    flush_out(s);
    if (s->reading)
        drain(s);
    ssm_check_counters(s);
}

/* --- set-up ------------------------------------------------------------------------------- */

/* A listening socket of the test's on 127.0.0.1 with peer_sockopts(sel); its port in *port
 * (0: any). */
static int tcp_listener(int *port, int sel)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (fd >= 0)
        peer_sockopts(fd, (uint8_t)sel);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        fz_fail("cannot listen on 127.0.0.1: %s", strerror(errno));
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct netdev *make_netdev(struct evloop *loop, const char *mode, int port, char *err,
                                  size_t errlen)
{
    char spec[128];
    snprintf(spec, sizeof(spec), "socket,id=ss,%s=127.0.0.1:%d", mode, port);
    struct opts *o = opts_parse(spec, "type", err, errlen);
    if (!o)
        fz_fail("opts_parse: %s", err);
    struct netdev *nd = netdev_create(loop, o, err, errlen);
    opts_free(o);
    return nd;
}

/* listen= on the port picked once per process (another one if it was taken meanwhile), or
 * connect= to a new listener of the test's. */
static void open_backend(struct fz_ss *s, uint8_t flags)
{
    static int port;
    char err[256] = "";
    s->connect_mode = flags & 1;
    if (s->connect_mode) {
        int p = 0;
        s->lfd = tcp_listener(&p, (flags >> 1) & 3);
        s->nd = make_netdev(s->loop, "connect", p, err, sizeof(err));
    }
    for (int i = 0; !s->connect_mode && !s->nd && i < 8; i++) {
        if (!port) {
            int fd = tcp_listener(&port, 0);
            close(fd);
        }
        s->nd = make_netdev(s->loop, "listen", port, err, sizeof(err));
        s->port = port;
        if (!s->nd)
            port = 0;
    }
    if (!s->nd || netdev_attach(s->nd, "fuzz-nic", &ssm_nic_ops, s) < 0)
        fz_fail("socket netdev: %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    static struct fz_ss s;
    memset(&s, 0, sizeof(s));
    s.cur = -1, s.lfd = -1;
    fz_op_begin();
    s.loop = evloop_create();
    if (!s.loop)
        fz_fail("evloop_create");
    open_backend(&s, fz_u8(&in));
    fz_run_ops(&in, step, &s);
    fz_op_begin();
    settle_check(&s);
    if (getenv("FZ_VERBOSE")) {
        fprintf(stderr,
                "connections %u accepted %llu refused %llu made %llu protocol errors %llu "
                "nic rx %llu queued %llu short %llu tx %llu eagain %llu stalls %lld\n",
                s.nc, (unsigned long long)s.accepted, (unsigned long long)s.refused,
                (unsigned long long)s.made, (unsigned long long)s.proto_errors,
                (unsigned long long)s.nic_rx, (unsigned long long)s.queued,
                (unsigned long long)s.rx_short, (unsigned long long)s.sent,
                (unsigned long long)netdev_get_stats(s.nd)->tx_eagain, ssm_stalls(&s));
    }
    for (unsigned i = 0; i < s.nc; i++) {
        close_conn(&s.c[i], true);
        free(s.c[i].w.p), free(s.c[i].out.p), free(s.c[i].tx);
    }
    netdev_destroy(s.nd);
    evloop_destroy(s.loop);
    if (s.lfd >= 0)
        close(s.lfd);
    return 0;
}
