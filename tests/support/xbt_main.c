/* The shared `main` of the test programs: registers the suites the program
 * lists in xbt_suites (see xbt_main.h), runs them verbosely and exits 1 when
 * anything failed, 2 when CUnit itself could not be set up. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xbt_main.h"

static bool wanted(const char *filter, const char *name)
{
    return !filter || strcmp(filter, name) == 0;
}

static int add_suite(const xbt_suite_t *s, const char *only_test)
{
    CU_pSuite cs = CU_add_suite_with_setup_and_teardown(s->name, s->init, s->clean, s->setup,
                                                        s->teardown);
    if (!cs)
        return -1;
    for (const xbt_test_t *t = s->tests; t && t->name; t++)
        if (wanted(only_test, t->name) && !CU_add_test(cs, t->name, t->fn))
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *only_suite = argc > 1 ? argv[1] : NULL;
    const char *only_test = argc > 2 ? argv[2] : NULL;
    signal(SIGPIPE, SIG_IGN); /* a peer that went away must not kill the test */
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (const xbt_suite_t *s = xbt_suites; s->name; s++) {
        if (wanted(only_suite, s->name) && add_suite(s, only_test) != 0) {
            fprintf(stderr, "cannot register suite %s: %s\n", s->name, CU_get_error_msg());
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
