/* JSON for the wire: request bodies out (written directly: their shape is
 * fixed), result and error bodies in (parsed by cJSON).  Pure functions:
 * no I/O, no Lua.  The binding walks the validated trees into Lua tables. */
#ifndef CAB_CODEC_H
#define CAB_CODEC_H

#include <stddef.h>

#include <cjson/cJSON.h>


typedef struct {
    const char *pipeline_id;
    const char *pipeline_run_id;
} cab_pair;

/* Whether s[0..n) is an id as the API defines them: exactly 32 ASCII
 * letters or digits. */
#define CAB_ID_LEN 32
int cab_is_id(const char *s, size_t n);

/* {"query":[{"pipeline_id":…,"pipeline_run_id":…},…]} into out, which
 * holds at least cab_query_size(pairs, n) bytes; returns the length
 * written (a NUL follows it).  Cannot fail. */
size_t cab_query_size(const cab_pair *pairs, size_t n);
size_t cab_encode_query(const cab_pair *pairs, size_t n, char *out);

/* {"<key>":["id1","id2",…]} into out (at least cab_ids_size bytes): the
 * BatchRunPipeline body. */
size_t cab_ids_size(const char *key, const char *const *ids, size_t n);
size_t cab_encode_ids(const char *key, const char *const *ids, size_t n, char *out);

/* Where the run of plain string bytes starting at s[i] ends (at most
 * len): the first control character, quote or backslash. */
size_t cab_json_plain_end(const char *s, size_t len, size_t i);

/* Why a body could not be decoded, with where. */
typedef struct {
    char message[160];
    int nomem; /* memory ran out, in the decoder's own work: no fault of the body's */
} cab_decode_error;

/* Parses an answer whose items are listed under the member named list
 * ("result" for both operations) and checks its shape: an object whose
 * list is an array of objects, each with the string members named in ids
 * (a NULL-terminated list); with no ids, an array of any values.  No object
 * that reaches the caller (the top level, and every object inside the
 * list) may name a member twice: JSON leaves duplicates undefined, and a
 * check that read one of them while the table kept the other would check
 * nothing; the body's other members are never read.  With no ids (a run's
 * answer, each item a run the server made) a flaw is the item's alone:
 * *flawed (malloc'd, one byte an item, or NULL when none) marks each item
 * that names a member twice, for the caller not to place, with the first's
 * flaw in err; the batch's other runs started.  Then only the list itself
 * may not be named twice at the top level.  On success returns the whole
 * tree (the caller frees it with cJSON_Delete, and *flawed with free) and
 * sets *result to the array inside it; on failure returns NULL with err
 * filled in. */
cJSON *cab_decode_results(const char *body, size_t len, const char *list, const char *const *ids,
                          const cJSON **result, unsigned char **flawed, cab_decode_error *err);

/* What a Huawei-style error body says, read as the Go SDK reads it, by
 * pairs: "error_code" and "error_msg" when both are strings that are not
 * blank (not only spaces and control characters, C1 ones too), else "code"
 * and "message" when both are; else no message, and the code is the first
 * of "error_code" and "code" that is a string not blank (NULL when none
 * is).  The forms are never mixed; objects nested inside are not read.
 * "request_id" is the member's string, blank or not, NULL when it is
 * absent or no string.  Returns the tree to free, or NULL when the body is
 * not a JSON object, or names a member twice, or memory ran out reading it
 * (nomem: the body may be one); then every member is NULL. */
typedef struct {
    const char *code;
    const char *message;
    const char *request_id;
    int nomem;
} cab_api_error;

cJSON *cab_decode_error_body(const char *body, size_t len, cab_api_error *out);

#endif
