/* A loopback TCP port that was free a moment ago (bound to port 0, then
 * released). Only for what cannot bind "port 0" itself and say where it
 * landed: a redis-server (tests/support/redis_server.c, which retries when
 * the port was taken meanwhile), or a port where nothing listens. A pump
 * binds tcp://127.0.0.1:* and writes its real endpoint to a file instead.
 *
 * Header only, because redis_server.c is also built into the benchmark
 * without the rest of the test helpers. */
#ifndef XBT_PORT_H
#define XBT_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The port, or -1. */
static inline int xbt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

#endif
