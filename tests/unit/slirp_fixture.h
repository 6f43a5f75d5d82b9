/* The shared fixture of the user backend tests (see slirp_fixture.c): a user netdev with the
 * real libslirp on non-default addresses and the fake guest of tests/common/fakenet on it,
 * host-side sockets on 127.0.0.1, the host end of a TCP connection driven from the guest's
 * tick, and a ping of the gateway. Each slirp_*.c test file adds its tests to the suite's
 * TCase; test_slirp.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_SLIRP_FIXTURE_H
#define NICVM_TESTS_UNIT_SLIRP_FIXTURE_H

#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "vmm/evloop.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAIT_MS  5000
#define NET_OPTS "net=10.9.9.0/24,host=10.9.9.1,dns=10.9.9.53,dhcpstart=10.9.9.100"
#define GW_IP    FN_IP4(10, 9, 9, 1)
#define DNS_IP   FN_IP4(10, 9, 9, 53)
#define GUEST_IP FN_IP4(10, 9, 9, 100)
#define XFER     3000 /* bytes each way over one connection */

extern const uint8_t guest_mac[6];
extern const uint8_t gw_mac[6]; /* libslirp: 52:55 + host IP */

/* One user netdev and its fake guest; per test (Check forks each test). */
extern struct evloop *loop;
extern struct netdev *nd;
extern struct fn_guest g;
extern uint8_t frame[FN_MAX_FRAME];

/* The host side of a TCP connection, driven from the guest's tick (see tick()). */
struct hostconn {
    int listen_fd; /* accept the connection from here (or -1) */
    int fd;        /* the host end (or -1) */
    const uint8_t *tx;
    size_t tx_len, tx_off;
    uint8_t rx[256 * 1024];
    size_t rx_len;
    bool eof, error, accepted;
};
/* The connections tick() drives. */
extern struct hostconn *conns[2];

/* A transfer both ways over one connection, done when both ends have their bytes. */
struct xfer {
    struct fn_tcp *t;
    struct hostconn *h;
    size_t to_guest, to_host;
};
struct echo_wait {
    uint32_t from;
    uint16_t id, seq;
};
/* Data each way for the connection tests, and the guest's receive buffer. */
extern uint8_t to_guest[256 * 1024], to_host[XFER], guest_rx[256 * 1024];
/* The guestfwd unix socket's path: named in the runner process and removed there after the
 * test case, also when a test fails (unchecked fixture gf_path_setup/gf_path_teardown). */
extern char gf_path[108];
void gf_path_setup(void);
void gf_path_teardown(void);

void slirp_addr_tests(TCase *tc);
void slirp_conn_tests(TCase *tc);
void slirp_fwd_tests(TCase *tc);
void slirp_frames_tests(TCase *tc);

/* guest_addr: the guest's MAC and IP with port; gw_addr: the gateway's MAC with ip and port. */
void guest_addr(struct fn_addr *a, uint16_t port);
void gw_addr(struct fn_addr *a, uint32_t ip, uint16_t port);
/* open_user: a user netdev with NET_OPTS plus `extra` (",hostfwd=..."), and the fake guest on
 * it; close_user destroys them and checks the guest saw no bad checksum. */
void open_user(const char *extra);
void close_user(void);
/* netdev_create of "user,id=u1,<opts>" must fail with a message containing `want`. */
void expect_create_error(const char *opts, const char *want);
/* bound_socket: a socket of `type` bound to 127.0.0.1:port (0: any), listening if TCP. */
int bound_socket(int type, int port);
/* local_port: the port fd is bound to. */
int local_port(int fd);
/* fill_pattern: n bytes of a pattern that depends on seed. */
void fill_pattern(uint8_t *p, size_t n, unsigned seed);
/* hostconn_init: h accepts from listen_fd (or -1) or uses fd (or -1); hostconn_tick moves
 * what it can both ways without blocking; hostconn_close closes the host end. */
void hostconn_init(struct hostconn *h, int listen_fd, int fd);
void hostconn_tick(struct hostconn *h);
void hostconn_close(struct hostconn *h);
/* tick: the guest's tick, driving conns[]. */
void tick(void *opaque);
/* Conditions for fn_guest_run_until: xfer_done on a struct xfer, tcp_established (or reset)
 * on a struct fn_tcp. */
bool xfer_done(void *arg);
bool tcp_established(void *arg);
/* match_echo_reply: an ICMP echo reply matching the struct echo_wait arg. */
bool match_echo_reply(void *arg, const struct fn_pkt *p);
/* ping: pings `to` (through the gateway's MAC) and checks the reply. */
void ping(uint32_t to, uint16_t seq);

#endif
