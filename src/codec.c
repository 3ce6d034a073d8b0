#include "codec.h"

#include <stdio.h>
#include <string.h>

/* ---- encoding ----------------------------------------------------------- */

/* Prints into out: cJSON_PrintPreallocated into a buffer sized from the
 * estimate (cJSON asks for 5 spare bytes), with cJSON_PrintUnformatted as
 * the fallback should the estimate be short. */
static int print_into(const cJSON *root, size_t estimate, cab_buf *out) {
    char *s;
    cab_buf_clear(out);
    if (estimate < (size_t)-1 / 2 && estimate <= 0x7ffffff0 && !cab_buf_reserve(out, estimate + 5) &&
        cJSON_PrintPreallocated((cJSON *)root, out->data, (int)out->cap, 0)) {
        out->len = strlen(out->data);
        return 0;
    }
    s = cJSON_PrintUnformatted(root);
    if (!s) return -1;
    cab_buf_clear(out);
    if (cab_buf_adds(out, s)) {
        cJSON_free(s);
        return -1;
    }
    cJSON_free(s);
    return 0;
}

int cab_is_id(const char *s, size_t n) {
    size_t i;
    if (n != CAB_ID_LEN) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return 0;
    }
    return 1;
}

int cab_encode_query(const cab_pair *pairs, size_t n, cab_buf *out) {
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    size_t i, estimate = 16;
    int rc = -1;
    if (!root || !(arr = cJSON_AddArrayToObject(root, "query"))) goto done;
    for (i = 0; i < n; i++) {
        /* The tree only borrows the ids and the constant names: it lives
         * for this call alone, and nothing is copied twice. */
        cJSON *item = cJSON_CreateObject(), *pid, *rid;
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            goto done;
        }
        pid = cJSON_CreateStringReference(pairs[i].pipeline_id);
        if (!pid || !cJSON_AddItemToObjectCS(item, "pipeline_id", pid)) {
            cJSON_Delete(pid);
            goto done;
        }
        rid = cJSON_CreateStringReference(pairs[i].pipeline_run_id);
        if (!rid || !cJSON_AddItemToObjectCS(item, "pipeline_run_id", rid)) {
            cJSON_Delete(rid);
            goto done;
        }
        estimate += 40 + strlen(pairs[i].pipeline_id) + strlen(pairs[i].pipeline_run_id);
    }
    rc = print_into(root, estimate, out);
done:
    cJSON_Delete(root);
    return rc;
}

int cab_encode_ids(const char *key, const char *const *ids, size_t n, cab_buf *out) {
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    size_t i, estimate = 8 + strlen(key);
    int rc = -1;
    if (!root || !(arr = cJSON_AddArrayToObject(root, key))) goto done;
    for (i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateStringReference(ids[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            goto done;
        }
        estimate += 3 + strlen(ids[i]);
    }
    rc = print_into(root, estimate, out);
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- decoding ----------------------------------------------------------- */

/* Whether a body that failed to parse was cut short: it ends inside a
 * string or with a bracket still open.  Run only on failure, to tell a
 * truncated transfer from malformed JSON. */
static int cut_short(const char *s, size_t len) {
    size_t i, depth = 0;
    int in_string = 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return in_string || depth > 0;
}

/* Parses the whole body as one JSON value; trailing bytes other than white
 * space are an error, and so is a body cut short. */
static cJSON *parse_all(const char *body, size_t len, cab_decode_error *err) {
    const char *end = NULL;
    cJSON *root;
    if (len == 0) {
        snprintf(err->message, sizeof err->message, "empty body");
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        if (cut_short(body, len))
            snprintf(err->message, sizeof err->message,
                     "invalid JSON: the body ends early, after %zu bytes", len);
        else
            snprintf(err->message, sizeof err->message, "invalid JSON near byte %zu of %zu",
                     (at < len ? at : len - 1) + 1, len);
        return NULL;
    }
    while (end < body + len && *end && strchr(" \t\r\n", *end)) end++;
    if (end < body + len) {
        snprintf(err->message, sizeof err->message,
                 "invalid JSON: trailing data at byte %zu of %zu", (size_t)(end - body) + 1, len);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *cab_decode_results(const char *body, size_t len, const char *const *ids,
                          const cJSON **result, cab_decode_error *err) {
    cJSON *root = parse_all(body, len, err), *arr, *item;
    size_t i = 0;
    *result = NULL;
    if (!root) return NULL;
    if (!cJSON_IsObject(root)) {
        snprintf(err->message, sizeof err->message, "body is not a JSON object");
        goto bad;
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (!arr) {
        snprintf(err->message, sizeof err->message, "body has no \"result\"");
        goto bad;
    }
    if (!cJSON_IsArray(arr)) {
        snprintf(err->message, sizeof err->message, "\"result\" is not an array");
        goto bad;
    }
    cJSON_ArrayForEach(item, arr) {
        const char *const *id;
        i++;
        if (!cJSON_IsObject(item)) {
            snprintf(err->message, sizeof err->message, "result[%zu] is not an object", i);
            goto bad;
        }
        for (id = ids; *id; id++) {
            const cJSON *m;
            /* Members are few: a direct walk beats the lookup's case folding. */
            for (m = item->child; m && (!m->string || strcmp(m->string, *id) != 0); m = m->next) {}
            if (!cJSON_IsString(m)) {
                snprintf(err->message, sizeof err->message, "result[%zu].%s is missing or not a string",
                         i, *id);
                goto bad;
            }
        }
    }
    *result = arr;
    return root;
bad:
    cJSON_Delete(root);
    return NULL;
}

static const char *string_member(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *cab_decode_error_body(const char *body, size_t len, cab_api_error *out) {
    cab_decode_error ignored;
    cJSON *root;
    memset(out, 0, sizeof *out);
    root = parse_all(body, len, &ignored);
    if (!root) return NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    out->code = string_member(root, "error_code");
    if (!out->code) out->code = string_member(root, "code");
    out->message = string_member(root, "error_msg");
    if (!out->message) out->message = string_member(root, "message");
    out->request_id = string_member(root, "request_id");
    return root;
}
