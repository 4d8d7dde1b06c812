/* The one `main` of every test program (tests/support/xbt_main.c).
 *
 * A test file lists its suites with XBT_SUITES and defines no main:
 *
 *     static const xbt_test_t str_tests[] = {
 *         {"copies", test_copies},
 *         {NULL, NULL},
 *     };
 *     XBT_SUITES({"str", NULL, NULL, NULL, NULL, str_tests});
 *
 * `test_x [SUITE [TEST]]` runs only the suite (and test) of that name. */
#ifndef XBT_MAIN_H
#define XBT_MAIN_H

#include <CUnit/CUnit.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} xbt_test_t;

typedef struct {
    const char *name;
    int (*init)(void);       /* once before the suite (may be NULL) */
    int (*clean)(void);      /* once after it (may be NULL) */
    void (*setup)(void);     /* before each test (may be NULL) */
    void (*teardown)(void);  /* after each test (may be NULL) */
    const xbt_test_t *tests; /* ends with {NULL, NULL} */
} xbt_suite_t;

/* Defined by each test program, ends with an entry whose name is NULL. */
extern const xbt_suite_t xbt_suites[];

#define XBT_SUITES(...) \
    const xbt_suite_t xbt_suites[] = {__VA_ARGS__, {NULL, NULL, NULL, NULL, NULL, NULL}}

#endif
