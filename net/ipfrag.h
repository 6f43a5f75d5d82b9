/* IPv4 reassembly (RFC 791 section 3.2) in front of a consumer that must only see whole
 * datagrams (the user backend: libslirp 4.7.0's own ip_reass() crashes, see net/slirp.c).
 * Ethernet frames go in; a frame comes back as "not a fragment", "held", "a complete
 * datagram" (Ethernet header of the first fragment, IPv4 header rewritten) or "dropped" with
 * a reason. A fixed pool, no allocation per packet, time passed in by the caller. */
#ifndef NICVM_NET_IPFRAG_H
#define NICVM_NET_IPFRAG_H

#include <stddef.h>
#include <stdint.h>

#define IPFRAG_MAX_DATAGRAMS 16 /* datagrams in progress at once (LRU eviction beyond) */
#define IPFRAG_MAX_HELD      (256u * 1024u) /* payload bytes held over all of them */
/* RFC 1122 3.3.2 recommends 60 to 120 s; Linux uses 30 s (net.ipv4.ipfrag_time). The link
 * here is a memory copy: the fragments of one datagram arrive microseconds apart, so the
 * shorter bound only limits how long a guest's stray fragments hold memory. */
#define IPFRAG_TIMEOUT_NS (30ull * 1000000000ull)

enum ipfrag_result {
    IPFRAG_PASS,     /* not an IPv4 fragment: use the frame as it is */
    IPFRAG_HELD,     /* a fragment, kept until its datagram is complete */
    IPFRAG_COMPLETE, /* this fragment completed a datagram: see ipfrag_out.frame */
    IPFRAG_DROPPED,  /* refused: see ipfrag_out.reason */
};

enum ipfrag_drop {
    IPFRAG_DROP_HEADER,       /* bad version, IHL, total length, or no payload */
    IPFRAG_DROP_CSUM,         /* bad header checksum */
    IPFRAG_DROP_ALIGN,        /* MF set but the payload is not a multiple of 8 bytes */
    IPFRAG_DROP_OVERSIZE,     /* would end past 65535 bytes (the "ping of death") */
    IPFRAG_DROP_OVERLAP,      /* overlaps held data with different bytes (whole datagram) */
    IPFRAG_DROP_INCONSISTENT, /* past the last fragment's end, or two different ends */
    IPFRAG_DROP_TIMEOUT,      /* a datagram not complete within IPFRAG_TIMEOUT_NS */
    IPFRAG_DROP_EVICTED,      /* a datagram given up to make room (LRU) */
    IPFRAG_DROP_REASONS
};

struct ipfrag_stats {
    uint64_t fragments;   /* fragments seen */
    uint64_t held;        /* fragments kept (including the one completing a datagram) */
    uint64_t duplicates;  /* kept fragments that brought no new bytes (same data again) */
    uint64_t reassembled; /* datagrams completed */
    /* Fragments refused and datagrams given up, by reason; a datagram given up because of a
     * fragment counts once. */
    uint64_t dropped[IPFRAG_DROP_REASONS];
    uint32_t in_progress; /* datagrams now held */
    uint32_t held_bytes;  /* payload bytes now held */
};

struct ipfrag_out {
    const uint8_t *frame;    /* IPFRAG_COMPLETE: Ethernet header + the whole datagram */
    size_t len;              /* its length (at most 14 + 65535) */
    enum ipfrag_drop reason; /* IPFRAG_DROPPED: why */
};

struct ipfrag;

/* ipfrag_new: an empty table (one allocation of about 1 MiB, pages touched as used).
 * Returns NULL when out of memory. */
struct ipfrag *ipfrag_new(void);

/* ipfrag_free: frees t (NULL is fine). */
void ipfrag_free(struct ipfrag *t);

/* ipfrag_input: one Ethernet frame (len bytes, a private copy the caller will not change
 * meanwhile) at time now_ns (monotonic). Expires old datagrams first. Returns the result;
 * out->frame stays valid until the next ipfrag_input or ipfrag_expire on t. */
enum ipfrag_result ipfrag_input(struct ipfrag *t, const uint8_t *frame, size_t len, uint64_t now_ns,
                                struct ipfrag_out *out);

/* ipfrag_expire: gives up datagrams begun IPFRAG_TIMEOUT_NS or more before now_ns. Returns
 * how many. */
int ipfrag_expire(struct ipfrag *t, uint64_t now_ns);

/* ipfrag_next_expiry: when the oldest datagram expires (ns, same clock), or UINT64_MAX when
 * none is held. */
uint64_t ipfrag_next_expiry(const struct ipfrag *t);

/* ipfrag_stats: the counters of t. */
const struct ipfrag_stats *ipfrag_stats(const struct ipfrag *t);

/* ipfrag_drop_name: a short name for a reason ("overlap", ...), for logs and reports. */
const char *ipfrag_drop_name(enum ipfrag_drop reason);

#endif
