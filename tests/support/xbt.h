/* Helpers for integration tests: files, a real pump process (`xmlbus run`)
 * on a generated organism.yaml, the CLI against it, process checks. Test
 * files include this one header; it brings the helpers of its own files:
 * waiting with deadlines (xbt_wait.h), temporary folders (xbt_tmp.h) and
 * the counters a pump reports (xbt_stats.h). */
#ifndef XBT_H
#define XBT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "xbt_stats.h"
#include "xbt_tmp.h"
#include "xbt_wait.h"
#include "xmlbus/client.h"

/* Writes text to dir/name. Returns 0 or -1. */
int xbt_write_file(const char *dir, const char *name, const char *text);

/* The whole file at path, NUL-terminated (caller frees); *len (may be NULL)
 * gets its size. NULL when it cannot be read. */
char *xbt_read_file(const char *path, size_t *len);

/* Waits up to timeout_ms for the file `xmlbus run --endpoint-file` writes
 * (atomically, one line) and copies its endpoint into out. Stops early when
 * pid (0: none) exits. Returns 0 or -1. */
int xbt_read_endpoint_file(const char *path, pid_t pid, char *out, size_t cap, int timeout_ms);

typedef struct {
    pid_t pid;
    char endpoint[128]; /* where the pump bound (read from its endpoint file) */
    char bind[128];     /* what it binds: "" for tcp://127.0.0.1:* (xbt_pump_start_at) */
    char dir[512];      /* holds organism.yaml and pump.log */
    char log[600];
} xbt_pump_t;

/* Starts `xmlbus run DIR/organism.yaml -e tcp://127.0.0.1:* --endpoint-file
 * DIR/endpoint` where organism.yaml is yaml_body with every "@ENDPOINT@"
 * replaced by "tcp://127.0.0.1:*", "@BIN@" by the build's bin folder,
 * "@TESTBIN@" by the test listeners' folder, "@SRC@" by the source tree and
 * "@DIR@" by the pump's folder. The pump binds a port of the kernel's
 * choosing; p->endpoint is read from its endpoint file. Waits until the pump
 * answers ping (15 s). Returns 0 or -1. */
int xbt_pump_start(xbt_pump_t *p, const char *yaml_body);

/* Same, and first writes extra files into the pump's folder: files is a
 * NULL-terminated list of name, text pairs (the texts get the same
 * replacements as the yaml). */
int xbt_pump_start_files(xbt_pump_t *p, const char *yaml_body, const char *const *files);

/* xbt_pump_start on the given endpoint instead of a port of the kernel's
 * choosing: a pump started again where its clients wait. */
int xbt_pump_start_at(xbt_pump_t *p, const char *yaml_body, const char *endpoint);

/* Sends sig (SIGTERM usually) and waits up to timeout_s. Returns the exit
 * status as waitpid gives it, or -1 on timeout (the pump is then killed). */
int xbt_pump_stop(xbt_pump_t *p, int sig, double timeout_s);

/* Ends a suite's pump: prints its log when a test has failed, stops it with
 * SIGTERM (xbt_pump_stop, timeout_s) and removes its folder. A pump that
 * did not start is fine. */
void xbt_pump_finish(xbt_pump_t *p, double timeout_s);

/* Prints the tail of the pump's log to stderr (for failing tests). */
void xbt_pump_dump_log(const xbt_pump_t *p);

/* True when the pump's log (which also holds its children's stderr) has no
 * report of a sanitizer (AddressSanitizer, LeakSanitizer, UBSan ...); prints
 * the lines that are. */
bool xbt_pump_log_clean(const xbt_pump_t *p);

/* A client connected to the pump. */
xb_client_t *xbt_client(const xbt_pump_t *p);

/* Runs `xmlbus ARGS -e ENDPOINT --timeout 10` (args: words as a shell reads
 * them); its stdout and stderr go to *out (caller frees; NULL when it could
 * not run). Returns its exit code, -1 when it could not run or was killed. */
int xbt_xmlbus(const char *endpoint, char **out, const char *args);

/* Children of pid (from /proc). Fills up to cap pids; returns the count. */
size_t xbt_children(pid_t pid, pid_t *out, size_t cap);
bool xbt_pid_alive(pid_t pid);

/* Receives messages until one arrives; returns its envelope (caller frees)
 * or NULL after timeout_ms. */
char *xbt_recv(xb_client_t *c, int timeout_ms);

/* The text of the first element named `name` in an XML string (caller
 * frees), NULL if none. Good enough for test assertions. */
char *xbt_text_of(const char *xml, const char *name);

/* Attribute attr of the root element of an XML body (caller frees), or NULL. */
char *xbt_root_attr(const char *xml, const char *attr);

/* How often needle occurs in text (not overlapping; 0 for a NULL text). */
int xbt_count(const char *text, const char *needle);

/* Takes up to n messages (each within timeout_ms). Returns how many were
 * answers; *refusals gets how many were SystemErrors and *last_code (may be
 * NULL) the code of the last one. */
int xbt_collect(xb_client_t *c, int n, int timeout_ms, int *refusals, xb_code_t *last_code);

/* A suite init (xbt_main.h): the library logs errors only, for suites that
 * hit limits and failures on purpose. Returns 0. */
int xbt_log_errors_only(void);

#endif
