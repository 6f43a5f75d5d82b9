/* net_bench_stream.c: net_bench's stream cases: -netdev stream over a unix socket, each frame
 * a 4-byte big-endian length and the frame (QEMU's and passt's framing). The stream netdev
 * (server=off) connects to a listener in a private temporary directory; a host-side thread on
 * CPU 1 holds the other end.
 *   tx: the fake NIC sends; the host-side reader checks every frame. The reference writev()s
 *       {length, frame} on a connected unix stream socket to the same reader.
 *   rx: the host-side writer writes framed frames as fast as it can; the backend delivers
 *       them to the fake NIC. The reference read()s the same byte stream and splits it.
 * Every frame's length and sequence number are checked where it arrives (for nicvm's rx by a
 * netdev observer, the hook a capture uses), and after each side every frame sent must have
 * arrived, so that a broken path cannot look fast. No root needed. */
#include "net_bench.h"

#include "net/offload.h"
#include "vmm/evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LEN_HDR  4                                  /* the big-endian length before a frame */
#define RBUF     (2 * (LEN_HDR + NETDEV_MAX_FRAME)) /* one read's room: as nicvm's backend */
#define CHUNK    (64u << 10)                        /* the rx writer's bytes per write() */
#define SEQ0     1u        /* the first sequence number on every connection */
#define SETTLE_S 3.0       /* the longest wait for the last frames of a side, or to connect */
#define UDP_SEQ  HDRS_UDP4 /* UDP frames: the sequence number opens the payload */
#define UDP_CSUM (ETH_HLEN + 20 + 6)
#define TCP_SEQ  (ETH_HLEN + 20 + 4) /* TCP frames and segments: the TCP sequence number */
#define TCP_CSUM (ETH_HLEN + 20 + 16)
#define PATH_LEN 64
#define NAP_US   50 /* the tx reader's pause after a short read, so that frames gather */

/* --- frames on the wire and their check ---------------------------------------------------- */

/* What every frame of a connection must be: len bytes of IPv4 with the sequence number `next`
 * at seq_off, which then grows by step. */
struct stream_check {
    size_t len, seq_off;
    uint32_t next, step;
    uint64_t frames; /* checked so far */
    char bad[160];   /* the first frame that was not as expected; "" while none */
};

/* check_frame: whether the frame (len bytes; head: its first hlen bytes) is the one c expects
 * next; counts it, or records why not. */
static bool check_frame(struct stream_check *c, const uint8_t *head, size_t hlen, size_t len)
{
    unsigned long long n = c->frames + 1;
    if (len != c->len)
        snprintf(c->bad, sizeof(c->bad), "frame %llu: %zu bytes, %zu expected", n, len, c->len);
    else if (hlen < c->seq_off + 4 || head[12] != ETH_P_IP >> 8 || head[13] != (ETH_P_IP & 255))
        snprintf(c->bad, sizeof(c->bad), "frame %llu: not the IPv4 frame sent", n);
    else if (nb_get32(head + c->seq_off) != c->next)
        snprintf(c->bad, sizeof(c->bad), "frame %llu: sequence number %u, %u expected", n,
                 nb_get32(head + c->seq_off), c->next);
    else {
        c->next += c->step;
        c->frames++;
        return true;
    }
    return false;
}

/* A framed byte stream being read: buf[0..have) was read and not yet parsed (less than one
 * whole frame after each parse), and each whole frame goes through chk. */
struct stream_in {
    int fd;
    uint8_t *buf; /* RBUF bytes */
    size_t have;
    struct stream_check chk;
};

/* stream_in_parse: checks the whole frames in buf and moves the rest to its start. Returns 0,
 * or -EPROTO at the first frame that was not as expected (chk.bad says why). */
static int stream_in_parse(struct stream_in *in)
{
    size_t off = 0;
    while (in->have - off >= LEN_HDR) {
        uint32_t len = nb_get32(in->buf + off);
        bool whole = in->have - off >= LEN_HDR + len;
        if (!whole && len == in->chk.len)
            break; /* the rest comes with the next read; a wrong length fails now */
        if (!check_frame(&in->chk, in->buf + off + LEN_HDR, whole ? len : 0, len))
            return -EPROTO;
        off += LEN_HDR + len;
    }
    memmove(in->buf, in->buf + off, in->have - off);
    in->have -= off;
    return 0;
}

/* stream_in_read: one read() into the free part of buf, then the whole frames checked.
 * Returns the bytes read, 0 at the end of the stream, or -errno (-EPROTO: a wrong frame). */
static ssize_t stream_in_read(struct stream_in *in)
{
    ssize_t n = read(in->fd, in->buf + in->have, RBUF - in->have);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    in->have += (size_t)n;
    int rc = stream_in_parse(in);
    return rc < 0 ? rc : n;
}

static void set_timeout(int fd, int opt)
{
    struct timeval tv = {0, WAIT_MS * 1000};
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* --- a case's setup: its frame, its directory and listener -------------------------------- */

/* One frame as the reference writes it: its length, then its bytes, in one writev(). */
struct wire {
    uint8_t len_be[LEN_HDR];
    uint8_t *frame;
    struct iovec v[MAX_PIECES + 1];
    int n;
    size_t total;
};

/* What both sides of a stream case share. */
struct stream_case {
    char dir[PATH_LEN];      /* the private directory */
    struct sockaddr_un addr; /* the listener's socket in it */
    int lfd;
    struct frame *f;           /* what the fake NIC sends, or (rx) each frame written */
    size_t f_csum;             /* the checksum that covers f's sequence number, or 0 */
    uint32_t f_step;           /* f's sequence number per frame: 1, or GSO_PAYLOAD */
    struct stream_check proto; /* what arrives on a new connection */
    struct wire w[GSO_SEGS];   /* tx: what the reference writes per frame: f, or its segments */
    int nw;
    size_t w_csum;   /* the checksum that covers the sequence number in w's frames */
    uint8_t *segs;   /* tx 64 KiB: the segments' bytes */
    unsigned wire_n; /* frames on the wire per frame sent: 1, or GSO_SEGS */
};

static void wire_set(struct wire *w, uint8_t *frame, const struct iovec *iov, int iovcnt,
                     size_t len)
{
    nb_put32(w->len_be, (uint32_t)len);
    w->frame = frame;
    w->v[0] = (struct iovec){w->len_be, LEN_HDR};
    memcpy(&w->v[1], iov, (size_t)iovcnt * sizeof(*iov));
    w->n = 1 + iovcnt;
    w->total = LEN_HDR + len;
}

static int collect_segment(void *opaque, const uint8_t *frame, size_t len)
{
    struct stream_case *sc = opaque;
    uint8_t *dst = sc->segs + (size_t)sc->nw * (HDRS_TCP4 + GSO_MSS);
    if (sc->nw == GSO_SEGS || len != HDRS_TCP4 + GSO_MSS)
        return 1;
    memcpy(dst, frame, len);
    wire_set(&sc->w[sc->nw++], dst, &(struct iovec){dst, len}, 1, len);
    return 0;
}

/* case_frames: the case's frame, the check of what arrives and the reference's writes: a UDP
 * frame (its first 4 payload bytes the sequence number), or for 64 KiB a TCP GSO frame that
 * the layer segments (the stream has no vnet header), whose segments the reference writes,
 * computed here once by net/offload.c as the layer computes them. */
static int case_frames(struct stream_case *sc, const struct bcase *c)
{
    struct frame *f = sc->f;
    struct flow fl = {other_mac, guest_mac, TAP_GUEST_IP, TAP_HOST_IP, GUEST_PORT, DISCARD_PORT};
    if (c->rx) /* host -> guest; nothing routes these addresses, they only make frames real */
        fl = (struct flow){guest_mac,    other_mac,    TAP_HOST_IP,
                           TAP_GUEST_IP, DISCARD_PORT, GUEST_PORT};
    if (c->size != SIZE_GSO) {
        frame_udp(f, &fl, nb_frame_len(c->size));
        sc->proto = (struct stream_check){f->len, UDP_SEQ, SEQ0, 1, 0, ""};
        sc->f_csum = sc->w_csum = UDP_CSUM;
        sc->f_step = sc->wire_n = 1;
        wire_set(&sc->w[0], f->buf, f->iov, f->iovcnt, f->len);
        sc->nw = 1;
        return 0;
    }
    fl.dport = SINK_PORT;
    struct tcp_fields tf = {SEQ0, 1, TCPFL_ACK | TCPFL_PSH, 0xffff, NULL, 0, GSO_PAYLOAD};
    frame_tcp(f, &fl, &tf);
    sc->proto = (struct stream_check){HDRS_TCP4 + GSO_MSS, TCP_SEQ, SEQ0, GSO_MSS, 0, ""};
    sc->f_csum = 0; /* a GSO frame's checksum field holds the pseudo-header sum only */
    sc->w_csum = TCP_CSUM;
    sc->f_step = GSO_PAYLOAD;
    sc->wire_n = GSO_SEGS;
    uint8_t *scratch = malloc(65536 + 128);
    sc->segs = malloc((size_t)GSO_SEGS * (HDRS_TCP4 + GSO_MSS));
    int n = scratch && sc->segs
                ? offload_segment(&f->hdr, f->buf, f->len, scratch, collect_segment, sc)
                : -ENOMEM;
    free(scratch);
    return n < 0 ? n : n == GSO_SEGS ? 0 : -EINVAL;
}

/* case_listen: the private directory (mkdtemp, mode 0700) and the listener in it. */
static int case_listen(struct stream_case *sc)
{
    snprintf(sc->dir, sizeof(sc->dir), "/tmp/nicvm-bench-stream-XXXXXX");
    if (!mkdtemp(sc->dir)) {
        sc->dir[0] = 0;
        return -errno;
    }
    sc->addr.sun_family = AF_UNIX;
    snprintf(sc->addr.sun_path, sizeof(sc->addr.sun_path), "%s/peer.sock", sc->dir);
    sc->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sc->lfd < 0 || bind(sc->lfd, (struct sockaddr *)&sc->addr, sizeof(sc->addr)) < 0 ||
        listen(sc->lfd, 4) < 0)
        return -errno;
    return 0;
}

static void case_close(struct stream_case *sc)
{
    if (!sc)
        return;
    if (sc->lfd >= 0)
        close(sc->lfd);
    if (sc->dir[0]) {
        unlink(sc->addr.sun_path);
        rmdir(sc->dir);
    }
    frame_free(sc->f);
    free(sc->segs);
    free(sc);
}

/* case_open: everything both sides of case c share, or NULL with r's error set. */
static struct stream_case *case_open(const struct bcase *c, struct result *r)
{
    struct stream_case *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        nb_set_error(r, "out of memory");
        return NULL;
    }
    sc->lfd = -1;
    sc->f = frame_new();
    int rc = case_frames(sc, c);
    if (rc < 0)
        nb_set_error(r, "cannot build the frames: %s", strerror(-rc));
    else if ((rc = case_listen(sc)) < 0)
        nb_set_error(r, "cannot listen in %s: %s", sc->dir[0] ? sc->dir : "/tmp", strerror(-rc));
    if (rc < 0) {
        case_close(sc);
        return NULL;
    }
    r->frame_bytes = sc->f->len;
    return sc;
}

/* --- the host-side threads ---------------------------------------------------------------- */

/* A host-side thread on one connection: the tx reader or the rx writer. g.count counts
 * frames (read and checked, or written whole), g.err holds the first failure, gen_stop()
 * aborts it, joins it and closes g.fd. */
struct peer {
    struct gen g;
    atomic_bool finish; /* the writer: end after this chunk and shut the write side */
    atomic_bool done;   /* the thread has ended */
    struct stream_in in;
    uint8_t *chunk; /* the writer's frames, each behind its length */
    size_t chunk_frames, framed;
};

/* reader_main: reads and checks frames until the end of the stream, an error or a stop. After
 * a short read it pauses NAP_US (far less than the socket buffer holds) so that frames gather
 * and the sender, not this thread's wake-up per frame, sets the pace, as with a busy peer. */
static void *reader_main(void *arg)
{
    struct peer *p = arg;
    nb_pin_cpu(1); /* the measured thread has CPU 0 */
    set_timeout(p->g.fd, SO_RCVTIMEO);
    while (!(g_stop || atomic_load(&p->g.stop))) {
        ssize_t n = stream_in_read(&p->in);
        if (n > 0) {
            atomic_store(&p->g.count, p->in.chk.frames);
            if ((size_t)n < RBUF / 4)
                usleep(NAP_US);
        } else if (n == 0 || (n != -EAGAIN && n != -EINTR)) {
            atomic_store(&p->g.err, n ? (int)-n : 0);
            break;
        }
    }
    atomic_store(&p->done, true);
    return NULL;
}

/* writer_main: writes chunks of framed frames, each with the next sequence number, until
 * finish (the write side is then shut: the reader sees the end of the stream) or a stop. The
 * frames carry no UDP checksum (0, valid for IPv4), so the stamp is one store and the writer
 * outpaces the reader being measured. */
static void *writer_main(void *arg)
{
    struct peer *p = arg;
    uint32_t seq = SEQ0;
    struct iovec v = {p->chunk, p->chunk_frames * p->framed};
    nb_pin_cpu(1);
    set_timeout(p->g.fd, SO_SNDTIMEO);
    while (!(g_stop || atomic_load(&p->g.stop)) && !atomic_load(&p->finish)) {
        for (size_t i = 0; i < p->chunk_frames; i++)
            nb_put32(p->chunk + i * p->framed + LEN_HDR + UDP_SEQ, seq++);
        int rc = nb_writev_all(p->g.fd, &v, 1, v.iov_len, &p->g.stop);
        if (rc < 0) {
            atomic_store(&p->g.err, rc == -EINTR ? 0 : -rc);
            break;
        }
        atomic_fetch_add(&p->g.count, p->chunk_frames);
    }
    if (!(g_stop || atomic_load(&p->g.stop)) && atomic_load(&p->finish))
        shutdown(p->g.fd, SHUT_WR);
    atomic_store(&p->done, true);
    return NULL;
}

/* peer_start: the reader (rx false) or the writer on fd, which it owns from now on. Returns
 * 0 or -errno (fd closed). */
static int peer_start(struct peer *p, const struct stream_case *sc, bool rx, int fd)
{
    memset(p, 0, sizeof(*p));
    p->g.fd = fd;
    p->in = (struct stream_in){fd, rx ? NULL : malloc(RBUF), 0, sc->proto};
    p->framed = LEN_HDR + sc->f->len;
    p->chunk_frames = CHUNK / p->framed ? CHUNK / p->framed : 1;
    p->chunk = rx ? malloc(p->chunk_frames * p->framed) : NULL;
    int rc = (rx ? p->chunk : p->in.buf) ? 0 : ENOMEM;
    for (size_t i = 0; rx && p->chunk && i < p->chunk_frames; i++) {
        nb_put32(p->chunk + i * p->framed, (uint32_t)sc->f->len);
        memcpy(p->chunk + i * p->framed + LEN_HDR, sc->f->buf, sc->f->len);
        nb_put16(p->chunk + i * p->framed + LEN_HDR + UDP_CSUM, 0); /* see writer_main */
    }
    if (rc == 0)
        rc = pthread_create(&p->g.th, NULL, rx ? writer_main : reader_main, p);
    p->g.started = rc == 0;
    return -rc;
}

static void peer_stop(struct peer *p)
{
    gen_stop(&p->g);
    free(p->in.buf);
    free(p->chunk);
    p->in.buf = p->chunk = NULL;
}

/* peer_failed: the peer's failure as r's error (who: "nicvm" or "reference"); -errno or 0. */
static int peer_failed(struct peer *p, struct result *r, const char *who)
{
    int err = atomic_load(&p->g.err);
    if (err == EPROTO)
        nb_set_error(r, "%s: host side: %s", who, p->in.chk.bad);
    else if (err)
        nb_set_error(r, "%s: host side: %s", who, strerror(err));
    return -err;
}

/* --- connections ----------------------------------------------------------------------- */

/* nic_connect: the fake NIC on a stream netdev (server=off, as QEMU is to passt) connected to
 * sc's listener; the accepted end in *fd. Returns 0, or -1 with r's error set. */
static int nic_connect(struct stream_case *sc, struct fake_nic *nic, int *fd, struct result *r)
{
    char spec[160];
    snprintf(spec, sizeof(spec), "stream,id=s0,server=off,addr.type=unix,addr.path=%s",
             sc->addr.sun_path);
    *fd = -1;
    if (nic_open(nic, spec, r) < 0)
        return -1;
    uint64_t end = evloop_now_ns() + bench_ns(SETTLE_S);
    while ((*fd < 0 || !netdev_link_up(nic->nd)) && !g_stop && evloop_now_ns() < end) {
        evloop_run_once(nic->loop, 10);
        if (*fd < 0)
            *fd = accept4(sc->lfd, NULL, NULL, SOCK_CLOEXEC);
    }
    if (*fd >= 0 && netdev_link_up(nic->nd))
        return 0;
    nb_set_error(r, "nicvm: the stream netdev did not connect to %s", sc->addr.sun_path);
    if (*fd >= 0)
        close(*fd);
    nic_close(nic);
    return -1;
}

/* ref_connect: the reference's socket (non-blocking when asked) connected to sc's listener,
 * the accepted end in *acc. Returns the socket, or -errno. */
static int ref_connect(struct stream_case *sc, bool nonblock, int *acc)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    *acc = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sc->addr, sizeof(sc->addr)) == 0 &&
        (*acc = accept4(sc->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        set_timeout(fd, SO_SNDTIMEO);
        return fd;
    }
    int err = errno;
    if (fd >= 0)
        close(fd);
    return -err;
}

/* --- one side of a case ------------------------------------------------------------------ */

/* One side of a case: nicvm (nx.nic set) or the reference, with its host-side thread. */
struct stream_side {
    struct stream_case *sc;
    bool rx;
    struct nic_rx nx;    /* nicvm: the fake NIC; rx: the writer, as nic_rx_step wants them */
    struct stream_in in; /* the reference's socket (rx: and its buffer); rx: the check */
    struct peer peer;    /* the tx reader or the rx writer */
    struct result *r;
    const char *who;
    uint32_t seq;           /* tx: the next frame's sequence number */
    uint64_t frames, bytes; /* the reference's tx */
};

/* tx_one: the next frame, with its sequence number, through the layer or with writev(). */
static int tx_one(struct stream_side *t)
{
    struct stream_case *sc = t->sc;
    if (t->nx.nic) {
        nb_put_seq(sc->f->buf, sc->proto.seq_off, sc->f_csum, t->seq);
        t->seq += sc->f_step;
        return nic_send(t->nx.nic, sc->f);
    }
    for (int i = 0; i < sc->nw; i++) {
        nb_put_seq(sc->w[i].frame, sc->proto.seq_off, sc->w_csum, t->seq + i * sc->proto.step);
        int rc = nb_writev_all(t->in.fd, sc->w[i].v, sc->w[i].n, sc->w[i].total, &t->peer.g.stop);
        if (rc < 0)
            return rc == -EINTR ? 0 : rc; /* stopped: the frame is not counted */
    }
    t->seq += sc->f_step;
    t->frames++;
    t->bytes += sc->f->len;
    return 0;
}

/* tx_step: BATCH frames (nicvm: while the layer takes them, then back to the loop, as a NIC
 * after a TX queue kick, and there until tx_ready when the backend pushed back). */
static int tx_step(void *ctx)
{
    struct stream_side *t = ctx;
    struct fake_nic *nic = t->nx.nic;
    int rc = 0;
    for (int i = 0; i < BATCH && rc == 0 && !g_stop && (!nic || netdev_can_send(nic->nd)); i++)
        rc = tx_one(t);
    if (rc == 0 && nic)
        rc = evloop_run_once(nic->loop, netdev_can_send(nic->nd) ? 0 : WAIT_MS);
    if (rc >= 0)
        rc = peer_failed(&t->peer, t->r, t->who);
    return rc < 0 ? rc : 0;
}

static void tx_count(void *ctx, uint64_t c[3])
{
    struct stream_side *t = ctx;
    c[0] = t->nx.nic ? t->nx.nic->tx_frames : t->frames;
    c[1] = t->nx.nic ? t->nx.nic->tx_bytes : t->bytes;
    c[2] = atomic_load(&t->peer.g.count);
}

/* tx_settle: waits (nicvm's loop running, to flush what the backend holds) until the reader
 * has checked every frame sent; a shortfall is r's error. */
static void tx_settle(struct stream_side *t)
{
    uint64_t c[3], end = evloop_now_ns() + bench_ns(SETTLE_S);
    tx_count(t, c);
    uint64_t want = c[0] * t->sc->wire_n;
    while (atomic_load(&t->peer.g.count) < want && !atomic_load(&t->peer.done) && !g_stop &&
           evloop_now_ns() < end) {
        if (t->nx.nic)
            evloop_run_once(t->nx.nic->loop, 10);
        else
            usleep(1000);
    }
    uint64_t got = atomic_load(&t->peer.g.count);
    if (!g_stop && peer_failed(&t->peer, t->r, t->who) == 0 && got != want)
        nb_set_error(t->r, "%s: %llu frames on the wire, the host side checked %llu", t->who,
                     (unsigned long long)want, (unsigned long long)got);
}

/* rx_observe: nicvm's check, as a netdev observer: every frame the fake NIC took (in one
 * piece: the backend delivers from its buffer). */
static void rx_observe(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    (void)hdr;
    if (dir == NETDEV_RX)
        check_frame(opaque, iovcnt ? iov[0].iov_base : NULL, iovcnt ? iov[0].iov_len : 0, len);
}

/* rx_read: the reference: read() until EAGAIN (at most BATCH), then poll(). */
static int rx_read(struct stream_side *x)
{
    ssize_t n = 1;
    for (int i = 0; i < BATCH && n > 0; i++)
        n = stream_in_read(&x->in);
    if (n == -EAGAIN)
        nb_wait_fd(x->in.fd, POLLIN);
    return n == 0 ? -ECONNRESET : n < 0 && n != -EAGAIN && n != -EINTR ? (int)n : 0;
}

static int rx_step(void *ctx)
{
    struct stream_side *x = ctx;
    int rc = x->nx.nic ? nic_rx_step(&x->nx) : rx_read(x);
    if (rc == 0 && peer_failed(&x->peer, x->r, x->who) < 0)
        return -EIO;
    if (x->in.chk.bad[0]) {
        nb_set_error(x->r, "%s: %s", x->who, x->in.chk.bad);
        return -EPROTO;
    }
    return rc;
}

static void rx_count(void *ctx, uint64_t c[3])
{
    struct stream_side *x = ctx;
    if (x->nx.nic) {
        nic_rx_count(&x->nx, c);
        return;
    }
    c[0] = x->in.chk.frames;
    c[1] = x->in.chk.frames * x->in.chk.len;
    c[2] = atomic_load(&x->peer.g.count);
}

/* rx_drain: the rest of the stream after the writer finished: nicvm's loop runs until the
 * backend saw the end (its link goes down), the reference reads until EOF. Returns whether
 * the end was reached within SETTLE_S. */
static bool rx_drain(struct stream_side *x)
{
    struct fake_nic *nic = x->nx.nic;
    uint64_t end = evloop_now_ns() + bench_ns(SETTLE_S);
    while (!g_stop && !x->in.chk.bad[0] && evloop_now_ns() < end) {
        if (nic) {
            evloop_run_once(nic->loop, 10);
            if (atomic_load(&x->peer.done) && !netdev_link_up(nic->nd))
                return true;
            continue;
        }
        ssize_t n = stream_in_read(&x->in);
        if (n == 0)
            return true;
        if (n == -EAGAIN)
            nb_wait_fd(x->in.fd, POLLIN);
        else if (n < 0 && n != -EINTR)
            break;
    }
    return false;
}

/* rx_settle: the writer ends after its chunk and shuts its side, the rest is read, and then
 * every frame written must have arrived, checked. */
static void rx_settle(struct stream_side *x)
{
    atomic_store(&x->peer.finish, true);
    bool eof = rx_drain(x);
    uint64_t sent = atomic_load(&x->peer.g.count), got = x->in.chk.frames;
    if (g_stop || peer_failed(&x->peer, x->r, x->who) < 0)
        return;
    if (x->in.chk.bad[0])
        nb_set_error(x->r, "%s: %s", x->who, x->in.chk.bad);
    else if (!eof || got != sent || (x->nx.nic && x->nx.nic->rx_frames != got))
        nb_set_error(x->r, "%s: %llu frames written, %llu arrived and checked%s", x->who,
                     (unsigned long long)sent, (unsigned long long)got,
                     eof ? "" : ", no end of stream");
}

/* side_run: one side, the host-side thread on the accepted end acc (closed here), into m. */
static void side_run(struct stream_side *s, int acc, struct meas *m)
{
    int rc = peer_start(&s->peer, s->sc, s->rx, acc);
    s->nx.gen = &s->peer.g;
    if (rc < 0) {
        nb_set_error(s->r, "%s: host side: %s", s->who, strerror(-rc));
    } else {
        struct side sd = {s->rx ? rx_step : tx_step, s->rx ? rx_count : tx_count, s};
        nb_side_run(&sd, m, s->r, s->who);
        if (!s->r->error[0] && s->rx)
            rx_settle(s);
        else if (!s->r->error[0])
            tx_settle(s);
    }
    peer_stop(&s->peer);
}

static void side_nicvm(struct case_ctx *x)
{
    struct fake_nic nic;
    struct stream_side s = {.sc = x->stream, .rx = x->c->rx, .nx = {&nic, NULL}, .r = x->r};
    struct netdev_observer obs = {rx_observe, &s.in.chk};
    int acc;
    s.in = (struct stream_in){-1, NULL, 0, x->stream->proto};
    s.who = "nicvm";
    s.seq = SEQ0;
    if (nic_connect(x->stream, &nic, &acc, x->r) < 0)
        return;
    if (s.rx && netdev_add_observer(nic.nd, &obs) < 0) {
        nb_set_error(x->r, "nicvm: cannot add the observer");
        close(acc);
    } else {
        side_run(&s, acc, &x->r->nic);
    }
    x->r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void side_ref(struct case_ctx *x)
{
    struct stream_side s = {.sc = x->stream, .rx = x->c->rx, .r = x->r, .who = "reference"};
    int acc;
    s.in = (struct stream_in){ref_connect(x->stream, s.rx, &acc), s.rx ? malloc(RBUF) : NULL, 0,
                              x->stream->proto};
    s.seq = SEQ0;
    if (s.in.fd < 0 || (s.rx && !s.in.buf)) {
        nb_set_error(x->r, "reference: %s", strerror(s.in.fd < 0 ? -s.in.fd : ENOMEM));
        if (acc >= 0)
            close(acc);
    } else {
        side_run(&s, acc, &x->r->ref);
    }
    if (s.in.fd >= 0)
        close(s.in.fd);
    free(s.in.buf);
}

void case_stream(const struct bcase *c, struct result *r)
{
    struct stream_case *sc = case_open(c, r);
    struct case_ctx x = {.c = c, .r = r, .stream = sc};
    r->aux_name = c->rx ? "gen_pps" : "delivered_pps";
    if (sc)
        nb_run_rounds(&x, side_nicvm, side_ref);
    case_close(sc);
}
