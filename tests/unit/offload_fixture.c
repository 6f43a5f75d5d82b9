/* The shared fixture of the software offload unit tests (see offload_fixture.h): the
 * reference checksums, the frame builder, the emit recorder and the segment checks. */
#include "tests/unit/offload_fixture.h"

#include <check.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference checksum: 16-bit big-endian words, one at a time ---- */

uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

uint16_t ref_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* ---- frame builder ---- */

/* The pseudo-header sum (RFC 793 §3.1, RFC 768, RFC 8200 §8.1) for an L4 length. */
uint32_t ref_pseudo(const uint8_t *f, const struct layout *b, uint8_t proto, size_t l4len)
{
    bool v6 = (f[b->l3] >> 4) == 6;
    uint32_t sum = v6 ? ref_sum(0, f + b->l3 + 8, 32) : ref_sum(0, f + b->l3 + 12, 8);
    return sum + proto + (uint32_t)l4len;
}

static void build_l3(uint8_t *f, const struct spec *sp, struct layout *b, uint8_t proto)
{
    uint8_t *ip = f + b->l3;
    size_t l3len = b->len - b->l3;
    if (sp->v6) {
        static const uint8_t src[16] = {0xfe, 0x80, [15] = 1};
        static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 0xcd};
        memset(ip, 0, 40);
        ip[0] = 0x60;
        ip[2] = 0x12;
        ip[3] = 0x34;
        wr16(ip + 4, (uint16_t)(l3len - 40 > 0xffff ? 0 : l3len - 40));
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
        return;
    }
    size_t ihl = 20 + sp->ip_opts;
    ip[0] = (uint8_t)(0x40 | ihl / 4);
    ip[1] = 0;
    wr16(ip + 2, (uint16_t)(l3len > 0xffff ? 0xffff : l3len));
    wr16(ip + 4, sp->id);
    wr16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    wr16(ip + 10, 0);
    wr32(ip + 12, 0x0a00020f);          /* 10.0.2.15 */
    wr32(ip + 16, 0x0a000202);          /* 10.0.2.2 */
    memset(ip + 20, 0x01, sp->ip_opts); /* NOPs */
    wr16(ip + 10, (uint16_t)~ref_fold(ref_sum(0, ip, ihl)));
}

static void build_l4(uint8_t *f, const struct spec *sp, const struct layout *b, uint8_t proto)
{
    uint8_t *th = f + b->l4;
    if (proto == PROTO_UDP) {
        wr16(th, 5353);
        wr16(th + 2, 53);
        wr16(th + 4, (uint16_t)(b->len - b->l4));
        wr16(th + 6, 0);
        return;
    }
    size_t thl = 20 + sp->tcp_opts;
    wr16(th, 40000);
    wr16(th + 2, 5201);
    wr32(th + 4, sp->seq);
    wr32(th + 8, 0x01020304);
    th[12] = (uint8_t)(thl / 4 << 4);
    th[13] = sp->flags;
    wr16(th + 14, 0xfaf0);
    wr16(th + 16, 0);
    wr16(th + 18, 0);
    memset(th + 20, 0x01, sp->tcp_opts);
    if (sp->tcp_opts >= 12) { /* NOP NOP timestamp */
        th[22] = 8;
        th[23] = 10;
        wr32(th + 24, 0x11223344);
        wr32(th + 28, 0x55667788);
    }
}

/* build: an Ethernet [802.1Q] IPv4/IPv6 TCP/UDP frame; the L4 checksum is left 0. */
void build(uint8_t *f, const struct spec *sp, struct layout *b)
{
    static const uint8_t macs[12] = {0x52, 0x54, 0, 0x12, 0x34, 0x56,
                                     0x52, 0x54, 0, 0xab, 0xcd, 0xef};
    uint8_t proto = sp->proto ? sp->proto : PROTO_TCP;
    memcpy(f, macs, 12);
    b->l3 = 14;
    if (sp->vlan) {
        wr16(f + 12, 0x8100);
        wr16(f + 14, 0x2064); /* PCP 1, VID 100 */
        b->l3 = 18;
    }
    wr16(f + b->l3 - 2, sp->v6 ? 0x86dd : 0x0800);
    b->l4 = b->l3 + (sp->v6 ? 40 : 20 + sp->ip_opts);
    b->hdrs = b->l4 + (proto == PROTO_UDP ? 8 : 20 + sp->tcp_opts);
    b->len = b->hdrs + sp->payload;
    ck_assert_uint_le(b->len, MAX_FRAME);
    for (size_t i = 0; i < sp->payload; i++)
        f[b->hdrs + i] = (uint8_t)(i * 31 + (i >> 8) * 7 + 1);
    build_l3(f, sp, b, proto);
    build_l4(f, sp, b, proto);
}

/* seed: the field at l4 + off gets the folded pseudo-header sum, as Linux leaves it for
 * CHECKSUM_PARTIAL (~csum_tcpudp_magic(..., 0)). */
void seed(uint8_t *f, const struct layout *b, uint8_t proto, size_t off)
{
    wr16(f + b->l4 + off, ref_fold(ref_pseudo(f, b, proto, b->len - b->l4)));
}

struct virtio_net_hdr_v1 mkhdr(uint8_t flags, uint8_t gso_type, uint16_t hdr_len, uint16_t gso_size,
                               uint16_t start, uint16_t off)
{
    struct virtio_net_hdr_v1 h;
    memset(&h, 0, sizeof(h));
    h.flags = flags;
    h.gso_type = gso_type;
    h.hdr_len = htole16(hdr_len);
    h.gso_size = htole16(gso_size);
    h.csum_start = htole16(start);
    h.csum_offset = htole16(off);
    return h;
}

struct virtio_net_hdr_v1 gso_hdr(const struct spec *sp, const struct layout *b, uint16_t mss)
{
    uint8_t type = sp->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    return mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, type, (uint16_t)b->hdrs, mss, (uint16_t)b->l4, 16);
}

/* ---- emit recorder ---- */

int collect_fn(void *opaque, const uint8_t *frame, size_t len)
{
    struct collect *c = opaque;
    ck_assert_int_lt(c->n, MAX_SEGS);
    ck_assert_uint_le(c->used + len, sizeof(c->buf));
    ck_assert_uint_le(len, MAX_FRAME);
    memcpy(c->buf + c->used, frame, len);
    c->off[c->n] = c->used;
    c->len[c->n] = len;
    c->used += len;
    c->last_ptr = frame;
    c->n++;
    return c->n == c->stop_at ? c->stop_rc : 0;
}

uint8_t frame_buf[MAX_FRAME], orig_buf[MAX_FRAME], scratch_buf[SCRATCH];

/* exact: a heap copy of the first len bytes of frame_buf, so that AddressSanitizer catches
 * any read past the frame. */
uint8_t *exact(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, frame_buf, len);
    return p;
}

int check_exact(const struct virtio_net_hdr_v1 *h, size_t len)
{
    uint8_t *p = exact(len);
    int rc = offload_check(h, p, len);
    free(p);
    return rc;
}

static bool is_rewritten(const struct spec *sp, const struct layout *b, size_t j)
{
    size_t ip = j - b->l3, tcp = j - b->l4;
    if (j >= b->l4)
        return (tcp >= 4 && tcp < 8) || tcp == 13 || tcp == 16 || tcp == 17;
    if (j < b->l3)
        return false;
    if (sp->v6)
        return ip == 4 || ip == 5;
    return (ip >= 2 && ip < 6) || ip == 10 || ip == 11;
}

/* check_segment: segment i (payload bytes [pos, pos + plen) of the original) byte by byte. */
static void check_segment(const struct spec *sp, const struct layout *b, size_t mss, int i, int n,
                          const uint8_t *seg, size_t slen)
{
    size_t pos = (size_t)i * mss, plen = slen - b->hdrs;
    ck_assert_uint_eq(plen, b->len - b->hdrs - pos < mss ? b->len - b->hdrs - pos : mss);
    for (size_t j = 0; j < b->hdrs; j++)
        if (!is_rewritten(sp, b, j))
            ck_assert_uint_eq(seg[j], orig_buf[j]);
    const uint8_t *ip = seg + b->l3, *th = seg + b->l4;
    if (sp->v6) {
        ck_assert_uint_eq(be16(ip + 4), slen - b->l3 - 40);
    } else {
        ck_assert_uint_eq(be16(ip + 2), slen - b->l3);
        ck_assert_uint_eq(be16(ip + 4), (uint16_t)(sp->id + i));
        ck_assert_uint_eq(ref_fold(ref_sum(0, ip, b->l4 - b->l3)), 0xffff);
    }
    ck_assert_uint_eq(be32(th + 4), (uint32_t)(sp->seq + pos));
    uint8_t flags = sp->flags;
    if (i != n - 1)
        flags &= (uint8_t) ~(TCP_FIN | TCP_PSH);
    if (i != 0)
        flags &= (uint8_t)~TCP_CWR;
    ck_assert_uint_eq(th[13], flags);
    uint32_t sum = ref_pseudo(seg, b, PROTO_TCP, slen - b->l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, th, slen - b->l4)), 0xffff);
}

/* check_packets: the c->n packets collected from the frame in orig_buf, each carrying mss
 * bytes of its payload (the last one the rest), byte by byte, and their payloads joined. */
void check_packets(const struct spec *sp, const struct layout *b, size_t mss,
                   const struct collect *c)
{
    size_t payload = b->len - b->hdrs, pos = 0;
    uint8_t *joined = malloc(payload);
    ck_assert_ptr_nonnull(joined);
    for (int i = 0; i < c->n; i++) {
        const uint8_t *seg = c->buf + c->off[i];
        check_segment(sp, b, mss, i, c->n, seg, c->len[i]);
        memcpy(joined + pos, seg + b->hdrs, c->len[i] - b->hdrs);
        pos += c->len[i] - b->hdrs;
    }
    ck_assert_uint_eq(pos, payload);
    ck_assert_mem_eq(joined, orig_buf + b->hdrs, payload);
    free(joined);
}
