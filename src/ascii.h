/* ASCII by value, whatever the C locale says (sign.c, redact.c, head.c,
 * codec.c, core_keyring.c): HTTP's names and hex digits are ASCII, and a host may
 * have set a locale whose tolower() or strcoll() differs. */
#ifndef CAB_ASCII_H
#define CAB_ASCII_H

#include <string.h>

/* c, lower-cased when it is a capital letter. */
static inline unsigned char cab_lower(unsigned char c) {
    return (unsigned char)(c | ((unsigned)(c - 'A') < 26u) << 5);
}

/* The value of the hex digit c (either case), or -1. */
static inline int cab_hex_value(unsigned char c) {
    unsigned d = (unsigned)c - '0';
    if (d < 10) return (int)d;
    d = ((unsigned)c | 0x20) - 'a';
    return d < 6 ? (int)d + 10 : -1;
}

/* Whether c may be in a token (RFC 9110 5.6.2), a field's name. */
static inline int cab_is_tchar(unsigned char c) {
    return ((unsigned)(cab_lower(c) - 'a') < 26u) || ((unsigned)(c - '0') < 10u) ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* a[0..al) against b[0..bl) in byte order, a prefix first: <0, 0 or >0. */
static inline int cab_bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

#endif
