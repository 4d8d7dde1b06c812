/* hello-shouter: answers <shout><text>T</text></shout> with
 * <shouted><text>T in capitals</text></shouted>. Only ASCII letters change;
 * other UTF-8 bytes pass through untouched. */
#define _POSIX_C_SOURCE 200809L /* strdup, also when built outside this tree with -std=c11 */
#include <stdlib.h>
#include <string.h>

#include "xmlbus/listener.h"

static int shout(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    if (strcmp(xb_msg_payload_type(msg), "shout") != 0)
        return 0;
    const char *text = xb_msg_text(msg, "text");
    char *loud = strdup(text ? text : "");
    if (!loud)
        return xb_reply_fail(reply, "shouter: out of memory");
    for (char *p = loud; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    xmlNodePtr out = xb_payload_new("shouted");
    xb_payload_add_text(out, "text", "%s", loud);
    free(loud);
    return xb_reply_respond(reply, out);
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, shout, NULL);
}
