/* The e1000's packet trace (vmm/trace.h): a TX frame as an event on the NIC's TX track that
 * starts the packet's flow (the backend write ends it, net/netdev.c); an RX frame as an event
 * on the RX track that continues the backend read's flow and ends it with the interrupt
 * outcome: injected, or held back and why (IMS mask, a line already asserted, or the
 * mitigation timers RDTR/RADV/ITR, §3.2.7 and §13.4.18 of the 8254x manual), or the drop
 * reason. Mitigation timer firings appear as instant events, so a delayed interrupt can be
 * matched to the frames it covers. Only called when tracing is on. */
#include "devices/e1000_int.h"
#include "vmm/trace.h"

#include <stdio.h>

void e1000_trace_init(struct e1000 *e)
{
    if (!trace_mask)
        return;
    char track[64];
    e->traced = trace_nic_wanted(e->name) || trace_nic_wanted(netdev_id(e->nd));
    snprintf(track, sizeof(track), "%s rx ring", e->name);
    e->track[0] = trace_track(track);
    snprintf(track, sizeof(track), "%s tx ring", e->name);
    e->track[1] = trace_track(track);
}

int e1000_trace_send(struct e1000 *e, const struct virtio_net_hdr_v1 *h, const struct iovec *iov,
                     int iovcnt, size_t len)
{
    uint64_t t0 = trace_now(), flow = trace_new_flow();
    trace_current_flow = flow;
    int rc = netdev_send(e->nd, h, iov, iovcnt, len);
    trace_current_flow = 0;
    static const char *const keys[] = {"tdh", "bytes", "tso", "csum_offload", "error"};
    uint64_t vals[] = {e1000_reg(e, E1000_TDH), len, h->gso_type != VIRTIO_NET_HDR_GSO_NONE,
                       (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0, (uint64_t)-rc};
    trace_event(e->track[1], "tx descriptors", t0, trace_now() - t0 + 1, keys, vals, 5, NULL, NULL);
    trace_flow(e->track[1], flow, TRACE_FLOW_START, t0, "packet");
    return rc;
}

/* Why a delivered frame did not raise the line at once. */
static const char *e1000_irq_reason(const struct e1000 *e, bool was_asserted)
{
    uint32_t icr = e1000_reg(e, E1000_ICR), ims = e1000_reg(e, E1000_IMS);
    if (was_asserted)
        return "suppressed: INTx already asserted (the driver has not read ICR yet)";
    if (e->rdtr.on || e->radv.on)
        return "delayed: RDTR/RADV receive mitigation";
    if (!(icr & ims))
        return "suppressed: IMS masks the cause";
    if (e->itr.on)
        return "delayed: ITR interrupt throttling";
    return "suppressed: INTx disabled in the PCI command register";
}

static const char *e1000_rx_drop_reason(const struct e1000_stats *a, const struct e1000_stats *b)
{
    if (b->rx_drop_filtered != a->rx_drop_filtered)
        return "filtered (RAL/RAH, MTA, RCTL)";
    if (b->rx_drop_no_desc != a->rx_drop_no_desc)
        return "no free RX descriptors";
    if (b->rx_drop_oversize != a->rx_drop_oversize)
        return "oversize or GSO";
    if (b->rx_drop_disabled != a->rx_drop_disabled)
        return "receiver disabled";
    return "ring outside RAM";
}

size_t e1000_trace_rx(struct e1000 *e, const struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
                      int iovcnt, size_t len)
{
    struct e1000_stats before = e->stats;
    bool was_asserted = e->irq_level;
    uint32_t rdh = e1000_reg(e, E1000_RDH);
    uint64_t t0 = trace_now(), flow = trace_current_flow;
    size_t r = e1000_rx_frame(e, hdr, iov, iovcnt, len, false);
    uint64_t t1 = trace_now();
    if (r == 0) { /* waiting for descriptors: the layer delivers it again, same flow */
        trace_event(e->track[0], "rx waits for descriptors", t0, 1, NULL, NULL, 0, NULL, NULL);
        return r;
    }
    static const char *const keys[] = {"rdh", "bytes"};
    uint64_t vals[] = {rdh, len};
    uint64_t dur = t1 > t0 ? t1 - t0 : 1;
    if (e->stats.rx_packets == before.rx_packets) {
        trace_event(e->track[0], "rx dropped", t0, dur, keys, vals, 2, "reason",
                    e1000_rx_drop_reason(&before, &e->stats));
        if (flow)
            trace_flow(e->track[0], flow, TRACE_FLOW_END, t0, "packet");
        return r;
    }
    /* Like virtio-net's: a step on the descriptors written, the end on the interrupt. */
    trace_event(e->track[0], "rx descriptors", t0, dur, keys, vals, 2, NULL, NULL);
    bool injected = !was_asserted && e->irq_level;
    trace_event(e->track[0], injected ? "interrupt" : "interrupt suppressed", t0 + dur, 1, NULL,
                NULL, 0, "reason", injected ? "injected" : e1000_irq_reason(e, was_asserted));
    if (flow) {
        trace_flow(e->track[0], flow, TRACE_FLOW_STEP, t0, "packet");
        trace_flow(e->track[0], flow, TRACE_FLOW_END, t0 + dur, "packet");
    }
    return r;
}

void e1000_trace_timer(struct e1000 *e, const char *which)
{
    bool rx = which[0] == 'R' || which[0] == 'I';
    trace_event(e->track[rx ? 0 : 1], "mitigation timer fired", trace_now(), 0, NULL, NULL, 0,
                "timer", which);
}
