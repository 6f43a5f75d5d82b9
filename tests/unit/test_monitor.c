/* Unit tests for the control socket's commands (vmm/monitor_cmds.c) over real sockets with a
 * real event loop, libslirp, a virtio-net NIC on fake guest RAM and a fake VM (the fixture in
 * monitor_fixture.c): every command's reply shape and its errors, and the listening socket
 * (-monitor unix:PATH parsing, stale socket files, removal on exit). */
#include "tests/unit/monitor_fixture.h"
#include "devices/virtio_mmio.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
    static const char *const names[] = {
        "qmp_capabilities", "query-commands", "query-stats", "query-network",  "query-virtqueue",
        "query-e1000",      "set_link",       "hostfwd_add", "hostfwd_remove", "dump-start",
        "dump-stop",        "query-dumps",    "quit"};
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
    ck_assert_int_eq(json_integer_value(json_object_get(rx, "size")), MT_QSIZE);
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
    int port = fn_free_port(SOCK_STREAM);
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

/* dump_start_cmd: into line (DUMP_CMD_MAX bytes), the dump-start command capturing netdev into
 * file, with extra arguments ("" for none, else ",\"name\":value..."); returns line. */
#define DUMP_CMD_MAX 256
static const char *dump_start_cmd(char *line, const char *netdev, const char *file,
                                  const char *extra)
{
    snprintf(line, DUMP_CMD_MAX,
             "{\"execute\":\"dump-start\",\"arguments\":{\"netdev\":\"%s\",\"file\":\"%s\"%s}}",
             netdev, file, extra);
    return line;
}

START_TEST(test_dump)
{
    struct cl c;
    cl_open(&c);
    char path[64], line[DUMP_CMD_MAX];
    snprintf(path, sizeof(path), "/tmp/nicvm-mon-dump-%d.pcap", (int)getpid());
    expect_ok(&c, dump_start_cmd(line, "vnet0", path, ""));
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
    expect_error(&c, dump_start_cmd(line, "u0", "/nonexistent-dir/x.pcap", ""), "GenericError",
                 "x.pcap");
    /* a capture left running is closed with the monitor (teardown) */
    expect_ok(&c, dump_start_cmd(line, "u0", path, ",\"vnet_hdr\":true,\"maxlen\":128"));
    unlink(path);
    close(c.fd);
}
END_TEST

/* The -object filter-dump captures are the monitor's to list and stop too. */
START_TEST(test_filter_dump)
{
    struct cl c;
    cl_open(&c);
    json_t *r = call(&c, "{\"execute\":\"query-dumps\"}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 1);
    json_t *d = json_array_get(ret_of(r), 0);
    ck_assert_str_eq(json_string_value(json_object_get(d, "id")), "f0");
    ck_assert_str_eq(json_string_value(json_object_get(d, "netdev")), "u0");
    ck_assert_str_eq(json_string_value(json_object_get(d, "file")), T.dump_path);
    ck_assert_str_eq(json_string_value(json_object_get(d, "format")), "pcap");
    ck_assert_str_eq(json_string_value(json_object_get(d, "origin")), "filter-dump");
    json_decref(r);
    char path[64], line[DUMP_CMD_MAX];
    snprintf(path, sizeof(path), "/tmp/nicvm-mon-dump2-%d.pcap", (int)getpid());
    expect_ok(&c, dump_start_cmd(line, "n0", path, ""));
    r = call(&c, "{\"execute\":\"query-dumps\"}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 2);
    json_decref(r);
    expect_error(&c, "{\"execute\":\"dump-stop\"}", "GenericError", "either netdev or id");
    expect_error(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"netdev\":\"u0\",\"id\":\"f0\"}}",
                 "GenericError", "either netdev or id");
    expect_error(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"id\":\"nope\"}}", "GenericError",
                 "no capture with id 'nope'");
    r = call(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"id\":\"f0\"}}");
    ck_assert_int_eq(json_integer_value(json_object_get(ret_of(r), "frames")), 0);
    json_t *stopped = json_object_get(ret_of(r), "stopped");
    ck_assert_uint_eq(json_array_size(stopped), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stopped, 0), "file")),
                     T.dump_path);
    json_decref(r);
    ck_assert_ptr_null(T.dumps[0]); /* closed, and the VM will not close it again */
    expect_error(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"id\":\"f0\"}}", "GenericError",
                 "no capture");
    r = call(&c, "{\"execute\":\"query-dumps\"}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ret_of(r), 0), "origin")),
                     "dump-start");
    json_decref(r);
    /* By NIC name: the NIC's netdev's captures, here the dump-start one. */
    r = call(&c, "{\"execute\":\"dump-stop\",\"arguments\":{\"netdev\":\"vnet0\"}}");
    ck_assert_uint_eq(json_array_size(json_object_get(ret_of(r), "stopped")), 1);
    json_decref(r);
    r = call(&c, "{\"execute\":\"query-dumps\"}");
    ck_assert_uint_eq(json_array_size(ret_of(r)), 0);
    json_decref(r);
    unlink(path);
    close(c.fd);
}
END_TEST

/* Which registers the driver's exits went to, by the spec's names. */
START_TEST(test_register_accesses)
{
    vnet_driver_init();
    uint8_t d[4];
    virtio_mmio_io(virtio_net_transport(T.vn), VMMIO_INTERRUPT_STATUS, d, 4, false);
    virtio_mmio_io(virtio_net_transport(T.vn), VMMIO_INTERRUPT_STATUS, d, 4, false);
    virtio_mmio_io(virtio_net_transport(T.vn), 0x0c8, d, 4, false);              /* reserved */
    virtio_mmio_io(virtio_net_transport(T.vn), VIRTIO_MMIO_CONFIG, d, 4, false); /* the MAC */
    struct cl c;
    cl_open(&c);
    json_t *r = call(&c, "{\"execute\":\"query-network\"}");
    json_t *nic = json_array_get(json_object_get(ret_of(r), "nics"), 0);
    json_t *acc = json_object_get(nic, "register_accesses");
    static const struct {
        const char *reg;
        int reads, writes;
    } want[] = {{"Status", 0, 4},          {"DriverFeaturesSel", 0, 2},
                {"DriverFeatures", 0, 2},  {"QueueSel", 0, 2},
                {"QueueReady", 0, 2},      {"QueueDescLow", 0, 2},
                {"InterruptStatus", 2, 0}, {"0x0c8", 1, 0},
                {"config", 1, 0}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *a = json_object_get(acc, want[i].reg);
        ck_assert_msg(a != NULL, "%s missing", want[i].reg);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "reads")), want[i].reads);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "writes")), want[i].writes);
    }
    ck_assert_ptr_null(json_object_get(acc, "QueueNotify")); /* never accessed: left out */
    ck_assert_uint_eq(json_object_size(acc),
                      12); /* also QueueNum, QueueDriverLow, QueueDeviceLow */
    json_decref(r);
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
    struct monitor_env env = {T.loop, T.nd, 2, &T.mach, &fake_vm_ops, NULL, NULL, 0};
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
    tcase_add_test(tc, test_filter_dump);
    tcase_add_test(tc, test_register_accesses);
    tcase_add_test(tc, test_quit);
    tcase_add_test(tc, test_unix_socket);
    tcase_add_test(tc, test_specs);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(monitor_suite)
