/* A row's life as the other files of bench/ report it: started (progress
 * on stderr) and finished with a status and a note. */
#include <stdarg.h>
#include <stdio.h>

#include "bench.h"

void bench_progress(int *progress, int total, bench_row_t *row)
{
    ++*progress;
    row->load1 = bench_load1();
    fprintf(stderr, "[%d/%d] %s ...\n", *progress, total, row->label);
}

void bench_row_finish(bench_row_t *row, row_status_t st, const char *fmt, ...)
{
    row->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->note, sizeof row->note, fmt, ap);
    va_end(ap);
    if (st == ST_FAILED)
        fprintf(stderr, "    FAILED: %s\n", row->note);
    else if (st == ST_NOT_AVAILABLE)
        fprintf(stderr, "    %s\n", row->note);
    else if (row->kind == ROW_PARSE_ENV || row->kind == ROW_VALIDATE)
        fprintf(stderr, "    %.2f µs per message\n", row->us_per_msg);
    else
        fprintf(stderr, "    %.0f %s, p50 %.0f µs, p99 %.0f µs\n", row->msgs_per_s,
                row->kind == ROW_FLOW ? "round trips/s" : "routed msgs/s", row->p50_us,
                row->p99_us);
}
