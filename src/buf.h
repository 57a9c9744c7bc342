/* Growable byte buffer allocated from an arena; always NUL-terminated.
 * A failed allocation sets b->oom and later appends do nothing, so callers
 * check once at the end (buf_ok). */
#ifndef AFFTOK_BUF_H
#define AFFTOK_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

struct buf {
	struct arena *arena;
	char *p;
	size_t len, cap;
	bool oom;
};

void buf_init(struct buf *b, struct arena *a);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Percent-encodes everything but RFC 3986 unreserved characters. */
void buf_urlencode(struct buf *b, const char *s);
/* JSON string literal with quotes. */
void buf_json_str(struct buf *b, const char *s);
bool buf_ok(const struct buf *b);
/* Room for n more bytes at once, so that a large buffer whose size is
 * known ahead is not grown (and copied) doubling by doubling. */
bool buf_reserve(struct buf *b, size_t n);

#endif
