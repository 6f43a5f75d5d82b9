/* Helpers shared by the socket backend's tests (test_socket.c: the UDP mode;
 * test_socket_stream.c: the TCP stream mode): creating a netdev from a -netdev spec, checking
 * option errors, numbered test frames, and running the event loop with bounded waits until a
 * fake NIC of tests/common/fakenet has what a test expects. */
#ifndef NICVM_TESTS_UNIT_SOCKET_FIXTURE_H
#define NICVM_TESTS_UNIT_SOCKET_FIXTURE_H

#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "vmm/evloop.h"

#include <stddef.h>
#include <stdint.h>

#define WAIT_MS 5000 /* the longest any wait for the loop may take */

extern struct evloop *loop; /* the test's loop; each test creates and destroys it */
extern uint8_t frame[FN_MAX_FRAME];

/* socket_create: netdev_create of spec ("socket,id=...") on loop; fails the test if it
 * fails, or if the backend asks for a vnet header. */
struct netdev *socket_create(const char *spec);

/* expect_create_error: netdev_create of spec must fail with a message containing want. */
void expect_create_error(const char *spec, const char *want);

/* make_frame: a test frame of len bytes (>= 14) in f: an Ethernet header, then a pattern
 * derived from seed, with seed as a 32-bit number at offset 14 when it fits. */
void make_frame(uint8_t *f, size_t len, uint32_t seed);

/* wait_received: runs the loop until nic has received want frames in total (at most WAIT_MS;
 * what names the step in the failure). */
void wait_received(struct fn_nic *nic, uint64_t want, const char *what);

/* run_for: runs the loop for ms milliseconds; returns the fd events and timers handled. */
unsigned run_for(int ms);

/* expect_frame: nic's oldest frame is f (len bytes) with a zeroed header. */
void expect_frame(struct fn_nic *nic, const uint8_t *f, size_t len);

/* exchange_sizes: for each of the n sizes, a frame a -> b and one b -> a (a and b are the
 * fake NICs of two linked backends), each checked byte for byte on arrival. */
void exchange_sizes(struct fn_nic *a, struct fn_nic *b, const size_t *sizes, size_t n);

/* send_burst: count frames of len bytes from a without waiting, then checks that b gets all
 * of them, whole and in order. */
void send_burst(struct fn_nic *a, struct fn_nic *b, unsigned count, size_t len);

#endif
