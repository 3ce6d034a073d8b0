/* Runs a shell command whose stdout is a terminal that nothing reads,
 * left non-blocking (O_NONBLOCK, as another program sharing the terminal
 * may leave it): once the terminal's buffer is full, a write fails with
 * EAGAIN.  For the command-line tool's specs (spec/support/cli.lua builds
 * it through clib.lua).  Test code only. */
#define _XOPEN_SOURCE 600
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* run(command) -> the command's exit status (-1 when it did not exit) */
static int l_run(lua_State *L) {
    const char *cmd = luaL_checkstring(L, 1);
    int master = posix_openpt(O_RDWR | O_NOCTTY), slave = -1, status = 0, flags;
    pid_t pid;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
        (slave = open(ptsname(master), O_RDWR | O_NOCTTY)) < 0 || (flags = fcntl(slave, F_GETFL)) < 0 ||
        fcntl(slave, F_SETFL, flags | O_NONBLOCK) < 0 || (pid = fork()) < 0) {
        if (slave >= 0) close(slave);
        if (master >= 0) close(master);
        return luaL_error(L, "stalledtty: cannot make the terminal or the process");
    }
    if (pid == 0) {
        close(master);
        if (dup2(slave, 1) < 0) _exit(127);
        close(slave);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(slave);
    while (waitpid(pid, &status, 0) < 0) {}
    close(master);
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 1;
}

int luaopen_specstalledtty(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_run);
    lua_setfield(L, -2, "run");
    return 1;
}
