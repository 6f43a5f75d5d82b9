/* Tests for the tap backend (net/tap.c) against the real Linux kernel, inside a network
 * namespace made for the run (nicvm-test-PID, deleted at exit): ARP and ping answered by the
 * kernel; UDP with NEEDS_CSUM and a 32 KiB TCP GSO frame delivered to kernel sockets with
 * vnet_hdr on (the kernel does the offload) and off (nicvm does it); receive offloads
 * (TUNSETOFFLOAD) turning the kernel's bulk TCP into GSO frames and back; a UDP flood while
 * the NIC has no buffers holds one frame and leaves the loop idle; and the interface deleted
 * under traffic or while reading is paused takes the link down without a busy loop. The
 * tests are in tap_tx.c, tap_rx.c and tap_link.c over the shared tap_fixture; this file makes
 * the namespace, enters it and builds the suite.
 *
 * Needs root and `ip netns`; otherwise prints "SKIP: reason" and exits 77. */
#define _GNU_SOURCE /* setns() and CLONE_NEWNET (<sched.h>): entering the test's namespace */

#include "tests/unit/tap_fixture.h"
#include "tests/unit/unit.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NS_PREFIX "nicvm-test-"

/* --- the namespace ---------------------------------------------------------------------------- */

static char ns_name[64];
static pid_t main_pid;

static void ns_delete(void)
{
    char cmd[128];
    if (getpid() != main_pid || !ns_name[0]) /* Check's forked test processes: not theirs */
        return;
    snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_name);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tap: could not delete namespace %s\n", ns_name);
    ns_name[0] = '\0';
}

static void on_signal(int sig)
{
    ns_delete();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Deletes namespaces left by earlier runs that were killed (their PID is gone). */
static void ns_reap_stale(void)
{
    DIR *d = opendir("/run/netns");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, NS_PREFIX, strlen(NS_PREFIX)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(NS_PREFIX), NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char cmd[300];
            snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", e->d_name);
            if (system(cmd) != 0)
                fprintf(stderr, "test_tap: could not delete stale namespace %s\n", e->d_name);
        }
    }
    if (d)
        closedir(d);
}

static void write_sysctl(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(value, f);
        fclose(f);
    }
}

static Suite *tap_suite(void)
{
    Suite *s = suite_create("tap");
    TCase *tc = tcase_create("netns");
    tcase_set_timeout(tc, 30);
    tap_tx_tests(tc);
    tap_rx_tests(tc);
    tap_link_tests(tc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (network namespaces and tap devices)\n");
        return 77;
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/net/tun: %s\n", strerror(errno));
        return 77;
    }
    main_pid = getpid();
    ns_reap_stale();
    snprintf(ns_name, sizeof(ns_name), NS_PREFIX "%d", (int)main_pid);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_name);
    if (system(cmd) != 0) {
        ns_name[0] = '\0';
        printf("SKIP: '%s' failed\n", cmd);
        return 77;
    }
    atexit(ns_delete);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", ns_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        printf("SKIP: cannot enter %s: %s\n", path, strerror(errno));
        return 77;
    }
    close(fd);
    /* No IPv6 chatter (router solicitations, MLD) on the tap. */
    write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");

    SRunner *sr = srunner_create(tap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
