/* The 82540EM's serial EEPROM (64 words of Microwire, read bit by bit through EECD or a word
 * at a time through EERD, 8254x manual §5 and §13.4.3-4) and its internal M88E1011-style PHY
 * behind MDIC (§13.4.7, IEEE 802.3 clause 22). Called with the device lock held. */
#include "devices/e1000_int.h"

#include <string.h>

/* Microwire: a start bit (leading zeros are ignored), two opcode bits and six address bits,
 * then the addressed word comes out most significant bit first. */
#define EE_CMD_BITS     9
#define EE_OP_READ      0x2
#define EE_ADDR_BITS    6
#define EE_WORDS        64
#define EE_CHECKSUM_REG 0x3f
#define EE_SUM          0xbaba

/* EEPROM words (8254x manual §5.6). Words 0-2: the MAC; 0x0b-0x0e: the PCI subsystem and
 * device IDs the function shows; 0x0f (initialization control 2): both PAUSE bits, so the
 * driver's default flow control is "full"; 0x04 (LED settings) 0xffff so Linux uses its
 * default LED mode; 0x14/0x24 (initialization control 3) 0: no APM wake-up, so Linux leaves
 * Wake-on-LAN off; unused words read 0xffff as on an erased part; 0x3f makes the sum of all
 * 64 words 0xBABA, the check e1000_validate_eeprom_checksum does. */
void e1000_eeprom_init(struct e1000 *e)
{
    uint16_t *w = e->eeprom;
    for (int i = 0; i < EE_WORDS; i++)
        w[i] = 0xffff;
    for (int i = 0; i < 3; i++)
        w[i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
    w[0x03] = 0x0000; /* compatibility: no special bits */
    w[0x05] = 0x0000; /* image version */
    w[0x08] = 0x3000; /* PBA number, low and high */
    w[0x09] = 0x1000;
    w[0x0a] = 0x0000; /* initialization control 1: nothing loaded from here */
    w[0x0b] = 0x001e; /* subsystem ID */
    w[0x0c] = 0x8086; /* subsystem vendor ID */
    w[0x0d] = E1000_DEVICE_ID;
    w[0x0e] = E1000_VENDOR_ID;
    w[0x0f] = 0x3000; /* initialization control 2: PAUSE | ASM_DIR */
    w[0x14] = 0x0000;
    w[0x24] = 0x0000;
    uint16_t sum = 0;
    for (int i = 0; i < EE_CHECKSUM_REG; i++)
        sum = (uint16_t)(sum + w[i]);
    w[EE_CHECKSUM_REG] = (uint16_t)(EE_SUM - sum);
}

uint32_t e1000_eecd_read(struct e1000 *e)
{
    uint32_t v = e->ee.pins | E1000_EECD_PRES;
    if (v & E1000_EECD_REQ)
        v |= E1000_EECD_GNT;
    /* DO: the bit being shifted out while reading; otherwise "ready" (high), which is what
     * a driver polls for after a (here ignored) write command. */
    if ((v & E1000_EECD_CS) && (!e->ee.reading || e->ee.dout))
        v |= E1000_EECD_DO;
    return v;
}

static void ee_idle(struct e1000 *e)
{
    e->ee.nbits = 0;
    e->ee.shift = 0;
    e->ee.reading = false;
    e->ee.ignore = false;
    e->ee.outpos = 0;
    e->ee.dout = false;
}

/* One rising edge of SK with CS high. */
static void ee_clock(struct e1000 *e, bool di)
{
    if (e->ee.ignore)
        return;
    if (e->ee.reading) {
        uint16_t word = e->eeprom[e->ee.addr];
        e->ee.dout = (word >> (15 - e->ee.outpos)) & 1;
        if (++e->ee.outpos == 16) { /* sequential read: on to the next word */
            e->ee.outpos = 0;
            e->ee.addr = (uint8_t)((e->ee.addr + 1) % EE_WORDS);
        }
        return;
    }
    if (e->ee.nbits == 0 && !di)
        return; /* waiting for the start bit */
    e->ee.shift = (e->ee.shift << 1) | (di ? 1u : 0u);
    if (++e->ee.nbits < EE_CMD_BITS)
        return;
    unsigned op = (e->ee.shift >> EE_ADDR_BITS) & 0x3;
    if (op == EE_OP_READ) {
        e->ee.reading = true;
        e->ee.addr = (uint8_t)(e->ee.shift & (EE_WORDS - 1));
        e->ee.outpos = 0;
        e->ee.dout = false; /* the dummy zero before D15 */
    } else {
        e->ee.ignore = true; /* write, erase, enable/disable: the EEPROM is read-only here */
    }
}

void e1000_eecd_write(struct e1000 *e, uint32_t val)
{
    uint32_t old = e->ee.pins;
    e->ee.pins =
        val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE | E1000_EECD_REQ);
    /* Without the grant the pins belong to the hardware; with CS low the part resets its
     * command state. Any order of bits is accepted: at worst a read returns garbage. */
    if (!(val & E1000_EECD_REQ) || !(val & E1000_EECD_CS)) {
        ee_idle(e);
        return;
    }
    if (!(old & E1000_EECD_SK) && (val & E1000_EECD_SK))
        ee_clock(e, val & E1000_EECD_DI);
}

uint32_t e1000_eerd_write(struct e1000 *e, uint32_t val)
{
    if (!(val & E1000_EERD_START))
        return val & ~E1000_EERD_DONE;
    uint32_t addr = (val >> 8) & 0xff;
    uint32_t data = addr < EE_WORDS ? e->eeprom[addr] : 0; /* past the part: no data */
    return E1000_EERD_DONE | addr << 8 | data << 16;
}

/* --- PHY ------------------------------------------------------------------------------- */

/* Power-on values of the writable registers; the status registers are computed. */
void e1000_phy_reset(struct e1000 *e)
{
    memset(e->phy, 0, sizeof(e->phy));
    e->phy[PHY_CTRL] = 0x1140;        /* autonegotiation on, full duplex, 1000 Mb/s */
    e->phy[PHY_AUTONEG_ADV] = 0x0de1; /* 10/100 half and full, PAUSE, ASM_DIR */
    e->phy[PHY_1000T_CTRL] = 0x0e00;  /* 1000 full, port type, master/slave value */
    e->phy[M88_PHY_SPEC_CTRL] = 0x0068;
    e->phy[M88_EXT_PHY_SPEC_CTRL] = 0x0d60;
}

/* Registers this PHY has: the clause 22 set the driver uses plus the Marvell ones (0x10-0x15
 * control/status/interrupts/error counter, 0x18 LED, 0x1a extended control, 0x1d/0x1e page
 * select and its data). The others read 0 and ignore writes. */
static bool phy_reg_exists(unsigned reg)
{
    static const uint32_t present = 0x7ff | 1u << PHY_EXT_STATUS | 0x3f << 16 | 1u << 0x18 |
                                    1u << 0x1a | 1u << 0x1d | 1u << 0x1e;
    return (present >> reg) & 1;
}

static bool phy_reg_readonly(unsigned reg)
{
    switch (reg) {
    case PHY_STATUS:
    case PHY_ID1:
    case PHY_ID2:
    case PHY_LP_ABILITY:
    case PHY_AUTONEG_EXP:
    case 0x08: /* link partner next page */
    case PHY_1000T_STATUS:
    case PHY_EXT_STATUS:
    case M88_PHY_SPEC_STATUS:
    case M88_INT_STATUS:
    case M88_RX_ERR_CNTR: return true;
    default: return false;
    }
}

/* The link as the PHY reports it: up with the backend unless powered down. Autonegotiation
 * completes at once. */
static uint16_t phy_read(struct e1000 *e, unsigned reg)
{
    bool link = e1000_link_up(e);
    switch (reg) {
    case PHY_STATUS: return (uint16_t)(0x7949 | (link ? 0x0024 : 0));
    case PHY_ID1: return 0x0141;
    case PHY_ID2: return 0x0c20;
    case PHY_LP_ABILITY: return link ? 0x45e1 : 0;
    case PHY_AUTONEG_EXP: return link ? 0x0001 : 0;
    case PHY_1000T_STATUS: return link ? 0x3c00 : 0;
    case PHY_EXT_STATUS: return 0x3000;
    /* 1000 Mb/s, full duplex, resolved, link; cable shorter than 50 m */
    case M88_PHY_SPEC_STATUS: return link ? 0xac00 : 0;
    default: return phy_reg_exists(reg) ? e->phy[reg] : 0;
    }
}

static void phy_write(struct e1000 *e, unsigned reg, uint16_t val)
{
    if (!phy_reg_exists(reg) || phy_reg_readonly(reg)) {
        log_once(&e->logged_phy, LOG_DEBUG, "%s: PHY register 0x%x is read-only or absent", e->name,
                 reg);
        return;
    }
    if (reg == PHY_CTRL) {
        bool was_up = e1000_link_up(e);
        /* Reset and autonegotiation restart finish at once and clear themselves. */
        e->phy[PHY_CTRL] = val & (uint16_t) ~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
        e1000_link_update(e, was_up);
        return;
    }
    e->phy[reg] = val;
}

uint32_t e1000_mdic_write(struct e1000 *e, uint32_t val)
{
    unsigned reg = (val >> 16) & 0x1f;
    unsigned phy = (val >> 21) & 0x1f;
    uint32_t op = val & (E1000_MDIC_OP_RD | E1000_MDIC_OP_WR);
    uint32_t out = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
    if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_RD && op != E1000_MDIC_OP_WR)) {
        out |= E1000_MDIC_ERROR; /* nobody answers at that address (or no operation) */
    } else if (op == E1000_MDIC_OP_RD) {
        out = (out & ~E1000_MDIC_DATA) | phy_read(e, reg);
    } else {
        phy_write(e, reg, (uint16_t)(val & E1000_MDIC_DATA));
    }
    out |= E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN)
        e1000_set_ics(e, E1000_ICR_MDAC);
    return out;
}
