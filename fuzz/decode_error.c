/* libFuzzer harness: arbitrary bytes as a Huawei-style error body.
 *
 * cab_decode_error_body must never crash, read past the body (not
 * NUL-terminated here) or leak.  What it reports must agree with the tree
 * it returns: each member it names is a string inside that tree, preferring
 * error_code/error_msg over code/message; when it returns no tree, every
 * member is NULL. */
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

static const char *either(const cJSON *obj, const char *first, const char *second) {
    const char *v = string_member(obj, first);
    return v ? v : second ? string_member(obj, second) : NULL;
}

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cab_api_error e;
    cJSON *tree;

    memset(&e, 0x55, sizeof e); /* every member must be written */
    tree = cab_decode_error_body((const char *)data, size, &e);
    if (!tree) {
        if (e.code || e.message || e.request_id) abort();
        return 0;
    }
    if (!cJSON_IsObject(tree)) abort();
    if (e.code != either(tree, "error_code", "code") ||
        e.message != either(tree, "error_msg", "message") ||
        e.request_id != either(tree, "request_id", NULL))
        abort();
    /* Every string it hands out is readable to its end. */
    if (e.code) sink = strlen(e.code);
    if (e.message) sink = strlen(e.message);
    if (e.request_id) sink = strlen(e.request_id);
    cJSON_Delete(tree);
    return 0;
}
