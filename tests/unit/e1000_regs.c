/* e1000 unit tests: the PCI header, the EEPROM (EERD and bit-banged Microwire), the PHY over
 * MDIC, link state, the I/O BAR and register access widths and semantics. */
#include "tests/unit/e1000_fixture.h"

#include "devices/pci.h"
#include "net/offload.h"
#include "vmm/iobus.h"

#include <check.h>
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_pci_header)
{
    const struct pci_device *d = e1000_pci(dev);
    ck_assert_uint_eq(d->cfg[0] | d->cfg[1] << 8, 0x8086);
    ck_assert_uint_eq(d->cfg[2] | d->cfg[3] << 8, 0x100e);
    ck_assert_uint_eq(d->cfg[PCI_REVISION_ID], 0x03);
    ck_assert_uint_eq(d->cfg[0x0b] << 16 | d->cfg[0x0a] << 8 | d->cfg[0x09], 0x020000);
    ck_assert_uint_eq(d->cfg[0x2c] | d->cfg[0x2d] << 8, 0x8086);
    ck_assert_uint_eq(d->cfg[0x2e] | d->cfg[0x2f] << 8, 0x001e);
    ck_assert_uint_eq(d->cfg[PCI_INTERRUPT_PIN], 1);
    ck_assert_uint_eq(d->bar[0].size, E1000_MMIO_SIZE);
    ck_assert(!d->bar[0].io);
    ck_assert_uint_eq(d->bar[1].size, E1000_IO_SIZE);
    ck_assert(d->bar[1].io);
    ck_assert(d->bar[0].fn == e1000_mmio && d->bar[1].fn == e1000_io);
}
END_TEST

static uint16_t eerd_read(unsigned addr)
{
    wr(EERD, addr << 8 | 1);
    uint32_t v = rd(EERD);
    ck_assert_msg(v & 0x10, "EERD not done");
    ck_assert_uint_eq((v >> 8) & 0xff, addr & 0xff);
    return (uint16_t)(v >> 16);
}

START_TEST(test_eeprom_eerd)
{
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++)
        sum = (uint16_t)(sum + eerd_read(i));
    ck_assert_uint_eq(sum, 0xbaba);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_uint_eq(eerd_read(i), mac[2 * i] | mac[2 * i + 1] << 8);
    ck_assert_uint_eq(eerd_read(0x0d), 0x100e);
    ck_assert_uint_eq(eerd_read(0x0e), 0x8086);
    ck_assert_uint_eq(eerd_read(0x0f) & 0x3000, 0x3000); /* flow control: full */
    ck_assert_uint_eq(eerd_read(0x24) & 0x0400, 0);      /* no APM wake-up */
    /* Past the 64 words: done, no data (checklist: EEPROM address above 63). */
    ck_assert_uint_eq(eerd_read(64), 0);
    ck_assert_uint_eq(eerd_read(255), 0);
    /* Without START nothing happens. */
    wr(EERD, 5 << 8);
    ck_assert_uint_eq(rd(EERD) & 0x10, 0);
}
END_TEST

/* EECD bits and the driver's Microwire sequence (e1000_acquire_eeprom, shift_out/in,
 * standby, release in Linux's e1000_hw.c). */
#define EE_SK   0x01u
#define EE_CS   0x02u
#define EE_DI   0x04u
#define EE_DO   0x08u
#define EE_REQ  0x40u
#define EE_GNT  0x80u
#define EE_PRES 0x100u
static uint32_t eecd;

static void ee_w(uint32_t v)
{
    eecd = v;
    wr(EECD, v);
}

static void ee_out(uint16_t data, int count)
{
    for (uint32_t mask = 1u << (count - 1); mask; mask >>= 1) {
        uint32_t v = eecd & ~EE_DI;
        if (data & mask)
            v |= EE_DI;
        ee_w(v);
        ee_w(v | EE_SK);
        ee_w(v);
    }
    ee_w(eecd & ~EE_DI);
}

static uint16_t ee_in(void)
{
    uint16_t data = 0;
    for (int i = 0; i < 16; i++) {
        data = (uint16_t)(data << 1);
        ee_w(eecd | EE_SK);
        eecd = rd(EECD) & ~EE_DI;
        if (eecd & EE_DO)
            data |= 1;
        ee_w(eecd & ~EE_SK);
    }
    return data;
}

static void ee_acquire(void)
{
    eecd = rd(EECD) | EE_REQ;
    wr(EECD, eecd);
    ck_assert(rd(EECD) & EE_GNT);
    ee_w(eecd & ~(EE_DI | EE_SK));
    ee_w(eecd | EE_CS);
}

static void ee_standby(void)
{
    ee_w(eecd & ~(EE_CS | EE_SK));
    ee_w(eecd | EE_SK);
    ee_w(eecd | EE_CS);
    ee_w(eecd & ~EE_SK);
}

static void ee_release(void)
{
    ee_w(eecd & ~(EE_CS | EE_DI));
    ee_w(eecd | EE_SK);
    ee_w(eecd & ~EE_SK);
    ee_w(eecd & ~EE_REQ);
}

static uint16_t ee_read(unsigned addr)
{
    ee_out(0x6, 3); /* start bit and READ */
    ee_out((uint16_t)addr, 6);
    uint16_t w = ee_in();
    ee_standby();
    return w;
}

START_TEST(test_eeprom_bitbang)
{
    ck_assert(rd(EECD) & EE_PRES);
    ck_assert_uint_eq(rd(EECD) & 0x200, 0); /* EE_SIZE: 64 words, 6 address bits */
    ee_acquire();
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint16_t w = ee_read(i);
        ck_assert_uint_eq(w, eerd_read(i));
        sum = (uint16_t)(sum + w);
    }
    ee_release();
    ck_assert_uint_eq(sum, 0xbaba);
    ck_assert_uint_eq(rd(EECD) & EE_GNT, 0);
}
END_TEST

/* Checklist: EECD bit-banging out of order. Nothing breaks, and a proper read afterwards
 * still works. */
START_TEST(test_eeprom_out_of_order)
{
    srand(7);
    for (int i = 0; i < 5000; i++)
        wr(EECD, (uint32_t)rand());
    /* Clocks without the grant, commands cut short by CS, writes and erases. */
    ee_w(EE_CS | EE_SK);
    ee_w(EE_CS);
    ee_acquire();
    ee_out(0x6, 3);
    ee_out(3, 4); /* half an address */
    ee_standby();
    ee_out(0x5, 3); /* WRITE: ignored */
    ee_out(0, 6);
    ee_out(0xdead, 16);
    ck_assert(rd(EECD) & EE_DO); /* "ready" */
    ee_standby();
    ee_out(0x7, 3); /* ERASE: ignored */
    ee_out(1, 6);
    ee_standby();
    ck_assert_uint_eq(ee_read(1), mac[2] | mac[3] << 8);
    /* Extra clocks after a word: the next word follows (sequential read). */
    ee_out(0x6, 3);
    ee_out(63, 6);
    uint16_t w63 = ee_in(), w0 = ee_in();
    ck_assert_uint_eq(w63, eerd_read(63));
    ck_assert_uint_eq(w0, eerd_read(0));
    ee_release();
}
END_TEST

static uint16_t phy_rd(unsigned reg)
{
    uint32_t v = mdic(1, reg, false, 0);
    ck_assert_uint_eq(v & 0x40000000u, 0);
    return (uint16_t)v;
}

START_TEST(test_phy_mdic)
{
    ck_assert_uint_eq(phy_rd(2), 0x0141);
    ck_assert_uint_eq(phy_rd(3), 0x0c20);
    ck_assert_uint_eq(phy_rd(1) & 0x0024, 0x0024);    /* link up, autonegotiation complete */
    ck_assert(phy_rd(0x11) & 0x0400);                 /* M88 specific status: link */
    ck_assert_uint_eq(phy_rd(0x11) & 0xc000, 0x8000); /* 1000 Mb/s */
    ck_assert(phy_rd(5) != 0);
    ck_assert_uint_eq(phy_rd(0x0a) & 0x0c00, 0x0c00);
    /* Writable registers keep what is written; reset and restart clear themselves. */
    mdic(1, 4, true, 0x0de1);
    ck_assert_uint_eq(phy_rd(4), 0x0de1);
    mdic(1, 0x10, true, 0x0808);
    ck_assert_uint_eq(phy_rd(0x10), 0x0808);
    mdic(1, 0, true, 0x9340);
    ck_assert_uint_eq(phy_rd(0) & 0x8200, 0);
    /* Read-only: IDs ignore writes. */
    mdic(1, 2, true, 0x1234);
    ck_assert_uint_eq(phy_rd(2), 0x0141);
    /* Checklist: a bad PHY address sets ERROR; absent registers read 0. */
    for (unsigned phy = 0; phy < 32; phy++)
        if (phy != 1)
            ck_assert(mdic(phy, 1, false, 0) & 0x40000000u);
    ck_assert(mdic(7, 0, true, 0x8000) & 0x40000000u);
    ck_assert_uint_eq(phy_rd(0x1f), 0);
    mdic(1, 0x1f, true, 0xffff);
    ck_assert_uint_eq(phy_rd(0x1f), 0);
    /* No operation bits: error, still ready. */
    wr(MDIC, 1u << 21);
    ck_assert_uint_eq(rd(MDIC) & 0x50000000u, 0x50000000u);
    /* The interrupt-enable bit raises MDAC. */
    wr(MDIC, 0x20000000u | 0x08000000u | 1u << 21 | 2u << 16);
    ck_assert(rd(ICR) & ICR_MDAC);
}
END_TEST

START_TEST(test_link_state)
{
    ck_assert(rd(STATUS) & 0x2);
    ck_assert_uint_eq(rd(STATUS) & 0xc1, 0x81); /* full duplex, 1000 Mb/s */
    rd(ICR);
    wr(IMS, ICR_LSC);
    netdev_set_link(nd, false);
    ck_assert_uint_eq(rd(STATUS) & 0x2, 0);
    ck_assert_uint_eq(phy_rd(1) & 0x4, 0);
    ck_assert(line.level);
    ck_assert(rd(ICR) & ICR_LSC);
    ck_assert(!line.level);
    netdev_set_link(nd, true);
    ck_assert(rd(STATUS) & 0x2);
    ck_assert(rd(ICR) & ICR_LSC);
    /* PHY power-down takes the link down too. */
    mdic(1, 0, true, 0x1140 | 0x0800);
    ck_assert_uint_eq(rd(STATUS) & 0x2, 0);
    ck_assert(rd(ICR) & ICR_LSC);
    mdic(1, 0, true, 0x1140);
    ck_assert(rd(STATUS) & 0x2);
}
END_TEST

/* The I/O BAR: IOADDR/IODATA, as e1000_write_reg_io issues the reset; an IOADDR past the
 * window reads 0 and ignores writes (checklist). */
START_TEST(test_io_bar)
{
    io_w(0, IMS);
    io_w(4, 0x1f);
    ck_assert_uint_eq(rd(IMS), 0x1f);
    ck_assert_uint_eq(io_r(0), IMS);
    ck_assert_uint_eq(io_r(4), 0x1f);
    wr(TIDV, 55);
    io_w(0, CTRL);
    io_w(4, rd(CTRL) | 0x04000000u); /* CTRL.RST through the I/O window */
    ck_assert_uint_eq(rd(TIDV), 0);
    ck_assert_uint_eq(rd(IMS), 0);
    ck_assert_uint_eq(rd(CTRL) & 0x04000000u, 0);
    uint32_t bad[] = {E1000_MMIO_SIZE, E1000_MMIO_SIZE - 2, 0xfffffffcu, 0x80000000u};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        io_w(0, bad[i]);
        io_w(4, 0xffffffffu);
        ck_assert_uint_eq(io_r(4), 0);
    }
    /* Reserved offsets of the window. */
    io_w(8, 0x12345678);
    ck_assert_uint_eq(io_r(8), 0);
    ck_assert_uint_eq(io_r(0x3c), 0);
    uint8_t b[8] = {0};
    e1000_io(dev, 6, b, 4, false); /* straddles the end of IODATA */
    e1000_io(dev, 0x3f, b, 1, true);
    ck_assert_uint_eq(rd(IMS), 0);
}
END_TEST

/* Checklist: 1-, 2- and 8-byte accesses, unaligned ones, unknown offsets, read-only
 * registers. */
START_TEST(test_access_widths)
{
    uint8_t b[8];
    wr(RADV, 0x1234);
    e1000_mmio(dev, RADV, b, 1, false);
    ck_assert_uint_eq(b[0], 0x34);
    e1000_mmio(dev, RADV + 1, b, 1, false);
    ck_assert_uint_eq(b[0], 0x12);
    e1000_mmio(dev, RADV, b, 2, false);
    ck_assert_uint_eq(get16le(b), 0x1234);
    /* A byte write into a plain register merges. */
    b[0] = 0x56;
    e1000_mmio(dev, RADV, b, 1, true);
    ck_assert_uint_eq(rd(RADV), 0x1256);
    /* 8 bytes: two registers, low first. */
    wr(RDBAL, 0x11223340);
    wr(RDBAH, 0x55667788);
    e1000_mmio(dev, RDBAL, b, 8, false);
    ck_assert_uint_eq(iobus_get_le(b, 8), 0x5566778811223340ull);
    iobus_put_le(b, 8, 0x0000000100002000ull);
    e1000_mmio(dev, RDBAL, b, 8, true);
    ck_assert_uint_eq(rd(RDBAL), 0x2000);
    ck_assert_uint_eq(rd(RDBAH), 1);
    /* Unaligned accesses across registers. */
    e1000_mmio(dev, RDBAL + 2, b, 4, false);
    e1000_mmio(dev, RDBAL + 3, b, 8, false);
    e1000_mmio(dev, E1000_MMIO_SIZE - 2, b, 4, false);
    e1000_mmio(dev, E1000_MMIO_SIZE - 2, b, 4, true);
    e1000_mmio(dev, E1000_MMIO_SIZE, b, 4, false);
    /* Partial writes to registers that act are ignored: a byte of ICS raises nothing. */
    b[0] = 0xff;
    e1000_mmio(dev, ICS, b, 1, true);
    e1000_mmio(dev, ICS + 1, b, 2, true);
    ck_assert_uint_eq(rd(ICR), 0);
    b[0] = 0xff;
    e1000_mmio(dev, CTRL + 3, b, 1, true); /* would be RST | PHY_RST */
    ck_assert_uint_eq(rd(RDBAH), 1);
}
END_TEST

/* Checklist: unknown offsets, read-only registers; arrays and masked ring registers. */
START_TEST(test_register_semantics)
{
    /* Unknown offsets read 0 and are counted. */
    uint64_t before = e1000_get_stats(dev)->unknown_reg;
    ck_assert_uint_eq(rd(0x0004), 0);
    wr(0x7ffc, 0xffffffffu);
    ck_assert_uint_eq(rd(0x7ffc), 0);
    ck_assert_uint_eq(rd(0x1fffc), 0);
    ck_assert_uint_eq(rd(0x9000), 0);
    ck_assert_uint_ge(e1000_get_stats(dev)->unknown_reg, before + 4);
    /* Read-only: STATUS ignores writes. */
    uint32_t st = rd(STATUS);
    wr(STATUS, 0);
    ck_assert_uint_eq(rd(STATUS), st);
    /* Arrays: RA, MTA, VFTA hold values. */
    wr(MTA + 4 * 127, 0xa5a5a5a5u);
    wr(VFTA + 4 * 3, 0x5a5a);
    ck_assert_uint_eq(rd(MTA + 4 * 127), 0xa5a5a5a5u);
    ck_assert_uint_eq(rd(VFTA + 4 * 3), 0x5a5a);
    ck_assert_uint_eq(rd(RA), mac[0] | mac[1] << 8 | mac[2] << 16 | (uint32_t)mac[3] << 24);
    ck_assert_uint_eq(rd(RA + 4), mac[4] | mac[5] << 8 | 0x80000000u);
    /* Ring lengths keep multiples of 128 (checklist: TDLEN not a multiple of 128). */
    wr(TDLEN, 1000);
    ck_assert_uint_eq(rd(TDLEN), 896);
    wr(RDLEN, 0xffffffffu);
    ck_assert_uint_eq(rd(RDLEN), 0xfff80);
    wr(TDT, 0x12345);
    ck_assert_uint_eq(rd(TDT), 0x2345);
}
END_TEST

/* The guest's accesses to the register `reg` ("reads" or "writes") in the device report. */
static json_int_t reg_acc(const char *reg, const char *dir)
{
    json_t *info = e1000_info(dev);
    json_t *acc = json_object_get(info, "register_accesses");
    json_int_t n = json_integer_value(json_object_get(json_object_get(acc, reg), dir));
    json_decref(info);
    return n;
}

/* The report counts guest accesses per register, by the manual's mnemonics, through either
 * BAR and at any width; registers never touched are left out. */
START_TEST(test_register_access_counts)
{
    const char *regs[] = {"ICR", "IMS", "RADV", "RDBAL", "RDBAH", "MTA", "statistics", "MPC"};
    json_int_t r0[8], w0[8];
    for (int i = 0; i < 8; i++) {
        r0[i] = reg_acc(regs[i], "reads");
        w0[i] = reg_acc(regs[i], "writes");
    }
    rd(ICR);
    rd(ICR);
    wr(IMS, 1);
    io_w(0, IMS); /* IOADDR itself is not a register */
    io_w(4, 3);
    uint8_t b[8] = {0};
    e1000_mmio(dev, RADV + 1, b, 1, true); /* one byte */
    e1000_mmio(dev, RDBAL, b, 8, false);   /* two registers */
    wr(MTA + 4 * 5, 1);                    /* any entry of an array */
    rd(0x4000);                            /* CRCERRS, in the statistics block */
    rd(MPC);                               /* a member with its own handler */
    const json_int_t dr[8] = {2, 0, 0, 1, 1, 0, 1, 1}, dw[8] = {0, 2, 1, 0, 0, 1, 0, 0};
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(reg_acc(regs[i], "reads") == r0[i] + dr[i], "%s reads", regs[i]);
        ck_assert_msg(reg_acc(regs[i], "writes") == w0[i] + dw[i], "%s writes", regs[i]);
    }
    json_t *info = e1000_info(dev);
    json_t *acc = json_object_get(info, "register_accesses");
    ck_assert_ptr_nonnull(json_object_get(acc, "ICR"));
    ck_assert_ptr_null(json_object_get(acc, "TIPG")); /* never accessed */
    ck_assert_ptr_null(json_object_get(acc, "E1000_ICR"));
    json_decref(info);
}
END_TEST

void e1000_regs_tests(const struct e1000_tcases *tc)
{
    tcase_add_test(tc->registers, test_pci_header);
    tcase_add_test(tc->registers, test_eeprom_eerd);
    tcase_add_test(tc->registers, test_eeprom_bitbang);
    tcase_add_test(tc->registers, test_eeprom_out_of_order);
    tcase_add_test(tc->registers, test_phy_mdic);
    tcase_add_test(tc->registers, test_link_state);
    tcase_add_test(tc->registers, test_io_bar);
    tcase_add_test(tc->registers, test_access_widths);
    tcase_add_test(tc->registers, test_register_semantics);
    tcase_add_test(tc->registers, test_register_access_counts);
}
