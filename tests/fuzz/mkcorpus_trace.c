/* Seed corpus generator, trace part: the frames net/pktsum.c summarises, one or more per
 * branch it has (ARP request and reply, IPv4 and IPv6 with TCP, UDP with DHCP, DNS and
 * neither, ICMP and ICMPv6 echo and other types, other protocols, one 802.1Q tag, headers
 * cut short at each check, runts, other ethertypes), for the fuzz_e1000 and fuzz_virtio_net
 * seeds that run with packet tracing on. */
#include "tests/fuzz/mkcorpus.h"

#include <string.h>

static uint8_t tf[2000];

/* An IPv6 frame fe80::15 > ff02::1 (RFC 8200 section 3) with next header nh and l4len bytes
 * of l4 after the fixed header. Returns the length. */
static size_t tr_ipv6(uint8_t *f, uint8_t nh, const uint8_t *l4, size_t l4len)
{
    static const uint8_t eth[14] = {0x33, 0x33, 0,    0,    0,    1,    0x52,
                                    0x54, 0,    0x12, 0x34, 0x56, 0x86, 0xdd};
    uint8_t *ip = f + 14;
    memcpy(f, eth, sizeof(eth));
    memset(ip, 0, 40);
    ip[0] = 0x60, ip[4] = (uint8_t)(l4len >> 8), ip[5] = (uint8_t)l4len, ip[6] = nh, ip[7] = 64;
    ip[8] = 0xfe, ip[9] = 0x80, ip[23] = 0x15, ip[24] = 0xff, ip[25] = 0x02, ip[39] = 1;
    memcpy(ip + 40, l4, l4len);
    return 54 + l4len;
}

/* The IPv6 branch: TCP, UDP (DNS), ICMPv6 echo request, reply and another type, a header
 * with nothing after it, and one cut short. */
static void tr_ipv6_frames(struct mk *b, mk_emit_fn *emit)
{
    static const uint8_t tcp[20] = {0x9c, 0x40, 0, 22, 0, 0, 3, 0xe8, 0, 0, 0, 0, 0x50, 0x12};
    static const uint8_t udp[12] = {0x9c, 0x41, 0, 53, 0, 12, 0, 0, 0x12, 0x34, 1, 0};
    uint8_t icmp[8] = {128, 0, 0, 0, 0, 0x77, 0, 1};
    size_t n;
    n = tr_ipv6(tf, 6, tcp, sizeof(tcp)), emit(b, tf, n);
    n = tr_ipv6(tf, 17, udp, sizeof(udp)), emit(b, tf, n);
    for (unsigned i = 0; i < 3; i++) {
        static const uint8_t types[3] = {128, 129, 135};
        icmp[0] = types[i];
        n = tr_ipv6(tf, 58, icmp, sizeof(icmp)), emit(b, tf, n);
    }
    n = tr_ipv6(tf, 59, NULL, 0), emit(b, tf, n); /* no next header: nothing after it */
    emit(b, tf, n - 1);                           /* the fixed header cut short */
}

/* The IPv4 branch: UDP (DHCP, DNS, neither), TCP flags, ICMP types, other protocols, IHLs
 * under 20 and past the frame, L4 headers and the IPv4 header cut short. */
static void tr_ipv4_frames(struct mk *b, mk_emit_fn *emit)
{
    size_t n;
    n = mk_dhcp_discover(tf), emit(b, tf, n); /* longer than the 128 bytes looked at */
    n = mk_dns_query(tf), emit(b, tf, n);
    n = mk_udp(tf, MK_GUEST_IP, MK_IP(192, 0, 2, 1), 40002, 9, "x", 1), emit(b, tf, n);
    emit(b, tf, 34 + 3); /* under 4 bytes of UDP: the "proto" line */
    n = mk_tcp(tf, MK_GUEST_IP, MK_GW_IP, 40000, 22, 0x02, 0, 0), emit(b, tf, n);
    n = mk_tcp(tf, MK_GW_IP, MK_GUEST_IP, 22, 40000, 0x1f, 100, 0), emit(b, tf, n);
    emit(b, tf, 34 + 13); /* TCP cut before its flags byte */
    n = mk_icmp_echo(tf, MK_GW_IP, MK_GUEST_IP, 1, 56), emit(b, tf, n);
    tf[34] = 0, emit(b, tf, n);                 /* echo reply */
    tf[34] = 3, emit(b, tf, n);                 /* destination unreachable */
    emit(b, tf, 34);                            /* no ICMP byte */
    tf[23] = 47, emit(b, tf, n);                /* GRE: another protocol */
    tf[14] = 0x42, emit(b, tf, n);              /* IHL 8 bytes */
    tf[14] = 0x4f, emit(b, tf, 14 + 50);        /* IHL 60 past the bytes there */
    tf[14] = 0x46, tf[23] = 17, emit(b, tf, n); /* options, then UDP */
    emit(b, tf, 14 + 19);                       /* the IPv4 header cut short */
}

void mk_trace_frames(struct mk *b, mk_emit_fn *emit)
{
    size_t n = mk_arp_request(tf, MK_GUEST_IP, MK_GW_IP);
    emit(b, tf, n);
    tf[21] = 2, emit(b, tf, n); /* ARP reply (opcode, RFC 826) */
    emit(b, tf, n - 1);         /* ARP cut short */
    memmove(tf + 16, tf + 12, n - 12), tf[12] = 0x81, tf[13] = 0, tf[14] = 0, tf[15] = 5;
    emit(b, tf, n + 4); /* ARP behind an 802.1Q tag (VID 5) */
    emit(b, tf, 17);    /* the tag cut short */
    tr_ipv4_frames(b, emit);
    n = mk_udp(tf, MK_GUEST_IP, MK_GW_IP, 40003, 7, "vlan", 4);
    memmove(tf + 16, tf + 12, n - 12), tf[12] = 0x81, tf[13] = 0, tf[14] = 0x20, tf[15] = 5;
    emit(b, tf, n + 4); /* tagged UDP, priority 1 */
    tr_ipv6_frames(b, emit);
    tf[12] = 0x88, tf[13] = 0xcc, emit(b, tf, 60); /* LLDP: another ethertype */
    emit(b, tf, 13), emit(b, tf, 0);               /* runts */
}
