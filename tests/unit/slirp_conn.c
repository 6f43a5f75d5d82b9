/* User backend tests, TCP connections: through hostfwd with data both ways and a clean close,
 * guest -> host connections one after another (the second right after the first was reset),
 * and restrict=on refusing the guest's connections while the gateway still answers. */
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

static bool tcp_reset(void *arg)
{
    return ((struct fn_tcp *)arg)->reset;
}

struct closing {
    struct fn_tcp *t;
    struct hostconn *h;
};

static bool closed_both_ways(void *arg)
{
    struct closing *c = arg;
    return c->h->eof && c->t->peer_fin &&
           (c->t->state == FN_TCP_TIME_WAIT || c->t->state == FN_TCP_CLOSED);
}
/* --- TCP through hostfwd ------------------------------------------------------------------------
 */
START_TEST(test_hostfwd_tcp)
{
    int port = fn_free_port(SOCK_STREAM);
    char extra[128];
    snprintf(extra, sizeof(extra), ",hostfwd=tcp:127.0.0.1:%d-:8080", port);
    open_user(extra);
    g.tick = tick;

    struct fn_tcp t;
    struct fn_addr self;
    guest_addr(&self, 8080);
    fn_tcp_init(&t, &self, 0x70000000u, guest_rx, sizeof(guest_rx));
    fn_tcp_listen(&t);
    fn_guest_add_tcp(&g, &t);
    fill_pattern(to_guest, sizeof(to_guest), 1);
    fill_pattern(to_host, sizeof(to_host), 2);
    fn_tcp_write(&t, to_host, XFER);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    ck_assert_msg(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    static struct hostconn h;
    hostconn_init(&h, -1, fd);
    h.tx = to_guest;
    h.tx_len = XFER;
    conns[0] = &h;

    ck_assert_msg(fn_guest_run_until(&g, tcp_established, &t, WAIT_MS) && !t.reset,
                  "no connection from the hostfwd (state %d)", t.state);
    ck_assert_uint_eq(t.peer.ip, GW_IP); /* libslirp's address for host connections */
    struct xfer x = {&t, &h, XFER, XFER};
    ck_assert_msg(fn_guest_run_until(&g, xfer_done, &x, WAIT_MS),
                  "transfer incomplete: guest got %zu of %d, host got %zu of %d", t.rx_len, XFER,
                  h.rx_len, XFER);
    ck_assert_uint_eq(t.rx_len, XFER);
    ck_assert_mem_eq(guest_rx, to_guest, XFER);
    ck_assert_uint_eq(h.rx_len, XFER);
    ck_assert_mem_eq(h.rx, to_host, XFER);

    /* More data toward the guest than one window: the guest's ACKs keep it flowing. */
    h.tx_len = sizeof(to_guest);
    x.to_guest = sizeof(to_guest);
    ck_assert_msg(fn_guest_run_until(&g, xfer_done, &x, 2 * WAIT_MS),
                  "bulk transfer incomplete: guest got %zu of %zu", t.rx_len, sizeof(to_guest));
    ck_assert_mem_eq(guest_rx, to_guest, sizeof(to_guest));
    ck_assert_uint_eq(t.ooo_segs, 0);

    /* The guest closes, then the host: FINs both ways. */
    fn_tcp_close(&t);
    struct closing c = {&t, &h};
    bool host_closed = false;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (!closed_both_ways(&c) && fn_now_ms() < end) {
        fn_guest_poll(&g, 10);
        if (h.eof && !host_closed) {
            shutdown(h.fd, SHUT_WR);
            host_closed = true;
        }
    }
    ck_assert_msg(closed_both_ways(&c), "close incomplete: host eof %d, guest fin %d, state %d",
                  h.eof, t.peer_fin, t.state);
    ck_assert(!h.error);
    hostconn_close(&h);
    conns[0] = NULL;
    close_user();
}
END_TEST

/* Guest -> host connections to the gateway address reach the host's loopback. The first is
 * reset by the guest and the second follows at once, before the loop runs: libslirp closes
 * the first socket and the second gets the same fd number. */
START_TEST(test_guest_connections_back_to_back)
{
    open_user("");
    g.tick = tick;
    int lfd = bound_socket(SOCK_STREAM, 0);
    int lport = local_port(lfd);
    struct fn_addr self, peer;
    guest_addr(&self, 40001);
    gw_addr(&peer, GW_IP, (uint16_t)lport);

    static struct hostconn h1, h2;
    static uint8_t rx1[4096], rx2[4096];
    struct fn_tcp t1, t2;
    fn_tcp_init(&t1, &self, 1000, rx1, sizeof(rx1));
    self.port = 40002;
    fn_tcp_init(&t2, &self, 900000, rx2, sizeof(rx2));
    fn_guest_add_tcp(&g, &t1);
    fn_guest_add_tcp(&g, &t2);
    hostconn_init(&h1, lfd, -1);
    conns[0] = &h1;

    fn_guest_send(&g, frame, fn_tcp_syn(&t1, &peer, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&g, tcp_established, &t1, WAIT_MS) && !t1.reset,
                  "first connection not established (state %d)", t1.state);
    fn_tcp_write(&t1, "one", 3);
    h1.tx = (const uint8_t *)"ONE";
    h1.tx_len = 3;
    struct xfer x1 = {&t1, &h1, 3, 3};
    ck_assert_msg(fn_guest_run_until(&g, xfer_done, &x1, WAIT_MS), "first transfer incomplete");
    ck_assert_mem_eq(h1.rx, "one", 3);
    ck_assert_mem_eq(rx1, "ONE", 3);

    /* RST, then the next SYN in the same breath. */
    size_t n =
        fn_tcp_segment(&t1, frame, sizeof(frame), FN_TCP_RST | FN_TCP_ACK, t1.snd_nxt, NULL, 0);
    fn_guest_send(&g, frame, n);
    t1.state = FN_TCP_CLOSED;
    fn_guest_send(&g, frame, fn_tcp_syn(&t2, &peer, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&g, tcp_established, &t2, WAIT_MS) && !t2.reset,
                  "second connection not established (state %d): is libslirp polling its new "
                  "socket?",
                  t2.state);
    hostconn_init(&h2, lfd, -1);
    conns[1] = &h2;
    fn_tcp_write(&t2, "two", 3);
    h2.tx = (const uint8_t *)"TWO";
    h2.tx_len = 3;
    struct xfer x2 = {&t2, &h2, 3, 3};
    ck_assert_msg(fn_guest_run_until(&g, xfer_done, &x2, WAIT_MS),
                  "second transfer incomplete: guest %zu host %zu", t2.rx_len, h2.rx_len);
    ck_assert_mem_eq(h2.rx, "two", 3);
    ck_assert_mem_eq(rx2, "TWO", 3);
    /* The host saw the first connection end. */
    hostconn_tick(&h1);
    ck_assert(h1.eof || h1.error);
    hostconn_close(&h1);
    hostconn_close(&h2);
    conns[0] = conns[1] = NULL;
    close(lfd);
    close_user();
}
END_TEST

START_TEST(test_restrict_on)
{
    open_user(",restrict=on");
    int lfd = bound_socket(SOCK_STREAM, 0);
    struct fn_addr self, peer;
    guest_addr(&self, 40003);
    gw_addr(&peer, GW_IP, (uint16_t)local_port(lfd));
    static uint8_t rx[64];
    struct fn_tcp t;
    fn_tcp_init(&t, &self, 5, rx, sizeof(rx));
    fn_guest_add_tcp(&g, &t);
    fn_guest_send(&g, frame, fn_tcp_syn(&t, &peer, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&g, tcp_reset, &t, WAIT_MS),
                  "restrict=on: the connection was not refused (state %d)", t.state);
    int c = accept(lfd, NULL, NULL);
    ck_assert_int_lt(c, 0); /* nothing reached the host */
    close(lfd);
    /* The gateway itself still answers. */
    ping(GW_IP, 9);
    close_user();
}
END_TEST

void slirp_conn_tests(TCase *tc)
{
    tcase_add_test(tc, test_hostfwd_tcp);
    tcase_add_test(tc, test_guest_connections_back_to_back);
    tcase_add_test(tc, test_restrict_on);
}
