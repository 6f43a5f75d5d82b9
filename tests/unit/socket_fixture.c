/* Helpers shared by the socket backend's tests (see socket_fixture.h). */
#include "tests/unit/socket_fixture.h"
#include "net/backend.h"
#include "vmm/opts.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evloop *loop;
uint8_t frame[FN_MAX_FRAME];

struct netdev *socket_create(const char *spec)
{
    char err[512] = "";
    struct opts *o = opts_parse(spec, "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *nd = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd != NULL, "netdev_create(%s): %s", spec, err);
    ck_assert_uint_eq(netdev_caps(nd), 0);
    return nd;
}

void expect_create_error(const char *spec, const char *want)
{
    char err[512] = "";
    struct opts *o = opts_parse(spec, "type", err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    struct netdev *nd = netdev_create(loop, o, err, sizeof(err));
    opts_free(o);
    ck_assert_msg(nd == NULL, "%s: accepted", spec);
    ck_assert_msg(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", spec, err, want);
}

void make_frame(uint8_t *f, size_t len, uint32_t seed)
{
    static const uint8_t a[6] = {0x52, 0x54, 0, 0, 0, 1}, b[6] = {0x52, 0x54, 0, 0, 0, 2};
    fn_eth(f, b, a, 0x88b5); /* local experimental ethertype */
    for (size_t i = FN_ETH_HLEN; i < len; i++)
        f[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
    if (len >= FN_ETH_HLEN + 4)
        fn_put32(f + FN_ETH_HLEN, seed);
}

void wait_received(struct fn_nic *nic, uint64_t want, const char *what)
{
    uint64_t end = fn_now_ms() + WAIT_MS;
    while (nic->received < want && fn_now_ms() < end)
        evloop_run_once(loop, 20);
    ck_assert_msg(nic->received >= want, "%s: timeout, %llu of %llu frames received", what,
                  (unsigned long long)nic->received, (unsigned long long)want);
}

unsigned run_for(int ms)
{
    unsigned events = 0;
    uint64_t end = fn_now_ms() + (uint64_t)ms;
    while (fn_now_ms() < end) {
        int n = evloop_run_once(loop, 20);
        ck_assert_int_ge(n, 0);
        events += (unsigned)n;
    }
    return events;
}

void expect_frame(struct fn_nic *nic, const uint8_t *f, size_t len)
{
    struct fn_frame *fr = fn_nic_pop(nic);
    ck_assert_ptr_nonnull(fr);
    ck_assert_uint_eq(fr->len, len);
    ck_assert_mem_eq(fr->data, f, len);
    static const struct virtio_net_hdr_v1 zero;
    ck_assert_mem_eq(&fr->hdr, &zero, sizeof(zero));
    free(fr);
}

void exchange_sizes(struct fn_nic *a, struct fn_nic *b, const size_t *sizes, size_t n)
{
    uint32_t seed = 1;
    for (size_t i = 0; i < n; i++) {
        make_frame(frame, sizes[i], seed++);
        ck_assert_int_eq(fn_nic_send(a, NULL, frame, sizes[i]), 0);
        wait_received(b, b->received + 1, "a -> b");
        expect_frame(b, frame, sizes[i]);
        make_frame(frame, sizes[i], seed++);
        ck_assert_int_eq(fn_nic_send(b, NULL, frame, sizes[i]), 0);
        wait_received(a, a->received + 1, "b -> a");
        expect_frame(a, frame, sizes[i]);
    }
}

void send_burst(struct fn_nic *a, struct fn_nic *b, unsigned count, size_t len)
{
    uint64_t base = b->received;
    for (uint32_t i = 0; i < count; i++) {
        make_frame(frame, len, 1000 + i);
        ck_assert_int_eq(fn_nic_send(a, NULL, frame, len), 0);
    }
    wait_received(b, base + count, "burst");
    for (uint32_t i = 0; i < count; i++) {
        make_frame(frame, len, 1000 + i);
        expect_frame(b, frame, len);
    }
}
