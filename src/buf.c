/* Arena-backed growable buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"

void buf_init(struct buf *b, struct arena *a)
{
	b->arena = a;
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

/* Moves the text to new memory of cap bytes (0: too large). */
static bool resize(struct buf *b, size_t cap)
{
	char *p = cap ? arena_alloc(b->arena, cap) : NULL;
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	if (b->len)
		memcpy(p, b->p, b->len);
	p[b->len] = '\0';
	b->p = p;
	b->cap = cap;
	return true;
}

static bool grow(struct buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap * 2 : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	return resize(b, cap);
}

bool buf_reserve(struct buf *b, size_t n)
{
	if (b->oom)
		return false;
	if (n >= SIZE_MAX - b->len)
		return resize(b, 0);
	return b->len + n + 1 <= b->cap || resize(b, b->len + n + 1);
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_urlencode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(b, e, 3);
		}
	}
}

void buf_json_str(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

bool buf_ok(const struct buf *b)
{
	return !b->oom;
}
