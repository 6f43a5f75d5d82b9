/* Interop with passt (https://passt.top), the user-mode network daemon whose unix socket
 * speaks QEMU's stream framing (a 4-byte big-endian length, then the Ethernet frame): nicvm's
 * `-netdev stream,server=off,addr.type=unix,addr.path=` connects to a real passt, and a fake
 * NIC on it gets what passt serves without any outside network: a DHCP OFFER and ACK with
 * the address, mask, router and DNS server passt was told to assign (-a, -n, -g, -D), an ARP
 * reply for the gateway with passt's MAC (-M), and a TCP connection to the gateway's address,
 * which passt maps to the host's loopback, carrying 200 KB each way in frames of up to 16 KB.
 * passt's own capture (--pcap) must hold the frames nicvm sent, byte for byte.
 *   test_passt_peer
 * Each test has its own passt (-f foreground, -1 one-off, -4, its socket in a fresh temporary
 * directory), started and stopped in the runner process (an unchecked fixture), so passt is
 * killed and its files removed whatever the test did. As root, passt drops to "nobody" before
 * it binds its socket, so the directory is given to nobody. Skips (exit 77, with the reason)
 * without passt on PATH (NICVM_PASST names another) or when passt finds no host interface to
 * take its defaults from (it needs one with a default route even with -a, -n and -g). */
#define _GNU_SOURCE /* accept4 */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/common/runvm.h"
#include "tests/unit/socket_fixture.h"
#include "vmm/evloop.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PASST_READY_MS 10000
#define REPLY_MS       5000
#define XFER_BYTES     (200 * 1024)
#define GUEST_MSS      16384 /* passt's MTU is 65520: segments this large come back */

/* What passt is told to serve, and the fake guest. */
#define GUEST_IP FN_IP4(10, 0, 5, 15)
#define GW_IP    FN_IP4(10, 0, 5, 2)
#define DNS_IP   FN_IP4(10, 0, 5, 3)
#define MASK     FN_IP4(255, 255, 255, 0)
static const uint8_t passt_mac[6] = {0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55};
static const struct fn_addr guest = {{0x52, 0x54, 0x00, 0x0a, 0x05, 0x0f}, GUEST_IP, 40000};

static char passt_exe[512];
static char dir[64], sock_path[128], pcap_path[128];
static struct runvm_proc passt;
static bool passt_started;

/* --- passt's life --------------------------------------------------------------------- */

/* Everything passt wrote to stderr (the caller frees it), less its complaints that it has
 * no syslog (it logs there too, and a sandbox has none). */
static char *passt_stderr(void)
{
    struct stat st;
    size_t n = fstat(passt.err, &st) == 0 ? (size_t)st.st_size : 0;
    char *s = calloc(1, n + 1);
    if (!s || (n && pread(passt.err, s, n, 0) != (ssize_t)n))
        return s;
    char *out = s;
    for (char *line = s, *next; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (strncmp(line, "Failed to send ", 15) != 0) {
            memmove(out, line, (size_t)(next - line));
            out += next - line;
        }
    }
    *out = '\0';
    return s;
}

/* Removes passt's files and the directory. */
static void remove_dir(void)
{
    if (!dir[0])
        return;
    unlink(sock_path);
    unlink(pcap_path);
    rmdir(dir);
    dir[0] = '\0';
}

/* Makes the directory passt binds its socket in; passt running as root drops to nobody
 * first, so nobody must be able to write there. Returns 0 or a message in why. */
static int make_dir(char *why, size_t len)
{
    snprintf(dir, sizeof(dir), "/tmp/nicvm-passt-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(why, len, "mkdtemp: %s", strerror(errno));
        dir[0] = '\0';
        return -1;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/passt.socket", dir);
    snprintf(pcap_path, sizeof(pcap_path), "%s/passt.pcap", dir);
    const struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
    if (geteuid() == 0 && (!pw || chown(dir, pw->pw_uid, pw->pw_gid) < 0)) {
        snprintf(why, len, "cannot give %s to nobody, whom passt runs as", dir);
        return -1;
    }
    return 0;
}

/* Waits until passt listens (it says "You can now start qemu" after listen()). Returns 0,
 * -ECHILD when passt exited (its stderr in why) or -ETIMEDOUT. */
static int wait_ready(char *why, size_t len)
{
    uint64_t end = fn_now_ms() + PASST_READY_MS;
    for (;;) {
        char *err = passt_stderr();
        bool ready = err && strstr(err, "You can now start");
        int st;
        if (!ready && waitpid(passt.pid, &st, WNOHANG) == passt.pid) {
            passt.exited = true;
            passt.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            snprintf(why, len, "passt exited (%d): %s", passt.exit_status, err ? err : "");
            free(err);
            return -ECHILD;
        }
        free(err);
        if (ready)
            return 0;
        if (fn_now_ms() > end) {
            snprintf(why, len, "passt did not say it listens in %d ms", PASST_READY_MS);
            return -ETIMEDOUT;
        }
        usleep(10000);
    }
}

/* Starts passt on a socket of its own in a fresh directory (foreground, one client, IPv4,
 * serving GUEST_IP/24 with GW_IP, DNS_IP and passt_mac) and waits until it listens.
 * Returns 0, or -1 with the reason in why (passt then stopped and its files removed). */
static int passt_start(char *why, size_t len)
{
    if (make_dir(why, len) < 0) {
        remove_dir();
        return -1;
    }
    static const char *const opts[] = {
        "-f",       "-1", "-4",       "-a", "10.0.5.15",        "-n", "24", "-g",
        "10.0.5.2", "-D", "10.0.5.3", "-M", "9a:55:9a:55:9a:55"};
    const char *argv[32] = {passt_exe, "-s", sock_path, "--pcap", pcap_path};
    size_t n = 5;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        argv[n++] = opts[i];
    if (geteuid() == 0) {
        argv[n++] = "--runas";
        argv[n++] = "nobody";
    }
    int rc = runvm_start(argv, &passt);
    if (rc < 0) {
        snprintf(why, len, "cannot start %s: %s", passt_exe, strerror(-rc));
        remove_dir();
        return -1;
    }
    passt_started = true;
    if (wait_ready(why, len) == 0)
        return 0;
    struct runvm_result r;
    runvm_stop(&passt, &r);
    runvm_free(&r);
    passt_started = false;
    remove_dir();
    return -1;
}

/* Stops passt (if a one-off passt has not exited already) and removes its files. */
static void passt_stop(void)
{
    if (passt_started) {
        struct runvm_result r;
        runvm_stop(&passt, &r);
        runvm_free(&r);
        passt_started = false;
    }
    remove_dir();
}

/* The unchecked fixture: in the runner process, around each test case (one test each). */
static void passt_setup(void)
{
    char why[4096];
    ck_assert_msg(passt_start(why, sizeof(why)) == 0, "%s", why);
}

static void passt_teardown(void)
{
    passt_stop();
}

/* --- nicvm's side --------------------------------------------------------------------- */

static struct netdev *nd;
static struct fn_guest g;

/* nicvm's stream netdev on passt's socket with the fake guest on it; the link must come up. */
static void connect_guest(void)
{
    char spec[256];
    snprintf(spec, sizeof(spec), "stream,id=p0,server=off,addr.type=unix,addr.path=%s", sock_path);
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    nd = socket_create(spec);
    fn_guest_init(&g, loop, &guest);
    ck_assert_int_eq(fn_nic_attach(&g.nic, nd, "fake0"), 0);
    uint64_t end = fn_now_ms() + REPLY_MS;
    while (!netdev_link_up(nd) && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(netdev_link_up(nd), "no connection to passt at %s", sock_path);
}

static void disconnect_guest(void)
{
    ck_assert_uint_eq(g.send_errors, 0);
    fn_nic_clear(&g.nic);
    netdev_destroy(nd);
    evloop_destroy(loop);
}

/* True if passt's capture (classic pcap: a 24-byte file header, then a 16-byte record header
 * before each frame) holds a record of exactly f[0..len). */
static bool pcap_has(const uint8_t *f, size_t len)
{
    FILE *fp = fopen(pcap_path, "rb");
    ck_assert_msg(fp != NULL, "%s: %s", pcap_path, strerror(errno));
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    uint32_t magic = 0;
    memcpy(&magic, buf, n >= 4 ? 4 : 0);
    ck_assert_msg(magic == 0xa1b2c3d4u, "%s: not a pcap file in this host's byte order", pcap_path);
    for (size_t off = 24; off + 16 <= n;) {
        uint32_t incl;
        memcpy(&incl, buf + off + 8, 4); /* written in passt's (the host's) byte order */
        if (off + 16 + incl > n)
            break;
        if (incl == len && memcmp(buf + off + 16, f, len) == 0)
            return true;
        off += 16 + incl;
    }
    return false;
}

/* --- DHCP ----------------------------------------------------------------------------- */

static bool is_dhcp_reply(void *arg, const struct fn_pkt *p)
{
    struct fn_dhcp d;
    return fn_dhcp_parse(p, &d) && d.xid == *(const uint32_t *)arg;
}

/* Sends a DHCP message of type `type` and returns passt's reply for xid in d, checked: from
 * passt's MAC and the server it names, to the guest (or broadcast), with the address and
 * options passt was given; and passt's capture holds the message as nicvm sent it. */
static void dhcp_exchange(uint8_t type, uint32_t xid, uint32_t server_id, struct fn_dhcp *d)
{
    size_t n = fn_dhcp_client(frame, sizeof(frame), guest.mac, type, xid,
                              type == FN_DHCP_REQUEST ? GUEST_IP : 0, server_id);
    fn_guest_send(&g, frame, n);
    struct fn_frame *r = fn_guest_wait(&g, is_dhcp_reply, &xid, REPLY_MS);
    ck_assert_msg(r != NULL, "no DHCP reply from passt to message type %u (xid %08x)", type, xid);
    ck_assert_msg(pcap_has(frame, n), "passt's capture lacks the DHCP message nicvm sent");
    struct fn_pkt p;
    ck_assert(fn_parse(r->data, r->len, &p));
    ck_assert(fn_dhcp_parse(&p, d));
    ck_assert_mem_eq(p.src, passt_mac, 6);
    /* passt leaves the UDP checksum 0 ("none"), which IPv4 allows */
    ck_assert_msg(p.ip_csum_ok && (p.l4_csum_ok || fn_get16(p.frame + p.l4_off + 6) == 0),
                  "DHCP reply with a bad checksum");
    bool bcast = !memcmp(p.dst, fn_broadcast, 6);
    ck_assert_msg(bcast || !memcmp(p.dst, guest.mac, 6), "DHCP reply to another MAC");
    ck_assert_uint_eq(p.daddr, bcast ? 0xffffffffu : GUEST_IP);
    ck_assert_uint_eq(p.saddr, d->server_id);
    ck_assert_uint_eq(d->xid, xid);
    ck_assert_uint_eq(d->yiaddr, GUEST_IP);
    ck_assert_mem_eq(d->chaddr, guest.mac, 6);
    ck_assert_uint_eq(d->mask, MASK);
    ck_assert_uint_eq(d->router, GW_IP);
    ck_assert_uint_eq(d->dns, DNS_IP);
    free(r);
}

/* DISCOVER gets an OFFER of -a's address with -n's mask, -g's router and -D's DNS server;
 * REQUEST of it gets the ACK. */
START_TEST(dhcp_offer_and_ack)
{
    connect_guest();
    struct fn_dhcp offer, ack;
    dhcp_exchange(FN_DHCP_DISCOVER, 0x6e1c0001u, 0, &offer);
    ck_assert_uint_eq(offer.msg_type, FN_DHCP_OFFER);
    ck_assert_uint_ne(offer.server_id, 0);
    dhcp_exchange(FN_DHCP_REQUEST, 0x6e1c0002u, offer.server_id, &ack);
    ck_assert_uint_eq(ack.msg_type, FN_DHCP_ACK);
    ck_assert_uint_eq(ack.server_id, offer.server_id);
    disconnect_guest();
}
END_TEST

/* --- ARP ------------------------------------------------------------------------------ */

static bool is_arp_reply(void *arg, const struct fn_pkt *p)
{
    return p->arp && p->arp_op == FN_ARP_REPLY && p->arp_spa == *(const uint32_t *)arg;
}

/* "Who has 10.0.5.2" gets "10.0.5.2 is at" -M's MAC, addressed to the guest. */
START_TEST(arp_for_gateway)
{
    connect_guest();
    uint32_t gw = GW_IP;
    size_t n = fn_arp_request(frame, sizeof(frame), &guest, gw);
    fn_guest_send(&g, frame, n);
    struct fn_frame *r = fn_guest_wait(&g, is_arp_reply, &gw, REPLY_MS);
    ck_assert_msg(r != NULL, "no ARP reply from passt for its gateway");
    ck_assert_msg(pcap_has(frame, n), "passt's capture lacks the ARP request nicvm sent");
    struct fn_pkt p;
    ck_assert(fn_parse(r->data, r->len, &p));
    ck_assert_mem_eq(p.src, passt_mac, 6);
    ck_assert_mem_eq(p.dst, guest.mac, 6);
    ck_assert_mem_eq(p.arp_sha, passt_mac, 6);
    ck_assert_mem_eq(p.arp_tha, guest.mac, 6);
    ck_assert_uint_eq(p.arp_tpa, GUEST_IP);
    free(r);
    disconnect_guest();
}
END_TEST

/* --- TCP to the host through passt ----------------------------------------------------- */

/* The host end: a listener on 127.0.0.1, then the connection passt makes, driven from the
 * guest's tick. */
struct host_end {
    int lfd, fd;
    size_t tx_off, rx_len;
    bool eof, error;
};
static struct host_end host;
static size_t largest_frame; /* the largest frame the guest received */
static uint8_t to_host[XFER_BYTES], to_guest[XFER_BYTES], host_rx[XFER_BYTES + 1],
    guest_rx[XFER_BYTES + 1];

static void host_tick(void *opaque)
{
    struct host_end *h = opaque;
    if (h->fd < 0)
        h->fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK);
    if (h->fd < 0 || h->error)
        return;
    while (h->tx_off < XFER_BYTES) {
        ssize_t n = send(h->fd, to_guest + h->tx_off, XFER_BYTES - h->tx_off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        h->tx_off += (size_t)n;
    }
    while (!h->eof) {
        ssize_t n = recv(h->fd, host_rx + h->rx_len, sizeof(host_rx) - h->rx_len, 0);
        if (n <= 0) {
            h->eof = n == 0;
            h->error = n < 0 && errno != EAGAIN;
            break;
        }
        h->rx_len += (size_t)n;
    }
}

/* A listening socket on 127.0.0.1; its port into *port. */
static int host_listen(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void note_size(void *opaque, const struct fn_frame *f)
{
    (void)opaque;
    if (f->len > largest_frame)
        largest_frame = f->len;
}

static bool tcp_up(void *arg)
{
    const struct fn_tcp *t = arg;
    return t->state == FN_TCP_ESTABLISHED || t->reset;
}

static bool both_sides_have_all(void *arg)
{
    const struct fn_tcp *t = arg;
    return t->reset || host.error || (host.rx_len == XFER_BYTES && t->rx_len == XFER_BYTES);
}

static bool both_closed(void *arg)
{
    const struct fn_tcp *t = arg;
    return t->reset || (host.eof && t->peer_fin);
}

/* The guest connects to the gateway's address and a host port; passt connects to that port
 * on 127.0.0.1, and 200 KB go each way (passt's segments to the guest up to the guest's MSS
 * of 16 KB, framed over the stream back to back), then both sides close. */
START_TEST(tcp_through_passt_to_host)
{
    for (size_t i = 0; i < XFER_BYTES; i++) {
        to_host[i] = (uint8_t)(i * 11 + (i >> 10));
        to_guest[i] = (uint8_t)(i * 5 + 1 + (i >> 12));
    }
    uint16_t port;
    host = (struct host_end){.lfd = host_listen(&port), .fd = -1};
    connect_guest();
    g.tick = host_tick;
    g.opaque = &host;
    g.on_frame = note_size;
    struct fn_tcp t;
    fn_tcp_init(&t, &guest, 0x11223344u, guest_rx, sizeof(guest_rx));
    t.mss = GUEST_MSS;
    ck_assert_int_eq(fn_guest_add_tcp(&g, &t), 0);
    struct fn_addr gw = {{0}, GW_IP, port};
    memcpy(gw.mac, passt_mac, 6);
    fn_guest_send(&g, frame, fn_tcp_syn(&t, &gw, frame, sizeof(frame)));
    ck_assert_msg(fn_guest_run_until(&g, tcp_up, &t, REPLY_MS) && !t.reset,
                  "no connection through passt to 127.0.0.1:%u (state %d)", port, t.state);
    fn_tcp_write(&t, to_host, XFER_BYTES);
    ck_assert_msg(fn_guest_run_until(&g, both_sides_have_all, &t, 4 * REPLY_MS) && !t.reset &&
                      !host.error,
                  "transfer incomplete: host got %zu, guest %zu of %d bytes", host.rx_len, t.rx_len,
                  XFER_BYTES);
    ck_assert_mem_eq(host_rx, to_host, XFER_BYTES);
    ck_assert_mem_eq(guest_rx, to_guest, XFER_BYTES);
    /* passt's MTU is 65520: segments larger than Ethernet's both ways, the guest's MSS full */
    ck_assert_uint_gt(t.peer_mss, 1460);
    ck_assert_uint_ge(largest_frame, FN_L4_OFF + FN_TCP_HLEN + GUEST_MSS);
    fn_tcp_close(&t);
    shutdown(host.fd, SHUT_WR);
    ck_assert_msg(fn_guest_run_until(&g, both_closed, &t, REPLY_MS) && !t.reset,
                  "close incomplete: host eof %d, guest FIN %d", host.eof, t.peer_fin);
    close(host.fd);
    close(host.lfd);
    disconnect_guest();
}
END_TEST

/* One test case per test: each gets a passt of its own. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, passt_setup, passt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

static Suite *passt_peer_suite(void)
{
    Suite *s = suite_create("passt_peer");
    add_case(s, "dhcp", dhcp_offer_and_ack);
    add_case(s, "arp", arp_for_gateway);
    add_case(s, "tcp", tcp_through_passt_to_host);
    return s;
}

/* Finds `name` on PATH (or takes a path with a slash) into out. */
static bool find_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

int main(void)
{
    const char *name = getenv("NICVM_PASST");
    if (!find_exe(name ? name : "passt", passt_exe, sizeof(passt_exe))) {
        printf("SKIP: no %s (apt-get install passt)\n", name ? name : "passt");
        return 77;
    }
    /* passt takes its defaults from the host interface with the default route and will not
     * start without one, whatever the options say: that is this host, not nicvm. */
    char why[4096];
    if (passt_start(why, sizeof(why)) < 0) {
        if (strstr(why, "External interface not usable")) {
            printf("SKIP: passt cannot start here (no host interface with a default route): "
                   "%s\n",
                   why);
            return 77;
        }
        printf("FAIL: %s\n", why);
        return EXIT_FAILURE;
    }
    passt_stop();
    SRunner *sr = srunner_create(passt_peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
