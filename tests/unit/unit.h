/* Shared scaffolding for the Check unit tests: each file defines one suite and ends with
 * UNIT_MAIN(its_suite_function). */
#ifndef NICVM_TESTS_UNIT_H
#define NICVM_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

#define UNIT_MAIN(suite_fn)                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(suite_fn());                                                  \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                               \
    }

#endif
