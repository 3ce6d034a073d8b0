/* The limits the C core enforces, defined once.  The binding exports them
 * to Lua as core.limits, where config.lua states them as option limits and
 * the transports use them, so that whatever new() accepts every layer
 * accepts. */
#ifndef CAB_LIMIT_H
#define CAB_LIMIT_H

/* Request headers, signed or not, that one request may carry. */
#define CAB_MAX_HEADERS 64

/* The most an answer's status line and headers (or its trailers) may take,
 * on every transport: past it the answer is RESPONSE_TOO_LARGE. */
#define CAB_MAX_HEADER_BYTES (64 * 1024)

/* Any timeout, deadline or wait, in seconds: one day.  In milliseconds it
 * still fits the `long` libcurl takes on every platform (2^31 - 1). */
#define CAB_MAX_SECONDS 86400

/* The largest answer body a client may be told to accept: 1 GiB, which a
 * size_t holds on every platform and a double counts exactly. */
#define CAB_MAX_RESPONSE_BYTES (1024L * 1024 * 1024)

/* The longest X-Request-Id, and Date or Retry-After, an answer's head
 * gives that counts: a longer one is none on every transport, never cut
 * (a cut one could end in the start of a secret no redaction would
 * recognise).  An HTTP date takes 29 bytes. */
#define CAB_MAX_REQUEST_ID_BYTES 127
#define CAB_MAX_TIME_FIELD_BYTES 63

/* The longest trailer line, its line break aside, that libcurl takes (it
 * holds one with CRLF and a NUL in 4096 bytes): a longer one is PROTOCOL
 * on every transport. */
#define CAB_MAX_TRAILER_LINE_BYTES 4093

/* The most batches a call sends at once (its concurrency), and so the
 * most connections a client keeps open between calls: libcurl's cache,
 * and nginx's pool, hold that many. */
#define CAB_MAX_CONCURRENCY 256

#endif
