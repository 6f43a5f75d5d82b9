/* Unit tests for the control socket's transport (vmm/monitor.c) against hostile and broken
 * clients, over real sockets with a real event loop (fixture in monitor_fixture.c): malformed
 * requests (bad JSON, non-objects, wrong types, binary garbage) get error replies and the
 * client is still served; an over-long line disconnects; a partial line then close runs
 * nothing; a client gone mid-reply is dropped; a client that never reads leaves the
 * monitor's buffer bounded and the loop serving others, and later gets every reply in
 * order; the client limit holds. Nothing here depends on timing. */
#include "tests/unit/monitor_fixture.h"
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* --- malformed input ------------------------------------------------------------------------ */

START_TEST(test_malformed_requests)
{
    struct cl c;
    cl_open(&c);
    expect_error(&c, "{\"execute\":", "GenericError", "JSON parse error");
    expect_error(&c, "[1,2]", "GenericError", "must be a JSON object");
    expect_error(&c, "42", "GenericError", "must be a JSON object");
    json_t *r = call(&c, "{\"id\":5}");
    assert_error(r, "GenericError", "lacks \"execute\"");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    expect_error(&c, "{\"execute\":7}", "GenericError", "lacks \"execute\"");
    r = call(&c, "{\"execute\":\"nope\",\"id\":\"x\"}");
    assert_error(r, "CommandNotFound", "nope");
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);
    expect_error(&c, "{\"execute\":\"quit\",\"arguments\":[]}", "GenericError",
                 "must be an object");
    expect_error(&c, "{\"execute\":\"quit\",\"bogus\":1}", "GenericError", "unexpected member");
    expect_error(&c, "{\"execute\":\"quit\",\"arguments\":{\"now\":true}}", "GenericError",
                 "unexpected argument 'now'");
    expect_error(&c, "{\"execute\":\"set_link\",\"arguments\":{\"name\":1,\"up\":true}}",
                 "GenericError", "'name' must be a string");
    expect_error(&c, "{\"execute\":\"quit\",\"execute\":\"quit\"}", "GenericError", "JSON");
    /* binary garbage, NUL bytes and invalid UTF-8 included */
    static const char garbage[] = {'\x00', '\xff', '\xfe', '{', '\x01', '"', '\x80', '\n'};
    cl_send(&c, garbage, sizeof(garbage));
    r = cl_line(&c);
    assert_error(r, "GenericError", "JSON parse error");
    json_decref(r);
    cl_send(&c, "\n   \r\n\n", 7); /* blank lines: no reply */
    ck_assert_int_eq(T.quits, 0);
    expect_ok(&c, "{\"execute\":\"quit\"}"); /* the client is still served, in order */
    ck_assert_int_eq(T.quits, 1);
    struct monitor_counters k = counters();
    ck_assert_uint_eq(k.clients, 1);
    ck_assert_uint_eq(k.errors, 12);
    ck_assert_uint_eq(k.requests, 13);
    close(c.fd);
}
END_TEST

START_TEST(test_long_line_disconnects)
{
    struct cl c, other;
    cl_open(&c);
    cl_open(&other);
    size_t len = MONITOR_MAX_LINE + 4096;
    char *big = malloc(len);
    memset(big, 'a', len);
    cl_send(&c, big, len);
    free(big);
    json_t *r = cl_line(&c);
    assert_error(r, "GenericError", "longer than");
    json_decref(r);
    ck_assert_ptr_null(cl_line(&c)); /* then EOF */
    ck_assert_uint_eq(counters().too_long, 1);
    ck_assert_uint_eq(counters().clients, 1);
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}");
    close(c.fd);
    close(other.fd);
}
END_TEST

START_TEST(test_partial_line_then_close)
{
    struct cl c;
    cl_open(&c);
    cl_send(&c, "{\"execute\":\"quit\"", 17);
    pump();
    close(c.fd);
    for (int i = 0; i < MAX_PUMPS && counters().clients; i++)
        evloop_run_once(T.loop, 1);
    ck_assert_uint_eq(counters().clients, 0);
    ck_assert_int_eq(T.quits, 0); /* the partial request never ran */
    ck_assert_uint_eq(counters().requests, 0);
}
END_TEST

START_TEST(test_disconnect_mid_reply)
{
    struct cl c, other;
    cl_open_raw(&c, 4096); /* a small send buffer on the monitor's side */
    for (int i = 0; i < 50; i++)
        cl_send(&c, "{\"execute\":\"query-network\"}\n", 28);
    pump();
    char head[16];
    ck_assert_int_gt(read(c.fd, head, sizeof(head)), 0); /* the start of the replies... */
    close(c.fd);                                         /* ...and gone */
    for (int i = 0; i < MAX_PUMPS && counters().clients; i++)
        evloop_run_once(T.loop, 1);
    ck_assert_uint_eq(counters().clients, 0);
    ck_assert_uint_ge(counters().dropped, 1);
    cl_open(&other); /* the monitor is intact */
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}");
    close(other.fd);
}
END_TEST

#define FLOOD 3000

START_TEST(test_never_reading_client_is_bounded)
{
    struct cl c, other;
    cl_open(&c);
    cl_open(&other);
#define FLOOD_REQ "{\"execute\":\"query-commands\",\"id\":%d}\n"
    char line[64];
    int sent = 0;
    /* Send until the socket pushes back: the monitor has stopped reading this client. */
    for (int stalls = 0; sent < FLOOD && stalls < 50;) {
        int n = snprintf(line, sizeof(line), FLOOD_REQ, sent);
        if (write(c.fd, line, (size_t)n) == n) {
            sent++;
            stalls = 0;
        } else {
            stalls += evloop_run_once(T.loop, 0) == 0;
        }
    }
    pump();
    ck_assert_int_lt(sent, FLOOD); /* back-pressure reached the client */
    size_t one_reply = 2048;       /* query-commands: well under this */
    ck_assert_uint_le(counters().out_high_water, MONITOR_OUT_HIGH + one_reply);
    expect_ok(&other, "{\"execute\":\"qmp_capabilities\"}"); /* the loop is not blocked */
    /* Now read: every request is answered, in order, and the rest can be sent. */
    int next = 0;
    while (next < FLOOD) {
        if (sent < FLOOD) {
            int n = snprintf(line, sizeof(line), FLOOD_REQ, sent);
            if (write(c.fd, line, (size_t)n) == n)
                sent++;
        }
        json_t *r = cl_line(&c);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), next++);
        json_decref(r);
    }
    ck_assert_uint_le(counters().out_high_water, MONITOR_OUT_HIGH + one_reply);
    close(c.fd);
    close(other.fd);
}
END_TEST

START_TEST(test_client_limit)
{
    struct cl c[MONITOR_MAX_CLIENTS];
    for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
        cl_open(&c[i]);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(monitor_add_client(T.mon, sv[1]), -ENOSPC);
    char buf[256];
    ssize_t n = read(sv[0], buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "too many monitor clients"));
    ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), 0); /* closed */
    close(sv[0]);
    ck_assert_uint_eq(counters().refused, 1);
    for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
        close(c[i].fd);
}
END_TEST

static Suite *monitor_io_suite(void)
{
    Suite *s = suite_create("monitor_io");
    TCase *tc = tcase_create("robustness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malformed_requests);
    tcase_add_test(tc, test_long_line_disconnects);
    tcase_add_test(tc, test_partial_line_then_close);
    tcase_add_test(tc, test_disconnect_mid_reply);
    tcase_add_test(tc, test_never_reading_client_is_bounded);
    tcase_add_test(tc, test_client_limit);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(monitor_io_suite)
