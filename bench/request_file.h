/* The request file bench/roundtrip.lua writes from client:prepare, read
 * by the C loops it sets client:query against (bench/curl_bare.c,
 * bench/multi_loop.c): the URL on the first line, then one header per
 * line, an empty line, and the body.  Also their clock and their way of
 * failing.  Header-only: each bench program is one file. */
#ifndef BENCH_REQUEST_FILE_H
#define BENCH_REQUEST_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQUEST_MAX_HEADERS 64

typedef struct {
    char *text; /* the file, cut into the strings below */
    const char *url;
    const char *headers[REQUEST_MAX_HEADERS]; /* "Name: value" */
    size_t n_headers;
    const char *body;
} request_file;

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_die(const char *program, const char *what) {
    fprintf(stderr, "%s: %s\n", program, what);
    exit(1);
}

/* Reads path into r; NULL, or why it could not. */
static inline const char *request_file_read(const char *path, request_file *r) {
    FILE *f = fopen(path, "rb");
    long n = -1;
    char *body, *line;
    memset(r, 0, sizeof *r);
    if (!f) return "cannot open the request file";
    if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
        (r->text = malloc((size_t)n + 1)) != NULL && fread(r->text, 1, (size_t)n, f) == (size_t)n)
        r->text[n] = '\0';
    else
        n = -1;
    fclose(f);
    if (n < 0) return "cannot read the request file";
    if (!(body = strstr(r->text, "\n\n"))) return "no empty line before the body";
    *body = '\0';
    r->body = body + 2;
    r->url = strtok(r->text, "\n");
    while ((line = strtok(NULL, "\n")) != NULL) {
        if (r->n_headers == REQUEST_MAX_HEADERS) return "too many headers";
        r->headers[r->n_headers++] = line;
    }
    return r->url ? NULL : "no URL";
}

#endif
