/* Guest tier: the guest-images kernel booted by nicvm on this machine.
 *   test_guest NICVM IMAGEDIR
 * Skips (77) when /dev/kvm or the image is missing. On PVM hosts guest user space cannot
 * run (see the project notes), so these tests use the syscall-free "spin" initramfs and
 * check what the kernel does alone. */
#include "tests/common/runvm.h"
#include "tests/unit/unit.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BOOT_TIMEOUT 420

static const char *nicvm_bin;
static char vmlinux[512], spin_initrd[512];

START_TEST(test_boot_to_init)
{
    const char *argv[] = {nicvm_bin, "-kernel", vmlinux, "-initrd", spin_initrd, "-m", "256M",
                          NULL};
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
    const char *argv[] = {nicvm_bin, "-kernel", vmlinux, "-initrd", spin_initrd, "-m", "256M",
                          "-smp", "2", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, BOOT_TIMEOUT, "Run /init as init process", &r), 0);
    ck_assert_msg(!r.timed_out, "no \"Run /init\" within %d s; console:\n%s", BOOT_TIMEOUT, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "smp: Brought up 1 node, 2 CPUs"));
    runvm_free(&r);
}
END_TEST

static Suite *guest_suite(void)
{
    Suite *s = suite_create("guest");
    TCase *tc = tcase_create("boot");
    tcase_set_timeout(tc, BOOT_TIMEOUT + 60);
    tcase_add_test(tc, test_boot_to_init);
    tcase_add_test(tc, test_boot_smp);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_guest NICVM IMAGEDIR\n");
        return 2;
    }
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
    SRunner *sr = srunner_create(guest_suite());
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
