/* netdev core unit tests, link and observers: link down drops both directions and tells the
 * NIC; observers see each frame once, TX as the guest sent it and RX when the NIC takes it;
 * one NIC per netdev; netdev_create's errors for a bad -netdev. */
#include "tests/unit/netdev_fixture.h"

#include "net/backend.h"
#include "vmm/iov.h"
#include "vmm/opts.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <linux/if_tun.h>
#include <string.h>

START_TEST(test_link_down)
{
    open_fake(false);
    size_t n = seq_frame(frame, 1, 64);
    ck_assert(netdev_link_up(nd));
    netdev_set_link(nd, false);
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 1);
    ck_assert(!nic.link_up);
    netdev_set_link(nd, false); /* no change, no call */
    ck_assert_uint_eq(nic.link_changes, 1);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), -ENETDOWN);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), -ENETDOWN);
    ck_assert_uint_eq(be.send_calls, 0);
    const struct netdev_stats *st = netdev_get_stats(nd);
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], 2);
    ck_assert_uint_eq(st->tx_packets, 0);
    /* Frames from the host are dropped too, and the NIC is not asked. */
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(st->drops[NETDEV_DROP_LINK_DOWN], 3);
    ck_assert_uint_eq(nic.receive_calls, 0);
    netdev_set_link(nd, true);
    ck_assert_uint_eq(nic.link_changes, 2);
    ck_assert(nic.link_up);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0);
    ck_assert_uint_eq(be.nsent, 1);
    ck_assert(deliver(frame, n));
    ck_assert_uint_eq(nic.received, 1);
    close_fake();
}
END_TEST

/* The link is up only while set_link and the backend's carrier both are: a backend whose
 * peer comes back does not undo a set_link off, and set_link on does not raise a link whose
 * backend has lost its carrier. */
START_TEST(test_set_link_and_carrier)
{
    open_fake(false);
    netdev_set_link(nd, false);
    netdev_set_carrier(nd, false);
    netdev_set_carrier(nd, true); /* the peer came back */
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 1);
    netdev_set_link(nd, true);
    ck_assert(netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 2);
    netdev_set_carrier(nd, false); /* the backend lost its peer */
    netdev_set_link(nd, true);     /* the user cannot raise it */
    ck_assert(!netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 3);
    json_t *info = netdev_info(nd);
    ck_assert(json_is_false(json_object_get(info, "link_up")));
    ck_assert(json_is_true(json_object_get(info, "set_link_up")));
    ck_assert(json_is_false(json_object_get(info, "carrier")));
    json_decref(info);
    netdev_set_carrier(nd, true);
    ck_assert(netdev_link_up(nd));
    ck_assert_uint_eq(nic.link_changes, 4);
    close_fake();
}
END_TEST

/* What one observer saw. */
struct obs_rec {
    unsigned tx, rx;
    size_t last_len;
    enum netdev_dir last_dir;
    struct virtio_net_hdr_v1 last_hdr;
    uint8_t last[128];
};

static void obs_frame(void *opaque, enum netdev_dir dir, const struct virtio_net_hdr_v1 *hdr,
                      const struct iovec *iov, int iovcnt, size_t len)
{
    struct obs_rec *r = opaque;
    if (dir == NETDEV_TX)
        r->tx++;
    else
        r->rx++;
    r->last_dir = dir;
    r->last_len = len;
    r->last_hdr = *hdr;
    iov_to_buf(iov, iovcnt, 0, r->last, len < sizeof(r->last) ? len : sizeof(r->last));
}

/* The last frame r saw went dir and was the len bytes of f (its first 128 bytes compared). */
static void expect_observed(const struct obs_rec *r, enum netdev_dir dir, const uint8_t *f,
                            size_t len)
{
    ck_assert_int_eq(r->last_dir, dir);
    ck_assert_uint_eq(r->last_len, len);
    ck_assert_mem_eq(r->last, f, len < sizeof(r->last) ? len : sizeof(r->last));
}

/* TX with observers a and b: a plain frame, a GSO frame observed once as the guest sent it
 * (before software offload), and a malformed frame not observed. */
static void observe_tx(struct obs_rec *a, const struct obs_rec *b)
{
    size_t n = seq_frame(frame, 3, 64);
    ck_assert_int_eq(fn_nic_send(&nic, NULL, frame, n), 0);
    ck_assert_uint_eq(a->tx, 1);
    ck_assert_uint_eq(b->tx, 1);
    expect_observed(a, NETDEV_TX, frame, n);
    struct virtio_net_hdr_v1 h;
    size_t g = gso_frame(frame, &h);
    ck_assert_int_eq(fn_nic_send(&nic, &h, frame, g), 0);
    ck_assert_uint_eq(a->tx, 2);
    ck_assert_uint_eq(a->last_len, g);
    ck_assert_mem_eq(&a->last_hdr, &h, sizeof(h));
    fn_nic_send(&nic, NULL, frame, 5);
    ck_assert_uint_eq(a->tx, 2);
}

START_TEST(test_observers)
{
    open_fake(false);
    struct obs_rec a = {0}, b = {0}, spare[NETDEV_MAX_OBSERVERS];
    struct netdev_observer oa = {obs_frame, &a}, ob = {obs_frame, &b};
    ck_assert_int_eq(netdev_add_observer(nd, &oa), 0);
    ck_assert_int_eq(netdev_add_observer(nd, &ob), 0);
    observe_tx(&a, &b);
    /* RX: observed when the NIC takes the frame, not while it is refused and queued. */
    size_t n = seq_frame(frame, 4, 80);
    nic.refuse = true;
    deliver(frame, n);
    ck_assert_uint_eq(a.rx, 0);
    nic.refuse = false;
    netdev_rx_ready(nd);
    run_until_received(1);
    ck_assert_uint_eq(a.rx, 1);
    expect_observed(&a, NETDEV_RX, frame, n);
    /* Removal, and the limits. */
    ck_assert_int_eq(netdev_remove_observer(nd, &a), 0);
    ck_assert_int_eq(netdev_remove_observer(nd, &a), -ENOENT);
    deliver(frame, n);
    ck_assert_uint_eq(a.rx, 1);
    ck_assert_uint_eq(b.rx, 2);
    for (int i = 0; i < NETDEV_MAX_OBSERVERS - 1; i++) {
        struct netdev_observer o = {obs_frame, &spare[i]};
        ck_assert_int_eq(netdev_add_observer(nd, &o), 0);
    }
    struct netdev_observer o = {obs_frame, &spare[NETDEV_MAX_OBSERVERS - 1]};
    ck_assert_int_eq(netdev_add_observer(nd, &o), -ENOSPC);
    close_fake();
}
END_TEST

static size_t other_receive(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                            const struct iovec *iov, int iovcnt, size_t len)
{
    (void)opaque, (void)hdr, (void)iov, (void)iovcnt;
    return len;
}

/* -netdev specs netdev_create refuses, and what the error must say. */
static void expect_create_errors(void)
{
    static const struct {
        const char *spec, *say, *say_too;
    } bad[] = {
        {"nosuch,id=x", "unknown type 'nosuch'", "user"},
        {"socket,udp=127.0.0.1:1,localaddr=127.0.0.1:0", "id= is required", NULL},
        {"user,id=u9,bogus=1", "bogus", NULL},
    };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512];
        struct opts *o = opts_parse(bad[i].spec, "type", err, sizeof(err));
        ck_assert_ptr_null(netdev_create(loop, o, err, sizeof(err)));
        ck_assert_msg(strstr(err, bad[i].say) && (!bad[i].say_too || strstr(err, bad[i].say_too)),
                      "%s: %s", bad[i].spec, err);
        opts_free(o);
    }
}

START_TEST(test_attach_twice_and_create_errors)
{
    open_fake(false);
    static const struct netdev_nic_ops other = {.receive = other_receive};
    ck_assert_int_eq(netdev_attach(nd, "second-nic", &other, NULL), -EBUSY);
    /* The first NIC still gets the frames. */
    size_t n = seq_frame(frame, 9, 64);
    deliver(frame, n);
    ck_assert_uint_eq(nic.received, 1);
    /* No vnet header: offloads other than none are refused. */
    ck_assert_int_eq(netdev_set_rx_offloads(nd, TUN_F_CSUM), -EOPNOTSUPP);
    ck_assert_int_eq(netdev_set_rx_offloads(nd, 0), 0);
    ck_assert_uint_eq(be.offload_calls, 0);
    ck_assert_str_eq(netdev_id(nd), "f0");
    ck_assert_str_eq(netdev_type(nd), "fake");
    expect_create_errors();
    close_fake();
}
END_TEST

void netdev_link_tests(TCase *tc)
{
    tcase_add_test(tc, test_link_down);
    tcase_add_test(tc, test_set_link_and_carrier);
    tcase_add_test(tc, test_observers);
    tcase_add_test(tc, test_attach_twice_and_create_errors);
}
