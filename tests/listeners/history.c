/* xbtest-history: a listener for tests/test_pump_backends.c that reads its own
 * thread's history (xb_msg_history) and reports what it found.
 *
 *   <history-probe/>            respond <history-count n="N" via="..." .../>
 *   <history-probe hops="K"/>   K > 0: forward <history-probe hops="K-1"/> to
 *                               itself first (the chain grows by one hop);
 *   <history-count .../>        (the answer of such a forward, pruned back to
 *                               this hop) read the history again and respond
 *                               a new <history-count> with the inner answer's
 *                               n and via copied to inner-n and inner-via.
 *   <SystemError>               respond with a copy, so the sender sees it.
 *
 * Attributes of <history-count>:
 *   n        number of slots xb_msg_history returned, -1 when it failed
 *   via      "backend" when the process reads the backend itself (it has the
 *            LMDB file data.mdb mapped, or an established TCP connection to
 *            something other than the pump's port: Redis), "pump" otherwise
 *            (the runtime asked the pump with HISTORY). This is observed in
 *            /proc/self after the read, not taken from the runtime's word.
 *   last     "ok" when the last slot is the message being handled (same
 *            message id and payload type), else "mismatch"
 *   threads  "ok" when every slot belongs to the message's thread
 *   error    the xb_msg_history error ("code: message") when n is -1 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmlbus/listener.h"

#define MAX_SOCKETS 256

/* True when this process maps an LMDB data file. */
static bool maps_lmdb(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/data.mdb") != NULL;
    fclose(f);
    return found;
}

/* Socket inodes of this process's open descriptors. Returns the count. */
static size_t socket_inodes(unsigned long *out, size_t cap)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while (n < cap && (e = readdir(d)) != NULL) {
        char path[300], target[128];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &out[n]) == 1)
            n++;
    }
    closedir(d);
    return n;
}

/* True when one of the sockets is an established TCP connection whose
 * remote port is not the pump's. */
static bool tcp_to_other(const char *table, const unsigned long *inodes, size_t n, int pump_port)
{
    FILE *f = fopen(table, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return false;
    }
    while (!found && fgets(line, sizeof line, f)) {
        unsigned rport = 0, state = 0;
        unsigned long inode = 0;
        if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%*x %*[0-9A-Fa-f]:%x %x %*s %*s %*s %*d %*d %lu",
                   &rport, &state, &inode) != 3)
            continue;
        if (state != 1 /* ESTABLISHED */ || (int)rport == pump_port)
            continue;
        for (size_t i = 0; i < n && !found; i++)
            found = inodes[i] == inode;
    }
    fclose(f);
    return found;
}

static const char *observed_via(void)
{
    if (maps_lmdb())
        return "backend";
    const char *ep = getenv("XMLBUS_ENDPOINT");
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    int pump_port = colon ? atoi(colon + 1) : -1;
    unsigned long inodes[MAX_SOCKETS];
    size_t n = socket_inodes(inodes, MAX_SOCKETS);
    if (tcp_to_other("/proc/self/net/tcp", inodes, n, pump_port) ||
        tcp_to_other("/proc/self/net/tcp6", inodes, n, pump_port))
        return "backend";
    return "pump";
}

/* <history-count> describing what xb_msg_history returned for msg. */
static xmlNodePtr count_payload(const xb_msg_t *msg)
{
    xmlNodePtr out = xb_payload_new("history-count");
    if (!out)
        return NULL;
    xb_slot_list_t list = {0};
    xb_error_t err;
    xb_error_clear(&err);
    int rc = xb_msg_history(msg, &list, &err);
    const char *via = observed_via();
    if (rc != 0) {
        xb_payload_set_attr(out, "n", "-1");
        xb_payload_set_attr(out, "via", "%s", via);
        xb_payload_set_attr(out, "error", "%s: %s", xb_code_name(err.code), err.message);
        return out;
    }
    bool threads_ok = true;
    for (size_t i = 0; i < list.count; i++)
        threads_ok = threads_ok && strcmp(xb_slot_thread(list.items[i]), xb_msg_thread(msg)) == 0;
    bool last_ok = false;
    if (list.count > 0) {
        const xb_slot_t *last = list.items[list.count - 1];
        const char *id = xb_msg_id(msg);
        last_ok = id && strcmp(xb_slot_message_id(last), id) == 0 &&
                  strcmp(xb_slot_payload_type(last), xb_msg_payload_type(msg)) == 0;
    }
    xb_payload_set_attr(out, "n", "%zu", list.count);
    xb_payload_set_attr(out, "via", "%s", via);
    xb_payload_set_attr(out, "last", "%s", last_ok ? "ok" : "mismatch");
    xb_payload_set_attr(out, "threads", "%s", threads_ok ? "ok" : "mismatch");
    xb_slot_list_free(&list);
    return out;
}

/* Copies attribute from of src to attribute to of dst, when present. */
static void copy_attr(xmlNodePtr src, const char *from, xmlNodePtr dst, const char *to)
{
    xmlChar *v = xmlGetProp(src, BAD_CAST from);
    if (v)
        xb_payload_set_attr(dst, to, "%s", (const char *)v);
    xmlFree(v);
}

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    xmlNodePtr in = xb_msg_payload(msg);
    if (xb_msg_is_system_error(msg))
        return xb_reply_respond(reply, in);
    if (strcmp((const char *)in->name, "history-probe") == 0) {
        xmlChar *h = xmlGetProp(in, BAD_CAST "hops");
        long hops = h ? strtol((const char *)h, NULL, 10) : 0;
        xmlFree(h);
        if (hops > 0) {
            xmlNodePtr next = xb_payload_new("history-probe");
            if (!next || xb_payload_set_attr(next, "hops", "%ld", hops - 1) != 0) {
                xb_payload_free(next);
                return xb_reply_fail(reply, "out of memory");
            }
            return xb_reply_forward(reply, xb_msg_self(msg), next);
        }
    }
    xmlNodePtr out = count_payload(msg);
    if (!out)
        return xb_reply_fail(reply, "out of memory");
    if (strcmp((const char *)in->name, "history-count") == 0) {
        copy_attr(in, "n", out, "inner-n");
        copy_attr(in, "via", out, "inner-via");
    }
    return xb_reply_respond(reply, out);
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, handle, NULL);
}
