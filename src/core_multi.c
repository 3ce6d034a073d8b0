/* Binding for the libcurl transport.  core.multi() returns a client's
 * handle, which handle:open(options) opens at its first call: its
 * connections, shared by every call.  handle:call()
 * returns a call's view of it (a group of transfers, see multi.h): start()
 * hands a request over; next() drives all transfers until one of the
 * call's is answered; cancel() and close() abandon the call's transfers,
 * and so does the collector when a call is left behind (a coroutine never
 * resumed).  call:take() gives an outcome already in without driving
 * anything, even once the client is closed: the handle's outcomes not
 * yet taken are kept for their calls when it is freed.  An event loop
 * drives the handle instead with watch(), act() and unwatch() (see
 * multi.h), learns which calls to wake from news() and call:group(), and
 * asks one call with call:ready().  No Lua code runs inside libcurl's
 * callbacks, so a Lua error can never unwind through libcurl. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "limit.h"
#include "multi.h"

static const char MULTI[] = "codearts.batchresult.multi";
static const char CALL[] = "codearts.batchresult.call";

typedef struct call_box call_box;

typedef struct {
    const char *tag;      /* MULTI (cab_toudata) */
    cab_multi *m;         /* NULL once closed */
    cab_multi *inherited; /* a parent process's handle, never used nor freed here */
    cab_buf lines;        /* "Name: value\0" lines of the request being started */
    int closing;          /* close() came while lending a descriptor: free
                             once given back */
    int shut;             /* closed or finalized: never opened again */
    call_box *calls;      /* its calls not yet closed, for keep_outcomes */
} multi_box;

/* How one of a call's transfers ended, moved out of the handle before
 * the call took it (keep_outcomes); or, with nothing in it, a spare: the
 * room to keep one in. */
typedef struct kept_outcome {
    struct kept_outcome *next;
    int slot;
    cab_http_status st;
    int not_sent, cut;
    char err[CAB_EASY_ERR_SIZE]; /* when st is not CAB_HTTP_OK */
    cab_http_response r;         /* when it is */
    int went_out;                /* and cab_multi_went_out said so */
} kept_outcome;

struct call_box {
    const char *tag; /* CALL (cab_toudata) */
    multi_box *box;  /* kept alive by the call's user value */
    unsigned long group;
    int closed;
    call_box *prev, *next; /* in box->calls while not closed */
    kept_outcome *kept;    /* first finished first; the call owns them */
    kept_outcome *spare;   /* one for each transfer started whose outcome
                              was neither given nor kept, nor abandoned
                              (spare_add) */
    kept_outcome *given;   /* the outcome next() or take() gave last, until
                              ack() (or the next next()): take() gives it
                              again, should the caller have been stopped
                              (Ctrl-C) before it noted it */
};

static void kept_free(kept_outcome **list) {
    while (*list) {
        kept_outcome *k = *list;
        *list = k->next;
        cab_buf_free(&k->r.body);
        free(k);
    }
}

static void given_drop(call_box *c) {
    kept_free(&c->given);
}

static void kept_drop(call_box *c) {
    kept_free(&c->kept);
    kept_free(&c->spare);
    given_drop(c);
}

/* Makes the room to keep the outcome of a transfer about to start:
 * keeping comes when memory may be out (a close, a cancel after a memory
 * error), and must not lose the answer for want of it.  0, or -1 when
 * memory ran out. */
static int spare_add(call_box *c) {
    kept_outcome *k = calloc(1, sizeof *k);
    if (!k) return -1;
    k->next = c->spare;
    c->spare = k;
    return 0;
}

/* Frees the room of a transfer whose outcome was given, or that did not
 * start (a call closed meanwhile has none: kept_drop freed them). */
static void spare_drop(call_box *c) {
    kept_outcome *k = c->spare;
    if (!k) return;
    c->spare = k->next;
    free(k);
}

/* The outcome of c's finished slot, moved out of b's handle into its
 * transfer's spare, and the slot released.  Nothing is allocated: the
 * body is moved, not copied. */
static kept_outcome *kept_from(multi_box *b, call_box *c, int slot, cab_http_status st, int not_sent,
                               const char *err) {
    kept_outcome *k = c->spare;
    c->spare = k->next;
    k->next = NULL;
    k->slot = slot;
    k->st = st;
    k->not_sent = not_sent;
    if (st != CAB_HTTP_OK) {
        k->cut = cab_multi_words_cut(b->m, slot);
        snprintf(k->err, sizeof k->err, "%s", err);
    } else {
        const cab_http_response *r = cab_multi_response(b->m, slot);
        k->r.status = r->status;
        k->r.fields = r->fields;
        k->went_out = cab_multi_went_out(b->m, slot);
        cab_multi_move_body(b->m, slot, &k->r.body);
    }
    cab_multi_release(b->m, slot);
    return k;
}

/* Call c's outcomes that b's handle holds, not yet taken, move into c's
 * memory, to be taken with take(): the handle is about to be freed (the
 * client closed) or the call's transfers abandoned, and these are
 * answers the process has read (a run's is the only word of which
 * pipelines started) that the caller's own code was running past (a
 * callback that closes the client, see batch.lua), or that a drive for
 * another call finished (kept_from). */
static void keep_outcomes(multi_box *b, call_box *c) {
    kept_outcome **tail = &c->kept;
    cab_http_status st;
    char err[CAB_EASY_ERR_SIZE];
    int slot, not_sent;
    while (*tail) tail = &(*tail)->next;
    while ((slot = cab_multi_take(b->m, c->group, &st, &not_sent, err, sizeof err)) >= 0) {
        *tail = kept_from(b, c, slot, st, not_sent, err);
        tail = &(*tail)->next;
    }
}

/* Frees what b holds, its calls' outcomes not yet taken kept out of it
 * first, unless a parent process made it: a forked child
 * must not close the connections it shares with its parent through
 * libcurl (which would write TLS close_notify and HTTP/2 GOAWAY on them),
 * so it keeps the handle, unused, for the rest of its life, and only lets
 * go of its descriptors of them (else the parent's close would not end
 * them while the child lives). */
static void multi_free(multi_box *b) {
    if (b->m && cab_multi_inherited(b->m)) {
        cab_multi_disown(b->m);
        b->inherited = b->m;
    } else {
        call_box *c;
        for (c = b->calls; b->m && c; c = c->next) keep_outcomes(b, c);
        cab_multi_free(b->m);
    }
    b->m = NULL;
    b->closing = 0;
    cab_buf_free(&b->lines);
}

static int multi_gc(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    b->shut = 1;
    multi_free(b);
    return 0;
}

static int multi_tostring(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    lua_pushstring(L, b->m      ? "codearts.batchresult transport"
                      : b->shut ? "codearts.batchresult transport (closed)"
                                : "codearts.batchresult transport (not yet open)");
    return 1;
}

/* While an event loop watches the descriptor the handle lent it, the
 * handle stays open until given back (unwatch): a close meanwhile only
 * marks it, done then.  (No call pushes an answer out of the handle's
 * memory: give moves it out first.) */
static void close_if_free(multi_box *b) {
    if (b->closing && !(b->m && !cab_multi_inherited(b->m) && cab_multi_lent(b->m))) multi_free(b);
}

/* A call whose handle is still open; NULL (with nil, "INTERNAL", why
 * pushed) when the client was closed, or the handle is a parent
 * process's. */
static call_box *check_call(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    /* In a child forked during the call, the handle is the parent's: it
     * is never driven here (the call ends, call.lua). */
    if (c->closed || !c->box->m || c->box->closing || cab_multi_inherited(c->box->m)) {
        lua_pushnil(L);
        lua_pushliteral(L, "INTERNAL");
        lua_pushliteral(L, "the transport was closed");
        return NULL;
    }
    return c;
}

/* The options and arguments come from config.lua and exchange.lua, which
 * checked them against the same limits (core.limits); a value outside them
 * here is a programming error, so it raises.  Tables are read raw. */

static void raw_field(lua_State *L, int t, const char *name) {
    lua_pushstring(L, name);
    lua_rawget(L, t);
}

/* A whole number of milliseconds in 1..CAB_MAX_SECONDS s at index i. */
static long check_ms(lua_State *L, int i, const char *name) {
    lua_Number ms = luaL_checknumber(L, i);
    if (!(ms >= 1 && ms <= CAB_MAX_SECONDS * 1000.0 && ms == (lua_Number)(long)ms))
        luaL_error(L, "%s: must be whole milliseconds in 1..%d", name, CAB_MAX_SECONDS * 1000);
    return (long)ms;
}

static long opt_ms(lua_State *L, int t, const char *name) {
    long ms;
    raw_field(L, t, name);
    ms = check_ms(L, -1, name);
    lua_pop(L, 1);
    return ms;
}

/* A string field of table t, or NULL when absent.  A string only (a number
 * would become a new string).  The value stays on the stack: the table
 * alone does not keep the string alive, as a finalizer run by a later
 * allocation may take it out of the table and collect. */
static const char *opt_string(lua_State *L, int t, const char *name) {
    const char *s = NULL;
    raw_field(L, t, name);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: must be a string", name);
        s = lua_tostring(L, -1);
    }
    return s;
}

/* Opens box b (libcurl's handle), the handle at index h, by the options
 * in table t: the handle pushed, or nil, message. */
static int open_box(lua_State *L, multi_box *b, int h, int t) {
    cab_http_options o;
    char err[CAB_EASY_ERR_SIZE];
    lua_Number max_body;
    luaL_checktype(L, t, LUA_TTABLE);
    if (b->inherited) return luaL_error(L, "the transport is another process's");
    /* Open already: as it is.  Ctrl-C may come between this open and the
     * Lua side's note of it (transport/curl.lua), whose next call opens
     * again. */
    if (b->m) {
        lua_pushvalue(L, h);
        return 1;
    }
    o.connect_timeout_ms = opt_ms(L, t, "connect_timeout_ms");
    o.ca_file = opt_string(L, t, "ca_file");
    o.ca_path = opt_string(L, t, "ca_path");
    o.proxy = opt_string(L, t, "proxy");
    o.noproxy = opt_string(L, t, "noproxy");
    raw_field(L, t, "tls_verify");
    o.tls_verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    raw_field(L, t, "max_response_bytes");
    max_body = luaL_checknumber(L, -1);
    lua_pop(L, 2);
    if (!(max_body >= 1 && max_body <= (lua_Number)CAB_MAX_RESPONSE_BYTES && max_body == (lua_Number)(long)max_body))
        return luaL_error(L, "max_response_bytes: must be whole bytes in 1..%d", (int)CAB_MAX_RESPONSE_BYTES);
    o.max_body = (size_t)max_body;
    /* Only now, after the options' allocations: a finalizer they ran may
     * have closed the client, and with it this handle. */
    if (b->shut) return cab_fail(L, "the transport was closed");
    if (cab_state_closing(L)) return cab_fail(L, CAB_CLOSING);
    if (!(b->m = cab_multi_new(&o, err, sizeof err))) return cab_fail(L, "%s", err);
    lua_pushvalue(L, h);
    return 1;
}

/* core.multi([options]) -> handle | nil, message.  Without options, a
 * handle not yet open (multi:open), as a client makes it in br.new rather
 * than at its first call: a first call made by a finalizer as the Lua
 * state closes would make a userdata Lua no longer finalizes, whose
 * connections would never be closed, where one made earlier is
 * finalized after that finalizer.  With options (a table: see
 * multi:open), the handle opened. */
static int l_multi(lua_State *L) {
    multi_box *b;
    int opts = !lua_isnoneornil(L, 1);
    if (opts) luaL_checktype(L, 1, LUA_TTABLE);
    b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    b->tag = MULTI;
    luaL_getmetatable(L, MULTI);
    lua_setmetatable(L, -2);
    return opts ? open_box(L, b, lua_gettop(L), 1) : 1;
}

/* multi:open{ connect_timeout_ms, ca_file, ca_path, proxy, noproxy,
 *             tls_verify, max_response_bytes } -> handle | nil, message:
 * libcurl's handle made, once: opened again, it is left as it is (the
 * options unread).  Never once closed or finalized, nor in a process
 * that did not make it (a misuse raises). */
static int l_open(lua_State *L) {
    return open_box(L, cab_checkudata(L, 1, MULTI), 1, 2);
}

static const char *kind_name(cab_http_status st) {
    switch (st) {
    case CAB_HTTP_TIMEOUT: return "TIMEOUT";
    case CAB_HTTP_TLS: return "TLS";
    case CAB_HTTP_NETWORK: return "NETWORK";
    case CAB_HTTP_TOO_LARGE: return "RESPONSE_TOO_LARGE";
    case CAB_HTTP_PROTOCOL: return "PROTOCOL";
    default: return "INTERNAL";
    }
}

/* multi:call() -> a call's view of the handle, with a group of its own;
 * nil when the handle is closed. */
static int l_call(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    call_box *c = lua_newuserdata(L, sizeof *c);
    c->tag = CALL;
    c->box = b;
    c->group = 0;
    c->closed = 1;
    c->prev = c->next = NULL;
    c->kept = c->spare = c->given = NULL;
    luaL_getmetatable(L, CALL);
    lua_setmetatable(L, -2);
    /* The call keeps the handle alive: its user value holds it. */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    cab_setuservalue(L, -2);
    /* Only now, after the allocations: a finalizer they ran may have
     * closed the client, and with it this handle. */
    if (!b->m || b->closing) {
        lua_pushnil(L);
        return 1;
    }
    c->group = cab_multi_group(b->m);
    c->closed = 0;
    c->next = b->calls;
    if (b->calls) b->calls->prev = c;
    b->calls = c;
    return 1;
}

/* multi:inherited() -> whether another process made the handle (this one
 * was forked from it): then it must be closed and a new one made.  Still
 * true once closed, so that a call of the parent's that the child goes on
 * with (forked from a callback) knows it, whoever closed the handle. */
static int l_inherited(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    lua_pushboolean(L, b->inherited != NULL || (b->m != NULL && cab_multi_inherited(b->m)));
    return 1;
}

/* multi:pending() -> transfers of every call running or holding an answer:
 * what the library never needs to ask, and the specs' one view of the
 * transfers a collector or a finalizer's cancel leaves. */
static int l_pending(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    lua_pushinteger(L, b->m ? cab_multi_pending(b->m, 0) : 0);
    return 1;
}

static int l_close(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    b->shut = 1;
    b->closing = 1;
    close_if_free(b);
    return 0;
}

/* The handle an event loop may drive: open, not closing, made by this
 * process; else NULL. */
static cab_multi *drivable(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    return b->m && !b->closing && !cab_multi_inherited(b->m) ? b->m : NULL;
}

/* A descriptor number at index i. */
static int check_fd(lua_State *L, int i) {
    lua_Integer fd = luaL_checkinteger(L, i);
    if (fd < 0 || fd > INT_MAX) luaL_argerror(L, i, "not a descriptor");
    return (int)fd;
}

/* multi:watch() -> timeout_ms, fd, changes | nil (closed)
 * What to watch for libcurl: fd, a descriptor to poll for reading (lent
 * to the caller until unwatch; false when none could be made, and the
 * transfers failed); the ms until act() must run libcurl's timeout (-1:
 * no timeout); and changes() as it is now. */
static int l_watch(lua_State *L) {
    cab_multi *m = drivable(L);
    long timeout_ms;
    int fd;
    if (!m) {
        lua_pushnil(L);
        return 1;
    }
    /* (Nothing below allocates: no memory error can lose what is lent.) */
    fd = cab_multi_watch(m, &timeout_ms);
    lua_pushinteger(L, timeout_ms);
    if (fd >= 0) lua_pushinteger(L, fd);
    else lua_pushboolean(L, 0);
    lua_pushnumber(L, (lua_Number)cab_multi_changes(m));
    return 3;
}

/* multi:unwatch(fd): gives back descriptor fd, which the caller no longer
 * watches (libuv: its poll handle is closed).  A close that waited for it
 * happens now.  Works on a closing handle: that is how its descriptor
 * comes back. */
static int l_unwatch(lua_State *L) {
    multi_box *b = cab_checkudata(L, 1, MULTI);
    int fd = check_fd(L, 2);
    if (b->m && !cab_multi_inherited(b->m)) cab_multi_unwatch(b->m, fd);
    close_if_free(b);
    return 0;
}

/* multi:act([fd]): lets libcurl act on what the lent descriptor fd finds
 * ready, or on its timeout when fd is nil.  Does nothing on a closed
 * handle. */
static int l_act(lua_State *L) {
    cab_multi *m = drivable(L);
    int fd = lua_isnoneornil(L, 2) ? -1 : check_fd(L, 2);
    if (m) cab_multi_act(m, fd);
    return 0;
}

/* multi:changes() -> a number that changes whenever what watch() returns
 * may have, or an answer came in | nil once the handle is closed. */
static int l_changes(lua_State *L) {
    cab_multi *m = drivable(L);
    if (m) lua_pushnumber(L, (lua_Number)cab_multi_changes(m));
    else lua_pushnil(L);
    return 1;
}

/* multi:news() -> { group, … } | nil (closed)
 * The groups (call:group()) with an answer that came in since news() was
 * last asked, whichever drive took it in: the calls an event loop wakes.
 * A group may be listed more than once. */
static int l_news(lua_State *L) {
    cab_multi *m = drivable(L);
    unsigned long group;
    int n, i, listed = 0;
    if (!m) {
        lua_pushnil(L);
        return 1;
    }
    /* The list is made at its full size first: its allocation may raise,
     * or run a finalizer that closes the client, and filling it then
     * allocates nothing, so all news listed reaches the caller. */
    n = cab_multi_news(m);
    lua_createtable(L, n, 0);
    if (!(m = drivable(L))) {
        lua_pushnil(L);
        return 1;
    }
    /* (A finalizer may also have finished more: they stay for the next
     * ask, which the changes they made call for.) */
    for (i = 0; listed < n && (i = cab_multi_take_news(m, i, &group)) >= 0; i++) {
        lua_pushnumber(L, (lua_Number)group);
        lua_rawseti(L, -2, ++listed);
    }
    return 1;
}

/* call:start's refusal: nil, kind, message (as a runtime failure, which
 * the request loop accounts for; misuse raises). */
static int not_started(lua_State *L, cab_http_status st, const char *message) {
    lua_pushnil(L);
    lua_pushstring(L, kind_name(st));
    lua_pushstring(L, message);
    return 3;
}

/* call:start(method, url, headers, body, timeout_ms, once)
 *   -> slot | nil, kind, message
 * headers is a {name = value} table (read raw); values were checked for
 * CR/LF/NUL before they get here.  timeout_ms bounds this attempt: the
 * caller has already taken the smaller of the client's timeout and what
 * is left of the call's deadline.  once: the request must reach the
 * network at most once (it is not idempotent). */
static int l_start(lua_State *L) {
    call_box *c;
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    const char *ptrs[CAB_MAX_HEADERS];
    size_t offs[CAB_MAX_HEADERS];
    size_t body_len, n = 0, i;
    const char *body;
    char err[CAB_EASY_ERR_SIZE];
    cab_http_status st;
    long timeout_ms;
    int slot, once;
    multi_box *b;

    luaL_checktype(L, 4, LUA_TTABLE);
    body = luaL_optlstring(L, 5, "", &body_len);
    timeout_ms = check_ms(L, 6, "timeout_ms");
    once = lua_toboolean(L, 7);
    /* Only now, after the arguments: turning a number into a string
     * allocates, and a finalizer run by that may close the client.
     * Nothing below allocates in Lua until the transfer is started. */
    if (!(c = check_call(L))) return 3;
    b = c->box;
    cab_buf_clear(&b->lines);
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        size_t nl, vl;
        const char *name, *value;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "headers must map strings to strings");
        if (n == CAB_MAX_HEADERS) return luaL_error(L, "more than %d headers", CAB_MAX_HEADERS);
        name = lua_tolstring(L, -2, &nl);
        value = lua_tolstring(L, -1, &vl);
        offs[n++] = b->lines.len;
        if (cab_buf_add(&b->lines, name, nl) || cab_buf_add(&b->lines, ": ", 2) ||
            cab_buf_add(&b->lines, value, vl) || cab_buf_add(&b->lines, "", 1))
            return not_started(L, CAB_HTTP_NOMEM, "out of memory");
        lua_pop(L, 1);
    }
    /* The buffer may have moved while growing: take pointers only now. */
    for (i = 0; i < n; i++) ptrs[i] = b->lines.data + offs[i];
    if (spare_add(c)) return not_started(L, CAB_HTTP_NOMEM, "out of memory");
    slot = cab_multi_start(b->m, c->group, method, url, ptrs, n, body, body_len, timeout_ms, once, &st, err,
                           sizeof err);
    if (slot < 0) {
        spare_drop(c);
        return not_started(L, st, err);
    }
    lua_pushinteger(L, (lua_Integer)slot + 1);
    return 1;
}

/* Pushes the answer at the light userdata at 1: status, body, request_id,
 * date, retry_after (absent ones nil). */
static int push_response(lua_State *L) {
    const cab_http_response *r = lua_touserdata(L, 1);
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    if (r->fields.request_id[0]) lua_pushstring(L, r->fields.request_id); else lua_pushnil(L);
    if (r->fields.date[0]) lua_pushstring(L, r->fields.date); else lua_pushnil(L);
    if (r->fields.retry_after[0]) lua_pushstring(L, r->fields.retry_after); else lua_pushnil(L);
    return 5;
}

/* Pushes the rest of an outcome that failed (after its slot): nil, kind,
 * message, not_sent, cut, as push_response pushes the rest of an answer. */
static int push_failure(lua_State *L, cab_http_status st, const char *err, int not_sent, int cut) {
    lua_pushnil(L);
    lua_pushstring(L, kind_name(st));
    lua_pushstring(L, err);
    lua_pushboolean(L, not_sent);
    lua_pushboolean(L, cut);
    return 5;
}

/* Pushes the kept outcome at the light userdata at 1 as next() returns
 * it after its slot (an answer's six values, a failure's five), for give
 * to run in protected mode. */
static int push_kept_rest(lua_State *L) {
    kept_outcome *k = lua_touserdata(L, 1);
    if (k->st != CAB_HTTP_OK) return push_failure(L, k->st, k->err, k->not_sent, k->cut);
    lua_settop(L, 0);
    lua_pushlightuserdata(L, &k->r);
    push_response(L);
    lua_pushboolean(L, k->went_out);
    return 6;
}

/* Gives the outcome k, which is in none of c's lists: pushes it as next()
 * returns it (fn: push_kept_rest's index), in protected mode, then keeps
 * it as c's given outcome, which take() gives again until ack(): the
 * caller may be stopped (Ctrl-C) before it notes it, and it is an answer
 * the process read, a run's only word of what it started.  A finalizer a
 * push runs may close the call (kept_drop), which then never had k: it is
 * freed here.  Should a push raise (memory), k goes first in c's kept
 * list, for a take once memory was freed (guard.again_on_memory). */
static int give(lua_State *L, call_box *c, kept_outcome *k, int fn) {
    int rc;
    /* k is kept while its address is pushed too: LuaJIT (GC64) notes the
     * memory region of each address pushed, which may allocate, and raise */
    k->next = c->kept;
    c->kept = k;
    lua_pushinteger(L, (lua_Integer)k->slot + 1);
    lua_pushvalue(L, fn);
    lua_pushlightuserdata(L, k);
    c->kept = k->next;
    k->next = NULL;
    rc = lua_pcall(L, 1, 6, 0);
    if (c->closed) {
        kept_free(&k);
    } else if (rc != 0) {
        k->next = c->kept;
        c->kept = k;
    } else {
        c->given = k;
    }
    return rc != 0 ? lua_error(L) : 7;
}

/* Gives the outcome of c's finished slot (give), moved out of the handle
 * first: a finalizer a push runs may close the client, and with it the
 * handle. */
static int push_outcome(lua_State *L, call_box *c, int slot, cab_http_status st, int not_sent, const char *err,
                        int fn) {
    return give(L, c, kept_from(c->box, c, slot, st, not_sent, err), fn);
}

/* Gives c's first kept outcome (give), taken out of the list first. */
static int push_kept(lua_State *L, call_box *c, int fn) {
    kept_outcome *k = c->kept;
    c->kept = k->next;
    k->next = NULL;
    return give(L, c, k, fn);
}

/* call:next([wait [, idle_now]])
 *   -> slot, status, body, request_id, date, retry_after, went_out   (an answer)
 *    | slot, nil, kind, message, not_sent, cut                       (no answer)
 *    | nil, "idle"      nothing of the call's was running (after sleeping wait seconds)
 *    | nil, "waited"    wait seconds passed with nothing of the call's finished
 *    | nil, "INTERNAL", message     the client was closed
 * Drives every transfer until one of the call's is done, or wait passes.
 * idle_now: wait is a slice of a wait with no end, so with nothing of the
 * call's running or in, "idle" comes at once, without sleeping wait.
 * went_out is true when a request of the attempt went out before the one
 * answered (cab_multi_went_out): the server may have read it.
 * not_sent is true when the request provably never reached the server;
 * cut, when message ends with libcurl's words cut short (easy.h).  The
 * outcome given before is the caller's now, acknowledged or not (ack). */
static int l_next(lua_State *L) {
    call_box *c;
    lua_Number wait = luaL_optnumber(L, 2, -1);
    int idle_now = lua_toboolean(L, 3);
    cab_http_status st;
    char err[CAB_EASY_ERR_SIZE];
    int not_sent, slot, fn;
    long wait_ms = -1;
    multi_box *b;
    /* First, before the call is checked: on 5.1 and LuaJIT pushing a C
     * function allocates, and a finalizer may close the client. */
    lua_pushcfunction(L, push_kept_rest);
    fn = lua_gettop(L);
    if (!(c = check_call(L))) return 3;
    given_drop(c);
    b = c->box;
    if (idle_now && cab_multi_pending(b->m, c->group) == 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "idle");
        return 2;
    }
    /* Whole milliseconds, rounded up (0.0004 s must not become "no wait
     * at all" and spin), at most the longest wait there is. */
    if (wait >= CAB_MAX_SECONDS) wait_ms = CAB_MAX_SECONDS * 1000L;
    else if (wait >= 0) wait_ms = (long)ceil(wait * 1000);
    slot = cab_multi_next(b->m, c->group, wait_ms, &st, &not_sent, err, sizeof err);
    if (slot < 0) {
        lua_pushnil(L);
        lua_pushstring(L, slot == CAB_MULTI_WAITED ? "waited" : "idle");
        return 2;
    }
    return push_outcome(L, c, slot, st, not_sent, err, fn);
}

/* call:take()
 *   -> slot, status, body, request_id, date, retry_after, went_out | slot, nil, kind, message, not_sent, cut
 *    | nil    none
 * The outcome next() would give first, when one of the call's transfers
 * has already finished, without driving libcurl (so without reading
 * anything more).  Once the client is closed too: then the outcomes the
 * handle held for the call were kept for it (keep_outcomes), for the call
 * to account for the answers the process had read.  Not in a forked
 * child: what the handle holds is the parent's.  First of all, the
 * outcome given last, until ack(): the caller may not have noted it. */
static int l_call_take(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    multi_box *b = c->box;
    cab_http_status st;
    char err[CAB_EASY_ERR_SIZE];
    int not_sent, slot, fn;
    /* First: a finalizer run by the allocation may close the client (and
     * keep the handle's outcomes for the call), or the call. */
    lua_pushcfunction(L, push_kept_rest);
    fn = lua_gettop(L);
    if (c->given) {
        kept_outcome *k = c->given;
        c->given = NULL;
        return give(L, c, k, fn);
    }
    if (c->kept) return push_kept(L, c, fn);
    if (c->closed || !b->m || cab_multi_inherited(b->m) ||
        (slot = cab_multi_take(b->m, c->group, &st, &not_sent, err, sizeof err)) < 0) {
        lua_pushnil(L);
        return 1;
    }
    return push_outcome(L, c, slot, st, not_sent, err, fn);
}

/* call:ack(): the outcome next() or take() gave last is the caller's,
 * noted: take() gives it no more. */
static int l_call_ack(lua_State *L) {
    given_drop(cab_checkudata(L, 1, CALL));
    return 0;
}

/* call:ready() -> whether next() has something for the call without
 * driving libcurl: one of its answers, or the news that the client was
 * closed. */
static int l_call_ready(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    multi_box *b = c->box;
    lua_pushboolean(L, c->closed || !b->m || b->closing || cab_multi_ready(b->m, c->group));
    return 1;
}

/* call:group() -> the call's group, as multi:news() lists it. */
static int l_call_group(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    lua_pushnumber(L, (lua_Number)c->group);
    return 1;
}

/* Abandons c's transfers; keep: their outcomes already in stay for
 * take().  A call that ended normally has none, and nothing is asked of
 * the system; one left with some in a forked child leaves them to the
 * parent. */
static void cancel(call_box *c, int keep) {
    multi_box *b = c->box;
    int abandoned;
    if (!b->m || cab_multi_pending(b->m, c->group) == 0 || cab_multi_inherited(b->m)) return;
    if (keep) keep_outcomes(b, c);
    /* (a transfer abandoned will have no outcome to keep: its room goes,
     * or a call that starts and cancels again and again would pile them) */
    for (abandoned = cab_multi_cancel(b->m, c->group); abandoned > 0; abandoned--) spare_drop(c);
}

/* call:cancel(): abandons the call's requests in flight; the outcomes
 * already in stay, for take(). */
static int l_call_cancel(lua_State *L) {
    cancel(cab_checkudata(L, 1, CALL), 1);
    return 0;
}

/* call:close(), and the collector: abandons the call's transfers and
 * their outcomes, and the call is over. */
static int l_call_close(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    multi_box *b = c->box;
    if (c->closed) return 0;
    cancel(c, 0);
    kept_drop(c);
    c->closed = 1;
    if (c->prev) c->prev->next = c->next;
    else b->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    return 0;
}

static int call_tostring(lua_State *L) {
    call_box *c = cab_checkudata(L, 1, CALL);
    lua_pushstring(L, c->closed ? "codearts.batchresult call (closed)" : "codearts.batchresult call");
    return 1;
}

void cab_register_http(lua_State *L) {
    static const luaL_Reg multi_methods[] = {{"open", l_open},       {"call", l_call},
                                             {"inherited", l_inherited},
                                             {"pending", l_pending}, {"close", l_close},
                                             {"watch", l_watch},     {"unwatch", l_unwatch},
                                             {"act", l_act},         {"changes", l_changes},
                                             {"news", l_news},       {NULL, NULL}};
    static const luaL_Reg call_methods[] = {{"start", l_start},   {"next", l_next},
                                            {"ack", l_call_ack},
                                            {"cancel", l_call_cancel},
                                            {"ready", l_call_ready}, {"take", l_call_take},
                                            {"close", l_call_close},
                                            {"group", l_call_group}, {NULL, NULL}};
    cab_new_class(L, MULTI, multi_methods, multi_gc, multi_tostring);
    cab_new_class(L, CALL, call_methods, l_call_close, call_tostring);
    lua_pushcfunction(L, l_multi);
    lua_setfield(L, -2, "multi");
}
