/* Tests for the socket backend's TCP stream mode (net/socket_stream.c), QEMU's
 * -netdev socket,listen= / connect= framing (a 4-byte big-endian length, then the frame), over
 * real TCP sockets on 127.0.0.1 with ports picked free at run time. The test plays the peer
 * with its own sockets; a fake NIC sits on nicvm's side. Covered: frames up to the largest
 * both ways, a byte stream split anywhere, bad lengths (protocol errors, reconnect), listen
 * mode's one peer at a time, connect before anyone listens (no busy loop), a peer's reset
 * under send(), and back-pressure both ways. Every wait is bounded. */
#define _GNU_SOURCE /* accept4 */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/socket_fixture.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static struct netdev *nd;
static struct fn_nic nic;
static int lfd = -1, cfd = -1, port;
static uint8_t wbuf[FN_MAX_FRAME + 8], rbuf[FN_MAX_FRAME + 8];

/* A socket netdev "st" in `mode` (listen or connect) to 127.0.0.1:p, with the fake NIC. */
static void open_stream(const char *mode, int p)
{
    char spec[160];
    snprintf(spec, sizeof(spec), "socket,id=st,%s=127.0.0.1:%d", mode, p);
    nd = socket_create(spec);
    ck_assert(!netdev_link_up(nd)); /* down until a peer is connected */
    ck_assert_int_eq(fn_nic_attach(&nic, nd, "nic"), 0);
}

/* The test's own listening socket on 127.0.0.1:*p (0: a free port, read back). */
static int tcp_listen_at(int *p, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (rcvbuf) /* before listen(): accepted sockets inherit it, window scale included */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*p)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %d: %s", *p, strerror(errno));
    ck_assert_int_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *p = ntohs(sa.sin_port);
    return fd;
}

/* The next connection on the test's listening socket l, running the loop meanwhile. */
static int accept_wait(int l, int wait_ms)
{
    uint64_t end = fn_now_ms() + (uint64_t)wait_ms;
    int fd;
    while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0 && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(fd >= 0, "no connection from nicvm in %d ms", wait_ms);
    return fd;
}

/* A non-blocking connection of the test's to 127.0.0.1:p (a listener's backlog completes it). */
static int tcp_connect_to(int p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* Writes or reads all of len bytes on the test's non-blocking fd, running the loop whenever
 * the kernel makes it wait. */
static void io_all(int fd, void *buf, size_t len, bool wr)
{
    uint64_t end = fn_now_ms() + WAIT_MS;
    size_t done = 0;
    while (done < len && fn_now_ms() < end) {
        ssize_t n = wr ? send(fd, (uint8_t *)buf + done, len - done, MSG_NOSIGNAL)
                       : recv(fd, (uint8_t *)buf + done, len - done, 0);
        ck_assert_msg(n > 0 || (n < 0 && errno == EAGAIN), "%s: %zd (%s)", wr ? "send" : "recv", n,
                      n < 0 ? strerror(errno) : "EOF");
        if (n > 0)
            done += (size_t)n;
        else
            evloop_run_once(loop, 10);
    }
    ck_assert_msg(done == len, "%s: %zu of %zu bytes in %d ms", wr ? "send" : "recv", done, len,
                  WAIT_MS);
}

/* The wire form of a frame (length, bytes) at out; returns its size. */
static size_t wire(uint8_t *out, const uint8_t *f, uint32_t len)
{
    fn_put32(out, len);
    memcpy(out + 4, f, len);
    return 4 + (size_t)len;
}

/* One frame from the test's side of the wire into rbuf + 4; returns its length. */
static uint32_t recv_wire(int fd)
{
    io_all(fd, rbuf, 4, false);
    uint32_t len = fn_get32(rbuf);
    ck_assert_uint_le(len, NETDEV_MAX_FRAME);
    io_all(fd, rbuf + 4, len, false);
    return len;
}

/* Runs the loop until the link is up (or down), at most WAIT_MS; the NIC was told. */
static void wait_link(bool up)
{
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (netdev_link_up(nd) != up && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(netdev_link_up(nd) == up, "link still %s", up ? "down" : "up");
    ck_assert(nic.link_up == up);
}

/* The test's end reads EOF, or a reset when nicvm closed with input unread. */
static void expect_closed(int fd)
{
    uint64_t end = fn_now_ms() + WAIT_MS;
    ssize_t n;
    while ((n = recv(fd, rbuf, sizeof(rbuf), 0)) != 0 && fn_now_ms() < end) {
        ck_assert_msg(n < 0, "data from a closed connection");
        if (errno == ECONNRESET)
            return;
        evloop_run_once(loop, 20);
    }
    ck_assert_msg(n == 0, "the connection stayed open");
}

/* A number from the backend's info (netdev_info's "backend" object). */
static json_int_t info_int(const char *key)
{
    json_t *info = netdev_info(nd), *v = json_object_get(json_object_get(info, "backend"), key);
    ck_assert_msg(json_is_integer(v), "backend info lacks %s", key);
    json_int_t r = json_integer_value(v);
    json_decref(info);
    return r;
}

/* A frame each way between the NIC and the test's end fd. */
static void exchange(int fd, uint32_t seed, size_t len)
{
    make_frame(frame, len, seed);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, len), 0);
    ck_assert_uint_eq(recv_wire(fd), len);
    ck_assert_mem_eq(rbuf + 4, frame, len);
    make_frame(frame, len, seed + 1);
    uint64_t want = nic.received + 1;
    io_all(fd, wbuf, wire(wbuf, frame, (uint32_t)len), true);
    wait_received(&nic, want, "frame from the peer");
    expect_frame(&nic, frame, len);
}

/* connect= to a listener of the test's (rcvbuf: its receive buffer, 0 default). */
static void open_connected(int rcvbuf)
{
    loop = evloop_create();
    port = 0;
    lfd = tcp_listen_at(&port, rcvbuf);
    open_stream("connect", port);
    cfd = accept_wait(lfd, WAIT_MS);
    wait_link(true);
}

/* A new loop and the netdev in `mode` to a port that was free a moment ago. */
static void open_on_free_port(const char *mode)
{
    loop = evloop_create();
    port = fn_free_port(SOCK_STREAM);
    open_stream(mode, port);
}

/* With the link down, the NIC's frames are dropped at once. */
static void expect_send_down(uint32_t seed)
{
    uint64_t drops = netdev_get_stats(nd)->drops[NETDEV_DROP_LINK_DOWN];
    make_frame(frame, 60, seed);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, 60), -ENETDOWN);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_LINK_DOWN], drops + 1);
}

static void close_all(void)
{
    fn_nic_clear(&nic);
    netdev_destroy(nd);
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    cfd = lfd = -1;
    evloop_destroy(loop);
}

START_TEST(test_connect_sizes)
{
    open_connected(0);
    static const size_t sizes[] = {60, 1514, 65000, NETDEV_MAX_FRAME};
    for (uint32_t i = 0; i < 4; i++) {
        make_frame(frame, sizes[i], i);
        ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, sizes[i]), 0);
        ck_assert_uint_eq(recv_wire(cfd), sizes[i]);
        ck_assert_mem_eq(rbuf + 4, frame, sizes[i]);
    }
    for (uint32_t i = 0; i < 4; i++) {
        make_frame(frame, sizes[i], 100 + i);
        io_all(cfd, wbuf, wire(wbuf, frame, (uint32_t)sizes[i]), true);
    }
    wait_received(&nic, 4, "peer -> NIC");
    for (uint32_t i = 0; i < 4; i++) {
        make_frame(frame, sizes[i], 100 + i);
        expect_frame(&nic, frame, sizes[i]);
    }
    json_t *info = netdev_info(nd);
    json_t *be = json_object_get(info, "backend");
    ck_assert_str_eq(json_string_value(json_object_get(be, "mode")), "connect");
    ck_assert(json_is_true(json_object_get(be, "connected")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(be, "peer")), "127.0.0.1:"));
    ck_assert_int_eq(json_integer_value(json_object_get(be, "connections_made")), 1);
    json_decref(info);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(netdev_get_stats(nd)->drops[i], 0);
    close_all();
}
END_TEST

/* The peer writes w[0..len) in pieces cut at cuts[] (ascending, inside 0..len), running the
 * loop after each; no frame may arrive before the last piece. */
static void write_cut(const uint8_t *w, size_t len, const size_t *cuts, int ncuts)
{
    uint64_t before = nic.received;
    size_t off = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        io_all(cfd, (void *)(w + off), to - off, true);
        off = to;
        evloop_run_once(loop, 5);
        if (i < ncuts)
            ck_assert_uint_eq(nic.received, before);
    }
}

START_TEST(test_chunking)
{
    open_connected(0);
    /* One byte per write. */
    static size_t cuts[128];
    make_frame(frame, 100, 1);
    size_t n = wire(wbuf, frame, 100);
    for (size_t i = 0; i < n - 1; i++)
        cuts[i] = i + 1;
    write_cut(wbuf, n, cuts, (int)n - 1);
    wait_received(&nic, 1, "byte by byte");
    expect_frame(&nic, frame, 100);
    /* The length split 2 + 2, then the frame. */
    make_frame(frame, 1514, 2);
    n = wire(wbuf, frame, 1514);
    write_cut(wbuf, n, (const size_t[]){2, 4}, 2);
    wait_received(&nic, 2, "length split");
    expect_frame(&nic, frame, 1514);
    /* Several frames in one write. */
    size_t off = 0;
    for (uint32_t i = 0; i < 8; i++) {
        make_frame(frame, 14 + i * 190, 10 + i);
        off += wire(wbuf + off, frame, 14 + i * 190);
    }
    io_all(cfd, wbuf, off, true);
    wait_received(&nic, 10, "eight in one write");
    for (uint32_t i = 0; i < 8; i++) {
        make_frame(frame, 14 + i * 190, 10 + i);
        expect_frame(&nic, frame, 14 + i * 190);
    }
    /* A small frame split at every offset. */
    for (size_t cut = 1; cut < 4 + 20; cut++) {
        make_frame(frame, 20, 100 + (uint32_t)cut);
        n = wire(wbuf, frame, 20);
        write_cut(wbuf, n, &cut, 1);
        wait_received(&nic, 10 + cut, "split frame");
        expect_frame(&nic, frame, 20);
    }
    ck_assert_int_eq(info_int("protocol_errors"), 0);
    close_all();
}
END_TEST

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(test_bad_length)
{
    open_connected(0);
    static const uint32_t bad[] = {0, 0x7fffffff, NETDEV_MAX_FRAME + 1};
    long rss = max_rss_kb();
    for (int i = 0; i < 3; i++) {
        exchange(cfd, 10 * (uint32_t)i, 200);
        /* The bad length, then a good frame that must not arrive. */
        uint64_t before = nic.received;
        fn_put32(wbuf, bad[i]);
        make_frame(frame, 100, 1000);
        size_t n = 4 + wire(wbuf + 4, frame, 100);
        io_all(cfd, wbuf, n, true);
        wait_link(false);
        ck_assert_int_eq(info_int("protocol_errors"), i + 1);
        run_for(50);
        ck_assert_uint_eq(nic.received, before);
        expect_closed(cfd);
        close(cfd);
        /* connect= tries again a second later; the peer accepts; traffic flows. */
        cfd = accept_wait(lfd, WAIT_MS);
        wait_link(true);
        ck_assert_uint_eq(nic.link_changes, 2 * (unsigned)i + 3); /* up, then down and up again */
    }
    exchange(cfd, 99, 1514);
    ck_assert_int_eq(info_int("connections_made"), 4);
    ck_assert_msg(max_rss_kb() - rss < 64 * 1024, "RSS grew by %ld KiB", max_rss_kb() - rss);
    close_all();
}
END_TEST

START_TEST(test_listen)
{
    open_on_free_port("listen");
    int c1 = tcp_connect_to(port);
    wait_link(true);
    exchange(c1, 1, 300);
    /* A second peer while c1 is connected: accepted and closed at once; c1 carries on. */
    int c2 = tcp_connect_to(port);
    expect_closed(c2);
    close(c2);
    exchange(c1, 3, 1514);
    ck_assert_int_eq(info_int("connections_refused"), 1);
    /* c1 leaves: link down, frames from the NIC dropped; the next peer brings it up. */
    close(c1);
    wait_link(false);
    ck_assert_uint_eq(nic.link_changes, 2);
    expect_send_down(5);
    int c3 = tcp_connect_to(port);
    wait_link(true);
    exchange(c3, 7, 60);
    ck_assert_uint_eq(nic.link_changes, 3);
    ck_assert_int_eq(info_int("connections_accepted"), 2);
    /* The peer resets; the NIC's next send meets it: the frame is lost (no SIGPIPE), the
     * link goes down from the loop, and a new peer is taken. */
    struct linger lg = {1, 0};
    setsockopt(c3, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c3);
    usleep(50 * 1000); /* the reset reaches nicvm's socket; the loop does not run */
    make_frame(frame, 60, 9);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, 60), 0);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_BACKEND], 1);
    wait_link(false);
    cfd = tcp_connect_to(port);
    wait_link(true);
    exchange(cfd, 11, 1000);
    close_all();
}
END_TEST

START_TEST(test_connect_before_listen)
{
    open_on_free_port("connect");
    expect_send_down(1);
    /* Nobody listens: a retry a second, not a busy loop. */
    unsigned events = run_for(1500);
    ck_assert_msg(events <= 10, "%u events in 1.5 s with no peer: spinning?", events);
    ck_assert(!netdev_link_up(nd));
    ck_assert_int_ge(info_int("connect_attempts"), 2);
    ck_assert_int_eq(info_int("connections_made"), 0);
    /* The peer starts listening: the link comes up within a few seconds. */
    lfd = tcp_listen_at(&port, 0);
    cfd = accept_wait(lfd, 3000);
    wait_link(true);
    ck_assert_uint_eq(nic.link_changes, 1);
    exchange(cfd, 2, 1514);
    close_all();
}
END_TEST

#define BP_FRAMES 8000
#define BP_LEN    1000

START_TEST(test_rx_backpressure)
{
    open_connected(0);
    static uint8_t w[BP_FRAMES * (BP_LEN + 4)];
    size_t total = 0, done = 0;
    for (uint32_t i = 0; i < BP_FRAMES; i++) {
        make_frame(frame, BP_LEN, i);
        total += wire(w + total, frame, BP_LEN);
    }
    /* Ten frames in one read, the NIC full at the first: nine wait in nicvm's buffer, with
     * nothing more to read, and come after rx_ready. */
    nic.refuse = true;
    io_all(cfd, w, 10 * (BP_LEN + 4), true);
    run_for(100);
    ck_assert_uint_eq(nic.refused, 1);
    nic.refuse = false;
    netdev_rx_ready(nd);
    wait_received(&nic, 10, "frames kept over a pause");
    for (uint32_t i = 0; i < 10; i++) {
        make_frame(frame, BP_LEN, i);
        expect_frame(&nic, frame, BP_LEN);
    }
    nic.refuse = true;
    nic.refused = nic.receive_calls = 0;
    /* Write until the kernel takes no more for 300 ms: nicvm stopped reading. */
    uint64_t idle_since = fn_now_ms(), start = idle_since;
    while (done < total && fn_now_ms() - idle_since < 300 && fn_now_ms() - start < WAIT_MS) {
        ssize_t n = send(cfd, w + done, total - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            idle_since = fn_now_ms();
        }
        evloop_run_once(loop, 10);
    }
    ck_assert_msg(done < total, "all %zu bytes went in: nicvm read while the NIC was full", done);
    ck_assert_uint_eq(nic.refused, 1);
    ck_assert_uint_eq(nic.receive_calls, 1);
    unsigned events = run_for(300);
    ck_assert_msg(events < 10, "%u events in 300 ms while paused: spinning?", events);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->rx_queued, 2); /* one a pause */
    ck_assert_uint_eq(st->drops[NETDEV_DROP_QUEUE_FULL], 0);
    /* Buffers again: everything arrives, in order. */
    nic.refuse = false;
    netdev_rx_ready(nd);
    io_all(cfd, w + done, total - done, true);
    wait_received(&nic, 10 + BP_FRAMES, "after rx_ready");
    for (uint32_t i = 0; i < BP_FRAMES; i++) {
        make_frame(frame, BP_LEN, i);
        expect_frame(&nic, frame, BP_LEN);
    }
    ck_assert_uint_eq(st->drops[NETDEV_DROP_QUEUE_FULL], 0);
    close_all();
}
END_TEST

/* Frame i of the TX back-pressure test: sizes from small to 60000 bytes. */
static size_t tx_len(uint32_t i)
{
    static const size_t lens[] = {1514, 60000, 60, 9014, 33333};
    return lens[i % 5];
}

START_TEST(test_tx_backpressure)
{
    open_connected(16384);
    /* The peer reads nothing: the NIC sends until the layer holds frames. */
    uint32_t sent = 0;
    while (netdev_can_send(nd) && sent < 20000) {
        make_frame(frame, tx_len(sent), sent);
        ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, tx_len(sent)), 0);
        sent++;
        evloop_run_once(loop, 0);
    }
    ck_assert_msg(!netdev_can_send(nd), "%u frames sent, never full", sent);
    for (int i = 0; i < 5; i++, sent++) { /* queued by the layer, not dropped */
        make_frame(frame, tx_len(sent), sent);
        ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, tx_len(sent)), 0);
    }
    run_for(100);
    ck_assert(!netdev_can_send(nd));
    ck_assert_uint_eq(nic.tx_ready_calls, 0);
    const struct netdev_stats *st = netdev_get_stats(nd);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(st->drops[i], 0);
    ck_assert_uint_ge(st->tx_eagain, 1);
    /* The peer reads it all: every frame, intact and in order. */
    for (uint32_t i = 0; i < sent; i++) {
        ck_assert_uint_eq(recv_wire(cfd), tx_len(i));
        make_frame(frame, tx_len(i), i);
        ck_assert_msg(!memcmp(rbuf + 4, frame, tx_len(i)), "frame %u differs", i);
    }
    run_for(50);
    ck_assert_uint_ge(nic.tx_ready_calls, 1);
    ck_assert(netdev_can_send(nd));
    ck_assert_int_ge(info_int("partial_write_stalls"), 1);
    exchange(cfd, 7, 1514);
    close_all();
}
END_TEST

START_TEST(test_option_errors)
{
    loop = evloop_create();
    expect_create_error("socket,id=s0,listen=:5000,connect=127.0.0.1:5000",
                        "listen= and connect= cannot be combined");
    expect_create_error("socket,id=s0,udp=127.0.0.1:5000,listen=:5000", "udp= and listen=");
    expect_create_error("socket,id=s0,udp=127.0.0.1:5000,listen=:5000,connect=127.0.0.1:1",
                        "udp=, listen= and connect=");
    expect_create_error("socket,id=s0,connect=nonsense", "connect=nonsense: expected HOST:PORT");
    expect_create_error("socket,id=s0,connect=:5000", "connect=:5000");
    expect_create_error("socket,id=s0,listen=127.0.0.1", "listen=127.0.0.1: expected");
    expect_create_error("socket,id=s0,mcast=230.0.0.1:5000", "mcast=");
    expect_create_error("socket,id=s0,listen=:5000,localaddr=127.0.0.1:0", "localaddr=");
    expect_create_error("socket,id=s0", "one of udp=");
    /* A port where the test listens already. */
    int p = 0, fd = tcp_listen_at(&p, 0);
    char spec[160], want[80];
    snprintf(spec, sizeof(spec), "socket,id=s0,listen=127.0.0.1:%d", p);
    snprintf(want, sizeof(want), "listen=127.0.0.1:%d: cannot listen", p);
    expect_create_error(spec, want);
    close(fd);
    evloop_destroy(loop);
}
END_TEST

static Suite *socket_stream_suite(void)
{
    Suite *s = suite_create("socket_stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connect_sizes);
    tcase_add_test(tc, test_chunking);
    tcase_add_test(tc, test_bad_length);
    tcase_add_test(tc, test_listen);
    tcase_add_test(tc, test_connect_before_listen);
    tcase_add_test(tc, test_rx_backpressure);
    tcase_add_test(tc, test_tx_backpressure);
    tcase_add_test(tc, test_option_errors);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(socket_stream_suite)
