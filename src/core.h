/* The Lua binding, codearts.batchresult.core: the only place that sees a
 * lua_State.  Each file registers its part into the module table on top of
 * the stack. */
#ifndef CAB_CORE_H
#define CAB_CORE_H

#include "compat.h"

#define CAB_VERSION "0.1.0"
/* What the Lua layer may call (core.INTERFACE, checked by config.lua):
 * raised with config.lua's INTERFACE whenever a function or method of the
 * module is added, removed or renamed, or changes what it takes or gives,
 * so that a module built from another commit of the same version is
 * refused (a copy Neovim's install left, say).  Builds before this had
 * no number. */
#define CAB_INTERFACE 27

/* The one symbol the module exports; everything else is built hidden. */
__attribute__((visibility("default"))) int luaopen_codearts_batchresult_core(lua_State *L);

void cab_register_codec(lua_State *L);
void cab_register_keyring(lua_State *L);
void cab_register_http(lua_State *L);

/* Whether the Lua state is closing: the finalizer of the state's
 * algorithms (core_keyring.c), made at the module's first load and kept in
 * the registry, so that only the state's close finalizes it, has run.  Lua
 * finalizes no object made while it closes a state, so a constructor of
 * one with C memory then refuses (cab_fail: CAB_CLOSING), for a finalizer
 * of an object made before the module, which runs after it. */
int cab_state_closing(lua_State *L);
#define CAB_CLOSING "the Lua state is closing"

/* Returns nil, message: the binding's way to report a runtime failure. */
int cab_fail(lua_State *L, const char *fmt, ...);

/* Each of the module's userdata begins with its class's tag: the address
 * of the class's name, a static array of the file that makes the class.
 * luaL_checkudata looks at the metatable alone, which debug.setmetatable
 * can give any userdata (one of another class of ours, a file): a method
 * then took it for its own, and crashed.  cab_checkudata(L, idx, tname)
 * is the object at idx when it is one of the class, and raises otherwise;
 * cab_toudata gives NULL instead. */
void *cab_toudata(lua_State *L, int idx, const char *tname);
void *cab_checkudata(lua_State *L, int idx, const char *tname);

/* Creates a metatable named tname whose __index is a table of methods,
 * with __gc and, on 5.4, __close set to gc, __tostring, and __metatable
 * "locked" (getmetatable shows no methods to replace); leaves it popped. */
void cab_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc,
                   lua_CFunction tostring);

#endif
