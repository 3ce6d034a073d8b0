/* The comparison for round trips (make bench): a bare libcurl loop.  One
 * easy handle, kept alive, POSTs the very request client:query sends (its
 * headers and body, read from a file that bench/roundtrip.lua writes with
 * client:prepare), sequentially, and checks each answer's status.  Nothing
 * is signed, encoded or decoded: what client:query costs above this is the
 * library's own work.  The options that change what goes on the wire are
 * the client's (src/easy.c): "Expect:" and "Accept-Encoding: identity";
 * bench/roundtrip.lua checks that both requests arrive with the same
 * length.
 *
 *   curl_bare REQUEST_FILE N [CA_FILE]
 *     REQUEST_FILE: the URL on the first line, then one header per line,
 *     an empty line, and the body.  Makes one warm-up request (it
 *     connects), then N timed ones, and prints
 *     "seconds <s> requests <N> bytes <answer bytes of the N>".
 */
#include <curl/curl.h>

#include "request_file.h"

/* Counts the answer's bytes and drops them: nothing here reads an answer
 * but its length and status.  (The library keeps each answer in a buffer
 * for decoding, src/easy.c: that copy, about 1.3 KB a call, is part of
 * the library's work this loop leaves out, as is the decoding.) */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

static void die(const char *what) { bench_die("curl_bare", what); }

int main(int argc, char **argv) {
    size_t got = 0, total = 0, k;
    request_file req;
    const char *why;
    struct curl_slist *headers = NULL;
    CURL *h;
    long i, n, status = 0;
    double t0 = 0;
    if (argc < 3 || (n = atol(argv[2])) <= 0) die("usage: curl_bare REQUEST_FILE N [CA_FILE]");
    if ((why = request_file_read(argv[1], &req)) != NULL) die(why);
    for (k = 0; k < req.n_headers; k++)
        if (!(headers = curl_slist_append(headers, req.headers[k]))) die("out of memory");
    if (!(headers = curl_slist_append(headers, "Expect:")) ||
        !(headers = curl_slist_append(headers, "Accept-Encoding: identity")))
        die("out of memory");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(h = curl_easy_init())) die("libcurl failed to start");
    if (curl_easy_setopt(h, CURLOPT_URL, req.url) || curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) ||
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body) ||
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(req.body)) ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) || curl_easy_setopt(h, CURLOPT_WRITEDATA, &got) ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
        (argc > 3 && curl_easy_setopt(h, CURLOPT_CAINFO, argv[3])))
        die("libcurl refused an option");
    for (i = -1; i < n; i++) {
        if (i == 0) t0 = bench_now();
        if (curl_easy_perform(h) != CURLE_OK || curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) ||
            status != 200 || got == 0)
            die("a request failed");
        if (i >= 0) total += got;
        got = 0;
    }
    printf("seconds %.6f requests %ld bytes %zu\n", bench_now() - t0, n, total);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(req.text);
    return 0;
}
