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

/* The most bytes of a coding list (Content-Encoding, Transfer-Encoding)
 * kept to be quoted: a coding's name, or a few, is far shorter. */
#define CAB_HEAD_LIST_BYTES 63

/* A coding list: its lines in the last head joined with ", ", a folded
 * line's text added with a space (to an empty line's without), as the
 * cosocket transport joins a repeated field.  Every byte is read as it
 * comes, into what the rules ask, however long the list: its items (cut
 * at commas, trimmed of white space, empty ones skipped), and whether the
 * one item is name.  text keeps the list to be quoted, whole or not at
 * all (too_long). */
typedef struct {
    const char *name;   /* "identity" or "chunked", in lower case */
    int ows;            /* white space is only spaces and tabs (HTTP's OWS), not Lua's %s */
    size_t lines;
    int line_empty;     /* the last line's value is empty so far */
    int nonspace;       /* a byte that is not white space to Lua's %s came (commas count) */
    size_t items;       /* counted up to 2 */
    int in_item, gap;   /* within an item; white space came after its start */
    size_t at;          /* bytes of the last item read */
    int is_name;        /* the last item is name so far */
    char text[CAB_HEAD_LIST_BYTES + 1];
    size_t len;
    int too_long;
} cab_head_list;

typedef enum {
    CAB_HEAD_OK,
    CAB_HEAD_TOO_LARGE,   /* heads and trailers over CAB_MAX_HEADER_BYTES together */
    CAB_HEAD_TWO_LENGTHS, /* two different Content-Lengths (RFC 9112 6.3) */
    CAB_HEAD_BAD_LENGTH,  /* a Content-Length that is no number */
    CAB_HEAD_BAD_LINE,    /* no field ("name: value", the name a token), nor one folded into a field */
    CAB_HEAD_BAD_STATUS,  /* a status line not as RFC 9112 4 writes one */
    CAB_HEAD_SWITCHED,    /* a 101's head ended: another protocol follows */
    CAB_HEAD_BAD_TRANSFER, /* a Transfer-Encoding that is not chunked alone (nor empty) */
    CAB_HEAD_FOLDED_TRANSFER /* a Transfer-Encoding continued on a folded line */
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
    int bodyless;       /* it said 204 or 304 */
    int switched;       /* the last status line said 101 */
    int in_field;       /* a field line came in this head or these trailers */
    int in_length;      /* the last line was a Content-Length */
    char *folding;      /* the kept field a folded line continues, or NULL */
    size_t folding_size;
    cab_head_list coding, transfer; /* Content-Encoding, Transfer-Encoding */
    cab_head_list *listing; /* the list the last line added to, or NULL */
} cab_head;

/* Starts reading an answer, whose fields go to fields (emptied now).
 * libcurl must hand over no CONNECT answer's head
 * (CURLOPT_SUPPRESS_CONNECT_HEADERS): after a final head come trailers. */
void cab_head_start(cab_head *h, cab_head_fields *fields);

/* Reads one line (len bytes, its line break included, not NUL-
 * terminated).  Anything but CAB_HEAD_OK says why the answer cannot be
 * read on: the transfer stops there. */
cab_head_verdict cab_head_line(cab_head *h, const char *line, size_t len);

/* Whether the answer's body is coded: its last head's Content-Encoding
 * names a coding other than identity.  This client asks for the body as
 * it is (Accept-Encoding: identity) and undoes no coding, as on every
 * transport (http1.lua's coded, whose rule this is); then msg holds the
 * one-line message.  Run once the answer has ended. */
int cab_head_coded(const cab_head *h, char *msg, size_t msglen);

/* The one-line message, into msg, for a verdict that makes the answer
 * PROTOCOL (CAB_HEAD_TWO_LENGTHS, _BAD_LENGTH, _BAD_STATUS, _BAD_LINE,
 * _BAD_TRANSFER).  A list is quoted only when it was kept whole, never
 * cut: a cut one could end in the start of a secret that no redaction
 * would then recognise. */
void cab_head_refusal(const cab_head *h, cab_head_verdict v, char *msg, size_t msglen);

#endif
