/* A real redis-server for tests (see redis_server.h). */
#include "redis_server.h"
#include "xbt_port.h"
#include "xbt_tmp.h"
#include "xbt_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define BIND_ATTEMPTS 8

struct xb_redis_server {
    char bin[4096];
    char dir[256];
    char log[300];
    char sock[300];
    char url[64];
    char password[128];
    int port;
    bool durable;
    pid_t pid; /* 0 when not running */
};

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds redis-server: $XB_REDIS_SERVER, PATH, /usr/bin, /usr/sbin. */
static int find_binary(char *out, size_t size)
{
    const char *env = getenv("XB_REDIS_SERVER");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return executable(out) ? 0 : -1;
    }
    const char *path = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, size, "%s/redis-server", d) < size && executable(out))
            return 0;
    }
    return -1;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Reads the log written since offset `from` (at most size-1 bytes, the
 * end of it) into out. */
static void read_log(const char *path, long from, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long end = file_size(path);
    if (end - from > (long)size - 1)
        from = end - ((long)size - 1);
    if (fseek(f, from, SEEK_SET) == 0) {
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
    }
    fclose(f);
}

static pid_t spawn(xb_redis_server_t *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[40];
    int n = 0;
    argv[n++] = s->bin;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = s->durable ? "yes" : "no";
    if (s->durable) {
        argv[n++] = "--appendfsync";
        argv[n++] = "always";
        /* rewritten often, with an RDB preamble: a restart loads it fast */
        argv[n++] = "--auto-aof-rewrite-percentage";
        argv[n++] = "25";
        argv[n++] = "--auto-aof-rewrite-min-size";
        argv[n++] = "1mb";
        argv[n++] = "--aof-use-rdb-preamble";
        argv[n++] = "yes";
    }
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = s->dir;
    argv[n++] = "--logfile";
    argv[n++] = s->log;
    if (s->password[0]) {
        argv[n++] = "--requirepass";
        argv[n++] = s->password;
    }
    if (s->sock[0]) {
        argv[n++] = "--unixsocket";
        argv[n++] = s->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* parent, or -1 */
    /* Child: die with the test, keep no descriptor of the test. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    execv(s->bin, (char *const *)argv);
    _exit(127);
}

/* PINGs the server; true when it answers PONG and is our own process. */
static bool answers(const xb_redis_server_t *s)
{
    struct timeval tv = {0, 500000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    bool ok = false;
    if (!c || c->err)
        goto done;
    if (s->password[0]) {
        redisReply *a = redisCommand(c, "AUTH %s", s->password);
        bool authed = a && a->type == REDIS_REPLY_STATUS;
        freeReplyObject(a);
        if (!authed)
            goto done;
    }
    redisReply *r = redisCommand(c, "INFO server");
    if (r && r->type == REDIS_REPLY_STRING) {
        char want[64];
        snprintf(want, sizeof want, "process_id:%ld\r", (long)s->pid);
        ok = strstr(r->str, want) != NULL;
    }
    freeReplyObject(r);
done:
    if (c)
        redisFree(c);
    return ok;
}

static void reap(xb_redis_server_t *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    xbt_wait_exit(s->pid, STOP_TIMEOUT_MS); /* kills it when it takes longer */
    s->pid = 0;
}

/* Starts redis on s->port and waits for PING. Returns 0, 1 when the port
 * was taken (the caller may pick another), -1 on other failures. */
static int launch(xb_redis_server_t *s, xb_error_t *err)
{
    long from = file_size(s->log);
    s->pid = spawn(s);
    if (s->pid < 0) {
        s->pid = 0;
        return xb_error_set(err, XB_ERR_IO, 0, "redis-server: fork failed: %s", strerror(errno));
    }
    long long deadline = xbt_mono_ms() + START_TIMEOUT_MS;
    do {
        int status;
        pid_t w = waitpid(s->pid, &status, WNOHANG);
        if (w == s->pid) {
            char log[600];
            s->pid = 0;
            read_log(s->log, from, log, sizeof log);
            if (strstr(log, "Address already in use"))
                return 1;
            return xb_error_set(err, XB_ERR_IO, 0, "redis-server exited at start (status %d): %s",
                                status, log[0] ? log : "(empty log)");
        }
        if (answers(s))
            return 0;
    } while (xbt_poll_again(deadline));
    reap(s, SIGKILL);
    return xb_error_set(err, XB_ERR_TIMEOUT, 0,
                        "redis-server on port %d did not answer PING within %d ms", s->port,
                        START_TIMEOUT_MS);
}

xb_redis_server_t *xb_redis_server_start(const xb_redis_server_opts_t *opts, xb_error_t *err)
{
    xb_redis_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "redis-server: out of memory");
        return NULL;
    }
    if (find_binary(s->bin, sizeof s->bin) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "redis-server not found: run scripts/install-deps.sh");
        free(s);
        return NULL;
    }
    /* Under /tmp: keeps the socket path under the 108-byte limit. */
    if (xbt_tmpdir_make(s->dir, sizeof s->dir, "redis") != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "redis-server: mkdtemp %s: %s", s->dir, strerror(errno));
        free(s);
        return NULL;
    }
    snprintf(s->log, sizeof s->log, "%s/redis.log", s->dir);
    if (opts && opts->unix_socket)
        snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    if (opts && opts->password)
        snprintf(s->password, sizeof s->password, "%s", opts->password);
    s->durable = opts && opts->durable;
    /* redis-server cannot bind port 0 and tell where it landed: it gets a
     * port that was free a moment ago, and another when that was taken. */
    for (int attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
        s->port = xbt_free_port();
        if (s->port <= 0) {
            xb_error_set(err, XB_ERR_IO, 0, "redis-server: no free loopback port: %s",
                         strerror(errno));
            break;
        }
        int rc = launch(s, err);
        if (rc == 0) {
            snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
            return s;
        }
        if (rc < 0)
            break;
        xb_error_set(err, XB_ERR_IO, 0, "redis-server: port %d taken %d times", s->port,
                     attempt + 1);
    }
    xbt_rmtree(s->dir);
    free(s);
    return NULL;
}

int xb_redis_server_stop(xb_redis_server_t *srv)
{
    if (!srv || srv->pid <= 0)
        return -1;
    reap(srv, SIGTERM);
    return 0;
}

int xb_redis_server_kill(xb_redis_server_t *srv)
{
    if (!srv || srv->pid <= 0)
        return -1;
    reap(srv, SIGKILL);
    return 0;
}

int xb_redis_server_restart(xb_redis_server_t *srv, xb_error_t *err)
{
    if (!srv)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis-server: NULL server");
    if (srv->pid > 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis-server: still running");
    /* The same port must be used; if something else holds it for a moment
     * (a socket in an odd state), retry for a while. */
    long long deadline = xbt_mono_ms() + START_TIMEOUT_MS;
    for (;;) {
        int rc = launch(srv, err);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return -1;
        if (!xbt_poll_again(deadline))
            return xb_error_set(err, XB_ERR_IO, 0, "redis-server: port %d stays taken", srv->port);
    }
}

void xb_redis_server_destroy(xb_redis_server_t **srv)
{
    if (!srv || !*srv)
        return;
    xb_redis_server_t *s = *srv;
    if (s->pid > 0)
        reap(s, SIGTERM);
    xbt_rmtree(s->dir);
    free(s);
    *srv = NULL;
}

static xb_redis_server_t *shared_srv;
static xb_error_t shared_err;

static void destroy_shared(void)
{
    xb_redis_server_destroy(&shared_srv);
}

xb_redis_server_t *xb_redis_server_shared(xb_error_t *err)
{
    if (!shared_srv && shared_err.code == XB_OK) {
        shared_srv = xb_redis_server_start(NULL, &shared_err);
        if (shared_srv)
            atexit(destroy_shared);
        else
            fprintf(stderr, "\n*** cannot start redis-server: %s ***\n", shared_err.message);
    }
    if (!shared_srv && err)
        *err = shared_err;
    return shared_srv;
}

bool xb_redis_server_running(const xb_redis_server_t *srv)
{
    return srv && srv->pid > 0;
}

int xb_redis_server_port(const xb_redis_server_t *srv)
{
    return srv ? srv->port : -1;
}

const char *xb_redis_server_url(const xb_redis_server_t *srv)
{
    return srv ? srv->url : "";
}

const char *xb_redis_server_socket(const xb_redis_server_t *srv)
{
    return srv ? srv->sock : "";
}

const char *xb_redis_server_dir(const xb_redis_server_t *srv)
{
    return srv ? srv->dir : "";
}
