/* The bounded intrusive queue of pump/lqueue.c. */
#include "lqueue.h"

#include <CUnit/CUnit.h>
#include <string.h>

#include "xbt_main.h"

typedef struct {
    int id;
    xbp_lqlink_t link;
} item_t;

static int id_of(xbp_lqlink_t *l)
{
    return l ? XBP_LQ_ITEM(l, item_t, link)->id : -1;
}

static void test_fifo_order(void)
{
    xbp_lqueue_t *q = xbp_lqueue_new(0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    item_t it[5];
    memset(it, 0, sizeof it);
    for (int i = 0; i < 5; i++) {
        it[i].id = i;
        CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[i].link, 10), 0);
    }
    CU_ASSERT_EQUAL(xbp_lqueue_len(q), 5);
    CU_ASSERT_EQUAL(xbp_lqueue_bytes(q), 50);
    CU_ASSERT_EQUAL(id_of(xbp_lqueue_peek(q)), 0);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(id_of(xbp_lqueue_pop(q)), i);
    CU_ASSERT_PTR_NULL(xbp_lqueue_pop(q));
    CU_ASSERT_EQUAL(xbp_lqueue_len(q), 0);
    CU_ASSERT_EQUAL(xbp_lqueue_bytes(q), 0);
    xbp_lqueue_destroy(&q);
    CU_ASSERT_PTR_NULL(q);
}

static void test_bounds(void)
{
    xbp_lqueue_t *q = xbp_lqueue_new(3, 100);
    item_t it[5];
    memset(it, 0, sizeof it);
    CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[0].link, 60), 0);
    CU_ASSERT_FALSE(xbp_lqueue_fits(q, 41));
    CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[1].link, 41), -1); /* bytes */
    CU_ASSERT_PTR_NULL(it[1].link.in);
    CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[1].link, 40), 0); /* exactly 100 */
    CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[2].link, 0), 0);
    CU_ASSERT_EQUAL(xbp_lqueue_push(q, &it[3].link, 0), -1); /* count */
    CU_ASSERT_EQUAL(xbp_lqueue_len(q), 3);
    /* push_front ignores the bounds: a retry was admitted once already */
    xbp_lqueue_push_front(q, &it[3].link, 5);
    CU_ASSERT_EQUAL(xbp_lqueue_len(q), 4);
    CU_ASSERT_EQUAL(xbp_lqueue_bytes(q), 105);
    xbp_lqueue_destroy(&q);
    CU_ASSERT_PTR_NULL(it[0].link.in); /* items are told they are in no queue */
}

static void test_remove_anywhere(void)
{
    xbp_lqueue_t *q = xbp_lqueue_new(0, 0), *other = xbp_lqueue_new(0, 0);
    item_t it[4];
    memset(it, 0, sizeof it);
    for (int i = 0; i < 4; i++) {
        it[i].id = i;
        xbp_lqueue_push(q, &it[i].link, 1);
    }
    xbp_lqueue_remove(q, &it[2].link);     /* middle */
    xbp_lqueue_remove(q, &it[0].link);     /* head */
    xbp_lqueue_remove(q, &it[3].link);     /* tail */
    xbp_lqueue_remove(q, &it[3].link);     /* twice: nothing */
    xbp_lqueue_remove(other, &it[1].link); /* not in that queue: nothing */
    CU_ASSERT_EQUAL(xbp_lqueue_len(q), 1);
    CU_ASSERT_EQUAL(xbp_lqueue_len(other), 0);
    CU_ASSERT_EQUAL(id_of(xbp_lqueue_peek(q)), 1);
    CU_ASSERT_PTR_NULL(xbp_lqueue_next(xbp_lqueue_peek(q)));
    xbp_lqueue_push(q, &it[3].link, 1);
    xbp_lqueue_push_front(q, &it[0].link, 1);
    int want[] = {0, 1, 3}, n = 0;
    for (xbp_lqlink_t *l = xbp_lqueue_peek(q); l; l = xbp_lqueue_next(l))
        CU_ASSERT_EQUAL(id_of(l), want[n++]);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(xbp_lqueue_bytes(q), 3);
    xbp_lqueue_destroy(&q);
    xbp_lqueue_destroy(&other);
}

static void test_warning_level(void)
{
    xbp_lqueue_t *q = xbp_lqueue_new(10, 0);
    item_t it[10];
    memset(it, 0, sizeof it);
    int warnings = 0;
    for (int i = 0; i < 10; i++) {
        xbp_lqueue_push(q, &it[i].link, 1);
        warnings += xbp_lqueue_at_warning(q);
    }
    CU_ASSERT_EQUAL(warnings, 1); /* once, at 8 of 10 */
    xbp_lqueue_destroy(&q);
    q = xbp_lqueue_new(0, 0);
    for (int i = 0; i < 10; i++)
        xbp_lqueue_push(q, &it[i].link, 1);
    CU_ASSERT_FALSE(xbp_lqueue_at_warning(q)); /* no bound, no warning */
    xbp_lqueue_destroy(&q);
}

static const xbt_test_t lqueue_tests[] = {
    {"fifo order", test_fifo_order},
    {"bounds in count and bytes", test_bounds},
    {"remove anywhere", test_remove_anywhere},
    {"warning level", test_warning_level},
    {NULL, NULL},
};

XBT_SUITES({"lqueue", NULL, NULL, NULL, NULL, lqueue_tests});
