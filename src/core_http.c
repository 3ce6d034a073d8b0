/* Binding for the libcurl transport: core.http(options) returns a handle
 * whose request() blocks until the answer is in.  No Lua code runs inside
 * libcurl's callbacks, so a Lua error can never unwind through libcurl. */
#include <string.h>

#include "core.h"
#include "http.h"

#define HTTP "codearts.batchresult.http"

typedef struct {
    cab_http *h;
    cab_buf lines; /* "Name: value\0" lines of the request being sent */
} http_box;

static int http_gc(lua_State *L) {
    http_box *b = luaL_checkudata(L, 1, HTTP);
    cab_http_free(b->h);
    b->h = NULL;
    cab_buf_free(&b->lines);
    return 0;
}

static int http_tostring(lua_State *L) {
    http_box *b = luaL_checkudata(L, 1, HTTP);
    lua_pushstring(L, b->h ? "codearts.batchresult http" : "codearts.batchresult http (closed)");
    return 1;
}

static long opt_ms(lua_State *L, int t, const char *name, double dflt) {
    double s;
    lua_getfield(L, t, name);
    s = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    if (!(s >= 0 && s <= 86400 * 365)) luaL_error(L, "option %s: must be seconds >= 0", name);
    return (long)(s * 1000 + 0.5);
}

static const char *opt_string(lua_State *L, int t, const char *name) {
    const char *s;
    lua_getfield(L, t, name);
    s = luaL_optstring(L, -1, NULL); /* stays alive: the table holds it */
    lua_pop(L, 1);
    return s;
}

/* core.http{ timeout, connect_timeout, ca_file, proxy } -> handle | nil, message */
static int l_http(lua_State *L) {
    cab_http_options o;
    http_box *b;
    char err[256];
    luaL_checktype(L, 1, LUA_TTABLE);
    o.timeout_ms = opt_ms(L, 1, "timeout", 30);
    o.connect_timeout_ms = opt_ms(L, 1, "connect_timeout", 10);
    o.ca_file = opt_string(L, 1, "ca_file");
    o.proxy = opt_string(L, 1, "proxy");
    b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, HTTP);
    lua_setmetatable(L, -2);
    if (!(b->h = cab_http_new(&o, err, sizeof err))) return cab_fail(L, "%s", err);
    return 1;
}

static const char *kind_name(cab_http_status st) {
    switch (st) {
    case CAB_HTTP_TIMEOUT: return "TIMEOUT";
    case CAB_HTTP_TLS: return "TLS";
    case CAB_HTTP_NETWORK: return "NETWORK";
    case CAB_HTTP_NOMEM: return "NOMEM";
    default: return "USAGE";
    }
}

/* http:request(method, url, headers, body)
 *   -> status, body, request_id, date, retry_after
 *    | nil, kind ("NETWORK", "TIMEOUT", "TLS", ...), message
 * headers is a {name = value} table; values were checked for CR/LF/NUL by
 * the signer or the Lua layer before they get here. */
static int l_request(lua_State *L) {
    http_box *b = luaL_checkudata(L, 1, HTTP);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t body_len, n = 0, i;
    const char *body;
    const char *ptrs[64];
    size_t offs[64];
    char err[256];
    cab_http_status st;
    const cab_http_response *r;

    luaL_checktype(L, 4, LUA_TTABLE);
    body = luaL_optlstring(L, 5, "", &body_len);
    if (!b->h) return luaL_argerror(L, 1, "http handle is closed");

    cab_buf_clear(&b->lines);
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        size_t nl, vl;
        const char *name, *value;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "headers must map strings to strings");
        if (n == sizeof offs / sizeof offs[0]) return luaL_error(L, "too many headers");
        name = lua_tolstring(L, -2, &nl);
        value = lua_tolstring(L, -1, &vl);
        offs[n++] = b->lines.len;
        if (cab_buf_add(&b->lines, name, nl) || cab_buf_add(&b->lines, ": ", 2) ||
            cab_buf_add(&b->lines, value, vl) || cab_buf_add(&b->lines, "", 1))
            return luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    /* The buffer may have moved while growing: take pointers only now. */
    for (i = 0; i < n; i++) ptrs[i] = b->lines.data + offs[i];

    st = cab_http_request(b->h, method, url, ptrs, n, body, body_len, err, sizeof err);
    if (st != CAB_HTTP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, kind_name(st));
        lua_pushstring(L, err);
        return 3;
    }
    r = cab_http_last(b->h);
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    if (r->request_id[0]) lua_pushstring(L, r->request_id); else lua_pushnil(L);
    if (r->date[0]) lua_pushstring(L, r->date); else lua_pushnil(L);
    if (r->retry_after[0]) lua_pushstring(L, r->retry_after); else lua_pushnil(L);
    return 5;
}

static int l_close(lua_State *L) {
    luaL_checkudata(L, 1, HTTP);
    return http_gc(L);
}

void cab_register_http(lua_State *L) {
    static const luaL_Reg methods[] = {{"request", l_request}, {"close", l_close}, {NULL, NULL}};
    cab_new_class(L, HTTP, methods, http_gc, http_tostring);
    lua_pushcfunction(L, l_http);
    lua_setfield(L, -2, "http");
}
