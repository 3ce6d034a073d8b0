/* Bytes eight at a time, for scans of long strings (sign.c, codec.c).
 * For a word x, (x - 0x01..01) & ~x & 0x80..80 is nonzero exactly when a
 * byte of x is 0, and (x - n * 0x01..01) & ~x & 0x80..80 exactly when a
 * byte of x is below n (for n <= 0x80). */
#ifndef CAB_WORD_H
#define CAB_WORD_H

#include <stdint.h>
#include <string.h>

#define CAB_ONES UINT64_C(0x0101010101010101)
#define CAB_HIGHS UINT64_C(0x8080808080808080)

/* The 8 bytes at p, in any alignment. */
static inline uint64_t cab_word(const char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Nonzero when a byte of w is c. */
static inline uint64_t cab_word_has(uint64_t w, unsigned char c) {
    uint64_t x = w ^ (CAB_ONES * c);
    return (x - CAB_ONES) & ~x & CAB_HIGHS;
}

/* Nonzero when a byte of w is below n (n <= 0x80). */
static inline uint64_t cab_word_below(uint64_t w, unsigned char n) {
    return (w - CAB_ONES * n) & ~w & CAB_HIGHS;
}

#endif
