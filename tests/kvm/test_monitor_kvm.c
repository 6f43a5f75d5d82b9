/* KVM tier: the control socket against a live VM, through the real client.
 *   test_monitor_kvm NICVM NICVM_CTL GUESTDIR
 * Boots the spinning tiny guest with two user netdevs under a virtio-net and an e1000 NIC
 * and -monitor unix:PATH,server,nowait, asks nicvm-ctl for query-stats (tables and --json),
 * query-network, query-virtqueue, query-e1000, set_link and an unknown command, then stops
 * the VM with quit and checks it exits with status 0.
 * Exits 77 (CTest's skip code) with the reason when /dev/kvm is unusable. */
#include "tests/common/runvm.h"
#include "tests/unit/unit.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *nicvm_bin, *ctl_bin, *guest_dir;

/* Runs nicvm-ctl with the given words after the socket path. */
static void ctl(const char *sock, const char *const *words, struct runvm_result *r)
{
    const char *argv[16] = {ctl_bin};
    int n = 1;
    if (words[0] && strcmp(words[0], "--json") == 0)
        argv[n++] = *words++;
    argv[n++] = sock;
    while (*words && n < 15)
        argv[n++] = *words++;
    argv[n] = NULL;
    ck_assert_int_eq(runvm(argv, 60, NULL, r), 0);
    ck_assert(!r->timed_out);
}

START_TEST(test_monitor_live_vm)
{
    char sock[64], mon[96], kernel[512];
    snprintf(sock, sizeof(sock), "/tmp/nicvm-mon-kvm-%d.sock", (int)getpid());
    snprintf(mon, sizeof(mon), "unix:%s,server,nowait", sock);
    snprintf(kernel, sizeof(kernel), "%s/spin.elf", guest_dir);
    const char *argv[] = {nicvm_bin,
                          "-kernel",
                          kernel,
                          "-netdev",
                          "user,id=u0",
                          "-device",
                          "virtio-net,netdev=u0",
                          "-netdev",
                          "user,id=u1",
                          "-device",
                          "e1000,netdev=u1",
                          "-monitor",
                          mon,
                          NULL};
    struct runvm_proc p;
    ck_assert_int_eq(runvm_start(argv, &p), 0);
    /* The socket exists once the VM is prepared; nicvm-ctl then waits for the greeting. */
    struct stat st;
    for (int i = 0; i < 600 && stat(sock, &st) < 0; i++) {
        ck_assert_int_eq(runvm_wait_marker(&p, "no such marker", 0), -ETIMEDOUT); /* alive */
        usleep(100000);
    }
    ck_assert_int_eq(stat(sock, &st), 0);

    struct runvm_result r;
    ctl(sock, (const char *[]){"query-stats", NULL}, &r);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "exit statistics (1 vCPU)"));
    ck_assert_ptr_nonnull(strstr(r.out, "exits by reason"));
    ck_assert_ptr_nonnull(strstr(r.out, "device region"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"--json", "query-stats", NULL}, &r);
    ck_assert_int_eq(r.status, 0);
    json_error_t jerr;
    json_t *root = json_loads(r.out, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON: %s", jerr.text);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "vcpus")), 1);
    ck_assert(json_is_array(json_object_get(root, "regions")));
    ck_assert_uint_eq(json_array_size(json_object_get(root, "netdevs")), 2); /* as --exit-stats */
    json_decref(root);
    runvm_free(&r);

    ctl(sock, (const char *[]){"query-network", NULL}, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "u0"));
    ck_assert_ptr_nonnull(strstr(r.out, "virtio-net0"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"query-virtqueue", NULL}, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "virtio-net0    rx"));
    ck_assert_ptr_nonnull(strstr(r.out, "virtio-net0    tx"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"query-e1000", NULL}, &r);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "icr: 0x"));
    ck_assert_ptr_nonnull(strstr(r.out, "ims: 0x"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"set_link", "name=e1000.0", "up=off", NULL}, &r);
    ck_assert_int_eq(r.status, 0);
    runvm_free(&r);
    ctl(sock, (const char *[]){"--json", "query-network", NULL}, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"link_up\": false"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"no-such-command", NULL}, &r);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "CommandNotFound"));
    runvm_free(&r);

    ctl(sock, (const char *[]){"quit", NULL}, &r);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    runvm_free(&r);
    ck_assert_int_eq(runvm_wait_marker(&p, "no such marker", 60), -ECHILD);
    ck_assert_int_eq(runvm_stop(&p, &r), 0);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "monitor: quit: stopping the VM"));
    ck_assert_int_eq(stat(sock, &st), -1); /* the socket is removed on exit */
    runvm_free(&r);
}
END_TEST

START_TEST(test_ctl_usage)
{
    const char *argv[] = {ctl_bin, NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 30, NULL, &r), 0);
    ck_assert_int_eq(r.status, 2);
    runvm_free(&r);
    const char *argv2[] = {ctl_bin, "/nonexistent/sock", "query-stats", NULL};
    ck_assert_int_eq(runvm(argv2, 30, NULL, &r), 0);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
    runvm_free(&r);
}
END_TEST

static Suite *monitor_kvm_suite(void)
{
    Suite *s = suite_create("monitor_kvm");
    TCase *tc = tcase_create("live");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_monitor_live_vm);
    tcase_add_test(tc, test_ctl_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s NICVM NICVM_CTL GUESTDIR\n", argv[0]);
        return 2;
    }
    nicvm_bin = argv[1];
    ctl_bin = argv[2];
    guest_dir = argv[3];
    return runvm_suite_main(monitor_kvm_suite, "kvm");
}
