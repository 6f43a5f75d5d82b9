/* Guest tier: the guest-images kernel booted by nicvm on this machine.
 *   test_guest NICVM IMAGEDIR
 * Skips (77) when /dev/kvm or the image is missing. On PVM hosts guest user space cannot
 * run (see the project notes), so these tests use the syscall-free "spin" initramfs and
 * check what the kernel does alone. */
#include "tests/common/runvm.h"
#include "tests/unit/unit.h"

#include <jansson.h>

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOOT_TIMEOUT 420

static const char *nicvm_bin;
static char vmlinux[512], spin_initrd[512];

/* The start of every nicvm command line here: the kernel, the spin initramfs, 256 MiB. */
#define GUEST_ARGS nicvm_bin, "-kernel", vmlinux, "-initrd", spin_initrd, "-m", "256M"

START_TEST(test_boot_to_init)
{
    const char *argv[] = {GUEST_ARGS, NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, BOOT_TIMEOUT, "Run /init as init process", &r), 0);
    ck_assert_msg(!r.timed_out, "no \"Run /init\" within %d s; console:\n%s", BOOT_TIMEOUT, r.out);
    /* The whole boot log is on the console, from the first line. */
    ck_assert_ptr_nonnull(strstr(r.out, "Linux version 6.1"));
    ck_assert_ptr_nonnull(strstr(r.out, "serial8250: ttyS0 at I/O 0x3f8 (irq = 4"));
    ck_assert_ptr_nonnull(strstr(r.out, "found SMP MP-table at [mem 0x0009fc00"));
    ck_assert_ptr_nonnull(strstr(r.out, "Run /init as init process"));
    ck_assert_ptr_null(strstr(r.out, "Kernel panic"));
    /* Stopped by SIGTERM once the marker appeared: clean stop, documented status. */
    ck_assert_msg(r.status == 128 + 15, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "stopping the VM"));
    printf("boot to \"Run /init\": %.1f s\n", r.seconds);
    runvm_free(&r);
}
END_TEST

START_TEST(test_boot_smp)
{
    const char *argv[] = {GUEST_ARGS, "-smp", "2", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, BOOT_TIMEOUT, "Run /init as init process", &r), 0);
    ck_assert_msg(!r.timed_out, "no \"Run /init\" within %d s; console:\n%s", BOOT_TIMEOUT, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "smp: Brought up 1 node, 2 CPUs"));
    runvm_free(&r);
}
END_TEST

/* --- virtio-net ------------------------------------------------------------------------ */

/* The line after "IP-Config: Got DHCP answer ...": once it is out, both are. */
#define DHCP_MARKER "device=eth0, hwaddr=52:54:00:12:34:56, ipaddr=10.0.2.15"

/* Flow ids of the events on track tid at ts with phase ph. */
static json_int_t flow_at(json_t *evs, json_int_t tid, double ts, const char *ph)
{
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "ph")), ph) == 0 &&
            json_integer_value(json_object_get(e, "tid")) == tid &&
            json_number_value(json_object_get(e, "ts")) == ts)
            return json_integer_value(json_object_get(e, "id"));
    }
    return 0;
}

/* Phases a flow has, as a string such as "stf". */
static void flow_phases(json_t *evs, json_int_t id, char *out, size_t len)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        if (strchr("stf", ph[0]) && json_integer_value(json_object_get(e, "id")) == id &&
            n + 1 < len)
            out[n++] = ph[0];
    }
    out[n] = '\0';
}

/* The DHCP exchange is in the trace as linked packet events: DISCOVER and REQUEST each go
 * from a TX chain to the backend's write (flow s..f), OFFER and ACK each from the backend's
 * read through the RX buffers to the interrupt (flow s, t, f); a frame the NIC dropped ends
 * its flow at the drop. */
static void check_dhcp_trace(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "trace does not parse: %s", jerr.text);
    json_t *evs = json_object_get(root, "traceEvents");
    int tx = 0, rx = 0;
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *pkt = json_string_value(json_object_get(json_object_get(e, "args"), "packet"));
        if (!pkt || !strstr(pkt, "DHCP"))
            continue;
        json_int_t tid = json_integer_value(json_object_get(e, "tid"));
        double ts = json_number_value(json_object_get(e, "ts"));
        char ph[8];
        if (strcmp(name, "backend write") == 0 && strstr(pkt, ":68 > 255.255.255.255:67")) {
            flow_phases(evs, flow_at(evs, tid, ts, "f"), ph, sizeof(ph));
            ck_assert_msg(strchr(ph, 's') && strchr(ph, 'f'), "TX flow phases '%s'", ph);
            tx++;
        } else if (strcmp(name, "backend read") == 0 && strstr(pkt, "10.0.2.2:67 >")) {
            flow_phases(evs, flow_at(evs, tid, ts, "s"), ph, sizeof(ph));
            /* Every frame's flow ends: in ring buffers and an interrupt (s, t, f), or in a
             * drop with its reason (s, f: e.g. an OFFER racing the driver's reset). */
            ck_assert_msg(strchr(ph, 's') && strchr(ph, 'f'), "RX flow phases '%s'", ph);
            rx += strchr(ph, 't') != NULL;
        }
    }
    ck_assert_msg(tx >= 2 && rx >= 2, "DHCP in the trace: %d sent, %d received", tx, rx);
    json_decref(root);
}

/* Boots with NIC `model` on -netdev user and waits for the kernel's DHCP lease; virtio-net is
 * found through `discovery` (cmdline or dtb), e1000 on the PCI bus. */
static void check_user_dhcp(const char *model, const char *discovery)
{
    char device[64], nic[64];
    snprintf(device, sizeof(device), "%s,netdev=n0", model);
    snprintf(nic, sizeof(nic), "user,id=n0,model=%s", model);
    char trace[] = "/tmp/nicvm-dhcp-trace-XXXXXX";
    close(mkstemp(trace));
    /* e1000 is wired with QEMU's -nic shorthand, virtio-net with -netdev and -device. */
    bool shorthand = strcmp(model, "e1000") == 0;
    const char *argv[] = {GUEST_ARGS,
                          "-append",
                          "ip=dhcp",
                          "--virtio-discovery",
                          discovery,
                          "--trace",
                          trace,
                          "--trace-filter",
                          "exits=off",
                          shorthand ? "-nic" : "-netdev",
                          shorthand ? nic : "user,id=n0",
                          shorthand ? NULL : "-device",
                          device,
                          NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, BOOT_TIMEOUT, DHCP_MARKER, &r), 0);
    ck_assert_msg(!r.timed_out, "no DHCP lease within %d s; console:\n%s\nstderr:\n%s",
                  BOOT_TIMEOUT, r.out, r.err);
    /* The device was found the way we asked: only the command line names it there. */
    bool on_cmdline = strstr(r.out, "virtio_mmio.device=4K@0xd0000000:5") != NULL;
    bool virtio = strcmp(model, "virtio-net") == 0;
    ck_assert_int_eq(on_cmdline, virtio && strcmp(discovery, "cmdline") == 0);
    ck_assert_ptr_nonnull(
        strstr(r.out, "IP-Config: Got DHCP answer from 10.0.2.2, my address is 10.0.2.15"));
    if (!virtio) /* Linux's e1000 driver read STATUS and the PHY as a real 82540EM's */
        ck_assert_msg(strstr(r.out, "e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex"),
                      "no e1000 link-up line; console:\n%s", r.out);
    printf("%s + user (%s): DHCP answer after %.1f s\n", model, virtio ? discovery : "pci",
           r.seconds);
    runvm_free(&r);
    check_dhcp_trace(trace);
    unlink(trace);
}

START_TEST(test_virtio_user_dhcp_cmdline)
{
    check_user_dhcp("virtio-net", "cmdline");
}
END_TEST

START_TEST(test_virtio_user_dhcp_dtb)
{
    check_user_dhcp("virtio-net", "dtb");
}
END_TEST

START_TEST(test_e1000_user_dhcp)
{
    check_user_dhcp("e1000", "cmdline");
}
END_TEST

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A network namespace with tap "ntap0" at 10.77.0.1/24, for nicvm to run in. */
static bool netns_up(const char *ns, char *why, size_t len)
{
    if (geteuid() != 0) {
        snprintf(why, len, "not root: cannot make network namespaces");
        return false;
    }
    if (sh("ip netns add %s 2>/dev/null && ip -n %s link set lo up && "
           "ip -n %s tuntap add dev ntap0 mode tap && ip -n %s addr add 10.77.0.1/24 dev ntap0 "
           "&& ip -n %s link set ntap0 up",
           ns, ns, ns, ns, ns) != 0) {
        snprintf(why, len, "ip netns add / ip tuntap failed (no privilege to make namespaces?)");
        sh("ip netns del %s 2>/dev/null", ns);
        return false;
    }
    return true;
}

static void check_tap_ping(const char *model, const char *discovery)
{
    char ns[64], why[128], device[64];
    snprintf(device, sizeof(device), "%s,netdev=n0", model);
    snprintf(ns, sizeof(ns), "nicvm-guest-%d", (int)getpid());
    ck_assert_msg(netns_up(ns, why, sizeof(why)), "%s", why); /* main() checked privileges */
    const char *argv[] = {"/sbin/ip",
                          "netns",
                          "exec",
                          ns,
                          GUEST_ARGS,
                          "-append",
                          "ip=10.77.0.2::10.77.0.1:255.255.255.0::eth0:off",
                          "-netdev",
                          "tap,id=n0,ifname=ntap0",
                          "-device",
                          device,
                          "--virtio-discovery",
                          discovery,
                          NULL};
    struct runvm_proc p;
    ck_assert_int_eq(runvm_start(argv, &p), 0);
    /* Once the kernel has finished booting, three echo replies within 90 s (on a PVM host the
     * guest kernel runs under emulation, so replies take tens of milliseconds). */
    int w = runvm_wait_marker(&p, "Run /init as init process", BOOT_TIMEOUT);
    int ping = w == 0 ? sh("ip netns exec %s ping -c 3 -w 90 -q 10.77.0.2 >/dev/null", ns) : -1;
    struct runvm_result r;
    runvm_stop(&p, &r);
    sh("ip netns del %s", ns);
    ck_assert_msg(w == 0, "guest never configured its address (%d); console:\n%s\nstderr:\n%s", w,
                  r.out, r.err);
    ck_assert_msg(ping == 0, "the guest did not answer ping through tap; stderr:\n%s", r.err);
    ck_assert_int_eq(r.status, 128 + 15);
    printf("%s + tap (%s): answered ping; %.1f s in all\n", model, discovery, r.seconds);
    runvm_free(&r);
}

START_TEST(test_virtio_tap_ping_cmdline)
{
    check_tap_ping("virtio-net", "cmdline");
}
END_TEST

START_TEST(test_virtio_tap_ping_dtb)
{
    check_tap_ping("virtio-net", "dtb");
}
END_TEST

START_TEST(test_e1000_tap_ping)
{
    check_tap_ping("e1000", "cmdline");
}
END_TEST

static Suite *guest_suite(bool tap)
{
    Suite *s = suite_create("guest");
    TCase *tc = tcase_create("boot");
    tcase_set_timeout(tc, BOOT_TIMEOUT + 60);
    tcase_add_test(tc, test_boot_to_init);
    tcase_add_test(tc, test_boot_smp);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("virtio-net");
    tcase_set_timeout(tv, BOOT_TIMEOUT + 60);
    tcase_add_test(tv, test_virtio_user_dhcp_cmdline);
    tcase_add_test(tv, test_virtio_user_dhcp_dtb);
    suite_add_tcase(s, tv);
    TCase *te = tcase_create("e1000");
    tcase_set_timeout(te, BOOT_TIMEOUT + 60);
    tcase_add_test(te, test_e1000_user_dhcp);
    suite_add_tcase(s, te);
    if (tap) {
        /* The tap tests alone: they need the privilege to make network namespaces. */
        s = suite_create("guest-tap");
        TCase *tt = tcase_create("virtio-net-tap");
        tcase_set_timeout(tt, BOOT_TIMEOUT + 60);
        tcase_add_test(tt, test_virtio_tap_ping_cmdline);
        tcase_add_test(tt, test_virtio_tap_ping_dtb);
        suite_add_tcase(s, tt);
        TCase *tte = tcase_create("e1000-tap");
        tcase_set_timeout(tte, BOOT_TIMEOUT + 60);
        tcase_add_test(tte, test_e1000_tap_ping);
        suite_add_tcase(s, tte);
    }
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "tap") == 0)) {
        fprintf(stderr, "usage: test_guest NICVM IMAGEDIR [tap]\n");
        return 2;
    }
    bool tap = argc == 4;
    nicvm_bin = argv[1];
    snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", argv[2]);
    snprintf(spin_initrd, sizeof(spin_initrd), "%s/initramfs-spin.cpio.gz", argv[2]);
    char why[256];
    if (!runvm_kvm_usable(why, sizeof(why))) {
        printf("SKIP: %s: the guest tier needs KVM\n", why);
        return 77;
    }
    if (access(vmlinux, R_OK) != 0 || access(spin_initrd, R_OK) != 0) {
        printf("SKIP: no guest image in %s: build it with guest-images/build.sh\n", argv[2]);
        return 77;
    }
    if (tap && (geteuid() != 0 || access("/sbin/ip", X_OK) != 0)) {
        printf("SKIP: the tap tests need root and iproute2 to make a network namespace\n");
        return 77;
    }
    SRunner *sr = srunner_create(guest_suite(tap));
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
