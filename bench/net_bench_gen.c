/* net_bench_gen.c: net_bench's sockets and helper threads: traffic generators (UDP
 * sendmmsg(), TCP send()) and host-side receivers (recvmmsg(), accept and recv()), each on
 * CPU 1 while the measured thread has CPU 0. */
#include "net_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- helper threads: traffic generators and host-side receivers --------------------------- */

struct sockaddr_in nb_sin(uint32_t addr, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(addr);
    return a;
}

static void set_timeout(int fd, int opt, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static bool stopping(atomic_bool *stop)
{
    return g_stop || (stop && atomic_load(stop));
}

/* tcp_connect: a blocking TCP socket connected to `to` (SO_SNDTIMEO WAIT_MS), or -errno. */
int nb_tcp_connect(const struct sockaddr_in *to, atomic_bool *stop)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = 0;
    socklen_t elen = sizeof(err);
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
        err = errno;
    while (!err) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (stopping(stop))
            err = EINTR;
        else if (poll(&p, 1, WAIT_MS) > 0 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && !err)
            break;
    }
    if (err) {
        close(fd);
        return -err;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_timeout(fd, SO_SNDTIMEO, WAIT_MS);
    return fd;
}

static void gen_udp(struct gen *g)
{
    uint8_t buf[2048];
    memset(buf, 0x5a, sizeof(buf));
    struct iovec iov = {buf, g->payload};
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < BATCH; i++) {
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stopping(&g->stop)) {
        int n = sendmmsg(g->fd, m, BATCH, 0);
        if (n > 0)
            atomic_fetch_add(&g->count, (uint64_t)n);
        else if (errno != EINTR && errno != EAGAIN)
            usleep(1000); /* ENOBUFS, or an ICMP error reported late: let it pass */
    }
}

static void gen_tcp(struct gen *g)
{
    static uint8_t buf[65536];
    int fd = nb_tcp_connect(&g->to, &g->stop);
    if (fd < 0) {
        atomic_store(&g->err, -fd);
        return;
    }
    while (!stopping(&g->stop)) {
        ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        if (n > 0) {
            atomic_fetch_add(&g->count, (uint64_t)n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            atomic_store(&g->err, errno);
            break;
        }
    }
    /* An RST now, not a FIN the fake guest would never ACK (and the kernel would resend). */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void drain_udp(struct gen *g)
{
    enum { SZ = 2048 };
    static uint8_t buf[BATCH][SZ];
    struct iovec iov[BATCH];
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){buf[i], SZ};
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stopping(&g->stop)) {
        int n = recvmmsg(g->fd, m, BATCH, MSG_WAITFORONE, NULL);
        if (n > 0)
            atomic_fetch_add(&g->count, (uint64_t)n);
    }
}

static void drain_tcp(struct gen *g)
{
    static uint8_t buf[256 << 10];
    while (!stopping(&g->stop)) {
        int c = accept4(g->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue; /* SO_RCVTIMEO: look at the stop flag again */
        set_timeout(c, SO_RCVTIMEO, WAIT_MS);
        while (!stopping(&g->stop)) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n > 0)
                atomic_fetch_add(&g->count, (uint64_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                break;
        }
        close(c);
    }
}

static void *gen_main(void *arg)
{
    struct gen *g = arg;
    nb_pin_cpu(1); /* the measured thread has CPU 0 */
    switch (g->kind) {
    case GEN_UDP: gen_udp(g); break;
    case GEN_TCP: gen_tcp(g); break;
    case DRAIN_UDP: drain_udp(g); break;
    case DRAIN_TCP: drain_tcp(g); break;
    }
    return NULL;
}

int gen_start(struct gen *g)
{
    atomic_store(&g->stop, false);
    atomic_store(&g->count, 0);
    atomic_store(&g->err, 0);
    int rc = pthread_create(&g->th, NULL, gen_main, g);
    g->started = rc == 0;
    return -rc;
}

void gen_stop(struct gen *g)
{
    if (g->started) {
        atomic_store(&g->stop, true);
        pthread_join(g->th, NULL);
        g->started = false;
    }
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

/* udp_socket: bound to bind_port (0: any) on bind_addr and connected to `to` when given. */
int nb_udp_socket(uint32_t bind_addr, uint16_t bind_port, const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = nb_sin(bind_addr, bind_port);
    if (fd < 0 || (bind_port && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) ||
        (to && connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    set_timeout(fd, SO_RCVTIMEO, WAIT_MS);
    set_timeout(fd, SO_SNDTIMEO, WAIT_MS);
    return fd;
}

int nb_tcp_listener(uint32_t addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = nb_sin(addr, port);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    set_timeout(fd, SO_RCVTIMEO, WAIT_MS);
    return fd;
}
