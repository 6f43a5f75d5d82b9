/* The socket backend, QEMU's -netdev socket without its hub modes. udp=HOST:PORT,
 * localaddr=HOST:PORT: each frame travels as one UDP datagram to the peer; datagrams from
 * anyone but the peer are ignored. listen=[HOST]:PORT or connect=HOST:PORT: one TCP peer,
 * frames with a 4-byte length (socket_stream.c). It links two VMs, nicvm or QEMU, on one or
 * two hosts. Hubs, switches and multicast are the host kernel's job (a tap on a bridge,
 * VXLAN), so nicvm has no hub and refuses mcast=. This file: options, the ops table, the UDP
 * mode. */
#include "net/backend.h"
#include "net/socket_int.h"
#include "vmm/log.h"

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
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint8_t buf[NETDEV_MAX_FRAME];
    struct log_ratelimit rl;
};

int socket_resolve(const char *spec, int family, int socktype, struct sockaddr_storage *sa,
                   socklen_t *len)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            return -EINVAL;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = socktype,
                             .ai_flags = AI_NUMERICSERV | (host[0] ? 0 : AI_PASSIVE)};
    struct addrinfo *res;
    if (!*port || getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return -EINVAL;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

const char *socket_addr_str(const struct sockaddr_storage *sa, char *buf, size_t bufsz)
{
    char host[INET6_ADDRSTRLEN + 8], port[8];
    socklen_t len =
        sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo((const struct sockaddr *)sa, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, bufsz, "?");
    else
        snprintf(buf, bufsz, sa->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return buf;
}

bool socket_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void socket_read(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    for (int i = 0; i < SOCKET_READ_BUDGET && (s->events & EPOLLIN); i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n =
            recvfrom(s->fd, s->buf, sizeof(s->buf), MSG_TRUNC, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
                log_ratelimited(&s->rl, LOG_WARN, "netdev %s: recv: %s", netdev_id(nd),
                                strerror(errno));
            return;
        }
        if (!socket_same_addr(&from, &s->peer) || (size_t)n > sizeof(s->buf))
            continue; /* a stranger's datagram, or a truncated one */
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
    struct msghdr msg = {.msg_name = &s->peer,
                         .msg_namelen = s->peer_len,
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

/* The UDP mode: binds localaddr= and sends to udp=. */
static int socket_open_udp(struct netdev *nd, const char *udp, const char *local, char *err,
                           size_t errlen)
{
    struct sockbe *s = netdev_priv(nd);
    if (!udp || !local) {
        snprintf(err, errlen, "udp=HOST:PORT and localaddr=HOST:PORT are both required");
        return -EINVAL;
    }
    struct sockaddr_storage la;
    socklen_t llen;
    if (socket_resolve(udp, AF_UNSPEC, SOCK_DGRAM, &s->peer, &s->peer_len) < 0) {
        snprintf(err, errlen, "udp=%s: expected HOST:PORT", udp);
        return -EINVAL;
    }
    if (socket_resolve(local, s->peer.ss_family, SOCK_DGRAM, &la, &llen) < 0) {
        snprintf(err, errlen, "localaddr=%s: expected HOST:PORT of the same family as udp=", local);
        return -EINVAL;
    }
    s->fd = socket(s->peer.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(s->fd, (struct sockaddr *)&la, llen) < 0) {
        int e = errno;
        snprintf(err, errlen, "localaddr=%s: cannot bind: %s", local, strerror(e));
        if (s->fd >= 0)
            close(s->fd);
        return -e;
    }
    s->events = EPOLLIN;
    int rc = evloop_add_fd(netdev_loop(nd), s->fd, s->events, socket_on_event, nd);
    if (rc < 0) {
        close(s->fd);
        snprintf(err, errlen, "cannot watch the socket: %s", strerror(-rc));
        return rc;
    }
    evloop_set_name(netdev_loop(nd), s->fd, "socket %s", netdev_id(nd));
    return 0;
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
        rc =
            sockstream_open(nd, listen != NULL, listen ? listen : connect, &s->stream, err, errlen);
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
    evloop_del_fd(netdev_loop(nd), s->fd);
    close(s->fd);
}

/* The backend's part of netdev_info(): the mode, and the stream mode's connection. */
static json_t *socket_info(struct netdev *nd)
{
    struct sockbe *s = netdev_priv(nd);
    if (s->stream)
        return sockstream_info(s->stream);
    char peer[INET6_ADDRSTRLEN + 16];
    return json_pack("{s:s, s:s}", "mode", "udp", "peer",
                     socket_addr_str(&s->peer, peer, sizeof(peer)));
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
