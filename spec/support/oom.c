/* Memory errors on request, for the specs of what a failed allocation
 * leaves behind (spec/support/clib.lua builds it).  PUC Lua only: LuaJIT
 * on 64 bits cannot take another allocator.  Test code only. */
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

typedef struct {
    lua_Alloc real;
    void *ud;
    long countdown; /* allocations until the failing starts (0: never) */
    int once;       /* only the countdown's allocation fails */
    int failing;
    size_t over;    /* when not 0: every block grown past this fails, and no other */
} failing_alloc;

/* Lets allocations through until the countdown's, then fails every one
 * (Lua 5.3 and 5.4 collect and try a failed one again); a block that
 * shrinks or is freed always goes through (Lua counts on that). */
static void *failing(void *ud, void *p, size_t osize, size_t nsize) {
    failing_alloc *f = ud;
    if (nsize > 0 && (p == NULL || nsize > osize)) {
        if (f->countdown > 0 && --f->countdown == 0) {
            if (f->once) return NULL;
            f->failing = 1;
        }
        if (f->failing || (f->over && nsize > f->over)) return NULL;
    }
    return f->real(f->ud, p, osize, nsize);
}

/* Runs the function at 2 with the arguments after it under f, in
 * protected mode: what pcall gives.  The state's own allocator is back
 * before this returns: nothing outside the call fails, and the state may
 * unload this library before it frees its last blocks. */
static int pcall_failing(lua_State *L, failing_alloc *f) {
    int base, ok;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    base = lua_gettop(L);
    f->real = lua_getallocf(L, &f->ud);
    f->failing = 0;
    lua_setallocf(L, failing, f);
    ok = lua_pcall(L, base - 2, LUA_MULTRET, 0) == 0;
    lua_setallocf(L, f->real, f->ud);
    lua_pushboolean(L, ok);
    lua_insert(L, 2);
    return lua_gettop(L) - 1;
}

/* pcall(n, f, ...) -> what pcall(f, ...) gives, with the n-th allocation
 * of the call, and every one after it, failing. */
static int l_pcall(lua_State *L) {
    failing_alloc f;
    f.countdown = (long)luaL_checkinteger(L, 1);
    f.once = 0;
    f.over = 0;
    return pcall_failing(L, &f);
}

/* pcall_once(n, f, ...) -> whether the call made an n-th allocation, then
 * what pcall(f, ...) gives, with that allocation failing, and only that
 * one. */
static int l_pcall_once(lua_State *L) {
    failing_alloc f;
    int n;
    f.countdown = (long)luaL_checkinteger(L, 1);
    f.once = 1;
    f.over = 0;
    n = pcall_failing(L, &f);
    lua_pushboolean(L, f.countdown == 0);
    lua_insert(L, -(n + 1));
    return n + 1;
}

/* pcall_over(bytes, f, ...) -> what pcall(f, ...) gives, with every
 * allocation of the call of more than bytes failing, and only those. */
static int l_pcall_over(lua_State *L) {
    failing_alloc f;
    f.countdown = 0;
    f.once = 0;
    f.over = (size_t)luaL_checkinteger(L, 1);
    return pcall_failing(L, &f);
}

__attribute__((visibility("default"))) int luaopen_specoom(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_pcall);
    lua_setfield(L, -2, "pcall");
    lua_pushcfunction(L, l_pcall_once);
    lua_setfield(L, -2, "pcall_once");
    lua_pushcfunction(L, l_pcall_over);
    lua_setfield(L, -2, "pcall_over");
    return 1;
}
