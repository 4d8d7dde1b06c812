/* Logging: one line per event on stderr, "LEVEL component: message".
 *
 * The level is process-wide and set once at start-up (from --log-level);
 * it is the one piece of process state outside the pump object, kept in an
 * atomic so that threads may log freely. */
#ifndef XMLBUS_LOG_H
#define XMLBUS_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { XB_LOG_ERROR = 0, XB_LOG_WARN, XB_LOG_INFO, XB_LOG_DEBUG } xb_log_level_t;

void xb_log_set_level(xb_log_level_t level);
xb_log_level_t xb_log_get_level(void);
/* "error", "warn", "info", "debug" -> level. Returns 0, or -1 if unknown. */
int xb_log_level_parse(const char *name, xb_log_level_t *level);
int xb_log_enabled(xb_log_level_t level);

void xb_log(xb_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define XB_ERROR(comp, ...) xb_log(XB_LOG_ERROR, comp, __VA_ARGS__)
#define XB_WARN(comp, ...) xb_log(XB_LOG_WARN, comp, __VA_ARGS__)
#define XB_INFO(comp, ...) xb_log(XB_LOG_INFO, comp, __VA_ARGS__)
#define XB_DEBUG(comp, ...)                          \
    do {                                             \
        if (xb_log_enabled(XB_LOG_DEBUG))            \
            xb_log(XB_LOG_DEBUG, comp, __VA_ARGS__); \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
