/* The socket backends, QEMU's socket-based netdevs without their hub modes:
 *   -netdev socket  udp=HOST:PORT,localaddr=HOST:PORT (one UDP datagram per frame) or
 *                   listen=[HOST]:PORT / connect=HOST:PORT (one TCP peer, socket_stream.c);
 *   -netdev stream  QEMU 7.2's successor: server=on|off,addr.type=inet|unix,... (TCP or a unix
 *                   stream socket, socket_stream.c), the socket passt serves as well;
 *   -netdev dgram   local.*= and remote.*= (inet or unix): one datagram per frame.
 * Datagrams from anyone but the peer are ignored. They link two VMs, nicvm or QEMU, on one or
 * two hosts. Hubs, switches and multicast are the host kernel's job (a tap on a bridge,
 * VXLAN), so nicvm has no hub and refuses mcast= and multicast remotes. This file: options,
 * the ops tables, the datagram mode; addresses are in socket_addr.c. */
#include "net/backend.h"
#include "net/socket_int.h"
#include "vmm/log.h"
#include "vmm/unix_path.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCKET_READ_BUDGET 64

struct sockbe {
    struct sockstream *stream; /* listen= or connect=; NULL: udp= */
    int fd;
    uint32_t events;
    struct sockaddr_any peer;
    bool unlink_local;         /* local is a unix path this backend bound */
    struct sockaddr_any local; /* the dgram mode's own address */
    uint64_t rx_foreign;       /* datagrams ignored: not from the peer */
    uint64_t rx_oversized;     /* datagrams ignored: larger than a frame */
    uint8_t buf[NETDEV_MAX_FRAME];
    struct log_ratelimit rl;
};

static void socket_read(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    for (int i = 0; i < SOCKET_READ_BUDGET && (s->events & EPOLLIN); i++) {
        struct sockaddr_any from = {.len = sizeof(from.ss)};
        ssize_t n = recvfrom(s->fd, s->buf, sizeof(s->buf), MSG_TRUNC, (struct sockaddr *)&from.ss,
                             &from.len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
                log_ratelimited(&s->rl, LOG_WARN, "netdev %s: recv: %s", netdev_id(nd),
                                strerror(errno));
            return;
        }
        if (!socket_same_addr(&from, &s->peer)) {
            s->rx_foreign++; /* not the peer's: anyone on the host may send here */
            continue;
        }
        if ((size_t)n > sizeof(s->buf)) {
            s->rx_oversized++; /* MSG_TRUNC: n is the datagram's length, the rest is lost */
            continue;
        }
        struct iovec iov = {s->buf, (size_t)n};
        netdev_deliver(nd, NULL, &iov, 1, (size_t)n);
    }
}

static void socket_on_event(void *opaque, uint32_t events)
{
    struct netdev *nd = opaque;
    struct sockbe *s = netdev_priv(nd);
    if (events & EPOLLOUT) {
        s->events &= ~(uint32_t)EPOLLOUT;
        evloop_mod_fd(netdev_loop(nd), s->fd, s->events);
        netdev_backend_writable(nd);
    }
    if (events & (EPOLLIN | EPOLLERR))
        socket_read(nd);
}

static int socket_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                       const struct iovec *iov, int iovcnt, size_t len)
{
    struct sockbe *s = netdev_priv(nd);
    (void)hdr;
    if (s->stream)
        return sockstream_send(s->stream, iov, iovcnt, len);
    struct msghdr msg = {.msg_name = &s->peer.ss,
                         .msg_namelen = s->peer.len,
                         .msg_iov = (struct iovec *)iov,
                         .msg_iovlen = (size_t)iovcnt};
    if (sendmsg(s->fd, &msg, MSG_DONTWAIT) >= 0)
        return 0;
    if (errno == EAGAIN || errno == ENOBUFS) {
        s->events |= EPOLLOUT;
        evloop_mod_fd(netdev_loop(nd), s->fd, s->events);
        return -EAGAIN;
    }
    /* ECONNREFUSED: the peer is not running yet; the frame is lost, as on a cable. */
    return -errno;
}

static void socket_rx_pause(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    if (s->stream) {
        sockstream_rx_pause(s->stream);
        return;
    }
    s->events &= ~(uint32_t)EPOLLIN;
    evloop_mod_fd(netdev_loop(nd), s->fd, s->events);
}

static void socket_rx_resume(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    if (s->stream) {
        sockstream_rx_resume(s->stream);
        return;
    }
    s->events |= EPOLLIN;
    evloop_mod_fd(netdev_loop(nd), s->fd, s->events);
}

/* The datagram mode: binds local and sends each frame to peer (s->peer); `what` names the
 * local address's option for messages. A unix path is cleared first if an earlier run left
 * its socket there, and removed on close. */
static int socket_open_dgram(struct netdev *nd, const struct sockaddr_any *local, const char *what,
                             char *err, size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    const char *path = socket_unix_path(local);
    char sub[160] = "";
    int rc = path ? unix_path_clear(path, sub, sizeof(sub)) : 0;
    if (rc == -EEXIST) {
        snprintf(err, errlen, "%s: %s", what, sub);
        return rc;
    }
    s->local = *local;
    s->fd = socket(local->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd < 0 ||
        (!path && setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        bind(s->fd, (const struct sockaddr *)&local->ss, local->len) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot bind: %s", what, strerror(e));
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        return -e;
    }
    s->unlink_local = path != NULL;
    s->events = EPOLLIN;
    rc = evloop_add_fd(netdev_loop(nd), s->fd, s->events, socket_on_event, nd);
    if (rc < 0) {
        snprintf(err, errlen, "cannot watch the socket: %s", strerror(-rc));
        return rc;
    }
    evloop_set_name(netdev_loop(nd), s->fd, "socket %s", netdev_id(nd));
    return 0;
}

/* -netdev socket's UDP mode: binds localaddr= and sends to udp=. */
static int socket_open_udp(struct netdev *nd, const char *udp, const char *local, char *err,
                           size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    if (!udp || !local) {
        snprintf(err, errlen, "udp=HOST:PORT and localaddr=HOST:PORT are both required");
        return -EINVAL;
    }
    struct sockaddr_any la;
    if (socket_resolve(udp, AF_UNSPEC, SOCK_DGRAM, &s->peer) < 0) {
        snprintf(err, errlen, "udp=%s: expected HOST:PORT", udp);
        return -EINVAL;
    }
    if (socket_resolve(local, s->peer.ss.ss_family, SOCK_DGRAM, &la) < 0) {
        snprintf(err, errlen, "localaddr=%s: expected HOST:PORT of the same family as udp=", local);
        return -EINVAL;
    }
    char what[300];
    snprintf(what, sizeof(what), "localaddr=%s", local);
    return socket_open_dgram(nd, &la, what, err, errlen);
}

/* -netdev socket's stream modes: listen=[HOST]:PORT or connect=HOST:PORT. */
static int socket_open_tcp(struct netdev *nd, bool listen_mode, const char *spec, char *err,
                           size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    const char *opt = listen_mode ? "listen" : "connect";
    struct sockaddr_any a;
    const struct sockaddr_in *sin = (const void *)&a.ss;
    if (socket_resolve(spec, AF_UNSPEC, SOCK_STREAM, &a) < 0 ||
        (!listen_mode && (spec[0] == ':' || sin->sin_port == 0))) {
        snprintf(err, errlen, "%s=%s: expected %sHOST:PORT", opt, spec,
                 listen_mode ? "[HOST]:PORT or " : "");
        return -EINVAL;
    }
    char what[300];
    snprintf(what, sizeof(what), "%s=%s", opt, spec);
    return sockstream_open(nd, listen_mode, &a, 0, what, &s->stream, err, errlen);
}

/* Exactly one of udp=, listen=, connect=; localaddr= only with udp=. Returns 0 or -EINVAL
 * with the message in err. */
static int socket_check_mode(const char *udp, const char *listen, const char *connect,
                             const char *local, char *err, size_t errlen)
{
    const char *given[3];
    int n = 0;
    if (udp)
        given[n++] = "udp=";
    if (listen)
        given[n++] = "listen=";
    if (connect)
        given[n++] = "connect=";
    if (n > 1)
        snprintf(err, errlen, "%s%s%s%s%s cannot be combined (give one of udp=, listen=, connect=)",
                 given[0], n > 2 ? ", " : " and ", given[1], n > 2 ? " and " : "",
                 n > 2 ? given[2] : "");
    else if (n == 0 && !local)
        snprintf(err, errlen,
                 "one of udp=HOST:PORT (with localaddr=), listen=[HOST]:PORT or "
                 "connect=HOST:PORT is required");
    else if (local && !udp && n == 1)
        snprintf(err, errlen, "localaddr= goes with udp= only, not with %s", given[0]);
    else
        return 0;
    return -EINVAL;
}

static int socket_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    s->fd = -1;
    const char *udp = opts_get(o, "udp"), *local = opts_get(o, "localaddr");
    const char *listen = opts_get(o, "listen"), *connect = opts_get(o, "connect");
    if (opts_get(o, "mcast")) {
        snprintf(err, errlen,
                 "mcast= is not supported, only udp=, listen= or connect= (for a hub "
                 "or switch, use tap on a Linux bridge)");
        return -EINVAL;
    }
    int rc = socket_check_mode(udp, listen, connect, local, err, errlen);
    if (rc == 0 && (listen || connect))
        rc = socket_open_tcp(nd, listen != NULL, listen ? listen : connect, err, errlen);
    else if (rc == 0)
        rc = socket_open_udp(nd, udp, local, err, errlen);
    if (rc == 0)
        netdev_set_caps(nd, 0);
    return rc;
}

static void socket_close(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    if (s->stream) {
        sockstream_close(s->stream);
        return;
    }
    if (s->fd < 0)
        return;
    evloop_del_fd(netdev_loop(nd), s->fd);
    close(s->fd);
    if (s->unlink_local)
        unlink(socket_unix_path(&s->local));
}

/* The backend's part of netdev_info(): the mode, and the stream mode's connection. */
static json_t *socket_info(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    if (s->stream)
        return sockstream_info(s->stream);
    char peer[SOCKET_ADDR_STRLEN], local[SOCKET_ADDR_STRLEN];
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "mode", "dgram", "local",
                     socket_addr_str(&s->local, local, sizeof(local)), "peer",
                     socket_addr_str(&s->peer, peer, sizeof(peer)), "rx_foreign",
                     (json_int_t)s->rx_foreign, "rx_oversized", (json_int_t)s->rx_oversized);
}

/* A client's time between connect attempts: QEMU 8's reconnect=SECONDS or QEMU 9.2's
 * reconnect-ms=MS. QEMU's default, 0, means never (a client that finds nobody listening
 * fails); nicvm's clients always retry, a second apart unless told, so 0 is refused rather
 * than read as something it does not do. */
static int stream_retry(struct opts *o, bool server, uint64_t *ns, char *err, size_t errlen)
{
    uint64_t s = 0, ms = 0;
    bool has_s = opts_get(o, "reconnect"), has_ms = opts_get(o, "reconnect-ms");
    *ns = 0;
    if (!has_s && !has_ms)
        return 0;
    if (server || (has_s && has_ms)) {
        snprintf(err, errlen, "%s",
                 server ? "reconnect= and reconnect-ms= are for server=off"
                        : "give reconnect= or reconnect-ms=, not both");
        return -EINVAL;
    }
    if (opts_get_u64(o, "reconnect", 1, 1, 3600, &s, err, errlen) < 0 ||
        opts_get_u64(o, "reconnect-ms", 1000, 1, 3600000, &ms, err, errlen) < 0)
        return -EINVAL;
    *ns = has_s ? s * 1000000000ull : ms * 1000000ull;
    return 0;
}

/* -netdev stream (QEMU 7.2's successor of socket,listen=/connect=): server=on|off and a
 * SocketAddress under addr. (inet or unix). The framing is the same 4-byte length, so either
 * end may be QEMU, another nicvm or passt (whose socket speaks it). */
static int stream_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    s->fd = -1;
    bool server;
    struct sockaddr_any a;
    uint64_t retry_ns;
    if (opts_get_bool(o, "server", false, &server, err, errlen) < 0 ||
        socket_parse_addr(o, "addr", SOCK_STREAM, server, AF_UNSPEC, &a, err, errlen) < 0 ||
        stream_retry(o, server, &retry_ns, err, errlen) < 0)
        return -EINVAL;
    char what[SOCKET_ADDR_STRLEN];
    socket_addr_str(&a, what, sizeof(what));
    int rc = sockstream_open(nd, server, &a, retry_ns, what, &s->stream, err, errlen);
    if (rc == 0)
        netdev_set_caps(nd, 0);
    return rc;
}

static bool socket_is_multicast(const struct sockaddr_any *a)
{
    const struct sockaddr_in *v4 = (const void *)&a->ss;
    const struct sockaddr_in6 *v6 = (const void *)&a->ss;
    return (a->ss.ss_family == AF_INET && IN_MULTICAST(ntohl(v4->sin_addr.s_addr))) ||
           (a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&v6->sin6_addr));
}

/* -netdev dgram (QEMU 7.2's successor of socket,udp=): a SocketAddress under local. to bind
 * and one under remote. to send to, both inet or both unix; one frame per datagram. */
static int dgram_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    s->fd = -1;
    if (!socket_has_addr(o, "local") || !socket_has_addr(o, "remote")) {
        snprintf(err, errlen,
                 "local.type= and remote.type= (inet or unix) are both required: a dgram "
                 "netdev links two peers");
        return -EINVAL;
    }
    struct sockaddr_any la;
    if (socket_parse_addr(o, "remote", SOCK_DGRAM, false, AF_UNSPEC, &s->peer, err, errlen) < 0)
        return -EINVAL;
    if (socket_is_multicast(&s->peer)) {
        snprintf(err, errlen,
                 "remote.host: a multicast group is a hub, which nicvm has not (for a hub or "
                 "switch, use tap on a Linux bridge)");
        return -EINVAL;
    }
    int family = s->peer.ss.ss_family;
    if (socket_parse_addr(o, "local", SOCK_DGRAM, true, family == AF_UNIX ? AF_UNSPEC : family, &la,
                          err, errlen) < 0)
        return -EINVAL;
    if (la.ss.ss_family != family) {
        snprintf(err, errlen, "local.type= and remote.type= must be the same (inet or unix)");
        return -EINVAL;
    }
    char what[SOCKET_ADDR_STRLEN];
    int rc = socket_open_dgram(nd, &la, socket_addr_str(&la, what, sizeof(what)), err, errlen);
    if (rc == 0)
        netdev_set_caps(nd, 0);
    return rc;
}

const struct netdev_backend_ops socket_backend_ops = {
    .type = "socket",
    .summary = "a point-to-point link to a nicvm or QEMU peer: one UDP datagram per frame "
               "(udp=, localaddr=) or length-prefixed frames over TCP (listen=, connect=)",
    .priv_size = sizeof(struct sockbe),
    .open = socket_open,
    .send = socket_send,
    .rx_pause = socket_rx_pause,
    .rx_resume = socket_rx_resume,
    .close = socket_close,
    .info = socket_info,
};

const struct netdev_backend_ops stream_backend_ops = {
    .type = "stream",
    .summary = "QEMU's -netdev stream: length-prefixed frames over one TCP or unix stream "
               "connection (server=on|off, addr.type=inet|unix); peers: QEMU, nicvm, passt",
    .priv_size = sizeof(struct sockbe),
    .open = stream_open,
    .send = socket_send,
    .rx_pause = socket_rx_pause,
    .rx_resume = socket_rx_resume,
    .close = socket_close,
    .info = socket_info,
};

const struct netdev_backend_ops dgram_backend_ops = {
    .type = "dgram",
    .summary = "QEMU's -netdev dgram: one UDP or unix datagram per frame between local.* and "
               "remote.*",
    .priv_size = sizeof(struct sockbe),
    .open = dgram_open,
    .send = socket_send,
    .rx_pause = socket_rx_pause,
    .rx_resume = socket_rx_resume,
    .close = socket_close,
    .info = socket_info,
};
