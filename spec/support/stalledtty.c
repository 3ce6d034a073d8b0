/* Runs a shell command whose stdout is a terminal that nothing reads:
 * once the terminal's buffer is full, a write fails with EAGAIN (left
 * non-blocking, as another program sharing the terminal may leave it) or
 * waits (blocking, as a CI runner's terminal whose reader stalled).  For
 * the command-line tool's specs (spec/support/cli.lua builds it through
 * clib.lua).  Test code only. */
#define _XOPEN_SOURCE 600
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* Waits up to ms milliseconds for pid to end: 1 when it did (*status set). */
static int ended_within(pid_t pid, int *status, long ms) {
    const struct timespec tick = {0, 20 * 1000000L};
    for (; ms >= 0; ms -= 20) {
        if (waitpid(pid, status, WNOHANG) == pid) return 1;
        nanosleep(&tick, NULL);
    }
    return 0;
}

/* run(command, blocking, term_after) -> the command's exit status, or
 * minus the signal that ended it.  With term_after (seconds), SIGTERM is
 * sent then, and SIGKILL 10 s later should the command still run.  The
 * command should exec its last process, whose pid it keeps. */
static int l_run(lua_State *L) {
    const char *cmd = luaL_checkstring(L, 1);
    int blocking = lua_toboolean(L, 2), master = posix_openpt(O_RDWR | O_NOCTTY), slave = -1, status = 0, flags;
    lua_Number term_after = luaL_optnumber(L, 3, -1);
    pid_t pid;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
        (slave = open(ptsname(master), O_RDWR | O_NOCTTY)) < 0 || (flags = fcntl(slave, F_GETFL)) < 0 ||
        (!blocking && fcntl(slave, F_SETFL, flags | O_NONBLOCK) < 0) || (pid = fork()) < 0) {
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
    if (term_after >= 0 && !ended_within(pid, &status, (long)(term_after * 1000))) {
        kill(pid, SIGTERM);
        if (!ended_within(pid, &status, 10000)) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0) {}
        }
    } else if (term_after < 0) {
        while (waitpid(pid, &status, 0) < 0) {}
    }
    close(master);
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1);
    return 1;
}

int luaopen_specstalledtty(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_run);
    lua_setfield(L, -2, "run");
    return 1;
}
