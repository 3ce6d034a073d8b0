/* The libcurl floor for target 3: the same POST that client:query sends
 * (same headers, a 635-byte body, the options src/http.c sets), sent from
 * C with one reused easy handle over one kept-alive connection, nothing
 * signed, encoded or decoded.  Whatever client:query costs above this is
 * ours (Lua, signing, codec); this itself is libcurl plus the kernel.
 *
 *   curl_floor URL SECONDS      prints "floor_rps <requests per second>"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char sink_buf[65536];
static size_t sink_len;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    size_t len = size * n;
    (void)ud;
    if (sink_len + len < sizeof sink_buf) {
        memcpy(sink_buf + sink_len, p, len);
        sink_len += len;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return size * n;
}

int main(int argc, char **argv) {
    const char *url;
    double secs, t0, t;
    long n = 0, status = 0;
    char body[1024];
    size_t blen = 0;
    int i;
    CURL *h;
    struct curl_slist *hs = NULL;

    if (argc < 3) {
        fprintf(stderr, "usage: curl_floor URL SECONDS\n");
        return 2;
    }
    url = argv[1];
    secs = atof(argv[2]);

    blen += (size_t)snprintf(body + blen, sizeof body - blen, "{\"query\":[");
    for (i = 0; i < 6; i++)
        blen += (size_t)snprintf(body + blen, sizeof body - blen,
                                 "%s{\"pipeline_id\":\"%032d\",\"pipeline_run_id\":\"%032d\"}",
                                 i ? "," : "", 2 * i + 1, 2 * i + 2);
    blen += (size_t)snprintf(body + blen, sizeof body - blen, "]}");

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(h = curl_easy_init())) {
        fprintf(stderr, "curl_floor: libcurl init failed\n");
        return 1;
    }
    hs = curl_slist_append(hs, "Expect:");
    hs = curl_slist_append(hs, "Content-Type: application/json;charset=UTF-8");
    hs = curl_slist_append(hs, "X-Sdk-Date: 20250101T120000Z");
    hs = curl_slist_append(hs, "X-Project-Id: 0123456789abcdef0123456789abcdef");
    hs = curl_slist_append(hs, "User-Agent: codearts-batchresult/0.1.0");
    hs = curl_slist_append(hs, "Authorization: SDK-HMAC-SHA256 Access=AKBENCHACCESSKEY0123, "
                               "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
                               "Signature=0000000000000000000000000000000000000000000000000000000000000000");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);

    /* Warm-up (connects), then the timed loop. */
    for (i = 0; i < 200; i++) {
        sink_len = 0;
        if (curl_easy_perform(h) != CURLE_OK) {
            fprintf(stderr, "curl_floor: request failed\n");
            return 1;
        }
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "curl_floor: HTTP %ld\n", status);
        return 1;
    }
    t0 = now();
    do {
        for (i = 0; i < 16; i++) {
            sink_len = 0;
            if (curl_easy_perform(h) != CURLE_OK) {
                fprintf(stderr, "curl_floor: request failed\n");
                return 1;
            }
        }
        n += 16;
        t = now() - t0;
    } while (t < secs);
    printf("floor_rps %.1f\n", (double)n / t);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
