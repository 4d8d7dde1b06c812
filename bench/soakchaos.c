/* xmlbus-bench --soak: the pump process, its redis-server and the chaos done
 * to them (docs/reliability.md, "Soak"). All actions run from the soak's one
 * thread, between its sends and receives, on a schedule fixed at the start:
 *   listener kill  SIGKILL to a child of the pump running hello-greeter or
 *                  hello-shouter (found in /proc, picked at random); the pump
 *                  restarts it
 *   redis restart  SIGKILL to redis-server, started again on its port with
 *                  what its append-only file holds (empty with --redis-wipe)
 *   pump kill      SIGKILL to the pump, started again on the same config and
 *                  ipc endpoint (it starts its listeners itself)
 *   pump stop      SIGSTOP to the pump, SIGCONT stop_for_s later; the stops
 *                  fall half an interval after the kills */
#include "soak.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#define READY_TIMEOUT_MS 30000
#define STATS_TIMEOUT_MS 1000
#define MAX_LISTENERS 64

struct soak_chaos {
    const soak_opts_t *o;
    bench_redis_t *redis;
    pid_t pump;
    char dir[BENCH_PATH_MAX];
    char cfg[BENCH_PATH_MAX + 32];
    char log[BENCH_PATH_MAX + 32];
    char epfile[BENCH_PATH_MAX + 32];
    char bind[BENCH_PATH_MAX + 32];
    char endpoint[1024];
    uint64_t next_listener, next_redis, next_kill, next_stop, cont_at;
    bool stopped, quiet;
    unsigned rng;
    soak_counts_t counts;
};

static uint64_t after_s(uint64_t now, double s)
{
    return s > 0 ? now + (uint64_t)(s * 1e9) : UINT64_MAX;
}

static int write_organism(soak_chaos_t *ch, xb_error_t *err)
{
    char yaml[3072];
    snprintf(yaml, sizeof yaml,
             "# written by xmlbus-bench --soak: examples/hello on redis\n"
             "organism:\n"
             "  name: hello\n"
             "limits:\n"
             "  shutdown_seconds: 2\n"
             "backend:\n"
             "  type: redis\n"
             "  redis_url: %s\n"
             "  redis_prefix: \"hello:\"\n"
             "  redis_ttl: 120\n" /* a soak of a million threads must not fill redis */
             "listeners:\n"
             "  - name: greeter\n"
             "    payload: [greeting, shouted]\n"
             "    schema: %s/greeter.xsd\n"
             "    command: hello-greeter\n"
             "  - name: shouter\n"
             "    payload: shout\n"
             "    schema: %s/shouter.xsd\n"
             "    command: hello-shouter\n",
             bench_redis_url(ch->redis), ch->o->hello_dir, ch->o->hello_dir);
    return bench_write_file(ch->cfg, yaml, err);
}

/* Starts the pump and waits for its endpoint file. */
static int pump_spawn(soak_chaos_t *ch, xb_error_t *err)
{
    char xmlbus[BENCH_PATH_MAX + 16];
    snprintf(xmlbus, sizeof xmlbus, "%s/xmlbus", ch->o->bin_dir);
    (void)unlink(ch->epfile); /* a restart must not read the old one */
    const char *level = getenv("XMLBUS_SOAK_LOG_LEVEL");
    const char *argv[] = {xmlbus,       "run",         ch->cfg,
                          "--endpoint", ch->bind,      "--endpoint-file",
                          ch->epfile,   "--log-level", level && *level ? level : "warn",
                          NULL};
    ch->pump = bench_spawn(argv, ch->log, NULL, err);
    if (ch->pump < 0)
        return -1;
    if (bench_wait_file_line(ch->epfile, ch->pump, READY_TIMEOUT_MS, ch->endpoint,
                             sizeof ch->endpoint) != 0) {
        char tail[300];
        bench_log_tail(ch->log, tail, sizeof tail);
        return xb_error_set(err, XB_ERR_IO, 0, "the pump did not start: %s", tail);
    }
    return 0;
}

soak_chaos_t *soak_chaos_start(const soak_opts_t *o, xb_error_t *err)
{
    soak_chaos_t *ch = calloc(1, sizeof *ch);
    if (!ch) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    ch->o = o;
    ch->rng = o->seed;
    if (bench_tmpdir(ch->dir, err) != 0)
        goto fail;
    snprintf(ch->cfg, sizeof ch->cfg, "%s/organism.yaml", ch->dir);
    snprintf(ch->log, sizeof ch->log, "%s/pump.log", ch->dir);
    snprintf(ch->epfile, sizeof ch->epfile, "%s/endpoint", ch->dir);
    snprintf(ch->bind, sizeof ch->bind, "ipc://%s/pump.sock", ch->dir);
    ch->redis = bench_redis_start_durable(!o->redis_wipe, err);
    if (!ch->redis || write_organism(ch, err) != 0 || pump_spawn(ch, err) != 0)
        goto fail;
    uint64_t now = bench_now_ns();
    ch->next_listener = o->listener_kill_ms > 0 ? now + (uint64_t)o->listener_kill_ms * 1000000u
                                                : UINT64_MAX;
    ch->next_redis = after_s(now, o->redis_restart_s);
    ch->next_kill = after_s(now, o->pump_kill_s);
    ch->next_stop = after_s(now, o->pump_stop_s / 2);
    return ch;
fail:
    soak_chaos_stop(&ch);
    return NULL;
}

void soak_chaos_stop(soak_chaos_t **ch)
{
    if (!ch || !*ch)
        return;
    soak_chaos_quiet(*ch);
    if ((*ch)->pump > 0)
        bench_stop((*ch)->pump, 8000);
    bench_redis_stop(&(*ch)->redis);
    if ((*ch)->dir[0] && getenv("XMLBUS_SOAK_KEEP")) {
        bench_tmpdir_keep((*ch)->dir);
        fprintf(stderr, "soak: the pump's log is kept in %s\n", (*ch)->log);
    } else if ((*ch)->dir[0])
        bench_tmpdir_remove((*ch)->dir);
    free(*ch);
    *ch = NULL;
}

const char *soak_chaos_endpoint(const soak_chaos_t *ch)
{
    return ch->endpoint;
}

const soak_counts_t *soak_chaos_counts(const soak_chaos_t *ch)
{
    return &ch->counts;
}

void soak_chaos_quiet(soak_chaos_t *ch)
{
    if (ch->stopped && ch->pump > 0)
        kill(ch->pump, SIGCONT);
    ch->stopped = false;
    ch->quiet = true;
}

/* ---- readiness ------------------------------------------------------------------ */

/* Listeners of the stats body with at least one process registered. */
static int listeners_up(const char *body)
{
    xb_error_t err;
    xmlDoc *doc = xb_client_read_xml(body, strlen(body), &err);
    if (!doc)
        return 0;
    int up = 0;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr l = root ? root->children : NULL; l; l = l->next) {
        if (l->type != XML_ELEMENT_NODE || !xmlStrEqual(l->name, BAD_CAST "listener"))
            continue;
        xmlChar *v = xmlGetProp(l, BAD_CAST "processes");
        up += v && atoi((const char *)v) > 0;
        xmlFree(v);
    }
    xmlFreeDoc(doc);
    return up;
}

int soak_chaos_wait_ready(soak_chaos_t *ch, xb_client_t *c, int timeout_ms, xb_error_t *err)
{
    uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (bench_now_ns() < end && !bench_interrupted()) {
        char *body = NULL;
        xb_error_t e;
        xb_error_clear(&e);
        if (xb_client_control(c, "stats", NULL, 0, STATS_TIMEOUT_MS, &body, &e) == 0) {
            int up = listeners_up(body);
            free(body);
            if (up >= 2)
                return 0;
        }
        if (!bench_alive(ch->pump))
            return xb_error_set(err, XB_ERR_IO, 0, "the pump exited");
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return xb_error_set(err, XB_ERR_TIMEOUT, 0, "the pump's listeners did not register in %d ms",
                        timeout_ms);
}

/* ---- the actions ---------------------------------------------------------------- */

/* The pump's children that run a hello listener, into pids. */
static int listener_pids(pid_t pump, pid_t *pids, int cap)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (pid <= 0 || *end)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        if (bench_read_file(path, buf, sizeof buf) <= 0)
            continue;
        char *comm = strchr(buf, '('), *close = strrchr(buf, ')');
        long ppid = 0;
        if (!comm || !close || sscanf(close + 2, "%*c %ld", &ppid) != 1 || ppid != pump)
            continue;
        *close = '\0';
        if (strcmp(comm + 1, "hello-greeter") == 0 || strcmp(comm + 1, "hello-shouter") == 0)
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

static void kill_listener(soak_chaos_t *ch)
{
    pid_t pids[MAX_LISTENERS];
    int n = listener_pids(ch->pump, pids, MAX_LISTENERS);
    if (n == 0 || kill(pids[rand_r(&ch->rng) % n], SIGKILL) != 0) {
        ch->counts.listener_misses++; /* both were being restarted */
        return;
    }
    ch->counts.listener_kills++;
}

/* As a service manager restarts it: a pump that cannot start (its redis is
 * restarting too, say) is tried again, for up to PUMP_RETRY_MS. */
#define PUMP_RETRY_MS 60000

static int pump_respawn(soak_chaos_t *ch, xb_error_t *err)
{
    uint64_t until = bench_now_ns() + (uint64_t)PUMP_RETRY_MS * 1000000u;
    for (;;) {
        if (pump_spawn(ch, err) == 0)
            return 0;
        if (ch->pump > 0)
            bench_stop(ch->pump, 2000);
        ch->pump = 0;
        if (bench_now_ns() >= until || bench_interrupted())
            return -1;
        fprintf(stderr, "soak: the pump did not start (%.160s): trying again\n", err->message);
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int restart_pump(soak_chaos_t *ch, xb_error_t *err)
{
    ch->counts.pump_kills++;
    kill(ch->pump, SIGKILL);
    bench_stop(ch->pump, 0); /* reaps it */
    ch->pump = 0;
    ch->stopped = false;
    return pump_respawn(ch, err);
}

int soak_chaos_tick(soak_chaos_t *ch, uint64_t now, xb_error_t *err)
{
    if (ch->stopped && now >= ch->cont_at) {
        kill(ch->pump, SIGCONT);
        ch->stopped = false;
    }
    if (!bench_alive(ch->pump)) {
        ch->counts.pump_crashes++;
        ch->pump = 0;
        return pump_respawn(ch, err) == 0 ? 1 : -1;
    }
    if (ch->quiet)
        return 0;
    if (now >= ch->next_listener) {
        ch->next_listener = now + (uint64_t)ch->o->listener_kill_ms * 1000000u;
        if (!ch->stopped)
            kill_listener(ch);
    }
    if (now >= ch->next_redis) {
        ch->next_redis = after_s(now, ch->o->redis_restart_s);
        if (bench_redis_restart(ch->redis, err) != 0)
            return -1;
        ch->counts.redis_restarts++;
    }
    if (now >= ch->next_stop) {
        ch->next_stop = after_s(now, ch->o->pump_stop_s);
        if (!ch->stopped && kill(ch->pump, SIGSTOP) == 0) {
            ch->stopped = true;
            ch->cont_at = after_s(now, ch->o->stop_for_s);
            ch->counts.pump_stops++;
        }
    }
    if (now >= ch->next_kill) {
        ch->next_kill = after_s(now, ch->o->pump_kill_s);
        return restart_pump(ch, err) == 0 ? 1 : -1;
    }
    return 0;
}
