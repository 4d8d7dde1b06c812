/* The working-memory entries a DELIVER carries with its message
 * (include/xmlbus/listener.h, docs/listeners.md "Working memory").
 *
 * The entries' bytes stay in the DELIVER's frames; an entry is parsed only
 * when the handler asks for it, with the listener's hardened parser (the
 * same intake as the envelope), and its document lives until the handler
 * returns. */
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"
#include "log.h"

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const xb_msg_entry_t *)a)->name, ((const xb_msg_entry_t *)b)->name);
}

/* True when the first k entries already hold name. */
static bool seen(const xb_msg_entry_t *e, size_t k, const char *name)
{
    for (size_t i = 0; i < k; i++)
        if (strcmp(e[i].name, name) == 0)
            return true;
    return false;
}

int xb_msg_memory_init(xb_msg_t *msg, const xb_proto_msg_t *m)
{
    xb_msg_scratch_t *s = msg->scratch;
    if (m->n == 0)
        return 0;
    s->entries = calloc(m->n, sizeof *s->entries);
    if (!s->entries)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        xb_msg_entry_t *e = &s->entries[s->n_entries];
        xb_proto_val_t name = xb_proto_deliver_entry_name(m, i);
        xb_proto_val_t value = xb_proto_deliver_entry_value(m, i);
        if (xb_proto_cstr(name, e->name, sizeof e->name) < 0 || !xb_wmem_name_valid(e->name)) {
            XB_WARN(msg->l->log_comp,
                    "thread %s: working-memory entry '%.*s' has a bad name: left out",
                    xb_msg_thread(msg), (int)(name.len > 80 ? 80 : name.len), name.ptr);
            continue;
        }
        if (seen(s->entries, s->n_entries, e->name)) {
            XB_WARN(msg->l->log_comp,
                    "thread %s: working-memory entry '%s' comes twice: the first kept",
                    xb_msg_thread(msg), e->name);
            continue;
        }
        e->value = value.ptr;
        e->len = value.len;
        s->n_entries++;
    }
    qsort(s->entries, s->n_entries, sizeof *s->entries, entry_cmp);
    return 0;
}

void xb_msg_memory_cleanup(xb_msg_t *msg)
{
    xb_msg_scratch_t *s = msg->scratch;
    for (size_t i = 0; i < s->n_entries; i++)
        xmlFreeDoc(s->entries[i].doc);
    free(s->entries);
    s->entries = NULL;
    s->n_entries = 0;
}

bool xb_msg_memory_owns(const xb_msg_t *msg, const xmlDoc *doc)
{
    const xb_msg_scratch_t *s = msg->scratch;
    for (size_t i = 0; doc && i < s->n_entries; i++)
        if (s->entries[i].doc == doc)
            return true;
    return false;
}

static xb_msg_entry_t *find(const xb_msg_t *msg, const char *name)
{
    xb_msg_scratch_t *s = msg->scratch;
    if (!s->n_entries)
        return NULL;
    xb_msg_entry_t key;
    if (strlen(name) >= sizeof key.name)
        return NULL;
    strcpy(key.name, name);
    return bsearch(&key, s->entries, s->n_entries, sizeof *s->entries, entry_cmp);
}

xmlNodePtr xb_msg_memory(const xb_msg_t *msg, const char *name)
{
    if (!msg || !name)
        return NULL;
    xb_msg_entry_t *e = find(msg, name);
    if (!e)
        return NULL;
    if (!e->tried) {
        e->tried = true;
        xb_error_t err;
        xb_error_clear(&err);
        e->doc = e->len ? xb_parser_read(msg->l->parser, e->value, e->len, &err) : NULL;
        if (!e->len)
            xb_error_set(&err, XB_ERR_PARSE, 0, "empty");
        if (!e->doc || !xmlDocGetRootElement(e->doc))
            XB_WARN(msg->l->log_comp, "thread %s: working-memory entry '%s' cannot be read: %s",
                    xb_msg_thread(msg), e->name, err.message[0] ? err.message : "no element");
    }
    return e->doc ? xmlDocGetRootElement(e->doc) : NULL;
}

size_t xb_msg_memory_count(const xb_msg_t *msg)
{
    return msg ? msg->scratch->n_entries : 0;
}

const char *xb_msg_memory_name(const xb_msg_t *msg, size_t i)
{
    if (!msg || i >= msg->scratch->n_entries)
        return NULL;
    return msg->scratch->entries[i].name;
}
