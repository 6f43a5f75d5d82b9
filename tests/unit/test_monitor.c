/* Unit tests for the control socket (vmm/monitor.c, vmm/monitor_cmds.c) over real sockets
 * (socketpairs, and a unix socket for -monitor unix:PATH) with a real event loop, a real user
 * netdev (libslirp), a fake backend with a real virtio-net device on fake guest RAM, and a
 * monitor_env filled by the test instead of a VM. Each command's reply shape; malformed
 * input (bad JSON, non-objects, wrong types, binary garbage, an over-long line, a partial
 * line then close); a client that disconnects mid-reply; a client that never reads while
 * replies queue (the monitor's buffer stays bounded and others are still served); and the
 * client limit. The loop is pumped in bounded steps; nothing here depends on timing. */
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/machine.h"
#include "vmm/monitor.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define F(bit)    (1ull << (bit))
#define RAM_SIZE  (4u << 20)
#define RX_DESC   0x10000ull
#define RX_AVAIL  0x14000ull
#define RX_USED   0x15000ull
#define TX_DESC   0x20000ull
#define TX_AVAIL  0x24000ull
#define TX_USED   0x25000ull
#define QSIZE     64
#define MAX_PUMPS 2000 /* loop iterations a reply may take before the test fails */

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

static struct {
    struct evloop *loop;
    uint8_t *ram;
    struct guestmem gm;
    struct irq_line irq;
    struct netdev *nd[2]; /* u0 (user), n0 (fake, under the virtio-net NIC vnet0) */
    struct virtio_net *vn;
    struct opts *nic_opts;
    struct machine mach;
    struct monitor *mon;
    int quits;
    bool no_stats;
} T;

/* --- the VM side ------------------------------------------------------------------------ */

static json_t *fake_stats(void *opaque)
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

static const struct monitor_ops fake_vm_ops = {fake_stats, fake_quit};

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
    mmio_wr(VMMIO_QUEUE_NUM, QSIZE);
    mmio_wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    mmio_wr(VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    mmio_wr(VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    mmio_wr(VMMIO_QUEUE_READY, 1);
}

/* Brings vnet0 up as a driver would, with EVENT_IDX, so its queues are live. */
static void vnet_driver_init(void)
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
    queue_setup(VIRTIO_NET_RXQ, RX_DESC, RX_AVAIL, RX_USED);
    queue_setup(VIRTIO_NET_TXQ, TX_DESC, TX_AVAIL, TX_USED);
    mmio_wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    uint16_t used_event = htole16(7); /* the driver wants an interrupt after used entry 7 */
    memcpy(T.ram + RX_AVAIL + 4 + 2 * QSIZE, &used_event, 2);
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

static void setup(void)
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
    struct monitor_env env = {T.loop, T.nd, 2, &T.mach, &fake_vm_ops, NULL};
    char path[64];
    snprintf(path, sizeof(path), "unix:/tmp/nicvm-mon-test-%d.sock", (int)getpid());
    T.mon = monitor_create(&env, path, err, sizeof(err));
    ck_assert_msg(T.mon != NULL, "%s", err);
}

static void teardown(void)
{
    monitor_destroy(T.mon);
    virtio_net_destroy(T.vn);
    netdev_destroy(T.nd[0]);
    netdev_destroy(T.nd[1]);
    opts_free(T.nic_opts);
    evloop_destroy(T.loop);
    free(T.ram);
}

static struct monitor_counters counters(void)
{
    struct monitor_counters c;
    monitor_get_counters(T.mon, &c);
    return c;
}

static void pump(void)
{
    for (int i = 0; i < 64 && evloop_run_once(T.loop, 0) > 0; i++)
        ;
}

/* --- a test client -------------------------------------------------------------------------- */

struct cl {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* A client on a socketpair whose other end the monitor serves; the greeting is consumed. */
static void cl_open_raw(struct cl *c, int sndbuf)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf)
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    c->fd = sv[0];
    c->len = 0;
    ck_assert_int_eq(monitor_add_client(T.mon, sv[1]), 0);
}

static json_t *cl_line(struct cl *c);

static void cl_open(struct cl *c)
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
static json_t *cl_line(struct cl *c)
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

static void cl_send(struct cl *c, const char *s, size_t len)
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
static json_t *call(struct cl *c, const char *line)
{
    cl_send(c, line, strlen(line));
    cl_send(c, "\n", 1);
    json_t *r = cl_line(c);
    ck_assert_ptr_nonnull(r);
    return r;
}

static json_t *ret_of(json_t *r)
{
    json_t *v = json_object_get(r, "return");
    ck_assert_msg(v != NULL, "not a success reply: %s", json_dumps(r, JSON_COMPACT));
    return v;
}

/* Asserts an error reply whose desc contains `what`. */
static void assert_error(json_t *r, const char *cls, const char *what)
{
    json_t *e = json_object_get(r, "error");
    ck_assert_msg(e != NULL, "not an error reply: %s", json_dumps(r, JSON_COMPACT));
    ck_assert_str_eq(json_string_value(json_object_get(e, "class")), cls);
    const char *desc = json_string_value(json_object_get(e, "desc"));
    ck_assert_msg(desc && strstr(desc, what), "desc '%s' lacks '%s'", desc, what);
    ck_assert_ptr_null(json_object_get(r, "return"));
}

static void expect_error(struct cl *c, const char *line, const char *cls, const char *what)
{
    json_t *r = call(c, line);
    assert_error(r, cls, what);
    json_decref(r);
}

static void expect_ok(struct cl *c, const char *line)
{
    json_t *r = call(c, line);
    ck_assert(json_is_object(ret_of(r)));
    json_decref(r);
}

/* --- commands --------------------------------------------------------------------------------- */

START_TEST(test_capabilities_and_ids)
{
    struct cl c;
    cl_open(&c);
    json_t *r = call(&c, "{\"execute\":\"qmp_capabilities\",\"id\":{\"n\":[1,2]}}");
    ck_assert_uint_eq(json_object_size(ret_of(r)), 0);
    json_t *want = json_pack("{s:[i,i]}", "n", 1, 2);
    ck_assert(json_equal(json_object_get(r, "id"), want)); /* any JSON id comes back */
    json_decref(want);
    json_decref(r);
    r = call(&c, "{\"execute\":\"query-commands\"}");
    ck_assert_ptr_null(json_object_get(r, "id"));
    static const char *const names[] = {"qmp_capabilities", "query-commands",  "query-stats",
                                        "query-network",    "query-virtqueue", "query-e1000",
                                        "set_link",         "hostfwd_add",     "hostfwd_remove",
                                        "dump-start",       "dump-stop",       "quit"};
    ck_assert_uint_eq(json_array_size(ret_of(r)), sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ret_of(r), i), "name")),
                         names[i]);
    json_decref(r);
    close(c.fd);
}
END_TEST

START_TEST(test_query_stats)
{
    struct cl c;
    cl_open(&c);
    json_t *r = call(&c, "{\"execute\":\"query-stats\",\"id\":3}");
    json_t *want = fake_stats(NULL);
    ck_assert(json_equal(ret_of(r), want));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(want);
    json_decref(r);
    T.no_stats = true;
    expect_error(&c, "{\"execute\":\"query-stats\"}", "GenericError", "no exit statistics");
    close(c.fd);
}
END_TEST

START_TEST(test_query_network)
{
    struct cl c;
    cl_open(&c);
    json_t *r = call(&c, "{\"execute\":\"query-network\"}");
    json_t *nd = json_object_get(ret_of(r), "netdevs"), *nics = json_object_get(ret_of(r), "nics");
    ck_assert_uint_eq(json_array_size(nd), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nd, 0), "id")), "u0");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nd, 0), "type")), "user");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nd, 1), "peer")), "vnet0");
    ck_assert(json_is_true(json_object_get(json_array_get(nd, 1), "link_up")));
    ck_assert(json_is_integer(json_object_get(json_array_get(nd, 1), "rx_packets")));
    ck_assert_uint_eq(json_array_size(nics), 1); /* com1 has no report */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nics, 0), "name")), "vnet0");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nics, 0), "netdev")), "n0");
    json_decref(r);
    close(c.fd);
}
END_TEST

START_TEST(test_query_virtqueue)
{
    struct cl c;
    cl_open(&c);
    vnet_driver_init();
    json_t *r = call(&c, "{\"execute\":\"query-virtqueue\"}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 2);
    json_t *rx = json_array_get(ret_of(r), 0);
    ck_assert_str_eq(json_string_value(json_object_get(rx, "device")), "vnet0");
    ck_assert_str_eq(json_string_value(json_object_get(rx, "queue")), "rx");
    ck_assert(json_is_true(json_object_get(rx, "ready")));
    ck_assert(json_is_true(json_object_get(rx, "event_idx")));
    ck_assert_int_eq(json_integer_value(json_object_get(rx, "size")), QSIZE);
    ck_assert_int_eq(json_integer_value(json_object_get(rx, "used_event")), 7);
    ck_assert(json_is_integer(json_object_get(rx, "avail_event")));
    ck_assert(json_is_integer(json_object_get(rx, "last_avail_idx")));
    ck_assert(json_is_array(json_object_get(rx, "in_flight_heads")));
    json_decref(r);
    r = call(&c, "{\"execute\":\"query-virtqueue\",\"arguments\":{\"device\":\"vnet0\"}}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 2);
    json_decref(r);
    expect_error(&c, "{\"execute\":\"query-virtqueue\",\"arguments\":{\"device\":\"nope\"}}",
                 "GenericError", "no device 'nope'");
    expect_error(&c, "{\"execute\":\"query-virtqueue\",\"arguments\":{\"device\":\"com1\"}}",
                 "GenericError", "has no virtqueues");
    expect_error(&c, "{\"execute\":\"query-e1000\"}", "GenericError", "no e1000 device");
    close(c.fd);
}
END_TEST

START_TEST(test_set_link)
{
    struct cl c;
    cl_open(&c);
    expect_ok(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"n0\",\"up\":false}}");
    ck_assert(!netdev_link_up(T.nd[1]));
    expect_ok(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"vnet0\",\"up\":true}}");
    ck_assert(netdev_link_up(T.nd[1])); /* through the NIC's id */
    expect_error(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"n0\",\"up\":\"no\"}}",
                 "GenericError", "'up' must be a bool");
    ck_assert(netdev_link_up(T.nd[1]));
    expect_error(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"x\",\"up\":false}}",
                 "GenericError", "no netdev or NIC 'x'");
    expect_error(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"n0\"}}", "GenericError",
                 "missing argument 'up'");
    close(c.fd);
}
END_TEST

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

START_TEST(test_hostfwd)
{
    struct cl c;
    cl_open(&c);
    int port = free_tcp_port();
    char line[256];
    snprintf(line, sizeof(line),
             "{\"execute\":\"hostfwd_add\",\"arguments\":{\"netdev\":\"u0\",\"rule\":"
             "\"tcp:127.0.0.1:%d-:22\"}}",
             port);
    expect_ok(&c, line);
    ck_assert_int_eq(try_connect(port), 0); /* libslirp listens */
    snprintf(line, sizeof(line),
             "{\"execute\":\"hostfwd_remove\",\"arguments\":{\"rule\":\"tcp:127.0.0.1:%d\"}}",
             port);
    expect_ok(&c, line); /* the only user netdev, named by default */
    pump();
    ck_assert_int_eq(try_connect(port), -ECONNREFUSED);
    expect_error(&c, line, "GenericError", "no such port forward");
    expect_error(&c,
                 "{\"execute\":\"hostfwd_add\",\"arguments\":{\"netdev\":\"n0\",\"rule\":"
                 "\"tcp::1-:2\"}}",
                 "GenericError", "need a user netdev");
    expect_error(&c,
                 "{\"execute\":\"hostfwd_add\",\"arguments\":{\"netdev\":\"u0\",\"rule\":"
                 "\"sctp:x\"}}",
                 "GenericError", "expected tcp|udp");
    close(c.fd);
}
END_TEST

START_TEST(test_dump)
{
    struct cl c;
    cl_open(&c);
    char path[64], line[256];
    snprintf(path, sizeof(path), "/tmp/nicvm-mon-dump-%d.pcap", (int)getpid());
    snprintf(line, sizeof(line),
             "{\"execute\":\"dump-start\",\"arguments\":{\"netdev\":\"vnet0\",\"file\":\"%s\"}}",
             path);
    expect_ok(&c, line);
    expect_error(&c, line, "GenericError", "already running");
    json_t *r = call(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"netdev\":\"n0\"}}");
    ck_assert_int_eq(json_integer_value(json_object_get(ret_of(r), "frames")), 0);
    json_decref(r);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint32_t magic = 0;
    ck_assert_uint_eq(fread(&magic, 4, 1, f), 1);
    ck_assert_uint_eq(magic, 0xa1b2c3d4u); /* classic pcap */
    fclose(f);
    unlink(path);
    expect_error(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"netdev\":\"n0\"}}",
                 "GenericError", "no capture");
    expect_error(&c,
                 "{\"execute\":\"dump-start\",\"arguments\":{\"netdev\":\"u0\",\"file\":"
                 "\"/nonexistent-dir/x.pcap\"}}",
                 "GenericError", "x.pcap");
    /* a capture left running is closed with the monitor (teardown) */
    snprintf(line, sizeof(line),
             "{\"execute\":\"dump-start\",\"arguments\":{\"netdev\":\"u0\",\"file\":\"%s\","
             "\"vnet_hdr\":true,\"maxlen\":128}}",
             path);
    expect_ok(&c, line);
    unlink(path);
    close(c.fd);
}
END_TEST

START_TEST(test_quit)
{
    struct cl c;
    cl_open(&c);
    expect_ok(&c, "{\"execute\":\"quit\",\"id\":1}");
    ck_assert_int_eq(T.quits, 1);
    close(c.fd);
}
END_TEST

/* --- malformed input ------------------------------------------------------------------------ */

START_TEST(test_malformed_requests)
{
    struct cl c;
    cl_open(&c);
    expect_error(&c, "{\"execute\":", "GenericError", "JSON parse error");
    expect_error(&c, "[1,2]", "GenericError", "must be a JSON object");
    expect_error(&c, "42", "GenericError", "must be a JSON object");
    json_t *r = call(&c, "{\"id\":5}");
    assert_error(r, "GenericError", "lacks \"execute\"");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    expect_error(&c, "{\"execute\":7}", "GenericError", "lacks \"execute\"");
    r = call(&c, "{\"execute\":\"nope\",\"id\":\"x\"}");
    assert_error(r, "CommandNotFound", "nope");
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);
    expect_error(&c, "{\"execute\":\"quit\",\"arguments\":[]}", "GenericError",
                 "must be an object");
    expect_error(&c, "{\"execute\":\"quit\",\"bogus\":1}", "GenericError", "unexpected member");
    expect_error(&c, "{\"execute\":\"quit\",\"arguments\":{\"now\":true}}", "GenericError",
                 "unexpected argument 'now'");
    expect_error(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":1,\"up\":true}}",
                 "GenericError", "'name' must be a string");
    expect_error(&c, "{\"execute\":\"quit\",\"execute\":\"quit\"}", "GenericError", "JSON");
    /* binary garbage, NUL bytes and invalid UTF-8 included */
    static const char garbage[] = {'\x00', '\xff', '\xfe', '{', '\x01', '"', '\x80', '\n'};
    cl_send(&c, garbage, sizeof(garbage));
    r = cl_line(&c);
    assert_error(r, "GenericError", "JSON parse error");
    json_decref(r);
    cl_send(&c, "\n   \r\n\n", 7); /* blank lines: no reply */
    ck_assert_int_eq(T.quits, 0);
    expect_ok(&c, "{\"execute\":\"quit\"}"); /* the client is still served, in order */
    ck_assert_int_eq(T.quits, 1);
    struct monitor_counters k = counters();
    ck_assert_uint_eq(k.clients, 1);
    ck_assert_uint_eq(k.errors, 12);
    ck_assert_uint_eq(k.requests, 13);
    close(c.fd);
}
END_TEST

START_TEST(test_long_line_disconnects)
{
    struct cl c, other;
    cl_open(&c);
    cl_open(&other);
    size_t len = MONITOR_MAX_LINE + 4096;
    char *big = malloc(len);
    memset(big, 'a', len);
    cl_send(&c, big, len);
    free(big);
    json_t *r = cl_line(&c);
    assert_error(r, "GenericError", "longer than");
    json_decref(r);
    ck_assert_ptr_null(cl_line(&c)); /* then EOF */
    ck_assert_uint_eq(counters().too_long, 1);
    ck_assert_uint_eq(counters().clients, 1);
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}");
    close(c.fd);
    close(other.fd);
}
END_TEST

START_TEST(test_partial_line_then_close)
{
    struct cl c;
    cl_open(&c);
    cl_send(&c, "{\"execute\":\"quit\"", 17);
    pump();
    close(c.fd);
    for (int i = 0; i < MAX_PUMPS && counters().clients; i++)
        evloop_run_once(T.loop, 1);
    ck_assert_uint_eq(counters().clients, 0);
    ck_assert_int_eq(T.quits, 0); /* the partial request never ran */
    ck_assert_uint_eq(counters().requests, 0);
}
END_TEST

START_TEST(test_disconnect_mid_reply)
{
    struct cl c, other;
    cl_open_raw(&c, 4096); /* a small send buffer on the monitor's side */
    for (int i = 0; i < 50; i++)
        cl_send(&c, "{\"execute\":\"query-network\"}\n", 28);
    pump();
    char head[16];
    ck_assert_int_gt(read(c.fd, head, sizeof(head)), 0); /* the start of the replies... */
    close(c.fd);                                         /* ...and gone */
    for (int i = 0; i < MAX_PUMPS && counters().clients; i++)
        evloop_run_once(T.loop, 1);
    ck_assert_uint_eq(counters().clients, 0);
    ck_assert_uint_ge(counters().dropped, 1);
    cl_open(&other); /* the monitor is intact */
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}");
    close(other.fd);
}
END_TEST

#define FLOOD 3000

START_TEST(test_never_reading_client_is_bounded)
{
    struct cl c, other;
    cl_open(&c);
    cl_open(&other);
#define FLOOD_REQ "{\"execute\":\"query-commands\",\"id\":%d}\n"
    char line[64];
    int sent = 0;
    /* Send until the socket pushes back: the monitor has stopped reading this client. */
    for (int stalls = 0; sent < FLOOD && stalls < 50;) {
        int n = snprintf(line, sizeof(line), FLOOD_REQ, sent);
        if (write(c.fd, line, (size_t)n) == n) {
            sent++;
            stalls = 0;
        } else {
            stalls += evloop_run_once(T.loop, 0) == 0;
        }
    }
    pump();
    ck_assert_int_lt(sent, FLOOD); /* back-pressure reached the client */
    size_t one_reply = 2048;       /* query-commands: well under this */
    ck_assert_uint_le(counters().out_high_water, MONITOR_OUT_HIGH + one_reply);
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}"); /* the loop is not blocked */
    /* Now read: every request is answered, in order, and the rest can be sent. */
    int next = 0;
    while (next < FLOOD) {
        if (sent < FLOOD) {
            int n = snprintf(line, sizeof(line), FLOOD_REQ, sent);
            if (write(c.fd, line, (size_t)n) == n)
                sent++;
        }
        json_t *r = cl_line(&c);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), next++);
        json_decref(r);
    }
    ck_assert_uint_le(counters().out_high_water, MONITOR_OUT_HIGH + one_reply);
    close(c.fd);
    close(other.fd);
}
END_TEST

START_TEST(test_client_limit)
{
    struct cl c[MONITOR_MAX_CLIENTS];
    for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
        cl_open(&c[i]);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(monitor_add_client(T.mon, sv[1]), -ENOSPC);
    char buf[256];
    ssize_t n = read(sv[0], buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "too many monitor clients"));
    ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), 0); /* closed */
    close(sv[0]);
    ck_assert_uint_eq(counters().refused, 1);
    for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
        close(c[i].fd);
}
END_TEST

/* --- the listening socket -------------------------------------------------------------------- */

START_TEST(test_unix_socket)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/nicvm-mon-test-%d.sock", (int)getpid());
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    struct cl c = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    json_t *g = cl_line(&c);
    ck_assert_ptr_nonnull(json_object_get(g, "QMP"));
    json_decref(g);
    expect_ok(&c, "{\"execute\":\"qmp_capabilities\"}");
    ck_assert_uint_eq(counters().accepted, 1);
    close(c.fd);
    monitor_destroy(T.mon);
    T.mon = NULL;
    ck_assert_int_eq(stat(path, &st), -1); /* removed */
}
END_TEST

START_TEST(test_specs)
{
    char path[108], err[256];
    ck_assert_int_eq(
        monitor_parse_spec("unix:/a/b,server,nowait", path, sizeof(path), err, sizeof(err)), 0);
    ck_assert_str_eq(path, "/a/b");
    ck_assert_int_eq(
        monitor_parse_spec("unix:/a,server=on,wait=off", path, sizeof(path), err, sizeof(err)), 0);
    ck_assert_int_eq(monitor_parse_spec("tcp:1234", path, sizeof(path), err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "only unix:PATH"));
    ck_assert_int_eq(monitor_parse_spec("unix:/a,bogus", path, sizeof(path), err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
    ck_assert_int_eq(monitor_parse_spec("unix:", path, sizeof(path), err, sizeof(err)), -EINVAL);
    /* a regular file in the way is refused; a stale socket is replaced */
    char file[64];
    snprintf(file, sizeof(file), "unix:/tmp/nicvm-mon-file-%d", (int)getpid());
    FILE *f = fopen(file + 5, "w");
    fclose(f);
    struct monitor_env env = {T.loop, T.nd, 2, &T.mach, &fake_vm_ops, NULL};
    ck_assert_ptr_null(monitor_create(&env, file, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "not a socket"));
    unlink(file + 5);
    monitor_destroy(T.mon);
    T.mon = NULL;
    char sock[64];
    snprintf(sock, sizeof(sock), "unix:/tmp/nicvm-mon-stale-%d.sock", (int)getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock + 5);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* leaves a socket file nobody listens on */
    T.mon = monitor_create(&env, sock, err, sizeof(err));
    ck_assert_msg(T.mon != NULL, "%s", err);
}
END_TEST

static Suite *monitor_suite(void)
{
    Suite *s = suite_create("monitor");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_capabilities_and_ids);
    tcase_add_test(tc, test_query_stats);
    tcase_add_test(tc, test_query_network);
    tcase_add_test(tc, test_query_virtqueue);
    tcase_add_test(tc, test_set_link);
    tcase_add_test(tc, test_hostfwd);
    tcase_add_test(tc, test_dump);
    tcase_add_test(tc, test_quit);
    suite_add_tcase(s, tc);
    tc = tcase_create("robustness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malformed_requests);
    tcase_add_test(tc, test_long_line_disconnects);
    tcase_add_test(tc, test_partial_line_then_close);
    tcase_add_test(tc, test_disconnect_mid_reply);
    tcase_add_test(tc, test_never_reading_client_is_bounded);
    tcase_add_test(tc, test_client_limit);
    tcase_add_test(tc, test_unix_socket);
    tcase_add_test(tc, test_specs);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(monitor_suite)
