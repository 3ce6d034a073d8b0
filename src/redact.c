#include "redact.h"
#include "ascii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* How the text is read.
 *
 * The text is a graph: a node between every two bytes, and from each node
 * an edge for its raw byte and, where an escape starts, one for the bytes
 * the escape stands for (redact.h lists the escapes).  Every decoding of a
 * stretch of text is a path, and an occurrence is a path that spells a run
 * of a secret.  Finding the paths of exactly RUN bytes that spell a run
 * (of a shorter secret: the secret) is enough: the RUN-byte windows of a
 * longer occurrence cover it.
 *
 * All paths are followed at once, left to right, as streams.  A stream's
 * state is the longest tail of its path's bytes that begins a run (an
 * Aho-Corasick state over every run, held as up to RUN bytes in a word),
 * and streams that reach a node in the same state are merged.  So plain
 * text is read by one stream, byte by byte, with one or two table look-ups
 * a byte; an escape adds a second stream for at most RUN bytes.  Time is
 * linear in the text whatever it holds: a repeated secret, runs of escapes
 * or of one character.
 *
 * The heads of runs are kept in a bitmap that may answer yes wrongly: a
 * state may then be longer than needed, never shorter, so no run is
 * missed; a run itself is confirmed exactly. */

#define RUN CAB_REDACT_MIN_RUN
typedef char cab_redact_run_fits_a_word[RUN >= 1 && RUN <= 8 ? 1 : -1];

#define UNIT_MAX CAB_REDACT_UNIT_MAX

/* Spans found while reading the node at u begin at or after
 * u - (RUN - 1) * UNIT_MAX - 3: at most RUN - 1 bytes of a run come from
 * before u, each from an escape of at most UNIT_MAX bytes, and a span may
 * widen by 3 bytes to a character's start.  So before u - LAG every byte is
 * settled, and so is every span that ends there: no later span can reach
 * or touch it. */
#define LAG ((RUN - 1) * UNIT_MAX + 3 + 1)

/* Streams wait at the nodes ahead, at most UNIT_MAX away, in a ring. */
#define RING 16

/* Spans not yet written out.  After settling, those left end within
 * UNIT_MAX + LAG + 15 bytes of the node being read and neither overlap nor
 * touch, so they are fewer than 64. */
#define PENDING_MAX 128

/* How often (in text bytes) settled output is written; with a limit, this
 * is about how far reading may go past what the output needed. */
#define SETTLE_EVERY 1024

static const uint64_t ONES = 0x0101010101010101u;

/* ---- byte strings in words ---------------------------------------------- */

/* Up to 8 bytes packed into a word, the first highest, so that shifting a
 * byte in at the bottom slides a window along the text. */
static uint64_t low_bytes(unsigned j) { return j >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << 8 * j) - 1; }

static uint64_t pack(const unsigned char *p, unsigned j) {
    uint64_t k = 0;
    while (j--) k = k << 8 | *p++;
    return k;
}

/* A string of j < 8 bytes, told apart from strings of other lengths by its
 * length in the top byte (for j = 8 only a hash input: may collide). */
static uint64_t tagged(unsigned j, uint64_t k) { return k ^ ((uint64_t)(j & 0xffu) << 56); }

static size_t mix(uint64_t k) {
    k *= 0x9e3779b97f4a7c15u;
    return (size_t)(k ^ k >> 32);
}

/* A set of words: open addressing, linear probing, at most 3/4 full. */
typedef struct {
    uint64_t *slot; /* 0 marks a free slot; the word 0 is has_zero */
    size_t mask;
    int has_zero;
} keyset;

static int keyset_init(keyset *s, size_t keys) {
    size_t n = 16;
    while (n / 4 * 3 < keys) {
        if (n > (size_t)-1 / 2 / sizeof *s->slot) return -1;
        n *= 2;
    }
    s->slot = calloc(n, sizeof *s->slot);
    s->mask = n - 1;
    s->has_zero = 0;
    return s->slot ? 0 : -1;
}

static size_t keyset_find(const keyset *s, uint64_t k) {
    size_t i = mix(k) & s->mask;
    while (s->slot[i] && s->slot[i] != k) i = (i + 1) & s->mask;
    return i;
}

static int keyset_has(const keyset *s, uint64_t k) {
    return k ? s->slot[keyset_find(s, k)] == k : s->has_zero;
}

static void keyset_put(keyset *s, uint64_t k) {
    if (k) s->slot[keyset_find(s, k)] = k;
    else s->has_zero = 1;
}

static void keyset_wipe(keyset *s) {
    if (s->slot) {
        OPENSSL_cleanse(s->slot, (s->mask + 1) * sizeof *s->slot);
        free(s->slot);
    }
    s->slot = NULL;
}

/* ---- the tables of the secrets ------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t len;
} secret;

/* What reading looks up, derived from all the secrets at once.  A head is
 * the first 1 .. RUN bytes of a run or of a short secret. */
typedef struct {
    keyset runs;      /* every RUN-byte run of the secrets of RUN bytes or more */
    size_t *where;    /* beside runs.slot: where the run first stands, as the offset of its
                         end in the secrets laid end to end */
    size_t *ends;     /* the offset of each secret's end, the same way */
    keyset shorts;    /* each shorter secret, tagged with its length */
    unsigned lens;    /* bit m: some secret has m < RUN bytes */
    unsigned char at[RUN][32]; /* bit c of at[i]: some head has byte c at i */
    unsigned char any[32];     /* bit c: some head has byte c */
    unsigned char *heads;      /* hashed bitmap of the heads of 2 .. RUN bytes */
    size_t heads_mask;         /* its bits - 1 */
} tables;

static int bit(const unsigned char *map, size_t i) { return map[i >> 3] >> (i & 7) & 1; }
static void set_bit(unsigned char *map, size_t i) { map[i >> 3] |= (unsigned char)(1u << (i & 7)); }

static void mark_head(tables *t, unsigned j, uint64_t k) {
    set_bit(t->at[j - 1], (size_t)(k & 0xff));
    set_bit(t->any, (size_t)(k & 0xff));
    if (j > 1) set_bit(t->heads, mix(tagged(j, k)) & t->heads_mask);
}

/* Whether the j bytes k may be a head; for j = 1 and j = RUN, whether they
 * are (exactly). */
static int is_head(const tables *t, unsigned j, uint64_t k) {
    if (!bit(t->at[j - 1], (size_t)(k & 0xff))) return 0;
    if (j == 1) return 1;
    if (!bit(t->heads, mix(tagged(j, k)) & t->heads_mask)) return 0;
    return j < RUN || keyset_has(&t->runs, k);
}

static void tables_clear(tables *t) {
    memset(t, 0, sizeof *t);
    t->runs.slot = t->shorts.slot = NULL;
    t->where = t->ends = NULL;
    t->heads = NULL;
}

static void tables_wipe(tables *t) {
    keyset_wipe(&t->runs);
    keyset_wipe(&t->shorts);
    if (t->where) OPENSSL_cleanse(t->where, (t->runs.mask + 1) * sizeof *t->where);
    free(t->where);
    free(t->ends);
    if (t->heads) OPENSSL_cleanse(t->heads, t->heads_mask / 8 + 1);
    free(t->heads);
    OPENSSL_cleanse(t, sizeof *t);
    tables_clear(t);
}

static int tables_build(tables *t, const secret *s, size_t n) {
    size_t i, at, runs = 0, shorts = 0, base = 0, heads, bits = 64;
    unsigned j;
    tables_clear(t);
    if (n == 0) return -1; /* never (the caller adds a secret): no malloc(0) below */
    for (i = 0; i < n; i++) {
        if (s[i].len >= RUN) runs += s[i].len - RUN + 1;
        else shorts++;
    }
    if (runs + shorts > (size_t)-1 / ((size_t)64 * RUN)) return -1;
    heads = runs * (RUN - 1) + shorts * RUN; /* at most: those of 2 .. RUN bytes */
    /* 16 bits a head: a wrong yes about one time in 16 at worst. */
    while (bits < 16 * heads) bits *= 2;
    if (keyset_init(&t->runs, runs) || keyset_init(&t->shorts, shorts) ||
        !(t->where = calloc(t->runs.mask + 1, sizeof *t->where)) ||
        !(t->ends = malloc(n * sizeof *t->ends)) || !(t->heads = calloc(bits / 8, 1)))
        return -1;
    t->heads_mask = bits - 1;
    for (i = 0; i < n; base = t->ends[i++]) {
        const unsigned char *p = s[i].p;
        uint64_t k = 0;
        t->ends[i] = base + s[i].len;
        if (s[i].len < RUN) {
            for (j = 1; j <= s[i].len; j++) mark_head(t, j, k = k << 8 | p[j - 1]);
            keyset_put(&t->shorts, tagged((unsigned)s[i].len, k));
            t->lens |= 1u << s[i].len;
            continue;
        }
        for (at = 0; at + RUN <= s[i].len; at++) {
            size_t slot;
            for (k = 0, j = 1; j <= RUN; j++) mark_head(t, j, k = k << 8 | p[at + j - 1]);
            slot = keyset_find(&t->runs, k);
            if (!k) {
                t->runs.has_zero = 1;
            } else if (!t->runs.slot[slot]) {
                t->runs.slot[slot] = k;
                t->where[slot] = base + at + RUN;
            }
        }
    }
    return 0;
}

/* ---- the redactor -------------------------------------------------------- */

struct cab_redactor {
    secret *secret;
    size_t n, cap;
    tables tab; /* of secret[0..n); built again by each add */
};

cab_redactor *cab_redactor_new(void) {
    cab_redactor *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->secret = NULL;
    tables_clear(&r->tab);
    return r;
}

int cab_redactor_add(cab_redactor *r, const void *bytes, size_t len) {
    tables t;
    unsigned char *copy;
    if (!len) return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4;
        secret *v;
        if (cap > (size_t)-1 / sizeof *v || !(v = realloc(r->secret, cap * sizeof *v))) return -1;
        r->secret = v;
        r->cap = cap;
    }
    if (!(copy = malloc(len))) return -1;
    memcpy(copy, bytes, len);
    r->secret[r->n].p = copy;
    r->secret[r->n].len = len;
    if (tables_build(&t, r->secret, r->n + 1)) {
        tables_wipe(&t);
        OPENSSL_cleanse(copy, len);
        free(copy);
        return -1;
    }
    tables_wipe(&r->tab);
    r->tab = t;
    /* (the stack's copy too: its bitmaps say which bytes the secrets hold
     * where, as redact.h promises no table derived from one is left) */
    OPENSSL_cleanse(&t, sizeof t);
    r->n++;
    return 0;
}

void cab_redactor_free(cab_redactor *r) {
    size_t i;
    if (!r) return;
    for (i = 0; i < r->n; i++) {
        OPENSSL_cleanse(r->secret[i].p, r->secret[i].len);
        free(r->secret[i].p);
    }
    free(r->secret);
    tables_wipe(&r->tab);
    free(r);
}

/* ---- escapes and characters --------------------------------------------- */

/* The value of the 4 hex digits at p, or -1. */
static long hex4(const unsigned char *p) {
    long v = 0;
    int i, d;
    for (i = 0; i < 4; i++) {
        if ((d = cab_hex_value(p[i])) < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

/* The value of the 2 hex digits at p, or -1. */
static int hex_pair(const unsigned char *p) {
    int h = cab_hex_value(p[0]), l = cab_hex_value(p[1]);
    return h < 0 || l < 0 ? -1 : h << 4 | l;
}

/* The bytes at which escape_at or latin1_at may find an escape: '%',
 * '\\', '+', the ASCII controls, 0xC2 (C1 controls' lead byte), 0xC3 (with
 * 0xC2, the lead bytes of Latin-1's upper half) and 0xE2 (that of U+2028
 * and U+2029).  At any other byte the raw byte is the text's only reading
 * (raw_run's fast path); a table, as the fast path asks about every byte. */
static const unsigned char escape_starts[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
    [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
    ['%'] = 1, ['+'] = 1, ['\\'] = 1, [0x7f] = 1, [0xc2] = 1, [0xc3] = 1, [0xe2] = 1,
};

static int may_escape(unsigned char c) { return escape_starts[c]; }

/* If an escape starts at t[i] (of n bytes), stores the bytes it stands for
 * in b, their count in *nb, and returns its length; else returns 0. */
static size_t escape_at(const unsigned char *t, size_t n, size_t i, unsigned char b[4], unsigned *nb) {
    size_t left = n - i;
    long cp, lo;
    int h;
    *nb = 1;
    if (t[i] == '+') {
        /* A form (application/x-www-form-urlencoded) writes a space so; the
         * raw '+' is read too, as a URL's path or login keeps it. */
        b[0] = ' ';
        return 1;
    }
    if (t[i] < 0x20 || t[i] == 0x7f || (t[i] == 0xc2 && left >= 2 && t[i + 1] >= 0x80 && t[i + 1] <= 0x9f)) {
        /* A terminal, or the command-line tool's table, shows a control
         * character (C1's as UTF-8 writes them) as a space: a secret with
         * spaces, echoed with controls for them, is whole on screen. */
        b[0] = ' ';
        return t[i] == 0xc2 ? 2 : 1;
    }
    if (t[i] == 0xe2 && left >= 3 && t[i + 1] == 0x80 && (t[i + 2] == 0xa8 || t[i + 2] == 0xa9)) {
        /* Unicode's line and paragraph separators: a one-line message
         * (Error.one_line) shows each as a space, and a table as one
         * column, so they too may stand for a space of a secret. */
        b[0] = ' ';
        return 3;
    }
    if (t[i] == '%') {
        if (left < 3 || (h = hex_pair(t + i + 1)) < 0) return 0;
        b[0] = (unsigned char)h;
        return 3;
    }
    if (t[i] != '\\' || left < 2) return 0;
    switch (t[i + 1]) {
    case '"': case '\\': case '/': b[0] = t[i + 1]; return 2;
    case 'b': b[0] = '\b'; return 2;
    case 'f': b[0] = '\f'; return 2;
    case 'n': b[0] = '\n'; return 2;
    case 'r': b[0] = '\r'; return 2;
    case 't': b[0] = '\t'; return 2;
    case 'u': break;
    default: return 0;
    }
    if (left < 6 || (cp = hex4(t + i + 2)) < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) return 0;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        /* A high surrogate stands for something only with a low one. */
        if (left < 12 || t[i + 6] != '\\' || t[i + 7] != 'u' || (lo = hex4(t + i + 8)) < 0xdc00 ||
            lo > 0xdfff)
            return 0;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        *nb = 4;
        return 12;
    }
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        *nb = 2;
    } else {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        *nb = 3;
    }
    return 6;
}

/* The byte 0x80-0xFF that c, a lead byte of U+0080-U+00FF (0xC2 or 0xC3),
 * and d, a continuation byte, write as UTF-8; -1 when they write none. */
static int latin1_byte(int c, int d) {
    return (c == 0xc2 || c == 0xc3) && (d & 0xc0) == 0x80 ? (c & 3) << 6 | (d & 0x3f) : -1;
}

/* If t[i] (of n bytes) begins one byte 0x80-0xFF of a secret as a server
 * that read it as a Latin-1 character writes that character out again (a
 * header, to Python's http.server or to WSGI), stores the byte in *b and
 * returns the length: its UTF-8 raw (C3 90 for 0xD0), as \u00XX (either
 * case), or percent-encoded (%C3%90).  Else 0.  (A second reading beside
 * escape_at's: \u00D0 is also C3 90, and C2 85 also a space.) */
static size_t latin1_at(const unsigned char *t, size_t n, size_t i, unsigned char *b) {
    size_t left = n - i;
    int h, l, c;
    if (left >= 2 && (c = latin1_byte(t[i], t[i + 1])) >= 0) {
        *b = (unsigned char)c;
        return 2;
    }
    if (left >= 6 && t[i] == '\\' && t[i + 1] == 'u' && t[i + 2] == '0' && t[i + 3] == '0' &&
        (c = hex_pair(t + i + 4)) >= 0x80) {
        *b = (unsigned char)c;
        return 6;
    }
    if (left >= 6 && t[i] == '%' && t[i + 3] == '%' && (h = hex_pair(t + i + 1)) >= 0 &&
        (l = hex_pair(t + i + 4)) >= 0 && (c = latin1_byte(h, l)) >= 0) {
        *b = (unsigned char)c;
        return 6;
    }
    return 0;
}

/* The length a UTF-8 lead byte announces; 0 for any other byte. */
static unsigned lead_len(unsigned char c) {
    return c >= 0xc0 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf8 ? 4 : 0;
}

/* Where the character holding t[p] begins: before p when t[p] continues a
 * whole character (a lead byte and all the continuation bytes it
 * announces), else p itself.  Redacted spans and cuts keep characters
 * whole; broken UTF-8 is left as it is. */
static size_t char_start(const unsigned char *t, size_t n, size_t p) {
    size_t q = p, k;
    unsigned len;
    if (p >= n || (t[p] & 0xc0) != 0x80) return p;
    while (q > 0 && p - q < 3) {
        q--;
        if ((t[q] & 0xc0) == 0x80) continue;
        len = lead_len(t[q]);
        if (q + len <= p || q + len > n) return p;
        for (k = q + 1; k < q + len; k++)
            if ((t[k] & 0xc0) != 0x80) return p;
        return q;
    }
    return p;
}

/* ---- reading ------------------------------------------------------------- */

typedef struct {
    uint64_t key;  /* the state: the last len bytes the path spelt, newest lowest */
    uint64_t back; /* in the same places: how far before the stream's node each byte's escape begins */
    unsigned len;
} stream;

typedef struct {
    stream *v;
    size_t n, cap;
} bucket;

typedef struct {
    size_t s, e;
} span;

typedef struct {
    const cab_redactor *r;
    const tables *tab;
    const unsigned char *t;
    size_t n, limit;
    cab_buf *out;
    bucket at[RING];   /* the streams waiting at node u are at[u % RING] */
    size_t waiting;    /* streams in all of at[] */
    span pend[PENDING_MAX]; /* spans not yet written out, in order, apart */
    size_t npend;
    int head_out;      /* the marker of pend[0] is written out */
    size_t shown;      /* the text before this is written out */
    int done, cut, oom;
} walk;

static void put(walk *w, const void *p, size_t n) {
    if (!w->oom && cab_buf_add(w->out, p, n)) w->oom = w->done = 1;
}

/* Writes out text[a..b), or as much as the limit leaves room for, backing
 * off to a character's start. */
static void put_text(walk *w, size_t a, size_t b) {
    if (a >= b || w->done) return;
    if (w->limit && b - a > w->limit - w->out->len) {
        size_t c = char_start(w->t, w->n, a + (w->limit - w->out->len));
        b = c > a ? c : a;
        w->done = w->cut = 1;
    }
    put(w, w->t + a, b - a);
}

static void put_marker(walk *w) {
    if (w->done) return;
    if (w->limit && w->limit - w->out->len < sizeof CAB_REDACTED - 1) w->done = w->cut = 1;
    else put(w, CAB_REDACTED, sizeof CAB_REDACTED - 1);
}

/* Writes out what is settled: the text before f and the spans that begin
 * before it (all: everything, the text is read). */
static void settle(walk *w, size_t f, int all) {
    while (!w->done) {
        if (w->npend && (all || w->pend[0].s < f)) {
            if (!w->head_out) {
                put_text(w, w->shown, w->pend[0].s);
                put_marker(w);
                w->head_out = 1;
                continue;
            }
            if (!all && w->pend[0].e >= f) return;
            w->shown = w->pend[0].e;
            memmove(w->pend, w->pend + 1, --w->npend * sizeof *w->pend);
            w->head_out = 0;
        } else {
            size_t end = all ? w->n : f;
            if (w->shown < end) {
                put_text(w, w->shown, end);
                w->shown = end;
            }
            return;
        }
    }
}

/* Records the span text[s..e) for redaction, found while crossing the
 * byte or escape that ends at e: widened to whole characters and merged
 * with the spans it overlaps or touches. */
static void found(walk *w, size_t s, size_t e) {
    size_t i, j;
    if (w->npend == PENDING_MAX) {
        /* Full: write out what is settled.  The node being read is at most
         * UNIT_MAX before e, and this span begins at s, widened by at most
         * 3 bytes (and s may be far before e after raw_run's comparing). */
        size_t later = e > UNIT_MAX + LAG ? e - UNIT_MAX - LAG : 0, here = s > 3 ? s - 3 : 0;
        settle(w, later < here ? later : here, 0);
        if (w->done) return;
    }
    s = char_start(w->t, w->n, s);
    if (e < w->n && (i = char_start(w->t, w->n, e)) < e) e = i + lead_len(w->t[i]);
    for (i = w->npend; i > 0 && w->pend[i - 1].s > e; i--) {}
    for (j = i; j > 0 && w->pend[j - 1].e >= s; j--) {}
    if (j < i) { /* pend[j..i) overlap or touch it: they become one */
        if (w->pend[j].s < s) s = w->pend[j].s;
        if (w->pend[i - 1].e > e) e = w->pend[i - 1].e;
        memmove(w->pend + j + 1, w->pend + i, (w->npend - i) * sizeof *w->pend);
        w->npend -= i - j - 1;
    } else {
        memmove(w->pend + i + 1, w->pend + i, (w->npend - i) * sizeof *w->pend);
        w->npend++;
    }
    w->pend[j].s = s;
    w->pend[j].e = e;
}

static unsigned back_of(uint64_t back, unsigned m) { return (unsigned)(back >> 8 * (m - 1) & 0xff); }

/* Reports the short secrets that end the state (key, len) at node end. */
static void found_shorts(walk *w, uint64_t key, uint64_t back, unsigned len, size_t end) {
    unsigned m;
    for (m = 1; m <= len && w->tab->lens >> m; m++)
        if (w->tab->lens >> m & 1 && keyset_has(&w->tab->shorts, tagged(m, key & low_bytes(m))))
            found(w, end - back_of(back, m), end);
}

/* Appends byte c to stream s, its escape beginning d bytes before node end,
 * and reports what the stream now ends with. */
static void push(walk *w, stream *s, unsigned char c, unsigned d, size_t end) {
    uint64_t key = s->key << 8 | c;
    unsigned j = !bit(w->tab->any, c) ? 0 : s->len < RUN ? s->len + 1 : RUN;
    while (j > 0 && !is_head(w->tab, j, key & low_bytes(j))) j--;
    s->len = j;
    s->key = key & low_bytes(j);
    s->back = (s->back << 8 | d) & low_bytes(j);
    if (j == RUN) found(w, end - back_of(s->back, RUN), end);
    if (w->tab->lens) found_shorts(w, s->key, s->back, j, end);
}

/* Moves stream s across text[u..v), which stands for the bytes b[0..nb). */
static void cross(walk *w, stream *s, const unsigned char *b, unsigned nb, size_t u, size_t v) {
    unsigned d = (unsigned)(v - u), i;
    s->back += d * (ONES & low_bytes(s->len));
    for (i = 0; i < nb; i++) push(w, s, b[i], d, v);
}

/* Cuts s to the longest tail that begins a run (after raw_run). */
static void normalize(const tables *t, stream *s) {
    unsigned j = s->len;
    while (j > 0 && !is_head(t, j, s->key & low_bytes(j))) j--;
    s->len = j;
    s->key &= low_bytes(j);
    s->back &= low_bytes(j);
}

/* For each of the low len bytes, the larger of a's and b's. */
static uint64_t max_bytes(uint64_t a, uint64_t b, unsigned len) {
    uint64_t r = 0;
    unsigned i;
    for (i = 0; i < 8 * len; i += 8) {
        uint64_t x = a >> i & 0xff, y = b >> i & 0xff;
        r |= (x > y ? x : y) << i;
    }
    return r;
}

/* Whether stream a finds all that b can: b's state ends a's, and each of
 * its bytes begins no earlier in a. */
static int covers(const stream *a, const stream *b) {
    unsigned i;
    if (a->len < b->len || (a->key ^ b->key) & low_bytes(b->len)) return 0;
    for (i = 0; i < b->len; i++)
        if (back_of(a->back, i + 1) < back_of(b->back, i + 1)) return 0;
    return 1;
}

/* Puts stream s at node v: merged with a stream there in the same state
 * (keeping, for each byte, the earlier start), dropped if one there covers
 * it, and dropping those it covers.  A fresh start (the empty state) is
 * implied at every node, never kept. */
static void insert(walk *w, size_t v, const stream *s) {
    bucket *b = &w->at[v % RING];
    size_t i;
    if (!s->len) return;
    for (i = 0; i < b->n; i++) {
        if (b->v[i].len == s->len && b->v[i].key == s->key) {
            b->v[i].back = max_bytes(b->v[i].back, s->back, s->len);
            return;
        }
        if (covers(&b->v[i], s)) return;
    }
    for (i = 0; i < b->n;) {
        if (covers(s, &b->v[i])) {
            b->v[i] = b->v[--b->n];
            w->waiting--;
        } else {
            i++;
        }
    }
    if (b->n == b->cap) {
        /* Streams hold text bytes: the old block is zeroed, not realloc'd. */
        size_t cap = b->cap ? 2 * b->cap : 4;
        stream *p = cap <= (size_t)-1 / sizeof *p ? malloc(cap * sizeof *p) : NULL;
        if (!p) {
            w->oom = w->done = 1;
            return;
        }
        if (b->n) memcpy(p, b->v, b->n * sizeof *p);
        if (b->v) OPENSSL_cleanse(b->v, b->cap * sizeof *p);
        free(b->v);
        b->v = p;
        b->cap = cap;
    }
    b->v[b->n++] = *s;
    w->waiting++;
}

/* How many ASCII control bytes begin at t[u], up to UNIT_MAX: a one-line
 * message (Error.one_line) shows a run of them as one space, which may
 * stand for a space of a secret (one sent with "\r\n" for its spaces).
 * A longer run is read so only in part. */
static size_t control_run(const unsigned char *t, size_t n, size_t u) {
    size_t k = 0;
    while (k < UNIT_MAX && u + k < n && (t[u + k] < 0x20 || t[u + k] == 0x7f)) k++;
    return k;
}

/* Reads node u in general: each stream waiting there (none: the fresh
 * start alone) crosses the raw byte and, where they start there, the
 * escape, a byte's Latin-1 form (latin1_at), and a run of control bytes as
 * one space (control_run). */
static void read_node(walk *w, size_t u) {
    static const stream fresh = {0, 0, 0};
    static const unsigned char space = ' ';
    bucket *b = &w->at[u % RING];
    unsigned char dec[4], latin = 0;
    unsigned nd;
    size_t esc = escape_at(w->t, w->n, u, dec, &nd), lat = latin1_at(w->t, w->n, u, &latin),
           run = control_run(w->t, w->n, u), i, n = b->n ? b->n : 1;
    if (!b->n && !bit(w->tab->any, w->t[u]) && !(lat && bit(w->tab->any, latin))) {
        for (i = 0; esc && i < nd && !bit(w->tab->any, dec[i]); i++) {}
        if (!esc || i == nd) return; /* a fresh start that dies at once */
    }
    for (i = 0; i < n && !w->done; i++) {
        stream s = b->n ? b->v[i] : fresh;
        if (esc) {
            stream e = s;
            cross(w, &e, dec, nd, u, u + esc);
            insert(w, u + esc, &e);
        }
        if (lat) {
            stream l = s;
            cross(w, &l, &latin, 1, u, u + lat);
            insert(w, u + lat, &l);
        }
        if (run > 1) { /* (its first byte alone is the escape: a space too) */
            stream c = s;
            cross(w, &c, &space, 1, u, u + run);
            insert(w, u + run, &c);
        }
        cross(w, &s, w->t + u, 1, u, u + 1);
        insert(w, u + 1, &s);
    }
    w->waiting -= b->n;
    b->n = 0;
}

/* The bytes of a secret that follow the run k where it first stands, up
 * to *end. */
static const unsigned char *after_run(const walk *w, uint64_t k, const unsigned char **end) {
    const tables *t = w->tab;
    size_t pos = t->where[keyset_find(&t->runs, k)], lo = 0, hi = w->r->n - 1;
    const secret *s;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ends[mid] < pos) lo = mid + 1;
        else hi = mid;
    }
    s = &w->r->secret[lo];
    *end = s->p + s->len;
    return *end - (t->ends[lo] - pos);
}

/* Reads the common case fast: one stream, and no escape can start.  Crosses
 * raw bytes from u until an escape could start or stop; returns where it
 * stopped.  The state is then the last bytes, not yet cut to a head.  Once
 * a run is found, the text is compared with the secret that goes on from
 * it, byte for byte, for as long as they agree. */
static size_t raw_run(walk *w, stream *s, size_t u, size_t stop) {
    const uint64_t raw_back = 0x0807060504030201u & low_bytes(RUN);
    const unsigned char *t = w->t, *run_ends = w->tab->at[RUN - 1];
    uint64_t key = s->key, back = s->back;
    unsigned len = s->len;
    for (; u < stop && !w->done; u++) {
        unsigned char c = t[u];
        if (may_escape(c)) break;
        key = (key << 8 | c) & low_bytes(RUN);
        back = (back + (ONES & low_bytes(len))) << 8 | 1;
        if (len < RUN) len++;
        back &= low_bytes(len);
        /* (is_head's first test, here: most bytes end no run, and the
         * call would cost more than the test) */
        if (len == RUN && bit(run_ends, c) && is_head(w->tab, RUN, key)) {
            size_t start = u + 1 - back_of(back, RUN), v = u + 1;
            const unsigned char *end, *q = key ? after_run(w, key, &end) : NULL;
            for (; q && v < stop && q < end && t[v] == *q && !may_escape(*q); v++) q++;
            if (v - u > RUN) { /* the state: the secret's last RUN bytes so far */
                key = pack(q - RUN, RUN);
                back = raw_back;
            } else {
                size_t x;
                for (x = u + 1; x < v; x++) {
                    key = (key << 8 | t[x]) & low_bytes(RUN);
                    back = ((back + ONES) << 8 | 1) & low_bytes(RUN);
                }
            }
            found(w, start, v);
            u = v - 1;
            continue;
        }
        if (w->tab->lens) found_shorts(w, key, back, len, u + 1);
    }
    s->key = key;
    s->back = back;
    s->len = len;
    return u;
}

/* Reads the text.  A fresh start is implied at every node: a stream in
 * any state finds all it could, so empty buckets stand for it.
 *
 * What is read, with a limit: output is written only for settled text,
 * more than LAG bytes behind the node being read, which no span found
 * later can reach; so no byte written belongs to an occurrence that goes
 * on past what was read.  Reading stops once the output is complete (the
 * next piece, text or marker, does not fit) or the text ends.  Settled
 * output is written every SETTLE_EVERY bytes, so reading ends at most
 * SETTLE_EVERY + LAG + UNIT_MAX bytes past the text the output shows or
 * stands for; a span open there is read to its end, to know where the
 * marker's text ends and whether anything follows. */
static void scan(walk *w) {
    size_t u = 0, next = SETTLE_EVERY;
    while (u < w->n && !w->done) {
        bucket *b = &w->at[u % RING];
        if (b->n <= 1 && !may_escape(w->t[u])) {
            /* One stream here: raw bytes up to the next node where others
             * wait (an escape's end) are its alone. */
            stream s = {0, 0, 0};
            size_t stop = next < w->n ? next : w->n, k;
            for (k = 1; w->waiting > b->n && k < RING && u + k < stop; k++)
                if (w->at[(u + k) % RING].n) stop = u + k;
            if (b->n) s = b->v[0];
            w->waiting -= b->n;
            b->n = 0;
            u = raw_run(w, &s, u, stop);
            normalize(w->tab, &s);
            insert(w, u, &s);
        } else {
            read_node(w, u++);
        }
        if (u >= next) {
            settle(w, u > LAG ? u - LAG : 0, 0);
            next = u + SETTLE_EVERY;
        }
    }
    settle(w, w->n, 1);
}

int cab_redact(const cab_redactor *r, const char *text, size_t len, size_t limit, cab_buf *out,
               int *cut) {
    walk w;
    size_t i;
    memset(&w, 0, sizeof w);
    for (i = 0; i < RING; i++) w.at[i].v = NULL;
    w.t = (const unsigned char *)text;
    w.n = len;
    w.limit = limit;
    w.out = out;
    cab_buf_clear(out);
    if (cab_buf_reserve(out, limit && limit < len ? limit : len)) {
        w.oom = 1;
    } else {
        out->data[0] = '\0'; /* an empty result is a string too */
        if (r && r->n) {
            w.r = r;
            w.tab = &r->tab;
            scan(&w);
        } else {
            put_text(&w, 0, len);
        }
    }
    for (i = 0; i < RING; i++) {
        if (!w.at[i].v) continue;
        OPENSSL_cleanse(w.at[i].v, w.at[i].cap * sizeof *w.at[i].v);
        free(w.at[i].v);
    }
    if (cut) *cut = w.oom ? 0 : w.cut;
    if (w.oom) {
        cab_buf_clear(out);
        return -1;
    }
    return 0;
}
