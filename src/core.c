/* (dladdr and RTLD_NODELETE, for pin_module) */
#define _GNU_SOURCE /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
#include "core.h"
#include "ascii.h"
#include "limit.h"
#include "redact.h"
#include "sign.h"
#include "word.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Above this, a size hint buys nothing but memory held up front. */
#define CAB_MAX_TABLE_HINT 65536

int cab_fail(lua_State *L, const char *fmt, ...) {
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return 2;
}

void *cab_toudata(lua_State *L, int idx, const char *tname) {
    const char *const *tag = lua_touserdata(L, idx);
    int same = 0;
    if (tag && lua_type(L, idx) == LUA_TUSERDATA && cab_rawlen(L, idx) >= sizeof *tag && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, tname);
        same = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    return same && *tag == tname ? (void *)tag : NULL;
}

void *cab_checkudata(lua_State *L, int idx, const char *tname) {
    void *p = cab_toudata(L, idx, tname);
    if (!p) luaL_argerror(L, idx, lua_pushfstring(L, "%s expected, got %s", tname, luaL_typename(L, idx)));
    return p;
}

void cab_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction gc,
                   lua_CFunction tostring) {
    luaL_newmetatable(L, tname);
    lua_newtable(L);
    cab_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
#endif
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

/* core.now() -> seconds of CLOCK_MONOTONIC: for deadlines and backoff,
 * which the wall clock (os.time, whole seconds, and settable) cannot time. */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.random() -> a number in [0, 1) from OpenSSL's generator, for the
 * backoff's jitter: math.random is never seeded on Lua 5.1, 5.3 and
 * LuaJIT, so every process would wait alike, and seeding it is the host
 * program's business.  Should the generator fail, 0.5: a wait without
 * jitter, rather than a failed call. */
static int l_random(lua_State *L) {
    unsigned char b[7];
    uint64_t v = 0;
    size_t i;
    if (RAND_bytes(b, (int)sizeof b) != 1) {
        lua_pushnumber(L, 0.5);
        return 1;
    }
    for (i = 0; i < sizeof b; i++) v = v << 8 | b[i];
    lua_pushnumber(L, (lua_Number)(v >> 3) / 9007199254740992.0); /* 53 bits over 2^53 */
    return 1;
}

/* A size hint within 0..CAB_MAX_TABLE_HINT. */
static int clamp_size(lua_Integer n) {
    return n < 0 ? 0 : n > CAB_MAX_TABLE_HINT ? CAB_MAX_TABLE_HINT : (int)n;
}

/* core.new_table(narray, nhash) -> an empty table with room for that many
 * entries, for the tables a call fills, so that filling one never grows
 * it step by step (only LuaJIT has table.new).  Sizes are hints: out of
 * range, they are clamped. */
static int l_new_table(lua_State *L) {
    lua_createtable(L, clamp_size(luaL_checkinteger(L, 1)), clamp_size(luaL_checkinteger(L, 2)));
    return 1;
}

/* core.raw_copy(t) -> t's own fields, read raw, in a new table.  In C,
 * because Lua's own walk of next may run a collection step at each call
 * (5.1), and a finalizer run then may change t under the walk, which then
 * raises ("invalid key to 'next'").  Here only making the copy may run
 * one, before the walk, which stores nothing past the count taken before
 * it (a presized table does not grow); when t changed in between, the
 * copy is made again. */
static int l_raw_copy(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    for (;;) {
        int n = 0, i = 0;
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            lua_pop(L, 1);
            n++;
        }
        lua_createtable(L, 0, n);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            if (++i > n) {
                lua_pop(L, 2);
                break;
            }
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 2);
        }
        if (i == n) return 1;
        lua_settop(L, 1);
    }
}

static const char BOX[] = "codearts.batchresult.box";

/* (gone: set by its finalizer) */
typedef struct {
    const char *tag;
    int gone;
} box;

/* core.box(t) -> a userdata that keeps t, a client's state, as its user
 * value, for the client table to hold: a dump of the client shows the box
 * alone, and only core.unbox opens it.  (A function in the client table
 * that gave the state back would give it to any caller, a token with it,
 * and LuaJIT's traces keep a function they call alive.)  Its finalizer
 * empties it: a finalizer that uses the client after the collector found
 * it unreachable (and so may have freed its keyring) meets a closed
 * client. */
static int l_box(lua_State *L) {
    box *b;
    luaL_checktype(L, 1, LUA_TTABLE);
    b = lua_newuserdata(L, sizeof *b);
    b->tag = BOX;
    b->gone = 0;
    luaL_getmetatable(L, BOX);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    cab_setuservalue(L, -2);
    return 1;
}

/* core.unbox(v) -> the table core.box kept, or nil when v is no box or
 * its finalizer ran. */
static int l_unbox(lua_State *L) {
    const box *b = cab_toudata(L, 1, BOX);
    if (!b || b->gone) {
        lua_pushnil(L);
        return 1;
    }
    cab_getuservalue(L, 1);
    return 1;
}

static int box_gc(lua_State *L) {
    box *b = cab_checkudata(L, 1, BOX);
    b->gone = 1;
    return 0;
}

static void register_box(lua_State *L) {
    luaL_newmetatable(L, BOX);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_box);
    lua_setfield(L, -2, "box");
    lua_pushcfunction(L, l_unbox);
    lua_setfield(L, -2, "unbox");
}

/* core.unicode_space_edge(s) -> whether the signer would refuse s as a
 * header's value for white space beyond ASCII at an end (sign.h). */
static int l_unicode_space_edge(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, cab_unicode_space_edge(s, len));
    return 1;
}

/* core.file_kind(path) -> "file", "directory" or "other" | nil, message:
 * what path names, asked without opening it (opening a FIFO waits for a
 * writer), for new()'s ca_file and ca_path. */
static int l_file_kind(lua_State *L) {
    struct stat st;
    const char *path = luaL_checkstring(L, 1);
    if (stat(path, &st) != 0) return cab_fail(L, "%s", strerror(errno));
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
    return 1;
}

/* core.absolute_path(path) -> path when it begins with '/', else the
 * working directory (getcwd) and path joined by a '/' | nil, message when
 * the working directory cannot be named (removed: ENOENT).  For new()'s
 * ca_file and ca_path, which libcurl opens again at every new connection,
 * relative to the working directory of that moment: a client keeps what
 * new() checked, whatever directory the program moves to later.  Joined,
 * not resolved (realpath): getcwd names the directory itself, links
 * resolved, so "../x" from it names what it named before; and a link in
 * path (a bundle that is a link to the current one, swapped when CAs
 * rotate) is still followed whenever libcurl loads it (libcurl 7.87 and
 * later keep a loaded ca_file up to a day).  "~" is no directory here,
 * as for open(2).  The buffer is a userdata, as a raise (memory) may come
 * at any push and must leak nothing. */
static int l_absolute_path(lua_State *L) {
    size_t len, cap = 256;
    const char *path = luaL_checklstring(L, 1, &len);
    char *cwd;
    luaL_argcheck(L, len > 0 && strlen(path) == len, 1, "a path neither empty nor holding NUL expected");
    if (path[0] == '/') {
        lua_settop(L, 1);
        return 1;
    }
    for (;;) {
        cwd = lua_newuserdata(L, cap);
        if (getcwd(cwd, cap)) break;
        if (errno != ERANGE || cap > (size_t)-1 / 4) return cab_fail(L, "%s", strerror(errno));
        lua_pop(L, 1);
        cap *= 2;
    }
    lua_pushstring(L, cwd);
    /* (getcwd gives "/" for the root: no second slash after it) */
    if (cwd[strlen(cwd) - 1] == '/') lua_pushliteral(L, "");
    else lua_pushliteral(L, "/");
    lua_pushvalue(L, 1);
    lua_concat(L, 3);
    return 1;
}

/* How many certificates the store holds (its CRLs are none). */
static int count_certificates(X509_STORE *store) {
    STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
    int i, n = 0;
    for (i = 0; i < sk_X509_OBJECT_num(objects); i++)
        if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509) n++;
    return n;
}

/* core.ca_certificates(path) -> how many certificates path gives when it
 * is loaded as libcurl's OpenSSL backend loads CURLOPT_CAINFO (PEM, into
 * a certificate store: X509_STORE_load_file, which SSL_CTX_load_verify_file
 * calls), 0 when OpenSSL refuses it | nil, message when no store could be
 * made.  For new()'s ca_file: a file that gives none (a key, a text, a
 * block OpenSSL cannot read) would fail every call with "error setting
 * certificate file", or, holding a CRL alone, trust nothing.  OpenSSL's
 * error queue is this thread's, and libcurl (or nginx, around us) reads
 * it after a failure of its own: what this load adds to it is dropped,
 * what was there before is left.  No Lua call until the store is freed,
 * as one may raise. */
static int l_ca_certificates(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int n = 0, made;
    X509_STORE *store;
    (void)ERR_set_mark();
    store = X509_STORE_new();
    made = store != NULL;
    if (made && X509_STORE_load_file(store, path) == 1) n = count_certificates(store);
    X509_STORE_free(store);
    (void)ERR_pop_to_mark();
    if (!made) return cab_fail(L, "out of memory");
    lua_pushinteger(L, n);
    return 1;
}

/* Whether name is one OpenSSL's hashed directory lookup opens first for
 * a subject (by_dir.c: "%08lx.%d", from 0): 8 lower-case hex digits, ".0". */
static int first_hashed_name(const char *name) {
    int i;
    for (i = 0; i < 8; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
    return strcmp(name + 8, ".0") == 0;
}

/* Whether the store holds a certificate whose subject's hash is h, as
 * OpenSSL's hashed directory lookup computes it (by_dir.c:
 * X509_NAME_hash_ex, with the default library context, as libcurl's). */
static int holds_subject_hash(X509_STORE *store, unsigned long h) {
    STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
    int i;
    for (i = 0; i < sk_X509_OBJECT_num(objects); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
        int ok = 0;
        if (x && X509_NAME_hash_ex(X509_get_subject_name(x), NULL, NULL, &ok) == h && ok) return 1;
    }
    return 0;
}

/* core.ca_path_certificates(dir) -> whether dir gives a certificate as
 * libcurl's OpenSSL backend reads CURLOPT_CAPATH (a hashed directory,
 * `openssl rehash`: a PEM file named for a subject's hash, looked up by
 * it) | nil, message when dir cannot be listed or memory ran out.  For
 * new()'s ca_path: a directory of certificates never rehashed, or empty,
 * would trust nothing, and fail every call as TLS.  The first file so
 * named that holds a certificate of the subject its name is the hash of
 * ends the search: OpenSSL opens only the file named for the issuer it
 * looks up, so one named by hand for another hash is never read.  Each
 * candidate is loaded into a store of its own, so that one file's
 * certificates never vouch for another's name.  Only regular files are
 * opened.  As ca_certificates, OpenSSL's error queue is left as it was,
 * and no Lua call comes until the directory is closed and the stores
 * freed. */
static int l_ca_path_certificates(lua_State *L) {
    const char *dir = luaL_checkstring(L, 1);
    size_t dir_len = strlen(dir);
    X509_STORE *store;
    DIR *d;
    struct dirent *e;
    struct stat st;
    char *path = NULL;
    int found = 0, failed = 0, err = 0;
    if (!(d = opendir(dir))) return cab_fail(L, "%s", strerror(errno));
    (void)ERR_set_mark();
    /* (a name is 8 + 2 bytes: one path buffer serves every candidate) */
    if (!(path = malloc(dir_len + 12))) failed = 1;
    while (!failed && !found) {
        errno = 0;
        if (!(e = readdir(d))) {
            err = errno;
            break;
        }
        if (!first_hashed_name(e->d_name)) continue;
        memcpy(path, dir, dir_len);
        path[dir_len] = '/';
        memcpy(path + dir_len + 1, e->d_name, 11);
        /* Only a regular file (a link followed) is opened: opening a FIFO
         * waits for a writer, and a device (/dev/zero) may never end, as
         * config.lua asks what a ca_file is before opening it. */
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (!(store = X509_STORE_new())) {
            failed = 1;
            break;
        }
        /* (the name's 8 hex digits, up to its '.') */
        found = X509_STORE_load_file(store, path) == 1 && holds_subject_hash(store, strtoul(e->d_name, NULL, 16));
        X509_STORE_free(store);
    }
    free(path);
    (void)ERR_pop_to_mark();
    (void)closedir(d);
    if (failed) return cab_fail(L, "out of memory");
    if (err) return cab_fail(L, "%s", strerror(err));
    lua_pushboolean(L, found);
    return 1;
}

static const int TERMINATIONS[] = {SIGTERM, SIGHUP};
#define N_TERMINATIONS (sizeof TERMINATIONS / sizeof TERMINATIONS[0])

/* The interpreter's SIGINT handler (lua.c's, which turns SIGINT into an
 * error in the running code and puts SIGINT back to its default), when
 * the tool takes SIGINT too; else NULL.  Set by the tool's one call of
 * terminate_as_interrupt, before any signal comes, and only read after:
 * the process's signal dispositions, which it belongs with, are global
 * too. */
static void (*interpreter_on_interrupt)(int);

/* The signal as_interrupt ran for (0: none yet): set by it, read by
 * core.termination_came. */
static volatile sig_atomic_t termination_came;

/* The first of SIGINT (when taken), SIGTERM and SIGHUP: all three are
 * ignored from then on, and the interpreter's SIGINT handler runs once.
 * Its default would otherwise let a second one (Ctrl-C pressed twice;
 * timeout(1) signalling the tool and then its process group; a closing
 * terminal sending SIGHUP twice) kill the tool before it says what
 * started.  The three are blocked while this runs (see
 * terminate_as_interrupt), and one pending when SIGINT is ignored again
 * is dropped.  sigaction and raise are async-signal-safe. */
static void as_interrupt(int sig) {
    struct sigaction ignore;
    size_t i;
    termination_came = sig;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    for (i = 0; i < N_TERMINATIONS; i++) (void)sigaction(TERMINATIONS[i], &ignore, NULL);
    if (!interpreter_on_interrupt) {
        raise(SIGINT);
        return;
    }
    interpreter_on_interrupt(SIGINT);
    (void)sigaction(SIGINT, &ignore, NULL);
}

/* core.terminate_as_interrupt() -> true | nil, message.  For the
 * command-line tool only: SIGTERM and SIGHUP (a CI job cancelled, a
 * terminal closed) become SIGINT, which the standalone interpreter turns
 * into an error in the running code, as it does Ctrl-C, so that the tool
 * says what started before it exits; and a second Ctrl-C is ignored too.
 * A signal the tool was started ignoring (nohup's SIGHUP) stays ignored;
 * after the first, all are. */
static int l_terminate_as_interrupt(lua_State *L) {
    struct sigaction sa, old;
    size_t i;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = as_interrupt;
    /* (no SA_RESTART, as lua.c installs its SIGINT handler: a read of
     * stdin that never ends must not hold the signal back) */
    if (sigemptyset(&sa.sa_mask) != 0 || sigaddset(&sa.sa_mask, SIGINT) != 0) return cab_fail(L, "%s", strerror(errno));
    for (i = 0; i < N_TERMINATIONS; i++)
        if (sigaddset(&sa.sa_mask, TERMINATIONS[i]) != 0) return cab_fail(L, "%s", strerror(errno));
    for (i = 0; i < N_TERMINATIONS; i++) {
        if (sigaction(TERMINATIONS[i], NULL, &old) != 0) return cab_fail(L, "%s", strerror(errno));
        if (old.sa_handler != SIG_IGN && sigaction(TERMINATIONS[i], &sa, NULL) != 0)
            return cab_fail(L, "%s", strerror(errno));
    }
    /* SIGINT only from an interpreter that handles it (lua.c does), and
     * only once. */
    if (!interpreter_on_interrupt) {
        if (sigaction(SIGINT, NULL, &old) != 0) return cab_fail(L, "%s", strerror(errno));
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_IGN && old.sa_handler != SIG_DFL &&
            old.sa_handler != as_interrupt) {
            interpreter_on_interrupt = old.sa_handler;
            if (sigaction(SIGINT, &sa, NULL) != 0) {
                interpreter_on_interrupt = NULL;
                return cab_fail(L, "%s", strerror(errno));
            }
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.hold_terminations() -> true | nil, message.  For the command-line
 * tool, once its work is done and said: SIGINT, SIGTERM and SIGHUP are
 * ignored from then on.  A signal's interrupt is raised in whatever Lua
 * runs next, and past the tool's protected call the interpreter would
 * end it with its own error and exit 1 (read as "a run did not start")
 * after all was said.  Called inside that protection, this ends the
 * window: an interrupt whose signal came before it is raised there, at
 * the latest by the next event (its own return), and none comes after. */
static int l_hold_terminations(lua_State *L) {
    struct sigaction ignore;
    size_t i;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    if (sigemptyset(&ignore.sa_mask) != 0 || sigaction(SIGINT, &ignore, NULL) != 0)
        return cab_fail(L, "%s", strerror(errno));
    for (i = 0; i < N_TERMINATIONS; i++)
        if (sigaction(TERMINATIONS[i], &ignore, NULL) != 0) return cab_fail(L, "%s", strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
}

/* core.termination_came() -> the name of the signal terminate_as_interrupt
 * took that came ("SIGINT", "SIGTERM", "SIGHUP"), or false.  The tool
 * names it in its INTERRUPTED message.  And LuaJIT does not call a
 * message handler again when an interrupt is raised inside it, as PUC Lua
 * does, but ends the protected call with "error in error handling": the
 * tool tells that from its own error by this. */
static int l_termination_came(lua_State *L) {
    switch (termination_came) {
    case 0: lua_pushboolean(L, 0); break;
    case SIGINT: lua_pushliteral(L, "SIGINT"); break;
    case SIGTERM: lua_pushliteral(L, "SIGTERM"); break;
    default: lua_pushliteral(L, "SIGHUP"); break;
    }
    return 1;
}

/* core.ignore_sigpipe() -> whether SIGPIPE had its default action (to
 * end the process) and is now ignored, so that a write to a pipe whose
 * reader has gone fails with EPIPE instead.  For the command-line tool's
 * run, which must say on stderr which runs started before it ends
 * (core.end_by_sigpipe); false where SIGPIPE was already handled or
 * ignored, which is left as it was. */
static int l_ignore_sigpipe(lua_State *L) {
    struct sigaction old, ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    if (sigemptyset(&ignore.sa_mask) != 0 || sigaction(SIGPIPE, NULL, &old) != 0)
        return cab_fail(L, "%s", strerror(errno));
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (sigaction(SIGPIPE, &ignore, NULL) != 0) return cab_fail(L, "%s", strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
}

/* core.end_by_sigpipe(): SIGPIPE's default action put back, unblocked and
 * raised, after core.ignore_sigpipe: the process ends as the write to a
 * reader that had gone would have ended it (a shell's pipefail sees 141).
 * nil, message if it could not. */
static int l_end_by_sigpipe(lua_State *L) {
    struct sigaction dfl;
    sigset_t pipe_only;
    int rc;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (sigemptyset(&dfl.sa_mask) != 0 || sigaction(SIGPIPE, &dfl, NULL) != 0 || sigemptyset(&pipe_only) != 0 ||
        sigaddset(&pipe_only, SIGPIPE) != 0)
        return cab_fail(L, "%s", strerror(errno));
    /* (this thread's mask: raise sends it the signal) */
    if ((rc = pthread_sigmask(SIG_UNBLOCK, &pipe_only, NULL)) != 0) return cab_fail(L, "%s", strerror(rc));
    if (raise(SIGPIPE) != 0) return cab_fail(L, "%s", strerror(errno));
    return cab_fail(L, "SIGPIPE did not end the process");
}

/* core.write_out(s [, i]) -> how many bytes of s from byte i (default 1)
 * one write(2) to standard output took | nil, message, errno.  For the
 * command-line tool writing to a terminal: a termination signal makes a
 * terminal's write(2) return what it took so far, where stdio would write
 * the rest at once, waiting on a stalled terminal with the signal spent;
 * the tool writes the rest itself, and the interpreter's interrupt runs
 * in between. */
static int l_write_out(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer i = luaL_optinteger(L, 2, 1);
    ssize_t n;
    luaL_argcheck(L, i >= 1 && (size_t)(i - 1) <= len, 2, "out of range");
    n = write(STDOUT_FILENO, s + (i - 1), len - (size_t)(i - 1));
    if (n < 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, strerror(e));
        lua_pushinteger(L, e);
        return 3;
    }
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* Whether every byte of w is printable ASCII other than the quote and
 * the backslash (word.h). */
static int plain_word(uint64_t w) {
    return ((w & CAB_HIGHS) | cab_word_below(w, 0x20) | cab_word_has(w, 0x7f) | cab_word_has(w, '"') |
            cab_word_has(w, '\\')) == 0;
}

/* core.plain_text(s) -> whether s is printable ASCII without a quote or a
 * backslash: text that JSON's escapes, a terminal's controls and UTF-8's
 * mending leave as it is (CSV's quotes are the CLI's to judge: a comma).
 * The CLI asks this of a call's texts joined, 1 MB and more: Lua's
 * matcher spends some 70 instructions a byte on it, this about one. */
static int l_plain_text(lua_State *L) {
    size_t len, i = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    while (len - i >= 8 && plain_word(cab_word(s + i))) i += 8;
    while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f && s[i] != '"' && s[i] != '\\') i++;
    lua_pushboolean(L, i == len);
    return 1;
}

/* Where walk_texts puts what it gathers: counted only (out NULL), or
 * copied into out[0..cap). */
typedef struct {
    char *out;
    size_t cap, len, n;
    const char *sep;
    size_t sep_len;
} texts_out;

/* Nesting that walk_texts follows; deeper, the Lua walk does. */
#define TEXTS_DEPTH_MAX 64

static int add_text(texts_out *o, const char *s, size_t len) {
    size_t need = len + (o->n ? o->sep_len : 0);
    if (need > (size_t)-1 - o->len) return -1;
    if (o->out) {
        if (need > o->cap - o->len) return -1;
        if (o->n) memcpy(o->out + o->len, o->sep, o->sep_len);
        memcpy(o->out + o->len + need - len, s, len);
    }
    o->len += need;
    o->n++;
    return 0;
}

/* Whether the table at t has a metatable with __pairs (read raw). */
static int has_pairs(lua_State *L, int t) {
    int has;
    if (!lua_getmetatable(L, t)) return 0;
    lua_pushliteral(L, "__pairs");
    lua_rawget(L, -2);
    has = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return has;
}

/* Gathers the texts of the table at t into o, as the CLI's texts_of does
 * with pairs: each string value, the texts of each table value, then each
 * string key that the table at skip does not hold; raw, and with no Lua
 * run.  -1 (o then partly written) for a table this does not walk as
 * pairs would, one whose metatable has __pairs, or one nested deeper than
 * TEXTS_DEPTH_MAX; or when the texts do not fit. */
static int walk_texts(lua_State *L, int t, int skip, texts_out *o, int depth) {
    const char *s;
    size_t len;
    if (depth > TEXTS_DEPTH_MAX || !lua_checkstack(L, 4) || has_pairs(L, t)) return -1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int bad = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &len);
            bad = add_text(o, s, len);
        } else if (lua_type(L, -1) == LUA_TTABLE) {
            bad = walk_texts(L, lua_gettop(L), skip, o, depth + 1);
        }
        lua_pop(L, 1);
        if (!bad && lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_rawget(L, skip);
            if (lua_isnil(L, -1)) {
                s = lua_tolstring(L, -2, &len);
                bad = add_text(o, s, len);
            }
            lua_pop(L, 1);
        }
        if (bad) {
            lua_pop(L, 1);
            return -1;
        }
    }
    return 0;
}

/* core.texts_joined(t, skip, sep) -> the texts of t (walk_texts) joined
 * with sep; or nothing, for a table it does not walk (the CLI then walks
 * it in Lua).  For the CLI's redaction of a call's results, which asks
 * whether all their texts together hold a secret: 10,000 results walked
 * by pairs and joined by table.concat took more time than the redaction
 * of the 1 MB they make.  Counted, then copied: between the two, only the
 * allocation of the copy may run a finalizer; the copy walks the table as
 * it is then, and gives nothing when its texts no longer come to the count. */
static int l_texts_joined(lua_State *L) {
    texts_out o = {NULL, 0, 0, 0, NULL, 0};
    size_t total;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    o.sep = luaL_checklstring(L, 3, &o.sep_len);
    lua_settop(L, 3);
    if (walk_texts(L, 1, 2, &o, 0)) return 0;
    total = o.len;
    o.out = lua_newuserdata(L, total ? total : 1);
    o.cap = total;
    o.len = o.n = 0;
    if (walk_texts(L, 1, 2, &o, 0) || o.len != total) return 0;
    lua_pushlstring(L, o.out, o.len);
    return 1;
}

/* Whether c is an ASCII letter or digit: %w in the C locale. */
static int is_alnum(unsigned char c) {
    return (unsigned)(cab_lower(c) - 'a') < 26u || (unsigned)(c - '0') < 10u;
}

/* The end of the run of ASCII letters and digits at s[i], of len bytes. */
static size_t alnum_end(const char *s, size_t len, size_t i) {
    while (i < len && is_alnum((unsigned char)s[i])) i++;
    return i;
}

/* core.usual_pair(text, at) -> id, id, the position after the line; or
 * nothing: the CLI's usual input line, two ids of ASCII letters and digits
 * and one separator (a space, a tab, a comma or a colon), then LF or CRLF,
 * read at byte at of text, as Lua's pattern "^(%w+)[ \t,:](%w+)\r?\n()"
 * reads it in the C locale.  10,000 lines through Lua's matcher cost the
 * tool a fifth of its own work; any other line is read in Lua. */
static int l_usual_pair(lua_State *L) {
    size_t len, p, p_end, r, r_end, nl;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer at = luaL_checkinteger(L, 2);
    luaL_argcheck(L, at >= 1 && (size_t)(at - 1) <= len, 2, "out of range");
    p = (size_t)(at - 1);
    p_end = alnum_end(s, len, p);
    if (p_end == p || p_end == len || !(s[p_end] == ' ' || s[p_end] == '\t' || s[p_end] == ',' || s[p_end] == ':'))
        return 0;
    r = p_end + 1;
    r_end = alnum_end(s, len, r);
    nl = r_end < len && s[r_end] == '\r' ? r_end + 1 : r_end;
    if (r_end == r || nl == len || s[nl] != '\n') return 0;
    lua_pushlstring(L, s + p, p_end - p);
    lua_pushlstring(L, s + r, r_end - r);
    lua_pushinteger(L, (lua_Integer)nl + 2);
    return 3;
}

/* core.can_yield() -> whether the running code may yield, as the host's
 * lua_isyieldable says (the VM knows: a C function's callback, an error
 * handler, a finalizer); nil where the host has none (PUC 5.1).  For the
 * nginx transport: a light thread spawned where Lua cannot yield makes
 * ngx_lua abort the request, and ngx_lua's coroutine table has no
 * isyieldable.  Found in the host at load time (upvalue 1), as the module
 * built for 5.1, whose lua.h does not declare it, runs in LuaJIT too. */
static int l_can_yield(lua_State *L) {
    int (*isyieldable)(lua_State *);
    void *found = lua_touserdata(L, lua_upvalueindex(1));
    if (!found) return 0;
    *(void **)&isyieldable = found; /* (POSIX's way from dlsym to a function) */
    lua_pushboolean(L, isyieldable(L));
    return 1;
}

static void push_can_yield(lua_State *L) {
    void *host = dlopen(NULL, RTLD_LAZY);
    lua_pushlightuserdata(L, host ? dlsym(host, "lua_isyieldable") : NULL);
    if (host) dlclose(host);
    lua_pushcclosure(L, l_can_yield, 1);
}

/* Keeps this module mapped until the process ends (RTLD_NODELETE marks
 * it so; the handle itself is not needed).  LuaJIT's lua_close unloads C
 * modules and only then finalizes what finalizers made while it closed (a
 * client made in one), whose __gc is this module's code: it ran unmapped
 * memory.  Failing to pin costs only that protection. */
static void pin_module(void) {
    static const char here = 0;
    Dl_info info;
    void *self;
    /* (RTLD_NOLOAD: the object already loaded, never another file that a
     * relative path names now) */
    if (dladdr(&here, &info) && info.dli_fname &&
        (self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)))
        dlclose(self);
}

/* core.limits: limit.h (and redaction's shortest run and longest unit), for config.lua and
 * the transports. */
static const struct {
    const char *name;
    lua_Integer value;
} LIMITS[] = {
    { "max_headers", CAB_MAX_HEADERS },
    { "max_header_bytes", CAB_MAX_HEADER_BYTES },
    { "max_seconds", CAB_MAX_SECONDS },
    { "max_response_bytes", (lua_Integer)CAB_MAX_RESPONSE_BYTES },
    { "max_request_id_bytes", CAB_MAX_REQUEST_ID_BYTES },
    { "max_time_field_bytes", CAB_MAX_TIME_FIELD_BYTES },
    { "max_trailer_line_bytes", CAB_MAX_TRAILER_LINE_BYTES },
    { "max_concurrency", CAB_MAX_CONCURRENCY },
    { "redact_min_run", CAB_REDACT_MIN_RUN },
    { "redact_unit_max", CAB_REDACT_UNIT_MAX },
};

__attribute__((visibility("default"))) int luaopen_codearts_batchresult_core(lua_State *L) {
    size_t i;
    pin_module();
    lua_newtable(L);
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_new_table);
    lua_setfield(L, -2, "new_table");
    lua_pushcfunction(L, l_raw_copy);
    lua_setfield(L, -2, "raw_copy");
    lua_pushcfunction(L, l_file_kind);
    lua_setfield(L, -2, "file_kind");
    lua_pushcfunction(L, l_absolute_path);
    lua_setfield(L, -2, "absolute_path");
    lua_pushcfunction(L, l_ca_certificates);
    lua_setfield(L, -2, "ca_certificates");
    lua_pushcfunction(L, l_ca_path_certificates);
    lua_setfield(L, -2, "ca_path_certificates");
    lua_pushcfunction(L, l_unicode_space_edge);
    lua_setfield(L, -2, "unicode_space_edge");
    lua_pushcfunction(L, l_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, l_terminate_as_interrupt);
    lua_setfield(L, -2, "terminate_as_interrupt");
    lua_pushcfunction(L, l_hold_terminations);
    lua_setfield(L, -2, "hold_terminations");
    lua_pushcfunction(L, l_termination_came);
    lua_setfield(L, -2, "termination_came");
    lua_pushcfunction(L, l_ignore_sigpipe);
    lua_setfield(L, -2, "ignore_sigpipe");
    lua_pushcfunction(L, l_end_by_sigpipe);
    lua_setfield(L, -2, "end_by_sigpipe");
    lua_pushcfunction(L, l_plain_text);
    lua_setfield(L, -2, "plain_text");
    lua_pushcfunction(L, l_usual_pair);
    lua_setfield(L, -2, "usual_pair");
    lua_pushcfunction(L, l_texts_joined);
    lua_setfield(L, -2, "texts_joined");
    lua_pushcfunction(L, l_write_out);
    lua_setfield(L, -2, "write_out");
    push_can_yield(L);
    lua_setfield(L, -2, "can_yield");
    lua_pushliteral(L, CAB_VERSION);
    lua_setfield(L, -2, "VERSION");
    lua_pushinteger(L, CAB_INTERFACE);
    lua_setfield(L, -2, "INTERFACE");
    lua_createtable(L, 0, (int)(sizeof LIMITS / sizeof LIMITS[0]));
    for (i = 0; i < sizeof LIMITS / sizeof LIMITS[0]; i++) {
        lua_pushinteger(L, LIMITS[i].value);
        lua_setfield(L, -2, LIMITS[i].name);
    }
    lua_setfield(L, -2, "limits");
    register_box(L);
    cab_register_codec(L);
    cab_register_keyring(L);
    cab_register_http(L);
    return 1;
}
