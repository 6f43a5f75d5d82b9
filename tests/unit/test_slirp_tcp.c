/* End-to-end tests of the user backend's TCP GSO coalescing (NETDEV_CAP_GSO_COALESCED, see
 * net/slirp.c): a fake guest (tests/common/fakenet) connects through the real libslirp to a
 * listening socket on the host's loopback and sends TSO frames of 60000+ bytes. The host
 * must read exactly those bytes in order, libslirp must ACK all of them, and it must have
 * taken each frame as one packet: one ACK per frame, where 44 segments would draw about 44.
 * The frames carry an IPv4 total length of 0 (what Linux leaves in a GSO frame over 64 KiB)
 * and a stale header checksum, so libslirp only accepts them if the layer set both. */
#define _GNU_SOURCE /* accept4 */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS  5000
#define GUEST_IP FN_IP4(10, 0, 2, 15) /* libslirp's defaults: 10.0.2.0/24 */
#define HOST_IP  FN_IP4(10, 0, 2, 2)  /* the gateway, mapped to the host's 127.0.0.1 */
#define MSS      1460
#define FRAME1   64000 /* payload of the first TSO frame: 44 segments of MSS */
#define FRAME2   61000 /* and of the second, once the first is ACKed */

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x10, 0x20, 0x30};
static const uint8_t host_mac[6] = {0x52, 0x55, 10, 0, 2, 2}; /* libslirp: 52:55 + its IP */

/* What the test watches: the host end of the connection and libslirp's replies. */
struct e2e {
    struct evloop *loop;
    struct netdev *nd;
    struct fn_guest g;
    struct fn_tcp t;
    int listen_fd, fd;
    uint8_t host_rx[FRAME1 + FRAME2];
    size_t host_len;
    unsigned acks;     /* segments from libslirp with ACK set */
    uint32_t last_ack; /* the latest one's acknowledgement number */
    uint8_t guest_rx[4096];
};

static struct e2e e;
static uint8_t payload[FRAME1 + FRAME2], frame[FN_MAX_FRAME];

/* Frames for the guest: count libslirp's ACKs on the connection. */
static void on_frame(void *opaque, const struct fn_frame *f)
{
    struct e2e *x = opaque;
    struct fn_pkt p;
    if (fn_parse(f->data, f->len, &p) && p.l4 && p.proto == FN_PROTO_TCP &&
        (p.tcp_flags & FN_TCP_ACK) && p.dport == x->t.self.port) {
        x->acks++;
        x->last_ack = p.ack;
    }
}

/* Host side, once per poll: accept the connection and read what arrived. */
static void host_tick(void *opaque)
{
    struct e2e *x = opaque;
    if (x->fd < 0)
        x->fd = accept4(x->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (x->fd >= 0 && x->host_len < sizeof(x->host_rx)) {
        ssize_t n = recv(x->fd, x->host_rx + x->host_len, sizeof(x->host_rx) - x->host_len, 0);
        if (n <= 0)
            break;
        x->host_len += (size_t)n;
    }
}

static bool established(void *arg)
{
    struct fn_tcp *t = arg;
    return t->state == FN_TCP_ESTABLISHED || t->reset;
}

static bool host_has(void *arg)
{
    return e.host_len >= *(size_t *)arg;
}

static bool all_acked(void *arg)
{
    struct fn_tcp *t = arg;
    return t->snd_una == t->snd_nxt;
}

/* A user netdev with libslirp's default addresses, the fake guest on it, a listening socket
 * on 127.0.0.1, and the guest's connection to it (through 10.0.2.2) established. */
static void setup(void)
{
    char err[256] = "";
    memset(&e, 0, sizeof(e));
    e.fd = -1;
    e.loop = evloop_create();
    ck_assert_ptr_nonnull(e.loop);
    struct opts *o = opts_parse("user,id=u0", "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    e.nd = netdev_create(e.loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(e.nd != NULL, "%s", err);
    ck_assert_uint_eq(netdev_caps(e.nd), NETDEV_CAP_GSO_COALESCED);

    struct fn_addr self = {.ip = GUEST_IP, .port = 40100}, peer = {.ip = HOST_IP};
    memcpy(self.mac, guest_mac, 6);
    memcpy(peer.mac, host_mac, 6);
    fn_guest_init(&e.g, e.loop, &self);
    e.g.check_csum = true;
    e.g.on_frame = on_frame;
    e.g.tick = host_tick;
    e.g.opaque = &e;
    ck_assert_int_eq(fn_nic_attach(&e.g.nic, e.nd, "fake-nic"), 0);

    e.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    ck_assert_int_eq(bind(e.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(e.listen_fd, 1), 0);
    ck_assert_int_eq(getsockname(e.listen_fd, (struct sockaddr *)&sa, &salen), 0);
    peer.port = ntohs(sa.sin_port);

    fn_tcp_init(&e.t, &self, 0x12345678u, e.guest_rx, sizeof(e.guest_rx));
    fn_guest_add_tcp(&e.g, &e.t);
    fn_guest_send(&e.g, frame, fn_tcp_syn(&e.t, &peer, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&e.g, established, &e.t, WAIT_MS) && !e.t.reset,
                  "no connection through libslirp (state %d)", e.t.state);
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + (i >> 9) + 3);
}

static void teardown(void)
{
    ck_assert_uint_eq(e.g.bad_csum, 0);
    if (e.fd >= 0)
        close(e.fd);
    close(e.listen_fd);
    fn_nic_clear(&e.g.nic);
    netdev_destroy(e.nd);
    evloop_destroy(e.loop);
}

/* Sends payload[off..off + len) as one TSO frame (ACK|PSH, gso_size MSS) with the IPv4 total
 * length zeroed and the header checksum left stale, then checks that the host gets it and
 * that libslirp ACKs it in one segment. */
static void send_tso(size_t off, size_t len)
{
    struct virtio_net_hdr_v1 h;
    size_t n = fn_tcp_gso(&e.t, frame, sizeof(frame), payload + off, len, MSS, &h);
    ck_assert_uint_eq(n, FN_L4_OFF + FN_TCP_HLEN + len);
    fn_put16(frame + FN_ETH_HLEN + 2, 0);
    unsigned acks0 = e.acks;
    ck_assert_int_eq(fn_nic_send(&e.g.nic, &h, frame, n), 0);

    size_t want = off + len;
    ck_assert_msg(fn_guest_run_until(&e.g, host_has, &want, WAIT_MS),
                  "the host got %zu of %zu bytes", e.host_len, want);
    ck_assert_uint_eq(e.host_len, want);
    ck_assert_mem_eq(e.host_rx, payload, want);
    ck_assert_msg(fn_guest_run_until(&e.g, all_acked, &e.t, WAIT_MS),
                  "libslirp ACKed up to %u, the guest sent up to %u", e.last_ack, e.t.snd_nxt);
    ck_assert_uint_eq(e.last_ack, e.t.snd_nxt);
    /* One TCP input in libslirp, one ACK (a segmented frame draws one per segment). */
    ck_assert_uint_ge(e.acks - acks0, 1);
    ck_assert_uint_le(e.acks - acks0, 3);
}

START_TEST(test_tso_v4_reaches_host_as_one_packet)
{
    setup();
    /* The frame must fit libslirp's receive window, or it trims the excess. */
    ck_assert_uint_ge(e.t.peer_wnd, FRAME1);
    send_tso(0, FRAME1);
    send_tso(FRAME1, FRAME2);

    const struct netdev_stats *st = netdev_get_stats(e.nd);
    ck_assert_uint_eq(st->sw_coalesced, 2);
    ck_assert_uint_eq(st->sw_segmented, 0);
    for (int r = 0; r < NETDEV_DROP_REASONS; r++)
        ck_assert_uint_eq(st->drops[r], 0);
    json_t *info = netdev_info(e.nd); /* what the monitor and --exit-stats show */
    ck_assert_int_eq(json_integer_value(json_object_get(info, "sw_coalesced")), 2);
    json_decref(info);
    teardown();
}
END_TEST

/* A GSO frame the layer refuses (csum_start not at the TCP header) reaches nothing and the
 * connection carries on. */
START_TEST(test_bad_gso_header_dropped)
{
    setup();
    struct virtio_net_hdr_v1 h;
    size_t n = fn_tcp_gso(&e.t, frame, sizeof(frame), payload, FRAME1, MSS, &h);
    e.t.snd_nxt -= FRAME1; /* never sent */
    h.csum_start = htole16(FN_L4_OFF + 2);
    ck_assert_int_eq(fn_nic_send(&e.g.nic, &h, frame, n), -EINVAL);
    const struct netdev_stats *st = netdev_get_stats(e.nd);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_MALFORMED], 1);
    ck_assert_uint_eq(st->sw_coalesced, 0);
    send_tso(0, FRAME1);
    teardown();
}
END_TEST

static Suite *slirp_tcp_suite(void)
{
    Suite *s = suite_create("slirp_tcp");
    TCase *tc = tcase_create("gso");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tso_v4_reaches_host_as_one_packet);
    tcase_add_test(tc, test_bad_gso_header_dropped);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(slirp_tcp_suite)
