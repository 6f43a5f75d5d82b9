/* Child-process runner for tests that drive the nicvm binary. Output goes to unlinked
 * temporary files (no pipe to fill up), polled for the marker. */
#define _GNU_SOURCE
#include "tests/common/runvm.h"

#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return strdup("");
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static bool file_contains(int fd, const char *marker)
{
    char *s = slurp(fd);
    bool found = strstr(s, marker) != NULL;
    free(s);
    return found;
}

static int runvm_common(const char *const *argv, int timeout_s, const char *marker,
                        const char *input, size_t input_len, struct runvm_result *r);

int runvm(const char *const *argv, int timeout_s, const char *marker, struct runvm_result *r)
{
    return runvm_common(argv, timeout_s, marker, NULL, 0, r);
}

int runvm_input(const char *const *argv, int timeout_s, const char *input, size_t len,
                struct runvm_result *r)
{
    return runvm_common(argv, timeout_s, NULL, input, len, r);
}

static int runvm_common(const char *const *argv, int timeout_s, const char *marker,
                        const char *input, size_t input_len, struct runvm_result *r)
{
    memset(r, 0, sizeof(*r));
    char tmpl[] = "/tmp/nicvm-test-XXXXXX";
    int out = mkstemp(tmpl);
    unlink(tmpl);
    char tmpl2[] = "/tmp/nicvm-test-XXXXXX";
    int err = mkstemp(tmpl2);
    unlink(tmpl2);
    if (out < 0 || err < 0)
        return -errno;
    int in[2] = {-1, -1};
    if (input && pipe(in) < 0)
        return -errno;
    double start = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(input ? in[0] : devnull, 0);
        if (input) {
            close(in[0]);
            close(in[1]);
        }
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (input) {
        close(in[0]);
        ssize_t w = write(in[1], input, input_len); /* small: fits the pipe buffer */
        (void)w;
        close(in[1]);
    }
    int wstatus = 0;
    bool signalled = false;
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        double t = now_s() - start;
        if (!signalled && marker && file_contains(out, marker)) {
            kill(pid, SIGTERM);
            signalled = true;
        } else if (t > timeout_s) {
            r->timed_out = true;
            kill(pid, SIGKILL);
        }
        usleep(marker ? 200000 : 20000);
    }
    r->seconds = now_s() - start;
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r->out = slurp(out);
    r->err = slurp(err);
    close(out);
    close(err);
    return 0;
}

int runvm_start(const char *const *argv, struct runvm_proc *p)
{
    char tmpl[] = "/tmp/nicvm-test-XXXXXX", tmpl2[] = "/tmp/nicvm-test-XXXXXX";
    p->out = mkstemp(tmpl);
    p->err = mkstemp(tmpl2);
    if (p->out < 0 || p->err < 0)
        return -errno;
    unlink(tmpl);
    unlink(tmpl2);
    p->start = now_s();
    p->exited = false;
    p->pid = fork();
    if (p->pid < 0)
        return -errno;
    if (p->pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(p->out, 1);
        dup2(p->err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return 0;
}

int runvm_wait_marker(struct runvm_proc *p, const char *marker, int timeout_s)
{
    for (;;) {
        if (file_contains(p->out, marker))
            return 0;
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->exited = true;
            p->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return -ECHILD;
        }
        if (now_s() - p->start > timeout_s)
            return -ETIMEDOUT;
        usleep(200000);
    }
}

int runvm_stop(struct runvm_proc *p, struct runvm_result *r)
{
    memset(r, 0, sizeof(*r));
    int st = 0;
    if (!p->exited) {
        kill(p->pid, SIGTERM);
        double t0 = now_s();
        while (waitpid(p->pid, &st, WNOHANG) != p->pid) {
            if (now_s() - t0 > 10) {
                kill(p->pid, SIGKILL);
                r->timed_out = true;
                waitpid(p->pid, &st, 0);
                break;
            }
            usleep(50000);
        }
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    } else {
        r->status = p->exit_status;
    }
    r->seconds = now_s() - p->start;
    r->out = slurp(p->out);
    r->err = slurp(p->err);
    close(p->out);
    close(p->err);
    return 0;
}

void runvm_free(struct runvm_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

int runvm_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

bool runvm_kvm_usable(char *why, size_t len)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "/dev/kvm cannot be opened (%s)", strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

int runvm_suite_main(Suite *(*suite)(void), const char *tier)
{
    char why[256];
    if (!runvm_kvm_usable(why, sizeof(why))) {
        printf("SKIP: %s: the %s tier needs KVM\n", why, tier);
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
