#include "head.h"
#include "ascii.h"

#include <stdio.h>
#include <string.h>

/* Where the line p (len bytes) ends before its line break (LF, or CRLF). */
static const char *line_end(const char *p, size_t len) {
    const char *end = p + len;
    if (end > p && end[-1] == '\n') end--;
    if (end > p && end[-1] == '\r') end--;
    return end;
}

/* Narrows [*v, *end), a line or its end, to what stands between its line
 * break and the spaces and tabs around it: HTTP's optional white space
 * (RFC 9110 5.6.3), all a value is trimmed of. */
static void trim(const char **v, const char **end) {
    *end = line_end(*v, (size_t)(*end - *v));
    while (*v < *end && (**v == ' ' || **v == '\t')) (*v)++;
    while (*end > *v && ((*end)[-1] == ' ' || (*end)[-1] == '\t')) (*end)--;
}

/* Whether the line is the field name ("name: value", the name in any
 * case); then [*v, *end) is its value, trimmed. */
static int field_value(const char *line, size_t len, const char *name, const char **v, const char **end) {
    size_t nl = strlen(name), i;
    if (len <= nl || line[nl] != ':') return 0;
    for (i = 0; i < nl; i++) {
        if (cab_lower((unsigned char)line[i]) != (unsigned char)name[i]) return 0;
    }
    *v = line + nl + 1;
    *end = line + len;
    trim(v, end);
    return 1;
}

/* Copies the value of "name: value" into dst when the line's name is name:
 * CAPTURED, or CAPTURE_TOO_LONG for a value too long for dst, which is not
 * kept at all (dst empty), since a cut one could end in the start of a
 * secret that no redaction would then recognise; OTHER_HEADER else. */
enum { OTHER_HEADER, CAPTURED, CAPTURE_TOO_LONG };
static int capture(const char *line, size_t len, const char *name, char *dst, size_t dstlen) {
    const char *v, *end;
    if (!field_value(line, len, name, &v, &end)) return OTHER_HEADER;
    len = (size_t)(end - v);
    if (len >= dstlen) {
        dst[0] = '\0';
        return CAPTURE_TOO_LONG;
    }
    memcpy(dst, v, len);
    dst[len] = '\0';
    return CAPTURED;
}

/* Keeps the line's value when it is one of the fields the client reads
 * (a repeated field's last line wins), and notes which field a folded
 * line after it continues. */
static void keep(cab_head *h, const char *line, size_t len) {
    cab_head_fields *f = h->fields;
    const struct { const char *name; char *dst; size_t size; } kept[] = {
        { "x-request-id", f->request_id, sizeof f->request_id },
        { "date", f->date, sizeof f->date },
        { "retry-after", f->retry_after, sizeof f->retry_after },
    };
    size_t i;
    h->folding = NULL;
    for (i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        switch (capture(line, len, kept[i].name, kept[i].dst, kept[i].size)) {
        case CAPTURED:
            h->folding = kept[i].dst;
            h->folding_size = kept[i].size;
            return;
        case CAPTURE_TOO_LONG: return;
        default: break;
        }
    }
}

/* Joins a folded line's text (trimmed, not empty) to the field h->folding
 * holds, with one space; a field it makes too long is none, as a long
 * line is. */
static void unfold(cab_head *h, const char *v, size_t n) {
    char *dst = h->folding;
    size_t have;
    if (!dst) return; /* it continues a field the client does not read */
    have = strlen(dst);
    if (have + (have > 0) + n >= h->folding_size) {
        dst[0] = '\0';
        h->folding = NULL;
        return;
    }
    if (have) dst[have++] = ' ';
    memcpy(dst + have, v, n);
    dst[have + n] = '\0';
}

/* Whether the byte is white space to Lua's %s (in the C locale). */
static int lua_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Reads one byte of the list l, by the rules of cab_head_list. */
static void list_read(cab_head_list *l, char c) {
    int space = l->ows ? c == ' ' || c == '\t' : lua_space(c);
    if (!lua_space(c)) l->nonspace = 1;
    if (c == ',') {
        l->in_item = 0;
        return;
    }
    if (space) {
        l->gap = l->in_item;
        return;
    }
    if (!l->in_item) {
        l->in_item = l->is_name = 1;
        l->at = 0;
        if (l->items < 2) l->items++;
    } else if (l->gap) {
        l->is_name = 0; /* white space inside the item */
    }
    l->gap = 0;
    l->is_name = l->is_name && l->name[l->at] && cab_lower((unsigned char)c) == (unsigned char)l->name[l->at];
    if (l->is_name) l->at++;
}

/* Whether the list is name alone, among commas and white space. */
static int list_is_name(const cab_head_list *l) { return l->items == 1 && l->is_name && !l->name[l->at]; }

/* Adds sep, then a line's value v[0..n), to the list l. */
static void list_add(cab_head_list *l, const char *sep, const char *v, size_t n) {
    size_t sl = strlen(sep), i;
    for (i = 0; i < sl; i++) list_read(l, sep[i]);
    for (i = 0; i < n; i++) list_read(l, v[i]);
    l->line_empty = l->line_empty && n == 0;
    if (!l->too_long && sl + n > CAB_HEAD_LIST_BYTES - l->len) l->too_long = 1;
    if (l->too_long) return;
    memcpy(l->text + l->len, sep, sl);
    memcpy(l->text + l->len + sl, v, n);
    l->len += sl + n;
    l->text[l->len] = '\0';
}

static int digit(char c) { return c >= '0' && c <= '9'; }

/* What a header line says of the answer's length (content_length). */
enum { NOT_LENGTH, LENGTH, LISTS_TWO, NOT_DIGITS };

/* Reads the header line p (len bytes): NOT_LENGTH when it is another
 * header, LISTS_TWO when its Content-Length lists two different numbers
 * ("358, 365"; the same one repeated counts once, RFC 9110 8.6, leading
 * zeros aside), NOT_DIGITS when it is not digits ("+13", "13abc", "13
 * 14"), which libcurl would read in part; else LENGTH, and [*digits,
 * *digits + *n) is the number, without its leading zeros.  Numbers are
 * compared as digits, however many: no value holds every one of them. */
static int content_length(const char *p, size_t len, const char **digits, size_t *n) {
    const char *at, *end, *d;
    size_t k;
    *digits = NULL;
    if (!field_value(p, len, "content-length", &at, &end)) return NOT_LENGTH;
    for (;;) {
        while (at < end && (*at == ' ' || *at == '\t')) at++;
        if (at == end || !digit(*at)) return NOT_DIGITS;
        while (*at == '0' && at + 1 < end && digit(at[1])) at++;
        for (d = at, k = 0; at < end && digit(*at); at++) k++;
        if (*digits && (k != *n || memcmp(*digits, d, k) != 0)) return LISTS_TWO;
        *digits = d;
        *n = k;
        while (at < end && (*at == ' ' || *at == '\t')) at++;
        if (at == end) return LENGTH;
        if (*at++ != ',') return NOT_DIGITS;
    }
}

/* Whether a line's length (n digits) is the one h keeps from the lines
 * before it, which it becomes when there was none: different ones are a
 * framing no client can trust (RFC 9112 6.3). */
static int same_length(cab_head *h, const char *digits, size_t n) {
    if (!h->length_digits) {
        memcpy(h->length, digits, n < sizeof h->length ? n : sizeof h->length);
        h->length_digits = n;
        return 1;
    }
    return n == h->length_digits && n <= sizeof h->length && !memcmp(h->length, digits, n);
}

/* Whether the line is a status line as libcurl writes an HTTP/2 or 3 one
 * ("HTTP/2 200 ") or an HTTP/1.x server must (RFC 9112 4): the version,
 * one space, three digits, then a space or the line's end.  libcurl takes
 * more ("HTTP/1.1 503\tX", two spaces, "http/1.1"), the cosocket
 * transport not. */
static int status_line(const char *p, size_t len) {
    const char *end = line_end(p, len), *code;
    if ((size_t)(end - p) >= 12 && (!memcmp(p, "HTTP/1.0 ", 9) || !memcmp(p, "HTTP/1.1 ", 9))) code = p + 9;
    else if ((size_t)(end - p) >= 10 && (!memcmp(p, "HTTP/2 ", 7) || !memcmp(p, "HTTP/3 ", 7))) code = p + 7;
    else return 0;
    return digit(code[0]) && digit(code[1]) && digit(code[2]) && (code + 3 == end || code[3] == ' ');
}

/* Whether the line is a field: a name, a token (RFC 9110 5.1), then a
 * colon.  libcurl reads "Content-Length : 5" as some other field, and a
 * reader that took it for the length would frame the body otherwise: the
 * answer is refused instead, as the cosocket transport refuses it. */
static int is_field(const char *p, size_t len) {
    size_t i;
    for (i = 0; i < len && p[i] != ':'; i++) {
        if (!cab_is_tchar((unsigned char)p[i])) return 0;
    }
    return i > 0 && i < len;
}

void cab_head_start(cab_head *h, cab_head_fields *fields) {
    memset(h, 0, sizeof *h);
    h->fields = fields;
    h->expect_status = 1;
    fields->request_id[0] = fields->date[0] = fields->retry_after[0] = '\0';
    h->coding.name = "identity";
    h->transfer.name = "chunked";
    h->transfer.ows = 1;
}

/* Whether the line is the blank line that ends a head or the trailers. */
static int blank(const char *p, size_t len) {
    return (len == 1 && p[0] == '\n') || (len == 2 && p[0] == '\r' && p[1] == '\n');
}

/* A head (interim 1xx heads included) or the trailers larger than
 * CAB_MAX_HEADER_BYTES (the limit every transport keeps), a trailer line
 * longer than libcurl takes, and two different Content-Lengths, a framing
 * no client can trust (RFC 9112 6.3), stop the transfer. */
cab_head_verdict cab_head_line(cab_head *h, const char *p, size_t len) {
    const char *v = p, *end = p + len, *digits;
    size_t n;
    if (len > CAB_MAX_HEADER_BYTES - h->bytes) return CAB_HEAD_TOO_LARGE;
    h->bytes += len;
    /* A NUL would cut the line short for many a reader (libcurl refuses
     * it before this sees it). */
    if (memchr(p, '\0', len)) return CAB_HEAD_BAD_LINE;
    trim(&v, &end);
    if (h->expect_status) {
        /* A 1xx but 101 is an interim answer, whose head another status
         * line follows. */
        const char *code = memchr(p, ' ', len);
        size_t bytes = h->bytes;
        if (!status_line(p, len)) return CAB_HEAD_BAD_STATUS;
        cab_head_start(h, h->fields);
        h->bytes = bytes;
        h->expect_status = 0;
        h->in_head = 1;
        h->interim = code[1] == '1';
        h->bodyless = !memcmp(code, " 204", 4) || !memcmp(code, " 304", 4);
        h->switched = !memcmp(code, " 101", 4);
        return CAB_HEAD_OK;
    }
    if (blank(p, len)) {
        /* A head is whole (a 101's is the answer: what follows is another
         * protocol, and libcurl would wait for an answer after it until the
         * timeout, or call a close no answer), or the trailers are.  The
         * trailers count on their own. */
        if (h->switched) return CAB_HEAD_SWITCHED;
        /* Chunks are the one transfer coding read, as on every transport:
         * libcurl would undo a gzip before them, and take one cut short
         * for a whole one.  (An answer with no body has none to frame.) */
        if (h->in_head && !h->interim && !h->bodyless && h->transfer.items && !list_is_name(&h->transfer))
            return CAB_HEAD_BAD_TRANSFER;
        h->listing = NULL;
        h->expect_status = h->in_head && h->interim;
        if (h->in_head && !h->interim) h->bytes = 0;
        h->in_head = h->in_field = h->in_length = 0;
        return CAB_HEAD_OK;
    }
    if (!h->in_head && (size_t)(line_end(p, len) - p) > CAB_MAX_TRAILER_LINE_BYTES) return CAB_HEAD_BAD_LINE;
    if (*p == ' ' || *p == '\t') {
        /* An obsolete folded line (RFC 9112 5.2) continues the field before
         * it, read as one space: with no field before it, it is no header
         * line, and a Content-Length it continues is no number ("13\r\n
         * 18"). */
        if (!h->in_field) return CAB_HEAD_BAD_LINE;
        if (v == end) return CAB_HEAD_OK;
        if (h->in_length) return CAB_HEAD_BAD_LENGTH;
        /* libcurl frames the body by a Transfer-Encoding's first line
         * alone: a folded one is refused, as a folded Content-Length. */
        if (h->listing == &h->transfer) return CAB_HEAD_FOLDED_TRANSFER;
        if (h->in_head) unfold(h, v, (size_t)(end - v));
        if (h->listing) list_add(h->listing, h->listing->line_empty ? "" : " ", v, (size_t)(end - v));
        return CAB_HEAD_OK;
    }
    if (!is_field(p, len)) return CAB_HEAD_BAD_LINE;
    h->in_field = 1;
    h->in_length = 0;
    h->listing = NULL;
    if (h->in_head) {
        if (field_value(p, len, "content-encoding", &v, &end)) h->listing = &h->coding;
        else if (field_value(p, len, "transfer-encoding", &v, &end)) h->listing = &h->transfer;
    }
    if (h->listing) {
        h->listing->line_empty = 1;
        list_add(h->listing, h->listing->lines++ ? ", " : "", v, (size_t)(end - v));
    }
    switch (content_length(p, len, &digits, &n)) {
    case NOT_DIGITS: return CAB_HEAD_BAD_LENGTH;
    case LISTS_TWO: return CAB_HEAD_TWO_LENGTHS;
    case LENGTH:
        if (!same_length(h, digits, n)) return CAB_HEAD_TWO_LENGTHS;
        h->in_length = 1;
        break;
    default: break;
    }
    /* Only the head's fields count: a trailer's would change an answer
     * already given. */
    if (h->in_head) keep(h, p, len);
    return CAB_HEAD_OK;
}

int cab_head_coded(const cab_head *h, char *msg, size_t msglen) {
    const cab_head_list *l = &h->coding;
    /* None, or only white space, or identity alone: not coded. */
    if (!l->nonspace || list_is_name(l)) return 0;
    if (l->too_long)
        snprintf(msg, msglen, "the answer's body is coded (a Content-Encoding of more than %d bytes), which this "
                              "client does not ask for", CAB_HEAD_LIST_BYTES);
    else
        snprintf(msg, msglen, "the answer's body is coded (Content-Encoding: %s), which this client does not ask for",
                 l->text);
    return 1;
}

void cab_head_refusal(const cab_head *h, cab_head_verdict v, char *msg, size_t msglen) {
    const char *why;
    switch (v) {
    case CAB_HEAD_TWO_LENGTHS: why = "the answer gives two different Content-Lengths"; break;
    case CAB_HEAD_BAD_LENGTH: why = "the answer's Content-Length is not a number"; break;
    case CAB_HEAD_BAD_STATUS: why = "bad status line in the answer"; break;
    case CAB_HEAD_BAD_LINE: why = "the answer has a header or trailer line that is no field"; break;
    case CAB_HEAD_FOLDED_TRANSFER: why = "bad Transfer-Encoding in the answer: continued on a folded line"; break;
    case CAB_HEAD_BAD_TRANSFER:
        if (h->transfer.too_long)
            snprintf(msg, msglen, "the answer's Transfer-Encoding (of more than %d bytes) is not chunked alone, the "
                                  "only transfer coding this client reads", CAB_HEAD_LIST_BYTES);
        else
            snprintf(msg, msglen, "the answer's Transfer-Encoding is not chunked alone, the only transfer coding "
                                  "this client reads: %s", h->transfer.text);
        return;
    default: why = "the answer's head was refused"; break;
    }
    snprintf(msg, msglen, "%s", why);
}
