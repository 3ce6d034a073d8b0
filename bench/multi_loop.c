/* A step between the bare libcurl loop (bench/curl_bare.c) and
 * client:query, for make bench: the library's own C transport (src/multi.c
 * and src/easy.c, as the binding drives them) sending the same request
 * sequentially from C, with no Lua.  What it costs above curl_bare is the
 * transport's; what client:query costs above it is the Lua layer's, the
 * signing, the encoding and the decoding.
 *
 *   multi_loop REQUEST_FILE N [CA_FILE]
 *     as curl_bare: one warm-up request, then N timed ones, and prints
 *     "seconds <s> requests <N> bytes <answer bytes of the N>".
 */
#include <curl/curl.h>

#include "multi.h"
#include "request_file.h"

static void die(const char *what) { bench_die("multi_loop", what); }

int main(int argc, char **argv) {
    request_file req;
    const char *why;
    cab_http_options opt = {0};
    cab_http_status st;
    cab_multi *m;
    char err[256];
    size_t total = 0, body_len;
    long i, n;
    int slot, not_sent;
    double t0 = 0;
    if (argc < 3 || (n = atol(argv[2])) <= 0) die("usage: multi_loop REQUEST_FILE N [CA_FILE]");
    if ((why = request_file_read(argv[1], &req)) != NULL) die(why);
    body_len = strlen(req.body);
    /* A client's defaults (config.lua): timeouts of 10 s to connect and 30 s
     * a request, answers up to 16 MiB. */
    opt.connect_timeout_ms = 10000;
    opt.max_body = 16 * 1024 * 1024;
    opt.tls_verify = 1;
    opt.ca_file = argc > 3 ? argv[3] : NULL;
    if (!(m = cab_multi_new(&opt, err, sizeof err))) die(err);
    for (i = -1; i < n; i++) {
        unsigned long group = cab_multi_group(m);
        const cab_http_response *r;
        if (i == 0) t0 = bench_now();
        if (cab_multi_start(m, group, "POST", req.url, req.headers, req.n_headers, req.body, body_len, 30000, 0,
                            &st, err, sizeof err) < 0 ||
            (slot = cab_multi_next(m, group, -1, &st, &not_sent, err, sizeof err)) < 0)
            die(err);
        r = cab_multi_response(m, slot);
        if (st != CAB_HTTP_OK || r->status != 200 || r->body.len == 0) die("a request failed");
        if (i >= 0) total += r->body.len;
        cab_multi_release(m, slot);
    }
    printf("seconds %.6f requests %ld bytes %zu\n", bench_now() - t0, n, total);
    cab_multi_free(m);
    free(req.text);
    return 0;
}
