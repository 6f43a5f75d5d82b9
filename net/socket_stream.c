/* The stream mode of the socket backends: QEMU's -netdev socket,listen= and connect= (QEMU
 * net/socket.c, net_socket_receive and net_socket_send) and -netdev stream (net/stream.c,
 * TCP or unix sockets): one connection to one peer, each frame a 4-byte big-endian length
 * followed by that many bytes of Ethernet frame, without a virtio-net header. passt speaks
 * the same framing on its unix socket. The link is up while a peer is connected.
 *   listen (listen=, server=on)  one peer at a time: a connection that arrives while a peer
 *                       is connected is accepted and closed at once (that peer reads EOF);
 *                       when the peer leaves, the next connection is taken.
 *   connect (connect=, server=off)  starts with the link down and makes a non-blocking
 *                       connect() now and then once a second until a peer listens, and again
 *                       after the peer leaves, so start order does not matter (QEMU 7.2 fails
 *                       instead; QEMU 8's reconnect= is the same idea).
 * A length of 0 or above NETDEV_MAX_FRAME is a protocol error that closes the connection. All
 * I/O is non-blocking and bounded per callback; retries are timers. */
#define _GNU_SOURCE /* accept4 */
#include "net/socket_int.h"
#include "vmm/log.h"
#include "vmm/unix_path.h"
#include "vmm/iov.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_HDR           4 /* the big-endian frame length */
#define STREAM_RBUF          (2 * (STREAM_HDR + NETDEV_MAX_FRAME))
#define STREAM_READ_BUDGET   (256u << 10)  /* bytes read per callback */
#define STREAM_ACCEPT_BUDGET 16            /* connections accepted per callback */
#define STREAM_MAX_IOV       64            /* frames in more pieces are copied first */
#define STREAM_RETRY_NS      1000000000ull /* connect=: one attempt a second by default */
#define STREAM_BACKLOG       4

enum ss_state { SS_IDLE, SS_CONNECTING, SS_CONNECTED };

struct sockstream {
    struct netdev *nd;
    struct evloop *loop;
    bool listen_mode;
    int lfd; /* listen=: the listening socket */
    int fd;  /* the connection, or connect=: the connect() in progress; -1 */
    enum ss_state state;
    uint32_t events;                /* what fd is watched for */
    bool rx_paused;                 /* the NIC has no room: deliver nothing until rx_resume */
    bool tx_blocked;                /* send() returned -EAGAIN: netdev_backend_writable() is owed */
    bool down_pending;              /* send() lost the connection: link down from the loop */
    struct sockaddr_any addr, peer; /* listen= / connect= address; the peer's */
    bool unlink_addr;               /* addr is a unix path this listener created */
    struct evloop_timer *retry;     /* connect=: the next attempt; listen=: accept again */
    uint64_t retry_ns;              /* connect=: between attempts */
    struct evloop_timer *soon;      /* work deferred out of send() and rx_resume() */
    struct log_ratelimit rl;
    uint64_t accepted, refused, connects, attempts, proto_errors, tx_stalls;
    size_t rstart, rend; /* bytes received, not yet delivered: rbuf[rstart..rend) */
    size_t tpos, tlen;   /* the unsent rest of a frame: tbuf[tpos..tlen) */
    uint8_t tbuf[STREAM_HDR + NETDEV_MAX_FRAME];
    uint8_t rbuf[STREAM_RBUF];
};

static const char *ss_id(const struct sockstream *ss)
{
    return netdev_id(ss->nd);
}

/* Watches fd for what the state asks: the end of a connect(), or input unless paused and
 * output while a frame waits. */
static void ss_set_events(struct sockstream *ss)
{
    uint32_t want = EPOLLOUT;
    if (ss->state == SS_CONNECTED)
        want =
            (ss->rx_paused ? 0 : EPOLLIN) | (ss->tlen > ss->tpos || ss->tx_blocked ? EPOLLOUT : 0);
    if (ss->fd >= 0 && want != ss->events) {
        ss->events = want;
        evloop_mod_fd(ss->loop, ss->fd, want);
    }
}

/* Releases the connection (or the connect in progress) and what it held; the link is the
 * caller's business. */
static void ss_drop_conn(struct sockstream *ss)
{
    if (ss->fd >= 0) {
        evloop_del_fd(ss->loop, ss->fd);
        close(ss->fd);
    }
    ss->fd = -1;
    ss->state = SS_IDLE;
    ss->rstart = ss->rend = 0;
    ss->tpos = ss->tlen = 0;
}

/* After a connection ended: link down, frames the layer queued for it dropped (send() says
 * -ENETDOWN), and connect= tries again in a second. */
static void ss_link_down(struct sockstream *ss)
{
    ss->down_pending = false;
    netdev_set_carrier(ss->nd, false);
    if (ss->tx_blocked) {
        ss->tx_blocked = false;
        netdev_backend_writable(ss->nd);
    }
    if (!ss->listen_mode)
        evloop_timer_arm(ss->retry, ss->retry_ns);
}

/* Ends the connection: why (a format's argument) goes to the log. */
static void ss_disconnect(struct sockstream *ss, const char *why)
{
    char peer[SOCKET_ADDR_STRLEN];
    log_ratelimited(&ss->rl, LOG_INFO, "netdev %s: connection with %s ended (%s): link down",
                    ss_id(ss), socket_addr_str(&ss->peer, peer, sizeof(peer)), why);
    ss_drop_conn(ss);
    ss_link_down(ss);
}

static void ss_on_conn(void *opaque, uint32_t events);

/* fd (watched already when registered) is connected to peer: link up. */
static void ss_connected(struct sockstream *ss, int fd, const struct sockaddr_any *peer,
                         bool registered)
{
    char name[SOCKET_ADDR_STRLEN];
    if (ss->down_pending)
        ss_link_down(ss);
    int one = 1;
    if (ss->addr.ss.ss_family != AF_UNIX) /* frames are packets */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ss->fd = fd;
    ss->peer = *peer;
    ss->state = SS_CONNECTED;
    if (!registered) {
        ss->events = ss->rx_paused ? 0 : EPOLLIN;
        if (evloop_add_fd(ss->loop, fd, ss->events, ss_on_conn, ss) < 0) {
            ss->fd = -1; /* not watched: drop it without evloop_del_fd */
            close(fd);
            ss->state = SS_IDLE;
            return;
        }
    }
    ss_set_events(ss);
    socket_addr_str(peer, name, sizeof(name));
    evloop_set_name(ss->loop, fd, "socket %s peer %s", ss_id(ss), name);
    log_ratelimited(&ss->rl, LOG_INFO, "netdev %s: connected with %s: link up", ss_id(ss), name);
    netdev_set_carrier(ss->nd, true);
}

/* --- receiving ------------------------------------------------------------------------ */

/* Delivers the whole frames in rbuf until the NIC is full. Returns 0, or the bad length
 * (a protocol error). */
static uint32_t ss_parse(struct sockstream *ss)
{
    while (!ss->rx_paused && ss->rend - ss->rstart >= STREAM_HDR) {
        const uint8_t *p = ss->rbuf + ss->rstart;
        uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (len == 0 || len > NETDEV_MAX_FRAME)
            return len ? len : UINT32_MAX;
        if (ss->rend - ss->rstart < STREAM_HDR + len)
            break;
        ss->rstart += STREAM_HDR + len;
        struct iovec iov = {(void *)(p + STREAM_HDR), len};
        if (!netdev_deliver(ss->nd, NULL, &iov, 1, len))
            ss->rx_paused = true; /* queued by the layer, which calls rx_pause */
    }
    if (ss->rstart == ss->rend)
        ss->rstart = ss->rend = 0;
    return 0;
}

static void ss_protocol_error(struct sockstream *ss, uint32_t len)
{
    char peer[SOCKET_ADDR_STRLEN];
    ss->proto_errors++;
    log_ratelimited(&ss->rl, LOG_WARN,
                    "netdev %s: %s sent a frame length of %u (1 to %u allowed): closing", ss_id(ss),
                    socket_addr_str(&ss->peer, peer, sizeof(peer)), len == UINT32_MAX ? 0 : len,
                    (unsigned)NETDEV_MAX_FRAME);
    ss_disconnect(ss, "protocol error");
}

/* Delivers what rbuf holds, then reads and delivers up to STREAM_READ_BUDGET bytes until
 * the socket is empty or the NIC is full. */
static void ss_rx(struct sockstream *ss)
{
    size_t budget = STREAM_READ_BUDGET;
    for (;;) {
        uint32_t bad = ss_parse(ss);
        if (bad) {
            ss_protocol_error(ss, bad);
            return;
        }
        if (ss->state != SS_CONNECTED || ss->rx_paused || budget == 0)
            return;
        if (ss->rstart) { /* less than one frame is left: room for a whole one */
            memmove(ss->rbuf, ss->rbuf + ss->rstart, ss->rend - ss->rstart);
            ss->rend -= ss->rstart;
            ss->rstart = 0;
        }
        size_t room = STREAM_RBUF - ss->rend;
        ssize_t n = recv(ss->fd, ss->rbuf + ss->rend, room < budget ? room : budget, 0);
        if (n > 0) {
            ss->rend += (size_t)n;
            budget -= (size_t)n;
        } else if (n == 0) {
            ss_disconnect(ss, "closed by the peer");
            return;
        } else {
            if (errno != EAGAIN && errno != EINTR)
                ss_disconnect(ss, strerror(errno));
            return;
        }
    }
}

/* --- sending -------------------------------------------------------------------------- */

/* v[0] = the length, then the frame's len bytes from iov. Returns the iovec count, -E2BIG
 * when more than cap are needed, -EINVAL when iov holds fewer than len bytes. */
static int ss_frame_iov(struct iovec *v, int cap, uint8_t *hdr, const struct iovec *iov, int iovcnt,
                        size_t len)
{
    hdr[0] = (uint8_t)(len >> 24), hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8), hdr[3] = (uint8_t)len;
    v[0] = (struct iovec){hdr, STREAM_HDR};
    int n = 1;
    size_t left = len;
    for (int i = 0; i < iovcnt && left; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (!take)
            continue;
        if (n == cap)
            return -E2BIG;
        v[n++] = (struct iovec){iov[i].iov_base, take};
        left -= take;
    }
    return left ? -EINVAL : n;
}

/* Keeps what sendmsg() did not take of v (sent bytes were) in tbuf. */
static void ss_keep_rest(struct sockstream *ss, const struct iovec *v, int vcnt, size_t sent)
{
    size_t out = 0;
    for (int i = 0; i < vcnt; i++) {
        if (sent >= v[i].iov_len) {
            sent -= v[i].iov_len;
            continue;
        }
        memmove(ss->tbuf + out, (const uint8_t *)v[i].iov_base + sent, v[i].iov_len - sent);
        out += v[i].iov_len - sent;
        sent = 0;
    }
    ss->tpos = 0;
    ss->tlen = out;
}

/* send() lost the connection: closed now; the link goes down from the loop, not under the
 * NIC's send. */
static void ss_send_failed(struct sockstream *ss, int err)
{
    char why[96];
    snprintf(why, sizeof(why), "send: %s", strerror(err));
    log_ratelimited(&ss->rl, LOG_INFO, "netdev %s: %s", ss_id(ss), why);
    ss_drop_conn(ss);
    ss->down_pending = true;
    evloop_timer_arm(ss->soon, 1);
}

int sockstream_send(struct sockstream *ss, const struct iovec *iov, int iovcnt, size_t len)
{
    if (ss->state != SS_CONNECTED)
        return -ENETDOWN;
    if (ss->tlen > ss->tpos || ss->tx_blocked) {
        ss->tx_blocked = true;
        ss_set_events(ss);
        return -EAGAIN;
    }
    struct iovec v[STREAM_MAX_IOV + 1];
    uint8_t hdr[STREAM_HDR];
    int vcnt = ss_frame_iov(v, STREAM_MAX_IOV + 1, hdr, iov, iovcnt, len);
    if (vcnt == -EINVAL || len > NETDEV_MAX_FRAME)
        return -EINVAL;
    if (vcnt < 0) { /* too many pieces: one copy in tbuf, free while nothing waits */
        memcpy(ss->tbuf, hdr, STREAM_HDR);
        size_t off = STREAM_HDR + iov_to_buf(iov, iovcnt, 0, ss->tbuf + STREAM_HDR, len);
        if (off != STREAM_HDR + len)
            return -EINVAL;
        v[0] = (struct iovec){ss->tbuf, off};
        vcnt = 1;
    }
    struct msghdr msg = {.msg_iov = v, .msg_iovlen = (size_t)vcnt};
    ssize_t n = sendmsg(ss->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == (ssize_t)(STREAM_HDR + len))
        return 0;
    if (n >= 0) { /* the kernel took part: the rest goes when there is room */
        ss_keep_rest(ss, v, vcnt, (size_t)n);
        ss->tx_stalls++;
        ss_set_events(ss);
        return 0;
    }
    if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
        ss->tx_blocked = true;
        ss_set_events(ss);
        return -EAGAIN;
    }
    int err = errno;
    ss_send_failed(ss, err);
    return -err;
}

/* Room to write: the rest of a frame first, then the layer's queue. */
static void ss_flush(struct sockstream *ss)
{
    if (ss->tlen > ss->tpos) {
        ssize_t n =
            send(ss->fd, ss->tbuf + ss->tpos, ss->tlen - ss->tpos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
                ss_disconnect(ss, strerror(errno));
            return;
        }
        ss->tpos += (size_t)n;
        if (ss->tpos < ss->tlen)
            return;
        ss->tpos = ss->tlen = 0;
    }
    bool owed = ss->tx_blocked;
    ss->tx_blocked = false;
    ss_set_events(ss);
    if (owed)
        netdev_backend_writable(ss->nd);
}

/* --- connecting ----------------------------------------------------------------------- */

/* A connect() of ours that reached our own port (TCP simultaneous open when nobody listens
 * on a port in the ephemeral range) is no peer. */
static bool ss_self_connected(int fd)
{
    struct sockaddr_any a = {.len = sizeof(a.ss)}, b = {.len = sizeof(b.ss)};
    return getsockname(fd, (struct sockaddr *)&a.ss, &a.len) == 0 &&
           getpeername(fd, (struct sockaddr *)&b.ss, &b.len) == 0 && socket_same_addr(&a, &b);
}

/* connect=: the connect() in progress ended. */
static void ss_connect_done(struct sockstream *ss)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(ss->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (!err && ss_self_connected(ss->fd))
        err = EADDRINUSE;
    if (err) {
        ss_drop_conn(ss);
        evloop_timer_arm(ss->retry, ss->retry_ns);
        return;
    }
    ss->connects++;
    ss_connected(ss, ss->fd, &ss->addr, true);
}

static void ss_on_conn(void *opaque, uint32_t events)
{
    struct sockstream *ss = opaque;
    if (ss->state == SS_CONNECTING) {
        ss_connect_done(ss);
        return;
    }
    if (events & EPOLLOUT) {
        ss_flush(ss);
        if (ss->state != SS_CONNECTED)
            return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    if (!ss->rx_paused)
        ss_rx(ss);
    else /* reported even while paused: the connection is gone */
        ss_disconnect(ss, events & EPOLLERR ? "error" : "hang-up");
}

/* connect=: one non-blocking attempt; a failure tries again in a second. */
static void ss_try_connect(struct sockstream *ss)
{
    ss->attempts++;
    int fd = socket(ss->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        (connect(fd, (struct sockaddr *)&ss->addr.ss, ss->addr.len) < 0 && errno != EINPROGRESS) ||
        evloop_add_fd(ss->loop, fd, EPOLLOUT, ss_on_conn, ss) < 0) {
        if (fd >= 0)
            close(fd);
        evloop_timer_arm(ss->retry, ss->retry_ns);
        return;
    }
    ss->fd = fd;
    ss->state = SS_CONNECTING;
    ss->events = EPOLLOUT;
    evloop_set_name(ss->loop, fd, "socket %s connecting", ss_id(ss));
}

/* listen=: the next connections, or closes them while a peer is connected. */
static void ss_on_listen(void *opaque, uint32_t events)
{
    struct sockstream *ss = opaque;
    (void)events;
    for (int i = 0; i < STREAM_ACCEPT_BUDGET; i++) {
        struct sockaddr_any peer = {.len = sizeof(peer.ss)};
        int fd =
            accept4(ss->lfd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            /* Out of fds or memory: the socket stays readable; look again in a second. */
            log_ratelimited(&ss->rl, LOG_WARN, "netdev %s: accept: %s", ss_id(ss), strerror(errno));
            evloop_mod_fd(ss->loop, ss->lfd, 0);
            evloop_timer_arm(ss->retry, STREAM_RETRY_NS);
            return;
        }
        if (ss->state != SS_IDLE) {
            char name[SOCKET_ADDR_STRLEN];
            ss->refused++;
            log_ratelimited(&ss->rl, LOG_INFO, "netdev %s: %s refused: a peer is connected",
                            ss_id(ss), socket_addr_str(&peer, name, sizeof(name)));
            close(fd);
            continue;
        }
        ss->accepted++;
        ss_connected(ss, fd, &peer, false);
    }
}

static void ss_on_retry(void *opaque)
{
    struct sockstream *ss = opaque;
    if (ss->listen_mode)
        evloop_mod_fd(ss->loop, ss->lfd, EPOLLIN);
    else if (ss->state == SS_IDLE)
        ss_try_connect(ss);
}

/* Deferred out of send() (the link goes down) and rx_resume() (frames left in rbuf). */
static void ss_on_soon(void *opaque)
{
    struct sockstream *ss = opaque;
    if (ss->down_pending)
        ss_link_down(ss);
    if (ss->state == SS_CONNECTED && !ss->rx_paused)
        ss_rx(ss);
}

/* --- life ----------------------------------------------------------------------------- */

void sockstream_rx_pause(struct sockstream *ss)
{
    ss->rx_paused = true;
    if (ss->state == SS_CONNECTED)
        ss_set_events(ss);
}

void sockstream_rx_resume(struct sockstream *ss)
{
    ss->rx_paused = false;
    if (ss->state != SS_CONNECTED)
        return;
    ss_set_events(ss);
    if (ss->rend > ss->rstart) /* frames read before the pause, maybe no more input */
        evloop_timer_arm(ss->soon, 1);
}

static int ss_listen(struct sockstream *ss, const char *what, char *err, size_t errlen)
{
    const char *path = socket_unix_path(&ss->addr);
    char sub[160] = "";
    int rc = path ? unix_path_clear(path, sub, sizeof(sub)) : 0;
    if (rc == -EEXIST) {
        snprintf(err, errlen, "%s: %s", what, sub);
        return rc;
    }
    ss->lfd = socket(ss->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ss->lfd < 0 ||
        (!path && setsockopt(ss->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        bind(ss->lfd, (struct sockaddr *)&ss->addr.ss, ss->addr.len) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot listen: %s", what, strerror(e));
        return -e;
    }
    ss->unlink_addr = path != NULL;
    if (listen(ss->lfd, STREAM_BACKLOG) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot listen: %s", what, strerror(e));
        return -e;
    }
    rc = evloop_add_fd(ss->loop, ss->lfd, EPOLLIN, ss_on_listen, ss);
    if (rc < 0) {
        snprintf(err, errlen, "cannot watch the socket: %s", strerror(-rc));
        return rc;
    }
    evloop_set_name(ss->loop, ss->lfd, "socket %s listen", ss_id(ss));
    return 0;
}

static int ss_open(struct sockstream *ss, const char *what, char *err, size_t errlen)
{
    ss->retry = evloop_timer_new(ss->loop, ss_on_retry, ss);
    ss->soon = evloop_timer_new(ss->loop, ss_on_soon, ss);
    if (!ss->retry || !ss->soon) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    evloop_timer_set_name(ss->retry, "socket %s %s", ss_id(ss),
                          ss->listen_mode ? "accept" : "connect");
    evloop_timer_set_name(ss->soon, "socket %s deferred", ss_id(ss));
    if (ss->listen_mode)
        return ss_listen(ss, what, err, errlen);
    evloop_timer_arm(ss->retry, 1); /* the first attempt, from the loop */
    return 0;
}

int sockstream_open(struct netdev *nd, bool listen_mode, const struct sockaddr_any *addr,
                    uint64_t retry_ns, const char *what, struct sockstream **out, char *err,
                    size_t errlen)
{
    struct sockstream *ss = calloc(1, sizeof(*ss));
    if (!ss) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ss->nd = nd;
    ss->loop = netdev_loop(nd);
    ss->listen_mode = listen_mode;
    ss->lfd = ss->fd = -1;
    ss->addr = *addr;
    ss->retry_ns = retry_ns ? retry_ns : STREAM_RETRY_NS;
    int rc = ss_open(ss, what, err, errlen);
    if (rc < 0) {
        sockstream_close(ss);
        return rc;
    }
    netdev_set_carrier(nd, false); /* until a peer is connected */
    *out = ss;
    return 0;
}

void sockstream_close(struct sockstream *ss)
{
    if (!ss)
        return;
    evloop_timer_free(ss->retry);
    evloop_timer_free(ss->soon);
    ss_drop_conn(ss);
    if (ss->lfd >= 0) {
        evloop_del_fd(ss->loop, ss->lfd); /* -ENOENT when never watched */
        close(ss->lfd);
    }
    if (ss->unlink_addr) /* ours since bind(); an earlier run's socket was cleared first */
        unlink(socket_unix_path(&ss->addr));
    free(ss);
}

json_t *sockstream_info(struct sockstream *ss)
{
    char addr[SOCKET_ADDR_STRLEN], peer[SOCKET_ADDR_STRLEN];
    bool up = ss->state == SS_CONNECTED;
    json_t *info =
        json_pack("{s:s, s:s, s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
                  ss->listen_mode ? "listen" : "connect", "address",
                  socket_addr_str(&ss->addr, addr, sizeof(addr)), "connected", up, "peer",
                  up ? socket_addr_str(&ss->peer, peer, sizeof(peer)) : NULL,
                  "connections_accepted", (json_int_t)ss->accepted, "connections_refused",
                  (json_int_t)ss->refused, "connections_made", (json_int_t)ss->connects,
                  "connect_attempts", (json_int_t)ss->attempts, "protocol_errors",
                  (json_int_t)ss->proto_errors, "partial_write_stalls", (json_int_t)ss->tx_stalls);
    if (info && !ss->listen_mode)
        json_object_set_new(info, "reconnect_ms",
                            json_integer((json_int_t)(ss->retry_ns / 1000000)));
    return info;
}
