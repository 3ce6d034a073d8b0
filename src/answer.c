#include "answer.h"
#include "codec.h"

#include <string.h>

/* More ids than this, and the reader leaves the body (ids are bits). */
#define IDS 16

/* A body being read.  sink is out while the list is read and NULL
 * elsewhere: the body's other members are read (they must be JSON) but
 * given to no one. */
typedef struct {
    const char *s;
    size_t n, i;
    const char *list;
    size_t list_len;
    const char *const *ids;
    size_t id_len[IDS];
    unsigned n_ids;
    const cab_answer_sink *out, *sink;
    void *ud;
    int found; /* the list was read */
} reader;

/* What a read gives: STOP leaves the body to cab_decode_results. */
enum { STOP = -1, VALUE, STRING, NUL };

static void skip_space(reader *r) {
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\n' || r->s[r->i] == '\r' || r->s[r->i] == '\t'))
        r->i++;
}

/* Whether c comes next, after white space; then reads past it. */
static int next_is(reader *r, char c) {
    skip_space(r);
    if (r->i == r->n || r->s[r->i] != c) return 0;
    r->i++;
    return 1;
}

/* A string with no escape and no control character next: its bytes, as
 * they are its value, at *p and *len. */
static int plain_string(reader *r, const char **p, size_t *len) {
    size_t end;
    if (!next_is(r, '"')) return 0;
    end = cab_json_plain_end(r->s, r->n, r->i);
    if (end == r->n || r->s[end] != '"') return 0;
    *p = r->s + r->i;
    *len = end - r->i;
    r->i = end + 1;
    return 1;
}

static int literal(reader *r, const char *word) {
    size_t len = strlen(word);
    if (r->n - r->i < len || memcmp(r->s + r->i, word, len) != 0) return 0;
    r->i += len;
    return 1;
}

/* The ids (bits, by place) that the name p, len is. */
static unsigned id_bits(const reader *r, const char *p, size_t len) {
    unsigned bits = 0, k;
    for (k = 0; k < r->n_ids; k++)
        if (r->id_len[k] == len && memcmp(r->ids[k], p, len) == 0) bits |= 1u << k;
    return bits;
}

static int read_value(reader *r, int depth, int member);
static int read_array(reader *r, int depth, int items);

/* The list, the root's member named r->list: an array of items, given to
 * r->out. */
static int read_list(reader *r) {
    int v;
    r->sink = r->out;
    r->found = 1;
    v = next_is(r, '[') ? read_array(r, 1, 1) : STOP;
    r->sink = NULL;
    return v;
}

/* An object, after its '{'.  With strings (an item's), the ids among its
 * names whose values are strings are set in *strings.  At depth 0 (the
 * root) the member named r->list is the list. */
static int read_object(reader *r, int depth, unsigned *strings) {
    const char *name[CAB_ANSWER_MEMBERS], *p;
    size_t len[CAB_ANSWER_MEMBERS], members = 0, not_null = 0, n, k;
    int v;
    if (depth > CAB_ANSWER_DEPTH || (r->sink && !r->sink->begin_object(r->ud))) return STOP;
    if (!next_is(r, '}')) {
        do {
            if (members == CAB_ANSWER_MEMBERS || !plain_string(r, &p, &n) || !next_is(r, ':')) return STOP;
            for (k = 0; k < members; k++)
                if (len[k] == n && memcmp(name[k], p, n) == 0) return STOP;
            name[members] = p;
            len[members++] = n;
            if (depth == 0 && r->list_len == n && memcmp(r->list, p, n) == 0) {
                v = read_list(r);
            } else {
                if (r->sink) r->sink->name(r->ud, p, n);
                v = read_value(r, depth + 1, 1);
            }
            if (v == STOP) return STOP;
            not_null += v != NUL;
            if (strings && v == STRING) *strings |= id_bits(r, p, n);
        } while (next_is(r, ','));
        if (!next_is(r, '}')) return STOP;
    }
    if (r->sink) r->sink->end_object(r->ud, members, not_null);
    return VALUE;
}

/* An item of the list: with ids, an object naming each as a string. */
static int read_item(reader *r, int depth) {
    unsigned strings = 0;
    if (!r->n_ids) return read_value(r, depth, 0);
    if (!next_is(r, '{') || read_object(r, depth, &strings) == STOP) return STOP;
    return strings == (1u << r->n_ids) - 1 ? VALUE : STOP;
}

/* An array, after its '['; items: the list's. */
static int read_array(reader *r, int depth, int items) {
    size_t i = 0;
    if (depth > CAB_ANSWER_DEPTH || (r->sink && !r->sink->begin_array(r->ud))) return STOP;
    if (!next_is(r, ']')) {
        do {
            if ((items ? read_item(r, depth + 1) : read_value(r, depth + 1, 0)) == STOP) return STOP;
            if (r->sink) r->sink->element(r->ud, ++i);
        } while (next_is(r, ','));
        if (!next_is(r, ']')) return STOP;
    }
    return VALUE;
}

/* Any value; member: it is an object member's. */
static int read_value(reader *r, int depth, int member) {
    const char *p;
    size_t n;
    int b;
    skip_space(r);
    if (r->i == r->n) return STOP;
    switch (r->s[r->i]) {
    case '"':
        if (!plain_string(r, &p, &n)) return STOP;
        if (r->sink) r->sink->string(r->ud, p, n);
        return STRING;
    case '{':
        r->i++;
        return read_object(r, depth, NULL);
    case '[':
        r->i++;
        return read_array(r, depth, 0);
    case 't':
    case 'f':
        b = r->s[r->i] == 't';
        if (!literal(r, b ? "true" : "false")) return STOP;
        if (r->sink) r->sink->boolean(r->ud, b);
        return VALUE;
    case 'n':
        if (!literal(r, "null")) return STOP;
        if (r->sink) r->sink->null(r->ud, member);
        return NUL;
    default: /* a number, or no JSON */
        return STOP;
    }
}

/* One pass over body, the list given to sink (none when NULL). */
static int read_body(const char *body, size_t len, const char *list, const char *const *ids,
                     const cab_answer_sink *sink, void *ud) {
    reader r;
    memset(&r, 0, sizeof r);
    r.s = body;
    r.n = len;
    r.list = list;
    r.list_len = strlen(list);
    r.ids = ids;
    for (; ids[r.n_ids]; r.n_ids++) {
        if (r.n_ids == IDS) return 0;
        r.id_len[r.n_ids] = strlen(ids[r.n_ids]);
    }
    r.out = sink;
    r.ud = ud;
    if (!next_is(&r, '{') || read_object(&r, 0, NULL) == STOP) return 0;
    skip_space(&r);
    return r.found && r.i == r.n;
}

/* A first pass gives no one anything: a body left to cab_decode_results
 * (an escape in the last item, a number after the list) is found out
 * before a table is made for it, which would then be made twice (review
 * answer52).  The pass costs a fraction of the one that builds. */
int cab_read_answer(const char *body, size_t len, const char *list, const char *const *ids,
                    const cab_answer_sink *sink, void *ud) {
    return read_body(body, len, list, ids, NULL, ud) && read_body(body, len, list, ids, sink, ud);
}
