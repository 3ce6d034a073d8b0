/* Huawei Cloud SDK-HMAC-SHA256 request signing.
 *
 * Pure functions: no I/O, no Lua.  The canonical-request builder is plain
 * string work; the signer adds SHA-256 and HMAC from libcrypto.  The rules
 * (spec/fixtures/FACTS.md, "Authentication"):
 *
 *   CanonicalRequest = METHOD \n URI/ \n query \n headers \n \n signed \n hash
 *   StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CR))
 *   Signature        = hex(hmac_sha256(SK, StringToSign))
 */
#ifndef CAB_SIGN_H
#define CAB_SIGN_H

#include <stddef.h>

#include "buf.h"
#include "limit.h"

#define CAB_SIGN_ALGORITHM "SDK-HMAC-SHA256"
#define CAB_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} cab_header;

/* A request as it goes on the wire.  path and query are taken as sent
 * (percent-encoded or not): the signer decodes and re-encodes them, as the
 * gateway does.  path starts with '/', query has no leading '?', and
 * neither holds a query of its own, a fragment, a control character or a
 * '%' not followed by two hex digits (CAB_SIGN_BAD_PATH, CAB_SIGN_BAD_QUERY). */
typedef struct {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *query;
    size_t query_len;
    const cab_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
} cab_request;

typedef enum {
    CAB_SIGN_OK = 0,
    CAB_SIGN_NOMEM,
    CAB_SIGN_BAD_METHOD,       /* empty, or not an HTTP token */
    CAB_SIGN_BAD_PATH,         /* not starting with '/', or holding '?', '#', a control character or a bad escape */
    CAB_SIGN_BAD_QUERY,        /* starting with '?', or holding '#', a control character or a bad escape */
    CAB_SIGN_BAD_HEADER_NAME,  /* empty, or not an HTTP token */
    CAB_SIGN_AUTHORIZATION,    /* an Authorization header among those to sign */
    CAB_SIGN_BAD_HEADER_VALUE, /* holds a control character other than a tab, or white space beyond ASCII at an end */
    CAB_SIGN_DUP_HEADER,       /* the same name twice, ignoring case */
    CAB_SIGN_TOO_MANY_HEADERS, /* more than CAB_MAX_HEADERS (limit.h) */
    CAB_SIGN_NO_DATE,          /* no X-Sdk-Date among the headers */
    CAB_SIGN_BAD_DATE,         /* X-Sdk-Date not YYYYMMDDTHHMMSSZ, or no such time */
    CAB_SIGN_BAD_KEY,          /* AK empty or holds a character that would break the header */
    CAB_SIGN_BAD_CONTENT_SHA256, /* X-Sdk-Content-Sha256 neither UNSIGNED-PAYLOAD nor the body's hash */
    CAB_SIGN_CRYPTO            /* libcrypto failed */
} cab_sign_status;

/* The canonical request and what comes with it.  Reused across calls. */
typedef struct {
    cab_buf canonical;      /* the canonical request */
    cab_buf signed_headers; /* "content-type;host;x-sdk-date" */
    cab_buf scratch;        /* decoded query pairs while sorting */
    const char *date;       /* the trimmed X-Sdk-Date value, inside the request */
    size_t date_len;
    size_t date_line;       /* offset of the "x-sdk-date:" line in canonical */
    size_t bad_header;      /* on a header error: its index in the request */
} cab_canon;

void cab_canon_free(cab_canon *c);

/* Whether s[0..len), once the ASCII white space at its ends (space, \t,
 * \n, \v, \f, \r) is trimmed, starts or ends with white space beyond
 * ASCII, which cab_canonicalize refuses in a header's value: also what
 * br.new asks of the options that become header values (config.lua), so
 * that the list lives here only. */
int cab_unicode_space_edge(const char *s, size_t len);

/* Whether the request carries X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD, in
 * which case that literal replaces the hex SHA-256 of the body. */
int cab_unsigned_payload(const cab_request *req);

/* Builds the canonical request with payload_hash as its last line.
 * Header names containing '_' are left unsigned, as the Go and Python SDKs
 * do: proxies and gateways commonly drop such headers. */
cab_sign_status cab_canonicalize(const cab_request *req, const char *payload_hash,
                                 cab_canon *c);

/* A signer holds, for one secret key, the fetched SHA-256 and HMAC
 * implementations and the keyed HMAC state, so signing a request costs two
 * digests and one HMAC and nothing else.  Not shareable between threads. */
typedef struct cab_signer cab_signer;

/* SHA-256 and HMAC as fetched from libcrypto's default provider.
 * Fetching costs more than signing a request, so their owner fetches them
 * once (the binding: once per Lua state, freed when the state closes) and
 * each signer takes its own references: freeing them never pulls them
 * from under a signer. */
typedef struct cab_sign_algorithms cab_sign_algorithms;

cab_sign_status cab_sign_algorithms_new(cab_sign_algorithms **out);
void cab_sign_algorithms_free(cab_sign_algorithms *a);

cab_sign_status cab_signer_new(cab_signer **out, const cab_sign_algorithms *a, const char *sk,
                               size_t sk_len);
/* A signer whose key comes with each request (br.sign's): it signs only
 * through cab_sign_with_key and keys HMAC on its digest context at each
 * signature.  Its owner may keep it, buffers and prefix state and all, for
 * the next request, under another key. */
cab_sign_status cab_signer_new_keyless(cab_signer **out, const cab_sign_algorithms *a);
void cab_signer_free(cab_signer *s);

/* Signs req and writes the Authorization value to auth.  After the call the
 * canonical request and string to sign are readable with the accessors. */
cab_sign_status cab_sign(cab_signer *s, const cab_request *req, const char *ak, size_t ak_len,
                         cab_buf *auth);
/* cab_sign on a keyless signer, with the key sk for this request only:
 * the signer wipes it before returning. */
cab_sign_status cab_sign_with_key(cab_signer *s, const cab_request *req, const char *sk, size_t sk_len,
                                  const char *ak, size_t ak_len, cab_buf *auth);
const cab_canon *cab_signer_canon(const cab_signer *s);
const cab_buf *cab_signer_string_to_sign(const cab_signer *s);

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL), using
 * the signer's digest. */
cab_sign_status cab_signer_sha256_hex(cab_signer *s, const void *data, size_t len, char out[65]);

const char *cab_sign_strerror(cab_sign_status st);

#endif
