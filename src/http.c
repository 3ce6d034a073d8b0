#define _POSIX_C_SOURCE 200809L
#include "http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* The easy handle runs on a multi handle of its own, driven here with
 * curl_multi_wait: curl_easy_perform would also poll a wake-up socket on
 * every request, a system call this client never needs. */
struct cab_http {
    CURLM *multi;
    CURL *easy;
    cab_http_response resp;
};

/* curl_global_init is not thread-safe before 7.84 and must run once; it is
 * deferred to the first client so that nothing is initialised in a process
 * (an nginx master, say) that only loads the module and forks. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    cab_http_response *r = ud;
    size_t len = size * n;
    return cab_buf_add(&r->body, p, len) ? 0 : len; /* 0 aborts: out of memory */
}

/* Copies the value of "name: value" into dst when the line's name is name. */
static void capture(const char *line, size_t len, const char *name, char *dst, size_t dstlen) {
    size_t nl = strlen(name), i;
    const char *v, *end = line + len;
    if (len <= nl || line[nl] != ':') return;
    for (i = 0; i < nl; i++) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != name[i]) return;
    }
    v = line + nl + 1;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    len = (size_t)(end - v);
    if (len >= dstlen) len = dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    cab_http_response *r = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
        /* A new response begins (after a 100 Continue, say): forget the
         * previous one's headers. */
        r->request_id[0] = r->date[0] = r->retry_after[0] = '\0';
        return len;
    }
    capture(p, len, "x-request-id", r->request_id, sizeof r->request_id);
    capture(p, len, "date", r->date, sizeof r->date);
    capture(p, len, "retry-after", r->retry_after, sizeof r->retry_after);
    return len;
}

#define SETOPT(h, opt, val)                                  \
    do {                                                     \
        if ((rc = curl_easy_setopt((h), (opt), (val))) != CURLE_OK) goto fail; \
    } while (0)

cab_http *cab_http_new(const cab_http_options *opt, char *errbuf, size_t errlen) {
    cab_http *h;
    CURLcode rc = CURLE_OK;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(errbuf, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->easy = curl_easy_init()) || !(h->multi = curl_multi_init())) {
        cab_http_free(h);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    SETOPT(h->easy, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM inside a host's process */
    SETOPT(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(h->easy, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(h->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(h->easy, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(h->easy, CURLOPT_TIMEOUT_MS, opt->timeout_ms);
    SETOPT(h->easy, CURLOPT_CONNECTTIMEOUT_MS, opt->connect_timeout_ms);
    if (opt->ca_file) SETOPT(h->easy, CURLOPT_CAINFO, opt->ca_file);
    if (opt->proxy) SETOPT(h->easy, CURLOPT_PROXY, opt->proxy);
    SETOPT(h->easy, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h->easy, CURLOPT_WRITEDATA, &h->resp);
    SETOPT(h->easy, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h->easy, CURLOPT_HEADERDATA, &h->resp);
    return h;
fail:
    snprintf(errbuf, errlen, "libcurl refused an option: %s", curl_easy_strerror(rc));
    cab_http_free(h);
    return NULL;
}

void cab_http_free(cab_http *h) {
    if (!h) return;
    if (h->multi) curl_multi_cleanup(h->multi);
    if (h->easy) curl_easy_cleanup(h->easy);
    cab_buf_free(&h->resp.body);
    free(h);
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
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR: return CAB_HTTP_NOMEM; /* our write callback only fails for memory */
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return CAB_HTTP_USAGE;
    default: return CAB_HTTP_NETWORK;
    }
}

/* Runs the one transfer on the multi handle to its end.  libcurl enforces
 * the timeouts: curl_multi_wait never sleeps past its next timer. */
static CURLcode perform(cab_http *h) {
    CURLMcode mc;
    CURLMsg *msg;
    CURLcode rc = CURLE_OK;
    int running = 1, left;
    if ((mc = curl_multi_add_handle(h->multi, h->easy)) != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
    for (;;) {
        if ((mc = curl_multi_perform(h->multi, &running)) != CURLM_OK) break;
        if (!running) break;
        if ((mc = curl_multi_wait(h->multi, NULL, 0, 1000, NULL)) != CURLM_OK) break;
    }
    if (mc != CURLM_OK) {
        rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    } else {
        rc = CURLE_GOT_NOTHING;
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == h->easy) rc = msg->data.result;
    }
    /* Removing cannot fail for a handle that was added; the connection
     * stays in the multi handle's cache for the next request. */
    (void)curl_multi_remove_handle(h->multi, h->easy);
    return rc;
}

cab_http_status cab_http_request(cab_http *h, const char *method, const char *url,
                                 const char *const *headers, size_t n_headers, const char *body,
                                 size_t body_len, char *errbuf, size_t errlen) {
    struct curl_slist *list = NULL, *tmp;
    char curl_err[CURL_ERROR_SIZE];
    cab_http_status st;
    CURLcode rc;
    size_t i;

    cab_buf_clear(&h->resp.body);
    h->resp.status = 0;
    h->resp.request_id[0] = h->resp.date[0] = h->resp.retry_after[0] = '\0';
    curl_err[0] = '\0';

    /* "Expect:" stops libcurl from waiting for 100 Continue on large bodies. */
    if (!(list = curl_slist_append(NULL, "Expect:"))) goto nomem;
    for (i = 0; i < n_headers; i++) {
        if (!(tmp = curl_slist_append(list, headers[i]))) goto nomem;
        list = tmp;
    }
    if ((rc = curl_easy_setopt(h->easy, CURLOPT_URL, url)) == CURLE_OK &&
        (rc = curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, method)) == CURLE_OK &&
        (rc = curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, body)) == CURLE_OK &&
        (rc = curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len)) == CURLE_OK &&
        (rc = curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, list)) == CURLE_OK &&
        (rc = curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, curl_err)) == CURLE_OK &&
        (rc = perform(h)) == CURLE_OK)
        rc = curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->resp.status);
    /* The header list, error buffer and body die with this call: unhook
     * them whatever happened.  Clearing an option cannot fail. */
    (void)curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, NULL);
    (void)curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(list);
    if (rc == CURLE_OK) return CAB_HTTP_OK;
    st = classify(rc);
    snprintf(errbuf, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    return st;
nomem:
    curl_slist_free_all(list);
    snprintf(errbuf, errlen, "out of memory");
    return CAB_HTTP_NOMEM;
}

const cab_http_response *cab_http_last(const cab_http *h) { return &h->resp; }
