/* The exit and packet trace (--trace FILE): Chrome trace-event JSON that opens as a timeline
 * in Perfetto's UI and chrome://tracing, with one track per vCPU, NIC queue and backend.
 *
 * Exits are complete events with the reason, port or address, size, data, guest rip and the
 * handler's duration. Packets are linked to their causes by flow events: the descriptor chain
 * the device popped (or the e1000 TX descriptors), the backend write; a backend read, the ring
 * buffers it filled, the interrupt injected or suppressed (and why). A kick through ioeventfd
 * never reaches user space, so TX flows start at the chain; with --no-ioeventfd the QueueNotify
 * exit just before it on the vCPU track is the kick. --trace-filter narrows it.
 *
 * When tracing is off, every hook is one test of a global that is never written after
 * start-up: trace_on() inlines to a load and a branch. */
#ifndef NICVM_TRACE_H
#define NICVM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TRACE_EXITS = 1u << 0, TRACE_PACKETS = 1u << 1 };

/* Categories being traced; 0 unless --trace was given. Written once before any thread. */
extern unsigned trace_mask;

/* trace_on: true when category cat is traced. */
static inline bool trace_on(unsigned cat)
{
    return (trace_mask & cat) != 0;
}

/* trace_open: starts the trace file; filter (may be NULL) is the --trace-filter spec:
 * comma-separated reason=io+mmio+..., port=LO-HI, addr=LO-HI (repeatable), nic=NAME
 * (repeatable), exits=off, packets=off. Returns 0 or -errno with a message in err. */
int trace_open(const char *path, const char *filter, char *err, size_t errlen);

/* trace_close: finishes the JSON and closes the file; reports how many events it holds. */
void trace_close(void);

/* trace_track: a new track (a "thread" of the timeline) named name. Returns its id. */
int trace_track(const char *name);

/* The track the calling thread's events go to when a hook does not name one (vCPU
 * threads set theirs; device hooks running in an exit handler use it). */
extern _Thread_local int trace_thread_track;

/* trace_exit_wanted: whether the filter keeps an exit of this KVM reason at this port
 * (is_port) or address. */
bool trace_exit_wanted(unsigned reason, bool is_port, uint64_t addr);

/* trace_nic_wanted: whether the filter keeps packet events of the NIC or netdev named. */
bool trace_nic_wanted(const char *name);

/* trace_exit: one exit as a complete event on the vCPU's track. t0/t1: handler start and
 * end (ns, CLOCK_MONOTONIC). region: the device region's name or "(unclaimed)". */
void trace_exit(int track, uint64_t t0, uint64_t t1, unsigned reason, const char *region,
                bool is_port, uint64_t addr, unsigned size, bool is_write, uint64_t data,
                uint64_t rip);

/* trace_event: a complete event (dur > 0) or an instant one (dur == 0) named name, with a
 * JSON object of arguments given as key/value pairs: keys[i] -> vals[i] (integers) and
 * skey -> sval (one string, may be NULL). */
void trace_event(int track, const char *name, uint64_t ts, uint64_t dur, const char *const *keys,
                 const uint64_t *vals, unsigned n, const char *skey, const char *sval);

/* Flow phases linking events across tracks: start, step, end. */
enum trace_flow_phase { TRACE_FLOW_START = 's', TRACE_FLOW_STEP = 't', TRACE_FLOW_END = 'f' };

/* trace_flow: a flow event (phase) for flow `id` at ts on track; binds to the enclosing
 * event on that track. */
void trace_flow(int track, uint64_t id, enum trace_flow_phase phase, uint64_t ts, const char *name);

/* trace_new_flow: a fresh flow id (never 0). */
uint64_t trace_new_flow(void);

/* The flow a packet belongs to while it crosses layers on the loop thread: the NIC sets it
 * before netdev_send, a backend's read sets it before netdev_deliver. 0: none. */
extern _Thread_local uint64_t trace_current_flow;

/* trace_now: CLOCK_MONOTONIC in ns. */
uint64_t trace_now(void);

#endif
