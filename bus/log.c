/* Logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = XB_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void xb_log_set_level(xb_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

xb_log_level_t xb_log_get_level(void)
{
    return (xb_log_level_t)atomic_load(&log_level);
}

int xb_log_enabled(xb_log_level_t level)
{
    return (int)level <= atomic_load(&log_level);
}

int xb_log_level_parse(const char *name, xb_log_level_t *level)
{
    for (int i = 0; name && i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (xb_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void xb_log(xb_log_level_t level, const char *component, const char *fmt, ...)
{
    if (!xb_log_enabled(level))
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03d %-5s [%d] %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], (int)getpid(),
                     component ? component : "xmlbus");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so that lines of concurrent processes never interleave. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* nothing sensible to do when stderr is gone */
    }
}
