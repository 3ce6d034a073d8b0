/* libFuzzer harness: arbitrary bytes as the lines libcurl hands the head
 * reader (src/head.c), one at a time, each in a heap block of exactly its
 * size, cut after each '\n'.
 *
 * cab_head_line must never crash or read past a line.  After each line
 * the kept fields are strings within their arrays, trimmed, no longer
 * than their limits, and the byte count within CAB_MAX_HEADER_BYTES.  When
 * every line was taken, the fields must equal what a slow reference reads
 * by the documented rule: the last head's lines (after its status line,
 * up to its blank line) joined into fields, a folded line's text added
 * with one space; each kept field's last occurrence, or none when empty
 * or longer than its limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 4096

typedef struct {
    const char *p;
    size_t len;
} line;

static int blank_line(line l) {
    return (l.len == 1 && l.p[0] == '\n') || (l.len == 2 && !memcmp(l.p, "\r\n", 2));
}
static int folded(line l) { return l.len > 0 && (l.p[0] == ' ' || l.p[0] == '\t'); }
static int space(char c) { return c == ' ' || c == '\t'; }

/* Whether the line's status code (after its first space) is 1xx. */
static int interim(line l) {
    const char *sp = memchr(l.p, ' ', l.len);
    return sp && (size_t)(l.p + l.len - sp) > 4 && sp[1] == '1';
}

/* s (n bytes) without its line break (LF, or CRLF) and the spaces and
 * tabs around what is left, appended to out (cap bytes, NUL-terminated), with one
 * space before it when out holds text and it has some.  Returns 0 when
 * out overflowed (then past any limit). */
static int add_trimmed(char *out, size_t cap, const char *s, size_t n) {
    size_t have = strlen(out);
    if (n && s[n - 1] == '\n') n--;
    if (n && s[n - 1] == '\r') n--;
    while (n && space(*s)) s++, n--;
    while (n && space(s[n - 1])) n--;
    if (!n) return 1;
    if (have + 1 + n + 1 > cap) return 0;
    if (have) out[have++] = ' ';
    memcpy(out + have, s, n);
    out[have + n] = '\0';
    return 1;
}

/* The reference: the value of field name (lower case) in the last head of
 * lines[0..n), into out (cap bytes); "" when none counts. */
static void reference(const line *lines, size_t n, const char *name, size_t most, char *out, size_t cap) {
    size_t i, start = n, nl = strlen(name);
    int ours = 0, fits = 1;
    char *value = malloc(cap);
    if (!value) abort();
    out[0] = value[0] = '\0';
    /* The status lines: the first line, and each after a 1xx head's blank
     * line (the final head's trailers follow it, no status line). */
    for (i = 0; i < n;) {
        int more = interim(lines[i]);
        start = ++i;
        while (i < n && !blank_line(lines[i])) i++;
        if (i == n || !more) break;
        i++;
    }
    for (i = start; i < n && !blank_line(lines[i]); i++) {
        line l = lines[i];
        if (folded(l)) {
            if (ours && fits) fits = add_trimmed(value, cap, l.p, l.len);
            continue;
        }
        if (ours && fits && strlen(value) <= most) strcpy(out, value);
        else if (ours) out[0] = '\0';
        ours = 0;
        if (l.len > nl && l.p[nl] == ':') {
            size_t k;
            for (k = 0; k < nl && (char)cab_lower((unsigned char)l.p[k]) == name[k]; k++) {}
            if (k == nl) {
                ours = 1;
                value[0] = '\0';
                fits = add_trimmed(value, cap, l.p + nl + 1, l.len - nl - 1);
            }
        }
    }
    if (ours && fits && strlen(value) <= most) strcpy(out, value);
    else if (ours) out[0] = '\0';
    free(value);
}

static void check_field(const char *f, size_t size) {
    size_t n = strnlen(f, size);
    if (n == size) abort(); /* not NUL-terminated */
    if (n && (space(f[0]) || space(f[n - 1]))) abort();
}

/* A kept list: within its array, and NUL-terminated at its length
 * (a line holding a NUL is refused before it is kept). */
static void check_list(const cab_head_list *l) {
    if (l->too_long) return;
    if (l->len > CAB_HEAD_LIST_BYTES || strnlen(l->text, sizeof l->text) != l->len) abort();
}

static void expect(const line *lines, size_t n, const char *name, const char *got, size_t size) {
    char want[CAB_MAX_HEADER_BYTES + 2];
    reference(lines, n, name, size - 1, want, sizeof want);
    if (strcmp(want, got) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static line lines[MAX_LINES];
    cab_head_fields fields;
    cab_head h;
    size_t n = 0, at = 0;
    int taken = 1;

    memset(&fields, 0x55, sizeof fields); /* cab_head_start must empty them */
    cab_head_start(&h, &fields);
    while (at < size && n < MAX_LINES) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
        char *copy = malloc(len);
        cab_head_verdict v;
        if (!copy) abort();
        memcpy(copy, data + at, len);
        v = cab_head_line(&h, copy, len);
        free(copy);
        lines[n].p = (const char *)data + at;
        lines[n++].len = len;
        at += len;
        check_field(fields.request_id, sizeof fields.request_id);
        check_field(fields.date, sizeof fields.date);
        check_field(fields.retry_after, sizeof fields.retry_after);
        if (h.bytes > CAB_MAX_HEADER_BYTES) abort();
        check_list(&h.coding);
        check_list(&h.transfer);
        if (h.folding && h.folding != fields.request_id && h.folding != fields.date &&
            h.folding != fields.retry_after)
            abort();
        if (v != CAB_HEAD_OK) {
            char msg[256];
            cab_head_refusal(&h, v, msg, sizeof msg);
            taken = 0;
            break;
        }
    }
    if (taken && at == size) {
        char msg[256];
        cab_head_coded(&h, msg, sizeof msg);
        expect(lines, n, "x-request-id", fields.request_id, sizeof fields.request_id);
        expect(lines, n, "date", fields.date, sizeof fields.date);
        expect(lines, n, "retry-after", fields.retry_after, sizeof fields.retry_after);
    }
    return 0;
}
