/* The libcurl multi handle of a client: runs any number of transfers at
 * once, sharing one connection cache (and HTTP/2 connections, where the
 * server offers them), each connection clean when used again (conns.h).
 * Transfers are kept for reuse.  No Lua here.
 *
 * Each transfer belongs to a group, one per call: a call sees only its
 * own answers and cancels only its own transfers, so calls may run
 * interleaved on one multi handle (a call made from another's progress
 * callback, or one left in a coroutine never resumed) and still share its
 * connections. */
#ifndef CAB_MULTI_H
#define CAB_MULTI_H

#include <stddef.h>

#include "easy.h"

typedef struct cab_multi cab_multi;

/* Creates the multi handle; NULL with err filled in when libcurl fails. */
cab_multi *cab_multi_new(const cab_http_options *opt, char *err, size_t errlen);
void cab_multi_free(cab_multi *m);

/* Whether m was made by another process (this one is a child forked from
 * it): its connections are the parent's too, and only the parent may use
 * or close them, so the child must neither use nor free m.  */
int cab_multi_inherited(const cab_multi *m);

/* In such a child: closes its descriptors of m's connections, without a
 * call to libcurl (a close here writes nothing while the parent holds
 * them), so that the child does not hold them open for the rest of its
 * life, past the parent's close.  m stays unused and unfreed. */
void cab_multi_disown(cab_multi *m);

/* A new group id, never 0. */
unsigned long cab_multi_group(cab_multi *m);

/* Starts a request of group on an idle transfer; timeout_ms (> 0) bounds
 * it: checked each time the transfers are driven, after they have read
 * what came, so time the caller spends away from the handle (its
 * callbacks) cannot throw away an answer that came meanwhile.  once: sent
 * at most once (see cab_easy_prepare).  Returns its slot (>= 0), or -1
 * with *st and err saying why. */
int cab_multi_start(cab_multi *m, unsigned long group, const char *method, const char *url,
                    const char *const *headers, size_t n_headers, const char *body, size_t body_len,
                    long timeout_ms, int once, cab_http_status *st, char *err, size_t errlen);

#define CAB_MULTI_IDLE (-1)    /* nothing of the group was running */
#define CAB_MULTI_WAITED (-2)  /* wait_ms passed with nothing of the group finished */

/* Drives every running transfer until one of group's has finished and
 * returns its slot, with *st, *not_sent (see cab_easy_finish) and err when
 * it failed; its answer is readable with cab_multi_response until
 * cab_multi_release.  wait_ms < 0 waits as long as it takes.  With wait_ms
 * >= 0 it returns CAB_MULTI_WAITED when that passes first; when nothing of
 * the group is running it sleeps wait_ms, still driving the other groups'
 * transfers, and returns CAB_MULTI_IDLE (so a caller can wait for a retry's
 * turn here too).  With wait_ms < 0 and
 * nothing of the group running it returns CAB_MULTI_IDLE at once. */
int cab_multi_next(cab_multi *m, unsigned long group, long wait_ms, cab_http_status *st, int *not_sent,
                   char *err, size_t errlen);

/* Takes, as cab_multi_next does, the slot of group that finished first
 * among those not yet taken, without driving any transfer: what earlier
 * drives (any group's) finished.  -1 when none has. */
int cab_multi_take(cab_multi *m, unsigned long group, cab_http_status *st, int *not_sent, char *err,
                   size_t errlen);

const cab_http_response *cab_multi_response(const cab_multi *m, int slot);

/* Whether a request of slot's attempt went out before the one its answer
 * answers, on a connection that died before answering it (libcurl wrote
 * it again by itself, or the slot began again): the server may have read
 * that one.  Until cab_multi_release. */
int cab_multi_went_out(const cab_multi *m, int slot);

/* Whether the err cab_multi_next gave of slot ends with libcurl's words
 * cut short (cab_easy_words_cut); until cab_multi_release. */
int cab_multi_words_cut(const cab_multi *m, int slot);

/* Gives a finished slot's transfer back for reuse. */
void cab_multi_release(cab_multi *m, int slot);

/* Moves a finished slot's answer body into *to (empty), leaving the
 * slot's empty: the body is kept past the slot's release without a copy,
 * so without an allocation that could fail. */
void cab_multi_move_body(cab_multi *m, int slot, cab_buf *to);

/* Abandons group's running and unreleased transfers (their connections
 * close); group 0 abandons every group's.  How many it abandoned. */
int cab_multi_cancel(cab_multi *m, unsigned long group);

/* How many transfers of group (0: of every group) are running or hold an
 * answer not yet released. */
int cab_multi_pending(const cab_multi *m, unsigned long group);

/* Watching from an event loop (Neovim's, transport/nvim.lua), instead of
 * waiting inside cab_multi_next.  libcurl's socket and timer callbacks
 * record which of its sockets it waits on, for what, and when it next
 * needs to run; they only record, and no Lua runs inside them.  The
 * sockets go into an epoll set (Linux), whose one descriptor the loop
 * watches for reading: it is ready when any of them is.  After each step
 * the loop reads the record with cab_multi_watch, and calls cab_multi_act
 * when the set is ready or the timeout passes.
 *
 * The loop never sees libcurl's sockets.  libcurl closes them inside its
 * own calls, while the loop may still watch them (and libuv must never
 * watch a closed descriptor, whose number may already belong to a new
 * socket); and libuv reports an error on a socket (a reset, a refused
 * connect) as EBADF, which luv writes to the editor's stderr.  The set
 * is the handle's for its whole life, lent to the loop until it gives it
 * back with cab_multi_unwatch, after it stopped watching. */
/* Lends the set, and sets *timeout_ms to the milliseconds until libcurl
 * needs cab_multi_act(m, -1), or -1 when it needs no timeout.  Returns
 * the set's descriptor, or -1 when the kernel refused to make one: then
 * every running transfer fails, as for lack of memory (as it does when a
 * socket could not be recorded).  From the first call on, cab_multi_next
 * also keeps the record true (see multi.c). */
int cab_multi_watch(cab_multi *m, long *timeout_ms);

/* Gives back the lent set, which the loop no longer watches. */
void cab_multi_unwatch(cab_multi *m, int fd);

/* Whether the set is lent and not given back. */
int cab_multi_lent(const cab_multi *m);

/* Lets libcurl act on the sockets the lent set fd finds ready, or, with
 * fd < 0, on its timeout; then marks finished transfers done. */
void cab_multi_act(cab_multi *m, int fd);

/* A number that changes whenever the record does or a transfer finishes:
 * a loop that compares it before blocking sees what a call elsewhere (a
 * synchronous one on the same handle, a cancel) changed. */
unsigned long cab_multi_changes(const cab_multi *m);

/* Whether an answer of group waits to be taken by cab_multi_next. */
int cab_multi_ready(const cab_multi *m, unsigned long group);

/* The news for an event loop: the answers waiting that came in since the
 * loop last took them, whichever drive took them in (the loop's, a
 * synchronous call's, another group's wait), so that a step wakes only
 * their calls rather than asking every call cab_multi_ready.
 * cab_multi_news counts them (a group with two answers twice), without
 * taking any.  cab_multi_take_news takes one: the first in slot `from`
 * (>= 0) or later, its group in *group; it returns its slot, or -1 when
 * none is left.  Only what is taken is forgotten: a caller takes no more
 * than it has made room for, and the rest wait for the next time. */
int cab_multi_news(const cab_multi *m);
int cab_multi_take_news(cab_multi *m, int from, unsigned long *group);

#endif
