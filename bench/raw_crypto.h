/* The raw OpenSSL work one signature contains, done the fastest honest way
 * (prefetched SHA-256, a reused digest context, an HMAC context keyed once
 * and re-initialised per use, or keyed again per use): what
 * bench/sign_bench.c and bench/clock.c set the signer against.  The
 * canonical request is hashed whole, or (for context) from a SHA-256 state
 * saved after its first bytes, as the signer resumes one (src/sign.c,
 * hash_canonical).  Header-only: each bench program is one file. */
#ifndef BENCH_RAW_CRYPTO_H
#define BENCH_RAW_CRYPTO_H

#include <stddef.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

typedef struct {
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
    EVP_MAC *mac;
    EVP_MAC_CTX *hmac;
    EVP_MD_CTX *prefix; /* NULL until raw_save_prefix */
    size_t prefix_len;
} raw_crypto;

/* Returns 1 when ready, 0 when libcrypto failed. */
static inline int raw_crypto_init(raw_crypto *r, const char *sk, size_t skl) {
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    r->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    r->mdctx = EVP_MD_CTX_new();
    r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    r->hmac = r->mac ? EVP_MAC_CTX_new(r->mac) : NULL;
    r->prefix = NULL;
    r->prefix_len = 0;
    return r->md && r->mdctx && r->hmac &&
           EVP_MAC_init(r->hmac, (const unsigned char *)sk, skl, params);
}

static inline void raw_crypto_free(raw_crypto *r) {
    EVP_MD_CTX_free(r->prefix);
    EVP_MAC_CTX_free(r->hmac);
    EVP_MAC_free(r->mac);
    EVP_MD_CTX_free(r->mdctx);
    EVP_MD_free(r->md);
}

static inline int raw_digest(raw_crypto *r, const void *p, size_t n, unsigned char out[32]) {
    unsigned int dl = 0;
    return EVP_DigestInit_ex2(r->mdctx, r->md, NULL) && EVP_DigestUpdate(r->mdctx, p, n) &&
           EVP_DigestFinal_ex(r->mdctx, out, &dl);
}

/* Saves the SHA-256 state after the first n bytes of cr, which
 * raw_sign_once resumes from when asked to: what the signer keeps of a
 * canonical request, the bytes before its x-sdk-date line.  Returns 1 when
 * done, 0 when libcrypto failed. */
static inline int raw_save_prefix(raw_crypto *r, const char *cr, size_t n) {
    if (!r->prefix && !(r->prefix = EVP_MD_CTX_new())) return 0;
    r->prefix_len = n;
    return EVP_DigestInit_ex2(r->prefix, r->md, NULL) && EVP_DigestUpdate(r->prefix, cr, n);
}

/* SHA-256 of cr[0..n), its first prefix_len bytes taken from the saved
 * state, as src/sign.c's hash_canonical does it. */
static inline int raw_digest_resumed(raw_crypto *r, const char *cr, size_t n, unsigned char out[32]) {
    unsigned int dl = 0;
    return EVP_MD_CTX_copy_ex(r->mdctx, r->prefix) &&
           EVP_DigestUpdate(r->mdctx, cr + r->prefix_len, n - r->prefix_len) &&
           EVP_DigestFinal_ex(r->mdctx, out, &dl);
}

/* HMAC of p, keyed with key first, as a signer given the key with each
 * request must; with key NULL, with the key set up once. */
static inline int raw_hmac(raw_crypto *r, const char *key, size_t kl, const void *p, size_t n,
                           unsigned char out[32]) {
    size_t ml = 0;
    return EVP_MAC_init(r->hmac, (const unsigned char *)key, key ? kl : 0, NULL) &&
           EVP_MAC_update(r->hmac, (const unsigned char *)p, n) && EVP_MAC_final(r->hmac, out, &ml, 32);
}

/* One signature's worth: SHA-256 of the body and of the canonical request
 * (whole, or with resume from the state raw_save_prefix saved), HMAC of
 * the string to sign (keyed as raw_hmac says).  Returns a byte of the
 * results (so the work cannot be optimised away), or -1 when libcrypto
 * failed. */
static inline int raw_sign_once(raw_crypto *r, const char *key, size_t kl, const char *body, size_t bl,
                                const char *cr, size_t cl, int resume, const char *sts, size_t sl) {
    unsigned char d1[32], d2[32], m[32];
    if (!raw_digest(r, body, bl, d1) ||
        !(resume ? raw_digest_resumed(r, cr, cl, d2) : raw_digest(r, cr, cl, d2)) ||
        !raw_hmac(r, key, kl, sts, sl, m))
        return -1;
    return d1[0] ^ d2[0] ^ m[0];
}

#endif
