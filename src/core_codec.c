/* Binding for the JSON codec: reading the caller's item lists, request
 * bodies out, answers into Lua tables.
 *
 * Every call owns its temporaries, so that a finalizer that runs in the
 * middle of a call (and calls the module itself) cannot touch them: the
 * encoders write into userdata made for the call (memory the collector
 * owns), and a parsed tree is turned into Lua tables in a protected call,
 * so that a Lua error (which unwinds with longjmp) cannot leak it. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "codec.h"
#include "core.h"

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
 * k-th name matches reuses the string instead of interning it again.  A
 * position whose member was null holds no name (NULL) until one comes. */
#define KEY_CACHE 16
typedef struct {
    const char *name[KEY_CACHE];
    int n;
} key_cache;

static int push_json(lua_State *L, const cJSON *v);

/* Pushes object v.  With kc (v is an item of an array), the array's key
 * table is on top of the stack on entry, and the names come from it. */
static int push_object(lua_State *L, const cJSON *v, key_cache *kc) {
    const cJSON *c;
    int k = 0, keys;
    if (!lua_checkstack(L, 4)) return -1;
    keys = lua_gettop(L);
    lua_createtable(L, 0, count_children(v));
    for (c = v->child; c; c = c->next, k++) {
        if (cJSON_IsNull(c) || !c->string) continue; /* null: the member is absent */
        if (kc && k < kc->n && kc->name[k] && strcmp(kc->name[k], c->string) == 0) {
            lua_rawgeti(L, keys, k + 1);
        } else {
            push_string(L, c->string);
            if (kc && k < KEY_CACHE) {
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

/* Pushes v as a Lua value; returns 0, or -1 when the Lua stack cannot
 * grow: Lua 5.2 and later say so by lua_checkstack's 0 when memory runs
 * out (5.1 and LuaJIT raise their memory error), or at the stack's limit,
 * which the decoder's cap on nesting (CJSON_NESTING_LIMIT) keeps us under.
 * Tables are created at their final size. */
static int push_json(lua_State *L, const cJSON *v) {
    const cJSON *c;
    int i;
    if (!lua_checkstack(L, 3)) return -1;
    if (cJSON_IsString(v)) {
        push_string(L, v->valuestring);
    } else if (cJSON_IsObject(v)) {
        if (push_object(L, v, NULL)) return -1;
    } else if (cJSON_IsArray(v)) {
        key_cache kc = {{NULL}, 0};
        lua_createtable(L, count_children(v), 0);
        lua_createtable(L, KEY_CACHE, 0); /* the cached key strings, by position */
        for (c = v->child, i = 1; c; c = c->next, i++) {
            if (cJSON_IsObject(c) ? push_object(L, c, &kc) : push_json(L, c)) return -1;
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

/* ---- reading the caller's lists ----------------------------------------- */

/* Pushes nil, index, field, problem, value, item: what is wrong with the
 * list's item i (1-based).  field is the name of the offending field (at
 * stack index field, 0 for none: the item itself is wrong), pushed as the
 * Lua string it is (a C string would end at a NUL the name may hold);
 * value is the offending value itself (at stack index bad) and item the
 * item holding it (at index item, 0 for none), so that the message can
 * show them without the list being read again. */
static int bad_item(lua_State *L, lua_Integer i, int field, const char *problem, int bad, int item) {
    bad = cab_absindex(L, bad);
    if (item) item = cab_absindex(L, item);
    if (field) field = cab_absindex(L, field);
    lua_pushnil(L);
    lua_pushinteger(L, i);
    if (field) lua_pushvalue(L, field); else lua_pushnil(L);
    lua_pushstring(L, problem);
    lua_pushvalue(L, bad);
    if (item) lua_pushvalue(L, item); else lua_pushnil(L);
    return 6;
}

/* Why the value on top of the stack is not an id, or NULL when it is one. */
static const char *id_problem(lua_State *L) {
    size_t len;
    const char *s;
    if (lua_type(L, -1) == LUA_TNIL) return "missing";
    if (lua_type(L, -1) != LUA_TSTRING) return "type";
    s = lua_tolstring(L, -1, &len);
    return cab_is_id(s, len) ? NULL : "format";
}

/* The count of the list's items: its keys 1..n, read raw.  Other keys (a
 * result set's `missing`, say) are not items.  A positive whole number key
 * past a missing one is a hole: -1 then, with *hole the first missing
 * index, and the largest key at stack index last, as the list holds it
 * (an integer past 2^53 is not the double it compares as). */
static lua_Integer count_items(lua_State *L, int list, lua_Integer *hole, int last) {
    lua_Integer count = 0;
    lua_Number max = 0;
    lua_pushnil(L);
    while (lua_next(L, list)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_Number k = lua_tonumber(L, -1);
            if (k >= 1 && k == floor(k)) {
                count++;
#if LUA_VERSION_NUM >= 503
                /* (integer keys past 2^53 may compare equal as doubles:
                 * those are compared exactly) */
                if (k > max || (k == max && lua_compare(L, last, -1, LUA_OPLT))) {
#else
                if (k > max) {
#endif
                    max = k;
                    lua_pushvalue(L, -1);
                    lua_replace(L, last);
                }
            }
        }
    }
    if ((lua_Number)count == max) return count;
    for (*hole = 1;; (*hole)++) {
        lua_rawgeti(L, list, (int)*hole);
        if (lua_isnil(L, -1)) break;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return -1;
}

/* core.read_items(list [, field, …]) -> flat, n
 *                                     | nil, index, field, problem, value, item
 * Reads the caller's list once, raw (no metamethod runs: an __index or
 * __len of the caller's cannot answer differently on a second look, and
 * none of the caller's code runs here), and checks it.  With no field,
 * each item is an id string; with fields, each item is a table whose
 * fields are id strings.  flat is a new table of the ids, item after item
 * (n items of max(1, #fields) ids each): the only copy the rest of the
 * library reads.  problem is "hole" (field nil, value the largest key),
 * "missing", "type" or "format" (not 32 ASCII letters or digits). */
#define MAX_FIELDS 8
static int l_read_items(lua_State *L) {
    int nf = lua_gettop(L) - 1, f, flat;
    lua_Integer n, i, hole = 0, k = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    if (nf > MAX_FIELDS) return luaL_error(L, "at most %d fields", MAX_FIELDS);
    for (f = 0; f < nf; f++) luaL_checktype(L, f + 2, LUA_TSTRING);
    lua_pushnil(L); /* count_items' largest key */
    /* Making the copy's table may run a finalizer, which may change the
     * list: it is counted again once the table is made, and made again
     * when the count changed.  From there on nothing allocates (the table
     * is presized), so the items read are the ones counted, all of the
     * list at one moment, never a mix of two (an item left out, unsaid). */
    for (;;) {
        if ((n = count_items(L, 1, &hole, nf + 2)) < 0) return bad_item(L, hole, 0, "hole", -1, 0);
        if (n > INT_MAX / (nf ? nf : 1)) return luaL_error(L, "too many items");
        lua_createtable(L, (int)(n * (nf ? nf : 1)), 0);
        if (count_items(L, 1, &hole, nf + 2) == n) break;
        lua_pop(L, 1);
    }
    flat = lua_gettop(L);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (int)i);
        if (nf == 0) {
            const char *why = id_problem(L);
            if (why) return bad_item(L, i, 0, why, -1, 0);
            lua_rawseti(L, flat, (int)++k);
            continue;
        }
        if (!lua_istable(L, -1)) return bad_item(L, i, 0, "type", -1, 0);
        for (f = 0; f < nf; f++) {
            const char *why;
            lua_pushvalue(L, f + 2);
            lua_rawget(L, -2);
            if ((why = id_problem(L)) != NULL) return bad_item(L, i, f + 2, why, -1, -2);
            lua_rawseti(L, flat, (int)++k);
        }
        lua_pop(L, 1);
    }
    lua_pushinteger(L, n);
    return 2;
}

/* A member name at argument arg (one to write, or to look for), as the C
 * string the codec takes: a name holding a NUL would be cut there and
 * name another member, and one holding another control character would
 * break the one-line message that names it ("body has no …"), so both are
 * refused.  (The names are operations.lua's, plain words.) */
static const char *check_name(lua_State *L, int arg) {
    size_t len, i;
    const char *s = luaL_checklstring(L, arg, &len);
    for (i = 0; i < len; i++)
        luaL_argcheck(L, (unsigned char)s[i] >= 0x20 && s[i] != 0x7f, arg,
                      "a member name must not hold a NUL or another control character");
    return s;
}

/* ---- request bodies ------------------------------------------------------- */

/* The range first..last of items (at arguments at and at + 1) of the flat
 * list at argument flat, each item `width` strings wide: checked against
 * the list's length; the count of items. */
static size_t item_range(lua_State *L, int flat, int at, int width, lua_Integer *first) {
    lua_Integer last = luaL_checkinteger(L, at + 1);
    *first = luaL_checkinteger(L, at);
    luaL_checktype(L, flat, LUA_TTABLE);
    luaL_argcheck(L, *first >= 1 && last >= *first && last <= (lua_Integer)(cab_rawlen(L, flat) / (size_t)width),
                  at + 1, "items out of range");
    return (size_t)(last - *first + 1);
}

/* Entry k (1-based) of the flat list at index flat, which must be a
 * string.  Taking it allocates nothing. */
static const char *flat_string(lua_State *L, int flat, lua_Integer k) {
    const char *s;
    lua_rawgeti(L, flat, (int)k);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "flat list entry %d is not a string", (int)k);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

/* The n pairs from item first on of the flat list at index 1. */
static void read_pairs(lua_State *L, lua_Integer first, size_t n, cab_pair *pairs) {
    size_t i;
    for (i = 0; i < n; i++) {
        lua_Integer k = (first - 1 + (lua_Integer)i) * 2;
        pairs[i].pipeline_id = flat_string(L, 1, k + 1);
        pairs[i].pipeline_run_id = flat_string(L, 1, k + 2);
    }
}

/* The n ids from item first on of the flat list at index 2. */
static void read_ids(lua_State *L, lua_Integer first, size_t n, const char **ids) {
    size_t i;
    for (i = 0; i < n; i++) ids[i] = flat_string(L, 2, first + (lua_Integer)i);
}

/* The encoders read the ids again once the output is allocated, and write
 * them only then: a finalizer run by that allocation may change the list
 * (a caller of core's holds it) and have what it held collected.  Should
 * the ids read then need more room, the output is allocated again. */

/* core.encode_query(flat, first, last) -> body
 * {"query":[{"pipeline_id":…,"pipeline_run_id":…},…]} for items first..last
 * of a flat list of pairs (read_items with the two id fields). */
static int l_encode_query(lua_State *L) {
    lua_Integer first;
    size_t n = item_range(L, 1, 2, 2, &first), size;
    cab_pair *pairs = lua_newuserdata(L, n * sizeof *pairs);
    char *out;
    read_pairs(L, first, n, pairs);
    for (;;) {
        out = lua_newuserdata(L, size = cab_query_size(pairs, n));
        read_pairs(L, first, n, pairs);
        if (cab_query_size(pairs, n) <= size) break;
        lua_pop(L, 1);
    }
    lua_pushlstring(L, out, cab_encode_query(pairs, n, out));
    return 1;
}

/* core.encode_ids(key, flat, first, last) -> body
 * {"<key>":["id1","id2",…]} for items first..last of a flat list of ids:
 * the BatchRunPipeline body with key "pipeline_ids". */
static int l_encode_ids(lua_State *L) {
    const char *key = check_name(L, 1);
    lua_Integer first;
    size_t n = item_range(L, 2, 3, 1, &first), size;
    const char **ids = lua_newuserdata(L, n * sizeof *ids);
    char *out;
    read_ids(L, first, n, ids);
    for (;;) {
        out = lua_newuserdata(L, size = cab_ids_size(key, ids, n));
        read_ids(L, first, n, ids);
        if (cab_ids_size(key, ids, n) <= size) break;
        lua_pop(L, 1);
    }
    lua_pushlstring(L, out, cab_encode_ids(key, ids, n, out));
    return 1;
}

/* ---- answers ------------------------------------------------------------ */

/* Runs the function below the top of the stack on the light userdata on
 * top, in protected mode, then frees the parsed tree and also (the
 * decoder's flaw array, or NULL), then raises again what it raised (a
 * memory error, most likely): neither is ever left behind.  Both were
 * pushed before the tree was parsed: on 5.1 and LuaJIT pushing a C
 * function allocates, and on LuaJIT (GC64) pushing an address may, and
 * either may raise.  The function leaves its nresults on the stack. */
static void with_tree(lua_State *L, cJSON *tree, void *also, int nresults) {
    int rc = lua_pcall(L, 1, nresults, 0);
    cJSON_Delete(tree);
    free(also);
    if (rc != 0) lua_error(L);
}

/* ---- answers read straight into tables (answer.h) ----------------------- */

/* The sink of cab_read_answer: each value pushed, an object's members
 * kept on the stack (name, value) until its end, then set in its table in
 * the body's order and at the size push_object makes it, so that the
 * table is the one the full decoder makes, its pairs order too. */

/* Room for the members (a name and a value each), then for the table and
 * the two copies that set each pair in it (review answer52: one short). */
static int table_begin_object(void *L) { return lua_checkstack(L, 2 * CAB_ANSWER_MEMBERS + 3); }

static void table_name(void *L, const char *p, size_t len) { lua_pushlstring(L, p, len); }

static void table_end_object(void *ud, size_t members, size_t not_null) {
    lua_State *L = ud;
    int base = lua_gettop(L) - 2 * (int)not_null, k;
    lua_createtable(L, 0, (int)members);
    if (not_null == 0) return;
    for (k = base + 1; k < base + 2 * (int)not_null; k += 2) {
        lua_pushvalue(L, k);
        lua_pushvalue(L, k + 1);
        lua_rawset(L, -3);
    }
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
}

static int table_begin_array(void *L) {
    if (!lua_checkstack(L, 3)) return 0;
    lua_newtable(L);
    return 1;
}

static void table_element(void *L, size_t i) { lua_rawseti(L, -2, (int)i); }

static void table_string(void *L, const char *p, size_t len) { lua_pushlstring(L, p, len); }

static void table_boolean(void *L, int b) { lua_pushboolean(L, b); }

/* A null member is absent (its name dropped); a null element the sentinel. */
static void table_null(void *L, int member) {
    if (member) lua_pop(L, 1);
    else lua_pushlightuserdata(L, NULL_SENTINEL);
}

static const cab_answer_sink TABLES = {table_begin_object, table_name,   table_end_object, table_begin_array,
                                       table_element,      table_string, table_boolean,    table_null};

/* A decoded answer, for push_result. */
typedef struct {
    const cJSON *result;
    const unsigned char *flawed; /* cab_decode_results's, or NULL */
    const char *why;             /* the first flawed item's flaw */
} decoded;

/* The result array, or nil when the Lua stack could not grow for it; then,
 * when items are flawed, the set of their places (from 1) and the first's
 * flaw. */
static int push_result(lua_State *L) {
    const decoded *d = lua_touserdata(L, 1);
    const cJSON *item;
    lua_Integer i = 0;
    if (push_json(L, d->result)) {
        lua_pushnil(L);
        return 1;
    }
    if (!d->flawed) return 1;
    lua_newtable(L);
    cJSON_ArrayForEach(item, d->result) {
        if (d->flawed[i++]) {
            lua_pushboolean(L, 1);
            lua_rawseti(L, -2, i);
        }
    }
    lua_pushstring(L, d->why);
    return 3;
}

#define NO_ROOM "Lua's stack cannot grow for the answer's items (out of memory, or at its limit)"

/* core.decode_results(body, list, id_field...) -> array [, flawed, why] |
 * nil, message [, "INTERNAL" when the decoder's own memory ran out, or the
 * Lua stack's: the body may be right].  The answer's items are under the
 * member named list; each named id field must be a string member of every
 * item.  With no id fields, items that name a member twice are flawed:
 * flawed is the set of their places, why the first's flaw
 * (cab_decode_results). */
static int l_decode_results(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *list = check_name(L, 2);
    const char *ids[MAX_FIELDS + 1];
    int nids = lua_gettop(L) - 2, i, top;
    const cJSON *result;
    unsigned char *flawed;
    cab_decode_error err;
    decoded d;
    cJSON *tree;
    if (nids > MAX_FIELDS) return luaL_error(L, "at most %d id fields", MAX_FIELDS);
    for (i = 0; i < nids; i++) ids[i] = check_name(L, i + 3);
    ids[nids] = NULL;
    /* Most answers are read straight into tables; the rest by cJSON's
     * tree, which alone words a refusal. */
    top = lua_gettop(L);
    if (cab_read_answer(body, len, list, ids, &TABLES, L)) {
        lua_pushnil(L);
        lua_pushnil(L);
        return 3;
    }
    lua_settop(L, top);
    lua_pushcfunction(L, push_result);
    lua_pushlightuserdata(L, &d);
    if (!(tree = cab_decode_results(body, len, list, ids, &result, &flawed, &err))) {
        cab_fail(L, "%s", err.message);
        if (!err.nomem) return 2;
        lua_pushliteral(L, "INTERNAL");
        return 3;
    }
    d.result = result;
    d.flawed = flawed;
    d.why = err.message;
    with_tree(L, tree, flawed, 3);
    if (lua_isnil(L, -3)) {
        /* Memory, not the body: the nesting was capped in the decoder. */
        cab_fail(L, "%s", NO_ROOM);
        lua_pushliteral(L, "INTERNAL");
    }
    return 3;
}

static void push_or_nil(lua_State *L, const char *s) {
    if (s) lua_pushstring(L, s); else lua_pushnil(L);
}

static int push_error(lua_State *L) {
    const cab_api_error *e = lua_touserdata(L, 1);
    push_or_nil(L, e->code);
    push_or_nil(L, e->message);
    push_or_nil(L, e->request_id);
    push_or_nil(L, e->nomem ? "INTERNAL" : NULL);
    return 4;
}

/* core.decode_error(body) -> code, message, request_id (each nil when the
 * body does not say) [, "INTERNAL" when memory ran out reading it: the
 * body may say]. */
static int l_decode_error(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    cab_api_error e;
    cJSON *tree;
    lua_pushcfunction(L, push_error);
    lua_pushlightuserdata(L, &e);
    tree = cab_decode_error_body(body, len, &e);
    with_tree(L, tree, NULL, 4);
    return 4;
}

void cab_register_codec(lua_State *L) {
    static const luaL_Reg fns[] = {{"read_items", l_read_items},
                                   {"encode_query", l_encode_query},
                                   {"encode_ids", l_encode_ids},
                                   {"decode_results", l_decode_results},
                                   {"decode_error", l_decode_error},
                                   {NULL, NULL}};
    cab_setfuncs(L, fns);
    lua_pushlightuserdata(L, NULL_SENTINEL);
    lua_setfield(L, -2, "null");
}
