/* net_bench_ns.c: net_bench's network namespace (nicvm-bench-<pid>, so nothing it does
 * touches the host's network) and the tap device in it, for nicvm and for the reference. */
#include "net_bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if.h>
#include <linux/if_tun.h>

/* --- network namespace and tap device ---------------------------------------------------- */

char g_ns[64];             /* our namespace's name; "" when there is none */
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
void ns_destroy(void)
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
        nb_progress("removing %s, left by a run that was killed", e->d_name);
        ip(true, "netns del %s", e->d_name);
    }
    if (d)
        closedir(d);
}

/* ns_create: makes and enters nicvm-bench-<pid>. Returns 0, or -1 with the reason to skip. */
int ns_create(char *why, size_t len)
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
int tap_setup(void)
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
void tap_wait_running(void)
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
uint64_t tap_kernel_rx(void)
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
int tap_open_raw(bool vnet, unsigned offloads)
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
