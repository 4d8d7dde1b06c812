/* A real redis-server for the redis backend rows: started on a free
 * loopback port in a temporary folder, without persistence (a small copy of
 * tests/support/redis_server.c that speaks RESP over a plain socket, so the
 * benchmark links nothing but libxmlbus). */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct bench_redis {
    char dir[BENCH_PATH_MAX];
    char url[64];
    int port;
    pid_t pid;
};

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* $XB_REDIS_SERVER, then PATH, /usr/bin, /usr/sbin. */
static int find_binary(char *out, size_t size)
{
    const char *env = getenv("XB_REDIS_SERVER");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return executable(out) ? 0 : -1;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if ((size_t)snprintf(out, size, "%s/redis-server", d) < size && executable(out))
            return 0;
    return -1;
}

/* A loopback port that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Sends one inline command and reads the first reply line into out.
 * Returns 0 when a reply arrived. */
static int command(int port, const char *cmd, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = -1;
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto done;
    size_t len = strlen(cmd);
    if (write(fd, cmd, len) != (ssize_t)len)
        goto done;
    while (n + 1 < cap) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(out, '\n', n))
            break;
    }
    out[n] = '\0';
    rc = n > 0 ? 0 : -1;
done:
    close(fd);
    return rc;
}

bench_redis_t *bench_redis_start(xb_error_t *err)
{
    char bin[BENCH_PATH_MAX];
    if (find_binary(bin, sizeof bin) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "redis-server not found (scripts/install-deps.sh installs it)");
        return NULL;
    }
    bench_redis_t *r = calloc(1, sizeof *r);
    if (!r) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    if (bench_tmpdir(r->dir, err) != 0) {
        free(r);
        return NULL;
    }
    char log[BENCH_PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    for (int attempt = 0; attempt < 5 && !bench_interrupted(); attempt++) {
        r->port = free_port();
        char port[16];
        snprintf(port, sizeof port, "%d", r->port);
        const char *argv[] = {bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--daemonize", "no", "--dir", r->dir,
                              "--logfile", log, NULL};
        r->pid = bench_spawn(argv, NULL, NULL, err);
        if (r->pid < 0)
            break;
        for (int waited = 0; waited < 10000 && bench_alive(r->pid); waited += 20) {
            char reply[64];
            if (command(r->port, "PING\r\n", reply, sizeof reply) == 0 &&
                strncmp(reply, "+PONG", 5) == 0) {
                snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
                return r;
            }
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        bench_stop(r->pid, 1000);
        r->pid = 0;
        char tail[300];
        bench_log_tail(log, tail, sizeof tail);
        xb_error_set(err, XB_ERR_IO, 0, "redis-server did not answer PING: %s", tail);
        if (!strstr(tail, "in use"))
            break;
    }
    bench_tmpdir_remove(r->dir);
    free(r);
    return NULL;
}

const char *bench_redis_url(const bench_redis_t *r) { return r ? r->url : ""; }

int bench_redis_flush(const bench_redis_t *r)
{
    char reply[64];
    if (!r || command(r->port, "FLUSHALL\r\n", reply, sizeof reply) != 0)
        return -1;
    return strncmp(reply, "+OK", 3) == 0 ? 0 : -1;
}

void bench_redis_stop(bench_redis_t **r)
{
    if (!r || !*r)
        return;
    if ((*r)->pid > 0)
        bench_stop((*r)->pid, 5000);
    bench_tmpdir_remove((*r)->dir);
    free(*r);
    *r = NULL;
}
