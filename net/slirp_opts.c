/* Options of the user backend, in QEMU's words and with QEMU's defaults (net 10.0.2.0/24,
 * host .2, DNS .3, first DHCP address .15, IPv6 fec0::/64), and the port forwards. A bad
 * forward fails at startup with a line that names it and says why. */
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int slirp_parse_config(struct opts *o, SlirpConfig *cfg, char *err, size_t errlen);
int slirp_apply_forwards(Slirp *slirp, const SlirpConfig *cfg, struct opts *o, char *err,
                         size_t errlen);
void slirp_config_free(SlirpConfig *cfg);
int slirp_hostfwd_rule(Slirp *slirp, struct in_addr guest, bool add, const char *rule, char *err,
                       size_t errlen);

static int parse_prefix4(const char *s, struct in_addr *net, struct in_addr *mask)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    unsigned bits = 24;
    if (slash) {
        *slash++ = '\0';
        char *end;
        if (strchr(slash, '.')) {
            if (inet_pton(AF_INET, slash, mask) != 1)
                return -EINVAL;
        } else {
            bits = (unsigned)strtoul(slash, &end, 10);
            if (*end || bits < 8 || bits > 30)
                return -EINVAL;
            mask->s_addr = htonl(0xffffffffu << (32 - bits));
        }
    } else {
        mask->s_addr = htonl(0xffffff00u);
    }
    if (inet_pton(AF_INET, buf, net) != 1)
        return -EINVAL;
    net->s_addr &= mask->s_addr;
    return 0;
}

/* An address option inside the network, or net + default_host when absent. */
static int addr_in_net(struct opts *o, const char *key, struct in_addr net, struct in_addr mask,
                       uint32_t default_host, struct in_addr *out, char *err, size_t errlen)
{
    const char *v = opts_get(o, key);
    if (!v) {
        out->s_addr = htonl(ntohl(net.s_addr) + default_host);
        return 0;
    }
    if (inet_pton(AF_INET, v, out) != 1) {
        snprintf(err, errlen, "%s=%s: not an IPv4 address", key, v);
        return -EINVAL;
    }
    if ((out->s_addr & mask.s_addr) != net.s_addr) {
        snprintf(err, errlen, "%s=%s: not inside net=", key, v);
        return -EINVAL;
    }
    return 0;
}

static int parse_ipv6(struct opts *o, SlirpConfig *cfg, char *err, size_t errlen)
{
    const char *net6 = opts_get(o, "ipv6-net");
    const char *host6 = opts_get(o, "ipv6-host");
    const char *dns6 = opts_get(o, "ipv6-dns");
    char buf[80];
    snprintf(buf, sizeof(buf), "%s", net6 ? net6 : "fec0::/64");
    char *slash = strchr(buf, '/');
    unsigned len = 64;
    if (slash) {
        *slash++ = '\0';
        len = (unsigned)strtoul(slash, NULL, 10);
    }
    if (inet_pton(AF_INET6, buf, &cfg->vprefix_addr6) != 1 || len < 8 || len > 126) {
        snprintf(err, errlen, "ipv6-net=%s: expected PREFIX/LEN such as fec0::/64", net6);
        return -EINVAL;
    }
    cfg->vprefix_len = (uint8_t)len;
    cfg->vhost6 = cfg->vprefix_addr6;
    cfg->vhost6.s6_addr[15] |= 2;
    cfg->vnameserver6 = cfg->vprefix_addr6;
    cfg->vnameserver6.s6_addr[15] |= 3;
    if (host6 && inet_pton(AF_INET6, host6, &cfg->vhost6) != 1) {
        snprintf(err, errlen, "ipv6-host=%s: not an IPv6 address", host6);
        return -EINVAL;
    }
    if (dns6 && inet_pton(AF_INET6, dns6, &cfg->vnameserver6) != 1) {
        snprintf(err, errlen, "ipv6-dns=%s: not an IPv6 address", dns6);
        return -EINVAL;
    }
    return 0;
}

int slirp_parse_config(struct opts *o, SlirpConfig *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->version = 4;
    cfg->in_enabled = true;
    cfg->enable_emu = false; /* never: see slirp.c */
    const char *net = opts_get(o, "net");
    if (parse_prefix4(net ? net : "10.0.2.0/24", &cfg->vnetwork, &cfg->vnetmask) < 0) {
        snprintf(err, errlen, "net=%s: expected ADDR/BITS (8-30) or ADDR/MASK", net);
        return -EINVAL;
    }
    bool restrict_, ipv6;
    int rc = addr_in_net(o, "host", cfg->vnetwork, cfg->vnetmask, 2, &cfg->vhost, err, errlen);
    if (!rc)
        rc = addr_in_net(o, "dns", cfg->vnetwork, cfg->vnetmask, 3, &cfg->vnameserver, err, errlen);
    if (!rc)
        rc = addr_in_net(o, "dhcpstart", cfg->vnetwork, cfg->vnetmask, 15, &cfg->vdhcp_start, err,
                         errlen);
    if (!rc)
        rc = opts_get_bool(o, "restrict", false, &restrict_, err, errlen);
    if (!rc)
        rc = opts_get_bool(o, "ipv6", true, &ipv6, err, errlen);
    if (!rc && ipv6)
        rc = parse_ipv6(o, cfg, err, errlen);
    if (rc)
        return rc;
    cfg->restricted = restrict_;
    cfg->in6_enabled = ipv6;
    cfg->vhostname = opts_get(o, "hostname");
    cfg->vdomainname = opts_get(o, "domainname");
    cfg->tftp_path = opts_get(o, "tftp");
    cfg->bootfile = opts_get(o, "bootfile");
    cfg->tftp_server_name = opts_get(o, "tftp-server-name");
    return 0;
}

void slirp_config_free(SlirpConfig *cfg)
{
    (void)cfg; /* every string points into the option list */
}

/* "PROTO:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" */
static int parse_hostfwd(const char *spec, const SlirpConfig *cfg, int *is_udp,
                         struct in_addr *haddr, int *hport, struct in_addr *gaddr, int *gport)
{
    char proto[8] = "", ha[64] = "", ga[64] = "";
    int hp, gp, n = 0;
    const char *p = spec;
    const char *colon = strchr(p, ':');
    if (!colon || colon - p >= (int)sizeof(proto))
        return -EINVAL;
    memcpy(proto, p, (size_t)(colon - p));
    p = colon + 1;
    if (sscanf(p, "%63[^:]:%d-%n", ha, &hp, &n) < 2 && sscanf(p, ":%d-%n", &hp, &n) < 1)
        return -EINVAL;
    if (n == 0) /* the '-' between the host and guest parts never matched */
        return -EINVAL;
    p += n;
    n = 0;
    if (sscanf(p, "%63[^:]:%d%n", ga, &gp, &n) < 2 && sscanf(p, ":%d%n", &gp, &n) < 1)
        return -EINVAL;
    if (n == 0 || p[n] != '\0' || hp < 0 || hp > 65535 || gp < 1 || gp > 65535)
        return -EINVAL;
    if (!strcmp(proto, "udp"))
        *is_udp = 1;
    else if (!strcmp(proto, "tcp") || !proto[0])
        *is_udp = 0;
    else
        return -EINVAL;
    haddr->s_addr = htonl(INADDR_ANY);
    *gaddr = cfg->vdhcp_start;
    if ((ha[0] && inet_pton(AF_INET, ha, haddr) != 1) ||
        (ga[0] && inet_pton(AF_INET, ga, gaddr) != 1))
        return -EINVAL;
    *hport = hp;
    *gport = gp;
    return 0;
}

/* Binds the host side once ourselves: libslirp reports failure without the reason. */
static int probe_bind(int is_udp, struct in_addr addr, int port)
{
    int fd = socket(AF_INET, (is_udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_addr = addr, .sin_port = htons((uint16_t)port)};
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int add_hostfwd(Slirp *slirp, const SlirpConfig *cfg, const char *spec, char *err,
                       size_t errlen)
{
    int is_udp, hport, gport;
    struct in_addr ha, ga;
    if (parse_hostfwd(spec, cfg, &is_udp, &ha, &hport, &ga, &gport) < 0) {
        snprintf(err, errlen,
                 "hostfwd=%s: expected tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", spec);
        return -EINVAL;
    }
    int rc = probe_bind(is_udp, ha, hport);
    if (rc == 0 && slirp_add_hostfwd(slirp, is_udp, ha, hport, ga, gport) < 0)
        rc = -EADDRINUSE;
    if (rc < 0)
        snprintf(err, errlen, "hostfwd=%s: cannot listen on host port %d: %s", spec, hport,
                 strerror(-rc));
    return rc;
}

/* slirp_hostfwd_rule: the monitor's hostfwd_add / hostfwd_remove on a running backend
 * whose guest address defaults to `guest` (dhcpstart). Returns 0 or -errno with err. */
int slirp_hostfwd_rule(Slirp *slirp, struct in_addr guest, bool add, const char *rule, char *err,
                       size_t errlen)
{
    SlirpConfig cfg = {.vdhcp_start = guest};
    if (add)
        return add_hostfwd(slirp, &cfg, rule, err, errlen);
    /* Removal names only the host side; a dummy guest side lets the one parser read it. */
    char spec[160];
    int is_udp, hport, gport;
    struct in_addr ha, ga;
    snprintf(spec, sizeof(spec), strchr(rule, '-') ? "%s" : "%s-:1", rule);
    if (strlen(rule) > 120 || parse_hostfwd(spec, &cfg, &is_udp, &ha, &hport, &ga, &gport) < 0) {
        snprintf(err, errlen, "%s: expected tcp|udp:[HOSTADDR]:HOSTPORT", rule);
        return -EINVAL;
    }
    if (slirp_remove_hostfwd(slirp, is_udp, ha, hport) < 0) {
        snprintf(err, errlen, "%s: no such port forward", rule);
        return -ENOENT;
    }
    return 0;
}

/* "[tcp]:ADDR:PORT-cmd:COMMAND" or "[tcp]:ADDR:PORT-unix:PATH" */
static int add_guestfwd(Slirp *slirp, const SlirpConfig *cfg, const char *spec, char *err,
                        size_t errlen)
{
    char addr[64];
    int port, n = 0;
    const char *p = spec;
    if (!strncmp(p, "tcp:", 4))
        p += 4;
    else if (*p == ':')
        p++;
    struct in_addr ga;
    if (sscanf(p, "%63[^:]:%d-%n", addr, &port, &n) < 2 || n == 0 ||
        inet_pton(AF_INET, addr, &ga) != 1 || port < 1 || port > 65535 ||
        (ga.s_addr & cfg->vnetmask.s_addr) != cfg->vnetwork.s_addr) {
        snprintf(err, errlen,
                 "guestfwd=%s: expected [tcp]:ADDR:PORT-cmd:COMMAND or -unix:PATH, with ADDR "
                 "inside net=",
                 spec);
        return -EINVAL;
    }
    const char *dev = p + n;
    int rc;
    if (!strncmp(dev, "cmd:", 4) && dev[4])
        rc = slirp_add_exec(slirp, dev + 4, &ga, port);
    else if (!strncmp(dev, "unix:", 5) && dev[5])
        rc = slirp_add_unix(slirp, dev + 5, &ga, port);
    else {
        snprintf(err, errlen, "guestfwd=%s: the target must be cmd:COMMAND or unix:PATH", spec);
        return -EINVAL;
    }
    if (rc < 0) {
        snprintf(err, errlen, "guestfwd=%s: libslirp refused it (address or port taken?)", spec);
        return -EINVAL;
    }
    return 0;
}

int slirp_apply_forwards(Slirp *slirp, const SlirpConfig *cfg, struct opts *o, char *err,
                         size_t errlen)
{
    const char *specs[32];
    unsigned n = opts_get_all(o, "hostfwd", specs, 32);
    if (n > 32) {
        snprintf(err, errlen, "hostfwd: at most 32");
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        int rc = add_hostfwd(slirp, cfg, specs[i], err, errlen);
        if (rc)
            return rc;
    }
    n = opts_get_all(o, "guestfwd", specs, 32);
    if (n > 32) {
        snprintf(err, errlen, "guestfwd: at most 32");
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        int rc = add_guestfwd(slirp, cfg, specs[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}
