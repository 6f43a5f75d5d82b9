/* virtio-net unit tests: the identity registers, feature negotiation and its rules (offered
 * bits with and without a vnet-capable backend, dependencies, VERSION_1, frozen after
 * FEATURES_OK), and the configuration space. */
#include "tests/unit/virtio_net_fixture.h"

#include "tests/common/fakenet.h"

#include <check.h>
#include <endian.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_identity_registers)
{
    ck_assert_uint_eq(rd(VMMIO_MAGIC), 0x74726976);
    ck_assert_uint_eq(rd(VMMIO_VERSION), 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_ID), 1);
    ck_assert_uint_eq(rd(VMMIO_VENDOR_ID), 0x4d56434e);
    ck_assert_uint_eq(rd(VMMIO_STATUS), 0);
    ck_assert_uint_eq(rd(VMMIO_INTERRUPT_STATUS), 0);
    for (unsigned q = 0; q < 2; q++) {
        wr(VMMIO_QUEUE_SEL, q);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
        ck_assert_uint_eq(rd(VMMIO_QUEUE_READY), 0);
    }
    /* No shared memory regions: length -1 (§4.2.2). */
    ck_assert_uint_eq(rd(VMMIO_SHM_LEN_LOW), 0xffffffffu);
    ck_assert_uint_eq(rd(VMMIO_SHM_LEN_HIGH), 0xffffffffu);
    ck_assert_uint_eq(T.t->stats.bad_access, 0);
}
END_TEST

START_TEST(test_offered_features_no_vnet)
{
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET);
    ck_assert_uint_eq(read_offered() & TSO_BITS, 0);
    ck_assert_uint_eq(virtio_net_offered(T.vn), OFFERED_NO_VNET);
    wr(VMMIO_DEVICE_FEATURES_SEL, 2);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_FEATURES), 0);
    wr(VMMIO_DEVICE_FEATURES_SEL, 0xffffffff);
    ck_assert_uint_eq(rd(VMMIO_DEVICE_FEATURES), 0);
    /* Without the vnet header the guest cannot get TSO: acking it is refused. */
    ck_assert(!negotiate(FEAT_OFFLOADS));
    ck_assert(negotiate(OFFERED_NO_VNET));
}
END_TEST

START_TEST(test_offered_features_vnet)
{
    ck_assert_uint_eq(read_offered(), OFFERED_NO_VNET | TSO_BITS);
    init(FEAT_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));
    /* The tap offloads follow what was acked (set on the loop thread at DRIVER_OK). */
    ck_assert_uint_ge(be.offload_calls, 1);
    ck_assert_uint_eq(be.last_offloads, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
    wr(VMMIO_STATUS, 0);
    pump();
    ck_assert_uint_eq(be.last_offloads, 0);
}
END_TEST

/* Over the user backend, which takes TSO frames whole (NETDEV_CAP_GSO_COALESCED), the guest
 * may send TSO (HOST_TSO*), and gets MTU-sized frames (no GUEST_TSO*). */
START_TEST(test_offered_features_coalesced)
{
    char err[256] = "";
    struct opts *o = opts_parse("user,id=u9", "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *u = netdev_create(T.loop, o, err, sizeof(err));
    ck_assert_msg(u != NULL, "%s", err);
    ck_assert(netdev_caps(u) & NETDEV_CAP_GSO_COALESCED);
    struct virtio_net_params p = {.netdev = u,
                                  .mem = &T.gm,
                                  .irq = &T.irq,
                                  .loop = T.loop,
                                  .base = MMIO_BASE + 0x1000,
                                  .name = "vnet9"};
    struct virtio_net *vn = virtio_net_create(&p, err, sizeof(err));
    ck_assert_msg(vn != NULL, "%s", err);
    uint64_t f = virtio_net_offered(vn);
    ck_assert_uint_eq(f & (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6)),
                      F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6));
    ck_assert_uint_eq(f & (F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6)), 0);
    ck_assert_uint_eq(f & OFFERED_NO_VNET, OFFERED_NO_VNET);
    virtio_net_destroy(vn);
    netdev_destroy(u);
    opts_free(o);
}
END_TEST

START_TEST(test_features_not_offered_refused)
{
    uint64_t refused0 = T.t->stats.features_refused;
    /* VIRTIO_NET_F_MQ (22) and a high-word bit (33, VIRTIO_F_ACCESS_PLATFORM) are not offered. */
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_MQ)));
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    ck_assert(!negotiate(FEAT_BASE | F(33)));
    ck_assert(!negotiate(FEAT_BASE | F(63)));
    ck_assert_uint_eq(T.t->stats.features_refused, refused0 + 3);
    /* DRIVER_OK after a refusal is refused too. */
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_DOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV);
    /* The driver may try again with a subset without a reset. */
    write_features(FEAT_BASE);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV | ST_FOK);
}
END_TEST

START_TEST(test_feature_dependencies)
{
    /* GUEST_TSO4 without GUEST_CSUM, HOST_TSO4 without CSUM (§5.1.3.1). */
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO4)));
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_CSUM)));
    ck_assert(!negotiate(FEAT_BASE | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_CSUM)));
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_CSUM)));
    ck_assert(negotiate(FEAT_BASE | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_CSUM)));
    ck_assert(negotiate(FEAT_OFFLOADS));
}
END_TEST

START_TEST(test_version1_required)
{
    ck_assert(!negotiate(FEAT_BASE & ~F(VIRTIO_F_VERSION_1)));
    ck_assert(!negotiate(0));
    ck_assert(negotiate(F(VIRTIO_F_VERSION_1)));
}
END_TEST

START_TEST(test_features_frozen_after_features_ok)
{
    ck_assert(negotiate(FEAT_BASE));
    uint64_t bad0 = T.t->stats.bad_status;
    write_features(OFFERED_NO_VNET); /* ignored: the set is frozen */
    ck_assert_uint_eq(T.t->stats.bad_status, bad0 + 2);
    setup_queues(64, 64);
    driver_ok();
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_LIVE);
    ck_assert_uint_eq(virtio_net_acked(T.vn), FEAT_BASE);
    write_features(OFFERED_NO_VNET);
    ck_assert_uint_eq(virtio_net_acked(T.vn), FEAT_BASE);
    /* And before DRIVER: ignored as well. */
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, ST_ACK);
    write_features(FEAT_BASE);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV);
    wr(VMMIO_STATUS, ST_ACK | ST_DRV | ST_FOK);
    ck_assert_uint_eq(rd(VMMIO_STATUS), ST_ACK | ST_DRV); /* acked 0: no VERSION_1 */
}
END_TEST

START_TEST(test_config_space)
{
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(cfg(i, 1), MAC[i]);
    ck_assert_uint_eq(cfg(0, 2), 0x5452);
    ck_assert_uint_eq(cfg(2, 2), 0x1200);
    ck_assert_uint_eq(cfg(4, 2), 0x5634);
    ck_assert_uint_eq(cfg(0, 4), 0x12005452);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634); /* mac[4..5], status LINK_UP */
    ck_assert_uint_eq(cfg(6, 2), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(cfg(6, 1), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(cfg(7, 1), 0);
    ck_assert_uint_eq(cfg(8, 2), 1); /* max_virtqueue_pairs */
    ck_assert_uint_eq(cfg(10, 2), 1500);
    ck_assert_uint_eq(cfg(10, 1), 1500 & 0xff);
    ck_assert_uint_eq(cfg(11, 1), 1500 >> 8);
    ck_assert_uint_eq(cfg(8, 4), 1u | 1500u << 16);
    /* Past the structure, and at the very end of the window: zeros. */
    ck_assert_uint_eq(cfg(12, 4), 0);
    ck_assert_uint_eq(cfg(0xefc, 4), 0);
    ck_assert_uint_eq(cfg(0xeff, 1), 0);
    /* Writes are ignored; the generation does not move. */
    uint32_t gen = rd(VMMIO_CONFIG_GENERATION);
    wrn(VIRTIO_MMIO_CONFIG, 0xff, 1);
    wrn(VIRTIO_MMIO_CONFIG + 4, 0xffffffff, 4);
    wrn(VIRTIO_MMIO_CONFIG + 10, 9000, 2);
    ck_assert_uint_eq(cfg(0, 4), 0x12005452);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634);
    ck_assert_uint_eq(cfg(10, 2), 1500);
    ck_assert_uint_eq(rd(VMMIO_CONFIG_GENERATION), gen);
    /* The same while live. */
    init(FEAT_BASE);
    ck_assert_uint_eq(cfg(4, 4), 0x00015634);
    ck_assert_uint_eq(cfg(10, 2), 1500);
}
END_TEST

void vn_features_tests(const struct vn_tcases *tc)
{
    tcase_add_test(tc->neg, test_identity_registers);
    tcase_add_test(tc->neg, test_offered_features_no_vnet);
    tcase_add_test(tc->neg, test_features_not_offered_refused);
    tcase_add_test(tc->neg, test_offered_features_coalesced);
    tcase_add_test(tc->neg, test_version1_required);
    tcase_add_test(tc->neg, test_features_frozen_after_features_ok);
    tcase_add_test(tc->neg, test_config_space);
    tcase_add_test(tc->neg_vnet, test_offered_features_vnet);
    tcase_add_test(tc->neg_vnet, test_feature_dependencies);
}
