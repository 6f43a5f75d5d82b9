/* Seed corpus generator, virtio-net part: operation streams for fuzz_virtio_net (the encoding
 * its run_op() reads), a Linux-like bring-up and traffic first, then one input per applicable
 * item of checklist sections 3 and 4. */
#include "devices/virtio_mmio.h"
#include "tests/fuzz/mkcorpus.h"

#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#define F(bit) (1ull << (bit))

static uint8_t frame[70000];

/* ============================== virtio-net ==================================================== */

/* Layout in fuzz_virtio_net's 256 KiB RAM: queues of 64 entries. */
#define VN_QSIZE 64
#define VN_BUF   0x4000ull
static const uint32_t vn_desc[2] = {0x1000, 0x2000}, vn_avail[2] = {0x1800, 0x2800},
                      vn_used[2] = {0x1c00, 0x2c00};
static uint16_t vn_idx[2], vn_next[2];

#define VN_LINUX                                                                                   \
    (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MTU) |  \
     F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |               \
     F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX))
#define VN_TSO                                                                                     \
    (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_GUEST_TSO4) |          \
     F(VIRTIO_NET_F_GUEST_TSO6))

static void vn_wr(struct mk *b, uint16_t off, uint64_t v, uint8_t w)
{
    mk_u8(b, 0), mk_u16(b, off), mk_u8(b, w), mk_u64(b, v);
}

static void vn_memw(struct mk *b, uint32_t gpa, const void *p, size_t n)
{
    for (size_t off = 0; off < n; off += 1024) {
        size_t c = n - off < 1024 ? n - off : 1024;
        mk_u8(b, 2), mk_u32(b, (uint32_t)(gpa + off)), mk_u16(b, (uint16_t)c);
        mk_bytes(b, (const uint8_t *)p + off, c);
    }
}

static void vn_d(struct mk *b, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t fl,
                 uint16_t next)
{
    uint8_t d[16];
    mk_vq_desc(d, addr, len, fl, next);
    vn_memw(b, vn_desc[q] + 16 * i, d, 16);
}

/* Posts head on queue q (avail ring entry, then avail.idx). */
static void vn_post(struct mk *b, unsigned q, uint16_t head)
{
    uint8_t e[2] = {(uint8_t)head, (uint8_t)(head >> 8)};
    vn_memw(b, vn_avail[q] + 4 + 2 * (vn_idx[q] % VN_QSIZE), e, 2);
    vn_idx[q]++;
    uint8_t x[2] = {(uint8_t)vn_idx[q], (uint8_t)(vn_idx[q] >> 8)};
    vn_memw(b, vn_avail[q] + 2, x, 2);
}

static void vn_kick(struct mk *b, unsigned q)
{
    mk_u8(b, 3), mk_u8(b, (uint8_t)q);
}

static void vn_start(struct mk *b, uint8_t flags, uint64_t feat)
{
    memset(vn_idx, 0, sizeof(vn_idx)), memset(vn_next, 0, sizeof(vn_next));
    mk_u8(b, flags);
    mk_u8(b, 8), mk_u64(b, feat);
    for (unsigned q = 0; q < 2; q++)
        mk_u16(b, VN_QSIZE), mk_u32(b, vn_desc[q]), mk_u32(b, vn_avail[q]), mk_u32(b, vn_used[q]);
}

/* n RX buffers of len writable bytes each, posted and kicked. */
static void vn_rx_buffers(struct mk *b, unsigned n, uint32_t len, uint16_t flags)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t h = vn_next[0]++ % VN_QSIZE;
        vn_d(b, 0, h, VN_BUF + 0x800ull * h, len, flags, 0);
        vn_post(b, 0, h);
    }
    vn_kick(b, 0);
}

/* A TX chain: the 12-byte header at one buffer, the frame in another (or split). */
static void vn_tx(struct mk *b, const struct virtio_net_hdr_v1 *h, const uint8_t *f, size_t n)
{
    uint16_t h0 = vn_next[1]++ % VN_QSIZE, h1 = vn_next[1]++ % VN_QSIZE;
    uint64_t hb = 0x28000 + 0x100ull * h0, fb = 0x2c000;
    vn_memw(b, (uint32_t)hb, h, sizeof(*h));
    vn_memw(b, (uint32_t)fb, f, n);
    vn_d(b, 1, h0, hb, sizeof(*h), VIRTQ_DESC_F_NEXT, h1);
    vn_d(b, 1, h1, fb, (uint32_t)n, 0, 0);
    vn_post(b, 1, h0);
    vn_kick(b, 1);
}

static void vn_frame(struct mk *b, const struct virtio_net_hdr_v1 *h, const uint8_t *f, size_t n)
{
    mk_frame(b, 4, h, f, n);
}

static struct virtio_net_hdr_v1 vn_hdr(uint8_t flags, uint8_t gso, uint16_t hdr_len,
                                       uint16_t gso_size, uint16_t cstart, uint16_t coff)
{
    struct virtio_net_hdr_v1 h = {.flags = flags, .gso_type = gso};
    h.hdr_len = hdr_len, h.gso_size = gso_size, h.csum_start = cstart, h.csum_offset = coff;
    return h;
}

static void vn_linux(void)
{
    struct mk b = {0};
    static const struct virtio_net_hdr_v1 z;
    size_t n;
    vn_start(&b, 0, VN_LINUX);
    vn_rx_buffers(&b, 8, 1526, VIRTQ_DESC_F_WRITE);
    n = mk_dhcp_discover(frame), vn_tx(&b, &z, frame, n);
    n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP), vn_tx(&b, &z, frame, n);
    n = mk_icmp_echo(frame, MK_GUEST_IP, MK_GW_IP, 1, 56), vn_frame(&b, NULL, frame, n);
    n = mk_udp(frame, MK_GW_IP, MK_GUEST_IP, 67, 68, frame + 4000, 300),
    vn_frame(&b, NULL, frame, n);
    mk_u8(&b, 7), mk_u8(&b, 0), mk_u8(&b, 7), mk_u8(&b, 1); /* link down, up */
    mk_save(&b, "virtio_net", "linux_bringup_dhcp_arp_ping");

    vn_start(&b, 1, VN_LINUX | VN_TSO);
    vn_rx_buffers(&b, 32, 2048, VIRTQ_DESC_F_WRITE);
    struct virtio_net_hdr_v1 h = vn_hdr(1, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
    n = mk_tcp(frame, MK_GUEST_IP, MK_GW_IP, 40000, 5001, 0x18, 8000, 1), vn_tx(&b, &h, frame, n);
    n = mk_tcp(frame, MK_GW_IP, MK_GUEST_IP, 5001, 40000, 0x18, 20000, 1);
    vn_frame(&b, &h, frame, n); /* a GSO frame into mergeable buffers */
    mk_save(&b, "virtio_net", "linux_tso_both_ways_mergeable");
    free(b.p);
}

/* Transport misuse: each a short register sequence after a normal bring-up. Register
 * accesses: widths, offsets, read-only registers, queue selectors. */
static void vn_transport_regs(struct mk *b)
{
    vn_start(b, 0, VN_LINUX);
    static const uint8_t ws[3] = {1, 2, 3};
    for (unsigned k = 0; k < 3; k++)
        for (uint16_t off = 0; off < 0x110; off += 4)
            vn_wr(b, off, 0x0101010101010101ull, ws[k]), mk_u8(b, 1), mk_u16(b, off),
                mk_u8(b, ws[k]);
    mk_save(b, "virtio_net", "transport_access_width_1_2_8");
    for (uint16_t off = 1; off < 0x100; off += 6)
        vn_wr(b, off, 0xffffffff, 0), mk_u8(b, 1), mk_u16(b, off), mk_u8(b, 0);
    mk_save(b, "virtio_net", "transport_unaligned_and_undefined_offsets");
    static const uint16_t ro[] = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x034, 0x060, 0x0fc};
    vn_start(b, 0, VN_LINUX);
    for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
        vn_wr(b, ro[i], 0xdeadbeef, 0);
    mk_save(b, "virtio_net", "transport_read_only_register_writes");
    vn_start(b, 0, VN_LINUX);
    vn_wr(b, VMMIO_QUEUE_SEL, 2, 0), vn_wr(b, VMMIO_QUEUE_NUM, 8, 0);
    vn_wr(b, VMMIO_QUEUE_SEL, 0xffffffff, 0), vn_wr(b, VMMIO_QUEUE_READY, 1, 0);
    mk_u8(b, 3), mk_u8(b, 0x80), mk_u32(b, 0xffffffff);
    mk_u8(b, 3), mk_u8(b, 0x80), mk_u32(b, 2);
    mk_save(b, "virtio_net", "transport_queue_sel_past_queues_notify_ffffffff");
}

/* Queue sizes and ring placements, and queue setup out of order. */
static void vn_transport_queues(struct mk *b)
{
    static const struct {
        const char *name;
        uint16_t num;
        uint32_t desc;
    } qs[] = {{"transport_queue_num_zero", 0, 0x1000},
              {"transport_queue_num_not_power_of_two", 7, 0x1000},
              {"transport_queue_num_above_max", 2048, 0x1000},
              {"transport_ring_unaligned", 64, 0x1004},
              {"transport_rings_overlapping", 64, 0x1800},
              {"transport_ring_outside_ram", 64, 0x80000},
              {"transport_ring_straddling_ram_end", 64, 0x3fff0},
              {"transport_ring_inside_device_window", 64, 0xd0000000}};
    for (unsigned i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        mk_u8(b, 0), mk_u8(b, 8), mk_u64(b, VN_LINUX);
        mk_u16(b, qs[i].num), mk_u32(b, qs[i].desc), mk_u32(b, 0x1800), mk_u32(b, 0x1c00);
        mk_u16(b, 64), mk_u32(b, 0x2000), mk_u32(b, 0x2800), mk_u32(b, 0x2c00);
        vn_kick(b, 0), vn_kick(b, 1);
        mk_save(b, "virtio_net", qs[i].name);
    }
    /* QueueReady with no addresses, then DRIVER_OK. */
    mk_u8(b, 0);
    vn_wr(b, VMMIO_STATUS, 3, 0), vn_wr(b, VMMIO_DRIVER_FEATURES_SEL, 1, 0);
    vn_wr(b, VMMIO_DRIVER_FEATURES, 1, 0), vn_wr(b, VMMIO_STATUS, 11, 0);
    vn_wr(b, VMMIO_QUEUE_SEL, 0, 0), vn_wr(b, VMMIO_QUEUE_NUM, 64, 0);
    vn_wr(b, VMMIO_QUEUE_READY, 1, 0), vn_wr(b, VMMIO_STATUS, 15, 0), vn_kick(b, 0);
    mk_save(b, "virtio_net", "transport_queue_ready_without_addresses");
    vn_start(b, 0, VN_LINUX);
    vn_wr(b, VMMIO_QUEUE_SEL, 1, 0), vn_wr(b, VMMIO_QUEUE_NUM, 1024, 0);
    vn_wr(b, VMMIO_QUEUE_DESC_LOW, 0x30000, 0), vn_wr(b, VMMIO_QUEUE_READY, 0, 0);
    vn_rx_buffers(b, 2, 1526, VIRTQ_DESC_F_WRITE);
    mk_save(b, "virtio_net", "transport_queue_writes_after_driver_ok");
}

/* Device status misuse. */
static void vn_status_items(struct mk *b)
{
    mk_u8(b, 0);
    vn_wr(b, VMMIO_STATUS, 3, 0), vn_wr(b, VMMIO_STATUS, 7, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "status_driver_ok_without_features_ok");
    vn_start(b, 0, VN_LINUX);
    vn_wr(b, VMMIO_STATUS, 1, 0), vn_wr(b, VMMIO_STATUS, 0x7f, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "status_bits_cleared_undefined_bits");
    mk_u8(b, 0), vn_kick(b, 0), vn_kick(b, 1), vn_wr(b, VMMIO_STATUS, 3, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "status_kick_before_driver_ok");
    vn_start(b, 0, VN_LINUX);
    vn_wr(b, VMMIO_STATUS, 0x80 | 15, 0), vn_rx_buffers(b, 2, 1526, VIRTQ_DESC_F_WRITE);
    mk_save(b, "virtio_net", "status_kick_after_failed");
    vn_start(b, 0, ~0ull);
    vn_rx_buffers(b, 2, 1526, VIRTQ_DESC_F_WRITE), mk_u8(b, 1), mk_u16(b, 0x70), mk_u8(b, 0);
    mk_save(b, "virtio_net", "status_ack_features_never_offered");
    vn_start(b, 0, VN_LINUX);
    vn_wr(b, VMMIO_DRIVER_FEATURES_SEL, 0, 0), vn_wr(b, VMMIO_DRIVER_FEATURES, 0xffffffff, 0);
    vn_wr(b, VMMIO_DRIVER_FEATURES_SEL, 1, 0), vn_wr(b, VMMIO_DRIVER_FEATURES, 0, 0);
    mk_save(b, "virtio_net", "status_features_changed_after_features_ok");
}

/* Split-ring items: chains and avail ring entries on the TX queue. */
static void vn_chain_items(struct mk *b)
{
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, VN_BUF, 64, VIRTQ_DESC_F_NEXT, 0), vn_post(b, 1, 0), vn_kick(b, 1);
    vn_d(b, 1, 1, VN_BUF, 64, VIRTQ_DESC_F_NEXT, 2), vn_d(b, 1, 2, VN_BUF, 64, 1, 1);
    vn_post(b, 1, 1), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_circular_chains_tx");
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, VN_BUF, 64, VIRTQ_DESC_F_NEXT, 200), vn_post(b, 1, 0);
    vn_post(b, 1, 64), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_next_and_avail_past_queue_size");
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, VN_BUF, 64, 0, 0);
    for (int i = 0; i < 5; i++)
        vn_post(b, 1, 0);
    vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_same_head_posted_many_times");
    vn_start(b, 0, VN_LINUX);
    uint8_t idx[2] = {200, 0};
    vn_memw(b, vn_avail[1] + 2, idx, 2), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_avail_idx_jump_past_size");
}

/* Split-ring items: descriptor addresses, lengths, order and indirect tables; n bytes of the
 * frame (an ARP request) are what the backend delivers. */
static void vn_desc_items(struct mk *b, size_t n)
{
    static const struct virtio_net_hdr_v1 z;
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 0, 0, 0xd0000000, 2048, VIRTQ_DESC_F_WRITE, 0), vn_post(b, 0, 0);
    vn_d(b, 0, 1, vn_used[0], 2048, VIRTQ_DESC_F_WRITE, 0), vn_post(b, 0, 1);
    vn_d(b, 0, 2, 0xfffffffffffff000ull, 0x2000, VIRTQ_DESC_F_WRITE, 0), vn_post(b, 0, 2);
    vn_kick(b, 0), vn_frame(b, NULL, frame, n), vn_frame(b, NULL, frame, n);
    mk_save(b, "virtio_net", "split_rx_desc_mmio_ring_overflow");
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, VN_BUF, 0, VIRTQ_DESC_F_NEXT, 1), vn_d(b, 1, 1, VN_BUF, 0xffffffff, 0, 0);
    vn_post(b, 1, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_desc_len_zero_and_ffffffff");
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 0, 0, VN_BUF, 2048, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    vn_d(b, 0, 1, VN_BUF + 4096, 64, 0, 0), vn_post(b, 0, 0), vn_kick(b, 0);
    vn_frame(b, NULL, frame, n);
    mk_save(b, "virtio_net", "split_readable_after_writable_rx");
    vn_start(b, 0, VN_LINUX & ~F(VIRTIO_F_INDIRECT_DESC));
    vn_d(b, 1, 0, 0x3000, 32, VIRTQ_DESC_F_INDIRECT, 0), vn_post(b, 1, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_indirect_without_feature");
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, 0x3000, 33, VIRTQ_DESC_F_INDIRECT, 0), vn_post(b, 1, 0);
    vn_d(b, 1, 1, 0x3ffff0, 4096, VIRTQ_DESC_F_INDIRECT, 0), vn_post(b, 1, 1), vn_kick(b, 1);
    mk_save(b, "virtio_net", "split_indirect_bad_length_outside_ram");
    vn_start(b, 0, VN_LINUX);
    uint8_t ev[2] = {0xff, 0xff};
    vn_memw(b, vn_avail[0] + 4 + 2 * VN_QSIZE, ev, 2),
        vn_memw(b, vn_avail[1] + 4 + 2 * VN_QSIZE, ev, 2);
    vn_rx_buffers(b, 4, 1526, VIRTQ_DESC_F_WRITE);
    for (int i = 0; i < 3; i++)
        vn_frame(b, NULL, frame, n), vn_tx(b, &z, frame, n);
    mk_save(b, "virtio_net", "split_used_event_ffff");
}

/* virtio-net header items (TX). */
static void vn_hdr_items(struct mk *b)
{
    size_t n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    vn_start(b, 0, VN_LINUX);
    vn_d(b, 1, 0, VN_BUF, 6, 0, 0), vn_post(b, 1, 0), vn_kick(b, 1);
    vn_d(b, 1, 1, VN_BUF, 12, 0, 0), vn_post(b, 1, 1), vn_kick(b, 1);
    vn_d(b, 1, 2, VN_BUF, 5, VIRTQ_DESC_F_NEXT, 3), vn_d(b, 1, 3, VN_BUF + 64, 7, 1, 4);
    vn_d(b, 1, 4, VN_BUF + 128, (uint32_t)n, 0, 0), vn_post(b, 1, 2), vn_kick(b, 1);
    vn_d(b, 1, 5, VN_BUF, 13, 0, 0), vn_post(b, 1, 5), vn_kick(b, 1);
    mk_save(b, "virtio_net", "net_tx_short_header_only_split_one_byte");
    vn_start(b, 1, VN_LINUX | VN_TSO);
    static const uint8_t big[1024];
    for (uint32_t off = 0; off < 66000; off += 1024)
        vn_memw(b, 0x10000 + off, big, 1024);
    vn_d(b, 1, 0, 0x10000, 12, VIRTQ_DESC_F_NEXT, 1), vn_d(b, 1, 1, 0x10000 + 12, 65600, 0, 0);
    vn_post(b, 1, 0), vn_kick(b, 1);
    mk_save(b, "virtio_net", "net_tx_frame_over_64k");
    static const struct {
        const char *name;
        uint8_t flags, gso;
        uint16_t hl, gs, cs, co;
    } hs[] = {{"net_tx_unknown_gso_type", 1, 7, 54, 1448, 34, 16},
              {"net_tx_gso_without_needs_csum", 0, 1, 54, 1448, 0, 0},
              {"net_tx_csum_start_past_frame", 1, 0, 0, 0, 60000, 16},
              {"net_tx_csum_offset_past_frame", 1, 0, 0, 0, 34, 0xfff0},
              {"net_tx_hdr_len_zero", 1, 1, 0, 1448, 34, 16},
              {"net_tx_hdr_len_past_frame", 1, 1, 9000, 1448, 34, 16},
              {"net_tx_gso_size_zero", 1, 1, 54, 0, 34, 16}};
    n = mk_tcp(frame, MK_GUEST_IP, MK_GW_IP, 40000, 5001, 0x18, 3000, 1);
    for (unsigned i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        vn_start(b, 1, VN_LINUX | VN_TSO);
        struct virtio_net_hdr_v1 h =
            vn_hdr(hs[i].flags, hs[i].gso, hs[i].hl, hs[i].gs, hs[i].cs, hs[i].co);
        vn_tx(b, &h, frame, n);
        mk_save(b, "virtio_net", hs[i].name);
    }
}

/* RX buffer items. */
static void vn_rx_items(struct mk *b)
{
    size_t n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    vn_start(b, 0, VN_LINUX);
    vn_rx_buffers(b, 2, 1526, 0), vn_rx_buffers(b, 2, 0, VIRTQ_DESC_F_WRITE);
    vn_rx_buffers(b, 2, 8, VIRTQ_DESC_F_WRITE), vn_frame(b, NULL, frame, n);
    mk_save(b, "virtio_net", "net_rx_buffers_readonly_zero_small");
    vn_start(b, 1, VN_LINUX & ~F(VIRTIO_NET_F_MRG_RXBUF));
    vn_rx_buffers(b, 8, 1526, VIRTQ_DESC_F_WRITE);
    struct virtio_net_hdr_v1 g = vn_hdr(1, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
    n = mk_tcp(frame, MK_GW_IP, MK_GUEST_IP, 5001, 40000, 0x18, 9000, 1);
    vn_frame(b, &g, frame, n), vn_frame(b, NULL, frame, n);
    mk_save(b, "virtio_net", "net_rx_large_frame_without_mrg_rxbuf_or_tso");
}

/* Host-side faults (section 4). */
static void vn_host_items(struct mk *b)
{
    static const struct virtio_net_hdr_v1 z;
    size_t n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    vn_start(b, 0, VN_LINUX);
    mk_u8(b, 5), mk_u8(b, 1); /* EAGAIN */
    for (int i = 0; i < 31; i++)
        vn_tx(b, &z, frame, n);
    mk_u8(b, 5), mk_u8(b, 0), mk_u8(b, 9);
    mk_save(b, "virtio_net", "net_tx_ring_full_backend_eagain");
    vn_start(b, 0, VN_LINUX);
    mk_u8(b, 5), mk_u8(b, 4), mk_u8(b, 7), mk_u8(b, 0), vn_tx(b, &z, frame, n);
    mk_u8(b, 5), mk_u8(b, 3), mk_u8(b, 7), mk_u8(b, 1), vn_tx(b, &z, frame, n);
    mk_u8(b, 5), mk_u8(b, 0), vn_tx(b, &z, frame, n);
    mk_save(b, "virtio_net", "host_tap_gone_einval_link_down");
    vn_start(b, 0, VN_LINUX);
    for (int i = 0; i < 300; i++)
        vn_frame(b, NULL, frame, n);
    vn_rx_buffers(b, 4, 1526, VIRTQ_DESC_F_WRITE);
    mk_save(b, "virtio_net", "host_flood_rx_ring_full");
    vn_start(b, 0, VN_LINUX);
    mk_u8(b, 5), mk_u8(b, 1);
    vn_tx(b, &z, frame, n), vn_tx(b, &z, frame, n), vn_frame(b, NULL, frame, n);
    mk_u8(b, 6), mk_u8(b, 5), mk_u8(b, 0), vn_frame(b, NULL, frame, n), mk_u8(b, 9);
    mk_save(b, "virtio_net", "host_reset_during_tx_rx");
}

static void vn_rx_plain(struct mk *b, const uint8_t *f, size_t n)
{
    vn_frame(b, NULL, f, n);
}

static void vn_tx_plain(struct mk *b, const uint8_t *f, size_t n)
{
    static const struct virtio_net_hdr_v1 z;
    vn_tx(b, &z, f, n);
}

/* Packet tracing on (the harness's flag 0x40): every frame summary both ways, then frames
 * with no buffers, with the link down, a backend error and interrupts EVENT_IDX holds back. */
static void vn_trace_items(struct mk *b)
{
    vn_start(b, 0x40, VN_LINUX);
    vn_rx_buffers(b, 60, 1526, VIRTQ_DESC_F_WRITE);
    mk_trace_frames(b, vn_rx_plain), mk_u8(b, 9);
    mk_trace_frames(b, vn_tx_plain), mk_u8(b, 9);
    mk_save(b, "virtio_net", "trace_every_frame_summary_rx_tx");
    size_t n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    vn_start(b, 0x40 | 1, VN_LINUX | VN_TSO);
    vn_frame(b, NULL, frame, n), vn_rx_buffers(b, 2, 1526, VIRTQ_DESC_F_WRITE); /* waits */
    vn_frame(b, NULL, frame, n), vn_frame(b, NULL, frame, n);
    mk_u8(b, 7), mk_u8(b, 0), vn_frame(b, NULL, frame, n), vn_tx_plain(b, frame, n);
    mk_u8(b, 7), mk_u8(b, 1), mk_u8(b, 5), mk_u8(b, 2), vn_tx_plain(b, frame, n);
    mk_u8(b, 5), mk_u8(b, 0), vn_tx_plain(b, frame, n), vn_tx_plain(b, frame, n);
    mk_save(b, "virtio_net", "trace_rx_waits_link_down_backend_error");
}

void mk_corpus_virtio_net(void)
{
    struct mk b = {0};
    vn_linux();
    vn_transport_regs(&b);
    vn_transport_queues(&b);
    vn_status_items(&b);
    vn_chain_items(&b);
    vn_desc_items(&b, mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP));
    vn_hdr_items(&b);
    vn_rx_items(&b);
    vn_host_items(&b);
    vn_trace_items(&b);
    free(b.p);
}
