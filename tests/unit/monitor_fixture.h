/* Shared fixture of the control-socket unit tests (test_monitor.c, test_monitor_io.c): an
 * event loop, a user netdev u0 (libslirp), a fake backend n0 under a real virtio-net NIC
 * vnet0 on fake guest RAM, a device without a report (com1), a fake VM (monitor_ops), a
 * filter-dump capture f0 of u0, and a monitor listening on a unix socket; and a test client on a
 * socketpair that pumps the loop in bounded steps while it waits for a reply. */
#ifndef NICVM_TESTS_MONITOR_FIXTURE_H
#define NICVM_TESTS_MONITOR_FIXTURE_H

#include "devices/virtio_net.h"
#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/machine.h"
#include "vmm/monitor.h"
#include "vmm/opts.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MT_RX_AVAIL 0x14000ull
#define MT_QSIZE    64
#define MAX_PUMPS   2000 /* loop iterations a reply may take before the test fails */

struct mon_fixture {
    struct evloop *loop;
    uint8_t *ram;
    struct guestmem gm;
    struct irq_line irq;
    struct netdev *nd[2]; /* u0 (user), n0 (fake, under the virtio-net NIC vnet0) */
    struct virtio_net *vn;
    struct opts *nic_opts;
    struct machine mach;
    struct monitor *mon;
    struct netdump *dumps[1]; /* an -object filter-dump,id=f0 capture of u0 */
    char dump_path[64];
    int quits;     /* quit calls */
    bool no_stats; /* query_stats returns NULL */
};

/* T: the fixture of the running test (Check forks one process per test). */
extern struct mon_fixture T;
/* fake_vm_ops: the fake VM (statistics document, quit counter). */
extern const struct monitor_ops fake_vm_ops;

/* fake_stats: the statistics document the fake VM returns (new reference). */
json_t *fake_stats(void *opaque);
/* setup / teardown: the Check fixture. */
void setup(void);
void teardown(void);
/* vnet_driver_init: brings vnet0 up as a driver would (EVENT_IDX), used_event 7 on RX. */
void vnet_driver_init(void);
/* counters: the monitor's counters now. */
struct monitor_counters counters(void);
/* pump: runs the loop until idle (bounded). */
void pump(void);

/* A test client. */
struct cl {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* cl_open_raw: a client on a socketpair (the monitor's end with SO_SNDBUF sndbuf unless 0);
 * the greeting is left unread. cl_open: the same, greeting checked and consumed. */
void cl_open_raw(struct cl *c, int sndbuf);
void cl_open(struct cl *c);
/* cl_line: the next line as JSON, pumping the loop; NULL at EOF; fails if none comes. */
json_t *cl_line(struct cl *c);
/* cl_send: writes len bytes, pumping the loop while the socket is full. */
void cl_send(struct cl *c, const char *s, size_t len);
/* call: sends one request line, returns the reply (caller decrefs). */
json_t *call(struct cl *c, const char *line);
/* ret_of: the "return" member of a success reply (fails otherwise). */
json_t *ret_of(json_t *r);
/* assert_error: r is an error of class cls whose desc contains what. */
void assert_error(json_t *r, const char *cls, const char *what);
/* expect_error / expect_ok: call() and check the reply. */
void expect_error(struct cl *c, const char *line, const char *cls, const char *what);
void expect_ok(struct cl *c, const char *line);

#endif
