#include "sign.h"
#include "ascii.h"
#include "requirements.h"
#include "word.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/* ---- character classes ------------------------------------------------ */

/* Byte classes, looked up rather than computed: the signer runs on every
 * request.  CC_UNRESERVED: stays bare when percent-encoding.  CC_TCHAR: may
 * appear in a method or header name (RFC 9110 token).  CC_SPACE: trimmed
 * from header values.  CC_PATH: unreserved, or '/'.  CC_SIGNABLE: a token
 * byte other than '_' (names holding '_' go unsigned). */
enum { CC_UNRESERVED = 1, CC_TCHAR = 2, CC_SPACE = 4, CC_PATH = 8, CC_SIGNABLE = 16 };

#define U (CC_UNRESERVED | CC_TCHAR | CC_PATH | CC_SIGNABLE)
#define T (CC_TCHAR | CC_SIGNABLE)
static const unsigned char CCLASS[256] = {
    ['\t'] = CC_SPACE, ['\n'] = CC_SPACE, ['\v'] = CC_SPACE, ['\f'] = CC_SPACE, ['\r'] = CC_SPACE,
    [' '] = CC_SPACE, ['/'] = CC_PATH,
    ['!'] = T, ['#'] = T, ['$'] = T, ['%'] = T, ['&'] = T, ['\''] = T, ['*'] = T, ['+'] = T,
    ['-'] = U, ['.'] = U, ['^'] = T, ['_'] = CC_UNRESERVED | CC_TCHAR | CC_PATH, ['`'] = T,
    ['|'] = T, ['~'] = U,
    ['0'] = U, ['1'] = U, ['2'] = U, ['3'] = U, ['4'] = U, ['5'] = U, ['6'] = U, ['7'] = U,
    ['8'] = U, ['9'] = U,
    ['A'] = U, ['B'] = U, ['C'] = U, ['D'] = U, ['E'] = U, ['F'] = U, ['G'] = U, ['H'] = U,
    ['I'] = U, ['J'] = U, ['K'] = U, ['L'] = U, ['M'] = U, ['N'] = U, ['O'] = U, ['P'] = U,
    ['Q'] = U, ['R'] = U, ['S'] = U, ['T'] = U, ['U'] = U, ['V'] = U, ['W'] = U, ['X'] = U,
    ['Y'] = U, ['Z'] = U,
    ['a'] = U, ['b'] = U, ['c'] = U, ['d'] = U, ['e'] = U, ['f'] = U, ['g'] = U, ['h'] = U,
    ['i'] = U, ['j'] = U, ['k'] = U, ['l'] = U, ['m'] = U, ['n'] = U, ['o'] = U, ['p'] = U,
    ['q'] = U, ['r'] = U, ['s'] = U, ['t'] = U, ['u'] = U, ['v'] = U, ['w'] = U, ['x'] = U,
    ['y'] = U, ['z'] = U,
};
#undef U
#undef T

#define HAS(c, cls) (CCLASS[(unsigned char)(c)] & (cls))

/* The classes every byte of s[0..n) has.  Branch-free, with four
 * accumulators so the lookups do not wait on one another: this runs over
 * every header name and path of every request. */
static unsigned char all_classes(const char *s, size_t n) {
    unsigned char a0 = 0xff, a1 = 0xff, a2 = 0xff, a3 = 0xff;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 &= CCLASS[u[i]];
        a1 &= CCLASS[u[i + 1]];
        a2 &= CCLASS[u[i + 2]];
        a3 &= CCLASS[u[i + 3]];
    }
    for (; i < n; i++) a0 &= CCLASS[u[i]];
    return (unsigned char)(a0 & a1 & a2 & a3);
}

static int all_in(const char *s, size_t n, unsigned char cls) {
    return (all_classes(s, n) & cls) == cls;
}

/* Whether the UTF-8 at s[0..n) starts (at_end = 0) or ends (at_end = 1)
 * with white space beyond ASCII that some signer trims from a header
 * value: Unicode's White_Space U+0085, U+00A0, U+1680, U+2000-U+200A,
 * U+2028, U+2029, U+202F, U+205F and U+3000, which Go's strings.TrimSpace
 * and Python's str.strip trim, and U+FEFF, no White_Space, which
 * JavaScript's trim takes with the others but U+0085.  The Java and Node
 * SDKs sign a value as given: no one signature matches every signer. */
static int unicode_space_at(const char *s, size_t n, int at_end) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    for (k = 2; k <= 3 && k <= n; k++) {
        const unsigned char *c = at_end ? u + n - k : u;
        if (k == 2 && c[0] == 0xC2 && (c[1] == 0x85 || c[1] == 0xA0)) return 1;
        if (k == 3) {
            unsigned cp;
            if ((c[0] & 0xF0) != 0xE0 || (c[1] & 0xC0) != 0x80 || (c[2] & 0xC0) != 0x80) continue;
            cp = (unsigned)(c[0] & 0x0F) << 12 | (unsigned)(c[1] & 0x3F) << 6 | (c[2] & 0x3F);
            if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
                cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
                return 1;
        }
    }
    return 0;
}

/* Whether c is a control character other than a tab: no field value
 * holds one (RFC 9110 5.5), and the SDKs trim them differently (Python
 * strips 0x1C-0x1F, Go keeps them). */
#define FIELD_CONTROL(c) (((unsigned char)(c) < ' ' && (c) != '\t') || (unsigned char)(c) == 0x7f)

/* Whether s[0..n) holds such a control, eight bytes at a time (word.h): a
 * word that may hold one (it has a byte below a space) is read byte by byte. */
static int has_field_control(const char *s, size_t n) {
    size_t i = 0, j;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = cab_word(s + i);
        if (!(cab_word_below(w, ' ') | cab_word_has(w, 0x7f))) continue;
        for (j = i; j < i + 8; j++)
            if (FIELD_CONTROL(s[j])) return 1;
    }
    for (; i < n; i++)
        if (FIELD_CONTROL(s[i])) return 1;
    return 0;
}

static int is_token(const char *s, size_t n) { return n > 0 && all_in(s, n, CC_TCHAR); }

/* Whether s holds no control character (DEL included), which would end
 * or split a request line as a client writes it.  (A space is taken, and
 * percent-encoded, as the SDKs take one.) */
static int no_controls(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] == 0x7f) return 0;
    return 1;
}

static const char HEX_UPPER[] = "0123456789ABCDEF";
/* Lower-case hex of 32 digest bytes, two characters at a time. */
static void hex32(const unsigned char in[32], char out[65]) {
    static const char pairs[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    int i;
    for (i = 0; i < 32; i++) memcpy(out + 2 * i, pairs + 2 * in[i], 2);
    out[64] = '\0';
}

/* ---- percent coding ----------------------------------------------------- */

/* Appends s percent-encoded: only A-Z a-z 0-9 - _ . ~ stay as they are.
 * With keep_slash, '/' also stays (for the path, whose segments are
 * encoded one by one). */
static int add_encoded(cab_buf *b, const char *s, size_t n, int keep_slash) {
    size_t i;
    if (cab_buf_reserve(b, 3 * n)) return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (HAS(c, CC_UNRESERVED) || (keep_slash && c == '/')) {
            b->data[b->len++] = (char)c;
        } else {
            b->data[b->len++] = '%';
            b->data[b->len++] = HEX_UPPER[c >> 4];
            b->data[b->len++] = HEX_UPPER[c & 15];
        }
    }
    b->data[b->len] = '\0';
    return 0;
}

/* Decodes %XX escapes of s[0..n) in place into out (which may be s itself)
 * and returns the decoded length (a '%' not followed by two hex digits was
 * refused: bad_escape).  With plus_is_space, '+' means ' ' (form encoding, as the
 * Go and Python query parsers read it). */
static size_t percent_decode(const char *s, size_t n, char *out, int plus_is_space) {
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = cab_hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = cab_hex_value((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            out[o++] = (plus_is_space && c == '+') ? ' ' : (char)c;
            i++;
        }
    }
    return o;
}

/* Whether s[0..n) holds a '%' not followed by two hex digits: the SDKs
 * sign one apart (Python keeps it, Go refuses the URL) and a server such
 * as nginx refuses it. */
static int bad_escape(const char *s, size_t n) {
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
        if (end - p < 3 || cab_hex_value((unsigned char)p[1]) < 0 || cab_hex_value((unsigned char)p[2]) < 0)
            return 1;
        p += 3;
    }
    return 0;
}

/* ---- canonical request -------------------------------------------------- */

/* plain: path holds only unreserved bytes and slashes (CC_PATH). */
static int add_canonical_uri(cab_buf *b, const char *path, size_t n, int plain) {
    char stack[512];
    char *tmp;
    size_t dn;
    int rc;
    if (plain) {
        /* As every path this client builds: nothing to decode or encode. */
        if (cab_buf_add(b, path, n)) return -1;
        return path[n - 1] == '/' ? 0 : cab_buf_addc(b, '/');
    }
    /* Decoded, the path is never longer than it was. */
    if (!(tmp = n <= sizeof stack ? stack : malloc(n))) return -1;
    dn = percent_decode(path, n, tmp, 0);
    rc = (dn == 0 || tmp[0] != '/') ? cab_buf_addc(b, '/') : 0;
    if (!rc) rc = add_encoded(b, tmp, dn, 1);
    if (!rc && b->data[b->len - 1] != '/') rc = cab_buf_addc(b, '/');
    if (tmp != stack) free(tmp);
    return rc;
}

typedef struct {
    const char *k, *v;
    size_t kl, vl;
} qpair;

/* Keys sorted by byte order, then a repeated key's values; both compared
 * decoded, as the SDKs sort them before encoding. */
static int cmp_qpair(const void *pa, const void *pb) {
    const qpair *a = pa, *b = pb;
    int c = cab_bytes_cmp(a->k, a->kl, b->k, b->kl);
    return c ? c : cab_bytes_cmp(a->v, a->vl, b->v, b->vl);
}

static int add_canonical_query(cab_buf *b, const char *q, size_t n, cab_buf *scratch) {
    size_t count = 1, i, np = 0, start;
    qpair *pairs;
    char *text;
    for (i = 0; i < n; i++) count += q[i] == '&';
    /* One block: the pair array, then the decoded text (never longer than
     * the raw query). */
    cab_buf_clear(scratch);
    if (count > ((size_t)-1 - n) / sizeof(qpair)) return -1;
    if (cab_buf_reserve(scratch, count * sizeof(qpair) + n)) return -1;
    pairs = (qpair *)(void *)scratch->data;
    text = scratch->data + count * sizeof(qpair);
    for (start = 0; start <= n; start = i + 1) {
        size_t end = start, eq;
        while (end < n && q[end] != '&') end++;
        i = end;
        if (end == start) continue; /* "a&&b": empty pieces carry nothing */
        for (eq = start; eq < end && q[eq] != '='; eq++) {}
        pairs[np].k = text;
        pairs[np].kl = percent_decode(q + start, eq - start, text, 1);
        text += pairs[np].kl;
        pairs[np].v = text;
        pairs[np].vl = eq < end ? percent_decode(q + eq + 1, end - eq - 1, text, 1) : 0;
        text += pairs[np].vl;
        np++;
    }
    qsort(pairs, np, sizeof *pairs, cmp_qpair);
    for (i = 0; i < np; i++) {
        if ((i && cab_buf_addc(b, '&')) || add_encoded(b, pairs[i].k, pairs[i].kl, 0) ||
            cab_buf_addc(b, '=') || add_encoded(b, pairs[i].v, pairs[i].vl, 0))
            return -1;
    }
    return 0;
}

static int name_icmp(const cab_header *a, const cab_header *b) {
    size_t i, n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (i = 0; i < n; i++) {
        unsigned char x = cab_lower((unsigned char)a->name[i]), y = cab_lower((unsigned char)b->name[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* Whether h's name is lower_name (of length n), ignoring case. */
static int name_is(const cab_header *h, const char *lower_name, size_t n) {
    size_t i;
    if (h->name_len != n) return 0;
    for (i = 0; i < n; i++)
        if (cab_lower((unsigned char)h->name[i]) != (unsigned char)lower_name[i]) return 0;
    return 1;
}

/* s[0..n) without the ASCII white space at its ends, into v[0..*n). */
static void trim(const char *s, size_t len, const char **v, size_t *n) {
    while (len && HAS(*s, CC_SPACE)) s++, len--;
    while (len && HAS(s[len - 1], CC_SPACE)) len--;
    *v = s;
    *n = len;
}

static void trimmed(const cab_header *h, const char **v, size_t *n) { trim(h->value, h->value_len, v, n); }

/* (of a value already trimmed) */
static int unicode_space_edge(const char *v, size_t n) {
    return unicode_space_at(v, n, 0) || unicode_space_at(v, n, 1);
}

int cab_unicode_space_edge(const char *s, size_t len) {
    const char *v;
    size_t n;
    trim(s, len, &v, &n);
    return unicode_space_edge(v, n);
}

/* The number the n decimal digits at d write. */
static int digits(const char *d, int n) {
    int v = 0;
    while (n-- > 0) v = v * 10 + (*d++ - '0');
    return v;
}

/* Whether d[0..n) is a time X-Sdk-Date can name: YYYYMMDDTHHMMSSZ, with a
 * month, a day of that month, an hour, a minute and a second that exist
 * (the gateway refuses "20240231T250000Z" only after it is sent). */
static int valid_date(const char *d, size_t n) {
    static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i;
    int year, month, day;
    if (n != 16 || d[8] != 'T' || d[15] != 'Z') return 0;
    for (i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9')) return 0;
    year = digits(d, 4);
    month = digits(d + 4, 2);
    day = digits(d + 6, 2);
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1]) return 0;
    if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) return 0;
    return digits(d + 9, 2) < 24 && digits(d + 11, 2) < 60 && digits(d + 13, 2) < 60;
}

int cab_unsigned_payload(const cab_request *req) {
    size_t i;
    for (i = 0; i < req->n_headers; i++) {
        const cab_header *h = &req->headers[i];
        if (name_is(h, "x-sdk-content-sha256", 20)) {
            const char *v;
            size_t n;
            trimmed(h, &v, &n);
            return n == sizeof CAB_UNSIGNED_PAYLOAD - 1 && !memcmp(v, CAB_UNSIGNED_PAYLOAD, n);
        }
    }
    return 0;
}

cab_sign_status cab_canonicalize(const cab_request *req, const char *payload_hash, cab_canon *c) {
    const cab_header *sorted[CAB_MAX_HEADERS], *unsigned_ones[CAB_MAX_HEADERS];
    size_t i, j, ns = 0, nu = 0, total;
    cab_buf *b = &c->canonical;
    char *p, *q;
    int plain_path;

    cab_buf_clear(b);
    cab_buf_clear(&c->signed_headers);
    c->date = NULL;
    c->date_len = 0;
    if (!is_token(req->method, req->method_len)) return CAB_SIGN_BAD_METHOD;
    /* What a server would read apart from what was signed: a query in the
     * path, a '?' doubled, a fragment, which never goes on the wire, a
     * control character, or a bad escape; a plain path holds none of them. */
    plain_path = all_in(req->path, req->path_len, CC_PATH);
    if (req->path_len == 0 || req->path[0] != '/' ||
        (!plain_path && (memchr(req->path, '?', req->path_len) || memchr(req->path, '#', req->path_len) ||
                         !no_controls(req->path, req->path_len) || bad_escape(req->path, req->path_len))))
        return CAB_SIGN_BAD_PATH;
    if (req->query_len > 0 && (req->query[0] == '?' || memchr(req->query, '#', req->query_len) ||
                               !no_controls(req->query, req->query_len) || bad_escape(req->query, req->query_len)))
        return CAB_SIGN_BAD_QUERY;
    if (req->n_headers > CAB_MAX_HEADERS) return CAB_SIGN_TOO_MANY_HEADERS;

    /* Validate every header, signed or not: all of them go on the wire.
     * Then sort the signed ones by name (insertion sort: a handful). */
    for (i = 0; i < req->n_headers; i++) {
        const cab_header *h = &req->headers[i];
        const char *v;
        size_t n;
        c->bad_header = i;
        unsigned char all = all_classes(h->name, h->name_len);
        if (h->name_len == 0 || !(all & CC_TCHAR)) return CAB_SIGN_BAD_HEADER_NAME;
        /* (a signature over the header that will carry it verifies nowhere) */
        if (name_is(h, "authorization", 13)) return CAB_SIGN_AUTHORIZATION;
        if (has_field_control(h->value, h->value_len)) return CAB_SIGN_BAD_HEADER_VALUE;
        /* (what is left once the ASCII white space is trimmed: the SDKs
         * that trim take both) */
        trimmed(h, &v, &n);
        if (unicode_space_edge(v, n)) return CAB_SIGN_BAD_HEADER_VALUE;
        /* Here, with the header's other checks: once every header had
         * passed, a bad header sorting after X-Sdk-Date was named first. */
        if (name_is(h, "x-sdk-date", 10) && !valid_date(v, n)) return CAB_SIGN_BAD_DATE;
        /* Every SDK signs an X-Sdk-Content-Sha256 header's value as the
         * payload line, whatever it holds: the line signed here is that
         * value only when it is UNSIGNED-PAYLOAD or the body's hash, in
         * lower case. */
        if (name_is(h, "x-sdk-content-sha256", 20) &&
            (n != strlen(payload_hash) || memcmp(v, payload_hash, n) != 0))
            return CAB_SIGN_BAD_CONTENT_SHA256;
        if (!(all & CC_SIGNABLE)) {
            /* Unsigned, but sent all the same: twice is refused too. */
            for (j = 0; j < nu; j++)
                if (name_icmp(unsigned_ones[j], h) == 0) return CAB_SIGN_DUP_HEADER;
            unsigned_ones[nu++] = h;
            continue;
        }
        for (j = ns; j > 0 && name_icmp(sorted[j - 1], h) > 0; j--) sorted[j] = sorted[j - 1];
        if (j > 0 && name_icmp(sorted[j - 1], h) == 0) return CAB_SIGN_DUP_HEADER;
        sorted[j] = h;
        ns++;
    }

    if (cab_buf_add(b, req->method, req->method_len) || cab_buf_addc(b, '\n') ||
        add_canonical_uri(b, req->path, req->path_len, plain_path) || cab_buf_addc(b, '\n') ||
        add_canonical_query(b, req->query, req->query_len, &c->scratch) || cab_buf_addc(b, '\n'))
        return CAB_SIGN_NOMEM;

    /* Reserve for every signed header at once, then write through local
     * pointers: "name:value\n" into the canonical request and "name;" into
     * the signed-header list. */
    for (i = 0, total = 0; i < ns; i++) total += sorted[i]->name_len + sorted[i]->value_len + 2;
    if (cab_buf_reserve(b, total) || cab_buf_reserve(&c->signed_headers, total)) return CAB_SIGN_NOMEM;
    p = b->data + b->len;
    q = c->signed_headers.data;
    for (i = 0; i < ns; i++) {
        const cab_header *h = sorted[i];
        const char *v;
        size_t n;
        trimmed(h, &v, &n);
        if (name_is(h, "x-sdk-date", 10)) {
            c->date = v;
            c->date_len = n;
            c->date_line = (size_t)(p - b->data);
        }
        for (j = 0; j < h->name_len; j++) p[j] = (char)cab_lower((unsigned char)h->name[j]);
        memcpy(q, p, h->name_len);
        p += h->name_len;
        q += h->name_len;
        *q++ = ';';
        *p++ = ':';
        memcpy(p, v, n);
        p += n;
        *p++ = '\n';
    }
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
    c->signed_headers.len = ns ? (size_t)(q - c->signed_headers.data) - 1 : 0;
    c->signed_headers.data[c->signed_headers.len] = '\0';
    if (!c->date) return CAB_SIGN_NO_DATE;

    if (cab_buf_addc(b, '\n') || cab_buf_add(b, c->signed_headers.data, c->signed_headers.len) ||
        cab_buf_addc(b, '\n') || cab_buf_add(b, payload_hash, strlen(payload_hash)))
        return CAB_SIGN_NOMEM;
    return CAB_SIGN_OK;
}

void cab_canon_free(cab_canon *c) {
    cab_buf_free(&c->canonical);
    cab_buf_free(&c->signed_headers);
    cab_buf_free(&c->scratch);
}

/* ---- signer ------------------------------------------------------------- */

struct cab_sign_algorithms {
    EVP_MD *sha256;
    EVP_MAC *hmac;
};

cab_sign_status cab_sign_algorithms_new(cab_sign_algorithms **out) {
    cab_sign_algorithms *a;
    *out = NULL;
    if (!(a = calloc(1, sizeof *a))) return CAB_SIGN_NOMEM;
    a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    a->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!a->sha256 || !a->hmac) {
        cab_sign_algorithms_free(a);
        return CAB_SIGN_CRYPTO;
    }
    *out = a;
    return CAB_SIGN_OK;
}

void cab_sign_algorithms_free(cab_sign_algorithms *a) {
    if (!a) return;
    EVP_MD_free(a->sha256);
    EVP_MAC_free(a->hmac);
    free(a);
}

struct cab_signer {
    EVP_MD *sha256; /* the signer's own references to the algorithms */
    EVP_MAC *mac;
    EVP_MD_CTX *md;
    EVP_MAC_CTX *hmac; /* keyed once with the SK; re-initialised per call */
    /* A keyless signer (cab_signer_new_keyless) has no hmac: keying an
     * EVP_MAC context allocates a dozen blocks and costs as much as the
     * signature, so it holds each request's key, for that signature only,
     * as HMAC pads it (RFC 2104's K0) and computes HMAC on md. */
    unsigned char key[64];
    /* Consecutive canonical requests mostly agree up to the x-sdk-date line
     * (method, path, query and the headers that sort before it): a client's
     * always do.  So the SHA-256 state after that prefix is kept (it holds
     * nothing of the key) and each call hashes only the rest. */
    EVP_MD_CTX *prefix_md;
    cab_buf prefix;
    int prefix_ok;
    cab_canon canon;
    cab_buf sts;
};

/* SHA-256 of a then b into out, on the signer's digest context. */
static cab_sign_status digest2(cab_signer *s, const void *a, size_t an, const void *b, size_t bn,
                               unsigned char out[32]) {
    unsigned int dl = 0;
    return EVP_DigestInit_ex2(s->md, s->sha256, NULL) && EVP_DigestUpdate(s->md, a, an) &&
                   EVP_DigestUpdate(s->md, b, bn) && EVP_DigestFinal_ex(s->md, out, &dl) && dl == 32
               ? CAB_SIGN_OK
               : CAB_SIGN_CRYPTO;
}

cab_sign_status cab_signer_new(cab_signer **out, const cab_sign_algorithms *a, const char *sk,
                               size_t sk_len) {
    cab_signer *s;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    *out = NULL;
    if (!(s = calloc(1, sizeof *s))) return CAB_SIGN_NOMEM;
    if (!EVP_MD_up_ref(a->sha256)) {
        free(s);
        return CAB_SIGN_CRYPTO;
    }
    s->sha256 = a->sha256;
    if (!EVP_MAC_up_ref(a->hmac)) {
        cab_signer_free(s);
        return CAB_SIGN_CRYPTO;
    }
    s->mac = a->hmac;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    s->md = EVP_MD_CTX_new();
    s->prefix_md = EVP_MD_CTX_new();
    s->hmac = EVP_MAC_CTX_new(s->mac);
    if (!s->md || !s->prefix_md || !s->hmac ||
        !EVP_MAC_init(s->hmac, (const unsigned char *)sk, sk_len, params)) {
        cab_signer_free(s);
        return CAB_SIGN_CRYPTO;
    }
    *out = s;
    return CAB_SIGN_OK;
}

cab_sign_status cab_signer_new_keyless(cab_signer **out, const cab_sign_algorithms *a) {
    cab_signer *s;
    *out = NULL;
    if (!(s = calloc(1, sizeof *s))) return CAB_SIGN_NOMEM;
    if (!EVP_MD_up_ref(a->sha256)) {
        free(s);
        return CAB_SIGN_CRYPTO;
    }
    s->sha256 = a->sha256;
    if (!(s->md = EVP_MD_CTX_new()) || !(s->prefix_md = EVP_MD_CTX_new())) {
        cab_signer_free(s);
        return CAB_SIGN_CRYPTO;
    }
    *out = s;
    return CAB_SIGN_OK;
}

void cab_signer_free(cab_signer *s) {
    if (!s) return;
    OPENSSL_cleanse(s->key, sizeof s->key);
    EVP_MAC_CTX_free(s->hmac); /* OpenSSL clears the key it holds */
    EVP_MD_CTX_free(s->md);
    EVP_MD_CTX_free(s->prefix_md);
    cab_buf_free(&s->prefix);
    cab_canon_free(&s->canon);
    cab_buf_free(&s->sts);
    EVP_MD_free(s->sha256);
    EVP_MAC_free(s->mac);
    free(s);
}

cab_sign_status cab_signer_sha256_hex(cab_signer *s, const void *data, size_t len, char out[65]) {
    unsigned char d[32];
    cab_sign_status st = digest2(s, NULL, 0, data, len, d);
    if (st == CAB_SIGN_OK) hex32(d, out);
    return st;
}

/* HMAC-SHA256 of data (RFC 2104): with the keyed context of a client's
 * signer, or from K0 on the digest context of a one-call signer. */
static cab_sign_status hmac(cab_signer *s, const void *data, size_t len, unsigned char out[32]) {
    unsigned char pad[64], inner[32];
    size_t i, maclen = 0;
    cab_sign_status st;
    if (s->hmac)
        return EVP_MAC_init(s->hmac, NULL, 0, NULL) && EVP_MAC_update(s->hmac, data, len) &&
                       EVP_MAC_final(s->hmac, out, &maclen, 32) && maclen == 32
                   ? CAB_SIGN_OK
                   : CAB_SIGN_CRYPTO;
    for (i = 0; i < sizeof pad; i++) pad[i] = s->key[i] ^ 0x36;
    st = digest2(s, pad, sizeof pad, data, len, inner);
    for (i = 0; i < sizeof pad; i++) pad[i] = s->key[i] ^ 0x5c;
    if (st == CAB_SIGN_OK) st = digest2(s, pad, sizeof pad, inner, sizeof inner, out);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return st;
}

/* hex(sha256(canonical request)), resuming from the kept prefix state when
 * the prefix is the one hashed last time. */
static cab_sign_status hash_canonical(cab_signer *s, char out[65]) {
    const cab_buf *cr = &s->canon.canonical;
    size_t plen = s->canon.date_line;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (!s->prefix_ok || plen != s->prefix.len || memcmp(cr->data, s->prefix.data, plen) != 0) {
        s->prefix_ok = 0;
        cab_buf_clear(&s->prefix);
        if (cab_buf_add(&s->prefix, cr->data, plen)) return CAB_SIGN_NOMEM;
        if (!EVP_DigestInit_ex2(s->prefix_md, s->sha256, NULL) ||
            !EVP_DigestUpdate(s->prefix_md, cr->data, plen))
            return CAB_SIGN_CRYPTO;
        s->prefix_ok = 1;
    }
    if (!EVP_MD_CTX_copy_ex(s->md, s->prefix_md) ||
        !EVP_DigestUpdate(s->md, cr->data + plen, cr->len - plen) ||
        !EVP_DigestFinal_ex(s->md, d, &dl) || dl != 32)
        return CAB_SIGN_CRYPTO;
    hex32(d, out);
    return CAB_SIGN_OK;
}

static int valid_ak(const char *ak, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ak[i];
        if (c <= ' ' || c >= 0x7f || c == ',') return 0;
    }
    return 1;
}

cab_sign_status cab_sign(cab_signer *s, const cab_request *req, const char *ak, size_t ak_len,
                         cab_buf *auth) {
    char payload[65], crhash[65], sig[65];
    unsigned char mac[32];
    cab_sign_status st;

    if (!valid_ak(ak, ak_len)) return CAB_SIGN_BAD_KEY;
    if (cab_unsigned_payload(req))
        memcpy(payload, CAB_UNSIGNED_PAYLOAD, sizeof CAB_UNSIGNED_PAYLOAD);
    else if ((st = cab_signer_sha256_hex(s, req->body, req->body_len, payload)))
        return st;
    if ((st = cab_canonicalize(req, payload, &s->canon))) return st;
    if ((st = hash_canonical(s, crhash))) return st;

    cab_buf_clear(&s->sts);
    if (cab_buf_adds(&s->sts, CAB_SIGN_ALGORITHM "\n") ||
        cab_buf_add(&s->sts, s->canon.date, s->canon.date_len) || cab_buf_addc(&s->sts, '\n') ||
        cab_buf_add(&s->sts, crhash, 64))
        return CAB_SIGN_NOMEM;

    if ((st = hmac(s, s->sts.data, s->sts.len, mac))) return st;
    hex32(mac, sig);

    cab_buf_clear(auth);
    if (cab_buf_adds(auth, CAB_SIGN_ALGORITHM " Access=") || cab_buf_add(auth, ak, ak_len) ||
        cab_buf_adds(auth, ", SignedHeaders=") ||
        cab_buf_add(auth, s->canon.signed_headers.data, s->canon.signed_headers.len) ||
        cab_buf_adds(auth, ", Signature=") || cab_buf_add(auth, sig, 64))
        return CAB_SIGN_NOMEM;
    return CAB_SIGN_OK;
}

cab_sign_status cab_sign_with_key(cab_signer *s, const cab_request *req, const char *sk, size_t sk_len,
                                  const char *ak, size_t ak_len, cab_buf *auth) {
    cab_sign_status st = CAB_SIGN_OK;
    int hashed = sk_len > sizeof s->key;
    memset(s->key, 0, sizeof s->key);
    if (!hashed) memcpy(s->key, sk, sk_len);
    else st = digest2(s, sk, sk_len, NULL, 0, s->key); /* a longer key is hashed first */
    if (st == CAB_SIGN_OK) st = cab_sign(s, req, ak, ak_len, auth);
    OPENSSL_cleanse(s->key, sizeof s->key);
    /* That hash, as good as the key, stays in md's state until md hashes
     * again, which a refused request never gets to: resetting md wipes it
     * (OpenSSL clears a digest's state as it frees it). */
    if (hashed && !EVP_MD_CTX_reset(s->md) && st == CAB_SIGN_OK) st = CAB_SIGN_CRYPTO;
    return st;
}

const cab_canon *cab_signer_canon(const cab_signer *s) { return &s->canon; }
const cab_buf *cab_signer_string_to_sign(const cab_signer *s) { return &s->sts; }

const char *cab_sign_strerror(cab_sign_status st) {
    switch (st) {
    case CAB_SIGN_OK: return "ok";
    case CAB_SIGN_NOMEM: return "out of memory";
    case CAB_SIGN_BAD_METHOD: return "method is not an HTTP token";
    case CAB_SIGN_BAD_PATH:
        return "path does not start with '/', or holds '?', '#', a control character or a '%' not followed by two "
               "hex digits (give the query apart)";
    case CAB_SIGN_BAD_QUERY:
        return "query starts with '?', or holds '#', a control character or a '%' not followed by two hex digits "
               "(give what follows the '?')";
    case CAB_SIGN_BAD_HEADER_NAME: return "header name is not an HTTP token";
    case CAB_SIGN_AUTHORIZATION: return "it is what signing makes: leave it out";
    case CAB_SIGN_BAD_HEADER_VALUE:
        return "header value holds a control character other than a tab, or white space beyond ASCII at an end";
    case CAB_SIGN_DUP_HEADER: return "header given twice (names ignore case)";
    case CAB_SIGN_TOO_MANY_HEADERS: return "too many headers";
    case CAB_SIGN_NO_DATE: return "X-Sdk-Date header missing";
    case CAB_SIGN_BAD_DATE: return "X-Sdk-Date is not YYYYMMDDTHHMMSSZ, a time that exists";
    case CAB_SIGN_BAD_KEY: return "access key is empty or holds a space, comma, control or non-ASCII character";
    case CAB_SIGN_BAD_CONTENT_SHA256:
        return "X-Sdk-Content-Sha256 is neither UNSIGNED-PAYLOAD nor the body's SHA-256 in lower-case hex";
    case CAB_SIGN_CRYPTO: return "libcrypto failed";
    }
    return "unknown signing error";
}
