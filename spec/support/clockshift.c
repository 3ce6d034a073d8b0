/* A step of the system's clock, for the specs (preloaded into a program
 * with LD_PRELOAD): the wall clock (CLOCK_REALTIME, gettimeofday, time) is
 * moved by the seconds written in the file CLOCK_SHIFT_FILE names, read
 * at every call; the monotonic clock is left alone, as NTP or `date -s`
 * leave it.  Test code only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long shift(void) {
    const char *path = getenv("CLOCK_SHIFT_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    long s = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld", &s) != 1) s = 0;
    fclose(f);
    return s;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int (*real)(clockid_t, struct timespec *) = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += shift();
    return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    int (*real)(struct timeval *, void *) = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    int r = real(tv, tz);
    if (r == 0) tv->tv_sec += shift();
    return r;
}

time_t time(time_t *t) {
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0) return (time_t)-1;
    if (t) *t = tv.tv_sec;
    return tv.tv_sec;
}
