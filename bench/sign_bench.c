/* Signing cost: cab_sign() against the raw libcrypto work it contains.
 *
 *   (a) raw OpenSSL: SHA-256 of the body, SHA-256 of the whole canonical
 *       request, one HMAC-SHA256 of the string to sign, with a prefetched
 *       EVP_MD, a reused EVP_MD_CTX and a keyed EVP_MAC_CTX re-initialised
 *       with EVP_MAC_init(ctx, NULL, 0, NULL).  The canonical request and
 *       the string to sign are built once, outside the loop: only the
 *       crypto is timed.  Issue 12's target is set against this.
 *   (b) cab_sign() on the same request: validation, canonicalisation, the
 *       same crypto, hex, and the Authorization value.  Signing the same
 *       request each time, it always resumes the SHA-256 state it kept of
 *       the canonical request up to the x-sdk-date line (as it does for a
 *       client, whose requests share that prefix), so it hashes less of the
 *       canonical request than (a) does.  Hence, for context:
 *   (a") (a), the canonical request hashed the way cab_sign hashes it: the
 *       state after its bytes before the "x-sdk-date:" line saved once,
 *       copied (EVP_MD_CTX_copy_ex) and fed the rest each time.
 *
 * Each is warmed up, then run for enough iterations to last >= 0.5 s; a
 * run interleaves the three in slices (so that all see the same machine),
 * RUNS runs, and the medians of the runs count.
 *
 * Output: one "key value" line per figure (read by bench/sign.lua):
 *   raw_us, sign_us, resumed_us (µs per op, the median run of each),
 *   median_ratio (the median of the per-run b/a), resumed_ratio (of b/a"),
 *   runs, body_len, canonical_len, prefix_len (the bytes (a") resumes),
 *   sts_len, auth_len (bytes).
 *
 * For a profiler: "sign_bench raw|sign|resumed SECONDS" runs one side
 * alone, e.g.
 *   perf record -e cpu-clock ./bench/out/sign_bench sign 3
 *   valgrind --tool=callgrind ./bench/out/sign_bench sign 0.3
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "raw_crypto.h"
#include "sign.h"

#define MIN_SECONDS 0.5
#define RUNS 5

static const char SK[] = "SKbenchSecretKey0123456789abcdefghijklmn";
static const char AK[] = "AKBENCHACCESSKEY0123";
static const char PROJECT[] = "0123456789abcdef0123456789abcdef";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "sign_bench: %s\n", what);
    exit(1);
}

/* 32 lower-case hex characters derived from seed (deterministic). */
static void hex_id(unsigned seed, char out[33]) {
    static const char hx[] = "0123456789abcdef";
    unsigned x = seed * 2654435761u + 12345u;
    int i;
    for (i = 0; i < 32; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = hx[x & 15];
    }
    out[32] = '\0';
}

/* ---- the request --------------------------------------------------------- */

static char body[1024];
static size_t body_len;
static char path[128];
static cab_header headers[5];
static cab_request req;

static void build_request(void) {
    int i;
    size_t n = 0;
    n += (size_t)snprintf(body + n, sizeof body - n, "{\"query\":[");
    for (i = 0; i < 6; i++) {
        char pid[33], rid[33];
        hex_id((unsigned)(2 * i + 1), pid);
        hex_id((unsigned)(2 * i + 2), rid);
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "%s{\"pipeline_id\":\"%s\",\"pipeline_run_id\":\"%s\"}",
                              i ? "," : "", pid, rid);
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "]}");
    body_len = n;
    snprintf(path, sizeof path, "/v5/%s/api/pipelines/batch-runs/result", PROJECT);

#define H(i, N, V)                     \
    headers[i].name = N;               \
    headers[i].name_len = strlen(N);   \
    headers[i].value = V;              \
    headers[i].value_len = strlen(V)
    H(0, "Content-Type", "application/json;charset=UTF-8");
    H(1, "Host", "cloudpipeline-ext.cn-north-4.myhuaweicloud.com");
    H(2, "X-Sdk-Date", "20250101T120000Z");
    H(3, "X-Project-Id", PROJECT);
    H(4, "User-Agent", "codearts-batchresult/0.1.0");
#undef H

    req.method = "POST";
    req.method_len = 4;
    req.path = path;
    req.path_len = strlen(path);
    req.query = "";
    req.query_len = 0;
    req.headers = headers;
    req.n_headers = 5;
    req.body = body;
    req.body_len = body_len;
}

/* ---- (a) raw OpenSSL ---------------------------------------------------- */

static raw_crypto raw;
static const char *raw_cr;
static size_t raw_cr_len;
static const char *raw_sts;
static size_t raw_sts_len;
static volatile unsigned char sink;

static void raw_side(int resume) {
    int r =
        raw_sign_once(&raw, NULL, 0, body, body_len, raw_cr, raw_cr_len, resume, raw_sts, raw_sts_len);
    if (r < 0) die("libcrypto failed");
    sink ^= (unsigned char)r;
}
static void raw_once(void) { raw_side(0); }

/* ---- (a") raw OpenSSL, resuming the canonical request's prefix ---------- */

static void resumed_once(void) { raw_side(1); }

/* ---- (b) cab_sign ------------------------------------------------------- */

static cab_signer *signer;
static cab_sign_algorithms *algorithms;
static cab_buf auth = CAB_BUF_INIT;

static void sign_once(void) {
    if (cab_sign(signer, &req, AK, sizeof AK - 1, &auth) != CAB_SIGN_OK) die("cab_sign failed");
    sink ^= (unsigned char)auth.data[auth.len - 1];
}

/* ---- timing ------------------------------------------------------------- */

/* The median of the n (odd) values in v, which it sorts. */
static double median(double *v, int n) {
    int i, j;
    for (i = 1; i < n; i++) {
        double x = v[i];
        for (j = i; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    return v[n / 2];
}

/* Iterations that last about MIN_SECONDS (measured after a warm-up). */
static long calibrate(void (*fn)(void)) {
    long n = 1000, i;
    double t;
    for (;;) {
        t = now();
        for (i = 0; i < n; i++) fn();
        t = now() - t;
        if (t >= 0.05) break;
        n *= 4;
    }
    return (long)((double)n * (MIN_SECONDS * 1.05) / t) + 1;
}

/* One run: n[k] calls of each side fn[k] (each about MIN_SECONDS),
 * interleaved in SLICES slices so that all sides see the same machine
 * (this VM's speed drifts by tens of percent over seconds).  Stores in
 * t[k] the seconds per call of each side's fastest slice: noise
 * (interrupts, the other core's load) only ever adds time, so the minimum
 * is the steadiest estimate, and all sides are measured the same way. */
#define SLICES 20
#define SIDES 3
static void run_sides(void (*const fn[SIDES])(void), const long n[SIDES], double t[SIDES]) {
    long i, per[SIDES];
    int s, k;
    double dt;
    for (k = 0; k < SIDES; k++) {
        per[k] = n[k] / SLICES + 1;
        t[k] = 1e9;
    }
    for (s = 0; s < SLICES; s++)
        for (k = 0; k < SIDES; k++) {
            dt = now();
            for (i = 0; i < per[k]; i++) fn[k]();
            dt = now() - dt;
            if (dt < t[k]) t[k] = dt;
        }
    for (k = 0; k < SIDES; k++) t[k] /= (double)per[k];
}

static void to_hex(const unsigned char *in, size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Where cab_sign's kept SHA-256 state ends: the canonical request's bytes
 * before its x-sdk-date line, found in the text. */
static size_t prefix_length(const char *cr) {
    const char *line = strstr(cr, "\nx-sdk-date:");
    if (!line) die("no x-sdk-date line in the canonical request");
    return (size_t)(line - cr) + 1;
}

int main(int argc, char **argv) {
    /* The sides, in the order they take turns: (a), (b), (a"). */
    void (*const fn[SIDES])(void) = {raw_once, sign_once, resumed_once};
    long n[SIDES];
    int r, k;
    size_t prefix_len;
    const char *only = argc > 1 ? argv[1] : NULL;
    double t[SIDES], ta[RUNS], tb[RUNS], tc[RUNS], ratios[RUNS], resumed_ratios[RUNS];

    build_request();
    if (!raw_crypto_init(&raw, SK, strlen(SK))) die("libcrypto setup failed");
    if (cab_sign_algorithms_new(&algorithms) != CAB_SIGN_OK) die("cab_sign_algorithms_new failed");
    if (cab_signer_new(&signer, algorithms, SK, strlen(SK)) != CAB_SIGN_OK) die("cab_signer_new failed");

    /* Sign once so that the raw side uses exactly the bytes cab_sign hashed. */
    sign_once();
    raw_cr = cab_signer_canon(signer)->canonical.data;
    raw_cr_len = cab_signer_canon(signer)->canonical.len;
    raw_sts = cab_signer_string_to_sign(signer)->data;
    raw_sts_len = cab_signer_string_to_sign(signer)->len;

    /* Cross-check: the raw HMAC must give the signature cab_sign wrote. */
    {
        unsigned char mac[32];
        char hex[65];
        const char *sig;
        if (!raw_hmac(&raw, NULL, 0, raw_sts, raw_sts_len, mac)) die("hmac failed");
        to_hex(mac, 32, hex);
        sig = strstr(auth.data, "Signature=");
        if (!sig || strcmp(sig + 10, hex) != 0) die("raw signature differs from cab_sign's");
    }

    /* Copy the canonical request and string to sign out of the signer:
     * cab_sign rewrites its buffers (same content) while (b) runs. */
    {
        char *cr = malloc(raw_cr_len + 1), *sts = malloc(raw_sts_len + 1);
        if (!cr || !sts) die("out of memory");
        memcpy(cr, raw_cr, raw_cr_len + 1);
        memcpy(sts, raw_sts, raw_sts_len + 1);
        raw_cr = cr;
        raw_sts = sts;
    }

    /* (a"): the prefix found in the text must be the one cab_sign keeps,
     * and resuming must give the whole text's hash. */
    prefix_len = prefix_length(raw_cr);
    if (prefix_len != cab_signer_canon(signer)->date_line)
        die("the x-sdk-date line is not where cab_sign saw it");
    if (!raw_save_prefix(&raw, raw_cr, prefix_len)) die("libcrypto failed");
    {
        unsigned char whole[32], resumed[32];
        if (!raw_digest(&raw, raw_cr, raw_cr_len, whole) ||
            !raw_digest_resumed(&raw, raw_cr, raw_cr_len, resumed))
            die("libcrypto failed");
        if (memcmp(whole, resumed, 32) != 0) die("resuming the prefix changed the hash");
    }

    /* "sign_bench raw|sign|resumed SECONDS": one side only, in a loop,
     * for a profiler (perf record, valgrind --tool=callgrind). */
    if (only) {
        static const char *const names[SIDES] = {"raw", "sign", "resumed"};
        double secs = argc > 2 ? atof(argv[2]) : 2.0, t0 = now();
        long i, calls = 0;
        for (k = 0; k < SIDES && strcmp(only, names[k]) != 0; k++) {}
        if (k == SIDES) die("usage: sign_bench [raw|sign|resumed [seconds]]");
        do {
            for (i = 0; i < 1000; i++) fn[k]();
            calls += 1000;
        } while (now() - t0 < secs);
        printf("%s_us %.3f\n", only, (now() - t0) / (double)calls * 1e6);
        return 0;
    }

    /* Warm-up and calibration. */
    for (k = 0; k < SIDES; k++) n[k] = calibrate(fn[k]);
    for (r = 0; r < RUNS; r++) {
        run_sides(fn, n, t);
        ta[r] = t[0];
        tb[r] = t[1];
        tc[r] = t[2];
        ratios[r] = tb[r] / ta[r];
        resumed_ratios[r] = tb[r] / tc[r];
    }

    printf("raw_us %.3f\n", median(ta, RUNS) * 1e6);
    printf("sign_us %.3f\n", median(tb, RUNS) * 1e6);
    printf("resumed_us %.3f\n", median(tc, RUNS) * 1e6);
    printf("median_ratio %.3f\n", median(ratios, RUNS));
    printf("resumed_ratio %.3f\n", median(resumed_ratios, RUNS));
    printf("runs %d\n", RUNS);
    printf("body_len %zu\n", body_len);
    printf("canonical_len %zu\n", raw_cr_len);
    printf("prefix_len %zu\n", prefix_len);
    printf("sts_len %zu\n", raw_sts_len);
    printf("auth_len %zu\n", auth.len);

    cab_signer_free(signer);
    cab_sign_algorithms_free(algorithms);
    cab_buf_free(&auth);
    raw_crypto_free(&raw);
    return 0;
}
