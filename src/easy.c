#include "easy.h"
#include "conns.h"
#include "limit.h"
#include "requirements.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cab_easy {
    CURL *easy;
    /* The current request's header lines ("Name: value", each ending in
     * NUL), its CURLOPT_HTTPHEADER list over them (libcurl only reads a
     * list: one made here, of n_nodes, is reused rather than appended
     * node by node, two allocations a header, for every request), its
     * method and its body (CURLOPT_POSTFIELDS, which libcurl reads but does
     * not copy): each kept until the next request, as libcurl reads them
     * during the transfer. */
    cab_buf header_lines;
    struct curl_slist *nodes;
    size_t n_nodes;
    cab_buf method;             /* set again only when it changes, as the URL */
    cab_buf body;
    char curl_err[CURL_ERROR_SIZE];
    int words_cut;              /* (cab_easy_words_cut) */
    size_t max_body;
    int too_large;              /* the write callback stopped the transfer: the limit */
    int body_nomem;             /* the write callback stopped it: out of memory */
    cab_head head;              /* the answer's heads as they arrive (on_header) */
    cab_head_verdict verdict;   /* why on_header stopped the transfer, when it did */
    cab_buf url;                /* the URL libcurl holds: set again only when it changes */
    long http_version;          /* libcurl's own default, for requests that may go again */
    int once;                   /* the request must go at most once (cab_easy_prepare) */
    cab_conns_user conns;       /* how it opens its sockets (conns.h) */
    cab_http_response resp;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    cab_easy *e = ud;
    size_t len = size * n;
    /* A hostile or broken server must not exhaust memory: stop at the
     * limit (returning less than len aborts the transfer). */
    if (e->max_body && len > e->max_body - e->resp.body.len) {
        e->too_large = 1;
        return 0;
    }
    if (cab_buf_add(&e->resp.body, p, len)) {
        e->body_nomem = 1;
        return 0; /* aborts */
    }
    return len;
}

/* Each line of an answer's heads and trailers, to the head reader
 * (head.h): returning less than len stops the transfer, with the reader's
 * verdict kept for cab_easy_finish. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    cab_easy *e = ud;
    size_t len = size * n;
    return (e->verdict = cab_head_line(&e->head, p, len)) == CAB_HEAD_OK ? len : 0;
}

#define SETOPT(opt, val)                                                      \
    do {                                                                      \
        if ((rc = curl_easy_setopt(e->easy, (opt), (val))) != CURLE_OK) goto fail; \
    } while (0)

cab_easy *cab_easy_new(const cab_http_options *opt, char *err, size_t errlen) {
    cab_easy *e = calloc(1, sizeof *e);
    CURLcode rc;
    if (!e || !(e->easy = curl_easy_init())) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    SETOPT(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM inside a host's process */
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)); /* before 7.85.0 */
#endif
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, opt->tls_verify ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, opt->tls_verify ? 2L : 0L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, opt->connect_timeout_ms);
    /* Either names the only CAs trusted: libcurl's built-in defaults (on
     * Debian, the system's bundle and directory) stay in use for the
     * other unless it is set, to none. */
    if (opt->ca_file || opt->ca_path) {
        SETOPT(CURLOPT_CAINFO, opt->ca_file);
        SETOPT(CURLOPT_CAPATH, opt->ca_path);
    }
    /* A declared Content-Length over the limit fails before any byte. */
    if (opt->max_body) SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_body);
    if (opt->proxy) SETOPT(CURLOPT_PROXY, opt->proxy);
    if (opt->noproxy) SETOPT(CURLOPT_NOPROXY, opt->noproxy);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, e);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L); /* a proxy's answer is no head of ours (head.h) */
    SETOPT(CURLOPT_HEADERDATA, e);
    SETOPT(CURLOPT_ERRORBUFFER, e->curl_err);
    e->max_body = opt->max_body;
    /* libcurl's default, set back after a request sent over HTTP/1.1 (see
     * cab_easy_prepare): a libcurl without HTTP/2 refuses to be asked for it. */
    e->http_version = (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) ? CURL_HTTP_VERSION_2TLS
                                                                                         : CURL_HTTP_VERSION_1_1;
    return e;
fail:
    snprintf(err, errlen, "libcurl refused an option: %s", curl_easy_strerror(rc));
    cab_easy_free(e);
    return NULL;
}

void cab_easy_free(cab_easy *e) {
    if (!e) return;
    curl_easy_cleanup(e->easy);
    cab_buf_free(&e->header_lines);
    free(e->nodes);
    cab_buf_free(&e->method);
    cab_buf_free(&e->body);
    cab_buf_free(&e->url);
    cab_buf_free(&e->resp.body);
    free(e);
}

static cab_http_status classify(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return CAB_HTTP_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return CAB_HTTP_TLS;
    case CURLE_FILESIZE_EXCEEDED: return CAB_HTTP_TOO_LARGE;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR: return CAB_HTTP_NOMEM; /* as on_body refused: see finish */
    /* The URL's scheme is checked before a client is made, so libcurl's
     * "unsupported protocol" means an answer in HTTP/0.9: no status line,
     * as when something else (an SSH server, say) listens on the port. */
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return CAB_HTTP_PROTOCOL; /* a Transfer-Encoding libcurl refuses itself */
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT: return CAB_HTTP_USAGE;
    default: return CAB_HTTP_NETWORK;
    }
}

static cab_http_status fail_with(CURLcode rc, const char *detail, char *err, size_t errlen) {
    snprintf(err, errlen, "%s", detail[0] ? detail : curl_easy_strerror(rc));
    return classify(rc);
}

/* e's CURLOPT_HTTPHEADER list for a request with headers (n "Name: value"
 * lines), after libcurl's Expect and Accept-Encoding, made in e's buffers
 * (cab_easy_prepare says why).  0, or -1 when memory runs out. */
static int header_list(cab_easy *e, const char *const *headers, size_t n) {
    static const char *const ours[] = {"Expect:", "Accept-Encoding: identity"};
    const size_t n_ours = sizeof ours / sizeof *ours, total = n_ours + n;
    size_t i, at = 0;
    if (total > e->n_nodes) {
        struct curl_slist *nodes = realloc(e->nodes, total * sizeof *nodes);
        if (!nodes) return -1;
        e->nodes = nodes;
        e->n_nodes = total;
    }
    cab_buf_clear(&e->header_lines);
    for (i = 0; i < total; i++) {
        const char *line = i < n_ours ? ours[i] : headers[i - n_ours];
        if (cab_buf_add(&e->header_lines, line, strlen(line) + 1)) return -1;
    }
    /* (the buffer may have moved while growing: pointers only now) */
    for (i = 0; i < total; i++) {
        e->nodes[i].data = e->header_lines.data + at;
        e->nodes[i].next = i + 1 < total ? &e->nodes[i + 1] : NULL;
        at += strlen(e->nodes[i].data) + 1;
    }
    return 0;
}

cab_http_status cab_easy_prepare(cab_easy *e, const char *method, const char *url,
                                 const char *const *headers, size_t n_headers, const char *body,
                                 size_t body_len, int once, char *err, size_t errlen) {
    CURLcode rc;
    /* Over TLS, a second request waits for the first connection's ALPN
     * rather than opening another, so that HTTP/2 can multiplex them.
     * Over cleartext there is no HTTP/2 to wait for (no h2c upgrade is
     * asked), and waiting would send a fresh client's first batches one
     * after the other. */
    long pipewait = strncmp(url, "https:", 6) == 0;
    long version = once ? (long)CURL_HTTP_VERSION_1_1 : e->http_version;

    cab_buf_clear(&e->resp.body);
    e->resp.status = 0;
    e->too_large = e->body_nomem = 0;
    e->conns.nomem = e->conns.writes = 0; /* (an attempt cancelled mid-connect left its marks) */
    e->verdict = CAB_HEAD_OK;
    e->once = once;
    cab_head_start(&e->head, &e->resp.fields);
    e->curl_err[0] = '\0';

    /* "Expect:" stops libcurl from waiting for 100 Continue on large bodies.
     * The body is asked for as it is, as on every transport: libcurl's
     * decoders take a coded body cut short, or without its checksum, for
     * a whole one (cab_head_coded refuses one coded all the same). */
    if (header_list(e, headers, n_headers)) goto nomem;
    cab_buf_clear(&e->body);
    if (cab_buf_add(&e->body, body, body_len)) goto nomem;
    if ((rc = curl_easy_setopt(e->easy, CURLOPT_HTTPHEADER, e->nodes)) != CURLE_OK)
        return fail_with(rc, "", err, errlen);
    /* libcurl parses a URL it is given anew, on every transfer after it:
     * a client's requests mostly go to the same one. */
    if (!e->url.data || strcmp(e->url.data, url) != 0) {
        cab_buf_clear(&e->url);
        if ((rc = curl_easy_setopt(e->easy, CURLOPT_URL, url)) != CURLE_OK) return fail_with(rc, "", err, errlen);
        if (cab_buf_adds(&e->url, url)) cab_buf_free(&e->url); /* only costs a parse next time */
    }
    /* A request that must go at most once (RFC 9110 9.2.2: it is not
     * idempotent) gets a connection of its own, over HTTP/1.1.  libcurl
     * resends a request by itself when a reused connection dies before any
     * answer ("the server closed it while idle"), which it cannot tell from
     * a server that read the request and then died; and over HTTP/2 when
     * the server refuses its stream (REFUSED_STREAM or GOAWAY: on new
     * connections, again and again) or sends it to HTTP/1.1
     * (HTTP_1_1_REQUIRED), on the server's word that it did not take the
     * request, which a broken or lying server gives after reading it
     * whole (RFC 9113 8.7 trusts it).  HTTP/1.1 on a fresh connection is
     * never resent, whatever the server claims, and a fresh connection
     * carries one request anyway: HTTP/2 would multiplex nothing on it.
     * Other requests may go again: libcurl's default (HTTP/2 when TLS
     * offers it) is theirs, set back since the handle is reused.  That
     * connection is closed after its answer (FORBID_REUSE): no other
     * request that must go once would take it, and libcurl would keep
     * each in its cache, up to 256 idle a client, every forked child
     * inheriting them.
     * The body's size goes before it: setting the size drops a body
     * libcurl copied, and with no size set it would read up to a NUL. */
    if ((rc = curl_easy_setopt(e->easy, CURLOPT_FRESH_CONNECT, once ? 1L : 0L)) != CURLE_OK ||
        (rc = curl_easy_setopt(e->easy, CURLOPT_FORBID_REUSE, once ? 1L : 0L)) != CURLE_OK ||
        (rc = curl_easy_setopt(e->easy, CURLOPT_HTTP_VERSION, version)) != CURLE_OK ||
        (rc = curl_easy_setopt(e->easy, CURLOPT_PIPEWAIT, pipewait)) != CURLE_OK ||
        (rc = curl_easy_setopt(e->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len)) != CURLE_OK ||
        (rc = curl_easy_setopt(e->easy, CURLOPT_POSTFIELDS, e->body.data)) != CURLE_OK)
        return fail_with(rc, "", err, errlen);
    if (!e->method.data || strcmp(e->method.data, method) != 0) {
        cab_buf_clear(&e->method);
        if ((rc = curl_easy_setopt(e->easy, CURLOPT_CUSTOMREQUEST, method)) != CURLE_OK)
            return fail_with(rc, "", err, errlen);
        if (cab_buf_adds(&e->method, method)) cab_buf_free(&e->method);
    }
    return CAB_HTTP_OK;
nomem:
    snprintf(err, errlen, "out of memory");
    return CAB_HTTP_NOMEM;
}

int cab_easy_stale(const cab_easy *e, CURLcode rc) {
    long connects = -1, head_bytes = -1;
    if (e->once || (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR && rc != CURLE_GOT_NOTHING)) return 0;
    if (e->head.bytes || e->resp.body.len) return 0;
    /* No connection made: every one the transfer wrote on was kept-alive
     * (libcurl's own resends, on other kept ones, make none either). */
    if (curl_easy_getinfo(e->easy, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK ||
        curl_easy_getinfo(e->easy, CURLINFO_HEADER_SIZE, &head_bytes) != CURLE_OK)
        return 0;
    return connects == 0 && head_bytes == 0;
}

int cab_easy_wrote(const cab_easy *e) {
    curl_off_t pretransfer = 0;
    if (curl_easy_getinfo(e->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) != CURLE_OK) return 1;
    /* A handle handed over again keeps its last request's time until
     * libcurl's first pass over the new one (curl_multi_add_handle resets
     * none of it): read then (multi.c, expire_unsent), it would call a
     * request never begun sent, and let that pass write it late.  From
     * 7.80.0 libcurl lets no request go without asking cab_conns first
     * (CURLOPT_PREREQFUNCTION), which counts from cab_easy_prepare. */
    return pretransfer != 0 && (cab_conns_wrote_again(&e->conns) < 0 || e->conns.writes > 0);
}

int cab_easy_fresh(cab_easy *e) {
    /* (cab_easy_prepare sets it back for the handle's next request) */
    if (curl_easy_setopt(e->easy, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK) return -1;
    e->curl_err[0] = '\0';
    return 0;
}

void cab_easy_timed_out(cab_easy *e, long timeout_ms) {
    /* (a request not yet written met no server: it was connecting, in
     * its TLS handshake or a proxy's tunnel, or waiting for a connection;
     * or its connection was made while the caller's code ran past the
     * timeout, and it was ended before it went: multi.c, expire_unsent) */
    if (!cab_easy_wrote(e))
        snprintf(e->curl_err, sizeof e->curl_err,
                 "the attempt's time of %ld ms ran out before its request was sent (connecting, its TLS "
                 "handshake and a proxy's tunnel count in it)",
                 timeout_ms);
    else
        snprintf(e->curl_err, sizeof e->curl_err,
                 "no whole answer within the timeout of %ld ms (%zu bytes of its body came)", timeout_ms,
                 e->resp.body.len);
}

void cab_easy_stopped(cab_easy *e, const char *why) { snprintf(e->curl_err, sizeof e->curl_err, "%s", why); }

/* Whether the transfer ended as the system reset or broke its connection:
 * libcurl's message for a failed read or write on the socket, with the
 * system's error.  (That error outlives the transfer that met it, so the
 * message must say this transfer met one.) */
static int connection_broken(cab_easy *e) {
    long os_errno = 0;
    if (strncmp(e->curl_err, "Recv failure", 12) != 0 && strncmp(e->curl_err, "Send failure", 12) != 0) return 0;
    if (curl_easy_getinfo(e->easy, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK) return 0;
    return os_errno == ECONNRESET || os_errno == EPIPE || os_errno == ECONNABORTED;
}

/* Whether the TLS handshake ended as the peer closed the connection in the
 * middle of it: OpenSSL's words for the stream's end, with no error of the
 * system's (a balancer that dropped it, or the far end of a proxy's
 * tunnel), as libcurl gives them. */
static int handshake_closed(cab_easy *e) {
    long os_errno = -1;
    if (strstr(e->curl_err, "unexpected eof")) return 1;
    if (!strstr(e->curl_err, "SSL_ERROR_SYSCALL")) return 0;
    return curl_easy_getinfo(e->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno == 0;
}

/* libcurl refuses one header line longer than its own limit
 * (CURL_MAX_HTTP_HEADER, 100 KB), a head larger than ours, in words that
 * depend on its version: from 8.6.0 as CURLE_TOO_LARGE (100, a name older
 * headers lack); before 7.71.0 as out of memory, its message saying so;
 * from 7.71.0 to 8.5 as out of memory, with no message at all, as when its
 * memory runs out.  line_refused: libcurl said it refused a line of the
 * head; line_refused_or_nomem: it may have, or run out of memory. */
#define CAB_CURLE_TOO_LARGE 100

/* The request went and the answer's final head has not ended: a line
 * refused is one of that head's (its status line too, which libcurl
 * refuses before the head reader sees it, and one after a 1xx head). */
static int in_answer_head(const cab_easy *e) {
    long sent = 0;
    if (curl_easy_getinfo(e->easy, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK) return 0;
    return sent > 0 && (e->head.expect_status || e->head.in_head);
}

static int line_refused(const cab_easy *e, CURLcode rc) {
    if (!in_answer_head(e)) return 0;
    return (int)rc == CAB_CURLE_TOO_LARGE ||
           (rc == CURLE_OUT_OF_MEMORY && strncmp(e->curl_err, "Rejected ", 9) == 0);
}

static int line_refused_or_nomem(const cab_easy *e, CURLcode rc) {
    unsigned int v = curl_version_info(CURLVERSION_NOW)->version_num;
    return rc == CURLE_OUT_OF_MEMORY && v >= 0x074700 && v < 0x080600 && in_answer_head(e);
}

static cab_http_status finish(cab_easy *e, CURLcode rc, int *not_sent, char *err, size_t errlen);

cab_http_status cab_easy_finish(cab_easy *e, CURLcode rc, int *not_sent, char *err, size_t errlen) {
    cab_http_status st = finish(e, rc, not_sent, err, errlen);
    /* libcurl cuts its message to fit its buffer, which it then fills (a
     * message of exactly that length counts too: nothing tells them apart) */
    size_t said = strlen(e->curl_err), len = st != CAB_HTTP_OK ? strlen(err) : 0;
    e->words_cut = said == CURL_ERROR_SIZE - 1 && len >= said && memcmp(err + len - said, e->curl_err, said) == 0;
    return st;
}

int cab_easy_words_cut(const cab_easy *e) { return e->words_cut; }

/* Whether libcurl's words report a TLS alert the peer sent: OpenSSL names
 * each after the version that defined it ("tlsv13 alert certificate
 * required", "sslv3 alert handshake failure"). */
static int peer_alert(const char *words) {
    return strstr(words, "sslv3 alert ") || strstr(words, "tlsv1 alert ") || strstr(words, "tlsv13 alert ");
}

static cab_http_status finish(cab_easy *e, CURLcode rc, int *not_sent, char *err, size_t errlen) {
    /* A transfer that failed with no pre-transfer time noted
     * (cab_easy_wrote) failed connecting (to the server, or through a
     * proxy's tunnel), in the TLS handshake, or in that first write, and a
     * send that fails sends no byte (over TLS, no whole record).  One
     * noted did write a request, though it ended failing to connect:
     * begun again on a new connection, which was refused, after the
     * server may have read the first. */
    *not_sent = rc != CURLE_OK && !cab_easy_wrote(e);
    /* libcurl takes a connection closed in the middle of a head for the
     * end of an answer without a body; or, once the head gave a
     * Content-Length or chunks, for a body cut short ("transfer closed
     * with 13 bytes remaining to read"), though no body was due yet. */
    if ((rc == CURLE_OK || rc == CURLE_PARTIAL_FILE) && e->head.in_head) {
        snprintf(err, errlen, "the connection closed in the middle of the answer's headers");
        return CAB_HTTP_NETWORK;
    }
    /* libcurl says "Empty reply from server" of a close after a whole
     * interim head, which did come. */
    if (rc == CURLE_GOT_NOTHING && e->head.interim && e->head.expect_status) {
        snprintf(err, errlen, "the connection closed after an interim answer (1xx), before the answer");
        return CAB_HTTP_NETWORK;
    }
    if (e->verdict == CAB_HEAD_SWITCHED) {
        e->resp.status = 101;
        return CAB_HTTP_OK;
    }
    if (rc == CURLE_OK) rc = curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &e->resp.status);
    if (rc == CURLE_OK) return cab_head_coded(&e->head, err, errlen) ? CAB_HTTP_PROTOCOL : CAB_HTTP_OK;
    if (e->verdict == CAB_HEAD_TOO_LARGE || line_refused(e, rc)) {
        snprintf(err, errlen, "the answer's headers or trailers exceed %d bytes", CAB_MAX_HEADER_BYTES);
        return CAB_HTTP_TOO_LARGE;
    }
    if (line_refused_or_nomem(e, rc)) {
        snprintf(err, errlen, "a line of the answer's headers is longer than the %d bytes libcurl takes, or "
                              "libcurl ran out of memory reading them (libcurl %s says the same of both)",
                 CURL_MAX_HTTP_HEADER, curl_version_info(CURLVERSION_NOW)->version);
        return CAB_HTTP_TOO_LARGE;
    }
    if (e->verdict != CAB_HEAD_OK) {
        cab_head_refusal(&e->head, e->verdict, err, errlen);
        return CAB_HTTP_PROTOCOL;
    }
    if (e->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "the answer is larger than the limit of %zu bytes", e->max_body);
        return CAB_HTTP_TOO_LARGE;
    }
    /* on_body's refusal is a write error to libcurl, whose words for it
     * ("Failure writing output to destination") do not say why. */
    if (e->body_nomem) {
        snprintf(err, errlen, "out of memory (reading the answer's body)");
        return CAB_HTTP_NOMEM;
    }
    /* A connection reset, broken or closed in the middle of the TLS
     * handshake is the network's failure, not TLS's: no byte of the request
     * left, and another try may well get through (a balancer that was
     * overloaded). */
    if (rc == CURLE_SSL_CONNECT_ERROR && (connection_broken(e) || handshake_closed(e)))
        return fail_with(CURLE_RECV_ERROR, e->curl_err, err, errlen);
    /* A transfer's own refusal to take an argument is libcurl's header
     * store refusing a line of the answer (a trailer that is no header):
     * options are all set before it starts. */
    if (rc == CURLE_BAD_FUNCTION_ARGUMENT) {
        snprintf(err, errlen, "the answer has a header or trailer line that is no header: %s",
                 e->curl_err[0] ? e->curl_err : curl_easy_strerror(rc));
        return CAB_HTTP_PROTOCOL;
    }
    /* libcurl reports chunked framing it cannot read as a receive error,
     * like a dropped connection; its message tells them apart.  It keeps a
     * trailer line in a buffer capped at its limit, and says a longer one
     * ran it out of memory, as it says of its memory running out. */
    if (rc == CURLE_RECV_ERROR && strstr(e->curl_err, "chunked-encoding")) {
        if (strstr(e->curl_err, "Out of memory"))
            snprintf(err, errlen, "a trailer line of the answer is longer than the %d bytes libcurl takes, or libcurl "
                                  "ran out of memory reading the chunks (libcurl %s says the same of both)",
                     CAB_MAX_TRAILER_LINE_BYTES, curl_version_info(CURLVERSION_NOW)->version);
        else
            snprintf(err, errlen, "%s", e->curl_err);
        return CAB_HTTP_PROTOCOL;
    }
    /* Under TLS 1.3 the client's part of the handshake ends before the
     * server has checked it (a client certificate it requires, say): the
     * request leaves, and the server's refusal, an alert, comes as the
     * first read fails.  It is TLS's failure, as under TLS 1.2, where the
     * same refusal ends the handshake, and no try again mends it; the
     * request did leave (not_sent stays as it is). */
    if (rc == CURLE_RECV_ERROR && e->head.expect_status && !e->head.interim && peer_alert(e->curl_err))
        return fail_with(CURLE_SSL_CONNECT_ERROR, e->curl_err, err, errlen);
    return fail_with(rc, e->curl_err, err, errlen);
}

CURL *cab_easy_handle(const cab_easy *e) { return e->easy; }

cab_conns_user *cab_easy_conns(cab_easy *e) { return &e->conns; }

int cab_easy_once(const cab_easy *e) { return e->once; }

const cab_http_response *cab_easy_response(const cab_easy *e) { return &e->resp; }

void cab_easy_take_body(cab_easy *e, cab_buf *to) {
    *to = e->resp.body;
    memset(&e->resp.body, 0, sizeof e->resp.body);
}
