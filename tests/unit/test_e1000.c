/* Unit tests for the 82540EM model (devices/e1000*.c), driven the way QEMU's e1000e-test drives
 * a NIC with no guest OS: a fake driver in this file programs the registers through
 * e1000_mmio()/e1000_io() and lays out descriptor rings byte by byte in fake guest RAM at
 * gpa 0; a fake netdev backend records what the device sends (with or without the virtio-net
 * header) and pushes frames with netdev_deliver(); a fake INTx line records its level; the
 * event loop runs in bounded steps. Covered: the EEPROM (EERD and bit-banged Microwire), the
 * PHY over MDIC, TX of legacy, checksum-offload and TSO frames built as Linux's e1000 driver
 * builds them (checked byte by byte after software segmentation, and as one GSO frame with
 * its header), RX filtering, checksum status, VLAN, multi-descriptor frames, interrupt
 * causes, masks and mitigation timers, statistics, reset during traffic, and one test per
 * item of section 2 of the malicious-guest checklist. */
#include "devices/e1000.h"
#include "devices/pci.h"
#include "net/backend.h"
#include "net/netdev.h"
#include "net/offload.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/iov.h"
#include "vmm/irq.h"
#include "vmm/opts.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB      (1024ull * 1024ull)
#define RAM_SIZE (8 * MIB)
#define BAR0     0xfebc0000ull /* where a guest would put the register window: not RAM */

#define TXRING 0x10000ull
#define RXRING 0x20000ull
#define TXBUF  0x100000ull
#define RXBUF  0x400000ull
#define RXBSZ  2048

/* Register offsets (8254x manual §13.4). */
enum {
    CTRL = 0x0000,
    STATUS = 0x0008,
    EECD = 0x0010,
    EERD = 0x0014,
    MDIC = 0x0020,
    VET = 0x0038,
    ICR = 0x00c0,
    ITR = 0x00c4,
    ICS = 0x00c8,
    IMS = 0x00d0,
    IMC = 0x00d8,
    RCTL = 0x0100,
    TCTL = 0x0400,
    RDBAL = 0x2800,
    RDBAH = 0x2804,
    RDLEN = 0x2808,
    RDH = 0x2810,
    RDT = 0x2818,
    RDTR = 0x2820,
    RADV = 0x282c,
    TDBAL = 0x3800,
    TDBAH = 0x3804,
    TDLEN = 0x3808,
    TDH = 0x3810,
    TDT = 0x3818,
    TIDV = 0x3820,
    TADV = 0x382c,
    MPC = 0x4010,
    ROC = 0x40ac,
    RNBC = 0x40a0,
    GPRC = 0x4074,
    BPRC = 0x4078,
    MPRC = 0x407c,
    GPTC = 0x4080,
    GORCL = 0x4088,
    GORCH = 0x408c,
    GOTCL = 0x4090,
    GOTCH = 0x4094,
    TPR = 0x40d0,
    TPT = 0x40d4,
    PRC64 = 0x405c,
    PTC64 = 0x40d8,
    TSCTC = 0x40f8,
    TSCTFC = 0x40fc,
    RXCSUM = 0x5000,
    MTA = 0x5200,
    RA = 0x5400,
    VFTA = 0x5600,
};

#define ICR_TXDW   0x01u
#define ICR_TXQE   0x02u
#define ICR_LSC    0x04u
#define ICR_RXDMT0 0x10u
#define ICR_RXO    0x40u
#define ICR_RXT0   0x80u
#define ICR_MDAC   0x200u

#define RCTL_EN    0x02u
#define RCTL_UPE   0x08u
#define RCTL_MPE   0x10u
#define RCTL_LPE   0x20u
#define RCTL_LBM   0x40u
#define RCTL_BAM   0x8000u
#define RCTL_BSEX  0x02000000u
#define RCTL_SECRC 0x04000000u

/* TX descriptor command byte. */
#define C_EOP  0x01
#define C_IFCS 0x02
#define C_IC   0x04
#define C_TSE  0x04
#define C_RS   0x08
#define C_DEXT 0x20
#define C_VLE  0x40
#define C_IDE  0x80
/* context TUCMD */
#define T_TCP      0x01
#define T_IP       0x02
#define POPTS_IXSM 0x01
#define POPTS_TXSM 0x02

#define RX_DD    0x01
#define RX_EOP   0x02
#define RX_IXSM  0x04
#define RX_VP    0x08
#define RX_TCPCS 0x20
#define RX_IPCS  0x40
#define RX_TCPE  0x20
#define RX_IPE   0x40
#define RX_RXE   0x80

/* --- fake guest memory, INTx line, backend ------------------------------------------------ */

static uint8_t *ram;
static struct guestmem gm;
static struct evloop *loop;
static struct netdev *nd;
static struct e1000 *dev;

static struct {
    bool level;
    unsigned rises, sets;
    uint64_t last_rise_ns;
} line;

static void line_set(struct irq_line *l, bool level)
{
    (void)l;
    line.sets++;
    if (level && !line.level) {
        line.rises++;
        line.last_rise_ns = evloop_now_ns();
    }
    line.level = level;
}

static void line_pulse(struct irq_line *l)
{
    (void)l;
    ck_abort_msg("the e1000 line is level-triggered");
}

static struct irq_line irq = {line_set, line_pulse, NULL, 10, -1};

struct sent {
    bool has_hdr;
    struct virtio_net_hdr_v1 hdr;
    size_t len;
    uint8_t *data;
};

#define MAX_SENT 256
static struct {
    bool eagain;
    unsigned nsent, calls;
    struct sent s[MAX_SENT];
} be;

static int fake_open(struct netdev *n, struct opts *o, char *err, size_t errlen)
{
    bool vnet;
    if (opts_get_bool(o, "vnet", false, &vnet, err, errlen) < 0)
        return -EINVAL;
    netdev_set_caps(n, vnet ? NETDEV_CAP_VNET_HDR : 0);
    return 0;
}

static int fake_send(struct netdev *n, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                     int iovcnt, size_t len)
{
    (void)n;
    be.calls++;
    if (be.eagain)
        return -EAGAIN;
    if (be.nsent == MAX_SENT)
        return 0; /* sent, not recorded */
    struct sent *s = &be.s[be.nsent++];
    s->has_hdr = hdr != NULL;
    if (hdr)
        s->hdr = *hdr;
    s->len = len;
    s->data = malloc(len);
    ck_assert_ptr_nonnull(s->data);
    ck_assert_uint_eq(iov_to_buf(iov, iovcnt, 0, s->data, len), len);
    return 0;
}

static const struct netdev_backend_ops fake_ops = {
    .type = "fake",
    .summary = "test backend",
    .open = fake_open,
    .send = fake_send,
};

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
static const struct fn_addr guest = {
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 40000};
static const struct fn_addr host = {
    {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, FN_IP4(10, 0, 2, 2), 5001};

static void setup_with(bool vnet)
{
    char err[256] = "";
    memset(&be, 0, sizeof(be));
    memset(&line, 0, sizeof(line));
    ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    memset(&gm, 0, sizeof(gm));
    ck_assert_int_eq(gmem_add_region(&gm, 0, RAM_SIZE, ram), 0);
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    struct opts *o = opts_parse(vnet ? "fake,vnet=on" : "fake", "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    nd = netdev_create_with(loop, &fake_ops, "f0", o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "%s", err);
    struct e1000_params p = {.netdev = nd, .mem = &gm, .irq = &irq, .loop = loop, .name = "e0"};
    memcpy(p.mac, mac, 6);
    dev = e1000_create(&p, err, sizeof(err));
    ck_assert_msg(dev != NULL, "%s", err);
    /* What firmware and the driver's pci_set_master() do. */
    e1000_pci(dev)->cfg[PCI_COMMAND] |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
}

static void setup(void)
{
    setup_with(false);
}

static void setup_vnet(void)
{
    setup_with(true);
}

static void teardown(void)
{
    e1000_destroy(dev);
    netdev_destroy(nd);
    evloop_destroy(loop);
    for (unsigned i = 0; i < be.nsent; i++)
        free(be.s[i].data);
    free(ram);
}

/* --- register access and the loop --------------------------------------------------------- */

static void wr(uint32_t off, uint32_t v)
{
    uint8_t b[4];
    iobus_put_le(b, 4, v);
    e1000_mmio(dev, off, b, 4, true);
}

static uint32_t rd(uint32_t off)
{
    uint8_t b[4];
    e1000_mmio(dev, off, b, 4, false);
    return (uint32_t)iobus_get_le(b, 4);
}

/* Runs the loop until nothing is ready (bounded). */
static void pump(void)
{
    for (int i = 0; i < 1000 && evloop_run_once(loop, 0) > 0; i++)
        ;
}

/* Runs the loop for about ms milliseconds. */
static void pump_for(int ms)
{
    uint64_t end = evloop_now_ns() + (uint64_t)ms * 1000000u;
    while (evloop_now_ns() < end)
        evloop_run_once(loop, 1);
}

static bool pump_until_level(bool level, int ms)
{
    uint64_t end = evloop_now_ns() + (uint64_t)ms * 1000000u;
    while (line.level != level && evloop_now_ns() < end)
        evloop_run_once(loop, 1);
    return line.level == level;
}

static uint64_t ms_since(uint64_t t0)
{
    return (evloop_now_ns() - t0) / 1000000u;
}

static void put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *p, uint32_t v)
{
    put16le(p, (uint16_t)v);
    put16le(p + 2, (uint16_t)(v >> 16));
}

static void put64le(uint8_t *p, uint64_t v)
{
    put32le(p, (uint32_t)v);
    put32le(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* --- the fake driver: TX --------------------------------------------------------------------- */

static unsigned tx_count, tx_next;

static void tx_init(unsigned count)
{
    tx_count = count;
    tx_next = 0;
    wr(TDBAL, (uint32_t)TXRING);
    wr(TDBAH, 0);
    wr(TDLEN, count * 16);
    wr(TDH, 0);
    wr(TDT, 0);
    wr(TCTL, 0x0103f0fa); /* EN | PSP | CT | COLD, as e1000_configure_tx */
}

static uint8_t *txd(unsigned i)
{
    return ram + TXRING + (uint64_t)(i % tx_count) * 16;
}

static unsigned txd_legacy(uint64_t addr, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css,
                           uint16_t special)
{
    unsigned i = tx_next++ % tx_count;
    uint8_t *d = txd(i);
    put64le(d, addr);
    put16le(d + 8, len);
    d[10] = cso;
    d[11] = cmd;
    d[12] = 0;
    d[13] = css;
    put16le(d + 14, special);
    return i;
}

struct ctx {
    uint8_t ipcss, ipcso, tucss, tucso, hdrlen, tucmd;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
};

static unsigned txd_ctx(const struct ctx *c, uint8_t extra_cmd)
{
    unsigned i = tx_next++ % tx_count;
    uint8_t *d = txd(i);
    d[0] = c->ipcss;
    d[1] = c->ipcso;
    put16le(d + 2, c->ipcse);
    d[4] = c->tucss;
    d[5] = c->tucso;
    put16le(d + 6, c->tucse);
    put32le(d + 8, (c->paylen & 0xfffff) | (uint32_t)(c->tucmd | C_DEXT | extra_cmd) << 24);
    put32le(d + 12, (uint32_t)c->hdrlen << 8 | (uint32_t)c->mss << 16);
    return i;
}

static unsigned txd_data(uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts, uint16_t special)
{
    unsigned i = tx_next++ % tx_count;
    uint8_t *d = txd(i);
    put64le(d, addr);
    put32le(d + 8, (len & 0xfffff) | 1u << 20 | (uint32_t)(dcmd | C_DEXT) << 24);
    put32le(d + 12, (uint32_t)popts << 8 | (uint32_t)special << 16);
    return i;
}

static void tx_kick(void)
{
    wr(TDT, tx_next % tx_count);
    pump();
}

static bool txd_done(unsigned i)
{
    return txd(i)[12] & 1;
}

/* --- the fake driver: RX --------------------------------------------------------------------- */

static unsigned rx_count, rx_clean;

static uint8_t *rxd(unsigned i)
{
    return ram + RXRING + (uint64_t)(i % rx_count) * 16;
}

/* A ring of `count` descriptors with buffers of RXBSZ bytes, all but one given to the device
 * (RDT = count - 1), RCTL as given. */
static void rx_init(unsigned count, uint32_t rctl)
{
    rx_count = count;
    rx_clean = 0;
    for (unsigned i = 0; i < count; i++) {
        memset(rxd(i), 0, 16);
        put64le(rxd(i), RXBUF + (uint64_t)i * RXBSZ);
    }
    wr(RDBAL, (uint32_t)RXRING);
    wr(RDBAH, 0);
    wr(RDLEN, count * 16);
    wr(RDH, 0);
    wr(RDT, count - 1);
    wr(RCTL, rctl);
}

static uint8_t *rxbuf(unsigned i)
{
    return ram + RXBUF + (uint64_t)(i % rx_count) * RXBSZ;
}

static bool deliver_hdr(const struct virtio_net_hdr_v1 *h, const void *f, size_t len)
{
    struct iovec iov = {(void *)f, len};
    return netdev_deliver(nd, h, &iov, 1, len);
}

static bool deliver(const void *f, size_t len)
{
    return deliver_hdr(NULL, f, len);
}

/* --- frames ------------------------------------------------------------------------------- */

static uint8_t frame[70000];

static size_t udp_frame(uint8_t *f, const uint8_t dst[6], size_t plen, enum fn_csum mode)
{
    uint8_t payload[9000];
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    struct fn_addr to = host;
    memcpy(to.mac, dst, 6);
    struct fn_addr from = guest;
    memcpy(from.mac, peer_mac, 6);
    size_t n = fn_udp(f, sizeof(frame), &from, &to, payload, plen, mode);
    ck_assert_uint_gt(n, 0);
    return n;
}

/* An Ethernet + IPv4 + TCP (20-byte header) frame from guest to host with plen payload bytes,
 * complete checksums. */
static size_t tcp4_frame(uint8_t *f, size_t plen, uint32_t seq, uint8_t flags)
{
    size_t n = fn_ipv4(f, sizeof(frame), &guest, &host, FN_PROTO_TCP, 0x1234, 20 + plen);
    ck_assert_uint_gt(n, 0);
    memcpy(f, host.mac, 6);
    memcpy(f + 6, guest.mac, 6);
    uint8_t *t = f + FN_L4_OFF;
    fn_put16(t, guest.port);
    fn_put16(t + 2, host.port);
    fn_put32(t + 4, seq);
    fn_put32(t + 8, 777);
    t[12] = 5 << 4;
    t[13] = flags;
    fn_put16(t + 14, 65535);
    fn_put16(t + 16, 0);
    fn_put16(t + 18, 0);
    for (size_t i = 0; i < plen; i++)
        t[20 + i] = (uint8_t)(i * 13 + seq);
    fn_put16(t + 16, fn_csum_naive(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, 20 + plen), t,
                                   20 + plen));
    return n;
}

static uint16_t fold16(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* What e1000_tso() does to a frame before handing it over: IPv4 total length and header
 * checksum zeroed, the TCP checksum seeded with the pseudo header without the length. */
static void linux_tso_prep(uint8_t *f)
{
    uint8_t *ip = f + FN_ETH_HLEN, *t = f + FN_L4_OFF;
    fn_put16(ip + 2, 0);
    fn_put16(ip + 10, 0);
    fn_put16(t + 16, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, 0)));
}

static uint16_t tcp4_check(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + FN_ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4, l4 = len - FN_ETH_HLEN - ihl;
    uint32_t ph = fn_pseudo_sum(fn_get32(ip + 12), fn_get32(ip + 16), ip[9], l4);
    return fn_csum_naive(ph, ip + ihl, l4);
}

static uint16_t ip4_check(const uint8_t *f)
{
    return fn_csum_naive(0, f + FN_ETH_HLEN, (size_t)(f[FN_ETH_HLEN] & 0xf) * 4);
}

/* --- PCI header, EEPROM, PHY ------------------------------------------------------------------ */

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

static uint32_t mdic(unsigned phy, unsigned reg, bool write, uint16_t data)
{
    wr(MDIC, (write ? 0x04000000u : 0x08000000u) | phy << 21 | reg << 16 | data);
    uint32_t v = rd(MDIC);
    ck_assert_msg(v & 0x10000000u, "MDIC not ready");
    return v;
}

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
static void io_w(uint64_t off, uint32_t v)
{
    uint8_t b[4];
    iobus_put_le(b, 4, v);
    e1000_io(dev, off, b, 4, true);
}

static uint32_t io_r(uint64_t off)
{
    uint8_t b[4];
    e1000_io(dev, off, b, 4, false);
    return (uint32_t)iobus_get_le(b, 4);
}

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

/* --- TX ------------------------------------------------------------------------------------- */

START_TEST(test_tx_legacy)
{
    tx_init(16);
    size_t n = udp_frame(frame, peer_mac, 100, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, 40);
    memcpy(ram + TXBUF + 0x1000, frame + 40, n - 40);
    unsigned a = txd_legacy(TXBUF, 40, C_IFCS, 0, 0, 0);
    unsigned b = txd_legacy(TXBUF + 0x1000, (uint16_t)(n - 40), C_EOP | C_IFCS | C_RS, 0, 0, 0);
    wr(IMS, ICR_TXDW);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(!be.s[0].has_hdr);
    ck_assert_uint_eq(be.s[0].len, n);
    ck_assert_mem_eq(be.s[0].data, frame, n);
    ck_assert(txd_done(b));
    ck_assert(!txd_done(a)); /* no RS: no write-back */
    ck_assert_uint_eq(rd(TDH), 2);
    ck_assert(line.level);
    uint32_t icr = rd(ICR);
    ck_assert_uint_eq(icr & (ICR_TXDW | ICR_TXQE), ICR_TXDW | ICR_TXQE);
    ck_assert(!line.level);
    ck_assert_uint_eq(rd(GPTC), 1);
    ck_assert_uint_eq(rd(TPT), 1);
    ck_assert_uint_eq(rd(GOTCL), n + 4);
    ck_assert_uint_eq(rd(GOTCH), 0);
    ck_assert_uint_eq(rd(GOTCL), 0); /* cleared by the read of the high half */
    ck_assert_uint_eq(rd(GPTC), 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_packets, 1);
}
END_TEST

#define TSO_MSS     1000
#define TSO_PAYLOAD 3500
#define TSO_HDRS    54

/* A TSO send as e1000_tso() + e1000_tx_map() + e1000_tx_queue() lay it out: the context, the
 * headers in one descriptor, the payload in two, and the 4-byte sentinel descriptor that
 * carries EOP and RS. */
static unsigned tso4_post(size_t *lenp)
{
    size_t n = tcp4_frame(frame, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    *lenp = n;
    linux_tso_prep(frame);
    memcpy(ram + TXBUF, frame, TSO_HDRS);
    memcpy(ram + TXBUF + 0x1000, frame + TSO_HDRS, 2048);
    memcpy(ram + TXBUF + 0x3000, frame + TSO_HDRS + 2048, TSO_PAYLOAD - 2048 - 4);
    memcpy(ram + TXBUF + 0x5000, frame + n - 4, 4);
    struct ctx c = {14, 24, 34, 50, TSO_HDRS, T_TCP | T_IP, 33, 0, TSO_MSS, TSO_PAYLOAD};
    txd_ctx(&c, C_TSE);
    uint8_t popts = POPTS_IXSM | POPTS_TXSM, cmd = C_TSE | C_IFCS;
    txd_data(TXBUF, TSO_HDRS, cmd, popts, 0);
    txd_data(TXBUF + 0x1000, 2048, cmd, popts, 0);
    txd_data(TXBUF + 0x3000, TSO_PAYLOAD - 2048 - 4, cmd, popts, 0);
    return txd_data(TXBUF + 0x5000, 4, cmd | C_EOP | C_RS | C_IDE, popts, 0);
}

START_TEST(test_tx_tso_segments)
{
    tx_init(64);
    size_t n;
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    unsigned last = tso4_post(&n);
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    tx_kick();
    ck_assert(txd_done(last));
    unsigned segs = (TSO_PAYLOAD + TSO_MSS - 1) / TSO_MSS;
    ck_assert_uint_eq(be.nsent, segs);
    size_t off = 0;
    for (unsigned i = 0; i < segs; i++) {
        const struct sent *s = &be.s[i];
        size_t pl = TSO_PAYLOAD - off < TSO_MSS ? TSO_PAYLOAD - off : TSO_MSS;
        ck_assert(!s->has_hdr);
        ck_assert_uint_eq(s->len, TSO_HDRS + pl);
        ck_assert_mem_eq(s->data, orig, 14);
        const uint8_t *ip = s->data + 14, *t = s->data + 34;
        ck_assert_uint_eq(fn_get16(ip + 2), 40 + pl);
        ck_assert_uint_eq(fn_get16(ip + 4), 0x1234 + i);
        ck_assert_uint_eq(ip4_check(s->data), 0);
        ck_assert_uint_eq(tcp4_check(s->data, s->len), 0);
        ck_assert_uint_eq(fn_get32(t + 4), 1000 + off);
        ck_assert_uint_eq(fn_get32(t + 8), 777);
        ck_assert_uint_eq(t[13], i + 1 == segs ? FN_TCP_ACK | FN_TCP_PSH : FN_TCP_ACK);
        ck_assert_mem_eq(t + 20, orig + TSO_HDRS + off, pl);
        off += pl;
    }
    ck_assert_uint_eq(rd(TSCTC), 1);
    ck_assert_uint_eq(rd(TSCTFC), 0);
    ck_assert_uint_eq(rd(GPTC), segs);
    ck_assert_uint_eq(rd(GOTCL), TSO_PAYLOAD + segs * (TSO_HDRS + 4));
}
END_TEST

START_TEST(test_tx_tso_vnet)
{
    tx_init(64);
    size_t n;
    tso4_post(&n);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    const struct sent *s = &be.s[0];
    ck_assert(s->has_hdr);
    ck_assert_uint_eq(s->len, n);
    ck_assert_uint_eq(s->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(le16toh(s->hdr.gso_size), TSO_MSS);
    ck_assert_uint_eq(le16toh(s->hdr.hdr_len), TSO_HDRS);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 34);
    ck_assert_uint_eq(le16toh(s->hdr.csum_offset), 16);
    /* A normal GSO packet: real total length, valid header checksum, TCP checksum seeded with
     * the full pseudo header (length included). */
    ck_assert_uint_eq(fn_get16(s->data + 16), n - 14);
    ck_assert_uint_eq(ip4_check(s->data), 0);
    uint16_t seed = fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34));
    ck_assert_uint_eq(fn_get16(s->data + 50), seed);
    ck_assert_int_eq(offload_check(&s->hdr, s->data, s->len), 0);
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    ck_assert_mem_eq(s->data + TSO_HDRS, orig + TSO_HDRS, TSO_PAYLOAD);
}
END_TEST

/* IPv6 TSO as tcp_v6_gso_csum_prep leaves it: payload length 0, pseudo header seed without
 * the length; no IP bit, no IXSM. */
static size_t tso6_post(void)
{
    const size_t pl = 2500, hl = 14 + 40 + 20;
    uint8_t *f = frame;
    memset(f, 0, hl + pl);
    memcpy(f, host.mac, 6);
    memcpy(f + 6, guest.mac, 6);
    fn_put16(f + 12, 0x86dd);
    uint8_t *ip = f + 14, *t = f + 54;
    ip[0] = 0x60;
    ip[6] = FN_PROTO_TCP;
    ip[7] = 64;
    for (int i = 0; i < 16; i++) {
        ip[8 + i] = (uint8_t)(0x20 + i);
        ip[24 + i] = (uint8_t)(0x40 + i);
    }
    fn_put16(t, 1111);
    fn_put16(t + 2, 2222);
    fn_put32(t + 4, 5000);
    t[12] = 5 << 4;
    t[13] = FN_TCP_ACK;
    for (size_t i = 0; i < pl; i++)
        t[20 + i] = (uint8_t)(i * 3);
    uint32_t ps = offload_csum_add(0, ip + 8, 32) + FN_PROTO_TCP;
    fn_put16(t + 16, fold16(ps));
    memcpy(ram + TXBUF, f, hl);
    memcpy(ram + TXBUF + 0x1000, f + hl, pl);
    struct ctx c = {14, 24, 54, 70, (uint8_t)hl, T_TCP, 0, 0, 1200, (uint32_t)pl};
    txd_ctx(&c, C_TSE);
    txd_data(TXBUF, (uint32_t)hl, C_TSE | C_IFCS, POPTS_TXSM, 0);
    txd_data(TXBUF + 0x1000, (uint32_t)pl, C_TSE | C_IFCS | C_EOP | C_RS, POPTS_TXSM, 0);
    return hl + pl;
}

START_TEST(test_tx_tso6)
{
    tx_init(64);
    size_t n = tso6_post();
    tx_kick();
    ck_assert_uint_eq(be.nsent, 3);
    for (unsigned i = 0; i < 3; i++) {
        const struct sent *s = &be.s[i];
        size_t pl = i < 2 ? 1200 : 100;
        ck_assert_uint_eq(s->len, 74 + pl);
        ck_assert_uint_eq(fn_get16(s->data + 18), 20 + pl);
        uint32_t ps = offload_csum_add(0, s->data + 22, 32) + FN_PROTO_TCP + (uint32_t)(20 + pl);
        ck_assert_uint_eq(fn_csum_naive(ps, s->data + 54, 20 + pl), 0);
        ck_assert_uint_eq(fn_get32(s->data + 58), 5000 + 1200 * i);
        ck_assert_mem_eq(s->data + 74, frame + 74 + 1200 * i, pl);
    }
    (void)n;
}
END_TEST

START_TEST(test_tx_tso6_vnet)
{
    tx_init(64);
    size_t n = tso6_post();
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    const struct sent *s = &be.s[0];
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 54);
    ck_assert_uint_eq(le16toh(s->hdr.hdr_len), 74);
    ck_assert_uint_eq(fn_get16(s->data + 18), n - 54);
    uint32_t ps = offload_csum_add(0, frame + 22, 32) + FN_PROTO_TCP + (uint32_t)(n - 54);
    ck_assert_uint_eq(fn_get16(s->data + 70), fold16(ps));
}
END_TEST

/* Checksum offload as e1000_tx_csum() sets it up (a context without TSE, POPTS.TXSM on the
 * data descriptors), here for UDP, plus IXSM for the IPv4 header. */
static size_t udp_csum_post(void)
{
    size_t n = udp_frame(frame, peer_mac, 300, FN_CSUM_PARTIAL);
    fn_put16(frame + 24, 0); /* IP header checksum: the device's job (IXSM) */
    memcpy(ram + TXBUF, frame, n);
    struct ctx c = {14, 24, 34, 40, 0, 0, 33, 0, 0, 0};
    txd_ctx(&c, 0);
    txd_data(TXBUF, 100, C_IFCS, POPTS_TXSM | POPTS_IXSM, 0);
    txd_data(TXBUF + 100, (uint32_t)(n - 100), C_IFCS | C_EOP | C_RS, 0, 0);
    return n;
}

START_TEST(test_tx_csum_udp)
{
    tx_init(16);
    size_t n = udp_csum_post();
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    struct fn_pkt p;
    ck_assert(fn_parse(be.s[0].data, be.s[0].len, &p));
    ck_assert_uint_eq(be.s[0].len, n);
    ck_assert(p.ip_csum_ok);
    ck_assert(p.l4_csum_ok);
    ck_assert_uint_eq(netdev_get_stats(nd)->sw_checksummed, 1);
}
END_TEST

START_TEST(test_tx_csum_udp_vnet)
{
    tx_init(16);
    size_t n = udp_csum_post();
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    const struct sent *s = &be.s[0];
    ck_assert_uint_eq(s->len, n);
    ck_assert_uint_eq(s->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(s->hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(le16toh(s->hdr.csum_start), 34);
    ck_assert_uint_eq(le16toh(s->hdr.csum_offset), 6);
    ck_assert_uint_eq(ip4_check(s->data), 0);
    ck_assert_mem_eq(s->data + 26, frame + 26, n - 26); /* the rest untouched */
}
END_TEST

/* A legacy descriptor's IC with CSS/CSO, and a partial range (TUCSE) computed in the
 * device. */
START_TEST(test_tx_legacy_ic)
{
    tx_init(16);
    size_t n = tcp4_frame(frame, 200, 1, FN_TCP_ACK);
    uint16_t good = fn_get16(frame + 50);
    fn_put16(frame + 50, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34)));
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, 20, 0, 0, 34, 0); /* CSS in the first descriptor */
    txd_legacy(TXBUF + 20, (uint16_t)(n - 20), C_EOP | C_IC | C_RS, 50, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(fn_get16(be.s[0].data + 50), good);
    /* IC out of range (CSO >= length - 1): ignored, the frame goes out as it is. */
    memcpy(ram + TXBUF, frame, 60);
    txd_legacy(TXBUF, 60, C_EOP | C_IC | C_RS, 59, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_mem_eq(be.s[1].data, frame, 60);
}
END_TEST

START_TEST(test_tx_vlan_insert)
{
    tx_init(16);
    wr(CTRL, rd(CTRL) | 0x40000000u); /* VME */
    size_t n = udp_frame(frame, peer_mac, 64, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_VLE, 0, 0, 0x2005);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(be.s[0].len, n + 4);
    ck_assert_mem_eq(be.s[0].data, frame, 12);
    ck_assert_uint_eq(fn_get16(be.s[0].data + 12), 0x8100);
    ck_assert_uint_eq(fn_get16(be.s[0].data + 14), 0x2005);
    ck_assert_mem_eq(be.s[0].data + 16, frame + 12, n - 12);
}
END_TEST

/* Back-pressure: the backend says EAGAIN, the layer queues that frame and TX stops (no busy
 * loop) until tx_ready. */
START_TEST(test_tx_backpressure)
{
    tx_init(16);
    size_t n = udp_frame(frame, peer_mac, 64, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    for (int i = 0; i < 3; i++)
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    be.eagain = true;
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 1);
    ck_assert_uint_eq(be.calls, 1);
    ck_assert_uint_ge(e1000_get_stats(dev)->tx_wait_backend, 1);
    pump_for(20);
    ck_assert_uint_eq(be.calls, 1);
    be.eagain = false;
    netdev_backend_writable(nd);
    pump();
    ck_assert_uint_eq(be.nsent, 3);
    ck_assert_uint_eq(rd(TDH), 3);
}
END_TEST

/* The per-kick budget: 300 frames take two passes of the loop. */
START_TEST(test_tx_budget)
{
    tx_init(512);
    size_t n = udp_frame(frame, peer_mac, 18, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    for (int i = 0; i < 300; i++)
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, 300);
    evloop_run_once(loop, 100);
    ck_assert_uint_eq(rd(TDH), 256);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_budget_yields, 1);
    pump();
    ck_assert_uint_eq(rd(TDH), 300);
    ck_assert_uint_eq(be.nsent, 256); /* the recorder's limit; the rest were sent too */
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_packets, 300);
}
END_TEST

/* --- RX ------------------------------------------------------------------------------------- */

#define RCTL_STD (RCTL_EN | RCTL_BAM | 1u << 8) /* as e1000_setup_rctl: RDMTS 1/4 */

/* Waits for descriptor i to be done and checks it. */
static void rx_expect(unsigned i, const uint8_t *f, size_t n, size_t fcs)
{
    uint8_t *d = rxd(i);
    ck_assert_msg(d[12] & RX_DD, "descriptor %u not done", i);
    ck_assert(d[12] & RX_EOP);
    size_t wlen = n < 60 ? 60 : n;
    ck_assert_uint_eq(get16le(d + 8), wlen + fcs);
    ck_assert_mem_eq(rxbuf(i), f, n);
    for (size_t k = n; k < wlen; k++)
        ck_assert_uint_eq(rxbuf(i)[k], 0);
}

static bool rx_done(unsigned i)
{
    return rxd(i)[12] & RX_DD;
}

START_TEST(test_rx_unicast)
{
    rx_init(16, RCTL_STD);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    wr(IMS, ICR_RXT0);
    ck_assert(deliver(frame, n));
    rx_expect(0, frame, n, 4);
    ck_assert_uint_eq(rd(RDH), 1);
    ck_assert(line.level);
    ck_assert(rd(ICR) & ICR_RXT0);
    /* Status: IPv4 and UDP checksums verified good (RXCSUM's defaults). */
    ck_assert_uint_eq(rxd(0)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    ck_assert_uint_eq(rxd(0)[13], 0);
    /* Another unicast address: filtered, counted. */
    uint8_t other[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
    n = udp_frame(frame, other, 100, FN_CSUM_FULL);
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(1));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_filtered, 1);
    /* A second receive address (RAR1, as e1000_set_rx_mode fills it). */
    wr(RA + 8, other[0] | other[1] << 8 | other[2] << 16 | (uint32_t)other[3] << 24);
    wr(RA + 12, other[4] | other[5] << 8 | 0x80000000u);
    ck_assert(deliver(frame, n));
    rx_expect(1, frame, n, 4);
    /* Short frames are padded to 60 bytes; SECRC strips the FCS from the count. */
    wr(RCTL, RCTL_STD | RCTL_SECRC);
    n = 42;
    ck_assert(deliver(frame, n));
    rx_expect(2, frame, n, 0);
    ck_assert_uint_eq(rd(GPRC), 3);
    ck_assert_uint_eq(rd(TPR), 3);
    ck_assert_uint_eq(rd(PRC64), 1);
}
END_TEST

START_TEST(test_rx_multicast_broadcast_promisc)
{
    rx_init(32, RCTL_EN); /* no BAM */
    size_t n = udp_frame(frame, fn_broadcast, 40, FN_CSUM_FULL);
    deliver(frame, n);
    ck_assert(!rx_done(0));
    wr(RCTL, RCTL_EN | RCTL_BAM);
    deliver(frame, n);
    ck_assert(rx_done(0));
    /* Multicast 01:00:5e:00:00:fb through the table (MO 0: bits 47:36). */
    uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    n = udp_frame(frame, mc, 40, FN_CSUM_FULL);
    deliver(frame, n);
    ck_assert(!rx_done(1));
    unsigned hash = ((mc[4] >> 4) | (unsigned)mc[5] << 4) & 0xfff;
    wr(MTA + 4 * (hash >> 5), 1u << (hash & 31));
    deliver(frame, n);
    ck_assert(rx_done(1));
    /* MO 3 (bits 43:32) uses another bit. */
    wr(RCTL, RCTL_EN | RCTL_BAM | 3u << 12);
    deliver(frame, n);
    ck_assert(!rx_done(2));
    wr(RCTL, RCTL_EN | RCTL_BAM | RCTL_MPE);
    deliver(frame, n);
    ck_assert(rx_done(2));
    /* Unicast promiscuous. */
    uint8_t other[6] = {0x02, 0, 0, 0, 0, 1};
    n = udp_frame(frame, other, 40, FN_CSUM_FULL);
    deliver(frame, n);
    ck_assert(!rx_done(3));
    wr(RCTL, RCTL_EN | RCTL_UPE);
    deliver(frame, n);
    ck_assert(rx_done(3));
    ck_assert_uint_eq(rd(BPRC), 1);
    ck_assert_uint_eq(rd(MPRC), 2);
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_filtered, 4);
}
END_TEST

START_TEST(test_rx_checksum_status)
{
    rx_init(16, RCTL_STD);
    size_t n = tcp4_frame(frame, 300, 9, FN_TCP_ACK);
    memcpy(frame, mac, 6);
    deliver(frame, n);
    ck_assert_uint_eq(rxd(0)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    ck_assert_uint_eq(rxd(0)[13], 0);
    frame[60] ^= 1; /* payload corrupted */
    deliver(frame, n);
    ck_assert_uint_eq(rxd(1)[13], RX_TCPE);
    frame[60] ^= 1;
    frame[22] ^= 1; /* TTL: the IP header checksum breaks */
    deliver(frame, n);
    ck_assert_uint_eq(rxd(2)[13] & RX_IPE, RX_IPE);
    frame[22] ^= 1;
    wr(RXCSUM, 0);
    deliver(frame, n);
    ck_assert_uint_eq(rxd(3)[12], RX_DD | RX_EOP | RX_IXSM);
    /* A frame from a backend with NEEDS_CSUM (tap with offloads): completed by the device. */
    wr(RXCSUM, 0x300);
    uint16_t good = fn_get16(frame + 50);
    fn_put16(frame + 50, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, n - 34)));
    struct virtio_net_hdr_v1 h;
    fn_vnet_csum(&h, 34, 16);
    deliver_hdr(&h, frame, n);
    ck_assert_uint_eq(fn_get16(rxbuf(4) + 50), good);
    ck_assert_uint_eq(rxd(4)[12], RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
    /* GSO frames are never accepted (not negotiated): dropped and counted. */
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = htole16(100);
    uint64_t before = e1000_get_stats(dev)->rx_drop_oversize;
    deliver_hdr(&h, frame, n);
    ck_assert(!rx_done(5));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_oversize, before + 1);
}
END_TEST

START_TEST(test_rx_vlan_strip)
{
    rx_init(16, RCTL_STD);
    wr(CTRL, rd(CTRL) | 0x40000000u);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    uint8_t tagged[200];
    memcpy(tagged, frame, 12);
    fn_put16(tagged + 12, 0x8100);
    fn_put16(tagged + 14, 0x6007);
    memcpy(tagged + 16, frame + 12, n - 12);
    deliver(tagged, n + 4);
    rx_expect(0, frame, n, 4);
    ck_assert(rxd(0)[12] & RX_VP);
    ck_assert(rxd(0)[12] & RX_TCPCS);
    ck_assert_uint_eq(get16le(rxd(0) + 14), 0x6007);
    /* Without VME the tag stays. */
    wr(CTRL, rd(CTRL) & ~0x40000000u);
    deliver(tagged, n + 4);
    rx_expect(1, tagged, n + 4, 4);
    ck_assert_uint_eq(rxd(1)[12] & RX_VP, 0);
}
END_TEST

/* Long packets: span consecutive descriptors, EOP on the last (LPE and 1024-byte buffers);
 * without LPE a frame over 1522 bytes is dropped and counted (ROC). */
START_TEST(test_rx_long_frames)
{
    rx_init(16, RCTL_STD | RCTL_LPE | 1u << 16); /* BSIZE 1024 */
    size_t n = udp_frame(frame, mac, 3000, FN_CSUM_FULL);
    deliver(frame, n);
    size_t total = n + 4, off = 0;
    unsigned d = 0;
    for (; off < total; d++) {
        size_t chunk = total - off < 1024 ? total - off : 1024;
        ck_assert(rxd(d)[12] & RX_DD);
        ck_assert_uint_eq(!!(rxd(d)[12] & RX_EOP), off + chunk == total);
        ck_assert_uint_eq(get16le(rxd(d) + 8), chunk);
        size_t data = off < n ? (n - off < chunk ? n - off : chunk) : 0;
        ck_assert_mem_eq(rxbuf(d), frame + off, data);
        off += chunk;
    }
    ck_assert_uint_eq(d, 3);
    ck_assert_uint_eq(rd(RDH), 3);
    ck_assert(rxd(2)[12] & RX_TCPCS);
    /* Checklist: frame longer than the buffer with long-packet mode off. */
    wr(RCTL, RCTL_STD);
    deliver(frame, n);
    ck_assert(!rx_done(3));
    ck_assert_uint_eq(rd(ROC), 1);
    n = udp_frame(frame, mac, 1472, FN_CSUM_FULL); /* 1514: fits a 2048-byte buffer */
    deliver(frame, n);
    rx_expect(3, frame, n, 4);
    /* 1522 with FCS: a VLAN-sized frame is still accepted, 1523 is not. */
    n = udp_frame(frame, mac, 1476, FN_CSUM_FULL);
    deliver(frame, n);
    rx_expect(4, frame, n, 4);
    n = udp_frame(frame, mac, 1477, FN_CSUM_FULL);
    deliver(frame, n);
    ck_assert(!rx_done(5));
    ck_assert_uint_eq(rd(ROC), 1);
}
END_TEST

/* Checklist: no free descriptors. receive() says "no room": the layer keeps the frame (RNBC
 * counts the refusal, RXO is raised); when RDT moves the frame arrives. Frames past the
 * layer's bounded queue are dropped there and show up in MPC. */
START_TEST(test_rx_ring_full)
{
    rx_init(8, RCTL_STD); /* seven descriptors for the device */
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    for (int i = 0; i < 7; i++)
        ck_assert(deliver(frame, n));
    ck_assert_uint_eq(rd(RDH), 7);
    ck_assert(!deliver(frame, n)); /* queued by the layer */
    ck_assert_uint_eq(rd(RNBC), 1);
    ck_assert(rd(ICR) & ICR_RXO);
    ck_assert_uint_eq(rd(ICR), 0); /* read-to-clear */
    /* The driver cleans descriptor 0 and gives it back. */
    memset(rxd(0) + 8, 0, 8);
    wr(RDT, 0);
    pump();
    ck_assert(rx_done(7));
    ck_assert_uint_eq(rd(RDH), 0);
    /* Flood a full ring: 256 frames fit the layer's queue, the rest are missed. */
    for (int i = 0; i < 300; i++)
        deliver(frame, n);
    ck_assert_uint_eq(rd(MPC), 300 - 256);
    ck_assert_uint_eq(rd(MPC), 0);
    ck_assert_uint_ge(e1000_get_stats(dev)->rx_drop_no_desc, 1);
}
END_TEST

START_TEST(test_rx_disabled)
{
    rx_init(16, 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n)); /* dropped by the NIC, not queued */
    ck_assert(!rx_done(0));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_disabled, 1);
    /* No bus mastering: no DMA either. */
    wr(RCTL, RCTL_STD);
    e1000_pci(dev)->cfg[PCI_COMMAND] &= (uint8_t)~PCI_COMMAND_MASTER;
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(0));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_drop_disabled, 2);
    e1000_pci(dev)->cfg[PCI_COMMAND] |= PCI_COMMAND_MASTER;
    ck_assert(deliver(frame, n));
    ck_assert(rx_done(0));
}
END_TEST

/* MAC loopback: frames sent come back through the receive ring, via the loopback queue. */
START_TEST(test_loopback)
{
    tx_init(16);
    rx_init(16, RCTL_STD | RCTL_LBM);
    size_t n = udp_frame(frame, mac, 200, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 0);
    rx_expect(0, frame, n, 4);
    /* A TSO frame comes back segmented and checksummed. */
    size_t len;
    tso4_post(&len);
    memcpy(frame, mac, 6);
    memcpy(ram + TXBUF, mac, 6);
    tx_kick();
    for (unsigned i = 1; i <= 4; i++) {
        ck_assert(rx_done(i));
        ck_assert_uint_eq(tcp4_check(rxbuf(i), get16le(rxd(i) + 8) - 4), 0);
    }
    /* Frames from the backend are not received while in loopback. */
    deliver(frame, 60);
    ck_assert(!rx_done(5));
}
END_TEST

/* --- interrupts and mitigation ---------------------------------------------------------------- */

START_TEST(test_irq_cause_mask)
{
    wr(ICS, ICR_TXDW);
    ck_assert(!line.level); /* masked */
    ck_assert_uint_eq(rd(ICR), ICR_TXDW);
    ck_assert_uint_eq(rd(ICR), 0);
    wr(IMS, ICR_TXDW | ICR_RXT0);
    ck_assert_uint_eq(rd(IMS), ICR_TXDW | ICR_RXT0);
    wr(ICS, ICR_TXDW);
    ck_assert(line.level);
    wr(IMC, ICR_TXDW);
    ck_assert(!line.level);
    ck_assert_uint_eq(rd(IMS), ICR_RXT0);
    wr(IMS, ICR_TXDW); /* still pending: asserts again */
    ck_assert(line.level);
    ck_assert_uint_eq(rd(ICR), ICR_TXDW);
    ck_assert(!line.level);
    /* ICR bits also clear by writing 1. */
    wr(IMS, ICR_TXQE);
    wr(ICS, ICR_TXDW | ICR_TXQE);
    wr(ICR, ICR_TXDW);
    ck_assert(line.level);
    wr(ICR, ICR_TXQE);
    ck_assert(!line.level);
    /* INTx disabled in the command register masks the line, not the cause. */
    struct pci_device *d = e1000_pci(dev);
    d->cfg[PCI_COMMAND + 1] |= PCI_COMMAND_INTX_DISABLE >> 8;
    d->cfg_written(d, PCI_COMMAND, 2);
    wr(ICS, ICR_TXDW);
    ck_assert(!line.level);
    ck_assert(d->cfg[PCI_STATUS] & 0x08); /* interrupt status */
    d->cfg[PCI_COMMAND + 1] &= (uint8_t) ~(PCI_COMMAND_INTX_DISABLE >> 8);
    d->cfg_written(d, PCI_COMMAND, 2);
    ck_assert(line.level);
    rd(ICR);
    ck_assert(!line.level);
    ck_assert_uint_eq(d->cfg[PCI_STATUS] & 0x08, 0);
}
END_TEST

/* ITR: at most one interrupt per ITR x 256 ns. */
START_TEST(test_itr_timing)
{
    wr(ITR, 0xffff); /* 16.8 ms */
    wr(IMS, ICR_TXDW);
    wr(ICS, ICR_TXDW);
    ck_assert(line.level);
    uint64_t t0 = line.last_rise_ns;
    rd(ICR);
    wr(ICS, ICR_TXDW);
    ck_assert(!line.level); /* held back */
    ck_assert(pump_until_level(true, 2000));
    uint64_t gap = (line.last_rise_ns - t0) / 1000000u;
    ck_assert_msg(gap >= 16, "ITR interval not respected: %llu ms", (unsigned long long)gap);
    ck_assert_uint_ge(e1000_get_stats(dev)->itr_fired, 1);
    /* ITR 0: no throttling. */
    wr(ITR, 0);
    rd(ICR);
    wr(ICS, ICR_TXDW);
    ck_assert(line.level);
}
END_TEST

/* RDTR: RXT0 after RDTR x 1.024 us without further frames. */
START_TEST(test_rdtr_timing)
{
    rx_init(64, RCTL_STD);
    wr(RDTR, 20000); /* 20.5 ms */
    wr(IMS, ICR_RXT0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    uint64_t t0 = evloop_now_ns();
    deliver(frame, n);
    ck_assert(rx_done(0)); /* the frame is written at once; only the interrupt waits */
    ck_assert(!line.level);
    ck_assert(pump_until_level(true, 3000));
    uint64_t ms = (line.last_rise_ns - t0) / 1000000u;
    ck_assert_msg(ms >= 20, "RXT0 after %llu ms", (unsigned long long)ms);
    ck_assert_uint_eq(e1000_get_stats(dev)->rdtr_fired, 1);
    /* FPD: a write of RDTR with bit 31 flushes a pending delay. */
    rd(ICR);
    deliver(frame, n);
    ck_assert(!line.level);
    wr(RDTR, 0x80000000u | 20000);
    ck_assert(line.level);
}
END_TEST

/* RADV caps the delay while frames keep restarting RDTR. */
START_TEST(test_radv_timing)
{
    rx_init(64, RCTL_STD);
    wr(RDTR, 0xffff); /* 67 ms after each frame */
    wr(RADV, 5000);   /* 5.1 ms after the first */
    wr(IMS, ICR_RXT0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    uint64_t t0 = evloop_now_ns();
    for (int i = 0; i < 30 && !line.level; i++) {
        deliver(frame, n);
        pump_for(5);
    }
    ck_assert(line.level);
    uint64_t ms = (line.last_rise_ns - t0) / 1000000u;
    ck_assert_msg(ms >= 5 && ms < 120, "RXT0 after %llu ms", (unsigned long long)ms);
    ck_assert_uint_eq(e1000_get_stats(dev)->radv_fired, 1);
}
END_TEST

/* TIDV/TADV: IDE descriptors delay TXDW; TADV caps the delay. */
START_TEST(test_tidv_tadv_timing)
{
    tx_init(256);
    size_t n = udp_frame(frame, peer_mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    wr(TIDV, 10000); /* 10.2 ms */
    wr(IMS, ICR_TXDW);
    uint64_t t0 = evloop_now_ns();
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_IDE, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(!line.level);
    ck_assert(pump_until_level(true, 3000));
    uint64_t ms = (line.last_rise_ns - t0) / 1000000u;
    ck_assert_msg(ms >= 10, "TXDW after %llu ms", (unsigned long long)ms);
    rd(ICR);
    /* Without IDE: at once. */
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert(line.level);
    rd(ICR);
    /* TADV bounds a TIDV that keeps being restarted. */
    wr(TIDV, 0xffff);
    wr(TADV, 5000);
    t0 = evloop_now_ns();
    for (int i = 0; i < 30 && !line.level; i++) {
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_IDE, 0, 0, 0);
        tx_kick();
        pump_for(5);
    }
    ck_assert(line.level);
    ms = (line.last_rise_ns - t0) / 1000000u;
    ck_assert_msg(ms >= 5 && ms < 120, "TXDW after %llu ms", (unsigned long long)ms);
    ck_assert_uint_eq(e1000_get_stats(dev)->tadv_fired, 1);
}
END_TEST

/* Checklist: ITR/RADV/TADV (and RDTR/TIDV) of 0, 1 and 0xffff: traffic with a driver that
 * acknowledges every interrupt, then silence: no interrupt or timer storm. */
static void timer_values_run(uint32_t v)
{
    wr(ITR, v);
    wr(RDTR, v);
    wr(RADV, v);
    wr(TIDV, v);
    wr(TADV, v);
    wr(IMS, 0xffffffffu);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    for (int i = 0; i < 40; i++) {
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_IDE, 0, 0, 0);
        tx_kick();
        deliver(frame, n);
        memset(rxd(rx_clean) + 8, 0, 8);
        wr(RDT, rx_clean++ % rx_count);
        if (line.level)
            rd(ICR);
        evloop_run_once(loop, 0);
    }
    pump_for(80); /* let 0xffff timers (67 ms) expire */
    rd(ICR);
    unsigned rises = line.rises;
    int events = 0;
    uint64_t end = evloop_now_ns() + 100 * 1000000ull;
    while (evloop_now_ns() < end)
        events += evloop_run_once(loop, 5);
    ck_assert_msg(events <= 4, "value 0x%x: %d events while idle", v, events);
    ck_assert_uint_le(line.rises, rises + 1);
    ck_assert_uint_le(rises, 2 * 40 + 4); /* at most one per TX and RX frame (+ a few) */
}

START_TEST(test_cl_timer_values)
{
    uint32_t vals[] = {0, 1, 0xffff};
    tx_init(256);
    rx_init(64, RCTL_STD);
    for (size_t i = 0; i < 3; i++) {
        line.rises = 0;
        timer_values_run(vals[i]);
    }
}
END_TEST

/* --- statistics ---------------------------------------------------------------------------- */

START_TEST(test_stats_clear_on_read)
{
    rx_init(16, RCTL_STD);
    tx_init(16);
    size_t n = udp_frame(frame, mac, 200, FN_CSUM_FULL);
    deliver(frame, n);
    deliver(frame, n);
    n = udp_frame(frame, fn_broadcast, 200, FN_CSUM_FULL);
    deliver(frame, n);
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(rd(GPRC), 3);
    ck_assert_uint_eq(rd(GPRC), 0);
    ck_assert_uint_eq(rd(TPR), 3);
    ck_assert_uint_eq(rd(BPRC), 1);
    ck_assert_uint_eq(rd(GORCL), 3 * (n + 4));
    ck_assert_uint_eq(rd(GORCH), 0);
    ck_assert_uint_eq(rd(GORCL), 0);
    ck_assert_uint_eq(rd(0x40c0), 3 * (n + 4)); /* TORL */
    ck_assert_uint_eq(rd(0x40c4), 0);
    ck_assert_uint_eq(rd(0x40c0), 0);
    ck_assert_uint_eq(rd(GPTC), 1);
    ck_assert_uint_eq(rd(TPT), 1);
    ck_assert_uint_eq(rd(0x40f4), 1); /* BPTC */
    ck_assert_uint_eq(rd(GOTCL), n + 4);
    ck_assert_uint_eq(rd(GOTCH), 0);
    ck_assert_uint_eq(rd(0x40c8), n + 4); /* TOTL */
    ck_assert_uint_eq(rd(0x40cc), 0);
    ck_assert_uint_eq(rd(MPC), 0);
    ck_assert_uint_eq(rd(PRC64 + 4 * 2), 3); /* 128-255 bytes */
    ck_assert_uint_eq(rd(PTC64 + 4 * 2), 1);
    /* Statistics are read-only. */
    wr(GPRC, 55);
    ck_assert_uint_eq(rd(GPRC), 0);
    for (uint32_t off = 0x4000; off < 0x4100; off += 4)
        rd(off);
    for (uint32_t off = 0x4000; off < 0x4100; off += 4)
        ck_assert_uint_eq(rd(off), 0);
}
END_TEST

/* --- reset ----------------------------------------------------------------------------------- */

/* CTRL.RST with TX descriptors posted (the kick not yet run), delay timers pending and a
 * packet half gathered: afterwards the registers are at their defaults, nothing more is
 * written to guest memory, no timer fires, and the device works again once reprogrammed. */
START_TEST(test_reset_during_traffic)
{
    tx_init(64);
    rx_init(16, RCTL_STD);
    wr(RDTR, 5000);
    wr(TIDV, 5000);
    wr(IMS, 0xffffffffu);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_IDE, 0, 0, 0); /* TIDV pending */
    txd_legacy(TXBUF, 50, C_RS, 0, 0, 0);                          /* half a packet */
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    deliver(frame, n); /* RDTR pending */
    txd_legacy(TXBUF + 50, (uint16_t)(n - 50), C_EOP | C_RS, 0, 0, 0);
    for (int i = 0; i < 20; i++)
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, tx_next); /* kick queued, not yet run */
    unsigned sent = be.nsent;
    wr(CTRL, rd(CTRL) | 0x04000000u);
    ck_assert_uint_eq(rd(CTRL) & 0x04000000u, 0);
    uint8_t *snap = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, ram, RAM_SIZE);
    ck_assert(!line.level);
    unsigned rises = line.rises;
    deliver(frame, n);
    pump_for(30);
    ck_assert(memcmp(snap, ram, RAM_SIZE) == 0);
    ck_assert_uint_eq(be.nsent, sent);
    ck_assert_uint_eq(line.rises, rises);
    uint32_t zero[] = {TCTL, RCTL, TDH, TDT, TDLEN, RDH, RDT, RDLEN, IMS, ICR, RDTR, TIDV, GPRC};
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
        ck_assert_msg(rd(zero[i]) == 0, "register 0x%x not reset", zero[i]);
    ck_assert_uint_eq(rd(RA + 4), mac[4] | mac[5] << 8 | 0x80000000u);
    ck_assert(rd(STATUS) & 2);
    free(snap);
    /* Reprogrammed, it works; the half packet from before the reset is gone. */
    tx_init(64);
    rx_init(16, RCTL_STD);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, sent + 1);
    ck_assert_uint_eq(be.s[be.nsent - 1].len, n);
    deliver(frame, n);
    ck_assert(rx_done(0));
}
END_TEST

static void *loop_thread(void *arg)
{
    (void)arg;
    evloop_run(loop);
    return NULL;
}

/* CTRL.RST from a vCPU thread while the loop thread walks a long TX ring and a timer is
 * running: the reset waits for the walk; after it returns guest memory stays untouched. */
START_TEST(test_reset_concurrent)
{
    tx_init(4096);
    wr(TIDV, 1);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    for (int i = 0; i < 4000; i++)
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS | C_IDE, 0, 0, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, NULL), 0);
    wr(TDT, 4000);
    uint64_t t0 = evloop_now_ns();
    while (rd(TDH) < 300 && ms_since(t0) < 5000)
        ;
    ck_assert_uint_ge(rd(TDH), 300);
    wr(CTRL, 0x04000000u);
    uint8_t *snap = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, ram, RAM_SIZE);
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    ck_assert(memcmp(snap, ram, RAM_SIZE) == 0);
    evloop_stop(loop);
    pthread_join(th, NULL);
    free(snap);
    ck_assert_uint_eq(rd(TDH), 0);
}
END_TEST

/* e1000_reset (PCI RST#, a machine reset): as CTRL.RST. */
START_TEST(test_machine_reset)
{
    rx_init(16, RCTL_STD);
    wr(IMS, ICR_LSC);
    wr(ICS, ICR_LSC);
    ck_assert(line.level);
    e1000_reset(dev);
    ck_assert(!line.level);
    ck_assert_uint_eq(rd(RCTL), 0);
    ck_assert_uint_eq(rd(RDLEN), 0);
    ck_assert_uint_eq(rd(IMS), 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n));
    ck_assert(!rx_done(0));
}
END_TEST

/* --- malicious-guest checklist, section 2 --------------------------------------------------- */

static uint64_t bad_ring(void)
{
    return e1000_get_stats(dev)->bad_ring;
}

/* TDLEN/RDLEN of 0: the rings are off; nothing is read or written, no division by zero. */
START_TEST(test_cl_ring_len_zero)
{
    tx_init(16);
    wr(TDLEN, 0);
    txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, 5);
    pump();
    ck_assert_uint_eq(rd(TDH), 0);
    ck_assert_uint_eq(be.calls, 0);
    rx_init(16, RCTL_STD);
    wr(RDLEN, 0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(!deliver(frame, n)); /* kept by the layer */
    ck_assert(!rx_done(0));
    wr(RDLEN, 16 * 16);
    wr(RDT, 15);
    pump();
    rx_expect(0, frame, n, 4);
}
END_TEST

/* A huge ring (TDLEN 0xfff80) placed near the end of RAM: the walk stops at the first
 * descriptor outside RAM, within the budget; RX refuses a ring that is not all RAM. */
START_TEST(test_cl_ring_huge)
{
    tx_init(16);
    wr(TDBAL, (uint32_t)(RAM_SIZE - 100 * 16));
    wr(TDLEN, 0xfff80);
    wr(TDT, 0xfff0);
    pump();
    ck_assert_uint_eq(rd(TDH), 100);
    ck_assert_uint_ge(bad_ring(), 1);
    ck_assert_uint_eq(be.calls, 0);
    rx_init(16, RCTL_STD);
    wr(RDBAL, (uint32_t)(RAM_SIZE - 100 * 16));
    wr(RDLEN, 0xfff80);
    wr(RDT, 0xfff0);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(deliver(frame, n)); /* dropped */
    ck_assert_uint_ge(bad_ring(), 2);
    ck_assert_uint_ge(e1000_get_stats(dev)->rx_drop_no_desc, 1);
}
END_TEST

/* TDH/TDT/RDH/RDT at or past LEN/16, or above 0xffff (kept to 16 bits): nothing walks. */
START_TEST(test_cl_head_tail_past_ring)
{
    tx_init(16);
    txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    wr(TDT, 16);
    pump();
    wr(TDT, 0x10001); /* 1 after the 16-bit cut, fine */
    ck_assert_uint_eq(rd(TDT), 1);
    wr(TDH, 40);
    pump();
    ck_assert_uint_eq(rd(TDH), 40);
    ck_assert_uint_eq(be.calls, 0);
    ck_assert_uint_ge(bad_ring(), 1);
    wr(TDH, 0);
    wr(TDT, 1);
    pump();
    ck_assert_uint_eq(rd(TDH), 1);
    rx_init(16, RCTL_STD);
    wr(RDT, 0xffff);
    size_t n = udp_frame(frame, mac, 60, FN_CSUM_FULL);
    ck_assert(!deliver(frame, n));
    ck_assert(!rx_done(0));
    wr(RDT, 15);
    wr(RDH, 16);
    pump();
    ck_assert(!rx_done(0));
    wr(RDH, 0);
    wr(RDT, 15);
    pump();
    ck_assert(rx_done(0));
}
END_TEST

/* Ring bases outside RAM, inside the device's own BAR, straddling the end of RAM, and moved
 * while the units run. */
START_TEST(test_cl_ring_base)
{
    tx_init(8);
    size_t n = udp_frame(frame, peer_mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    wr(TDBAL, (uint32_t)BAR0);
    wr(TDT, 3);
    pump();
    ck_assert_uint_eq(rd(TDH), 0);
    ck_assert_uint_ge(bad_ring(), 1);
    /* Straddling: two descriptors in RAM, the rest beyond. */
    uint64_t base = RAM_SIZE - 32;
    for (int i = 0; i < 2; i++) {
        uint8_t *d = ram + base + 16 * i;
        memset(d, 0, 16);
        put64le(d, TXBUF);
        put16le(d + 8, (uint16_t)n);
        d[11] = C_EOP | C_RS;
    }
    wr(TDBAL, (uint32_t)base);
    wr(TDH, 0);
    wr(TDT, 5);
    pump();
    ck_assert_uint_eq(rd(TDH), 2);
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert(ram[base + 12] & 1 && ram[base + 28] & 1);
    wr(TDBAH, 0xffffffffu);
    wr(TDT, 6);
    pump();
    ck_assert_uint_eq(rd(TDH), 2);
    /* Moved while enabled: the next descriptors come from the new place. */
    tx_init(8);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 3);
    rx_init(16, RCTL_STD);
    wr(RDBAL, (uint32_t)BAR0);
    ck_assert(deliver(frame, n));
    wr(RDBAL, (uint32_t)(RAM_SIZE - 64));
    ck_assert(deliver(frame, n));
    wr(RDBAL, (uint32_t)RXRING);
    wr(RDBAH, 1);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_packets, 0);
}
END_TEST

/* TX descriptors of length 0 or 0xffff, address 0 (no data, per §3.3.3) or outside RAM. */
START_TEST(test_cl_tx_desc_fields)
{
    tx_init(64);
    size_t n = udp_frame(frame, peer_mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    unsigned a = txd_legacy(TXBUF, 0, C_EOP | C_RS, 0, 0, 0); /* empty packet */
    tx_kick();
    ck_assert(txd_done(a));
    ck_assert_uint_eq(be.nsent, 0);
    txd_legacy(0, 500, C_RS, 0, 0, 0); /* null address: no data */
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert_uint_eq(be.s[0].len, n);
    txd_legacy(0xffffffffffff0000ull, 100, C_RS, 0, 0, 0); /* outside RAM */
    a = txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(txd_done(a));
    txd_legacy(RAM_SIZE - 50, 100, C_EOP | C_RS, 0, 0, 0); /* straddles the end of RAM */
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
    a = txd_legacy(TXBUF, 0xffff, C_EOP | C_RS, 0, 0, 0); /* 65535 bytes from RAM: sent */
    tx_kick();
    ck_assert(txd_done(a));
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(be.s[1].len, 0xffff);
    a = txd_data(TXBUF, 0xfffff, C_EOP | C_RS, 0, 0); /* DTALEN 1 MiB - 1: over 64 KiB */
    tx_kick();
    ck_assert(txd_done(a));
    ck_assert_uint_eq(be.nsent, 2);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 4);
}
END_TEST

/* A packet whose EOP never comes: 300 descriptors of 4 KiB. The packet stops growing at
 * 64 KiB and is dropped at EOP; the ring keeps moving. */
START_TEST(test_cl_eop_never)
{
    tx_init(512);
    for (int i = 0; i < 300; i++)
        txd_legacy(TXBUF, 4096, i % 10 ? 0 : C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 300);
    ck_assert_uint_eq(be.calls, 0);
    ck_assert(txd_done(290)); /* refused already: nothing referenced, DD at once */
    unsigned a = txd_legacy(TXBUF, 60, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert(txd_done(a) && txd_done(0));
    ck_assert_uint_eq(be.calls, 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 1);
    size_t n = udp_frame(frame, peer_mac, 60, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 1);
}
END_TEST

/* One TSE packet with the given context; returns how many frames reached the backend. */
static unsigned tso_with(const struct ctx *c)
{
    size_t n = tcp4_frame(frame, 2000, 1, FN_TCP_ACK);
    linux_tso_prep(frame);
    memcpy(ram + TXBUF, frame, n);
    unsigned before = be.nsent;
    txd_ctx(c, C_TSE);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_IXSM | POPTS_TXSM, 0);
    tx_kick();
    return be.nsent - before;
}

/* Context descriptors with MSS 0, MSS + HDRLEN over 64 KiB, HDRLEN 0 or 255, checksum
 * offsets past HDRLEN or past the frame: refused (dropped, TSCTFC), never segmented. */
START_TEST(test_cl_context_bad)
{
    tx_init(64);
    const struct ctx good = {14, 24, 34, 50, 54, T_TCP | T_IP, 33, 0, 1000, 2000};
    ck_assert_uint_eq(tso_with(&good), 2);
    struct ctx c[8];
    for (int i = 0; i < 8; i++)
        c[i] = good;
    c[0].mss = 0;
    c[1].mss = 65500;
    c[2].hdrlen = 0;
    c[3].hdrlen = 255;
    c[4].tucso = 60; /* past HDRLEN */
    c[5].tucss = 200;
    c[6].ipcso = 250;
    c[7].tucmd = T_IP; /* UDP segmentation */
    for (int i = 0; i < 8; i++)
        ck_assert_msg(tso_with(&c[i]) == 0, "context %d accepted", i);
    ck_assert_uint_eq(rd(TSCTFC), 8);
    /* A frame shorter than HDRLEN 255. */
    struct ctx big = good;
    big.hdrlen = 255;
    size_t n = tcp4_frame(frame, 100, 1, FN_TCP_ACK);
    memcpy(ram + TXBUF, frame, n);
    txd_ctx(&big, C_TSE);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_TXSM, 0);
    tx_kick();
    ck_assert_uint_eq(rd(TSCTFC), 1);
    /* Checksum (non-TSE) context offsets past the frame: not inserted, frame sent. */
    struct ctx cs = {200, 250, 240, 250, 0, 0, 0, 0, 0, 0};
    txd_ctx(&cs, 0);
    txd_data(TXBUF, (uint32_t)n, C_EOP | C_RS, POPTS_TXSM | POPTS_IXSM, 0);
    tx_kick();
    ck_assert_uint_eq(be.s[be.nsent - 1].len, n);
    ck_assert_mem_eq(be.s[be.nsent - 1].data, frame, n);
}
END_TEST

/* A context change in the middle of a packet: the packet keeps the context it started
 * with (the new one applies to the next packet). */
START_TEST(test_cl_context_change_mid_packet)
{
    tx_init(64);
    size_t n;
    uint8_t orig[TSO_HDRS + TSO_PAYLOAD];
    tcp4_frame(orig, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    n = tcp4_frame(frame, TSO_PAYLOAD, 1000, FN_TCP_ACK | FN_TCP_PSH);
    linux_tso_prep(frame);
    memcpy(ram + TXBUF, frame, n);
    struct ctx c = {14, 24, 34, 50, TSO_HDRS, T_TCP | T_IP, 33, 0, TSO_MSS, TSO_PAYLOAD};
    struct ctx evil = {0, 0, 0, 0, 255, T_TCP | T_IP, 0, 0, 0, 0};
    txd_ctx(&c, C_TSE);
    txd_data(TXBUF, 1000, C_TSE, POPTS_IXSM | POPTS_TXSM, 0);
    txd_ctx(&evil, C_TSE);
    txd_data(TXBUF + 1000, (uint32_t)(n - 1000), C_TSE | C_EOP | C_RS, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 4);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(tcp4_check(be.s[i].data, be.s[i].len), 0);
    /* The next packet uses the evil context: refused. */
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 4);
    ck_assert_uint_eq(rd(TSCTFC), 1);
}
END_TEST

/* A data descriptor after a legacy one in the same packet (TSO mode), and TSE without any
 * TSE context: dropped and counted. */
START_TEST(test_cl_mixed_and_no_context)
{
    tx_init(64);
    size_t n = tcp4_frame(frame, 2000, 1, FN_TCP_ACK);
    memcpy(ram + TXBUF, frame, n);
    txd_data(TXBUF, (uint32_t)n, C_TSE | C_EOP | C_RS, POPTS_TXSM, 0); /* no context yet */
    tx_kick();
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(rd(TSCTFC), 1);
    struct ctx c = {14, 24, 34, 50, 54, T_TCP | T_IP, 33, 0, 1000, 2000};
    txd_ctx(&c, C_TSE);
    txd_legacy(TXBUF, 54, 0, 0, 0, 0);
    unsigned a = txd_data(TXBUF + 54, (uint32_t)(n - 54), C_TSE | C_EOP | C_RS, POPTS_TXSM, 0);
    tx_kick();
    ck_assert(txd_done(a));
    ck_assert_uint_eq(be.nsent, 0);
    /* and the other way round */
    txd_data(TXBUF, 54, C_TSE, POPTS_TXSM, 0);
    txd_legacy(TXBUF + 54, (uint16_t)(n - 54), C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 3);
    /* A reserved descriptor type inside a packet. */
    txd_legacy(TXBUF, 54, 0, 0, 0, 0);
    unsigned i = tx_next++ % tx_count;
    memset(txd(i), 0, 16);
    put32le(txd(i) + 8, 0xfu << 20 | (uint32_t)(C_DEXT | C_EOP | C_RS) << 24);
    tx_kick();
    ck_assert(txd_done(i));
    ck_assert_uint_eq(be.nsent, 0);
    ck_assert_uint_eq(e1000_get_stats(dev)->tx_drop_malformed, 4);
}
END_TEST

/* Loopback with the RX buffers pointing at the device's own registers: not RAM, so nothing
 * is written there and nothing recurses; the descriptors complete with RXE. */
START_TEST(test_cl_loopback_own_bar)
{
    tx_init(16);
    rx_init(16, RCTL_STD | RCTL_LBM);
    for (unsigned i = 0; i < 16; i++)
        put64le(rxd(i), BAR0 + 0x400); /* TCTL's address in the BAR */
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    for (int i = 0; i < 5; i++)
        txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(rd(TDH), 5);
    ck_assert_uint_eq(rd(RDH), 5);
    for (unsigned i = 0; i < 5; i++)
        ck_assert(rxd(i)[13] & RX_RXE);
    ck_assert(rd(TCTL) & 2);
    ck_assert_uint_eq(be.nsent, 0);
    /* PHY loopback as ethtool's self-test sets it. */
    wr(RCTL, RCTL_STD);
    mdic(1, 0, true, 0x4140);
    txd_legacy(TXBUF, (uint16_t)n, C_EOP | C_RS, 0, 0, 0);
    tx_kick();
    ck_assert_uint_eq(rd(RDH), 6);
    ck_assert_uint_eq(be.nsent, 0);
}
END_TEST

/* RX descriptor buffer address 0 (CVE-2020-28916 class): RAM at gpa 0 here, so the frame is
 * written there and the ring advances; no descriptor is skipped or revisited. */
START_TEST(test_cl_rx_buffer_zero)
{
    rx_init(8, RCTL_STD);
    for (unsigned i = 0; i < 8; i++)
        put64le(rxd(i), 0);
    size_t n = udp_frame(frame, mac, 100, FN_CSUM_FULL);
    for (int i = 0; i < 10; i++)
        deliver(frame, n);
    ck_assert_uint_eq(rd(RDH), 7);
    ck_assert_mem_eq(ram, frame, n);
    ck_assert_uint_eq(e1000_get_stats(dev)->rx_packets, 7);
}
END_TEST

static Suite *e1000_suite(void)
{
    Suite *s = suite_create("e1000");
    TCase *tc = tcase_create("registers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pci_header);
    tcase_add_test(tc, test_eeprom_eerd);
    tcase_add_test(tc, test_eeprom_bitbang);
    tcase_add_test(tc, test_eeprom_out_of_order);
    tcase_add_test(tc, test_phy_mdic);
    tcase_add_test(tc, test_link_state);
    tcase_add_test(tc, test_io_bar);
    tcase_add_test(tc, test_access_widths);
    tcase_add_test(tc, test_register_semantics);
    tcase_add_test(tc, test_machine_reset);
    suite_add_tcase(s, tc);

    tc = tcase_create("tx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tx_legacy);
    tcase_add_test(tc, test_tx_tso_segments);
    tcase_add_test(tc, test_tx_tso6);
    tcase_add_test(tc, test_tx_csum_udp);
    tcase_add_test(tc, test_tx_legacy_ic);
    tcase_add_test(tc, test_tx_vlan_insert);
    tcase_add_test(tc, test_tx_backpressure);
    tcase_add_test(tc, test_tx_budget);
    suite_add_tcase(s, tc);

    tc = tcase_create("tx-vnet");
    tcase_add_checked_fixture(tc, setup_vnet, teardown);
    tcase_add_test(tc, test_tx_tso_vnet);
    tcase_add_test(tc, test_tx_tso6_vnet);
    tcase_add_test(tc, test_tx_csum_udp_vnet);
    suite_add_tcase(s, tc);

    tc = tcase_create("rx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rx_unicast);
    tcase_add_test(tc, test_rx_multicast_broadcast_promisc);
    tcase_add_test(tc, test_rx_checksum_status);
    tcase_add_test(tc, test_rx_vlan_strip);
    tcase_add_test(tc, test_rx_long_frames);
    tcase_add_test(tc, test_rx_ring_full);
    tcase_add_test(tc, test_rx_disabled);
    tcase_add_test(tc, test_loopback);
    suite_add_tcase(s, tc);

    tc = tcase_create("interrupts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_irq_cause_mask);
    tcase_add_test(tc, test_itr_timing);
    tcase_add_test(tc, test_rdtr_timing);
    tcase_add_test(tc, test_radv_timing);
    tcase_add_test(tc, test_tidv_tadv_timing);
    tcase_add_test(tc, test_stats_clear_on_read);
    tcase_add_test(tc, test_reset_during_traffic);
    tcase_add_test(tc, test_reset_concurrent);
    suite_add_tcase(s, tc);

    tc = tcase_create("checklist");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cl_ring_len_zero);
    tcase_add_test(tc, test_cl_ring_huge);
    tcase_add_test(tc, test_cl_head_tail_past_ring);
    tcase_add_test(tc, test_cl_ring_base);
    tcase_add_test(tc, test_cl_tx_desc_fields);
    tcase_add_test(tc, test_cl_eop_never);
    tcase_add_test(tc, test_cl_context_bad);
    tcase_add_test(tc, test_cl_context_change_mid_packet);
    tcase_add_test(tc, test_cl_mixed_and_no_context);
    tcase_add_test(tc, test_cl_loopback_own_bar);
    tcase_add_test(tc, test_cl_rx_buffer_zero);
    tcase_add_test(tc, test_cl_timer_values);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(e1000_suite)
