/* A LuaJIT host whose allocator fails the first allocation made inside
 * lua_pushlightuserdata once the script has called arm(): LuaJIT (GC64)
 * notes the memory region of each address pushed, and the first address
 * of a region grows that note, an allocation that may raise.  Test code
 * only; built by the spec that runs it:
 *   pushfail SCRIPT   (prints what the script prints; arm() and
 *                      failed() -> how many allocations failed) */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct {
    int armed, failed;
} failing;

static int in_push(void) {
    void *frames[16];
    int n = backtrace(frames, 16), i, hit = 0;
    char **names = backtrace_symbols(frames, n);
    for (i = 0; names && i < n && !hit; i++) hit = strstr(names[i], "lua_pushlightuserdata") != NULL;
    free(names);
    return hit;
}

static void *alloc(void *ud, void *p, size_t osize, size_t nsize) {
    failing *f = ud;
    if (nsize == 0) {
        free(p);
        return NULL;
    }
    if (f->armed && !f->failed && (p == NULL || nsize > osize) && in_push()) {
        f->failed = 1;
        return NULL;
    }
    return realloc(p, nsize);
}

static int l_arm(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    ((failing *)ud)->armed = 1;
    return 0;
}

static int l_failed(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    lua_pushinteger(L, ((failing *)ud)->failed);
    return 1;
}

int main(int argc, char **argv) {
    failing f = {0, 0};
    lua_State *L;
    int rc;
    if (argc != 2 || !(L = lua_newstate(alloc, &f))) return 2;
    luaL_openlibs(L);
    lua_register(L, "arm", l_arm);
    lua_register(L, "failed", l_failed);
    if ((rc = luaL_dofile(L, argv[1])) != 0) fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc != 0;
}
