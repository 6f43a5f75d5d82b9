/* net_bench: throughput of nicvm's network layer (net/) between a fake NIC and the tap and
 * user (libslirp) backends, guest -> host (tx) and host -> guest (rx), with 64 B and 1500 B
 * UDP frames and 64 KiB TCP GSO frames, each case against the same work done with raw
 * syscalls in the same invocation. One JSON object per case on stdout; progress and a table
 * on stderr. bench/README.md says what each figure measures. */
/* _GNU_SOURCE: setns() and CLONE_NEWNET, sendmmsg()/recvmmsg(), accept4() and
 * sched_setaffinity() are Linux APIs. */
#define _GNU_SOURCE
#include "net/backend.h"
#include "net/offload.h"
#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/opts.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>

#define NS_PREFIX "nicvm-bench-"
#define TAP_IF    "nb0"
#define TAP_NET   "10.77.0.1/24"
#define IP4(a, b, c, d)                                                                            \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define TAP_HOST_IP    IP4(10, 77, 0, 1) /* the kernel's end of the tap */
#define TAP_GUEST_IP   IP4(10, 77, 0, 2) /* the fake guest behind the tap */
#define SLIRP_HOST_IP  IP4(10, 0, 2, 2)  /* libslirp's host address: the host's loopback */
#define SLIRP_GUEST_IP IP4(10, 0, 2, 15)
#define LOOPBACK_IP    IP4(127, 0, 0, 1)
#define GUEST_PORT     7777 /* the fake guest's UDP port */
#define DISCARD_PORT   9    /* tap tx and rx UDP destination (nothing listens) */
#define SINK_PORT      5001 /* the fake guest's TCP sink (tap rx, 64 KiB) */
#define USER_UDP_PORT  5555 /* host UDP receiver behind 10.0.2.2 (user tx) */
#define USER_TCP_PORT  5556 /* host TCP receiver behind 10.0.2.2 (user tx, 64 KiB) */
#define FWD_PORT       6666 /* hostfwd=udp toward the guest (user rx) */
#define REF_PORT       6667 /* the reference's UDP socket (user rx) */
#define CLIENT_PORT    40000

#define BATCH       64   /* frames per step between returns to the loop or time checks */
#define WAIT_MS     100  /* longest wait of one step, so the clock and ^C are seen */
#define GSO_MSS     1460 /* gso_size: an MTU-1500 TCP segment */
#define GSO_SEGS    44
#define GSO_PAYLOAD (GSO_SEGS * GSO_MSS) /* 64240 bytes: a 64 KiB TSO frame */
#define HDRS_TCP4   (ETH_HLEN + 20 + 20)
#define HDRS_UDP4   (ETH_HLEN + 20 + 8)
#define PAGE        4096 /* guest frames arrive as page-sized pieces, like a driver's frags */
#define MAX_PIECES  (NETDEV_MAX_FRAME / PAGE + 2)
#define RAW_BUF     (NETDEV_VNET_HDR_LEN + NETDEV_MAX_FRAME)
#define SIZE_GSO    65536 /* the nominal size of the GSO cases */
#define FTCP_ISS    1000000u
#define MAX_RESULTS 16

#define TCPFL_FIN 0x01
#define TCPFL_SYN 0x02
#define TCPFL_RST 0x04
#define TCPFL_PSH 0x08
#define TCPFL_ACK 0x10

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
/* tap tx frames go to this MAC, not the tap's: the kernel takes each frame whole (tun_get_user
 * copies it, checks the vnet header and builds the skb) and drops it in ip_rcv as
 * PACKET_OTHERHOST, before routing or any socket, so the kernel's share stays small. */
static const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
static const uint8_t slirp_host_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
static uint8_t tap_mac[6];

/* --- options, stop flag, small helpers -------------------------------------------------- */

static struct {
    double seconds, warmup; /* per side of a case (all rounds), and per round */
    int rounds;             /* nicvm and the reference alternate this many times */
    bool seconds_given, quick;
    const char *only;  /* NULL, "tap" or "user" */
    const char *match; /* NULL, or a piece of the case names to run */
    int ncpu;
} g_opt = {2.0, 0.25, 2, false, false, NULL, NULL, 1};

static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void)
{
    return evloop_now_ns();
}

static uint64_t sec_to_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

__attribute__((format(printf, 1, 2))) static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("net_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void pin_cpu(int cpu)
{
    if (g_opt.ncpu < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set); /* best effort: only steadies the figures */
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    poll(&p, 1, WAIT_MS);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* --- network namespace and tap device ---------------------------------------------------- */

static char g_ns[64];      /* our namespace's name; "" when there is none */
static int g_ns_orig = -1; /* the namespace we started in */

/* run_argv: runs argv[0] with stdout (and stderr when quiet) on /dev/null; its exit status. */
static int run_argv(char *const argv[], bool quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            if (quiet)
                dup2(null, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ip: runs "ip ARGS", ARGS split at spaces; ip's exit status (0: success). */
__attribute__((format(printf, 2, 3))) static int ip(bool quiet, const char *fmt, ...)
{
    char line[256], prog[] = "ip";
    char *argv[32] = {prog};
    int n = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *save;
    for (char *t = strtok_r(line, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save))
        argv[n++] = t;
    argv[n] = NULL;
    return run_argv(argv, quiet);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = write(fd, text, strlen(text));
        (void)r; /* best effort (no IPv6 in this kernel, say) */
        close(fd);
    }
}

/* ns_destroy: deletes the tap and the namespace (atexit, errors, ^C). Idempotent. */
static void ns_destroy(void)
{
    if (!g_ns[0])
        return;
    ip(true, "tuntap del dev %s mode tap", TAP_IF);
    if (g_ns_orig >= 0)
        setns(g_ns_orig, CLONE_NEWNET);
    ip(true, "netns del %s", g_ns);
    g_ns[0] = 0;
}

/* ns_reap_stale: deletes namespaces left by runs that were killed (SIGKILL skips cleanup). */
static void ns_reap_stale(void)
{
    DIR *d = opendir("/run/netns");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, NS_PREFIX, strlen(NS_PREFIX)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(NS_PREFIX), &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        progress("removing %s, left by a run that was killed", e->d_name);
        ip(true, "netns del %s", e->d_name);
    }
    if (d)
        closedir(d);
}

/* ns_create: makes and enters nicvm-bench-<pid>. Returns 0, or -1 with the reason to skip. */
static int ns_create(char *why, size_t len)
{
    ns_reap_stale();
    g_ns_orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    snprintf(g_ns, sizeof(g_ns), NS_PREFIX "%d", (int)getpid());
    if (g_ns_orig < 0 || ip(false, "netns add %s", g_ns) != 0) {
        g_ns[0] = 0;
        snprintf(why, len, "cannot create a network namespace with ip netns add");
        return -1;
    }
    atexit(ns_destroy);
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", g_ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        snprintf(why, len, "cannot enter the network namespace %s: %s", g_ns, strerror(errno));
        return -1;
    }
    close(fd);
    /* No IPv6: router solicitations and MLD reports would be stray frames on the tap. */
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    if (ip(false, "link set lo up") != 0) {
        snprintf(why, len, "cannot bring up lo in %s", g_ns);
        return -1;
    }
    return 0;
}

/* tap_setup: a persistent tap with the host at 10.77.0.1 and the fake guest's MAC as the
 * permanent neighbour 10.77.0.2, so rx traffic needs no ARP. */
static int tap_setup(void)
{
    if (ip(false, "tuntap add dev %s mode tap", TAP_IF) || ip(false, "link set %s up", TAP_IF) ||
        ip(false, "addr add %s dev %s", TAP_NET, TAP_IF) ||
        ip(false, "neigh replace 10.77.0.2 lladdr 52:54:00:12:34:56 dev %s nud permanent", TAP_IF))
        return -1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_IF);
    int rc = s >= 0 ? ioctl(s, SIOCGIFHWADDR, &ifr) : -1;
    if (rc == 0)
        memcpy(tap_mac, ifr.ifr_hwaddr.sa_data, 6);
    if (s >= 0)
        close(s);
    return rc;
}

/* tap_wait_running: waits for the carrier that attaching an fd brings (IFF_RUNNING), so the
 * kernel's qdisc is active before traffic starts. */
static void tap_wait_running(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_IF);
    for (int i = 0; s >= 0 && i < 400; i++) {
        if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING))
            break;
        usleep(5000);
    }
    if (s >= 0)
        close(s);
    usleep(20000);
}

/* tap_kernel_rx: the tap's rx_packets (frames the kernel took from the tap) from /proc/net/dev,
 * which shows the reading process's namespace. */
static uint64_t tap_kernel_rx(void)
{
    FILE *f = fopen("/proc/net/dev", "re");
    char line[512];
    unsigned long long rx_bytes, rx_packets = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char *p = line + strspn(line, " ");
        if (strncmp(p, TAP_IF ":", strlen(TAP_IF) + 1) == 0 &&
            sscanf(p + strlen(TAP_IF) + 1, "%llu %llu", &rx_bytes, &rx_packets) == 2)
            break;
    }
    if (f)
        fclose(f);
    return rx_packets;
}

/* raw_tap_open: the reference's fd on the same tap, set up as tap.c sets up nicvm's. */
static int raw_tap_open(bool vnet, unsigned offloads)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_IF);
    int sz = NETDEV_VNET_HDR_LEN;
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 ||
        (vnet && (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ||
                  ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0))) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    return fd;
}

/* --- frames ------------------------------------------------------------------------------ */

struct flow {
    const uint8_t *dmac, *smac;
    uint32_t saddr, daddr; /* host order, like the ports */
    uint16_t sport, dport;
};

/* A frame as guest memory: bytes in page-sized pieces, with its virtio-net header. */
struct frame {
    uint8_t *buf;
    size_t len;
    struct virtio_net_hdr_v1 hdr;
    struct iovec iov[MAX_PIECES];
    int iovcnt;
};

static struct frame *frame_new(void)
{
    struct frame *f = calloc(1, sizeof(*f));
    if (f && !(f->buf = aligned_alloc(PAGE, (NETDEV_MAX_FRAME + PAGE - 1) / PAGE * PAGE))) {
        free(f);
        f = NULL;
    }
    if (!f) {
        fprintf(stderr, "net_bench: out of memory\n");
        exit(1);
    }
    return f;
}

static void frame_free(struct frame *f)
{
    if (f)
        free(f->buf);
    free(f);
}

static void frame_split(struct frame *f)
{
    f->iovcnt = 0;
    for (size_t off = 0; off < f->len; off += PAGE) {
        size_t n = f->len - off < PAGE ? f->len - off : PAGE;
        f->iov[f->iovcnt++] = (struct iovec){f->buf + off, n};
    }
}

/* put_eth_ip: Ethernet and IPv4 headers (DF, TTL 64, checksum) for ip_len bytes of IP. */
static void put_eth_ip(uint8_t *f, const struct flow *fl, uint8_t proto, size_t ip_len)
{
    memcpy(f, fl->dmac, 6);
    memcpy(f + 6, fl->smac, 6);
    put16(f + 12, ETH_P_IP);
    uint8_t *ip = f + ETH_HLEN;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)ip_len);
    put16(ip + 4, 1);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, fl->saddr);
    put32(ip + 16, fl->daddr);
    put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, 20)));
}

/* pseudo_sum: the IPv4 pseudo-header sum (RFC 793 §3.1) for l4_len bytes of proto. */
static uint32_t pseudo_sum(const struct flow *fl, uint8_t proto, size_t l4_len)
{
    uint8_t a[8];
    put32(a, fl->saddr);
    put32(a + 4, fl->daddr);
    return offload_csum_add(0, a, 8) + proto + (uint32_t)l4_len;
}

/* build_udp: a UDP/IPv4 frame of exactly len bytes with a full checksum, no offload. */
static void build_udp(struct frame *f, const struct flow *fl, size_t len)
{
    put_eth_ip(f->buf, fl, IPPROTO_UDP, len - ETH_HLEN);
    uint8_t *u = f->buf + ETH_HLEN + 20;
    size_t ulen = len - ETH_HLEN - 20;
    put16(u, fl->sport);
    put16(u + 2, fl->dport);
    put16(u + 4, (uint16_t)ulen);
    put16(u + 6, 0);
    for (size_t i = 8; i < ulen; i++)
        u[i] = (uint8_t)i;
    uint16_t c = offload_csum_fold(offload_csum_add(pseudo_sum(fl, IPPROTO_UDP, ulen), u, ulen));
    put16(u + 6, c ? c : 0xffff);
    f->len = len;
    memset(&f->hdr, 0, sizeof(f->hdr));
    frame_split(f);
}

struct tcp_fields {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const uint8_t *opts;
    size_t optlen; /* a multiple of 4 */
    size_t payload;
};

/* build_tcp: a TCP/IPv4 frame. Without GSO the checksum is complete; with GSO (payload larger
 * than GSO_MSS) the field holds the pseudo-header sum, as Linux's virtio-net driver leaves it,
 * and the header asks for checksum and TSO (gso_size GSO_MSS). */
static void build_tcp(struct frame *f, const struct flow *fl, const struct tcp_fields *t)
{
    size_t thl = 20 + t->optlen, tcp_len = thl + t->payload;
    put_eth_ip(f->buf, fl, IPPROTO_TCP, 20 + tcp_len);
    uint8_t *th = f->buf + ETH_HLEN + 20;
    put16(th, fl->sport);
    put16(th + 2, fl->dport);
    put32(th + 4, t->seq);
    put32(th + 8, t->ack);
    th[12] = (uint8_t)(thl / 4 << 4);
    th[13] = t->flags;
    put16(th + 14, t->win);
    put32(th + 16, 0);
    memcpy(th + 20, t->opts, t->optlen);
    for (size_t i = 0; i < t->payload; i++)
        th[thl + i] = (uint8_t)(i * 7);
    uint32_t sum = pseudo_sum(fl, IPPROTO_TCP, tcp_len);
    memset(&f->hdr, 0, sizeof(f->hdr));
    if (t->payload > GSO_MSS) {
        put16(th + 16, (uint16_t)~offload_csum_fold(sum));
        f->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        f->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        f->hdr.hdr_len = htole16((uint16_t)(ETH_HLEN + 20 + thl));
        f->hdr.gso_size = htole16(GSO_MSS);
        f->hdr.csum_start = htole16(ETH_HLEN + 20);
        f->hdr.csum_offset = htole16(16);
    } else {
        put16(th + 16, offload_csum_fold(offload_csum_add(sum, th, tcp_len)));
    }
    f->len = ETH_HLEN + 20 + tcp_len;
    frame_split(f);
}

/* build_arp_request: "who has tip, tell sip" from smac, padded to 60 bytes. */
static void build_arp_request(struct frame *f, const uint8_t *smac, uint32_t sip, uint32_t tip)
{
    uint8_t *a = f->buf + ETH_HLEN;
    memset(f->buf, 0, 60);
    memset(f->buf, 0xff, 6);
    memcpy(f->buf + 6, smac, 6);
    put16(f->buf + 12, ETH_P_ARP);
    put16(a, 1);
    put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, smac, 6);
    put32(a + 14, sip);
    put32(a + 24, tip);
    f->len = 60;
    memset(&f->hdr, 0, sizeof(f->hdr));
    frame_split(f);
}

/* --- a fake TCP end: the guest's side of one connection, just enough for bulk data ------ */

struct tcp_seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    size_t plen;
};

static bool parse_tcp_frame(const uint8_t *f, size_t len, struct tcp_seg *s)
{
    if (len < HDRS_TCP4 || get16(f + 12) != ETH_P_IP)
        return false;
    const uint8_t *ip = f + ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 15) * 4, ip_len = get16(ip + 2);
    if (ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP || ihl < 20 || ip_len < ihl + 20 ||
        ETH_HLEN + ip_len > len)
        return false;
    const uint8_t *th = ip + ihl;
    size_t thl = (size_t)(th[12] >> 4) * 4;
    if (thl < 20 || ihl + thl > ip_len)
        return false;
    *s = (struct tcp_seg){get16(th), get16(th + 2),  get32(th + 4),     get32(th + 8),
                          th[13],    get16(th + 14), ip_len - ihl - thl};
    return true;
}

static bool seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* A sink (server: answers a SYN, then ACKs in-order data once per batch) or a client (sends
 * data inside the peer's window). No retransmission, SACK or timestamps: the path is
 * lossless, and out-of-order data is dropped and ACKed at rcv_nxt. */
struct ftcp {
    struct flow fl; /* as this end sends */
    bool server, established, reset;
    bool synack_due, ack_due;
    uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt;
    uint64_t rcv_bytes;
};

static void ftcp_on_syn(struct ftcp *t, const struct tcp_seg *s)
{
    t->rcv_nxt = s->seq + 1;
    if (t->server && !(s->flags & TCPFL_ACK)) {
        t->fl.dport = s->sport;
        t->snd_una = FTCP_ISS;
        t->snd_nxt = FTCP_ISS + 1;
        t->synack_due = t->established = true;
        t->reset = false;
    } else if (!t->server && (s->flags & TCPFL_ACK)) {
        t->snd_una = s->ack;
        t->snd_wnd = s->win;
        t->established = t->ack_due = true;
    }
}

static void ftcp_input(struct ftcp *t, const uint8_t *f, size_t len)
{
    struct tcp_seg s;
    /* The sink takes its peer's port from the SYN (dport 0 until then). */
    if (!parse_tcp_frame(f, len, &s) || s.dport != t->fl.sport ||
        (t->fl.dport && s.sport != t->fl.dport))
        return;
    if (s.flags & TCPFL_RST) {
        t->reset = true;
        t->established = false;
        return;
    }
    if (s.flags & TCPFL_SYN) {
        ftcp_on_syn(t, &s);
        return;
    }
    if (!t->established)
        return;
    if (s.flags & TCPFL_ACK) {
        if (seq_after(s.ack, t->snd_una) && !seq_after(s.ack, t->snd_nxt))
            t->snd_una = s.ack;
        t->snd_wnd = s.win;
    }
    uint32_t fin = (s.flags & TCPFL_FIN) ? 1 : 0;
    if (s.plen + fin == 0)
        return;
    if (s.seq == t->rcv_nxt) {
        t->rcv_nxt += (uint32_t)s.plen + fin;
        t->rcv_bytes += s.plen;
    }
    t->ack_due = true;
}

/* ftcp_ctl: builds the SYN-ACK or ACK that is due into f; false when none is. The sink
 * offers MSS 1460 and window scale 9 (a 32 MiB window: the sender is never window-bound). */
static bool ftcp_ctl(struct ftcp *t, struct frame *f)
{
    static const uint8_t synack_opts[8] = {2, 4, GSO_MSS >> 8, GSO_MSS & 0xff, 1, 3, 3, 9};
    struct tcp_fields tf = {t->snd_nxt, t->rcv_nxt, TCPFL_ACK, 0xffff, NULL, 0, 0};
    if (t->synack_due) {
        tf.seq = FTCP_ISS;
        tf.flags |= TCPFL_SYN;
        tf.opts = synack_opts;
        tf.optlen = sizeof(synack_opts);
    } else if (!t->ack_due) {
        return false;
    }
    t->synack_due = t->ack_due = false;
    build_tcp(f, &t->fl, &tf);
    return true;
}

/* ftcp_syn: the client's SYN (MSS 1460, no window scaling) into f. */
static void ftcp_syn(struct ftcp *t, struct frame *f)
{
    static const uint8_t syn_opts[4] = {2, 4, GSO_MSS >> 8, GSO_MSS & 0xff};
    t->snd_una = FTCP_ISS;
    t->snd_nxt = FTCP_ISS + 1;
    struct tcp_fields tf = {FTCP_ISS, 0, TCPFL_SYN, 0xffff, syn_opts, sizeof(syn_opts), 0};
    build_tcp(f, &t->fl, &tf);
}

/* --- helper threads: traffic generators and host-side receivers --------------------------- */

enum gen_kind {
    GEN_UDP,   /* sendmmsg() on a connected UDP socket */
    GEN_TCP,   /* connects, then send()s 64 KiB at a time */
    DRAIN_UDP, /* recvmmsg() on a bound UDP socket */
    DRAIN_TCP, /* accepts and recv()s on a listening socket */
};

struct gen {
    enum gen_kind kind;
    int fd;                /* GEN_UDP, DRAIN_*: made by the caller, closed by gen_stop */
    struct sockaddr_in to; /* GEN_TCP */
    size_t payload;        /* GEN_UDP */
    pthread_t th;
    bool started;
    atomic_bool stop;
    _Atomic uint64_t count; /* datagrams, or bytes for TCP */
    atomic_int err;         /* the first failure (errno) */
};

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(addr);
    return a;
}

static void set_timeout(int fd, int opt, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static bool stopping(atomic_bool *stop)
{
    return g_stop || (stop && atomic_load(stop));
}

/* tcp_connect: a blocking TCP socket connected to `to` (SO_SNDTIMEO WAIT_MS), or -errno. */
static int tcp_connect(const struct sockaddr_in *to, atomic_bool *stop)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = 0;
    socklen_t elen = sizeof(err);
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
        err = errno;
    while (!err) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (stopping(stop))
            err = EINTR;
        else if (poll(&p, 1, WAIT_MS) > 0 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && !err)
            break;
    }
    if (err) {
        close(fd);
        return -err;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_timeout(fd, SO_SNDTIMEO, WAIT_MS);
    return fd;
}

static void gen_udp(struct gen *g)
{
    uint8_t buf[2048];
    memset(buf, 0x5a, sizeof(buf));
    struct iovec iov = {buf, g->payload};
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < BATCH; i++) {
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stopping(&g->stop)) {
        int n = sendmmsg(g->fd, m, BATCH, 0);
        if (n > 0)
            atomic_fetch_add(&g->count, (uint64_t)n);
        else if (errno != EINTR && errno != EAGAIN)
            usleep(1000); /* ENOBUFS, or an ICMP error reported late: let it pass */
    }
}

static void gen_tcp(struct gen *g)
{
    static uint8_t buf[65536];
    int fd = tcp_connect(&g->to, &g->stop);
    if (fd < 0) {
        atomic_store(&g->err, -fd);
        return;
    }
    while (!stopping(&g->stop)) {
        ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        if (n > 0) {
            atomic_fetch_add(&g->count, (uint64_t)n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            atomic_store(&g->err, errno);
            break;
        }
    }
    /* An RST now, not a FIN the fake guest would never ACK (and the kernel would resend). */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void drain_udp(struct gen *g)
{
    enum { SZ = 2048 };
    static uint8_t buf[BATCH][SZ];
    struct iovec iov[BATCH];
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){buf[i], SZ};
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stopping(&g->stop)) {
        int n = recvmmsg(g->fd, m, BATCH, MSG_WAITFORONE, NULL);
        if (n > 0)
            atomic_fetch_add(&g->count, (uint64_t)n);
    }
}

static void drain_tcp(struct gen *g)
{
    static uint8_t buf[256 << 10];
    while (!stopping(&g->stop)) {
        int c = accept4(g->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue; /* SO_RCVTIMEO: look at the stop flag again */
        set_timeout(c, SO_RCVTIMEO, WAIT_MS);
        while (!stopping(&g->stop)) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n > 0)
                atomic_fetch_add(&g->count, (uint64_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                break;
        }
        close(c);
    }
}

static void *gen_main(void *arg)
{
    struct gen *g = arg;
    pin_cpu(1); /* the measured thread has CPU 0 */
    switch (g->kind) {
    case GEN_UDP: gen_udp(g); break;
    case GEN_TCP: gen_tcp(g); break;
    case DRAIN_UDP: drain_udp(g); break;
    case DRAIN_TCP: drain_tcp(g); break;
    }
    return NULL;
}

static int gen_start(struct gen *g)
{
    atomic_store(&g->stop, false);
    atomic_store(&g->count, 0);
    atomic_store(&g->err, 0);
    int rc = pthread_create(&g->th, NULL, gen_main, g);
    g->started = rc == 0;
    return -rc;
}

static void gen_stop(struct gen *g)
{
    if (g->started) {
        atomic_store(&g->stop, true);
        pthread_join(g->th, NULL);
        g->started = false;
    }
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

/* udp_socket: bound to bind_port (0: any) on bind_addr and connected to `to` when given. */
static int udp_socket(uint32_t bind_addr, uint16_t bind_port, const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = sin_of(bind_addr, bind_port);
    if (fd < 0 || (bind_port && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) ||
        (to && connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    set_timeout(fd, SO_RCVTIMEO, WAIT_MS);
    set_timeout(fd, SO_SNDTIMEO, WAIT_MS);
    return fd;
}

static int tcp_listener(uint32_t addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = sin_of(addr, port);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    set_timeout(fd, SO_RCVTIMEO, WAIT_MS);
    return fd;
}

/* --- the fake NIC ---------------------------------------------------------------------- */

struct fake_nic {
    struct evloop *loop;
    struct netdev *nd;
    struct ftcp *tcp; /* fed with every frame received, when set */
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
    struct frame *ctl; /* for control frames (ARP, SYN, ACK) */
};

/* nic_receive: counts, and shows TCP frames to the fake TCP end. Never out of buffers, and
 * no copy into guest memory: what is measured is the layer, not a NIC model. */
static size_t nic_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    struct fake_nic *nic = opaque;
    (void)hdr;
    nic->rx_frames++;
    nic->rx_bytes += len;
    if (nic->tcp && iovcnt > 0)
        ftcp_input(nic->tcp, iov[0].iov_base, iov[0].iov_len < len ? iov[0].iov_len : len);
    return len;
}

static const struct netdev_nic_ops nic_ops = {.receive = nic_receive};

struct result;
__attribute__((format(printf, 2, 3))) static void set_error(struct result *r, const char *fmt, ...);

static int nic_open(struct fake_nic *nic, const char *spec, struct result *r)
{
    char err[256] = "";
    memset(nic, 0, sizeof(*nic));
    nic->loop = evloop_create();
    struct opts *o = nic->loop ? opts_parse(spec, "type", err, sizeof(err)) : NULL;
    nic->nd = o ? netdev_create(nic->loop, o, err, sizeof(err)) : NULL;
    opts_free(o);
    if (!nic->nd) {
        set_error(r, "%s", err[0] ? err : strerror(errno));
        evloop_destroy(nic->loop);
        return -1;
    }
    netdev_attach(nic->nd, "bench-nic", &nic_ops, nic);
    nic->ctl = frame_new();
    return 0;
}

static void nic_close(struct fake_nic *nic)
{
    netdev_destroy(nic->nd);
    evloop_destroy(nic->loop);
    frame_free(nic->ctl);
    nic->nd = NULL;
    nic->loop = NULL;
    nic->ctl = NULL;
}

static int nic_send(struct fake_nic *nic, const struct frame *f)
{
    int rc = netdev_send(nic->nd, &f->hdr, f->iov, f->iovcnt, f->len);
    if (rc == 0) {
        nic->tx_frames++;
        nic->tx_bytes += f->len;
    }
    return rc;
}

/* nic_send_ctl: the fake TCP end's due SYN-ACK or ACK, if any. */
static int nic_send_ctl(struct fake_nic *nic)
{
    if (!nic->tcp || !ftcp_ctl(nic->tcp, nic->ctl))
        return 0;
    return netdev_send(nic->nd, &nic->ctl->hdr, nic->ctl->iov, nic->ctl->iovcnt, nic->ctl->len);
}

static uint64_t nic_drops(const struct fake_nic *nic)
{
    const struct netdev_stats *st = netdev_get_stats(nic->nd);
    uint64_t n = 0;
    for (int i = 0; i < NETDEV_DROP_REASONS; i++)
        n += st->drops[i];
    return n;
}

/* nic_slirp_arp: an ARP request for 10.0.2.2, so libslirp learns the guest's MAC (it needs
 * it to send to the guest) and the guest learns the gateway's; waits for the reply. */
static int nic_slirp_arp(struct fake_nic *nic)
{
    build_arp_request(nic->ctl, guest_mac, SLIRP_GUEST_IP, SLIRP_HOST_IP);
    uint64_t before = nic->rx_frames, end = now_ns() + sec_to_ns(2);
    if (nic_send(nic, nic->ctl) < 0)
        return -EIO;
    while (nic->rx_frames == before && now_ns() < end && !g_stop)
        evloop_run_once(nic->loop, 10);
    return nic->rx_frames > before ? 0 : -ETIMEDOUT;
}

/* --- measurement: one side (nicvm or reference) of one case --------------------------------- */

struct meas {
    double secs, cpu; /* the measured window, and the measuring thread's CPU time in it */
    uint64_t frames, bytes, aux; /* deltas over the measured window */
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct side {
    int (*step)(void *ctx); /* at most BATCH frames or one wait of WAIT_MS; <0: -errno */
    void (*count)(void *ctx, uint64_t c[3]); /* frames, bytes, aux so far */
    void *ctx;
};

static int run_until(const struct side *s, uint64_t end)
{
    while (!g_stop && now_ns() < end) {
        int rc = s->step(s->ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* run_side: a warm-up (not counted), then one round's share of g_opt.seconds of counted
 * work, added to m. */
static int run_side(const struct side *s, struct meas *m)
{
    uint64_t c0[3], c1[3];
    int rc = run_until(s, now_ns() + sec_to_ns(g_opt.warmup));
    s->count(s->ctx, c0);
    uint64_t t0 = now_ns();
    double cpu0 = thread_cpu();
    if (rc == 0)
        rc = run_until(s, t0 + sec_to_ns(g_opt.seconds / g_opt.rounds));
    s->count(s->ctx, c1);
    m->cpu += thread_cpu() - cpu0;
    m->secs += (double)(now_ns() - t0) / 1e9;
    m->frames += c1[0] - c0[0];
    m->bytes += c1[1] - c0[1];
    m->aux += c1[2] - c0[2];
    return rc;
}

/* --- cases and results ------------------------------------------------------------------- */

struct bcase;

struct result {
    const struct bcase *c;
    size_t frame_bytes;
    const char *aux_name; /* what aux counts, e.g. "gen_pps"; NULL: nothing */
    bool aux_bytes;       /* aux counts bytes (shown in Gbit/s), not frames */
    struct meas nic, ref;
    uint64_t drops; /* frames the layer dropped on the nicvm side */
    char error[200];
};

struct bcase {
    const char *backend; /* "tap" or "user" */
    bool rx;
    unsigned size; /* 64, 1500 or SIZE_GSO */
    bool vnet_hdr; /* tap: vnet_hdr=on */
    bool quick;    /* also run with --quick */
    void (*run)(const struct bcase *c, struct result *r);
    const char *ref; /* what the reference does */
};

static void set_error(struct result *r, const char *fmt, ...)
{
    va_list ap;
    if (r->error[0])
        return; /* the first failure says most */
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    for (char *p = r->error; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
}

static size_t frame_len_of(unsigned size)
{
    return size == 64 ? 64 : size == 1500 ? 1500 + ETH_HLEN : HDRS_TCP4 + GSO_PAYLOAD;
}

/* side_run: runs one side and records a failure as the case's error. */
static void side_run(const struct side *s, struct meas *m, struct result *r, const char *who)
{
    uint64_t before = m->frames;
    int rc = run_side(s, m);
    if (rc < 0)
        set_error(r, "%s: %s", who, strerror(-rc));
    else if (!g_stop && m->frames == before)
        set_error(r, "%s: no frames went through", who);
}

/* What the two sides of a case share. */
struct case_ctx {
    const struct bcase *c;
    struct result *r;
    const struct frame *f; /* tap tx: the frame */
    struct raw_tx *raw;    /* tap tx: the reference's writes */
    unsigned offloads;     /* tap rx: TUN_F_* for both sides */
    struct gen *drain;     /* user tx: the host-side receiver */
};

typedef void (*side_fn)(struct case_ctx *x);

/* run_rounds: nicvm, reference, reference, nicvm, ...: the alternation cancels a steady
 * drift of the machine's speed (a VM's neighbours, clocks) out of the ratio. */
static void run_rounds(struct case_ctx *x, side_fn nicvm, side_fn ref)
{
    for (int i = 0; i < g_opt.rounds && !x->r->error[0] && !g_stop; i++) {
        (i & 1 ? ref : nicvm)(x);
        if (!x->r->error[0] && !g_stop)
            (i & 1 ? nicvm : ref)(x);
    }
}

/* --- tap, guest -> host ------------------------------------------------------------------- */

struct nic_tx {
    struct fake_nic *nic;
    const struct frame *f;
    struct gen *aux; /* the host-side receiver (user), or NULL: the tap's kernel rx count */
};

static int nic_tx_step(void *ctx)
{
    struct nic_tx *t = ctx;
    struct fake_nic *nic = t->nic;
    for (int i = 0; i < BATCH && netdev_can_send(nic->nd); i++) {
        int rc = nic_send(nic, t->f);
        if (rc < 0)
            return rc;
    }
    /* Back to the loop after each batch, as a NIC does after a TX queue kick; when the
     * backend pushed back, until tx_ready (the loop returns after handling it). */
    int rc = evloop_run_once(nic->loop, netdev_can_send(nic->nd) ? 0 : WAIT_MS);
    return rc < 0 ? rc : 0;
}

static void nic_tx_count(void *ctx, uint64_t c[3])
{
    struct nic_tx *t = ctx;
    c[0] = t->nic->tx_frames;
    c[1] = t->nic->tx_bytes;
    c[2] = t->aux ? atomic_load(&t->aux->count) : tap_kernel_rx();
}

/* The reference: each frame written with one writev() (the same pieces behind the same
 * vnet header), or for the software-GSO case its segments with one write() each. */
struct raw_tx {
    int fd;
    int npk; /* writes per frame */
    struct {
        struct iovec v[MAX_PIECES + 1];
        int n;
    } pk[GSO_SEGS + 1];
    uint8_t *segs, *next; /* the segments' bytes */
    size_t flen;
    uint64_t frames, bytes;
};

static int raw_tx_step(void *ctx)
{
    struct raw_tx *t = ctx;
    for (int i = 0; i < BATCH; i++) {
        for (int k = 0; k < t->npk; k++) {
            while (writev(t->fd, t->pk[k].v, t->pk[k].n) < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    return -errno;
                if (g_stop)
                    return 0;
                wait_fd(t->fd, POLLOUT);
            }
        }
        t->frames++;
        t->bytes += t->flen;
    }
    return 0;
}

static void raw_tx_count(void *ctx, uint64_t c[3])
{
    struct raw_tx *t = ctx;
    c[0] = t->frames;
    c[1] = t->bytes;
    c[2] = tap_kernel_rx();
}

static int collect_segment(void *opaque, const uint8_t *frame, size_t len)
{
    struct raw_tx *t = opaque;
    if (t->npk >= GSO_SEGS + 1)
        return 1;
    memcpy(t->next, frame, len);
    t->pk[t->npk].v[0] = (struct iovec){t->next, len};
    t->pk[t->npk++].n = 1;
    t->next += len;
    return 0;
}

/* raw_tx_prepare: the reference's writes for f: with the vnet header, or (vnet_hdr=off and a
 * GSO frame) the segments net/offload.c makes of it, computed here once, outside the timing. */
static int raw_tx_prepare(struct raw_tx *t, const struct frame *f, bool vnet)
{
    static const struct virtio_net_hdr_v1 zero;
    t->flen = f->len;
    if (!vnet && f->hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        uint8_t *scratch = malloc(65536 + 128);
        t->segs = t->next = malloc(2 * NETDEV_MAX_FRAME);
        int n = scratch && t->segs
                    ? offload_segment(&f->hdr, f->buf, f->len, scratch, collect_segment, t)
                    : -ENOMEM;
        free(scratch);
        return n < 0 ? n : 0;
    }
    int n = 0;
    if (vnet)
        t->pk[0].v[n++] =
            (struct iovec){(void *)(f->hdr.gso_type ? &f->hdr : &zero), NETDEV_VNET_HDR_LEN};
    memcpy(&t->pk[0].v[n], f->iov, (size_t)f->iovcnt * sizeof(f->iov[0]));
    t->pk[0].n = n + f->iovcnt;
    t->npk = 1;
    return 0;
}

static void build_tap_tx_frame(struct frame *f, unsigned size)
{
    struct flow fl = {other_mac, guest_mac, TAP_GUEST_IP, TAP_HOST_IP, GUEST_PORT, DISCARD_PORT};
    if (size != SIZE_GSO) {
        build_udp(f, &fl, frame_len_of(size));
        return;
    }
    fl.dport = SINK_PORT;
    struct tcp_fields tf = {1, 1, TCPFL_ACK | TCPFL_PSH, 0xffff, NULL, 0, GSO_PAYLOAD};
    build_tcp(f, &fl, &tf);
}

static void tap_tx_nicvm(struct case_ctx *x)
{
    struct fake_nic nic;
    char spec[96];
    snprintf(spec, sizeof(spec), "tap,id=t0,ifname=%s,vnet_hdr=%s", TAP_IF,
             x->c->vnet_hdr ? "on" : "off");
    if (nic_open(&nic, spec, x->r) < 0)
        return;
    tap_wait_running();
    struct nic_tx tx = {&nic, x->f, NULL};
    struct side s = {nic_tx_step, nic_tx_count, &tx};
    side_run(&s, &x->r->nic, x->r, "nicvm");
    x->r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void tap_tx_raw(struct case_ctx *x)
{
    struct raw_tx *t = x->raw;
    t->fd = raw_tap_open(x->c->vnet_hdr, 0);
    if (t->fd < 0) {
        set_error(x->r, "reference: %s", strerror(-t->fd));
        return;
    }
    tap_wait_running();
    struct side s = {raw_tx_step, raw_tx_count, t};
    side_run(&s, &x->r->ref, x->r, "reference");
    close(t->fd);
}

static void case_tap_tx(const struct bcase *c, struct result *r)
{
    struct frame *f = frame_new();
    struct raw_tx *t = calloc(1, sizeof(*t));
    struct case_ctx x = {.c = c, .r = r, .f = f, .raw = t};
    build_tap_tx_frame(f, c->size);
    r->frame_bytes = f->len;
    r->aux_name = "kernel_pps";
    int rc = t ? raw_tx_prepare(t, f, c->vnet_hdr) : -ENOMEM;
    if (rc < 0)
        set_error(r, "reference: %s", strerror(-rc));
    else
        run_rounds(&x, tap_tx_nicvm, tap_tx_raw);
    if (t)
        free(t->segs);
    free(t);
    frame_free(f);
}

/* --- tap, host -> guest -------------------------------------------------------------------- */

struct nic_rx {
    struct fake_nic *nic;
    struct gen *gen;
};

static int nic_rx_step(void *ctx)
{
    struct nic_rx *x = ctx;
    int rc = evloop_run_once(x->nic->loop, WAIT_MS);
    if (rc >= 0)
        rc = nic_send_ctl(x->nic); /* the ACK for this batch, as a guest would send it */
    if (rc >= 0 && atomic_load(&x->gen->err))
        rc = -atomic_load(&x->gen->err);
    return rc < 0 ? rc : netdev_link_up(x->nic->nd) ? 0 : -ENETDOWN;
}

static void nic_rx_count(void *ctx, uint64_t c[3])
{
    struct nic_rx *x = ctx;
    c[0] = x->nic->rx_frames;
    c[1] = x->nic->rx_bytes;
    c[2] = atomic_load(&x->gen->count);
}

/* The reference: read() until EAGAIN (at most BATCH), then poll(). */
struct raw_rx {
    int fd;
    size_t hlen;
    uint8_t *buf;
    struct ftcp *tcp;
    struct frame *ctl;
    struct gen *gen;
    uint64_t frames, bytes;
};

static int raw_send_ctl(struct raw_rx *x)
{
    static const struct virtio_net_hdr_v1 zero;
    if (!x->tcp || !ftcp_ctl(x->tcp, x->ctl))
        return 0;
    struct iovec v[2] = {{(void *)&zero, x->hlen}, {x->ctl->buf, x->ctl->len}};
    return writev(x->fd, v, 2) < 0 && errno != EAGAIN ? -errno : 0;
}

static int raw_rx_step(void *ctx)
{
    struct raw_rx *x = ctx;
    int i, err = 0;
    for (i = 0; i < BATCH; i++) {
        ssize_t n = read(x->fd, x->buf, RAW_BUF);
        if (n < 0) {
            err = errno;
            break;
        }
        if ((size_t)n <= x->hlen)
            continue;
        x->frames++;
        x->bytes += (size_t)n - x->hlen;
        if (x->tcp)
            ftcp_input(x->tcp, x->buf + x->hlen, (size_t)n - x->hlen);
    }
    int rc = raw_send_ctl(x);
    if (err && err != EAGAIN && err != EINTR)
        return -err;
    if (rc == 0 && atomic_load(&x->gen->err))
        rc = -atomic_load(&x->gen->err);
    if (rc == 0 && err == EAGAIN)
        wait_fd(x->fd, POLLIN);
    return rc;
}

static void raw_rx_count(void *ctx, uint64_t c[3])
{
    struct raw_rx *x = ctx;
    c[0] = x->frames;
    c[1] = x->bytes;
    c[2] = atomic_load(&x->gen->count);
}

/* tap_rx_gen: UDP datagrams of the case's frame size to 10.77.0.2:9, or (64 KiB) a TCP
 * connection to the fake guest's sink, from the kernel in this namespace. */
static int tap_rx_gen(const struct bcase *c, struct gen *g)
{
    memset(g, 0, sizeof(*g));
    g->fd = -1;
    if (c->size == SIZE_GSO) {
        g->kind = GEN_TCP;
        g->to = sin_of(TAP_GUEST_IP, SINK_PORT);
    } else {
        struct sockaddr_in to = sin_of(TAP_GUEST_IP, DISCARD_PORT);
        g->kind = GEN_UDP;
        g->payload = frame_len_of(c->size) - HDRS_UDP4;
        g->fd = udp_socket(0, 0, &to);
        if (g->fd < 0)
            return g->fd;
    }
    return gen_start(g);
}

static void ftcp_sink_init(struct ftcp *t)
{
    memset(t, 0, sizeof(*t));
    t->server = true;
    t->fl = (struct flow){tap_mac, guest_mac, TAP_GUEST_IP, TAP_HOST_IP, SINK_PORT, 0};
}

static void tap_rx_nicvm(struct case_ctx *x)
{
    const struct bcase *c = x->c;
    struct result *r = x->r;
    struct fake_nic nic;
    struct ftcp sink;
    struct gen g = {.fd = -1};
    if (nic_open(&nic, "tap,id=t0,ifname=" TAP_IF, r) < 0)
        return;
    int rc = netdev_set_rx_offloads(nic.nd, x->offloads);
    ftcp_sink_init(&sink);
    nic.tcp = c->size == SIZE_GSO ? &sink : NULL;
    tap_wait_running();
    if (rc == 0)
        rc = tap_rx_gen(c, &g);
    if (rc < 0) {
        set_error(r, "nicvm: %s", strerror(-rc));
    } else {
        struct nic_rx nx = {&nic, &g};
        struct side s = {nic_rx_step, nic_rx_count, &nx};
        side_run(&s, &r->nic, r, "nicvm");
    }
    gen_stop(&g);
    r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void tap_rx_raw(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct ftcp sink;
    struct gen g = {.fd = -1};
    struct raw_rx x = {.hlen = NETDEV_VNET_HDR_LEN, .gen = &g};
    ftcp_sink_init(&sink);
    x.tcp = c->size == SIZE_GSO ? &sink : NULL;
    x.fd = raw_tap_open(true, cx->offloads);
    x.buf = malloc(RAW_BUF);
    x.ctl = frame_new();
    int rc = x.fd < 0 ? x.fd : x.buf ? 0 : -ENOMEM;
    if (rc == 0) {
        tap_wait_running();
        rc = tap_rx_gen(c, &g);
    }
    if (rc < 0) {
        set_error(r, "reference: %s", strerror(-rc));
    } else {
        struct side s = {raw_rx_step, raw_rx_count, &x};
        side_run(&s, &r->ref, r, "reference");
    }
    gen_stop(&g);
    if (x.fd >= 0)
        close(x.fd);
    free(x.buf);
    frame_free(x.ctl);
}

static void case_tap_rx(const struct bcase *c, struct result *r)
{
    bool tcp = c->size == SIZE_GSO;
    struct case_ctx x = {.c = c, .r = r, .offloads = tcp ? TUN_F_CSUM | TUN_F_TSO4 : 0};
    r->aux_name = tcp ? "gen_gbps" : "gen_pps";
    r->aux_bytes = tcp;
    run_rounds(&x, tap_rx_nicvm, tap_rx_raw);
    /* TCP frames vary in size: the average of what nicvm's side received. */
    r->frame_bytes = !tcp            ? frame_len_of(c->size)
                     : r->nic.frames ? r->nic.bytes / r->nic.frames
                                     : 0;
}

/* --- user (libslirp), guest -> host ----------------------------------------------------------- */

/* The fake guest as a TCP client of a host socket behind 10.0.2.2: 64 KiB GSO frames that the
 * layer segments in software before libslirp's TCP takes them. */
struct user_tcp {
    struct fake_nic *nic;
    struct ftcp tcp;
    struct frame *f;
    struct gen *drain;
};

static int user_tcp_step(void *ctx)
{
    struct user_tcp *u = ctx;
    struct ftcp *t = &u->tcp;
    bool sent = false;
    if (t->reset || !t->established)
        return -ECONNRESET;
    if (netdev_can_send(u->nic->nd) && t->snd_nxt - t->snd_una + GSO_PAYLOAD <= t->snd_wnd) {
        uint8_t *th = u->f->buf + ETH_HLEN + 20;
        put32(th + 4, t->snd_nxt);
        put32(th + 8, t->rcv_nxt);
        int rc = nic_send(u->nic, u->f); /* libslirp ACKs from inside this call */
        if (rc < 0)
            return rc;
        t->snd_nxt += GSO_PAYLOAD;
        sent = true;
    }
    int rc = evloop_run_once(u->nic->loop, sent ? 0 : 10);
    if (rc >= 0)
        rc = nic_send_ctl(u->nic);
    return rc < 0 ? rc : 0;
}

static void user_tcp_count(void *ctx, uint64_t c[3])
{
    struct user_tcp *u = ctx;
    c[0] = u->nic->tx_frames;
    c[1] = u->nic->tx_bytes;
    c[2] = atomic_load(&u->drain->count);
}

/* user_tcp_connect: SYN to 10.0.2.2:5556 (libslirp connects to 127.0.0.1:5556), waits for the
 * SYN-ACK, ACKs it; the data frame template goes to u->f. */
static int user_tcp_connect(struct user_tcp *u)
{
    struct ftcp *t = &u->tcp;
    memset(t, 0, sizeof(*t));
    t->fl = (struct flow){slirp_host_mac, guest_mac,   SLIRP_GUEST_IP,
                          SLIRP_HOST_IP,  CLIENT_PORT, USER_TCP_PORT};
    u->nic->tcp = t;
    ftcp_syn(t, u->nic->ctl);
    if (nic_send(u->nic, u->nic->ctl) < 0)
        return -EIO;
    uint64_t end = now_ns() + sec_to_ns(3);
    while (!t->established && !t->reset && now_ns() < end && !g_stop)
        evloop_run_once(u->nic->loop, 10);
    if (!t->established)
        return t->reset ? -ECONNREFUSED : -ETIMEDOUT;
    int rc = nic_send_ctl(u->nic);
    struct tcp_fields tf = {t->snd_nxt, t->rcv_nxt, TCPFL_ACK | TCPFL_PSH, 0xffff, NULL,
                            0,          GSO_PAYLOAD};
    build_tcp(u->f, &t->fl, &tf);
    return rc;
}

static void user_tx_nicvm(struct case_ctx *x)
{
    const struct bcase *c = x->c;
    struct result *r = x->r;
    struct gen *drain = x->drain;
    struct fake_nic nic;
    struct frame *f = frame_new();
    if (nic_open(&nic, "user,id=u0", r) < 0) {
        frame_free(f);
        return;
    }
    struct nic_tx tx = {&nic, f, drain};
    struct user_tcp u = {.nic = &nic, .f = f, .drain = drain};
    struct side s = {nic_tx_step, nic_tx_count, &tx};
    int rc = nic_slirp_arp(&nic);
    if (rc == 0 && c->size == SIZE_GSO) {
        rc = user_tcp_connect(&u);
        s = (struct side){user_tcp_step, user_tcp_count, &u};
    } else {
        struct flow fl = {slirp_host_mac, guest_mac,  SLIRP_GUEST_IP,
                          SLIRP_HOST_IP,  GUEST_PORT, USER_UDP_PORT};
        build_udp(f, &fl, frame_len_of(c->size));
    }
    if (rc < 0)
        set_error(r, "nicvm: %s", strerror(-rc));
    else
        side_run(&s, &r->nic, r, "nicvm");
    r->drops += nic_drops(&nic);
    nic_close(&nic);
    frame_free(f);
}

/* The reference: the same payloads with sendto() on a UDP socket (as libslirp sends them), or
 * the same bytes with send() on a loopback TCP connection, 64240 bytes a call. */
struct sock_tx {
    int fd;
    bool tcp;
    struct sockaddr_in to;
    uint8_t *payload;
    size_t plen, flen;
    uint64_t sent; /* datagrams, or bytes for TCP */
    struct gen *drain;
};

static int sock_tx_step(void *ctx)
{
    struct sock_tx *x = ctx;
    for (int i = 0; i < BATCH && !g_stop; i++) {
        ssize_t n = x->tcp ? send(x->fd, x->payload, x->plen, MSG_NOSIGNAL)
                           : sendto(x->fd, x->payload, x->plen, 0, (struct sockaddr *)&x->to,
                                    sizeof(x->to));
        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
            return -errno;
        if (n > 0)
            x->sent += x->tcp ? (uint64_t)n : 1;
        if (x->tcp)
            break; /* one 64 KiB send is a step */
    }
    return 0;
}

static void sock_tx_count(void *ctx, uint64_t c[3])
{
    struct sock_tx *x = ctx;
    c[0] = x->tcp ? x->sent / GSO_PAYLOAD : x->sent;
    c[1] = c[0] * x->flen;
    c[2] = atomic_load(&x->drain->count);
}

static void user_tx_ref(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct sock_tx x = {.tcp = c->size == SIZE_GSO, .drain = cx->drain};
    x.flen = frame_len_of(c->size);
    x.plen = x.tcp ? GSO_PAYLOAD : x.flen - HDRS_UDP4;
    x.payload = malloc(x.plen);
    x.to = sin_of(LOOPBACK_IP, x.tcp ? USER_TCP_PORT : USER_UDP_PORT);
    x.fd = x.tcp ? tcp_connect(&x.to, NULL) : udp_socket(0, 0, NULL);
    if (x.fd < 0 || !x.payload) {
        set_error(r, "reference: %s", strerror(x.fd < 0 ? -x.fd : ENOMEM));
    } else {
        memset(x.payload, 0x5a, x.plen);
        struct side s = {sock_tx_step, sock_tx_count, &x};
        side_run(&s, &r->ref, r, "reference");
    }
    if (x.fd >= 0)
        close(x.fd);
    free(x.payload);
}

static void case_user_tx(const struct bcase *c, struct result *r)
{
    bool tcp = c->size == SIZE_GSO;
    struct gen drain = {.kind = tcp ? DRAIN_TCP : DRAIN_UDP};
    r->frame_bytes = frame_len_of(c->size);
    r->aux_name = tcp ? "delivered_gbps" : "delivered_pps";
    r->aux_bytes = tcp;
    drain.fd = tcp ? tcp_listener(LOOPBACK_IP, USER_TCP_PORT)
                   : udp_socket(LOOPBACK_IP, USER_UDP_PORT, NULL);
    int rc = drain.fd < 0 ? drain.fd : gen_start(&drain);
    if (rc < 0) {
        set_error(r, "host receiver: %s", strerror(-rc));
        gen_stop(&drain);
        return;
    }
    struct case_ctx x = {.c = c, .r = r, .drain = &drain};
    run_rounds(&x, user_tx_nicvm, user_tx_ref);
    gen_stop(&drain);
}

/* --- user (libslirp), host -> guest ----------------------------------------------------------- */

struct sock_rx {
    int fd;
    size_t flen;
    struct gen *gen;
    uint64_t frames;
};

/* The reference: recvfrom() until EAGAIN (at most BATCH), then poll(). */
static int sock_rx_step(void *ctx)
{
    struct sock_rx *x = ctx;
    uint8_t buf[2048];
    struct sockaddr_in from;
    int i, err = 0;
    for (i = 0; i < BATCH; i++) {
        socklen_t flen = sizeof(from);
        if (recvfrom(x->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen) < 0) {
            err = errno;
            break;
        }
        x->frames++;
    }
    if (err && err != EAGAIN && err != EINTR)
        return -err;
    if (err == EAGAIN)
        wait_fd(x->fd, POLLIN);
    return 0;
}

static void sock_rx_count(void *ctx, uint64_t c[3])
{
    struct sock_rx *x = ctx;
    c[0] = x->frames;
    c[1] = x->frames * x->flen;
    c[2] = atomic_load(&x->gen->count);
}

static int user_rx_gen(const struct bcase *c, uint16_t port, struct gen *g)
{
    struct sockaddr_in to = sin_of(LOOPBACK_IP, port);
    memset(g, 0, sizeof(*g));
    g->kind = GEN_UDP;
    g->payload = frame_len_of(c->size) - HDRS_UDP4;
    g->fd = udp_socket(0, 0, &to);
    return g->fd < 0 ? g->fd : gen_start(g);
}

static void user_rx_nicvm(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct fake_nic nic;
    struct gen g = {.fd = -1};
    char spec[128];
    snprintf(spec, sizeof(spec), "user,id=u0,hostfwd=udp:127.0.0.1:%d-10.0.2.15:%d", FWD_PORT,
             GUEST_PORT);
    if (nic_open(&nic, spec, r) < 0)
        return;
    int rc = nic_slirp_arp(&nic);
    if (rc == 0)
        rc = user_rx_gen(c, FWD_PORT, &g);
    if (rc < 0) {
        set_error(r, "nicvm: %s", strerror(-rc));
    } else {
        struct nic_rx x = {&nic, &g};
        struct side s = {nic_rx_step, nic_rx_count, &x};
        side_run(&s, &r->nic, r, "nicvm");
    }
    gen_stop(&g);
    r->drops += nic_drops(&nic);
    nic_close(&nic);
}

static void user_rx_ref(struct case_ctx *cx)
{
    const struct bcase *c = cx->c;
    struct result *r = cx->r;
    struct gen g = {.fd = -1};
    struct sock_rx x = {.flen = frame_len_of(c->size), .gen = &g};
    x.fd = udp_socket(LOOPBACK_IP, REF_PORT, NULL);
    int rc = x.fd < 0 ? x.fd : user_rx_gen(c, REF_PORT, &g);
    if (rc < 0) {
        set_error(r, "reference: %s", strerror(-rc));
    } else {
        struct side s = {sock_rx_step, sock_rx_count, &x};
        side_run(&s, &r->ref, r, "reference");
    }
    gen_stop(&g);
    if (x.fd >= 0)
        close(x.fd);
}

static void case_user_rx(const struct bcase *c, struct result *r)
{
    r->frame_bytes = frame_len_of(c->size);
    struct case_ctx x = {.c = c, .r = r};
    r->aux_name = "gen_pps";
    run_rounds(&x, user_rx_nicvm, user_rx_ref);
}

/* --- the case table, output, main ------------------------------------------------------------ */

static const struct bcase cases[] = {
    {"tap", false, 64, true, false, case_tap_tx, "writev() on the same tap"},
    {"tap", false, 1500, true, true, case_tap_tx, "writev() on the same tap"},
    {"tap", false, SIZE_GSO, true, true, case_tap_tx, "writev() on the same tap"},
    {"tap", false, SIZE_GSO, false, false, case_tap_tx,
     "write() of the same segments on the same tap"},
    {"tap", true, 64, true, false, case_tap_rx, "read() on the same tap"},
    {"tap", true, 1500, true, true, case_tap_rx, "read() on the same tap"},
    {"tap", true, SIZE_GSO, true, true, case_tap_rx, "read() on the same tap"},
    {"user", false, 64, false, false, case_user_tx, "sendto() on a loopback UDP socket"},
    {"user", false, 1500, false, true, case_user_tx, "sendto() on a loopback UDP socket"},
    {"user", false, SIZE_GSO, false, true, case_user_tx, "send() on a loopback TCP socket"},
    {"user", true, 64, false, false, case_user_rx, "recvfrom() on a loopback UDP socket"},
    {"user", true, 1500, false, true, case_user_rx, "recvfrom() on a loopback UDP socket"},
};

static struct result g_results[MAX_RESULTS];
static int g_nresults;

static double per_sec(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0;
}

static double gbit(uint64_t bytes, double secs)
{
    return per_sec(bytes, secs) * 8 / 1e9;
}

static double ratio_of(const struct result *r)
{
    double ref = gbit(r->ref.bytes, r->ref.secs);
    return ref > 0 ? gbit(r->nic.bytes, r->nic.secs) / ref : 0;
}

/* cpu_ns: the measuring thread's CPU time per frame, in ns. */
static double cpu_ns(const struct meas *m)
{
    return m->frames ? m->cpu * 1e9 / (double)m->frames : 0;
}

/* cpu_ratio: the reference's CPU time per byte over nicvm's (1: the same cost; below 1, nicvm
 * spends more). The same as ratio when both sides keep their thread busy. */
static double cpu_ratio(const struct result *r)
{
    double nic = r->nic.bytes ? r->nic.cpu / (double)r->nic.bytes : 0;
    double ref = r->ref.bytes ? r->ref.cpu / (double)r->ref.bytes : 0;
    return nic > 0 ? ref / nic : 0;
}

static double aux_value(const struct result *r, const struct meas *m)
{
    return r->aux_bytes ? gbit(m->aux, m->secs) : per_sec(m->aux, m->secs);
}

static void print_json(const struct result *r)
{
    const struct bcase *c = r->c;
    printf("{\"bench\":\"net\",\"backend\":\"%s\",\"dir\":\"%s\",\"size\":%u", c->backend,
           c->rx ? "rx" : "tx", c->size);
    if (r->error[0]) {
        printf(",\"error\":\"%s\"}\n", r->error);
        fflush(stdout);
        return;
    }
    printf(",\"frame_bytes\":%zu,\"offload\":%s", r->frame_bytes,
           c->size == SIZE_GSO ? "true" : "false");
    if (strcmp(c->backend, "tap") == 0)
        printf(",\"vnet_hdr\":%s", c->vnet_hdr ? "true" : "false");
    printf(",\"pps\":%.0f,\"gbps\":%.3f,\"ref_pps\":%.0f,\"ref_gbps\":%.3f,\"ratio\":%.3f",
           per_sec(r->nic.frames, r->nic.secs), gbit(r->nic.bytes, r->nic.secs),
           per_sec(r->ref.frames, r->ref.secs), gbit(r->ref.bytes, r->ref.secs), ratio_of(r));
    printf(",\"cpu_ns\":%.0f,\"ref_cpu_ns\":%.0f,\"cpu_ratio\":%.3f", cpu_ns(&r->nic),
           cpu_ns(&r->ref), cpu_ratio(r));
    printf(",\"busy\":%.2f,\"ref_busy\":%.2f", r->nic.secs > 0 ? r->nic.cpu / r->nic.secs : 0,
           r->ref.secs > 0 ? r->ref.cpu / r->ref.secs : 0);
    printf(",\"seconds\":%.2f,\"rounds\":%d", r->nic.secs, g_opt.rounds);
    int prec = r->aux_bytes ? 3 : 0;
    printf(",\"%s\":%.*f,\"ref_%s\":%.*f", r->aux_name, prec, aux_value(r, &r->nic), r->aux_name,
           prec, aux_value(r, &r->ref));
    printf(",\"drops\":%llu,\"ref\":\"%s\"}\n", (unsigned long long)r->drops, c->ref);
    fflush(stdout);
}

static void case_name(const struct bcase *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s %s%s", c->backend, c->rx ? "rx" : "tx",
             c->size == 64     ? "64 B"
             : c->size == 1500 ? "1500 B"
                               : "64 KiB GSO",
             strcmp(c->backend, "tap") == 0 && !c->vnet_hdr ? " (vnet_hdr=off)" : "");
}

static void print_table(void)
{
    fprintf(stderr,
            "\nnet_bench: nicvm against raw syscalls, %.1f s per side in %d round(s); Mpps and "
            "Gbit/s of Ethernet frames, us of CPU per frame (busy: share of the time the "
            "measuring thread ran)\n",
            g_opt.seconds, g_opt.rounds);
    fprintf(stderr, "%-34s %8s %8s %8s %8s %6s | %7s %7s %5s %5s %6s\n", "case", "Mpps", "Gbit/s",
            "ref Mpps", "ref Gb/s", "ratio", "us/fr", "ref", "busy", "ref", "cpu r.");
    for (int i = 0; i < g_nresults; i++) {
        const struct result *r = &g_results[i];
        char name[64];
        case_name(r->c, name, sizeof(name));
        if (r->error[0]) {
            fprintf(stderr, "%-34s error: %s\n", name, r->error);
            continue;
        }
        fprintf(stderr, "%-34s %8.4f %8.3f %8.4f %8.3f %6.3f | %7.2f %7.2f %5.2f %5.2f %6.3f\n",
                name, per_sec(r->nic.frames, r->nic.secs) / 1e6, gbit(r->nic.bytes, r->nic.secs),
                per_sec(r->ref.frames, r->ref.secs) / 1e6, gbit(r->ref.bytes, r->ref.secs),
                ratio_of(r), cpu_ns(&r->nic) / 1e3, cpu_ns(&r->ref) / 1e3, r->nic.cpu / r->nic.secs,
                r->ref.cpu / r->ref.secs, cpu_ratio(r));
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: net_bench [--seconds N] [--rounds N] [--quick] [--only tap|user]\n"
                 "                 [--match TEXT]\n"
                 "  --seconds N  measured time per side of each case (default 2, quick 0.5)\n"
                 "  --rounds N   nicvm and the reference alternate N times (default 2)\n"
                 "  --quick      1500 B and 64 KiB cases only, 0.5 s each, 1 round\n"
                 "  --only B     only the tap or only the user backend\n"
                 "  --match TEXT only the cases whose name contains TEXT ('tap tx 64 KiB')\n"
                 "Needs root (network namespace, tap). JSON lines on stdout, table on stderr.\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (strcmp(a, "--quick") == 0) {
            g_opt.quick = true;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            g_opt.seconds = strtod(v, &end);
            g_opt.seconds_given = true;
            if (*end || !(g_opt.seconds >= 0.05 && g_opt.seconds <= 3600))
                return -1;
            i++;
        } else if (strcmp(a, "--only") == 0 && v &&
                   (strcmp(v, "tap") == 0 || strcmp(v, "user") == 0)) {
            g_opt.only = v;
            i++;
        } else if (strcmp(a, "--rounds") == 0 && v) {
            g_opt.rounds = (int)strtol(v, &end, 10);
            if (*end || g_opt.rounds < 1 || g_opt.rounds > 100)
                return -1;
            i++;
        } else if (strcmp(a, "--match") == 0 && v) {
            g_opt.match = v;
            i++;
        } else {
            return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? 1 : -1;
        }
    }
    if (g_opt.quick && !g_opt.seconds_given)
        g_opt.seconds = 0.5;
    if (g_opt.quick) {
        g_opt.warmup = 0.1;
        g_opt.rounds = 1;
    }
    return 0;
}

static void case_name(const struct bcase *c, char *buf, size_t len);

static bool case_wanted(const struct bcase *c)
{
    char name[64];
    case_name(c, name, sizeof(name));
    return (!g_opt.only || strcmp(g_opt.only, c->backend) == 0) && (!g_opt.quick || c->quick) &&
           (!g_opt.match || strstr(name, g_opt.match));
}

/* preflight: why this machine cannot run the benchmark, or NULL. */
static const char *preflight(void)
{
    if (geteuid() != 0)
        return "needs root (creates a network namespace and a tap device)";
    if ((!g_opt.only || strcmp(g_opt.only, "tap") == 0) && access("/dev/net/tun", R_OK | W_OK))
        return "no usable /dev/net/tun";
    return NULL;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: waits return early with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void run_cases(void)
{
    int total = 0, n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        total += case_wanted(&cases[i]);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !g_stop; i++) {
        const struct bcase *c = &cases[i];
        if (!case_wanted(c) || g_nresults >= MAX_RESULTS)
            continue;
        struct result *r = &g_results[g_nresults];
        char name[64];
        case_name(c, name, sizeof(name));
        progress("[%d/%d] %s ...", ++n, total, name);
        memset(r, 0, sizeof(*r));
        r->c = c;
        c->run(c, r);
        if (g_stop)
            break;
        g_nresults++;
        print_json(r);
        if (!r->error[0])
            progress("[%d/%d] %s: nicvm %.0f pps, raw %.0f pps, ratio %.3f", n, total, name,
                     per_sec(r->nic.frames, r->nic.secs), per_sec(r->ref.frames, r->ref.secs),
                     ratio_of(r));
        if (r->drops)
            progress("warning: the layer dropped %llu frames", (unsigned long long)r->drops);
    }
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    log_set_level(LOG_WARN);
    char why[160];
    const char *skip = preflight();
    if (!skip && ns_create(why, sizeof(why)) < 0)
        skip = why;
    if (!skip && (!g_opt.only || strcmp(g_opt.only, "tap") == 0) && tap_setup() < 0)
        skip = "cannot set up the tap device " TAP_IF " in the namespace";
    if (skip) {
        printf("{\"bench\":\"net\",\"skipped\":\"%s\"}\n", skip);
        ns_destroy();
        return 0;
    }
    install_signals();
    g_opt.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    pin_cpu(0);
    progress("namespace %s, %.2f s per side in %d round(s), %d CPUs", g_ns, g_opt.seconds,
             g_opt.rounds, g_opt.ncpu);
    run_cases();
    ns_destroy();
    if (g_stop) {
        progress("interrupted");
        return 130;
    }
    print_table();
    int failed = 0;
    for (int i = 0; i < g_nresults; i++)
        failed += g_results[i].error[0] != 0;
    return failed ? 1 : 0;
}
