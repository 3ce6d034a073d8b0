/* libFuzzer harness: the binding's input path, through a real Lua 5.4.
 *
 * Each input runs in a fresh Lua state (see "compiled chunks") with the
 * C module compiled into this binary and registered through
 * package.preload, and the library's Lua sources loaded from the
 * checkout's lua/ directory (the harness runs from the repository root).
 * fuzz/binding.lua then reads the input as a small program of calls: it
 * builds hostile tables, calls the public entries and the binding with
 * them, and checks each answer against a reference of its own (see
 * there).  A check that fails raises out of the script, and the harness
 * aborts with its message.
 *
 * Provided here, as the table `fuzz` the script receives:
 *   fuzz.call(f, ...)   -> status, lua_failures, json_failures, results...
 *       calls f in protected mode with allocation failures armed; status
 *       is "ok", "mem" (a memory error) or "err" (another error, results[1]
 *       the value), and the counts say how many allocations were made to
 *       fail during the call.
 *   fuzz.plan(which, at, count)
 *       which = "lua" (lua_newstate's allocator) or "json" (cJSON's hooks):
 *       counting only armed allocations, the at-th and the count - 1 after
 *       it fail (count 0: every one from the at-th on).  A failed Lua
 *       allocation is retried once after an emergency collection, so
 *       count 1 exercises the collector mid-call and count >= 2 raises a
 *       memory error; a failed cJSON allocation fails the parse of an
 *       answer (the encoders write into memory Lua gives them).
 *   fuzz.json(text)    -> value | nil: text parsed by cJSON, whole and
 *       strict (nothing after the value), objects and arrays as tables
 *       (an array's metatable is fuzz.array, an empty one of its own), null
 *       as core.null; second result a table whose keys are the objects
 *       (the tables made of them) that named a member twice.
 *
 * Lua line coverage: a line hook counts the lines the library's Lua runs
 * (edges between consecutive lines, AFL's way) into libFuzzer's extra
 * counters, so that the fuzzer also learns from branches taken in Lua
 * (input.lua, config.lua, call.lua…), which no compiler instrumented.
 * With FUZZ_LUA_LINES=FILE, every library line run is also written to
 * FILE at exit ("source line" per line), for make fuzz-coverage. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define DRIVER "fuzz/binding.lua"
#define ARRAY "fuzz.array" /* the metatable of a JSON array fuzz.json made */

/* ---- allocation failures --------------------------------------------------- */

typedef struct {
    int armed;
    unsigned long seen;   /* armed allocations so far, this input */
    unsigned long at;     /* the first to fail (1-based); 0: none */
    unsigned long count;  /* how many fail from there; 0: all */
    unsigned long failed; /* failures made, this input */
} plan;

static plan lua_plan, json_plan;

static int must_fail(plan *p) {
    if (!p->armed || !p->at) return 0;
    p->seen++;
    if (p->seen < p->at || (p->count && p->seen >= p->at + p->count)) return 0;
    p->failed++;
    return 1;
}

/* Lua may assume a block that shrinks or is freed never fails. */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if ((!ptr || nsize > osize) && must_fail(&lua_plan)) return NULL;
    return realloc(ptr, nsize);
}

static void *json_malloc(size_t n) { return must_fail(&json_plan) ? NULL : malloc(n); }

/* ---- Lua line coverage --------------------------------------------------- */

#define LUA_COV_SIZE (1u << 15)
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t lua_cov[LUA_COV_SIZE];

static const char *cov_source; /* the source last seen, and its hash (0: not the library's) */
static uint32_t cov_hash, cov_prev;

/* FUZZ_LUA_LINES: which lines of which library file ran. */
#define MAX_FILES 64
#define MAX_LINES 4096
static FILE *lines_out;
static char *line_file[MAX_FILES];
static uint8_t line_seen[MAX_FILES][MAX_LINES];
static int line_files, line_file_now = -1;

static int line_file_index(const char *source) {
    int i;
    for (i = 0; i < line_files; i++)
        if (strcmp(line_file[i], source) == 0) return i;
    if (line_files == MAX_FILES || !(line_file[line_files] = strdup(source))) return -1;
    return line_files++;
}

static void write_lines(void) {
    int f, l;
    for (f = 0; f < line_files; f++)
        for (l = 0; l < MAX_LINES; l++)
            if (line_seen[f][l]) fprintf(lines_out, "%s %d\n", line_file[f], l);
    fclose(lines_out);
    for (f = 0; f < line_files; f++) free(line_file[f]);
}

static void line_hook(lua_State *L, lua_Debug *ar) {
    uint32_t loc;
    if (!lua_getinfo(L, "S", ar)) return;
    if (ar->source != cov_source) {
        const char *s = ar->source;
        cov_source = s;
        cov_hash = 0;
        if (s[0] == '@' && strstr(s, "lua/codearts/")) {
            cov_hash = 2166136261u;
            for (; *s; s++) cov_hash = (cov_hash ^ (uint8_t)*s) * 16777619u;
            cov_hash |= 1;
            if (lines_out) line_file_now = line_file_index(ar->source + 1);
        }
    }
    if (!cov_hash) return;
    loc = (cov_hash ^ ((uint32_t)ar->currentline * 2654435761u)) % LUA_COV_SIZE;
    lua_cov[(loc ^ cov_prev) % LUA_COV_SIZE]++;
    cov_prev = loc >> 1;
    if (lines_out && line_file_now >= 0 && ar->currentline > 0 && ar->currentline < MAX_LINES)
        line_seen[line_file_now][ar->currentline] = 1;
}

/* ---- what the script gets ------------------------------------------------ */

static int l_call(lua_State *L) {
    int n = lua_gettop(L), st;
    unsigned long lf = lua_plan.failed, jf = json_plan.failed;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_plan.armed = json_plan.armed = 1;
    st = lua_pcall(L, n - 1, LUA_MULTRET, 0);
    lua_plan.armed = json_plan.armed = 0;
    luaL_checkstack(L, 3, "fuzz.call");
    lua_pushstring(L, st == LUA_OK ? "ok" : st == LUA_ERRMEM ? "mem" : "err");
    lua_pushinteger(L, (lua_Integer)(lua_plan.failed - lf));
    lua_pushinteger(L, (lua_Integer)(json_plan.failed - jf));
    lua_rotate(L, 1, 3);
    return lua_gettop(L);
}

static int l_plan(lua_State *L) {
    const char *which = luaL_checkstring(L, 1);
    plan *p = strcmp(which, "lua") == 0 ? &lua_plan : strcmp(which, "json") == 0 ? &json_plan : NULL;
    lua_Integer at = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
    luaL_argcheck(L, p != NULL, 1, "lua or json");
    luaL_argcheck(L, at >= 0 && count >= 0, 2, "counts are >= 0");
    p->at = p->seen + (unsigned long)at;
    if (!at) p->at = 0;
    p->count = (unsigned long)count;
    return 0;
}

/* Pushes v as Lua values; an object that names a member twice is made a
 * key of the table at index dups. */
static void push_value(lua_State *L, const cJSON *v, int dups) {
    const cJSON *c;
    lua_Integer i = 0;
    luaL_checkstack(L, 4, "fuzz.json: nesting");
    if (cJSON_IsString(v)) {
        lua_pushstring(L, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        lua_pushnumber(L, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else if (cJSON_IsNull(v)) {
        lua_pushlightuserdata(L, NULL);
    } else if (cJSON_IsArray(v)) {
        lua_newtable(L);
        luaL_setmetatable(L, ARRAY);
        for (c = v->child; c; c = c->next) {
            push_value(L, c, dups);
            lua_rawseti(L, -2, ++i);
        }
    } else {
        lua_newtable(L);
        for (c = v->child; c; c = c->next) {
            lua_pushstring(L, c->string);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, -3) != LUA_TNIL) {
                lua_pushvalue(L, -3);
                lua_pushboolean(L, 1);
                lua_rawset(L, dups);
            }
            lua_pop(L, 1);
            push_value(L, c, dups);
            lua_rawset(L, -3);
        }
    }
}

static int l_json(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len), *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root || end != text + len) {
        cJSON_Delete(root);
        lua_pushnil(L);
        return 1;
    }
    /* A Lua error here (only from the stack check) would leak the tree:
     * the depth cJSON allows (CJSON_NESTING_LIMIT) fits the stack. */
    lua_newtable(L);
    push_value(L, root, lua_gettop(L));
    cJSON_Delete(root);
    lua_insert(L, -2);
    return 2;
}

static void free_chunks(void);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static const char *const env[] = {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK",
                                      "HUAWEICLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_PROJECT_ID",
                                      "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", NULL};
    const char *const *e;
    const char *lines = getenv("FUZZ_LUA_LINES");
    cJSON_Hooks hooks;
    FILE *f = fopen(DRIVER, "rb");
    (void)argc;
    (void)argv;
    if (!f) {
        fprintf(stderr, "binding: cannot read %s: run from the repository root\n", DRIVER);
        exit(2);
    }
    fclose(f);
    /* The client's configuration must come from the input alone. */
    for (e = env; *e; e++) unsetenv(*e);
    hooks.malloc_fn = json_malloc;
    hooks.free_fn = free;
    cJSON_InitHooks(&hooks);
    if (lines) {
        if (!(lines_out = fopen(lines, "w"))) {
            fprintf(stderr, "binding: cannot write %s\n", lines);
            exit(2);
        }
        atexit(write_lines);
    }
    atexit(free_chunks);
    return 0;
}

static int traceback(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* ---- compiled chunks ------------------------------------------------------- */

/* Each input gets a fresh lua_State: nothing one input did (a finalizer
 * left pending, a module half updated by a memory error) can change what
 * the next one sees, and lua_close frees all, so LeakSanitizer sees any
 * block the module lost (and a state kept across inputs would make
 * libFuzzer rerun nearly every input for leaks, its heap having grown).
 * What makes a state dear is compiling the library: each chunk (with its
 * debug information, for the line hook) is compiled once, the first time
 * it is required, and loaded from the bytes kept here afterwards. */
typedef struct {
    char *name; /* a module name, or the script's path */
    char *code;
    size_t len;
} chunk;

#define MAX_CHUNKS 64
static chunk chunks[MAX_CHUNKS];
static int nchunks;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
    chunk *c = ud;
    char *grown = realloc(c->code, c->len + n);
    (void)L;
    if (!grown) return 1;
    memcpy(grown + c->len, p, n);
    c->code = grown;
    c->len += n;
    return 0;
}

/* Pushes the compiled chunk name (a module, from package.path, or a
 * path); 0, or -1 with a message pushed. */
static int load_chunk(lua_State *L, const char *name, int is_module) {
    int i;
    chunk *c;
    for (i = 0; i < nchunks; i++)
        if (strcmp(chunks[i].name, name) == 0)
            return luaL_loadbufferx(L, chunks[i].code, chunks[i].len, name, "b") ? -1 : 0;
    if (is_module) {
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "searchpath");
        lua_pushstring(L, name);
        lua_getfield(L, -3, "path");
        lua_call(L, 2, 2);
        if (lua_isnil(L, -2)) {
            lua_replace(L, -3);
            lua_pop(L, 1);
            return -1;
        }
        lua_pop(L, 1);
        lua_replace(L, -2);
        i = luaL_loadfile(L, lua_tostring(L, -1));
        lua_remove(L, -2);
    } else {
        i = luaL_loadfile(L, name);
    }
    if (i) return -1;
    if (nchunks == MAX_CHUNKS) return 0;
    c = &chunks[nchunks];
    memset(c, 0, sizeof *c);
    if (lua_dump(L, dump_writer, c, 0) || !(c->name = strdup(name))) {
        free(c->code);
        return 0;
    }
    nchunks++;
    return 0;
}

/* package.searchers[2], for the library's modules: compiled once. */
static int searcher(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    if (load_chunk(L, name, 1)) return 1; /* the message: where it looked */
    lua_pushstring(L, name);
    return 2;
}

static void free_chunks(void) {
    int i;
    for (i = 0; i < nchunks; i++) {
        free(chunks[i].name);
        free(chunks[i].code);
    }
    nchunks = 0;
}

/* ---- the run ------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const luaL_Reg fns[] = {{"call", l_call}, {"plan", l_plan}, {"json", l_json}, {NULL, NULL}};
    lua_State *L = lua_newstate(lua_alloc, NULL);
    int st;
    if (!L) abort();
    memset(&lua_plan, 0, sizeof lua_plan);
    memset(&json_plan, 0, sizeof json_plan);
    cov_source = NULL;
    cov_prev = 0;
    luaL_openlibs(L);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    /* package.path: the checkout's library only, through the searcher
     * above; the C module: preloaded. */
    lua_getglobal(L, "package");
    lua_pushliteral(L, "./lua/?.lua;./lua/?/init.lua");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "searchers");
    lua_pushcfunction(L, searcher);
    lua_rawseti(L, -2, 2);
    lua_getfield(L, -2, "preload");
    lua_pushcfunction(L, luaopen_codearts_batchresult_core);
    lua_setfield(L, -2, "codearts.batchresult.core");
    lua_pop(L, 3);

    lua_pushcfunction(L, traceback);
    if (load_chunk(L, DRIVER, 0)) {
        fprintf(stderr, "binding: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pushlstring(L, (const char *)data, size);
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    luaL_newmetatable(L, ARRAY);
    lua_setfield(L, -2, "array");
    st = lua_pcall(L, 2, 0, 1);
    lua_plan.armed = json_plan.armed = 0;
    if (st != LUA_OK) {
        fprintf(stderr, "binding: check failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_close(L);
    return 0;
}
