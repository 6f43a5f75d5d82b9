/* The fixture of the netdev core unit tests (test_netdev.c and the netdev_*.c files it runs):
 * a fake backend whose send() can refuse, fail or answer inside the call, the fake NIC of
 * tests/common/fakenet, and frame helpers. */
#include "tests/unit/netdev_fixture.h"

#include "net/backend.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* --- the fake backend ------------------------------------------------------------------------ */

struct netdev_fakebe be;
struct fn_nic nic;

static int fake_send(struct netdev *dev, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    be.send_calls++;
    if (be.eagain)
        return -EAGAIN;
    if (be.fail_errno)
        return -be.fail_errno;
    ck_assert_uint_lt(be.nsent, BE_MAX_SENT);
    if (be.echo) {
        uint64_t before = nic.receive_calls;
        netdev_deliver(dev, NULL, iov, iovcnt, len);
        be.nic_calls_in_send += nic.receive_calls - before;
    }
    fakebe_record(&be.sent[be.nsent++], hdr, iov, iovcnt, len);
    return 0;
}

static void fake_rx_pause(struct netdev *dev)
{
    (void)dev;
    be.pause_calls++;
}

static void fake_rx_resume(struct netdev *dev)
{
    (void)dev;
    be.resume_calls++;
}

static int fake_set_rx_offloads(struct netdev *dev, unsigned flags)
{
    (void)dev;
    be.offload_calls++;
    be.last_offloads = flags;
    return 0;
}

static void fake_close(struct netdev *dev)
{
    (void)dev;
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

/* --- fixture --------------------------------------------------------------------------------- */

struct evloop *loop;
struct netdev *nd;
uint8_t frame[FN_MAX_FRAME];
uint8_t gso_payload[65536];
size_t gso_plen;

const struct fn_addr guest = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 40000};
const struct fn_addr host = {{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, FN_IP4(10, 0, 2, 2), 5001};

void open_fake(bool vnet)
{
    memset(&be, 0, sizeof(be));
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    nd = fakebe_create(loop, &fake_ops, "f0", vnet);
    ck_assert_int_eq(fn_nic_attach(&nic, nd, "fake-nic"), 0);
}

void close_fake(void)
{
    fn_nic_clear(&nic);
    netdev_destroy(nd);
    ck_assert_uint_eq(be.close_calls, 1);
    evloop_destroy(loop);
    fakebe_free(be.sent, be.nsent);
    be.nsent = 0;
}

size_t seq_frame(uint8_t *f, uint32_t seq, size_t plen)
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

uint32_t frame_seq(const uint8_t *f, size_t len)
{
    struct fn_pkt p;
    ck_assert(fn_parse(f, len, &p));
    ck_assert_msg(p.l4 && p.proto == FN_PROTO_UDP, "not one of the test's UDP frames");
    return fn_get32(p.data);
}

bool deliver(const uint8_t *f, size_t len)
{
    struct iovec iov = {(void *)f, len};
    return netdev_deliver(nd, NULL, &iov, 1, len);
}

void run_until_received(uint64_t want)
{
    uint64_t end = fn_now_ms() + 5000;
    while (nic.received < want && fn_now_ms() < end)
        evloop_run_once(loop, 50);
    ck_assert_msg(nic.received >= want, "timeout: the NIC received %llu of %llu frames",
                  (unsigned long long)nic.received, (unsigned long long)want);
}

void run_idle(void)
{
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 0);
}

static void *rx_ready_thread(void *arg)
{
    netdev_rx_ready(arg);
    return NULL;
}

void rx_ready_from_thread(void)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, rx_ready_thread, nd), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

struct fn_frame *pop_seq(uint32_t want)
{
    struct fn_frame *fr = fn_nic_pop(&nic);
    ck_assert_ptr_nonnull(fr);
    ck_assert_uint_eq(frame_seq(fr->data, fr->len), want);
    return fr;
}

size_t gso_frame(uint8_t *f, struct virtio_net_hdr_v1 *h)
{
    static struct fn_tcp tcp;
    static uint8_t rxbuf[16];
    fn_tcp_init(&tcp, &guest, 0x11223344, rxbuf, sizeof(rxbuf));
    tcp.peer = host;
    tcp.state = FN_TCP_ESTABLISHED;
    tcp.snd_nxt = 0xfffff000u; /* the sequence numbers wrap inside the burst */
    tcp.rcv_nxt = 0x55667788u;
    gso_plen = 65536 - FN_L4_OFF - FN_TCP_HLEN;
    for (size_t i = 0; i < gso_plen; i++)
        gso_payload[i] = (uint8_t)(i * 7 + (i >> 8));
    size_t n = fn_tcp_gso(&tcp, f, FN_MAX_FRAME, gso_payload, gso_plen, 1448, h);
    ck_assert_uint_eq(n, 65536);
    return n;
}
