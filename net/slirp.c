/* The user backend: user-mode NAT, DHCP, DNS, TFTP and port forwarding by libslirp, with no
 * privileges. -netdev user,id=ID[,net=ADDR/MASK][,host=ADDR][,dns=ADDR][,dhcpstart=ADDR]
 * [,ipv6=on|off][,ipv6-net=PREFIX/LEN][,ipv6-host=ADDR][,ipv6-dns=ADDR][,restrict=on|off]
 * [,hostname=NAME][,domainname=NAME][,tftp=DIR][,bootfile=FILE]
 * [,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 * [,guestfwd=[tcp]:ADDR:PORT-cmd:COMMAND | -unix:PATH]... with QEMU's meanings.
 *
 * libslirp is driven from the event loop alone (it is not thread-safe): its sockets are
 * mirrored into a private epoll set that the loop watches, its poll state is filled before
 * every wait and polled after (an evloop hook), and its timers are evloop timers.
 * Its emulation helpers (enable_emu) stay off: they are a known source of vulnerabilities
 * (CVE-2020-7039). Frames from the guest reach slirp_input() whole and bounded, IPv4
 * fragments only after nicvm reassembled them (net/ipfrag.c; see slirp_send). */
#include "net/slirp.h"
#include "vmm/iov.h"
#include "net/backend.h"
#include "net/ipfrag.h"
#include "net/offload.h"
#include "vmm/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SLIRP_MAX_FWD     16
#define SLIRP_MAX_POLL    256
#define SLIRP_MAX_FRAME   NETDEV_MAX_FRAME /* a coalesced TCP GSO frame (see slirp_open) */
#define NS_PER_MS         1000000u
#define SLIRP_DEFAULT_MTU 1500 /* libslirp's IF_MTU_DEFAULT, when the config leaves 0 */

struct slirp_pollent {
    int fd;
    int events;  /* SLIRP_POLL_* asked in this round */
    int revents; /* SLIRP_POLL_* seen */
};

struct slirp_timer {
    struct netdev *nd;
    struct evloop_timer *t;
    SlirpTimerId id;
    void *cb_opaque;
};

struct slirp_watch {
    int fd;
    uint32_t events;
};

struct slirp_be {
    Slirp *slirp;
    struct netdev *nd;
    int epfd; /* mirrors slirp's sockets; the loop watches it */
    struct slirp_pollent poll[SLIRP_MAX_POLL];
    int npoll;
    struct slirp_watch watched[SLIRP_MAX_POLL]; /* what epfd currently holds */
    int nwatched;
    uint8_t frame[SLIRP_MAX_FRAME];
    struct ipfrag *frag; /* IPv4 reassembly in front of libslirp (see slirp_send) */
    struct log_ratelimit rl;
    struct in_addr guest; /* dhcpstart: a forward's default guest address */
};

/* --- callbacks from libslirp ----------------------------------------------------------- */

static ssize_t slirp_cb_send(const void *buf, size_t len, void *opaque)
{
    struct netdev *nd = opaque;
    struct iovec iov = {(void *)buf, len};
    /* If the guest has no buffers the layer queues (bounded) or drops; TCP retransmits. */
    netdev_deliver(nd, NULL, &iov, 1, len);
    return (ssize_t)len;
}

static void slirp_cb_guest_error(const char *msg, void *opaque)
{
    struct netdev *nd = opaque;
    struct slirp_be *s = netdev_priv(nd);
    log_ratelimited(&s->rl, LOG_WARN, "netdev %s: libslirp: guest error: %s", netdev_id(nd), msg);
}

static int64_t slirp_cb_clock_ns(void *opaque)
{
    (void)opaque;
    return (int64_t)evloop_now_ns();
}

static void slirp_timer_fire(void *opaque)
{
    struct slirp_timer *st = opaque;
    struct slirp_be *s = netdev_priv(st->nd);
    slirp_handle_timer(s->slirp, st->id, st->cb_opaque);
}

static void *slirp_cb_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_timer *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    *st = (struct slirp_timer){opaque, NULL, id, cb_opaque};
    st->t = evloop_timer_new(netdev_loop(opaque), slirp_timer_fire, st);
    if (!st->t) {
        free(st);
        return NULL;
    }
    evloop_timer_set_name(st->t, "slirp %s timer %d", netdev_id(opaque), (int)id);
    return st;
}

static void slirp_cb_timer_free(void *timer, void *opaque)
{
    struct slirp_timer *st = timer;
    (void)opaque;
    if (st) {
        evloop_timer_free(st->t);
        free(st);
    }
}

static void slirp_cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *st = timer;
    (void)opaque;
    int64_t now_ms = (int64_t)(evloop_now_ns() / 1000000u);
    int64_t delta = expire_ms > now_ms ? expire_ms - now_ms : 1;
    evloop_timer_arm(st->t, (uint64_t)delta * 1000000u);
}

static void slirp_cb_register_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* sockets are tracked through slirp_pollfds_fill */
}

/* libslirp is about to close fd: forget it now. The kernel drops a closed fd from epfd by
 * itself, and a new socket that gets the same number before the next round must be added
 * afresh, not taken for the one already watched. */
static void slirp_cb_unregister_fd(int fd, void *opaque)
{
    struct slirp_be *s = netdev_priv(opaque);
    for (int w = 0; w < s->nwatched; w++) {
        if (s->watched[w].fd == fd) {
            if (s->epfd >= 0)
                epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
            s->watched[w] = s->watched[--s->nwatched];
            return;
        }
    }
}

static void slirp_cb_notify(void *opaque)
{
    evloop_wakeup(netdev_loop(opaque)); /* re-run the poll hook */
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_cb_send,
    .guest_error = slirp_cb_guest_error,
    .clock_get_ns = slirp_cb_clock_ns,
    .timer_free = slirp_cb_timer_free,
    .timer_mod = slirp_cb_timer_mod,
    .register_poll_fd = slirp_cb_register_fd,
    .unregister_poll_fd = slirp_cb_unregister_fd,
    .notify = slirp_cb_notify,
    .timer_new_opaque = slirp_cb_timer_new,
};

/* --- the poll hook ---------------------------------------------------------------------- */

static int slirp_add_poll(int fd, int events, void *opaque)
{
    struct slirp_be *s = opaque;
    if (s->npoll >= SLIRP_MAX_POLL)
        return -1; /* slirp treats a negative index as "not polled this round" */
    s->poll[s->npoll] = (struct slirp_pollent){fd, events, 0};
    return s->npoll++;
}

static uint32_t to_epoll(int ev)
{
    return ((ev & SLIRP_POLL_IN) ? EPOLLIN : 0) | ((ev & SLIRP_POLL_OUT) ? EPOLLOUT : 0) |
           ((ev & SLIRP_POLL_PRI) ? EPOLLPRI : 0);
}

/* Makes epfd watch exactly the fds of this round with their events (few syscalls: only
 * changes are applied). */
static void slirp_sync_epoll(struct slirp_be *s)
{
    for (int w = 0; w < s->nwatched; w++) {
        int i;
        for (i = 0; i < s->npoll && s->poll[i].fd != s->watched[w].fd; i++)
            ;
        if (i == s->npoll) {
            epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->watched[w].fd, NULL);
            s->watched[w--] = s->watched[--s->nwatched];
        }
    }
    for (int i = 0; i < s->npoll; i++) {
        uint32_t ev = to_epoll(s->poll[i].events);
        int w;
        for (w = 0; w < s->nwatched && s->watched[w].fd != s->poll[i].fd; w++)
            ;
        struct epoll_event e = {.events = ev, .data.fd = s->poll[i].fd};
        if (w == s->nwatched) {
            if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->poll[i].fd, &e) == 0)
                s->watched[s->nwatched++] = (struct slirp_watch){s->poll[i].fd, ev};
        } else if (s->watched[w].events != ev) {
            /* ENOENT: closed without unregister_poll_fd and the number reused */
            if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->poll[i].fd, &e) < 0 && errno == ENOENT)
                epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->poll[i].fd, &e);
            s->watched[w].events = ev;
        }
    }
}

/* Gives up stale partial datagrams, and wakes the loop when the next one goes stale, so
 * that a guest's stray fragments do not hold memory while the link is idle. */
static void slirp_frag_expire(struct slirp_be *s, uint32_t *t)
{
    uint64_t now = evloop_now_ns();
    ipfrag_expire(s->frag, now);
    uint64_t next = ipfrag_next_expiry(s->frag);
    if (next != UINT64_MAX) {
        uint64_t ms = next > now ? (next - now) / NS_PER_MS + 1 : 1;
        if (ms < *t)
            *t = (uint32_t)ms;
    }
}

static void slirp_prepare(void *opaque, int *timeout_ms)
{
    struct slirp_be *s = opaque;
    uint32_t t = UINT32_MAX;
    s->npoll = 0;
    slirp_pollfds_fill(s->slirp, &t, slirp_add_poll, s);
    slirp_sync_epoll(s);
    slirp_frag_expire(s, &t);
    if (t != UINT32_MAX && (*timeout_ms < 0 || (uint32_t)*timeout_ms > t))
        *timeout_ms = (int)t;
}

static int slirp_get_revents(int idx, void *opaque)
{
    struct slirp_be *s = opaque;
    return idx >= 0 && idx < s->npoll ? s->poll[idx].revents : 0;
}

/* One round: collect readiness from epfd, let libslirp act on it. Returns how many of its
 * sockets were ready. */
static int slirp_poll_round(struct slirp_be *s)
{
    struct epoll_event ev[64];
    int n = epoll_wait(s->epfd, ev, 64, 0);
    for (int k = 0; k < n; k++) {
        int r = ((ev[k].events & EPOLLIN) ? SLIRP_POLL_IN : 0) |
                ((ev[k].events & EPOLLOUT) ? SLIRP_POLL_OUT : 0) |
                ((ev[k].events & EPOLLPRI) ? SLIRP_POLL_PRI : 0) |
                ((ev[k].events & EPOLLERR) ? SLIRP_POLL_ERR : 0) |
                ((ev[k].events & EPOLLHUP) ? SLIRP_POLL_HUP : 0);
        for (int i = 0; i < s->npoll; i++)
            if (s->poll[i].fd == ev[k].data.fd)
                s->poll[i].revents = r;
    }
    slirp_pollfds_poll(s->slirp, n < 0, slirp_get_revents, s);
    return n;
}

/* libslirp reads one datagram per socket per round; going back through the event loop for
 * each costs two epoll_wait calls. While its sockets stay ready, poll it again here, up to a
 * bound so other work on the loop is not starved. */
#define SLIRP_ROUNDS_PER_WAKEUP 32

static void slirp_check(void *opaque)
{
    struct slirp_be *s = opaque;
    for (int round = 0; round < SLIRP_ROUNDS_PER_WAKEUP; round++) {
        if (round > 0) {
            uint32_t t = UINT32_MAX;
            s->npoll = 0;
            slirp_pollfds_fill(s->slirp, &t, slirp_add_poll, s);
            slirp_sync_epoll(s);
        }
        if (slirp_poll_round(s) <= 0)
            return;
    }
}

static void slirp_on_epfd(void *opaque, uint32_t events)
{
    (void)opaque, (void)events; /* the check hook does the work on every iteration */
}

/* --- guest -> slirp ------------------------------------------------------------------- */

/* libslirp 4.7.0 (Debian 12) crashes in ip_reass() on an IPv4 fragment that ends a datagram
 * whose earlier fragments it has not queued (a wild pointer read; found by fuzz_slirp_glue,
 * regression seed tests/fuzz/corpus/slirp_glue/regress_ipv4_lone_last_fragment; SECURITY.md,
 * Findings). One such frame from the guest would kill nicvm. Dropping every fragment kept
 * it safe but broke legitimate traffic (ping -s 4000, large UDP), so nicvm reassembles IPv4
 * itself (net/ipfrag.c: RFC 791 with bounds on memory and time, overlaps refused) and
 * libslirp only ever sees whole datagrams: its fragment path (ip_off & ~IP_DF) is never
 * taken. Fragments refused or given up are counted (slirp_ipfrag_stats) and logged,
 * rate-limited. */
static void slirp_input_frame(struct slirp_be *s, size_t len)
{
    struct ipfrag_out out;
    switch (ipfrag_input(s->frag, s->frame, len, evloop_now_ns(), &out)) {
    case IPFRAG_PASS: slirp_input(s->slirp, s->frame, (int)len); break;
    case IPFRAG_COMPLETE: /* the first fragment's Ethernet header, up to 14 + 65535 bytes */
        slirp_input(s->slirp, out.frame, (int)out.len);
        break;
    case IPFRAG_DROPPED:
        log_ratelimited(&s->rl, LOG_WARN, "netdev %s: IPv4 fragment dropped (%s)", netdev_id(s->nd),
                        ipfrag_drop_name(out.reason));
        break;
    case IPFRAG_HELD: break;
    }
}

static int slirp_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                      const struct iovec *iov, int iovcnt, size_t len)
{
    struct slirp_be *s = netdev_priv(nd);
    (void)hdr; /* no vnet header capability: offloads were done by the layer */
    if (len > SLIRP_MAX_FRAME)
        return -EMSGSIZE;
    slirp_input_frame(s, iov_to_buf(iov, iovcnt, 0, s->frame, len));
    return 0;
}

/* TCP GSO frames from the guest reach libslirp 4.7.0 as one large IP packet each
 * (NETDEV_CAP_GSO_COALESCED) instead of gso_size segments: its TCP input then runs once, and
 * one send() takes the whole payload, instead of 44 of each for a 64 KiB frame.
 *  - IPv4: slirp_input() copies any length into an mbuf (m_inc); ip_input() checks the
 *    header checksum and that the frame holds ip_len bytes, and has no MTU check; ip_len is
 *    16 bits, hence 65535.
 *  - IPv6: ip6_input() answers ICMPv6 Packet Too Big and drops any packet whose length
 *    (40 + payload length) exceeds if_mtu, so packets stay within if_mtu. Raising if_mtu is
 *    no way out: libslirp also uses it for its router advertisements' MTU option and for the
 *    size of what it sends the guest.
 *  - tcp_input() verifies the TCP checksum over the whole segment, takes any length (no MSS
 *    check on input) and trims data past its receive window, ACKing what it kept; the guest
 *    sends within that window, so a coalesced frame is trimmed exactly where its segments
 *    would have been. */
static void slirp_set_coalescing(struct netdev *nd, size_t if_mtu)
{
    netdev_set_caps(nd, NETDEV_CAP_GSO_COALESCED);
    netdev_set_coalesce_max(nd, OFFLOAD_IP_MAX, if_mtu); /* ip_input: no other bound */
}

/* Option parsing is in slirp_opts.c. */
int slirp_parse_config(struct opts *o, SlirpConfig *cfg, char *err, size_t errlen);
int slirp_apply_forwards(Slirp *slirp, const SlirpConfig *cfg, struct opts *o, char *err,
                         size_t errlen);
void slirp_config_free(SlirpConfig *cfg);
int slirp_hostfwd_rule(Slirp *slirp, struct in_addr guest, bool add, const char *rule, char *err,
                       size_t errlen);

static int slirp_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    struct slirp_be *s = netdev_priv(nd);
    s->nd = nd;
    s->epfd = -1;
    SlirpConfig cfg;
    int rc = slirp_parse_config(o, &cfg, err, errlen);
    if (rc)
        return rc;
    s->guest = cfg.vdhcp_start;
    s->frag = ipfrag_new();
    s->slirp = s->frag ? slirp_new(&cfg, &slirp_callbacks, nd) : NULL;
    if (!s->slirp) {
        snprintf(err, errlen, s->frag ? "libslirp refused the configuration" : "out of memory");
        rc = s->frag ? -EINVAL : -ENOMEM;
        ipfrag_free(s->frag);
        slirp_config_free(&cfg);
        return rc;
    }
    rc = slirp_apply_forwards(s->slirp, &cfg, o, err, errlen);
    size_t if_mtu = cfg.if_mtu ? cfg.if_mtu : SLIRP_DEFAULT_MTU;
    slirp_config_free(&cfg);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct evloop_hook hook = {slirp_prepare, slirp_check, s};
    if (rc == 0 &&
        (s->epfd < 0 || evloop_add_fd(netdev_loop(nd), s->epfd, EPOLLIN, slirp_on_epfd, s) < 0 ||
         evloop_add_hook(netdev_loop(nd), &hook) < 0)) {
        snprintf(err, errlen, "cannot attach libslirp to the event loop");
        rc = -ENOMEM;
    }
    if (rc == 0)
        evloop_set_name(netdev_loop(nd), s->epfd, "slirp %s sockets", netdev_id(nd));
    if (rc) {
        if (s->epfd >= 0) {
            evloop_del_fd(netdev_loop(nd), s->epfd);
            close(s->epfd);
            s->epfd = -1;
        }
        slirp_cleanup(s->slirp);
        ipfrag_free(s->frag);
        return rc;
    }
    slirp_set_coalescing(nd, if_mtu);
    return 0;
}

static void slirp_close(struct netdev *nd)
{
    struct slirp_be *s = netdev_priv(nd);
    evloop_remove_hook(netdev_loop(nd), s);
    evloop_del_fd(netdev_loop(nd), s->epfd);
    close(s->epfd);
    s->epfd = -1; /* slirp_cleanup calls unregister_poll_fd */
    slirp_cleanup(s->slirp);
    ipfrag_free(s->frag);
}

/* slirp_backend_slirp: the Slirp instance of a user netdev (hostfwd_add, tests). */
Slirp *slirp_backend_slirp(struct netdev *nd);
Slirp *slirp_backend_slirp(struct netdev *nd)
{
    return ((struct slirp_be *)netdev_priv(nd))->slirp;
}

int slirp_hostfwd(struct netdev *nd, bool add, const char *rule, char *err, size_t errlen)
{
    if (strcmp(netdev_type(nd), "user") != 0) {
        snprintf(err, errlen, "netdev '%s' is not a user netdev", netdev_id(nd));
        return -EINVAL;
    }
    struct slirp_be *s = netdev_priv(nd);
    return slirp_hostfwd_rule(s->slirp, s->guest, add, rule, err, errlen);
}

const struct ipfrag_stats *slirp_ipfrag_stats(struct netdev *nd)
{
    if (strcmp(netdev_type(nd), "user") != 0)
        return NULL;
    return ipfrag_stats(((struct slirp_be *)netdev_priv(nd))->frag);
}

json_t *slirp_ipfrag_info(struct netdev *nd)
{
    const struct ipfrag_stats *st = slirp_ipfrag_stats(nd);
    if (!st)
        return NULL;
    json_t *drops = json_object();
    for (int r = 0; r < IPFRAG_DROP_REASONS; r++)
        json_object_set_new(drops, ipfrag_drop_name((enum ipfrag_drop)r),
                            json_integer((json_int_t)st->dropped[r]));
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:i, s:i}", "fragments", (json_int_t)st->fragments,
                     "fragments_held", (json_int_t)st->held, "duplicates",
                     (json_int_t)st->duplicates, "datagrams_reassembled",
                     (json_int_t)st->reassembled, "dropped", drops, "in_progress_now",
                     (int)st->in_progress, "held_bytes_now", (int)st->held_bytes);
}

/* The user backend's part of netdev_info(): {"ipv4_reassembly": {...}}. */
static json_t *slirp_backend_info(struct netdev *nd)
{
    json_t *frag = slirp_ipfrag_info(nd);
    return frag ? json_pack("{s:o}", "ipv4_reassembly", frag) : NULL;
}

const struct netdev_backend_ops slirp_backend_ops = {
    .type = "user",
    .summary = "user-mode NAT with DHCP, DNS and port forwarding (libslirp)",
    .priv_size = sizeof(struct slirp_be),
    .open = slirp_open,
    .send = slirp_send,
    .close = slirp_close,
    .info = slirp_backend_info,
};
