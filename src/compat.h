/* Static shims over the Lua 5.1 / LuaJIT / 5.2 / 5.3 / 5.4 C APIs.
 *
 * Everything here is static and named cab_*: the module must define and
 * export no lua_* or luaL_* symbol of its own, or it would clash with the
 * host's (LuaJIT ships some 5.2 functions that plain 5.1 lacks). */
#ifndef CAB_COMPAT_H
#define CAB_COMPAT_H

#include <lauxlib.h>
#include <math.h>
#include <lua.h>

#if LUA_VERSION_NUM >= 502
#define cab_rawlen(L, i) lua_rawlen((L), (i))
#define cab_setfuncs(L, l) luaL_setfuncs((L), (l), 0)
#else
#define cab_rawlen(L, i) lua_objlen((L), (i))
static inline void cab_setfuncs(lua_State *L, const luaL_Reg *l) {
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#endif

/* Pops the table on top and makes it the user value of the userdata at
 * idx (5.1 calls it the environment). */
#if LUA_VERSION_NUM >= 502
#define cab_setuservalue(L, idx) ((void)lua_setuservalue((L), (idx)))
#else
#define cab_setuservalue(L, idx) ((void)lua_setfenv((L), (idx)))
#endif

/* Pushes the user value of the userdata at idx (5.1: its environment). */
#if LUA_VERSION_NUM >= 502
#define cab_getuservalue(L, idx) ((void)lua_getuservalue((L), (idx)))
#else
#define cab_getuservalue(L, idx) lua_getfenv((L), (idx))
#endif

/* lua_absindex arrived in 5.2. */
static inline int cab_absindex(lua_State *L, int i) {
    return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}

/* Pushes a JSON number as an integer where the value is one (5.3+); -0
 * stays a float, as an integer has no sign to keep. */
static inline void cab_pushnumber(lua_State *L, double d) {
#if LUA_VERSION_NUM >= 503
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && (double)(lua_Integer)d == d &&
        !(d == 0 && signbit(d))) {
        lua_pushinteger(L, (lua_Integer)d);
        return;
    }
#endif
    lua_pushnumber(L, d);
}

#endif
