/* Answers of the usual kind read straight to the binding's tables: the
 * fast path of cab_decode_results (codec.h).  An answer holds
 * strings and nulls in objects and arrays; cJSON's tree, a block for every
 * node and every string, and the checks before and after it cost more
 * than the Lua tables made of them.  Pure: no I/O, no Lua. */
#ifndef CAB_ANSWER_H
#define CAB_ANSWER_H

#include <stddef.h>

/* Past these the reader leaves the body to cab_decode_results. */
#define CAB_ANSWER_DEPTH 32
#define CAB_ANSWER_MEMBERS 16

/* What the reader hands the list's values to, in the body's order.  An
 * object is begin_object, then for each member its name and its value,
 * then end_object with the count of its members and of those not null; an
 * array is begin_array, then each value followed by element(i) (i from
 * 1).  null(ud, member) is a null member's value (its name was given: the
 * member is absent) or a null element.  begin_object and begin_array
 * return 0 to stop the read (no room for the value), else nonzero.  Any
 * call may not return (a Lua memory error): the reader holds nothing that
 * needs freeing. */
typedef struct {
    int (*begin_object)(void *ud);
    void (*name)(void *ud, const char *p, size_t len);
    void (*end_object)(void *ud, size_t members, size_t not_null);
    int (*begin_array)(void *ud);
    void (*element)(void *ud, size_t i);
    void (*string)(void *ud, const char *p, size_t len);
    void (*boolean)(void *ud, int b);
    void (*null)(void *ud, int member);
} cab_answer_sink;

/* Reads body as cab_decode_results would with the same list and ids, and
 * gives sink the list's array: 1 when it took the body, which is then one
 * cab_decode_results takes with no item flawed, and whose tree's list is
 * what sink was given.  0 when it leaves the body to cab_decode_results,
 * sink having been given part of it or none: anything but strict JSON of
 * objects, arrays, strings without escapes, true, false and null (a
 * number, an escape, a byte order mark), a member named twice in any
 * object, more than CAB_ANSWER_MEMBERS members in one, nesting deeper than
 * CAB_ANSWER_DEPTH, no list or more than one, more than 16 ids, an item without its ids as
 * strings (with ids, each item an object), or a begin that said stop. */
int cab_read_answer(const char *body, size_t len, const char *list, const char *const *ids,
                    const cab_answer_sink *sink, void *ud);

#endif
