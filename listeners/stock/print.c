/* xmlbus-print: writes every message to stdout as one line
 *     FROM THREAD PAYLOAD-XML
 * (line breaks inside the payload become spaces) and ends the thread. */
#include <stdio.h>
#include <stdlib.h>

#include "xmlbus/listener.h"

static int print(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    char *xml = NULL;
    size_t len = 0;
    if (xb_payload_serialize(xb_msg_payload(msg), &xml, &len) != 0)
        return xb_reply_fail(reply, "print: out of memory");
    for (size_t i = 0; i < len; i++)
        if (xml[i] == '\n' || xml[i] == '\r')
            xml[i] = ' ';
    int rc = printf("%s %s %s\n", xb_msg_from(msg), xb_msg_thread(msg), xml);
    free(xml);
    if (rc < 0 || fflush(stdout) != 0)
        return xb_reply_fail(reply, "print: cannot write to stdout");
    return 0; /* nothing emitted: DONE */
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, print, NULL);
}
