/* The virtio-net report for --exit-stats and the monitor (query-network, query-virtqueue,
 * query-stats): features offered and acked (virtio 1.2 §5.1.3), the offloads given to tap,
 * spec violations seen, the model's counters, and each queue's indices and notification
 * state read from the rings (§2.7). Nothing here changes the device or the guest's rings. */
#include "devices/virtio_net_int.h"

#include <endian.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>

static const char *const vn_feature_names[64] = {
    [VIRTIO_NET_F_CSUM] = "CSUM",
    [VIRTIO_NET_F_GUEST_CSUM] = "GUEST_CSUM",
    [VIRTIO_NET_F_MTU] = "MTU",
    [VIRTIO_NET_F_MAC] = "MAC",
    [VIRTIO_NET_F_GUEST_TSO4] = "GUEST_TSO4",
    [VIRTIO_NET_F_GUEST_TSO6] = "GUEST_TSO6",
    [VIRTIO_NET_F_GUEST_ECN] = "GUEST_ECN",
    [VIRTIO_NET_F_GUEST_UFO] = "GUEST_UFO",
    [VIRTIO_NET_F_HOST_TSO4] = "HOST_TSO4",
    [VIRTIO_NET_F_HOST_TSO6] = "HOST_TSO6",
    [VIRTIO_NET_F_HOST_ECN] = "HOST_ECN",
    [VIRTIO_NET_F_HOST_UFO] = "HOST_UFO",
    [VIRTIO_NET_F_MRG_RXBUF] = "MRG_RXBUF",
    [VIRTIO_NET_F_STATUS] = "STATUS",
    [VIRTIO_NET_F_CTRL_VQ] = "CTRL_VQ",
    [VIRTIO_NET_F_MQ] = "MQ",
    [VIRTIO_F_INDIRECT_DESC] = "INDIRECT_DESC",
    [VIRTIO_F_EVENT_IDX] = "EVENT_IDX",
    [VIRTIO_F_VERSION_1] = "VERSION_1",
};

static json_t *vn_features(uint64_t f)
{
    json_t *a = json_array();
    for (unsigned b = 0; b < 64; b++) {
        if (!(f & (1ull << b)))
            continue;
        char other[16];
        snprintf(other, sizeof(other), "bit%u", b);
        json_array_append_new(a, json_string(vn_feature_names[b] ? vn_feature_names[b] : other));
    }
    return a;
}

static json_t *vn_tun_offloads(unsigned t)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TUN_F_CSUM, "TUN_F_CSUM"},
                 {TUN_F_TSO4, "TUN_F_TSO4"},
                 {TUN_F_TSO6, "TUN_F_TSO6"},
                 {TUN_F_TSO_ECN, "TUN_F_TSO_ECN"},
                 {TUN_F_UFO, "TUN_F_UFO"}};
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (t & names[i].bit)
            json_array_append_new(a, json_string(names[i].name));
    return a;
}

/* Spec violations seen so far: features acked against their dependencies (refused at
 * FEATURES_OK), offloads used but not negotiated, malformed chains and headers. */
static json_t *vn_violations(const struct virtio_net *vn)
{
    json_t *a = json_array();
    const struct virtio_mmio_stats *t = &vn->t.stats;
    if (t->features_refused)
        json_array_append_new(a, json_string("driver acked features the spec forbids together "
                                             "(e.g. GUEST_TSO4 without GUEST_CSUM) or never "
                                             "offered: FEATURES_OK refused"));
    if (vn->stats.tx_drop_feature)
        json_array_append_new(a, json_string("TX header used an offload not negotiated"));
    if (vn->stats.tx_bad_chain || vn->stats.rx_bad_chain)
        json_array_append_new(a, json_string("malformed descriptor chains"));
    if (t->late_queue_write)
        json_array_append_new(a, json_string("queue registers written outside "
                                             "FEATURES_OK..DRIVER_OK"));
    if (t->bad_status)
        json_array_append_new(a, json_string("status register misuse"));
    if (t->bad_access)
        json_array_append_new(a, json_string("control registers accessed with a width other "
                                             "than 32 bits or at undefined offsets"));
    return a;
}

#define VN_INFO_MAX_HEADS 64 /* in-flight heads listed per queue (the count is exact) */

/* A 16-bit little-endian ring field, read once for display (the guest may change it). */
static uint16_t vn_ring16(const uint8_t *ring, size_t off)
{
    uint16_t v;
    memcpy(&v, ring + off, sizeof(v));
    return le16toh(v);
}

/* The queue's notification state: in-flight heads, ring flags, and with EVENT_IDX the
 * thresholds both sides set (used_event: when the driver wants an interrupt; avail_event:
 * when the device wants a kick) and the used index at the last interrupt. */
static void vn_queue_event_info(struct virtq *vq, json_t *q)
{
    json_t *heads = json_array();
    for (unsigned h = 0; vq->ready && h < vq->size && json_array_size(heads) < VN_INFO_MAX_HEADS;
         h++)
        if (vq->inflight_map[h / 8] & (1u << (h % 8)))
            json_array_append_new(heads, json_integer(h));
    json_object_set_new(q, "in_flight_heads", heads);
    json_object_set_new(q, "event_idx", json_boolean(vq->event_idx));
    if (!vq->ready)
        return;
    json_object_set_new(q, "avail_flags", json_integer(vn_ring16(vq->avail, 0)));
    json_object_set_new(q, "avail_idx", json_integer(vn_ring16(vq->avail, 2)));
    json_object_set_new(q, "used_flags", json_integer(vn_ring16(vq->used, 0)));
    if (!vq->event_idx)
        return;
    json_object_set_new(q, "used_event", json_integer(vn_ring16(vq->avail, 4 + 2u * vq->size)));
    json_object_set_new(q, "avail_event", json_integer(vn_ring16(vq->used, 4 + 8u * vq->size)));
    json_object_set_new(q, "signalled_used",
                        vq->signalled_used_valid ? json_integer(vq->signalled_used) : json_null());
}

static json_t *vn_queue_info(struct virtq *vq, const char *name, uint64_t kicks)
{
    uint16_t avail = virtq_avail_count(vq);
    json_t *q =
        json_pack("{s:s, s:b, s:b, s:i, s:I, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:I, s:I}", "queue",
                  name, "ready", vq->ready, "broken", vq->broken, "size", vq->size, "desc",
                  (json_int_t)vq->desc_gpa, "driver", (json_int_t)vq->avail_gpa, "device",
                  (json_int_t)vq->used_gpa, "last_avail_idx", vq->last_avail_idx, "used_idx",
                  vq->used_idx, "in_flight", vq->inflight, "avail_pending", (json_int_t)avail,
                  "kicks", (json_int_t)kicks, "interrupts", (json_int_t)vq->stats.irq_needed,
                  "interrupts_suppressed", (json_int_t)vq->stats.irq_suppressed);
    vn_queue_event_info(vq, q);
    return q;
}

/* The guest's register accesses that reached the MMIO handler (each an exit), by name. */
static json_t *vn_reg_access(struct virtio_mmio *t)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < VIRTIO_MMIO_REG_SLOTS; i++) {
        uint64_t r = atomic_load_explicit(&t->reg_access[i][0], memory_order_relaxed);
        uint64_t w = atomic_load_explicit(&t->reg_access[i][1], memory_order_relaxed);
        const char *name = virtio_mmio_reg_name(i);
        char other[24];
        if (!r && !w)
            continue;
        if (!name) {
            snprintf(other, sizeof(other), "0x%03x", i * 4);
            name = other;
        }
        json_object_set_new(
            o, name, json_pack("{s:I, s:I}", "reads", (json_int_t)r, "writes", (json_int_t)w));
    }
    return o;
}

json_t *virtio_net_info(struct virtio_net *vn)
{
    pthread_mutex_lock(&vn->t.lock);
    const struct virtio_net_stats *s = &vn->stats;
    json_t *counters = json_pack(
        "{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I}",
        "rx_packets", (json_int_t)s->rx_packets, "rx_bytes", (json_int_t)s->rx_bytes, "tx_packets",
        (json_int_t)s->tx_packets, "tx_bytes", (json_int_t)s->tx_bytes, "rx_drops",
        "no_buffer_or_oversize", (json_int_t)s->rx_drop_oversize, "not_ready",
        (json_int_t)s->rx_drop_not_ready, "offload", (json_int_t)s->rx_drop_offload, "bad_chain",
        (json_int_t)s->rx_bad_chain, "tx_drops", "malformed", (json_int_t)s->tx_drop_malformed,
        "feature", (json_int_t)s->tx_drop_feature, "backend", (json_int_t)s->tx_drop_backend,
        "bad_chain", (json_int_t)s->tx_bad_chain, "rx_waits_for_buffers",
        (json_int_t)s->rx_wait_buffers, "tx_backend_full_waits", (json_int_t)s->tx_wait_backend,
        "tx_budget_yields", (json_int_t)s->tx_budget_yields);
    json_t *queues = json_array();
    json_array_append_new(
        queues, vn_queue_info(&vn->t.vq[VIRTIO_NET_RXQ], "rx", vn->t.stats.kicks[VIRTIO_NET_RXQ]));
    json_array_append_new(
        queues, vn_queue_info(&vn->t.vq[VIRTIO_NET_TXQ], "tx", vn->t.stats.kicks[VIRTIO_NET_TXQ]));
    char mac[18];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", vn->mac[0], vn->mac[1], vn->mac[2],
             vn->mac[3], vn->mac[4], vn->mac[5]);
    json_t *info = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "name", vn->name,
        "model", "virtio-net", "netdev", netdev_id(vn->nd), "mac", mac, "status", vn->t.status,
        "link_up", vn->link_up, "offered", vn_features(vn->t.offered), "acked",
        vn_features(vn->acked), "tap_offloads", vn_tun_offloads(netdev_rx_offloads(vn->nd)),
        "violations", vn_violations(vn), "counters", counters, "queues", queues, "kicks_ignored",
        (json_int_t)vn->t.stats.kicks_ignored, "irqs", (json_int_t)vn->t.stats.irqs);
    json_object_set_new(info, "register_accesses", vn_reg_access(&vn->t));
    pthread_mutex_unlock(&vn->t.lock);
    return info;
}
