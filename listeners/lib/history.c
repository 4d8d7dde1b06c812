/* xb_msg_history: the slots of the delivered message's thread (docs/listeners.md). With the `memory` backend the slots live inside the pump and
 * are asked for over the listener's own socket (HISTORY); with `manager`
 * (LMDB) or `redis` the runtime opens the backend named in WELCOME once and
 * reads it directly, without a round trip through the pump. */
#include <string.h>

#include "runtime_internal.h"
#include "log.h"

/* The listener's direct backend connection, opened on first use. */
static xb_backend_t *direct_backend(xb_listener_t *l, xb_error_t *err)
{
    if (!l->backend) {
        l->backend = xb_backend_new(&l->backend_cfg, err);
        if (l->backend)
            XB_DEBUG(l->log_comp, "opened the %s backend for history reads",
                     xb_backend_type_name(l->backend_cfg.type));
    }
    return l->backend;
}

int xb_msg_history(const xb_msg_t *msg, xb_slot_list_t *out, xb_error_t *err)
{
    if (out) {
        out->items = NULL;
        out->count = 0;
    }
    if (!msg || !out)
        return xb_error_set(err, XB_ERR_ARG, 0, "history: NULL argument");
    xb_listener_t *l = msg->l;
    const char *thread = xb_msg_thread(msg);
    xb_blob_list_t blobs = {0};
    int rc;
    if (l->backend_cfg.type == XB_BACKEND_MEMORY) {
        rc = xb_rt_history_request(l, thread, &blobs, err);
    } else {
        xb_backend_t *b = direct_backend(l, err);
        rc = b ? xb_backend_buffer_get_thread(b, thread, &blobs, err) : -1;
    }
    if (rc == 0)
        rc = xb_slot_list_decode(&blobs, out, err);
    xb_blob_list_free(&blobs);
    return rc;
}
