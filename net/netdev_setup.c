/* Setting a netdev up and reading it back: the one table of backend types, creating a
 * netdev from -netdev options and destroying it, pairing it with a NIC, the link and the
 * offloads the guest accepts, accessors for backends, and the report. The frames themselves
 * cross in netdev.c. Runs on the event-loop thread (see netdev.h). */
#include "net/netdev_int.h"
#include "vmm/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct netdev_backend_ops tap_backend_ops;
extern const struct netdev_backend_ops slirp_backend_ops;
extern const struct netdev_backend_ops socket_backend_ops;
extern const struct netdev_backend_ops stream_backend_ops;
extern const struct netdev_backend_ops dgram_backend_ops;

/* The registered backend types (after bhyve's net_backends: one explicit table). */
static const struct netdev_backend_ops *const netdev_backends[] = {
    &tap_backend_ops,
    &slirp_backend_ops,
    &socket_backend_ops,
    &stream_backend_ops,
    &dgram_backend_ops,
};

const char *netdev_types(void)
{
    static char list[128];
    if (!list[0]) {
        size_t off = 0;
        for (size_t i = 0; i < sizeof(netdev_backends) / sizeof(netdev_backends[0]); i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
                                    netdev_backends[i]->type);
    }
    return list;
}

/* --- peers, link, offloads ------------------------------------------------------------- */

int netdev_attach(struct netdev *nd, const char *nic_name, const struct netdev_nic_ops *ops,
                  void *opaque)
{
    if (nd->nic)
        return -EBUSY;
    nd->nic = ops;
    nd->nic_opaque = opaque;
    snprintf(nd->nic_name, sizeof(nd->nic_name), "%s", nic_name);
    nd->traced = nd->traced || trace_nic_wanted(nic_name);
    return 0;
}

const char *netdev_id(const struct netdev *nd)
{
    return nd->id;
}

const char *netdev_type(const struct netdev *nd)
{
    return nd->ops->type;
}

uint32_t netdev_caps(const struct netdev *nd)
{
    return nd->caps;
}

void netdev_set_caps(struct netdev *nd, uint32_t caps)
{
    nd->caps = caps;
}

int netdev_set_rx_offloads(struct netdev *nd, unsigned tun_flags)
{
    if (!(nd->caps & NETDEV_CAP_VNET_HDR) || !nd->ops->set_rx_offloads) {
        nd->rx_offloads = 0;
        return tun_flags ? -EOPNOTSUPP : 0;
    }
    int rc = nd->ops->set_rx_offloads(nd, tun_flags);
    if (rc == 0)
        nd->rx_offloads = tun_flags;
    return rc;
}

unsigned netdev_rx_offloads(const struct netdev *nd)
{
    return nd->rx_offloads;
}

bool netdev_link_up(const struct netdev *nd)
{
    return nd->link_up;
}

/* The NIC's link is up while both the user (set_link) and the backend (carrier) say so, as
 * a cable needs both the switch port enabled and the far end present: a peer that reconnects
 * must not undo a set_link off. */
static void netdev_update_link(struct netdev *nd)
{
    bool up = nd->admin_up && nd->carrier;
    if (nd->link_up == up)
        return;
    nd->link_up = up;
    if (nd->nic && nd->nic->link_changed)
        nd->nic->link_changed(nd->nic_opaque, up);
}

void netdev_set_link(struct netdev *nd, bool up)
{
    nd->admin_up = up;
    netdev_update_link(nd);
}

void netdev_set_carrier(struct netdev *nd, bool up)
{
    nd->carrier = up;
    netdev_update_link(nd);
}

const struct netdev_stats *netdev_get_stats(const struct netdev *nd)
{
    return &nd->stats;
}

void *netdev_priv(struct netdev *nd)
{
    return nd->priv;
}

struct evloop *netdev_loop(struct netdev *nd)
{
    return nd->loop;
}

/* --- lifetime ------------------------------------------------------------------------- */

struct netdev *netdev_create_with(struct evloop *loop, const struct netdev_backend_ops *ops,
                                  const char *id, struct opts *o, char *err, size_t errlen)
{
    struct netdev *nd = calloc(1, sizeof(*nd));
    if (!nd) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(nd->id, sizeof(nd->id), "%s", id);
    nd->ops = ops;
    nd->loop = loop;
    nd->link_up = nd->admin_up = nd->carrier = true;
    if (trace_mask) {
        char track[64];
        snprintf(track, sizeof(track), "netdev %s (%s)", id, ops->type);
        nd->track = trace_track(track);
        nd->traced = trace_nic_wanted(id);
    }
    int rc = netdev_frames_init(nd); /* sets rx_ready_fd, even on failure */
    nd->priv = ops->priv_size ? calloc(1, ops->priv_size) : NULL;
    if (rc < 0 || (ops->priv_size && !nd->priv)) {
        snprintf(err, errlen, "-netdev %s: out of resources", id);
        nd->ops = NULL; /* not opened: nothing for close() to release */
        netdev_destroy(nd);
        return NULL;
    }
    if (ops->open(nd, o, err, errlen) < 0) {
        nd->ops = NULL; /* open failed: nothing for close() to release */
        netdev_destroy(nd);
        return NULL;
    }
    return nd;
}

struct netdev *netdev_create(struct evloop *loop, struct opts *o, char *err, size_t errlen)
{
    const char *type = opts_get(o, "type");
    const char *id = opts_get(o, "id");
    const struct netdev_backend_ops *ops = NULL;
    for (size_t i = 0; type && i < sizeof(netdev_backends) / sizeof(netdev_backends[0]); i++)
        if (strcmp(netdev_backends[i]->type, type) == 0)
            ops = netdev_backends[i];
    if (!ops) {
        snprintf(err, errlen, "%s %s: unknown type '%s' (available: %s)", opts_origin(o, "-netdev"),
                 o->text, type ? type : "", netdev_types());
        return NULL;
    }
    if (!id || !*id) {
        snprintf(err, errlen, "%s %s: id= is required", opts_origin(o, "-netdev"), o->text);
        return NULL;
    }
    char sub[256] = "";
    struct netdev *nd = netdev_create_with(loop, ops, id, o, sub, sizeof(sub));
    if (nd && opts_check_unused(o, type, sub, sizeof(sub)) < 0) {
        netdev_destroy(nd);
        nd = NULL;
    }
    if (!nd)
        snprintf(err, errlen, "%s %s: %s", opts_origin(o, "-netdev"), o->text, sub);
    return nd;
}

void netdev_destroy(struct netdev *nd)
{
    if (!nd)
        return;
    if (nd->ops && nd->ops->close)
        nd->ops->close(nd);
    netdev_frames_release(nd);
    free(nd->priv);
    free(nd);
}

/* --- report --------------------------------------------------------------------------- */

json_t *netdev_info(const struct netdev *nd)
{
    const struct netdev_stats *s = &nd->stats;
    json_t *drops = json_pack("{s:I, s:I, s:I, s:I, s:I}", "queue_full",
                              (json_int_t)s->drops[NETDEV_DROP_QUEUE_FULL], "malformed",
                              (json_int_t)s->drops[NETDEV_DROP_MALFORMED], "backend_error",
                              (json_int_t)s->drops[NETDEV_DROP_BACKEND], "link_down",
                              (json_int_t)s->drops[NETDEV_DROP_LINK_DOWN], "purged_on_reset",
                              (json_int_t)s->drops[NETDEV_DROP_PURGED]);
    json_t *backend = nd->ops && nd->ops->info ? nd->ops->info((struct netdev *)nd) : NULL;
    return json_pack(
        "{s:s, s:s, s:s?, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, "
        "s:I, s:i, s:i, s:o?}",
        "id", nd->id, "type", nd->ops ? nd->ops->type : "?", "peer", nd->nic ? nd->nic_name : NULL,
        "link_up", nd->link_up, "set_link_up", nd->admin_up, "carrier", nd->carrier, "vnet_hdr",
        (nd->caps & NETDEV_CAP_VNET_HDR) != 0, "tx_packets", (json_int_t)s->tx_packets, "tx_bytes",
        (json_int_t)s->tx_bytes, "rx_packets", (json_int_t)s->rx_packets, "rx_bytes",
        (json_int_t)s->rx_bytes, "drops", drops, "backend_eagain_waits", (json_int_t)s->tx_eagain,
        "rx_queued", (json_int_t)s->rx_queued, "sw_segmented", (json_int_t)s->sw_segmented,
        "sw_checksummed", (json_int_t)s->sw_checksummed, "sw_coalesced",
        (json_int_t)s->sw_coalesced, "rx_queue_now", (int)nd->rxq.count, "tx_queue_now",
        (int)nd->txq.count, "backend", backend);
}
