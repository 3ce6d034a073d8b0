#include "codec.h"
#include "ascii.h"
#include "requirements.h"
#include "word.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ----------------------------------------------------------- */

/* The request bodies have one fixed shape each, with names known here and
 * values that are ids: they are written straight into the caller's buffer,
 * with no tree to build and nothing to allocate, so writing cannot fail.
 * (cJSON parses the answers, whose shape the server decides.)  Values are
 * still escaped as JSON requires, whatever they hold. */

/* The bytes an id may hold, and those a JSON string must escape. */
enum { ID_BYTE = 1, ESCAPED = 2 };
static const unsigned char CLASS[256] = {
    [0] = ESCAPED, [1] = ESCAPED, [2] = ESCAPED, [3] = ESCAPED, [4] = ESCAPED, [5] = ESCAPED,
    [6] = ESCAPED, [7] = ESCAPED, [8] = ESCAPED, [9] = ESCAPED, [10] = ESCAPED, [11] = ESCAPED,
    [12] = ESCAPED, [13] = ESCAPED, [14] = ESCAPED, [15] = ESCAPED, [16] = ESCAPED, [17] = ESCAPED,
    [18] = ESCAPED, [19] = ESCAPED, [20] = ESCAPED, [21] = ESCAPED, [22] = ESCAPED, [23] = ESCAPED,
    [24] = ESCAPED, [25] = ESCAPED, [26] = ESCAPED, [27] = ESCAPED, [28] = ESCAPED, [29] = ESCAPED,
    [30] = ESCAPED, [31] = ESCAPED, ['"'] = ESCAPED, ['\\'] = ESCAPED,
    ['0'] = ID_BYTE, ['1'] = ID_BYTE, ['2'] = ID_BYTE, ['3'] = ID_BYTE, ['4'] = ID_BYTE, ['5'] = ID_BYTE,
    ['6'] = ID_BYTE, ['7'] = ID_BYTE, ['8'] = ID_BYTE, ['9'] = ID_BYTE,
    ['A'] = ID_BYTE, ['B'] = ID_BYTE, ['C'] = ID_BYTE, ['D'] = ID_BYTE, ['E'] = ID_BYTE, ['F'] = ID_BYTE,
    ['G'] = ID_BYTE, ['H'] = ID_BYTE, ['I'] = ID_BYTE, ['J'] = ID_BYTE, ['K'] = ID_BYTE, ['L'] = ID_BYTE,
    ['M'] = ID_BYTE, ['N'] = ID_BYTE, ['O'] = ID_BYTE, ['P'] = ID_BYTE, ['Q'] = ID_BYTE, ['R'] = ID_BYTE,
    ['S'] = ID_BYTE, ['T'] = ID_BYTE, ['U'] = ID_BYTE, ['V'] = ID_BYTE, ['W'] = ID_BYTE, ['X'] = ID_BYTE,
    ['Y'] = ID_BYTE, ['Z'] = ID_BYTE,
    ['a'] = ID_BYTE, ['b'] = ID_BYTE, ['c'] = ID_BYTE, ['d'] = ID_BYTE, ['e'] = ID_BYTE, ['f'] = ID_BYTE,
    ['g'] = ID_BYTE, ['h'] = ID_BYTE, ['i'] = ID_BYTE, ['j'] = ID_BYTE, ['k'] = ID_BYTE, ['l'] = ID_BYTE,
    ['m'] = ID_BYTE, ['n'] = ID_BYTE, ['o'] = ID_BYTE, ['p'] = ID_BYTE, ['q'] = ID_BYTE, ['r'] = ID_BYTE,
    ['s'] = ID_BYTE, ['t'] = ID_BYTE, ['u'] = ID_BYTE, ['v'] = ID_BYTE, ['w'] = ID_BYTE, ['x'] = ID_BYTE,
    ['y'] = ID_BYTE, ['z'] = ID_BYTE,
};

int cab_is_id(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned char all = ID_BYTE;
    size_t i;
    if (n != CAB_ID_LEN) return 0;
    for (i = 0; i < n; i++) all &= CLASS[u[i]];
    return all != 0;
}

/* Whether none of s[0..n) needs escaping in a JSON string (ids never
 * do): one pass, four bytes at a time. */
static int plain(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned char a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a |= CLASS[u[i]];
        b |= CLASS[u[i + 1]];
        c |= CLASS[u[i + 2]];
        d |= CLASS[u[i + 3]];
    }
    for (; i < n; i++) a |= CLASS[u[i]];
    return !((a | b | c | d) & ESCAPED);
}

/* The bytes s takes as a JSON string: its quotes, two for a quote or
 * backslash, six for another control character (\u00XX), one for the
 * rest. */
static size_t quoted_size(const char *s) {
    size_t n = strlen(s), size = n + 2, i;
    if (plain(s, n)) return size;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (CLASS[c] & ESCAPED) size += c < 0x20 ? 5 : 1;
    }
    return size;
}

static char *put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LITERAL(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Writes s as a JSON string at p; returns the end. */
static char *put_quoted(char *p, const char *s) {
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s), i;
    *p++ = '"';
    if (plain(s, n)) {
        p = put(p, s, n);
    } else {
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!(CLASS[c] & ESCAPED)) {
                *p++ = (char)c;
            } else if (c == '"' || c == '\\') {
                *p++ = '\\';
                *p++ = (char)c;
            } else {
                p = PUT_LITERAL(p, "\\u00");
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            }
        }
    }
    *p++ = '"';
    return p;
}

#define QUERY_OPEN "{\"query\":["
#define PAIR_OPEN "{\"pipeline_id\":"
#define PAIR_MIDDLE ",\"pipeline_run_id\":"

size_t cab_query_size(const cab_pair *pairs, size_t n) {
    size_t i, size = sizeof QUERY_OPEN - 1 + 3; /* and "]}" and the NUL */
    for (i = 0; i < n; i++)
        size += (i > 0) + sizeof PAIR_OPEN - 1 + quoted_size(pairs[i].pipeline_id) + sizeof PAIR_MIDDLE - 1 +
                quoted_size(pairs[i].pipeline_run_id) + 1;
    return size;
}

size_t cab_encode_query(const cab_pair *pairs, size_t n, char *out) {
    char *p = PUT_LITERAL(out, QUERY_OPEN);
    size_t i;
    for (i = 0; i < n; i++) {
        if (i > 0) *p++ = ',';
        p = put_quoted(PUT_LITERAL(p, PAIR_OPEN), pairs[i].pipeline_id);
        p = put_quoted(PUT_LITERAL(p, PAIR_MIDDLE), pairs[i].pipeline_run_id);
        *p++ = '}';
    }
    p = PUT_LITERAL(p, "]}");
    *p = '\0';
    return (size_t)(p - out);
}

size_t cab_ids_size(const char *key, const char *const *ids, size_t n) {
    size_t i, size = 1 + quoted_size(key) + 2 + 3; /* {key:[ and ]} and the NUL */
    for (i = 0; i < n; i++) size += (i > 0) + quoted_size(ids[i]);
    return size;
}

size_t cab_encode_ids(const char *key, const char *const *ids, size_t n, char *out) {
    char *p = out;
    size_t i;
    *p++ = '{';
    p = PUT_LITERAL(put_quoted(p, key), ":[");
    for (i = 0; i < n; i++) {
        if (i > 0) *p++ = ',';
        p = put_quoted(p, ids[i]);
    }
    p = PUT_LITERAL(p, "]}");
    *p = '\0';
    return (size_t)(p - out);
}

/* ---- decoding ----------------------------------------------------------- */

/* Where json_reading is in a text: between tokens (a value due, a name
 * due, a colon due, or a value ended), inside a string, a literal, or a
 * number (after '-', a leading '0', integer digits, '.', fraction digits,
 * 'e', its sign, exponent digits). */
enum { P_VALUE, P_NAME, P_COLON, P_AFTER, P_STRING, P_ESCAPE, P_HEX, P_LITERAL,
       P_MINUS, P_ZERO, P_INT, P_DOT, P_FRAC, P_E, P_SIGN, P_EXP, P_BAD };

/* The state a number in state st goes to on c: P_AFTER when c cannot go
 * on it and it is whole (c is then read after it), P_BAD when c cannot
 * go on it and it is not, or when no JSON number goes on so ("01"). */
static int number_step(int st, char c) {
    int digit = c >= '0' && c <= '9';
    switch (st) {
    case P_MINUS: return c == '0' ? P_ZERO : digit ? P_INT : P_BAD;
    case P_DOT: return digit ? P_FRAC : P_BAD;
    case P_E: return c == '+' || c == '-' ? P_SIGN : digit ? P_EXP : P_BAD;
    case P_SIGN: return digit ? P_EXP : P_BAD;
    case P_EXP: return digit ? P_EXP : P_AFTER;
    default: /* P_ZERO, P_INT, P_FRAC: whole numbers so far */
        if (digit) return st == P_ZERO ? P_BAD : st;
        if (c == '.' && st != P_FRAC) return P_DOT;
        return c == 'e' || c == 'E' ? P_E : P_AFTER;
    }
}

/* The state a value due goes to on its first byte c, or P_BAD; a
 * literal's rest in *literal. */
static int value_start(char c, const char **literal) {
    const char *rest = c == 't' ? "rue" : c == 'f' ? "alse" : c == 'n' ? "ull" : NULL;
    if (rest) {
        *literal = rest;
        return P_LITERAL;
    }
    if (c == '"') return P_STRING;
    return c == '-' ? P_MINUS : number_step(P_MINUS, c);
}

/* What s[0..len) is as JSON (RFC 8259): JSON_CUT, a proper prefix of a
 * text (no whole text, but one that more bytes would make), which a
 * transfer cut short leaves; JSON_WHOLE, a whole text (white space around
 * it); or JSON_BAD, malformed before its end ("[1 2", "{"a":1 "b""),
 * brackets open or not, whose place is cJSON's to name.  Run only on a
 * failure, by a pushdown automaton over the whole body: the closer of each
 * open bracket is kept in a fixed array, as deep as cJSON goes (deeper is
 * neither: lexis_fault refuses it).  White space is JSON's four bytes; a
 * control byte in a string makes it bad.  A whole text holding a number
 * longer than LONG_NUMBER bytes is JSON_LONG: cJSON before 1.7.18 reads
 * none (some distributions' are mended), and refuses such a text. */
enum { JSON_BAD, JSON_CUT, JSON_WHOLE, JSON_LONG };
#define LONG_NUMBER 63
static int json_reading(const char *s, size_t len) {
    char closer[CJSON_NESTING_LIMIT];
    const char *literal = ""; /* the rest of the literal being read */
    size_t i = 0, depth = 0, number = 0, longest = 0; /* bytes of the number being read, and of the longest */
    int st = P_VALUE, first = 0, name = 0, hex = 0; /* first: right after an opener */
    /* cJSON skips a UTF-8 byte order mark that starts a body (RFC 8259
     * lets a parser): a body cut inside or after one is cut short too. */
    while (i < len && i < 3 && s[i] == "\xEF\xBB\xBF"[i]) i++;
    if (i > 0 && i < 3 && i < len) return JSON_BAD;
    while (i < len) {
        char c = s[i];
        int ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (st >= P_MINUS) { /* a byte that ends a number is read again after it */
            if ((st = number_step(st, c)) == P_BAD) return JSON_BAD;
            if (st != P_AFTER) i++, number++;
            if (number > longest) longest = number;
            continue;
        }
        i++;
        if (st == P_STRING) {
            if ((unsigned char)c < 0x20) return JSON_BAD;
            if (c == '"') st = name ? P_COLON : P_AFTER;
            else if (c == '\\') st = P_ESCAPE;
        } else if (st == P_ESCAPE) {
            if (c == 'u') hex = 4;
            else if (!c || !strchr("\"\\/bfnrt", c)) return JSON_BAD;
            st = c == 'u' ? P_HEX : P_STRING;
        } else if (st == P_HEX) {
            if (cab_hex_value((unsigned char)c) < 0) return JSON_BAD;
            if (--hex == 0) st = P_STRING;
        } else if (st == P_LITERAL) {
            if (c != *literal++) return JSON_BAD;
            if (!*literal) st = P_AFTER;
        } else if (ws) {
            /* between tokens */
        } else if ((c == ']' && first && st == P_VALUE) || (c == '}' && first && st == P_NAME) ||
                   (st == P_AFTER && depth > 0 && c == closer[depth - 1])) {
            depth--;
            st = P_AFTER;
        } else if (st == P_AFTER && depth > 0 && c == ',') {
            st = closer[depth - 1] == '}' ? P_NAME : P_VALUE;
            first = 0;
        } else if (st == P_COLON && c == ':') {
            st = P_VALUE;
            first = 0;
        } else if (st == P_NAME && c == '"') {
            st = P_STRING;
            name = 1;
        } else if (st == P_VALUE && (c == '[' || c == '{')) {
            if (depth == CJSON_NESTING_LIMIT) return JSON_BAD;
            closer[depth++] = c == '[' ? ']' : '}';
            st = c == '[' ? P_VALUE : P_NAME;
            first = 1;
        } else if (st != P_VALUE || (st = value_start(c, &literal)) == P_BAD) {
            return JSON_BAD;
        } else {
            name = 0;
            number = 1; /* its first byte, should it be a number */
        }
    }
    /* a whole text: its value ended (a number may end at the end) */
    if (depth == 0 && (st == P_AFTER || st == P_ZERO || st == P_INT || st == P_FRAC || st == P_EXP))
        return longest > LONG_NUMBER ? JSON_LONG : JSON_WHOLE;
    return JSON_CUT;
}

/* The end of the number that starts at s[i], by JSON's grammar
 * (-? int frac? exp?, no leading zero), where nothing that could go on a
 * number may follow it: 0 when there is no such number. */
static size_t number_end(const char *s, size_t len, size_t i) {
#define DIGIT(k) ((k) < len && s[k] >= '0' && s[k] <= '9')
    if (s[i] == '-') i++;
    if (i < len && s[i] == '0') i++;
    else if (DIGIT(i)) while (DIGIT(i)) i++;
    else return 0;
    if (i < len && s[i] == '.') {
        if (!DIGIT(i + 1)) return 0;
        for (i++; DIGIT(i); i++) {}
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (!DIGIT(i)) return 0;
        while (DIGIT(i)) i++;
    }
    if (DIGIT(i) || (i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))) return 0;
    return i;
#undef DIGIT
}

#define NUL_WHY "a NUL character, which no string from it can carry"
static const char DEPTH_WHY[] = "nested deeper than cJSON goes";
static const char NUMBER_WHY[] = "a malformed number";

/* Whether any of the eight bytes of w is below 0x20, a quote or a
 * backslash (word.h).  Most of a body is the inside of strings, which
 * this skips in words. */
static int stops_string(uint64_t w) {
    return (cab_word_below(w, 0x20) | cab_word_has(w, '"') | cab_word_has(w, '\\')) != 0;
}

/* Whether c ends a run of plain string bytes: a control character, a
 * quote or a backslash. */
#define STOPS(c) ((unsigned char)(c) < 0x20 || (c) == '"' || (c) == '\\')

size_t cab_json_plain_end(const char *s, size_t len, size_t i) {
    while (len - i >= 8 && !stops_string(cab_word(s + i))) i += 8;
    while (i < len && !STOPS(s[i])) i++;
    return i;
}

/* The value of the four hex digits at s (either case), or -1. */
static long hex4(const char *s) {
    long v = 0;
    int k, d;
    for (k = 0; k < 4; k++) {
        if ((d = cab_hex_value((unsigned char)s[k])) < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

/* lexis_fault's word for a lone surrogate when it has no copy to mend it
 * in: parse_all then makes one, so no message ever says it. */
static const char LONE_WHY[] = "a lone surrogate";
/* The hex digits of U+FFFD, for a \u escape (no NUL: they go inside one). */
static const char REPLACEMENT[4] = {'F', 'F', 'F', 'D'};

/* Checks the \u escape whose u is s[i] (four bytes follow it) for
 * lexis_fault.  cJSON reads a \u without four hex digits as \u0000 (its
 * hex reader gives 0), which would cut the string there, and refuses a
 * UTF-16 surrogate that is not half of a pair, though JSON's grammar
 * allows one (a back end that cut an emoji between its halves writes
 * one): when mend is a copy of s, such a surrogate is written there as
 * \uFFFD, the replacement character, as long as it, so that every byte a
 * message names stays where it was; with no copy, it is a fault
 * (LONE_WHY), for the caller to make one.  Returns the index of the last
 * byte checked (the u, or the u of a pair's low half), or 0 with *why set
 * on a fault. */
static size_t unicode_escape(const char *s, size_t len, size_t i, char *mend, const char **why) {
    long v = hex4(s + i + 1);
    if (v <= 0) {
        *why = v < 0 ? "a \\u escape without four hex digits" : NUL_WHY;
        return 0;
    }
    if (v < 0xD800 || v > 0xDFFF) return i;
    if (v < 0xDC00 && len - i > 10 && s[i + 5] == '\\' && s[i + 6] == 'u' && (v = hex4(s + i + 7)) >= 0xDC00 &&
        v <= 0xDFFF)
        return i + 6; /* a pair, which cJSON joins */
    if (!mend) {
        *why = LONE_WHY;
        return 0;
    }
    memcpy(mend + i + 1, REPLACEMENT, sizeof REPLACEMENT);
    return i;
}

/* Where the body breaks a rule of JSON's (RFC 8259) that cJSON lets pass,
 * from 1, with the rule in *why; 0 when it breaks none.  cJSON takes any
 * byte up to a space as white space, a control character inside a string,
 * and a number strtod reads ("012", "1."); and its strings end at a NUL, so
 * a value holding one (a NUL byte, or a \u0000 escape) would come back cut
 * short, and an id cut short might match another.  cJSON finds the rest.
 * A lone surrogate escape is mended in mend, a copy of s, when there is
 * one, and is a fault (LONE_WHY) when there is none (unicode_escape). */
static size_t lexis_fault(const char *s, size_t len, char *mend, const char **why) {
    size_t i = 0, at;
    long depth = 0; /* (a bracket that closes none is cJSON's to refuse) */
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            for (i++;; i++) {
                i = cab_json_plain_end(s, len, i);
                if (i == len || s[i] == '"') break; /* (cut short: cJSON says so) */
                c = (unsigned char)s[i];
                if (c < 0x20) {
                    *why = c ? "a control character inside a string" : NUL_WHY;
                    return i + 1;
                }
                /* A backslash: the escape it starts is skipped, a \u
                 * checked first. */
                if (++i == len) break;
                if (s[i] == 'u' && len - i > 4) {
                    at = i;
                    if ((i = unicode_escape(s, len, i, mend, why)) == 0) return at;
                }
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            at = i;
            if ((i = number_end(s, len, i)) == 0) {
                *why = NUMBER_WHY;
                return at + 1;
            }
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            /* (a NUL here is in no string: NUL_WHY would say it is) */
            *why = c ? "a control character outside a string" : "a NUL character outside a string";
            return i + 1;
        } else {
            /* cJSON stops deeper than this with no word of why */
            if ((c == '[' || c == '{') && ++depth > CJSON_NESTING_LIMIT) {
                *why = DEPTH_WHY;
                return i + 1;
            }
            if (c == ']' || c == '}') depth--;
            i++;
        }
    }
    return 0;
}

/* Says that a body of len bytes was cut short: a transfer that stopped
 * early, not JSON malformed where a byte can be named. */
static void ends_early(cab_decode_error *err, size_t len) {
    snprintf(err->message, sizeof err->message, "invalid JSON: the body ends early, after %zu bytes", len);
}

/* Parses text, which passed lexis_fault, as one JSON value; trailing
 * bytes other than white space are an error, and so is a body cut short.
 * cJSON says no more when its memory runs out than when the text is bad:
 * a whole text it could not parse, which passed lexis_fault (cJSON's
 * depth, no NUL, no lone surrogate), is its memory. */
static cJSON *parse_checked(const char *text, size_t len, cab_decode_error *err) {
    const char *end = NULL;
    /* cJSON skips a byte order mark only in a body of 5 bytes or more
     * (json_reading, in any): a shorter one's is skipped here. */
    size_t bom = len < 5 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    cJSON *root = cJSON_ParseWithLengthOpts(text + bom, len - bom, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        int reading = json_reading(text, len);
        if (reading == JSON_CUT)
            ends_early(err, len);
        else if (reading == JSON_WHOLE) {
            snprintf(err->message, sizeof err->message, "out of memory parsing the body (%zu bytes)", len);
            err->nomem = 1;
        } else
            snprintf(err->message, sizeof err->message, "invalid JSON near byte %zu of %zu",
                     (at < len ? at : len - 1) + 1, len);
        return NULL;
    }
    while (end < text + len && *end && strchr(" \t\r\n", *end)) end++;
    if (end < text + len) {
        snprintf(err->message, sizeof err->message,
                 "invalid JSON: trailing data at byte %zu of %zu", (size_t)(end - text) + 1, len);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Parses the whole body as one JSON value (parse_checked), refusing what
 * lexis_fault finds.  A body with a lone surrogate escape is parsed from a
 * copy with each one mended, made only then: most bodies hold none. */
static cJSON *parse_all(const char *body, size_t len, cab_decode_error *err) {
    const char *why = NULL;
    char *mended = NULL;
    cJSON *root;
    size_t fault;
    err->nomem = 0;
    if (len == 0) {
        snprintf(err->message, sizeof err->message, "empty body");
        return NULL;
    }
    if ((fault = lexis_fault(body, len, NULL, &why)) != 0 && why == LONE_WHY) {
        if (!(mended = malloc(len))) {
            snprintf(err->message, sizeof err->message, "out of memory mending a surrogate at byte %zu of %zu",
                     fault, len);
            err->nomem = 1;
            return NULL;
        }
        memcpy(mended, body, len);
        fault = lexis_fault(body, len, mended, &why);
    }
    if (fault != 0) {
        /* A body cut inside a number ("[1.", "{"a":-") ends in a number
         * that is malformed only because it is cut. */
        if (why == NUMBER_WHY && json_reading(body, len) == JSON_CUT)
            ends_early(err, len);
        else if (why == DEPTH_WHY) /* (valid JSON all the same) */
            snprintf(err->message, sizeof err->message, "JSON nested more than %d deep, at byte %zu of %zu",
                     CJSON_NESTING_LIMIT, fault, len);
        else
            snprintf(err->message, sizeof err->message, "invalid JSON at byte %zu of %zu: %s", fault, len, why);
        free(mended);
        return NULL;
    }
    root = parse_checked(mended ? mended : body, len, err);
    free(mended);
    return root;
}

/* A member name obj gives twice, found by comparing each name with the
 * ones before it; an object with many members is sorted instead, so that
 * a hostile body cannot make this quadratic.  Returns 1 with *name set, 0
 * when every name is distinct, -1 when memory runs out. */
#define FEW_MEMBERS 16

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int duplicate_member(const cJSON *obj, const char **name) {
    const cJSON *a, *b;
    const char **names;
    size_t n = 0, i;
    int found = 0;
    for (a = obj->child; a; a = a->next) n++;
    if (n <= FEW_MEMBERS) {
        for (a = obj->child; a; a = a->next)
            for (b = obj->child; b != a; b = b->next)
                if (a->string && b->string && strcmp(a->string, b->string) == 0) {
                    *name = a->string;
                    return 1;
                }
        return 0;
    }
    if (!(names = malloc(n * sizeof *names))) return -1;
    for (a = obj->child, i = 0; a; a = a->next) names[i++] = a->string ? a->string : "";
    qsort(names, n, sizeof *names, cmp_names);
    for (i = 1; i < n && !found; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            *name = names[i];
            found = 1;
        }
    free(names);
    return found;
}

/* A name from the body as a message may show it: quoted whole when it is
 * at most 40 bytes of printable ASCII, else by its length only.  A name
 * cut short or rewritten could end in, or hide, the start of a secret
 * that the redaction after this (exchange.lua) would then not recognise. */
#define SHOWN_NAME 48
static void shown_name(const char *name, char out[SHOWN_NAME]) {
    size_t i, n = strlen(name);
    for (i = 0; i < n && name[i] >= 0x20 && name[i] < 0x7f; i++) {}
    if (i == n && n <= 40) snprintf(out, SHOWN_NAME, "\"%s\"", name);
    else snprintf(out, SHOWN_NAME, "of %zu bytes", n);
}

/* Where a problem is, for a message: the body itself, or item i (from 1)
 * of the list, formatted only when there is a problem to report. */
typedef struct {
    const char *list; /* NULL: the body */
    size_t i;
} place;

/* Names, in err, a member that object v names twice, saying where it is;
 * -1 then, else 0. */
static int no_duplicates_here(const cJSON *v, place at, cab_decode_error *err) {
    const char *name = NULL;
    char shown[SHOWN_NAME], where[48];
    int rc = duplicate_member(v, &name);
    if (rc == 0) return 0;
    if (at.list) snprintf(where, sizeof where, "%.24s[%zu]", at.list, at.i);
    else snprintf(where, sizeof where, "the body");
    if (rc < 0) {
        snprintf(err->message, sizeof err->message, "out of memory checking %s", where);
        err->nomem = 1;
    } else {
        shown_name(name, shown);
        snprintf(err->message, sizeof err->message, "%s names the member %s twice", where, shown);
    }
    return -1;
}

static int no_duplicates(const cJSON *v, place at, cab_decode_error *err);

/* The same for every object v holds, at any depth. */
static int none_below(const cJSON *v, place at, cab_decode_error *err) {
    const cJSON *c;
    for (c = v->child; c; c = c->next)
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && no_duplicates(c, at, err)) return -1;
    return 0;
}

/* The same for every object in v, v included, at any depth. */
static int no_duplicates(const cJSON *v, place at, cab_decode_error *err) {
    if (cJSON_IsObject(v) && no_duplicates_here(v, at, err)) return -1;
    return none_below(v, at, err);
}

/* Whether objects a and b name the same members in the same order: then
 * a names none twice when b names none twice. */
static int same_names(const cJSON *a, const cJSON *b) {
    for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
        if (!a->string || !b->string || strcmp(a->string, b->string) != 0) return 0;
    return !a && !b;
}

/* Whether root names its member list twice (err says so): all a run's
 * answer is refused for at its top level, whose other members are never
 * read. */
static int list_named_twice(const cJSON *root, const char *list, cab_decode_error *err) {
    const cJSON *m;
    int n = 0;
    for (m = root->child; m; m = m->next) n += m->string && strcmp(m->string, list) == 0;
    if (n < 2) return 0;
    snprintf(err->message, sizeof err->message, "the body names the member \"%.40s\" twice", list);
    return 1;
}

cJSON *cab_decode_results(const char *body, size_t len, const char *list, const char *const *ids,
                          const cJSON **result, unsigned char **flawed, cab_decode_error *err) {
    cJSON *root = parse_all(body, len, err), *arr, *item, *m, *prev = NULL;
    unsigned char *flaws = NULL;
    char first[sizeof err->message];
    size_t i = 0;
    const place body_place = {NULL, 0};
    *result = NULL;
    *flawed = NULL;
    if (!root) return NULL;
    if (!cJSON_IsObject(root)) {
        snprintf(err->message, sizeof err->message, "body is not a JSON object");
        goto bad;
    }
    /* Only the top level and the list reach the caller; both are checked. */
    if (*ids ? no_duplicates_here(root, body_place, err) : list_named_twice(root, list, err)) goto bad;
    arr = cJSON_GetObjectItemCaseSensitive(root, list);
    if (!arr) {
        snprintf(err->message, sizeof err->message, "body has no \"%.40s\"", list);
        goto bad;
    }
    if (!cJSON_IsArray(arr)) {
        snprintf(err->message, sizeof err->message, "\"%.40s\" is not an array", list);
        goto bad;
    }
    cJSON_ArrayForEach(item, arr) {
        const char *const *id;
        place at;
        i++;
        /* With no ids to check, an item is the caller's to place or refuse
         * (a run's answer: refusing it here would drop the batch's other
         * runs, which started). */
        if (!cJSON_IsObject(item) && *ids) {
            snprintf(err->message, sizeof err->message, "%.40s[%zu] is not an object", list, i);
            goto bad;
        }
        at.list = list;
        at.i = i;
        /* Items mostly name the members the item before them named, which
         * was checked: comparing with it costs fewer comparisons. */
        if (prev && same_names(item, prev) ? none_below(item, at, err) : no_duplicates(item, at, err)) {
            if (*ids || err->nomem) goto bad;
            if (!flaws && !(flaws = calloc((size_t)cJSON_GetArraySize(arr), 1))) {
                snprintf(err->message, sizeof err->message, "out of memory checking %.40s[%zu]", list, i);
                err->nomem = 1;
                goto bad;
            }
            if (!memchr(flaws, 1, i - 1)) memcpy(first, err->message, sizeof first);
            flaws[i - 1] = 1;
            prev = NULL; /* (no model for the next item's names) */
            continue;
        }
        prev = item;
        for (id = ids; *id; id++) {
            /* Members are few: a direct walk beats the lookup's case folding. */
            for (m = item->child; m && (!m->string || strcmp(m->string, *id) != 0); m = m->next) {}
            if (!cJSON_IsString(m)) {
                snprintf(err->message, sizeof err->message, "%.40s[%zu].%s is missing or not a string",
                         list, i, *id);
                goto bad;
            }
        }
    }
    if (flaws) memcpy(err->message, first, sizeof first);
    *result = arr;
    *flawed = flaws;
    return root;
bad:
    free(flaws);
    cJSON_Delete(root);
    return NULL;
}

static const char *string_member(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether s says nothing once shown on one line: only ASCII control
 * characters, spaces, and in UTF-8 C1 controls (C2 80 to C2 9F) and the
 * line and paragraph separators (E2 80 A8, E2 80 A9), each of which the
 * Lua side's Error.one_line shows as a space.  A blank code or message
 * must not win over the other form's full pair. */
static int blank(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p <= 0x20 || *p == 0x7f)
            p++;
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            p += 2;
        else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
            p += 3;
        else
            return 0;
    }
    return 1;
}

/* obj's string member name, when it is one and not blank, else NULL. */
static const char *said(const cJSON *obj, const char *name) {
    const char *s = string_member(obj, name);
    return s && !blank(s) ? s : NULL;
}

/* Reads one form's code and message into out; whether both say something. */
static int said_pair(const cJSON *obj, const char *code, const char *message, cab_api_error *out) {
    out->code = said(obj, code);
    out->message = said(obj, message);
    return out->code && out->message;
}

cJSON *cab_decode_error_body(const char *body, size_t len, cab_api_error *out) {
    cab_decode_error why;
    cJSON *root;
    const place body_place = {NULL, 0};
    memset(out, 0, sizeof *out);
    root = parse_all(body, len, &why);
    if (!root) {
        out->nomem = why.nomem;
        return NULL;
    }
    if (!cJSON_IsObject(root) || no_duplicates_here(root, body_place, &why)) {
        out->nomem = why.nomem;
        cJSON_Delete(root);
        return NULL;
    }
    /* A form's code and message are one statement: the other form's
     * message says nothing of this form's code (as the Go SDK reads them). */
    if (!said_pair(root, "error_code", "error_msg", out) && !said_pair(root, "code", "message", out)) {
        out->code = said(root, "error_code");
        if (!out->code) out->code = said(root, "code");
        out->message = NULL;
    }
    out->request_id = string_member(root, "request_id");
    return root;
}
