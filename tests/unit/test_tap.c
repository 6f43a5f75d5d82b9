/* Tests for the tap backend (net/tap.c) against the real Linux kernel, inside a network
 * namespace made for the run (nicvm-test-PID, deleted at exit): ARP and ping answered by the
 * kernel; UDP with NEEDS_CSUM and a 32 KiB TCP GSO frame delivered to kernel sockets with
 * vnet_hdr on (the kernel does the offload) and off (nicvm does it); receive offloads
 * (TUNSETOFFLOAD) turning the kernel's bulk TCP into GSO frames and back; a UDP flood while
 * the NIC has no buffers holds one frame and leaves the loop idle; and the interface deleted
 * under traffic or while reading is paused takes the link down without a busy loop.
 *
 * Needs root and `ip netns`; otherwise prints "SKIP: reason" and exits 77. */
#define _GNU_SOURCE /* setns() and CLONE_NEWNET (<sched.h>): entering the test's namespace */

#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS   5000
#define IFNAME    "nicvmt0"
#define HOST_IP   FN_IP4(10, 77, 0, 1)
#define GUEST_IP  FN_IP4(10, 77, 0, 2)
#define NS_PREFIX "nicvm-test-"

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x02};

static struct evloop *loop;
static struct netdev *nd;
static struct fn_guest g;
static uint8_t host_mac[6];
static uint8_t frame[FN_MAX_FRAME];

/* --- the namespace ---------------------------------------------------------------------------- */

static char ns_name[64];
static pid_t main_pid;

static void ns_delete(void)
{
    char cmd[128];
    if (getpid() != main_pid || !ns_name[0]) /* Check's forked test processes: not theirs */
        return;
    snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_name);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tap: could not delete namespace %s\n", ns_name);
    ns_name[0] = '\0';
}

static void on_signal(int sig)
{
    ns_delete();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Deletes namespaces left by earlier runs that were killed (their PID is gone). */
static void ns_reap_stale(void)
{
    DIR *d = opendir("/run/netns");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, NS_PREFIX, strlen(NS_PREFIX)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(NS_PREFIX), NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char cmd[300];
            snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", e->d_name);
            if (system(cmd) != 0)
                fprintf(stderr, "test_tap: could not delete stale namespace %s\n", e->d_name);
        }
    }
    if (d)
        closedir(d);
}

/* --- helpers ------------------------------------------------------------------------------------
 */

static void sh(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "'%s' failed (status %d)", cmd, rc);
}

static void write_sysctl(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(value, f);
        fclose(f);
    }
}

/* A tap netdev named IFNAME (vnet_hdr on or off), configured as 10.77.0.1/24 and up, with
 * the fake guest 10.77.0.2 attached. */
static void open_tap(bool vnet)
{
    char err[512] = "";
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    struct opts *o =
        opts_parse(vnet ? "tap,id=t0,ifname=" IFNAME : "tap,id=t0,ifname=" IFNAME ",vnet_hdr=off",
                   "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    nd = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "netdev_create: %s", err);
    ck_assert_uint_eq(netdev_caps(nd), vnet ? NETDEV_CAP_VNET_HDR : 0);
    struct fn_addr self = {.ip = GUEST_IP};
    memcpy(self.mac, guest_mac, 6);
    fn_guest_init(&g, loop, &self);
    g.check_csum = true;
    ck_assert_int_eq(fn_nic_attach(&g.nic, nd, "fake-nic"), 0);
    sh("ip addr add 10.77.0.1/24 dev " IFNAME " && ip link set " IFNAME " up");
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", IFNAME);
    ck_assert_int_eq(ioctl(fd, SIOCGIFHWADDR, &ifr), 0);
    memcpy(host_mac, ifr.ifr_hwaddr.sa_data, 6);
    close(fd);
}

static void close_tap(void)
{
    ck_assert_msg(g.bad_csum == 0, "%u frames from the kernel with bad checksums", g.bad_csum);
    fn_nic_clear(&g.nic);
    netdev_destroy(nd);
    evloop_destroy(loop);
}

static struct fn_addr host_addr(uint16_t port)
{
    struct fn_addr a = {.ip = HOST_IP, .port = port};
    memcpy(a.mac, host_mac, 6);
    return a;
}

static struct fn_addr guest_addr(uint16_t port)
{
    struct fn_addr a = {.ip = GUEST_IP, .port = port};
    memcpy(a.mac, guest_mac, 6);
    return a;
}

/* A non-blocking kernel socket bound to 10.77.0.1 (port 0: any), listening if TCP. */
static int kernel_socket(int type, int port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(HOST_IP);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    if (type == SOCK_STREAM)
        ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* Closes a kernel TCP socket with a reset, so that nothing of it (a FIN retransmitted on the
 * next test's interface) outlives the test. */
static void close_rst(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Udp InCsumErrors from /proc/net/snmp (this namespace's). */
static long udp_csum_errors(void)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    ck_assert_ptr_nonnull(f);
    char head[1024], vals[1024];
    long result = -1;
    while (fgets(head, sizeof(head), f)) {
        if (strncmp(head, "Udp:", 4) != 0 || !fgets(vals, sizeof(vals), f))
            continue;
        char *hs, *vs;
        char *h = strtok_r(head, " \n", &hs), *v = strtok_r(vals, " \n", &vs);
        while (h && v) {
            if (strcmp(h, "InCsumErrors") == 0)
                result = strtol(v, NULL, 10);
            h = strtok_r(NULL, " \n", &hs);
            v = strtok_r(NULL, " \n", &vs);
        }
        break;
    }
    fclose(f);
    return result;
}

/* Runs the loop for ms milliseconds in 20 ms waits; returns the iterations and adds the
 * events handled to *events. */
static unsigned idle_for(int ms, unsigned *events)
{
    unsigned iters = 0;
    uint64_t end = fn_now_ms() + (uint64_t)ms;
    while (fn_now_ms() < end) {
        int n = evloop_run_once(loop, 20);
        ck_assert_int_ge(n, 0);
        *events += (unsigned)n;
        iters++;
    }
    return iters;
}

/* --- ARP and ping
 * --------------------------------------------------------------------------------- */

static bool match_arp_reply(void *arg, const struct fn_pkt *p)
{
    (void)arg;
    return p->arp && p->arp_op == FN_ARP_REPLY && p->arp_spa == HOST_IP;
}

static bool match_echo_reply(void *arg, const struct fn_pkt *p)
{
    uint16_t seq = *(uint16_t *)arg;
    return p->l4 && p->proto == FN_PROTO_ICMP && p->icmp_type == FN_ICMP_REPLY &&
           p->saddr == HOST_IP && p->icmp_id == 0x7777 && p->icmp_seq == seq;
}

START_TEST(test_arp_and_ping)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    struct fn_addr self = guest_addr(0), host = host_addr(0);
    fn_guest_send(&g, frame, fn_arp_request(frame, sizeof(frame), &self, HOST_IP));
    struct fn_frame *fr = fn_guest_wait(&g, match_arp_reply, NULL, WAIT_MS);
    ck_assert_msg(fr != NULL, "no ARP reply from the kernel");
    struct fn_pkt p;
    fn_parse(fr->data, fr->len, &p);
    ck_assert_mem_eq(p.arp_sha, host_mac, 6);
    ck_assert_mem_eq(p.src, host_mac, 6);
    ck_assert_mem_eq(p.dst, guest_mac, 6);
    ck_assert_mem_eq(p.arp_tha, guest_mac, 6);
    ck_assert_uint_eq(p.arp_tpa, GUEST_IP);
    free(fr);
    for (uint16_t seq = 1; seq <= 3; seq++) {
        uint8_t payload[200];
        for (size_t i = 0; i < sizeof(payload); i++)
            payload[i] = (uint8_t)(i * seq);
        size_t n = fn_icmp_echo(frame, sizeof(frame), &self, &host, FN_ICMP_ECHO, 0x7777, seq,
                                payload, sizeof(payload));
        fn_guest_send(&g, frame, n);
        fr = fn_guest_wait(&g, match_echo_reply, &seq, WAIT_MS);
        ck_assert_msg(fr != NULL, "no echo reply for seq %u", seq);
        fn_parse(fr->data, fr->len, &p);
        ck_assert(p.ip_csum_ok && p.l4_csum_ok);
        ck_assert_uint_eq(p.daddr, GUEST_IP);
        ck_assert_uint_eq(p.data_len, sizeof(payload));
        ck_assert_mem_eq(p.data, payload, sizeof(payload));
        free(fr);
    }
    ck_assert_uint_eq(g.send_errors, 0);
    close_tap();
}
END_TEST

/* --- guest -> kernel offloads ---------------------------------------------------------------- */

/* Polls the guest until the kernel socket fd has a datagram (returns its length) or ms pass
 * (returns -1). */
static ssize_t wait_datagram(int fd, uint8_t *buf, size_t cap, struct sockaddr_in *from, int ms)
{
    uint64_t end = fn_now_ms() + (uint64_t)ms;
    do {
        socklen_t flen = sizeof(*from);
        ssize_t n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &flen);
        if (n >= 0)
            return n;
        fn_guest_poll(&g, 10);
    } while (fn_now_ms() < end);
    return -1;
}

START_TEST(test_udp_needs_csum)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int fd = kernel_socket(SOCK_DGRAM, 0);
    struct fn_addr self = guest_addr(41000), host = host_addr(local_port(fd));
    static const size_t sizes[] = {1, 333, 1400};
    long errs0 = udp_csum_errors();
    ck_assert_int_ge(errs0, 0);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint8_t payload[1400], got[2000];
        for (size_t i = 0; i < sizes[k]; i++)
            payload[i] = (uint8_t)(i * 3 + k);
        size_t n = fn_udp(frame, sizeof(frame), &self, &host, payload, sizes[k], FN_CSUM_PARTIAL);
        struct virtio_net_hdr_v1 h;
        fn_vnet_csum(&h, FN_L4_OFF, 6);
        ck_assert_int_eq(fn_nic_send(&g.nic, &h, frame, n), 0);
        struct sockaddr_in from;
        ssize_t r = wait_datagram(fd, got, sizeof(got), &from, WAIT_MS);
        ck_assert_msg(r == (ssize_t)sizes[k], "datagram of %zu bytes: got %zd", sizes[k], r);
        ck_assert_mem_eq(got, payload, sizes[k]);
        ck_assert_uint_eq(ntohl(from.sin_addr.s_addr), GUEST_IP);
        ck_assert_uint_eq(ntohs(from.sin_port), 41000);
    }
    ck_assert_int_eq(udp_csum_errors(), errs0);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_checksummed, vnet ? 0 : 3);
    /* The control: a wrong checksum without NEEDS_CSUM is caught by the kernel, so the good
     * ones above were really checked. */
    uint8_t got[64];
    size_t n = fn_udp(frame, sizeof(frame), &self, &host, "bad", 3, FN_CSUM_BAD);
    ck_assert_int_eq(fn_nic_send(&g.nic, NULL, frame, n), 0);
    struct sockaddr_in from;
    ck_assert_int_eq(wait_datagram(fd, got, sizeof(got), &from, 300), -1);
    ck_assert_int_eq(udp_csum_errors(), errs0 + 1);
    close(fd);
    close_tap();
}
END_TEST

static bool tcp_established(void *arg)
{
    struct fn_tcp *t = arg;
    return t->state == FN_TCP_ESTABLISHED || t->reset;
}

/* The guest connects to the kernel listener lfd; returns the accepted kernel socket. */
static int connect_guest(struct fn_tcp *t, int lfd, uint16_t gport, uint8_t *rx, size_t rx_cap)
{
    struct fn_addr self = guest_addr(gport), host = host_addr(local_port(lfd));
    fn_tcp_init(t, &self, 0x10000000u, rx, rx_cap);
    fn_guest_add_tcp(&g, t);
    fn_guest_send(&g, frame, fn_tcp_syn(t, &host, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&g, tcp_established, t, WAIT_MS) && !t->reset,
                  "no connection to the kernel (state %d)", t->state);
    int c = -1;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while ((c = accept(lfd, NULL, NULL)) < 0 && fn_now_ms() < end)
        fn_guest_poll(&g, 10);
    ck_assert_msg(c >= 0, "accept: %s", strerror(errno));
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    return c;
}

START_TEST(test_tcp_gso_to_kernel)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int lfd = kernel_socket(SOCK_STREAM, 0);
    static uint8_t rx[64], data[32768], got[32768 + 1];
    struct fn_tcp t;
    int c = connect_guest(&t, lfd, 42000, rx, sizeof(rx));
    ck_assert_msg(t.peer_wnd >= sizeof(data), "the kernel's window (%u) is below 32 KiB",
                  t.peer_wnd);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 11 + (i >> 10));
    struct virtio_net_hdr_v1 h;
    size_t n = fn_tcp_gso(&t, frame, sizeof(frame), data, sizeof(data), 1448, &h);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(fn_nic_send(&g.nic, &h, frame, n), 0);
    size_t have = 0;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (have < sizeof(data) && fn_now_ms() < end) {
        ssize_t r = recv(c, got + have, sizeof(got) - have, MSG_DONTWAIT);
        if (r > 0)
            have += (size_t)r;
        else
            fn_guest_poll(&g, 10);
    }
    ck_assert_msg(have == sizeof(data), "the listener got %zu of %zu bytes", have, sizeof(data));
    ck_assert_mem_eq(got, data, sizeof(data));
    /* Everything was acknowledged by the kernel's TCP. */
    end = fn_now_ms() + WAIT_MS;
    while (t.snd_una != t.snd_nxt && fn_now_ms() < end)
        fn_guest_poll(&g, 10);
    ck_assert_uint_eq(t.snd_una, t.snd_nxt);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->sw_segmented, vnet ? 0 : 1);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_BACKEND] + st->drops[NETDEV_DROP_MALFORMED], 0);
    close_rst(c);
    close(lfd);
    close_tap();
}
END_TEST

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
    open_tap(true);
    sh("ip neigh replace 10.77.0.2 lladdr 52:54:00:77:00:02 dev " IFNAME);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9999)};
    to.sin_addr.s_addr = htonl(GUEST_IP);
    g.nic.refuse = true;
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

/* --- the interface deleted -----------------------------------------------------------------------
 */

static void check_link_down_and_idle(void)
{
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(g.nic.link_changes, 1);
    ck_assert(!g.nic.link_up);
    struct fn_addr self = guest_addr(44000), host = host_addr(9);
    size_t n = fn_udp(frame, sizeof(frame), &self, &host, "late", 4, FN_CSUM_FULL);
    const struct netdev_stats *st = netdev_get_stats(nd);
    uint64_t down = st->drops[NETDEV_DROP_LINK_DOWN];
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(fn_nic_send(&g.nic, NULL, frame, n), -ENETDOWN);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], down + 10);
    unsigned events = 0, iters = idle_for(1000, &events);
    ck_assert_msg(events <= 2 && iters <= 60,
                  "%u events in %u iterations over 1 s after the tap went away: spinning?", events,
                  iters);
}

START_TEST(test_deleted_under_traffic)
{
    bool vnet = _i == 0;
    open_tap(vnet);
    int fd = kernel_socket(SOCK_DGRAM, 0);
    struct fn_addr self = guest_addr(44000), host = host_addr(local_port(fd));
    unsigned sent = 0;
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        size_t n = fn_udp(frame, sizeof(frame), &self, &host, "traffic", 7, FN_CSUM_FULL);
        fn_nic_send(&g.nic, NULL, frame, n);
        fn_guest_poll(&g, 1);
        if (++sent == 50)
            sh("ip link del " IFNAME);
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up after the tap was deleted");
    check_link_down_and_idle();
    close(fd);
    close_tap();
}
END_TEST

START_TEST(test_deleted_while_rx_paused)
{
    open_tap(true);
    sh("ip neigh replace 10.77.0.2 lladdr 52:54:00:77:00:02 dev " IFNAME);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9999)};
    to.sin_addr.s_addr = htonl(GUEST_IP);
    g.nic.refuse = true;
    for (int i = 0; i < 3; i++)
        ck_assert_int_gt(sendto(fd, "held", 4, 0, (struct sockaddr *)&to, sizeof(to)), 0);
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (g.nic.refused == 0 && fn_now_ms() < end)
        evloop_run_once(loop, 10);
    ck_assert_uint_eq(g.nic.refused, 1);
    /* Reading is paused; the guest sends nothing. The loss must still be noticed. */
    sh("ip link del " IFNAME);
    end = fn_now_ms() + WAIT_MS;
    unsigned iters = 0;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        evloop_run_once(loop, 20);
        iters++;
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up (%u loop iterations)", iters);
    check_link_down_and_idle();
    close(fd);
    close_tap();
}
END_TEST

START_TEST(test_deleted_while_idle)
{
    open_tap(_i == 0);
    /* No traffic either way: only the read side can notice. */
    sh("ip link del " IFNAME);
    uint64_t end = fn_now_ms() + WAIT_MS;
    unsigned iters = 0;
    while (netdev_link_up(nd) && fn_now_ms() < end) {
        evloop_run_once(loop, 20);
        iters++;
    }
    ck_assert_msg(!netdev_link_up(nd), "the link stayed up (%u loop iterations)", iters);
    check_link_down_and_idle();
    close_tap();
}
END_TEST

START_TEST(test_open_errors)
{
    loop = evloop_create();
    char err[512];
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"tap,id=t1,ifname=abcdefghijklmnopq", "longer than 15"},
        {"tap,id=t1,ifname=x,fd=3", "exclude each other"},
        {"tap,id=t1,fd=0", "fd=0 is not an open tap device"},
        {"tap,id=t1,ifname=x,script=/bin/true", "script= and downscript= are not supported"},
        {"tap,id=t1,ifname=x,vnet_hdr=maybe", "vnet_hdr"},
        {"tap,id=t1,ifname=lo", "cannot attach to tap 'lo'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct opts *o = opts_parse(cases[i].spec, "type", err, sizeof(err));
        ck_assert_ptr_nonnull(o);
        struct netdev *bad = netdev_create(loop, o, err, sizeof(err));
        opts_free(o);
        ck_assert_msg(bad == NULL, "%s: accepted", cases[i].spec);
        ck_assert_msg(strstr(err, cases[i].want), "%s: '%s' lacks '%s'", cases[i].spec, err,
                      cases[i].want);
    }
    evloop_destroy(loop);
}
END_TEST

static Suite *tap_suite(void)
{
    Suite *s = suite_create("tap");
    TCase *tc = tcase_create("netns");
    tcase_set_timeout(tc, 30);
    /* Loop tests: _i == 0 with vnet_hdr on, 1 with vnet_hdr=off. */
    tcase_add_loop_test(tc, test_arp_and_ping, 0, 2);
    tcase_add_loop_test(tc, test_udp_needs_csum, 0, 2);
    tcase_add_loop_test(tc, test_tcp_gso_to_kernel, 0, 2);
    tcase_add_test(tc, test_rx_offloads_on);
    tcase_add_loop_test(tc, test_rx_offloads_off, 0, 2);
    tcase_add_test(tc, test_flood_while_nic_full);
    tcase_add_loop_test(tc, test_deleted_under_traffic, 0, 2);
    tcase_add_test(tc, test_deleted_while_rx_paused);
    tcase_add_loop_test(tc, test_deleted_while_idle, 0, 2);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (network namespaces and tap devices)\n");
        return 77;
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/net/tun: %s\n", strerror(errno));
        return 77;
    }
    main_pid = getpid();
    ns_reap_stale();
    snprintf(ns_name, sizeof(ns_name), NS_PREFIX "%d", (int)main_pid);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_name);
    if (system(cmd) != 0) {
        ns_name[0] = '\0';
        printf("SKIP: '%s' failed\n", cmd);
        return 77;
    }
    atexit(ns_delete);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", ns_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        printf("SKIP: cannot enter %s: %s\n", path, strerror(errno));
        return 77;
    }
    close(fd);
    /* No IPv6 chatter (router solicitations, MLD) on the tap. */
    write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");

    SRunner *sr = srunner_create(tap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
