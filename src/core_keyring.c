/* Binding for a client's key material: core.keyring(sk, secret...) returns
 * a handle that signs requests with the secret key sk (when given) and
 * redacts sk and the other secrets (a security token, an IAM token) from
 * text a server sent back.  The SK lives only here, in C memory: the HMAC
 * state keyed with it and the redactor's copy, both zeroed when the
 * keyring is closed or collected.  br.sign(t) (made by core.signer) signs
 * its table with the key it gives, which is wiped when the call returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "core.h"
#include "redact.h"
#include "sign.h"

static const char KEYRING[] = "codearts.batchresult.keyring";
static const char ALGORITHMS[] = "codearts.batchresult.algorithms";
/* The registry's field for the state's box of them. */
#define STATE_ALGORITHMS "codearts.batchresult.state's algorithms"

/* The state's SHA-256 and HMAC (sign.h), fetched at its first signer: an
 * upvalue of core.keyring and of br.sign, one box a state, kept in the
 * registry (a module loaded again, whose first copy is then collected,
 * shares it), freed when the state closes.  Its finalizer runs before the
 * module is unloaded, since Lua finalizes in the reverse order objects
 * were made, and the loader's handle is older. */
typedef struct {
    const char *tag; /* ALGORITHMS (cab_toudata) */
    cab_sign_algorithms *a;
    /* br.sign's signer and Authorization, kept between calls so that a
     * call allocates nothing of its own; busy while a call signs and
     * pushes (a finalizer that calls br.sign meanwhile gets a signer of
     * its own). */
    cab_signer *spare;
    cab_buf auth;
    int busy;
    int closed; /* set by its finalizer: the state is closing (cab_state_closing) */
} algorithms;

static void spare_free(algorithms *box) {
    cab_signer_free(box->spare);
    box->spare = NULL;
    cab_buf_free(&box->auth);
}

static int algorithms_gc(lua_State *L) {
    algorithms *box = cab_checkudata(L, 1, ALGORITHMS);
    /* (a finalizer called by hand, through debug, while br.sign signs with
     * the spare: release_signer frees it) */
    if (!box->busy) spare_free(box);
    cab_sign_algorithms_free(box->a);
    box->a = NULL;
    /* (a finalizer that runs after this one must keep nothing here: this
     * box is never finalized again) */
    box->closed = 1;
    return 0;
}

int cab_state_closing(lua_State *L) {
    const algorithms *box;
    lua_getfield(L, LUA_REGISTRYINDEX, STATE_ALGORITHMS);
    box = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return box && box->closed;
}

typedef struct {
    const char *tag;      /* KEYRING (cab_toudata) */
    cab_signer *s;        /* NULL when there is no SK (IAM token), or once closed */
    cab_redactor *r;      /* NULL once closed */
    int closed;
    cab_buf auth;         /* the last Authorization value */
    cab_buf shown;        /* the last redacted text */
    unsigned long writes; /* how many signs and redactions wrote its buffers */
} keyring;

static void keyring_free(keyring *k) {
    cab_signer_free(k->s);
    k->s = NULL;
    cab_redactor_free(k->r);
    k->r = NULL;
    cab_buf_free(&k->auth);
    cab_buf_free(&k->shown);
    k->closed = 1;
}

static int keyring_gc(lua_State *L) {
    keyring_free(cab_checkudata(L, 1, KEYRING));
    return 0;
}

/* A finalizer may run whenever Lua allocates (on 5.1 and LuaJIT
 * lua_pushlstring collects before it copies), and may sign or redact with
 * the same client, which rewrites k's buffers (and may move them), or
 * close the client, which frees them.  So an answer leaves k's memory
 * through a copy: a userdata on the stack, made before the push, of the
 * answer's length, with nothing of k's held while it is allocated.  The
 * caller then checks k->closed, and whether k->writes is still `writes`;
 * if not, it makes its answer again into k's buffer, in C alone (nothing
 * can run in between, and the same input gives the same answer, of the
 * same length), and fills the copy from there.  Never a second
 * allocation: under a collector set to run a finalizer at each one, that
 * redacts or signs with the same client, a call that allocated again each
 * time would never end. */
static char *copy_of(lua_State *L, size_t len) {
    return lua_newuserdata(L, len ? len : 1);
}

static keyring *check_open(lua_State *L) {
    keyring *k = cab_checkudata(L, 1, KEYRING);
    if (k->closed) luaL_argerror(L, 1, "keyring is closed");
    return k;
}

static keyring *check_signer(lua_State *L) {
    keyring *k = check_open(L);
    if (!k->s) luaL_argerror(L, 1, "keyring has no secret key to sign with");
    return k;
}

/* The keyring, or NULL once it was closed.  Closing the client closes it,
 * and a finalizer may do that at any allocation, even between a call's
 * check and its next signature: signing and redacting then report it
 * rather than raise, and the call ends with CLOSED. */
static keyring *open_keyring(lua_State *L) {
    keyring *k = cab_checkudata(L, 1, KEYRING);
    return k->closed ? NULL : k;
}

/* What sign says once the keyring is closed: nil, message, CLOSED. */
static int closed_result(lua_State *L) {
    lua_pushnil(L);
    lua_pushliteral(L, "the client was closed");
    lua_pushliteral(L, "CLOSED");
    return 3;
}

/* What redact says when it cannot redact: once the keyring is closed (the
 * secrets are gone), or when memory runs out.  Nothing of the text can be
 * shown safely, and a failure to show it is no failure of the call. */
static int not_shown(lua_State *L, const char *why) {
    lua_pushfstring(L, "(not shown: %s)", why);
    lua_pushboolean(L, 0);
    lua_pushboolean(L, 1);
    return 3;
}

/* Says what it is and nothing of the keys. */
static int keyring_tostring(lua_State *L) {
    keyring *k = cab_checkudata(L, 1, KEYRING);
    lua_pushstring(L, k->closed ? "codearts.batchresult keyring (closed)" : "codearts.batchresult keyring");
    return 1;
}

/* The state's algorithms, fetched at the first call that signs. */
static cab_sign_status state_algorithms(lua_State *L, cab_sign_algorithms **out) {
    algorithms *box = lua_touserdata(L, lua_upvalueindex(1));
    cab_sign_status st = box->a ? CAB_SIGN_OK : cab_sign_algorithms_new(&box->a);
    *out = box->a;
    return st;
}

/* A new keyring on the stack, signing with sk when sk is not NULL. */
static keyring *new_keyring(lua_State *L, const char *sk, size_t len) {
    keyring *k = lua_newuserdata(L, sizeof *k);
    cab_sign_algorithms *a;
    cab_sign_status st;
    memset(k, 0, sizeof *k);
    k->tag = KEYRING;
    luaL_getmetatable(L, KEYRING);
    lua_setmetatable(L, -2);
    if (!sk) return k;
    if ((st = state_algorithms(L, &a)) != CAB_SIGN_OK || (st = cab_signer_new(&k->s, a, sk, len)) != CAB_SIGN_OK) {
        cab_fail(L, "%s", cab_sign_strerror(st));
        return NULL;
    }
    return k;
}

/* core.keyring(sk, secret...) -> keyring | nil, message
 * sk (nil for an IAM token client) signs; sk and every other string given
 * are redacted. */
static int l_keyring(lua_State *L) {
    int n = lua_gettop(L), i;
    size_t len;
    const char *sk = luaL_optlstring(L, 1, NULL, &len);
    const algorithms *box = lua_touserdata(L, lua_upvalueindex(1));
    keyring *k;
    if (sk && len == 0) return cab_fail(L, "secret key is empty");
    /* (one made as the state closes would never be finalized: core.h) */
    if (box->closed) return cab_fail(L, CAB_CLOSING);
    for (i = 2; i <= n; i++) luaL_optstring(L, i, NULL);
    if (!(k = new_keyring(L, sk, len))) return 2;
    if (!(k->r = cab_redactor_new())) return cab_fail(L, "out of memory");
    for (i = 1; i <= n; i++) {
        const char *secret = lua_tolstring(L, i, &len);
        if (secret && cab_redactor_add(k->r, secret, len)) return cab_fail(L, "out of memory");
    }
    return 1;
}

/* What collect_headers says instead of a count. */
enum { HEADERS_NOT_STRINGS = -1, HEADERS_NO_ROOM = -2 };
#define NO_ROOM "Lua's stack cannot grow for the headers (out of memory, or at its limit)"

/* Collects a {name = value} table into hs, raw: the count (past
 * CAB_MAX_HEADERS only the first are kept), HEADERS_NOT_STRINGS when a
 * name or value is not a string (that name and value are left on top of
 * the stack), or HEADERS_NO_ROOM, with nothing pushed, when the stack
 * cannot grow.  Each kept name and value also stays on the stack, above
 * the table, for as long as the caller's frame lasts: a refusal quotes a
 * name while it allocates, and a finalizer run meanwhile may take the
 * header out of the table, which would free the string under the quote.
 * The stack is grown first, before any pointer is taken, with room for
 * what a refusal pushes after it.  Lua 5.2 and later say that it cannot
 * grow (memory ran out, or the stack is at its limit) by returning 0, not
 * by raising (5.1 and LuaJIT raise their memory error): the callers
 * refuse with INTERNAL, as when the signer's own memory runs out.  A raise of our own words would be no
 * memory error to the library's Lua (call.lua's out_of_memory): a call
 * would raise it again, its runs started so far untold. */
static int not_strings(lua_State *L, int idx);

static int collect_headers(lua_State *L, int idx, cab_header *hs) {
    int n = 0;
    if (!lua_checkstack(L, 2 * CAB_MAX_HEADERS + 10)) return HEADERS_NO_ROOM;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) return not_strings(L, idx);
        if (n < CAB_MAX_HEADERS) {
            hs[n].name = lua_tolstring(L, -2, &hs[n].name_len);
            hs[n].value = lua_tolstring(L, -1, &hs[n].value_len);
            /* Kept: name, value, and the name again for the walk. */
            lua_pushvalue(L, -2);
        } else {
            lua_pop(L, 1);
        }
        n++;
    }
    return n;
}

/* collect_headers's HEADERS_NOT_STRINGS, the walk's key and value on top
 * of the stack replaced by the name and value of the pair refused that
 * comes first: string names in byte order, before any other name (of
 * those, the first met).  Not the first met: the table's order follows
 * the string hash seed, and the refusal would name another header on
 * each run.  (Nothing here allocates: no finalizer runs in the walk.) */
static int not_strings(lua_State *L, int idx) {
    int best;
    lua_pop(L, 2);
    lua_pushnil(L);
    best = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int bad = lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING;
        lua_pop(L, 1);
        if (!bad) continue;
        if (!lua_isnil(L, best)) {
            /* (lua_tolstring only on strings: it turns a number into one
             * in place, and the key would be found no more) */
            size_t al, bl;
            const char *a, *b;
            if (lua_type(L, -1) != LUA_TSTRING) continue;
            if (lua_type(L, best) == LUA_TSTRING) {
                a = lua_tolstring(L, -1, &al);
                b = lua_tolstring(L, best, &bl);
                if (cab_bytes_cmp(a, al, b, bl) >= 0) continue;
            }
        }
        lua_pushvalue(L, -1);
        lua_replace(L, best);
    }
    lua_pushvalue(L, best);
    lua_rawget(L, idx);
    return HEADERS_NOT_STRINGS;
}

static int header_before(const void *a, const void *b) {
    const cab_header *x = a, *y = b;
    return cab_bytes_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* nil, message, code: what refused a request.  code is INVALID_ARGUMENT
 * unless memory or libcrypto failed. */
static int refused(lua_State *L, cab_sign_status st, const char *message) {
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushstring(L, st == CAB_SIGN_NOMEM || st == CAB_SIGN_CRYPTO ? "INTERNAL" : "INVALID_ARGUMENT");
    return 3;
}

static int too_many_headers(lua_State *L) {
    lua_pushfstring(L, "more than %d headers", CAB_MAX_HEADERS);
    return refused(L, CAB_SIGN_OK, lua_tostring(L, -1));
}

/* The header a refusal of cab_sign's is about, or NULL. */
static const cab_header *refused_header(cab_sign_status st, const cab_signer *s, const cab_header *hs) {
    if (st == CAB_SIGN_BAD_HEADER_NAME || st == CAB_SIGN_AUTHORIZATION || st == CAB_SIGN_BAD_HEADER_VALUE ||
        st == CAB_SIGN_DUP_HEADER || st == CAB_SIGN_BAD_DATE || st == CAB_SIGN_BAD_CONTENT_SHA256)
        return &hs[cab_signer_canon(s)->bad_header];
    return NULL;
}

/* refused() for cab_sign's status st, naming header h when not NULL. */
static int sign_refused(lua_State *L, cab_sign_status st, const cab_header *h) {
    luaL_Buffer b;
    size_t i;
    if (!h) return refused(L, st, cab_sign_strerror(st));
    /* The name whole: a NUL in it shows as a space, not as its end. */
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "header '");
    for (i = 0; i < h->name_len; i++) luaL_addchar(&b, h->name[i] ? h->name[i] : ' ');
    luaL_addstring(&b, "': ");
    luaL_addstring(&b, cab_sign_strerror(st));
    luaL_pushresult(&b);
    return refused(L, st, lua_tostring(L, -1));
}

/* keyring:sign(ak, method, path, query, headers, body) -> authorization
 * | nil, message, code (INVALID_ARGUMENT: a bad request; CLOSED; INTERNAL) */
static int l_sign(lua_State *L) {
    keyring *k;
    cab_header hs[CAB_MAX_HEADERS];
    cab_request req;
    size_t ak_len, len;
    const char *ak = luaL_checklstring(L, 2, &ak_len);
    char *copy;
    cab_sign_status st;
    unsigned long writes;
    int n;
    req.method = luaL_checklstring(L, 3, &req.method_len);
    req.path = luaL_checklstring(L, 4, &req.path_len);
    req.query = luaL_optlstring(L, 5, "", &req.query_len);
    luaL_checktype(L, 6, LUA_TTABLE);
    req.body = luaL_optlstring(L, 7, "", &req.body_len);
    if ((n = collect_headers(L, 6, hs)) == HEADERS_NO_ROOM) return refused(L, CAB_SIGN_NOMEM, NO_ROOM);
    if (n == HEADERS_NOT_STRINGS) return refused(L, CAB_SIGN_OK, "header names and values must be strings");
    if (n > CAB_MAX_HEADERS) return too_many_headers(L);
    req.headers = hs;
    req.n_headers = (size_t)n;
    /* Only now: turning a number argument into a string allocates, and a
     * finalizer run by that may close the keyring. */
    if (!open_keyring(L)) return closed_result(L);
    k = check_signer(L);
    st = cab_sign(k->s, &req, ak, ak_len, &k->auth);
    /* k's buffers changed, whatever st says: a call this one runs inside
     * (a finalizer, see copy_of) makes its answer again. */
    writes = ++k->writes;
    if (st != CAB_SIGN_OK) return sign_refused(L, st, refused_header(st, k->s, hs));
    len = k->auth.len;
    copy = copy_of(L, len);
    if (k->closed) return closed_result(L);
    if (k->writes != writes) {
        ++k->writes;
        st = cab_sign(k->s, &req, ak, ak_len, &k->auth);
        if (st != CAB_SIGN_OK) return sign_refused(L, st, refused_header(st, k->s, hs));
    }
    if (len) memcpy(copy, k->auth.data, len);
    lua_pushlstring(L, copy, len);
    return 1;
}

/* br.sign's fields: the keys it reads, in its slots' order. */
enum { F_METHOD, F_PATH, F_QUERY, F_HEADERS, F_BODY, F_AK, F_SK, N_FIELDS };
static const struct {
    const char *name;
    size_t len;
} SIGN_FIELDS[N_FIELDS] = {{"method", 6}, {"path", 4}, {"query", 5}, {"headers", 7},
                           {"body", 4},   {"ak", 2},   {"sk", 2}};
#define SIGN_REQUIRED ((1 << F_METHOD) | (1 << F_PATH) | (1 << F_HEADERS) | (1 << F_AK) | (1 << F_SK))

/* The field the key at idx names, or -1. */
static int sign_field(lua_State *L, int idx) {
    size_t len;
    const char *k;
    int f;
    if (lua_type(L, idx) != LUA_TSTRING) return -1;
    k = lua_tolstring(L, idx, &len);
    for (f = 0; f < N_FIELDS; f++)
        if (SIGN_FIELDS[f].len == len && memcmp(SIGN_FIELDS[f].name, k, len) == 0) return f;
    return -1;
}

/* A key as a refusal shows it (input.lua's key_name): 'name' for a
 * string (the quotes left to shown_byte), %.17g for a number, "of type T"
 * for any other, those two written into own. */
typedef struct {
    const char *s;
    size_t len;
    int quoted;
    char own[40];
} shown_key;

static void show_key(lua_State *L, int idx, shown_key *k) {
    k->quoted = lua_type(L, idx) == LUA_TSTRING;
    if (k->quoted) {
        k->s = lua_tolstring(L, idx, &k->len);
        return;
    }
    if (lua_type(L, idx) == LUA_TNUMBER)
        snprintf(k->own, sizeof k->own, "%.17g", (double)lua_tonumber(L, idx));
    else
        snprintf(k->own, sizeof k->own, "of type %s", luaL_typename(L, idx));
    k->s = k->own;
    k->len = strlen(k->own);
}

/* Byte i of k as shown, of its shown_length. */
static unsigned char shown_byte(const shown_key *k, size_t i) {
    if (!k->quoted) return (unsigned char)k->s[i];
    return i == 0 || i == k->len + 1 ? '\'' : (unsigned char)k->s[i - 1];
}

static size_t shown_length(const shown_key *k) { return k->len + (k->quoted ? 2 : 0); }

/* Whether the key at a shows before the key at b, byte by byte: as Lua's
 * < orders the shown names in the C locale, as input.options does.  Reads
 * and allocates nothing of Lua's, inside br.sign's walk. */
static int shows_before(lua_State *L, int a, int b) {
    shown_key x, y;
    size_t i, xn, yn;
    show_key(L, a, &x);
    show_key(L, b, &y);
    xn = shown_length(&x);
    yn = shown_length(&y);
    for (i = 0; i < xn && i < yn; i++)
        if (shown_byte(&x, i) != shown_byte(&y, i)) return shown_byte(&x, i) < shown_byte(&y, i);
    return xn < yn;
}

/* Whether the refused key at a (field f, -1 for a key that is no field) is
 * named before the one at b (field g), in input.options's order: a field of
 * the wrong type before a key that is no field, each the first by its name
 * (SIGN_FIELDS's order is not the names'). */
static int refused_before(lua_State *L, int a, int f, int b, int g) {
    if ((f < 0) != (g < 0)) return f >= 0;
    if (f >= 0) return strcmp(SIGN_FIELDS[f].name, SIGN_FIELDS[g].name) < 0;
    return shows_before(L, a, b);
}

/* Reads br.sign's table (index 1) raw into s/len, its headers table into
 * index idx, and its sk (when a string) into index idx + 1, where it stays
 * referenced for the redaction of a refusal.  NULL when it keeps every
 * rule of br.sign's (only its fields, each of its type, the required ones
 * there, sk a key); else the rule it breaks, for br.sign to word,
 * with what it is about pushed:
 *   "field"    a key that is no field, or a field of the wrong type: the
 *              key and its value, of those the one refused_before names
 *              first (not the first of lua_next's order, which follows the
 *              string hash seed, a new one each run on Lua 5.2 and later and
 *              on LuaJIT: the same table is refused for the same key every
 *              time); the walk goes on to the end, for them and for the sk
 *   "missing"  a required field absent: its name
 *   "empty"    sk is "" or only white space: no key, as new() says of
 *              its sk (the bytes of Lua's %s in the C locale, which new()
 *              reads by; a NUL in sk stops strspn short, and is no space)
 *   "sk"       sk holds CR, LF or NUL, which new() refuses in its sk: a
 *              key of NULs alone would sign as the empty key (HMAC pads
 *              a key with NULs) */
static const char *read_sign_table(lua_State *L, int idx, const char *s[N_FIELDS], size_t len[N_FIELDS]) {
    /* bad, bad + 1: the key and value refused so far, of field bad_field
     * (-1: no field; NONE: nothing refused yet) */
    enum { NONE = -2 };
    int seen = 0, f, bad_field = NONE, bad = lua_gettop(L) + 1;
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int want;
        f = sign_field(L, -2);
        want = f == F_HEADERS ? LUA_TTABLE : LUA_TSTRING;
        if (f < 0 || lua_type(L, -1) != want) {
            if (bad_field == NONE || refused_before(L, -2, f, bad, bad_field)) {
                lua_replace(L, bad + 1);
                lua_pushvalue(L, -1);
                lua_replace(L, bad);
                bad_field = f;
            } else {
                lua_pop(L, 1);
            }
            continue;
        }
        seen |= 1 << f;
        if (f == F_HEADERS) lua_replace(L, idx);
        else if (f == F_SK) {
            s[f] = lua_tolstring(L, -1, &len[f]);
            lua_replace(L, idx + 1);
        } else {
            s[f] = lua_tolstring(L, -1, &len[f]);
            lua_pop(L, 1);
        }
    }
    if (bad_field != NONE) return "field";
    lua_pop(L, 2);
    for (f = 0; f < N_FIELDS; f++)
        if ((SIGN_REQUIRED & (1 << f)) && !(seen & (1 << f))) {
            lua_pushstring(L, SIGN_FIELDS[f].name);
            return "missing";
        }
    if (strspn(s[F_SK], " \t\n\v\f\r") == len[F_SK]) return "empty";
    if (memchr(s[F_SK], '\0', len[F_SK]) || memchr(s[F_SK], '\r', len[F_SK]) || memchr(s[F_SK], '\n', len[F_SK]))
        return "sk";
    return NULL;
}

/* A signed request, for push_signed. */
typedef struct {
    cab_signer *s;
    cab_buf *auth;
} signed_request;

static void push_buf(lua_State *L, const cab_buf *b) {
    lua_pushlstring(L, b->data ? b->data : "", b->len);
}

/* Whether the table at idx has a metatable (pushing nothing). */
static int has_metatable(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_pop(L, 1);
    return 1;
}

/* (signed_request) -> authorization, details.  Every push may raise (out
 * of memory, or the error of a finalizer it runs), so br.sign runs this
 * protected and lets go of the signer whichever way it ends. */
static int push_signed(lua_State *L) {
    const signed_request *r = lua_touserdata(L, 1);
    push_buf(L, r->auth);
    lua_createtable(L, 0, 3);
    push_buf(L, &cab_signer_canon(r->s)->canonical);
    lua_setfield(L, -2, "canonical_request");
    push_buf(L, cab_signer_string_to_sign(r->s));
    lua_setfield(L, -2, "string_to_sign");
    push_buf(L, &cab_signer_canon(r->s)->signed_headers);
    lua_setfield(L, -2, "signed_headers");
    return 2;
}

/* A signer for br.sign, into r: the state's spare (made at its first
 * use, with the state's algorithms) unless a call already holds it, else
 * one of r's own, with *own set: once the state is closing (and the box
 * freed), made with algorithms fetched for it alone (a signer holds its
 * own references). */
static cab_sign_status take_signer(lua_State *L, algorithms *box, signed_request *r, cab_buf *own_auth, int *own) {
    cab_sign_algorithms *a;
    cab_sign_status st;
    *own = box->busy || box->closed;
    if (*own) {
        r->auth = own_auth;
        if (!box->closed) return cab_signer_new_keyless(&r->s, box->a);
        if ((st = cab_sign_algorithms_new(&a)) != CAB_SIGN_OK) return st;
        st = cab_signer_new_keyless(&r->s, a);
        cab_sign_algorithms_free(a);
        return st;
    }
    if ((st = state_algorithms(L, &a)) != CAB_SIGN_OK) return st;
    if (!box->spare && (st = cab_signer_new_keyless(&box->spare, a)) != CAB_SIGN_OK) return st;
    box->busy = 1;
    r->s = box->spare;
    r->auth = &box->auth;
    return CAB_SIGN_OK;
}

static void release_signer(algorithms *box, signed_request *r, int own) {
    if (own) {
        cab_signer_free(r->s);
        cab_buf_free(r->auth);
    } else {
        box->busy = 0;
        if (box->closed) spare_free(box);
    }
}

/* The n values a refusal pushed, and after them the sk l_sign_once read
 * (index 4), for the refusal's redaction: n + 1. */
static int with_sk(lua_State *L, int n) {
    lua_pushvalue(L, 4);
    return n + 1;
}

/* A refusal of br.sign's: the n values on top of the stack handed to
 * br.sign's Lua wording (upvalue 2), whose nil, err br.sign returns. */
static int refuse(lua_State *L, int n) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, -(n + 1));
    lua_call(L, n, 2);
    return 2;
}

/* br.sign(t) -> authorization, details | nil, err: made by
 * core.signer(words, module) and called by the caller itself, with no Lua
 * between (br.sign is a hot path of sans-I/O users).  t is read once, raw,
 * and signed in the same pass.  A t that is refused is worded by words, a
 * Lua function, from what this read, never reading t again:
 *   words(nil, message, code, sk)       it signed nothing (a bad request)
 *   words(false, rule, sk, key, value)  t breaks one of br.sign's rules
 *                                       about its fields (read_sign_table's
 *                                       rules; "header": a header's name or
 *                                       value is not a string; "table": t is
 *                                       no table, key its type's name;
 *                                       "metatable": t, or with key
 *                                       "headers" its headers, has one;
 *                                       "module": t is module, br:sign{…}
 *                                       called with a colon, which words
 *                                       raises)
 * where sk is the one it read (nil when none), to redact from the words.
 * A metatable is refused rather than read past: what its __index or
 * __pairs serves (a table of defaults) would silently not be signed.
 * lua_getmetatable is raw: no __metatable field answers for it, and no
 * metamethod runs. */
static int l_sign_once(lua_State *L) {
    algorithms *box = lua_touserdata(L, lua_upvalueindex(1));
    const char *s[N_FIELDS] = {NULL};
    size_t len[N_FIELDS] = {0};
    cab_header hs[CAB_MAX_HEADERS];
    cab_request req;
    signed_request r = {NULL, NULL};
    cab_buf own_auth = CAB_BUF_INIT;
    cab_sign_status st;
    const char *rule;
    int n = 0, status, own, top, i;
    lua_settop(L, 1);
    /* Pushed before the read: on 5.1 and LuaJIT this allocates, and a
     * finalizer run by that allocation could change t under the read. */
    lua_pushcfunction(L, push_signed);
    lua_pushnil(L); /* index 3: the headers */
    lua_pushnil(L); /* index 4: the sk */
    top = lua_gettop(L);
    if (!lua_istable(L, 1)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "table");
        lua_pushnil(L);
        lua_pushstring(L, luaL_typename(L, 1));
        return refuse(L, 4);
    }
    rule = lua_rawequal(L, 1, lua_upvalueindex(3)) ? "module" : has_metatable(L, 1) ? "metatable" : NULL;
    if (rule) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, rule);
        return refuse(L, 2);
    }
    if ((rule = read_sign_table(L, 3, s, len)) == NULL && has_metatable(L, 3)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "metatable");
        lua_pushvalue(L, 4);
        lua_pushliteral(L, "headers");
        return refuse(L, 4);
    }
    if (rule == NULL && (n = collect_headers(L, 3, hs)) == HEADERS_NO_ROOM)
        return refuse(L, with_sk(L, refused(L, CAB_SIGN_NOMEM, NO_ROOM)));
    if (rule || n == HEADERS_NOT_STRINGS) {
        /* What the rule is about is on the stack above top: at most the
         * key and value (collect_headers may have kept others below). */
        int about = lua_gettop(L) - top;
        if (!rule) rule = "header";
        if (about > 2) about = 2;
        lua_pushboolean(L, 0);
        lua_pushstring(L, rule);
        lua_pushvalue(L, 4);
        for (i = 0; i < about; i++) lua_pushvalue(L, -3 - about);
        return refuse(L, 3 + about);
    }
    if (n > CAB_MAX_HEADERS) return refuse(L, with_sk(L, too_many_headers(L)));
    req.method = s[F_METHOD];
    req.method_len = len[F_METHOD];
    req.path = s[F_PATH];
    req.path_len = len[F_PATH];
    req.query = s[F_QUERY] ? s[F_QUERY] : "";
    req.query_len = len[F_QUERY];
    req.body = s[F_BODY] ? s[F_BODY] : "";
    req.body_len = len[F_BODY];
    req.headers = hs;
    req.n_headers = (size_t)n;
    /* (before the signer is taken: on LuaJIT (GC64) pushing an address
     * may allocate, and raise) */
    lua_pushvalue(L, 2);
    lua_pushlightuserdata(L, &r);
    if ((st = take_signer(L, box, &r, &own_auth, &own)) != CAB_SIGN_OK)
        return refuse(L, with_sk(L, refused(L, st, cab_sign_strerror(st))));
    st = cab_sign_with_key(r.s, &req, s[F_SK], len[F_SK], s[F_AK], len[F_AK], r.auth);
    if (refused_header(st, r.s, hs)) {
        /* Signed again with the headers in byte order, which refuses the
         * same header on every run: which one the table's order met first
         * follows the string hash seed. */
        qsort(hs, (size_t)n, sizeof *hs, header_before);
        st = cab_sign_with_key(r.s, &req, s[F_SK], len[F_SK], s[F_AK], len[F_AK], r.auth);
    }
    if (st != CAB_SIGN_OK) {
        /* Let go before the pushes below, which may raise.  The header's
         * name is still t's, as nothing was allocated since the read. */
        const cab_header *h = refused_header(st, r.s, hs);
        release_signer(box, &r, own);
        return refuse(L, with_sk(L, sign_refused(L, st, h)));
    }
    status = lua_pcall(L, 1, 2, 0);
    release_signer(box, &r, own);
    return status == 0 ? 2 : lua_error(L);
}

/* core.signer(words [, module]) -> br.sign, wording its refusals with
 * words and refusing module as its argument (see l_sign_once). */
static int l_signer(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, l_sign_once, 3);
    return 1;
}

/* keyring:redact(text [, limit]) -> text with every secret, in every form
 * (see redact.h), replaced by [REDACTED], then cut to at most limit bytes;
 * and whether it was cut.  Closed, or out of memory, it shows nothing of
 * text: "(not shown: why)", false, and true, which says so (the words are
 * no text of the caller's, for a message that quotes what it gives). */
static int l_redact(lua_State *L) {
    keyring *k;
    size_t len, shown_len;
    const char *text = luaL_checklstring(L, 2, &len);
    char *copy;
    lua_Integer limit = luaL_optinteger(L, 3, 0);
    unsigned long writes;
    int cut = 0, failed;
    luaL_argcheck(L, limit >= 0, 3, "limit must be >= 0");
    if (!(k = open_keyring(L))) return not_shown(L, "the client was closed");
    failed = cab_redact(k->r, text, len, (size_t)limit, &k->shown, &cut);
    /* k's buffers changed, however it ended: a call this one runs inside
     * (a finalizer, see copy_of) makes its answer again. */
    writes = ++k->writes;
    if (failed) return not_shown(L, "out of memory");
    /* Most text holds no secret: it is given back as it came, with
     * nothing allocated. */
    if (!cut && k->shown.len == len && (len == 0 || memcmp(k->shown.data, text, len) == 0)) {
        lua_settop(L, 2);
        lua_pushboolean(L, 0);
        return 2;
    }
    shown_len = k->shown.len;
    copy = copy_of(L, shown_len);
    if (k->closed) return not_shown(L, "the client was closed");
    if (k->writes != writes) {
        ++k->writes;
        if (cab_redact(k->r, text, len, (size_t)limit, &k->shown, &cut)) return not_shown(L, "out of memory");
    }
    if (shown_len) memcpy(copy, k->shown.data, shown_len);
    lua_pushlstring(L, copy, shown_len);
    lua_pushboolean(L, cut);
    return 2;
}

static int l_close(lua_State *L) {
    keyring_free(cab_checkudata(L, 1, KEYRING));
    return 0;
}

void cab_register_keyring(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"sign", l_sign}, {"redact", l_redact}, {"close", l_close}, {NULL, NULL}};
    cab_new_class(L, KEYRING, methods, keyring_gc, keyring_tostring);
    lua_getfield(L, LUA_REGISTRYINDEX, STATE_ALGORITHMS);
    if (lua_isnil(L, -1)) {
        algorithms *box;
        lua_pop(L, 1);
        box = lua_newuserdata(L, sizeof *box);
        memset(box, 0, sizeof *box);
        box->tag = ALGORITHMS;
        if (luaL_newmetatable(L, ALGORITHMS)) {
            lua_pushcfunction(L, algorithms_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_ALGORITHMS);
    }
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_keyring, 1);
    lua_setfield(L, -3, "keyring");
    lua_pushcclosure(L, l_signer, 1);
    lua_setfield(L, -2, "signer");
}
