/* The control-socket tests' fixture and client (see monitor_fixture.h). */
#include "tests/unit/monitor_fixture.h"
#include "devices/virtio_mmio.h"
#include "net/backend.h"
#include "net/dump.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define F(bit)   (1ull << (bit))
#define RAM_SIZE (4u << 20)
#define RX_DESC  0x10000ull
#define RX_USED  0x15000ull
#define TX_DESC  0x20000ull
#define TX_AVAIL 0x24000ull
#define TX_USED  0x25000ull

static int fake_open(struct netdev *nd, struct opts *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    netdev_set_caps(nd, 0);
    return 0;
}

static int fake_send(struct netdev *nd, const struct virtio_net_hdr_v1 *hdr,
                     const struct iovec *iov, int iovcnt, size_t len)
{
    (void)nd, (void)hdr, (void)iov, (void)iovcnt, (void)len;
    return 0;
}

static const struct netdev_backend_ops fake_ops = {
    .type = "fake", .summary = "test backend", .open = fake_open, .send = fake_send};

struct mon_fixture T;

/* --- the VM side ------------------------------------------------------------------------ */

json_t *fake_stats(void *opaque)
{
    (void)opaque;
    return T.no_stats ? NULL
                      : json_pack("{s:[{s:i, s:{s:i}}]}", "vcpus", "vcpu", 0, "exits", "IO", 20);
}

static void fake_quit(void *opaque)
{
    (void)opaque;
    T.quits++;
}

const struct monitor_ops fake_vm_ops = {fake_stats, fake_quit};

static void fake_irq_set(struct irq_line *l, bool level)
{
    (void)l, (void)level;
}

static void fake_irq_pulse(struct irq_line *l)
{
    (void)l;
}

static void mmio_wr(uint64_t off, uint32_t v)
{
    uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    virtio_mmio_io(virtio_net_transport(T.vn), off, d, 4, true);
}

static void queue_setup(unsigned qi, uint64_t desc, uint64_t avail, uint64_t used)
{
    mmio_wr(VMMIO_QUEUE_SEL, qi);
    mmio_wr(VMMIO_QUEUE_NUM, MT_QSIZE);
    mmio_wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    mmio_wr(VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    mmio_wr(VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    mmio_wr(VMMIO_QUEUE_READY, 1);
}

/* Brings vnet0 up as a driver would, with EVENT_IDX, so its queues are live. */
void vnet_driver_init(void)
{
    uint64_t feat = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_F_EVENT_IDX);
    mmio_wr(VMMIO_STATUS, 0);
    mmio_wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    mmio_wr(VMMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(VMMIO_DRIVER_FEATURES, (uint32_t)feat);
    mmio_wr(VMMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(VMMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    mmio_wr(VMMIO_STATUS,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    queue_setup(VIRTIO_NET_RXQ, RX_DESC, MT_RX_AVAIL, RX_USED);
    queue_setup(VIRTIO_NET_TXQ, TX_DESC, TX_AVAIL, TX_USED);
    mmio_wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    uint16_t used_event = htole16(7); /* the driver wants an interrupt after used entry 7 */
    memcpy(T.ram + MT_RX_AVAIL + 4 + 2 * MT_QSIZE, &used_event, 2);
}

static struct netdev *make_netdev(const char *spec, const struct netdev_backend_ops *ops,
                                  const char *id)
{
    char err[256] = "";
    struct opts *o = opts_parse(spec, "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *nd = ops ? netdev_create_with(T.loop, ops, id, o, err, sizeof(err))
                            : netdev_create(T.loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "%s: %s", spec, err);
    return nd;
}

static void add_device(const char *id, const char *model, void *state, struct opts *o)
{
    struct machine_device *d = &T.mach.dev[T.mach.nr_devices++];
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->model = model;
    d->state = state;
    d->opts = o;
    d->irq = -1;
    d->pci_slot = -1;
}

void setup(void)
{
    char err[256] = "";
    memset(&T, 0, sizeof(T));
    T.loop = evloop_create();
    ck_assert_ptr_nonnull(T.loop);
    T.ram = calloc(1, RAM_SIZE);
    ck_assert_int_eq(gmem_add_region(&T.gm, 0, RAM_SIZE, T.ram), 0);
    T.nd[0] =
        make_netdev("user,id=u0,net=10.9.9.0/24,host=10.9.9.1,dhcpstart=10.9.9.100", NULL, NULL);
    T.nd[1] = make_netdev("fake", &fake_ops, "n0");
    T.irq = (struct irq_line){.set = fake_irq_set, .pulse = fake_irq_pulse, .gsi = 5, .irqfd = -1};
    struct virtio_net_params p = {.netdev = T.nd[1],
                                  .mem = &T.gm,
                                  .irq = &T.irq,
                                  .loop = T.loop,
                                  .base = 0xd0000000ull,
                                  .name = "vnet0"};
    T.vn = virtio_net_create(&p, err, sizeof(err));
    ck_assert_msg(T.vn != NULL, "%s", err);
    T.nic_opts = opts_parse("virtio-net,netdev=n0,id=vnet0", "driver", err, sizeof(err));
    add_device("com1", "uart", NULL, NULL); /* a device without a report */
    add_device("vnet0", "virtio-net", T.vn, T.nic_opts);
    snprintf(T.dump_path, sizeof(T.dump_path), "/tmp/nicvm-mon-f0-%d.pcap", (int)getpid());
    struct netdump_config dc = {.id = "f0", .netdev = "u0", .file = T.dump_path, .maxlen = 65535};
    T.dumps[0] = netdump_open(&dc, err, sizeof(err));
    ck_assert_msg(T.dumps[0] != NULL, "%s", err);
    ck_assert_int_eq(netdump_attach(T.dumps[0], T.nd[0]), 0);
    struct monitor_env env = {T.loop, T.nd, 2, &T.mach, &fake_vm_ops, NULL, T.dumps, 1};
    char path[64];
    snprintf(path, sizeof(path), "unix:/tmp/nicvm-mon-test-%d.sock", (int)getpid());
    T.mon = monitor_create(&env, path, err, sizeof(err));
    ck_assert_msg(T.mon != NULL, "%s", err);
}

void teardown(void)
{
    monitor_destroy(T.mon);
    netdump_close(T.dumps[0]);
    unlink(T.dump_path);
    virtio_net_destroy(T.vn);
    netdev_destroy(T.nd[0]);
    netdev_destroy(T.nd[1]);
    opts_free(T.nic_opts);
    evloop_destroy(T.loop);
    free(T.ram);
}

struct monitor_counters counters(void)
{
    struct monitor_counters c;
    monitor_get_counters(T.mon, &c);
    return c;
}

void pump(void)
{
    for (int i = 0; i < 64 && evloop_run_once(T.loop, 0) > 0; i++)
        ;
}

/* --- a test client -------------------------------------------------------------------------- */

/* A client on a socketpair whose other end the monitor serves; the greeting is consumed. */
void cl_open_raw(struct cl *c, int sndbuf)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf)
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    c->fd = sv[0];
    c->len = 0;
    ck_assert_int_eq(monitor_add_client(T.mon, sv[1]), 0);
}

void cl_open(struct cl *c)
{
    cl_open_raw(c, 0);
    json_t *g = cl_line(c);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(g, "QMP"), "version"));
    ck_assert(json_is_array(json_object_get(json_object_get(g, "QMP"), "capabilities")));
    json_decref(g);
}

/* Reads what is there now; returns false at EOF. */
static bool cl_fill(struct cl *c)
{
    ck_assert_uint_lt(c->len, sizeof(c->buf));
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n > 0)
        c->len += (size_t)n;
    return n != 0;
}

/* The next line as JSON, pumping the loop; NULL at EOF. Fails the test if none comes. */
json_t *cl_line(struct cl *c)
{
    for (int i = 0; i < MAX_PUMPS; i++) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            json_error_t jerr;
            json_t *v = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &jerr);
            ck_assert_msg(v != NULL, "reply is not JSON: %s", jerr.text);
            c->len -= (size_t)(nl + 1 - c->buf);
            memmove(c->buf, nl + 1, c->len);
            return v;
        }
        evloop_run_once(T.loop, 1);
        if (!cl_fill(c))
            return NULL;
    }
    ck_abort_msg("no reply");
    return NULL;
}

void cl_send(struct cl *c, const char *s, size_t len)
{
    size_t off = 0;
    for (int i = 0; off < len && i < MAX_PUMPS * 10; i++) {
        ssize_t n = write(c->fd, s + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else
            evloop_run_once(T.loop, 1);
    }
    ck_assert_uint_eq(off, len);
}

/* Sends one request line and returns the reply (the caller decrefs). */
json_t *call(struct cl *c, const char *line)
{
    cl_send(c, line, strlen(line));
    cl_send(c, "\n", 1);
    json_t *r = cl_line(c);
    ck_assert_ptr_nonnull(r);
    return r;
}

json_t *ret_of(json_t *r)
{
    json_t *v = json_object_get(r, "return");
    ck_assert_msg(v != NULL, "not a success reply: %s", json_dumps(r, JSON_COMPACT));
    return v;
}

/* Asserts an error reply whose desc contains `what`. */
void assert_error(json_t *r, const char *cls, const char *what)
{
    json_t *e = json_object_get(r, "error");
    ck_assert_msg(e != NULL, "not an error reply: %s", json_dumps(r, JSON_COMPACT));
    ck_assert_str_eq(json_string_value(json_object_get(e, "class")), cls);
    const char *desc = json_string_value(json_object_get(e, "desc"));
    ck_assert_msg(desc && strstr(desc, what), "desc '%s' lacks '%s'", desc, what);
    ck_assert_ptr_null(json_object_get(r, "return"));
}

void expect_error(struct cl *c, const char *line, const char *cls, const char *what)
{
    json_t *r = call(c, line);
    assert_error(r, cls, what);
    json_decref(r);
}

void expect_ok(struct cl *c, const char *line)
{
    json_t *r = call(c, line);
    ck_assert(json_is_object(ret_of(r)));
    json_decref(r);
}
