/* libFuzzer harness: arbitrary bytes as a ShowBatchRunResult answer.
 *
 * cab_decode_results must never crash, read past the body (which is not
 * NUL-terminated here: libFuzzer's buffer ends exactly at size) or leak.
 * When it accepts a body, the tree must have the promised shape; the pairs
 * in it are then encoded as a query body (cab_encode_query) and that body
 * must decode again to the same ids, in the same order; the pipeline ids
 * likewise through cab_encode_ids (the BatchRunPipeline body), and
 * cab_is_id must agree with its definition on every id.  Every proper
 * prefix of an accepted body short of its last byte that is no white space
 * is what a transfer cut there leaves, and must be said to end early.
 * Memory never runs out here: no refusal may say it did.  The fast reader
 * (answer.h) must agree with it: a body it takes the decoder takes with no
 * item flawed, and what the reader gave its sink is the decoder's list,
 * value for value, null members and all; a body it leaves, it leaves
 * before giving the sink anything. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "buf.h"
#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const IDS[] = {"pipeline_id", "pipeline_run_id", NULL};

/* The string member name of obj, found the way the decoder finds it (the
 * first member with that exact name). */
static const char *member(const cJSON *obj, const char *name) {
    const cJSON *m;
    for (m = obj->child; m; m = m->next)
        if (m->string && strcmp(m->string, name) == 0) return cJSON_IsString(m) ? m->valuestring : NULL;
    return NULL;
}

/* Exactly 32 ASCII letters or digits, spelled out. */
static int reference_is_id(const char *s) {
    size_t i, n = strlen(s);
    if (n != CAB_ID_LEN) return 0;
    for (i = 0; i < n; i++)
        if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", s[i])) return 0;
    return 1;
}

/* {"pipeline_ids":[…]} from the pipeline ids, parsed back. */
static void ids_round_trip(const cab_pair *pairs, int n) {
    const char **ids = calloc(n ? (size_t)n : 1, sizeof *ids);
    size_t size, len;
    char *body;
    const cJSON *arr, *item;
    cJSON *root;
    int i;
    if (!ids) abort();
    for (i = 0; i < n; i++) ids[i] = pairs[i].pipeline_id;
    size = cab_ids_size("pipeline_ids", ids, (size_t)n);
    if (!(body = malloc(size))) abort();
    len = cab_encode_ids("pipeline_ids", ids, (size_t)n, body);
    /* The size said is the size written, to the byte (with the NUL). */
    if (len + 1 != size || len != strlen(body)) abort();
    root = cJSON_ParseWithLength(body, len);
    arr = cJSON_GetObjectItemCaseSensitive(root, "pipeline_ids");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) abort();
    i = 0;
    cJSON_ArrayForEach(item, arr) {
        if (!cJSON_IsString(item) || strcmp(item->valuestring, ids[i])) abort();
        i++;
    }
    cJSON_Delete(root);
    free(body);
    free(ids);
}

/* The message for body[0..k) must say it ends early. */
static void ends_early(const char *body, size_t k) {
    const cJSON *result;
    cab_decode_error err;
    char want[sizeof err.message];
    unsigned char *flawed;
    cJSON *tree = cab_decode_results(body, k, "result", IDS, &result, &flawed, &err);
    snprintf(want, sizeof want, "invalid JSON: the body ends early, after %zu bytes", k);
    if (tree || strcmp(err.message, want) != 0) abort();
}

/* The prefixes of an accepted body of size bytes that leave out some of
 * its value: each one for a body of up to 512 bytes (as most inputs are),
 * else two, as each is decoded whole again. */
static void prefixes_end_early(const char *body, size_t size) {
    size_t end = size, k;
    while (end > 0 && (body[end - 1] == ' ' || body[end - 1] == '\t' || body[end - 1] == '\r' || body[end - 1] == '\n'))
        end--;
    if (end <= 512) {
        for (k = 1; k < end; k++) ends_early(body, k);
    } else {
        ends_early(body, end / 2);
        ends_early(body, end - 1);
    }
}

/* Re-encodes the decoded pairs and decodes that body: the ids must survive. */
static void round_trip(const cJSON *result) {
    int n = cJSON_GetArraySize(result), i = 0;
    cab_pair *pairs = calloc(n ? (size_t)n : 1, sizeof *pairs);
    cab_buf body = CAB_BUF_INIT;
    size_t size;
    cab_decode_error err;
    const cJSON *item, *again = NULL;
    cJSON *root;
    if (!pairs) abort();
    cJSON_ArrayForEach(item, result) {
        pairs[i].pipeline_id = member(item, "pipeline_id");
        pairs[i].pipeline_run_id = member(item, "pipeline_run_id");
        if (!pairs[i].pipeline_id || !pairs[i].pipeline_run_id) abort();
        if (cab_is_id(pairs[i].pipeline_id, strlen(pairs[i].pipeline_id)) !=
                reference_is_id(pairs[i].pipeline_id) ||
            cab_is_id(pairs[i].pipeline_run_id, strlen(pairs[i].pipeline_run_id)) !=
                reference_is_id(pairs[i].pipeline_run_id))
            abort();
        i++;
    }
    if (i != n) abort();
    size = cab_query_size(pairs, (size_t)n);
    if (cab_buf_reserve(&body, size)) abort();
    body.len = cab_encode_query(pairs, (size_t)n, body.data);
    if (body.len + 1 != size || body.len != strlen(body.data)) abort();
    /* The query body is decoded with the same checker: its items live
     * under "query", so look at them through a renamed copy. */
    root = cJSON_ParseWithLength(body.data, body.len);
    if (!root) abort();
    again = cJSON_GetObjectItemCaseSensitive(root, "query");
    if (!cJSON_IsArray(again) || cJSON_GetArraySize(again) != n) abort();
    i = 0;
    cJSON_ArrayForEach(item, again) {
        const char *pid = member(item, "pipeline_id"), *rid = member(item, "pipeline_run_id");
        if (!pid || !rid || strcmp(pid, pairs[i].pipeline_id) || strcmp(rid, pairs[i].pipeline_run_id))
            abort();
        i++;
    }
    cJSON_Delete(root);

    /* The same body, as "result", through the decoder itself. */
    if (body.len > 8 && memcmp(body.data, "{\"query\"", 8) == 0) {
        cab_buf renamed = CAB_BUF_INIT;
        const cJSON *res;
        unsigned char *flawed;
        cJSON *tree;
        if (cab_buf_adds(&renamed, "{\"result\"") || cab_buf_add(&renamed, body.data + 8, body.len - 8))
            abort();
        tree = cab_decode_results(renamed.data, renamed.len, "result", IDS, &res, &flawed, &err);
        if (!tree || flawed || cJSON_GetArraySize(res) != n) abort();
        cJSON_Delete(tree);
        cab_buf_free(&renamed);
    } else {
        abort();
    }
    cab_buf_free(&body);
    ids_round_trip(pairs, n);
    free(pairs);
}

/* ---- the fast reader against the decoder -------------------------------- */

/* Each sink call, written down in a cab_buf: the same words the decoder's
 * tree is written in below. */
static void put(void *b, const char *word) {
    if (cab_buf_adds(b, word)) abort();
}

static void put_count(void *b, const char *tag, size_t n) {
    char word[32];
    snprintf(word, sizeof word, "%s%zu;", tag, n);
    put(b, word);
}

static void put_bytes(void *b, const char *tag, const char *p, size_t len) {
    put_count(b, tag, len);
    if (cab_buf_add(b, p, len)) abort();
}

static int rec_begin_object(void *b) {
    put(b, "{");
    return 1;
}
static void rec_name(void *b, const char *p, size_t len) { put_bytes(b, "K", p, len); }
static void rec_end_object(void *b, size_t members, size_t not_null) {
    put_count(b, "}", members);
    put_count(b, "", not_null);
}
static int rec_begin_array(void *b) {
    put(b, "[");
    return 1;
}
static void rec_element(void *b, size_t i) { put_count(b, "E", i); }
static void rec_string(void *b, const char *p, size_t len) { put_bytes(b, "S", p, len); }
static void rec_boolean(void *b, int v) { put(b, v ? "T" : "F"); }
static void rec_null(void *b, int member) { put(b, member ? "N1" : "N0"); }

static const cab_answer_sink RECORD = {rec_begin_object, rec_name,   rec_end_object, rec_begin_array,
                                       rec_element,      rec_string, rec_boolean,    rec_null};

/* v written as the reader would have given it; member: v is an object's. */
static void write_tree(const cJSON *v, int member, cab_buf *b) {
    const cJSON *c;
    size_t n = 0, not_null = 0;
    if (cJSON_IsString(v)) {
        rec_string(b, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsBool(v)) {
        rec_boolean(b, cJSON_IsTrue(v));
    } else if (cJSON_IsNull(v)) {
        rec_null(b, member);
    } else if (cJSON_IsObject(v)) {
        rec_begin_object(b);
        for (c = v->child; c; c = c->next, n++) {
            rec_name(b, c->string, strlen(c->string));
            write_tree(c, 1, b);
            not_null += !cJSON_IsNull(c);
        }
        rec_end_object(b, n, not_null);
    } else if (cJSON_IsArray(v)) {
        rec_begin_array(b);
        for (c = v->child; c; c = c->next) {
            write_tree(c, 0, b);
            rec_element(b, ++n);
        }
    } else {
        abort(); /* (a number: the reader takes none) */
    }
}

static void reader_agrees(const char *body, size_t size, const char *const *ids) {
    cab_buf got = CAB_BUF_INIT, want = CAB_BUF_INIT;
    const cJSON *result;
    unsigned char *flawed;
    cab_decode_error err;
    cJSON *tree;
    if (cab_read_answer(body, size, "result", ids, &RECORD, &got)) {
        if (!(tree = cab_decode_results(body, size, "result", ids, &result, &flawed, &err)) || flawed) abort();
        write_tree(result, 0, &want);
        if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0) abort();
        cJSON_Delete(tree);
    } else if (got.len) {
        abort(); /* (a body given up on is given up on before any value goes out) */
    }
    cab_buf_free(&got);
    cab_buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const NO_IDS[] = {NULL};
    const cJSON *result = (const cJSON *)1, *item;
    unsigned char *flawed;
    cab_decode_error err;
    cJSON *tree;

    reader_agrees((const char *)data, size, NO_IDS);
    reader_agrees((const char *)data, size, IDS);
    /* A run's answer (no ids): a flawed item is marked, never refused
     * alone, and the first's flaw is a terminated line. */
    memset(err.message, 0x55, sizeof err.message);
    if ((tree = cab_decode_results((const char *)data, size, "result", NO_IDS, &result, &flawed, &err))) {
        size_t n = strnlen(err.message, sizeof err.message);
        if (flawed && (n == 0 || n == sizeof err.message || !memchr(flawed, 1, (size_t)cJSON_GetArraySize(result))))
            abort();
        free(flawed);
        cJSON_Delete(tree);
    }
    memset(err.message, 0x55, sizeof err.message); /* no stale NUL to lean on */
    tree = cab_decode_results((const char *)data, size, "result", IDS, &result, &flawed, &err);
    if (tree && flawed) abort(); /* (only a run's answer has items of its own to flaw) */
    if (!tree) {
        /* Refused: no tree, and a message that is a terminated, non-empty
         * line; never for memory, which never runs out here (a whole text
         * that cJSON refuses is read as its memory running out). */
        size_t n = strnlen(err.message, sizeof err.message);
        if (result != NULL || n == 0 || n == sizeof err.message || memchr(err.message, '\n', n) || err.nomem)
            abort();
        return 0;
    }
    if (!cJSON_IsObject(tree) || !cJSON_IsArray(result) ||
        result != cJSON_GetObjectItemCaseSensitive(tree, "result"))
        abort();
    cJSON_ArrayForEach(item, result) {
        if (!cJSON_IsObject(item) || !member(item, "pipeline_id") || !member(item, "pipeline_run_id"))
            abort();
    }
    round_trip(result);
    cJSON_Delete(tree);
    prefixes_end_early((const char *)data, size);
    return 0;
}
