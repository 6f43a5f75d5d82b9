/* The e1000's report for --exit-stats, the monitor's query-e1000 and query-network: ring
 * registers (§13.4.27-13.4.41), interrupt state (ICR/IMS, §13.4.17-13.4.21), link, and the
 * model's own counters beside the guest-visible statistics, and the guest's accesses per
 * register (which registers its MMIO exits went to). Reads never clear anything: the
 * clear-on-read statistics registers are read from the register file, not through their
 * handlers, so a monitor query does not steal counts from the guest driver. */
#include "devices/e1000_int.h"

#include <jansson.h>
#include <stdio.h>

#define R(off) (e->regs[(off) >> 2])

static json_t *e1000_ring_info(const struct e1000 *e, uint32_t bal, uint32_t bah, uint32_t len,
                               uint32_t head, uint32_t tail)
{
    uint64_t base = ((uint64_t)R(bah) << 32) | R(bal);
    uint32_t n = R(len) / E1000_DESC_SIZE;
    uint32_t h = R(head), t = R(tail);
    /* Descriptors owned by the device: from head up to (not including) tail. */
    uint32_t owned = n ? (t + n - h) % n : 0;
    if (h >= n || t >= n)
        owned = 0; /* the ring is inconsistent; the data path refuses it (bad_ring) */
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "base", (json_int_t)base, "len_bytes",
                     (json_int_t)R(len), "descriptors", (json_int_t)n, "head", (json_int_t)h,
                     "tail", (json_int_t)t, "device_owned", (json_int_t)owned);
}

static json_t *e1000_counters(const struct e1000_stats *s)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I, "
        "s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I}",
        "rx_packets", (json_int_t)s->rx_packets, "rx_bytes", (json_int_t)s->rx_bytes, "tx_packets",
        (json_int_t)s->tx_packets, "tx_bytes", (json_int_t)s->tx_bytes, "rx_drops", "filtered",
        (json_int_t)s->rx_drop_filtered, "no_buffer", (json_int_t)s->rx_drop_no_desc, "oversize",
        (json_int_t)s->rx_drop_oversize, "disabled", (json_int_t)s->rx_drop_disabled, "tx_drops",
        "malformed", (json_int_t)s->tx_drop_malformed, "backend", (json_int_t)s->tx_drop_backend,
        "tx_backend_full_waits", (json_int_t)s->tx_wait_backend, "tx_budget_yields",
        (json_int_t)s->tx_budget_yields, "irq_raised", (json_int_t)s->irq_raised, "irq_lowered",
        (json_int_t)s->irq_lowered, "mitigation_timer_firings", "itr", (json_int_t)s->itr_fired,
        "rdtr", (json_int_t)s->rdtr_fired, "radv", (json_int_t)s->radv_fired, "tidv",
        (json_int_t)s->tidv_fired, "tadv", (json_int_t)s->tadv_fired, "bad_ring",
        (json_int_t)s->bad_ring, "unknown_register_accesses", (json_int_t)s->unknown_reg);
}

json_t *e1000_info(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    char mac[18];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1], e->mac[2],
             e->mac[3], e->mac[4], e->mac[5]);
    json_t *regs =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ctrl",
                  (json_int_t)R(E1000_CTRL), "status", (json_int_t)R(E1000_STATUS), "icr",
                  (json_int_t)R(E1000_ICR), "ims", (json_int_t)R(E1000_IMS), "rctl",
                  (json_int_t)R(E1000_RCTL), "tctl", (json_int_t)R(E1000_TCTL), "itr",
                  (json_int_t)R(E1000_ITR), "rdtr", (json_int_t)R(E1000_RDTR), "radv",
                  (json_int_t)R(E1000_RADV), "tidv", (json_int_t)R(E1000_TIDV), "tadv",
                  (json_int_t)R(E1000_TADV), "rxcsum", (json_int_t)R(E1000_RXCSUM));
    json_t *info = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:I}", "name", e->name, "model",
        "e1000", "netdev", netdev_id(e->nd), "mac", mac, "link_up", e1000_link_up(e),
        "irq_asserted", e->irq_level, "bus_master", pci_bus_master(&e->pci), "registers", regs,
        "rx_ring", e1000_ring_info(e, E1000_RDBAL, E1000_RDBAH, E1000_RDLEN, E1000_RDH, E1000_RDT),
        "tx_ring", e1000_ring_info(e, E1000_TDBAL, E1000_TDBAH, E1000_TDLEN, E1000_TDH, E1000_TDT),
        "counters", e1000_counters(&e->stats), "loopback_queued", (json_int_t)e->lb_count);
    json_object_set_new(info, "register_accesses", e1000_reg_access_info(e));
    pthread_mutex_unlock(&e->lock);
    return info;
}
