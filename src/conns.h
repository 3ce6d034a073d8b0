/* The connections of a multi handle (multi.c), kept clean for reuse.  A
 * kept-alive HTTP/1.1 connection that holds bytes nobody asked for (a
 * second answer to one request, or a 408 a server writes before closing
 * an idle connection) would have them read as the answer to the next
 * request sent on it, and libcurl before 8 sends one there.  So libcurl
 * opens and closes its sockets through here, each one noted with whether
 * it has carried a whole HTTP/1.x answer; and just before a request is
 * written on such a connection (CURLOPT_PREREQFUNCTION, libcurl 7.80.0),
 * a connection with bytes to read is shut down, which libcurl then sees
 * as dead, and the transfer is stopped (CURLE_ABORTED_BY_CALLBACK) before
 * a byte of it left, for multi.c to begin again.  No Lua here. */
#ifndef CAB_CONNS_H
#define CAB_CONNS_H

#include <curl/curl.h>

typedef struct cab_conns cab_conns;

/* One transfer's use of the record: it opens its sockets through it, and
 * notes here when one could not be recorded for want of memory (the
 * connect then fails: libcurl says it could not connect), and how many
 * times a request of it was let go to be written (libcurl writes one
 * again by itself when a kept-alive connection dies before any answer).
 * Both are cleared as each request is prepared, and read as it ends.
 * Lives as long as the transfer's handle. */
typedef struct {
    cab_conns *conns;
    int nomem;
    int writes;
} cab_conns_user;

/* A record; NULL when memory runs out. */
cab_conns *cab_conns_new(void);
/* Frees the record, not the sockets: libcurl closes those (through
 * cab_conns_use's callbacks, so while the record lives). */
void cab_conns_free(cab_conns *c);

/* Makes the transfer h open, close and check its connections through c,
 * as u.  0, or -1 when libcurl refused.  Below 7.80.0, nothing. */
int cab_conns_use(cab_conns *c, cab_conns_user *u, CURL *h);

/* The transfer h ended well: its connection has carried a whole answer,
 * and, when that was HTTP/1.x, is checked before it is used again. */
void cab_conns_answered(cab_conns *c, CURL *h);

/* In a child forked from the process that opened them: closes each
 * socket still open under its number, and forgets them all.  The child's
 * own code may have closed one and opened something else under its
 * number (a daemon closes every descriptor after fork): only a
 * descriptor that is the same socket (fstat: a socket, of the same device
 * and inode) is closed.  No call to libcurl, which would write on them. */
void cab_conns_disown(cab_conns *c);

/* Whether a transfer that ended with rc was stopped before its request
 * left, for its connection was not clean. */
int cab_conns_refused(CURLcode rc);

/* Whether a socket of u's transfer could not be recorded for want of
 * memory since this was last asked: asked as each attempt ends. */
int cab_conns_took_nomem(cab_conns_user *u);

/* Whether u's transfer let a request go more than once since it was
 * prepared: the answer it ended with answers the last, and the server
 * may have read an earlier one.  1 or 0; below 7.80.0, -1: not known. */
int cab_conns_wrote_again(const cab_conns_user *u);

#endif
