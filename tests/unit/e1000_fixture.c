/* The fixture of the e1000 unit tests (test_e1000.c and the e1000_*.c files it runs): fake
 * guest RAM at gpa 0, a level-triggered INTx line that records its level, a fake backend that
 * records what the device sends, and a fake driver that programs registers and lays out
 * descriptor rings byte by byte. */
#include "tests/unit/e1000_fixture.h"

#include "devices/pci.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/iobus.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* --- fake guest memory, INTx line, backend ------------------------------------------------ */

uint8_t *ram;
struct guestmem gm;
struct evloop *loop;
struct netdev *nd;
struct e1000 *dev;

struct e1000_line line;

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

/* What the device sends: kept while there is room, then sent but not recorded. */
struct fakebe_log be;
static struct sent_frame sent[MAX_SENT];

const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t peer_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
const struct fn_addr guest = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, FN_IP4(10, 0, 2, 15), 40000};
const struct fn_addr host = {{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, FN_IP4(10, 0, 2, 2), 5001};

static void setup_with(bool vnet)
{
    char err[256] = "";
    memset(&be, 0, sizeof(be));
    be.sent = sent;
    be.cap = MAX_SENT;
    memset(&line, 0, sizeof(line));
    ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    memset(&gm, 0, sizeof(gm));
    ck_assert_int_eq(gmem_add_region(&gm, 0, RAM_SIZE, ram), 0);
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    nd = fakebe_log_create(loop, &be, "f0", vnet);
    struct e1000_params p = {.netdev = nd, .mem = &gm, .irq = &irq, .loop = loop, .name = "e0"};
    memcpy(p.mac, mac, 6);
    dev = e1000_create(&p, err, sizeof(err));
    ck_assert_msg(dev != NULL, "%s", err);
    /* What firmware and the driver's pci_set_master() do. */
    e1000_pci(dev)->cfg[PCI_COMMAND] |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
}

void setup(void)
{
    setup_with(false);
}

void setup_vnet(void)
{
    setup_with(true);
}

void teardown(void)
{
    e1000_destroy(dev);
    netdev_destroy(nd);
    evloop_destroy(loop);
    fakebe_free(be.sent, be.nsent);
    free(ram);
}

/* --- register access and the loop --------------------------------------------------------- */

/* One 32-bit access through the register window (BAR0) or the I/O window (BAR1). */
static uint32_t bar_access(bool io, uint64_t off, uint32_t v, bool is_write)
{
    uint8_t b[4];
    iobus_put_le(b, 4, v);
    (io ? e1000_io : e1000_mmio)(dev, off, b, 4, is_write);
    return (uint32_t)iobus_get_le(b, 4);
}

void wr(uint32_t off, uint32_t v)
{
    bar_access(false, off, v, true);
}

uint32_t rd(uint32_t off)
{
    return bar_access(false, off, 0, false);
}

void io_w(uint64_t off, uint32_t v)
{
    bar_access(true, off, v, true);
}

uint32_t io_r(uint64_t off)
{
    return bar_access(true, off, 0, false);
}

/* Runs the loop until nothing is ready (bounded). */
void pump(void)
{
    for (int i = 0; i < 1000 && evloop_run_once(loop, 0) > 0; i++)
        ;
}

/* Runs the loop for about ms milliseconds. */
void pump_for(int ms)
{
    uint64_t end = evloop_now_ns() + (uint64_t)ms * 1000000u;
    while (evloop_now_ns() < end)
        evloop_run_once(loop, 1);
}

bool pump_until_level(bool level, int ms)
{
    uint64_t end = evloop_now_ns() + (uint64_t)ms * 1000000u;
    while (line.level != level && evloop_now_ns() < end)
        evloop_run_once(loop, 1);
    return line.level == level;
}

void put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void put32le(uint8_t *p, uint32_t v)
{
    put16le(p, (uint16_t)v);
    put16le(p + 2, (uint16_t)(v >> 16));
}

void put64le(uint8_t *p, uint64_t v)
{
    put32le(p, (uint32_t)v);
    put32le(p + 4, (uint32_t)(v >> 32));
}

uint16_t get16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* --- the fake driver: TX --------------------------------------------------------------------- */

unsigned tx_count, tx_next;

void tx_init(unsigned count)
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

uint8_t *txd(unsigned i)
{
    return ram + TXRING + (uint64_t)(i % tx_count) * 16;
}

unsigned txd_legacy(uint64_t addr, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css,
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

unsigned txd_ctx(const struct ctx *c, uint8_t extra_cmd)
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

unsigned txd_data(uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts, uint16_t special)
{
    unsigned i = tx_next++ % tx_count;
    uint8_t *d = txd(i);
    put64le(d, addr);
    put32le(d + 8, (len & 0xfffff) | 1u << 20 | (uint32_t)(dcmd | C_DEXT) << 24);
    put32le(d + 12, (uint32_t)popts << 8 | (uint32_t)special << 16);
    return i;
}

void tx_kick(void)
{
    wr(TDT, tx_next % tx_count);
    pump();
}

bool txd_done(unsigned i)
{
    return txd(i)[12] & 1;
}

/* --- the fake driver: RX --------------------------------------------------------------------- */

unsigned rx_count, rx_clean;

uint8_t *rxd(unsigned i)
{
    return ram + RXRING + (uint64_t)(i % rx_count) * 16;
}

/* A ring of `count` descriptors with buffers of RXBSZ bytes, all but one given to the device
 * (RDT = count - 1), RCTL as given. */
void rx_init(unsigned count, uint32_t rctl)
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

uint8_t *rxbuf(unsigned i)
{
    return ram + RXBUF + (uint64_t)(i % rx_count) * RXBSZ;
}

bool deliver_hdr(const struct virtio_net_hdr_v1 *h, const void *f, size_t len)
{
    struct iovec iov = {(void *)f, len};
    return netdev_deliver(nd, h, &iov, 1, len);
}

bool deliver(const void *f, size_t len)
{
    return deliver_hdr(NULL, f, len);
}

/* --- frames ------------------------------------------------------------------------------- */

uint8_t frame[E1000T_FRAME_MAX];

size_t udp_frame(uint8_t *f, const uint8_t dst[6], size_t plen, enum fn_csum mode)
{
    uint8_t payload[9000];
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    struct fn_addr to = host;
    memcpy(to.mac, dst, 6);
    struct fn_addr from = guest;
    memcpy(from.mac, peer_mac, 6);
    size_t n = fn_udp(f, E1000T_FRAME_MAX, &from, &to, payload, plen, mode);
    ck_assert_uint_gt(n, 0);
    return n;
}

/* An Ethernet + IPv4 + TCP (20-byte header) frame from guest to host with plen payload bytes,
 * complete checksums. */
size_t tcp4_frame(uint8_t *f, size_t plen, uint32_t seq, uint8_t flags)
{
    size_t n = fn_ipv4(f, E1000T_FRAME_MAX, &guest, &host, FN_PROTO_TCP, 0x1234, 20 + plen);
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

uint16_t fold16(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* What e1000_tso() does to a frame before handing it over: IPv4 total length and header
 * checksum zeroed, the TCP checksum seeded with the pseudo header without the length. */
void linux_tso_prep(uint8_t *f)
{
    uint8_t *ip = f + FN_ETH_HLEN, *t = f + FN_L4_OFF;
    fn_put16(ip + 2, 0);
    fn_put16(ip + 10, 0);
    fn_put16(t + 16, fold16(fn_pseudo_sum(guest.ip, host.ip, FN_PROTO_TCP, 0)));
}

uint16_t tcp4_check(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + FN_ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4, l4 = len - FN_ETH_HLEN - ihl;
    uint32_t ph = fn_pseudo_sum(fn_get32(ip + 12), fn_get32(ip + 16), ip[9], l4);
    return fn_csum_naive(ph, ip + ihl, l4);
}

uint16_t ip4_check(const uint8_t *f)
{
    return fn_csum_naive(0, f + FN_ETH_HLEN, (size_t)(f[FN_ETH_HLEN] & 0xf) * 4);
}

/* --- PCI header, EEPROM, PHY ------------------------------------------------------------------ */

/* A TSO send as e1000_tso() + e1000_tx_map() + e1000_tx_queue() lay it out: the context, the
 * headers in one descriptor, the payload in two, and the 4-byte sentinel descriptor that
 * carries EOP and RS. */
unsigned tso4_post(size_t *lenp)
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

/* Waits for descriptor i to be done and checks it. */
void rx_expect(unsigned i, const uint8_t *f, size_t n, size_t fcs)
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

bool rx_done(unsigned i)
{
    return rxd(i)[12] & RX_DD;
}

uint32_t mdic(unsigned phy, unsigned reg, bool write, uint16_t data)
{
    wr(MDIC, (write ? 0x04000000u : 0x08000000u) | phy << 21 | reg << 16 | data);
    uint32_t v = rd(MDIC);
    ck_assert_msg(v & 0x10000000u, "MDIC not ready");
    return v;
}

size_t tx_udp_frame(const uint8_t dst[6], size_t plen)
{
    size_t n = udp_frame(frame, dst, plen, FN_CSUM_FULL);
    memcpy(ram + TXBUF, frame, n);
    return n;
}

unsigned txd_frame(size_t n, uint8_t cmd)
{
    return txd_legacy(TXBUF, (uint16_t)n, cmd, 0, 0, 0);
}

size_t tx_udp_burst(const uint8_t dst[6], size_t plen, unsigned count)
{
    size_t n = tx_udp_frame(dst, plen);
    for (unsigned i = 0; i < count; i++)
        txd_frame(n, C_EOP | C_RS);
    return n;
}

void tx_kick_sent(unsigned nsent)
{
    tx_kick();
    ck_assert_uint_eq(be.nsent, nsent);
}

void tx_kick_done(unsigned last, unsigned nsent)
{
    tx_kick_sent(nsent);
    ck_assert_msg(txd_done(last), "descriptor %u not written back", last);
}
