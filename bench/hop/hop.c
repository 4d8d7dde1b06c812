/* xmlbus-bench-hop: the listener of the bench's flow rows (docs/performance.md,
 * "Pipelines: a three-step sequence against three hand-forwarded hops").
 *
 *     xmlbus-bench-hop step NEED       a pipeline step: responds with the
 *                                      working-memory entry NEED
 *     xmlbus-bench-hop forward [NEXT]  forwards the payload to the listener
 *                                      NEXT and, when NEXT answers, responds
 *                                      with its answer; without NEXT it echoes
 *
 * The pump starts it with the arguments of its `command:` list; the runtime
 * ignores them (xb_listener_main), so they are this program's own. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xmlbus/listener.h"

typedef struct {
    bool step;
    const char *arg; /* step: NEED; forward: NEXT ("" = echo) */
} hop_t;

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    const hop_t *h = user;
    if (h->step) {
        /* Borrowed from the message: the reply copies it. */
        xmlNodePtr need = xb_msg_memory(msg, h->arg);
        if (!need)
            return xb_reply_fail(reply, "no working-memory entry %s", h->arg);
        return xb_reply_respond(reply, need);
    }
    /* The end of the chain, NEXT's answer, or a SystemError to pass on. */
    if (!h->arg[0] || strcmp(xb_msg_from(msg), h->arg) == 0 || xb_msg_is_system_error(msg))
        return xb_reply_respond(reply, xb_msg_payload(msg));
    return xb_reply_forward(reply, h->arg, xb_msg_payload(msg));
}

int main(int argc, char **argv)
{
    hop_t h = {false, ""};
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 && strncmp(argv[2], "--", 2) != 0 ? argv[2] : "";
    if (strcmp(mode, "step") == 0 && arg[0]) {
        h.step = true;
        h.arg = arg;
    } else if (strcmp(mode, "forward") == 0) {
        h.arg = arg;
    } else {
        fprintf(stderr, "usage: xmlbus-bench-hop step NEED | forward [NEXT]\n");
        return 2;
    }
    return xb_listener_main(argc, argv, handle, &h);
}
