/* The shared fuzzing harness: an input reader (integers, frame records and the operation loop
 * every target runs), fake guest RAM as its own heap allocation (so
 * AddressSanitizer reports any access past it), a fake netdev backend whose send result the
 * input chooses, a recording interrupt line, the event loop pumped synchronously, the
 * per-operation work bound behind NICVM_FUZZ_WORK(), and the virtqueue invariants every
 * target checks after each operation. Targets and the gcc replay driver link it. */
#ifndef NICVM_FUZZ_HARNESS_H
#define NICVM_FUZZ_HARNESS_H

#include "devices/virtq.h"
#include "net/backend.h"
#include "net/netdev.h"
#include "vmm/evloop.h"
#include "vmm/guestmem.h"
#include "vmm/irq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Work allowed per operation (loop iterations over guest data, all pumps included). */
#define FZ_WORK_LIMIT (1ul << 22)
/* Operations per input: longer inputs are cut. */
#define FZ_MAX_OPS 512

/* libFuzzer's entry point, also called by the replay driver. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- input ------------------------------------------------------------------------------ */

struct fz_in {
    const uint8_t *p;
    size_t n;
};

/* fz_u8 .. fz_u64: the next little-endian integer of the input; 0 bytes once it is spent. */
uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
/* fz_bytes: copies up to n bytes into dst, zero-filling what the input lacks. */
void fz_bytes(struct fz_in *in, void *dst, size_t n);
/* fz_done: true once the input is spent. */
bool fz_done(const struct fz_in *in);

/* A frame record of the input: a 12-byte virtio-net header, a u16 length, then the bytes. */
struct fz_frame {
    struct virtio_net_hdr_v1 hdr;
    size_t len;
    struct iovec iov; /* one heap buffer of exactly len bytes, so ASan sees reads past it */
};

/* fz_take_frame: takes the next frame record of in into fr. Returns 0, or -ENOMEM with the
 * header and length taken and the bytes left in the input. */
int fz_take_frame(struct fz_in *in, struct fz_frame *fr);
/* fz_frame_free: releases fr's buffer. */
void fz_frame_free(struct fz_frame *fr);

/* One operation of a target: op is its opcode byte; it takes its arguments from in. */
typedef void fz_step_fn(void *ctx, struct fz_in *in, uint8_t op);

/* fz_run_ops: the operation loop of every target: while the input lasts, at most FZ_MAX_OPS
 * times: fz_op_begin(), take the u8 opcode, step(ctx, in, opcode). */
void fz_run_ops(struct fz_in *in, fz_step_fn *step, void *ctx);

/* fz_fail: an oracle failed: prints the message and aborts (a finding). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* --- guest memory -------------------------------------------------------------------------- */

struct fz_mem {
    uint8_t *ram;
    size_t size;
    struct guestmem gm;
};

/* fz_mem_init: size bytes of zeroed RAM at guest-physical 0, allocated exactly. */
void fz_mem_init(struct fz_mem *m, size_t size);
void fz_mem_free(struct fz_mem *m);
/* fz_mem_write: writes n input bytes at gpa (clipped to RAM). */
void fz_mem_write(struct fz_mem *m, uint64_t gpa, struct fz_in *in, size_t n);

/* --- fake backend and interrupt line -------------------------------------------------------- */

struct fz_backend {
    int send_rc; /* what send() returns: 0, -EAGAIN, -EIO, -EINVAL */
    uint64_t sends, bytes;
};
extern struct fz_backend fz_be;

/* fz_netdev: a netdev whose backend is the fake (with the virtio-net header if vnet). */
struct netdev *fz_netdev(struct evloop *loop, bool vnet);
/* fz_set_send_rc: the backend's next results; going back to 0 resumes a waiting queue. */
void fz_set_send_rc(struct netdev *nd, uint8_t choice);

extern struct irq_line fz_irq;
extern uint64_t fz_irq_events;

/* fz_read_iov: reads every byte of iov (so ASan checks the whole vector); returns its total
 * length. */
size_t fz_read_iov(const struct iovec *iov, int iovcnt);

/* What fuzz_e1000 and fuzz_virtio_net share: fake RAM, an event loop, a fake-backend netdev. */
struct fz_nic_env {
    struct fz_mem m;
    struct evloop *loop;
    struct netdev *nd;
};

/* Bits of the u8 flags fz_nic_env_init takes. FZ_FLAG_TRACE is bit 6 because no committed
 * seed of any target sets it there, so every committed input keeps its meaning. */
#define FZ_FLAG_VNET  0x01 /* the backend carries the virtio-net header */
#define FZ_FLAG_TRACE 0x40 /* packet and exit tracing on (vmm/trace.h), written to /dev/null */

/* fz_nic_env_init: sets up env with ram_size bytes of RAM; takes the input's u8 flags
 * (FZ_FLAG_*) and switches tracing on or off for the run before the netdev and the device
 * are made, as nicvm's --trace does before it creates them. Fails the run (fz_fail) if it
 * cannot. */
void fz_nic_env_init(struct fz_nic_env *env, size_t ram_size, struct fz_in *in);
/* fz_nic_env_free: destroys what fz_nic_env_init made (the device must be gone first). */
void fz_nic_env_free(struct fz_nic_env *env);

/* --- operations ------------------------------------------------------------------------------- */

/* fz_op_begin: resets the work counter (call at the start of each operation). */
void fz_op_begin(void);
/* fz_pump: runs ready loop work, a bounded number of rounds. */
void fz_pump(struct evloop *loop);

/* --- virtqueue invariants ----------------------------------------------------------------- */

/* What the harness remembers about a queue between operations. */
struct fz_vq_shadow {
    bool valid;
    uint16_t used_idx;
    uint64_t base; /* popped - pushed when the queue was last inactive */
    uint64_t bad_fill;
    bool skip_len;  /* the target checks used.len itself */
    bool clobbered; /* this operation: a writable buffer overlapped a ring (no used checks) */
};

/* fz_check_virtq: after an operation: in-flight heads at most the size and matching the map,
 * popped minus pushed equal to in flight (each popped head returned at most once), no head
 * returned that was not in flight, and each new used entry naming a head inside the ring
 * with a length no larger than its chain's writable bytes (checked where the harness can
 * walk the chain without the device's own writes in the way). */
void fz_check_virtq(const struct virtq *vq, struct fz_vq_shadow *sh, const char *name);

/* fz_writes_rings: true if a device-writable buffer of vq's descriptor table (or of an
 * indirect table it names) overlaps any ring of the n queues in rings: the device's own
 * writes may then change ring bytes the harness reads, so it cannot check them. */
bool fz_writes_rings(const struct virtq *vq, const struct virtq *const *rings, unsigned n);

#endif
