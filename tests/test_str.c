/* The string helpers of bus/str.c. */
#include "str.h"

#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "xbt_main.h"

static void test_strlcpy(void)
{
    char buf[6];
    memset(buf, 'x', sizeof buf);
    CU_ASSERT_EQUAL(xb_strlcpy(buf, "abc", sizeof buf), 3);
    CU_ASSERT_STRING_EQUAL(buf, "abc");
    CU_ASSERT_EQUAL(xb_strlcpy(buf, "abcde", sizeof buf), 5); /* exact fit */
    CU_ASSERT_STRING_EQUAL(buf, "abcde");
    CU_ASSERT_EQUAL(xb_strlcpy(buf, "abcdefgh", sizeof buf), 5); /* cut */
    CU_ASSERT_STRING_EQUAL(buf, "abcde");
    CU_ASSERT_EQUAL(xb_strlcpy(buf, NULL, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_EQUAL(xb_strlcpy(buf, "", sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    char one[1] = {'x'};
    CU_ASSERT_EQUAL(xb_strlcpy(one, "abc", 1), 0);
    CU_ASSERT_EQUAL(one[0], '\0');
    CU_ASSERT_EQUAL(xb_strlcpy(NULL, "abc", 4), 0);
    CU_ASSERT_EQUAL(xb_strlcpy(buf, "abc", 0), 0);
}

static void test_u64_to_dec(void)
{
    const unsigned long long values[] = {0, 7, 10, 99, 1234567890123ULL, ULLONG_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char got[21], want[32];
        snprintf(want, sizeof want, "%llu", values[i]);
        CU_ASSERT_EQUAL(xb_u64_to_dec(got, values[i]), strlen(want));
        CU_ASSERT_STRING_EQUAL(got, want);
    }
}

static const xbt_test_t str_tests[] = {
    {"xb_strlcpy", test_strlcpy},
    {"xb_u64_to_dec", test_u64_to_dec},
    {NULL, NULL},
};

XBT_SUITES({"str", NULL, NULL, NULL, NULL, str_tests});
