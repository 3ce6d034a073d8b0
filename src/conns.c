#include "conns.h"
#include "requirements.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A socket libcurl opened and has not closed. */
typedef struct {
    curl_socket_t sock;
    dev_t dev;                 /* its device and inode (fstat): what tells */
    ino_t ino;                 /* it from whatever later takes its number */
    char ip[INET6_ADDRSTRLEN]; /* its local address and port, once connected */
    long port;                 /* (0 until looked up) */
    int answered;              /* it carried a whole HTTP/1.x answer */
} conn;

struct cab_conns {
    conn *all;
    int n, cap;
};

cab_conns *cab_conns_new(void) { return calloc(1, sizeof(cab_conns)); }

int cab_conns_took_nomem(cab_conns_user *u) {
    int took = u->nomem;
    u->nomem = 0;
    return took;
}

void cab_conns_free(cab_conns *c) {
    if (!c) return;
    free(c->all);
    free(c);
}

void cab_conns_disown(cab_conns *c) {
    int i;
    for (i = 0; i < c->n; i++) {
        const conn *k = &c->all[i];
        struct stat st;
        if (fstat(k->sock, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == k->dev && st.st_ino == k->ino)
            (void)close(k->sock);
    }
    c->n = 0;
}

#if LIBCURL_VERSION_NUM >= 0x075000

/* Looks up k's local address and port: 0 once known, -1 while not. */
static int local_end(conn *k) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    const void *addr;
    if (getsockname(k->sock, (struct sockaddr *)&a, &len) != 0) return -1;
    if (a.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a;
        addr = &v4->sin_addr;
        k->port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a;
        addr = &v6->sin6_addr;
        k->port = ntohs(v6->sin6_port);
    } else {
        return -1;
    }
    if (k->port == 0 || !inet_ntop(a.ss_family, addr, k->ip, sizeof k->ip)) {
        k->port = 0;
        return -1;
    }
    return 0;
}

/* The connection whose local end is ip:port (as libcurl names it), or NULL. */
static conn *conn_at(cab_conns *c, const char *ip, long port) {
    int i;
    for (i = 0; i < c->n; i++) {
        conn *k = &c->all[i];
        if (!k->port && local_end(k) != 0) continue;
        if (k->port == port && strcmp(k->ip, ip) == 0) return k;
    }
    return NULL;
}

static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
    cab_conns_user *u = ud;
    cab_conns *c = u->conns;
    curl_socket_t sock;
    struct stat st;
    (void)purpose;
    if (c->n == c->cap) {
        int n = c->cap ? c->cap * 2 : 8;
        conn *grown = realloc(c->all, (size_t)n * sizeof *grown);
        if (!grown) {
            u->nomem = 1;
            return CURL_SOCKET_BAD; /* the connect fails: nothing was sent */
        }
        c->all = grown;
        c->cap = n;
    }
    /* Close-on-exec: a program this process runs (os.execute, io.popen)
     * must not hold the connection, keeping it open past close() and free
     * to write on it.  (fcntl, as SOCK_CLOEXEC is not everywhere.)  Its
     * identity, for a forked child (cab_conns_disown). */
    if ((sock = socket(a->family, a->socktype, a->protocol)) != CURL_SOCKET_BAD &&
        (fcntl(sock, F_SETFD, FD_CLOEXEC) != 0 || fstat(sock, &st) != 0)) {
        close(sock);
        sock = CURL_SOCKET_BAD;
    }
    if (sock != CURL_SOCKET_BAD) {
        conn *k = &c->all[c->n++];
        memset(k, 0, sizeof *k);
        k->sock = sock;
        k->dev = st.st_dev;
        k->ino = st.st_ino;
    }
    return sock;
}

static int on_close(void *ud, curl_socket_t sock) {
    cab_conns *c = ud;
    int i;
    for (i = 0; i < c->n; i++)
        if (c->all[i].sock == sock) {
            c->all[i] = c->all[--c->n];
            break;
        }
    return close(sock);
}

/* Just before a request is written on the connection whose local end is
 * local_ip:local_port.  A new one has nothing to read yet (over TLS, it
 * may hold session tickets, which are no answer), and an HTTP/2 one
 * frames whatever comes; only an HTTP/1.x one that has answered before is
 * looked at. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
    cab_conns_user *u = ud;
    conn *k = local_ip ? conn_at(u->conns, local_ip, local_port) : NULL;
    char byte;
    (void)primary_ip, (void)primary_port;
    /* libcurl's sockets do not block; 0 (the server closed it) is
     * libcurl's own to handle. */
    if (!k || !k->answered || recv(k->sock, &byte, 1, MSG_PEEK) <= 0) {
        u->writes++;
        return CURL_PREREQFUNC_OK;
    }
    (void)shutdown(k->sock, SHUT_RDWR);
    k->answered = 0;
    return CURL_PREREQFUNC_ABORT;
}

int cab_conns_use(cab_conns *c, cab_conns_user *u, CURL *h) {
    u->conns = c;
    u->nomem = 0;
    return curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open) != CURLE_OK ||
                   curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, u) != CURLE_OK ||
                   curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close) != CURLE_OK ||
                   curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c) != CURLE_OK ||
                   curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK ||
                   curl_easy_setopt(h, CURLOPT_PREREQDATA, u) != CURLE_OK
               ? -1
               : 0;
}

void cab_conns_answered(cab_conns *c, CURL *h) {
    char *ip = NULL;
    long port = 0, version = 0;
    conn *k;
    if (curl_easy_getinfo(h, CURLINFO_LOCAL_IP, &ip) != CURLE_OK || !ip ||
        curl_easy_getinfo(h, CURLINFO_LOCAL_PORT, &port) != CURLE_OK ||
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version) != CURLE_OK)
        return;
    /* Not found: libcurl closed it already. */
    if ((k = conn_at(c, ip, port)) != NULL)
        k->answered = version == CURL_HTTP_VERSION_1_0 || version == CURL_HTTP_VERSION_1_1;
}

int cab_conns_refused(CURLcode rc) { return rc == CURLE_ABORTED_BY_CALLBACK; }

int cab_conns_wrote_again(const cab_conns_user *u) { return u->writes > 1; }

#else

int cab_conns_use(cab_conns *c, cab_conns_user *u, CURL *h) {
    u->conns = c;
    u->nomem = 0;
    (void)h;
    return 0;
}

void cab_conns_answered(cab_conns *c, CURL *h) { (void)c, (void)h; }

int cab_conns_refused(CURLcode rc) {
    (void)rc;
    return 0;
}

int cab_conns_wrote_again(const cab_conns_user *u) {
    (void)u;
    return -1;
}

#endif
