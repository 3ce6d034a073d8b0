/* An answer's heads as libcurl hands them over, a line at a time
 * (CURLOPT_HEADERFUNCTION): interim 1xx heads, the answer's own, then its
 * trailers.  Keeps the fields the client reads and refuses framing no
 * client can trust, by the rule the cosocket transport reads them by
 * (lua/codearts/batchresult/transport/http1.lua).  No I/O, no libcurl. */
#ifndef CAB_HEAD_H
#define CAB_HEAD_H

#include <stddef.h>

#include "limit.h"

/* The fields the client reads, from the last head (never a trailer): a
 * repeated field's last line, unfolded; empty when there is none, or it
 * is too long to keep whole. */
typedef struct {
    char request_id[CAB_MAX_REQUEST_ID_BYTES + 1]; /* X-Request-Id */
    char date[CAB_MAX_TIME_FIELD_BYTES + 1];        /* Date */
    char retry_after[CAB_MAX_TIME_FIELD_BYTES + 1]; /* Retry-After */
} cab_head_fields;

typedef enum {
    CAB_HEAD_OK,
    CAB_HEAD_TOO_LARGE,   /* heads and trailers over CAB_MAX_HEADER_BYTES together */
    CAB_HEAD_TWO_LENGTHS, /* two different Content-Lengths (RFC 9112 6.3) */
    CAB_HEAD_BAD_LENGTH,  /* a Content-Length that is no number */
    CAB_HEAD_BAD_LINE,    /* no field ("name: value", the name a token), nor one folded into a field */
    CAB_HEAD_BAD_STATUS,  /* a status line not as RFC 9112 4 writes one */
    CAB_HEAD_SWITCHED     /* a 101's head ended: another protocol follows */
} cab_head_verdict;

/* The most digits of a Content-Length kept, to be told apart from another
 * line's, leading zeros aside: far past any length (a 64-bit one has 19).
 * Two lengths on different lines (a head's and a trailer's too) that are
 * both longer are taken as different, as the cosocket transport takes
 * them: a bound that holds every digit of them would take a head's size.
 * (Within one line every digit is compared.) */
#define CAB_HEAD_LENGTH_DIGITS 40

typedef struct {
    cab_head_fields *fields;
    size_t bytes;       /* of every line so far */
    /* The first Content-Length of the last head, or of the trailers when it
     * gave none: its digits (the first CAB_HEAD_LENGTH_DIGITS of them) and
     * how many it has, 0 when there is none. */
    char length[CAB_HEAD_LENGTH_DIGITS];
    size_t length_digits;
    int expect_status;  /* the next line is a status line (first, or after a 1xx head) */
    int in_head;        /* a status line came, its blank line not yet */
    int interim;        /* the last status line said 1xx */
    int switched;       /* the last status line said 101 */
    int in_field;       /* a field line came in this head or these trailers */
    int in_length;      /* the last line was a Content-Length */
    char *folding;      /* the kept field a folded line continues, or NULL */
    size_t folding_size;
} cab_head;

/* Starts reading an answer, whose fields go to fields (emptied now).
 * libcurl must hand over no CONNECT answer's head
 * (CURLOPT_SUPPRESS_CONNECT_HEADERS): after a final head come trailers. */
void cab_head_start(cab_head *h, cab_head_fields *fields);

/* Reads one line (len bytes, its line break included, not NUL-
 * terminated).  Anything but CAB_HEAD_OK says why the answer cannot be
 * read on: the transfer stops there. */
cab_head_verdict cab_head_line(cab_head *h, const char *line, size_t len);

/* The one-line message for a verdict that makes the answer PROTOCOL
 * (CAB_HEAD_TWO_LENGTHS, _BAD_LENGTH, _BAD_STATUS, _BAD_LINE). */
const char *cab_head_refusal(cab_head_verdict v);

#endif
