/* Command-line errors, through the real binary (no KVM needed: every check here happens
 * before KVM is opened): each bad input gets exactly one line on stderr that names the
 * problem, and exit status 2.
 *   test_cli NICVM GUESTDIR */
#include "tests/common/runvm.h"
#include "tests/unit/unit.h"
#include "vmm/cli.h"
#include "vmm/opts.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *nicvm_bin;
static const char *guest_dir;
static char tiny[512];

static void expect_usage_error(const char *const *args, const char *needle)
{
    const char *argv[48] = {nicvm_bin};
    int n = 1;
    for (; args[n - 1]; n++) {
        ck_assert_int_lt(n, 47);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 30, NULL, &r), 0);
    ck_assert_msg(r.status == 2, "status %d for %s: %s", r.status, needle, r.err);
    ck_assert_msg(runvm_count_lines(r.err) == 1, "want one line, got: %s", r.err);
    ck_assert_msg(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    ck_assert_str_eq(r.out, "");
    runvm_free(&r);
}

START_TEST(test_bad_options)
{
    expect_usage_error((const char *[]){"-bogus", NULL}, "unknown option '-bogus'");
    expect_usage_error((const char *[]){"--kernel", NULL}, "'-kernel' needs a value");
    expect_usage_error((const char *[]){NULL}, "no kernel given");
    expect_usage_error((const char *[]){"-kernel", tiny, "-m", "12Q", NULL}, "-m 12Q");
    expect_usage_error((const char *[]){"-kernel", tiny, "-smp", "0", NULL}, "-smp 0");
    expect_usage_error((const char *[]){"-kernel", tiny, "--debug-io=yes", NULL}, "takes no value");
    expect_usage_error((const char *[]){"-kernel", tiny, "-device", "nosuch", NULL},
                       "unknown device model 'nosuch'");
    expect_usage_error(
        (const char *[]){"-kernel", tiny, "-device", "isa-debug-exit,iobase=0x3f8", NULL},
        "isa-debug-exit: ports 0x3f8+1 are taken");
    expect_usage_error(
        (const char *[]){"-kernel", tiny, "-device", "isa-debug-exit,color=red", NULL},
        "unknown option 'color'");
    expect_usage_error((const char *[]){"-kernel", tiny, "--exit-stats=xml", NULL},
                       "--exit-stats=xml");
}
END_TEST

/* NIC options: each mistake named, before anything is opened. */
START_TEST(test_bad_nic_options)
{
    expect_usage_error((const char *[]){"-kernel", tiny, "-device", "e1000", NULL},
                       "-device e1000: netdev= is required");
    expect_usage_error((const char *[]){"-kernel", tiny, "-device", "e1000,netdev=x", NULL},
                       "netdev=x: no -netdev with that id");
    expect_usage_error((const char *[]){"-kernel", tiny, "-netdev", "user,id=n0", "-device",
                                        "e1000,netdev=n0,mac=01:00:00:00:00:01", NULL},
                       "mac=01:00:00:00:00:01: expected a unicast address");
    expect_usage_error((const char *[]){"-kernel", tiny, "-netdev", "user,id=n0", "-device",
                                        "e1000,netdev=n0", "-device", "virtio-net,netdev=n0", NULL},
                       "netdev=n0 is already used by e1000.0");
    expect_usage_error((const char *[]){"-kernel", tiny, "-netdev", "user,id=n0", "-device",
                                        "e1000,netdev=n0,speed=10", NULL},
                       "e1000: unknown option 'speed'");
    expect_usage_error((const char *[]){"-kernel", tiny, "--virtio-discovery", "dtb", "-netdev",
                                        "user,id=n0", "-device", "e1000,netdev=n0", NULL},
                       "use --virtio-discovery cmdline (the default) with e1000");
}
END_TEST

/* -nic TYPE,...: QEMU's shorthand becomes one -netdev and one -device, the NIC's keys (model,
 * mac) on the device and every other key, in order, on the backend. */
START_TEST(test_nic_shorthand)
{
    char *argv[] = {"nicvm",
                    "-kernel",
                    "k",
                    "-nic",
                    "user,model=e1000,mac=52:54:00:00:00:09,hostfwd=tcp::2222-:22,"
                    "hostfwd=udp::5353-:53,tftp=/a,,b",
                    "--nic=tap,ifname=t0,id=n7",
                    "-nic",
                    "none",
                    NULL};
    struct nicvm_config c;
    char err[256] = "";
    ck_assert_msg(
        cli_parse((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, &c, err, sizeof(err)) == 0, "%s",
        err);
    ck_assert_uint_eq(c.nr_netdev, 2);
    ck_assert_uint_eq(c.nr_device, 2);
    struct opts *nd = c.netdev[0], *dev = c.device[0];
    ck_assert_str_eq(opts_origin(nd, "-netdev"), "-nic");
    ck_assert_str_eq(opts_get(nd, "type"), "user");
    ck_assert_str_eq(opts_get(nd, "id"), "__nic0");
    const char *fw[3];
    ck_assert_uint_eq(opts_get_all(nd, "hostfwd", fw, 3), 2);
    ck_assert_str_eq(fw[0], "tcp::2222-:22");
    ck_assert_str_eq(fw[1], "udp::5353-:53");
    ck_assert_str_eq(opts_get(nd, "tftp"), "/a,b");
    ck_assert_ptr_null(opts_get(nd, "model"));
    ck_assert_ptr_null(opts_get(nd, "mac"));
    ck_assert_int_eq(opts_check_unused(nd, "user", err, sizeof(err)), 0);
    ck_assert_str_eq(opts_get(dev, "driver"), "e1000");
    ck_assert_str_eq(opts_get(dev, "netdev"), "__nic0");
    ck_assert_str_eq(opts_get(dev, "mac"), "52:54:00:00:00:09");
    ck_assert_int_eq(opts_check_unused(dev, "e1000", err, sizeof(err)), 0);
    /* The second: its own id, the default model, no mac. */
    ck_assert_str_eq(opts_get(c.netdev[1], "id"), "n7");
    ck_assert_str_eq(opts_get(c.netdev[1], "ifname"), "t0");
    ck_assert_str_eq(opts_get(c.device[1], "driver"), CLI_NIC_DEFAULT_MODEL);
    ck_assert_str_eq(opts_get(c.device[1], "netdev"), "n7");
    ck_assert_ptr_null(opts_get(c.device[1], "mac"));
    ck_assert_str_eq(c.device[1]->text, "tap,ifname=t0,id=n7");
    cli_free(&c);
}
END_TEST

/* A -nic mistake is named as the -nic the user wrote, whichever half finds it. */
START_TEST(test_bad_nic_shorthand)
{
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "model=e1000", NULL},
                       "-nic model=e1000: name the backend first");
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "user,model=nosuch", NULL},
                       "-nic user,model=nosuch: unknown device model 'nosuch'");
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "user,colour=red", NULL},
                       "-nic user,colour=red: user: unknown option 'colour'");
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "slip", NULL},
                       "-nic slip: unknown type 'slip'");
    expect_usage_error(
        (const char *[]){"-kernel", tiny, "-nic", "user,mac=01:00:00:00:00:01", NULL},
        "-nic user,mac=01:00:00:00:00:01: mac=01:00:00:00:00:01: expected a unicast");
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "stream,addr.type=unix", NULL},
                       "-nic stream,addr.type=unix: addr.type=unix needs addr.path=PATH");
    expect_usage_error(
        (const char *[]){"-kernel", tiny, "-netdev", "dgram,id=d,local.type=unix,local.path=/x",
                         "-device", "virtio-net,netdev=d", NULL},
        "-netdev dgram,id=d,local.type=unix,local.path=/x: local.type= and remote.type=");
    expect_usage_error((const char *[]){"-kernel", tiny, "-nic", "none,x", NULL},
                       "-nic none,x: 'none' takes no options");
    expect_usage_error(
        (const char *[]){"-kernel", tiny, "-nic", "user,id=a", "-nic", "user,id=a", NULL},
        "-nic user,id=a: id 'a' is used twice");
    const char *many[2 * (CLI_MAX_LISTS + 1) + 3] = {"-kernel", tiny}; /* NULL-terminated */
    for (int i = 0; i <= CLI_MAX_LISTS; i++)
        many[2 + 2 * i] = "-nic", many[3 + 2 * i] = "user";
    expect_usage_error(many, "at most 16 backends");
}
END_TEST

/* -device help lists every model a user may name, with no kernel needed. */
START_TEST(test_device_help)
{
    const char *argv[] = {nicvm_bin, "-device", "help", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 30, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "  e1000 "));
    ck_assert_ptr_nonnull(strstr(r.out, "  virtio-net "));
    ck_assert_ptr_null(strstr(r.out, "pci-host"));
    runvm_free(&r);
    const char *nic_help[] = {nicvm_bin, "-nic", "user,model=help", NULL};
    ck_assert_int_eq(runvm(nic_help, 30, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "  e1000 "));
    runvm_free(&r);
}
END_TEST

START_TEST(test_bad_files)
{
    expect_usage_error((const char *[]){"-kernel", "/nonexistent/vmlinux", NULL},
                       "cannot open kernel '/nonexistent/vmlinux'");
    expect_usage_error((const char *[]){"-kernel", "/etc/hostname", NULL},
                       "not a Linux bzImage or an x86-64 ELF kernel");
    expect_usage_error((const char *[]){"-kernel", "/bin/true", NULL}, "not an executable");
    expect_usage_error((const char *[]){"-kernel", tiny, "-initrd", "/nonexistent", NULL},
                       "cannot open initrd '/nonexistent'");
    expect_usage_error((const char *[]){"-kernel", "/tmp", NULL}, "not a regular");
}
END_TEST

START_TEST(test_memory_too_small)
{
    /* A 20 MiB initrd cannot fit in 16 MiB of RAM beside the kernel at 1 MiB. */
    char path[] = "/tmp/nicvm-initrd-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_eq(ftruncate(fd, 20 << 20), 0);
    close(fd);
    expect_usage_error((const char *[]){"-kernel", tiny, "-initrd", path, "-m", "16M", NULL},
                       "guest memory too small for kernel plus initrd");
    unlink(path);
    char longline[3000];
    memset(longline, 'a', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    expect_usage_error((const char *[]){"-kernel", tiny, "-append", longline, NULL},
                       "kernel command line is too long");
}
END_TEST

START_TEST(test_help_and_version)
{
    const char *argv[] = {nicvm_bin, "--help", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 10, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Exit status:"));
    runvm_free(&r);
    const char *argv2[] = {nicvm_bin, "-version", NULL};
    ck_assert_int_eq(runvm(argv2, 10, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(strncmp(r.out, "nicvm ", 6), 0);
    runvm_free(&r);
}
END_TEST

START_TEST(test_opts_parser)
{
    char err[256];
    struct opts *o = opts_parse("user,id=n0,hostfwd=tcp::2222-:22,hostfwd=udp::53-:53,"
                                "tftp=/a,,b,ipv6",
                                "type", err, sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(opts_get(o, "type"), "user");
    ck_assert_str_eq(opts_get(o, "id"), "n0");
    ck_assert_str_eq(opts_get(o, "tftp"), "/a,b");
    const char *fw[4];
    ck_assert_uint_eq(opts_get_all(o, "hostfwd", fw, 4), 2);
    ck_assert_str_eq(fw[1], "udp::53-:53");
    bool v6;
    ck_assert_int_eq(opts_get_bool(o, "ipv6", false, &v6, err, sizeof(err)), 0);
    ck_assert(v6);
    ck_assert_int_eq(opts_check_unused(o, "user", err, sizeof(err)), 0);
    opts_free(o);
    o = opts_parse("tap,vnet_hdr=maybe,queues=99999999999999999999", "type", err, sizeof(err));
    ck_assert_int_eq(opts_get_bool(o, "vnet_hdr", true, &v6, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "vnet_hdr=maybe"));
    uint64_t q;
    ck_assert_int_eq(opts_get_u64(o, "queues", 1, 1, 8, &q, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(opts_check_unused(o, "tap", err, sizeof(err)), -EINVAL); /* "type" */
    ck_assert_str_eq(opts_get(o, "type"), "tap");
    ck_assert_int_eq(opts_check_unused(o, "tap", err, sizeof(err)), 0);
    opts_free(o);
    o = opts_parse("e1000,mac=52:54:00:12:34:56,x", "driver", err, sizeof(err));
    ck_assert_str_eq(opts_get(o, "driver"), "e1000");
    uint8_t mac[6];
    ck_assert_int_eq(parse_mac(opts_get(o, "mac"), mac), 0);
    ck_assert_uint_eq(mac[5], 0x56);
    ck_assert_int_eq(opts_check_unused(o, "e1000", err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "unknown option 'x'"));
    opts_free(o);
    ck_assert_int_eq(parse_mac("52:54:00:12:34", mac), -EINVAL);
    ck_assert_int_eq(parse_mac("52:54:00:12:34:56:78", mac), -EINVAL);
    ck_assert_ptr_null(opts_parse("a,=b", "type", err, sizeof(err)));
    uint64_t size;
    ck_assert_int_eq(parse_size("512", true, &size), 0);
    ck_assert_uint_eq(size, 512ull << 20);
    ck_assert_int_eq(parse_size("2G", true, &size), 0);
    ck_assert_uint_eq(size, 2ull << 30);
    ck_assert_int_eq(parse_size("64KiB", true, &size), 0);
    ck_assert_uint_eq(size, 64ull << 10);
    ck_assert_int_eq(parse_size("1Gx", true, &size), -EINVAL);
    ck_assert_int_eq(parse_size("99999999999T", true, &size), -EINVAL);
    ck_assert_int_eq(parse_size("-1", true, &size), -EINVAL);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_bad_nic_options);
    tcase_add_test(tc, test_device_help);
    tcase_add_test(tc, test_nic_shorthand);
    tcase_add_test(tc, test_bad_nic_shorthand);
    tcase_add_test(tc, test_memory_too_small);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_opts_parser);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_cli NICVM GUESTDIR\n");
        return 2;
    }
    nicvm_bin = argv[1];
    guest_dir = argv[2];
    snprintf(tiny, sizeof(tiny), "%s/uart_hello.elf", guest_dir);
    SRunner *sr = srunner_create(cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
