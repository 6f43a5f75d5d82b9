/* Frame summaries: Ethernet II (one optional 802.1Q tag), ARP, IPv4 and IPv6 with TCP, UDP
 * (DHCP and DNS named) and ICMP. Only the first 128 bytes are looked at. */
#include "net/pktsum.h"
#include "vmm/iov.h"

#include <stdint.h>
#include <stdio.h>

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static const char *udp_name(unsigned sport, unsigned dport)
{
    if (sport == 67 || sport == 68 || dport == 67 || dport == 68)
        return " DHCP";
    if (sport == 53 || dport == 53)
        return " DNS";
    return "";
}

static void l4_summary(const uint8_t *l4, size_t n, unsigned proto, const char *src,
                       const char *dst, char *out, size_t outlen)
{
    if ((proto == 6 || proto == 17) && n >= 4) {
        unsigned sp = be16(l4), dp = be16(l4 + 2);
        if (proto == 6 && n >= 14) {
            unsigned f = l4[13];
            snprintf(out, outlen, "TCP %s:%u > %s:%u [%s%s%s%s%s]", src, sp, dst, dp,
                     f & 2 ? "S" : "", f & 16 ? "." : "", f & 8 ? "P" : "", f & 1 ? "F" : "",
                     f & 4 ? "R" : "");
        } else {
            snprintf(out, outlen, "UDP %s:%u > %s:%u%s", src, sp, dst, dp,
                     proto == 17 ? udp_name(sp, dp) : "");
        }
    } else if ((proto == 1 || proto == 58) && n >= 1) {
        unsigned t = l4[0];
        const char *what = t == 8 || t == 128   ? "echo request"
                           : t == 0 || t == 129 ? "echo reply"
                                                : "type";
        snprintf(out, outlen, "ICMP %s > %s %s %u", src, dst, what, t);
    } else {
        snprintf(out, outlen, "proto %u %s > %s", proto, src, dst);
    }
}

void pkt_summary(const struct iovec *iov, int iovcnt, size_t len, char *out, size_t outlen)
{
    uint8_t b[128];
    size_t n = iov_to_buf(iov, iovcnt, 0, b, len < sizeof(b) ? len : sizeof(b));
    if (n < 14) {
        snprintf(out, outlen, "runt (%zu bytes)", len);
        return;
    }
    size_t off = 12;
    unsigned type = be16(b + off);
    if (type == 0x8100 && n >= 18) {
        off += 4;
        type = be16(b + off);
    }
    off += 2;
    char src[48], dst[48], l4[160];
    if (type == 0x0806 && n >= off + 28) {
        snprintf(out, outlen, "ARP %s %u.%u.%u.%u tell %u.%u.%u.%u",
                 be16(b + off + 6) == 1 ? "who-has" : "reply", b[off + 24], b[off + 25],
                 b[off + 26], b[off + 27], b[off + 14], b[off + 15], b[off + 16], b[off + 17]);
    } else if (type == 0x0800 && n >= off + 20) {
        const uint8_t *ip = b + off;
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        snprintf(src, sizeof(src), "%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
        snprintf(dst, sizeof(dst), "%u.%u.%u.%u", ip[16], ip[17], ip[18], ip[19]);
        l4_summary(ip + ihl, ihl >= 20 && n > off + ihl ? n - off - ihl : 0, ip[9], src, dst, l4,
                   sizeof(l4));
        snprintf(out, outlen, "IPv4 %s, %zu bytes", l4, len);
    } else if (type == 0x86dd && n >= off + 40) {
        const uint8_t *ip = b + off;
        snprintf(src, sizeof(src), "[%x:%x::%x]", be16(ip + 8), be16(ip + 10), be16(ip + 22));
        snprintf(dst, sizeof(dst), "[%x:%x::%x]", be16(ip + 24), be16(ip + 26), be16(ip + 38));
        l4_summary(ip + 40, n > off + 40 ? n - off - 40 : 0, ip[6], src, dst, l4, sizeof(l4));
        snprintf(out, outlen, "IPv6 %s, %zu bytes", l4, len);
    } else {
        snprintf(out, outlen, "ethertype 0x%04x, %zu bytes", type, len);
    }
}
