/* Run-time control of the user backend (libslirp) for the monitor. Everything here must run
 * on the event-loop thread: libslirp is not thread-safe. */
#ifndef NICVM_NET_SLIRP_H
#define NICVM_NET_SLIRP_H

#include "net/ipfrag.h"
#include "net/netdev.h"

#include <stdbool.h>
#include <stddef.h>

/* slirp_hostfwd: adds (add) or removes a host port forward on the user netdev nd, as
 * hostfwd= does at startup. rule: "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT";
 * removal needs only "tcp|udp:[HOSTADDR]:HOSTPORT" (the rest is accepted and ignored).
 * Returns 0, or -EINVAL (not a user netdev, malformed rule), -EADDRINUSE or another -errno
 * (cannot listen), -ENOENT (no such forward to remove), with a message in err. */
int slirp_hostfwd(struct netdev *nd, bool add, const char *rule, char *err, size_t errlen);

/* slirp_ipfrag_stats: the IPv4 reassembly counters of the user netdev nd (fragments held,
 * datagrams reassembled, drops by reason; net/ipfrag.h), or NULL if nd is not a user
 * netdev. */
const struct ipfrag_stats *slirp_ipfrag_stats(struct netdev *nd);

/* slirp_ipfrag_info: the same counters as a new jansson object for reports ("fragments",
 * "fragments_held", "duplicates", "datagrams_reassembled", "dropped" by reason,
 * "in_progress_now", "held_bytes_now"), or NULL if nd is not a user netdev. */
json_t *slirp_ipfrag_info(struct netdev *nd);

#endif
