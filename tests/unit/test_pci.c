/* Unit tests for the PCI bus: configuration mechanism #1 through the real port handler with
 * accesses of every width, BAR sizing, firmware-style assignment, relocation and decode
 * enable through the iobus, write masks and write-1-to-clear status bits. */
#include "devices/pci.h"
#include "tests/unit/unit.h"
#include "vmm/iobus.h"

#include <check.h>
#include <errno.h>
#include <string.h>

static struct iobus *iobus;
static struct pci_bus bus;
static struct pci_device dev;
static int hits;
static uint64_t last_off;

static void bar_fn(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
    (void)opaque;
    hits++;
    last_off = off;
    if (!is_write)
        memset(data, 0xab, len);
}

static void setup(void)
{
    iobus = iobus_create();
    ck_assert_int_eq(pci_bus_init(&bus, iobus, 0xc0000000, 0x10000000, 0xc000, 0x4000), 0);
    pci_device_init(&dev, 0x8086, 0x100e, 0x020000, 3, 1);
    pci_device_set_bar(&dev, 0, 0x20000, false, bar_fn, NULL, "dev-bar0");
    pci_device_set_bar(&dev, 1, 0x40, true, bar_fn, NULL, "dev-bar1");
    ck_assert_int_eq(pci_bus_add(&bus, &dev, 3, 11), 0);
    hits = 0;
}

static void teardown(void)
{
    iobus_destroy(iobus);
}

/* Configuration access through ports 0xCF8/0xCFC as a driver does it. */
static void cfg_addr(int slot, unsigned reg)
{
    uint8_t d[4];
    iobus_put_le(d, 4, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, true);
}

static uint32_t cfg_in(int slot, unsigned reg, unsigned len)
{
    uint8_t d[4] = {0};
    cfg_addr(slot, reg);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfc + (reg & 3), d, len, false);
    return (uint32_t)iobus_get_le(d, len);
}

static void cfg_out(int slot, unsigned reg, unsigned len, uint32_t v)
{
    uint8_t d[4];
    iobus_put_le(d, len, v);
    cfg_addr(slot, reg);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfc + (reg & 3), d, len, true);
}

START_TEST(test_ids_and_widths)
{
    ck_assert_uint_eq(cfg_in(0, PCI_VENDOR_ID, 4), 0x12378086u); /* host bridge */
    ck_assert_uint_eq(cfg_in(0, PCI_CLASS_DEVICE, 2), 0x0600);
    ck_assert_uint_eq(cfg_in(3, PCI_VENDOR_ID, 4), 0x100e8086u);
    ck_assert_uint_eq(cfg_in(3, PCI_VENDOR_ID, 2), 0x8086);
    ck_assert_uint_eq(cfg_in(3, PCI_DEVICE_ID, 2), 0x100e);
    ck_assert_uint_eq(cfg_in(3, PCI_VENDOR_ID + 1, 1), 0x80);
    ck_assert_uint_eq(cfg_in(3, PCI_CLASS_DEVICE + 1, 1), 0x02);
    ck_assert_uint_eq(cfg_in(3, PCI_REVISION_ID, 1), 3);
    ck_assert_uint_eq(cfg_in(3, PCI_INTERRUPT_PIN, 1), 1);
    ck_assert_uint_eq(cfg_in(3, PCI_INTERRUPT_LINE, 1), 11);
    /* Absent slots, other functions and other buses read all ones. */
    ck_assert_uint_eq(cfg_in(4, PCI_VENDOR_ID, 4), 0xffffffffu);
    uint8_t d[4];
    iobus_put_le(d, 4, 0x80000000u | 3u << 11 | 1u << 8); /* function 1 */
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, true);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfc, d, 4, false);
    ck_assert_uint_eq(iobus_get_le(d, 4), 0xffffffffu);
    iobus_put_le(d, 4, 0x80010000u | 3u << 11); /* bus 1 */
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, true);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfc, d, 4, false);
    ck_assert_uint_eq(iobus_get_le(d, 4), 0xffffffffu);
    /* Enable bit clear: no configuration cycle. */
    iobus_put_le(d, 4, 3u << 11);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, true);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfc, d, 4, false);
    ck_assert_uint_eq(iobus_get_le(d, 4), 0xffffffffu);
    /* CONFIG_ADDRESS reads back (reserved low bits clear); byte writes do not latch it. */
    cfg_addr(3, 0x3d);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, false);
    ck_assert_uint_eq(iobus_get_le(d, 4), 0x80000000u | 3u << 11 | 0x3c);
    d[0] = 0x12;
    iobus_dispatch(iobus, IOBUS_PIO, 0xcfb, d, 1, true);
    iobus_dispatch(iobus, IOBUS_PIO, 0xcf8, d, 4, false);
    ck_assert_uint_eq(iobus_get_le(d, 4), 0x80000000u | 3u << 11 | 0x3c);
}
END_TEST

START_TEST(test_write_masks)
{
    /* Read-only IDs and class ignore writes; latency and interrupt line take them. */
    cfg_out(3, PCI_VENDOR_ID, 4, 0xdeadbeef);
    ck_assert_uint_eq(cfg_in(3, PCI_VENDOR_ID, 4), 0x100e8086u);
    cfg_out(3, PCI_LATENCY_TIMER, 1, 0x40);
    ck_assert_uint_eq(cfg_in(3, PCI_LATENCY_TIMER, 1), 0x40);
    cfg_out(3, PCI_INTERRUPT_LINE, 2, 0x0905); /* pin byte is read-only */
    ck_assert_uint_eq(cfg_in(3, PCI_INTERRUPT_LINE, 1), 5);
    ck_assert_uint_eq(cfg_in(3, PCI_INTERRUPT_PIN, 1), 1);
    /* Command: only implemented bits stick. */
    cfg_out(3, PCI_COMMAND, 2, 0xffff);
    ck_assert_uint_eq(cfg_in(3, PCI_COMMAND, 2), 0x0547);
    ck_assert(pci_bus_master(&dev));
    ck_assert(pci_intx_disabled(&dev));
    /* Status error bits clear by writing 1, other bits untouched. */
    dev.cfg[PCI_STATUS + 1] = 0x90;
    cfg_out(3, PCI_STATUS, 2, 0x8000);
    ck_assert_uint_eq(cfg_in(3, PCI_STATUS, 2), 0x1000);
    /* A word write across a dword boundary is cut at the dword's end. */
    cfg_out(3, 0x3f, 2, 0xaaaa);
    ck_assert_uint_eq(cfg_in(3, 0x40, 1), 0);
}
END_TEST

START_TEST(test_bar_sizing_and_assignment)
{
    /* Firmware assignment: BAR0 at the window start, BAR1 in the I/O window, decoding. */
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0, 4), 0xc0000000u);
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0 + 4, 4), 0xc001u);
    ck_assert_uint_eq(cfg_in(3, PCI_COMMAND, 2) & 3, 3);
    uint8_t d[4];
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0000010, d, 4, false), 0);
    ck_assert_uint_eq(last_off, 0x10);
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_PIO, 0xc004, d, 4, false), 0);
    ck_assert_uint_eq(last_off, 4);
    /* Sizing, the way Linux does it: decode off, all ones, read the mask, restore. */
    cfg_out(3, PCI_COMMAND, 2, 0);
    cfg_out(3, PCI_BAR0, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0, 4), 0xfffe0000u); /* 128 KiB, 32-bit memory */
    cfg_out(3, PCI_BAR0 + 4, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0 + 4, 4), 0xffffffc1u); /* 64 bytes, I/O */
    cfg_out(3, PCI_BAR0 + 8, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0 + 8, 4), 0); /* unimplemented */
    ck_assert_int_eq(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0000010, d, 4, false), -1);
    /* Relocation: new addresses, decoding back on. */
    cfg_out(3, PCI_BAR0, 4, 0xc0100000);
    cfg_out(3, PCI_BAR0 + 4, 4, 0xd000);
    cfg_out(3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    ck_assert_int_eq(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0000010, d, 4, false), -1);
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0100020, d, 4, false), 0);
    ck_assert_uint_eq(last_off, 0x20);
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_PIO, 0xd000, d, 1, true), 0);
    /* Byte-wise BAR writes work too (low bits stay the type). */
    cfg_out(3, PCI_BAR0 + 2, 1, 0x20);
    ck_assert_uint_eq(cfg_in(3, PCI_BAR0, 4), 0xc0200000u);
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0200000, d, 4, false), 0);
    /* Memory decode off unmaps only the memory BAR. */
    cfg_out(3, PCI_COMMAND, 2, PCI_COMMAND_IO);
    ck_assert_int_eq(iobus_dispatch(iobus, IOBUS_MMIO, 0xc0200000, d, 4, false), -1);
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_PIO, 0xd000, d, 1, false), 0);
}
END_TEST

START_TEST(test_bar_overlap_refused)
{
    /* A second device whose BAR the guest moves onto the first one's stays unmapped. */
    static struct pci_device other;
    pci_device_init(&other, 0x1af4, 0x1000, 0x020000, 0, 1);
    pci_device_set_bar(&other, 0, 0x1000, false, bar_fn, NULL, "other-bar0");
    ck_assert_int_eq(pci_bus_add(&bus, &other, 4, 12), 0);
    ck_assert_int_eq(pci_bus_add(&bus, &other, 4, 12), -EBUSY);
    uint32_t first = cfg_in(3, PCI_BAR0, 4);
    cfg_out(4, PCI_BAR0, 4, first + 0x1000);
    uint8_t d[4];
    hits = 0;
    /* The address still reaches the first device, not the second. */
    ck_assert_int_ge(iobus_dispatch(iobus, IOBUS_MMIO, first + 0x1000, d, 4, false), 0);
    struct iobus_region_info ri;
    ck_assert_int_eq(iobus_region_info(iobus, other.bar[0].region, &ri), 0);
    ck_assert(!ri.mapped);
    /* I/O BARs beyond the 64 KiB port space do not decode. */
    cfg_out(3, PCI_BAR0 + 4, 4, 0xfffffc01);
    ck_assert_int_ge(iobus_region_info(iobus, dev.bar[1].region, &ri), 0);
    ck_assert(!ri.mapped);
    /* Bad slots. */
    ck_assert_int_eq(pci_bus_add(&bus, &other, 0, 1), -EINVAL);
    ck_assert_int_eq(pci_bus_add(&bus, &other, 32, 1), -EINVAL);
}
END_TEST

static Suite *pci_suite(void)
{
    Suite *s = suite_create("pci");
    TCase *tc = tcase_create("bus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ids_and_widths);
    tcase_add_test(tc, test_write_masks);
    tcase_add_test(tc, test_bar_sizing_and_assignment);
    tcase_add_test(tc, test_bar_overlap_refused);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(pci_suite)
