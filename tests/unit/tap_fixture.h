/* The shared fixture of the tap backend tests (see tap_fixture.c): a tap netdev named IFNAME
 * in the test's network namespace (test_tap.c makes it and enters it), configured as
 * 10.77.0.1/24 with the fake guest 10.77.0.2 of tests/common/fakenet on it, kernel sockets on
 * the host address, and a guest TCP connection to them. Each tap_*.c test file adds its tests
 * to the suite's TCase; test_tap.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_TAP_FIXTURE_H
#define NICVM_TESTS_UNIT_TAP_FIXTURE_H

#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "vmm/evloop.h"

#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAIT_MS  5000
#define IFNAME   "nicvmt0"
#define HOST_IP  FN_IP4(10, 77, 0, 1)
#define GUEST_IP FN_IP4(10, 77, 0, 2)

extern const uint8_t guest_mac[6];

/* One tap netdev and its fake guest; per test (Check forks each test). */
extern struct evloop *loop;
extern struct netdev *nd;
extern struct fn_guest g;
extern uint8_t host_mac[6]; /* the tap interface's, as the kernel chose it */
extern uint8_t frame[FN_MAX_FRAME];

void tap_tx_tests(TCase *tc);
void tap_rx_tests(TCase *tc);
void tap_link_tests(TCase *tc);

/* sh: runs cmd with system(); the test fails unless it exits 0. */
void sh(const char *cmd);
/* open_tap: a tap netdev named IFNAME (vnet_hdr on or off), configured as 10.77.0.1/24 and up,
 * with the fake guest 10.77.0.2 attached; close_tap destroys them and checks the guest saw no
 * bad checksum. */
void open_tap(bool vnet);
void close_tap(void);
/* open_tap_nic_full: open_tap(true), the guest's neighbour entry set, and the fake NIC
 * refusing frames (no RX buffers); returns a non-blocking kernel UDP socket and in *to the
 * guest's port 9999, to send the frames the NIC will hold. */
int open_tap_nic_full(struct sockaddr_in *to);
/* host_addr, guest_addr: the kernel's and the guest's MAC and IP with port. */
struct fn_addr host_addr(uint16_t port);
struct fn_addr guest_addr(uint16_t port);
/* kernel_socket: a non-blocking kernel socket bound to 10.77.0.1 (port 0: any), listening if
 * TCP. */
int kernel_socket(int type, int port);
/* local_port: the port fd is bound to. */
uint16_t local_port(int fd);
/* close_rst: closes a kernel TCP socket with a reset. */
void close_rst(int fd);
/* udp_csum_errors: Udp InCsumErrors from /proc/net/snmp (this namespace's). */
long udp_csum_errors(void);
/* idle_for: runs the loop for ms milliseconds in 20 ms waits; returns the iterations and adds
 * the events handled to *events. */
unsigned idle_for(int ms, unsigned *events);
/* connect_guest: the guest (port gport, receiving into rx) connects to the kernel listener
 * lfd; returns the accepted kernel socket. */
int connect_guest(struct fn_tcp *t, int lfd, uint16_t gport, uint8_t *rx, size_t rx_cap);

#endif
