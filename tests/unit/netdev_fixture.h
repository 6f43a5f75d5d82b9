/* The shared fixture of the netdev core unit tests (see netdev_fixture.c): a fake backend
 * whose send() can refuse (EAGAIN), fail or answer at once, the fake NIC of tests/common/
 * fakenet attached to it, and helpers that make, send, deliver and collect numbered UDP frames
 * and one 64 KiB TCP GSO frame. Each netdev_*.c test file adds its tests to the suite's TCase;
 * test_netdev.c builds the suite. */
#ifndef NICVM_TESTS_UNIT_NETDEV_FIXTURE_H
#define NICVM_TESTS_UNIT_NETDEV_FIXTURE_H

#include "net/netdev.h"
#include "tests/common/fakenet.h"
#include "tests/unit/unit_fakebe.h"
#include "vmm/evloop.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BE_MAX_SENT 512

/* What the fake backend saw; one per test process (Check forks each test). */
struct netdev_fakebe {
    bool eagain;                /* send() returns -EAGAIN while set */
    bool echo;                  /* send() answers at once with the same frame, as libslirp does */
    uint64_t nic_calls_in_send; /* NIC receive() calls seen while send() ran */
    int fail_errno;             /* send() returns -fail_errno while set */
    unsigned send_calls, pause_calls, resume_calls, offload_calls, close_calls;
    unsigned last_offloads;
    unsigned nsent;
    struct sent_frame sent[BE_MAX_SENT];
};

extern struct netdev_fakebe be;
extern struct fn_nic nic;
extern struct evloop *loop;
extern struct netdev *nd;
extern uint8_t frame[FN_MAX_FRAME];
extern const struct fn_addr guest, host;
/* The payload of the last gso_frame() and its length. */
extern uint8_t gso_payload[65536];
extern size_t gso_plen;

void netdev_queue_tests(TCase *tc);
void netdev_offload_tests(TCase *tc);
void netdev_malformed_tests(TCase *tc);
void netdev_link_tests(TCase *tc);

/* open_fake: creates the loop, a fake netdev "f0" (vnet: with NETDEV_CAP_VNET_HDR) and
 * attaches the NIC; close_fake destroys them and checks the backend was closed once. */
void open_fake(bool vnet);
void close_fake(void);

/* seq_frame: a UDP frame guest -> host in f whose payload starts with the 32-bit sequence
 * number seq, padded to plen bytes of payload; returns its length. */
size_t seq_frame(uint8_t *f, uint32_t seq, size_t plen);
/* frame_seq: the sequence number of one of seq_frame()'s frames. */
uint32_t frame_seq(const uint8_t *f, size_t len);
/* deliver: the backend hands f to netdev_deliver(); returns its result. */
bool deliver(const uint8_t *f, size_t len);
/* Runs the loop until the NIC has received `want` frames in total, at most 5 s. */
void run_until_received(uint64_t want);
/* Runs the loop a few times without waiting. */
void run_idle(void);
/* Calls netdev_rx_ready() from another thread, as a NIC's vCPU does. */
void rx_ready_from_thread(void);
/* pop_seq: the NIC's oldest frame, which must be number want (the caller frees it). */
struct fn_frame *pop_seq(uint32_t want);

/* gso_frame: a 64 KiB TCPV4 GSO frame in f (one guest TSO send) with its virtio-net header
 * in h; the payload is in gso_payload, gso_plen bytes. Returns the frame length. */
size_t gso_frame(uint8_t *f, struct virtio_net_hdr_v1 *h);

#endif
