/* The seed corpus generator's shared pieces: a byte builder for fuzzer inputs, frame builders
 * (Ethernet, ARP, IPv4, UDP, TCP, ICMP, DHCP) and the per-target generators. */
#ifndef NICVM_FUZZ_MKCORPUS_H
#define NICVM_FUZZ_MKCORPUS_H

#include <stddef.h>
#include <stdint.h>

/* An input being built (grows as needed; the generator exits on allocation failure). */
struct mk {
    uint8_t *p;
    size_t n, cap;
};

void mk_u8(struct mk *b, uint8_t v);
void mk_u16(struct mk *b, uint16_t v);
void mk_u32(struct mk *b, uint32_t v);
void mk_u64(struct mk *b, uint64_t v);
void mk_bytes(struct mk *b, const void *p, size_t n);
/* mk_vq_desc: a split-ring descriptor (virtio 1.1 section 2.6.5) at d, little-endian. */
void mk_vq_desc(uint8_t d[16], uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* mk_frame: a frame record of the harness (fz_take_frame): opcode op, the 12-byte virtio-net
 * header hdr (zeros if NULL), u16 length n, then n bytes of f. */
void mk_frame(struct mk *b, uint8_t op, const void *hdr, const uint8_t *f, size_t n);
/* mk_save: writes b to DIR/NAME (the output root set by main) and resets b. */
void mk_save(struct mk *b, const char *target, const char *name);

/* Frame builders: write into f (at least 1600 bytes unless noted), return the length. */
size_t mk_arp_request(uint8_t *f, uint32_t sip, uint32_t tip);
size_t mk_udp(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport,
              const void *payload, size_t plen);
size_t mk_dhcp_discover(uint8_t *f);
size_t mk_icmp_echo(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t seq, size_t plen);
/* mk_tcp: a TCP segment with plen bytes of payload (f must hold 54 + plen bytes); the
 * checksum is left partial (pseudo header only) when partial is set, as NEEDS_CSUM does. */
size_t mk_tcp(uint8_t *f, uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport, uint8_t flags,
              size_t plen, int partial);
size_t mk_dns_query(uint8_t *f);
/* mk_ip_csum: sets the checksum of the IPv4 header at ip (hlen bytes). */
void mk_ip_csum(uint8_t *ip, size_t hlen);

/* What a seed does with one frame (e.g. hands it to the device from the backend, or queues it
 * for TX): f holds n bytes. */
typedef void mk_emit_fn(struct mk *b, const uint8_t *f, size_t n);
/* mk_trace_frames: calls emit with each frame of a set that takes net/pktsum.c through every
 * branch it has (mkcorpus_trace.c). */
void mk_trace_frames(struct mk *b, mk_emit_fn *emit);

#define MK_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define MK_GUEST_IP       MK_IP(10, 0, 2, 15)
#define MK_GW_IP          MK_IP(10, 0, 2, 2)
#define MK_DNS_IP         MK_IP(10, 0, 2, 3)

void mk_corpus_virtqueue(void);
void mk_corpus_virtio_net(void);
void mk_corpus_e1000(void);
void mk_corpus_slirp_glue(void);
/* mk_corpus_ipfrag: the fuzz_ipfrag seeds and the slirp_glue seeds whose fragments complete. */
void mk_corpus_ipfrag(void);
/* mk_corpus_socket_stream: the fuzz_socket_stream seeds (mkcorpus_socket_stream.c). */
void mk_corpus_socket_stream(void);

#endif
