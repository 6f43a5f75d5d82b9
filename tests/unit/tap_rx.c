/* Tap backend tests, kernel -> guest: receive offloads (TUNSETOFFLOAD) turning the kernel's
 * bulk TCP into GSO frames and back; a UDP flood while the NIC has no buffers holds one frame
 * and leaves the loop idle. Loop tests: _i == 0 with vnet_hdr on, 1 with vnet_hdr=off. */
#include "tests/unit/tap_fixture.h"

#include "net/backend.h"
#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- kernel -> guest receive offloads -------------------------------------------------------- */

struct rxstats {
    size_t max_len;
    unsigned gso_frames, frames;
};

static void record_frame(void *opaque, const struct fn_frame *f)
{
    struct rxstats *r = opaque;
    r->frames++;
    if (f->len > r->max_len)
        r->max_len = f->len;
    if (f->hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE && f->len > 1514)
        r->gso_frames++;
}

#define BULK (256 * 1024)

/* The kernel sends BULK bytes to the guest over TCP; returns what the NIC saw. */
static struct rxstats bulk_to_guest(void)
{
    static uint8_t rx[BULK + 1024], data[BULK];
    struct rxstats r = {0};
    g.on_frame = record_frame;
    g.opaque = &r;
    int lfd = kernel_socket(SOCK_STREAM, 0);
    struct fn_tcp t;
    int c = connect_guest(&t, lfd, 43000, rx, sizeof(rx));
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 5 + (i >> 12));
    size_t sent = 0;
    uint64_t end = fn_now_ms() + 2 * WAIT_MS;
    while (t.rx_len < sizeof(data) && fn_now_ms() < end) {
        if (sent < sizeof(data)) {
            ssize_t w = send(c, data + sent, sizeof(data) - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        fn_guest_poll(&g, 5);
    }
    ck_assert_msg(t.rx_len == sizeof(data), "the guest got %zu of %zu bytes", t.rx_len,
                  sizeof(data));
    ck_assert_mem_eq(rx, data, sizeof(data));
    close_rst(c);
    close(lfd);
    g.on_frame = NULL;
    return r;
}

START_TEST(test_rx_offloads_on)
{
    open_tap(true);
    unsigned want = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    ck_assert_int_eq(netdev_set_rx_offloads(nd, want), 0);
    ck_assert_uint_eq(netdev_rx_offloads(nd), want);
    struct rxstats r = bulk_to_guest();
    ck_assert_msg(r.gso_frames > 0 && r.max_len > 1514,
                  "no GSO frame from the kernel: %u frames, largest %zu", r.frames, r.max_len);
    close_tap();
}
END_TEST

START_TEST(test_rx_offloads_off)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    if (vnet) {
        ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM | TUN_F_TSO4), 0);
        ck_assert_int_eq(netdev_set_rx_offloads(nd, 0), 0);
    } else {
        ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM), -EOPNOTSUPP);
    }
    ck_assert_uint_eq(netdev_rx_offloads(nd), 0);
    struct rxstats r = bulk_to_guest();
    ck_assert_msg(r.max_len <= 1514 && r.gso_frames == 0,
                  "offloads off, yet a frame of %zu bytes (%u GSO)", r.max_len, r.gso_frames);
    close_tap();
}
END_TEST

/* --- back-pressure -----------------------------------------------------------------------------
 */

static uint32_t flood_seq(const struct fn_frame *f)
{
    struct fn_pkt p;
    fn_parse(f->data, f->len, &p);
    if (!p.l4 || p.proto != FN_PROTO_UDP || p.dport != 9999 || p.data_len < 4)
        return UINT32_MAX;
    return fn_get32(p.data);
}

START_TEST(test_flood_while_nic_full)
{
    struct sockaddr_in to;
    int fd = open_tap_nic_full(&to);
    unsigned ok = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        uint8_t payload[64] = {0};
        fn_put32(payload, i);
        if (sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
            ok++;
        if (i % 1000 == 0)
            evloop_run_once(loop, 0);
    }
    ck_assert_uint_gt(ok, 0);
    /* One second of refusal: one frame held, reading paused, the loop idle. */
    unsigned events = 0, iters = idle_for(1000, &events);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->rx_queued, 1);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_QUEUE_FULL], 0);
    ck_assert_uint_eq(g.nic.refused, 1);
    ck_assert_msg(events <= 5 && iters <= 60, "%u events in %u iterations over 1 s: spinning?",
                  events, iters);
    /* Buffers again: the held frame first, then the rest the tap kept, in order. */
    g.nic.refuse = false;
    netdev_rx_ready(nd);
    uint64_t end = fn_now_ms() + WAIT_MS;
    uint64_t last = 0;
    do {
        last = g.nic.received;
        for (int i = 0; i < 10; i++)
            evloop_run_once(loop, 10);
    } while ((g.nic.received == 0 || g.nic.received != last) && fn_now_ms() < end);
    ck_assert_uint_gt(g.nic.received, 1);
    uint32_t prev = 0;
    bool first = true;
    unsigned flood = 0;
    struct fn_frame *f;
    while ((f = fn_nic_pop(&g.nic))) {
        uint32_t seq = flood_seq(f);
        free(f);
        if (seq == UINT32_MAX)
            continue;
        ck_assert_msg(first || seq > prev, "frame %u after %u: out of order", seq, prev);
        first = false;
        prev = seq;
        flood++;
    }
    ck_assert_uint_gt(flood, 1);
    ck_assert_uint_eq(st->rx_packets, g.nic.received);
    close(fd);
    close_tap();
}
END_TEST

void tap_rx_tests(TCase *tc)
{
    tcase_add_test(tc, test_rx_offloads_on);
    tcase_add_loop_test(tc, test_rx_offloads_off, 0, 2);
    tcase_add_test(tc, test_flood_while_nic_full);
}
