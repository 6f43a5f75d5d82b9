/* Internals of the 82540EM model shared by e1000.c (lifetime, PCI, interrupts, timers, netdev
 * glue), e1000_regs.c (the register table), e1000_phy.c (EEPROM and PHY), e1000_tx.c and
 * e1000_rx.c. Register offsets and bit names follow Intel's 8254x Software Developer's Manual
 * (chapter 13 for registers, chapter 3 for descriptors). Not for use outside devices/e1000*. */
#ifndef NICVM_E1000_INT_H
#define NICVM_E1000_INT_H

#include "devices/e1000.h"
#include "vmm/log.h"
#include "vmm/trace.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* --- register offsets (§13.4) ----------------------------------------------------------- */
enum {
    E1000_CTRL = 0x0000,
    E1000_STATUS = 0x0008,
    E1000_EECD = 0x0010,
    E1000_EERD = 0x0014,
    E1000_CTRL_EXT = 0x0018,
    E1000_FLA = 0x001c,
    E1000_MDIC = 0x0020,
    E1000_FCAL = 0x0028,
    E1000_FCAH = 0x002c,
    E1000_FCT = 0x0030,
    E1000_VET = 0x0038,
    E1000_ICR = 0x00c0,
    E1000_ITR = 0x00c4,
    E1000_ICS = 0x00c8,
    E1000_IMS = 0x00d0,
    E1000_IMC = 0x00d8,
    E1000_RCTL = 0x0100,
    E1000_FCTTV = 0x0170,
    E1000_TXCW = 0x0178,
    E1000_RXCW = 0x0180,
    E1000_TCTL = 0x0400,
    E1000_TCTL_EXT = 0x0404,
    E1000_TIPG = 0x0410,
    E1000_TBT = 0x0448,
    E1000_AIT = 0x0458,
    E1000_LEDCTL = 0x0e00,
    E1000_PBA = 0x1000,
    E1000_ERT = 0x2008,
    E1000_FCRTL = 0x2160,
    E1000_FCRTH = 0x2168,
    E1000_RDFH = 0x2410,
    E1000_RDFT = 0x2418,
    E1000_RDFHS = 0x2420,
    E1000_RDFTS = 0x2428,
    E1000_RDFPC = 0x2430,
    E1000_RDBAL = 0x2800,
    E1000_RDBAH = 0x2804,
    E1000_RDLEN = 0x2808,
    E1000_RDH = 0x2810,
    E1000_RDT = 0x2818,
    E1000_RDTR = 0x2820,
    E1000_RXDCTL = 0x2828,
    E1000_RADV = 0x282c,
    E1000_RSRPD = 0x2c00,
    E1000_TXDMAC = 0x3000,
    E1000_TDFH = 0x3410,
    E1000_TDFT = 0x3418,
    E1000_TDFHS = 0x3420,
    E1000_TDFTS = 0x3428,
    E1000_TDFPC = 0x3430,
    E1000_TDBAL = 0x3800,
    E1000_TDBAH = 0x3804,
    E1000_TDLEN = 0x3808,
    E1000_TDH = 0x3810,
    E1000_TDT = 0x3818,
    E1000_TIDV = 0x3820,
    E1000_TXDCTL = 0x3828,
    E1000_TADV = 0x382c,
    E1000_TSPMT = 0x3830,
    /* statistics (§13.7): 0x4000-0x40fc, clear on read */
    E1000_CRCERRS = 0x4000,
    E1000_MPC = 0x4010,
    E1000_PRC64 = 0x405c,
    E1000_PRC127 = 0x4060,
    E1000_PRC255 = 0x4064,
    E1000_PRC511 = 0x4068,
    E1000_PRC1023 = 0x406c,
    E1000_PRC1522 = 0x4070,
    E1000_GPRC = 0x4074,
    E1000_BPRC = 0x4078,
    E1000_MPRC = 0x407c,
    E1000_GPTC = 0x4080,
    E1000_GORCL = 0x4088,
    E1000_GORCH = 0x408c,
    E1000_GOTCL = 0x4090,
    E1000_GOTCH = 0x4094,
    E1000_RNBC = 0x40a0,
    E1000_RUC = 0x40a4,
    E1000_ROC = 0x40ac,
    E1000_TORL = 0x40c0,
    E1000_TORH = 0x40c4,
    E1000_TOTL = 0x40c8,
    E1000_TOTH = 0x40cc,
    E1000_TPR = 0x40d0,
    E1000_TPT = 0x40d4,
    E1000_PTC64 = 0x40d8,
    E1000_PTC127 = 0x40dc,
    E1000_PTC255 = 0x40e0,
    E1000_PTC511 = 0x40e4,
    E1000_PTC1023 = 0x40e8,
    E1000_PTC1522 = 0x40ec,
    E1000_MPTC = 0x40f0,
    E1000_BPTC = 0x40f4,
    E1000_TSCTC = 0x40f8,
    E1000_TSCTFC = 0x40fc,
    E1000_RXCSUM = 0x5000,
    E1000_MTA = 0x5200,  /* 128 entries */
    E1000_RA = 0x5400,   /* 16 pairs RAL/RAH */
    E1000_VFTA = 0x5600, /* 128 entries */
    E1000_WUC = 0x5800,
    E1000_WUFC = 0x5808,
    E1000_WUS = 0x5810,
    E1000_MANC = 0x5820,
    E1000_IPAV = 0x5838,
    E1000_IP4AT = 0x5840,
    E1000_IP6AT = 0x5880,
    E1000_WUPL = 0x5900,
    E1000_WUPM = 0x5a00,
    E1000_FFLT = 0x5f00,
};

/* Registers kept in e->regs: offsets 0x0000-0x7ffc. */
#define E1000_NREGS       (0x8000 / 4)
#define E1000_REG_ENTRIES 128 /* bound of e1000_regs.c's register table (checked there) */
#define E1000_RA_NUM      16

/* CTRL (§13.4.1) */
#define E1000_CTRL_FD      0x00000001u
#define E1000_CTRL_ASDE    0x00000020u
#define E1000_CTRL_SLU     0x00000040u
#define E1000_CTRL_SPD1000 0x00000200u
#define E1000_CTRL_RST     0x04000000u
#define E1000_CTRL_VME     0x40000000u
#define E1000_CTRL_PHY_RST 0x80000000u
/* STATUS */
#define E1000_STATUS_FD       0x00000001u
#define E1000_STATUS_LU       0x00000002u
#define E1000_STATUS_SPD1000  0x00000080u
#define E1000_STATUS_ASDV1000 0x00000200u
/* EECD (§13.4.3) */
#define E1000_EECD_SK   0x0001u
#define E1000_EECD_CS   0x0002u
#define E1000_EECD_DI   0x0004u
#define E1000_EECD_DO   0x0008u
#define E1000_EECD_FWE  0x0030u
#define E1000_EECD_REQ  0x0040u
#define E1000_EECD_GNT  0x0080u
#define E1000_EECD_PRES 0x0100u
/* EERD (§13.4.4) */
#define E1000_EERD_START 0x00000001u
#define E1000_EERD_DONE  0x00000010u
/* MDIC (§13.4.7) */
#define E1000_MDIC_DATA   0x0000ffffu
#define E1000_MDIC_OP_WR  0x04000000u
#define E1000_MDIC_OP_RD  0x08000000u
#define E1000_MDIC_READY  0x10000000u
#define E1000_MDIC_INT_EN 0x20000000u
#define E1000_MDIC_ERROR  0x40000000u
#define E1000_PHY_ADDR    1
/* ICR/ICS/IMS/IMC causes (§13.4.17) */
#define E1000_ICR_TXDW   0x00000001u
#define E1000_ICR_TXQE   0x00000002u
#define E1000_ICR_LSC    0x00000004u
#define E1000_ICR_RXSEQ  0x00000008u
#define E1000_ICR_RXDMT0 0x00000010u
#define E1000_ICR_RXO    0x00000040u
#define E1000_ICR_RXT0   0x00000080u
#define E1000_ICR_MDAC   0x00000200u
#define E1000_ICR_VALID  0x0001f6dfu /* the causes an 82540 has */
/* RCTL (§13.4.22) */
#define E1000_RCTL_EN          0x00000002u
#define E1000_RCTL_UPE         0x00000008u
#define E1000_RCTL_MPE         0x00000010u
#define E1000_RCTL_LPE         0x00000020u
#define E1000_RCTL_LBM         0x000000c0u
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT    12
#define E1000_RCTL_BAM         0x00008000u
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_BSEX        0x02000000u
#define E1000_RCTL_SECRC       0x04000000u
/* TCTL */
#define E1000_TCTL_EN 0x00000002u
/* RDTR/TIDV: flush partial descriptor block */
#define E1000_DELAY_FPD 0x80000000u
/* RXCSUM */
#define E1000_RXCSUM_IPOFL 0x00000100u
#define E1000_RXCSUM_TUOFL 0x00000200u
/* RAH */
#define E1000_RAH_AV 0x80000000u
#define E1000_RAH_AS 0x00030000u

/* TX descriptors (§3.3): command bits in the lower dword, bits 31:24. */
#define E1000_TXD_EOP        0x01000000u
#define E1000_TXD_IC         0x04000000u /* legacy: insert checksum */
#define E1000_TXD_TSE        0x04000000u /* data, context: TCP segmentation */
#define E1000_TXD_RS         0x08000000u
#define E1000_TXD_DEXT       0x20000000u
#define E1000_TXD_VLE        0x40000000u
#define E1000_TXD_IDE        0x80000000u
#define E1000_TXD_CTX_TCP    0x01000000u /* context TUCMD.TCP */
#define E1000_TXD_CTX_IP     0x02000000u /* context TUCMD.IP (IPv4) */
#define E1000_TXD_DTYP_SHIFT 20
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TXD_STAT_DD    0x01
/* RX descriptor status and errors (§3.2.3) */
#define E1000_RXD_STAT_DD    0x01
#define E1000_RXD_STAT_EOP   0x02
#define E1000_RXD_STAT_IXSM  0x04
#define E1000_RXD_STAT_VP    0x08
#define E1000_RXD_STAT_TCPCS 0x20
#define E1000_RXD_STAT_IPCS  0x40
#define E1000_RXD_ERR_TCPE   0x20
#define E1000_RXD_ERR_IPE    0x40
#define E1000_RXD_ERR_RXE    0x80

#define E1000_DESC_SIZE 16
#define E1000_ETH_HLEN  14
#define E1000_MIN_FRAME 60 /* without FCS */
#define E1000_FCS_LEN   4
#define E1000_MAX_STD   1522 /* with FCS and one VLAN tag */
#define E1000_MAX_LPE   16384

/* Work per kick and queue bounds. */
#define E1000_TX_BUDGET     256
#define E1000_TX_PREFIX     320 /* bytes of each TX frame copied: every offset field is below 258 */
#define E1000_TX_MAX_IOV    64
#define E1000_TX_MAX_RS     64
#define E1000_TX_MAX_LEN    NETDEV_MAX_FRAME
#define E1000_LB_MAX_FRAMES 64
#define E1000_LB_MAX_BYTES  (256u << 10)
#define E1000_LB_BUDGET     64

/* PHY registers (IEEE 802.3 clause 22 and the M88E1011's own) */
enum {
    PHY_CTRL = 0x00,
    PHY_STATUS = 0x01,
    PHY_ID1 = 0x02,
    PHY_ID2 = 0x03,
    PHY_AUTONEG_ADV = 0x04,
    PHY_LP_ABILITY = 0x05,
    PHY_AUTONEG_EXP = 0x06,
    PHY_1000T_CTRL = 0x09,
    PHY_1000T_STATUS = 0x0a,
    PHY_EXT_STATUS = 0x0f,
    M88_PHY_SPEC_CTRL = 0x10,
    M88_PHY_SPEC_STATUS = 0x11,
    M88_INT_STATUS = 0x13,
    M88_EXT_PHY_SPEC_CTRL = 0x14,
    M88_RX_ERR_CNTR = 0x15,
};
#define PHY_CTRL_RESET      0x8000u
#define PHY_CTRL_LOOPBACK   0x4000u
#define PHY_CTRL_POWERDOWN  0x0800u
#define PHY_CTRL_RESTART_AN 0x0200u
#define E1000_PHY_REGS      32

/* Work kinds handed to the loop through the work eventfd. */
enum { E1000_WORK_TX = 1u << 0, E1000_WORK_LB = 1u << 1 };

/* The two TX contexts (§3.3.6): one for TSE data descriptors, one for the others. */
struct e1000_txctx {
    bool valid;
    uint8_t ipcss, ipcso, tucss, tucso, hdrlen;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
    uint32_t cmd; /* the context descriptor's lower dword command bits */
};

/* The packet being gathered from TX descriptors until EOP. The first E1000_TX_PREFIX bytes
 * are copied into buf (after 4 bytes of headroom for a VLAN tag); the rest stays in guest
 * memory as iovecs until the frame is handed to the netdev layer. */
struct e1000_txpkt {
    bool active, bad, ext, tse, vle;
    uint8_t popts, css;
    uint16_t vlan;
    struct e1000_txctx ctx; /* the context in force at the first data descriptor */
    size_t len, prefix_len;
    uint8_t buf[4 + E1000_TX_PREFIX];
    struct iovec iov[E1000_TX_MAX_IOV + 1]; /* iov[0] is the prefix */
    int niov;                               /* guest iovecs in iov[1..] */
    uint32_t rs[E1000_TX_MAX_RS];           /* descriptor index | E1000_RS_IDE */
    unsigned nrs;
};
#define E1000_RS_IDE 0x80000000u

/* A mitigation timer: the evloop timer plus a software deadline, so that extending a
 * packet timer only stores a deadline under the device lock. */
struct e1000_mtimer {
    struct evloop_timer *t;
    struct e1000 *e;
    uint64_t deadline;
    bool on;
    void (*fire)(struct e1000 *e);
};

struct e1000_lbframe {
    struct e1000_lbframe *next;
    size_t len;
    uint8_t data[];
};

struct e1000 {
    pthread_mutex_t lock;
    struct pci_device pci;
    char name[32], bar0_name[48], bar1_name[48];
    struct netdev *nd;
    const struct guestmem *mem;
    struct irq_line *irq;
    struct evloop *loop;
    uint8_t mac[6];

    uint32_t regs[E1000_NREGS];
    uint64_t gorc, gotc, tor, tot; /* the 64-bit statistics */
    uint64_t mpc_layer_seen;       /* the netdev layer's queue drops already in MPC */
    uint32_t ioaddr;

    uint16_t eeprom[64];
    struct {
        uint32_t pins; /* SK, CS, DI, FWE, REQ as written */
        unsigned nbits;
        uint32_t shift;
        bool reading, ignore;
        uint8_t addr;
        unsigned outpos;
        bool dout;
    } ee;
    uint16_t phy[E1000_PHY_REGS];
    bool backend_link;

    bool irq_level;
    uint64_t itr_next_ns;
    struct e1000_mtimer itr, rdtr, radv, tidv, tadv;

    struct e1000_txctx ctx_tso, ctx_csum;
    struct e1000_txpkt pkt;
    bool tx_wait;        /* stopped for netdev_can_send() or a full loopback queue */
    bool tx_irq_delayed; /* a delayed TXDW is due at the end of this batch */

    bool rx_blocked; /* receive() returned 0: tell the layer when RDT moves */
    uint8_t *rxbuf;  /* E1000_MAX_LPE + 64: a frame the device must change */

    struct e1000_lbframe *lb_head, **lb_tail;
    unsigned lb_count;
    size_t lb_bytes;
    uint8_t *lb_linear, *lb_scratch; /* software offload of looped-back frames */

    unsigned work; /* E1000_WORK_* pending */
    int work_fd;

    struct e1000_stats stats;
    /* Guest accesses (MMIO or the BAR1 window) per register-table entry, [reads, writes]:
     * which registers a driver's exits go to. Kept across resets, as the stats are. */
    uint64_t reg_access[E1000_REG_ENTRIES][2];
    bool traced;  /* the packet trace keeps this NIC's events */
    int track[2]; /* trace tracks: RX ring, TX ring */
    struct log_ratelimit rl;
    bool logged_unknown, logged_partial, logged_phy;
};

/* e1000.c */
void e1000_update_irq(struct e1000 *e);
void e1000_set_ics(struct e1000 *e, uint32_t causes);
void e1000_kick(struct e1000 *e, unsigned work);
void e1000_reset_locked(struct e1000 *e);
bool e1000_dma_ok(const struct e1000 *e);
bool e1000_link_up(const struct e1000 *e);
void e1000_link_update(struct e1000 *e, bool was_up);
void e1000_mtimer_extend(struct e1000_mtimer *m, uint64_t ns);
void e1000_mtimer_start(struct e1000_mtimer *m, uint64_t ns);
void e1000_mtimer_stop(struct e1000_mtimer *m);
void e1000_rx_delay_flush(struct e1000 *e);
void e1000_tx_delay_flush(struct e1000 *e);

/* e1000_regs.c */
void e1000_regs_reset(struct e1000 *e);
/* e1000_reg_access_info: the guest's accesses by register name ("ICR": {"reads", "writes"}),
 * registers never accessed left out, as a new jansson object. */
json_t *e1000_reg_access_info(const struct e1000 *e);
uint32_t e1000_reg_read(struct e1000 *e, uint32_t off);
void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t val);
void e1000_stat_add(struct e1000 *e, uint32_t off, uint32_t n);

/* e1000_phy.c */
void e1000_eeprom_init(struct e1000 *e);
uint32_t e1000_eecd_read(struct e1000 *e);
void e1000_eecd_write(struct e1000 *e, uint32_t val);
uint32_t e1000_eerd_write(struct e1000 *e, uint32_t val);
void e1000_phy_reset(struct e1000 *e);
uint32_t e1000_mdic_write(struct e1000 *e, uint32_t val);

/* e1000_tx.c */
void e1000_tx_run(struct e1000 *e);
void e1000_tx_reset(struct e1000 *e);
uint32_t e1000_csum_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len);
void e1000_count_frame(struct e1000 *e, bool tx, const uint8_t *dst, size_t wire_len, uint32_t n);

/* e1000_trace.c (only called while vmm/trace.h's packet trace is on and e->traced) */
void e1000_trace_init(struct e1000 *e);
int e1000_trace_send(struct e1000 *e, const struct virtio_net_hdr_v1 *h, const struct iovec *iov,
                     int iovcnt, size_t len);
size_t e1000_trace_rx(struct e1000 *e, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                      int iovcnt, size_t len);
void e1000_trace_timer(struct e1000 *e, const char *which);
#define e1000_tracing(e) (trace_on(TRACE_PACKETS) && (e)->traced)

/* e1000_rx.c */
size_t e1000_rx_frame(struct e1000 *e, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                      int iovcnt, size_t len, bool looped);
bool e1000_loopback(const struct e1000 *e);
int e1000_lb_push(struct e1000 *e, const uint8_t *frame, size_t len);
void e1000_lb_drain(struct e1000 *e);
void e1000_lb_flush(struct e1000 *e);

/* Little-endian and big-endian helpers on byte arrays. */
static inline uint16_t e1000_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t e1000_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t e1000_le64(const uint8_t *p)
{
    return (uint64_t)e1000_le32(p) | (uint64_t)e1000_le32(p + 4) << 32;
}

static inline void e1000_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint16_t e1000_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void e1000_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint32_t e1000_reg(const struct e1000 *e, uint32_t off)
{
    return e->regs[off >> 2];
}

#endif
