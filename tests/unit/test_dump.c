/* Unit tests for filter-dump: realistic frames (ARP, UDP split across iovecs, a truncated
 * jumbo frame, both directions) written as pcap and pcapng, read back by the real tcpdump and,
 * for pcapng, by a parser here that checks the block structure, epb_flags and the vnet
 * comment; option errors; files that cannot be created or written. */
#include "net/dump.h"

#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const uint8_t mac_guest[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t mac_host[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
static const uint8_t ip_guest[4] = {10, 0, 2, 15};
static const uint8_t ip_host[4] = {10, 0, 2, 2};

#define ARP_LEN   42
#define UDP_LEN   60 /* 14 + 20 + 8 + 18 bytes of payload */
#define JUMBO_LEN 9000
#define TSO_LEN   (66 + 2 * 1448)

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t build_arp_request(uint8_t *f)
{
    memset(f, 0xff, 6); /* broadcast */
    memcpy(f + 6, mac_guest, 6);
    put_be16(f + 12, 0x0806);
    put_be16(f + 14, 1);      /* Ethernet */
    put_be16(f + 16, 0x0800); /* IPv4 */
    f[18] = 6;
    f[19] = 4;
    put_be16(f + 20, 1); /* request */
    memcpy(f + 22, mac_guest, 6);
    memcpy(f + 28, ip_guest, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, ip_host, 4);
    return ARP_LEN;
}

/* Ethernet + IPv4 header (20 bytes, DF, correct checksum) for a frame of `total` bytes;
 * returns the L4 header. */
static uint8_t *build_ipv4(uint8_t *f, size_t total, const uint8_t *dmac, const uint8_t *smac,
                           const uint8_t *dip, const uint8_t *sip, uint8_t proto)
{
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    put_be16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put_be16(ip + 2, (uint16_t)(total - 14));
    put_be16(ip + 4, 0x1234);
    put_be16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, sip, 4);
    memcpy(ip + 16, dip, 4);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put_be16(ip + 10, (uint16_t)~sum);
    return ip + 20;
}

static void fill_payload(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)("hello from nicvm!\n"[i % 18]);
}

/* An IPv4/UDP frame of `total` bytes with no UDP checksum (0, allowed for IPv4). */
static size_t build_udp(uint8_t *f, size_t total, const uint8_t *dmac, const uint8_t *smac,
                        const uint8_t *dip, const uint8_t *sip, uint16_t sport, uint16_t dport)
{
    uint8_t *udp = build_ipv4(f, total, dmac, smac, dip, sip, 17);
    put_be16(udp, sport);
    put_be16(udp + 2, dport);
    put_be16(udp + 4, (uint16_t)(total - 34));
    put_be16(udp + 6, 0);
    fill_payload(udp + 8, total - 42);
    return total;
}

/* A TSO frame as a guest builds it (guest -> host, 10.0.2.15:40002 -> 10.0.2.2:47002): 66
 * bytes of headers (TCP with NOP, NOP, timestamps) and two segments of 1448 bytes, the TCP
 * checksum left for the host (VIRTIO_NET_HDR_F_NEEDS_CSUM at csum_start 34 + 16). */
static size_t build_tso(uint8_t *f, size_t total)
{
    uint8_t *tcp = build_ipv4(f, total, mac_host, mac_guest, ip_host, ip_guest, 6);
    memset(tcp, 0, 32);
    put_be16(tcp, 40002);
    put_be16(tcp + 2, 47002);
    put_be16(tcp + 4, 0x1000); /* sequence 0x10000000 */
    put_be16(tcp + 8, 0x2000); /* ack 0x20000000 */
    tcp[12] = 8 << 4;          /* data offset: 32 bytes */
    tcp[13] = 0x18;            /* PSH, ACK */
    put_be16(tcp + 14, 502);
    static const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    memcpy(tcp + 20, opts, sizeof(opts));
    fill_payload(tcp + 32, total - 66);
    return total;
}

/* A temporary directory per test; Check runs each test in its own process. */
static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char path[128];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/nicvm-dump-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

static void tmp_cleanup(const char *name)
{
    unlink(tmp_path(name));
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static uint8_t buf[1 << 16];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static struct netdump *open_dump(const char *path, size_t maxlen, bool vnet_hdr)
{
    struct netdump_config c = {"d0", "n0", path, maxlen, vnet_hdr};
    char err[256] = "";
    struct netdump *d = netdump_open(&c, err, sizeof(err));
    ck_assert_msg(d != NULL, "netdump_open: %s", err);
    return d;
}

/* Writes the test traffic: ARP request (TX, one iovec), UDP reply (RX, three iovecs split at
 * odd offsets, plus stray bytes past len that must not be captured), a 9000-byte UDP frame
 * (TX) and a TSO frame with its virtio-net header (TX). */
static uint8_t jumbo[JUMBO_LEN], tso_frame[TSO_LEN];

static void write_traffic(struct netdump *d)
{
    static const struct virtio_net_hdr_v1 none;
    uint8_t arp[ARP_LEN], udp[UDP_LEN + 5];

    build_arp_request(arp);
    struct iovec a = {arp, ARP_LEN};
    netdump_frame(d, NETDEV_TX, &none, &a, 1, ARP_LEN);

    build_udp(udp, UDP_LEN, mac_guest, mac_host, ip_guest, ip_host, 47000, 40000);
    memset(udp + UDP_LEN, 0xee, 5);
    struct iovec u[3] = {{udp, 7}, {udp + 7, 31}, {udp + 38, UDP_LEN + 5 - 38}};
    netdump_frame(d, NETDEV_RX, &none, u, 3, UDP_LEN);

    build_udp(jumbo, JUMBO_LEN, mac_host, mac_guest, ip_host, ip_guest, 40001, 47001);
    struct iovec j = {jumbo, JUMBO_LEN};
    netdump_frame(d, NETDEV_TX, &none, &j, 1, JUMBO_LEN);

    struct virtio_net_hdr_v1 tso = {
        .flags = 1, .gso_type = 1, .hdr_len = htole16(66), .gso_size = htole16(1448)};
    tso.csum_start = htole16(34);
    tso.csum_offset = htole16(16);
    build_tso(tso_frame, TSO_LEN);
    struct iovec t[2] = {{tso_frame, 66}, {tso_frame + 66, TSO_LEN - 66}};
    netdump_frame(d, NETDEV_TX, &tso, t, 2, TSO_LEN);
}

/* Runs tcpdump -r FILE -nn -e -v; returns its output (stdout and stderr), asserting that it
 * exists and exits 0. */
static const char *tcpdump_read(const char *path)
{
    static const char *const candidates[] = {"/usr/bin/tcpdump", "/usr/sbin/tcpdump"};
    const char *bin = NULL;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && !bin; i++)
        if (access(candidates[i], X_OK) == 0)
            bin = candidates[i];
    ck_assert_msg(bin != NULL, "tcpdump is required to check the capture files and was not "
                               "found in /usr/bin or /usr/sbin (install the tcpdump package)");
    static char out[16384];
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s -r '%s' -nn -e -v 2>&1", bin, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (%d):\n%s", cmd, st, out);
    return out;
}

/* Asserts that each needle occurs in text after the previous one. */
static void expect_in_order(const char *text, const char *const *needles)
{
    const char *at = text;
    for (; *needles; needles++) {
        const char *hit = strstr(at, *needles);
        ck_assert_msg(hit != NULL, "'%s' not found (in order) in tcpdump output:\n%s", *needles,
                      text);
        at = hit + strlen(*needles);
    }
}

static void expect_tcpdump_traffic(const char *path)
{
    const char *out = tcpdump_read(path);
    static const char *const want[] = {
        /* With -e the "ARP, " prefix gives way to the ethertype. */
        "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Ethernet "
        "(len 6), IPv4 (len 4), Request who-has 10.0.2.2 tell 10.0.2.15, length 28",
        "52:55:0a:00:02:02 > 52:54:00:12:34:56, ethertype IPv4 (0x0800), length 60",
        "10.0.2.2.47000 > 10.0.2.15.40000: UDP, length 18",
        "52:54:00:12:34:56 > 52:55:0a:00:02:02, ethertype IPv4 (0x0800), length 9000",
        "length 8986",
        "10.0.2.15.40001 > 10.0.2.2.47001",
        "52:54:00:12:34:56 > 52:55:0a:00:02:02, ethertype IPv4 (0x0800), length 2962",
        "10.0.2.15.40002 > 10.0.2.2.47002: Flags [P.]",
        NULL};
    expect_in_order(out, want);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

START_TEST(test_pcap_traffic)
{
    const char *path = tmp_path("cap.pcap");
    struct netdump *d = open_dump(path, 128, false);
    write_traffic(d);
    ck_assert_uint_eq(netdump_frames(d), 4);
    netdump_close(d);
    expect_tcpdump_traffic(path);

    /* The records themselves: lengths, gathered bytes, timestamps. */
    size_t len;
    const uint8_t *b = read_file(path, &len);
    ck_assert_uint_eq(get32(b), 0xa1b2c3d4u);
    ck_assert_uint_eq(get16(b + 4), 2);
    ck_assert_uint_eq(get16(b + 6), 4);
    ck_assert_uint_eq(get32(b + 16), 128);
    ck_assert_uint_eq(get32(b + 20), 1);
    static const uint32_t caplen[] = {ARP_LEN, UDP_LEN, 128, 128};
    static const uint32_t origlen[] = {ARP_LEN, UDP_LEN, JUMBO_LEN, TSO_LEN};
    size_t off = 24;
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_le(off + 16, len);
        uint32_t sec = get32(b + off), usec = get32(b + off + 4);
        ck_assert_uint_le((uint32_t)labs((long)time(NULL) - (long)sec), 5);
        ck_assert_uint_lt(usec, 1000000);
        ck_assert_uint_eq(get32(b + off + 8), caplen[i]);
        ck_assert_uint_eq(get32(b + off + 12), origlen[i]);
        if (i == 2)
            ck_assert_mem_eq(b + off + 16, jumbo, 128);
        off += 16 + caplen[i];
    }
    ck_assert_uint_eq(off, len);
    uint8_t udp[UDP_LEN];
    build_udp(udp, UDP_LEN, mac_guest, mac_host, ip_guest, ip_host, 47000, 40000);
    ck_assert_mem_eq(b + 24 + 16 + ARP_LEN + 16, udp, UDP_LEN);
    tmp_cleanup("cap.pcap");
}
END_TEST

/* One parsed pcapng EPB. */
struct epb {
    uint32_t caplen, origlen, flags;
    uint64_t ts;
    const uint8_t *data;
    char comment[256];
};

/* Walks a block's options (3.5): every option padded to 32 bits, ending with opt_endofopt
 * exactly at the end. Calls back for each; returns nothing, asserts the layout. */
static void walk_options(const uint8_t *p, size_t len, struct epb *e, uint8_t *tsresol, bool is_idb)
{
    size_t off = 0;
    for (;;) {
        ck_assert_uint_le(off + 4, len);
        uint16_t code = get16(p + off), olen = get16(p + off + 2);
        ck_assert_uint_le(off + 4 + (size_t)((olen + 3) & ~3), len);
        const uint8_t *v = p + off + 4;
        off += 4 + (size_t)((olen + 3) & ~3);
        if (code == 0) {
            ck_assert_uint_eq(olen, 0);
            ck_assert_uint_eq(off, len);
            return;
        }
        for (size_t i = olen; i < (size_t)((olen + 3) & ~3); i++)
            ck_assert_uint_eq(v[i], 0); /* padding is zero */
        if (is_idb && code == 9) {
            ck_assert_uint_eq(olen, 1);
            *tsresol = v[0];
        } else if (e && code == 2) {
            ck_assert_uint_eq(olen, 4);
            e->flags = get32(v);
        } else if (e && code == 1) {
            ck_assert_uint_lt(olen, sizeof(e->comment));
            memcpy(e->comment, v, olen);
            e->comment[olen] = '\0';
        }
    }
}

/* Parses the whole file: SHB, one IDB (snaplen, if_tsresol), then EPBs. Returns the EPBs. */
static int parse_pcapng(const uint8_t *b, size_t len, uint32_t snaplen, struct epb *epbs, int max)
{
    size_t off = 0;
    int n = 0, idbs = 0;
    uint8_t tsresol = 6;
    while (off < len) {
        ck_assert_uint_le(off + 12, len);
        uint32_t type = get32(b + off), blen = get32(b + off + 4);
        ck_assert_uint_eq(blen % 4, 0);
        ck_assert_uint_le(off + blen, len);
        ck_assert_uint_eq(get32(b + off + blen - 4), blen); /* trailing total length */
        const uint8_t *body = b + off + 8;
        size_t bodylen = blen - 12;
        if (off == 0) {
            ck_assert_uint_eq(type, 0x0a0d0d0au);
            ck_assert_uint_eq(get32(body), 0x1a2b3c4du);
            ck_assert_uint_eq(get16(body + 4), 1);
            ck_assert_uint_eq(get16(body + 6), 0);
            walk_options(body + 16, bodylen - 16, NULL, NULL, false);
        } else if (type == 1) {
            idbs++;
            ck_assert_uint_eq(get16(body), 1); /* LINKTYPE_ETHERNET */
            ck_assert_uint_eq(get32(body + 4), snaplen);
            walk_options(body + 8, bodylen - 8, NULL, &tsresol, true);
            ck_assert_uint_eq(tsresol, 9);
        } else {
            ck_assert_uint_eq(type, 6);
            ck_assert_int_eq(idbs, 1);
            ck_assert_int_lt(n, max);
            struct epb *e = &epbs[n++];
            memset(e, 0, sizeof(*e));
            ck_assert_uint_eq(get32(body), 0);
            e->ts = (uint64_t)get32(body + 4) << 32 | get32(body + 8);
            e->caplen = get32(body + 12);
            e->origlen = get32(body + 16);
            e->data = body + 20;
            size_t padded = (e->caplen + 3) & ~3u;
            ck_assert_uint_le(20 + padded, bodylen);
            walk_options(body + 20 + padded, bodylen - 20 - padded, e, NULL, false);
        }
        off += blen;
    }
    ck_assert_uint_eq(off, len);
    return n;
}

START_TEST(test_pcapng_traffic)
{
    const char *path = tmp_path("cap.pcapng");
    struct netdump *d = open_dump(path, 128, true);
    write_traffic(d);
    ck_assert_uint_eq(netdump_frames(d), 4);
    netdump_close(d);
    expect_tcpdump_traffic(path);

    size_t len;
    const uint8_t *b = read_file(path, &len);
    struct epb e[8];
    ck_assert_int_eq(parse_pcapng(b, len, 128, e, 8), 4);
    static const uint32_t caplen[] = {ARP_LEN, UDP_LEN, 128, 128};
    static const uint32_t origlen[] = {ARP_LEN, UDP_LEN, JUMBO_LEN, TSO_LEN};
    static const uint32_t dir[] = {2, 1, 2, 2}; /* TX outbound, RX inbound */
    uint64_t now = (uint64_t)time(NULL) * 1000000000u;
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(e[i].caplen, caplen[i]);
        ck_assert_uint_eq(e[i].origlen, origlen[i]);
        ck_assert_uint_eq(e[i].flags, dir[i]);
        ck_assert_uint_le(e[i].ts > now ? e[i].ts - now : now - e[i].ts, 5000000000ull);
    }
    ck_assert_str_eq(e[0].comment, "vnet flags=0x0 gso_type=0 hdr_len=0 gso_size=0 "
                                   "csum_start=0 csum_offset=0 num_buffers=0");
    ck_assert_str_eq(e[3].comment, "vnet flags=0x1 gso_type=1 hdr_len=66 gso_size=1448 "
                                   "csum_start=34 csum_offset=16 num_buffers=0");
    ck_assert_mem_eq(e[2].data, jumbo, 128);
    ck_assert_mem_eq(e[3].data, tso_frame, 128);
    uint8_t udp[UDP_LEN];
    build_udp(udp, UDP_LEN, mac_guest, mac_host, ip_guest, ip_host, 47000, 40000);
    ck_assert_mem_eq(e[1].data, udp, UDP_LEN);
    tmp_cleanup("cap.pcapng");
}
END_TEST

START_TEST(test_pcapng_without_header_and_ignored_frames)
{
    const char *path = tmp_path("cap.pcapng");
    struct netdump *d = open_dump(path, 65535, true);
    uint8_t arp[ARP_LEN];
    build_arp_request(arp);
    struct iovec a = {arp, ARP_LEN};
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    netdump_frame(d, NETDEV_TX, NULL, &a, 1, 0);       /* empty frame */
    netdump_frame(d, NETDEV_TX, NULL, &a, 0, ARP_LEN); /* no iovecs */
    netdump_frame(d, NETDEV_TX, NULL, NULL, 0, 0);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    ck_assert_uint_eq(netdump_frames(d), 0);
    /* No header at all: the block has epb_flags only. */
    netdump_frame(d, NETDEV_RX, NULL, &a, 1, ARP_LEN);
    ck_assert_uint_eq(netdump_frames(d), 1);
    netdump_close(d);
    size_t len;
    const uint8_t *b = read_file(path, &len);
    struct epb e[2];
    ck_assert_int_eq(parse_pcapng(b, len, 65535, e, 2), 1);
    ck_assert_uint_eq(e[0].flags, 1);
    ck_assert_str_eq(e[0].comment, "");
    ck_assert_mem_eq(e[0].data, arp, ARP_LEN);
    ck_assert_ptr_nonnull(strstr(tcpdump_read(path), "Request who-has 10.0.2.2 tell 10.0.2.15"));
    tmp_cleanup("cap.pcapng");
}
END_TEST

static void expect_parse(const char *text, int want, const char *needle)
{
    char err[256] = "";
    struct opts *o = opts_parse(text, NULL, err, sizeof(err));
    ck_assert_msg(o != NULL, "%s: %s", text, err);
    struct netdump_config c;
    int r = netdump_parse(o, &c, err, sizeof(err));
    ck_assert_msg(r == want, "%s: %d (%s)", text, r, err);
    if (needle)
        ck_assert_msg(strstr(err, needle) != NULL, "%s: '%s' not in '%s'", text, needle, err);
    opts_free(o);
}

START_TEST(test_parse)
{
    char err[256];
    struct opts *o = opts_parse("id=d0,netdev=n0,file=/tmp/x.pcap", NULL, err, sizeof(err));
    struct netdump_config c;
    ck_assert_int_eq(netdump_parse(o, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.id, "d0");
    ck_assert_str_eq(c.netdev, "n0");
    ck_assert_str_eq(c.file, "/tmp/x.pcap");
    ck_assert_uint_eq(c.maxlen, 65535);
    ck_assert(!c.vnet_hdr);
    opts_free(o);
    o = opts_parse("id=d,netdev=n,file=f,maxlen=0x100,vnet_hdr", NULL, err, sizeof(err));
    ck_assert_int_eq(netdump_parse(o, &c, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.maxlen, 256);
    ck_assert(c.vnet_hdr);
    ck_assert_int_eq(opts_check_unused(o, "filter-dump", err, sizeof(err)), 0);
    opts_free(o);

    expect_parse("id=d,netdev=n,file=f,maxlen=64,vnet_hdr=off", 0, NULL);
    expect_parse("id=d,netdev=n,file=f,maxlen=262144,vnet_hdr=on", 0, NULL);
    expect_parse("netdev=n,file=f", -EINVAL, "filter-dump: id= is required");
    expect_parse("id=d,file=f", -EINVAL, "filter-dump: netdev= is required");
    expect_parse("id=d,netdev=n", -EINVAL, "filter-dump: file= is required");
    expect_parse("id=d,netdev=n,file=", -EINVAL, "filter-dump: file= is required");
    expect_parse("id=d,netdev=n,file=f,maxlen=63", -EINVAL, "filter-dump: maxlen=63");
    expect_parse("id=d,netdev=n,file=f,maxlen=262145", -EINVAL, "maxlen=262145");
    expect_parse("id=d,netdev=n,file=f,maxlen=big", -EINVAL, "maxlen=big");
    expect_parse("id=d,netdev=n,file=f,vnet_hdr=maybe", -EINVAL, "filter-dump: vnet_hdr=maybe");
}
END_TEST

START_TEST(test_cannot_create)
{
    struct netdump_config c = {"d0", "n0", "/nonexistent-nicvm-dir/cap.pcap", 65535, false};
    char err[256] = "";
    ck_assert_ptr_null(netdump_open(&c, err, sizeof(err)));
    ck_assert_msg(strstr(err, "/nonexistent-nicvm-dir/cap.pcap") != NULL, "%s", err);
    ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL, "%s", err);
    /* /dev/full takes the open but not the header: the capture fails at startup. */
    c.file = "/dev/full";
    c.vnet_hdr = true;
    ck_assert_ptr_null(netdump_open(&c, err, sizeof(err)));
    ck_assert_msg(strstr(err, "/dev/full") != NULL, "%s", err);
    ck_assert_msg(strstr(err, strerror(ENOSPC)) != NULL, "%s", err);
    netdump_close(NULL);
}
END_TEST

/* stderr into a pipe for the duration, to check what log_err printed (a pipe, as the file
 * size limit of the test below would cut a file short). */
static int stderr_saved = -1, stderr_pipe[2];

static void stderr_capture(void)
{
    ck_assert_int_eq(pipe(stderr_pipe), 0);
    stderr_saved = dup(STDERR_FILENO);
    ck_assert_int_eq(dup2(stderr_pipe[1], STDERR_FILENO), STDERR_FILENO);
    close(stderr_pipe[1]);
}

static size_t stderr_restore(char *out, size_t max)
{
    dup2(stderr_saved, STDERR_FILENO);
    close(stderr_saved);
    ssize_t n = read(stderr_pipe[0], out, max - 1);
    close(stderr_pipe[0]);
    n = n < 0 ? 0 : n;
    out[n] = '\0';
    return (size_t)n;
}

START_TEST(test_write_failure_stops)
{
    /* The file size limit makes the file full mid-record: the first frame gets a partial
     * write then EFBIG, as a full disk would give a partial write then ENOSPC. */
    const char *path = tmp_path("full.pcap");
    char cap_path[128];
    snprintf(cap_path, sizeof(cap_path), "%s", path);
    struct netdump *d = open_dump(cap_path, 65535, false);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 24 + 30;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

    stderr_capture();
    uint8_t arp[ARP_LEN];
    build_arp_request(arp);
    struct iovec a = {arp, ARP_LEN};
    for (int i = 0; i < 5; i++)
        netdump_frame(d, i & 1 ? NETDEV_RX : NETDEV_TX, NULL, &a, 1, ARP_LEN);
    char log[1024];
    size_t len = stderr_restore(log, sizeof(log));
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_sig);

    ck_assert_uint_eq(netdump_frames(d), 0);
    netdump_close(d);
    ck_assert_msg(len > 0 && strchr(log, '\n') == log + len - 1, "want one line: %s", log);
    ck_assert_msg(strstr(log, cap_path) != NULL, "%s", log);
    ck_assert_msg(strstr(log, strerror(EFBIG)) != NULL, "%s", log);
    /* What reached the file before the error is cut mid-record; the header is whole. */
    const uint8_t *b = read_file(cap_path, &len);
    ck_assert_uint_eq(len, 24 + 30);
    ck_assert_uint_eq(get32(b), 0xa1b2c3d4u);
    tmp_cleanup("full.pcap");
}
END_TEST

static Suite *dump_suite(void)
{
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pcap_traffic);
    tcase_add_test(tc, test_pcapng_traffic);
    tcase_add_test(tc, test_pcapng_without_header_and_ignored_frames);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_cannot_create);
    tcase_add_test(tc, test_write_failure_stops);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(dump_suite)
