/* Child processes of the pump: one per listener with a `command`, `workers`
 * of them for a cpu_bound pool. Started with fork+exec (the child never
 * touches the parent's ZeroMQ context), restarted with backoff when they die,
 * stopped with SHUTDOWN, then SIGTERM, then SIGKILL. */
#include "pump_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "config_build.h"
#include "xmlbus/uuid.h"

extern char **environ;

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* A child up this long, or one that answered a message, has its backoff
 * reset: it was healthy, its death is an accident (an OOM kill, an
 * operator's kill), not a crash loop. A child that dies before it answers
 * anything (a bad build, a poison message) backs off up to BACKOFF_MAX_MS. */
#define STABLE_MS 10000

static int pool_size(const xb_pump_t *p, const xb_listener_config_t *lc)
{
    if (!lc->cpu_bound)
        return 1;
    return lc->workers > 0 ? lc->workers : (p->cfg->pool.workers > 0 ? p->cfg->pool.workers : 1);
}

int xbp_children_init(xb_pump_t *p, xb_error_t *err)
{
    size_t n = 0;
    for (size_t i = 0; i < p->cfg->n_listeners; i++)
        if (p->cfg->listeners[i].command)
            n += (size_t)pool_size(p, &p->cfg->listeners[i]);
    if (n == 0)
        return 0;
    p->children = calloc(n, sizeof *p->children);
    if (!p->children)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for %zu children", n);
    size_t k = 0;
    for (size_t i = 0; i < p->cfg->n_listeners; i++) {
        if (!p->cfg->listeners[i].command)
            continue;
        for (int w = 0; w < pool_size(p, &p->cfg->listeners[i]); w++) {
            p->children[k].listener = (int)i;
            p->children[k].slot = w;
            p->children[k].backoff_ms = BACKOFF_MIN_MS;
            k++;
        }
    }
    p->n_children = n;
    return 0;
}

/* Resolves argv[0]: a bare name is looked up in the pump's bin folder first
 * (so `command: hello-greeter` finds the built example), then in PATH. */
static void resolve_program(const xb_pump_t *p, const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/') || !p->bin_dir[0]) {
        snprintf(out, cap, "%s", prog);
        return;
    }
    int n = snprintf(out, cap, "%s/%s", p->bin_dir, prog);
    if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
        return;
    snprintf(out, cap, "%s", prog);
}

static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* environ minus our variables, plus ours. The child's token goes here and
 * never into argv: /proc/PID/cmdline is readable by every local user,
 * /proc/PID/environ only by the process's owner. NULL on no memory. */
static char **child_env(const xb_pump_t *p, const xb_listener_config_t *lc, bool worker,
                        const char *token)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 9, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "XMLBUS_ENDPOINT=", 16) != 0 &&
            strncmp(environ[i], "XMLBUS_LISTENER=", 16) != 0 &&
            strncmp(environ[i], "XMLBUS_KIND=", 12) != 0 &&
            strncmp(environ[i], "XMLBUS_ORGANISM=", 16) != 0 &&
            strncmp(environ[i], "XMLBUS_CREDIT=", 14) != 0 &&
            strncmp(environ[i], "XMLBUS_CHILD_TOKEN=", 19) != 0 &&
            strncmp(environ[i], "XMLBUS_KEY=", 11) != 0 && /* the pump's own key is not theirs */
            strncmp(environ[i], "XMLBUS_SERVER_KEY=", 18) != 0)
            env[k++] = environ[i];
    size_t first_own = k;
    env[k++] = env_entry("XMLBUS_ENDPOINT", p->endpoint);
    env[k++] = env_entry("XMLBUS_LISTENER", lc->name);
    env[k++] = env_entry("XMLBUS_KIND", worker ? "worker" : "listener");
    env[k++] = env_entry("XMLBUS_ORGANISM", p->cfg->name);
    char credit[16];
    snprintf(credit, sizeof credit, "%d", lc->credit > 0 ? lc->credit : 1);
    env[k++] = env_entry("XMLBUS_CREDIT", credit);
    env[k++] = env_entry("XMLBUS_CHILD_TOKEN", token);
    /* Under security: the paths of its key files, never a key (argv and
     * the environment are readable in /proc by the same user). */
    char server_key[XB_PATH_MAX];
    if (lc->key && xb_config_server_public_key(p->cfg, server_key, sizeof server_key) == 0) {
        env[k++] = env_entry("XMLBUS_KEY", lc->key);
        env[k++] = env_entry("XMLBUS_SERVER_KEY", server_key);
    }
    for (size_t i = first_own; i < k; i++) {
        if (!env[i]) {
            for (size_t j = first_own; j < k; j++)
                free(env[j]);
            free(env);
            return NULL;
        }
    }
    return env;
}

static void free_env(char **env)
{
    if (!env)
        return;
    size_t i = 0;
    while (env[i] && strncmp(env[i], "XMLBUS_ENDPOINT=", 16) != 0)
        i++;
    for (; env[i]; i++)
        free(env[i]);
    free(env);
}

static int spawn(xb_pump_t *p, child_t *c)
{
    const xb_listener_config_t *lc = &p->cfg->listeners[c->listener];
    char prog[XB_PATH_MAX];
    resolve_program(p, lc->command[0], prog, sizeof prog);
    /* A new token for every process: one that died takes its token along. */
    xb_uuid_new_random(c->token);
    char **env = child_env(p, lc, lc->cpu_bound, c->token);
    if (!env) {
        XB_ERROR("pump", "listener %s: no memory to start '%s'", lc->name, prog);
        return -1;
    }
    /* Formatted before fork: the child may only make async-signal-safe calls. */
    char failed[XB_PATH_MAX + 96];
    int flen = snprintf(failed, sizeof failed,
                        "xmlbus: listener %s: cannot execute '%s' (not found or not executable)\n",
                        lc->name, prog);
    if (flen < 0 || (size_t)flen >= sizeof failed)
        flen = (int)strlen(failed);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        XB_ERROR("pump", "listener %s: fork failed: %s", lc->name, strerror(errno));
        free_env(env);
        return -1;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. The child dies with
         * the pump so that a killed pump leaves no orphan. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        /* A process group of its own: what a terminal or a service manager
         * sends to the pump's group (SIGHUP, SIGINT) is the pump's to
         * handle; the pump stops its children itself. */
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (strchr(prog, '/'))
            execve(prog, lc->command, env);
        else
            execvpe(prog, lc->command, env);
        if (write(STDERR_FILENO, failed, (size_t)flen) < 0) {
            /* nothing to do */
        }
        _exit(127);
    }
    free_env(env);
    c->pid = pid;
    c->started_ms = p->now_ms;
    c->restart_at_ms = 0;
    c->retiring = false;
    c->handled = 0;
    XB_INFO("pump", "listener %s: started %s%s (pid %d)", lc->name, prog,
            lc->cpu_bound ? " as a worker" : "", (int)pid);
    return 0;
}

void xbp_children_start_all(xb_pump_t *p)
{
    for (size_t i = 0; i < p->n_children; i++)
        if (spawn(p, &p->children[i]) != 0)
            p->children[i].restart_at_ms = p->now_ms + (uint64_t)p->children[i].backoff_ms;
}

child_t *xbp_children_by_token(xb_pump_t *p, const char *token)
{
    for (size_t i = 0; i < p->n_children; i++)
        if (p->children[i].pid > 0 && xbp_token_eq(p->children[i].token, token))
            return &p->children[i];
    return NULL;
}

static void schedule_restart(xb_pump_t *p, child_t *c)
{
    uint64_t now = p->now_ms;
    if (c->started_ms && (now - c->started_ms > STABLE_MS || c->handled > 0))
        c->backoff_ms = BACKOFF_MIN_MS;
    c->restart_at_ms = now + (uint64_t)c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    (void)p;
}

static void describe_status(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "stopped (status %d)", status);
}

/* Reaps our own children only (waitpid on each pid, never -1): a program
 * that embeds the pump keeps its other children's exit statuses. */
void xbp_children_reap(xb_pump_t *p)
{
    for (size_t i = 0; i < p->n_children; i++) {
        child_t *c = &p->children[i];
        if (c->pid <= 0)
            continue;
        int status = 0;
        pid_t pid = waitpid(c->pid, &status, WNOHANG);
        if (pid != c->pid)
            continue;
        const char *name = p->cfg->listeners[c->listener].name;
        char how[128];
        describe_status(status, how, sizeof how);
        bool retiring = c->retiring;
        c->pid = 0;
        if (c->peer) {
            peer_t *peer = c->peer;
            c->peer = NULL;
            peer->child = NULL;
            char why[320];
            snprintf(why, sizeof why, "listener %s (pid %d) %s", name, (int)pid, how);
            xbp_peer_mark_gone(p, peer, XB_ERR_CRASH, why, false); /* settled by peers.c */
        }
        if (p->state != PUMP_RUNNING && p->state != PUMP_DRAINING)
            continue;
        if (retiring) {
            XB_INFO("pump", "listener %s (pid %d) retired (%s); starting a fresh one", name,
                    (int)pid, how);
            c->restart_at_ms = p->now_ms;
            continue;
        }
        p->listeners[c->listener].crashes++;
        schedule_restart(p, c);
        XB_WARN("pump", "listener %s (pid %d) %s; restarting in %llu ms", name, (int)pid, how,
                (unsigned long long)(c->restart_at_ms - p->now_ms));
    }
}

void xbp_children_tick(xb_pump_t *p)
{
    if (p->state != PUMP_RUNNING && p->state != PUMP_DRAINING)
        return;
    uint64_t now = p->now_ms;
    for (size_t i = 0; i < p->n_children; i++) {
        child_t *c = &p->children[i];
        if (c->pid != 0 || c->restart_at_ms == 0 || now < c->restart_at_ms)
            continue;
        c->restarts++;
        p->listeners[c->listener].restarts++;
        if (spawn(p, c) != 0)
            schedule_restart(p, c);
    }
}

void xbp_children_kill(xb_pump_t *p, child_t *c, bool retiring)
{
    (void)p;
    if (!c || c->pid <= 0)
        return;
    c->retiring = retiring;
    kill(c->pid, SIGKILL);
}

bool xbp_children_running(const xb_pump_t *p)
{
    for (size_t i = 0; i < p->n_children; i++)
        if (p->children[i].pid > 0)
            return true;
    return false;
}

void xbp_children_signal_all(xb_pump_t *p, int sig)
{
    for (size_t i = 0; i < p->n_children; i++) {
        child_t *c = &p->children[i];
        if (c->pid <= 0)
            continue;
        if (sig == SIGKILL)
            XB_WARN("pump", "listener %s (pid %d) ignored SIGTERM; killing it",
                    p->cfg->listeners[c->listener].name, (int)c->pid);
        kill(c->pid, sig);
    }
}

void xbp_children_free(xb_pump_t *p)
{
    free(p->children);
    p->children = NULL;
    p->n_children = 0;
}
