/* The transport floor for target 3: the same POST that client:query sends
 * (same headers, a 635-byte body), sent through src/multi.c itself (one
 * transfer at a time on the client's multi handle, one kept-alive
 * connection), with nothing signed, encoded or decoded.  Whatever client:query costs above
 * this is Lua, signing and the codec; this itself is libcurl plus the
 * kernel.
 *
 *   curl_floor URL SECONDS      prints "floor_rps <requests per second>"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "multi.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request start to end, as the client's loop makes it; returns the
 * HTTP status, or -1 after saying what failed. */
static long one_request(cab_multi *h, const char *url, const char *const *headers, size_t nh,
                        const char *body, size_t blen) {
    cab_http_status st;
    char err[256];
    long status;
    int not_sent;
    int slot = cab_multi_start(h, "POST", url, headers, nh, body, blen, 0, &st, err, sizeof err);
    if (slot >= 0) slot = cab_multi_next(h, -1, &st, &not_sent, err, sizeof err);
    if (slot < 0 || st != CAB_HTTP_OK) {
        fprintf(stderr, "curl_floor: %s\n", slot < 0 && st == CAB_HTTP_OK ? "nothing ran" : err);
        return -1;
    }
    status = cab_multi_response(h, slot)->status;
    cab_multi_release(h, slot);
    if (status != 200) fprintf(stderr, "curl_floor: HTTP %ld\n", status);
    return status;
}

int main(int argc, char **argv) {
    static const char *const headers[] = {
        "Content-Type: application/json;charset=UTF-8",
        "X-Sdk-Date: 20250101T120000Z",
        "X-Project-Id: 0123456789abcdef0123456789abcdef",
        "User-Agent: codearts-batchresult/0.1.0",
        "Authorization: SDK-HMAC-SHA256 Access=AKBENCHACCESSKEY0123, "
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
        "Signature=0000000000000000000000000000000000000000000000000000000000000000",
    };
    const size_t nh = sizeof headers / sizeof headers[0];
    cab_http_options opt = {30000, 10000, NULL, NULL, NULL, 1, 0};
    char body[1024], err[256];
    size_t blen = 0;
    const char *url;
    double secs, t0, t;
    long n = 0;
    int i;
    cab_multi *h;

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

    if (!(h = cab_multi_new(&opt, err, sizeof err))) {
        fprintf(stderr, "curl_floor: %s\n", err);
        return 1;
    }
    /* Warm-up (connects), then the timed loop. */
    for (i = 0; i < 200; i++)
        if (one_request(h, url, headers, nh, body, blen) != 200) return 1;
    t0 = now();
    do {
        for (i = 0; i < 16; i++)
            if (one_request(h, url, headers, nh, body, blen) != 200) return 1;
        n += 16;
        t = now() - t0;
    } while (t < secs);
    printf("floor_rps %.1f\n", (double)n / t);
    cab_multi_free(h);
    return 0;
}
