/* The shared fixture of the tap backend tests (see tap_fixture.h). */
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

const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x02};

struct evloop *loop;
struct netdev *nd;
struct fn_guest g;
uint8_t host_mac[6];
uint8_t frame[FN_MAX_FRAME];

void sh(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "'%s' failed (status %d)", cmd, rc);
}
/* A tap netdev named IFNAME (vnet_hdr on or off), configured as 10.77.0.1/24 and up, with
 * the fake guest 10.77.0.2 attached. */
void open_tap(bool vnet)
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

void close_tap(void)
{
    ck_assert_msg(g.bad_csum == 0, "%u frames from the kernel with bad checksums", g.bad_csum);
    fn_nic_clear(&g.nic);
    netdev_destroy(nd);
    evloop_destroy(loop);
}

struct fn_addr host_addr(uint16_t port)
{
    struct fn_addr a = {.ip = HOST_IP, .port = port};
    memcpy(a.mac, host_mac, 6);
    return a;
}

struct fn_addr guest_addr(uint16_t port)
{
    struct fn_addr a = {.ip = GUEST_IP, .port = port};
    memcpy(a.mac, guest_mac, 6);
    return a;
}

/* A non-blocking kernel socket bound to 10.77.0.1 (port 0: any), listening if TCP. */
int kernel_socket(int type, int port)
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

uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* Closes a kernel TCP socket with a reset, so that nothing of it (a FIN retransmitted on the
 * next test's interface) outlives the test. */
void close_rst(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Udp InCsumErrors from /proc/net/snmp (this namespace's). */
long udp_csum_errors(void)
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
unsigned idle_for(int ms, unsigned *events)
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
static bool tcp_established(void *arg)
{
    struct fn_tcp *t = arg;
    return t->state == FN_TCP_ESTABLISHED || t->reset;
}

/* The guest connects to the kernel listener lfd; returns the accepted kernel socket. */
int connect_guest(struct fn_tcp *t, int lfd, uint16_t gport, uint8_t *rx, size_t rx_cap)
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

int open_tap_nic_full(struct sockaddr_in *to)
{
    open_tap(true);
    sh("ip neigh replace 10.77.0.2 lladdr 52:54:00:77:00:02 dev " IFNAME);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    *to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(9999)};
    to->sin_addr.s_addr = htonl(GUEST_IP);
    g.nic.refuse = true;
    return fd;
}
