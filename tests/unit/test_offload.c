/* Unit tests for software offload: TCP segmentation of IPv4 and IPv6 frames (with and without
 * an 802.1Q tag) checked byte by byte against independent reference checksums, the same frames
 * coalesced into large packets within a backend's limits (offload_coalesce), checksum
 * completion for TCP and UDP seeded as Linux seeds it, the RFC 1071 helpers, and
 * offload_check() against each bogus header of the malicious-guest checklist. */
#include "net/offload.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME (65536 + 18)
#define SCRATCH   (65536 + 128)
#define MAX_SEGS  2048
#define TCP_FIN   0x01
#define TCP_PSH   0x08
#define TCP_ACK   0x10
#define TCP_CWR   0x80
#define PROTO_TCP 6
#define PROTO_UDP 17

/* ---- reference checksum: 16-bit big-endian words, one at a time ---- */

static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* ---- frame builder ---- */

struct spec {
    bool v6, vlan;
    size_t ip_opts;  /* IPv4 option bytes (multiple of 4) */
    size_t tcp_opts; /* TCP option bytes (multiple of 4) */
    size_t payload;
    uint8_t proto; /* PROTO_TCP (default when 0) or PROTO_UDP */
    uint8_t flags;
    uint32_t seq;
    uint16_t id;
};

struct layout {
    size_t len, l3, l4, hdrs;
};

/* The pseudo-header sum (RFC 793 §3.1, RFC 768, RFC 8200 §8.1) for an L4 length. */
static uint32_t ref_pseudo(const uint8_t *f, const struct layout *b, uint8_t proto, size_t l4len)
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
static void build(uint8_t *f, const struct spec *sp, struct layout *b)
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
static void seed(uint8_t *f, const struct layout *b, uint8_t proto, size_t off)
{
    wr16(f + b->l4 + off, ref_fold(ref_pseudo(f, b, proto, b->len - b->l4)));
}

static struct virtio_net_hdr_v1 mkhdr(uint8_t flags, uint8_t gso_type, uint16_t hdr_len,
                                      uint16_t gso_size, uint16_t start, uint16_t off)
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

static struct virtio_net_hdr_v1 gso_hdr(const struct spec *sp, const struct layout *b, uint16_t mss)
{
    uint8_t type = sp->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    return mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, type, (uint16_t)b->hdrs, mss, (uint16_t)b->l4, 16);
}

/* ---- emit recorder ---- */

struct collect {
    int n;
    int stop_at; /* 1-based call that returns stop_rc; 0: never */
    int stop_rc;
    const uint8_t *last_ptr;
    size_t used;
    size_t off[MAX_SEGS], len[MAX_SEGS];
    uint8_t buf[1 << 18];
};

static int collect_fn(void *opaque, const uint8_t *frame, size_t len)
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

static uint8_t frame_buf[MAX_FRAME], orig_buf[MAX_FRAME], scratch_buf[SCRATCH];

/* exact: a heap copy of the first len bytes of frame_buf, so that AddressSanitizer catches
 * any read past the frame. */
static uint8_t *exact(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, frame_buf, len);
    return p;
}

static int check_exact(const struct virtio_net_hdr_v1 *h, size_t len)
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
static void check_packets(const struct spec *sp, const struct layout *b, size_t mss,
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

/* run_gso: builds the frame of sp, segments it with mss and checks every segment and the
 * reassembled payload. Returns the number of segments. */
static int run_gso(const struct spec *sp, uint16_t mss)
{
    struct layout b;
    build(frame_buf, sp, &b);
    wr16(frame_buf + b.l4 + 16, 0xbeef); /* any seed: a full checksum is computed */
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = gso_hdr(sp, &b, mss);
    ck_assert_int_eq(offload_check(&h, frame_buf, b.len), 0);
    ck_assert(offload_needed(&h));
    struct collect *c = calloc(1, sizeof(*c));
    uint8_t *in = exact(b.len), *scratch = malloc(SCRATCH);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(scratch);
    int n = offload_segment(&h, in, b.len, scratch, collect_fn, c);
    size_t payload = b.len - b.hdrs;
    ck_assert_int_eq(n, (int)((payload + mss - 1) / mss));
    ck_assert_int_eq(c->n, n);
    ck_assert_mem_eq(in, orig_buf, b.len); /* the input is left alone */
    free(in);
    free(scratch);
    check_packets(sp, &b, mss, c);
    free(c);
    return n;
}

/* ---- segmentation ---- */

START_TEST(test_gso_v4_mss1448_64k)
{
    struct spec sp = {.tcp_opts = 12, .payload = 65000, .seq = 0x10000000, .id = 0x1234};
    sp.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    ck_assert_int_eq(run_gso(&sp, 1448), 45);
    /* The last segment is shorter: 65000 - 44 * 1448 = 1288 bytes. */
    struct collect *c = calloc(1, sizeof(*c));
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 45);
    ck_assert_uint_eq(c->len[0], 14 + 20 + 32 + 1448);
    ck_assert_uint_eq(c->len[44], 14 + 20 + 32 + 1288);
    free(c);
}
END_TEST

START_TEST(test_gso_largest_frames)
{
    /* The largest frame accepted, tagged and untagged: 65536 + 18 bytes in all. */
    struct spec sp = {.vlan = true, .tcp_opts = 12, .flags = TCP_ACK | TCP_PSH, .seq = 7};
    sp.payload = MAX_FRAME - (18 + 20 + 32);
    ck_assert_int_eq(run_gso(&sp, 1448), 46);
    struct spec sp6 = {.v6 = true, .tcp_opts = 12, .flags = TCP_ACK, .seq = 99};
    sp6.payload = MAX_FRAME - (14 + 40 + 32);
    ck_assert_int_eq(run_gso(&sp6, 1428), 46);
}
END_TEST

START_TEST(test_gso_exact_multiple)
{
    struct spec sp = {.payload = 1448 * 10, .flags = TCP_ACK | TCP_PSH | TCP_FIN, .id = 1};
    ck_assert_int_eq(run_gso(&sp, 1448), 10);
    struct spec sp6 = {.v6 = true, .vlan = true, .payload = 1428 * 7, .flags = TCP_ACK | TCP_PSH};
    ck_assert_int_eq(run_gso(&sp6, 1428), 7);
}
END_TEST

START_TEST(test_gso_v6_vlan)
{
    struct spec sp = {.v6 = true, .vlan = true, .tcp_opts = 12, .payload = 30001};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    sp.seq = 0xdeadbeef;
    ck_assert_int_eq(run_gso(&sp, 1440), 21);
    struct spec plain = {.v6 = true, .payload = 5000, .flags = TCP_ACK | TCP_FIN};
    ck_assert_int_eq(run_gso(&plain, 1000), 5);
}
END_TEST

START_TEST(test_gso_v4_vlan_options_wrap)
{
    /* IP options, a 40-byte TCP header, and sequence number and IP id wrapping. */
    struct spec sp = {.vlan = true, .ip_opts = 8, .tcp_opts = 20, .payload = 5000};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    sp.seq = 0xfffff000;
    sp.id = 0xfffe;
    ck_assert_int_eq(run_gso(&sp, 536), 10);
    struct spec tiny = {.payload = 1000, .flags = TCP_ACK | TCP_PSH};
    ck_assert_int_eq(run_gso(&tiny, OFFLOAD_MIN_MSS), 21);
}
END_TEST

START_TEST(test_gso_payload_below_mss)
{
    /* One segment, with lengths and checksums fixed even though the guest left garbage. */
    struct spec sp = {.payload = 100, .flags = TCP_ACK | TCP_PSH | TCP_FIN, .id = 42};
    ck_assert_int_eq(run_gso(&sp, 1448), 1);
    struct layout b;
    build(frame_buf, &sp, &b);
    wr16(frame_buf + b.l3 + 2, 0);       /* bogus total length */
    wr16(frame_buf + b.l3 + 10, 0x1111); /* bogus header checksum */
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct collect *c = calloc(1, sizeof(*c));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    const uint8_t *seg = c->buf;
    ck_assert_uint_eq(c->len[0], b.len);
    ck_assert_uint_eq(be16(seg + b.l3 + 2), b.len - b.l3);
    ck_assert_uint_eq(ref_fold(ref_sum(0, seg + b.l3, 20)), 0xffff);
    ck_assert_uint_eq(seg[b.l4 + 13], TCP_ACK | TCP_PSH | TCP_FIN);
    free(c);
    struct spec sp6 = {.v6 = true, .vlan = true, .payload = 1, .flags = TCP_ACK | TCP_CWR};
    ck_assert_int_eq(run_gso(&sp6, 1428), 1);
}
END_TEST

START_TEST(test_gso_emit_stops)
{
    struct spec sp = {.payload = 20000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct collect *c = calloc(1, sizeof(*c));
    c->stop_at = 3;
    c->stop_rc = 7;
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -7);
    ck_assert_int_eq(c->n, 3);
    memset(c, 0, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = -EAGAIN; /* a negative errno comes back unchanged */
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EAGAIN);
    ck_assert_int_eq(c->n, 1);
    /* Non-GSO frames stop the same way. */
    struct virtio_net_hdr_v1 none = mkhdr(0, 0, 0, 0, 0, 0);
    memset(c, 0, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = 1;
    ck_assert_int_eq(offload_segment(&none, frame_buf, b.len, scratch_buf, collect_fn, c), -1);
    free(c);
}
END_TEST

START_TEST(test_segment_without_gso)
{
    struct spec sp = {.vlan = true, .payload = 777, .flags = TCP_ACK | TCP_PSH};
    struct layout b;
    build(frame_buf, &sp, &b);
    seed(frame_buf, &b, PROTO_TCP, 16);
    memcpy(orig_buf, frame_buf, b.len);
    struct collect *c = calloc(1, sizeof(*c));
    /* No offload: the frame itself goes out, untouched. */
    struct virtio_net_hdr_v1 none = mkhdr(0, 0, 0, 0, 0, 0);
    ck_assert(!offload_needed(&none));
    ck_assert_int_eq(offload_segment(&none, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    ck_assert_ptr_eq(c->last_ptr, frame_buf);
    ck_assert_mem_eq(c->buf, orig_buf, b.len);
    /* NEEDS_CSUM only: one frame with the checksum filled, the input unchanged. */
    memset(c, 0, sizeof(*c));
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 16);
    ck_assert(offload_needed(&h));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), 1);
    ck_assert_uint_eq(c->len[0], b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
    uint32_t sum = ref_pseudo(c->buf, &b, PROTO_TCP, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, c->buf + b.l4, b.len - b.l4)), 0xffff);
    ck_assert_mem_eq(c->buf, orig_buf, b.l4 + 16);
    ck_assert_mem_eq(c->buf + b.l4 + 18, orig_buf + b.l4 + 18, b.len - b.l4 - 18);
    free(c);
}
END_TEST

START_TEST(test_segment_refuses_bogus)
{
    struct spec sp = {.payload = 3000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    h.gso_size = htole16(0);
    struct collect *c = calloc(1, sizeof(*c));
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EINVAL);
    h = gso_hdr(&sp, &b, 1448);
    h.csum_start = htole16(0xffff);
    ck_assert_int_eq(offload_segment(&h, frame_buf, b.len, scratch_buf, collect_fn, c), -EINVAL);
    ck_assert_int_eq(offload_segment(&h, frame_buf, 10, scratch_buf, collect_fn, c), -EINVAL);
    ck_assert_int_eq(c->n, 0);
    free(c);
}
END_TEST

/* ---- coalescing for backends that take large packets ---- */

/* run_coalesce: builds the frame of sp as Linux may leave a GSO frame (IP length 0, IPv4
 * header checksum stale, any TCP seed; ECN allowed), hands it to offload_coalesce() with the
 * limits max, and checks the packets: chunk bytes of payload each, lengths and checksums
 * against the reference. Returns the number of packets. */
static int run_coalesce(const struct spec *sp, uint16_t mss, size_t max4, size_t max6, size_t chunk)
{
    struct layout b;
    build(frame_buf, sp, &b);
    wr16(frame_buf + b.l4 + 16, 0xbeef);
    wr16(frame_buf + b.l3 + (sp->v6 ? 4 : 2), 0);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = gso_hdr(sp, &b, mss);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    struct offload_coalesce_max max = {max4, max6};
    struct collect *c = calloc(1, sizeof(*c));
    uint8_t *in = exact(b.len);
    ck_assert_ptr_nonnull(c);
    int n = offload_coalesce(&h, in, b.len, &max, scratch_buf, collect_fn, c);
    ck_assert_int_eq(n, (int)((b.len - b.hdrs + chunk - 1) / chunk));
    ck_assert_int_eq(c->n, n);
    if (n == 1)
        ck_assert_ptr_eq(c->last_ptr, in); /* finished in place: no copy */
    else
        ck_assert_mem_eq(in, orig_buf, b.len);
    check_packets(sp, &b, chunk, c);
    free(in);
    free(c);
    return n;
}

START_TEST(test_coalesce_whole_v4)
{
    struct spec sp = {.tcp_opts = 12, .payload = 64000, .seq = 0xffff0000, .id = 0x4321};
    sp.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    ck_assert_int_eq(run_coalesce(&sp, 1448, 0xffff, 0xffff, sp.payload), 1);
    /* IP options, a tag, a 40-byte TCP header; the packet exactly at the IPv4 limit. */
    struct spec opt = {.vlan = true, .ip_opts = 8, .tcp_opts = 20, .flags = TCP_ACK, .id = 9};
    opt.payload = 0xffff - 28 - 40;
    ck_assert_int_eq(run_coalesce(&opt, 536, 0xffff, 0, opt.payload), 1);
    /* The emit function's stop value comes back as for offload_segment. */
    struct layout b;
    build(frame_buf, &sp, &b);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    struct offload_coalesce_max max = {0xffff, 0xffff};
    struct collect *c = calloc(1, sizeof(*c));
    c->stop_at = 1;
    c->stop_rc = 5;
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.len, &max, scratch_buf, collect_fn, c), -5);
    free(c);
}
END_TEST

START_TEST(test_coalesce_whole_v6)
{
    struct spec sp = {.v6 = true, .tcp_opts = 12, .payload = 60001, .seq = 77};
    sp.flags = TCP_ACK | TCP_PSH | TCP_CWR;
    ck_assert_int_eq(run_coalesce(&sp, 1428, 1500, 0xffff, sp.payload), 1);
    struct spec tagged = {.v6 = true, .vlan = true, .payload = 2 * 1440 + 1, .flags = TCP_ACK};
    ck_assert_int_eq(run_coalesce(&tagged, 1440, 0, 3000, tagged.payload), 1);
}
END_TEST

START_TEST(test_coalesce_within_limits)
{
    /* IPv6 held to a 1500-byte MTU (libslirp's ip6_input): gso_size segments, as before. */
    struct spec v6 = {.v6 = true, .tcp_opts = 12, .payload = 20000, .flags = TCP_ACK | TCP_CWR};
    ck_assert_int_eq(run_coalesce(&v6, 1428, 0xffff, 1500, 1428), 15);
    /* A 9000-byte limit: six segments a packet (40 + 32 + 6 * 1428 <= 9000). */
    v6.payload = 60000;
    ck_assert_int_eq(run_coalesce(&v6, 1428, 0xffff, 9000, 6 * 1428), 8);
    /* An IPv4 packet over 65535 bytes (the guest may say 0 for it): 44 segments, then the
     * rest; a limit above 65535 counts as 65535. */
    struct spec big = {.vlan = true, .flags = TCP_ACK | TCP_PSH | TCP_CWR, .id = 0xffff};
    big.payload = MAX_FRAME - (18 + 20 + 20);
    ck_assert_int_eq(run_coalesce(&big, 1460, 0xffff, 0xffff, 44 * 1460), 2);
    ck_assert_int_eq(run_coalesce(&big, 1460, 1u << 20, 0, 44 * 1460), 2);
    /* A limit below one segment: gso_size segments. */
    ck_assert_int_eq(run_coalesce(&big, 1460, 0, 0, 1460), 45);
}
END_TEST

START_TEST(test_coalesce_refuses_bogus)
{
    struct spec sp = {.payload = 3000, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    memcpy(orig_buf, frame_buf, b.len);
    struct offload_coalesce_max max = {0xffff, 0xffff};
    struct virtio_net_hdr_v1 bad[5];
    for (int i = 0; i < 5; i++)
        bad[i] = gso_hdr(&sp, &b, 1448);
    bad[0].gso_size = htole16(0);
    bad[1].csum_start = htole16((uint16_t)(b.l4 + 2));
    bad[2].csum_offset = htole16(6);
    bad[3].csum_start = htole16(0xffff);
    bad[4] = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 16); /* no GSO */
    struct collect *c = calloc(1, sizeof(*c));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(
            offload_coalesce(&bad[i], frame_buf, b.len, &max, scratch_buf, collect_fn, c), -EINVAL);
    struct virtio_net_hdr_v1 h = gso_hdr(&sp, &b, 1448);
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.len, NULL, scratch_buf, collect_fn, c),
                     -EINVAL);
    ck_assert_int_eq(offload_coalesce(&h, frame_buf, b.hdrs, &max, scratch_buf, collect_fn, c),
                     -EINVAL);
    ck_assert_int_eq(c->n, 0);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len); /* nothing written */
    free(c);
}
END_TEST

/* ---- checksum completion ---- */

/* csum_case: a frame of sp with its L4 checksum seeded, completed by offload_csum() and
 * verified with the reference; every other byte unchanged. Returns the stored checksum. */
static uint16_t csum_case(const struct spec *sp)
{
    struct layout b;
    uint8_t proto = sp->proto ? sp->proto : PROTO_TCP;
    size_t off = proto == PROTO_UDP ? 6 : 16;
    build(frame_buf, sp, &b);
    seed(frame_buf, &b, proto, off);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h =
        mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, (uint16_t)off);
    ck_assert_int_eq(offload_check(&h, frame_buf, b.len), 0);
    uint8_t *in = exact(b.len);
    offload_csum(&h, in, b.len);
    memcpy(frame_buf, in, b.len);
    free(in);
    uint32_t sum = ref_pseudo(frame_buf, &b, proto, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, frame_buf + b.l4, b.len - b.l4)), 0xffff);
    ck_assert_mem_eq(frame_buf, orig_buf, b.l4 + off);
    ck_assert_mem_eq(frame_buf + b.l4 + off + 2, orig_buf + b.l4 + off + 2, b.len - b.l4 - off - 2);
    return be16(frame_buf + b.l4 + off);
}

static const size_t csum_lengths[] = {0, 1, 2, 3, 17, 64, 255, 1001, 1460, 9000};

START_TEST(test_csum_tcp_udp_v4)
{
    for (size_t i = 0; i < sizeof(csum_lengths) / sizeof(csum_lengths[0]); i++) {
        struct spec tcp = {.payload = csum_lengths[i], .flags = TCP_ACK, .seq = (uint32_t)i};
        csum_case(&tcp);
        struct spec udp = {.vlan = true, .payload = csum_lengths[i], .proto = PROTO_UDP};
        csum_case(&udp);
    }
}
END_TEST

START_TEST(test_csum_tcp_udp_v6)
{
    for (size_t i = 0; i < sizeof(csum_lengths) / sizeof(csum_lengths[0]); i++) {
        struct spec tcp = {.v6 = true, .vlan = true, .payload = csum_lengths[i], .tcp_opts = 12};
        csum_case(&tcp);
        struct spec udp = {.v6 = true, .payload = csum_lengths[i], .proto = PROTO_UDP};
        csum_case(&udp);
    }
}
END_TEST

START_TEST(test_csum_udp_zero_sent_as_ffff)
{
    /* Choose the last two payload bytes so that the checksum computes to 0: it must be
     * stored as 0xffff, since 0 means "no checksum" for UDP (RFC 768). */
    struct spec sp = {.payload = 64, .proto = PROTO_UDP};
    struct layout b;
    build(frame_buf, &sp, &b);
    uint8_t *last = frame_buf + b.len - 2;
    wr16(last, 0);
    uint16_t s = ref_fold(ref_sum(ref_pseudo(frame_buf, &b, PROTO_UDP, b.len - b.l4),
                                  frame_buf + b.l4, b.len - b.l4));
    wr16(last, (uint16_t)(0xffff - s));
    uint8_t payload_end[2] = {last[0], last[1]};
    seed(frame_buf, &b, PROTO_UDP, 6);
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)b.l4, 6);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_uint_eq(be16(frame_buf + b.l4 + 6), 0xffff);
    ck_assert_mem_eq(last, payload_end, 2);
    uint32_t sum = ref_pseudo(frame_buf, &b, PROTO_UDP, b.len - b.l4);
    ck_assert_uint_eq(ref_fold(ref_sum(sum, frame_buf + b.l4, b.len - b.l4)), 0xffff);
}
END_TEST

START_TEST(test_csum_without_flag_is_noop)
{
    struct spec sp = {.payload = 100, .flags = TCP_ACK};
    struct layout b;
    build(frame_buf, &sp, &b);
    seed(frame_buf, &b, PROTO_TCP, 16);
    memcpy(orig_buf, frame_buf, b.len);
    struct virtio_net_hdr_v1 h = mkhdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, (uint16_t)b.l4, 16);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
    /* A range past the frame is never written, even without offload_check(). */
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xffff, 0xffff);
    offload_csum(&h, frame_buf, b.len);
    ck_assert_mem_eq(frame_buf, orig_buf, b.len);
}
END_TEST

/* ---- RFC 1071 helpers ---- */

START_TEST(test_csum_rfc1071_example)
{
    /* RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d. */
    static const uint8_t data[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    ck_assert_uint_eq(offload_csum_add(0, data, 8), 0xddf2);
    ck_assert_uint_eq(offload_csum_fold(offload_csum_add(0, data, 8)), 0x220d);
    ck_assert_uint_eq(offload_csum_add(0, data, 0), 0);
    ck_assert_uint_eq(offload_csum_add(0x1234, data, 0), 0x1234);
    ck_assert_uint_eq(offload_csum_add(0, data, 1), 0);
    ck_assert_uint_eq(offload_csum_add(0, data + 1, 1), 0x0100);
    ck_assert_uint_eq(offload_csum_fold(0), 0xffff);
    ck_assert_uint_eq(offload_csum_fold(0xffff), 0);
    ck_assert_uint_eq(offload_csum_fold(0x1fffe), 0);
    ck_assert_uint_eq(offload_csum_fold(0xffffffffu), 0);
    ck_assert_uint_eq(offload_csum_fold(0x00012345), (uint16_t)~0x2346);
}
END_TEST

START_TEST(test_csum_add_matches_reference)
{
    static uint8_t data[4096];
    srand(12345);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)rand();
    for (size_t start = 0; start < 16; start++) {
        for (size_t len = 0; len < 700; len++) {
            uint16_t want = ref_fold(ref_sum(0, data + start, len));
            ck_assert_uint_eq(offload_csum_add(0, data + start, len), want);
            want = ref_fold(ref_sum(0xfedcba98u, data + start, len));
            ck_assert_uint_eq(offload_csum_fold(offload_csum_add(0xfedcba98u, data + start, len)),
                              (uint16_t)~want);
        }
    }
    ck_assert_uint_eq(offload_csum_add(0, data + 3, 4093), ref_fold(ref_sum(0, data + 3, 4093)));
    /* All-ones data: many end-around carries. */
    static uint8_t ones[70000];
    memset(ones, 0xff, sizeof(ones));
    ck_assert_uint_eq(offload_csum_add(0xffffffffu, ones + 1, sizeof(ones) - 2), 0xffff);
    ck_assert_uint_eq(offload_csum_add(0xffffffffu, ones + 1, sizeof(ones) - 1), 0xff00);
}
END_TEST

START_TEST(test_csum_add_incremental)
{
    static uint8_t data[3001];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 97 + 13);
    uint16_t whole = ref_fold(ref_sum(0, data, sizeof(data)));
    /* Even-length pieces, then an odd last one, at any alignment. */
    static const size_t cuts[][4] = {{2, 4, 6, 8}, {10, 100, 1000, 2000}, {0, 0, 2, 3000}};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        uint32_t sum = 0;
        size_t at = 0;
        for (size_t j = 0; j < 4; j++) {
            sum = offload_csum_add(sum, data + at, cuts[k][j] - at);
            at = cuts[k][j];
        }
        sum = offload_csum_add(sum, data + at, sizeof(data) - at);
        ck_assert_uint_eq(sum, whole);
    }
}
END_TEST

/* ---- offload_check ---- */

/* A valid IPv4 GSO frame of 2000 payload bytes in frame_buf. */
static struct virtio_net_hdr_v1 v4_gso(struct layout *b, bool vlan)
{
    struct spec sp = {.vlan = vlan, .payload = 2000, .flags = TCP_ACK};
    build(frame_buf, &sp, b);
    return gso_hdr(&sp, b, 1448);
}

static struct virtio_net_hdr_v1 v6_gso(struct layout *b, bool vlan)
{
    struct spec sp = {.v6 = true, .vlan = vlan, .payload = 2000, .flags = TCP_ACK};
    build(frame_buf, &sp, b);
    return gso_hdr(&sp, b, 1428);
}

#define CHECK_BAD(h, len) ck_assert_int_eq(check_exact(&(h), (len)), -EINVAL)
#define CHECK_OK(h, len)  ck_assert_int_eq(check_exact(&(h), (len)), 0)

START_TEST(test_check_valid_headers)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    memset(frame_buf, 0, 64);
    CHECK_OK(h, 14);
    CHECK_OK(h, 60);
    h = v4_gso(&b, false);
    CHECK_OK(h, b.len);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    CHECK_OK(h, b.len);
    h.flags |= VIRTIO_NET_HDR_F_DATA_VALID; /* ignored */
    CHECK_OK(h, b.len);
    h = v4_gso(&b, true);
    CHECK_OK(h, b.len);
    h.hdr_len = htole16(14); /* shorter than the real headers: tap fixes it up */
    CHECK_OK(h, b.len);
    h.hdr_len = htole16((uint16_t)b.len);
    CHECK_OK(h, b.len);
    h.gso_size = htole16(OFFLOAD_MIN_MSS);
    CHECK_OK(h, b.len);
    h.gso_size = htole16(0xfffe); /* payload fits one segment */
    CHECK_OK(h, b.len);
    h = v6_gso(&b, false);
    CHECK_OK(h, b.len);
    h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    CHECK_OK(h, b.len);
    h = v6_gso(&b, true);
    CHECK_OK(h, b.len);
    /* NEEDS_CSUM on the last two bytes, and at the smallest csum_start tap allows. */
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)(b.len - 2), 0);
    CHECK_OK(h, b.len);
    h = mkhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, (uint16_t)(b.len - 22));
    CHECK_OK(h, b.len);
}
END_TEST

START_TEST(test_check_unknown_gso_type)
{
    static const uint8_t types[] = {
        2, VIRTIO_NET_HDR_GSO_UDP, 5, 6, 0x7f, 0x80, 0x83, 0x85, 0x21, 0x41, 0x24, 0xff};
    struct layout b;
    for (size_t i = 0; i < sizeof(types); i++) {
        struct virtio_net_hdr_v1 h = v4_gso(&b, false);
        h.gso_type = types[i];
        CHECK_BAD(h, b.len);
    }
}
END_TEST

START_TEST(test_check_unknown_flags)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.flags |= VIRTIO_NET_HDR_F_RSC_INFO;
    CHECK_BAD(h, b.len);
    h = mkhdr(0x80, 0, 0, 0, 0, 0);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_without_needs_csum)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.flags = 0;
    CHECK_BAD(h, b.len);
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    h.flags = 0;
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_csum_past_frame)
{
    struct layout b;
    v4_gso(&b, false);
    const uint8_t f = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    const uint16_t len = (uint16_t)b.len;
    struct virtio_net_hdr_v1 h = mkhdr(f, 0, 0, 0, len, 0); /* start at the end */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, (uint16_t)(len - 1), 0); /* field straddles the end */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 34, (uint16_t)(len - 35));
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0xffff, 0xffff); /* 16-bit sums that wrap */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0xfffe, 2);
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 34, 0xfffe); /* 34 + 0xfffe + 2 wraps to 34 in 16 bits */
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0x8000, 0x8000);
    CHECK_BAD(h, 0xffff);
    /* Too small a csum_start: tap refuses one below sizeof(struct iphdr). */
    h = mkhdr(f, 0, 0, 0, 14, 16);
    CHECK_BAD(h, b.len);
    h = mkhdr(f, 0, 0, 0, 0, 0);
    CHECK_BAD(h, b.len);
    /* GSO: csum_start must be the TCP header and csum_offset its check field. */
    h = v4_gso(&b, false);
    h.csum_start = htole16(36);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    h.csum_offset = htole16(6);
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    h.csum_start = htole16(58 - 4);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_hdr_len)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.hdr_len = 0;
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16((uint16_t)(b.len + 1));
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(0xffff);
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(13); /* tap: nonzero and shorter than Ethernet */
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(1);
    CHECK_BAD(h, b.len);
    /* Without GSO hdr_len 0 is normal, but past the frame is still refused. */
    h = mkhdr(0, 0, 0, 0, 0, 0);
    CHECK_OK(h, b.len);
    h.hdr_len = htole16((uint16_t)(b.len + 1));
    CHECK_BAD(h, b.len);
    h.hdr_len = htole16(5);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_size)
{
    static const uint16_t bad[] = {0, 1, 47, 0xffff};
    struct layout b;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct virtio_net_hdr_v1 h = v4_gso(&b, false);
        h.gso_size = htole16(bad[i]);
        CHECK_BAD(h, b.len);
        h = v6_gso(&b, false);
        h.gso_size = htole16(bad[i]);
        CHECK_BAD(h, b.len);
    }
}
END_TEST

START_TEST(test_check_truncated_headers)
{
    const uint8_t f = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    struct layout b;
    /* IPv4 header cut short (csum range itself inside the frame). */
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 19);
    /* ihl = 15 declares 60 bytes, the frame has 56 after Ethernet. */
    h = v4_gso(&b, false);
    frame_buf[14] = 0x4f;
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 56);
    /* TCP header cut short: 19 of its 20 bytes. */
    h = v4_gso(&b, false);
    h.hdr_len = htole16(34);
    h.csum_offset = htole16(0);
    CHECK_BAD(h, 14 + 20 + 19);
    CHECK_BAD(h, 14 + 20 + 12); /* not even the data offset byte */
    /* data offset past the frame (15 words, 60 bytes, with 40 present). */
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0xf0;
    CHECK_BAD(h, 14 + 20 + 40);
    /* IPv6 header cut short, and its TCP header. */
    h = v6_gso(&b, false);
    h.csum_start = htole16(20);
    h.csum_offset = 0;
    h.hdr_len = htole16(20);
    CHECK_BAD(h, 14 + 39);
    h = v6_gso(&b, false);
    h.hdr_len = htole16(54);
    h.csum_offset = htole16(0);
    CHECK_BAD(h, 14 + 40 + 19);
    CHECK_BAD(h, 14 + 40 + 12);
    /* 802.1Q tag cut short (refused already by the csum_start rules). */
    h = mkhdr(f, VIRTIO_NET_HDR_GSO_TCPV4, 14, 1448, 20, 0);
    v4_gso(&b, true);
    CHECK_BAD(h, 17);
}
END_TEST

START_TEST(test_check_bad_ip_header)
{
    struct layout b;
    struct virtio_net_hdr_v1 h;
    static const uint8_t bad_vihl[] = {0x44, 0x40, 0x41, 0x64, 0x55, 0x05};
    for (size_t i = 0; i < sizeof(bad_vihl); i++) {
        h = v4_gso(&b, false);
        frame_buf[14] = bad_vihl[i]; /* ihl < 5, or not version 4 */
        CHECK_BAD(h, b.len);
    }
    /* ihl 2..4 with csum_start and a TCP header where that ihl would put them. */
    for (size_t ihl = 2; ihl < 5; ihl++) {
        h = v4_gso(&b, false);
        frame_buf[14] = (uint8_t)(0x40 | ihl);
        h.csum_start = htole16((uint16_t)(14 + 4 * ihl));
        frame_buf[14 + 4 * ihl + 12] = 0x50;
        CHECK_BAD(h, b.len);
    }
    h = v6_gso(&b, false);
    frame_buf[14] = 0x45; /* IPv4 version in an IPv6 ethertype */
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0x40; /* TCP data offset 4 */
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[34 + 12] = 0x00;
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_non_tcp)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    frame_buf[14 + 9] = PROTO_UDP;
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    frame_buf[14 + 9] = 1; /* ICMP */
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, false);
    frame_buf[14 + 6] = PROTO_UDP;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, true);
    frame_buf[18 + 6] = 0; /* hop-by-hop extension header */
    CHECK_BAD(h, b.len);
    /* Ethertype not IP, or not the IP version gso_type names. */
    h = v4_gso(&b, false);
    wr16(frame_buf + 12, 0x0806);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    CHECK_BAD(h, b.len);
    h = v6_gso(&b, false);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, true);
    wr16(frame_buf + 16, 0x8100); /* a second tag */
    CHECK_BAD(h, b.len);
    /* IPv4 fragments: MF, or a fragment offset. */
    h = v4_gso(&b, false);
    wr16(frame_buf + 14 + 6, 0x2000);
    CHECK_BAD(h, b.len);
    h = v4_gso(&b, false);
    wr16(frame_buf + 14 + 6, 0x4001);
    CHECK_BAD(h, b.len);
}
END_TEST

START_TEST(test_check_gso_no_payload)
{
    struct layout b;
    struct virtio_net_hdr_v1 h = v4_gso(&b, false);
    CHECK_BAD(h, b.hdrs);
    h = v6_gso(&b, true);
    CHECK_BAD(h, b.hdrs);
    CHECK_OK(h, b.hdrs + 1);
}
END_TEST

START_TEST(test_check_short_frames)
{
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    memset(frame_buf, 0, 64);
    CHECK_BAD(h, 0);
    CHECK_BAD(h, 1);
    CHECK_BAD(h, 13);
    CHECK_OK(h, 14);
    ck_assert_int_eq(offload_check(&h, NULL, 0), -EINVAL);
    struct layout b;
    h = v4_gso(&b, false);
    CHECK_BAD(h, 13);
}
END_TEST

START_TEST(test_check_oversize)
{
    struct virtio_net_hdr_v1 h = mkhdr(0, 0, 0, 0, 0, 0);
    CHECK_OK(h, MAX_FRAME);
    /* Refused before any byte is read. */
    ck_assert_int_eq(offload_check(&h, frame_buf, MAX_FRAME + 1), -EINVAL);
    ck_assert_int_eq(offload_check(&h, frame_buf, SIZE_MAX), -EINVAL);
    /* A GSO frame whose payload fits one gso_size but not one IPv4 datagram. */
    struct spec sp = {.vlan = true, .tcp_opts = 12, .flags = TCP_ACK};
    sp.payload = MAX_FRAME - (18 + 20 + 32);
    struct layout b;
    build(frame_buf, &sp, &b);
    h = gso_hdr(&sp, &b, 0xfffe);
    CHECK_BAD(h, b.len);
    h = gso_hdr(&sp, &b, 1448);
    CHECK_OK(h, b.len);
    h = gso_hdr(&sp, &b, 1448);
    h.gso_size = htole16(0xfffe);
    CHECK_OK(h, b.len - 1); /* exactly 65535 bytes of IP */
}
END_TEST

static Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *seg = tcase_create("segment");
    tcase_add_test(seg, test_gso_v4_mss1448_64k);
    tcase_add_test(seg, test_gso_largest_frames);
    tcase_add_test(seg, test_gso_exact_multiple);
    tcase_add_test(seg, test_gso_v6_vlan);
    tcase_add_test(seg, test_gso_v4_vlan_options_wrap);
    tcase_add_test(seg, test_gso_payload_below_mss);
    tcase_add_test(seg, test_gso_emit_stops);
    tcase_add_test(seg, test_segment_without_gso);
    tcase_add_test(seg, test_segment_refuses_bogus);
    tcase_add_test(seg, test_coalesce_whole_v4);
    tcase_add_test(seg, test_coalesce_whole_v6);
    tcase_add_test(seg, test_coalesce_within_limits);
    tcase_add_test(seg, test_coalesce_refuses_bogus);
    tcase_set_timeout(seg, 60); /* byte-by-byte checks under the sanitizers */
    suite_add_tcase(s, seg);
    TCase *csum = tcase_create("csum");
    tcase_add_test(csum, test_csum_tcp_udp_v4);
    tcase_add_test(csum, test_csum_tcp_udp_v6);
    tcase_add_test(csum, test_csum_udp_zero_sent_as_ffff);
    tcase_add_test(csum, test_csum_without_flag_is_noop);
    tcase_add_test(csum, test_csum_rfc1071_example);
    tcase_add_test(csum, test_csum_add_matches_reference);
    tcase_add_test(csum, test_csum_add_incremental);
    tcase_set_timeout(csum, 60);
    suite_add_tcase(s, csum);
    TCase *check = tcase_create("check");
    tcase_add_test(check, test_check_valid_headers);
    tcase_add_test(check, test_check_unknown_gso_type);
    tcase_add_test(check, test_check_unknown_flags);
    tcase_add_test(check, test_check_gso_without_needs_csum);
    tcase_add_test(check, test_check_csum_past_frame);
    tcase_add_test(check, test_check_hdr_len);
    tcase_add_test(check, test_check_gso_size);
    tcase_add_test(check, test_check_truncated_headers);
    tcase_add_test(check, test_check_bad_ip_header);
    tcase_add_test(check, test_check_gso_non_tcp);
    tcase_add_test(check, test_check_gso_no_payload);
    tcase_add_test(check, test_check_short_frames);
    tcase_add_test(check, test_check_oversize);
    suite_add_tcase(s, check);
    return s;
}

UNIT_MAIN(offload_suite)
