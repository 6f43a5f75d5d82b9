/* Tests for the socket backend (net/socket.c) over real UDP sockets on 127.0.0.1, with ports
 * picked free at run time: two backends with fake NICs exchange frames of many sizes both
 * ways (software offload included), strangers' datagrams are ignored, a peer that is not
 * bound yet loses frames without harm, oversized frames are dropped and counted, a NIC
 * without buffers pauses reading without spinning, and option errors name the option. */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/socket_fixture.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket netdev with id `id` that binds 127.0.0.1:local and sends to 127.0.0.1:peer. */
static struct netdev *open_socket(const char *id, int local, int peer)
{
    char spec[160];
    snprintf(spec, sizeof(spec), "socket,id=%s,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", id, peer,
             local);
    return socket_create(spec);
}

/* Two connected backends a and b with NICs na and nb. */
static struct netdev *nda, *ndb;
static struct fn_nic na, nb;
static int pa, pb;

static void open_pair(void)
{
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    pa = fn_free_port(SOCK_DGRAM);
    do
        pb = fn_free_port(SOCK_DGRAM);
    while (pb == pa);
    nda = open_socket("sa", pa, pb);
    ndb = open_socket("sb", pb, pa);
    ck_assert_int_eq(fn_nic_attach(&na, nda, "nic-a"), 0);
    ck_assert_int_eq(fn_nic_attach(&nb, ndb, "nic-b"), 0);
}

static void close_pair(void)
{
    fn_nic_clear(&na);
    fn_nic_clear(&nb);
    netdev_destroy(nda);
    netdev_destroy(ndb);
    evloop_destroy(loop);
}

START_TEST(test_exchange_sizes_both_ways)
{
    open_pair();
    static const size_t sizes[] = {14, 15, 60, 64, 1514, 1518, 4000, 8999, 9000, 9014};
    exchange_sizes(&na, &nb, sizes, sizeof(sizes) / sizeof(sizes[0]));
    send_burst(&na, &nb, 64, 1000); /* complete and in order */
    const struct netdev_stats *sa = netdev_get_stats(nda), *sb = netdev_get_stats(ndb);
    ck_assert_uint_eq(sa->tx_packets, 10 + 64);
    ck_assert_uint_eq(sb->rx_packets, 10 + 64);
    ck_assert_uint_eq(sb->tx_packets, 10);
    ck_assert_uint_eq(sa->rx_packets, 10);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(sa->drops[i] + sb->drops[i], 0);
    close_pair();
}
END_TEST

/* The backend has no vnet header: a GSO frame leaves as checksummed segments. */
START_TEST(test_software_offload_across)
{
    open_pair();
    static const struct fn_addr ga = {{0x52, 0x54, 0, 0, 0, 1}, FN_IP4(192, 168, 7, 1), 33000};
    static const struct fn_addr gb = {{0x52, 0x54, 0, 0, 0, 2}, FN_IP4(192, 168, 7, 2), 80};
    static uint8_t payload[32768], rx[16];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i ^ (i >> 7));
    struct fn_tcp t;
    fn_tcp_init(&t, &ga, 1000, rx, sizeof(rx));
    t.peer = gb;
    t.state = FN_TCP_ESTABLISHED;
    t.snd_nxt = 5000;
    struct virtio_net_hdr_v1 h;
    size_t n = fn_tcp_gso(&t, frame, sizeof(frame), payload, sizeof(payload), 1448, &h);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(fn_nic_send(&na, &h, frame, n), 0);
    unsigned nseg = (sizeof(payload) + 1447) / 1448;
    wait_received(&nb, nseg, "GSO segments");
    size_t off = 0;
    for (unsigned i = 0; i < nseg; i++) {
        struct fn_frame *fr = fn_nic_pop(&nb);
        ck_assert_ptr_nonnull(fr);
        struct fn_pkt p;
        fn_parse(fr->data, fr->len, &p);
        ck_assert_msg(p.l4 && p.ip_csum_ok && p.l4_csum_ok, "segment %u: bad checksums", i);
        ck_assert_uint_eq(p.seq, 5000 + off);
        ck_assert_uint_le(p.data_len, 1448);
        ck_assert_mem_eq(p.data, payload + off, p.data_len);
        off += p.data_len;
        free(fr);
    }
    ck_assert_uint_eq(off, sizeof(payload));
    ck_assert_uint_eq(netdev_get_stats(nda)->sw_segmented, 1);
    close_pair();
}
END_TEST

static int udp_socket_at(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s:%d: %s", ip, port,
                  strerror(errno));
    return fd;
}

static void send_to(int fd, int port, const void *buf, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

START_TEST(test_strangers_ignored)
{
    open_pair();
    /* From another port on the peer's address, and from the peer's port on another
     * address. */
    int s1 = udp_socket_at("127.0.0.1", 0);
    int s2 = udp_socket_at("127.0.0.2", pa);
    make_frame(frame, 100, 666);
    send_to(s1, pb, frame, 100);
    send_to(s2, pb, frame, 100);
    make_frame(frame, 100, 7);
    ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 100), 0);
    wait_received(&nb, 1, "legitimate frame");
    run_for(100);
    ck_assert_uint_eq(nb.received, 1);
    expect_frame(&nb, frame, 100);
    ck_assert_uint_eq(netdev_get_stats(ndb)->rx_packets, 1);
    close(s1);
    close(s2);
    close_pair();
}
END_TEST

START_TEST(test_peer_not_bound)
{
    loop = evloop_create();
    pa = fn_free_port(SOCK_DGRAM);
    do
        pb = fn_free_port(SOCK_DGRAM);
    while (pb == pa);
    nda = open_socket("sa", pa, pb);
    ck_assert_int_eq(fn_nic_attach(&na, nda, "nic-a"), 0);
    for (uint32_t i = 0; i < 20; i++) {
        make_frame(frame, 200, i);
        ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 200), 0);
        evloop_run_once(loop, 0);
    }
    /* Lost as on an unplugged cable; nothing spins on ICMP errors. */
    unsigned events = run_for(300);
    ck_assert_msg(events < 10, "%u events in 300 ms with no peer: spinning?", events);
    ck_assert_uint_eq(na.received, 0);
    ck_assert_uint_eq(netdev_get_stats(nda)->tx_packets, 20);
    ck_assert(netdev_can_send(nda));
    /* The peer appears: traffic works both ways. */
    ndb = open_socket("sb", pb, pa);
    ck_assert_int_eq(fn_nic_attach(&nb, ndb, "nic-b"), 0);
    make_frame(frame, 300, 100);
    ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 300), 0);
    wait_received(&nb, 1, "a -> b after the peer came up");
    expect_frame(&nb, frame, 300);
    make_frame(frame, 400, 101);
    ck_assert_int_eq(fn_nic_send(&nb, NULL, frame, 400), 0);
    wait_received(&na, 1, "b -> a");
    expect_frame(&na, frame, 400);
    close_pair();
}
END_TEST

START_TEST(test_oversized_frame_dropped)
{
    open_pair();
    /* NETDEV_MAX_FRAME is more than a UDP datagram carries: the backend loses it and says so. */
    make_frame(frame, NETDEV_MAX_FRAME, 1);
    ck_assert_int_eq(fn_nic_send(&na, NULL, frame, NETDEV_MAX_FRAME), 0);
    ck_assert_uint_eq(netdev_get_stats(nda)->drops[NETDEV_DROP_BACKEND], 1);
    ck_assert(netdev_can_send(nda));
    make_frame(frame, 65000, 2);
    ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 65000), 0);
    wait_received(&nb, 1, "64 KB frame");
    expect_frame(&nb, frame, 65000);
    close_pair();
}
END_TEST

START_TEST(test_backpressure)
{
    open_pair();
    nb.refuse = true;
    for (uint32_t i = 0; i < 100; i++) {
        make_frame(frame, 120, i);
        ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 120), 0);
    }
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (nb.refused == 0 && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_uint_eq(nb.refused, 1);
    /* Reading stops: one frame held, the rest waits in the socket, the loop idles. */
    unsigned events = run_for(300);
    ck_assert_msg(events < 10, "%u events in 300 ms while paused: spinning?", events);
    const struct netdev_stats *st = netdev_get_stats(ndb);
    ck_assert_uint_eq(st->rx_queued, 1);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_QUEUE_FULL], 0);
    ck_assert_uint_eq(nb.receive_calls, 1);
    nb.refuse = false;
    netdev_rx_ready(ndb);
    wait_received(&nb, 100, "after rx_ready");
    for (uint32_t i = 0; i < 100; i++) {
        make_frame(frame, 120, i);
        expect_frame(&nb, frame, 120);
    }
    close_pair();
}
END_TEST

START_TEST(test_option_errors)
{
    loop = evloop_create();
    expect_create_error("socket,id=s0,udp=127.0.0.1:5000", "localaddr=HOST:PORT are both required");
    expect_create_error("socket,id=s0,localaddr=127.0.0.1:5000", "both required");
    expect_create_error("socket,id=s0,udp=127.0.0.1,localaddr=127.0.0.1:0", "udp=127.0.0.1");
    expect_create_error("socket,id=s0,udp=127.0.0.1:5000,localaddr=[::1]:0", "localaddr=[::1]:0");
    expect_create_error("socket,id=s0,connect=127.0.0.1:5000,localaddr=127.0.0.1:0",
                        "localaddr= goes with udp= only");
    expect_create_error("socket,id=s0,mcast=230.0.0.1:5000", "only udp=");
    /* A local port taken by a socket without SO_REUSEADDR. */
    int fd = udp_socket_at("127.0.0.1", 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char spec[160];
    snprintf(spec, sizeof(spec), "socket,id=s0,udp=127.0.0.1:5000,localaddr=127.0.0.1:%d",
             ntohs(sa.sin_port));
    expect_create_error(spec, "cannot bind");
    close(fd);
    evloop_destroy(loop);
}
END_TEST

static Suite *socket_suite(void)
{
    Suite *s = suite_create("socket");
    TCase *tc = tcase_create("udp");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_exchange_sizes_both_ways);
    tcase_add_test(tc, test_software_offload_across);
    tcase_add_test(tc, test_strangers_ignored);
    tcase_add_test(tc, test_peer_not_bound);
    tcase_add_test(tc, test_oversized_frame_dropped);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_option_errors);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(socket_suite)
