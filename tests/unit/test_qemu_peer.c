/* Interop with QEMU's socket netdev: nicvm's socket backend and QEMU's `-netdev socket`
 * (UDP, and TCP with nicvm or QEMU listening) exchange frames, and a real Linux kernel on QEMU's
 * side (the guest-images kernel under QEMU's TCG emulator, so no KVM is needed) answers ARP and
 * ping sent by a fake NIC on nicvm's side. This checks nicvm's wire format against QEMU's own, not
 * against nicvm's reading of it, and it shows that a nicvm VM can share a segment with a QEMU VM.
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
 * pings of 56 and 1400 bytes byte for byte, through nicvm's netdev `spec`. */
static void exchange_with_linux(struct netdev *nd)
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
    ck_assert_msg(r != NULL, "no ARP reply from the Linux guest behind QEMU");
    struct fn_pkt p;
    fn_parse(r->data, r->len, &p);
    ck_assert_mem_eq(p.arp_sha, guest.mac, 6);
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
        ck_assert_msg(r != NULL, "no echo reply %u (%zu bytes)", seq, sizes[seq - 1]);
        fn_parse(r->data, r->len, &p);
        ck_assert_uint_eq(p.data_len, sizes[seq - 1]);
        ck_assert_mem_eq(p.data, payload, sizes[seq - 1]);
        ck_assert_mem_eq(p.dst, self.mac, 6);
        free(r);
    }
    ck_assert_uint_eq(g.send_errors, 0);
    fn_nic_clear(&g.nic);
}

/* nicvm's netdev `mine` against QEMU's `-netdev theirs`: when `stream`, nicvm's link must
 * come up once the two are connected (and, for connect=, be down before QEMU runs). */
static void peer_case(const char *mine, const char *theirs, bool stream)
{
    loop = evloop_create(); /* socket_fixture's loop */
    struct netdev *nd = socket_create(mine);
    if (stream && strstr(mine, "connect=")) {
        for (int i = 0; i < 20; i++) /* nobody listens yet: retries, link down */
            evloop_run_once(loop, 20);
        ck_assert(!netdev_link_up(nd));
    }
    struct runvm_proc q;
    start_qemu(theirs, &q);
    uint64_t end = fn_now_ms() + REPLY_TIMEOUT_MS;
    while (stream && !netdev_link_up(nd) && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(netdev_link_up(nd), "%s: the link never came up", mine);
    exchange_with_linux(nd);
    struct runvm_result res;
    runvm_stop(&q, &res);
    runvm_free(&res);
    netdev_destroy(nd);
    evloop_destroy(loop);
}

/* The UDP mode against QEMU's `socket,udp=,localaddr=`: one datagram per frame. */
START_TEST(udp_with_qemu)
{
    int pn = fn_free_port(SOCK_DGRAM), pq = fn_free_port(SOCK_DGRAM);
    char mine[128], theirs[128];
    snprintf(mine, sizeof(mine), "socket,id=s0,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", pq, pn);
    snprintf(theirs, sizeof(theirs), "socket,id=n0,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", pn,
             pq);
    peer_case(mine, theirs, false);
}
END_TEST

/* The stream mode (a 4-byte big-endian length per frame), one side listening. */
static void stream_case(bool nicvm_listens)
{
    int p = fn_free_port(SOCK_STREAM);
    const char *a = nicvm_listens ? "listen" : "connect", *b = nicvm_listens ? "connect" : "listen";
    char mine[128], theirs[128];
    snprintf(mine, sizeof(mine), "socket,id=s0,%s=127.0.0.1:%d", a, p);
    snprintf(theirs, sizeof(theirs), "socket,id=n0,%s=127.0.0.1:%d", b, p);
    peer_case(mine, theirs, true);
}

START_TEST(nicvm_listens_qemu_connects)
{
    stream_case(true);
}
END_TEST

/* nicvm connects first and keeps retrying until QEMU listens. */
START_TEST(nicvm_connects_before_qemu_listens)
{
    stream_case(false);
}
END_TEST

static Suite *qemu_peer_suite(void)
{
    Suite *s = suite_create("qemu_peer");
    TCase *tc = tcase_create("socket");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, udp_with_qemu);
    tcase_add_test(tc, nicvm_listens_qemu_connects);
    tcase_add_test(tc, nicvm_connects_before_qemu_listens);
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
