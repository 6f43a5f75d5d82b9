/* The shared fixture of the e1000 unit tests (see e1000_fixture.c): register offsets and bits
 * of the 8254x manual, the fake guest RAM, INTx line and backend, and the fake driver's TX and
 * RX ring helpers. Each e1000_*.c test file adds its tests to the TCases of struct
 * e1000_tcases; test_e1000.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_E1000_FIXTURE_H
#define NICVM_TESTS_UNIT_E1000_FIXTURE_H

#include "devices/e1000.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#define RCTL_STD (RCTL_EN | RCTL_BAM | 1u << 8) /* as e1000_setup_rctl: RDMTS 1/4 */

/* The TSO send of e1000_tso_post(). */
#define TSO_MSS     1000
#define TSO_PAYLOAD 3500
#define TSO_HDRS    54

#define E1000T_FRAME_MAX 70000
#define MAX_SENT         256

/* The TCases of the suite, by name; each test file adds its tests to some of them. */
struct e1000_tcases {
    TCase *registers, *tx, *tx_vnet, *rx, *interrupts, *checklist;
};

/* Each test file's entry point: adds the file's tests to the TCases of tc. */
typedef void e1000_tests_fn(const struct e1000_tcases *tc);
e1000_tests_fn e1000_regs_tests, e1000_tx_tests, e1000_rx_tests, e1000_irq_tests,
    e1000_stats_reset_tests, e1000_checklist_tests;

/* --- fake guest memory, INTx line, backend ------------------------------------------------ */

/* The INTx line: its level, how often it rose and was set, and when it last rose. */
struct e1000_line {
    bool level;
    unsigned rises, sets;
    uint64_t last_rise_ns;
};

extern uint8_t *ram;
extern struct guestmem gm;
extern struct evloop *loop;
extern struct netdev *nd;
extern struct e1000 *dev;
extern struct e1000_line line;
extern struct fakebe_log be; /* holds the first MAX_SENT frames sent */
extern const uint8_t mac[6], peer_mac[6];
extern const struct fn_addr guest, host;
extern uint8_t frame[E1000T_FRAME_MAX];

/* setup / setup_vnet: a device over a backend without / with the virtio-net header; teardown
 * frees both. Checked fixtures: Check forks each test. */
void setup(void);
void setup_vnet(void);
void teardown(void);

/* --- register access and the loop --------------------------------------------------------- */

/* wr / rd: 32-bit register accesses through BAR0; io_w / io_r: through the I/O BAR. */
void wr(uint32_t off, uint32_t v);
uint32_t rd(uint32_t off);
void io_w(uint64_t off, uint32_t v);
uint32_t io_r(uint64_t off);
/* pump: runs the loop until nothing is ready (bounded); pump_for: for about ms milliseconds;
 * pump_until_level: until the line has the level, at most ms milliseconds (returns whether). */
void pump(void);
void pump_for(int ms);
bool pump_until_level(bool level, int ms);
void put16le(uint8_t *p, uint16_t v);
void put32le(uint8_t *p, uint32_t v);
void put64le(uint8_t *p, uint64_t v);
uint16_t get16le(const uint8_t *p);
/* mdic: one MDIC access to PHY phy, register reg (asserts ready); returns MDIC. */
uint32_t mdic(unsigned phy, unsigned reg, bool write, uint16_t data);

/* --- the fake driver: TX --------------------------------------------------------------------- */

/* A context descriptor's fields (§3.3.6). */
struct ctx {
    uint8_t ipcss, ipcso, tucss, tucso, hdrlen, tucmd;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
};

extern unsigned tx_count, tx_next;
/* tx_init: a TX ring of count descriptors at TXRING, enabled as e1000_configure_tx does. */
void tx_init(unsigned count);
uint8_t *txd(unsigned i);
/* txd_legacy / txd_ctx / txd_data: fill the next descriptor; return its index. */
unsigned txd_legacy(uint64_t addr, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css,
                    uint16_t special);
unsigned txd_ctx(const struct ctx *c, uint8_t extra_cmd);
unsigned txd_data(uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts, uint16_t special);
/* txd_frame: a legacy descriptor for the n bytes at TXBUF with command cmd. */
unsigned txd_frame(size_t n, uint8_t cmd);
/* tx_udp_frame: udp_frame() to dst into frame, copied to TXBUF; returns its length. */
size_t tx_udp_frame(const uint8_t dst[6], size_t plen);
/* tx_udp_burst: tx_udp_frame(), then count descriptors sending it (EOP | RS); returns its
 * length. */
size_t tx_udp_burst(const uint8_t dst[6], size_t plen, unsigned count);
/* tx_kick_done: tx_kick(), then descriptor last is written back and nsent frames were sent. */
void tx_kick_done(unsigned last, unsigned nsent);

/* tx_kick_sent: tx_kick(), then nsent frames were sent in all. */
void tx_kick_sent(unsigned nsent);
/* tx_kick: TDT to the next free descriptor, then pump(). */
void tx_kick(void);
bool txd_done(unsigned i);
/* tso4_post: posts the IPv4 TSO send of TSO_PAYLOAD bytes; *lenp: the frame's length; returns
 * the last descriptor's index. */
unsigned tso4_post(size_t *lenp);

/* --- the fake driver: RX --------------------------------------------------------------------- */

extern unsigned rx_count, rx_clean;
uint8_t *rxd(unsigned i);
/* rx_init: count descriptors with RXBSZ-byte buffers, all but one given to the device. */
void rx_init(unsigned count, uint32_t rctl);
uint8_t *rxbuf(unsigned i);
/* deliver / deliver_hdr: a frame from the backend; returns netdev_deliver()'s answer. */
bool deliver_hdr(const struct virtio_net_hdr_v1 *h, const void *f, size_t len);
bool deliver(const void *f, size_t len);
/* rx_expect: descriptor i is done and holds f (n bytes, padded to 60) plus fcs bytes. */
void rx_expect(unsigned i, const uint8_t *f, size_t n, size_t fcs);
bool rx_done(unsigned i);

/* --- frames ------------------------------------------------------------------------------- */

/* udp_frame: a UDP frame to dst with plen payload bytes; returns its length. */
size_t udp_frame(uint8_t *f, const uint8_t dst[6], size_t plen, enum fn_csum mode);
/* tcp4_frame: Ethernet + IPv4 + TCP from guest to host, complete checksums. */
size_t tcp4_frame(uint8_t *f, size_t plen, uint32_t seq, uint8_t flags);
uint16_t fold16(uint32_t s);
/* linux_tso_prep: what e1000_tso() does to a frame before handing it over. */
void linux_tso_prep(uint8_t *f);
/* tcp4_check / ip4_check: 0 when the TCP / IPv4 header checksum of f checks out. */
uint16_t tcp4_check(const uint8_t *f, size_t len);
uint16_t ip4_check(const uint8_t *f);

#endif
