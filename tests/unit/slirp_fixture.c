/* The shared fixture of the user backend tests (see slirp_fixture.h). */
#include "tests/unit/slirp_fixture.h"

#include "net/backend.h"
#include "net/ipfrag.h"
#include "net/netdev.h"
#include "net/offload.h"
#include "net/slirp.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
const uint8_t gw_mac[6] = {0x52, 0x55, 10, 9, 9, 1}; /* libslirp: 52:55 + host IP */

struct evloop *loop;
struct netdev *nd;
struct fn_guest g;
uint8_t frame[FN_MAX_FRAME];
uint8_t to_guest[256 * 1024], to_host[XFER], guest_rx[256 * 1024];
char gf_path[108];

/* --- setup ------------------------------------------------------------------------------------ */

void guest_addr(struct fn_addr *a, uint16_t port)
{
    memcpy(a->mac, guest_mac, 6);
    a->ip = GUEST_IP;
    a->port = port;
}

void gw_addr(struct fn_addr *a, uint32_t ip, uint16_t port)
{
    memcpy(a->mac, gw_mac, 6);
    a->ip = ip;
    a->port = port;
}

/* A user netdev with NET_OPTS plus `extra` (",hostfwd=..."), and the fake guest on it. */
void open_user(const char *extra)
{
    char spec[512], err[512] = "";
    snprintf(spec, sizeof(spec), "user,id=u0," NET_OPTS "%s", extra);
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    struct opts *o = opts_parse(spec, "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    nd = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "netdev_create(%s): %s", spec, err);
    struct fn_addr self;
    guest_addr(&self, 0);
    fn_guest_init(&g, loop, &self);
    g.check_csum = true;
    ck_assert_int_eq(fn_nic_attach(&g.nic, nd, "fake-nic"), 0);
}

void close_user(void)
{
    ck_assert_uint_eq(g.bad_csum, 0);
    fn_nic_clear(&g.nic);
    netdev_destroy(nd);
    evloop_destroy(loop);
}

/* netdev_create of "user,id=u1,<opts>" must fail with a message containing `want`. */
void expect_create_error(const char *opts, const char *want)
{
    char spec[512], err[512] = "";
    snprintf(spec, sizeof(spec), "user,id=u1,%s", opts);
    struct opts *o = opts_parse(spec, "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *bad = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    if (bad)
        netdev_destroy(bad);
    ck_assert_msg(bad == NULL, "%s: accepted", spec);
    ck_assert_msg(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", spec, err, want);
}

/* A socket of `type` bound to 127.0.0.1:port (0: any), listening if it is TCP. */
int bound_socket(int type, int port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    if (type == SOCK_STREAM)
        ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

int local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 13 + (i >> 8));
}
/* --- the host side of a TCP connection, driven from the guest's tick --------------------- */
void hostconn_init(struct hostconn *h, int listen_fd, int fd)
{
    memset(h, 0, sizeof(*h));
    h->listen_fd = listen_fd;
    h->fd = fd;
}

void hostconn_tick(struct hostconn *h)
{
    if (h->fd < 0 && h->listen_fd >= 0) {
        h->fd = accept(h->listen_fd, NULL, NULL);
        if (h->fd >= 0) {
            fcntl(h->fd, F_SETFL, fcntl(h->fd, F_GETFL) | O_NONBLOCK);
            h->accepted = true;
        }
    }
    if (h->fd < 0 || h->eof || h->error)
        return;
    while (h->tx_off < h->tx_len) {
        ssize_t n =
            send(h->fd, h->tx + h->tx_off, h->tx_len - h->tx_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;
        h->tx_off += (size_t)n;
    }
    while (h->rx_len < sizeof(h->rx)) {
        ssize_t n = recv(h->fd, h->rx + h->rx_len, sizeof(h->rx) - h->rx_len, MSG_DONTWAIT);
        if (n > 0) {
            h->rx_len += (size_t)n;
            continue;
        }
        if (n == 0)
            h->eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
            h->error = true;
        break;
    }
}

void hostconn_close(struct hostconn *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

/* The test's state, reached from the guest's callbacks. */
struct hostconn *conns[2];

void tick(void *opaque)
{
    (void)opaque;
    for (int i = 0; i < 2; i++)
        if (conns[i])
            hostconn_tick(conns[i]);
}
/* --- conditions --------------------------------------------------------------------------------
 */
bool xfer_done(void *arg)
{
    struct xfer *x = arg;
    return x->t->rx_len >= x->to_guest && x->h->rx_len >= x->to_host;
}

bool tcp_established(void *arg)
{
    struct fn_tcp *t = arg;
    return t->state == FN_TCP_ESTABLISHED || t->reset;
}
bool match_echo_reply(void *arg, const struct fn_pkt *p)
{
    struct echo_wait *w = arg;
    return p->l4 && p->proto == FN_PROTO_ICMP && p->icmp_type == FN_ICMP_REPLY &&
           p->saddr == w->from && p->icmp_id == w->id && p->icmp_seq == w->seq;
}

/* Pings `to` (through the gateway's MAC) and checks the reply. */
void ping(uint32_t to, uint16_t seq)
{
    struct fn_addr src, dst;
    guest_addr(&src, 0);
    gw_addr(&dst, to, 0);
    uint8_t payload[56];
    fill_pattern(payload, sizeof(payload), seq);
    size_t n = fn_icmp_echo(frame, sizeof(frame), &src, &dst, FN_ICMP_ECHO, 0x4242, seq, payload,
                            sizeof(payload));
    fn_guest_send(&g, frame, n);
    struct echo_wait w = {to, 0x4242, seq};
    struct fn_frame *fr = fn_guest_wait(&g, match_echo_reply, &w, WAIT_MS);
    ck_assert_msg(fr != NULL, "no echo reply from %08x seq %u", to, seq);
    struct fn_pkt p;
    fn_parse(fr->data, fr->len, &p);
    ck_assert_mem_eq(p.dst, guest_mac, 6);
    ck_assert_mem_eq(p.src, gw_mac, 6);
    ck_assert_uint_eq(p.daddr, GUEST_IP);
    ck_assert(p.ip_csum_ok && p.l4_csum_ok);
    ck_assert_uint_eq(p.data_len, sizeof(payload));
    ck_assert_mem_eq(p.data, payload, sizeof(payload));
    free(fr);
}

void gf_path_setup(void)
{
    snprintf(gf_path, sizeof(gf_path), "/tmp/nicvm-test-%d-gf.sock", (int)getpid());
}

void gf_path_teardown(void)
{
    unlink(gf_path);
}
