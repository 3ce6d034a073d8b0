/* Looks for bytes in this process's own memory, for the specs that check
 * a secret is wiped (spec/support/clib.lua builds it).  Linux only; test
 * code only. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#define CHUNK (1 << 20)
#define MOST (256UL << 20) /* a larger mapping (a sanitizer's shadow) is skipped */

typedef struct {
    const char *a, *b;
    size_t al, bl;
    char *buf; /* read into; itself skipped */
    int mem;
    long hits;
} scan;

/* Counts a then b in memory [lo, hi), read in chunks that overlap by one
 * byte less than what is looked for, so that nothing is missed or counted
 * twice. */
static void scan_range(scan *s, unsigned long lo, unsigned long hi) {
    size_t span = s->al + s->bl, step = CHUNK - (span - 1), i;
    unsigned long at;
    for (at = lo; at < hi; at += step) {
        ssize_t got = pread(s->mem, s->buf, hi - at < CHUNK ? hi - at : CHUNK, (off_t)at);
        if (got <= 0) return;
        for (i = 0; i + span <= (size_t)got && i < step; i++)
            if (memcmp(s->buf + i, s->a, s->al) == 0 && memcmp(s->buf + i + s->al, s->b, s->bl) == 0) s->hits++;
    }
}

/* count(a, b) -> how many times the bytes of a, then those of b, lie in
 * the process's writable memory (its stack aside).  Given in two halves,
 * the bytes looked for are nowhere whole in the Lua strings that say them. */
static int l_count(lua_State *L) {
    scan s;
    char line[512];
    FILE *maps;
    unsigned long from, to;
    s.a = luaL_checklstring(L, 1, &s.al);
    s.b = luaL_checklstring(L, 2, &s.bl);
    s.hits = 0;
    luaL_argcheck(L, s.al > 0 && s.al + s.bl < CHUNK, 1, "bad length");
    s.buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s.buf == MAP_FAILED) return luaL_error(L, "out of memory");
    from = (unsigned long)s.buf, to = from + CHUNK;
    maps = fopen("/proc/self/maps", "r");
    s.mem = open("/proc/self/mem", O_RDONLY);
    if (!maps || s.mem < 0) {
        munmap(s.buf, CHUNK);
        if (maps) fclose(maps);
        if (s.mem >= 0) close(s.mem);
        return luaL_error(L, "cannot read /proc/self/maps or /proc/self/mem");
    }
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
        if (strstr(line, "[stack]") || hi - lo > MOST) continue;
        /* (the buffer may share a line with its neighbours) */
        scan_range(&s, lo, hi < from ? hi : from > lo ? from : lo);
        scan_range(&s, to > lo ? to : lo, hi);
    }
    fclose(maps);
    close(s.mem);
    munmap(s.buf, CHUNK);
    lua_pushinteger(L, (lua_Integer)s.hits);
    return 1;
}

int luaopen_specmemscan(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, l_count);
    lua_setfield(L, -2, "count");
    return 1;
}
