/* Tests for QEMU 7.2's -netdev stream and -netdev dgram syntax (net/socket.c, socket_addr.c,
 * socket_stream.c): two nicvm backends, each with a fake NIC, exchange frames over unix
 * stream sockets (file paths and Linux's abstract names), TCP, unix datagrams and UDP. Also:
 * a client started before its server connects once it listens and again after it restarts;
 * a socket file left by an earlier run is reused, anything else at the path is refused and
 * left alone, and a backend removes the file it bound; strangers' datagrams are ignored;
 * the backend's report names its addresses; every option mistake is one line naming the
 * option. Socket files live in a fresh temporary directory; every wait is bounded. */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/socket_fixture.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static struct netdev *nda, *ndb;
static struct fn_nic na, nb;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/nicvm-sd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    loop = evloop_create();
    ck_assert_ptr_nonnull(loop);
    nda = ndb = NULL;
}

/* Destroys what a test left and the directory (which must hold nothing else by now). */
static void teardown(void)
{
    fn_nic_clear(&na);
    fn_nic_clear(&nb);
    netdev_destroy(nda);
    netdev_destroy(ndb);
    evloop_destroy(loop);
    ck_assert_msg(rmdir(dir) == 0, "%s: %s (a socket file left behind?)", dir, strerror(errno));
}

/* dir/name into buf. */
static const char *path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static struct netdev *create_attached(const char *spec, struct fn_nic *nic, const char *name)
{
    struct netdev *nd = socket_create(spec);
    ck_assert_int_eq(fn_nic_attach(nic, nd, name), 0);
    return nd;
}

/* Runs the loop until both links are up (or fails after WAIT_MS). */
static void wait_links(void)
{
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (!(netdev_link_up(nda) && netdev_link_up(ndb)) && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(netdev_link_up(nda) && netdev_link_up(ndb), "links: a %d, b %d",
                  netdev_link_up(nda), netdev_link_up(ndb));
}

/* Frames of many sizes up to largest a -> b and b -> a, then a burst a -> b, all checked
 * byte for byte. */
static void exchange(size_t largest)
{
    static const size_t sizes[] = {14, 60, 1514, 9014, 65000, NETDEV_MAX_FRAME};
    size_t n = 0;
    while (n < sizeof(sizes) / sizeof(sizes[0]) && sizes[n] <= largest)
        n++;
    exchange_sizes(&na, &nb, sizes, n);
    send_burst(&na, &nb, 32, 700);
}

/* The backend's part of netdev_info() as a compact JSON string, into buf. */
static const char *backend_json(struct netdev *nd, char *buf, size_t n)
{
    json_t *info = netdev_info(nd);
    char *s = json_dumps(json_object_get(info, "backend"), JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, n, "%s", s ? s : "(none)");
    free(s);
    json_decref(info);
    return buf;
}

static void expect_in(const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle) != NULL, "'%s' lacks '%s'", hay, needle);
}

START_TEST(test_stream_unix_client_first_and_server_restart)
{
    setup();
    char p[128], spec[320], js[512];
    path_of(p, sizeof(p), "s.sock");
    /* The client starts first, with nothing at the path: its link stays down. */
    snprintf(spec, sizeof(spec), "stream,id=b,server=off,addr.type=unix,addr.path=%s", p);
    ndb = create_attached(spec, &nb, "nic-b");
    run_for(50);
    ck_assert(!netdev_link_up(ndb));
    snprintf(spec, sizeof(spec), "stream,id=a,server=on,addr.type=unix,addr.path=%s", p);
    nda = create_attached(spec, &na, "nic-a");
    wait_links();
    expect_in(backend_json(nda, js, sizeof(js)), "\"mode\":\"listen\"");
    char want[200];
    snprintf(want, sizeof(want), "\"address\":\"unix:%s\"", p);
    expect_in(js, want);
    expect_in(js, "\"peer\":\"unix:(unnamed)\"");
    expect_in(backend_json(ndb, js, sizeof(js)), "\"reconnect_ms\":1000"); /* the default */
    exchange(NETDEV_MAX_FRAME);
    /* The server goes away with its file; the client's link drops and comes back with a new
     * server at the same path. */
    fn_nic_clear(&na);
    netdev_destroy(nda);
    nda = NULL;
    struct stat st;
    ck_assert_int_eq(stat(p, &st), -1);
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (netdev_link_up(ndb) && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert(!netdev_link_up(ndb));
    snprintf(spec, sizeof(spec), "stream,id=a,server=on,addr.type=unix,addr.path=%s", p);
    nda = create_attached(spec, &na, "nic-a");
    wait_links();
    exchange(1514);
    teardown();
}
END_TEST

START_TEST(test_stream_stale_file_reused_other_file_refused)
{
    setup();
    char p[96], spec[400];
    path_of(p, sizeof(p), "stale.sock");
    /* A socket file whose socket is gone (an earlier run killed before it cleaned up). */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", p);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    close(fd);
    snprintf(spec, sizeof(spec), "stream,id=a,server=on,addr.type=unix,addr.path=%s", p);
    nda = create_attached(spec, &na, "nic-a");
    snprintf(spec, sizeof(spec), "stream,id=b,addr.type=unix,addr.path=%s", p); /* server=off */
    ndb = create_attached(spec, &nb, "nic-b");
    wait_links();
    exchange(60);
    /* A regular file is somebody's data: refused by name, and left as it was. */
    char f[128];
    path_of(f, sizeof(f), "data");
    fd = open(f, O_CREAT | O_WRONLY | O_EXCL, 0600);
    ck_assert_int_eq(write(fd, "keep", 4), 4);
    close(fd);
    snprintf(spec, sizeof(spec), "stream,id=c,server=on,addr.type=unix,addr.path=%s", f);
    char want[200];
    snprintf(want, sizeof(want), "'%s' exists and is not a socket", f);
    expect_create_error(spec, want);
    snprintf(spec, sizeof(spec),
             "dgram,id=c,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=%s",
             f, p);
    expect_create_error(spec, want);
    struct stat st;
    ck_assert_int_eq(stat(f, &st), 0);
    ck_assert(S_ISREG(st.st_mode) && st.st_size == 4);
    unlink(f);
    teardown();
}
END_TEST

START_TEST(test_stream_abstract_name)
{
    setup();
    char spec[320], name[64], js[512];
    snprintf(name, sizeof(name), "nicvm-test-%d", (int)getpid());
    snprintf(spec, sizeof(spec),
             "stream,id=a,server=on,addr.type=unix,addr.path=%s,"
             "addr.abstract=on",
             name);
    nda = create_attached(spec, &na, "nic-a");
    /* A file path of the same name is another address: a client there never connects. */
    snprintf(spec, sizeof(spec), "stream,id=b,addr.type=unix,addr.path=%s/%s", dir, name);
    ndb = create_attached(spec, &nb, "nic-b");
    run_for(100);
    ck_assert(!netdev_link_up(ndb));
    fn_nic_clear(&nb);
    netdev_destroy(ndb);
    snprintf(spec, sizeof(spec),
             "stream,id=b,addr.type=unix,addr.path=%s,addr.abstract=on,reconnect-ms=250", name);
    ndb = create_attached(spec, &nb, "nic-b");
    wait_links();
    char want[128];
    snprintf(want, sizeof(want), "\"address\":\"unix:@%s\"", name);
    expect_in(backend_json(ndb, js, sizeof(js)), want);
    expect_in(js, "\"reconnect_ms\":250");
    exchange(9014);
    teardown();
}
END_TEST

START_TEST(test_stream_inet)
{
    setup();
    int port = fn_free_port(SOCK_STREAM);
    char spec[320];
    snprintf(spec, sizeof(spec),
             "stream,id=a,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=%d", port);
    nda = create_attached(spec, &na, "nic-a");
    snprintf(spec, sizeof(spec),
             "stream,id=b,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=%d,"
             "addr.ipv6=off,addr.numeric=on",
             port);
    ndb = create_attached(spec, &nb, "nic-b");
    wait_links();
    exchange(NETDEV_MAX_FRAME);
    teardown();
}
END_TEST

/* A unix datagram socket bound to dir/name (NULL: unbound). */
static int unix_dgram_at(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (name) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof(un.sun_path), "%s/%s", dir, name);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    }
    return fd;
}

static void send_unix(int fd, const char *name, const void *buf, size_t len)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s/%s", dir, name);
    ck_assert_int_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&un, sizeof(un)), (ssize_t)len);
}

START_TEST(test_dgram_unix)
{
    setup();
    char spec[400], js[512];
    snprintf(spec, sizeof(spec),
             "dgram,id=a,local.type=unix,local.path=%s/a,remote.type=unix,"
             "remote.path=%s/b",
             dir, dir);
    nda = create_attached(spec, &na, "nic-a");
    snprintf(spec, sizeof(spec),
             "dgram,id=b,local.type=unix,local.path=%s/b,remote.type=unix,"
             "remote.path=%s/a",
             dir, dir);
    ndb = create_attached(spec, &nb, "nic-b");
    ck_assert(netdev_link_up(nda) && netdev_link_up(ndb));
    char want[200];
    snprintf(want, sizeof(want), "\"local\":\"unix:%s/a\"", dir);
    expect_in(backend_json(nda, js, sizeof(js)), want);
    snprintf(want, sizeof(want), "\"peer\":\"unix:%s/b\"", dir);
    expect_in(js, want);
    exchange(65000);
    /* Datagrams from another bound path and from an unbound socket are not the peer's. */
    int s1 = unix_dgram_at("stranger"), s2 = unix_dgram_at(NULL);
    make_frame(frame, 100, 666);
    send_unix(s1, "b", frame, 100);
    send_unix(s2, "b", frame, 100);
    make_frame(frame, 100, 7);
    ck_assert_int_eq(fn_nic_send(&na, NULL, frame, 100), 0);
    uint64_t base = nb.received;
    wait_received(&nb, base + 1, "the peer's frame");
    run_for(100);
    ck_assert_uint_eq(nb.received, base + 1);
    expect_frame(&nb, frame, 100);
    expect_in(backend_json(ndb, js, sizeof(js)), "\"rx_foreign\":2");
    close(s1);
    close(s2);
    char s[128];
    unlink(path_of(s, sizeof(s), "stranger"));
    teardown(); /* fails if a or b were left in dir */
}
END_TEST

/* Unix datagrams can be larger than any frame: one from the peer is dropped whole (not cut
 * to a frame), and the next one arrives. */
START_TEST(test_dgram_unix_oversized)
{
    setup();
    int t = unix_dgram_at("t");
    char spec[400];
    snprintf(spec, sizeof(spec),
             "dgram,id=a,local.type=unix,local.path=%s/a,remote.type=unix,"
             "remote.path=%s/t",
             dir, dir);
    nda = create_attached(spec, &na, "nic-a");
    static uint8_t big[NETDEV_MAX_FRAME + 4096];
    make_frame(big, sizeof(big), 9);
    send_unix(t, "a", big, sizeof(big));
    make_frame(frame, 1000, 10);
    send_unix(t, "a", frame, 1000);
    wait_received(&na, 1, "the frame after the oversized datagram");
    run_for(50);
    ck_assert_uint_eq(na.received, 1);
    expect_frame(&na, frame, 1000);
    ck_assert_uint_eq(netdev_get_stats(nda)->rx_packets, 1);
    char js[512];
    expect_in(backend_json(nda, js, sizeof(js)), "\"rx_oversized\":1");
    expect_in(js, "\"rx_foreign\":0");
    close(t);
    char p[128];
    unlink(path_of(p, sizeof(p), "t"));
    teardown();
}
END_TEST

START_TEST(test_dgram_inet)
{
    setup();
    int pa = fn_free_port(SOCK_DGRAM), pb;
    do
        pb = fn_free_port(SOCK_DGRAM);
    while (pb == pa);
    char spec[400];
    snprintf(spec, sizeof(spec),
             "dgram,id=a,local.type=inet,local.host=127.0.0.1,local.port=%d,remote.type=inet,"
             "remote.host=127.0.0.1,remote.port=%d",
             pa, pb);
    nda = create_attached(spec, &na, "nic-a");
    snprintf(spec, sizeof(spec),
             "dgram,id=b,local.type=inet,local.port=%d,remote.type=inet,"
             "remote.host=127.0.0.1,remote.port=%d",
             pb, pa); /* local.host absent: any */
    ndb = create_attached(spec, &nb, "nic-b");
    exchange(9014);
    teardown();
}
END_TEST

START_TEST(test_option_errors)
{
    setup();
    static const char *const cases[][2] = {
        {"stream,id=s", "addr.type=: expected inet or unix"},
        {"stream,id=s,addr.type=fd,addr.str=3", "addr.type=fd is not supported"},
        {"stream,id=s,addr.type=vsock", "addr.type=vsock: expected inet or unix"},
        {"stream,id=s,addr.type=unix", "addr.type=unix needs addr.path=PATH"},
        {"stream,id=s,addr.type=inet,addr.port=5000", "needs addr.host=HOST and addr.port"},
        {"stream,id=s,server=on,addr.type=inet", "addr.type=inet needs addr.port=PORT"},
        {"stream,id=s,server=maybe,addr.type=unix,addr.path=/x", "server"},
        {"stream,id=s,addr.type=inet,addr.host=127.0.0.1,addr.port=1,addr.ipv4=off,"
         "addr.ipv6=off",
         "leave no address family"},
        {"stream,id=s,addr.type=inet,addr.host=no-such-host.invalid,addr.port=1,"
         "addr.numeric=on",
         "not an address of this host's families"},
        {"stream,id=s,addr.type=unix,addr.path=/x,addr.colour=red", "unknown option"},
        {"stream,id=s,addr.type=unix,addr.path=/x,reconnect=0", "reconnect"},
        {"stream,id=s,addr.type=unix,addr.path=/x,reconnect-ms=0", "reconnect-ms"},
        {"stream,id=s,addr.type=unix,addr.path=/x,reconnect=1,reconnect-ms=5", "not both"},
        {"stream,id=s,server=on,addr.type=unix,addr.path=/x,reconnect=1",
         "reconnect= and reconnect-ms= are for server=off"},
        {"dgram,id=d,local.type=unix,local.path=/x", "remote.type= (inet or unix) are both"},
        {"dgram,id=d,remote.type=unix,remote.path=/x", "are both required"},
        {"dgram,id=d,local.type=inet,local.port=5000,remote.type=inet,remote.host=230.0.0.1,"
         "remote.port=5000",
         "multicast group is a hub"},
        {"dgram,id=d,local.type=unix,local.path=/x,remote.type=inet,remote.host=127.0.0.1,"
         "remote.port=5000",
         "must be the same"},
        {"dgram,id=d,local.type=inet,local.port=5000,remote.type=inet,remote.host=::1,"
         "remote.port=5000,local.ipv6=off",
         "local.ipv6=off excludes the family of the other address"},
        {"dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=5000,remote.type=inet,"
         "remote.host=::1,remote.port=5000",
         "local.host=127.0.0.1, local.port=5000: not an address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_create_error(cases[i][0], cases[i][1]);
    /* A path one byte too long for sun_path, and the longest that fits. */
    char spec[400], longp[120];
    memset(longp, 'p', sizeof(longp));
    longp[0] = '/';
    longp[108] = '\0';
    snprintf(spec, sizeof(spec), "stream,id=s,server=on,addr.type=unix,addr.path=%s", longp);
    expect_create_error(spec, "addr.path=PATH of 1 to 107 bytes");
    /* Every message is one line. */
    char err[512] = "";
    struct opts *o = opts_parse("dgram,id=d,local.type=unix,local.path=/x", "type", err, 512);
    ck_assert_ptr_null(netdev_create(loop, o, err, sizeof(err)));
    opts_free(o);
    ck_assert_ptr_null(strchr(err, '\n'));
    teardown();
}
END_TEST

static Suite *stream_dgram_suite(void)
{
    Suite *s = suite_create("stream_dgram");
    TCase *tc = tcase_create("stream_dgram");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_unix_client_first_and_server_restart);
    tcase_add_test(tc, test_stream_stale_file_reused_other_file_refused);
    tcase_add_test(tc, test_stream_abstract_name);
    tcase_add_test(tc, test_stream_inet);
    tcase_add_test(tc, test_dgram_unix);
    tcase_add_test(tc, test_dgram_unix_oversized);
    tcase_add_test(tc, test_dgram_inet);
    tcase_add_test(tc, test_option_errors);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(stream_dgram_suite)
