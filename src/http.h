/* The libcurl transport: one easy handle per client, kept between calls so
 * that consecutive requests reuse one TCP/TLS connection.  No Lua here. */
#ifndef CAB_HTTP_H
#define CAB_HTTP_H

#include <stddef.h>

#include "buf.h"

typedef struct {
    long timeout_ms;         /* whole transfer; 0 = none */
    long connect_timeout_ms; /* 0 = libcurl's default */
    const char *ca_file;     /* NULL = the system's trust store */
    const char *proxy;       /* NULL = libcurl's proxy environment variables */
} cab_http_options;

typedef enum {
    CAB_HTTP_OK = 0,
    CAB_HTTP_NOMEM,
    CAB_HTTP_NETWORK, /* could not connect, reset, nothing answered, … */
    CAB_HTTP_TIMEOUT,
    CAB_HTTP_TLS,     /* handshake or verification failed */
    CAB_HTTP_USAGE    /* libcurl refused an option or the URL */
} cab_http_status;

/* The parts of an answer the client uses.  Header values are copied (and
 * cut to fit) from the last response's headers. */
typedef struct {
    long status;
    cab_buf body;
    char request_id[128]; /* X-Request-Id */
    char date[64];        /* Date */
    char retry_after[64]; /* Retry-After */
} cab_http_response;

typedef struct cab_http cab_http;

/* Creates a transport; on failure returns NULL with errbuf (at least 256
 * bytes) filled in. */
cab_http *cab_http_new(const cab_http_options *opt, char *errbuf, size_t errlen);
void cab_http_free(cab_http *h);

/* Sends one request.  headers are complete "Name: value" lines.  The answer
 * lands in cab_http_last(h); on failure errbuf says why, in one line. */
cab_http_status cab_http_request(cab_http *h, const char *method, const char *url,
                                 const char *const *headers, size_t n_headers, const char *body,
                                 size_t body_len, char *errbuf, size_t errlen);
const cab_http_response *cab_http_last(const cab_http *h);

#endif
