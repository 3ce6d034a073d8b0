/* For MAP_ANONYMOUS and madvise (fork_mark_new): a feature-test macro,
 * the one reserved name a program is meant to define. */
#define _DEFAULT_SOURCE /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

#include "multi.h"
#include "conns.h"
#include "limit.h"
#include "requirements.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef enum { SLOT_IDLE = 0, SLOT_RUNNING, SLOT_DONE, SLOT_FINISHED } slot_state;

typedef struct {
    cab_easy *easy; /* NULL until first used */
    slot_state state;
    CURLcode rc;      /* how libcurl ended it (SLOT_DONE) */
    unsigned long seq; /* order of completion, so answers come out first done, first out */
    unsigned long group; /* the call that started it */
    int restarts;     /* times it began again, its connection not clean (conns.h) */
    int resent;       /* it began again on a new connection, its kept ones dead (cab_easy_stale) */
    int went_out;     /* it began again after a request of it went out: the server may have read it */
    long timeout_ms;  /* what bounds the attempt (> 0), or 0 for nothing */
    long long due;    /* when it times out (now_ms) */
    int news;         /* done since cab_multi_take_news last listed it */
} slot;

/* A socket libcurl waits on (see "Watching from an event loop" in
 * multi.h). */
typedef struct {
    curl_socket_t sock; /* libcurl's */
    int what;           /* CURL_POLL_IN, _OUT or _INOUT: what libcurl waits for */
} watch;

struct cab_multi {
    CURLM *multi;
    cab_http_options opt;
    char *ca_file, *ca_path, *proxy, *noproxy; /* our copies of the options' strings */
    slot *slots;
    int n_slots;
    int running;
    unsigned long done_seq;
    unsigned long groups; /* the last group id handed out */
    pid_t pid;            /* the process that made it */
    int *fork_mark;       /* 1, in a page a forked child sees zeroed; or NULL */
    watch *watches;       /* what the socket callback recorded */
    int n_watches, cap_watches;
    int set;              /* the epoll set of the recorded sockets, lent to
                             the event loop; -1 before it first watches */
    int set_lent;         /* the loop watches set: it stays open */
    long long timer_due;   /* when libcurl next needs to run (now_ms), or -1 */
    unsigned long changes; /* see cab_multi_changes */
    int watched;           /* an event loop reads the record: keep it true */
    int unrecorded;        /* a socket went unrecorded, for lack of memory */
    cab_conns *conns;      /* its connections, kept clean for reuse */
};

/* How often a transfer begins again when the connection it was given
 * held bytes nobody asked for (conns.h): each such connection closes.
 * The last time goes on a new connection, which is never refused, so
 * that any number of dirty kept-alive connections costs no attempt.  (A
 * cap rather than none: each refusal closes one connection, but the
 * other transfers under way may keep leaving dirty ones in the cache.) */
#define MAX_RESTARTS 2

/* curl_global_init is not thread-safe before 7.84 and must run once; it is
 * deferred to the first client's transport so that nothing is initialised
 * in a process (an nginx master, say) that only loads the module and
 * forks. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Headers older than 7.87.0 mark nothing deprecated, and lack the macro. */
#ifndef CURL_IGNORE_DEPRECATION
#define CURL_IGNORE_DEPRECATION(statements) statements
#endif

/* Milliseconds of CLOCK_MONOTONIC, for wait limits and libcurl's timer. */
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry libcurl still uses for sock, or NULL. */
static watch *watch_of_sock(cab_multi *m, curl_socket_t sock) {
    int i;
    for (i = 0; i < m->n_watches; i++)
        if (m->watches[i].sock == sock) return &m->watches[i];
    return NULL;
}

static void watch_drop(cab_multi *m, watch *w) { *w = m->watches[--m->n_watches]; }

/* Brings sock's place in the epoll set in line with what libcurl waits
 * for (nothing: out of it); 0, or -1 when the kernel refused. */
static int set_follow(cab_multi *m, curl_socket_t sock, int what) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = sock;
    if (!ev.events) return epoll_ctl(m->set, EPOLL_CTL_DEL, sock, &ev) == 0 || errno == ENOENT ? 0 : -1;
    if (epoll_ctl(m->set, EPOLL_CTL_MOD, sock, &ev) == 0) return 0;
    return errno == ENOENT && epoll_ctl(m->set, EPOLL_CTL_ADD, sock, &ev) == 0 ? 0 : -1;
}

/* libcurl's socket callback: records what it waits for on sock, in the
 * epoll set too once there is one.  A socket it is done with (it may
 * close it as soon as this returns) leaves both. */
static int on_socket(CURL *easy, curl_socket_t sock, int what, void *ud, void *sockp) {
    cab_multi *m = ud;
    watch *w = watch_of_sock(m, sock);
    (void)easy;
    (void)sockp;
    m->changes++;
    if (what == CURL_POLL_REMOVE) {
        if (w) watch_drop(m, w);
        if (m->set >= 0) (void)set_follow(m, sock, 0);
        return 0;
    }
    if (!w) {
        if (m->n_watches == m->cap_watches) {
            int n = m->cap_watches ? m->cap_watches * 2 : 4;
            watch *grown = realloc(m->watches, (size_t)n * sizeof *grown);
            if (!grown) { /* cab_multi_watch fails the transfers */
                m->unrecorded = 1;
                return 0;
            }
            m->watches = grown;
            m->cap_watches = n;
        }
        w = &m->watches[m->n_watches++];
        w->sock = sock;
    }
    w->what = what;
    if (m->set >= 0 && set_follow(m, sock, what) != 0) m->unrecorded = 1;
    return 0;
}

/* libcurl's timer callback: records when it next needs to run. */
static int on_timer(CURLM *multi, long timeout_ms, void *ud) {
    cab_multi *m = ud;
    (void)multi;
    m->timer_due = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    m->changes++;
    return 0;
}

/* A page the kernel zeroes in a forked child (MADV_WIPEONFORK, Linux
 * 4.14), holding 1: reading it tells a child from its parent without the
 * system call getpid is, which a call asks at each step.  NULL where the
 * kernel has no such pages; then getpid tells. */
static int *fork_mark_new(void) {
#ifdef MADV_WIPEONFORK
    long size = sysconf(_SC_PAGESIZE);
    void *page;
    if (size <= 0) return NULL;
    page = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return NULL;
    if (madvise(page, (size_t)size, MADV_WIPEONFORK) != 0) {
        (void)munmap(page, (size_t)size);
        return NULL;
    }
    *(int *)page = 1;
    return page;
#else
    return NULL;
#endif
}

static char *dup_or_null(const char *s, int *failed) {
    char *d;
    if (!s) return NULL;
    if (!(d = malloc(strlen(s) + 1))) {
        *failed = 1;
        return NULL;
    }
    return strcpy(d, s);
}

cab_multi *cab_multi_new(const cab_http_options *opt, char *err, size_t errlen) {
    cab_multi *m;
    int failed = 0;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    if (!(m = calloc(1, sizeof *m))) goto nomem;
    m->opt = *opt;
    m->opt.ca_file = m->ca_file = dup_or_null(opt->ca_file, &failed);
    m->opt.ca_path = m->ca_path = dup_or_null(opt->ca_path, &failed);
    m->opt.proxy = m->proxy = dup_or_null(opt->proxy, &failed);
    m->opt.noproxy = m->noproxy = dup_or_null(opt->noproxy, &failed);
    m->pid = getpid();
    m->fork_mark = fork_mark_new();
    m->timer_due = -1;
    m->set = -1;
    if (failed || !(m->conns = cab_conns_new()) || !(m->multi = curl_multi_init())) goto nomem;
    /* Multiplex on HTTP/2 where the server offers it (libcurl's default
     * since 7.62, stated because batches rely on it).  The socket and
     * timer callbacks only record (see multi.h). */
    if (curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK ||
        /* (left unset, libcurl keeps 4 connections for each transfer
         * under way: as a call's last batches finish it closes the ones
         * the others used, which the next call opens again) */
        curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)CAB_MAX_CONCURRENCY) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m) != CURLM_OK) {
        snprintf(err, errlen, "libcurl refused a multi handle option");
        cab_multi_free(m);
        return NULL;
    }
    return m;
nomem:
    cab_multi_free(m);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void cab_multi_free(cab_multi *m) {
    int i;
    if (!m) return;
    (void)cab_multi_cancel(m, 0);
    for (i = 0; i < m->n_slots; i++) cab_easy_free(m->slots[i].easy);
    free(m->slots);
    /* Cleaning up may still call on_socket, which needs m. */
    if (m->multi) curl_multi_cleanup(m->multi);
    if (m->set >= 0) (void)close(m->set);
    free(m->watches);
    cab_conns_free(m->conns);
    free(m->ca_file);
    free(m->ca_path);
    free(m->proxy);
    free(m->noproxy);
    if (m->fork_mark) (void)munmap(m->fork_mark, (size_t)sysconf(_SC_PAGESIZE));
    free(m);
}

int cab_multi_inherited(const cab_multi *m) { return m->fork_mark ? *m->fork_mark == 0 : m->pid != getpid(); }

/* The epoll set stays open: every epoll set (eventfd, timerfd) shares one
 * inode, so nothing proves that its number is still the set's.  It holds
 * no connection open. */
void cab_multi_disown(cab_multi *m) { cab_conns_disown(m->conns); }

unsigned long cab_multi_group(cab_multi *m) { return ++m->groups ? m->groups : ++m->groups; }

/* An idle slot, with a transfer, growing the table when all are busy. */
static int idle_slot(cab_multi *m, char *err, size_t errlen) {
    int i;
    for (i = 0; i < m->n_slots; i++)
        if (m->slots[i].state == SLOT_IDLE) break;
    if (i == m->n_slots) {
        int n = m->n_slots ? m->n_slots * 2 : 4;
        slot *s = realloc(m->slots, (size_t)n * sizeof *s);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memset(s + m->n_slots, 0, (size_t)(n - m->n_slots) * sizeof *s);
        m->slots = s;
        m->n_slots = n;
    }
    if (!m->slots[i].easy) {
        if (!(m->slots[i].easy = cab_easy_new(&m->opt, err, errlen))) return -1;
        if (cab_conns_use(m->conns, cab_easy_conns(m->slots[i].easy), cab_easy_handle(m->slots[i].easy))) {
            cab_easy_free(m->slots[i].easy);
            m->slots[i].easy = NULL;
            snprintf(err, errlen, "libcurl refused a socket option");
            return -1;
        }
    }
    return i;
}

int cab_multi_start(cab_multi *m, unsigned long group, const char *method, const char *url,
                    const char *const *headers, size_t n_headers, const char *body, size_t body_len,
                    long timeout_ms, int once, cab_http_status *st, char *err, size_t errlen) {
    int i = idle_slot(m, err, errlen);
    CURL *h;
    CURLMcode mc;
    *st = CAB_HTTP_NOMEM;
    if (i < 0) return -1;
    *st = cab_easy_prepare(m->slots[i].easy, method, url, headers, n_headers, body, body_len, once, err, errlen);
    if (*st != CAB_HTTP_OK) return -1;
    h = cab_easy_handle(m->slots[i].easy);
    /* The slot's index rides on the handle, to find it when it is done. */
    if (curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)(intptr_t)i) != CURLE_OK) {
        *st = CAB_HTTP_NOMEM;
        snprintf(err, errlen, "libcurl could not start the transfer");
        return -1;
    }
    if ((mc = curl_multi_add_handle(m->multi, h)) != CURLM_OK) {
        *st = CAB_HTTP_NOMEM;
        snprintf(err, errlen, "libcurl could not start the transfer: %s", curl_multi_strerror(mc));
        return -1;
    }
    m->slots[i].state = SLOT_RUNNING;
    m->slots[i].group = group;
    m->slots[i].restarts = 0;
    m->slots[i].resent = 0;
    m->slots[i].went_out = 0;
    m->slots[i].timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    m->slots[i].due = now_ms() + timeout_ms;
    m->running++;
    return i;
}

/* Running transfer s ended with rc (its handle already removed): done,
 * its answer waiting for its call, which an event loop learns of
 * (cab_multi_changes, cab_multi_take_news) whoever's drive ended it. */
static void mark_done(cab_multi *m, slot *s, CURLcode rc) {
    s->rc = rc;
    s->state = SLOT_DONE;
    s->seq = m->done_seq++;
    s->news = 1;
    m->changes++;
    m->running--;
}

/* Whether s's transfer, ended with rc, begins again rather than being
 * done; not counted as an attempt, as its request either never left or
 * found its connections closed before any answer. */
static int begins_again(slot *s, CURLcode rc) {
    /* Stopped before its request left, for its connection was not clean
     * (libcurl closes that connection).  libcurl may have written it on
     * another kept-alive connection before, which died under it, and
     * begun it again there by itself: beginning again forgets that
     * (libcurl's first pass after curl_multi_add_handle resets the
     * pre-transfer time), so it is kept here. */
    if (cab_conns_refused(rc) && s->restarts < MAX_RESTARTS) {
        s->went_out |= cab_easy_wrote(s->easy);
        return ++s->restarts < MAX_RESTARTS || cab_easy_fresh(s->easy) == 0;
    }
    /* Its kept-alive connections were dead: once more, on a new one. */
    if (!s->resent && cab_easy_stale(s->easy, rc)) {
        s->resent = s->went_out = 1;
        return cab_easy_fresh(s->easy) == 0;
    }
    return 0;
}

/* Marks every transfer libcurl reports finished as done. */
static void collect(cab_multi *m) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        void *priv = NULL;
        /* (msg is libcurl's, and no longer valid once its handle is removed) */
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        int i;
        if (msg->msg != CURLMSG_DONE) continue;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK) continue;
        i = (int)(intptr_t)priv;
        if (i < 0 || i >= m->n_slots || m->slots[i].state != SLOT_RUNNING) continue;
        if (rc == CURLE_OK) cab_conns_answered(m->conns, easy);
        /* libcurl's "could not connect" for a socket of this attempt's
         * that could not be recorded: memory ran out, not the network.
         * (Asked as every attempt ends, so that none carries it over.) */
        if (cab_conns_took_nomem(cab_easy_conns(m->slots[i].easy)) && rc == CURLE_COULDNT_CONNECT) {
            rc = CURLE_OUT_OF_MEMORY;
            cab_easy_stopped(m->slots[i].easy, "out of memory (recording a connection)");
        }
        /* Removing a handle that was added cannot fail; its connection
         * stays in the cache for the next request. */
        (void)curl_multi_remove_handle(m->multi, easy);
        if (begins_again(&m->slots[i], rc) && curl_multi_add_handle(m->multi, easy) == CURLM_OK) continue;
        mark_done(m, &m->slots[i], rc);
    }
}

/* The slot of group that finished first among those not yet handed out,
 * or -1. */
static int first_done(const cab_multi *m, unsigned long group) {
    int i, best = -1;
    for (i = 0; i < m->n_slots; i++)
        if (m->slots[i].state == SLOT_DONE && m->slots[i].group == group &&
            (best < 0 || m->slots[i].seq < m->slots[best].seq))
            best = i;
    return best;
}

static int running(const cab_multi *m, unsigned long group) {
    int i, n = 0;
    for (i = 0; i < m->n_slots; i++) n += m->slots[i].state == SLOT_RUNNING && m->slots[i].group == group;
    return n;
}

int cab_multi_pending(const cab_multi *m, unsigned long group) {
    int i, n = 0;
    for (i = 0; i < m->n_slots; i++)
        n += (m->slots[i].state == SLOT_RUNNING || m->slots[i].state == SLOT_DONE) &&
             (group == 0 || m->slots[i].group == group);
    return n;
}

/* Every running transfer fails with rc; why (when not NULL) is what
 * cab_easy_finish then says of it, else libcurl's words for rc.  Whether
 * its request was sent, cab_easy_finish tells. */
static void fail_running(cab_multi *m, CURLcode rc, const char *why) {
    int i;
    for (i = 0; i < m->n_slots; i++) {
        if (m->slots[i].state != SLOT_RUNNING) continue;
        (void)curl_multi_remove_handle(m->multi, cab_easy_handle(m->slots[i].easy));
        if (why) cab_easy_stopped(m->slots[i].easy, why);
        mark_done(m, &m->slots[i], rc);
    }
}

/* The multi handle itself failed (mc): every running transfer fails. */
static void fail_multi(cab_multi *m, CURLMcode mc) {
    fail_running(m, mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR, NULL);
}

/* Ends as timed out every running transfer whose time is up before its
 * request went out (cab_easy_wrote).  libcurl's next pass would send it
 * on a connection made meanwhile (while the caller's code ran past the
 * timeout: a callback that blocked, a coroutine resumed late, an editor
 * busy), and expire would then call it a TIMEOUT at once, after the server
 * had read it: a run that started pipelines, reported unanswered and not
 * to be tried again.  Ended before it goes, it is not sent
 * (cab_easy_finish), as on the cosocket transports (transport/http1.lua),
 * so a run is tried again.  No answer is lost: none comes before the
 * request.  So this runs before every pass of libcurl's over the
 * transfers (perform, cab_multi_act). */
static void expire_unsent(cab_multi *m) {
    long long now = now_ms();
    int i;
    for (i = 0; i < m->n_slots; i++) {
        slot *s = &m->slots[i];
        if (s->state != SLOT_RUNNING || !s->timeout_ms || now < s->due || cab_easy_wrote(s->easy)) continue;
        (void)curl_multi_remove_handle(m->multi, cab_easy_handle(s->easy));
        cab_easy_timed_out(s->easy, s->timeout_ms);
        mark_done(m, s, CURLE_OPERATION_TIMEDOUT);
    }
}

/* Runs every transfer once, after ending those whose time is up before
 * their request went out (expire_unsent).  curl_multi_perform tells the
 * socket callback nothing, so once an event loop watches the record
 * (cab_multi_watch), a call waiting here (a synchronous one on the same
 * handle) would leave the record stale for the loop: a socket libcurl
 * opened here would never be watched.  curl_multi_socket_all is
 * curl_multi_perform and then the socket callback for every transfer:
 * libcurl marks it deprecated in favour of curl_multi_socket_action, which
 * runs only the transfers of one socket, but it is the one call that
 * brings the whole record up to date. */
static CURLMcode perform(cab_multi *m, int *still) {
    expire_unsent(m);
    if (!m->watched) return curl_multi_perform(m->multi, still);
    CURL_IGNORE_DEPRECATION(return curl_multi_socket_all(m->multi, still);)
}

/* Whether a running transfer's time is up. */
static int overdue(const cab_multi *m, long long now) {
    int i;
    for (i = 0; i < m->n_slots; i++)
        if (m->slots[i].state == SLOT_RUNNING && m->slots[i].timeout_ms && now >= m->slots[i].due) return 1;
    return 0;
}

/* How many more passes over every transfer libcurl gets before one whose
 * time is up is ended: a pass that reads an HTTP/2 stream's last frames
 * may complete its transfer only in the next one. */
#define LAST_LOOKS 3

/* Ends as timed out every running transfer whose time is up.  The library
 * keeps the attempts' timeouts rather than libcurl (CURLOPT_TIMEOUT_MS),
 * which checks a transfer's time before it reads its socket: an answer
 * that came in while the caller's code ran past the timeout (a callback
 * that blocks, a coroutine resumed late, an editor busy past it) would be
 * thrown away.  So this runs after what finished was collected, and first
 * lets libcurl read every socket again (an event loop's timer may fire
 * before the socket's event, and its pass reads no socket).  Those looks
 * send nothing late: each pass first ends the transfers whose request
 * had not gone out (perform). */
static void expire(cab_multi *m) {
    long long now;
    int i, still;
    for (i = 0; i < LAST_LOOKS && overdue(m, now_ms()); i++) {
        if (perform(m, &still) != CURLM_OK) break;
        collect(m);
    }
    now = now_ms();
    for (i = 0; i < m->n_slots; i++) {
        slot *s = &m->slots[i];
        if (s->state != SLOT_RUNNING || !s->timeout_ms || now < s->due) continue;
        (void)curl_multi_remove_handle(m->multi, cab_easy_handle(s->easy));
        cab_easy_timed_out(s->easy, s->timeout_ms);
        mark_done(m, s, CURLE_OPERATION_TIMEDOUT);
    }
}

/* Milliseconds until the first running transfer times out, at most
 * limit (>= 0). */
static long until_expiry(const cab_multi *m, long limit) {
    long long now = now_ms();
    int i;
    for (i = 0; i < m->n_slots; i++) {
        const slot *s = &m->slots[i];
        if (s->state == SLOT_RUNNING && s->timeout_ms && s->due - now < limit)
            limit = s->due > now ? (long)(s->due - now) : 0;
    }
    return limit;
}

/* Runs every transfer once, then marks those finished done, and those
 * whose time is up timed out. */
static CURLMcode drive(cab_multi *m) {
    int still;
    CURLMcode mc = perform(m, &still);
    if (mc != CURLM_OK) return mc;
    collect(m);
    expire(m);
    return CURLM_OK;
}

int cab_multi_next(cab_multi *m, unsigned long group, long wait_ms, cab_http_status *st, int *not_sent,
                   char *err, size_t errlen) {
    int i;
    CURLMcode mc = CURLM_OK;
    long long until = wait_ms >= 0 ? now_ms() + wait_ms : 0;
    *not_sent = 0;
    for (;;) {
        long slice = 1000;
        collect(m);
        if (first_done(m, group) >= 0) break;
        if (running(m, group) == 0) {
            /* A sleep of wait_ms that keeps the caller's clock (curl_multi_poll
             * waits its whole timeout even with nothing to watch) and the
             * transfers of other calls on the handle (one made from another's
             * callback) going: their events end a poll early, so they are
             * driven, or the poll would return at once again and spin. */
            while (wait_ms > 0 && (slice = (long)(until - now_ms())) > 0) {
                if ((mc = drive(m)) == CURLM_OK)
                    mc = curl_multi_poll(m->multi, NULL, 0, (int)until_expiry(m, slice < 1000 ? slice : 1000), NULL);
                if (mc != CURLM_OK) {
                    fail_multi(m, mc);
                    break;
                }
            }
            return CAB_MULTI_IDLE;
        }
        if ((mc = drive(m)) != CURLM_OK) break;
        if (first_done(m, group) >= 0) break;
        if (wait_ms >= 0) {
            long long left = until - now_ms();
            if (left <= 0) return CAB_MULTI_WAITED;
            if (left < slice) slice = (long)left;
        }
        /* libcurl never sleeps past its next timer, nor this past the
         * first attempt's timeout, so timeouts hold. */
        if ((mc = curl_multi_wait(m->multi, NULL, 0, (int)until_expiry(m, slice), NULL)) != CURLM_OK) break;
    }
    if (mc != CURLM_OK) fail_multi(m, mc);
    i = cab_multi_take(m, group, st, not_sent, err, errlen);
    return i >= 0 ? i : CAB_MULTI_IDLE;
}

int cab_multi_take(cab_multi *m, unsigned long group, cab_http_status *st, int *not_sent, char *err,
                   size_t errlen) {
    int i = first_done(m, group);
    *not_sent = 0;
    if (i < 0) return -1;
    m->slots[i].state = SLOT_FINISHED;
    *st = cab_easy_finish(m->slots[i].easy, m->slots[i].rc, not_sent, err, errlen);
    /* (begun again after its request went out on a kept connection:
     * whatever the next one did, the server may have read it; libcurl's
     * own resends are in cab_easy_finish's pre-transfer time) */
    if (m->slots[i].went_out) *not_sent = 0;
    return i;
}

const cab_http_response *cab_multi_response(const cab_multi *m, int slot) {
    return cab_easy_response(m->slots[slot].easy);
}

int cab_multi_went_out(const cab_multi *m, int i) {
    const slot *s = &m->slots[i];
    int again = cab_conns_wrote_again(cab_easy_conns(s->easy));
    /* (not known below libcurl 7.80.0: only a request that goes once,
     * which libcurl never sends again by itself, surely went out once) */
    return s->went_out || again > 0 || (again < 0 && !cab_easy_once(s->easy));
}

int cab_multi_words_cut(const cab_multi *m, int slot) { return cab_easy_words_cut(m->slots[slot].easy); }

void cab_multi_release(cab_multi *m, int slot) {
    if (slot >= 0 && slot < m->n_slots && m->slots[slot].state == SLOT_FINISHED)
        m->slots[slot].state = SLOT_IDLE;
}

void cab_multi_move_body(cab_multi *m, int slot, cab_buf *to) { cab_easy_take_body(m->slots[slot].easy, to); }

int cab_multi_cancel(cab_multi *m, unsigned long group) {
    int i, n = 0;
    for (i = 0; i < m->n_slots; i++) {
        if (group != 0 && m->slots[i].group != group) continue;
        if (m->slots[i].state == SLOT_RUNNING) {
            (void)curl_multi_remove_handle(m->multi, cab_easy_handle(m->slots[i].easy));
            m->running--;
        }
        if (m->slots[i].state != SLOT_IDLE) n++;
        m->slots[i].state = SLOT_IDLE;
    }
    return n;
}

/* Opens the epoll set and puts every recorded socket in it; 0, or the
 * system's error (the set stays unopened) when the kernel refused. */
static int set_open(cab_multi *m) {
    int i, err;
    if ((m->set = epoll_create1(EPOLL_CLOEXEC)) < 0) return errno;
    for (i = 0; i < m->n_watches; i++) {
        if (set_follow(m, m->watches[i].sock, m->watches[i].what) != 0) {
            err = errno;
            (void)close(m->set);
            m->set = -1;
            return err;
        }
    }
    return 0;
}

int cab_multi_watch(cab_multi *m, long *timeout_ms) {
    int unrecorded = m->unrecorded, no_set = m->set < 0 ? set_open(m) : 0;
    m->watched = 1;
    m->unrecorded = 0;
    m->set_lent = m->set >= 0;
    /* A socket that cannot be watched (unrecorded, or the kernel refused
     * the set: no descriptor left, say) would stall its transfers until
     * they time out: they fail now instead, the latter as the network's
     * failure, as a socket that cannot be opened fails a synchronous call. */
    if (unrecorded) {
        fail_running(m, CURLE_OUT_OF_MEMORY, NULL);
    } else if (no_set) {
        char why[128];
        snprintf(why, sizeof why, "the connections cannot be watched: %s", strerror(no_set));
        fail_running(m, CURLE_RECV_ERROR, why);
    }
    if (m->timer_due < 0) {
        *timeout_ms = -1;
    } else {
        long long left = m->timer_due - now_ms();
        *timeout_ms = left > 0 ? (long)left : 0;
    }
    /* The attempts' timeouts are the library's: the loop acts on them too. */
    if (m->running) *timeout_ms = until_expiry(m, *timeout_ms < 0 ? LONG_MAX : *timeout_ms);
    if (*timeout_ms == LONG_MAX) *timeout_ms = -1;
    return m->set;
}

void cab_multi_unwatch(cab_multi *m, int fd) {
    if (fd >= 0 && fd == m->set) m->set_lent = 0;
}

int cab_multi_lent(const cab_multi *m) { return m->set_lent; }

/* What libcurl is told of a socket the set found ready: what it waits
 * for, on an error or a hang-up, so that it reads or writes the socket
 * and meets the error itself (a reset kept-alive connection then gets its
 * resend). */
static int ready_mask(const watch *w, uint32_t ready) {
    if (ready & (EPOLLERR | EPOLLHUP)) ready |= EPOLLIN | EPOLLOUT;
    return ((ready & EPOLLIN) && (w->what & CURL_POLL_IN) ? CURL_CSELECT_IN : 0) |
           ((ready & EPOLLOUT) && (w->what & CURL_POLL_OUT) ? CURL_CSELECT_OUT : 0);
}

/* Lets libcurl act on each socket the set finds ready now.  Acting on one
 * may close others: each is looked up in the record as its turn comes. */
#define READY_AT_ONCE 16
static CURLMcode act_on_ready(cab_multi *m) {
    struct epoll_event ready[READY_AT_ONCE];
    int n = epoll_wait(m->set, ready, READY_AT_ONCE, 0), i, still;
    for (i = 0; i < n; i++) {
        const watch *w = watch_of_sock(m, ready[i].data.fd);
        CURLMcode mc;
        if (!w) continue;
        mc = curl_multi_socket_action(m->multi, w->sock, ready_mask(w, ready[i].events), &still);
        if (mc != CURLM_OK) return mc;
    }
    return CURLM_OK;
}

void cab_multi_act(cab_multi *m, int fd) {
    int still;
    CURLMcode mc;
    if (fd >= 0 && fd != m->set) return;
    expire_unsent(m); /* (before libcurl may send them) */
    if (fd >= 0) {
        mc = act_on_ready(m);
    } else {
        /* libcurl's timer fires once: it sets a new one (on_timer) if it
         * needs one.  Left as it was, the event loop would be told it is
         * due at once, again and again. */
        m->timer_due = -1;
        m->changes++;
        mc = curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    }
    if (mc != CURLM_OK) fail_multi(m, mc);
    collect(m);
    expire(m);
}

unsigned long cab_multi_changes(const cab_multi *m) { return m->changes; }

int cab_multi_ready(const cab_multi *m, unsigned long group) { return first_done(m, group) >= 0; }

/* A slot done since it was last listed whose answer still waits: one
 * taken meanwhile (its call was awake) is no news. */
static int is_news(const slot *s) { return s->news && s->state == SLOT_DONE; }

int cab_multi_news(const cab_multi *m) {
    int i, n = 0;
    for (i = 0; i < m->n_slots; i++) n += is_news(&m->slots[i]);
    return n;
}

int cab_multi_take_news(cab_multi *m, int from, unsigned long *group) {
    int i;
    for (i = from; i < m->n_slots; i++) {
        if (!is_news(&m->slots[i])) continue;
        m->slots[i].news = 0;
        *group = m->slots[i].group;
        return i;
    }
    return -1;
}
