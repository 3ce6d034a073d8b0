/* Redaction of secrets from text a server sent back.
 *
 * Error messages shown to users may quote what a gateway or proxy echoed,
 * and an echo may carry a secret in any form a server writes text in.  The
 * redactor holds its own copies of the secrets (the SK never needs to exist
 * anywhere else once a client is made) and removes every occurrence:
 *
 * An occurrence is a span of the text whose bytes, decoded, are a run of at
 * least min(CAB_REDACT_MIN_RUN, its length) consecutive bytes of one secret.
 * Any byte of the span may be written raw, as %XX (either hex case), a
 * space as '+' (as a form, application/x-www-form-urlencoded, writes it)
 * or as one control character (as a terminal or a table shows one: an
 * ASCII byte 0x00-0x1F or 0x7F, or a C1 control as UTF-8 writes it, C2 80
 * to C2 9F) or a run of 2 to 12 of those ASCII ones (as a one-line message
 * shows such a run: a space, "\r\n" for one, say) or one of Unicode's line and paragraph separators (U+2028,
 * U+2029: E2 80 A8, E2 80 A9; a one-line message shows each as a space),
 * or as a JSON string escape: \" \\ \/ \b \f \n \r \t, or
 * \uXXXX (either case) standing for the code point's UTF-8 bytes, a
 * surrogate pair for one 4-byte sequence; or, for a byte 0x80-0xFF, as
 * the Latin-1 character U+0080-U+00FF that is that byte, as a server that
 * read the secret as Latin-1 writes it: its UTF-8 raw (C2 or C3, then a
 * continuation byte), as \u00XX, or percent-encoded (%C3%90 for 0xD0);
 * the forms mix freely.  An escape
 * is also its own raw bytes: '+' is a '+' too, a tab a tab, as %41 is
 * "%41" too.  Nothing else is decoded: %2B is '+' (never a space), %09 and
 * \t are a tab, \u0085 is U+0085 and \u2028 is U+2028 (each never a
 * space), %252F is "%2F", and an invalid escape (a lone surrogate, non-hex
 * digits) is only its own raw bytes.  A span may
 * begin or end inside an escape that stands for several bytes; the whole
 * escape is removed.
 *
 * Each maximal span (overlapping and adjacent ones merged, widened to whole
 * UTF-8 characters) becomes one CAB_REDACTED.  The cut to a length limit
 * comes after redaction, so no cut leaves the start of a secret behind. */
#ifndef CAB_REDACT_H
#define CAB_REDACT_H

#include <stddef.h>

#include "buf.h"

#define CAB_REDACTED "[REDACTED]"
/* A run of at least this many consecutive bytes of a secret counts as the
 * secret (a truncated echo); a secret shorter than this is redacted only
 * whole.  At most 8: runs are packed into 64-bit words. */
#define CAB_REDACT_MIN_RUN 8
/* The most text one byte of a secret may be written in: a space as a run
 * of 12 control characters (an escape is at most as long: a surrogate
 * pair, \uD83D\uDE00, is 12 bytes for 4). */
#define CAB_REDACT_UNIT_MAX 12

typedef struct cab_redactor cab_redactor;

/* NULL: out of memory. */
cab_redactor *cab_redactor_new(void);

/* Adds a secret (copied).  Empty secrets are ignored.  0, or -1 when memory
 * runs out (the redactor is then as it was). */
int cab_redactor_add(cab_redactor *r, const void *secret, size_t len);

/* Frees r; every copy of a secret, and every table derived from one, is
 * zeroed first (OPENSSL_cleanse).  NULL is fine. */
void cab_redactor_free(cab_redactor *r);

/* Replaces out's content with text[0..len) in which every occurrence of a
 * secret is replaced by CAB_REDACTED, then cuts the result to at most limit
 * bytes (limit 0: no cut): never inside a UTF-8 character the text had
 * whole, never inside a CAB_REDACTED (it is kept or dropped whole).  The
 * result is always the first bytes of the uncut result.  r may be NULL or
 * hold no secret: then the text is only copied and cut.  text must not lie
 * inside out.  Returns 0, or -1 when memory runs out (out is then empty).
 * *cut (when cut is not NULL) is set to 1 when the result was cut, else 0.
 *
 * Time is linear in the text read; memory is the output and a few
 * kilobytes.  With a limit, reading stops once the output is complete:
 * about 1 KiB past the text the output shows or a marker stands for (a
 * span open there is read to its end).  Only text that no occurrence
 * reaching past what was read could touch is written out. */
int cab_redact(const cab_redactor *r, const char *text, size_t len, size_t limit,
               cab_buf *out, int *cut);

#endif
