/* A malloc that fails on request, preloaded (LD_PRELOAD) into a child
 * process by the specs of what the C module does when its own allocations
 * fail.  Only allocations made by code in an object whose path holds
 * FAILMALLOC_IN count, and, when FAILMALLOC_WHILE names a variable, only
 * while the environment sets it to 1 (the child sets it around the work
 * it means, spec/support/setenv.c); the FAILMALLOC_AT-th of them fails.
 * At exit it says on stderr whether one failed ("failmalloc: failed 3 of
 * 40"), in a process where that object allocated: the programs the child
 * starts (a shell, curl) inherit the preload, and their words would be
 * taken for the child's.  Linux and glibc; test code only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static const char *in, *window;
static long at, seen;
static int ready, busy, met;

/* dlsym may allocate before the real functions are known: from here. */
static _Alignas(16) char early[4096];
static size_t early_used;

static void *early_alloc(size_t n) {
    void *p = early + early_used;
    early_used += (n + 15) & ~(size_t)15;
    return early_used <= sizeof early ? p : NULL;
}

static void setup(void) {
    const char *a;
    busy = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    in = getenv("FAILMALLOC_IN");
    window = getenv("FAILMALLOC_WHILE");
    a = getenv("FAILMALLOC_AT");
    at = a ? atol(a) : 0;
    ready = 1;
    busy = 0;
}

/* Whether allocations count now (FAILMALLOC_WHILE). */
static int counting(void) {
    const char *v;
    return !window || ((v = getenv(window)) && strcmp(v, "1") == 0);
}

/* Whether the allocation the code at caller asks for fails. */
static int fails(void *caller) {
    Dl_info info;
    int hit = 0;
    if (busy || !in) return 0;
    busy = 1;
    if (dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, in)) {
        met = 1;
        if (counting()) hit = ++seen == at;
    }
    busy = 0;
    if (hit) errno = ENOMEM;
    return hit;
}

void *malloc(size_t n) {
    if (!ready) {
        if (busy) return early_alloc(n);
        setup();
    }
    return fails(__builtin_return_address(0)) ? NULL : real_malloc(n);
}

void *calloc(size_t k, size_t n) {
    if (!ready) {
        if (busy) return early_alloc(k * n); /* (zeroed: static) */
        setup();
    }
    return fails(__builtin_return_address(0)) ? NULL : real_calloc(k, n);
}

void *realloc(void *p, size_t n) {
    if (!ready) setup();
    return n > 0 && fails(__builtin_return_address(0)) ? NULL : real_realloc(p, n);
}

void free(void *p) {
    if ((char *)p >= early && (char *)p < early + sizeof early) return;
    if (!ready) setup();
    real_free(p);
}

__attribute__((destructor)) static void report(void) {
    if (met) fprintf(stderr, "failmalloc: failed %ld of %ld\n", at > 0 && at <= seen ? at : 0, seen);
}
