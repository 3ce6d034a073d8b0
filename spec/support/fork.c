/* fork(2), and the descriptor calls a forked child's specs make, for the
 * specs (spec/support/fork.lua builds it): Debian packages no POSIX
 * binding for every Lua the suite runs under.  Test code only. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* fork() -> pid (0 in the child) | nil, errno */
static int l_fork(lua_State *L) {
    pid_t pid = fork();
    if (pid < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

/* wait(pid) -> the child's exit status, or -1 when it did not exit */
static int l_wait(lua_State *L) {
    int status = 0;
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    while (waitpid(pid, &status, 0) < 0) {}
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 1;
}

/* exit(code): ends the child at once, closing no Lua state and running no
 * atexit handler of the parent's (busted's report, a sanitizer's). */
static int l_exit(lua_State *L) {
    _exit((int)luaL_checkinteger(L, 1));
    return 0;
}

/* close(fd), dup2(from, to) -> the call's result (-1: failed) */
static int l_close(lua_State *L) {
    lua_pushinteger(L, close((int)luaL_checkinteger(L, 1)));
    return 1;
}
static int l_dup2(lua_State *L) {
    lua_pushinteger(L, dup2((int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2)));
    return 1;
}

/* tcp_socket() -> a new IPv4 stream socket's descriptor (-1: failed) */
static int l_tcp_socket(lua_State *L) {
    lua_pushinteger(L, socket(AF_INET, SOCK_STREAM, 0));
    return 1;
}

__attribute__((visibility("default"))) int luaopen_specfork(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_fork);
    lua_setfield(L, -2, "fork");
    lua_pushcfunction(L, l_wait);
    lua_setfield(L, -2, "wait");
    lua_pushcfunction(L, l_exit);
    lua_setfield(L, -2, "exit");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "close");
    lua_pushcfunction(L, l_dup2);
    lua_setfield(L, -2, "dup2");
    lua_pushcfunction(L, l_tcp_socket);
    lua_setfield(L, -2, "tcp_socket");
    return 1;
}
