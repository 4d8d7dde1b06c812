/* A listener for the pump's tests, whose behaviour is its first argument:
 *   echo            respond with a copy of the payload
 *   crash           abort() on every message
 *   hang            sleep for an hour on every message
 *   forward NAME    forward a copy to NAME; respond with any SystemError it gets
 *   self            forward a copy to itself forever; end on a SystemError
 *   pid             respond <pid>N</pid> with its process id
 *   slow MS         sleep MS milliseconds, then respond with a copy
 *   once FILE       a first delivery: create FILE and hold the message until
 *                   the pump is gone (its parent changes), then exit; a
 *                   delivery again after a pump restart: wait for FILE.go
 *                   (30 s at most), then respond
 *                   <redelivered n="N" id="MESSAGE-ID"/> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmlbus/listener.h"

typedef struct {
    const char *mode;
    const char *arg;
} behave_t;

static bool is_system_error(const xb_msg_t *msg)
{
    return strcmp((const char *)xb_msg_payload(msg)->name, "SystemError") == 0;
}

static xmlNodePtr copy_payload(const xb_msg_t *msg)
{
    return xmlCopyNode(xb_msg_payload(msg), 1);
}

static int once(const xb_msg_t *msg, xb_reply_t *reply, const char *file)
{
    struct timespec ts = {0, 10 * 1000000L};
    if (xb_msg_redelivered(msg) > 0) {
        char go[4096];
        snprintf(go, sizeof go, "%s.go", file ? file : "");
        for (int i = 0; i < 3000 && access(go, F_OK) != 0; i++) /* the test says when */
            nanosleep(&ts, NULL);
        xmlNodePtr out = xb_payload_new("redelivered");
        char n[16];
        snprintf(n, sizeof n, "%d", xb_msg_redelivered(msg));
        xmlNewProp(out, BAD_CAST "n", BAD_CAST n);
        xmlNewProp(out, BAD_CAST "id", BAD_CAST xb_msg_id(msg));
        return xb_reply_respond(reply, out);
    }
    pid_t parent = getppid();
    FILE *fp = file ? fopen(file, "w") : NULL;
    if (fp)
        fclose(fp);
    while (getppid() == parent) /* the pump's SIGKILL ends the wait */
        nanosleep(&ts, NULL);
    _exit(0);
}

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    const behave_t *b = user;
    if (strcmp(b->mode, "crash") == 0)
        abort();
    if (strcmp(b->mode, "hang") == 0) {
        sleep(3600);
        return 0;
    }
    if (strcmp(b->mode, "forward") == 0) {
        if (is_system_error(msg))
            return xb_reply_respond(reply, copy_payload(msg));
        return xb_reply_forward(reply, b->arg, copy_payload(msg));
    }
    if (strcmp(b->mode, "self") == 0) {
        if (is_system_error(msg))
            return 0;
        return xb_reply_forward(reply, xb_msg_self(msg), copy_payload(msg));
    }
    if (strcmp(b->mode, "once") == 0)
        return once(msg, reply, b->arg);
    if (strcmp(b->mode, "pid") == 0) {
        xmlNodePtr out = xb_payload_new("pid");
        xb_payload_add_text(out, NULL, "%d", (int)getpid());
        return xb_reply_respond(reply, out);
    }
    if (strcmp(b->mode, "slow") == 0) {
        long ms = b->arg ? atol(b->arg) : 100;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return xb_reply_respond(reply, copy_payload(msg));
}

int main(int argc, char **argv)
{
    behave_t b = {argc > 1 ? argv[1] : "echo", argc > 2 ? argv[2] : NULL};
    return xb_listener_main(argc, argv, handle, &b);
}
