/* The fake guest network toolkit of fakenet.h, frames: byte access and checksums, frame
 * builders and parsers. The TCP endpoint, fake NIC and fake guest are in fakenet_guest.c. */
#include "tests/common/fakenet.h"
#include "tests/common/fakenet_priv.h"

#include "net/offload.h"

#include <arpa/inet.h>
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

const uint8_t fn_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define DHCP_BOOTP_LEN 548 /* a full BOOTP message: 236 fixed bytes + 312 of options */
#define DHCP_MAGIC     0x63825363u
#define DHCP_CLIENT    68
#define DHCP_SERVER    67

/* --- bytes and checksums ------------------------------------------------------------------ */

uint16_t fn_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t fn_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void fn_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void fn_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t fn_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
    uint8_t ph[12];
    fn_put32(ph, src);
    fn_put32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    fn_put16(ph + 10, (uint16_t)l4len);
    return offload_csum_add(0, ph, sizeof(ph));
}

uint16_t fn_csum_naive(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = sum;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

void fn_vnet_csum(struct virtio_net_hdr_v1 *h, uint16_t csum_start, uint16_t csum_offset)
{
    memset(h, 0, sizeof(*h));
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->gso_type = VIRTIO_NET_HDR_GSO_NONE;
    h->csum_start = htole16(csum_start);
    h->csum_offset = htole16(csum_offset);
}

/* Fills the L4 checksum field at l4 + field of an l4len-byte segment as mode says. */
void fn_fill_l4_csum(uint8_t *l4, size_t l4len, size_t field, uint32_t pseudo, enum fn_csum mode)
{
    fn_put16(l4 + field, 0);
    uint16_t c;
    switch (mode) {
    case FN_CSUM_PARTIAL: c = (uint16_t)pseudo; break; /* fn_pseudo_sum is folded */
    case FN_CSUM_ZERO: c = 0; break;
    default:
        c = offload_csum_fold(offload_csum_add(pseudo, l4, l4len));
        if (c == 0)
            c = 0xffff; /* UDP's "no checksum" is 0: send the other zero */
        if (mode == FN_CSUM_BAD)
            c ^= 0x0100;
        break;
    }
    fn_put16(l4 + field, c);
}

/* --- building frames ---------------------------------------------------------------------- */

size_t fn_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    fn_put16(f + 12, type);
    return FN_ETH_HLEN;
}

static size_t fn_arp(uint8_t *f, size_t cap, uint16_t op, const uint8_t eth_dst[6],
                     const struct fn_addr *src, const uint8_t tha[6], uint32_t tpa)
{
    if (cap < FN_ETH_HLEN + 28)
        return 0;
    fn_eth(f, eth_dst, src->mac, FN_ETH_P_ARP);
    uint8_t *a = f + FN_ETH_HLEN;
    fn_put16(a, 1);          /* Ethernet */
    fn_put16(a + 2, 0x0800); /* IPv4 */
    a[4] = 6;
    a[5] = 4;
    fn_put16(a + 6, op);
    memcpy(a + 8, src->mac, 6);
    fn_put32(a + 14, src->ip);
    memcpy(a + 18, tha, 6);
    fn_put32(a + 24, tpa);
    return FN_ETH_HLEN + 28;
}

size_t fn_arp_request(uint8_t *f, size_t cap, const struct fn_addr *src, uint32_t target_ip)
{
    static const uint8_t zero[6];
    return fn_arp(f, cap, FN_ARP_REQUEST, fn_broadcast, src, zero, target_ip);
}

size_t fn_arp_reply(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst)
{
    return fn_arp(f, cap, FN_ARP_REPLY, dst->mac, src, dst->mac, dst->ip);
}

size_t fn_ipv4(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
               uint8_t proto, uint16_t id, size_t l4len)
{
    if (cap < FN_L4_OFF || l4len > cap - FN_L4_OFF || FN_IP_HLEN + l4len > 0xffff)
        return 0;
    fn_eth(f, dst->mac, src->mac, FN_ETH_P_IP);
    uint8_t *ip = f + FN_ETH_HLEN;
    ip[0] = 0x45;
    ip[1] = 0;
    fn_put16(ip + 2, (uint16_t)(FN_IP_HLEN + l4len));
    fn_put16(ip + 4, id);
    fn_put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    fn_put16(ip + 10, 0);
    fn_put32(ip + 12, src->ip);
    fn_put32(ip + 16, dst->ip);
    fn_put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, FN_IP_HLEN)));
    return FN_L4_OFF + l4len;
}

uint16_t fn_next_ip_id(void)
{
    static uint16_t id = 0x1000;
    return id++;
}

size_t fn_udp(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
              const void *payload, size_t plen, enum fn_csum mode)
{
    size_t l4len = FN_UDP_HLEN + plen;
    size_t n = fn_ipv4(f, cap, src, dst, FN_PROTO_UDP, fn_next_ip_id(), l4len);
    if (!n)
        return 0;
    uint8_t *u = f + FN_L4_OFF;
    fn_put16(u, src->port);
    fn_put16(u + 2, dst->port);
    fn_put16(u + 4, (uint16_t)l4len);
    if (plen)
        memcpy(u + FN_UDP_HLEN, payload, plen);
    fn_fill_l4_csum(u, l4len, 6, fn_pseudo_sum(src->ip, dst->ip, FN_PROTO_UDP, l4len), mode);
    return n;
}

size_t fn_icmp_echo(uint8_t *f, size_t cap, const struct fn_addr *src, const struct fn_addr *dst,
                    uint8_t type, uint16_t id, uint16_t seq, const void *payload, size_t plen)
{
    size_t l4len = 8 + plen;
    size_t n = fn_ipv4(f, cap, src, dst, FN_PROTO_ICMP, fn_next_ip_id(), l4len);
    if (!n)
        return 0;
    uint8_t *c = f + FN_L4_OFF;
    c[0] = type;
    c[1] = 0;
    fn_put16(c + 2, 0);
    fn_put16(c + 4, id);
    fn_put16(c + 6, seq);
    if (plen)
        memcpy(c + 8, payload, plen);
    fn_put16(c + 2, offload_csum_fold(offload_csum_add(0, c, l4len)));
    return n;
}

size_t fn_dhcp_client(uint8_t *f, size_t cap, const uint8_t mac[6], uint8_t msg_type, uint32_t xid,
                      uint32_t requested_ip, uint32_t server_id)
{
    uint8_t b[DHCP_BOOTP_LEN];
    memset(b, 0, sizeof(b));
    b[0] = 1; /* BOOTREQUEST */
    b[1] = 1; /* Ethernet */
    b[2] = 6;
    fn_put32(b + 4, xid);
    fn_put16(b + 10, 0x8000); /* broadcast replies: we have no address yet */
    memcpy(b + 28, mac, 6);
    fn_put32(b + 236, DHCP_MAGIC);
    uint8_t *o = b + 240;
    *o++ = 53;
    *o++ = 1;
    *o++ = msg_type;
    if (requested_ip) {
        *o++ = 50;
        *o++ = 4;
        fn_put32(o, requested_ip);
        o += 4;
    }
    if (server_id) {
        *o++ = 54;
        *o++ = 4;
        fn_put32(o, server_id);
        o += 4;
    }
    static const uint8_t params[] = {55, 4, 1, 3, 6, 51};
    memcpy(o, params, sizeof(params));
    o += sizeof(params);
    *o = 255;
    struct fn_addr src = {.ip = 0, .port = DHCP_CLIENT},
                   dst = {.ip = 0xffffffffu, .port = DHCP_SERVER};
    memcpy(src.mac, mac, 6);
    memcpy(dst.mac, fn_broadcast, 6);
    return fn_udp(f, cap, &src, &dst, b, sizeof(b), FN_CSUM_FULL);
}

/* --- parsing frames ----------------------------------------------------------------------- */

static bool parse_l4(struct fn_pkt *p)
{
    const uint8_t *l4 = p->frame + p->l4_off;
    size_t n = p->l4_len;
    uint32_t pseudo = fn_pseudo_sum(p->saddr, p->daddr, p->proto, n);
    switch (p->proto) {
    case FN_PROTO_UDP: {
        if (n < FN_UDP_HLEN)
            return false;
        size_t ulen = fn_get16(l4 + 4);
        if (ulen < FN_UDP_HLEN || ulen > n)
            return false;
        p->sport = fn_get16(l4);
        p->dport = fn_get16(l4 + 2);
        p->data = l4 + FN_UDP_HLEN;
        p->data_len = ulen - FN_UDP_HLEN;
        p->l4_csum_ok = fn_get16(l4 + 6) != 0 &&
                        offload_csum_fold(offload_csum_add(
                            fn_pseudo_sum(p->saddr, p->daddr, p->proto, ulen), l4, ulen)) == 0;
        return true;
    }
    case FN_PROTO_TCP: {
        if (n < FN_TCP_HLEN)
            return false;
        size_t thl = (size_t)(l4[12] >> 4) * 4;
        if (thl < FN_TCP_HLEN || thl > n)
            return false;
        p->sport = fn_get16(l4);
        p->dport = fn_get16(l4 + 2);
        p->seq = fn_get32(l4 + 4);
        p->ack = fn_get32(l4 + 8);
        p->tcp_flags = l4[13];
        p->window = fn_get16(l4 + 14);
        for (size_t i = FN_TCP_HLEN; i < thl;) { /* options: only MSS is of interest */
            uint8_t kind = l4[i];
            if (kind == 0)
                break;
            if (kind == 1) {
                i++;
                continue;
            }
            if (i + 1 >= thl || l4[i + 1] < 2 || i + l4[i + 1] > thl)
                break;
            if (kind == 2 && l4[i + 1] == 4)
                p->mss = fn_get16(l4 + i + 2);
            i += l4[i + 1];
        }
        p->data = l4 + thl;
        p->data_len = n - thl;
        p->l4_csum_ok = offload_csum_fold(offload_csum_add(pseudo, l4, n)) == 0;
        return true;
    }
    case FN_PROTO_ICMP:
        if (n < 8)
            return false;
        p->icmp_type = l4[0];
        p->icmp_code = l4[1];
        p->icmp_id = fn_get16(l4 + 4);
        p->icmp_seq = fn_get16(l4 + 6);
        p->data = l4 + 8;
        p->data_len = n - 8;
        p->l4_csum_ok = offload_csum_fold(offload_csum_add(0, l4, n)) == 0;
        return true;
    default: return false;
    }
}

bool fn_parse(const uint8_t *f, size_t len, struct fn_pkt *p)
{
    memset(p, 0, sizeof(*p));
    p->frame = f;
    p->len = len;
    if (len < FN_ETH_HLEN)
        return false;
    memcpy(p->dst, f, 6);
    memcpy(p->src, f + 6, 6);
    p->type = fn_get16(f + 12);
    const uint8_t *b = f + FN_ETH_HLEN;
    size_t n = len - FN_ETH_HLEN;
    if (p->type == FN_ETH_P_ARP) {
        if (n >= 28 && fn_get16(b) == 1 && fn_get16(b + 2) == 0x0800 && b[4] == 6 && b[5] == 4) {
            p->arp = true;
            p->arp_op = fn_get16(b + 6);
            memcpy(p->arp_sha, b + 8, 6);
            p->arp_spa = fn_get32(b + 14);
            memcpy(p->arp_tha, b + 18, 6);
            p->arp_tpa = fn_get32(b + 24);
        }
        return true;
    }
    if (p->type != FN_ETH_P_IP || n < FN_IP_HLEN || b[0] >> 4 != 4)
        return true;
    size_t ihl = (size_t)(b[0] & 0xf) * 4;
    size_t tot = fn_get16(b + 2);
    if (ihl < FN_IP_HLEN || ihl > n || tot < ihl || tot > n)
        return true;
    p->ip = true;
    p->l3 = FN_ETH_HLEN;
    p->ip_hlen = ihl;
    p->ip_len = (uint16_t)tot;
    p->ip_id = fn_get16(b + 4);
    p->ip_frag = fn_get16(b + 6) & 0x3fff;
    p->ttl = b[8];
    p->proto = b[9];
    p->saddr = fn_get32(b + 12);
    p->daddr = fn_get32(b + 16);
    p->ip_csum_ok = offload_csum_fold(offload_csum_add(0, b, ihl)) == 0;
    if (p->ip_frag == 0) {
        p->l4_off = FN_ETH_HLEN + ihl;
        p->l4_len = tot - ihl;
        p->l4 = parse_l4(p);
    }
    return true;
}

bool fn_dhcp_parse(const struct fn_pkt *p, struct fn_dhcp *d)
{
    memset(d, 0, sizeof(*d));
    if (!p->l4 || p->proto != FN_PROTO_UDP || p->sport != DHCP_SERVER || p->dport != DHCP_CLIENT ||
        p->data_len < 240)
        return false;
    const uint8_t *b = p->data;
    if (b[0] != 2 || fn_get32(b + 236) != DHCP_MAGIC)
        return false;
    d->xid = fn_get32(b + 4);
    d->yiaddr = fn_get32(b + 16);
    memcpy(d->chaddr, b + 28, 6);
    for (size_t i = 240; i < p->data_len;) {
        uint8_t code = b[i];
        if (code == 255)
            break;
        if (code == 0) {
            i++;
            continue;
        }
        if (i + 1 >= p->data_len || i + 2 + b[i + 1] > p->data_len)
            return false;
        uint8_t olen = b[i + 1];
        const uint8_t *v = b + i + 2;
        if (code == 53 && olen >= 1)
            d->msg_type = v[0];
        else if (olen >= 4 && code == 1)
            d->mask = fn_get32(v);
        else if (olen >= 4 && code == 3)
            d->router = fn_get32(v);
        else if (olen >= 4 && code == 6)
            d->dns = fn_get32(v);
        else if (olen >= 4 && code == 51)
            d->lease = fn_get32(v);
        else if (olen >= 4 && code == 54)
            d->server_id = fn_get32(v);
        i += 2u + olen;
    }
    return d->msg_type != 0;
}

int fn_free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}
