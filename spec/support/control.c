/* The stand-in's control calls over plain HTTP, from inside the process
 * running the specs (spec/support/standin.lua builds it).  Each call was a
 * curl(1) started through a shell: some 30 ms of CPU, most of it the
 * dynamic linking of libcurl's dependencies, and a suite makes thousands.
 * One request per connection, read whole; blocking, with a time limit.
 * Test code only: the module under test never runs here. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* How long a call may take (curl's --max-time, as the calls had). */
#define LIMIT_SECONDS 10

/* Seconds of a monotonic clock. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A connected socket to host:port, whose connect and writes give up after
 * LIMIT_SECONDS; -1 with *why set when none could be made. */
static int connect_to(const char *host, const char *port, const char **why) {
    struct addrinfo hints, *list, *a;
    struct timeval tv;
    int fd = -1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &list)) != 0) {
        *why = gai_strerror(rc);
        return -1;
    }
    *why = "no address to connect to";
    tv.tv_sec = LIMIT_SECONDS;
    tv.tv_usec = 0;
    for (a = list; a; a = a->ai_next) {
        if ((fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol)) < 0) continue;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
            connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        *why = errno == EINPROGRESS || errno == EAGAIN ? "timed out" : strerror(errno);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    return fd;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Where the answer's body starts (after the empty line), or NULL. */
static const char *body_start(const char *s, size_t n) {
    size_t i;
    for (i = 0; i + 3 < n; i++)
        if (memcmp(s + i, "\r\n\r\n", 4) == 0) return s + i + 4;
    return NULL;
}

/* The answer's Content-Length, from its head (head to end, the empty
 * line's start), or -1 when it gives none (or no number). */
static long content_length(const char *head, const char *end) {
    const char *p = head, *name = "\r\ncontent-length:";
    size_t k = strlen(name);
    long v = -1;
    for (; p + k <= end; p++)
        if (strncasecmp(p, name, k) == 0) break;
    if (p + k > end) return -1;
    for (p += k; p < end && (*p == ' ' || *p == '\t'); p++) {}
    for (; p < end && *p >= '0' && *p <= '9' && v < 100000000; p++) v = (v < 0 ? 0 : v * 10) + (*p - '0');
    return v;
}

/* Reads the answer to the request just sent, by the monotonic time
 * deadline: until its Content-Length is in, or (with none) the server
 * closes.  Returns a malloc'd buffer (*n bytes) whose body starts at
 * *body_at (0: the head never ended), or NULL with *why set. */
static char *read_answer(int fd, double deadline, size_t *n, size_t *body_at, const char **why) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap), *grown;
    const char *body;
    long want = -1;
    struct pollfd pfd;
    *why = "out of memory";
    *body_at = 0;
    if (!buf) return NULL;
    pfd.fd = fd;
    pfd.events = POLLIN;
    for (;;) {
        ssize_t k;
        double left = deadline - now();
        int ready;
        if (len == cap) {
            if (!(grown = realloc(buf, cap * 2))) break;
            buf = grown;
            cap *= 2;
        }
        if (left <= 0 || (ready = poll(&pfd, 1, (int)(left * 1000) + 1)) == 0) {
            *why = "timed out";
            break;
        }
        if (ready < 0 && errno == EINTR) continue;
        k = ready < 0 ? -1 : recv(fd, buf + len, cap - len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            *why = strerror(errno);
            break;
        }
        if (k == 0) {
            if (want >= 0) {
                *why = "the server closed before the whole answer came";
                break;
            }
            *n = len;
            return buf;
        }
        len += (size_t)k;
        if (!*body_at && (body = body_start(buf, len)) != NULL) {
            *body_at = (size_t)(body - buf);
            want = content_length(buf, body - 2);
        }
        if (*body_at && want >= 0 && len - *body_at >= (size_t)want) {
            *n = len;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/* request(host, port, method, path [, json_body]) -> status, body | nil, message */
static int l_request(lua_State *L) {
    const char *host = luaL_checkstring(L, 1), *port = luaL_checkstring(L, 2);
    const char *method = luaL_checkstring(L, 3), *path = luaL_checkstring(L, 4);
    size_t body_len = 0, n = 0, body_at = 0;
    const char *body = luaL_optlstring(L, 5, "", &body_len), *why = NULL;
    int fd, status = 0;
    double deadline = now() + LIMIT_SECONDS;
    char head[512], *answer;
    int v6 = strchr(host, ':') != NULL; /* (an IPv6 address goes in brackets) */
    int head_len = snprintf(head, sizeof head,
                            "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            method, path, v6 ? "[" : "", host, v6 ? "]" : "", port, body_len);
    luaL_argcheck(L, head_len > 0 && (size_t)head_len < sizeof head, 4, "too long");
    if ((fd = connect_to(host, port, &why)) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    if (send_all(fd, head, (size_t)head_len) || send_all(fd, body, body_len)) {
        why = strerror(errno);
        close(fd);
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    answer = read_answer(fd, deadline, &n, &body_at, &why);
    close(fd);
    if (!answer) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    /* "HTTP/1.x NNN " (the buffer holds no NUL to stop a sscanf) */
    if (body_at && n > 13 && memcmp(answer, "HTTP/1.", 7) == 0 && answer[8] == ' ' &&
        isdigit((unsigned char)answer[9]) && isdigit((unsigned char)answer[10]) &&
        isdigit((unsigned char)answer[11]))
        status = (answer[9] - '0') * 100 + (answer[10] - '0') * 10 + (answer[11] - '0');
    if (!status) {
        free(answer);
        lua_pushnil(L);
        lua_pushstring(L, "the answer is not HTTP/1.x");
        return 2;
    }
    lua_pushinteger(L, status);
    lua_pushlstring(L, answer + body_at, n - body_at);
    free(answer);
    return 2;
}

int luaopen_speccontrol(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_request);
    lua_setfield(L, -2, "request");
    return 1;
}
