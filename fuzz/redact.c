/* libFuzzer harness: the redactor (src/redact.c), fed secrets echoed back
 * in every form a server writes them.
 *
 * Input, readable form (every seed is one):
 *
 *     LIMIT \n          decimal, 0 for no cut
 *     SECRET \n         1 to 3 lines, as they are, or "hex:" and hex digits
 *     \n
 *     TEXT              where {N F [FROM][,COUNT]} stands for bytes
 *                       FROM.. (COUNT of them) of secret N in form F
 *     \n==> cut|whole \n
 *     OUTPUT            optional: the result expected at LIMIT, and
 *                       whether it is cut (one final \n is not part of it)
 *
 * Forms: r raw; p, l every byte as %XX in upper, lower case; j as JSON
 * writes a string (\" \\ \/ \b \f \n \r \t, \u00XX for other controls,
 * the rest raw); u, U every character as \uXXXX in lower, upper case (a
 * surrogate pair past U+FFFF, a byte that is not UTF-8 raw); f as a form
 * (application/x-www-form-urlencoded) writes it (a space as +, letters,
 * digits and *-._ raw, the rest %XX); c a space as a control character
 * (one of \t \n \r \0 ESC DEL, \r\n, \r\r\n, C1's NEL or CSI as UTF-8 writes them, or
 * U+2028 or U+2029, picked at random, as a terminal, a table or a one-line
 * message shows one as a space), the rest raw; a, x, q each byte past ASCII
 * as the Latin-1 character it is, in UTF-8 raw (a), as \u00XX with the
 * rest as j writes it (x: Python's json.dumps of a header it read), or
 * percent-encoded (q: %C3%90 for 0xD0), the rest raw; m each character in
 * a form picked at random; ? one form picked at random.
 * Other braces are text.  Any input not of this form is binary: 1 to 3
 * secrets are cut from its first bytes, the rest is the text, and each
 * secret goes into it 1 to 3 times, a random slice in a random form, with
 * a random limit.  The random choices come from a hash of the input, so an
 * input replays.
 *
 * The result at limit 0 must be what a reference built here gives: every
 * path through the text's decodings (a slow search over all of them)
 * whose bytes are a run of min(CAB_REDACT_MIN_RUN, length) bytes of a
 * secret, widened to whole characters, merged when they overlap or touch.
 * Then, at limit 0, LIMIT and a random limit, what stands between markers
 * must hold no such run: (a) raw, (b) decoded the usual way (every valid
 * escape), nor (in the uncut result, of which a cut one is the first
 * bytes) by any decoding; (c) the result is at most the limit long;
 * (d) it is the uncut result cut at the last place allowed (not inside a
 * marker, not inside a whole UTF-8 character), so no character the input
 * had whole is cut, and *cut says whether it was cut.  With no secret at
 * all, and when the reference finds no run, the text comes out as it is
 * (up to the cut).
 *
 * The expected OUTPUT makes each seed a case of a table: the mutator drops
 * it (LLVMFuzzerCustomMutator), so an input the fuzzer made never has one,
 * and every seed's is checked by make fuzz-regress. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define MAX_SECRETS 3
#define MAX_SECRET 256
#define MAX_TEXT 16384
#define MARK CAB_REDACTED
#define MARK_LEN (sizeof MARK - 1)
#define EXPECT "\n==> "

typedef struct {
    unsigned char p[MAX_SECRET];
    size_t len;
} secret;

static secret sec[MAX_SECRETS];
static int nsec;
static uint64_t rng;

static uint64_t rnd(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
    z = (z ^ z >> 27) * 0x94d049bb133111ebu;
    return z ^ z >> 31;
}

static void add(cab_buf *b, const void *p, size_t n) {
    if (cab_buf_add(b, p, n)) abort();
}

static size_t find(const uint8_t *hay, size_t n, const char *needle) {
    size_t i, k = strlen(needle);
    for (i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return i;
    return n;
}

/* ---- decoding, written again from the rules in redact.h ----------------- */

typedef struct {
    size_t len;         /* text bytes */
    unsigned char b[4]; /* the bytes they stand for */
    unsigned nb;
} unit;

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long hex_at(const unsigned char *p, int digits) {
    long v = 0;
    while (digits--) {
        if (hexv(*p) < 0) return -1;
        v = v * 16 + hexv(*p++);
    }
    return v;
}

static unsigned utf8(unsigned long cp, unsigned char *b) {
    static const unsigned char lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
    unsigned n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, i;
    for (i = n - 1; i > 0; i--, cp >>= 6) b[i] = (unsigned char)(0x80 | (cp & 0x3f));
    b[0] = (unsigned char)(lead[n] | cp);
    return n;
}

/* The ways to read text t[i..n) but as a Latin-1 character (units_at):
 * u[0] its raw byte, u[1] the escape that starts there, if any, and u[2],
 * at a run of 2 to 12 ASCII controls, the run as one space.  Returns how
 * many. */
static int escape_units(const unsigned char *t, size_t n, size_t i, unit u[3]) {
    static const char names[] = "\"\\/bfnrt", values[] = "\"\\/\b\f\n\r\t";
    const unsigned char *p = t + i;
    size_t left = n - i;
    const char *named;
    long hi, lo;
    u[0].len = 1;
    u[0].b[0] = p[0];
    u[0].nb = 1;
    if (p[0] == '+' || p[0] < 0x20 || p[0] == 0x7f) {
        size_t run = 0;
        u[1].len = 1;
        u[1].b[0] = ' ';
        u[1].nb = 1;
        while (run < 12 && run < left && (p[run] < 0x20 || p[run] == 0x7f)) run++;
        if (run < 2) return 2;
        u[2] = u[1];
        u[2].len = run;
        return 3;
    }
    if (p[0] == 0xc2 && left >= 2 && p[1] >= 0x80 && p[1] <= 0x9f) {
        u[1].len = 2;
        u[1].b[0] = ' ';
        u[1].nb = 1;
        return 2;
    }
    if (p[0] == 0xe2 && left >= 3 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
        /* U+2028, U+2029: a one-line message shows each as a space. */
        u[1].len = 3;
        u[1].b[0] = ' ';
        u[1].nb = 1;
        return 2;
    }
    if (p[0] == '%' && left >= 3 && (hi = hex_at(p + 1, 2)) >= 0) {
        u[1].len = 3;
        u[1].b[0] = (unsigned char)hi;
        u[1].nb = 1;
        return 2;
    }
    if (p[0] != '\\' || left < 2) return 1;
    if (p[1] != 'u') {
        if (!p[1] || !(named = strchr(names, p[1]))) return 1;
        u[1].len = 2;
        u[1].b[0] = (unsigned char)values[named - names];
        u[1].nb = 1;
        return 2;
    }
    if (left < 6 || (hi = hex_at(p + 2, 4)) < 0 || (hi >= 0xdc00 && hi < 0xe000)) return 1;
    u[1].len = 6;
    if (hi >= 0xd800 && hi < 0xdc00) {
        if (left < 12 || memcmp(p + 6, "\\u", 2) != 0 || (lo = hex_at(p + 8, 4)) < 0xdc00 ||
            lo >= 0xe000)
            return 1;
        hi = 0x10000 + (hi - 0xd800) * 0x400 + (lo - 0xdc00);
        u[1].len = 12;
    }
    u[1].nb = utf8((unsigned long)hi, u[1].b);
    return 2;
}

/* The byte 0x80-0xFF whose Latin-1 character U+0080-U+00FF the UTF-8
 * bytes c, d write, else -1. */
static long latin1(long c, long d) {
    if (c < 0xc2 || c > 0xc3 || d < 0x80 || d > 0xbf) return -1;
    return (c - 0xc2) * 0x40 + d;
}

/* escape_units, and one more where a byte 0x80-0xFF is written as its
 * Latin-1 character: UTF-8 raw, \u00XX or percent-encoded.  At most 3 in
 * all, as no Latin-1 form starts where a run of controls can. */
static int units_at(const unsigned char *t, size_t n, size_t i, unit u[3]) {
    const unsigned char *p = t + i;
    size_t left = n - i;
    int nu = escape_units(t, n, i, u);
    long v = -1;
    if (left >= 2) v = latin1(p[0], p[1]);
    if (v >= 0) {
        u[nu].len = 2;
    } else if (left >= 6 && memcmp(p, "\\u00", 4) == 0 && (v = hex_at(p + 4, 2)) >= 0x80) {
        u[nu].len = 6;
    } else if (left >= 6 && p[0] == '%' && p[3] == '%' && (v = latin1(hex_at(p + 1, 2), hex_at(p + 4, 2))) >= 0) {
        u[nu].len = 6;
    } else {
        return nu;
    }
    u[nu].b[0] = (unsigned char)v;
    u[nu].nb = 1;
    return nu + 1;
}

/* The start of the whole UTF-8 character that t[p] is inside of (past
 * its first byte), else p. */
static size_t inside_char(const unsigned char *t, size_t n, size_t p) {
    size_t q, k, len;
    for (q = p; q > 0 && p - q < 3 && p < n && (t[p] & 0xc0) == 0x80;) {
        unsigned char c = t[--q];
        if ((c & 0xc0) == 0x80) continue;
        for (len = 0; len < 5 && (c << len & 0x80); len++) {}
        if (len < 2 || len > 4 || q + len <= p || q + len > n) return p;
        for (k = 1; k < len; k++)
            if ((t[q + k] & 0xc0) != 0x80) return p;
        return q;
    }
    return p;
}

/* ---- the reference ------------------------------------------------------ */

typedef struct {
    size_t s, e;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} spans;

static void add_span(spans *a, size_t s, size_t e) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        if (!(a->v = realloc(a->v, a->cap * sizeof *a->v))) abort();
    }
    a->v[a->n].s = s;
    a->v[a->n++].e = e;
}

static size_t need(const secret *s) { return s->len < CAB_REDACT_MIN_RUN ? s->len : CAB_REDACT_MIN_RUN; }

/* Every slice of every secret no longer than its run length, sorted, with
 * what it is: 2 a whole run of a secret, 1 the start of a longer one.  A
 * slice is its length and its bytes read as a big-endian number (compared
 * as numbers: the fuzzer's hooks on memcmp would slow every look-up). */
typedef struct {
    uint64_t bytes;
    unsigned len, what;
} slice;

static slice slices[MAX_SECRETS * MAX_SECRET * CAB_REDACT_MIN_RUN];
static size_t nslices;
static unsigned char short_slices[1 << 16 | 1 << 8]; /* by number: the slices of 1 and 2 bytes */

static uint64_t number(const unsigned char *p, size_t k) {
    uint64_t v = 0;
    while (k--) v = v << 8 | *p++;
    return v;
}

static int slice_order(const void *a, const void *b) {
    const slice *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static void list_slices(void) {
    size_t i, at, k, w = 0;
    memset(short_slices, 0, sizeof short_slices);
    for (nslices = 0, i = 0; i < (size_t)nsec; i++)
        for (at = 0; at < sec[i].len; at++)
            for (k = 1; k <= need(&sec[i]) && at + k <= sec[i].len; k++) {
                slice *x = &slices[nslices++];
                x->len = (unsigned)k;
                x->bytes = number(sec[i].p + at, k);
                x->what = k == need(&sec[i]) ? 2 : 1;
                if (k <= 2) short_slices[(k == 1) << 16 | x->bytes] |= (unsigned char)x->what;
            }
    qsort(slices, nslices, sizeof *slices, slice_order);
    for (i = 0; i < nslices; i++) {
        if (w && slice_order(&slices[w - 1], &slices[i]) == 0) slices[w - 1].what |= slices[i].what;
        else slices[w++] = slices[i];
    }
    nslices = w;
}

/* 2 when d[0..k) is a whole run of some secret, | 1 when it may grow into one. */
static int judge(const unsigned char *d, size_t k) {
    slice key;
    const slice *hit;
    key.len = (unsigned)k;
    key.bytes = number(d, k);
    if (k <= 2) return short_slices[(k == 1) << 16 | key.bytes];
    hit = bsearch(&key, slices, nslices, sizeof *slices, slice_order);
    return hit ? (int)hit->what : 0;
}

/* Follows every path that begins at start and continues with the bytes
 * from..nb of the unit x at text offset at, with d[0..k) spelt so far. */
static void follow(const unsigned char *t, size_t n, size_t start, size_t at, const unit *x,
                   unsigned from, unsigned char *d, size_t k, spans *out) {
    unit next[3];
    int i, nu, j = 1;
    for (; from < x->nb && j & 1; from++) {
        d[k++] = x->b[from];
        j = judge(d, k);
        if (j & 2) add_span(out, start, at + x->len);
    }
    if (!(j & 1) || at + x->len >= n) return;
    nu = units_at(t, n, at + x->len, next);
    for (i = 0; i < nu; i++) follow(t, n, start, at + x->len, &next[i], 0, d, k, out);
}

/* Every occurrence in t, widened to whole characters, sorted and merged. */
static void occurrences(const unsigned char *t, size_t n, spans *out) {
    unsigned char d[CAB_REDACT_MIN_RUN];
    unit u[3];
    size_t i, w;
    int k, nu;
    unsigned from;
    out->n = 0;
    for (i = 0; i < n; i++) {
        nu = units_at(t, n, i, u);
        for (k = 0; k < nu; k++)
            for (from = 0; from < u[k].nb; from++) follow(t, n, i, i, &u[k], from, d, 0, out);
    }
    for (i = 0; i < out->n; i++) {
        out->v[i].s = inside_char(t, n, out->v[i].s);
        while (out->v[i].e < n && inside_char(t, n, out->v[i].e) < out->v[i].e) out->v[i].e++;
    }
    /* Insertion sort by start (they come nearly sorted), then merge. */
    for (i = 1; i < out->n; i++) {
        span x = out->v[i];
        for (w = i; w > 0 && out->v[w - 1].s > x.s; w--) out->v[w] = out->v[w - 1];
        out->v[w] = x;
    }
    for (w = 0, i = 0; i < out->n; i++) {
        if (w && out->v[i].s <= out->v[w - 1].e) {
            if (out->v[i].e > out->v[w - 1].e) out->v[w - 1].e = out->v[i].e;
        } else {
            out->v[w++] = out->v[i];
        }
    }
    out->n = w;
}

/* The text with the spans replaced by markers, cut at limit the way
 * redact.h says; sets *cut. */
static void render(const unsigned char *t, size_t n, const spans *sp, size_t limit, cab_buf *out,
                   int *cut) {
    size_t at = 0, i;
    cab_buf_clear(out);
    *cut = 0;
    for (i = 0; i <= sp->n; i++) {
        size_t end = i < sp->n ? sp->v[i].s : n;
        if (limit && end - at > limit - out->len) {
            size_t c = inside_char(t, n, at + (limit - out->len));
            add(out, t + at, (c > at ? c : at) - at);
            *cut = 1;
            return;
        }
        add(out, t + at, end - at);
        if (i == sp->n) return;
        if (limit && limit - out->len < MARK_LEN) {
            *cut = 1;
            return;
        }
        add(out, MARK, MARK_LEN);
        at = sp->v[i].e;
    }
}

/* ---- the properties ----------------------------------------------------- */

/* Whether some window of s[0..n) of a secret's run length is in that secret. */
static int holds_run(const unsigned char *s, size_t n) {
    size_t i;
    int k;
    for (k = 0; k < nsec; k++)
        for (i = 0; i + need(&sec[k]) <= n; i++)
            if (judge(s + i, need(&sec[k])) & 2) return 1;
    return 0;
}

/* (a) and (b) on one stretch between markers; with scratch, also no
 * decoding at all holds a run (the reference's search). */
static void check_stretch(const unsigned char *s, size_t n, spans *scratch) {
    unsigned char *dec = malloc(n + 1);
    size_t i = 0, k = 0;
    unit u[3];
    if (!dec) abort();
    if (holds_run(s, n)) abort();
    while (i < n) {
        const unit *x = &u[escape_units(s, n, i, u) > 1]; /* (the escape, not a run of controls) */
        memcpy(dec + k, x->b, x->nb);
        k += x->nb;
        i += x->len;
    }
    if (holds_run(dec, k)) abort();
    free(dec);
    if (!scratch) return;
    occurrences(s, n, scratch);
    if (scratch->n) abort();
}

static void check_output(const cab_buf *out, spans *scratch) {
    const unsigned char *p = (const unsigned char *)out->data;
    size_t at = 0, m;
    while (at <= out->len) {
        m = at + find(p + at, out->len - at, MARK);
        check_stretch(p + at, m - at, scratch);
        at = m + MARK_LEN;
    }
}

/* cab_redact at limit: (c), (d), the same as the reference, no run left
 * (searched for in every decoding only in the uncut result: a cut one is
 * the first bytes of it). */
static void check_limit(const cab_redactor *r, const cab_buf *text, const spans *sp, size_t limit,
                        const cab_buf *whole, cab_buf *out, cab_buf *ref, spans *scratch) {
    int cut = -1, ref_cut;
    if (cab_redact(r, text->data, text->len, limit, out, &cut)) abort();
    render((const unsigned char *)text->data, text->len, sp, limit, ref, &ref_cut);
    if (limit && out->len > limit) abort();
    if (out->len != ref->len || memcmp(out->data, ref->data, out->len) != 0 || cut != ref_cut) abort();
    if (out->len > whole->len || memcmp(out->data, whole->data, out->len) != 0) abort();
    if (cut != (limit && whole->len > limit)) abort();
    if (inside_char((const unsigned char *)whole->data, whole->len, out->len) != out->len) abort();
    if (out->data[out->len] != '\0') abort();
    check_output(out, limit ? NULL : scratch);
}

/* ---- building the text -------------------------------------------------- */

/* The length of the UTF-8 character at p (of n bytes) if it is one that
 * \u can write, else 0. */
static unsigned char_at(const unsigned char *p, size_t n, unsigned long *cp) {
    unsigned char b[4];
    unsigned len = 0, i;
    while (len < 5 && (p[0] << len & 0x80)) len++;
    if (len == 0) {
        *cp = p[0];
        return 1;
    }
    if (len < 2 || len > 4 || len > n) return 0;
    *cp = p[0] & (0x7f >> len);
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        *cp = *cp << 6 | (p[i] & 0x3f);
    }
    if (*cp > 0x10ffff || (*cp >= 0xd800 && *cp < 0xe000) || utf8(*cp, b) != len) return 0;
    return len;
}

static void put_u(cab_buf *b, unsigned long cp, int upper) {
    char x[16];
    if (cp >= 0x10000) {
        put_u(b, 0xd800 + ((cp - 0x10000) >> 10), upper);
        cp = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    }
    snprintf(x, sizeof x, upper ? "\\u%04lX" : "\\u%04lx", cp);
    add(b, x, 6);
}

static void put_json(cab_buf *b, unsigned char c) {
    static const char plain[] = "\"\\/\b\f\n\r\t", named[] = "\"\\/bfnrt";
    const char *at = c ? strchr(plain, c) : NULL;
    char x[3] = {'\\', 0, 0};
    if (at) {
        x[1] = named[at - plain];
        add(b, x, 2);
    } else if (c < 0x20) {
        put_u(b, c, 0);
    } else {
        add(b, &c, 1);
    }
}

/* Writes byte c as a form does. */
static void put_form_byte(cab_buf *b, unsigned char c) {
    char x[4];
    if (c == ' ') {
        add(b, "+", 1);
    } else if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr("*-._", c))) {
        add(b, &c, 1);
    } else {
        snprintf(x, sizeof x, "%%%02X", c);
        add(b, x, 3);
    }
}

/* Writes byte c, a space as a control character picked at random. */
static void put_control_byte(cab_buf *b, unsigned char c) {
    static const struct {
        char b[4];
        size_t n;
    } controls[] = {{"\t", 1}, {"\n", 1}, {"\r", 1}, {"\0", 1}, {"\033", 1},
                    {"\177", 1}, {"\302\205", 2}, {"\302\233", 2}, {"\342\200\250", 3},
                    {"\342\200\251", 3}, {"\r\n", 2}, {"\r\r\n", 3}};
    size_t k = rnd() % (sizeof controls / sizeof *controls);
    if (c == ' ') add(b, controls[k].b, controls[k].n);
    else add(b, &c, 1);
}

/* Writes byte c in Latin-1 form f ('a', 'x' or 'q'). */
static void put_latin1_byte(cab_buf *b, unsigned char c, char f) {
    char x[8];
    unsigned char u[2] = {(unsigned char)(0xc0 | c >> 6), (unsigned char)(0x80 | (c & 0x3f))};
    if (c < 0x80 && f == 'x') {
        put_json(b, c);
    } else if (c < 0x80) {
        add(b, &c, 1);
    } else if (f == 'a') {
        add(b, u, 2);
    } else if (f == 'x') {
        snprintf(x, sizeof x, "\\u%04x", c);
        add(b, x, 6);
    } else {
        snprintf(x, sizeof x, "%%%02X%%%02X", u[0], u[1]);
        add(b, x, 6);
    }
}

/* Writes p[0..n) in form f (one of "rpljuUfcaxqm"). */
static void put_form(cab_buf *b, const unsigned char *p, size_t n, char f) {
    static const char forms[] = "rpljuUfcaxq";
    size_t i = 0, k;
    while (i < n) {
        char g = f == 'm' ? forms[rnd() % 11] : f;
        unsigned long cp;
        unsigned len = char_at(p + i, n - i, &cp);
        char x[4];
        if (g == 'u' || g == 'U') {
            if (len) put_u(b, cp, g == 'U');
            else add(b, p + i, 1);
            i += len ? len : 1;
            continue;
        }
        for (k = 0; k < (len ? len : 1); k++, i++) {
            if (g == 'p' || g == 'l') {
                snprintf(x, sizeof x, g == 'p' ? "%%%02X" : "%%%02x", p[i]);
                add(b, x, 3);
            } else if (g == 'j') {
                put_json(b, p[i]);
            } else if (g == 'f') {
                put_form_byte(b, p[i]);
            } else if (g == 'c') {
                put_control_byte(b, p[i]);
            } else if (g == 'a' || g == 'x' || g == 'q') {
                put_latin1_byte(b, p[i], g);
            } else {
                add(b, p + i, 1);
            }
        }
    }
}

static char random_form(void) { return "rpljuUfcaxqm"[rnd() % 12]; }

/* Parses a placeholder {N F [FROM][,COUNT]} at p; 0 if there is none. */
static size_t placeholder(const uint8_t *p, size_t n, cab_buf *b) {
    size_t i = 3, from = 0, count = (size_t)-1, v;
    int which, has_from = 0;
    char f;
    if (n < 4 || p[0] != '{' || p[1] < '0' || p[1] > '2' || (which = p[1] - '0') >= nsec ||
        !p[2] || !strchr("rpljuUfcaxqm?", p[2]))
        return 0;
    f = p[2] == '?' ? random_form() : (char)p[2];
    for (v = 0; i < n && i < 12 && p[i] >= '0' && p[i] <= '9'; i++, has_from = 1) v = v * 10 + (p[i] - '0');
    if (has_from) from = v;
    if (i < n && p[i] == ',') {
        for (v = 0, i++; i < n && i < 24 && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (p[i] - '0');
        count = v;
    }
    if (i >= n || p[i] != '}') return 0;
    if (from > sec[which].len) from = sec[which].len;
    if (count > sec[which].len - from) count = sec[which].len - from;
    put_form(b, sec[which].p + from, count, f);
    return i + 1;
}

/* The readable form: limit, secrets and the expanded text; 0 if the input
 * is not in it. */
static int parse_readable(const uint8_t *data, size_t size, size_t *limit, cab_buf *text) {
    size_t at = 0, i, end;
    *limit = 0;
    for (i = 0; at < size && data[at] >= '0' && data[at] <= '9'; at++, i++) *limit = *limit * 10 + (data[at] - '0');
    if (i == 0 || i > 9 || at >= size || data[at++] != '\n') return 0;
    for (nsec = 0; at < size && data[at] != '\n'; nsec++) {
        secret *s = &sec[nsec];
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        end = nl ? (size_t)(nl - data) : size;
        if (nsec == MAX_SECRETS || !nl) return 0;
        if (end - at > 4 && memcmp(data + at, "hex:", 4) == 0) {
            for (s->len = 0, i = at + 4; i + 1 < end && s->len < MAX_SECRET; i += 2) {
                long v = hex_at(data + i, 2);
                if (v < 0) return 0;
                s->p[s->len++] = (unsigned char)v;
            }
            if (!s->len) return 0;
        } else {
            s->len = end - at < MAX_SECRET ? end - at : MAX_SECRET;
            memcpy(s->p, data + at, s->len);
        }
        at = end + 1;
    }
    if (!nsec || at >= size) return 0;
    for (at++; at < size && text->len < MAX_TEXT;) {
        size_t used = placeholder(data + at, size - at, text);
        if (used) {
            at += used;
        } else {
            add(text, data + at, 1);
            at++;
        }
    }
    return 1;
}

/* The binary form: secrets cut from the first bytes, the rest the text,
 * the secrets inserted at random. */
static void parse_binary(const uint8_t *data, size_t size, size_t *limit, cab_buf *text) {
    size_t at = 0, k, reps;
    cab_buf piece = CAB_BUF_INIT;
    nsec = 1 + (size ? data[at++] : 0) % MAX_SECRETS;
    for (k = 0; k < (size_t)nsec; k++) {
        secret *s = &sec[k];
        size_t want = 1 + (at < size ? data[at++] : 8) % 48;
        s->len = size - at < want ? size - at : want;
        if (s->len) memcpy(s->p, data + at, s->len);
        at += s->len;
        if (!s->len) s->p[s->len++] = (unsigned char)rnd();
    }
    add(text, data + at, size - at < MAX_TEXT ? size - at : MAX_TEXT);
    for (k = 0; k < (size_t)nsec; k++)
        for (reps = 1 + rnd() % 3; reps > 0 && text->len < MAX_TEXT; reps--) {
            size_t from = 0, count = sec[k].len, pos = rnd() % (text->len + 1);
            if (rnd() & 1) {
                from = rnd() % sec[k].len;
                count = 1 + rnd() % (sec[k].len - from);
            }
            cab_buf_clear(&piece);
            put_form(&piece, sec[k].p + from, count, random_form());
            if (cab_buf_reserve(text, piece.len)) abort();
            memmove(text->data + pos + piece.len, text->data + pos, text->len - pos);
            memcpy(text->data + pos, piece.data, piece.len);
            text->len += piece.len;
            text->data[text->len] = '\0';
        }
    cab_buf_free(&piece);
    *limit = rnd() % 3 ? 1 + rnd() % (text->len + 24) : 0;
}

/* ---- the run ------------------------------------------------------------- */

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    (void)seed;
    size = find(data, size, EXPECT);
    size = LLVMFuzzerMutate(data, size, max_size);
    return find(data, size, EXPECT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cab_buf text = CAB_BUF_INIT, whole = CAB_BUF_INIT, out = CAB_BUF_INIT, ref = CAB_BUF_INIT;
    spans sp = {NULL, 0, 0}, scratch = {NULL, 0, 0};
    size_t body = find(data, size, EXPECT), limit, i, limits[3];
    cab_redactor *r = cab_redactor_new(), *none = cab_redactor_new();
    uint64_t h = 14695981039346656037u;
    int cut;

    if (!r || !none) abort();
    for (i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211u;
    rng = h;
    if (cab_buf_reserve(&text, 0)) abort();
    if (!parse_readable(data, body, &limit, &text)) {
        cab_buf_clear(&text);
        parse_binary(data, body, &limit, &text);
    }
    for (i = 0; i < (size_t)nsec; i++)
        if (cab_redactor_add(r, sec[i].p, sec[i].len)) abort();
    list_slices();

    /* The whole result is the reference's. */
    occurrences((const unsigned char *)text.data, text.len, &sp);
    if (cab_redact(r, text.data, text.len, 0, &whole, &cut) || cut) abort();
    render((const unsigned char *)text.data, text.len, &sp, 0, &ref, &cut);
    if (whole.len != ref.len || memcmp(whole.data, ref.data, ref.len) != 0) abort();
    if (!sp.n && (whole.len != text.len || memcmp(whole.data, text.data, text.len) != 0)) abort();

    limits[0] = 0;
    limits[1] = limit;
    limits[2] = 1 + rnd() % (whole.len + 2);
    for (i = 0; i < 3; i++) check_limit(r, &text, &sp, limits[i], &whole, &out, &ref, &scratch);

    /* No secret: the text as it is, cut. */
    sp.n = 0;
    nsec = 0;
    list_slices();
    check_limit(none, &text, &sp, limit, &text, &out, &ref, &scratch);
    if (cab_redact(NULL, text.data, text.len, limit, &ref, &cut) || ref.len != out.len ||
        memcmp(ref.data, out.data, out.len) != 0)
        abort();

    /* The seed's own expectation. */
    if (body < size) {
        const uint8_t *e = data + body + sizeof EXPECT - 1;
        size_t left = size - body - (sizeof EXPECT - 1), nl;
        int want_cut = left >= 4 && memcmp(e, "cut\n", 4) == 0;
        if (!want_cut && (left < 6 || memcmp(e, "whole\n", 6) != 0)) abort();
        nl = want_cut ? 4 : 6;
        e += nl;
        left -= nl;
        if (left && e[left - 1] == '\n') left--;
        if (cab_redact(r, text.data, text.len, limit, &out, &cut)) abort();
        if (cut != want_cut || out.len != left || memcmp(out.data, e, left) != 0) abort();
    }

    cab_redactor_free(r);
    cab_redactor_free(none);
    cab_buf_free(&text);
    cab_buf_free(&whole);
    cab_buf_free(&out);
    cab_buf_free(&ref);
    free(sp.v);
    free(scratch.v);
    return 0;
}
