/* Interop with QEMU's socket-based netdevs: nicvm's `-netdev socket` (UDP; TCP with either side
 * listening) against QEMU's `-netdev socket`, and nicvm's `-netdev stream` and `-netdev dgram`
 * (QEMU 7.2's syntax) against QEMU 7.2's own: stream over a unix socket with either side the
 * server, over an abstract unix name and over TCP, dgram over unix datagram sockets and UDP. A
 * real Linux kernel on QEMU's side (the guest-images kernel under QEMU's TCG emulator, so no
 * KVM is needed) answers ARP and ping sent by a fake NIC on nicvm's side, byte for byte. This
 * checks nicvm's wire format and addresses against QEMU's own, not against nicvm's reading of
 * them, and it shows that a nicvm VM can share a segment with a QEMU VM. The cases are one
 * table; each boots its own QEMU (about a second under TCG), so a failure names one case.
 *   test_qemu_peer GUESTDIR
 * Skips (exit 77, with the reason) without qemu-system-x86_64 on PATH (NICVM_QEMU names
 * another) or without the guest image (guest-images/build.sh). */
#include "net/backend.h"
#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/common/runvm.h"
#include "tests/unit/socket_fixture.h"
#include "tests/unit/unit.h"
#include "vmm/evloop.h"
#include "vmm/opts.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BOOT_TIMEOUT_S   120 /* TCG boots the kernel in a few seconds; allow a loaded machine */
#define REPLY_TIMEOUT_MS 10000

static char qemu[512], vmlinux[512], initrd[512];

/* QEMU's guest: its NIC has QEMU's default MAC; nicvm's side is the fake NIC. */
static const struct fn_addr guest = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, 0x0a000902, 0};
static const struct fn_addr self = {{0x52, 0x54, 0x00, 0x00, 0x09, 0x01}, 0x0a000901, 0};

/* Finds `name` on PATH (or takes an absolute path) into out. Returns true if executable. */
static bool find_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* Starts QEMU (TCG, microvm, virtio-net on `netdev`) and waits for the kernel's /init. */
static void start_qemu(const char *netdev, struct runvm_proc *p)
{
    const char *argv[] = {qemu,
                          "-M",
                          "microvm,acpi=off",
                          "-accel",
                          "tcg",
                          "-cpu",
                          "qemu64",
                          "-m",
                          "128",
                          "-nographic",
                          "-no-reboot",
                          "-nodefaults",
                          "-serial",
                          "stdio",
                          "-kernel",
                          vmlinux,
                          "-initrd",
                          initrd,
                          "-append",
                          "console=ttyS0 ip=10.0.9.2::10.0.9.1:255.255.255.0::eth0:off",
                          "-netdev",
                          netdev,
                          "-device",
                          "virtio-net-device,netdev=n0",
                          NULL};
    ck_assert_int_eq(runvm_start(argv, p), 0);
    int rc = runvm_wait_marker(p, "Run /init as init process", BOOT_TIMEOUT_S);
    if (rc != 0) {
        struct runvm_result r;
        runvm_stop(p, &r);
        ck_abort_msg("QEMU (%s) did not boot (%d); stdout:\n%s\nstderr:\n%s", netdev, rc, r.out,
                     r.err);
    }
}

static bool is_arp_reply(void *arg, const struct fn_pkt *p)
{
    (void)arg;
    return p->arp && p->arp_op == 2 && p->arp_spa == guest.ip;
}

static bool is_echo_reply(void *arg, const struct fn_pkt *p)
{
    return p->l4 && p->proto == 1 && p->icmp_type == FN_ICMP_REPLY &&
           p->icmp_seq == *(const uint16_t *)arg && p->saddr == guest.ip;
}

/* The Linux kernel behind QEMU answers "who has 10.0.9.2" with QEMU's NIC MAC, and echoes
 * pings of 56 and 1400 bytes byte for byte, through nicvm's netdev nd (`what` names the case
 * in failures). */
static void exchange_with_linux(struct netdev *nd, const char *what)
{
    struct fn_guest g;
    fn_guest_init(&g, loop, &self);
    ck_assert_int_eq(fn_nic_attach(&g.nic, nd, "fake0"), 0);
    uint8_t f[FN_MAX_FRAME];
    struct fn_frame *r = NULL;
    /* The kernel may still be bringing eth0 up after /init starts: ask a few times. */
    for (int i = 0; i < 10 && !r; i++) {
        fn_guest_send(&g, f, fn_arp_request(f, sizeof(f), &self, guest.ip));
        r = fn_guest_wait(&g, is_arp_reply, NULL, REPLY_TIMEOUT_MS / 10);
    }
    ck_assert_msg(r != NULL, "%s: no ARP reply from the Linux guest behind QEMU", what);
    struct fn_pkt p;
    fn_parse(r->data, r->len, &p);
    ck_assert_msg(memcmp(p.arp_sha, guest.mac, 6) == 0, "%s: ARP reply with another MAC", what);
    free(r);
    uint8_t payload[1400];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    size_t sizes[] = {56, sizeof(payload)};
    for (uint16_t seq = 1; seq <= 2; seq++) {
        size_t n = fn_icmp_echo(f, sizeof(f), &self, &guest, FN_ICMP_ECHO, 0x77, seq, payload,
                                sizes[seq - 1]);
        fn_guest_send(&g, f, n);
        r = fn_guest_wait(&g, is_echo_reply, &seq, REPLY_TIMEOUT_MS);
        ck_assert_msg(r != NULL, "%s: no echo reply %u (%zu bytes)", what, seq, sizes[seq - 1]);
        fn_parse(r->data, r->len, &p);
        ck_assert_msg(p.data_len == sizes[seq - 1] && !memcmp(p.data, payload, p.data_len) &&
                          !memcmp(p.dst, self.mac, 6),
                      "%s: echo reply %u is not the request's %zu bytes back to us", what, seq,
                      sizes[seq - 1]);
        free(r);
    }
    ck_assert_msg(g.send_errors == 0, "%s: %u frames not sent", what, g.send_errors);
    fn_nic_clear(&g.nic);
}

/* What a case's two specs name: @A and @B stand for the addresses this makes. */
enum peer_addrs {
    TCP_PORT,  /* @A: a free TCP port on 127.0.0.1 */
    UDP_PORTS, /* @A, @B: two free UDP ports (nicvm's, QEMU's) */
    UNIX_PATHS /* @A, @B: two paths in tmpdir (a stream's socket is @A; dgram: nicvm's, QEMU's) */
};

/* How nicvm's link behaves: a datagram link is up from the start; a stream link once
 * connected (and a client's is down until the server runs). */
enum peer_link { DGRAM, NICVM_SERVER, NICVM_CLIENT };

struct peer_case {
    const char *name;
    enum peer_addrs addrs;
    enum peer_link link;
    const char *mine, *theirs; /* nicvm's -netdev (id s0) and QEMU's (id n0) */
};

#define INET_A  "addr.type=inet,addr.host=127.0.0.1,addr.port=@A"
#define UNIX_A  "addr.type=unix,addr.path=@A"
#define ABSTR_A "addr.type=unix,addr.path=@A,addr.abstract=on"
#define UDP(l, r)                                                                                  \
    "local.type=inet,local.host=127.0.0.1,local.port=" l                                           \
    ",remote.type=inet,remote.host=127.0.0.1,remote.port=" r
#define UNIX_DG(l, r) "local.type=unix,local.path=" l ",remote.type=unix,remote.path=" r

static const struct peer_case cases[] = {
    {"socket udp=", UDP_PORTS, DGRAM, "socket,id=s0,udp=127.0.0.1:@B,localaddr=127.0.0.1:@A",
     "socket,id=n0,udp=127.0.0.1:@A,localaddr=127.0.0.1:@B"},
    {"socket listen= (nicvm), connect= (QEMU)", TCP_PORT, NICVM_SERVER,
     "socket,id=s0,listen=127.0.0.1:@A", "socket,id=n0,connect=127.0.0.1:@A"},
    {"socket connect= (nicvm, before QEMU listens)", TCP_PORT, NICVM_CLIENT,
     "socket,id=s0,connect=127.0.0.1:@A", "socket,id=n0,listen=127.0.0.1:@A"},
    {"stream unix, QEMU the server", UNIX_PATHS, NICVM_CLIENT, "stream,id=s0,server=off," UNIX_A,
     "stream,id=n0,server=on," UNIX_A},
    {"stream unix, nicvm the server", UNIX_PATHS, NICVM_SERVER, "stream,id=s0,server=on," UNIX_A,
     "stream,id=n0,server=off," UNIX_A},
    {"stream unix abstract, nicvm the server", UNIX_PATHS, NICVM_SERVER,
     "stream,id=s0,server=on," ABSTR_A, "stream,id=n0,server=off," ABSTR_A},
    {"stream inet, QEMU the server", TCP_PORT, NICVM_CLIENT, "stream,id=s0,server=off," INET_A,
     "stream,id=n0,server=on," INET_A},
    {"stream inet, nicvm the server", TCP_PORT, NICVM_SERVER, "stream,id=s0,server=on," INET_A,
     "stream,id=n0,server=off," INET_A},
    {"dgram unix", UNIX_PATHS, DGRAM, "dgram,id=s0," UNIX_DG("@A", "@B"),
     "dgram,id=n0," UNIX_DG("@B", "@A")},
    {"dgram inet", UDP_PORTS, DGRAM, "dgram,id=s0," UDP("@A", "@B"),
     "dgram,id=n0," UDP("@B", "@A")},
};

/* The socket files' directory: made and removed, with whatever QEMU or nicvm left in it, by
 * the runner process (an unchecked fixture), so a failing test leaves nothing behind. Check
 * kills a forked test's process group, QEMU included; the QEMU a test started is stopped here
 * as well for CK_FORK=no. */
static char tmpdir[64];
static struct runvm_proc *running;

/* Stops the QEMU a test started, if it still runs. */
static void stop_qemu(void)
{
    if (!running)
        return;
    struct runvm_result r;
    runvm_stop(running, &r);
    runvm_free(&r);
    running = NULL;
}

/* The unchecked fixture's setup: the directory, once for the test case. */
static void tmpdir_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/nicvm-qpeer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Its teardown: a QEMU left running, then the directory and everything in it. */
static void tmpdir_teardown(void)
{
    stop_qemu();
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    char path[PATH_MAX];
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(tmpdir);
}

/* Copies tmpl to out (len bytes) with each @A replaced by a and each @B by b. */
static void expand(const char *tmpl, const char *a, const char *b, char *out, size_t len)
{
    size_t n = 0;
    for (const char *t = tmpl; *t && n + 1 < len; t++) {
        const char *sub = t[0] == '@' && t[1] == 'A' ? a : t[0] == '@' && t[1] == 'B' ? b : NULL;
        if (sub) {
            n += (size_t)snprintf(out + n, len - n, "%s", sub);
            t++;
        } else {
            out[n++] = *t;
        }
    }
    out[n < len ? n : len - 1] = '\0';
}

/* The addresses @A and @B of case i, into a and b. */
static void make_addrs(int i, char *a, char *b, size_t len)
{
    b[0] = '\0';
    if (cases[i].addrs == UNIX_PATHS) {
        snprintf(a, len, "%s/%d-a.sock", tmpdir, i);
        snprintf(b, len, "%s/%d-b.sock", tmpdir, i);
    } else {
        int type = cases[i].addrs == TCP_PORT ? SOCK_STREAM : SOCK_DGRAM;
        snprintf(a, len, "%d", fn_free_port(type));
        if (type == SOCK_DGRAM)
            snprintf(b, len, "%d", fn_free_port(type));
    }
}

/* Case i: nicvm's netdev against QEMU's. A stream link must be down before QEMU runs (a
 * client retrying meanwhile) and come up once the two are connected; a datagram link is up
 * from the start. Then the Linux guest behind QEMU answers. */
START_TEST(peer_test)
{
    const struct peer_case *c = &cases[_i];
    stop_qemu(); /* CK_FORK=no: the QEMU of a case that failed */
    char a[160], b[160], mine[512], theirs[512];
    make_addrs(_i, a, b, sizeof(a));
    expand(c->mine, a, b, mine, sizeof(mine));
    expand(c->theirs, a, b, theirs, sizeof(theirs));
    loop = evloop_create(); /* socket_fixture's loop */
    struct netdev *nd = socket_create(mine);
    for (int i = 0; c->link == NICVM_CLIENT && i < 20; i++) /* nobody listens yet: retries */
        evloop_run_once(loop, 20);
    ck_assert_msg(c->link == DGRAM || !netdev_link_up(nd), "%s: link up with no peer", c->name);
    static struct runvm_proc q;
    start_qemu(theirs, &q);
    running = &q;
    uint64_t end = fn_now_ms() + REPLY_TIMEOUT_MS;
    while (c->link != DGRAM && !netdev_link_up(nd) && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(netdev_link_up(nd), "%s (%s): the link never came up", c->name, mine);
    exchange_with_linux(nd, c->name);
    stop_qemu();
    netdev_destroy(nd);
    evloop_destroy(loop);
}
END_TEST

static Suite *qemu_peer_suite(void)
{
    Suite *s = suite_create("qemu_peer");
    TCase *tc = tcase_create("peers");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_loop_test(tc, peer_test, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_qemu_peer GUESTDIR\n");
        return 2;
    }
    const char *q = getenv("NICVM_QEMU");
    if (!find_exe(q ? q : "qemu-system-x86_64", qemu, sizeof(qemu))) {
        printf("SKIP: no %s (apt-get install qemu-system-x86)\n", q ? q : "qemu-system-x86_64");
        return 77;
    }
    snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", argv[1]);
    snprintf(initrd, sizeof(initrd), "%s/initramfs-spin.cpio.gz", argv[1]);
    if (access(vmlinux, R_OK) != 0 || access(initrd, R_OK) != 0) {
        printf("SKIP: no guest image in %s (run guest-images/build.sh)\n", argv[1]);
        return 77;
    }
    SRunner *sr = srunner_create(qemu_peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
