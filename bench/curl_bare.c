/* The comparison for round trips (make bench): a bare libcurl loop.  One
 * easy handle, kept alive, POSTs the very request client:query sends (its
 * headers and body, read from a file that bench/roundtrip.lua writes with
 * client:prepare), sequentially, and checks each answer's status.  Nothing
 * is signed, encoded or decoded: what client:query costs above this is the
 * library's own work.  The options that change what goes on the wire are
 * the client's (src/easy.c): "Expect:" and an empty CURLOPT_ACCEPT_ENCODING
 * (libcurl's Accept-Encoding header); bench/roundtrip.lua checks that both
 * requests arrive with the same length.
 *
 *   curl_bare REQUEST_FILE N [CA_FILE]
 *     REQUEST_FILE: the URL on the first line, then one header per line,
 *     an empty line, and the body.  Makes one warm-up request (it
 *     connects), then N timed ones, and prints
 *     "seconds <s> requests <N> bytes <answer bytes of the N>".
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

/* Keeps the answer, as a client must, and counts it. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    long n;
    if (!f) return NULL;
    if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
        (s = malloc((size_t)n + 1)) != NULL) {
        if (fread(s, 1, (size_t)n, f) == (size_t)n) {
            s[n] = '\0';
            *len = (size_t)n;
        } else {
            free(s);
            s = NULL;
        }
    }
    fclose(f);
    return s;
}

static void die(const char *what) {
    fprintf(stderr, "curl_bare: %s\n", what);
    exit(1);
}

int main(int argc, char **argv) {
    size_t len, got = 0, total = 0;
    char *text, *line, *body;
    struct curl_slist *headers = NULL;
    const char *url;
    CURL *h;
    long i, n, status = 0;
    double t0 = 0;
    if (argc < 3 || (n = atol(argv[2])) <= 0) die("usage: curl_bare REQUEST_FILE N [CA_FILE]");
    if (!(text = slurp(argv[1], &len))) die("cannot read the request file");
    if (!(body = strstr(text, "\n\n"))) die("no empty line before the body");
    *body = '\0';
    body += 2;
    url = strtok(text, "\n");
    while ((line = strtok(NULL, "\n")) != NULL)
        if (!(headers = curl_slist_append(headers, line))) die("out of memory");
    if (!(headers = curl_slist_append(headers, "Expect:"))) die("out of memory");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(h = curl_easy_init())) die("libcurl failed to start");
    if (curl_easy_setopt(h, CURLOPT_URL, url) || curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) ||
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) ||
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) || curl_easy_setopt(h, CURLOPT_WRITEDATA, &got) ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) || curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") ||
        (argc > 3 && curl_easy_setopt(h, CURLOPT_CAINFO, argv[3])))
        die("libcurl refused an option");
    for (i = -1; i < n; i++) {
        if (i == 0) t0 = now();
        if (curl_easy_perform(h) != CURLE_OK || curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) ||
            status != 200 || got == 0)
            die("a request failed");
        if (i >= 0) total += got;
        got = 0;
    }
    printf("seconds %.6f requests %ld bytes %zu\n", now() - t0, n, total);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(text);
    return 0;
}
