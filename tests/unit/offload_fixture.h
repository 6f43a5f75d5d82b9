/* The shared fixture of the software offload unit tests (see offload_fixture.c): reference
 * checksums computed one 16-bit word at a time, a builder of Ethernet [802.1Q] IPv4/IPv6
 * TCP/UDP frames, virtio-net headers, an emit recorder, and the byte-by-byte check of the
 * packets offload_segment()/offload_coalesce() emit. Each offload_*.c test file adds its tests
 * to a TCase of the suite; test_offload.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_OFFLOAD_FIXTURE_H
#define NICVM_TESTS_UNIT_OFFLOAD_FIXTURE_H

#include "net/offload.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_FRAME (65536 + 18)
#define SCRATCH   (65536 + 128)
#define MAX_SEGS  2048
#define TCP_FIN   0x01
#define TCP_PSH   0x08
#define TCP_ACK   0x10
#define TCP_CWR   0x80
#define PROTO_TCP 6
#define PROTO_UDP 17

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
struct collect {
    int n;
    int stop_at; /* 1-based call that returns stop_rc; 0: never */
    int stop_rc;
    const uint8_t *last_ptr;
    size_t used;
    size_t off[MAX_SEGS], len[MAX_SEGS];
    uint8_t buf[1 << 18];
};

/* The frame under test, a copy of it as built, and scratch space for the offload calls; the
 * Check runner forks each test, so they are per test. */
extern uint8_t frame_buf[MAX_FRAME], orig_buf[MAX_FRAME], scratch_buf[SCRATCH];

void offload_segment_tests(TCase *tc);
void offload_coalesce_tests(TCase *tc);
void offload_csum_tests(TCase *tc);
void offload_check_tests(TCase *tc);

/* ref_sum: adds the 16-bit big-endian words of p[0, len) to sum, one at a time; ref_fold
 * folds the carries into 16 bits. The reference the offload code is checked against. */
uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len);
uint16_t ref_fold(uint32_t sum);
/* Big-endian reads and writes. */
uint16_t be16(const uint8_t *p);
uint32_t be32(const uint8_t *p);
void wr16(uint8_t *p, uint16_t v);
void wr32(uint8_t *p, uint32_t v);
/* ref_pseudo: the pseudo-header sum of the frame f laid out as b, for proto and l4len. */
uint32_t ref_pseudo(const uint8_t *f, const struct layout *b, uint8_t proto, size_t l4len);
/* build: an Ethernet [802.1Q] IPv4/IPv6 TCP/UDP frame of sp in f, laid out in b; the L4
 * checksum is left 0. */
void build(uint8_t *f, const struct spec *sp, struct layout *b);
/* seed: the L4 checksum field at l4 + off gets the folded pseudo-header sum, as Linux leaves
 * it for CHECKSUM_PARTIAL. */
void seed(uint8_t *f, const struct layout *b, uint8_t proto, size_t off);
/* mkhdr: a virtio-net header with these fields (little-endian where multi-byte). */
struct virtio_net_hdr_v1 mkhdr(uint8_t flags, uint8_t gso_type, uint16_t hdr_len, uint16_t gso_size,
                               uint16_t start, uint16_t off);
/* gso_hdr: the TCPV4/TCPV6 GSO header a guest sends for the frame of sp with mss. */
struct virtio_net_hdr_v1 gso_hdr(const struct spec *sp, const struct layout *b, uint16_t mss);
/* collect_fn: the emit function; records each frame in the struct collect opaque and returns
 * stop_rc on its stop_at'th call, 0 otherwise. */
int collect_fn(void *opaque, const uint8_t *frame, size_t len);
/* exact: a heap copy of the first len bytes of frame_buf (the caller frees it). */
uint8_t *exact(size_t len);
/* check_exact: offload_check() of h on an exact copy of the first len bytes of frame_buf. */
int check_exact(const struct virtio_net_hdr_v1 *h, size_t len);
/* check_packets: the c->n packets collected from the frame in orig_buf, each carrying mss
 * bytes of its payload (the last one the rest), byte by byte, and their payloads joined. */
void check_packets(const struct spec *sp, const struct layout *b, size_t mss,
                   const struct collect *c);

#endif
