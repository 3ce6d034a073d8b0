/* libFuzzer harness: arbitrary requests through the canonical-request
 * builder and the signer.
 *
 * The input is framed like an HTTP/1.1 head, so seeds stay readable:
 *
 *     METHOD \n PATH \n QUERY \n (NAME:VALUE \n)* \n BODY
 *
 * A header line without ':' is a name with an empty value; the first empty
 * line ends the headers (at most CAB_MAX_HEADERS + 2 of them, so "too
 * many" is reachable) and the rest, newlines included, is the body.  A
 * missing piece is empty.  Each piece is copied into a heap block of its
 * exact size, so reading one byte past any of them is an ASan report.
 *
 * Checked, besides no crash, no out-of-bounds access and no leak:
 * cab_canonicalize and cab_sign agree on the status and the canonical
 * request; an accepted canonical request is one NUL-free string whose
 * signed-header list is lower case and names X-Sdk-Date, whose date lies
 * inside the request; the Authorization value has the documented form; the
 * string to sign ends with the SHA-256 of the canonical request (which
 * checks the signer's kept prefix state); signing twice gives the same
 * answer.  The signer and the canonical buffers live across inputs, as
 * they do in a client.
 *
 * The path is then repeated past LONG_PATH bytes and the request signed
 * again, with the same status expected: the signer decodes paths up to 512
 * bytes on the stack and longer ones on the heap, and random mutation
 * alone rarely grows a path line that long (a leak on the heap branch went
 * unnoticed by 60 s runs before this was added). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AK "AccessKeyFuzz"
#define SK "SecretKeyFuzz"
#define MAX_LINES (CAB_MAX_HEADERS + 2)
#define LONG_PATH 600

static cab_signer *signer;
static cab_canon canon;
static cab_buf auth, auth2;

/* An exact-size heap copy of p[0..n): with n = 0, a block of no bytes
 * (ASan's malloc(0) gives one), so even reading its first byte is caught. */
static char *piece(const uint8_t *p, size_t n) {
    char *s = malloc(n);
    if (!s && !(s = malloc(1))) abort();
    if (n) memcpy(s, p, n);
    return s;
}

/* The next line of data[*at..size): its start and length; *at moves past
 * the '\n'.  At the end of the input, an empty line. */
static const uint8_t *next_line(const uint8_t *data, size_t size, size_t *at, size_t *len) {
    const uint8_t *start = data + *at, *nl;
    size_t left = size - *at;
    nl = left ? memchr(start, '\n', left) : NULL;
    *len = nl ? (size_t)(nl - start) : left;
    *at += *len + (nl != NULL);
    return start;
}

static int is_lower_list(const cab_buf *b) {
    size_t i;
    for (i = 0; i < b->len; i++)
        if (b->data[i] >= 'A' && b->data[i] <= 'Z') return 0;
    return 1;
}

/* Whether p lies inside one of the request's header values. */
static int inside_a_value(const cab_request *req, const char *p, size_t n) {
    size_t i;
    for (i = 0; i < req->n_headers; i++) {
        const cab_header *h = &req->headers[i];
        if (p >= h->value && p + n <= h->value + h->value_len) return 1;
    }
    return 0;
}

static void check_accepted(const cab_request *req, const cab_canon *c, const char *payload) {
    const char *sh = c->signed_headers.data;
    size_t shl = c->signed_headers.len, pl = strlen(payload);
    if (c->canonical.len != strlen(c->canonical.data)) abort();
    if (c->canonical.len < req->method_len + 1 ||
        memcmp(c->canonical.data, req->method, req->method_len) != 0 ||
        c->canonical.data[req->method_len] != '\n')
        abort();
    if (c->canonical.len < pl || memcmp(c->canonical.data + c->canonical.len - pl, payload, pl))
        abort();
    if (shl != strlen(sh) || !is_lower_list(&c->signed_headers)) abort();
    if (!strstr(sh, "x-sdk-date")) abort();
    if (!c->date || c->date_len != 16 || !inside_a_value(req, c->date, c->date_len)) abort();
    if (c->date_line >= c->canonical.len ||
        memcmp(c->canonical.data + c->date_line, "x-sdk-date:", 11) != 0)
        abort();
}

static void check_signed(const cab_request *req) {
    const cab_canon *sc = cab_signer_canon(signer);
    const cab_buf *sts = cab_signer_string_to_sign(signer);
    const char *sig;
    char hash[65];
    size_t i, prefix;

    /* The signer built the same canonical request as cab_canonicalize. */
    if (sc->canonical.len != canon.canonical.len ||
        memcmp(sc->canonical.data, canon.canonical.data, canon.canonical.len) != 0 ||
        sc->signed_headers.len != canon.signed_headers.len ||
        memcmp(sc->signed_headers.data, canon.signed_headers.data, canon.signed_headers.len) != 0)
        abort();

    /* "SDK-HMAC-SHA256\n<date>\n<hex sha256 of the canonical request>" */
    if (cab_signer_sha256_hex(signer, canon.canonical.data, canon.canonical.len, hash)) abort();
    if (sts->len != sizeof CAB_SIGN_ALGORITHM + 17 + 64 ||
        memcmp(sts->data, CAB_SIGN_ALGORITHM "\n", sizeof CAB_SIGN_ALGORITHM) != 0 ||
        memcmp(sts->data + sizeof CAB_SIGN_ALGORITHM, sc->date, 16) != 0 ||
        sts->data[sizeof CAB_SIGN_ALGORITHM + 16] != '\n' ||
        memcmp(sts->data + sts->len - 64, hash, 64) != 0)
        abort();

    /* "SDK-HMAC-SHA256 Access=AK, SignedHeaders=<list>, Signature=<64 hex>" */
    prefix = sizeof CAB_SIGN_ALGORITHM " Access=" AK ", SignedHeaders=" - 1;
    if (auth.len != prefix + canon.signed_headers.len + sizeof ", Signature=" - 1 + 64 ||
        memcmp(auth.data, CAB_SIGN_ALGORITHM " Access=" AK ", SignedHeaders=", prefix) != 0 ||
        memcmp(auth.data + prefix, canon.signed_headers.data, canon.signed_headers.len) != 0 ||
        memcmp(auth.data + prefix + canon.signed_headers.len, ", Signature=", 12) != 0)
        abort();
    sig = auth.data + auth.len - 64;
    for (i = 0; i < 64; i++)
        if (!((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'f'))) abort();

    /* Again: now the kept prefix state is used; same answer. */
    if (cab_sign(signer, req, AK, sizeof AK - 1, &auth2) != CAB_SIGN_OK || auth2.len != auth.len ||
        memcmp(auth2.data, auth.data, auth.len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cab_header headers[MAX_LINES];
    char *owned[3 + 2 * MAX_LINES + 2];
    size_t n_owned = 0, at = 0, len, i;
    const uint8_t *line;
    cab_request req;
    char payload[65];
    cab_sign_status st, st2;

    if (!signer) {
        cab_sign_algorithms *a;
        if (cab_sign_algorithms_new(&a) != CAB_SIGN_OK) abort();
        if (cab_signer_new(&signer, a, SK, sizeof SK - 1) != CAB_SIGN_OK) abort();
        cab_sign_algorithms_free(a); /* the signer keeps its own references */
    }

    memset(&req, 0, sizeof req);
    line = next_line(data, size, &at, &len);
    req.method = owned[n_owned++] = piece(line, len);
    req.method_len = len;
    line = next_line(data, size, &at, &len);
    req.path = owned[n_owned++] = piece(line, len);
    req.path_len = len;
    line = next_line(data, size, &at, &len);
    req.query = owned[n_owned++] = piece(line, len);
    req.query_len = len;
    while (at < size && req.n_headers < MAX_LINES) {
        const uint8_t *colon;
        cab_header *h = &headers[req.n_headers];
        line = next_line(data, size, &at, &len);
        if (len == 0) break;
        colon = memchr(line, ':', len);
        h->name_len = colon ? (size_t)(colon - line) : len;
        h->name = owned[n_owned++] = piece(line, h->name_len);
        h->value_len = colon ? len - h->name_len - 1 : 0;
        h->value = owned[n_owned++] = piece(colon ? colon + 1 : line + len, h->value_len);
        req.n_headers++;
    }
    req.headers = headers;
    req.body = owned[n_owned++] = piece(data + at, size - at);
    req.body_len = size - at;

    if (cab_unsigned_payload(&req))
        memcpy(payload, CAB_UNSIGNED_PAYLOAD, sizeof CAB_UNSIGNED_PAYLOAD);
    else if (cab_signer_sha256_hex(signer, req.body, req.body_len, payload))
        abort();

    canon.bad_header = (size_t)-1;
    st = cab_canonicalize(&req, payload, &canon);
    if (st == CAB_SIGN_OK) {
        check_accepted(&req, &canon, payload);
    } else if (st == CAB_SIGN_BAD_HEADER_NAME || st == CAB_SIGN_AUTHORIZATION || st == CAB_SIGN_BAD_HEADER_VALUE ||
               st == CAB_SIGN_DUP_HEADER || st == CAB_SIGN_BAD_DATE || st == CAB_SIGN_BAD_CONTENT_SHA256) {
        if (canon.bad_header >= req.n_headers) abort();
    } else if (st != CAB_SIGN_BAD_METHOD && st != CAB_SIGN_BAD_PATH && st != CAB_SIGN_BAD_QUERY &&
               st != CAB_SIGN_TOO_MANY_HEADERS &&
               st != CAB_SIGN_NO_DATE) {
        abort(); /* NOMEM or CRYPTO: not from a canonical request */
    }
    if (!cab_sign_strerror(st)[0]) abort();

    st2 = cab_sign(signer, &req, AK, sizeof AK - 1, &auth);
    if (st2 != st) abort();
    if (st2 == CAB_SIGN_OK) check_signed(&req);

    if (req.path_len > 0 && req.path_len < LONG_PATH) {
        size_t times = LONG_PATH / req.path_len + 1, k;
        char *long_path = owned[n_owned++] = malloc(times * req.path_len);
        if (!long_path) abort();
        for (k = 0; k < times; k++) memcpy(long_path + k * req.path_len, req.path, req.path_len);
        req.path = long_path;
        req.path_len = times * req.path_len;
        if (cab_canonicalize(&req, payload, &canon) != st) abort();
        if (st == CAB_SIGN_OK) check_accepted(&req, &canon, payload);
        if (cab_sign(signer, &req, AK, sizeof AK - 1, &auth) != st) abort();
        if (st == CAB_SIGN_OK) check_signed(&req);
    }

    for (i = 0; i < n_owned; i++) free(owned[i]);
    return 0;
}
