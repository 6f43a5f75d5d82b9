/* fuzz_ipfrag: IPv4 reassembly (net/ipfrag.c) driven directly with fragments the target
 * builds from the input's choices (structure-aware: key, offset and flags, length, header
 * damage, payload pattern, time), checked against a reference model written byte by byte
 * (a payload array and a "written" bitmap per datagram) where the module works in 8-byte
 * blocks, with the same acceptance rules: checks in the order of RFC 791 section 3.2 plus
 * the module's limits (overlaps with different bytes drop the datagram, LRU eviction by slot
 * and byte budget, a fixed timeout from the first fragment).
 *
 * Input: operations (fz_run_ops), opcode % 8:
 *   0-4 FRAG: u8 key, u16 flags and offset field, u16 payload length, u8 header (bits 0-3:
 *       IHL - 5, bits 4-7: damage), u8 payload mode, [u16 flipped byte], [u16 damage
 *       argument]: one frame
 *   5   TIME: u8 step, [u32 microseconds]: the clock advances
 *   6   EXPIRE: ipfrag_expire now
 *   7   WHOLE: u8 key, u16 payload length, u8 fragment size / 8 - 1, u8 order, u8 IHL - 5:
 *       a whole datagram in at most 64 fragments, in the order chosen
 * Oracles after each frame: the result and drop reason the model gives; a completed datagram
 * has a valid IPv4 header (version, IHL, checksum, total length = IHL * 4 + payload <= 65535,
 * MF and offset clear, the rest the first fragment's) and exactly the payload the accepted
 * fragments wrote. After each operation: every counter equal to the model's, bytes held <=
 * IPFRAG_MAX_HELD, datagrams <= IPFRAG_MAX_DATAGRAMS, the next expiry the model's and, after
 * an expire, later than now. */
#include "net/ipfrag.h"
#include "tests/fuzz/fuzz_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS   24 /* more than the slots, keys differing in one field at a time */
#define ETH     14
#define MAXDGRM 65536
#define T0      1000000000ull

/* The model's byte loops are not what the fuzzer should steer by, and their coverage
 * callbacks cost most of the time: clang leaves them uninstrumented. */
#ifdef __clang__
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

/* One datagram of the model, per key. */
struct mdgram {
    bool live, last_seen;
    uint8_t hlen; /* the first accepted offset-0 fragment's header length, 0 before */
    uint64_t born, touched;
    uint32_t held, max_end, total;
    uint8_t hdr[ETH + 60];
    uint8_t data[MAXDGRM];
    uint8_t written[MAXDGRM / 8];
};

static struct model {
    struct mdgram d[NKEYS];
    uint64_t stamp;
    struct ipfrag_stats st; /* what the module's counters must be */
} M;

/* One fragment as the model reads it. */
struct mfrag {
    unsigned hlen;
    uint32_t off, end;
    bool more;
    const uint8_t *eth, *pl;
};

/* What a FRAG operation builds. */
struct fspec {
    unsigned k, ihl, damage;
    uint16_t field, arg;
    uint32_t plen;
    uint8_t variant; /* payload pattern: 0 the datagram's own bytes */
    int32_t flip;    /* payload byte (fragment-relative) changed, -1 none */
};

struct fz_ipfrag {
    struct ipfrag *t;
    uint64_t now;
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

/* RFC 1071 checksum of an even number of bytes: 0 over a header with a correct one. */
static uint16_t ip_sum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* The payload bytes [off, off + n) of key k: a fixed sequence (2 * 64 KiB, as far as an
 * offset of 65528 and 65535 bytes reach), XORed with a byte each key and variant have; any
 * other variant differs at every byte. */
NO_COVERAGE static void pattern(uint8_t *dst, unsigned k, uint32_t off, uint32_t n, uint8_t variant)
{
    static uint8_t seq[2 * MAXDGRM];
    if (!seq[1])
        for (uint32_t p = 0; p < sizeof(seq); p++)
            seq[p] = (uint8_t)((p * 131u) ^ (p >> 7));
    uint8_t x = (uint8_t)(k * 37u ^ variant * 101u);
    for (uint32_t i = 0; i < n; i++)
        dst[i] = seq[off + i] ^ x;
}

/* --- the model ---------------------------------------------------------------------------- */

static void m_release(struct mdgram *d)
{
    M.st.held_bytes -= d->held;
    M.st.in_progress--;
    d->live = false;
}

static void m_drop(struct mdgram *d, enum ipfrag_drop why)
{
    M.st.dropped[why]++;
    m_release(d);
}

static struct mdgram *m_lru(const struct mdgram *keep)
{
    struct mdgram *lru = NULL;
    for (unsigned k = 0; k < NKEYS; k++)
        if (M.d[k].live && &M.d[k] != keep && (!lru || M.d[k].touched < lru->touched))
            lru = &M.d[k];
    return lru;
}

static int m_expire(uint64_t now)
{
    int n = 0;
    for (unsigned k = 0; k < NKEYS; k++)
        if (M.d[k].live && now - M.d[k].born >= IPFRAG_TIMEOUT_NS)
            m_drop(&M.d[k], IPFRAG_DROP_TIMEOUT), n++;
    return n;
}

/* Returns -1 for a valid fragment, else the drop reason. */
static int m_parse(const uint8_t *f, size_t len, struct mfrag *fr)
{
    const uint8_t *ip = f + ETH;
    unsigned hlen = (ip[0] & 15u) * 4, tot = rd16(ip + 2);
    if (ip[0] >> 4 != 4 || hlen < 20 || hlen > len - ETH || tot <= hlen || tot > len - ETH)
        return IPFRAG_DROP_HEADER;
    if (ip_sum(ip, hlen) != 0)
        return IPFRAG_DROP_CSUM;
    *fr =
        (struct mfrag){hlen, (rd16(ip + 6) & 0x1fffu) * 8, 0, rd16(ip + 6) & 0x2000, f, ip + hlen};
    fr->end = fr->off + tot - hlen;
    if (fr->end + hlen > 65535)
        return IPFRAG_DROP_OVERSIZE;
    if (fr->more && (tot - hlen) % 8)
        return IPFRAG_DROP_ALIGN;
    return -1;
}

static struct mdgram *m_get(unsigned k, uint64_t now)
{
    struct mdgram *d = &M.d[k];
    if (d->live)
        return d;
    if (M.st.in_progress == IPFRAG_MAX_DATAGRAMS)
        m_drop(m_lru(NULL), IPFRAG_DROP_EVICTED);
    d->live = true, d->last_seen = false, d->hlen = 0, d->born = now;
    d->held = d->max_end = d->total = 0;
    memset(d->written, 0, sizeof(d->written));
    M.st.in_progress++;
    return d;
}

/* Returns -1 if fr fits what d knows, else the drop reason. */
static int m_check(const struct mdgram *d, const struct mfrag *fr)
{
    if (d->last_seen && (fr->end > d->total || (!fr->more && fr->end != d->total)))
        return IPFRAG_DROP_INCONSISTENT;
    if (!d->last_seen && !fr->more && fr->end < d->max_end)
        return IPFRAG_DROP_INCONSISTENT;
    unsigned hlen = fr->off == 0 ? fr->hlen : d->hlen;
    if (hlen + (fr->end > d->max_end ? fr->end : d->max_end) > 65535)
        return IPFRAG_DROP_OVERSIZE;
    return -1;
}

/* Byte by byte (8 at a time where their bits agree): a written byte must come again
 * unchanged. Returns -1 or the drop reason. */
NO_COVERAGE static int m_store(struct mdgram *d, const struct mfrag *fr, uint32_t *added)
{
    *added = 0;
    for (uint32_t p = fr->off, n; p < fr->end; p += n) {
        const uint8_t *src = fr->pl + (p - fr->off);
        uint8_t *w = &d->written[p / 8], bit = (uint8_t)(1u << (p % 8));
        bool eight = p % 8 == 0 && fr->end - p >= 8 && (*w == 0 || *w == 0xff);
        n = eight ? 8 : 1;
        if (*w & bit) {
            if (memcmp(d->data + p, src, n) != 0)
                return IPFRAG_DROP_OVERLAP;
            continue;
        }
        memcpy(d->data + p, src, n);
        *w |= eight ? 0xff : bit;
        d->held += n, M.st.held_bytes += n, *added += n;
    }
    return -1;
}

/* Gives up the least recently used datagrams but keep while need more bytes would pass the
 * budget. */
static void m_make_room(const struct mdgram *keep, uint32_t need)
{
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS && M.st.held_bytes + need > IPFRAG_MAX_HELD; i++) {
        struct mdgram *lru = m_lru(keep);
        if (!lru)
            return;
        m_drop(lru, IPFRAG_DROP_EVICTED);
    }
}

/* The model's result for frame f of key k; *done is the completed datagram. */
static enum ipfrag_result m_input(unsigned k, const uint8_t *f, size_t len, uint64_t now,
                                  enum ipfrag_drop *why, struct mdgram **done)
{
    struct mfrag fr = {0};
    if (len < ETH + 20 || rd16(f + 12) != 0x0800 || !(rd16(f + ETH + 6) & 0x3fff))
        return IPFRAG_PASS;
    m_expire(now);
    M.st.fragments++;
    int r = m_parse(f, len, &fr);
    struct mdgram *d = NULL;
    uint32_t added = 0;
    if (r < 0) {
        d = m_get(k, now);
        d->touched = ++M.stamp;
        r = m_check(d, &fr);
    }
    if (r < 0) {
        m_make_room(d, fr.end - fr.off);
        r = m_store(d, &fr, &added);
    }
    if (r >= 0) {
        if (d)
            m_release(d);
        M.st.dropped[r]++;
        *why = (enum ipfrag_drop)r;
        return IPFRAG_DROPPED;
    }
    if (fr.off == 0 && d->hlen == 0)
        d->hlen = (uint8_t)fr.hlen, memcpy(d->hdr, f, ETH + fr.hlen);
    if (!fr.more)
        d->last_seen = true, d->total = fr.end;
    if (fr.end > d->max_end)
        d->max_end = fr.end;
    M.st.held++, M.st.duplicates += added == 0;
    if (!d->last_seen || !d->hlen || d->held != d->total)
        return IPFRAG_HELD;
    M.st.reassembled++;
    m_release(d);
    *done = d;
    return IPFRAG_COMPLETE;
}

/* --- oracles ------------------------------------------------------------------------------ */

/* The completed frame against the model's datagram d. */
NO_COVERAGE static void check_complete(const struct ipfrag_out *out, const struct mdgram *d)
{
    const uint8_t *ip = out->frame + ETH;
    unsigned hlen = d->hlen;
    if (out->len != ETH + hlen + d->total || hlen + d->total > 65535)
        fz_fail("complete: %zu bytes, model %u + %u", out->len, hlen, d->total);
    if (ip[0] != (0x40 | hlen / 4) || rd16(ip + 2) != hlen + d->total)
        fz_fail("complete: version/IHL %#x, total length %u", ip[0], rd16(ip + 2));
    if ((rd16(ip + 6) & 0xbfff) != 0 || ip_sum(ip, hlen) != 0)
        fz_fail("complete: flags/offset %#x or bad checksum", rd16(ip + 6));
    if ((rd16(ip + 6) ^ rd16(d->hdr + ETH + 6)) & 0x4000)
        fz_fail("complete: DF changed");
    /* The rest of the headers is the first fragment's. */
    if (memcmp(out->frame, d->hdr, ETH + 2) || memcmp(ip + 4, d->hdr + ETH + 4, 2) ||
        memcmp(ip + 8, d->hdr + ETH + 8, 2) || memcmp(ip + 12, d->hdr + ETH + 12, hlen - 12))
        fz_fail("complete: headers differ from the first fragment's");
    /* The model completes at held == total: every byte below total written once. */
    if (memcmp(ip + hlen, d->data, d->total) != 0)
        for (uint32_t p = 0; p < d->total; p++)
            if (ip[hlen + p] != d->data[p])
                fz_fail("complete: payload byte %u is %#x, model %#x", p, ip[hlen + p], d->data[p]);
}

static void check_stats(const struct fz_ipfrag *s)
{
    const struct ipfrag_stats *st = ipfrag_stats(s->t);
    if (st->in_progress > IPFRAG_MAX_DATAGRAMS || st->held_bytes > IPFRAG_MAX_HELD)
        fz_fail("%u datagrams, %u bytes held", st->in_progress, st->held_bytes);
    if (st->fragments != M.st.fragments || st->held != M.st.held ||
        st->duplicates != M.st.duplicates || st->reassembled != M.st.reassembled ||
        st->in_progress != M.st.in_progress || st->held_bytes != M.st.held_bytes)
        fz_fail("counters: fragments %llu/%llu held %llu/%llu dup %llu/%llu done %llu/%llu "
                "datagrams %u/%u bytes %u/%u (module/model)",
                (unsigned long long)st->fragments, (unsigned long long)M.st.fragments,
                (unsigned long long)st->held, (unsigned long long)M.st.held,
                (unsigned long long)st->duplicates, (unsigned long long)M.st.duplicates,
                (unsigned long long)st->reassembled, (unsigned long long)M.st.reassembled,
                st->in_progress, M.st.in_progress, st->held_bytes, M.st.held_bytes);
    for (int r = 0; r < IPFRAG_DROP_REASONS; r++)
        if (st->dropped[r] != M.st.dropped[r])
            fz_fail("dropped %s: %llu, model %llu", ipfrag_drop_name(r),
                    (unsigned long long)st->dropped[r], (unsigned long long)M.st.dropped[r]);
    uint64_t next = UINT64_MAX;
    for (unsigned k = 0; k < NKEYS; k++)
        if (M.d[k].live && M.d[k].born + IPFRAG_TIMEOUT_NS < next)
            next = M.d[k].born + IPFRAG_TIMEOUT_NS;
    if (ipfrag_next_expiry(s->t) != next)
        fz_fail("next expiry %llu, model %llu", (unsigned long long)ipfrag_next_expiry(s->t),
                (unsigned long long)next);
}

/* --- frames --------------------------------------------------------------------------------- */

/* Builds the frame of sp (one exact-size heap buffer, so ASan sees reads past it); *len. */
static uint8_t *build(const struct fspec *sp, size_t *len)
{
    unsigned hlen = sp->ihl * 4, k = sp->k;
    size_t n = ETH + hlen + sp->plen, pad = sp->damage == 7 ? (sp->arg & 0xff) : 0;
    uint8_t *f = malloc(n + pad);
    if (!f)
        fz_fail("out of memory");
    static const uint8_t macs[12] = {0x52, 0x55, 10, 0, 2, 2, 0x52, 0x54, 0, 0x12, 0x34, 0x56};
    memcpy(f, macs, 12), wr16(f + 12, sp->damage == 4 ? 0x86dd : 0x0800);
    uint8_t *ip = f + ETH;
    memset(ip, 1, hlen); /* NOP options */
    ip[0] = (uint8_t)(0x40 | sp->ihl), ip[1] = 0, wr16(ip + 2, hlen + sp->plen);
    wr16(ip + 4, 0x4000 + (k >> 3)), wr16(ip + 6, sp->field), ip[8] = 64;
    ip[9] = k & 4 ? 6 : 17, wr16(ip + 10, 0);
    wr16(ip + 12, 0x0a00), wr16(ip + 14, 0x020f + (k & 1));
    wr16(ip + 16, 0x0a00), wr16(ip + 18, 0x0202 + ((k >> 1) & 1));
    uint32_t off = (sp->field & 0x1fffu) * 8;
    pattern(ip + hlen, k, off, sp->plen, sp->variant);
    if (sp->flip >= 0)
        ip[hlen + sp->flip] ^= 1;
    memset(ip + hlen + sp->plen, 0xee, pad);
    if (sp->damage == 2)
        ip[0] = (uint8_t)(0x60 | sp->ihl);
    if (sp->damage == 3)
        wr16(ip + 2, sp->arg);
    if (sp->damage == 6)
        ip[0] = (uint8_t)(0x40 | (sp->arg & 3));
    wr16(ip + 10, ip_sum(ip, hlen));
    if (sp->damage == 1)
        ip[11] ^= 1;
    *len = n + pad;
    if (sp->damage == 5) { /* cut short, in a buffer of exactly that size */
        *len = sp->arg % (n + 1);
        uint8_t *cut = realloc(f, *len ? *len : 1);
        if (!cut)
            fz_fail("out of memory");
        f = cut;
    }
    return f;
}

/* Feeds one frame to the module and the model and compares. */
static void feed(struct fz_ipfrag *s, const struct fspec *sp)
{
    size_t len;
    uint8_t *f = build(sp, &len);
    struct ipfrag_out out;
    enum ipfrag_drop why = IPFRAG_DROP_HEADER;
    struct mdgram *done = NULL;
    enum ipfrag_result got = ipfrag_input(s->t, f, len, s->now, &out);
    enum ipfrag_result want = m_input(sp->k, f, len, s->now, &why, &done);
    if (got != want || (got == IPFRAG_DROPPED && out.reason != why))
        fz_fail("key %u field %#x %u bytes: result %d (%s), model %d (%s)", sp->k, sp->field,
                sp->plen, got, ipfrag_drop_name(out.reason), want, ipfrag_drop_name(why));
    if (got == IPFRAG_COMPLETE)
        check_complete(&out, done);
    free(f);
}

static void op_frag(struct fz_ipfrag *s, struct fz_in *in)
{
    struct fspec sp = {.k = fz_u8(in) % NKEYS, .field = fz_u16(in), .flip = -1};
    uint16_t plen = fz_u16(in);
    uint8_t hdr = fz_u8(in), mode = fz_u8(in);
    sp.ihl = 5 + (hdr & 15u) % 11, sp.damage = hdr >> 4;
    sp.plen = plen > 65535 - sp.ihl * 4 ? 65535 - sp.ihl * 4 : plen;
    if ((mode & 3) == 2)
        sp.variant = (uint8_t)(1 + (mode >> 2));
    uint16_t at = (mode & 3) == 3 ? fz_u16(in) : 0;
    if ((mode & 3) == 3 && sp.plen)
        sp.flip = at % sp.plen;
    if (sp.damage == 3 || sp.damage == 5 || sp.damage == 6 || sp.damage == 7)
        sp.arg = fz_u16(in);
    feed(s, &sp);
}

/* The fragment size: at least 8 * (1 + units), and large enough for at most 64 fragments. */
static uint32_t whole_size(uint32_t total, uint8_t units)
{
    uint32_t size = 8u * (1u + units), min = (total + 63) / 64;
    if (size < min)
        size = (min + 7) & ~7u;
    return size;
}

static void op_whole(struct fz_ipfrag *s, struct fz_in *in)
{
    unsigned k = fz_u8(in) % NKEYS;
    uint32_t total = fz_u16(in);
    uint8_t units = fz_u8(in), order = fz_u8(in), ihl = 5 + fz_u8(in) % 11;
    if (total > 65535 - ihl * 4u)
        total = 65535 - ihl * 4u;
    total += total == 0;
    uint32_t size = whole_size(total, units), n = (total + size - 1) / size;
    for (uint32_t j = 0; j < n * (order & 4 ? 2 : 1); j++) {
        /* 0 in order, 1 reversed, 2 evens then odds, 3 last first; 4: each one twice */
        uint32_t i = order & 4 ? j / 2 : j;
        if ((order & 3) == 1)
            i = n - 1 - i;
        else if ((order & 3) == 2)
            i = 2 * i < n ? 2 * i : 2 * (i - (n + 1) / 2) + 1;
        else if ((order & 3) == 3)
            i = (i + n - 1) % n;
        uint32_t off = i * size, plen = total - off < size ? total - off : size;
        struct fspec sp = {.k = k, .ihl = i == 0 ? ihl : 5, .flip = -1, .plen = plen};
        sp.field = (uint16_t)(off / 8 | (i + 1 < n ? 0x2000 : 0));
        feed(s, &sp);
    }
}

static void op_time(struct fz_ipfrag *s, struct fz_in *in)
{
    static const uint64_t steps[] = {0,
                                     1000,
                                     1000000,
                                     1000000000,
                                     IPFRAG_TIMEOUT_NS - 1,
                                     IPFRAG_TIMEOUT_NS,
                                     IPFRAG_TIMEOUT_NS + 1};
    uint8_t c = fz_u8(in) % 8;
    s->now += c < 7 ? steps[c] : fz_u32(in) * 1000ull;
}

static void op_expire(struct fz_ipfrag *s)
{
    int got = ipfrag_expire(s->t, s->now), want = m_expire(s->now);
    if (got != want)
        fz_fail("expire: %d datagrams, model %d", got, want);
    if (ipfrag_next_expiry(s->t) <= s->now)
        fz_fail("expire: a datagram held past its timeout");
}

static void step(void *ctx, struct fz_in *in, uint8_t op)
{
    struct fz_ipfrag *s = ctx;
    switch (op % 8) {
    case 5: op_time(s, in); break;
    case 6: op_expire(s); break;
    case 7: op_whole(s, in); break;
    default: op_frag(s, in); break;
    }
    check_stats(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fz_ipfrag s = {ipfrag_new(), T0};
    if (!s.t)
        fz_fail("ipfrag_new");
    for (unsigned k = 0; k < NKEYS; k++)
        M.d[k].live = false;
    M.stamp = 0;
    memset(&M.st, 0, sizeof(M.st));
    fz_run_ops(&in, step, &s);
    if (getenv("FZ_VERBOSE")) {
        const struct ipfrag_stats *st = ipfrag_stats(s.t);
        fprintf(stderr, "fragments %llu held %llu dup %llu done %llu dropped",
                (unsigned long long)st->fragments, (unsigned long long)st->held,
                (unsigned long long)st->duplicates, (unsigned long long)st->reassembled);
        for (int r = 0; r < IPFRAG_DROP_REASONS; r++)
            fprintf(stderr, " %s %llu", ipfrag_drop_name(r), (unsigned long long)st->dropped[r]);
        fputc('\n', stderr);
    }
    ipfrag_free(s.t);
    return 0;
}
