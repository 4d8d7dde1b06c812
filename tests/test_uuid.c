/* Tests of bus/uuid.c: canonical UUIDs (version 7, time-ordered; version 4
 * for secrets), unique across threads and forks. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xmlbus/uuid.h"
#include "xbt_main.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Sorts the n ids and counts those equal to their predecessor. */
static int count_dups(char (*ids)[37], size_t n)
{
    qsort(ids, n, 37, cmp);
    int dups = 0;
    for (size_t i = 1; i < n; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    return dups;
}

static void test_canonical_and_unique(void)
{
    enum { N = 20000 };
    char(*ids)[37] = calloc(N, 37);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    for (int i = 0; i < N; i++) {
        xb_uuid_new(ids[i]);
        CU_ASSERT_TRUE(xb_uuid_is_canonical(ids[i]));
    }
    CU_ASSERT_EQUAL(count_dups(ids, N), 0);
    free(ids);
}

static void test_rejects_non_canonical(void)
{
    CU_ASSERT_FALSE(xb_uuid_is_canonical(NULL));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0F8E2F7A-3C1B-4E55-9A0E-2A1D5B6C7D8E"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-1e55-9a0e-2a1d5b6c7d8e")); /* version 1 */
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-ca0e-2a1d5b6c7d8e")); /* variant */
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0190f8e2-f7a3-6c1b-9a0e-2a1d5b6c7d8e")); /* version 6 */
    CU_ASSERT_TRUE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"));
    CU_ASSERT_TRUE(xb_uuid_is_canonical("0190f8e2-f7a3-7c1b-9a0e-2a1d5b6c7d8e")); /* version 7 */
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The 48 bits of milliseconds at the front of a version 7 UUID. */
static uint64_t id_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

/* New ids are version 7: they carry the time they were made (checked to a
 * minute, against a wall clock that may be stepped), and one made later
 * does not sort before one made earlier (to the 12 bits of the
 * millisecond's fraction that follow the version digit); one pair out of
 * order is allowed for a clock stepped back during the loop. */
static void test_version7_time_ordered(void)
{
    enum { N = 5000 };
    uint64_t before = now_ms();
    char prev[37] = "", id[37];
    int out_of_order = 0, not_v7 = 0;
    for (int i = 0; i < N; i++) {
        xb_uuid_new(id);
        not_v7 += id[14] != '7' || !strchr("89ab", id[19]);
        if (i > 0 && strncmp(prev, id, 18) > 0)
            out_of_order++;
        memcpy(prev, id, sizeof id);
    }
    uint64_t after = now_ms();
    CU_ASSERT_EQUAL(not_v7, 0);
    CU_ASSERT(out_of_order <= 1);
    CU_ASSERT(id_ms(id) + 60000 >= before && id_ms(id) <= after + 60000);
}

/* Secrets are version 4: 122 random bits, no time in them. */
static void test_random_version4(void)
{
    enum { N = 20000 };
    char(*ids)[37] = calloc(N, 37);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    int not_v4 = 0;
    for (int i = 0; i < N; i++) {
        xb_uuid_new_random(ids[i]);
        not_v4 += !xb_uuid_is_canonical(ids[i]) || ids[i][14] != '4';
    }
    CU_ASSERT_EQUAL(not_v4, 0);
    CU_ASSERT_EQUAL(count_dups(ids, N), 0);
    free(ids);
}

/* A forked child must not hand out the UUIDs its parent will. */
static void test_fork_differs(void)
{
    char before[37], parent[37], child[37] = "";
    xb_uuid_new(before); /* fills this thread's pool before the fork */
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        char id[37];
        xb_uuid_new(id);
        ssize_t w = write(fds[1], id, 37);
        _exit(w == 37 ? 0 : 1);
    }
    xb_uuid_new(parent);
    CU_ASSERT_EQUAL(read(fds[0], child, 37), 37);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    CU_ASSERT_TRUE(xb_uuid_is_canonical(child));
    CU_ASSERT_STRING_NOT_EQUAL(parent, child);
}

#define PER_THREAD 5000
static void *draw(void *arg)
{
    char(*ids)[37] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        xb_uuid_new(ids[i]);
    return NULL;
}

static void test_threads_unique(void)
{
    char(*ids)[37] = calloc(4 * PER_THREAD, 37);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, draw, ids + i * PER_THREAD);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(count_dups(ids, 4 * PER_THREAD), 0);
    free(ids);
}

static const xbt_test_t uuid_tests[] = {
    {"canonical and unique", test_canonical_and_unique},
    {"non-canonical rejected", test_rejects_non_canonical},
    {"version 7, ordered by time", test_version7_time_ordered},
    {"version 4 for secrets", test_random_version4},
    {"a forked child differs", test_fork_differs},
    {"threads draw unique ids", test_threads_unique},
    {NULL, NULL},
};

XBT_SUITES({"uuid", NULL, NULL, NULL, NULL, uuid_tests});
