/* xmlbus-echo: responds to every message with a copy of its payload. */
#include "xmlbus/listener.h"

static int echo(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    /* A node of the delivered message is copied by the runtime. */
    return xb_reply_respond(reply, xb_msg_payload(msg));
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, echo, NULL);
}
