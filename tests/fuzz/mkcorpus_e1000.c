/* Seed corpus generator, e1000 part: operation streams for fuzz_e1000 (the encoding its
 * run_op() reads), a Linux-like bring-up and traffic first, then one input per applicable
 * item of checklist section 2. */
#include "devices/e1000_int.h"
#include "tests/fuzz/mkcorpus.h"

#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

static uint8_t frame[70000];

/* ============================== e1000 ========================================================= */

#define E_TD  0x1000u /* 64 TX descriptors */
#define E_RD  0x2000u /* 64 RX descriptors */
#define E_BUF 0x8000u

static void e_wr(struct mk *b, uint32_t off, uint64_t v)
{
    mk_u8(b, 0), mk_u32(b, off), mk_u8(b, 0), mk_u64(b, v);
}

static void e_wrw(struct mk *b, uint32_t off, uint64_t v, uint8_t w)
{
    mk_u8(b, 0), mk_u32(b, off), mk_u8(b, w), mk_u64(b, v);
}

static void e_rd(struct mk *b, uint32_t off)
{
    mk_u8(b, 1), mk_u32(b, off), mk_u8(b, 0);
}

static void e_memw(struct mk *b, uint32_t gpa, const void *p, size_t n)
{
    for (size_t off = 0; off < n; off += 1024) {
        size_t c = n - off < 1024 ? n - off : 1024;
        mk_u8(b, 3), mk_u32(b, (uint32_t)(gpa + off)), mk_u16(b, (uint16_t)c);
        mk_bytes(b, (const uint8_t *)p + off, c);
    }
}

/* A 16-byte descriptor from two qwords. */
static void e_desc(struct mk *b, uint32_t gpa, uint64_t lo, uint64_t hi)
{
    uint8_t d[16];
    for (int k = 0; k < 8; k++)
        d[k] = (uint8_t)(lo >> (8 * k)), d[8 + k] = (uint8_t)(hi >> (8 * k));
    e_memw(b, gpa, d, 16);
}

static void e_frame(struct mk *b, const uint8_t *f, size_t n)
{
    mk_frame(b, 4, NULL, f, n);
}

/* What e1000_probe/e1000_open do, with 64-entry rings and rx buffers posted, after the
 * harness's flags byte. */
static void e_linux_flags(struct mk *b, uint8_t flags)
{
    mk_u8(b, flags);
    e_wr(b, E1000_CTRL, E1000_CTRL_RST), e_rd(b, E1000_STATUS);
    e_wr(b, E1000_EERD, 0 << 8 | E1000_EERD_START), e_rd(b, E1000_EERD);
    e_wr(b, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_ASDE);
    e_wr(b, E1000_RA, 0x12005452), e_wr(b, E1000_RA + 4, 0x5634 | E1000_RAH_AV);
    e_wr(b, E1000_TDBAL, E_TD), e_wr(b, E1000_TDBAH, 0), e_wr(b, E1000_TDLEN, 64 * 16);
    e_wr(b, E1000_TDH, 0), e_wr(b, E1000_TDT, 0), e_wr(b, E1000_TIPG, 0x00602008);
    e_wr(b, E1000_TCTL, 0x400fa);
    for (unsigned i = 0; i < 63; i++)
        e_desc(b, E_RD + 16 * i, E_BUF + 2048ull * i, 0);
    e_wr(b, E1000_RDBAL, E_RD), e_wr(b, E1000_RDBAH, 0), e_wr(b, E1000_RDLEN, 64 * 16);
    e_wr(b, E1000_RDH, 0), e_wr(b, E1000_RDT, 63);
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
    e_wr(b, E1000_IMS, 0x9d), e_wr(b, E1000_ITR, 0);
}

static void e_linux(struct mk *b)
{
    e_linux_flags(b, 0);
}

static unsigned e_tdt;

/* A legacy TX descriptor for the frame at E_BUF + 0x10000, then TDT moved. */
static void e_tx_legacy(struct mk *b, const uint8_t *f, size_t n)
{
    e_memw(b, 0x30000, f, n);
    e_desc(b, E_TD + 16 * e_tdt, 0x30000,
           (uint64_t)(n | E1000_TXD_EOP | 0x02000000u | E1000_TXD_RS));
    e_tdt = (e_tdt + 1) % 64;
    e_wr(b, E1000_TDT, e_tdt);
}

/* A context descriptor then a TSO data descriptor. */
static void e_tso(struct mk *b, uint8_t hdrlen, uint16_t mss, uint32_t paylen, size_t n, bool ctx)
{
    if (ctx) {
        uint64_t lo = 14 | 24u << 8 | 33u << 16 | (uint64_t)(34 | 50u << 8) << 32;
        uint64_t hi = paylen | E1000_TXD_DEXT | E1000_TXD_TSE | E1000_TXD_CTX_IP |
                      E1000_TXD_CTX_TCP | (uint64_t)hdrlen << 40 | (uint64_t)mss << 48;
        e_desc(b, E_TD + 16 * e_tdt, lo, hi);
        e_tdt = (e_tdt + 1) % 64;
    }
    uint64_t hi = (uint32_t)n | 1u << E1000_TXD_DTYP_SHIFT | E1000_TXD_DEXT | E1000_TXD_TSE |
                  E1000_TXD_EOP | E1000_TXD_RS | (uint64_t)3 << 40;
    e_desc(b, E_TD + 16 * e_tdt, 0x30000, hi);
    e_tdt = (e_tdt + 1) % 64;
    e_wr(b, E1000_TDT, e_tdt);
}

static void e1000_ring_items(struct mk *b, size_t n)
{
    static const struct {
        const char *name;
        uint32_t reg;
        uint64_t val;
    } rs[] = {{"e1000_tdlen_zero_head_ne_tail", E1000_TDLEN, 0},
              {"e1000_tdlen_not_multiple_128", E1000_TDLEN, 200},
              {"e1000_tdlen_huge", E1000_TDLEN, 0xfffff80},
              {"e1000_tdh_past_ring", E1000_TDH, 64},
              {"e1000_tdt_above_ffff", E1000_TDT, 0x12345},
              {"e1000_rdh_past_ring", E1000_RDH, 1000},
              {"e1000_rdt_above_ffff", E1000_RDT, 0x10001},
              {"e1000_rdlen_zero", E1000_RDLEN, 0},
              {"e1000_tdba_outside_ram", E1000_TDBAL, 0x7fff0000},
              {"e1000_tdba_inside_own_bar", E1000_TDBAL, 0xfebc0000},
              {"e1000_tdba_straddling_ram_end", E1000_TDBAL, 0x3ff80},
              {"e1000_rdba_outside_ram", E1000_RDBAH, 1},
              {"e1000_rdba_straddling_ram_end", E1000_RDBAL, 0x3ff80}};
    for (unsigned i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        e_linux(b), e_tdt = 0;
        e_tx_legacy(b, frame, n), e_frame(b, frame, n);
        e_wr(b, rs[i].reg, rs[i].val);
        e_tx_legacy(b, frame, n), e_tx_legacy(b, frame, n), e_frame(b, frame, n);
        e_wr(b, E1000_TDT, 5), e_wr(b, E1000_RDT, 3), mk_u8(b, 9);
        mk_save(b, "e1000", rs[i].name);
    }
}

static void e1000_tx_items(struct mk *b, size_t n)
{
    e_linux(b), e_tdt = 0;
    e_desc(b, E_TD, 0x30000, 0 | E1000_TXD_EOP),
        e_desc(b, E_TD + 16, 0x30000, 0xffff | E1000_TXD_EOP);
    e_desc(b, E_TD + 32, 0, 60 | E1000_TXD_EOP),
        e_desc(b, E_TD + 48, 0x7ffff000, 60 | E1000_TXD_EOP);
    e_wr(b, E1000_TDT, 4);
    mk_save(b, "e1000", "e1000_tx_desc_len_0_ffff_addr_0_outside_ram");
    e_linux(b);
    for (unsigned i = 0; i < 63; i++)
        e_desc(b, E_TD + 16 * i, 0x10000, 4000);
    e_wr(b, E1000_TDT, 63), e_wr(b, E1000_TDT, 0), mk_u8(b, 9);
    mk_save(b, "e1000", "e1000_tx_eop_never_comes");
    static const struct {
        const char *name;
        uint8_t hdrlen;
        uint16_t mss;
        uint32_t paylen;
        bool ctx;
    } ts[] = {{"e1000_linux_tso", 54, 1448, 8000, true},
              {"e1000_ctx_mss_zero", 54, 0, 8000, true},
              {"e1000_ctx_mss_hdrlen_over_64k", 255, 0xffff, 0xfffff, true},
              {"e1000_ctx_hdrlen_zero", 0, 1448, 8000, true},
              {"e1000_ctx_hdrlen_255", 255, 1448, 8000, true},
              {"e1000_tse_without_context", 54, 1448, 8000, false}};
    size_t tn = mk_tcp(frame, MK_GUEST_IP, MK_GW_IP, 40000, 5001, 0x18, 8000, 0);
    for (unsigned i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        e_linux(b), e_tdt = 0;
        e_memw(b, 0x30000, frame, tn);
        e_tso(b, ts[i].hdrlen, ts[i].mss, ts[i].paylen, tn, ts[i].ctx);
        mk_save(b, "e1000", ts[i].name);
    }
    /* Checksum offsets past the header; a context change mid-packet; data after legacy. */
    e_linux(b), e_tdt = 0, e_memw(b, 0x30000, frame, tn);
    e_desc(b, E_TD, 200 | 250u << 8 | 0xffffu << 16 | (uint64_t)(230 | 0xf0u << 8) << 32,
           E1000_TXD_DEXT | E1000_TXD_CTX_TCP);
    e_desc(b, E_TD + 16, 0x30000, 100 | 1u << 20 | E1000_TXD_DEXT | (uint64_t)3 << 40);
    e_desc(b, E_TD + 32, 14 | 24u << 8, E1000_TXD_DEXT | E1000_TXD_TSE | 54ull << 40 | 1ull << 48);
    e_desc(b, E_TD + 48, 0x30000, 200 | E1000_TXD_EOP);
    e_desc(b, E_TD + 64, 0x30000, 300 | 1u << 20 | E1000_TXD_DEXT | E1000_TXD_TSE | E1000_TXD_EOP);
    e_wr(b, E1000_TDT, 5);
    mk_save(b, "e1000", "e1000_ctx_csum_offsets_past_hdrlen_change_mid_packet");
    (void)n;
}

/* RX into odd places: the NIC's own BAR, address 0, long frames with no free descriptors. n
 * bytes of the frame buffer are sent (they are whatever the TX items left there). */
static void e1000_rx_items(struct mk *b, size_t n)
{
    e_linux(b), e_tdt = 0;
    for (unsigned i = 0; i < 8; i++) /* RX buffers at the NIC's own BAR and at 0 */
        e_desc(b, E_RD + 16 * i, i & 1 ? 0xfebc0000 : 0, 0);
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | 0x40);
    e_tx_legacy(b, frame, n), e_tx_legacy(b, frame, n), mk_u8(b, 9);
    e_wr(b, E1000_MDIC, E1000_MDIC_OP_WR | 1u << 21 | 0u << 16 | 0x4140);
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM), e_tx_legacy(b, frame, n);
    mk_save(b, "e1000", "e1000_loopback_rx_into_own_bar_and_addr_zero");
    e_linux(b);
    memset(frame + 100, 0x33, 9000);
    e_frame(b, frame, 9000), e_frame(b, frame, 3000);
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_LPE), e_frame(b, frame, 9000);
    e_wr(b, E1000_RDT, 0);
    for (int i = 0; i < 80; i++)
        e_frame(b, frame, n);
    mk_save(b, "e1000", "e1000_rx_long_frame_no_free_descriptors");
}

/* EEPROM, MDIC, unknown registers and the I/O BAR. */
static void e1000_reg_items(struct mk *b)
{
    e_linux(b);
    e_wr(b, E1000_EERD, 0xff00 | E1000_EERD_START), e_wr(b, E1000_EERD, 0x4000 | E1000_EERD_START);
    static const uint32_t pins[] = {0x1, 0x3, 0x7, 0x2, 0x6, 0x5, 0x0, 0x43, 0x47, 0x45, 0xff};
    for (int r = 0; r < 6; r++)
        for (unsigned i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
            e_wr(b, E1000_EECD, pins[(i * 7 + r) % 11]), e_rd(b, E1000_EECD);
    e_wr(b, E1000_MDIC, E1000_MDIC_OP_RD | 5u << 21 | 2u << 16);
    e_wr(b, E1000_MDIC, E1000_MDIC_OP_WR | 1u << 21 | 31u << 16 | 0xffff);
    e_wr(b, E1000_MDIC, 0x0c000000u | 1u << 21), e_rd(b, E1000_MDIC);
    mk_save(b, "e1000", "e1000_eeprom_eecd_mdic_misuse");
    e_linux(b);
    for (uint32_t off = 0; off < 0x30000; off += 0x1f3c)
        e_wrw(b, off + 1, 0x5a5a5a5a5a5a5a5aull, 1), e_wrw(b, off + 2, 0xa5a5, 2),
            e_wrw(b, off & ~7u, ~0ull, 3), mk_u8(b, 1), mk_u32(b, off), mk_u8(b, 3);
    mk_save(b, "e1000", "e1000_unknown_offsets_widths_1_2_8");
    e_linux(b);
    mk_u8(b, 2), mk_u8(b, 0), mk_u8(b, 4), mk_u32(b, 0x7fffc);
    mk_u8(b, 2), mk_u8(b, 4), mk_u8(b, 4), mk_u32(b, 0x1234);
    mk_u8(b, 2), mk_u8(b, 0), mk_u8(b, 4), mk_u32(b, E1000_TDT);
    mk_u8(b, 2), mk_u8(b, 4), mk_u8(b, 4), mk_u32(b, 3), mk_u8(b, 2), mk_u8(b, 7), mk_u8(b, 1);
    mk_u8(b, 2), mk_u8(b, 5), mk_u8(b, 2), mk_u8(b, 2), mk_u8(b, 0x3f), mk_u8(b, 0);
    mk_save(b, "e1000", "e1000_io_bar_ioaddr_out_of_range");
}

/* Interrupt timers, resets, bus-master and link changes with traffic in flight. */
static void e1000_host_items(struct mk *b, size_t n)
{
    static const uint32_t tv[] = {0, 1, 0xffff};
    e_linux(b), e_tdt = 0;
    for (unsigned i = 0; i < 3; i++) {
        e_wr(b, E1000_ITR, tv[i]), e_wr(b, E1000_RADV, tv[i]), e_wr(b, E1000_TADV, tv[i]);
        e_wr(b, E1000_RDTR, tv[i]), e_wr(b, E1000_TIDV, tv[i]);
        e_tx_legacy(b, frame, n), e_frame(b, frame, n), mk_u8(b, 9);
    }
    mk_save(b, "e1000", "e1000_itr_radv_tadv_0_1_ffff");
    e_linux(b), e_tdt = 0;
    e_tx_legacy(b, frame, n), e_frame(b, frame, n), mk_u8(b, 5), mk_u8(b, 1);
    e_tx_legacy(b, frame, n), e_wr(b, E1000_CTRL, E1000_CTRL_RST), e_frame(b, frame, n);
    mk_u8(b, 5), mk_u8(b, 0), mk_u8(b, 9), mk_u8(b, 7), e_tx_legacy(b, frame, n);
    mk_save(b, "e1000", "e1000_ctrl_rst_during_tx_rx");
    e_linux(b), e_tdt = 0;
    e_wr(b, E1000_TDBAL, 0x3000), e_tx_legacy(b, frame, n), mk_u8(b, 6), mk_u8(b, 3);
    e_tx_legacy(b, frame, n), mk_u8(b, 6), mk_u8(b, 7), mk_u8(b, 8), mk_u8(b, 0);
    e_tx_legacy(b, frame, n), mk_u8(b, 5), mk_u8(b, 4), e_tx_legacy(b, frame, n);
    mk_save(b, "e1000", "e1000_tdba_changed_while_enabled_bus_master_off_link_down");
}

/* Packet tracing on (the harness's flag 0x40): every frame summary both ways, then each
 * interrupt outcome and RX drop reason e1000_trace.c names, and mitigation timers firing. */
static void e1000_trace_items(struct mk *b)
{
    e_linux_flags(b, 0x40), e_tdt = 0;
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_UPE | E1000_RCTL_MPE);
    mk_trace_frames(b, e_frame), e_rd(b, E1000_ICR);
    mk_trace_frames(b, e_tx_legacy), mk_u8(b, 5), mk_u8(b, 2);
    e_tx_legacy(b, frame, 60), mk_u8(b, 9); /* a backend error in the TX event */
    mk_save(b, "e1000", "e1000_trace_every_frame_summary_rx_tx");
    size_t n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    e_linux_flags(b, 0x40 | 1), e_tdt = 0;
    e_wr(b, E1000_IMC, ~0u), e_frame(b, frame, n), e_rd(b, E1000_ICR);    /* IMS masks it */
    e_wr(b, E1000_IMS, 0x9d), e_frame(b, frame, n), e_frame(b, frame, n); /* line still up */
    e_rd(b, E1000_ICR), e_wr(b, E1000_RDTR, 1), e_wr(b, E1000_RADV, 1);
    e_frame(b, frame, n), mk_u8(b, 9), e_rd(b, E1000_ICR); /* delayed; the timers fire */
    e_wr(b, E1000_RDTR, 0), e_wr(b, E1000_RADV, 0), e_wr(b, E1000_ITR, 1);
    e_frame(b, frame, n), e_frame(b, frame, n), mk_u8(b, 9), e_rd(b, E1000_ICR);
    e_wr(b, E1000_TIDV, 1), e_wr(b, E1000_TADV, 1), e_tx_legacy(b, frame, n), mk_u8(b, 9);
    n = mk_udp(frame, MK_GW_IP, MK_IP(10, 0, 2, 16), 40000, 9, "x", 1);
    e_frame(b, frame, n); /* unicast to another MAC: filtered */
    n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    e_frame(b, frame, 3000); /* oversize without LPE */
    e_wr(b, E1000_RDBAL, 0x7fff0000), e_frame(b, frame, n), e_wr(b, E1000_RDBAL, E_RD);
    e_wr(b, E1000_RCTL, 0), e_frame(b, frame, n); /* receiver disabled */
    e_wr(b, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM), e_wr(b, E1000_RDH, 0);
    e_wr(b, E1000_RDT, 0), e_frame(b, frame, n), e_frame(b, frame, n); /* no descriptors */
    mk_save(b, "e1000", "e1000_trace_irq_outcomes_and_rx_drops");
}

void mk_corpus_e1000(void)
{
    struct mk b = {0};
    size_t n;
    e_linux(&b), e_tdt = 0;
    n = mk_dhcp_discover(frame), e_tx_legacy(&b, frame, n);
    n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP), e_tx_legacy(&b, frame, n);
    n = mk_icmp_echo(frame, MK_GW_IP, MK_GUEST_IP, 1, 56), e_frame(&b, frame, n);
    e_rd(&b, E1000_ICR), e_rd(&b, E1000_GPRC), mk_u8(&b, 9);
    mk_save(&b, "e1000", "e1000_linux_bringup_dhcp_arp_ping");
    n = mk_arp_request(frame, MK_GUEST_IP, MK_GW_IP);
    e1000_ring_items(&b, n);
    e1000_tx_items(&b, n);
    e1000_rx_items(&b, n);
    e1000_reg_items(&b);
    e1000_host_items(&b, n);
    e1000_trace_items(&b);
    free(b.p);
}
