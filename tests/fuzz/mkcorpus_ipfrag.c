/* Seeds for fuzz_ipfrag (records of its operation format, see fuzz_ipfrag.c: the target builds
 * the frames) for each case of IPv4 reassembly: in order, reversed, options, overlaps with
 * the same and with different bytes, duplicates, the ping of death and the 65535-byte limit,
 * the lone last fragment, the timeout, eviction by slots and by bytes, inconsistent ends,
 * damaged headers; and slirp_glue seeds whose fragments complete, so that libslirp gets the
 * reassembled datagrams (ping and UDP, in and out of order, up to 65535 bytes). */
#include "tests/fuzz/mkcorpus.h"

#include <stdlib.h>
#include <string.h>

/* fuzz_ipfrag opcodes and its time steps (indices into its table). */
enum { OP_FRAG = 0, OP_TIME = 5, OP_EXPIRE = 6, OP_WHOLE = 7 };
enum { STEP_MS = 2, STEP_S = 3, STEP_TIMEOUT_1 = 4, STEP_TIMEOUT = 5, STEP_TIMEOUT1 = 6 };
#define MF 0x2000u

/* A FRAG record: payload bytes [off, off + plen) of datagram key; hdr: IHL - 5 and damage;
 * mode: 0 the datagram's bytes, 2 other bytes, 3 one byte flipped (the caller adds where). */
static void frag(struct mk *b, uint8_t key, uint32_t off, uint16_t plen, int more, uint8_t hdr,
                 uint8_t mode)
{
    mk_u8(b, OP_FRAG), mk_u8(b, key), mk_u16(b, (uint16_t)(off / 8 | (more ? MF : 0)));
    mk_u16(b, plen), mk_u8(b, hdr), mk_u8(b, mode);
}

/* A WHOLE record: total payload bytes of key in fragments of 8 * (units + 1) bytes. */
static void whole(struct mk *b, uint8_t key, uint16_t total, uint8_t units, uint8_t order,
                  uint8_t ihl5)
{
    mk_u8(b, OP_WHOLE), mk_u8(b, key), mk_u16(b, total), mk_u8(b, units), mk_u8(b, order);
    mk_u8(b, ihl5);
}

static void tick(struct mk *b, uint8_t step)
{
    mk_u8(b, OP_TIME), mk_u8(b, step);
}

static void ordered(struct mk *b)
{
    frag(b, 0, 0, 1480, 1, 0, 0), frag(b, 0, 1480, 1480, 1, 0, 0), frag(b, 0, 2960, 40, 0, 0, 0);
    whole(b, 1, 4000, 184, 0, 0);
    mk_save(b, "ipfrag", "in_order");
    frag(b, 0, 2960, 40, 0, 0, 0), frag(b, 0, 1480, 1480, 1, 0, 0), frag(b, 0, 0, 1480, 1, 0, 0);
    whole(b, 1, 4000, 184, 1, 0);
    mk_save(b, "ipfrag", "reverse_order");
    frag(b, 2, 1480, 1480, 1, 0, 0), frag(b, 2, 0, 1480, 1, 10, 0), frag(b, 2, 2960, 1, 0, 0, 0);
    whole(b, 3, 9000, 0xff, 2, 10), whole(b, 4, 3001, 7, 3, 3);
    frag(b, 5, 0, 8, 1, 0, 0), frag(b, 5, 16, 8, 0, 0, 0), frag(b, 5, 8, 8, 1, 0, 0); /* a hole */
    mk_save(b, "ipfrag", "out_of_order_with_options");
    for (uint8_t order = 0; order < 8; order++)
        whole(b, order, (uint16_t)(1 + 997 * order), order * 11, order, order);
    mk_save(b, "ipfrag", "whole_datagrams_every_order");
}

static void overlaps(struct mk *b)
{
    frag(b, 0, 0, 1600, 1, 0, 0), frag(b, 0, 800, 1600, 1, 0, 0), frag(b, 0, 1600, 1400, 0, 0, 0);
    mk_save(b, "ipfrag", "overlap_same_bytes");
    frag(b, 0, 0, 1600, 1, 0, 0), frag(b, 0, 800, 1600, 1, 0, 2);
    frag(b, 1, 0, 1600, 1, 0, 0), frag(b, 1, 0, 1600, 1, 0, 3), mk_u16(b, 1599);
    frag(b, 2, 8, 13, 0, 0, 0), frag(b, 2, 8, 13, 0, 0, 3), mk_u16(b, 12);
    mk_save(b, "ipfrag", "overlap_different_bytes");
    frag(b, 0, 0, 8, 1, 0, 0), frag(b, 0, 0, 8, 1, 0, 0), frag(b, 0, 8, 8, 0, 0, 0);
    frag(b, 0, 8, 8, 0, 0, 0); /* after completion: a new datagram */
    whole(b, 1, 5000, 99, 4, 0), whole(b, 2, 5000, 99, 5, 0);
    mk_save(b, "ipfrag", "duplicates");
}

static void limits(struct mk *b)
{
    /* The ping of death: offset 65528 and 1000 bytes, past 65535. */
    frag(b, 2, 0, 1480, 1, 0, 0), frag(b, 2, 0x1fff * 8, 1000, 0, 0, 0);
    frag(b, 2, 0x1fff * 8, 8, 1, 0, 0);
    whole(b, 3, 65515, 183, 1, 0); /* the largest datagram */
    /* Fits with a 20-byte header, not once the first fragment brings 60. */
    frag(b, 4, 8, 65507, 0, 0, 0), frag(b, 4, 0, 8, 1, 10, 0);
    mk_save(b, "ipfrag", "ping_of_death_and_65535_limit");
    frag(b, 5, 258 * 8, 1000, 0, 0, 0), tick(b, STEP_TIMEOUT_1), mk_u8(b, OP_EXPIRE);
    tick(b, STEP_MS), mk_u8(b, OP_EXPIRE);
    mk_save(b, "ipfrag", "regress_ipv4_lone_last_fragment");
    frag(b, 6, 0, 8, 1, 0, 0), tick(b, STEP_TIMEOUT_1), frag(b, 6, 8, 8, 0, 0, 0);
    frag(b, 7, 0, 8, 1, 0, 0), tick(b, STEP_TIMEOUT), frag(b, 7, 8, 8, 0, 0, 0);
    tick(b, STEP_TIMEOUT1), mk_u8(b, OP_EXPIRE);
    mk_save(b, "ipfrag", "timeout");
    for (uint8_t k = 0; k < 20; k++)
        frag(b, k, 0, 8, 1, 0, 0), tick(b, 0);
    for (uint8_t k = 0; k < 4; k++)
        frag(b, k, 8, 8, 0, 0, 0);
    frag(b, 19, 8, 8, 0, 0, 0);
    mk_save(b, "ipfrag", "table_full_lru_eviction");
    for (uint8_t k = 0; k < 16; k++)
        frag(b, k, 0, 65512, 1, 0, 0);
    frag(b, 15, 65512, 3, 0, 0, 0);
    mk_save(b, "ipfrag", "held_bytes_limit");
}

static void malformed(struct mk *b)
{
    frag(b, 8, 8, 8, 0, 0, 0), frag(b, 8, 16, 8, 1, 0, 0);   /* past the end */
    frag(b, 9, 0, 24, 1, 0, 0), frag(b, 9, 8, 8, 0, 0, 0);   /* ends before held data */
    frag(b, 10, 8, 8, 0, 0, 0), frag(b, 10, 8, 16, 0, 0, 0); /* two ends */
    mk_save(b, "ipfrag", "inconsistent_ends");
    frag(b, 11, 0, 100, 1, 1 << 4, 0);                    /* checksum */
    frag(b, 11, 0, 100, 1, 2 << 4, 0);                    /* version 6 */
    frag(b, 11, 0, 100, 1, 3 << 4, 0), mk_u16(b, 0xffff); /* total length past the frame */
    frag(b, 11, 0, 100, 1, 3 << 4, 0), mk_u16(b, 20);     /* no payload */
    frag(b, 11, 0, 100, 1, 4 << 4, 0);                    /* IPv6 EtherType: passed */
    frag(b, 11, 0, 100, 1, 5 << 4, 0), mk_u16(b, 30);     /* cut in the header */
    frag(b, 11, 0, 100, 1, 5 << 4, 0), mk_u16(b, 60);     /* cut in the payload */
    frag(b, 11, 0, 100, 1, 6 << 4, 0), mk_u16(b, 2);      /* IHL 2 */
    frag(b, 11, 0, 13, 1, 0, 0);                          /* MF, not a multiple of 8 */
    frag(b, 11, 0, 96, 1, 7 << 4, 0), mk_u16(b, 40);      /* padding after the datagram */
    frag(b, 11, 96, 4, 0, 0, 0);
    mk_u8(b, OP_FRAG), mk_u8(b, 12), mk_u16(b, 0x4000), mk_u16(b, 64), mk_u8(b, 0), mk_u8(b, 0);
    mk_save(b, "ipfrag", "damaged_headers_and_non_fragments");
}

/* --- slirp_glue: datagrams that complete ---------------------------------------------------- */

static uint8_t whole_buf[70000], frag_buf[1600];

/* The frame of bytes [off, off + len) of the datagram in w (Ethernet, 20-byte IPv4 header,
 * wlen bytes in all), as a fragment record of kind 0. */
static void sl_fragment(struct mk *b, const uint8_t *w, size_t wlen, size_t off, size_t len)
{
    uint8_t *f = frag_buf;
    size_t plen = wlen - 34;
    memcpy(f, w, 34), memcpy(f + 34, w + 34 + off, len);
    uint16_t field = (uint16_t)(off / 8 | (off + len < plen ? MF : 0)); /* DF cleared */
    f[16] = (uint8_t)((20 + len) >> 8), f[17] = (uint8_t)(20 + len);
    f[20] = (uint8_t)(field >> 8), f[21] = (uint8_t)field;
    mk_ip_csum(f + 14, 20);
    mk_frame(b, 0, NULL, f, 34 + len);
}

/* The datagram in w in fragments of size payload bytes, forward or backward; dup sends the
 * second fragment twice. */
static void sl_split(struct mk *b, size_t wlen, size_t size, int backward, int dup)
{
    size_t plen = wlen - 34, n = (plen + size - 1) / size;
    for (size_t j = 0; j < n; j++) {
        size_t i = backward ? n - 1 - j : j, len = plen - i * size < size ? plen - i * size : size;
        sl_fragment(b, whole_buf, wlen, i * size, len);
        if (dup && i == 1)
            sl_fragment(b, whole_buf, wlen, i * size, len);
    }
}

static void slirp_reassembled(struct mk *b)
{
    uint8_t pl[3000];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)(i * 3);
    size_t n = mk_icmp_echo(whole_buf, MK_GUEST_IP, MK_GW_IP, 1, 4000);
    sl_split(b, n, 1480, 0, 0);
    n = mk_icmp_echo(whole_buf, MK_GUEST_IP, MK_GW_IP, 2, 4000);
    sl_split(b, n, 1480, 1, 1);
    mk_save(b, "slirp_glue", "reass_ping_4000_in_order_reversed_duplicate");
    n = mk_udp(whole_buf, MK_GUEST_IP, MK_GW_IP, 40005, 7, pl, sizeof(pl));
    sl_split(b, n, 1480, 1, 0);
    n = mk_udp(whole_buf, MK_GUEST_IP, MK_DNS_IP, 40006, 53, pl, sizeof(pl));
    sl_split(b, n, 512, 0, 1);
    mk_save(b, "slirp_glue", "reass_udp_gateway_and_dns");
    n = mk_icmp_echo(whole_buf, MK_GUEST_IP, MK_GW_IP, 3, 65507); /* IPv4 total 65535 */
    sl_split(b, n, 1480, 0, 0);
    mk_save(b, "slirp_glue", "reass_ping_65535_bytes");
}

void mk_corpus_ipfrag(void)
{
    struct mk b = {0};
    ordered(&b);
    overlaps(&b);
    limits(&b);
    malformed(&b);
    slirp_reassembled(&b);
    free(b.p);
}
