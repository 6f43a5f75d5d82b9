/* Unit tests for software offload: TCP segmentation of IPv4 and IPv6 frames (with and without
 * an 802.1Q tag) checked byte by byte against independent reference checksums
 * (offload_segment.c), the same frames coalesced into large packets within a backend's limits
 * (offload_coalesce.c), checksum completion for TCP and UDP seeded as Linux seeds it and the
 * RFC 1071 helpers (offload_csum.c), and offload_check() against each bogus header of the
 * malicious-guest checklist (offload_check.c), over the shared offload_fixture. This file
 * builds the suite. */
#include "tests/unit/offload_fixture.h"
#include "tests/unit/unit.h"

#include <check.h>

static Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *seg = tcase_create("segment");
    offload_segment_tests(seg);
    offload_coalesce_tests(seg);
    tcase_set_timeout(seg, 60); /* byte-by-byte checks under the sanitizers */
    suite_add_tcase(s, seg);
    TCase *csum = tcase_create("csum");
    offload_csum_tests(csum);
    tcase_set_timeout(csum, 60);
    suite_add_tcase(s, csum);
    TCase *check = tcase_create("check");
    offload_check_tests(check);
    suite_add_tcase(s, check);
    return s;
}

UNIT_MAIN(offload_suite)
