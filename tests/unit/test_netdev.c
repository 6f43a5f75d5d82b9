/* Unit tests for the netdev core (net/netdev.c) with a fake backend defined here and the fake
 * NIC of tests/common/fakenet: the TX queue under EAGAIN and its flush, the bounded RX queue
 * with rx_pause/rx_resume and netdev_rx_ready from another thread, software GSO and checksum
 * offload checked with an independent checksum, vnet header pass-through, malformed frames
 * and guest headers dropped and counted, link down, observers and attach rules. */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* --- the fake backend ------------------------------------------------------------------------ */

#define BE_MAX_SENT 512

/* What the fake backend saw; one per test process (Check forks each test). */
static struct fakebe {
    bool eagain;                /* send() returns -EAGAIN while set */
    bool echo;                  /* send() answers at once with the same frame, as libslirp does */
    uint64_t nic_calls_in_send; /* NIC receive() calls seen while send() ran */
    int fail_errno;             /* send() returns -fail_errno while set */
    unsigned send_calls, pause_calls, resume_calls, offload_calls, close_calls;
    unsigned last_offloads;
    unsigned nsent;
    struct sent_frame sent[BE_MAX_SENT];
} be;

static struct fn_nic nic;

static int fake_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd;
    be.send_calls++;
    if (be.eagain)
        return -EAGAIN;
    if (be.fail_errno)
        return -be.fail_errno;
    ck_assert_uint_lt(be.nsent, BE_MAX_SENT);
    if (be.echo) {
        uint64_t before = nic.receive_calls;
        netdev_deliver(nd, NULL, iov, iovcnt, len);
        be.nic_calls_in_send += nic.receive_calls - before;
    }
    fakebe_record(&be.sent[be.nsent++], hdr, iov, iovcnt, len);
    return 0;
}

static void fake_rx_pause(struct netdev *nd)
{
    (void)nd;
    be.pause_calls++;
}

static void fake_rx_resume(struct netdev *nd)
{
    (void)nd;
    be.resume_calls++;
}

static int fake_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    (void)nd;
    be.offload_calls++;
    be.last_offloads = flags;
    return 0;
}

static void fake_close(struct netdev *nd)
{
    (void)nd;
    be.close_calls++;
}

static const struct netdev_backend_ops fake_ops = {
    .type = "fake",
    .summary = "test backend",
    .open = fakebe_open,
    .send = fake_send,
    .rx_pause = fake_rx_pause,
    .rx_resume = fake_rx_resume,
    .set_rx_offloads = fake_set_rx_offloads,
    .close = fake_close,
};

/* --- fixtures ----------------------------------------------------------------------------------
 */

static struct evloop *loop;
static struct netdev *nd;
static uint8_t frame[FN_MAX_FRAME];

static const struct fn_addr guest = {
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 40000};
static const struct fn_addr host = {
    {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, FN_IP4(10, 0, 2, 2), 5001};

/* Creates the loop, a fake netdev (vnet: with NETDEV_CAP_VNET_HDR) and attaches the NIC. */
static void open_fake(bool vnet)
{
    memset(&be, 0, sizeof(be));
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    nd = fakebe_create(loop, &fake_ops, "f0", vnet);
    ck_assert_int_eq(fn_nic_attach(&nic, nd, "fake-nic"), 0);
}

static void close_fake(void)
{
    fn_nic_clear(&nic);
    netdev_destroy(nd);
    ck_assert_uint_eq(be.close_calls, 1);
    evloop_destroy(loop);
    fakebe_free(be.sent, be.nsent);
    be.nsent = 0;
}

/* A UDP frame guest -> host whose payload starts with a 32-bit sequence number, padded to
 * plen bytes of payload. */
static size_t seq_frame(uint8_t *f, uint32_t seq, size_t plen)
{
    uint8_t payload[9000];
    ck_assert_uint_le(plen, sizeof(payload));
    ck_assert_uint_ge(plen, 4);
    memset(payload, (int)(seq & 0xff), plen);
    fn_put32(payload, seq);
    size_t n = fn_udp(f, FN_MAX_FRAME, &guest, &host, payload, plen, FN_CSUM_FULL);
    ck_assert_uint_gt(n, 0);
    return n;
}

static uint32_t frame_seq(const uint8_t *f, size_t len)
{
    struct fn_pkt p;
    ck_assert(fn_parse(f, len, &p));
    ck_assert_msg(p.l4 && p.proto == FN_PROTO_UDP, "not one of the test's UDP frames");
    return fn_get32(p.data);
}

static bool deliver(const uint8_t *f, size_t len)
{
    struct iovec iov = {(void *)f, len};
    return netdev_deliver(nd, NULL, &iov, 1, len);
}

/* Runs the loop until the NIC has received `want` frames in total, at most 5 s. */
static void run_until_received(uint64_t want)
{
    uint64_t end = fn_now_ms() + 5000;
    while (nic.received < want && fn_now_ms() < end)
        evloop_run_once(loop, 50);
    ck_assert_msg(nic.received >= want, "timeout: the NIC received %llu of %llu frames",
                  (unsigned long long)nic.received, (unsigned long long)want);
}

/* The TCP checksum of a segment, verified independently of net/offload.c: returns 0 when it
 * checks out. */
static uint16_t tcp_csum_check(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + FN_ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    size_t tcp_len = len - FN_ETH_HLEN - ihl;
    uint32_t pseudo = 0;
    for (int i = 12; i < 20; i += 2)
        pseudo += fn_get16(ip + i);
    pseudo += ip[9] + (uint32_t)tcp_len;
    return fn_csum_naive(pseudo, ip + ihl, tcp_len);
}

/* --- guest -> host: EAGAIN ------------------------------------------------------------------- */

START_TEST(test_tx_eagain_queues_and_flushes)
{
    open_fake(false);
    size_t la = seq_frame(frame, 1, 100);
    be.eagain = true;
    struct iovec iov = {frame, la};
    static const struct virtio_net_hdr_v1 zero;
    ck_assert(netdev_can_send(nd));
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, la), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(netdev_get_stats(nd)->tx_eagain, 1);
    ck_assert(!netdev_can_send(nd));
    /* A second frame goes behind the first without touching the backend. */
    uint8_t second[200];
    size_t lb = seq_frame(second, 2, 120);
    iov = (struct iovec){second, lb};
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, lb), 0);
    ck_assert_uint_eq(be.send_calls, 1);
    ck_assert_uint_eq(be.nsent, 0);
    /* Writable while still full: nothing leaves, tx_ready is not called. */
    netdev_backend_writable(nd);
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(nic.tx_ready_calls, 0);
    ck_assert_uint_eq(netdev_get_stats(nd)->tx_eagain, 2);
    ck_assert(!netdev_can_send(nd));
    /* Room again: both frames in order, then tx_ready once. */
    be.eagain = false;
    netdev_backend_writable(nd);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(be.sent[0].len, la);
    ck_assert_mem_eq(be.sent[0].data, frame, la);
    ck_assert_uint_eq(be.sent[1].len, lb);
    ck_assert_mem_eq(be.sent[1].data, second, lb);
    ck_assert(!be.sent[0].has_hdr && !be.sent[1].has_hdr);
    ck_assert_uint_eq(nic.tx_ready_calls, 1);
    ck_assert(netdev_can_send(nd));
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->tx_packets, 2);
    ck_assert_uint_eq(st->tx_bytes, la + lb);
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        ck_assert_uint_eq(st->drops[i], 0);
    close_fake();
}
END_TEST

START_TEST(test_tx_queue_bounded)
{
    open_fake(false);
    be.eagain = true;
    static const struct virtio_net_hdr_v1 zero;
    unsigned sent = 300;
    for (uint32_t i = 0; i < sent; i++) {
        size_t n = seq_frame(frame, i, 64);
        struct iovec iov = {frame, n};
        ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0); /* accepted: sent or queued */
    }
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t dropped = st->drops[NETDEV_DROP_BACKEND];
    ck_assert_msg(dropped > 0 && dropped < sent, "%llu of %u frames dropped: queue unbounded?",
                  (unsigned long long)dropped, sent);
    be.eagain = false;
    netdev_backend_writable(nd);
    /* What was queued leaves in order, and nothing else. */
    ck_assert_uint_eq(be.nsent + dropped, sent);
    for (unsigned i = 0; i < be.nsent; i++)
        ck_assert_uint_eq(frame_seq(be.sent[i].data, be.sent[i].len), i);
    ck_assert(netdev_can_send(nd));
    close_fake();
}
END_TEST

START_TEST(test_tx_backend_error_dropped)
{
    open_fake(false);
    static const struct virtio_net_hdr_v1 zero;
    size_t n = seq_frame(frame, 7, 64);
    struct iovec iov = {frame, n};
    be.fail_errno = EIO;
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_BACKEND], 1);
    ck_assert(netdev_can_send(nd)); /* a lost frame is not queued */
    be.fail_errno = 0;
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0);
    ck_assert_uint_eq(be.nsent, 1);
    close_fake();
}
END_TEST

/* A backend that answers inside send() (libslirp replies from slirp_input) must not re-enter
 * the NIC, which is in the middle of its TX path: the answer comes from the loop. */
START_TEST(test_answer_inside_send_deferred)
{
    open_fake(false);
    static const struct virtio_net_hdr_v1 zero;
    be.echo = true;
    for (uint32_t i = 0; i < 3; i++) {
        size_t n = seq_frame(frame, i, 64);
        struct iovec iov = {frame, n};
        ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0);
    }
    ck_assert_uint_eq(be.nic_calls_in_send, 0);
    ck_assert_uint_eq(nic.receive_calls, 0);
    run_until_received(3);
    for (uint32_t i = 0; i < 3; i++) {
        struct fn_frame *fr = fn_nic_pop(&nic);
        ck_assert_ptr_nonnull(fr);
        ck_assert_uint_eq(frame_seq(fr->data, fr->len), i);
        ck_assert_uint_eq(fr->len, be.sent[i].len);
        ck_assert_mem_eq(fr->data, be.sent[i].data, fr->len);
        free(fr);
    }
    close_fake();
}
END_TEST

/* --- host -> guest: the bounded RX queue ----------------------------------------------------- */

static void *rx_ready_thread(void *arg)
{
    netdev_rx_ready(arg);
    return NULL;
}

static void rx_ready_from_thread(void)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, rx_ready_thread, nd), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* Delivers `count` frames of plen payload bytes while the NIC refuses, then lets the NIC
 * accept from another thread; returns how many were queued. */
static unsigned rx_fill_and_drain(unsigned count, size_t plen)
{
    nic.refuse = true;
    for (uint32_t i = 0; i < count; i++) {
        size_t n = seq_frame(frame, i, plen);
        ck_assert(!deliver(frame, n)); /* "stop reading" every time while the NIC refuses */
    }
    const struct netdev_stats *st = netdev_get_stats(nd);
    unsigned queued = (unsigned)st->rx_queued;
    ck_assert_uint_eq(queued + st->drops[NETDEV_DROP_QUEUE_FULL], count);
    ck_assert_uint_eq(be.pause_calls, 1);
    ck_assert_uint_eq(be.resume_calls, 0);
    ck_assert_uint_eq(nic.received, 0);
    /* The queue is offered only after netdev_rx_ready, and then on the loop thread. */
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 0);
    ck_assert_uint_eq(nic.refused, 1);
    nic.refuse = false;
    rx_ready_from_thread();
    ck_assert_uint_eq(nic.received, 0);
    run_until_received(queued);
    ck_assert_uint_eq(nic.received, queued);
    for (uint32_t i = 0; i < queued; i++) {
        struct fn_frame *fr = fn_nic_pop(&nic);
        ck_assert_ptr_nonnull(fr);
        ck_assert_uint_eq(frame_seq(fr->data, fr->len), i); /* the oldest frames, in order */
        free(fr);
    }
    ck_assert_uint_eq(be.resume_calls, 1);
    ck_assert_uint_eq(st->rx_packets, queued);
    return queued;
}

START_TEST(test_rx_queue_bounded_by_frames)
{
    open_fake(false);
    unsigned queued = rx_fill_and_drain(400, 64);
    ck_assert_uint_eq(queued, 256);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_QUEUE_FULL], 400 - 256);
    /* Afterwards frames go straight through. */
    size_t n = seq_frame(frame, 1000, 64);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(nic.received, 257);
    close_fake();
}
END_TEST

START_TEST(test_rx_queue_bounded_by_bytes)
{
    open_fake(false);
    unsigned queued = rx_fill_and_drain(200, 9000);
    size_t len = seq_frame(frame, 0, 9000);
    ck_assert_uint_eq(queued, (1u << 20) / len); /* 1 MiB of frames */
    close_fake();
}
END_TEST

START_TEST(test_rx_partial_drain)
{
    open_fake(false);
    nic.refuse = true;
    for (uint32_t i = 0; i < 10; i++) {
        size_t n = seq_frame(frame, i, 64);
        deliver(frame, n);
    }
    ck_assert_uint_eq(netdev_get_stats(nd)->rx_queued, 10);
    /* The NIC takes frames until it refuses again: the rest stays queued, reading stays
     * paused, and a later netdev_rx_ready wakes the loop again. */
    nic.refuse = false;
    rx_ready_from_thread();
    run_until_received(1);
    ck_assert_uint_eq(nic.received, 10); /* all went in one flush */
    ck_assert_uint_eq(be.resume_calls, 1);

    /* Now the NIC takes two of five queued frames and refuses again: the rest stays queued,
     * reading stays paused, and a later netdev_rx_ready wakes the loop again. */
    nic.refuse = true;
    for (uint32_t i = 10; i < 15; i++) {
        size_t n = seq_frame(frame, i, 64);
        ck_assert(!deliver(frame, n));
    }
    ck_assert_uint_eq(be.pause_calls, 2);
    nic.refuse = false;
    nic.accept_budget = 2;
    rx_ready_from_thread();
    run_until_received(12);
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 0);
    ck_assert_uint_eq(nic.received, 12);
    ck_assert_uint_eq(be.resume_calls, 1);
    /* A new frame waits behind the queued ones instead of being offered first. */
    nic.accept_budget = -1;
    size_t n = seq_frame(frame, 15, 64);
    ck_assert(!deliver(frame, n));
    ck_assert_uint_eq(nic.received, 12);
    rx_ready_from_thread();
    rx_ready_from_thread(); /* two calls: one wake-up is enough, nothing is offered twice */
    run_until_received(16);
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 0);
    ck_assert_uint_eq(nic.received, 16);
    for (uint32_t i = 0; i < 16; i++) {
        struct fn_frame *fr = fn_nic_pop(&nic);
        ck_assert_ptr_nonnull(fr);
        ck_assert_uint_eq(frame_seq(fr->data, fr->len), i);
        free(fr);
    }
    ck_assert_uint_eq(be.resume_calls, 2);
    close_fake();
}
END_TEST

/* --- software offload --------------------------------------------------------------------------
 */

static struct fn_tcp tcp;

/* A 64 KiB TCPV4 GSO frame (one guest TSO send) with its virtio-net header. */
static size_t gso_frame(uint8_t *f, struct virtio_net_hdr_v1 *h, uint8_t *payload, size_t *plen)
{
    static uint8_t rxbuf[16];
    struct fn_addr peer = host;
    fn_tcp_init(&tcp, &guest, 0x11223344, rxbuf, sizeof(rxbuf));
    tcp.peer = peer;
    tcp.state = FN_TCP_ESTABLISHED;
    tcp.snd_nxt = 0xfffff000u; /* the sequence numbers wrap inside the burst */
    tcp.rcv_nxt = 0x55667788u;
    *plen = 65536 - FN_L4_OFF - FN_TCP_HLEN;
    for (size_t i = 0; i < *plen; i++)
        payload[i] = (uint8_t)(i * 7 + (i >> 8));
    size_t n = fn_tcp_gso(&tcp, f, FN_MAX_FRAME, payload, *plen, 1448, h);
    ck_assert_uint_eq(n, 65536);
    return n;
}

/* Checks the segments the backend got for the frame of gso_frame(), starting at sent[first]. */
static void check_segments(unsigned first, const uint8_t *orig, const uint8_t *payload, size_t plen)
{
    unsigned nseg = (unsigned)((plen + 1447) / 1448);
    ck_assert_uint_eq(nseg, 46);
    ck_assert_uint_eq(be.nsent - first, nseg);
    size_t off = 0;
    uint16_t id0 = fn_get16(orig + FN_ETH_HLEN + 4);
    for (unsigned i = 0; i < nseg; i++) {
        const struct sent_frame *s = &be.sent[first + i];
        size_t seg = plen - off < 1448 ? plen - off : 1448;
        struct fn_pkt p;
        ck_assert(!s->has_hdr);
        ck_assert_uint_eq(s->len, FN_L4_OFF + FN_TCP_HLEN + seg);
        ck_assert(fn_parse(s->data, s->len, &p));
        ck_assert_msg(p.ip && p.l4 && p.proto == FN_PROTO_TCP, "segment %u does not parse", i);
        ck_assert_uint_eq(p.ip_len, s->len - FN_ETH_HLEN);
        ck_assert_uint_eq(p.ip_id, (uint16_t)(id0 + i));
        ck_assert_msg(fn_csum_naive(0, s->data + FN_ETH_HLEN, FN_IP_HLEN) == 0,
                      "segment %u: bad IP header checksum", i);
        ck_assert_msg(tcp_csum_check(s->data, s->len) == 0, "segment %u: bad TCP checksum", i);
        ck_assert(p.ip_csum_ok && p.l4_csum_ok);
        ck_assert_uint_eq(p.seq, (uint32_t)(0xfffff000u + off));
        ck_assert_uint_eq(p.ack, 0x55667788u);
        uint8_t want_flags = FN_TCP_ACK | (i == nseg - 1 ? FN_TCP_PSH : 0);
        ck_assert_uint_eq(p.tcp_flags, want_flags);
        ck_assert_uint_eq(p.data_len, seg);
        ck_assert_mem_eq(p.data, payload + off, seg);
        /* Addresses, ports and the Ethernet header are the guest's. */
        ck_assert_mem_eq(s->data, orig, FN_ETH_HLEN);
        ck_assert_uint_eq(p.saddr, guest.ip);
        ck_assert_uint_eq(p.daddr, host.ip);
        ck_assert_uint_eq(p.sport, guest.port);
        ck_assert_uint_eq(p.dport, host.port);
        off += seg;
    }
    ck_assert_uint_eq(off, plen);
}

START_TEST(test_sw_gso_64k)
{
    open_fake(false);
    struct virtio_net_hdr_v1 h;
    static uint8_t payload[65536];
    size_t plen;
    size_t n = gso_frame(frame, &h, payload, &plen);
    struct iovec iov[3] = {{frame, 100}, {frame + 100, 30000}, {frame + 30100, n - 30100}};
    ck_assert_int_eq(netdev_send(nd, &h, iov, 3, n), 0);
    check_segments(0, frame, payload, plen);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, 1);
    ck_assert_uint_eq(st->tx_packets, 1);
    ck_assert_uint_eq(st->tx_bytes, n);
    close_fake();
}
END_TEST

START_TEST(test_sw_gso_while_backend_full)
{
    open_fake(false);
    struct virtio_net_hdr_v1 h;
    static uint8_t payload[65536];
    size_t plen;
    size_t n = gso_frame(frame, &h, payload, &plen);
    struct iovec iov = {frame, n};
    be.eagain = true;
    ck_assert_int_eq(netdev_send(nd, &h, &iov, 1, n), 0);
    ck_assert(!netdev_can_send(nd));
    ck_assert_uint_eq(be.send_calls, 1);
    /* Every segment of one 64 KiB frame fits the TX queue. */
    be.eagain = false;
    netdev_backend_writable(nd);
    check_segments(0, frame, payload, plen);
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_BACKEND], 0);
    ck_assert_uint_eq(nic.tx_ready_calls, 1);
    close_fake();
}
END_TEST

/* A UDP frame with NEEDS_CSUM and the pseudo-header seed reaches the backend with a valid
 * checksum; plen odd and even. */
static void check_sw_udp_csum(size_t plen)
{
    uint8_t payload[1500];
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(0xa5 ^ i);
    size_t n = fn_udp(frame, FN_MAX_FRAME, &guest, &host, payload, plen, FN_CSUM_PARTIAL);
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    struct iovec iov[2] = {{frame, 37}, {frame + 37, n - 37}}; /* split inside the UDP header */
    unsigned before = be.nsent;
    ck_assert_int_eq(netdev_send(nd, &h, iov, 2, n), 0);
    ck_assert_uint_eq(be.nsent, before + 1);
    const struct sent_frame *s = &be.sent[before];
    ck_assert(!s->has_hdr);
    ck_assert_uint_eq(s->len, n);
    /* Only the checksum field changed. */
    ck_assert_mem_eq(s->data, frame, FN_L4_OFF + 6);
    ck_assert_mem_eq(s->data + FN_L4_OFF + 8, frame + FN_L4_OFF + 8, n - FN_L4_OFF - 8);
    uint32_t pseudo = (guest.ip >> 16) + (guest.ip & 0xffff) + (host.ip >> 16) +
                      (host.ip & 0xffff) + FN_PROTO_UDP + (uint32_t)(n - FN_L4_OFF);
    ck_assert_uint_ne(fn_get16(s->data + FN_L4_OFF + 6), 0);
    ck_assert_msg(fn_csum_naive(pseudo, s->data + FN_L4_OFF, n - FN_L4_OFF) == 0,
                  "UDP checksum of a %zu-byte payload does not verify", plen);
    struct fn_pkt p;
    fn_parse(s->data, s->len, &p);
    ck_assert(p.l4 && p.l4_csum_ok);
}

START_TEST(test_sw_csum_udp)
{
    open_fake(false);
    check_sw_udp_csum(100);
    check_sw_udp_csum(333);
    check_sw_udp_csum(1);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_checksummed, 3);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_segmented, 0);
    close_fake();
}
END_TEST

START_TEST(test_vnet_hdr_passthrough)
{
    open_fake(true);
    ck_assert_uint_eq(netdev_caps(nd), NETDEV_CAP_VNET_HDR);
    struct virtio_net_hdr_v1 h;
    static uint8_t payload[65536];
    size_t plen;
    size_t n = gso_frame(frame, &h, payload, &plen);
    struct iovec iov = {frame, n};
    ck_assert_int_eq(netdev_send(nd, &h, &iov, 1, n), 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(be.sent[0].has_hdr);
    ck_assert_mem_eq(&be.sent[0].hdr, &h, sizeof(h));
    ck_assert_uint_eq(be.sent[0].len, n);
    ck_assert_mem_eq(be.sent[0].data, frame, n);
    /* A checksum-only frame too, and a frame that asks for nothing. */
    size_t u = fn_udp(frame, FN_MAX_FRAME, &guest, &host, "abc", 3, FN_CSUM_PARTIAL);
    fn_vnet_csum(&h, FN_L4_OFF, 6);
    iov = (struct iovec){frame, u};
    ck_assert_int_eq(netdev_send(nd, &h, &iov, 1, u), 0);
    ck_assert_mem_eq(&be.sent[1].hdr, &h, sizeof(h));
    ck_assert_mem_eq(be.sent[1].data, frame, u);
    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(netdev_send(nd, &h, &iov, 1, u), 0);
    ck_assert(be.sent[2].has_hdr);
    ck_assert_mem_eq(&be.sent[2].hdr, &h, sizeof(h));
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, 0);
    ck_assert_uint_eq(st->sw_checksummed, 0);
    /* RX offloads reach the backend's op. */
    ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM | TUN_F_TSO4), 0);
    ck_assert_uint_eq(be.last_offloads, TUN_F_CSUM | TUN_F_TSO4);
    ck_assert_uint_eq(netdev_rx_offloads(nd), TUN_F_CSUM | TUN_F_TSO4);
    close_fake();
}
END_TEST

/* --- malformed frames and headers ----------------------------------------------------------------
 */

/* Sends f with h and expects a MALFORMED drop that the backend never sees. */
static void expect_malformed(const struct virtio_net_hdr_v1 *h, const uint8_t *f, size_t len,
                             const char *what)
{
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t before = st->drops[NETDEV_DROP_MALFORMED], tx = st->tx_packets;
    unsigned calls = be.send_calls;
    struct iovec iov = {(void *)f, len};
    ck_assert_msg(netdev_send(nd, h, &iov, 1, len) == -EINVAL, "%s: not refused", what);
    ck_assert_msg(st->drops[NETDEV_DROP_MALFORMED] == before + 1, "%s: not counted", what);
    ck_assert_msg(be.send_calls == calls, "%s: reached the backend", what);
    ck_assert_uint_eq(st->tx_packets, tx);
}

static void malformed_suite(bool vnet)
{
    open_fake(vnet);
    static const struct virtio_net_hdr_v1 zero;
    static uint8_t payload[65536];
    struct virtio_net_hdr_v1 good, h;
    size_t plen;
    size_t n = gso_frame(frame, &good, payload, &plen);

    expect_malformed(&zero, frame, 0, "empty frame");
    expect_malformed(&zero, frame, 1, "1-byte frame");
    expect_malformed(&zero, frame, 13, "13-byte frame");
    static uint8_t big[NETDEV_MAX_FRAME + 1];
    memcpy(big, frame, 64);
    expect_malformed(&zero, big, NETDEV_MAX_FRAME + 1, "frame over NETDEV_MAX_FRAME");

    h = good;
    h.gso_type = 7; /* no such type */
    expect_malformed(&h, frame, n, "unknown gso_type");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP; /* UFO: not offered */
    expect_malformed(&h, frame, n, "gso_type UDP");
    h = good;
    h.gso_type = VIRTIO_NET_HDR_GSO_ECN; /* ECN alone */
    expect_malformed(&h, frame, n, "gso_type ECN alone");
    h = good;
    h.flags = 0;
    expect_malformed(&h, frame, n, "GSO without NEEDS_CSUM");
    h = good;
    h.flags |= 0x80;
    expect_malformed(&h, frame, n, "unknown flag");
    h = good;
    h.gso_size = 0;
    expect_malformed(&h, frame, n, "gso_size 0");
    h = good;
    h.gso_size = htole16(0xffff);
    expect_malformed(&h, frame, n, "gso_size GSO_BY_FRAGS");
    h = good;
    size_t small = FN_L4_OFF + FN_TCP_HLEN + 100;
    uint8_t smallf[FN_L4_OFF + FN_TCP_HLEN + 100];
    memcpy(smallf, frame, sizeof(smallf));
    fn_put16(smallf + FN_ETH_HLEN + 2, (uint16_t)(small - FN_ETH_HLEN));
    h.hdr_len = htole16((uint16_t)(small + 1));
    h.gso_size = htole16(48);
    expect_malformed(&h, smallf, small, "hdr_len past the frame");
    h = good;
    h.hdr_len = 0;
    expect_malformed(&h, frame, n, "GSO with hdr_len 0");

    /* Checksum offsets: past the frame, field straddling its end, wrapping 16 bits. */
    size_t u = fn_udp(smallf, sizeof(smallf), &guest, &host, "0123456789", 10, FN_CSUM_PARTIAL);
    fn_vnet_csum(&h, (uint16_t)u, 0);
    expect_malformed(&h, smallf, u, "csum_start past the frame");
    fn_vnet_csum(&h, FN_L4_OFF, (uint16_t)(u - FN_L4_OFF - 1));
    expect_malformed(&h, smallf, u, "csum field straddling the end");
    fn_vnet_csum(&h, FN_L4_OFF, 0xfffe);
    expect_malformed(&h, smallf, u, "csum_offset 0xfffe");
    fn_vnet_csum(&h, 0xffff, 0xffff);
    expect_malformed(&h, smallf, u, "csum_start and csum_offset 0xffff");
    fn_vnet_csum(&h, 4, 0);
    expect_malformed(&h, smallf, u, "csum_start inside the Ethernet header");
    h = good;
    h.csum_start = htole16(FN_L4_OFF + 4);
    expect_malformed(&h, frame, n, "GSO with csum_start off the TCP header");
    h = good;
    h.csum_offset = htole16(6);
    expect_malformed(&h, frame, n, "GSO with csum_offset off the TCP checksum");
    /* GSO header over a frame that is not TCP/IPv4. */
    h = good;
    expect_malformed(&h, smallf, u, "TCPV4 GSO over a UDP frame");
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    expect_malformed(&h, frame, n, "TCPV6 GSO over an IPv4 frame");
    h = good;
    expect_malformed(&h, frame, FN_L4_OFF + FN_TCP_HLEN, "GSO without payload");

    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_MALFORMED], 23);
    /* The good header still goes out afterwards. */
    struct iovec iov = {frame, n};
    ck_assert_int_eq(netdev_send(nd, &good, &iov, 1, n), 0);
    ck_assert_uint_eq(be.nsent, vnet ? 1 : 46);
    close_fake();
}

START_TEST(test_malformed_sw)
{
    malformed_suite(false);
}
END_TEST

START_TEST(test_malformed_vnet)
{
    malformed_suite(true);
}
END_TEST

START_TEST(test_malformed_from_backend)
{
    open_fake(false);
    uint8_t f[16] = {0};
    struct iovec iov = {f, 13};
    ck_assert(netdev_deliver(nd, NULL, &iov, 1, 13));
    ck_assert(netdev_deliver(nd, NULL, &iov, 1, 0));
    static uint8_t big[NETDEV_MAX_FRAME + 1];
    iov = (struct iovec){big, sizeof(big)};
    ck_assert(netdev_deliver(nd, NULL, &iov, 1, sizeof(big)));
    ck_assert_uint_eq(netdev_get_stats(nd)->drops[NETDEV_DROP_MALFORMED], 3);
    ck_assert_uint_eq(nic.receive_calls, 0);
    close_fake();
}
END_TEST

/* --- link, observers, attach -------------------------------------------------------------------
 */

START_TEST(test_link_down)
{
    open_fake(false);
    static const struct virtio_net_hdr_v1 zero;
    size_t n = seq_frame(frame, 1, 64);
    struct iovec iov = {frame, n};
    ck_assert(netdev_link_up(nd));
    netdev_set_link(nd, false);
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 1);
    ck_assert(!nic.link_up);
    netdev_set_link(nd, false); /* no change, no call */
    ck_assert_uint_eq(nic.link_changes, 1);
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), -ENETDOWN);
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), -ENETDOWN);
    ck_assert_uint_eq(be.send_calls, 0);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], 2);
    ck_assert_uint_eq(st->tx_packets, 0);
    /* Frames from the host are dropped too, and the NIC is not asked. */
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], 3);
    ck_assert_uint_eq(nic.receive_calls, 0);
    netdev_set_link(nd, true);
    ck_assert_uint_eq(nic.link_changes, 2);
    ck_assert(nic.link_up);
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(nic.received, 1);
    close_fake();
}
END_TEST

struct obs_rec {
    unsigned tx, rx;
    size_t last_len;
    enum netdev_dir last_dir;
    struct virtio_net_hdr_v1 last_hdr;
    uint8_t last[128];
};

static void obs_frame(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                      const struct iovec *iov, int iovcnt, size_t len)
{
    struct obs_rec *r = opaque;
    if (dir == NETDEV_TX)
        r->tx++;
    else
        r->rx++;
    r->last_dir = dir;
    r->last_len = len;
    r->last_hdr = *hdr;
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < sizeof(r->last) && off < len; i++) {
        size_t c = iov[i].iov_len;
        if (c > sizeof(r->last) - off)
            c = sizeof(r->last) - off;
        memcpy(r->last + off, iov[i].iov_base, c);
        off += c;
    }
}

START_TEST(test_observers)
{
    open_fake(false);
    struct obs_rec a = {0}, b = {0}, spare[NETDEV_MAX_OBSERVERS];
    struct netdev_observer oa = {obs_frame, &a}, ob = {obs_frame, &b};
    ck_assert_int_eq(netdev_add_observer(nd, &oa), 0);
    ck_assert_int_eq(netdev_add_observer(nd, &ob), 0);
    static const struct virtio_net_hdr_v1 zero;
    size_t n = seq_frame(frame, 3, 64);
    struct iovec iov = {frame, n};
    ck_assert_int_eq(netdev_send(nd, &zero, &iov, 1, n), 0);
    ck_assert_uint_eq(a.tx, 1);
    ck_assert_uint_eq(b.tx, 1);
    ck_assert_int_eq(a.last_dir, NETDEV_TX);
    ck_assert_uint_eq(a.last_len, n);
    ck_assert_mem_eq(a.last, frame, n < sizeof(a.last) ? n : sizeof(a.last));
    /* A GSO frame is observed once, as the guest sent it (before software offload). */
    struct virtio_net_hdr_v1 h;
    static uint8_t payload[65536];
    size_t plen;
    size_t g = gso_frame(frame, &h, payload, &plen);
    iov = (struct iovec){frame, g};
    ck_assert_int_eq(netdev_send(nd, &h, &iov, 1, g), 0);
    ck_assert_uint_eq(a.tx, 2);
    ck_assert_uint_eq(a.last_len, g);
    ck_assert_mem_eq(&a.last_hdr, &h, sizeof(h));
    /* A malformed frame is not observed. */
    iov.iov_len = 5;
    netdev_send(nd, &zero, &iov, 1, 5);
    ck_assert_uint_eq(a.tx, 2);
    /* RX: observed when the NIC takes the frame, not while it is refused and queued. */
    n = seq_frame(frame, 4, 80);
    nic.refuse = true;
    deliver(frame, n);
    ck_assert_uint_eq(a.rx, 0);
    nic.refuse = false;
    netdev_rx_ready(nd);
    run_until_received(1);
    ck_assert_uint_eq(a.rx, 1);
    ck_assert_int_eq(a.last_dir, NETDEV_RX);
    ck_assert_uint_eq(a.last_len, n);
    ck_assert_mem_eq(a.last, frame, n < sizeof(a.last) ? n : sizeof(a.last));
    /* Removal, and the limits. */
    ck_assert_int_eq(netdev_remove_observer(nd, &a), 0);
    ck_assert_int_eq(netdev_remove_observer(nd, &a), -ENOENT);
    deliver(frame, n);
    ck_assert_uint_eq(a.rx, 1);
    ck_assert_uint_eq(b.rx, 2);
    for (int i = 0; i < NETDEV_MAX_OBSERVERS - 1; i++) {
        struct netdev_observer o = {obs_frame, &spare[i]};
        ck_assert_int_eq(netdev_add_observer(nd, &o), 0);
    }
    struct netdev_observer o = {obs_frame, &spare[NETDEV_MAX_OBSERVERS - 1]};
    ck_assert_int_eq(netdev_add_observer(nd, &o), -ENOSPC);
    close_fake();
}
END_TEST

static size_t other_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                            const struct iovec *iov, int iovcnt, size_t len)
{
    (void)opaque, (void)hdr, (void)iov, (void)iovcnt;
    return len;
}

START_TEST(test_attach_twice_and_create_errors)
{
    open_fake(false);
    static const struct netdev_nic_ops other = {.receive = other_receive};
    ck_assert_int_eq(netdev_attach(nd, "second-nic", &other, NULL), -EBUSY);
    /* The first NIC still gets the frames. */
    size_t n = seq_frame(frame, 9, 64);
    deliver(frame, n);
    ck_assert_uint_eq(nic.received, 1);
    /* No vnet header: offloads other than none are refused. */
    ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM), -EOPNOTSUPP);
    ck_assert_int_eq(netdev_set_rx_offloads(nd, 0), 0);
    ck_assert_uint_eq(be.offload_calls, 0);
    ck_assert_str_eq(netdev_id(nd), "f0");
    ck_assert_str_eq(netdev_type(nd), "fake");

    char err[512];
    struct opts *o = opts_parse("nosuch,id=x", "type", err, sizeof(err));
    ck_assert_ptr_null(netdev_create(loop, o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "unknown type 'nosuch'") && strstr(err, "user"), "%s", err);
    opts_free(o);
    o = opts_parse("socket,udp=127.0.0.1:1,localaddr=127.0.0.1:0", "type", err, sizeof(err));
    ck_assert_ptr_null(netdev_create(loop, o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "id= is required"), "%s", err);
    opts_free(o);
    o = opts_parse("user,id=u9,bogus=1", "type", err, sizeof(err));
    ck_assert_ptr_null(netdev_create(loop, o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "bogus"), "%s", err);
    opts_free(o);
    close_fake();
}
END_TEST

static Suite *netdev_suite(void)
{
    Suite *s = suite_create("netdev");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tx_eagain_queues_and_flushes);
    tcase_add_test(tc, test_tx_queue_bounded);
    tcase_add_test(tc, test_tx_backend_error_dropped);
    tcase_add_test(tc, test_answer_inside_send_deferred);
    tcase_add_test(tc, test_rx_queue_bounded_by_frames);
    tcase_add_test(tc, test_rx_queue_bounded_by_bytes);
    tcase_add_test(tc, test_rx_partial_drain);
    tcase_add_test(tc, test_sw_gso_64k);
    tcase_add_test(tc, test_sw_gso_while_backend_full);
    tcase_add_test(tc, test_sw_csum_udp);
    tcase_add_test(tc, test_vnet_hdr_passthrough);
    tcase_add_test(tc, test_malformed_sw);
    tcase_add_test(tc, test_malformed_vnet);
    tcase_add_test(tc, test_malformed_from_backend);
    tcase_add_test(tc, test_link_down);
    tcase_add_test(tc, test_observers);
    tcase_add_test(tc, test_attach_twice_and_create_errors);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(netdev_suite)
