/* filter-dump: writes every frame a netdev's NIC sends or takes to a capture file, as classic
 * pcap (vnet_hdr=off, what QEMU writes) or as pcapng carrying the virtio-net header
 * (vnet_hdr=on).
 *
 * Formats, both in host byte order (readers detect it from the magic numbers):
 *   pcap: the libpcap file format (tcpdump's pcap-savefile(5)): a 24-byte global header
 *     (magic 0xa1b2c3d4 = microsecond timestamps, version 2.4, snaplen, LINKTYPE_ETHERNET)
 *     and a 16-byte record header before each frame.
 *   pcapng: draft-ietf-opsawg-pcapng: one Section Header Block, one Interface Description
 *     Block (LINKTYPE_ETHERNET, snaplen = maxlen, if_name = the netdev id, if_tsresol = 9,
 *     i.e. NANOSECOND timestamps, since CLOCK_REALTIME has them), then one Enhanced Packet
 *     Block per frame with two options:
 *       epb_flags: the direction bits (bits 0-1). NETDEV_RX (host -> guest) is written as
 *         inbound (1) and NETDEV_TX (guest -> host) as outbound (2): the capture point is
 *         the guest's NIC, as if tcpdump ran inside the guest.
 *       opt_comment: "vnet flags=0x%x gso_type=%u hdr_len=%u gso_size=%u csum_start=%u
 *         csum_offset=%u num_buffers=%u", the virtio-net header (little-endian fields,
 *         virtio 1.0) that came with the frame (left out when the caller passes none).
 *
 * This runs on the event-loop thread on the packet path, so each record is built in a buffer
 * allocated at open and written with one write() (more only after a partial write); nothing
 * is allocated per frame and nothing is synced. A write error logs one line and stops the
 * capture; the VM goes on. */
#include "net/dump.h"
#include "vmm/iov.h"

#include "vmm/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DUMP_DEFAULT_MAXLEN 65535
#define DUMP_MIN_MAXLEN     64
#define DUMP_MAX_MAXLEN     262144

#define LINKTYPE_ETHERNET 1

/* Classic pcap (pcap-savefile(5)). */
#define PCAP_MAGIC_USEC  0xa1b2c3d4u
#define PCAP_HDR_LEN     24
#define PCAP_REC_HDR_LEN 16

/* pcapng block types and option codes (draft-ietf-opsawg-pcapng sections 4.1-4.3, 3.5). */
#define PCAPNG_SHB         0x0a0d0d0au
#define PCAPNG_IDB         0x00000001u
#define PCAPNG_EPB         0x00000006u
#define PCAPNG_BYTE_ORDER  0x1a2b3c4du
#define OPT_ENDOFOPT       0
#define OPT_COMMENT        1
#define OPT_SHB_USERAPPL   4
#define OPT_IF_NAME        2
#define OPT_IF_TSRESOL     9
#define OPT_EPB_FLAGS      2
#define EPB_FLAG_INBOUND   1u
#define EPB_FLAG_OUTBOUND  2u
#define EPB_FIXED_LEN      28 /* type, length, interface, ts high/low, cap and orig lengths */
#define PCAPNG_IF_NAME_MAX 64
/* Longest comment: every field at its maximum (u8 flags/gso_type, u16 others) is 110 bytes. */
#define DUMP_COMMENT_MAX 128
/* epb_flags (8) + opt_comment (4 + text) + opt_endofopt (4) + trailing block length (4). */
#define EPB_TAIL_MAX (8 + 4 + DUMP_COMMENT_MAX + 4 + 4)

struct netdump {
    int fd;
    bool pcapng;
    bool failed; /* a write failed: frames are ignored from then on */
    size_t maxlen;
    unsigned long frames;
    struct netdev *nd; /* set while attached */
    char *id;
    char *path;
    uint8_t *buf; /* one record, built before its write() */
    size_t buflen;
};

/* pcapng pads block bodies and option values to 32 bits (section 3.1, 3.5). */
static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static size_t put16(uint8_t *p, size_t off, uint16_t v)
{
    memcpy(p + off, &v, sizeof(v));
    return off + sizeof(v);
}

static size_t put32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
    return off + sizeof(v);
}

/* One pcapng option: code, length of the value without padding, the value, zero padding. */
static size_t put_opt(uint8_t *p, size_t off, uint16_t code, const void *val, size_t len)
{
    off = put16(p, off, code);
    off = put16(p, off, (uint16_t)len);
    if (len)
        memcpy(p + off, val, len);
    memset(p + off + len, 0, pad4(len) - len);
    return off + pad4(len);
}

static int dump_require(struct opts *o, const char *key, const char **out, char *err, size_t errlen)
{
    *out = opts_get(o, key);
    if (!*out || !**out) {
        snprintf(err, errlen, "filter-dump: %s= is required", key);
        return -EINVAL;
    }
    return 0;
}

int netdump_parse(struct opts *o, struct netdump_config *c, char *err, size_t errlen)
{
    char why[256];
    uint64_t maxlen;
    int r;

    memset(c, 0, sizeof(*c));
    if ((r = dump_require(o, "id", &c->id, err, errlen)) < 0 ||
        (r = dump_require(o, "netdev", &c->netdev, err, errlen)) < 0 ||
        (r = dump_require(o, "file", &c->file, err, errlen)) < 0)
        return r;
    /* opts_get_* name the option; the prefix says which -object it came from. */
    if ((r = opts_get_u64(o, "maxlen", DUMP_DEFAULT_MAXLEN, DUMP_MIN_MAXLEN, DUMP_MAX_MAXLEN,
                          &maxlen, why, sizeof(why))) < 0 ||
        (r = opts_get_bool(o, "vnet_hdr", false, &c->vnet_hdr, why, sizeof(why))) < 0) {
        snprintf(err, errlen, "filter-dump: %s", why);
        return r;
    }
    c->maxlen = (size_t)maxlen;
    return 0;
}

/* Writes all n bytes, resuming after partial writes and EINTR. Returns 0 or -errno (-EIO
 * when the file takes nothing and gives no reason). */
static int dump_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Section Header Block (4.1) with shb_userappl, then the Interface Description Block (4.2)
 * for interface 0 with if_name and if_tsresol. Returns the bytes built in d->buf. */
static size_t dump_build_pcapng_header(struct netdump *d, const char *ifname)
{
    static const char app[] = "nicvm";
    const uint8_t tsresol = 9; /* 10^-9 s: nanoseconds */
    uint8_t *b = d->buf;
    size_t off = 0, start, namelen = ifname ? strnlen(ifname, PCAPNG_IF_NAME_MAX) : 0;

    start = off;
    off = put32(b, off, PCAPNG_SHB);
    off = put32(b, off, 0); /* block total length, patched below */
    off = put32(b, off, PCAPNG_BYTE_ORDER);
    off = put16(b, off, 1);           /* major version */
    off = put16(b, off, 0);           /* minor version */
    off = put32(b, off, 0xffffffffu); /* section length -1: not specified */
    off = put32(b, off, 0xffffffffu);
    off = put_opt(b, off, OPT_SHB_USERAPPL, app, sizeof(app) - 1);
    off = put_opt(b, off, OPT_ENDOFOPT, NULL, 0);
    off = put32(b, off, (uint32_t)(off + 4 - start));
    put32(b, start + 4, (uint32_t)(off - start));

    start = off;
    off = put32(b, off, PCAPNG_IDB);
    off = put32(b, off, 0);
    off = put16(b, off, LINKTYPE_ETHERNET);
    off = put16(b, off, 0); /* reserved */
    off = put32(b, off, (uint32_t)d->maxlen);
    if (namelen)
        off = put_opt(b, off, OPT_IF_NAME, ifname, namelen);
    off = put_opt(b, off, OPT_IF_TSRESOL, &tsresol, 1);
    off = put_opt(b, off, OPT_ENDOFOPT, NULL, 0);
    off = put32(b, off, (uint32_t)(off + 4 - start));
    put32(b, start + 4, (uint32_t)(off - start));
    return off;
}

static size_t dump_build_pcap_header(struct netdump *d)
{
    uint8_t *b = d->buf;
    size_t off = 0;

    off = put32(b, off, PCAP_MAGIC_USEC);
    off = put16(b, off, 2); /* version 2.4 */
    off = put16(b, off, 4);
    off = put32(b, off, 0); /* thiszone: UTC */
    off = put32(b, off, 0); /* sigfigs */
    off = put32(b, off, (uint32_t)d->maxlen);
    off = put32(b, off, LINKTYPE_ETHERNET);
    return off;
}

static void dump_free(struct netdump *d)
{
    free(d->buf);
    free(d->path);
    free(d->id);
    free(d);
}

struct netdump *netdump_open(const struct netdump_config *c, char *err, size_t errlen)
{
    struct netdump *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "filter-dump: %s: out of memory", c->file);
        return NULL;
    }
    d->fd = -1;
    d->pcapng = c->vnet_hdr;
    d->maxlen = c->maxlen ? c->maxlen : DUMP_DEFAULT_MAXLEN;
    /* The largest record: a pcapng EPB holding maxlen bytes (a pcap record is smaller). The
     * header blocks built at open fit in it too, as maxlen >= 64. */
    d->buflen = EPB_FIXED_LEN + pad4(d->maxlen) + EPB_TAIL_MAX;
    d->buf = malloc(d->buflen);
    d->path = strdup(c->file);
    d->id = strdup(c->id ? c->id : "");
    if (!d->buf || !d->path || !d->id) {
        snprintf(err, errlen, "filter-dump: %s: out of memory", c->file);
        dump_free(d);
        return NULL;
    }
    d->fd = open(c->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        snprintf(err, errlen, "filter-dump: cannot create %s: %s", c->file, strerror(errno));
        dump_free(d);
        return NULL;
    }
    size_t n = d->pcapng ? dump_build_pcapng_header(d, c->netdev) : dump_build_pcap_header(d);
    int r = dump_write_all(d->fd, d->buf, n);
    if (r < 0) {
        /* As QEMU does: a capture that cannot even take its header fails at startup. */
        snprintf(err, errlen, "filter-dump: cannot write %s: %s", c->file, strerror(-r));
        close(d->fd);
        dump_free(d);
        return NULL;
    }
    return d;
}

static size_t dump_build_pcap_record(struct netdump *d, const struct timespec *ts,
                                     const struct iovec *iov, int iovcnt, size_t caplen,
                                     uint32_t origlen)
{
    caplen = iov_to_buf(iov, iovcnt, 0, d->buf + PCAP_REC_HDR_LEN, caplen);
    put32(d->buf, 0, (uint32_t)ts->tv_sec);
    put32(d->buf, 4, (uint32_t)(ts->tv_nsec / 1000));
    put32(d->buf, 8, (uint32_t)caplen);
    put32(d->buf, 12, origlen);
    return PCAP_REC_HDR_LEN + caplen;
}

/* The EPB options (4.3.1 epb_flags, 3.5 opt_comment, opt_endofopt) at d->buf + off. */
static size_t dump_put_epb_options(struct netdump *d, size_t off, enum netdev_dir dir,
                                   const struct virtio_net_hdr_v1 *hdr)
{
    uint32_t flags = dir == NETDEV_RX ? EPB_FLAG_INBOUND : EPB_FLAG_OUTBOUND;
    off = put_opt(d->buf, off, OPT_EPB_FLAGS, &flags, sizeof(flags));
    if (hdr) {
        char text[DUMP_COMMENT_MAX];
        int n =
            snprintf(text, sizeof(text),
                     "vnet flags=0x%x gso_type=%u hdr_len=%u gso_size=%u csum_start=%u "
                     "csum_offset=%u num_buffers=%u",
                     (unsigned)hdr->flags, (unsigned)hdr->gso_type, (unsigned)le16toh(hdr->hdr_len),
                     (unsigned)le16toh(hdr->gso_size), (unsigned)le16toh(hdr->csum_start),
                     (unsigned)le16toh(hdr->csum_offset), (unsigned)le16toh(hdr->num_buffers));
        size_t len = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
        off = put_opt(d->buf, off, OPT_COMMENT, text, len);
    }
    return put_opt(d->buf, off, OPT_ENDOFOPT, NULL, 0);
}

static size_t dump_build_epb(struct netdump *d, const struct timespec *ts, enum netdev_dir dir,
                             const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                             int iovcnt, size_t caplen, uint32_t origlen)
{
    uint64_t t = (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
    uint8_t *b = d->buf;
    size_t off;

    caplen = iov_to_buf(iov, iovcnt, 0, b + EPB_FIXED_LEN, caplen);
    put32(b, 0, PCAPNG_EPB);
    put32(b, 8, 0); /* interface 0, the only IDB */
    put32(b, 12, (uint32_t)(t >> 32));
    put32(b, 16, (uint32_t)t);
    put32(b, 20, (uint32_t)caplen);
    put32(b, 24, origlen);
    off = EPB_FIXED_LEN + caplen;
    memset(b + off, 0, pad4(caplen) - caplen); /* packet data is padded to 32 bits */
    off = dump_put_epb_options(d, EPB_FIXED_LEN + pad4(caplen), dir, hdr);
    off = put32(b, off, (uint32_t)(off + 4)); /* trailing Block Total Length */
    put32(b, 4, (uint32_t)off);
    return off;
}

void netdump_frame(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                   const struct iovec *iov, int iovcnt, size_t len)
{
    struct netdump *d = opaque;
    struct timespec ts;

    if (!d || d->failed || len == 0 || iovcnt <= 0 || !iov)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t caplen = len < d->maxlen ? len : d->maxlen;
    uint32_t origlen = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    size_t n = d->pcapng ? dump_build_epb(d, &ts, dir, hdr, iov, iovcnt, caplen, origlen)
                         : dump_build_pcap_record(d, &ts, iov, iovcnt, caplen, origlen);
    int r = dump_write_all(d->fd, d->buf, n);
    if (r < 0) {
        d->failed = true;
        log_err("filter-dump %s: writing %s failed: %s; capture stopped after %lu frames", d->id,
                d->path, strerror(-r), d->frames);
        return;
    }
    d->frames++;
}

int netdump_attach(struct netdump *d, struct netdev *nd)
{
    const struct netdev_observer obs = {netdump_frame, d};

    if (d->nd)
        return -EBUSY; /* one netdev per capture: close() detaches from only one */
    int r = netdev_add_observer(nd, &obs);
    if (r < 0)
        return r;
    d->nd = nd;
    return 0;
}

void netdump_close(struct netdump *d)
{
    if (!d)
        return;
    if (d->nd)
        netdev_remove_observer(d->nd, d);
    /* Records are written whole as they come, so there is nothing buffered to flush; close()
     * can still report a deferred error (NFS). */
    if (close(d->fd) < 0 && !d->failed)
        log_err("filter-dump %s: closing %s failed: %s", d->id, d->path, strerror(errno));
    dump_free(d);
}

unsigned long netdump_frames(const struct netdump *d)
{
    return d ? d->frames : 0;
}

struct netdev *netdump_netdev(const struct netdump *d)
{
    return d->nd;
}

const char *netdump_id(const struct netdump *d)
{
    return d->id;
}

json_t *netdump_info(const struct netdump *d)
{
    return json_pack("{s:s, s:s?, s:s, s:s, s:I, s:I, s:b}", "id", d->id, "netdev",
                     d->nd ? netdev_id(d->nd) : NULL, "file", d->path, "format",
                     d->pcapng ? "pcapng" : "pcap", "snaplen", (json_int_t)d->maxlen, "frames",
                     (json_int_t)d->frames, "failed", d->failed);
}
