/* IPv4 reassembly after RFC 791 section 3.2, hardened as modern stacks are: datagrams keyed
 * by (source, destination, protocol, identification); each held in a fixed slot with RFC
 * 791's fragment block bit table (one bit per 8-byte block; RFC 815's hole list would do the
 * same with less memory but more pointer work on guest data); a fixed timeout; LRU eviction
 * when the slots or the byte budget run out; overlaps with different data drop the whole
 * datagram (RFC 5722 section 4 for IPv6, which Linux applies to IPv4 too since
 * CVE-2018-5391), identical re-sends are ignored. Every loop is bounded by the slot count or
 * by one fragment's length. */
#include "net/ipfrag.h"
#include "net/offload.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HLEN    14
#define IP_MIN_HLEN 20
#define IP_MAX_HLEN 60
#define IP_DF       0x4000
#define IP_MF       0x2000
#define IP_OFFMASK  0x1fff
#define PAYLOAD_OFF (ETH_HLEN + IP_MAX_HLEN) /* payload position in a slot's buffer */
#define MAX_PAYLOAD (OFFLOAD_IP_MAX - IP_MIN_HLEN)
#define NBLOCKS     ((MAX_PAYLOAD + 7) / 8)

struct ipfrag_key {
    uint32_t src, dst;
    uint16_t id;
    uint8_t proto;
};

struct ipfrag_dgram {
    bool used;
    bool last_seen; /* the fragment with MF clear came: total is known */
    uint8_t hlen;   /* the first fragment's header length; 0 until it came */
    struct ipfrag_key key;
    uint64_t born_ns; /* the timeout runs from the first fragment (RFC 1122 3.3.2: fixed) */
    uint64_t touched; /* LRU stamp */
    uint32_t held;    /* payload bytes stored */
    uint32_t blocks;  /* 8-byte blocks received */
    uint32_t max_end; /* the highest payload end seen */
    uint32_t total;   /* the payload length, once last_seen */
    uint8_t hdr[ETH_HLEN + IP_MAX_HLEN]; /* the first fragment's Ethernet and IPv4 headers */
    uint8_t rcvbt[(NBLOCKS + 7) / 8];    /* RFC 791's RCVBT: blocks received */
    uint8_t buf[PAYLOAD_OFF + MAX_PAYLOAD];
};

struct ipfrag {
    struct ipfrag_dgram d[IPFRAG_MAX_DATAGRAMS];
    uint64_t stamp;
    struct ipfrag_stats st;
};

/* One fragment as validated in the caller's copy. */
struct ipfrag_frag {
    struct ipfrag_key key;
    const uint8_t *eth, *payload;
    unsigned hlen;
    uint32_t off, end; /* payload bytes [off, end) of the datagram */
    bool more;
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

struct ipfrag *ipfrag_new(void)
{
    return calloc(1, sizeof(struct ipfrag));
}

void ipfrag_free(struct ipfrag *t)
{
    free(t);
}

const struct ipfrag_stats *ipfrag_stats(const struct ipfrag *t)
{
    return &t->st;
}

const char *ipfrag_drop_name(enum ipfrag_drop reason)
{
    static const char *const names[IPFRAG_DROP_REASONS] = {
        "header", "checksum", "align", "oversize", "overlap", "inconsistent", "timeout", "evicted",
    };
    return (unsigned)reason < IPFRAG_DROP_REASONS ? names[reason] : "?";
}

/* Validates the fragment in frame (already known to be IPv4 with MF or an offset). Returns
 * 0 with *fr filled, or a drop reason + 1. */
static int frag_parse(const uint8_t *frame, size_t len, struct ipfrag_frag *fr)
{
    const uint8_t *ip = frame + ETH_HLEN;
    unsigned hlen = (ip[0] & 0xfu) * 4u;
    size_t tot = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || hlen < IP_MIN_HLEN || len < ETH_HLEN + hlen || tot <= hlen ||
        tot > len - ETH_HLEN)
        return IPFRAG_DROP_HEADER + 1;
    if (offload_csum_fold(offload_csum_add(0, ip, hlen)) != 0)
        return IPFRAG_DROP_CSUM + 1;
    uint16_t frag = get16(ip + 6);
    *fr = (struct ipfrag_frag){
        .key = {get32(ip + 12), get32(ip + 16), get16(ip + 4), ip[9]},
        .eth = frame,
        .payload = ip + hlen,
        .hlen = hlen,
        .off = (uint32_t)(frag & IP_OFFMASK) * 8u,
        .more = (frag & IP_MF) != 0,
    };
    fr->end = fr->off + (uint32_t)(tot - hlen);
    if (fr->end + hlen > OFFLOAD_IP_MAX)
        return IPFRAG_DROP_OVERSIZE + 1;
    /* RFC 791: fragment offsets count 8-octet units, so all but the last carry a multiple. */
    if (fr->more && (fr->end - fr->off) % 8 != 0)
        return IPFRAG_DROP_ALIGN + 1;
    return 0;
}

static void dgram_release(struct ipfrag *t, struct ipfrag_dgram *d)
{
    t->st.held_bytes -= d->held;
    t->st.in_progress--;
    d->used = false;
}

static void dgram_drop(struct ipfrag *t, struct ipfrag_dgram *d, enum ipfrag_drop why)
{
    t->st.dropped[why]++;
    dgram_release(t, d);
}

/* The least recently used datagram other than keep, or NULL. */
static struct ipfrag_dgram *dgram_lru(struct ipfrag *t, const struct ipfrag_dgram *keep)
{
    struct ipfrag_dgram *lru = NULL;
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS; i++) {
        struct ipfrag_dgram *d = &t->d[i];
        if (d->used && d != keep && (!lru || d->touched < lru->touched))
            lru = d;
    }
    return lru;
}

static bool key_eq(const struct ipfrag_key *a, const struct ipfrag_key *b)
{
    return a->src == b->src && a->dst == b->dst && a->id == b->id && a->proto == b->proto;
}

/* The datagram fr belongs to: found, or begun in a free slot (the LRU one given up when
 * none is free). */
static struct ipfrag_dgram *dgram_get(struct ipfrag *t, const struct ipfrag_frag *fr,
                                      uint64_t now_ns)
{
    struct ipfrag_dgram *free_slot = NULL;
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS; i++) {
        struct ipfrag_dgram *d = &t->d[i];
        if (d->used && key_eq(&d->key, &fr->key))
            return d;
        if (!d->used && !free_slot)
            free_slot = d;
    }
    if (!free_slot) {
        free_slot = dgram_lru(t, NULL);
        dgram_drop(t, free_slot, IPFRAG_DROP_EVICTED);
    }
    struct ipfrag_dgram *d = free_slot;
    d->used = true;
    d->last_seen = false;
    d->hlen = 0;
    d->key = fr->key;
    d->born_ns = now_ns;
    d->held = d->blocks = d->max_end = d->total = 0;
    memset(d->rcvbt, 0, sizeof(d->rcvbt));
    t->st.in_progress++;
    return d;
}

/* Checks fr against what d already knows (its end, its header length). Returns 0 or a drop
 * reason + 1. */
static int dgram_check(const struct ipfrag_dgram *d, const struct ipfrag_frag *fr)
{
    if (d->last_seen && fr->end > d->total)
        return IPFRAG_DROP_INCONSISTENT + 1;
    if (!fr->more && (d->last_seen ? fr->end != d->total : fr->end < d->max_end))
        return IPFRAG_DROP_INCONSISTENT + 1;
    unsigned hlen = fr->off == 0 ? fr->hlen : d->hlen;
    uint32_t end = fr->end > d->max_end ? fr->end : d->max_end;
    if (hlen + end > OFFLOAD_IP_MAX) /* the first fragment's options count too */
        return IPFRAG_DROP_OVERSIZE + 1;
    return 0;
}

/* Stores fr's payload block by block: a block held already must match byte for byte.
 * Returns 0 or IPFRAG_DROP_OVERLAP + 1. The loop runs at most one fragment's blocks. */
static int dgram_store(struct ipfrag *t, struct ipfrag_dgram *d, const struct ipfrag_frag *fr,
                       uint32_t *added)
{
    *added = 0;
    for (uint32_t pos = fr->off; pos < fr->end; pos += 8) {
        uint32_t b = pos / 8, n = fr->end - pos < 8 ? fr->end - pos : 8;
        const uint8_t *src = fr->payload + (pos - fr->off);
        uint8_t *dst = d->buf + PAYLOAD_OFF + pos;
        uint8_t bit = (uint8_t)(1u << (b % 8));
        if (d->rcvbt[b / 8] & bit) {
            if (memcmp(dst, src, n) != 0)
                return IPFRAG_DROP_OVERLAP + 1;
            continue;
        }
        memcpy(dst, src, n);
        d->rcvbt[b / 8] |= bit;
        d->blocks++;
        d->held += n;
        t->st.held_bytes += n;
        *added += n;
    }
    return 0;
}

/* d is complete: the first fragment's headers go right before the payload, the IPv4
 * header describing the whole datagram (RFC 791 3.2: MF and offset cleared, total length
 * set, checksum recomputed). */
static void dgram_finish(struct ipfrag *t, struct ipfrag_dgram *d, struct ipfrag_out *out)
{
    uint8_t *ip = d->buf + PAYLOAD_OFF - d->hlen;
    memcpy(ip - ETH_HLEN, d->hdr, ETH_HLEN + d->hlen);
    put16(ip + 2, (uint16_t)(d->hlen + d->total));
    put16(ip + 6, get16(ip + 6) & IP_DF); /* the reserved bit must be zero too */
    put16(ip + 10, 0);
    put16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, d->hlen)));
    out->frame = ip - ETH_HLEN;
    out->len = ETH_HLEN + d->hlen + d->total;
    t->st.reassembled++;
    dgram_release(t, d); /* the buffer stays intact until the next call */
}

/* Makes room for up to need more bytes by giving up the least recently used datagrams
 * other than keep. At most IPFRAG_MAX_DATAGRAMS rounds. */
static void make_room(struct ipfrag *t, const struct ipfrag_dgram *keep, uint32_t need)
{
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS && t->st.held_bytes + need > IPFRAG_MAX_HELD; i++) {
        struct ipfrag_dgram *lru = dgram_lru(t, keep);
        if (!lru)
            return;
        dgram_drop(t, lru, IPFRAG_DROP_EVICTED);
    }
}

static enum ipfrag_result dropped(struct ipfrag *t, int why1, struct ipfrag_out *out)
{
    out->reason = (enum ipfrag_drop)(why1 - 1);
    t->st.dropped[out->reason]++;
    return IPFRAG_DROPPED;
}

/* Adds the valid fragment fr to its datagram. */
static enum ipfrag_result frag_add(struct ipfrag *t, const struct ipfrag_frag *fr, uint64_t now_ns,
                                   struct ipfrag_out *out)
{
    struct ipfrag_dgram *d = dgram_get(t, fr, now_ns);
    d->touched = ++t->stamp;
    int why1 = dgram_check(d, fr);
    uint32_t added = 0;
    if (why1 == 0) {
        make_room(t, d, fr->end - fr->off);
        why1 = dgram_store(t, d, fr, &added);
    }
    if (why1 != 0) {
        dgram_release(t, d); /* the whole datagram goes, counted once with this fragment */
        return dropped(t, why1, out);
    }
    if (fr->off == 0 && d->hlen == 0) {
        d->hlen = (uint8_t)fr->hlen;
        memcpy(d->hdr, fr->eth, ETH_HLEN + fr->hlen);
    }
    if (!fr->more) {
        d->last_seen = true;
        d->total = fr->end;
    }
    if (fr->end > d->max_end)
        d->max_end = fr->end;
    t->st.held++;
    t->st.duplicates += added == 0;
    if (d->last_seen && d->hlen && d->blocks == (d->total + 7) / 8) {
        dgram_finish(t, d, out);
        return IPFRAG_COMPLETE;
    }
    return IPFRAG_HELD;
}

enum ipfrag_result ipfrag_input(struct ipfrag *t, const uint8_t *frame, size_t len, uint64_t now_ns,
                                struct ipfrag_out *out)
{
    *out = (struct ipfrag_out){NULL, 0, IPFRAG_DROP_HEADER};
    /* libslirp takes the fragment path on any offset or MF (its ip_input tests ip_off &
     * ~IP_DF), whatever else the header says: all of those are held or dropped here. */
    if (len < ETH_HLEN + IP_MIN_HLEN || get16(frame + 12) != 0x0800 ||
        (get16(frame + ETH_HLEN + 6) & (IP_MF | IP_OFFMASK)) == 0)
        return IPFRAG_PASS;
    ipfrag_expire(t, now_ns);
    t->st.fragments++;
    struct ipfrag_frag fr;
    int why1 = frag_parse(frame, len, &fr);
    if (why1 != 0)
        return dropped(t, why1, out);
    return frag_add(t, &fr, now_ns, out);
}

int ipfrag_expire(struct ipfrag *t, uint64_t now_ns)
{
    int n = 0;
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS; i++) {
        struct ipfrag_dgram *d = &t->d[i];
        if (d->used && now_ns >= d->born_ns && now_ns - d->born_ns >= IPFRAG_TIMEOUT_NS) {
            dgram_drop(t, d, IPFRAG_DROP_TIMEOUT);
            n++;
        }
    }
    return n;
}

uint64_t ipfrag_next_expiry(const struct ipfrag *t)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < IPFRAG_MAX_DATAGRAMS; i++)
        if (t->d[i].used && t->d[i].born_ns + IPFRAG_TIMEOUT_NS < next)
            next = t->d[i].born_ns + IPFRAG_TIMEOUT_NS;
    return next;
}
