/* One libcurl transfer: an easy handle with the buffers of its request and
 * answer.  Reused from request to request; a multi handle (multi.h) runs
 * it.  No Lua here. */
#ifndef CAB_EASY_H
#define CAB_EASY_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"
#include "conns.h"
#include "head.h"

typedef struct {
    long connect_timeout_ms; /* 0 = libcurl's default */
    const char *ca_file;     /* NULL = the system's trust store */
    const char *ca_path;     /* a directory of hashed CA certificates, or NULL */
    const char *proxy;       /* the proxy's URL, "" for none; NULL = libcurl's environment variables */
    const char *noproxy;     /* hosts reached directly (CURLOPT_NOPROXY); NULL = libcurl's no_proxy */
    int tls_verify;          /* 0 turns peer and host verification off */
    size_t max_body;         /* the most answer bytes kept; 0 = no limit */
} cab_http_options;

typedef enum {
    CAB_HTTP_OK = 0,
    CAB_HTTP_NOMEM,
    CAB_HTTP_NETWORK, /* could not connect, reset, nothing answered, … */
    CAB_HTTP_TIMEOUT,
    CAB_HTTP_TLS,     /* handshake or verification failed */
    CAB_HTTP_TOO_LARGE, /* the answer outgrew max_body */
    CAB_HTTP_PROTOCOL, /* the answer is not HTTP, or breaks its framing */
    CAB_HTTP_USAGE    /* libcurl refused an option or the URL */
} cab_http_status;

/* The parts of an answer the client uses. */
typedef struct {
    long status;
    cab_buf body;
    cab_head_fields fields; /* from its head (head.h) */
} cab_http_response;

typedef struct cab_easy cab_easy;

/* Creates a transfer with the client's options; NULL with err filled in
 * when libcurl refuses. */
cab_easy *cab_easy_new(const cab_http_options *opt, char *err, size_t errlen);
void cab_easy_free(cab_easy *e);

/* Sets up the next request.  headers are complete "Name: value" lines;
 * they and the body are copied, so the caller's memory may go at once.
 * once: the request is not idempotent and must reach the network at most
 * once, so it gets a fresh connection (see easy.c).  The attempt's timeout
 * is kept by the multi handle (multi.c), which tells cab_easy_timed_out. */
cab_http_status cab_easy_prepare(cab_easy *e, const char *method, const char *url,
                                 const char *const *headers, size_t n_headers, const char *body,
                                 size_t body_len, int once, char *err, size_t errlen);

/* Whether the transfer, ended with rc, was of a request that may go
 * twice and failed on kept-alive connections only, before any byte of an
 * answer came: the server most likely closed them while idle (RFC 9112
 * 9.5 lets it), so the request is no failure yet, and goes once more on a
 * new connection (multi.c).  libcurl 7.88 first resends it by itself,
 * up to 5 times (CONN_MAX_RETRIES), each time on another kept-alive
 * connection when there is one, all of which a server that drops later
 * requests on a connection drops too. */
int cab_easy_stale(const cab_easy *e, CURLcode rc);

/* Whether the transfer has written a request: libcurl notes the
 * pre-transfer time as its DO phase ends, once the request's first write
 * has gone out (what does not fit goes later, after the time is noted),
 * and keeps it when it begins the transfer again by itself (a kept-alive
 * connection that died under the request), but not once the multi handle
 * takes the transfer back (multi.c): libcurl's first pass after
 * curl_multi_add_handle forgets it.  Until that pass it is the last
 * request's, so from 7.80.0 a request counts only once libcurl asked to
 * let it go (conns.h); below 7.80.0 that pass's window is not seen.  Not
 * known: as good as noted. */
int cab_easy_wrote(const cab_easy *e);

/* Makes the transfer, begun again, go on a new connection: 0, or -1 when
 * libcurl refused. */
int cab_easy_fresh(cab_easy *e);

/* The transfer was stopped, its timeout of timeout_ms up: what
 * cab_easy_finish then says of it. */
void cab_easy_timed_out(cab_easy *e, long timeout_ms);

/* The transfer was stopped for a reason of the host's (why, copied): what
 * cab_easy_finish then says of it. */
void cab_easy_stopped(cab_easy *e, const char *why);

/* The room a failure's words take in err: libcurl's message (at most
 * CURL_ERROR_SIZE - 1 bytes) with the library's own before it. */
#define CAB_EASY_ERR_SIZE 512
/* Classifies how libcurl ended the transfer (rc) and reads the status.
 * *not_sent is set when the request provably never reached the server
 * (no connection could be made), so even a non-idempotent call may be
 * sent again.  err takes CAB_EASY_ERR_SIZE bytes. */
cab_http_status cab_easy_finish(cab_easy *e, CURLcode rc, int *not_sent, char *err, size_t errlen);

/* Whether the err of the last cab_easy_finish ends with libcurl's message
 * cut short to fit libcurl's buffer: the start of a secret may end it,
 * too short for redaction to read as one, so whoever redacts it must drop
 * what may be left of one after redacting it (exchange.lua). */
int cab_easy_words_cut(const cab_easy *e);

CURL *cab_easy_handle(const cab_easy *e);

/* How the transfer opens its sockets through its handle's record (conns.h):
 * as long-lived as e. */
cab_conns_user *cab_easy_conns(cab_easy *e);

/* Whether the request last prepared must go at most once (cab_easy_prepare). */
int cab_easy_once(const cab_easy *e);
const cab_http_response *cab_easy_response(const cab_easy *e);

/* Moves the answer's body into *to (empty), leaving e's empty: a body kept
 * past the transfer's next request without a copy, so without an
 * allocation that could fail.  The next request grows a new one. */
void cab_easy_take_body(cab_easy *e, cab_buf *to);

#endif
