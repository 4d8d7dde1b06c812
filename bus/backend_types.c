/* The plain values of the backend API (include/xmlbus/backend.h): the
 * configuration's defaults, the type names, and the result lists that every
 * implementation fills and every caller frees. Kept apart from backend.c,
 * which dispatches to the implementations that use these. */
#include "backend_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [XB_BACKEND_MEMORY] = "memory",
    [XB_BACKEND_MANAGER] = "manager",
    [XB_BACKEND_REDIS] = "redis",
};

void xb_backend_config_defaults(xb_backend_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->type = XB_BACKEND_MEMORY;
    strcpy(cfg->redis_url, "redis://127.0.0.1:6379");
    strcpy(cfg->redis_prefix, "xp:");
    cfg->redis_ttl = 86400;
    cfg->max_bytes = (size_t)1 << 30; /* the memory backend stays bounded by default */
    cfg->journal = true;
    cfg->max_wmem_entries = 256;
    cfg->max_wmem_entry_bytes = (size_t)1 << 20;
}

const char *xb_backend_type_name(xb_backend_type_t type)
{
    if ((int)type < 0 || (size_t)type >= sizeof type_names / sizeof type_names[0])
        return "unknown";
    return type_names[type];
}

int xb_backend_type_parse(const char *name, xb_backend_type_t *type)
{
    for (size_t i = 0; name && i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            if (type)
                *type = (xb_backend_type_t)i;
            return 0;
        }
    }
    return -1;
}

/* Frees each item of a result list with free_item, then the array, and leaves
 * the list empty; a NULL list is ignored. Typed per list, one body for all. */
#define LIST_FREE(list, free_item)                        \
    do {                                                  \
        if (list) {                                       \
            for (size_t i_ = 0; i_ < (list)->count; i_++) \
                free_item(&(list)->items[i_]);            \
            free((list)->items);                          \
            (list)->items = NULL;                         \
            (list)->count = 0;                            \
        }                                                 \
    } while (0)

static void blob_free(xb_blob_t *b)
{
    free(b->data);
}

static void str_free(char **s)
{
    free(*s);
}

static void pair_free(xb_registry_pair_t *p)
{
    free(p->chain);
    free(p->uuid);
}

void xb_blob_list_free(xb_blob_list_t *list)
{
    LIST_FREE(list, blob_free);
}

void xb_str_list_free(xb_str_list_t *list)
{
    LIST_FREE(list, str_free);
}

void xb_pair_list_free(xb_pair_list_t *list)
{
    LIST_FREE(list, pair_free);
}

static void journal_item_free(xb_journal_item_t *j)
{
    free(j->id);
    free(j->data.data);
}

void xb_journal_list_free(xb_journal_list_t *list)
{
    LIST_FREE(list, journal_item_free);
}

static void wmem_item_free(xb_wmem_item_t *w)
{
    free(w->name);
    free(w->data.data);
}

void xb_wmem_list_free(xb_wmem_list_t *list)
{
    LIST_FREE(list, wmem_item_free);
}

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool xb_wmem_name_valid(const char *name)
{
    if (!name || !is_name_start(name[0]))
        return false;
    size_t i = 1;
    for (; name[i] && i < XB_WMEM_NAME_MAX; i++) {
        if (!is_name_char(name[i]))
            return false;
    }
    return name[i] == '\0';
}
