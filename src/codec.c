#include "codec.h"
#include "requirements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ----------------------------------------------------------- */

/* Prints into out: cJSON_PrintPreallocated into a buffer sized from the
 * estimate (cJSON asks for 5 spare bytes), with cJSON_PrintUnformatted as
 * the fallback should the estimate be short. */
static int print_into(const cJSON *root, size_t estimate, cab_buf *out) {
    char *s;
    cab_buf_clear(out);
    if (estimate <= 0x7ffffff0 && !cab_buf_reserve(out, estimate + 5) &&
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

/* The most bytes cJSON prints for s as a JSON string: the quotes, two for
 * a quote or backslash, six for a control character (\u00XX), one for the
 * rest.  The encoders size their output from it. */
static size_t quoted_size(const char *s) {
    size_t n = 2;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        n += (c == '"' || c == '\\') ? 2 : c < 0x20 ? 6 : 1;
    }
    return n;
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
        /* {"pipeline_id":,"pipeline_run_id":}, and a comma */
        estimate += 36 + quoted_size(pairs[i].pipeline_id) + quoted_size(pairs[i].pipeline_run_id);
    }
    rc = print_into(root, estimate, out);
done:
    cJSON_Delete(root);
    return rc;
}

int cab_encode_ids(const char *key, const char *const *ids, size_t n, cab_buf *out) {
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    size_t i, estimate = 4 + quoted_size(key);
    int rc = -1;
    if (!root || !(arr = cJSON_AddArrayToObject(root, key))) goto done;
    for (i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateStringReference(ids[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            goto done;
        }
        estimate += 1 + quoted_size(ids[i]);
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

/* A name from the body as a message may show it: at most 40 bytes, each
 * byte outside printable ASCII as '?', so that the message stays one line
 * of plain text whatever the body holds. */
static void shown_name(const char *name, char out[41]) {
    size_t i;
    for (i = 0; i < 40 && name[i]; i++) out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    out[i] = '\0';
}

/* Names, in err, a member that object v names twice, saying it is inside
 * where; -1 then, else 0. */
static int no_duplicates_here(const cJSON *v, const char *where, cab_decode_error *err) {
    const char *name = NULL;
    char shown[41];
    int rc = duplicate_member(v, &name);
    if (rc == 0) return 0;
    if (rc < 0) {
        snprintf(err->message, sizeof err->message, "out of memory checking %s", where);
    } else {
        shown_name(name, shown);
        snprintf(err->message, sizeof err->message, "%s names the member \"%s\" twice", where, shown);
    }
    return -1;
}

/* The same for every object in v, v included, at any depth. */
static int no_duplicates(const cJSON *v, const char *where, cab_decode_error *err) {
    const cJSON *c;
    if (cJSON_IsObject(v) && no_duplicates_here(v, where, err)) return -1;
    for (c = v->child; c; c = c->next)
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && no_duplicates(c, where, err)) return -1;
    return 0;
}

cJSON *cab_decode_results(const char *body, size_t len, const char *list, const char *const *ids,
                          const cJSON **result, cab_decode_error *err) {
    cJSON *root = parse_all(body, len, err), *arr, *item, *m;
    size_t i = 0;
    *result = NULL;
    if (!root) return NULL;
    if (!cJSON_IsObject(root)) {
        snprintf(err->message, sizeof err->message, "body is not a JSON object");
        goto bad;
    }
    /* Only the top level and the list reach the caller; both are checked. */
    if (no_duplicates_here(root, "the body", err)) goto bad;
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
        char where[48];
        i++;
        if (!cJSON_IsObject(item)) {
            snprintf(err->message, sizeof err->message, "%.40s[%zu] is not an object", list, i);
            goto bad;
        }
        snprintf(where, sizeof where, "%.24s[%zu]", list, i);
        if (no_duplicates(item, where, err)) goto bad;
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
    if (!cJSON_IsObject(root) || no_duplicates_here(root, "the body", &ignored)) {
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
