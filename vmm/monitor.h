/* The control socket (-monitor unix:PATH): newline-delimited JSON in both directions, with
 * QMP's framing and command names where QEMU has one. A client gets a greeting line
 * ({"QMP": {...}}), then sends {"execute": NAME, "arguments": {...}, "id": ANY} lines and gets
 * {"return": ..., "id": ...} or {"error": {"class": ..., "desc": ...}, "id": ...} lines back,
 * in order. qmp_capabilities is accepted (and not required).
 *
 * Everything runs on the event-loop thread, which also owns the backends (libslirp must be
 * called there). No client can hurt the VM or the loop: sockets are non-blocking, a line
 * is at most MONITOR_MAX_LINE bytes (longer: error reply and disconnect), a client whose
 * replies pile up unread stops being read (so its queued output stays bounded), and a
 * client that vanishes mid-reply (EPIPE, ECONNRESET) is dropped. The monitor reaches the
 * VM only through struct monitor_env, which tests fill without a VM. */
#ifndef NICVM_MONITOR_H
#define NICVM_MONITOR_H

#include "vmm/evloop.h"
#include "vmm/machine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MONITOR_MAX_CLIENTS 8
#define MONITOR_MAX_LINE    (64 * 1024)       /* longest request line */
#define MONITOR_OUT_HIGH    (64 * 1024)       /* stop reading a client above this much output */
#define MONITOR_OUT_MAX     (8 * 1024 * 1024) /* largest single reply */
#define MONITOR_MAX_DUMPS   16

struct netdev;
struct netdump;
struct monitor;

/* What the VM provides. Called on the loop thread. */
struct monitor_ops {
    /* query_stats: the exit statistics as --exit-stats=json writes them (new reference), or
     * NULL when there are none. */
    json_t *(*query_stats)(void *opaque);
    /* quit: stops the VM cleanly (as Ctrl-A x). */
    void (*quit)(void *opaque);
};

struct monitor_env {
    struct evloop *loop;
    struct netdev *const *netdevs; /* the -netdev backends */
    unsigned nr_netdevs;
    struct machine *machine; /* devices (NICs report through board_device_info); may be NULL */
    const struct monitor_ops *ops;
    void *opaque;
    /* The -object filter-dump captures: dump-stop may close one and set its entry to NULL
     * (the owner closes what is left). May be NULL. */
    struct netdump **dumps;
    unsigned nr_dumps;
};

/* Counters, for tests and the log. */
struct monitor_counters {
    unsigned clients;      /* connected now */
    uint64_t accepted;     /* clients ever connected */
    uint64_t dropped;      /* clients disconnected by an I/O error (EPIPE, ECONNRESET) */
    uint64_t refused;      /* connections refused: MONITOR_MAX_CLIENTS reached */
    uint64_t requests;     /* lines handled */
    uint64_t errors;       /* error replies */
    uint64_t too_long;     /* clients disconnected for a line over MONITOR_MAX_LINE */
    size_t out_high_water; /* most output ever queued for one client, in bytes */
};

/* monitor_parse_spec: "unix:PATH[,server][,nowait]" (QEMU's spelling; server and nowait are
 * implied, server=on and wait=off accepted) into path. Returns 0 or -EINVAL with a one-line
 * message in err. */
int monitor_parse_spec(const char *spec, char *path, size_t pathlen, char *err, size_t errlen);

/* monitor_create: listens on the unix socket that spec names (a stale socket file there is
 * replaced; any other file is an error) and serves clients on env->loop. env is copied.
 * Returns the monitor, or NULL with a message in err. */
struct monitor *monitor_create(const struct monitor_env *env, const char *spec, char *err,
                               size_t errlen);

/* monitor_add_client: serves an already connected stream socket fd (tests use a
 * socketpair); the monitor owns fd from now on, even on failure. Returns 0, -ENOSPC (too
 * many clients) or -errno. */
int monitor_add_client(struct monitor *m, int fd);

/* monitor_get_counters: fills *c. */
void monitor_get_counters(const struct monitor *m, struct monitor_counters *c);

/* monitor_destroy: disconnects every client, stops captures started through the monitor,
 * closes and removes the socket. NULL is accepted. Loop thread, or with the loop stopped. */
void monitor_destroy(struct monitor *m);

/* --- between monitor.c and monitor_cmds.c -------------------------------------------------- */

/* monitor_execute: runs one parsed request object and returns the reply object (new
 * reference, with "id" copied from the request). */
json_t *monitor_execute(struct monitor *m, json_t *req);

/* monitor_error: {"error": {"class": cls, "desc": desc}} (new reference). */
json_t *monitor_error(const char *cls, const char *desc);

/* monitor_env_of: the environment the monitor was created with. */
const struct monitor_env *monitor_env_of(struct monitor *m);

/* monitor_close_dumps: stops every capture started with dump-start. */
void monitor_close_dumps(struct monitor *m);

/* monitor_dumps: the monitor's capture table (MONITOR_MAX_DUMPS entries). */
struct monitor_dump {
    struct netdev *nd;
    struct netdump *dump;
};
struct monitor_dump *monitor_dumps(struct monitor *m);

#endif
