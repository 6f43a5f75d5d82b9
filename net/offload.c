/* Software checksum and TCP segmentation offload driven by a virtio-net header (virtio 1.2
 * §5.1.6.2), and the validation of guest-supplied headers against what Linux's tap accepts
 * (drivers/net/tun.c tun_get_user, include/linux/virtio_net.h virtio_net_hdr_to_skb) and what
 * its software TSO does (net/ipv4/tcp_offload.c tcp_gso_segment, af_inet.c inet_gso_segment).
 *
 * Hostile input: the header is copied once and every offset used on a frame comes from that
 * copy or from one parse of the frame into locals, each bounded by len. A guest that rewrites
 * the frame while we run can change the bytes we emit, never where we read or write. */
#include "net/offload.h"
#include "vmm/fuzz_work.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* Largest frame accepted: a 64 KiB GSO payload plus Ethernet and one 802.1Q tag (the same
 * bound as NETDEV_MAX_FRAME at the netdev boundary). */
#define OFFLOAD_MAX_FRAME (65536 + ETH_HLEN + VLAN_TAG_LEN)
#define VLAN_TAG_LEN      4
#define IPV4_MIN_HLEN     20
#define IPV6_HLEN         40
#define TCP_MIN_HLEN      20
#define TCP_CSUM_OFFSET   16     /* offsetof(struct tcphdr, check) */
#define IPV4_FRAG_MASK    0x3fff /* MF and the fragment offset; DF may be set */
#define TCP_FLAG_FIN      0x01
#define TCP_FLAG_PSH      0x08
#define TCP_FLAG_CWR      0x80
/* virtio_net_hdr_to_skb refuses a csum_start (counted from the Ethernet header on tap) below
 * sizeof(struct iphdr) (Linux commit "net: test for not too small csum_start in
 * virtio_net_hdr_to_skb()"). */
#define CSUM_START_MIN 20
/* gso_size 0xffff is Linux's GSO_BY_FRAGS, which virtio_net_hdr_to_skb refuses. */
#define GSO_BY_FRAGS 0xffff

/* The header fields in host order, read once from the (possibly guest-shared) header. */
struct hdr_fields {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};

/* Where the layers of a GSO frame start: all offsets are <= the frame length. */
struct tcp_layout {
    size_t l3;   /* IP header */
    size_t l4;   /* TCP header */
    size_t hdrs; /* end of the TCP header: the bytes repeated in every segment */
    bool v6;
};

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Ones' complement addition of 64-bit words: the carry out of bit 63 wraps into bit 0. */
static inline uint64_t add64(uint64_t a, uint64_t b)
{
    a += b;
    return a + (a < b);
}

static inline uint32_t fold16(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

/* RFC 1071 sum of p[0..len) added to sum. The ones' complement sum does not depend on the
 * word size or byte order it is computed in (RFC 1071 §2(A)(B)), so the bytes are summed as
 * native 64-bit words and the folded result is swapped once into network order. The trailing
 * 0-7 bytes are zero-padded, which makes an odd last byte the high half of its 16-bit word.
 *
 * The result is a partial sum <= 0xffff, so callers may add to it plain 16-bit values (such as
 * pseudo-header fields) before the next call or offload_csum_fold(). Calls may be chained on
 * consecutive pieces of one buffer only when every piece but the last has an even length. */
uint32_t offload_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t a = 0, b = 0, w0, w1, w2, w3;
    for (; len >= 32; p += 32, len -= 32) {
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        memcpy(&w2, p + 16, 8);
        memcpy(&w3, p + 24, 8);
        a = add64(add64(a, w0), w1);
        b = add64(add64(b, w2), w3);
    }
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w0, p, 8);
        a = add64(a, w0);
    }
    if (len) {
        w0 = 0;
        memcpy(&w0, p, len);
        b = add64(b, w0);
    }
    uint32_t native = fold16(add64(a, b));
    return fold16((uint64_t)sum + ntohs((uint16_t)native));
}

/* offload_csum_fold: folds a sum into 16 bits and complements it: the value to store,
 * big-endian, in a checksum field (like Linux's csum_fold). */
uint16_t offload_csum_fold(uint32_t sum)
{
    return (uint16_t)~fold16(sum);
}

static void read_hdr(const struct virtio_net_hdr_v1 *hdr, struct hdr_fields *h)
{
    struct virtio_net_hdr_v1 copy;
    memcpy(&copy, hdr, sizeof(copy));
    /* The virtio 1.x header is little-endian (virtio 1.2 §5.1.6). */
    h->flags = copy.flags;
    h->gso_type = copy.gso_type;
    h->hdr_len = le16toh(copy.hdr_len);
    h->gso_size = le16toh(copy.gso_size);
    h->csum_start = le16toh(copy.csum_start);
    h->csum_offset = le16toh(copy.csum_offset);
}

/* parse_l3: the IP header offset of f, after the Ethernet header and at most one 802.1Q
 * tag, if the ethertype is IPv6 (v6) or IPv4. */
static int parse_l3(const uint8_t *f, size_t len, bool v6, size_t *l3)
{
    uint16_t type = get_be16(f + 12);
    *l3 = ETH_HLEN;
    if (type == ETH_P_8021Q) {
        if (len < ETH_HLEN + VLAN_TAG_LEN)
            return -EINVAL;
        type = get_be16(f + ETH_HLEN + 2);
        *l3 += VLAN_TAG_LEN;
    }
    return type == (v6 ? ETH_P_IPV6 : ETH_P_IP) ? 0 : -EINVAL;
}

/* parse_tcp: the layout of an Ethernet + IPv4/IPv6 + TCP frame of len >= ETH_HLEN bytes, as
 * tcp_gso_segment needs it: IPv4 with a whole header of ihl >= 5 (options allowed), not a
 * fragment; IPv6 with TCP as next header (no extension headers); TCP with doff >= 5 and the
 * whole header inside the frame. */
static int parse_tcp(const uint8_t *f, size_t len, bool v6, struct tcp_layout *lay)
{
    size_t l3, l4;
    if (parse_l3(f, len, v6, &l3) < 0)
        return -EINVAL;
    const uint8_t *ip = f + l3;
    if (v6) {
        if (len - l3 < IPV6_HLEN || ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP)
            return -EINVAL;
        l4 = l3 + IPV6_HLEN;
    } else {
        if (len - l3 < IPV4_MIN_HLEN)
            return -EINVAL;
        uint8_t vihl = ip[0];
        size_t ihl = (size_t)(vihl & 0xf) * 4;
        if (vihl >> 4 != 4 || ihl < IPV4_MIN_HLEN || ihl > len - l3)
            return -EINVAL;
        if (ip[9] != IPPROTO_TCP || (get_be16(ip + 6) & IPV4_FRAG_MASK))
            return -EINVAL;
        l4 = l3 + ihl;
    }
    if (len - l4 < TCP_MIN_HLEN)
        return -EINVAL;
    size_t thl = (size_t)(f[l4 + 12] >> 4) * 4;
    if (thl < TCP_MIN_HLEN || thl > len - l4)
        return -EINVAL;
    lay->l3 = l3;
    lay->l4 = l4;
    lay->hdrs = l4 + thl;
    lay->v6 = v6;
    return 0;
}

/* check_gso: the GSO rules of offload_check (h already passed the generic ones). */
static int check_gso(const struct hdr_fields *h, const uint8_t *f, size_t len,
                     struct tcp_layout *lay)
{
    uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    /* Only TSO: UFO/USO and the tunnel bits are refused, and ECN alone is no type. */
    if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6)
        return -EINVAL;
    /* GSO needs NEEDS_CSUM (csum_start locates the TCP header) and a hdr_len: tap would take
     * hdr_len 0 and fix it up, but a zero means a confused or hostile driver. */
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->hdr_len == 0)
        return -EINVAL;
    if (h->gso_size < OFFLOAD_MIN_MSS || h->gso_size == GSO_BY_FRAGS)
        return -EINVAL;
    if (parse_tcp(f, len, type == VIRTIO_NET_HDR_GSO_TCPV6, lay) < 0)
        return -EINVAL;
    /* As Linux's "net: drop bad gso csum_start and offset in virtio_net_hdr". */
    if (h->csum_start != lay->l4 || h->csum_offset != TCP_CSUM_OFFSET)
        return -EINVAL;
    size_t payload = len - lay->hdrs;
    if (payload == 0)
        return -EINVAL;
    /* Each segment's IP length must fit 16 bits; only a frame that fits one gso_size can
     * exceed it (a 64 KiB payload sent as one segment). */
    size_t seg = payload < h->gso_size ? payload : h->gso_size;
    size_t ip_len = lay->hdrs - (lay->v6 ? lay->l4 : lay->l3) + seg;
    return ip_len <= OFFLOAD_IP_MAX ? 0 : -EINVAL;
}

/* check_hdr: offload_check on a copied header; fills lay for a GSO frame. */
static int check_hdr(const struct hdr_fields *h, const uint8_t *f, size_t len,
                     struct tcp_layout *lay)
{
    if (len < ETH_HLEN || len > OFFLOAD_MAX_FRAME)
        return -EINVAL;
    uint8_t flags = h->flags & (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
    if (flags & (uint8_t)~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return -EINVAL;
    /* tun_get_user: hdr_len past the frame, or nonzero and shorter than Ethernet. */
    if (h->hdr_len > len || (h->hdr_len != 0 && h->hdr_len < ETH_HLEN))
        return -EINVAL;
    /* skb_partial_csum_set: the 2-byte field inside the frame (computed in size_t, so the
     * guest's 16-bit values cannot wrap). */
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (h->csum_start < CSUM_START_MIN || (size_t)h->csum_start + h->csum_offset + 2 > len)
            return -EINVAL;
    }
    if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
        return 0;
    return check_gso(h, f, len, lay);
}

int offload_check(const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    struct hdr_fields h;
    struct tcp_layout lay;
    if (!hdr || !frame)
        return -EINVAL;
    read_hdr(hdr, &h);
    return check_hdr(&h, frame, len, &lay);
}

bool offload_needed(const struct virtio_net_hdr_v1 *hdr)
{
    return (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE;
}

static void fill_csum(const struct hdr_fields *h, uint8_t *frame, size_t len)
{
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return;
    size_t start = h->csum_start, field = start + h->csum_offset;
    if (field + 2 > len) /* offload_check refuses this; never write past the frame */
        return;
    uint16_t csum = offload_csum_fold(offload_csum_add(0, frame + start, len - start));
    /* Like Linux's skb_checksum_help: a computed 0 is sent as 0xffff (CSUM_MANGLED_0). UDP
     * needs it, 0 meaning "no checksum" (RFC 768, mandatory for IPv6: RFC 8200 §8.1); for
     * TCP and others both encodings of zero verify the same (RFC 1624 §3). */
    put_be16(frame + field, csum ? csum : 0xffff);
}

void offload_csum(const struct virtio_net_hdr_v1 *hdr, uint8_t *frame, size_t len)
{
    struct hdr_fields h;
    read_hdr(hdr, &h);
    fill_csum(&h, frame, len);
}

/* The value offload_segment returns when emit says stop: negative even when emit returned
 * a negative errno. */
static int stop_code(int rc)
{
    return rc > 0 ? -rc : rc;
}

/* fix_ip: the IP header of a segment of flen bytes in s (inet_gso_segment, ipv6_gso_segment):
 * IPv4 total length, id and header checksum, or the IPv6 payload length. */
static void fix_ip(uint8_t *s, const struct tcp_layout *lay, size_t flen, uint16_t id)
{
    uint8_t *ip = s + lay->l3;
    if (lay->v6) {
        put_be16(ip + 4, (uint16_t)(flen - lay->l4));
        return;
    }
    put_be16(ip + 2, (uint16_t)(flen - lay->l3));
    put_be16(ip + 4, id);
    put_be16(ip + 10, 0);
    put_be16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, lay->l4 - lay->l3)));
}

/* fix_tcp_csum: the full TCP checksum of a segment of flen bytes in s: pseudo header (RFC
 * 793 §3.1, RFC 8200 §8.1) plus header and payload; addr_sum is the sum of the addresses.
 * The guest's seed is ignored: it covered the whole GSO frame's length. */
static void fix_tcp_csum(uint8_t *s, const struct tcp_layout *lay, size_t flen, uint32_t addr_sum)
{
    uint8_t *th = s + lay->l4;
    size_t tcp_len = flen - lay->l4; /* <= 0xffff, checked by check_gso */
    put_be16(th + TCP_CSUM_OFFSET, 0);
    uint32_t sum = addr_sum + IPPROTO_TCP + (uint32_t)tcp_len;
    put_be16(th + TCP_CSUM_OFFSET, offload_csum_fold(offload_csum_add(sum, th, tcp_len)));
}

/* segment_tcp: tcp_gso_segment in software. The headers are copied into s once; each
 * segment then gets its payload and has every per-segment field rewritten, from values read
 * once from that copy. At most len / OFFLOAD_MIN_MSS + 1 iterations. */
static int segment_tcp(const struct tcp_layout *lay, size_t mss, const uint8_t *frame, size_t len,
                       uint8_t *s, offload_emit_fn emit, void *opaque)
{
    const size_t hdrs = lay->hdrs;
    uint8_t *th = s + lay->l4;
    memcpy(s, frame, hdrs);
    const uint32_t seq0 = get_be32(th + 4);
    const uint8_t flags0 = th[13];
    const uint16_t id0 = lay->v6 ? 0 : get_be16(s + lay->l3 + 4);
    const uint32_t addr_sum = lay->v6 ? offload_csum_add(0, s + lay->l3 + 8, 32)
                                      : offload_csum_add(0, s + lay->l3 + 12, 8);
    size_t off = hdrs;
    int n = 0;
    while (off < len) {
        NICVM_FUZZ_WORK();
        size_t seg = len - off < mss ? len - off : mss;
        bool last = off + seg == len;
        memcpy(s + hdrs, frame + off, seg);
        fix_ip(s, lay, hdrs + seg, (uint16_t)(id0 + n));
        put_be32(th + 4, seq0 + (uint32_t)(off - hdrs));
        /* tcp_gso_segment: FIN and PSH end the burst, CWR marks only its first segment. */
        uint8_t flags = flags0;
        if (!last)
            flags &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
        if (n > 0)
            flags &= (uint8_t)~TCP_FLAG_CWR;
        th[13] = flags;
        fix_tcp_csum(s, lay, hdrs + seg, addr_sum);
        n++;
        int rc = emit(opaque, s, hdrs + seg);
        if (rc)
            return stop_code(rc);
        off += seg;
    }
    return n;
}

int offload_segment(const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len,
                    uint8_t *scratch, offload_emit_fn emit, void *opaque)
{
    struct hdr_fields h;
    struct tcp_layout lay;
    if (!hdr || !frame)
        return -EINVAL;
    /* Checked again on the same header copy used below: the caller's offload_check() may
     * have seen different bytes if the guest still owns the header or frame. */
    read_hdr(hdr, &h);
    if (check_hdr(&h, frame, len, &lay) < 0)
        return -EINVAL;
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
        return segment_tcp(&lay, h.gso_size, frame, len, scratch, emit, opaque);
    if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
        int rc = emit(opaque, frame, len);
        return rc ? stop_code(rc) : 1;
    }
    memcpy(scratch, frame, len);
    fill_csum(&h, scratch, len);
    int rc = emit(opaque, scratch, len);
    return rc ? stop_code(rc) : 1;
}

/* coalesce_mss: the payload per packet when a frame is too big for a backend taking IP
 * packets of up to max_ip bytes: the largest multiple of gso_size that fits with the headers
 * (packet boundaries stay on the guest's segment boundaries, as GRO merges them), and never
 * less than gso_size. */
static size_t coalesce_mss(const struct tcp_layout *lay, size_t gso_size, size_t max_ip)
{
    size_t ip_hdrs = lay->hdrs - lay->l3;
    if (max_ip < ip_hdrs + gso_size)
        return gso_size;
    return (max_ip - ip_hdrs) / gso_size * gso_size;
}

/* finish_whole: the frame as one IP packet of len - l3 bytes: lengths from the real frame
 * length (a guest may leave the GSO frame's, or 0 for one over 64 KiB), the IPv4 id kept,
 * the IPv4 header checksum and the full TCP checksum recomputed (the guest's pseudo-header
 * seed is not trusted, only overwritten). */
static void finish_whole(uint8_t *f, const struct tcp_layout *lay, size_t len)
{
    const uint8_t *ip = f + lay->l3;
    uint16_t id = lay->v6 ? 0 : get_be16(ip + 4);
    uint32_t addr_sum = lay->v6 ? offload_csum_add(0, ip + 8, 32) : offload_csum_add(0, ip + 12, 8);
    fix_ip(f, lay, len, id);
    fix_tcp_csum(f, lay, len, addr_sum);
}

int offload_coalesce(const struct virtio_net_hdr_v1 *hdr, uint8_t *frame, size_t len,
                     const struct offload_coalesce_max *max, uint8_t *scratch, offload_emit_fn emit,
                     void *opaque)
{
    struct hdr_fields h;
    struct tcp_layout lay;
    if (!hdr || !frame || !max)
        return -EINVAL;
    read_hdr(hdr, &h);
    if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE || check_hdr(&h, frame, len, &lay) < 0)
        return -EINVAL;
    size_t max_ip = lay.v6 ? max->ipv6 : max->ipv4;
    if (max_ip > OFFLOAD_IP_MAX)
        max_ip = OFFLOAD_IP_MAX;
    /* One packet if it fits: its IP length is then at most max_ip <= 65535, or one gso_size
     * of payload, which check_gso bounded the same way. */
    if (len - lay.l3 > max_ip && len - lay.hdrs > h.gso_size)
        return segment_tcp(&lay, coalesce_mss(&lay, h.gso_size, max_ip), frame, len, scratch, emit,
                           opaque);
    finish_whole(frame, &lay, len);
    int rc = emit(opaque, frame, len);
    return rc ? stop_code(rc) : 1;
}
