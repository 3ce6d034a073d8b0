/* The libcurl multi handle of a client: runs any number of transfers at
 * once, sharing one connection cache (and HTTP/2 connections, where the
 * server offers them).  Transfers are kept for reuse.  No Lua here. */
#ifndef CAB_MULTI_H
#define CAB_MULTI_H

#include <stddef.h>

#include "easy.h"

typedef struct cab_multi cab_multi;

/* Creates the multi handle; NULL with err filled in when libcurl fails. */
cab_multi *cab_multi_new(const cab_http_options *opt, char *err, size_t errlen);
void cab_multi_free(cab_multi *m);

/* Starts a request on an idle transfer; timeout_ms (> 0) bounds it.
 * Returns its slot (>= 0), or -1 with *st and err saying why. */
int cab_multi_start(cab_multi *m, const char *method, const char *url, const char *const *headers,
                    size_t n_headers, const char *body, size_t body_len, long timeout_ms,
                    cab_http_status *st, char *err, size_t errlen);

#define CAB_MULTI_IDLE (-1)    /* nothing was running */
#define CAB_MULTI_WAITED (-2)  /* wait_ms passed with nothing finished */

/* Drives the running transfers until one has finished and returns its
 * slot, with *st, *not_sent (see cab_easy_finish) and err when it failed;
 * its answer is readable with cab_multi_response until cab_multi_release.
 * wait_ms < 0 waits as long as it takes.  With wait_ms >= 0 it returns
 * CAB_MULTI_WAITED when that passes first; when nothing is running it
 * sleeps wait_ms and returns CAB_MULTI_IDLE (so a caller can wait for a
 * retry's turn here too).  With wait_ms < 0 and nothing running it
 * returns CAB_MULTI_IDLE at once. */
int cab_multi_next(cab_multi *m, long wait_ms, cab_http_status *st, int *not_sent, char *err,
                   size_t errlen);

const cab_http_response *cab_multi_response(const cab_multi *m, int slot);

/* Gives a finished slot's transfer back for reuse. */
void cab_multi_release(cab_multi *m, int slot);

/* Abandons every running or unreleased transfer (their connections close). */
void cab_multi_cancel(cab_multi *m);

#endif
