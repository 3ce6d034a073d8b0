/* benchclock: timing helpers for the Lua benchmarks, built by run.sh into
 * bench/out/benchclock.so.  Uses only API common to Lua 5.1 through 5.4
 * and LuaJIT.
 *
 *   benchclock.now() -> CLOCK_MONOTONIC seconds (os.clock is CPU time,
 *       os.time whole seconds)
 *   benchclock.raw_sign(n, sk, body, canonical, string_to_sign [, rekey])
 *       -> seconds
 *       n times the raw OpenSSL work of one signature (SHA-256 of body,
 *       SHA-256 of canonical, HMAC-SHA256 of string_to_sign with sk), done
 *       as bench/sign_bench.c does it, so that a Lua-side figure can be
 *       timed in the same window as the raw work (this VM's speed drifts).
 *       With rekey true, the HMAC is keyed with sk every time, not once.
 *   benchclock.sleep(seconds)
 *       sleeps (nanosleep): the CPU idles, as it does while a request
 *       waits on the network.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "raw_crypto.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int l_now(lua_State *L) {
    lua_pushnumber(L, (lua_Number)now());
    return 1;
}

/* Set up on first use (the key is fixed for a run) and never freed: the
 * process is a benchmark. */
static raw_crypto raw;
static int raw_ready;

static int l_raw_sign(lua_State *L) {
    long n = (long)luaL_checkinteger(L, 1), i;
    size_t skl, bl, cl, sl;
    const char *sk = luaL_checklstring(L, 2, &skl);
    const char *body = luaL_checklstring(L, 3, &bl);
    const char *cr = luaL_checklstring(L, 4, &cl);
    const char *sts = luaL_checklstring(L, 5, &sl);
    int rekey = lua_toboolean(L, 6);
    unsigned acc = 0;
    double t;
    if (!raw_ready) {
        if (!raw_crypto_init(&raw, sk, skl)) return luaL_error(L, "libcrypto setup failed");
        raw_ready = 1;
    }
    t = now();
    for (i = 0; i < n; i++) {
        int r = raw_sign_once(&raw, rekey ? sk : NULL, skl, body, bl, cr, cl, 0, sts, sl);
        if (r < 0) return luaL_error(L, "libcrypto failed");
        acc += (unsigned)r;
    }
    t = now() - t;
    lua_pushnumber(L, (lua_Number)t);
    lua_pushinteger(L, (lua_Integer)acc);
    return 2;
}

static int l_sleep(lua_State *L) {
    double s = (double)luaL_checknumber(L, 1);
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

int luaopen_benchclock(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_raw_sign);
    lua_setfield(L, -2, "raw_sign");
    lua_pushcfunction(L, l_sleep);
    lua_setfield(L, -2, "sleep");
    return 1;
}
