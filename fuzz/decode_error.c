/* libFuzzer harness: arbitrary bytes as a Huawei-style error body.
 *
 * cab_decode_error_body must never crash, read past the body (not
 * NUL-terminated here) or leak.  What it reports must agree with the tree
 * it returns: code and message are a pair of one form, error_code/error_msg
 * when neither is blank, else code/message when neither is, else no
 * message and the first of error_code and code that is not blank; when it
 * returns no tree, every member is NULL, and memory, which never runs out
 * here, is not said to have. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *string_member(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Blank: ASCII controls and spaces; in UTF-8, C1 controls, U+2028 and
 * U+2029 only. */
static int blank(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f) continue;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) p += 1;
        else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) p += 2;
        else return 0;
    }
    return 1;
}

static const char *said(const cJSON *obj, const char *name) {
    const char *s = string_member(obj, name);
    return s && !blank(s) ? s : NULL;
}

/* Whether code and message are obj's pair c/m, whole. */
static int pair(const cJSON *obj, const char *c, const char *m, const cab_api_error *e) {
    return said(obj, c) && said(obj, m) && e->code == said(obj, c) && e->message == said(obj, m);
}

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cab_api_error e;
    cJSON *tree;

    memset(&e, 0x55, sizeof e); /* every member must be written */
    tree = cab_decode_error_body((const char *)data, size, &e);
    if (!tree) {
        if (e.code || e.message || e.request_id || e.nomem) abort();
        return 0;
    }
    if (!cJSON_IsObject(tree)) abort();
    if (said(tree, "error_code") && said(tree, "error_msg") ? !pair(tree, "error_code", "error_msg", &e)
        : said(tree, "code") && said(tree, "message")     ? !pair(tree, "code", "message", &e)
        : e.message || e.code != (said(tree, "error_code") ? said(tree, "error_code") : said(tree, "code")))
        abort();
    if (e.request_id != string_member(tree, "request_id")) abort();
    /* Every string it hands out is readable to its end. */
    if (e.code) sink = strlen(e.code);
    if (e.message) sink = strlen(e.message);
    if (e.request_id) sink = strlen(e.request_id);
    cJSON_Delete(tree);
    return 0;
}
