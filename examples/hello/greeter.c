/* hello-greeter: the README's listener plus a forward. Answers
 * <greeting><name>X</name></greeting> with
 * <greeting-reply><text>Hello, X!</text></greeting-reply> ("stranger" when
 * there is no <name>) and also forwards
 * <shout><text>Hello, X!</text></shout> to the listener "shouter". The
 * shouter's <shouted> answer comes back here (its respond prunes the chain
 * to us) and is passed on to whoever greeted us. */
#include <string.h>

#include "xmlbus/listener.h"

static int greet(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    if (strcmp(xb_msg_payload_type(msg), "shouted") == 0)
        return xb_reply_respond(reply, xb_msg_payload(msg));
    if (strcmp(xb_msg_payload_type(msg), "greeting") != 0)
        return 0; /* a SystemError about our shout ends here */
    const char *name = xb_msg_text(msg, "name");
    xmlNodePtr answer = xb_payload_new("greeting-reply");
    xb_payload_add_text(answer, "text", "Hello, %s!", name ? name : "stranger");
    xmlNodePtr shout = xb_payload_new("shout");
    xb_payload_add_text(shout, "text", "Hello, %s!", name ? name : "stranger");
    /* Two messages in one REPLY. Each call takes its payload; after a failed
     * call the reply is marked failed and the next call just frees its own. */
    xb_reply_respond(reply, answer);
    return xb_reply_forward(reply, "shouter", shout);
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, greet, NULL);
}
