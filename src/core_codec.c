/* Binding for the JSON codec: request bodies from Lua tables, answers into
 * Lua tables. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "core.h"

#define JSON_GUARD "codearts.batchresult.json"
#define OUT_BUF "codearts.batchresult.outbuf"

/* A parsed tree is owned by a userdata while Lua tables are built from it,
 * so that a Lua memory error (which unwinds with longjmp) cannot leak it.
 * One guard per module instance (an upvalue of the decoders), reused:
 * a tree left behind by an error is freed on the next call or at exit. */
typedef struct {
    cJSON *root;
} json_guard;

static int guard_gc(lua_State *L) {
    json_guard *g = luaL_checkudata(L, 1, JSON_GUARD);
    cJSON_Delete(g->root);
    g->root = NULL;
    return 0;
}

static int guard_tostring(lua_State *L) {
    lua_pushliteral(L, "codearts.batchresult json tree");
    return 1;
}

static json_guard *guard(lua_State *L) {
    json_guard *g = lua_touserdata(L, lua_upvalueindex(1));
    cJSON_Delete(g->root); /* left by an earlier call that a Lua error cut short */
    g->root = NULL;
    return g;
}

static void release_guard(json_guard *g) {
    cJSON_Delete(g->root);
    g->root = NULL;
}

/* The sentinel for a JSON null inside an array, where nil would leave a
 * hole; a null object member is simply absent. */
#define NULL_SENTINEL ((void *)0)

static int count_children(const cJSON *v) {
    int n = 0;
    for (v = v->child; v; v = v->next) n++;
    return n;
}

static void push_string(lua_State *L, const char *s) {
    /* With the length in hand Lua interns the string directly, skipping
     * the C-string cache lookup lua_pushstring does. */
    lua_pushlstring(L, s, strlen(s));
}

/* Arrays of objects (the result list) repeat the same member names in the
 * same order.  The names of the first object are kept, by position, as Lua
 * strings in a table just under the array's items; a later object whose
 * k-th name matches reuses the string instead of interning it again. */
#define KEY_CACHE 16
typedef struct {
    const char *name[KEY_CACHE];
    int n;
} key_cache;

static int push_json(lua_State *L, const cJSON *v);

/* Pushes object v, an item of an array; the array's key table is on top of
 * the stack on entry. */
static int push_record(lua_State *L, const cJSON *v, key_cache *kc) {
    const cJSON *c;
    int k = 0, keys;
    if (!lua_checkstack(L, 4)) return -1;
    keys = lua_gettop(L);
    lua_createtable(L, 0, count_children(v));
    for (c = v->child; c; c = c->next, k++) {
        if (cJSON_IsNull(c) || !c->string) continue; /* null: the member is absent */
        if (k < kc->n && strcmp(kc->name[k], c->string) == 0) {
            lua_rawgeti(L, keys, k + 1);
        } else {
            push_string(L, c->string);
            if (k < KEY_CACHE) {
                /* Remember this name at this position (replacing any other). */
                lua_pushvalue(L, -1);
                lua_rawseti(L, keys, k + 1);
                kc->name[k] = c->string;
                if (k >= kc->n) kc->n = k + 1;
            }
        }
        if (push_json(L, c)) return -1;
        lua_rawset(L, -3);
    }
    return 0;
}

/* Pushes v as a Lua value; returns 0, or -1 when nesting outruns the Lua
 * stack (cJSON itself stops at CJSON_NESTING_LIMIT).  Tables are created
 * at their final size. */
static int push_json(lua_State *L, const cJSON *v) {
    const cJSON *c;
    int i;
    if (!lua_checkstack(L, 3)) return -1;
    if (cJSON_IsString(v)) {
        push_string(L, v->valuestring);
    } else if (cJSON_IsObject(v)) {
        lua_createtable(L, 0, count_children(v));
        for (c = v->child; c; c = c->next) {
            if (cJSON_IsNull(c) || !c->string) continue; /* null: the member is absent */
            push_string(L, c->string);
            if (push_json(L, c)) return -1;
            lua_rawset(L, -3);
        }
    } else if (cJSON_IsArray(v)) {
        key_cache kc;
        kc.n = 0;
        lua_createtable(L, count_children(v), 0);
        lua_createtable(L, KEY_CACHE, 0); /* the cached key strings, by position */
        for (c = v->child, i = 1; c; c = c->next, i++) {
            if (cJSON_IsObject(c) ? push_record(L, c, &kc) : push_json(L, c)) return -1;
            lua_rawseti(L, -3, i);
        }
        lua_pop(L, 1);
    } else if (cJSON_IsNumber(v)) {
        cab_pushnumber(L, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else {
        lua_pushlightuserdata(L, NULL_SENTINEL);
    }
    return 0;
}

/* The output buffer the encoders share: one per module instance, an
 * upvalue, so a steady stream of requests allocates no output memory. */
static cab_buf *out_buf(lua_State *L) {
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int out_gc(lua_State *L) {
    cab_buf_free(luaL_checkudata(L, 1, OUT_BUF));
    return 0;
}

static int out_tostring(lua_State *L) {
    lua_pushliteral(L, "codearts.batchresult output buffer");
    return 1;
}

static const char *const ID_FIELDS[] = {"pipeline_id", "pipeline_run_id"};

/* Pushes nil, index, field, problem, detail: what is wrong with item i of
 * a list (see l_check_query).  detail is the type of the offending value,
 * which sits at stack index bad. */
static int bad_item(lua_State *L, size_t i, const char *field, const char *problem, int bad) {
    bad = cab_absindex(L, bad);
    lua_pushnil(L);
    lua_pushinteger(L, (lua_Integer)(i + 1));
    if (field) lua_pushstring(L, field); else lua_pushnil(L);
    lua_pushstring(L, problem);
    lua_pushstring(L, luaL_typename(L, bad));
    return 5;
}

/* Checks the id at the top of the stack; NULL when it is not one. */
static const char *top_id(lua_State *L) {
    size_t len;
    const char *id;
    if (lua_type(L, -1) != LUA_TSTRING) return NULL;
    id = lua_tolstring(L, -1, &len);
    return cab_is_id(id, len) ? id : NULL;
}

/* Walks the pairs in the table at idx, filling out (when not NULL).
 * Returns 0, or the count of values bad_item pushed.  The id strings stay
 * referenced by the table. */
static int collect_pairs(lua_State *L, int idx, size_t n, cab_pair *out) {
    size_t i;
    int f;
    for (i = 0; i < n; i++) {
        const char *ids[2];
        lua_rawgeti(L, idx, (int)(i + 1));
        if (!lua_istable(L, -1)) return bad_item(L, i, NULL, "type", -1);
        for (f = 0; f < 2; f++) {
            lua_getfield(L, -1 - f, ID_FIELDS[f]);
            if (!(ids[f] = top_id(L)))
                return bad_item(L, i, ID_FIELDS[f],
                                lua_isnil(L, -1) ? "missing" : lua_type(L, -1) == LUA_TSTRING ? "format" : "type",
                                -1);
        }
        if (out) {
            out[i].pipeline_id = ids[0];
            out[i].pipeline_run_id = ids[1];
        }
        lua_pop(L, 3);
    }
    return 0;
}

/* core.check_query(pairs) -> true | nil, index, field, problem, detail
 * pairs is an array of tables with pipeline_id and pipeline_run_id, each
 * 32 ASCII letters or digits.  On a bad item: its index, the field (nil
 * when the item itself is not a table), the problem ("missing", "type" or
 * "format": not 32 letters or digits) and the type of the bad value. */
static int l_check_query(lua_State *L) {
    int bad;
    luaL_checktype(L, 1, LUA_TTABLE);
    if ((bad = collect_pairs(L, 1, cab_rawlen(L, 1), NULL))) return bad;
    lua_pushboolean(L, 1);
    return 1;
}

/* core.encode_query(pairs) -> body | nil, index, field, problem, detail
 * Checks (as check_query) and encodes in one pass. */
static int l_encode_query(lua_State *L) {
    size_t n;
    int bad;
    cab_pair *pairs;
    cab_buf *out = out_buf(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    n = cab_rawlen(L, 1);
    /* The array of pointers lives in a userdata so that it is freed even
     * if a Lua error interrupts. */
    pairs = lua_newuserdata(L, (n ? n : 1) * sizeof *pairs);
    if ((bad = collect_pairs(L, 1, n, pairs))) return bad;
    if (cab_encode_query(pairs, n, out)) return luaL_error(L, "out of memory encoding the query");
    lua_pushlstring(L, out->data, out->len);
    return 1;
}

/* Walks the ids in the table at idx, filling out (when not NULL); returns
 * 0, or the count of values bad_item pushed. */
static int collect_ids(lua_State *L, int idx, size_t n, const char **out) {
    size_t i;
    for (i = 0; i < n; i++) {
        const char *id;
        lua_rawgeti(L, idx, (int)(i + 1));
        if (!(id = top_id(L)))
            return bad_item(L, i, NULL, lua_type(L, -1) == LUA_TSTRING ? "format" : "type", -1);
        if (out) out[i] = id;
        lua_pop(L, 1);
    }
    return 0;
}

/* core.check_run(pipeline_ids) -> true | nil, index, nil, problem, detail */
static int l_check_run(lua_State *L) {
    int bad;
    luaL_checktype(L, 1, LUA_TTABLE);
    if ((bad = collect_ids(L, 1, cab_rawlen(L, 1), NULL))) return bad;
    lua_pushboolean(L, 1);
    return 1;
}

/* core.encode_run(pipeline_ids) -> body | nil, index, nil, problem, detail
 * {"pipeline_ids":[…]} for BatchRunPipeline, each id checked as above. */
static int l_encode_run(lua_State *L) {
    size_t n;
    int bad;
    const char **ids;
    cab_buf *out = out_buf(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    n = cab_rawlen(L, 1);
    ids = lua_newuserdata(L, (n ? n : 1) * sizeof *ids);
    if ((bad = collect_ids(L, 1, n, ids))) return bad;
    if (cab_encode_ids("pipeline_ids", ids, n, out)) return luaL_error(L, "out of memory encoding the ids");
    lua_pushlstring(L, out->data, out->len);
    return 1;
}

/* core.decode_results(body, id_field...) -> array | nil, message.  Each
 * named field must be a string member of every result. */
static int l_decode_results(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *ids[8];
    int nids = lua_gettop(L) - 1, i;
    const cJSON *result;
    cab_decode_error err;
    json_guard *g;
    if (nids > 7) return luaL_error(L, "at most 7 id fields");
    for (i = 0; i < nids; i++) ids[i] = luaL_checkstring(L, i + 2);
    ids[nids] = NULL;
    g = guard(L);
    g->root = cab_decode_results(body, len, ids, &result, &err);
    if (!g->root) return cab_fail(L, "%s", err.message);
    if (push_json(L, result)) {
        release_guard(g);
        return cab_fail(L, "JSON nested too deeply");
    }
    release_guard(g);
    return 1;
}

/* core.decode_error(body) -> code, message, request_id (each nil when the
 * body does not say). */
static int l_decode_error(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    cab_api_error e;
    json_guard *g = guard(L);
    g->root = cab_decode_error_body(body, len, &e);
    if (e.code) lua_pushstring(L, e.code); else lua_pushnil(L);
    if (e.message) lua_pushstring(L, e.message); else lua_pushnil(L);
    if (e.request_id) lua_pushstring(L, e.request_id); else lua_pushnil(L);
    release_guard(g);
    return 3;
}

/* Registers fns as closures over the userdata on top of the stack (which
 * is left there), into the module table just under it. */
static void set_closures(lua_State *L, const luaL_Reg *fns) {
    for (; fns->name; fns++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, fns->func, 1);
        lua_setfield(L, -3, fns->name);
    }
}

void cab_register_codec(lua_State *L) {
    static const luaL_Reg none[] = {{NULL, NULL}};
    static const luaL_Reg encoders[] = {{"check_query", l_check_query},
                                        {"encode_query", l_encode_query},
                                        {"check_run", l_check_run},
                                        {"encode_run", l_encode_run},
                                        {NULL, NULL}};
    static const luaL_Reg decoders[] = {{"decode_results", l_decode_results},
                                        {"decode_error", l_decode_error},
                                        {NULL, NULL}};
    cab_buf *b;
    json_guard *g;
    cab_new_class(L, OUT_BUF, none, out_gc, out_tostring);
    cab_new_class(L, JSON_GUARD, none, guard_gc, guard_tostring);

    b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, OUT_BUF);
    lua_setmetatable(L, -2);
    set_closures(L, encoders);
    lua_pop(L, 1);

    g = lua_newuserdata(L, sizeof *g);
    g->root = NULL;
    luaL_getmetatable(L, JSON_GUARD);
    lua_setmetatable(L, -2);
    set_closures(L, decoders);
    lua_pop(L, 1);

    lua_pushlightuserdata(L, NULL_SENTINEL);
    lua_setfield(L, -2, "null");
}
