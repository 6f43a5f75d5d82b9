/* The 82540EM register window (8254x manual §13): one table entry per register or register
 * array with its writable bits, flags and, where the register does more than hold a value,
 * its read or write handler. Also the BAR0 and BAR1 (IOADDR/IODATA) access paths, which
 * reduce accesses of any width and alignment to whole-register operations. */
#include "devices/e1000_int.h"

#include <pthread.h>
#include <string.h>

enum { R_RO = 1, R_COR = 2, R_WO = 4 };

typedef uint32_t (*reg_read_fn)(struct e1000 *e, uint32_t off);
typedef void (*reg_write_fn)(struct e1000 *e, uint32_t off, uint32_t val);

struct reg_desc {
    uint32_t off;
    uint16_t n; /* consecutive registers */
    uint8_t flags;
    uint32_t wmask; /* bits kept by a plain write */
    reg_read_fn rd;
    reg_write_fn wr;
    const char *name; /* the datasheet's mnemonic, with an "E1000_" prefix */
};

/* --- handlers --------------------------------------------------------------------------- */

static uint32_t rd_status(struct e1000 *e, uint32_t off)
{
    (void)off;
    uint32_t v = E1000_STATUS_FD | E1000_STATUS_SPD1000 | E1000_STATUS_ASDV1000;
    return e1000_link_up(e) ? v | E1000_STATUS_LU : v;
}

static void wr_ctrl(struct e1000 *e, uint32_t off, uint32_t val)
{
    (void)off;
    if (val & E1000_CTRL_RST) {
        e1000_reset_locked(e); /* self-clearing: reads back clear */
        return;
    }
    bool was_up = e1000_link_up(e);
    if ((val & E1000_CTRL_PHY_RST) && !(e1000_reg(e, E1000_CTRL) & E1000_CTRL_PHY_RST))
        e1000_phy_reset(e);
    e->regs[E1000_CTRL >> 2] = val;
    e1000_link_update(e, was_up);
}

static uint32_t rd_eecd(struct e1000 *e, uint32_t off)
{
    (void)off;
    return e1000_eecd_read(e);
}

static void wr_eecd(struct e1000 *e, uint32_t off, uint32_t val)
{
    (void)off;
    e1000_eecd_write(e, val);
}

static void wr_eerd(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = e1000_eerd_write(e, val);
}

static void wr_mdic(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = e1000_mdic_write(e, val);
}

static uint32_t rd_icr(struct e1000 *e, uint32_t off)
{
    uint32_t v = e->regs[off >> 2];
    e->regs[off >> 2] = 0; /* all causes clear on read (§13.4.17) */
    e1000_update_irq(e);
    return v;
}

static void wr_icr(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] &= ~val; /* write 1 to clear */
    e1000_update_irq(e);
}

static void wr_ics(struct e1000 *e, uint32_t off, uint32_t val)
{
    (void)off;
    e1000_set_ics(e, val);
}

static void wr_ims(struct e1000 *e, uint32_t off, uint32_t val)
{
    (void)off;
    e->regs[E1000_IMS >> 2] |= val & E1000_ICR_VALID;
    e1000_update_irq(e);
}

static void wr_imc(struct e1000 *e, uint32_t off, uint32_t val)
{
    (void)off;
    e->regs[E1000_IMS >> 2] &= ~val;
    e1000_update_irq(e);
}

static void wr_itr(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val & 0xffff;
    e1000_update_irq(e); /* a shorter interval may release a held interrupt */
}

static void wr_rctl(struct e1000 *e, uint32_t off, uint32_t val)
{
    uint32_t old = e->regs[off >> 2];
    e->regs[off >> 2] = val;
    if ((val & E1000_RCTL_EN) && !(old & E1000_RCTL_EN) && e->rx_blocked) {
        e->rx_blocked = false;
        netdev_rx_ready(e->nd);
    }
    if (e->lb_head)
        e1000_kick(e, E1000_WORK_LB);
}

static void wr_tctl(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val;
    if (val & E1000_TCTL_EN)
        e1000_kick(e, E1000_WORK_TX);
}

static void wr_tdt(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val & 0xffff;
    e1000_kick(e, E1000_WORK_TX);
}

static void wr_rdt(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val & 0xffff;
    /* New buffers: whatever the layer or the loopback queue holds may now fit. */
    if (e->rx_blocked) {
        e->rx_blocked = false;
        netdev_rx_ready(e->nd);
    }
    if (e->lb_head)
        e1000_kick(e, E1000_WORK_LB);
}

static void wr_rdtr(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val & 0xffff;
    if (val & E1000_DELAY_FPD)
        e1000_rx_delay_flush(e);
}

static void wr_tidv(struct e1000 *e, uint32_t off, uint32_t val)
{
    e->regs[off >> 2] = val & 0xffff;
    if (val & E1000_DELAY_FPD)
        e1000_tx_delay_flush(e);
}

static uint32_t rd_zero(struct e1000 *e, uint32_t off)
{
    (void)e, (void)off;
    return 0;
}

/* MPC: frames the guest missed for lack of buffers. The device never drops for that itself
 * (receive() returns 0 and the netdev layer keeps the frame), so the count is the layer's
 * queue-full drops since the last read. */
static uint32_t rd_mpc(struct e1000 *e, uint32_t off)
{
    uint64_t drops = netdev_get_stats(e->nd)->drops[NETDEV_DROP_QUEUE_FULL];
    uint64_t delta = drops - e->mpc_layer_seen;
    e->mpc_layer_seen = drops;
    e1000_stat_add(e, off, delta > UINT32_MAX ? UINT32_MAX : (uint32_t)delta);
    uint32_t v = e->regs[off >> 2];
    e->regs[off >> 2] = 0;
    return v;
}

static uint64_t *stat64(struct e1000 *e, uint32_t off)
{
    switch (off & ~4u) {
    case E1000_GORCL: return &e->gorc;
    case E1000_GOTCL: return &e->gotc;
    case E1000_TORL: return &e->tor;
    default: return &e->tot;
    }
}

/* The 64-bit octet counters: the low half reads without side effect, reading the high half
 * returns it and clears the whole counter (drivers read low, then high). */
static uint32_t rd_stat64(struct e1000 *e, uint32_t off)
{
    uint64_t *c = stat64(e, off);
    if (!(off & 4))
        return (uint32_t)*c;
    uint32_t hi = (uint32_t)(*c >> 32);
    *c = 0;
    return hi;
}

#define ALL 0xffffffffu
#define RW(o, m)                                                                                   \
    {                                                                                              \
        o, 1, 0, m, NULL, NULL, #o                                                                 \
    }
#define ARR(o, n)                                                                                  \
    {                                                                                              \
        o, n, 0, ALL, NULL, NULL, #o                                                               \
    }
#define RO(o, fn)                                                                                  \
    {                                                                                              \
        o, 1, R_RO, 0, fn, NULL, #o                                                                \
    }
#define H(o, rd, wr)                                                                               \
    {                                                                                              \
        o, 1, 0, ALL, rd, wr, #o                                                                   \
    }
#define WO(o, wr)                                                                                  \
    {                                                                                              \
        o, 1, R_WO, 0, rd_zero, wr, #o                                                             \
    }

/* Later entries override earlier ones (the statistics block, then its special members). */
static const struct reg_desc reg_table[] = {
    H(E1000_CTRL, NULL, wr_ctrl),
    RO(E1000_STATUS, rd_status),
    H(E1000_EECD, rd_eecd, wr_eecd),
    H(E1000_EERD, NULL, wr_eerd),
    RW(E1000_CTRL_EXT, ALL),
    RW(E1000_FLA, ALL),
    H(E1000_MDIC, NULL, wr_mdic),
    RW(E1000_FCAL, ALL),
    RW(E1000_FCAH, 0xffff),
    RW(E1000_FCT, 0xffff),
    RW(E1000_VET, 0xffff),
    H(E1000_ICR, rd_icr, wr_icr),
    H(E1000_ITR, NULL, wr_itr),
    WO(E1000_ICS, wr_ics),
    H(E1000_IMS, NULL, wr_ims),
    WO(E1000_IMC, wr_imc),
    H(E1000_RCTL, NULL, wr_rctl),
    RW(E1000_FCTTV, 0xffff),
    RW(E1000_TXCW, ALL),
    RO(E1000_RXCW, NULL),
    H(E1000_TCTL, NULL, wr_tctl),
    RW(E1000_TCTL_EXT, ALL),
    RW(E1000_TIPG, ALL),
    RW(E1000_TBT, ALL),
    RW(E1000_AIT, ALL),
    RW(E1000_LEDCTL, ALL),
    RW(E1000_PBA, ALL),
    RW(E1000_ERT, ALL),
    RW(E1000_FCRTL, ALL),
    RW(E1000_FCRTH, ALL),
    RW(E1000_RDFH, ALL),
    RW(E1000_RDFT, ALL),
    RW(E1000_RDFHS, ALL),
    RW(E1000_RDFTS, ALL),
    RW(E1000_RDFPC, ALL),
    RW(E1000_RDBAL, 0xfffffff0u),
    RW(E1000_RDBAH, ALL),
    RW(E1000_RDLEN, 0x000fff80u),
    RW(E1000_RDH, 0xffff),
    H(E1000_RDT, NULL, wr_rdt),
    H(E1000_RDTR, NULL, wr_rdtr),
    RW(E1000_RXDCTL, ALL),
    RW(E1000_RADV, 0xffff),
    RW(E1000_RSRPD, 0xfff),
    RW(E1000_TXDMAC, ALL),
    RW(E1000_TDFH, ALL),
    RW(E1000_TDFT, ALL),
    RW(E1000_TDFHS, ALL),
    RW(E1000_TDFTS, ALL),
    RW(E1000_TDFPC, ALL),
    RW(E1000_TDBAL, 0xfffffff0u),
    RW(E1000_TDBAH, ALL),
    RW(E1000_TDLEN, 0x000fff80u),
    RW(E1000_TDH, 0xffff),
    H(E1000_TDT, NULL, wr_tdt),
    H(E1000_TIDV, NULL, wr_tidv),
    RW(E1000_TXDCTL, ALL),
    RW(E1000_TADV, 0xffff),
    RW(E1000_TSPMT, ALL),
    {E1000_CRCERRS, 64, R_RO | R_COR, 0, NULL, NULL, "E1000_statistics"},
    RO(E1000_MPC, rd_mpc),
    RO(E1000_GORCL, rd_stat64),
    RO(E1000_GORCH, rd_stat64),
    RO(E1000_GOTCL, rd_stat64),
    RO(E1000_GOTCH, rd_stat64),
    RO(E1000_TORL, rd_stat64),
    RO(E1000_TORH, rd_stat64),
    RO(E1000_TOTL, rd_stat64),
    RO(E1000_TOTH, rd_stat64),
    RW(E1000_RXCSUM, 0x7ff),
    ARR(E1000_MTA, 128),
    ARR(E1000_RA, 2 * E1000_RA_NUM),
    ARR(E1000_VFTA, 128),
    RW(E1000_WUC, ALL),
    RW(E1000_WUFC, ALL),
    RW(E1000_WUS, ALL),
    RW(E1000_MANC, ALL),
    RW(E1000_IPAV, ALL),
    ARR(E1000_IP4AT, 8),
    ARR(E1000_IP6AT, 4),
    RW(E1000_WUPL, ALL),
    {E1000_WUPM, 32, R_RO, 0, NULL, NULL, "E1000_WUPM"},
    ARR(E1000_FFLT, 8),
};

#define NTABLE (sizeof(reg_table) / sizeof(reg_table[0]))
_Static_assert(NTABLE <= E1000_REG_ENTRIES, "struct e1000's reg_access is too small");

static uint8_t reg_index[E1000_NREGS]; /* table entry + 1, 0 for none */
static pthread_once_t reg_index_once = PTHREAD_ONCE_INIT;

static void build_index(void)
{
    for (size_t i = 0; i < NTABLE; i++)
        for (unsigned k = 0; k < reg_table[i].n; k++)
            reg_index[(reg_table[i].off >> 2) + k] = (uint8_t)(i + 1);
}

static const struct reg_desc *reg_find(uint32_t off)
{
    if (off >= E1000_NREGS * 4u)
        return NULL;
    unsigned t = reg_index[off >> 2];
    return t ? &reg_table[t - 1] : NULL;
}

static void unknown_access(struct e1000 *e, uint32_t off, bool is_write)
{
    e->stats.unknown_reg++;
    log_once(&e->logged_unknown, LOG_DEBUG, "%s: %s of unknown register 0x%05x (reads 0)", e->name,
             is_write ? "write" : "read", off);
}

/* Power-on values (§13.4: each register's "initial value"). */
void e1000_regs_reset(struct e1000 *e)
{
    pthread_once(&reg_index_once, build_index);
    memset(e->regs, 0, sizeof(e->regs));
    e->gorc = e->gotc = e->tor = e->tot = 0;
    e->regs[E1000_CTRL >> 2] =
        E1000_CTRL_FD | E1000_CTRL_ASDE | E1000_CTRL_SLU | E1000_CTRL_SPD1000;
    e->regs[E1000_VET >> 2] = 0x8100;
    e->regs[E1000_LEDCTL >> 2] = 0x07068302;
    e->regs[E1000_PBA >> 2] = 0x00100030; /* 48 KB receive, 16 KB transmit */
    e->regs[E1000_RXCSUM >> 2] = E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL;
    /* RAL0/RAH0 are loaded from the EEPROM's MAC words. */
    e->regs[E1000_RA >> 2] = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 |
                             (uint32_t)e->mac[2] << 16 | (uint32_t)e->mac[3] << 24;
    e->regs[(E1000_RA >> 2) + 1] = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV;
}

void e1000_stat_add(struct e1000 *e, uint32_t off, uint32_t n)
{
    uint32_t *r = &e->regs[off >> 2];
    *r = *r > UINT32_MAX - n ? UINT32_MAX : *r + n; /* the counters stick at the maximum */
}

uint32_t e1000_reg_read(struct e1000 *e, uint32_t off)
{
    const struct reg_desc *d = reg_find(off);
    if (!d) {
        unknown_access(e, off, false);
        return 0;
    }
    uint32_t v = d->rd ? d->rd(e, off) : e->regs[off >> 2];
    if (d->flags & R_COR)
        e->regs[off >> 2] = 0;
    return v;
}

void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t val)
{
    const struct reg_desc *d = reg_find(off);
    if (!d) {
        unknown_access(e, off, true);
        return;
    }
    if (d->flags & R_RO)
        return;
    if (d->wr)
        d->wr(e, off, val);
    else
        e->regs[off >> 2] = val & d->wmask;
}

/* --- accesses of any width ---------------------------------------------------------------- */

/* A write of fewer than four bytes (or straddling registers): merged into a register that
 * only holds a value; ignored where the register acts on writes (a partial ICS or TDT has no
 * sensible meaning, and the driver never does it). */
static void partial_write(struct e1000 *e, uint32_t off, const uint8_t *data, unsigned len)
{
    for (unsigned i = 0; i < len;) {
        uint32_t reg = (off + i) & ~3u;
        unsigned first = (off + i) & 3u, n = 4 - first < len - i ? 4 - first : len - i;
        const struct reg_desc *d = reg_find(reg);
        if (!d) {
            unknown_access(e, reg, true);
        } else if (d->wr || (d->flags & R_RO)) {
            log_once(&e->logged_partial, LOG_DEBUG,
                     "%s: %u-byte write at 0x%05x ignored (register needs 32-bit writes)", e->name,
                     len, off);
        } else {
            uint32_t v = e->regs[reg >> 2];
            for (unsigned k = 0; k < n; k++) {
                v &= ~(0xffu << (8 * (first + k)));
                v |= (uint32_t)data[i + k] << (8 * (first + k));
            }
            e->regs[reg >> 2] = v & d->wmask;
        }
        i += n;
    }
}

static void partial_read(struct e1000 *e, uint32_t off, uint8_t *data, unsigned len)
{
    for (unsigned i = 0; i < len;) {
        uint32_t reg = (off + i) & ~3u;
        unsigned first = (off + i) & 3u, n = 4 - first < len - i ? 4 - first : len - i;
        uint32_t v = e1000_reg_read(e, reg);
        for (unsigned k = 0; k < n; k++)
            data[i + k] = (uint8_t)(v >> (8 * (first + k)));
        i += n;
    }
}

/* Counts one guest access per register it touches (at most three: len <= 8). */
static void count_access(struct e1000 *e, uint32_t off, unsigned len, bool is_write)
{
    for (uint32_t r = off & ~3u; r < off + len; r += 4) {
        unsigned t = r < E1000_NREGS * 4u ? reg_index[r >> 2] : 0;
        if (t)
            e->reg_access[t - 1][is_write]++;
    }
}

json_t *e1000_reg_access_info(const struct e1000 *e)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NTABLE; i++) {
        const uint64_t *n = e->reg_access[i];
        if (n[0] || n[1])
            json_object_set_new(
                o, reg_table[i].name + 6,
                json_pack("{s:I, s:I}", "reads", (json_int_t)n[0], "writes", (json_int_t)n[1]));
    }
    return o;
}

static void mmio_locked(struct e1000 *e, uint64_t offset, uint8_t *data, unsigned len,
                        bool is_write)
{
    if (!is_write)
        memset(data, 0, len);
    if (len == 0 || len > 8 || offset >= E1000_MMIO_SIZE || len > E1000_MMIO_SIZE - offset) {
        unknown_access(e, (uint32_t)(offset & 0xfffff), is_write);
        return;
    }
    uint32_t off = (uint32_t)offset;
    count_access(e, off, len, is_write);
    if (len == 4 && !(off & 3)) {
        if (is_write)
            e1000_reg_write(e, off, (uint32_t)iobus_get_le(data, 4));
        else
            iobus_put_le(data, 4, e1000_reg_read(e, off));
    } else if (len == 8 && !(off & 7)) {
        for (unsigned h = 0; h < 8; h += 4) { /* low dword first, as two accesses would */
            if (is_write)
                e1000_reg_write(e, off + h, (uint32_t)iobus_get_le(data + h, 4));
            else
                iobus_put_le(data + h, 4, e1000_reg_read(e, off + h));
        }
    } else if (is_write) {
        partial_write(e, off, data, len);
    } else {
        partial_read(e, off, data, len);
    }
}

void e1000_mmio(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    mmio_locked(e, offset, data, len, is_write);
    pthread_mutex_unlock(&e->lock);
}

/* BAR1 (§13.2.2): IOADDR at 0 selects a register, IODATA at 4 accesses it. An IOADDR past
 * the register window reads 0 and ignores writes; the rest of the window is reserved. */
void e1000_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    if (!is_write)
        memset(data, 0, len);
    if (len == 0 || len > 8 || offset >= 8 || offset + len > 8) {
        /* reserved, or an access straddling IOADDR and IODATA */
    } else if (offset < 4) {
        uint8_t b[4];
        iobus_put_le(b, 4, e->ioaddr);
        unsigned n = 4 - (unsigned)offset < len ? 4 - (unsigned)offset : len;
        if (is_write) {
            memcpy(b + offset, data, n);
            e->ioaddr = (uint32_t)iobus_get_le(b, 4);
        } else {
            memcpy(data, b + offset, n);
        }
    } else {
        uint64_t reg = (uint64_t)e->ioaddr + (offset - 4);
        if (reg < E1000_MMIO_SIZE && len <= E1000_MMIO_SIZE - reg)
            mmio_locked(e, reg, data, len, is_write);
    }
    pthread_mutex_unlock(&e->lock);
}
