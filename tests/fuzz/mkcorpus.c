/* Seed corpus generator: writes tests/fuzz/corpus/<target>/<item> for every fuzz target, one
 * input of valid Linux-like traffic per common path and one per applicable item of the
 * malicious-guest checklist, named after the item. Deterministic, so the committed corpus is
 * reproducible: scripts/fuzz.sh --seeds runs it. Usage: fuzz_mkcorpus OUTDIR. This file has
 * the byte and frame builders, the virtqueue and slirp seeds and main(); mkcorpus_vnet.c,
 * mkcorpus_e1000.c, mkcorpus_ipfrag.c and mkcorpus_socket_stream.c have the virtio-net, e1000,
 * reassembly and socket stream seeds. */
#include "tests/fuzz/mkcorpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *outdir;

/* --- bytes ---------------------------------------------------------------------------------- */

void mk_bytes(struct mk *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 256;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            perror("mkcorpus");
            exit(1);
        }
        b->p = np, b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

void mk_u8(struct mk *b, uint8_t v)
{
    mk_bytes(b, &v, 1);
}

void mk_u16(struct mk *b, uint16_t v)
{
    uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    mk_bytes(b, d, 2);
}

void mk_u32(struct mk *b, uint32_t v)
{
    mk_u16(b, (uint16_t)v);
    mk_u16(b, (uint16_t)(v >> 16));
}

void mk_u64(struct mk *b, uint64_t v)
{
    mk_u32(b, (uint32_t)v);
    mk_u32(b, (uint32_t)(v >> 32));
}

void mk_vq_desc(uint8_t d[16], uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    for (int k = 0; k < 8; k++)
        d[k] = (uint8_t)(addr >> (8 * k));
    for (int k = 0; k < 4; k++)
        d[8 + k] = (uint8_t)(len >> (8 * k));
    d[12] = (uint8_t)flags, d[13] = (uint8_t)(flags >> 8), d[14] = (uint8_t)next,
    d[15] = (uint8_t)(next >> 8);
}

void mk_frame(struct mk *b, uint8_t op, const void *hdr, const uint8_t *f, size_t n)
{
    static const uint8_t zero[12];
    mk_u8(b, op), mk_bytes(b, hdr ? hdr : zero, 12), mk_u16(b, (uint16_t)n), mk_bytes(b, f, n);
}

void mk_save(struct mk *b, const char *target, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    b->n = 0;
}

/* --- frames ----------------------------------------------------------------------------------- */

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t gw_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    be16(p, (uint16_t)(v >> 16)), be16(p + 2, (uint16_t)v);
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6), memcpy(f + 6, src, 6), be16(f + 12, type);
    return 14;
}

void mk_ip_csum(uint8_t *ip, size_t hlen)
{
    be16(ip + 10, 0);
    be16(ip + 10, (uint16_t)~fold(sum16(0, ip, hlen)));
}

/* IPv4 header at f + 14 for l4len bytes of protocol proto. */
static void ipv4(uint8_t *f, uint32_t sip, uint32_t dip, uint8_t proto, size_t l4len)
{
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45, ip[8] = 64, ip[9] = proto;
    be16(ip + 2, (uint16_t)(20 + l4len)), be16(ip + 4, 0x1234), be16(ip + 6, 0x4000);
    be32(ip + 12, sip), be32(ip + 16, dip);
    mk_ip_csum(ip, 20);
}

static uint32_t pseudo(uint32_t sip, uint32_t dip, uint8_t proto, size_t len)
{
    return (sip >> 16) + (sip & 0xffff) + (dip >> 16) + (dip & 0xffff) + proto + (uint32_t)len;
}

size_t mk_arp_request(uint8_t *f, uint32_t sip, uint32_t tip)
{
    size_t n = eth(f, bcast, guest_mac, 0x0806);
    uint8_t *a = f + n;
    be16(a, 1), be16(a + 2, 0x0800), a[4] = 6, a[5] = 4, be16(a + 6, 1);
    memcpy(a + 8, guest_mac, 6), be32(a + 14, sip), memset(a + 18, 0, 6), be32(a + 24, tip);
    return n + 28;
}

size_t mk_udp(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport,
              const void *payload, size_t plen)
{
    eth(f, dip == 0xffffffff ? bcast : gw_mac, guest_mac, 0x0800);
    ipv4(f, sip, dip, 17, 8 + plen);
    uint8_t *u = f + 34;
    be16(u, sport), be16(u + 2, dport), be16(u + 4, (uint16_t)(8 + plen)), be16(u + 6, 0);
    memcpy(u + 8, payload, plen);
    uint16_t c = (uint16_t)~fold(sum16(pseudo(sip, dip, 17, 8 + plen), u, 8 + plen));
    be16(u + 6, c ? c : 0xffff);
    return 34 + 8 + plen;
}

size_t mk_dhcp_discover(uint8_t *f)
{
    uint8_t d[300] = {1, 1, 6, 0, 0x39, 0x03, 0xf3, 0x26};
    memcpy(d + 28, guest_mac, 6);
    be32(d + 236, 0x63825363);
    const uint8_t opts[] = {53, 1, 1, 55, 4, 1, 3, 6, 51, 255};
    memcpy(d + 240, opts, sizeof(opts));
    return mk_udp(f, 0, 0xffffffff, 68, 67, d, sizeof(d));
}

size_t mk_dns_query(uint8_t *f)
{
    const uint8_t q[] = {0x12, 0x34, 1,   0,   0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
                         'a',  'm',  'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
    return mk_udp(f, MK_GUEST_IP, MK_DNS_IP, 40000, 53, q, sizeof(q));
}

size_t mk_icmp_echo(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t seq, size_t plen)
{
    eth(f, gw_mac, guest_mac, 0x0800);
    ipv4(f, sip, dip, 1, 8 + plen);
    uint8_t *c = f + 34;
    c[0] = 8, c[1] = 0, be16(c + 2, 0), be16(c + 4, 0x77), be16(c + 6, seq);
    for (size_t i = 0; i < plen; i++)
        c[8 + i] = (uint8_t)i;
    be16(c + 2, (uint16_t)~fold(sum16(0, c, 8 + plen)));
    return 34 + 8 + plen;
}

size_t mk_tcp(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport, uint8_t flags,
              size_t plen, int partial)
{
    eth(f, gw_mac, guest_mac, 0x0800);
    ipv4(f, sip, dip, 6, 20 + plen);
    uint8_t *t = f + 34;
    memset(t, 0, 20);
    be16(t, sport), be16(t + 2, dport), be32(t + 4, 1000), be32(t + 8, flags & 0x10 ? 1 : 0);
    t[12] = 5 << 4, t[13] = flags, be16(t + 14, 64240);
    for (size_t i = 0; i < plen; i++)
        t[20 + i] = (uint8_t)(i * 7);
    uint32_t ps = pseudo(sip, dip, 6, 20 + plen);
    be16(t + 16, partial ? fold(ps) : (uint16_t)~fold(sum16(ps, t, 20 + plen)));
    return 54 + plen;
}

/* --- virtqueue seeds ---------------------------------------------------------------------------
 */

/* Layout in the 64 KiB RAM of fuzz_virtqueue (queues of at most 16 entries): rings at
 * 0x100/0x300/0x400, an indirect table at 0x600, buffers from 0x8000. The initial RAM image
 * is cut after its last non-zero byte. */
#define VQ_DESC  0x100
#define VQ_AVAIL 0x300
#define VQ_USED  0x400
#define VQ_IND   0x600
#define VQ_IMAGE 0x2000

static uint8_t vq_ram[VQ_IMAGE];

static void vq_desc(uint32_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    mk_vq_desc(vq_ram + table + 16 * i, addr, len, flags, next);
}

static void vq_avail(unsigned n, const uint16_t *heads, uint16_t idx)
{
    for (unsigned i = 0; i < n; i++)
        vq_ram[VQ_AVAIL + 4 + 2 * i] = (uint8_t)heads[i],
                                  vq_ram[VQ_AVAIL + 5 + 2 * i] = (uint8_t)(heads[i] >> 8);
    vq_ram[VQ_AVAIL + 2] = (uint8_t)idx, vq_ram[VQ_AVAIL + 3] = (uint8_t)(idx >> 8);
}

/* Header, RAM image, then: pop all, push all, drain (opcode 8). */
static void vq_emit(const char *name, uint8_t flags, uint16_t size, uint32_t desc)
{
    struct mk b = {0};
    mk_u8(&b, flags);
    if (flags & 4)
        mk_u16(&b, size);
    else
        mk_u8(&b, (uint8_t)__builtin_ctz(size ? size : 1));
    mk_u32(&b, desc), mk_u32(&b, VQ_AVAIL), mk_u32(&b, VQ_USED);
    uint16_t len = VQ_IMAGE;
    while (len && !vq_ram[len - 1])
        len--;
    mk_u16(&b, len), mk_bytes(&b, vq_ram, len);
    for (int i = 0; i < 4; i++)
        mk_u8(&b, 0); /* pop */
    mk_u8(&b, 6);     /* should_notify */
    for (int i = 0; i < 4; i++)
        mk_u8(&b, 1), mk_u8(&b, 0), mk_u32(&b, 0xffffffff); /* push with a huge length */
    mk_u8(&b, 8), mk_u32(&b, 64);                           /* drain */
    mk_save(&b, "virtqueue", name);
    free(b.p);
    memset(vq_ram, 0, sizeof(vq_ram));
}

struct vq_item {
    const char *name;
    void (*fill)(void);
    uint8_t flags; /* 1 EVENT_IDX, 2 INDIRECT, 4 raw size */
    uint16_t size;
    uint32_t desc;
};

static const uint16_t h0[] = {0}, h00[] = {0, 0, 0, 0}, h01[] = {0, 1};

static void f_valid(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 12, 1, 1), vq_desc(VQ_DESC, 1, 0x8100, 60, 0, 0);
    vq_desc(VQ_DESC, 2, 0x9000, 1526, 2, 0);
    const uint16_t h[] = {0, 2};
    vq_avail(2, h, 2);
}
static void f_indirect(void)
{
    vq_desc(VQ_DESC, 0, VQ_IND, 48, 4, 0);
    vq_desc(VQ_IND, 0, 0x8000, 12, 1, 1), vq_desc(VQ_IND, 1, 0x8100, 100, 1, 2);
    vq_desc(VQ_IND, 2, 0x9000, 2000, 2, 0);
    vq_avail(1, h0, 1);
}
static void f_self_loop(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 1, 0), vq_avail(1, h0, 1);
}
static void f_two_cycle(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 1, 1), vq_desc(VQ_DESC, 1, 0x8000, 64, 1, 0);
    vq_avail(1, h0, 1);
}
static void f_long_cycle(void)
{
    for (unsigned i = 0; i < 16; i++)
        vq_desc(VQ_DESC, i, 0x8000 + 64 * i, 64, 1 | (i >= 8 ? 2 : 0), (uint16_t)((i + 1) % 16));
    vq_avail(1, h0, 1);
}
static void f_longer_than_size(void)
{
    vq_desc(VQ_DESC, 0, VQ_IND, 16 * 64, 4, 0);
    for (unsigned i = 0; i < 64; i++)
        vq_desc(VQ_IND, i, 0x8000, 16, i < 63 ? 1 : 0, (uint16_t)(i + 1));
    vq_avail(1, h0, 1);
}
static void f_next_oob(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 1, 999), vq_avail(1, h0, 1);
}
static void f_avail_oob(void)
{
    const uint16_t h[] = {8, 0xffff};
    vq_desc(VQ_DESC, 0, 0x8000, 64, 0, 0), vq_avail(2, h, 2);
}
static void f_same_head(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 2, 0), vq_avail(4, h00, 4);
}
static void f_idx_jump(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 2, 0), vq_avail(1, h0, 8 + 5);
}
static void f_idx_back(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 2, 0), vq_avail(1, h0, 0xffff);
}
static void f_addr(uint64_t addr, uint32_t len)
{
    vq_desc(VQ_DESC, 0, addr, len, 2, 0), vq_avail(1, h0, 1);
}
static void f_addr0(void)
{
    f_addr(0, 64);
}
static void f_beyond(void)
{
    f_addr(0x10000, 64);
}
static void f_mmio(void)
{
    f_addr(0xd0000000, 0x100);
}
static void f_ring(void)
{
    f_addr(VQ_DESC, 128);
}
static void f_len0(void)
{
    f_addr(0x8000, 0);
}
static void f_lenmax(void)
{
    f_addr(0x8000, 0xffffffff);
}
static void f_overflow(void)
{
    f_addr(0xfffffffffffffff0ull, 0x20);
}
static void f_total_overflow(void)
{
    vq_desc(VQ_DESC, 0, VQ_IND, 16 * 512, 4, 0);
    for (unsigned i = 0; i < 512 && VQ_IND + 16 * i < VQ_IMAGE; i++)
        vq_desc(VQ_IND, i, 0, 0xffff, 2 | 1, (uint16_t)(i + 1));
    vq_avail(1, h0, 1);
}
static void f_order(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 2 | 1, 1), vq_desc(VQ_DESC, 1, 0x9000, 64, 0, 0);
    vq_avail(1, h0, 1);
}
static void f_ind(uint32_t len, uint16_t flags, uint64_t addr)
{
    vq_desc(VQ_DESC, 0, addr, len, flags, 1), vq_desc(VQ_DESC, 1, 0x9000, 64, 2, 0);
    vq_desc(VQ_IND, 0, VQ_IND, 16, 4, 0);
    vq_avail(1, h0, 1);
}
static void f_ind_nofeat(void)
{
    f_ind(16, 4, VQ_IND + 16);
}
static void f_ind_nested(void)
{
    f_ind(16, 4, VQ_IND);
}
static void f_ind_next(void)
{
    f_ind(16, 4 | 1, VQ_IND + 16);
}
static void f_ind_len0(void)
{
    f_ind(0, 4, VQ_IND);
}
static void f_ind_len17(void)
{
    f_ind(17, 4, VQ_IND);
}
static void f_ind_huge(void)
{
    f_ind(0x100000, 4, VQ_IND);
}
static void f_ind_outside(void)
{
    f_ind(64, 4, 0xfffff000);
}
static void f_used_event(void)
{
    vq_desc(VQ_DESC, 0, 0x8000, 64, 2, 0), vq_desc(VQ_DESC, 1, 0x8100, 64, 2, 0);
    vq_avail(2, h01, 2);
    vq_ram[VQ_AVAIL + 4 + 2 * 8] = 0xff, vq_ram[VQ_AVAIL + 5 + 2 * 8] = 0xff;
}

static const struct vq_item vq_items[] = {
    {"valid_tx_rx_chains", f_valid, 0, 8, VQ_DESC},
    {"valid_indirect_event_idx", f_indirect, 3, 8, VQ_DESC},
    {"split_circular_self_loop", f_self_loop, 0, 8, VQ_DESC},
    {"split_circular_two_cycle", f_two_cycle, 0, 8, VQ_DESC},
    {"split_circular_long_cycle", f_long_cycle, 0, 16, VQ_DESC},
    {"split_chain_longer_than_queue", f_longer_than_size, 2, 4, VQ_DESC},
    {"split_next_past_queue_size", f_next_oob, 0, 8, VQ_DESC},
    {"split_avail_entry_past_queue_size", f_avail_oob, 0, 8, VQ_DESC},
    {"split_same_head_posted_many_times", f_same_head, 0, 8, VQ_DESC},
    {"split_avail_idx_jump_past_size", f_idx_jump, 0, 8, VQ_DESC},
    {"split_avail_idx_backwards_wrapping", f_idx_back, 0, 8, VQ_DESC},
    {"split_desc_addr_zero", f_addr0, 0, 8, VQ_DESC},
    {"split_desc_beyond_ram", f_beyond, 0, 8, VQ_DESC},
    {"split_desc_in_mmio_space", f_mmio, 0, 8, VQ_DESC},
    {"split_desc_points_at_ring", f_ring, 0, 8, VQ_DESC},
    {"split_desc_len_zero", f_len0, 0, 8, VQ_DESC},
    {"split_desc_len_ffffffff", f_lenmax, 0, 8, VQ_DESC},
    {"split_desc_addr_len_overflow", f_overflow, 0, 8, VQ_DESC},
    {"split_chain_total_over_32_bits", f_total_overflow, 2, 8, VQ_DESC},
    {"split_readable_after_writable", f_order, 0, 8, VQ_DESC},
    {"split_indirect_without_feature", f_ind_nofeat, 0, 8, VQ_DESC},
    {"split_indirect_nested", f_ind_nested, 2, 8, VQ_DESC},
    {"split_indirect_with_next", f_ind_next, 2, 8, VQ_DESC},
    {"split_indirect_len_zero", f_ind_len0, 2, 8, VQ_DESC},
    {"split_indirect_len_not_multiple_16", f_ind_len17, 2, 8, VQ_DESC},
    {"split_indirect_huge", f_ind_huge, 2, 8, VQ_DESC},
    {"split_indirect_outside_ram", f_ind_outside, 2, 8, VQ_DESC},
    {"split_used_event_ffff", f_used_event, 1, 8, VQ_DESC},
    {"transport_ring_unaligned", f_valid, 0, 8, VQ_DESC + 4},
    {"transport_ring_outside_ram", f_valid, 0, 8, 0x20000},
    {"transport_ring_straddling_ram_end", f_valid, 0, 8, 0xfff0},
    {"transport_rings_overlapping", f_valid, 0, 8, VQ_AVAIL},
    {"transport_queue_num_zero", f_valid, 4, 0, VQ_DESC},
    {"transport_queue_num_not_power_of_two", f_valid, 4, 7, VQ_DESC},
    {"transport_queue_num_above_max", f_valid, 4, 2048, VQ_DESC},
};

static void mk_desc_changed_after_posting(void)
{
    struct mk b = {0};
    f_valid();
    mk_u8(&b, 0), mk_u8(&b, 3), mk_u32(&b, VQ_DESC), mk_u32(&b, VQ_AVAIL), mk_u32(&b, VQ_USED);
    mk_u16(&b, VQ_IMAGE), mk_bytes(&b, vq_ram, VQ_IMAGE);
    mk_u8(&b, 0);                                     /* pop head 0 */
    mk_u8(&b, 3), mk_u16(&b, VQ_DESC), mk_u8(&b, 32); /* the guest rewrites descriptors 0-1 */
    for (int i = 0; i < 32; i++)
        mk_u8(&b, 0xee);
    mk_u8(&b, 1), mk_u8(&b, 0), mk_u32(&b, 5000); /* push: length clamped to the copy's */
    mk_u8(&b, 8), mk_u32(&b, 1);
    mk_save(&b, "virtqueue", "split_desc_changed_after_posting");
    free(b.p);
    memset(vq_ram, 0, sizeof(vq_ram));
}

void mk_corpus_virtqueue(void)
{
    for (size_t i = 0; i < sizeof(vq_items) / sizeof(vq_items[0]); i++) {
        vq_items[i].fill();
        vq_emit(vq_items[i].name, vq_items[i].flags, vq_items[i].size, vq_items[i].desc);
    }
    mk_desc_changed_after_posting();
}

/* --- slirp seeds
 * ---------------------------------------------------------------------------------- */

/* One frame record: kind 0, a virtio-net header, length, bytes. */
static void sl_frame(struct mk *b, const uint8_t *hdr, const uint8_t *f, size_t n)
{
    mk_frame(b, 0, hdr, f, n);
}

/* The frame buffer the slirp seeds build in: later seeds reuse what earlier ones left in it
 * (the runt frames are the start of the UDP frame before them). */
static uint8_t sl_buf[70000];

/* Linux-like traffic, runts and fragments. */
static void sl_traffic(struct mk *b)
{
    uint8_t *f = sl_buf;
    size_t n;
    n = mk_dhcp_discover(f), sl_frame(b, NULL, f, n);
    n = mk_arp_request(f, MK_GUEST_IP, MK_GW_IP), sl_frame(b, NULL, f, n);
    n = mk_icmp_echo(f, MK_GUEST_IP, MK_GW_IP, 1, 56), sl_frame(b, NULL, f, n);
    n = mk_dns_query(f), sl_frame(b, NULL, f, n);
    mk_save(b, "slirp_glue", "linux_dhcp_arp_ping_dns");
    n = mk_tcp(f, MK_GUEST_IP, MK_GW_IP, 40000, 22, 0x02, 0, 0), sl_frame(b, NULL, f, n);
    n = mk_tcp(f, MK_GUEST_IP, MK_IP(93, 184, 216, 34), 40001, 80, 0x02, 0, 0);
    sl_frame(b, NULL, f, n);
    n = mk_udp(f, MK_GUEST_IP, MK_IP(192, 0, 2, 1), 40002, 9, "x", 1), sl_frame(b, NULL, f, n);
    mk_save(b, "slirp_glue", "linux_tcp_udp_outside_restricted");
    for (size_t len = 0; len < 20; len += 3)
        sl_frame(b, NULL, f, len);
    mk_save(b, "slirp_glue", "host_runt_frames");
    n = mk_udp(f, MK_GUEST_IP, MK_GW_IP, 40003, 7, f + 2000, 1200);
    f[14 + 6] = 0x20, f[14 + 7] = 0; /* MF, offset 0 */
    sl_frame(b, NULL, f, n);
    f[14 + 6] = 0x00, f[14 + 7] = 0x10; /* last fragment at offset 128 */
    sl_frame(b, NULL, f, n);
    mk_save(b, "slirp_glue", "host_fragmented_frames");
    /* The libslirp 4.7.0 crash net/slirp.c guards against: a last fragment alone. */
    n = mk_udp(f, MK_GUEST_IP, MK_GW_IP, 40003, 7, f + 2000, 1000);
    f[14 + 6] = 0x02, f[14 + 7] = 0x02;
    mk_ip_csum(f + 14, 20);
    sl_frame(b, NULL, f, n);
    mk_save(b, "slirp_glue", "regress_ipv4_lone_last_fragment");
}

/* Oversize and GSO frames, a NIC that refuses, the link going down. */
static void sl_host(struct mk *b)
{
    uint8_t *f = sl_buf;
    size_t n;
    memset(f, 0x5a, 16500), memcpy(f, bcast, 6);
    sl_frame(b, NULL, f, 16385);
    mk_save(b, "slirp_glue", "host_oversize_frame");
    /* A GSO frame the layer segments in software: 4000 bytes, MSS 1448, NEEDS_CSUM. */
    uint8_t h[12] = {1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0};
    n = mk_tcp(f, MK_GUEST_IP, MK_GW_IP, 40004, 5001, 0x18, 4000, 1);
    sl_frame(b, h, f, n);
    uint8_t bogus[12] = {1, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0};
    sl_frame(b, bogus, f, n);
    uint8_t mss0[12] = {1, 1, 54, 0, 0, 0, 34, 0, 16, 0, 0, 0};
    sl_frame(b, mss0, f, n);
    mk_save(b, "slirp_glue", "virtio_net_gso_and_bogus_headers");
    mk_u8(b, 2 | 0x10); /* the NIC refuses: answers queue up */
    for (int i = 0; i < 64; i++) {
        n = mk_icmp_echo(f, MK_GUEST_IP, MK_GW_IP, (uint16_t)i, 1000);
        sl_frame(b, NULL, f, n);
    }
    mk_u8(b, 2);
    mk_save(b, "slirp_glue", "host_flood_nic_full");
    mk_u8(b, 3 | 0x10);
    n = mk_dhcp_discover(f), sl_frame(b, NULL, f, n);
    mk_u8(b, 3);
    n = mk_dhcp_discover(f), sl_frame(b, NULL, f, n);
    mk_save(b, "slirp_glue", "host_link_down_during_traffic");
}

void mk_corpus_slirp_glue(void)
{
    struct mk b = {0};
    sl_traffic(&b);
    sl_host(&b);
    free(b.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    mk_corpus_virtqueue();
    mk_corpus_virtio_net();
    mk_corpus_e1000();
    mk_corpus_slirp_glue();
    mk_corpus_ipfrag();
    mk_corpus_socket_stream();
    return 0;
}
