/* benchclock: timing helpers for the Lua benchmarks, built by run.sh into
 * bench/out/benchclock.so.  Uses only API common to Lua 5.1 through 5.4
 * and LuaJIT.
 *
 *   benchclock.now() -> CLOCK_MONOTONIC seconds (os.clock is CPU time,
 *       os.time whole seconds)
 *   benchclock.raw_sign(n, sk, body, canonical, string_to_sign) -> seconds
 *       n times the raw OpenSSL work of one signature (SHA-256 of body,
 *       SHA-256 of canonical, HMAC-SHA256 of string_to_sign with sk), done
 *       as bench/sign_bench.c does it, so that a Lua-side figure can be
 *       timed in the same window as the raw work (this VM's speed drifts).
 */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <lauxlib.h>
#include <lua.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int l_now(lua_State *L) {
    lua_pushnumber(L, (lua_Number)now());
    return 1;
}

/* Fetched once per process, keyed on first use (the key is fixed for a
 * run).  Never freed: the process is a benchmark. */
static EVP_MD *md;
static EVP_MD_CTX *mdctx;
static EVP_MAC *mac;
static EVP_MAC_CTX *hmac;

static int digest(const char *p, size_t n, unsigned char out[32]) {
    unsigned int dl = 0;
    return EVP_DigestInit_ex2(mdctx, md, NULL) && EVP_DigestUpdate(mdctx, p, n) &&
           EVP_DigestFinal_ex(mdctx, out, &dl);
}

static int l_raw_sign(lua_State *L) {
    long n = (long)luaL_checkinteger(L, 1), i;
    size_t skl, bl, cl, sl;
    const char *sk = luaL_checklstring(L, 2, &skl);
    const char *body = luaL_checklstring(L, 3, &bl);
    const char *cr = luaL_checklstring(L, 4, &cl);
    const char *sts = luaL_checklstring(L, 5, &sl);
    unsigned char d1[32], d2[32], m[32];
    unsigned acc = 0;
    size_t ml = 0;
    double t;
    if (!hmac) {
        OSSL_PARAM params[2];
        char name[] = "SHA256";
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0);
        params[1] = OSSL_PARAM_construct_end();
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
        mdctx = EVP_MD_CTX_new();
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
        if (!md || !mdctx || !hmac ||
            !EVP_MAC_init(hmac, (const unsigned char *)sk, skl, params)) {
            EVP_MAC_CTX_free(hmac);
            hmac = NULL;
            return luaL_error(L, "libcrypto setup failed");
        }
    }
    t = now();
    for (i = 0; i < n; i++) {
        if (!digest(body, bl, d1) || !digest(cr, cl, d2) || !EVP_MAC_init(hmac, NULL, 0, NULL) ||
            !EVP_MAC_update(hmac, (const unsigned char *)sts, sl) ||
            !EVP_MAC_final(hmac, m, &ml, sizeof m))
            return luaL_error(L, "libcrypto failed");
        acc += d1[0] ^ d2[0] ^ m[0];
    }
    t = now() - t;
    lua_pushnumber(L, (lua_Number)t);
    lua_pushinteger(L, (lua_Integer)acc);
    return 2;
}

int luaopen_benchclock(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_raw_sign);
    lua_setfield(L, -2, "raw_sign");
    return 1;
}
