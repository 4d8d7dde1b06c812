/* Call chains (see chain.h). Chains are plain strings; the
 * functions here are the only place that knows their grammar:
 *     chain = "system" "." name "." "c-" token *( "." name ) */
#include "chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlbus/uuid.h"

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Name of n bytes at s (not NUL-terminated). */
static bool valid_name_n(const char *s, size_t n)
{
    if (n == 0 || n > XB_CHAIN_NAME_MAX || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

static bool valid_token_n(const char *s, size_t n)
{
    if (n == 0 || n > XB_CHAIN_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alpha(s[i]) && !is_digit(s[i]))
            return false;
    }
    return true;
}

bool xb_chain_valid_name(const char *name)
{
    return name && valid_name_n(name, strlen(name));
}

/* Length of the root prefix of chain, or 0 if chain does not start with a
 * valid root followed by the end or a '.'. */
static size_t root_len(const char *chain)
{
    if (!chain || strncmp(chain, "system.", 7) != 0)
        return 0;
    const char *org = chain + 7;
    const char *dot = strchr(org, '.');
    if (!dot || !valid_name_n(org, (size_t)(dot - org)))
        return 0;
    const char *tok = dot + 1;
    if (strncmp(tok, "c-", 2) != 0)
        return 0;
    tok += 2;
    size_t n = strcspn(tok, ".");
    if (!valid_token_n(tok, n))
        return 0;
    return (size_t)(tok + n - chain);
}

/* Counts hops after the root, -1 if any is invalid. */
static int count_hops(const char *chain, size_t rlen)
{
    int hops = 0;
    const char *p = chain + rlen;
    while (*p) {
        /* *p is '.' here: root_len stopped at a '.' or the end */
        p++;
        size_t n = strcspn(p, ".");
        if (!valid_name_n(p, n))
            return -1;
        hops++;
        p += n;
    }
    return hops;
}

int xb_chain_hops(const char *chain)
{
    size_t r = root_len(chain);
    return r ? count_hops(chain, r) : -1;
}

bool xb_chain_is_valid(const char *chain)
{
    return xb_chain_hops(chain) >= 0;
}

int xb_chain_new_token(char token[XB_CHAIN_TOKEN_LEN + 1], xb_error_t *err)
{
    unsigned char raw[XB_CHAIN_TOKEN_LEN / 2];
    if (xb_random_bytes(raw, sizeof raw) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "chain: no randomness for a token");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        token[2 * i] = hex[raw[i] >> 4];
        token[2 * i + 1] = hex[raw[i] & 15];
    }
    token[XB_CHAIN_TOKEN_LEN] = '\0';
    return 0;
}

static char *dup_n(const char *s, size_t n, xb_error_t *err)
{
    char *c = malloc(n + 1);
    if (!c) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "chain: out of memory");
        return NULL;
    }
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

char *xb_chain_root(const char *organism, const char *token, xb_error_t *err)
{
    if (!xb_chain_valid_name(organism)) {
        xb_error_set(err, XB_ERR_ARG, 0, "chain: invalid organism name '%s'",
                     organism ? organism : "(null)");
        return NULL;
    }
    char fresh[XB_CHAIN_TOKEN_LEN + 1];
    if (!token) {
        if (xb_chain_new_token(fresh, err) != 0)
            return NULL;
        token = fresh;
    }
    if (!valid_token_n(token, strlen(token))) {
        xb_error_set(err, XB_ERR_ARG, 0, "chain: invalid conversation token '%s'", token);
        return NULL;
    }
    size_t n = 7 + strlen(organism) + 3 + strlen(token);
    char *root = malloc(n + 1);
    if (!root) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "chain: out of memory");
        return NULL;
    }
    snprintf(root, n + 1, "system.%s.c-%s", organism, token);
    return root;
}

char *xb_chain_extend(const char *chain, const char *hop, xb_error_t *err)
{
    if (!xb_chain_is_valid(chain)) {
        xb_error_set(err, XB_ERR_ARG, 0, "chain: invalid chain '%s'", chain ? chain : "(null)");
        return NULL;
    }
    if (!xb_chain_valid_name(hop)) {
        xb_error_set(err, XB_ERR_ARG, 0,
                     "chain: invalid hop '%s' (names match "
                     "[A-Za-z][A-Za-z0-9_-]*, no '.')",
                     hop ? hop : "(null)");
        return NULL;
    }
    size_t a = strlen(chain), h = strlen(hop);
    char *c = malloc(a + 1 + h + 1);
    if (!c) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "chain: out of memory");
        return NULL;
    }
    memcpy(c, chain, a);
    c[a] = '.';
    memcpy(c + a + 1, hop, h + 1);
    return c;
}

char *xb_chain_prune(const char *chain, xb_error_t *err)
{
    int hops = xb_chain_hops(chain);
    if (hops < 0) {
        xb_error_set(err, XB_ERR_ARG, 0, "chain: invalid chain '%s'", chain ? chain : "(null)");
        return NULL;
    }
    if (hops < 2) {
        xb_error_set(err, XB_ERR_NOTFOUND, 0,
                     "chain: '%s' has no caller to respond to: responding ends the "
                     "conversation",
                     chain);
        return NULL;
    }
    return dup_n(chain, (size_t)(strrchr(chain, '.') - chain), err);
}

const char *xb_chain_last_hop(const char *chain)
{
    if (xb_chain_hops(chain) < 1)
        return NULL;
    return strrchr(chain, '.') + 1;
}

char *xb_chain_conversation_root(const char *chain, xb_error_t *err)
{
    if (!xb_chain_is_valid(chain)) {
        xb_error_set(err, XB_ERR_ARG, 0, "chain: invalid chain '%s'", chain ? chain : "(null)");
        return NULL;
    }
    return dup_n(chain, root_len(chain), err);
}

bool xb_chain_in_conversation(const char *chain, const char *root)
{
    if (xb_chain_hops(root) != 0 || !xb_chain_is_valid(chain))
        return false;
    size_t n = strlen(root);
    return strncmp(chain, root, n) == 0 && (chain[n] == '\0' || chain[n] == '.');
}
