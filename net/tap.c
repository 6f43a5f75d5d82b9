/* The tap backend: -netdev tap,id=ID[,ifname=NAME|fd=N][,vnet_hdr=on|off].
 *
 * Opens (or creates, with CAP_NET_ADMIN) a Linux tap device with IFF_TAP | IFF_NO_PI and, by
 * default, IFF_VNET_HDR with a 12-byte header (TUNSETVNETHDRSZ), so that checksum and
 * segmentation offloads pass through to the host kernel (Documentation/networking/tuntap.rst).
 * TUNSETOFFLOAD gets exactly the offloads the guest acked. Reads stop while the NIC has no
 * buffers; writes that hit EAGAIN wait for EPOLLOUT. If the interface disappears or returns
 * EIO, the link goes down with one log line and nicvm keeps running. nicvm runs no
 * script=/downscript=: set the interface up beforehand (README, "Networking"). */
#include "net/backend.h"
#include "vmm/iov.h"
#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define TAP_IOV_MAX     1024 /* the kernel's UIO_MAXIOV: the most iovecs writev() takes */
#define TAP_READ_BUDGET 64   /* frames per wake-up, so one busy tap cannot starve the loop */
#define TAP_BUF         (NETDEV_VNET_HDR_LEN + NETDEV_MAX_FRAME)

struct tap {
    int fd;
    bool owns_fd;
    bool vnet_hdr;
    bool watching;   /* fd registered with the loop */
    uint32_t events; /* EPOLLIN unless paused, EPOLLOUT while blocked */
    bool gone;
    char ifname[IFNAMSIZ];
    uint8_t *buf;
    uint8_t *linear; /* for chains longer than TAP_IOV_MAX */
};

static void tap_update_events(struct netdev *nd)
{
    struct tap *t = netdev_priv(nd);
    if (t->watching)
        evloop_mod_fd(netdev_loop(nd), t->fd, t->events);
}

/* The interface is gone (deleted, or the device returns EIO): link down, stop watching,
 * so nothing spins on a dead fd. */
static void tap_lost(struct netdev *nd, int err)
{
    struct tap *t = netdev_priv(nd);
    if (t->gone)
        return;
    t->gone = true;
    log_warn("netdev %s: tap %s failed (%s): link down", netdev_id(nd), t->ifname, strerror(err));
    if (t->watching) {
        evloop_del_fd(netdev_loop(nd), t->fd);
        t->watching = false;
    }
    netdev_set_carrier(nd, false);
}

static bool tap_fatal_errno(int err)
{
    return err == EIO || err == EBADFD || err == ENODEV || err == ENXIO || err == EBADF;
}

static void tap_read_frames(struct netdev *nd)
{
    struct tap *t = netdev_priv(nd);
    size_t hlen = t->vnet_hdr ? NETDEV_VNET_HDR_LEN : 0;
    for (int i = 0; i < TAP_READ_BUDGET && !t->gone && (t->events & EPOLLIN); i++) {
        ssize_t n = read(t->fd, t->buf, TAP_BUF);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            if (tap_fatal_errno(errno))
                tap_lost(nd, errno);
            return;
        }
        if ((size_t)n <= hlen)
            continue; /* a header without a frame: nothing to deliver */
        struct virtio_net_hdr_v1 hdr;
        if (hlen)
            memcpy(&hdr, t->buf, sizeof(hdr));
        struct iovec iov = {t->buf + hlen, (size_t)n - hlen};
        netdev_deliver(nd, hlen ? &hdr : NULL, &iov, 1, iov.iov_len);
    }
}

static void tap_on_event(void *opaque, uint32_t events)
{
    struct netdev *nd = opaque;
    struct tap *t = netdev_priv(nd);
    if (events & EPOLLOUT) {
        t->events &= ~(uint32_t)EPOLLOUT;
        tap_update_events(nd);
        netdev_backend_writable(nd);
    }
    if ((events & (EPOLLERR | EPOLLHUP)) && !(t->events & EPOLLIN)) {
        /* Reading is paused, so no read() reports the error, and epoll repeats EPOLLERR until
         * it is handled. tun reports it only once the interface is gone or going away. */
        tap_lost(nd, EBADFD);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        tap_read_frames(nd);
}

static int tap_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                    int iovcnt, size_t len)
{
    struct tap *t = netdev_priv(nd);
    static const struct virtio_net_hdr_v1 zero;
    if (t->gone)
        return -EIO;
    struct iovec v[TAP_IOV_MAX];
    int n = 0;
    if (t->vnet_hdr)
        v[n++] = (struct iovec){(void *)(hdr ? hdr : &zero), NETDEV_VNET_HDR_LEN};
    if (iovcnt > TAP_IOV_MAX - n) {
        /* Longer than writev takes: one copy into a linear buffer. */
        v[n++] = (struct iovec){t->linear, iov_to_buf(iov, iovcnt, 0, t->linear, len)};
    } else {
        memcpy(&v[n], iov, (size_t)iovcnt * sizeof(*iov));
        n += iovcnt;
    }
    if (writev(t->fd, v, n) >= 0)
        return 0;
    int err = errno;
    if (err == EAGAIN) {
        t->events |= EPOLLOUT;
        tap_update_events(nd);
        return -EAGAIN;
    }
    if (tap_fatal_errno(err))
        tap_lost(nd, err);
    return -err; /* EINVAL: the kernel refused this frame's header; the next may pass */
}

static void tap_rx_pause(struct netdev *nd)
{
    struct tap *t = netdev_priv(nd);
    t->events &= ~(uint32_t)EPOLLIN;
    tap_update_events(nd);
}

static void tap_rx_resume(struct netdev *nd)
{
    struct tap *t = netdev_priv(nd);
    t->events |= EPOLLIN;
    tap_update_events(nd);
    tap_read_frames(nd); /* level-triggered epoll would too; this saves a wake-up */
}

static int tap_set_rx_offloads(struct netdev *nd, unsigned flags)
{
    struct tap *t = netdev_priv(nd);
    if (!t->vnet_hdr)
        return flags ? -EOPNOTSUPP : 0;
    return ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

static int tap_open_named(struct tap *t, const char *ifname, bool want_vnet, char *err,
                          size_t errlen)
{
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(err, errlen, "cannot open /dev/net/tun: %s (is the tun module loaded?)",
                 strerror(errno));
        return -errno;
    }
    t->owns_fd = true;
    unsigned features = 0;
    if (ioctl(t->fd, TUNGETFEATURES, &features) < 0)
        features = 0;
    if (want_vnet && !(features & IFF_VNET_HDR)) {
        snprintf(err, errlen, "vnet_hdr=on: this kernel's tap has no IFF_VNET_HDR");
        return -EOPNOTSUPP;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (want_vnet ? IFF_VNET_HDR : 0);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname ? ifname : "tap%d");
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES)
            snprintf(err, errlen,
                     "cannot attach to tap '%s': permission denied: create it first with "
                     "'ip tuntap add dev %s mode tap user $USER', or run as root",
                     ifname ? ifname : "tap%d", ifname ? ifname : "tap0");
        else if (e == EBUSY)
            snprintf(err, errlen, "tap '%s' is busy (another program has it open)", ifname);
        else
            snprintf(err, errlen, "cannot attach to tap '%s': %s", ifname ? ifname : "",
                     strerror(e));
        return -e;
    }
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
    t->vnet_hdr = want_vnet;
    return 0;
}

static int tap_open_fd(struct tap *t, const char *fdstr, bool want_vnet, bool vnet_given, char *err,
                       size_t errlen)
{
    char *end;
    long fd = strtol(fdstr, &end, 10);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (*end || fd < 0 || fd > INT_MAX || ioctl((int)fd, TUNGETIFF, &ifr) < 0) {
        snprintf(err, errlen, "fd=%s is not an open tap device", fdstr);
        return -EBADF;
    }
    if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI)) {
        snprintf(err, errlen, "fd=%s: the device must be a tap with IFF_NO_PI", fdstr);
        return -EINVAL;
    }
    t->fd = (int)fd;
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
    t->vnet_hdr = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
    if (vnet_given && want_vnet != t->vnet_hdr) {
        snprintf(err, errlen, "fd=%s: vnet_hdr=%s does not match the device's IFF_VNET_HDR", fdstr,
                 want_vnet ? "on" : "off");
        return -EINVAL;
    }
    return fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
}

static int tap_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    struct tap *t = netdev_priv(nd);
    t->fd = -1;
    const char *ifname = opts_get(o, "ifname");
    const char *fdstr = opts_get(o, "fd");
    bool vnet_given = opts_get(o, "vnet_hdr") != NULL, want_vnet;
    if (opts_get_bool(o, "vnet_hdr", true, &want_vnet, err, errlen) < 0)
        return -EINVAL;
    if (opts_get(o, "script") || opts_get(o, "downscript")) {
        snprintf(err, errlen,
                 "script= and downscript= are not supported: configure the "
                 "interface before starting nicvm (see README, Networking)");
        return -EINVAL;
    }
    if (ifname && fdstr) {
        snprintf(err, errlen, "ifname= and fd= exclude each other");
        return -EINVAL;
    }
    if (ifname && strlen(ifname) >= IFNAMSIZ) {
        snprintf(err, errlen, "ifname=%s: longer than %d characters", ifname, IFNAMSIZ - 1);
        return -EINVAL;
    }
    int rc = fdstr ? tap_open_fd(t, fdstr, want_vnet, vnet_given, err, errlen)
                   : tap_open_named(t, ifname, want_vnet, err, errlen);
    if (rc == 0 && t->vnet_hdr) {
        int sz = NETDEV_VNET_HDR_LEN;
        if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0 || ioctl(t->fd, TUNSETOFFLOAD, 0ul) < 0) {
            snprintf(err, errlen, "tap %s: cannot set the vnet header size: %s", t->ifname,
                     strerror(errno));
            rc = -errno;
        }
    }
    t->buf = malloc(TAP_BUF);
    t->linear = malloc(NETDEV_MAX_FRAME);
    t->events = EPOLLIN;
    if (rc == 0 && (!t->buf || !t->linear))
        rc = -ENOMEM;
    if (rc == 0 && (rc = evloop_add_fd(netdev_loop(nd), t->fd, t->events, tap_on_event, nd)) == 0) {
        t->watching = true;
        evloop_set_name(netdev_loop(nd), t->fd, "tap %s", netdev_id(nd));
    }
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "tap: %s", strerror(-rc));
        if (t->owns_fd && t->fd >= 0)
            close(t->fd);
        free(t->buf);
        free(t->linear);
        return rc;
    }
    netdev_set_caps(nd, t->vnet_hdr ? NETDEV_CAP_VNET_HDR : 0);
    return 0;
}

static void tap_close(struct netdev *nd)
{
    struct tap *t = netdev_priv(nd);
    if (t->watching)
        evloop_del_fd(netdev_loop(nd), t->fd);
    if (t->fd >= 0)
        close(t->fd);
    free(t->buf);
    free(t->linear);
}

const struct netdev_backend_ops tap_backend_ops = {
    .type = "tap",
    .summary = "a Linux tap device (ifname= or fd=)",
    .priv_size = sizeof(struct tap),
    .open = tap_open,
    .send = tap_send,
    .rx_pause = tap_rx_pause,
    .rx_resume = tap_rx_resume,
    .set_rx_offloads = tap_set_rx_offloads,
    .close = tap_close,
};
