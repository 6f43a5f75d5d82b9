/* fuzz_socket_stream's reference model and fake NIC (see fuzz_socket_stream.h and the
 * oracles in fuzz_socket_stream.c): the wire format is QEMU's stream framing (net/socket.c,
 * net_socket_send: a 4-byte big-endian length, then the frame), valid lengths 1 to
 * NETDEV_MAX_FRAME as net/socket_stream.c accepts them, frames under 14 bytes dropped by the
 * layer (net/netdev.c). */
#define _GNU_SOURCE /* accept4 */
#include "tests/fuzz/fuzz_socket_stream.h"
#include "tests/fuzz/fuzz_harness.h"
#include "vmm/iov.h"

#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static uint8_t scratch[NETDEV_MAX_FRAME + 8];

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ssm_buf_add(struct buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 256;
        uint8_t *np = realloc(b->p, cap);
        if (!np)
            fz_fail("out of memory");
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Byte i of the frame the NIC sends as number seq: the number, then a pattern. */
static uint8_t tx_byte(uint32_t seq, uint32_t i)
{
    return i < 4 ? (uint8_t)(seq >> (24 - 8 * i)) : (uint8_t)(seq * 0x9du + i * 7u + (i >> 8));
}

NO_COVERAGE void ssm_tx_fill(uint8_t *p, uint32_t seq, uint32_t off, uint32_t n)
{
    for (uint32_t j = 0; j < n; j++)
        p[j] = tx_byte(seq, off + j);
}

/* Where c's next frame stands: 1 whole with a valid length, 0 incomplete, -1 a bad length. */
static int next_frame(const struct conn *c, uint32_t *len)
{
    if (c->w.n - c->off < 4)
        return 0;
    *len = be32(c->w.p + c->off);
    if (*len == 0 || *len > NETDEV_MAX_FRAME)
        return -1;
    return c->w.n - c->off - 4 >= *len;
}

/* Frames of 1 to 13 bytes are valid on the wire, and the layer drops them (too short for
 * Ethernet): the model passes over as many of the peer's as the layer counted. */
static void sync_short(struct fz_ss *s)
{
    uint64_t dropped = netdev_get_stats(s->nd)->drops[NETDEV_DROP_MALFORMED] - s->drop_bad;
    uint32_t len = 0;
    while (s->rx_short < dropped && s->cur >= 0) {
        struct conn *c = &s->c[s->cur];
        if (next_frame(c, &len) <= 0 || len >= 14)
            break;
        c->off += 4 + (size_t)len;
        s->rx_short++;
    }
    if (s->rx_short != dropped)
        fz_fail("the layer dropped %llu frames from nicvm as malformed, the peer wrote %llu "
                "frames under 14 bytes",
                (unsigned long long)dropped, (unsigned long long)s->rx_short);
}

/* --- the backend's counters --------------------------------------------------------------- */

struct bctr {
    json_int_t accepted, refused, made, proto_errors, stalls;
    int peer_port;
};

static json_int_t info_int(json_t *be, const char *key)
{
    json_t *v = json_object_get(be, key);
    if (!json_is_integer(v))
        fz_fail("backend info lacks %s", key);
    return json_integer_value(v);
}

static struct bctr read_ctr(const struct fz_ss *s)
{
    json_t *info = netdev_info(s->nd), *be = json_object_get(info, "backend");
    struct bctr b = {info_int(be, "connections_accepted"), info_int(be, "connections_refused"),
                     info_int(be, "connections_made"),     info_int(be, "protocol_errors"),
                     info_int(be, "partial_write_stalls"), -1};
    const char *peer = json_string_value(json_object_get(be, "peer"));
    const char *colon = peer ? strrchr(peer, ':') : NULL;
    if (colon)
        b.peer_port = atoi(colon + 1);
    json_decref(info);
    return b;
}

/* The oldest connections waiting in nicvm's backlog were refused, up to the counter. */
static void sync_refused(struct fz_ss *s, json_int_t refused)
{
    unsigned n[4] = {0};
    for (unsigned i = 0; i < s->nc && (json_int_t)s->refused < refused; i++)
        if (s->c[i].st == C_PENDING)
            s->c[i].st = C_REFUSED, s->refused++;
    for (unsigned i = 0; i < s->nc; i++)
        n[s->c[i].st]++;
    if ((json_int_t)s->refused != refused)
        fz_fail("%lld connections refused, the model counts %llu (connections: %u waiting, %u "
                "accepted, %u refused, %u ended)",
                (long long)refused, (unsigned long long)s->refused, n[C_PENDING], n[C_ACCEPTED],
                n[C_REFUSED], n[C_ENDED]);
}

void ssm_check_counters(struct fz_ss *s)
{
    struct bctr b = read_ctr(s);
    sync_short(s);
    if (!s->connect_mode)
        sync_refused(s, b.refused);
    if (b.accepted != (json_int_t)s->accepted || b.made != (json_int_t)s->made ||
        b.proto_errors != (json_int_t)s->proto_errors)
        fz_fail("accepted %lld/%llu made %lld/%llu protocol errors %lld/%llu (backend/model)",
                (long long)b.accepted, (unsigned long long)s->accepted, (long long)b.made,
                (unsigned long long)s->made, (long long)b.proto_errors,
                (unsigned long long)s->proto_errors);
    if (b.stalls < 0 || (uint64_t)b.stalls > s->sent)
        fz_fail("%lld partial-write stalls for %llu frames", (long long)b.stalls,
                (unsigned long long)s->sent);
    const struct netdev_stats *st = netdev_get_stats(s->nd);
    if (st->rx_packets != s->nic_rx || st->rx_queued != s->queued || st->tx_packets != s->sent ||
        st->drops[NETDEV_DROP_LINK_DOWN] != s->drop_down ||
        st->drops[NETDEV_DROP_MALFORMED] != s->drop_bad + s->rx_short ||
        st->drops[NETDEV_DROP_QUEUE_FULL] || st->drops[NETDEV_DROP_PURGED])
        fz_fail("layer: rx %llu/%llu queued %llu/%llu tx %llu/%llu link-down drops %llu/%llu "
                "malformed %llu/%llu queue-full %llu (layer/model)",
                (unsigned long long)st->rx_packets, (unsigned long long)s->nic_rx,
                (unsigned long long)st->rx_queued, (unsigned long long)s->queued,
                (unsigned long long)st->tx_packets, (unsigned long long)s->sent,
                (unsigned long long)st->drops[NETDEV_DROP_LINK_DOWN],
                (unsigned long long)s->drop_down,
                (unsigned long long)st->drops[NETDEV_DROP_MALFORMED],
                (unsigned long long)(s->drop_bad + s->rx_short),
                (unsigned long long)st->drops[NETDEV_DROP_QUEUE_FULL]);
    if (netdev_link_up(s->nd) != (s->cur >= 0))
        fz_fail("link %s, model %s", netdev_link_up(s->nd) ? "up" : "down",
                s->cur >= 0 ? "connected" : "not connected");
}

/* --- the NIC ------------------------------------------------------------------------------ */

NO_COVERAGE static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* A frame nicvm offers for the first time: the next of its peer's connection. */
static void take_frame(struct fz_ss *s, const uint8_t *f, size_t len)
{
    if (s->cur < 0)
        fz_fail("a %zu-byte frame for the NIC with no peer connected", len);
    sync_short(s);
    struct conn *c = &s->c[s->cur];
    uint32_t want = 0;
    int r = next_frame(c, &want);
    if (r <= 0)
        fz_fail("a %zu-byte frame for the NIC; the peer's next frame at %zu is %s", len, c->off,
                r < 0 ? "a bad length" : "not whole");
    if (len != want || !same(f, c->w.p + c->off + 4, len))
        fz_fail("frame at %zu of the peer's bytes: %zu bytes, not its %u", c->off, len, want);
    if (s->refuse) {
        s->held = true, s->held_c = (unsigned)s->cur, s->held_off = c->off, s->held_len = want;
        s->queued++;
    } else {
        s->nic_rx++;
    }
    c->off += 4 + (size_t)want;
}

static size_t nic_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                          const struct iovec *iov, int iovcnt, size_t len)
{
    struct fz_ss *s = opaque;
    (void)hdr;
    if (len > NETDEV_MAX_FRAME || fz_read_iov(iov, iovcnt) < len)
        fz_fail("a %zu-byte frame for the NIC", len);
    iov_to_buf(iov, iovcnt, 0, scratch, len);
    if (!s->held) {
        take_frame(s, scratch, len);
        return s->refuse ? 0 : len;
    }
    /* The layer offers the frame it holds again first. */
    const struct conn *c = &s->c[s->held_c];
    if (len != s->held_len || !same(scratch, c->w.p + s->held_off + 4, len))
        fz_fail("the NIC was offered a %zu-byte frame, not the %u-byte one it refused", len,
                s->held_len);
    if (s->refuse)
        return 0;
    s->held = false;
    s->nic_rx++;
    return len;
}

/* The oldest waiting connection (after those refused before it) is nicvm's peer now. */
static void link_up(struct fz_ss *s)
{
    struct bctr b = read_ctr(s);
    if (s->connect_mode) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 || s->nc == MAXCONNS)
            fz_fail("link up without a connection at the test's listener");
        s->c[s->nc] = (struct conn){.fd = fd, .st = C_PENDING};
        s->nc++, s->made++;
    } else {
        sync_refused(s, b.refused);
        s->accepted++;
    }
    for (unsigned i = 0; i < s->nc; i++) {
        struct conn *c = &s->c[i];
        if (c->st != C_PENDING)
            continue;
        if (!s->connect_mode && b.peer_port != c->port)
            fz_fail("link up with peer port %d, the oldest waiting connection is %u", b.peer_port,
                    c->port);
        c->st = C_ACCEPTED;
        s->cur = (int)i;
        return;
    }
    fz_fail("link up with no connection waiting");
}

/* nicvm dropped its peer: a protocol error exactly when a bad length is next. */
static void link_down(struct fz_ss *s)
{
    struct bctr b = read_ctr(s);
    sync_short(s);
    struct conn *c = &s->c[s->cur];
    uint32_t len = 0;
    int r = next_frame(c, &len);
    if (b.proto_errors == (json_int_t)s->proto_errors + 1) {
        if (r >= 0)
            fz_fail("protocol error, but the peer's next frame at %zu is %s", c->off,
                    r ? "valid and whole" : "not whole");
        s->proto_errors++;
    } else if (c->shut == S_OPEN) {
        fz_fail("the connection was dropped while the peer keeps it open");
    } else if (c->shut == S_HALF && c->fd >= 0 && r != 0) {
        fz_fail("EOF before the peer's %s at %zu", r < 0 ? "bad length" : "whole frame", c->off);
    }
    c->st = C_ENDED;
    s->cur = -1;
}

static void link_changed(void *opaque, bool up)
{
    struct fz_ss *s = opaque;
    if (up != (s->cur < 0))
        fz_fail("link %s twice", up ? "up" : "down");
    if (up)
        link_up(s);
    else
        link_down(s);
}

const struct netdev_nic_ops ssm_nic_ops = {.receive = nic_receive, .link_changed = link_changed};

NO_COVERAGE void ssm_peer_feed(struct conn *c, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (c->hdr_got < 4) {
            c->hdr[c->hdr_got++] = b[i++];
            if (c->hdr_got < 4)
                continue;
            if (c->rx == c->ntx)
                fz_fail("the peer read a %u-byte length; the NIC sent %zu frames to it",
                        be32(c->hdr), c->ntx);
            if (be32(c->hdr) != c->tx[c->rx].len)
                fz_fail("the peer read length %u for frame %zu, sent with %u bytes", be32(c->hdr),
                        c->rx, c->tx[c->rx].len);
            continue;
        }
        const struct txf *t = &c->tx[c->rx];
        for (; i < n && c->pos < t->len; i++, c->pos++)
            if (b[i] != tx_byte(t->seq, c->pos))
                fz_fail("the peer read byte %u of frame %zu wrong", c->pos, c->rx);
        if (c->pos == t->len)
            c->rx++, c->hdr_got = 0, c->pos = 0;
    }
}

static int unsent(int fd)
{
    int n = 0;
    return ioctl(fd, SIOCOUTQNSD, &n) < 0 ? 0 : n;
}

const char *ssm_stalled(struct fz_ss *s)
{
    if (!s->connect_mode)
        for (unsigned i = 0; i < s->nc; i++)
            if (s->c[i].st == C_PENDING)
                return "a connection neither accepted nor refused";
    if (s->cur < 0)
        return NULL;
    sync_short(s);
    struct conn *c = &s->c[s->cur];
    uint32_t len;
    if (s->reading && c->fd >= 0 && (c->rx != c->ntx || c->hdr_got || !netdev_can_send(s->nd)))
        return "frames the NIC sent did not reach the reading peer";
    if (s->held) /* nicvm waits for rx_ready, reading nothing */
        return NULL;
    if (c->shut == S_CLOSED)
        return "the peer closed, nicvm still connected";
    if (c->out.n || unsent(c->fd))
        return NULL; /* the peer's bytes are not all there yet */
    int r = next_frame(c, &len);
    if (r > 0)
        return "a whole frame the peer wrote was not delivered";
    if (r < 0)
        return "a bad length the peer wrote was not noticed";
    if (c->shut == S_HALF)
        return "the peer's EOF was not noticed";
    return NULL;
}

long long ssm_stalls(const struct fz_ss *s)
{
    return (long long)read_ctr(s).stalls;
}
