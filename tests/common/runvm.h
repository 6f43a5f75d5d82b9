/* Test helper: runs the nicvm binary as a child with stdin from /dev/null, captures stdout
 * and stderr, and kills it after a timeout. Used by the cli, kvm and guest tiers. */
#ifndef NICVM_TESTS_RUNVM_H
#define NICVM_TESTS_RUNVM_H

#include <stdbool.h>
#include <stddef.h>

struct runvm_result {
    int status; /* exit status, or 128 + signal */
    bool timed_out;
    char *out;      /* captured stdout, NUL-terminated (caller frees) */
    char *err;      /* captured stderr */
    double seconds; /* wall time */
};

struct Suite;

/* runvm_suite_main: the body of a kvm or guest tier binary's main(): skips (returns 77, with
 * the reason and `tier`) when KVM is unusable, else runs `suite` and returns 0 when every
 * test passed, 1 otherwise. */
int runvm_suite_main(struct Suite *(*suite)(void), const char *tier);

/* runvm: runs argv[0] with argv (NULL-terminated). If `marker` is not NULL, the child gets
 * SIGTERM as soon as stdout contains it (the marker counts as success). Kills the child
 * after timeout_s. Returns 0 or -errno (could not start). */
int runvm(const char *const *argv, int timeout_s, const char *marker, struct runvm_result *r);

/* A VM started in the background, for tests that act while it runs (ping it, then stop). */
struct runvm_proc {
    int pid;
    int out, err; /* capture files */
    double start;
    bool exited; /* reaped by runvm_wait_marker */
    int exit_status;
};

/* runvm_start: starts argv in the background. Returns 0 or -errno. */
int runvm_start(const char *const *argv, struct runvm_proc *p);

/* runvm_wait_marker: waits up to timeout_s for marker in stdout. Returns 0 when seen,
 * -ETIMEDOUT, or -ECHILD if the process exited first. */
int runvm_wait_marker(struct runvm_proc *p, const char *marker, int timeout_s);

/* runvm_stop: SIGTERM (then SIGKILL after 10 s), reaps, fills r. Returns 0 or -errno. */
int runvm_stop(struct runvm_proc *p, struct runvm_result *r);

/* runvm_input: like runvm, with `input` (len bytes) on the child's stdin, then EOF. */
int runvm_input(const char *const *argv, int timeout_s, const char *input, size_t len,
                struct runvm_result *r);

/* runvm_free: frees the captured output. */
void runvm_free(struct runvm_result *r);

/* runvm_count_lines: number of '\n'-terminated lines in s. */
int runvm_count_lines(const char *s);

/* runvm_kvm_usable: true if /dev/kvm can be opened read-write; otherwise fills why. */
bool runvm_kvm_usable(char *why, size_t len);

#endif
