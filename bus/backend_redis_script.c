/* The redis backend's Lua scripts and the calls that run them
 * (docs/backend-redis.md).
 *
 * Every write is one Lua script call per chunk of up to CHUNK_ITEMS items,
 * so each item is atomic on the server. Scripts run by EVALSHA; a NOSCRIPT
 * answer (script cache flushed, nothing ran) falls back to EVAL of the same
 * call. */
#include "backend_redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lua scripts ------------------------------------------------------ */

/* Lua helpers of the scripts that write working memory. keep(key, ttl)
 * sets the key's expiry (none when ttl is 0). wmem_over(key, maxw, a, k)
 * checks k entries (name, bytes pairs from ARGV[a]) against maxw entries per
 * hash (0: no limit): the names the hash does not hold yet count (a name
 * twice counts once); returns the number (1-based) of the first entry beyond
 * maxw, or 0. wmem_write(key, ttl, a, k) writes them (a later entry of a name
 * wins) and keeps the hash ttl seconds. */
#define LUA_WMEM_HELPERS                                                                        \
    "local function keep(key, ttl)\n"                                                           \
    "  if ttl > 0 then redis.call('EXPIRE', key, ttl)\n"                                        \
    "  else redis.call('PERSIST', key) end\n"                                                   \
    "end\n"                                                                                     \
    "local function wmem_over(key, maxw, a, k)\n"                                               \
    "  if maxw <= 0 then return 0 end\n"                                                        \
    "  local n, seen = redis.call('HLEN', key), {}\n"                                           \
    "  for e = 1, k do\n"                                                                       \
    "    local f = ARGV[a + 2 * e - 2]\n"                                                       \
    "    if not seen[f] and redis.call('HEXISTS', key, f) == 0 then\n"                          \
    "      n = n + 1\n"                                                                         \
    "      if n > maxw then return e end\n"                                                     \
    "    end\n"                                                                                 \
    "    seen[f] = true\n"                                                                      \
    "  end\n"                                                                                   \
    "  return 0\n"                                                                              \
    "end\n"                                                                                     \
    "local function wmem_write(key, ttl, a, k)\n"                                               \
    "  for e = 0, k - 1 do redis.call('HSET', key, ARGV[a + 2 * e], ARGV[a + 2 * e + 1]) end\n" \
    "  keep(key, ttl)\n"                                                                        \
    "end\n"

/* ARGV: ttl, max slots (0 = unlimited), max working-memory entries (0 =
 * unlimited), n, j, then slot i's bytes at ARGV[5 + i] (i = 1..n), then
 * three per journal entry (j of them): the number of its slot, its id, its
 * bytes, then per slot with working-memory writes, in slot order: the number
 * of its slot, the number k of entries, k pairs name, bytes. KEYS[i] the
 * buffer list of slot i, KEYS[n + 1] the journal hash (only when j > 0),
 * then the memory hash of each slot with writes, in slot order.
 * Appends the slots in order and stops at the first one refused, like the
 * memory backend's batch: whose thread is full, or whose writes would put
 * more than the maximum entries in their hash (checked before the slot is
 * pushed). The thread limit is checked after the RPUSH, whose answer is the
 * new length (one command less per slot than asking LLEN first): a slot over
 * the limit is popped again in the same atomic script, so nobody ever sees
 * it. The journal entries and the writes of the stored slots are written in
 * the same script, the entries in one HSET. A list's expiry is set once per
 * call however many of its slots the call holds: each redis.call costs the
 * server a few microseconds beyond the command itself. Returns the indexes of the stored slots: a reply shorter
 * than n means the slot after the last stored one was refused and none after
 * it stored; when its writes refused it, the reply ends with minus the
 * number of the entry beyond the maximum. */
static const char SCRIPT_APPEND_SRC[] = LUA_WMEM_HELPERS
    "local ttl, max, maxw = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local n, j = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local out, kept, jf = {}, {}, {}\n"
    "local w, wk = n + 6 + 3 * j, n + 1 + (j > 0 and 1 or 0)\n"
    "for i = 1, n do\n"
    "  local k, wkey = 0, nil\n"
    "  if w <= #ARGV and tonumber(ARGV[w]) == i then\n"
    "    k, wkey = tonumber(ARGV[w + 1]), KEYS[wk]\n"
    "    local e = wmem_over(wkey, maxw, w + 2, k)\n"
    "    if e > 0 then\n"
    "      out[i] = -e\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "  local key = KEYS[i]\n"
    "  local len = redis.call('RPUSH', key, ARGV[i + 5])\n"
    "  if max > 0 and len > max then\n"
    "    redis.call('RPOP', key)\n"
    "    break\n"
    "  end\n"
    "  out[i] = len - 1\n"
    "  if not kept[key] then\n"
    "    keep(key, ttl)\n"
    "    kept[key] = true\n"
    "  end\n"
    "  if wkey then\n"
    "    wmem_write(wkey, ttl, w + 2, k)\n"
    "    w, wk = w + 2 + 2 * k, wk + 1\n"
    "  end\n"
    "end\n"
    "for a = n + 6, n + 5 + 3 * j, 3 do\n"
    "  local i = tonumber(ARGV[a])\n"
    "  if out[i] and out[i] >= 0 then\n"
    "    jf[#jf + 1] = ARGV[a + 1]\n"
    "    jf[#jf + 1] = ARGV[a + 2]\n"
    "  end\n"
    "end\n"
    "if #jf > 0 then redis.call('HSET', KEYS[n + 1], unpack(jf)) end\n"
    "return out\n";

/* Registry changes in order. ARGV: prefix, ttl, then three per change: kind
 * ("s" set, "d" delete), chain ("" for a delete), uuid. KEYS: per set its
 * chain key and uuid key, per delete its uuid key. Returns one integer per
 * change (a delete: 1 if the pair existed).
 * A set keeps chain <-> uuid a bijection: a chain's old uuid and a uuid's old
 * chain lose their reverse key, in the same atomic step. A delete drops the
 * chain key only if it still points back at that uuid. */
static const char SCRIPT_REGISTRY_SRC[] =
    "local p, ttl = ARGV[1], tonumber(ARGV[2])\n"
    "local function set(ck, uk, chain, uuid)\n"
    "  local old_uuid = redis.call('GET', ck)\n"
    "  if old_uuid and old_uuid ~= uuid then\n"
    "    local k = p .. 'uuid:' .. old_uuid\n"
    "    if redis.call('GET', k) == chain then redis.call('DEL', k) end\n"
    "  end\n"
    "  local old_chain = redis.call('GET', uk)\n"
    "  if old_chain and old_chain ~= chain then\n"
    "    local k = p .. 'chain:' .. old_chain\n"
    "    if redis.call('GET', k) == uuid then redis.call('DEL', k) end\n"
    "  end\n"
    "  if ttl > 0 then\n"
    "    redis.call('SET', ck, uuid, 'EX', ttl)\n"
    "    redis.call('SET', uk, chain, 'EX', ttl)\n"
    "  else\n"
    "    redis.call('SET', ck, uuid)\n"
    "    redis.call('SET', uk, chain)\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "local function delete(uk, uuid)\n"
    "  local chain = redis.call('GET', uk)\n"
    "  if not chain then return 0 end\n"
    "  redis.call('DEL', uk)\n"
    "  local k = p .. 'chain:' .. chain\n"
    "  if redis.call('GET', k) == uuid then redis.call('DEL', k) end\n"
    "  return 1\n"
    "end\n"
    "local out, k = {}, 1\n"
    "for a = 3, #ARGV, 3 do\n"
    "  if ARGV[a] == 's' then\n"
    "    out[#out + 1] = set(KEYS[k], KEYS[k + 1], ARGV[a + 1], ARGV[a + 2])\n"
    "    k = k + 2\n"
    "  else\n"
    "    out[#out + 1] = delete(KEYS[k], ARGV[a + 2])\n"
    "    k = k + 1\n"
    "  end\n"
    "end\n"
    "return out\n";

/* A working memory put, all or none. KEYS[1] the conversation's hash. ARGV:
 * ttl, max entries (0 = unlimited), then name, bytes per entry. Checks the
 * entry limit (wmem_over) before writing anything: returns the number
 * (1-based) of the first entry beyond max, having written nothing, or 0
 * after writing every entry and setting the hash's expiry. */
static const char SCRIPT_WMEM_SRC[] = LUA_WMEM_HELPERS
    "local ttl, maxw, key = tonumber(ARGV[1]), tonumber(ARGV[2]), KEYS[1]\n"
    "local k = (#ARGV - 2) / 2\n"
    "local e = wmem_over(key, maxw, 3, k)\n"
    "if e > 0 then return e end\n"
    "wmem_write(key, ttl, 3, k)\n"
    "return 0\n";

static const char *const script_src[SCRIPT__COUNT] = {SCRIPT_APPEND_SRC, SCRIPT_REGISTRY_SRC,
                                                      SCRIPT_WMEM_SRC};
static const size_t script_len[SCRIPT__COUNT] = {
    sizeof SCRIPT_APPEND_SRC - 1, sizeof SCRIPT_REGISTRY_SRC - 1, sizeof SCRIPT_WMEM_SRC - 1};

int xb_redis_scripts_load(xb_redis_t *r, redisContext *c, char *why, size_t size)
{
    redisReply *rep;
    for (int i = 0; i < SCRIPT__COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", script_src[i]};
        size_t lens[3] = {6, 4, script_len[i]};
        rep = redisCommandArgv(c, 3, argv, lens);
        if (xb_redis_reply_is_error(rep) || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            snprintf(why, size, "SCRIPT LOAD failed: %s",
                     rep ? (rep->str ? rep->str : "unexpected reply") : c->errstr);
            freeReplyObject(rep);
            return -1;
        }
        memcpy(r->sha[i], rep->str, 40);
        r->sha[i][40] = '\0';
        freeReplyObject(rep);
    }
    return 0;
}

/* ---- script calls --------------------------------------------------- */

static bool is_noscript(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

int xb_redis_call_init(call_t *c, size_t cap, xb_error_t *err)
{
    memset(c, 0, sizeof *c);
    c->argv = malloc(cap * sizeof *c->argv);
    c->lens = malloc(cap * sizeof *c->lens);
    c->owned = malloc(cap * sizeof *c->owned);
    if (!c->argv || !c->lens || !c->owned) {
        free(c->argv);
        free(c->lens);
        free(c->owned);
        return xb_redis_nomem(err, "script call");
    }
    c->argc = 3;
    return 0;
}

void xb_redis_call_reset(call_t *c)
{
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    c->nowned = 0;
    c->argc = 3;
}

void xb_redis_call_free(call_t *c)
{
    xb_redis_call_reset(c);
    free(c->argv);
    free(c->lens);
    free(c->owned);
}

void xb_redis_call_arg(call_t *c, const char *value, size_t len)
{
    c->argv[c->argc] = value;
    c->lens[c->argc++] = len;
}

int xb_redis_call_key(const xb_redis_t *r, call_t *c, const char *kind, const char *name,
                      xb_error_t *err)
{
    size_t len;
    char *key = xb_redis_key(r, kind, name, &len);
    if (!key)
        return xb_redis_nomem(err, "key");
    c->owned[c->nowned++] = key;
    xb_redis_call_arg(c, key, len);
    return 0;
}

void xb_redis_call_end_keys(call_t *c)
{
    int n = snprintf(c->numkeys, sizeof c->numkeys, "%zu", c->argc - 3);
    c->argv[2] = c->numkeys;
    c->lens[2] = (size_t)n;
}

redisReply *xb_redis_run_script(xb_redis_t *r, int id, bool retry, call_t *c, xb_error_t *err)
{
    c->argv[0] = "EVALSHA";
    c->lens[0] = 7;
    c->argv[1] = r->sha[id];
    c->lens[1] = 40;
    redisReply *rep = xb_redis_command(r, retry, (int)c->argc, c->argv, c->lens, err);
    if (!is_noscript(rep))
        return rep;
    freeReplyObject(rep);
    c->argv[0] = "EVAL";
    c->lens[0] = 4;
    c->argv[1] = script_src[id];
    c->lens[1] = script_len[id];
    return xb_redis_command(r, retry, (int)c->argc, c->argv, c->lens, err);
}

bool xb_redis_reply_is_counts(const redisReply *rep, size_t most)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements > most)
        return false;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0)
            return false;
    return true;
}
