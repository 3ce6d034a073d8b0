/* setenv(name, value) for the specs (spec/support/clib.lua builds it):
 * what a host does to the environment after a client was made (Neovim's
 * vim.env, a C host), which Lua's standard library cannot.  Test code
 * only. */
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

static int l_setenv(lua_State *L) {
    if (setenv(luaL_checkstring(L, 1), luaL_checkstring(L, 2), 1) != 0) return luaL_error(L, "setenv failed");
    return 0;
}

__attribute__((visibility("default"))) int luaopen_specsetenv(lua_State *L) {
    lua_pushcfunction(L, l_setenv);
    return 1;
}
