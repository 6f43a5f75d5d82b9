/* KVM tier: tiny guests built by the test build, run under /dev/kvm.
 *   test_kvm NICVM GUESTDIR
 * Each test starts the real nicvm binary (or, for the MMIO test device, the VM library in
 * this process) and checks exit statuses, console output and exit statistics exactly.
 * Exits 77 (CTest's skip code) with the reason when /dev/kvm is unusable. */
#include "tests/common/runvm.h"
#include "tests/unit/unit.h"
#include "vmm/board.h"
#include "vmm/cli.h"
#include "vmm/iobus.h"
#include "vmm/vm.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *nicvm_bin;
static const char *guest_dir;

static char *guest(const char *name)
{
    static char path[4][512];
    static int i;
    char *p = path[i++ % 4];
    snprintf(p, 512, "%s/%s", guest_dir, name);
    return p;
}

START_TEST(test_uart_pio_elf)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("uart_hello.elf"),
                          "-device", "isa-debug-exit", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_msg(r.status == 85, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "nicvm tiny guest: hello over PIO\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "nicvm tiny guest: rep outsb\n"));
    runvm_free(&r);
}
END_TEST

START_TEST(test_uart_pio_bzimage)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("uart_hello.bzImage"),
                          "-device", "isa-debug-exit", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_msg(r.status == 85, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "nicvm tiny guest: hello over PIO\n"));
    runvm_free(&r);
}
END_TEST

START_TEST(test_triple_fault)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("triple_fault.elf"),
                          "-device", "isa-debug-exit", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_msg(r.status == NICVM_EXIT_TRIPLE_FAULT, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "triple fault"));
    ck_assert_ptr_nonnull(strstr(r.err, "rip="));
    runvm_free(&r);
}
END_TEST

static json_int_t region_count(json_t *root, const char *name, const char *dir, const char *size)
{
    size_t i;
    json_t *reg;
    json_array_foreach(json_object_get(root, "regions"), i, reg)
    {
        if (strcmp(json_string_value(json_object_get(reg, "name")), name) == 0)
            return json_integer_value(json_object_get(json_object_get(reg, dir), size));
    }
    return -1;
}

START_TEST(test_exit_stats_json)
{
    char path[] = "/tmp/nicvm-stats-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char opt[64];
    snprintf(opt, sizeof(opt), "--exit-stats=json:%s", path);
    const char *argv[] = {nicvm_bin, "-kernel", guest("exits.elf"), "-device", "isa-debug-exit",
                          opt,       NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_msg(r.status == 0x43, "status %d (0xcd: unclaimed read not all ones), stderr: %s",
                  r.status, r.err);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    unlink(path);
    ck_assert_msg(root != NULL, "stats JSON does not parse: %s", jerr.text);
    json_t *exits = json_object_get(json_array_get(json_object_get(root, "vcpus"), 0), "exits");
    /* 10 post writes + 5 LSR reads + 4 unclaimed port writes + 1 debug exit */
    ck_assert_int_eq(json_integer_value(json_object_get(exits, "IO")), 20);
    /* 3 unclaimed writes + 2 unclaimed reads */
    ck_assert_int_eq(json_integer_value(json_object_get(exits, "MMIO")), 5);
    ck_assert_int_eq(region_count(root, "post", "writes", "1"), 10);
    ck_assert_int_eq(region_count(root, "com1", "reads", "1"), 5);
    ck_assert_int_eq(region_count(root, "com1", "writes", "1"), 0);
    ck_assert_int_eq(region_count(root, "isa-debug-exit0", "writes", "1"), 1);
    json_t *un = json_object_get(root, "unclaimed");
    ck_assert_int_eq(json_integer_value(json_object_get(un, "mmio_write")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(un, "mmio_read")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(un, "port_write")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(un, "port_read")), 0);
    json_decref(root);
    runvm_free(&r);
}
END_TEST

START_TEST(test_exit_stats_text)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("exits.elf"),
                          "-device", "isa-debug-exit", "--exit-stats",
                          NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0x43);
    ck_assert_ptr_nonnull(strstr(r.err, "nicvm exit statistics (1 vCPU)"));
    ck_assert_ptr_nonnull(strstr(r.err, "exit reason"));
    ck_assert_ptr_nonnull(strstr(r.err, "post             port 0x80-0x80"));
    ck_assert_ptr_nonnull(strstr(r.err, "(unclaimed)      mmio"));
    runvm_free(&r);
}
END_TEST

/* The MMIO test device: records every access; answers fixed values to two reads. */
struct access {
    uint64_t off;
    unsigned len;
    bool write;
    uint64_t val;
};

struct testdev {
    int n;
    struct access acc[16];
};

static void testdev_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
    struct testdev *t = opaque;
    uint64_t v = 0;
    if (is_write)
        v = iobus_get_le(data, len);
    else
        iobus_put_le(data, len, v = (off == 0x100 ? 0xcafef00d : 0x5a));
    if (t->n < 16)
        t->acc[t->n] = (struct access){off, len, is_write, v};
    t->n++;
}

START_TEST(test_mmio_device)
{
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    char *argv[] = {"nicvm", "-kernel", guest("mmio.elf"), "-device", "isa-debug-exit", "-q", NULL};
    struct nicvm_config cfg;
    char err[512] = "";
    ck_assert_int_eq(cli_parse(6, argv, &cfg, err, sizeof(err)), 0);
    static struct vm vm;
    ck_assert_msg(vm_prepare(&vm, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(vm_create(&vm, err, sizeof(err)) == 0, "%s", err);
    static struct testdev td;
    ck_assert_int_ge(
        iobus_register(vm.bus, IOBUS_MMIO, 0xd8000000, 0x1000, "testdev", testdev_io, &td), 0);
    ck_assert_int_eq(vm_run(&vm), 35);
    vm_destroy(&vm);
    cli_free(&cfg);
    static const struct access want[] = {
        {0x10, 1, true, 0x11},
        {0x20, 2, true, 0x2222},
        {0x40, 4, true, 0x33333333},
        {0x80, 8, true, 0x4444444444444444ull},
        {0x100, 4, false, 0xcafef00d},
        {0x104, 4, true, 0xcafef00d}, /* the guest saw the value the device returned */
        {0xfff, 1, false, 0x5a},
        {0x200, 1, true, 0x5a},
    };
    ck_assert_int_eq(td.n, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(td.acc[i].off, want[i].off);
        ck_assert_uint_eq(td.acc[i].len, want[i].len);
        ck_assert_int_eq(td.acc[i].write, want[i].write);
        ck_assert_uint_eq(td.acc[i].val, want[i].val);
    }
}
END_TEST

START_TEST(test_stdin_reaches_guest)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("echo.elf"),
                          "-device", "isa-debug-exit", NULL};
    static const char line[] = "typed on the host\n";
    struct runvm_result r;
    ck_assert_int_eq(runvm_input(argv, 120, line, sizeof(line) - 1, &r), 0);
    ck_assert_msg(r.status == 69, "status %d, stderr: %s", r.status, r.err);
    ck_assert_str_eq(r.out, line); /* every byte went through the UART's FIFO and back */
    runvm_free(&r);
}
END_TEST

START_TEST(test_ctrl_a_x_quits)
{
    const char *argv[] = {nicvm_bin, "-kernel", guest("spin.elf"), NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm_input(argv, 120, "\x01x", 2, &r), 0);
    ck_assert(!r.timed_out);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "Ctrl-A x: stopping the VM"));
    runvm_free(&r);
}
END_TEST

START_TEST(test_i8042_reset_stops)
{
    const char *argv[] = {nicvm_bin, "-kernel",        guest("reset.elf"),
                          "-device", "isa-debug-exit", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "guest reset through the i8042"));
    runvm_free(&r);
}
END_TEST

START_TEST(test_debug_io_logs_unclaimed)
{
    const char *argv[] = {nicvm_bin,    "-kernel", guest("exits.elf"), "-device", "isa-debug-exit",
                          "--debug-io", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0x43);
    ck_assert_ptr_nonnull(strstr(r.err, "unclaimed mmio write 0xd9000000 len 4 value 0x1"));
    ck_assert_ptr_nonnull(strstr(r.err, "unclaimed mmio read 0xd9000002 len 2"));
    ck_assert_ptr_nonnull(strstr(r.err, "unclaimed port write 0x510 len 2"));
    /* Claimed accesses are not logged. */
    ck_assert_ptr_null(strstr(r.err, "0x3fd"));
    runvm_free(&r);
}
END_TEST

START_TEST(test_emulation_failure_or_success)
{
    /* cmpxchg16b: hardware KVM runs it; PVM's emulator cannot, and nicvm must stop with
     * status 4 after showing the instruction. The two hosts give two right answers. */
    const char *argv[] = {nicvm_bin, "-kernel",        guest("cx16.elf"),
                          "-device", "isa-debug-exit", NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    if (access("/sys/module/kvm_pvm", F_OK) == 0) {
        ck_assert_msg(r.status == NICVM_EXIT_VCPU, "status %d, stderr: %s", r.status, r.err);
        ck_assert_ptr_nonnull(strstr(r.err, "KVM_EXIT_INTERNAL_ERROR"));
        ck_assert_ptr_nonnull(strstr(r.err, "suberror 1: emulation failure"));
        ck_assert_ptr_nonnull(strstr(r.err, "cmpxchg16b"));
        ck_assert_ptr_nonnull(strstr(r.err, "rip="));
    } else {
        ck_assert_msg(r.status == 103, "status %d, stderr: %s", r.status, r.err);
    }
    runvm_free(&r);
}
END_TEST

/* Loads a trace and checks it is trace-event JSON: an object with a traceEvents array whose
 * events have a name, a known phase, a pid, and (except metadata) a timestamp. */
static json_t *load_trace(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "trace is not JSON: %s (line %d)", jerr.text, jerr.line);
    json_t *evs = json_object_get(root, "traceEvents");
    ck_assert(json_is_array(evs));
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        ck_assert_ptr_nonnull(ph);
        ck_assert_ptr_nonnull(strchr("XiMstf", ph[0]));
        ck_assert(json_is_string(json_object_get(e, "name")));
        ck_assert(json_is_integer(json_object_get(e, "pid")));
        if (ph[0] != 'M')
            ck_assert(json_is_number(json_object_get(e, "ts")));
    }
    return root;
}

static int count_exit_events(json_t *root, const char *name, const char *key, const char *val)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(root, "traceEvents"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "ph")), "X") != 0 ||
            strcmp(json_string_value(json_object_get(e, "cat")), "exit") != 0)
            continue;
        if (name && strcmp(json_string_value(json_object_get(e, "name")), name) != 0)
            continue;
        const char *v =
            key ? json_string_value(json_object_get(json_object_get(e, "args"), key)) : NULL;
        if (key && (!v || strcmp(v, val) != 0))
            continue;
        n++;
    }
    return n;
}

START_TEST(test_trace_of_known_exits)
{
    char path[] = "/tmp/nicvm-trace-XXXXXX";
    close(mkstemp(path));
    const char *argv[] = {
        nicvm_bin, "-kernel", guest("exits.elf"), "-device", "isa-debug-exit", "--trace",
        path,      NULL};
    struct runvm_result r;
    ck_assert_int_eq(runvm(argv, 120, NULL, &r), 0);
    ck_assert_int_eq(r.status, 0x43);
    json_t *root = load_trace(path);
    /* Exactly the exits the guest made, each once, with its port or address and data. */
    ck_assert_int_eq(count_exit_events(root, NULL, NULL, NULL), 25);
    ck_assert_int_eq(count_exit_events(root, "IO write post", "port", "0x80"), 10);
    ck_assert_int_eq(count_exit_events(root, "IO read com1", "port", "0x3fd"), 5);
    ck_assert_int_eq(count_exit_events(root, "IO write (unclaimed)", "port", "0x510"), 4);
    ck_assert_int_eq(count_exit_events(root, "IO write isa-debug-exit0", "data", "0x21"), 1);
    ck_assert_int_eq(count_exit_events(root, "MMIO write (unclaimed)", "addr", "0xd9000000"), 1);
    ck_assert_int_eq(count_exit_events(root, "MMIO write (unclaimed)", "data", "0x3"), 1);
    ck_assert_int_eq(count_exit_events(root, "MMIO read (unclaimed)", "data", "0xffff"), 2);
    /* The guest's rip is there: the LSR reads all stop at the `in` at 0x100015 (a read
     * completes after nicvm supplies the data, so rip has not moved yet). */
    ck_assert_int_eq(count_exit_events(root, "IO read com1", "rip", "0x100015"), 5);
    json_decref(root);
    runvm_free(&r);
    /* A filter keeps only what it names. */
    const char *argv2[] = {
        nicvm_bin, "-kernel", guest("exits.elf"), "-device",     "isa-debug-exit",
        "--trace", path,      "--trace-filter",   "reason=mmio", NULL};
    ck_assert_int_eq(runvm(argv2, 120, NULL, &r), 0);
    root = load_trace(path);
    ck_assert_int_eq(count_exit_events(root, NULL, NULL, NULL), 5);
    json_decref(root);
    runvm_free(&r);
    const char *argv3[] = {
        nicvm_bin, "-kernel", guest("exits.elf"), "-device",        "isa-debug-exit",
        "--trace", path,      "--trace-filter",   "port=0x80-0x80", NULL};
    ck_assert_int_eq(runvm(argv3, 120, NULL, &r), 0);
    root = load_trace(path);
    ck_assert_int_eq(count_exit_events(root, NULL, NULL, NULL), 15); /* 10 post + 5 MMIO */
    json_decref(root);
    runvm_free(&r);
    unlink(path);
}
END_TEST

static Suite *kvm_suite(void)
{
    Suite *s = suite_create("kvm");
    TCase *tc = tcase_create("tiny-guests");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_uart_pio_elf);
    tcase_add_test(tc, test_uart_pio_bzimage);
    tcase_add_test(tc, test_triple_fault);
    tcase_add_test(tc, test_exit_stats_json);
    tcase_add_test(tc, test_exit_stats_text);
    tcase_add_test(tc, test_mmio_device);
    tcase_add_test(tc, test_stdin_reaches_guest);
    tcase_add_test(tc, test_ctrl_a_x_quits);
    tcase_add_test(tc, test_i8042_reset_stops);
    tcase_add_test(tc, test_debug_io_logs_unclaimed);
    tcase_add_test(tc, test_emulation_failure_or_success);
    tcase_add_test(tc, test_trace_of_known_exits);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_kvm NICVM GUESTDIR\n");
        return 2;
    }
    nicvm_bin = argv[1];
    guest_dir = argv[2];
    return runvm_suite_main(kvm_suite, "kvm");
}
