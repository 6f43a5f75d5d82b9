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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    CTRL = 0x0000, STATUS = 0x0008, EECD = 0x0010, EERD = 0x0014, MDIC = 0x0020, VET = 0x0038,
    ICR = 0x00c0, ITR = 0x00c4, ICS = 0x00c8, IMS = 0x00d0, IMC = 0x00d8, RCTL = 0x0100,
    TCTL = 0x0400, RDBAL = 0x2800, RDBAH = 0x2804, RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818,
    RDTR = 0x2820, RADV = 0x282c, TDBAL = 0x3800, TDBAH = 0x3804, TDLEN = 0x3808,
    TDH = 0x3810, TDT = 0x3818, TIDV = 0x3820, TADV = 0x382c, MPC = 0x4010, ROC = 0x40ac,
    RNBC = 0x40a0, GPRC = 0x4074, BPRC = 0x4078, MPRC = 0x407c, GPTC = 0x4080,
    GORCL = 0x4088, GORCH = 0x408c, GOTCL = 0x4090, GOTCH = 0x4094, TPR = 0x40d0,
    TPT = 0x40d4, PRC64 = 0x405c, PTC64 = 0x40d8, TSCTC = 0x40f8, TSCTFC = 0x40fc,
    RXCSUM = 0x5000, MTA = 0x5200, RA = 0x5400, VFTA = 0x5600,
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
#define T_TCP 0x01
#define T_IP  0x02
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

static int fake_send(struct netdev *n, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)n;
    be.calls++;
    if (be.eagain)
        return -EAGAIN;
    ck_assert_uint_lt(be.nsent, MAX_SENT);
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
static const struct fn_addr guest = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15),
                                     40000};
static const struct fn_addr host = {{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, FN_IP4(10, 0, 2, 2),
                                    5001};

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

static unsigned txd_data(uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts,
                         uint16_t special)
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
