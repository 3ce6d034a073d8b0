#include "buf.h"

#include <stdlib.h>
#include <string.h>

int cab_buf_reserve(cab_buf *b, size_t extra) {
    size_t need, cap;
    char *p;
    if (extra > (size_t)-1 - b->len - 1) return -1;
    need = b->len + extra + 1; /* room for the terminating NUL */
    if (need <= b->cap) return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cab_buf_add(cab_buf *b, const void *p, size_t n) {
    if (cab_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cab_buf_addc(cab_buf *b, char c) { return cab_buf_add(b, &c, 1); }

int cab_buf_adds(cab_buf *b, const char *s) { return cab_buf_add(b, s, strlen(s)); }

void cab_buf_free(cab_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
