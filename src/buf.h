/* A growable byte buffer.  The signer, the codec and the transport build
 * strings with it; a buffer is reused across calls so that steady-state
 * requests allocate nothing. */
#ifndef CAB_BUF_H
#define CAB_BUF_H

#include <stddef.h>

typedef struct {
    char *data;   /* always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
} cab_buf;

#define CAB_BUF_INIT {NULL, 0, 0}

/* Each returns 0 on success and -1 when memory runs out (the buffer is
 * then left as it was). */
int cab_buf_reserve(cab_buf *b, size_t extra);
int cab_buf_add(cab_buf *b, const void *p, size_t n);
int cab_buf_addc(cab_buf *b, char c);
int cab_buf_adds(cab_buf *b, const char *s);

static inline void cab_buf_clear(cab_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void cab_buf_free(cab_buf *b);

#endif
