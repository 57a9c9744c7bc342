/* Per-request (or per-job-iteration) memory arena with deferred cleanup.
 * Everything allocated from an arena lives until arena_reset(); library
 * objects (PGresult, redisReply, json_object, ...) are registered with
 * arena_defer() so they are freed at the same moment. */
#ifndef AFFTOK_ARENA_H
#define AFFTOK_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* NULL on allocation failure. */
struct arena *arena_new(size_t block_size);
/* Runs deferred cleanups (last registered first) and frees all blocks but the first. */
void arena_reset(struct arena *a);
/* Resets and frees the arena itself; accepts NULL. */
void arena_free(struct arena *a);

/* Zeroed memory, aligned for any type; NULL on failure. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_sprintf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap);

/* Calls fn(p) at the next reset. Returns 0, or -1 (and calls fn(p) at once)
 * when the record cannot be allocated, so the object is never leaked. */
int arena_defer(struct arena *a, void (*fn)(void *), void *p);

/* Bytes handed out since the last reset (for tests and metrics). */
size_t arena_used(const struct arena *a);

#endif
