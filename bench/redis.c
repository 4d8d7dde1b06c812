/* A real redis-server for the redis backend rows: the test suite's helper
 * (tests/support/redis_server.c, compiled into xmlbus-bench) on a free
 * loopback port in a temporary folder, without persistence. */
#include "bench.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "redis_server.h"

struct bench_redis {
    xb_redis_server_t *srv;
};

bench_redis_t *bench_redis_start(xb_error_t *err)
{
    return bench_redis_start_durable(false, err);
}

bench_redis_t *bench_redis_start_durable(bool durable, xb_error_t *err)
{
    bench_redis_t *r = calloc(1, sizeof *r);
    if (!r) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    xb_redis_server_opts_t opts = {.durable = durable};
    r->srv = xb_redis_server_start(&opts, err);
    if (!r->srv) {
        free(r);
        return NULL;
    }
    return r;
}

const char *bench_redis_url(const bench_redis_t *r)
{
    return r ? xb_redis_server_url(r->srv) : "";
}

int bench_redis_flush(const bench_redis_t *r)
{
    if (!r)
        return -1;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", xb_redis_server_port(r->srv), tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return -1;
    }
    redisReply *reply = redisCommand(c, "FLUSHALL");
    int rc = reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0 ? 0 : -1;
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return rc;
}

void bench_redis_stop(bench_redis_t **r)
{
    if (!r || !*r)
        return;
    xb_redis_server_destroy(&(*r)->srv);
    free(*r);
    *r = NULL;
}

int bench_redis_restart(bench_redis_t *r, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "no redis-server");
    (void)xb_redis_server_kill(r->srv); /* a crash: nothing is saved */
    return xb_redis_server_restart(r->srv, err);
}
