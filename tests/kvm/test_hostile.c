/* KVM tier, hostile guests: tiny guests built by the test build attack nicvm's real
 * virtio-mmio and e1000 models through real KVM exits with a sample of the malicious-guest
 * checklist (circular chains, indices out of range, rings outside RAM and inside the device's
 * own window, queue changes after DRIVER_OK, TDLEN 0 with TDH != TDT, loopback into the NIC's
 * own BAR). Each guest checks the safe outcome itself -- the device still answers and still
 * moves traffic, or reports DEVICE_NEEDS_RESET -- and exits through isa-debug-exit with a
 * code naming the failed step; here nicvm must have stayed up (no signal, no crash) and the
 * guest must have reached its end.
 *   test_hostile NICVM GUESTDIR     (exits 77 without a usable /dev/kvm) */
#include "tests/common/runvm.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *nicvm_bin;
static const char *guest_dir;

/* Runs guest NAME with NIC model `nic` on a restricted user backend; returns the status. */
static int run_hostile(const char *name, const char *nic, struct runvm_result *r)
{
    char path[512], dev[64];
    snprintf(path, sizeof(path), "%s/%s", guest_dir, name);
    snprintf(dev, sizeof(dev), "%s,netdev=n0", nic);
    const char *argv[] = {nicvm_bin,
                          "-kernel",
                          path,
                          "-m",
                          "64M",
                          "-device",
                          "isa-debug-exit",
                          "-netdev",
                          "user,id=n0,restrict=on",
                          "-device",
                          dev,
                          NULL};
    ck_assert_int_eq(runvm(argv, 120, NULL, r), 0);
    ck_assert_msg(!r->timed_out, "%s: the VM hung; stderr: %s", name, r->err);
    return r->status;
}

START_TEST(test_hostile_virtio)
{
    struct runvm_result r;
    int st = run_hostile("hostile_virtio.elf", "virtio-net", &r);
    /* (0x21 << 1) | 1; a failed step exits with (0x3X << 1) | 1 instead. */
    ck_assert_msg(st == 67, "status %d (step code %#x), stderr: %s", st, st >> 1, r.err);
    runvm_free(&r);
}
END_TEST

START_TEST(test_hostile_e1000)
{
    struct runvm_result r;
    int st = run_hostile("hostile_e1000.elf", "e1000", &r);
    ck_assert_msg(st == 69, "status %d (step code %#x), stderr: %s", st, st >> 1, r.err);
    runvm_free(&r);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("guests");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_hostile_virtio);
    tcase_add_test(tc, test_hostile_e1000);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_hostile NICVM GUESTDIR\n");
        return 2;
    }
    nicvm_bin = argv[1];
    guest_dir = argv[2];
    return runvm_suite_main(hostile_suite, "kvm");
}
