/* fuzz_socket_stream's reference model (fuzz_socket_stream_model.c): the test's connections
 * (the peer ends) with every byte written into each and the frames the NIC sent while each
 * was nicvm's peer, the frame the NIC refused, and the counters nicvm and the layer must
 * show; the fake NIC checks each frame it is offered against it, the peer each frame it
 * reads. fuzz_socket_stream.c drives the sockets and the loop. */
#ifndef NICVM_FUZZ_SOCKET_STREAM_H
#define NICVM_FUZZ_SOCKET_STREAM_H

#include "net/backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAXCONNS 16 /* connections per input */

#ifdef __clang__ /* byte loops of the model: not what the fuzzer should steer by */
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

enum cstate { C_PENDING, C_ACCEPTED, C_REFUSED, C_ENDED };
enum cshut { S_OPEN, S_HALF, S_CLOSED };

struct buf {
    uint8_t *p;
    size_t n, cap;
};

struct txf {
    uint32_t seq, len;
};

/* One connection of the test's (the peer end) and what the model knows of it. */
struct conn {
    int fd; /* -1 once the test closed it */
    uint16_t port;
    enum cstate st;
    enum cshut shut;
    struct buf w;          /* every byte written into it */
    struct buf out;        /* bytes the peer still has to write */
    size_t off;            /* w offset of the next frame nicvm must take */
    struct txf *tx;        /* frames the NIC sent while this was nicvm's peer */
    size_t ntx, captx, rx; /* rx: frames the peer has read */
    uint8_t hdr[4];
    unsigned hdr_got;
    uint32_t pos; /* bytes read of the frame tx[rx] */
};

struct fz_ss {
    struct evloop *loop;
    struct netdev *nd;
    bool connect_mode, refuse, reading;
    int lfd;  /* connect=: the test's listener */
    int port; /* listen=: nicvm's port */
    struct conn c[MAXCONNS];
    unsigned nc;
    int cur; /* the connection nicvm has (C_ACCEPTED), -1 */
    /* The frame the NIC refused, which the layer holds: w of conn held_c at held_off. */
    bool held;
    unsigned held_c;
    size_t held_off;
    uint32_t held_len;
    uint64_t accepted, refused, made, proto_errors; /* the backend's counters, modelled */
    uint64_t nic_rx, queued, sent, drop_down, drop_bad, rx_short;
    uint32_t seq;
    size_t wbytes, tbytes;
};

/* ssm_buf_add: appends n bytes of p to b (fails the run when out of memory). */
void ssm_buf_add(struct buf *b, const void *p, size_t n);
/* ssm_tx_fill: bytes [off, off + n) of the frame the NIC sends as number seq into p. */
void ssm_tx_fill(uint8_t *p, uint32_t seq, uint32_t off, uint32_t n);
/* ssm_check_counters: nicvm's and the layer's counters and the link against the model. */
void ssm_check_counters(struct fz_ss *s);
/* ssm_stalls: nicvm's partial-write stalls (its info). */
long long ssm_stalls(const struct fz_ss *s);
/* ssm_peer_feed: the peer of c read n bytes at b: frames the NIC sent to c, in order. */
void ssm_peer_feed(struct conn *c, const uint8_t *b, size_t n);
/* ssm_stalled: once the loop is idle, NULL, or what should have happened and did not. */
const char *ssm_stalled(struct fz_ss *s);

/* The fake NIC: checks every frame it is offered and every link change. */
extern const struct netdev_nic_ops ssm_nic_ops;

#endif
