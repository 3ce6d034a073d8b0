/* Binding for the signer: core.signer(sk) returns a handle that signs
 * requests with that key. */
#include <string.h>

#include "core.h"
#include "sign.h"

#define SIGNER "codearts.batchresult.signer"

typedef struct {
    cab_signer *s;
    cab_buf auth;
} signer_box;

static signer_box *check_box(lua_State *L) {
    signer_box *b = luaL_checkudata(L, 1, SIGNER);
    if (!b->s) luaL_argerror(L, 1, "signer is closed");
    return b;
}

static int signer_gc(lua_State *L) {
    signer_box *b = luaL_checkudata(L, 1, SIGNER);
    cab_signer_free(b->s);
    b->s = NULL;
    cab_buf_free(&b->auth);
    return 0;
}

/* Says what it is and nothing of the key. */
static int signer_tostring(lua_State *L) {
    signer_box *b = luaL_checkudata(L, 1, SIGNER);
    lua_pushstring(L, b->s ? "codearts.batchresult signer" : "codearts.batchresult signer (closed)");
    return 1;
}

/* core.signer(sk) -> signer | nil, message */
static int l_signer(lua_State *L) {
    size_t len;
    const char *sk = luaL_checklstring(L, 1, &len);
    signer_box *b;
    cab_sign_status st;
    if (len == 0) return cab_fail(L, "secret key is empty");
    b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, SIGNER);
    lua_setmetatable(L, -2);
    if ((st = cab_signer_new(&b->s, sk, len)) != CAB_SIGN_OK)
        return cab_fail(L, "%s", cab_sign_strerror(st));
    return 1;
}

/* Collects a {name = value} table into hs; returns the count, or -1 with
 * an error message pushed. */
static int collect_headers(lua_State *L, int idx, cab_header *hs) {
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            lua_pushliteral(L, "header names must be strings");
            return -1;
        }
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pushfstring(L, "header '%s': value must be a string", lua_tostring(L, -2));
            lua_replace(L, -3);
            lua_pop(L, 1);
            return -1;
        }
        if (n == CAB_MAX_HEADERS) {
            lua_pop(L, 2);
            lua_pushfstring(L, "more than %d headers", CAB_MAX_HEADERS);
            return -1;
        }
        /* The strings stay referenced by the table while we sign. */
        hs[n].name = lua_tolstring(L, -2, &hs[n].name_len);
        hs[n].value = lua_tolstring(L, -1, &hs[n].value_len);
        n++;
        lua_pop(L, 1);
    }
    return n;
}

/* signer:sign(ak, method, path, query, headers, body) -> authorization
 * | nil, message */
static int l_sign(lua_State *L) {
    signer_box *b = check_box(L);
    cab_header hs[CAB_MAX_HEADERS];
    cab_request req;
    size_t ak_len;
    const char *ak = luaL_checklstring(L, 2, &ak_len);
    cab_sign_status st;
    int n;
    req.method = luaL_checklstring(L, 3, &req.method_len);
    req.path = luaL_checklstring(L, 4, &req.path_len);
    req.query = luaL_optlstring(L, 5, "", &req.query_len);
    luaL_checktype(L, 6, LUA_TTABLE);
    req.body = luaL_optlstring(L, 7, "", &req.body_len);
    if ((n = collect_headers(L, 6, hs)) < 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    req.headers = hs;
    req.n_headers = (size_t)n;
    st = cab_sign(b->s, &req, ak, ak_len, &b->auth);
    if (st == CAB_SIGN_BAD_HEADER_NAME || st == CAB_SIGN_BAD_HEADER_VALUE ||
        st == CAB_SIGN_DUP_HEADER || st == CAB_SIGN_BAD_DATE) {
        const cab_header *h = &hs[cab_signer_canon(b->s)->bad_header];
        lua_pushlstring(L, h->name, h->name_len);
        return cab_fail(L, "header '%s': %s", lua_tostring(L, -1), cab_sign_strerror(st));
    }
    if (st != CAB_SIGN_OK) return cab_fail(L, "%s", cab_sign_strerror(st));
    lua_pushlstring(L, b->auth.data, b->auth.len);
    return 1;
}

/* signer:last() -> canonical request, string to sign, signed headers of
 * the last successful sign: what to compare when a gateway says the
 * signature does not match. */
static int l_last(lua_State *L) {
    signer_box *b = check_box(L);
    const cab_canon *c = cab_signer_canon(b->s);
    const cab_buf *sts = cab_signer_string_to_sign(b->s);
    lua_pushlstring(L, c->canonical.data ? c->canonical.data : "", c->canonical.len);
    lua_pushlstring(L, sts->data ? sts->data : "", sts->len);
    lua_pushlstring(L, c->signed_headers.data ? c->signed_headers.data : "", c->signed_headers.len);
    return 3;
}

static int l_close(lua_State *L) {
    luaL_checkudata(L, 1, SIGNER);
    return signer_gc(L);
}

void cab_register_signer(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"sign", l_sign}, {"last", l_last}, {"close", l_close}, {NULL, NULL}};
    cab_new_class(L, SIGNER, methods, signer_gc, signer_tostring);
    lua_pushcfunction(L, l_signer);
    lua_setfield(L, -2, "signer");
}
