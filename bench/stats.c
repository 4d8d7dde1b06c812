/* Clocks and latency samples of xmlbus-bench. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_self_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_load1(void)
{
    char buf[128];
    double v = -1;
    if (bench_read_file("/proc/loadavg", buf, sizeof buf) > 0 && sscanf(buf, "%lf", &v) != 1)
        v = -1;
    return v;
}

int bench_lat_add(bench_lat_t *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *p = realloc(l->ns, cap * sizeof *p);
        if (!p)
            return -1;
        l->ns = p;
        l->cap = cap;
    }
    l->ns[l->n++] = ns;
    return 0;
}

void bench_lat_reset(bench_lat_t *l)
{
    l->n = 0;
}

void bench_lat_free(bench_lat_t *l)
{
    free(l->ns);
    l->ns = NULL;
    l->n = l->cap = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q (0 < q <= 1) of n sorted samples, in µs. */
static double rank_us(const uint64_t *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

void bench_lat_fill(bench_lat_t *l, bench_row_t *row)
{
    row->p50_us = row->p99_us = row->p999_us = row->mean_us = -1;
    if (l->n == 0)
        return;
    qsort(l->ns, l->n, sizeof *l->ns, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += (double)l->ns[i];
    row->mean_us = sum / (double)l->n / 1000.0;
    row->p50_us = rank_us(l->ns, l->n, 0.50);
    row->p99_us = rank_us(l->ns, l->n, 0.99);
    row->p999_us = rank_us(l->ns, l->n, 0.999);
}
