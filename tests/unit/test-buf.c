/* buf: appends, reserving, printf, URL and JSON escaping. */
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "unit.h"

static void t_append(void)
{
	struct arena *a = arena_new(0);
	struct buf b;
	buf_init(&b, a);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i % 10);
	CU_ASSERT_EQUAL(b.len, 2000);
	CU_ASSERT_EQUAL(strlen(b.p), 2000);
	CU_ASSERT(buf_ok(&b));
	arena_free(a);
}

static void t_reserve(void)
{
	struct arena *a = arena_new(0);
	struct buf b;
	buf_init(&b, a);
	buf_puts(&b, "abc");
	CU_ASSERT(buf_reserve(&b, 100000));
	CU_ASSERT_STRING_EQUAL(b.p, "abc");
	CU_ASSERT(b.cap >= 100004);
	/* appends within the reserved room stay in place */
	const char *p = b.p;
	for (int i = 0; i < 9999; i++)
		buf_puts(&b, "0123456789");
	CU_ASSERT_PTR_EQUAL(b.p, p);
	CU_ASSERT_EQUAL(b.len, 99993);
	CU_ASSERT_EQUAL(strlen(b.p), 99993);
	/* no more than there is room for: nothing moves */
	CU_ASSERT(buf_reserve(&b, 10));
	CU_ASSERT_PTR_EQUAL(b.p, p);
	/* past the room: grows by the amount asked, the text kept */
	CU_ASSERT(buf_reserve(&b, 1 << 20));
	CU_ASSERT(b.p != p);
	CU_ASSERT(b.cap >= 99993 + (1 << 20) + 1);
	CU_ASSERT_EQUAL(memcmp(b.p, "abc0123456789", 13), 0);
	CU_ASSERT_EQUAL(memcmp(b.p + 99983, "0123456789", 10), 0);
	CU_ASSERT_EQUAL(b.p[b.len], '\0');
	/* an impossible size fails and marks the buffer, as a failed append does */
	CU_ASSERT_FALSE(buf_reserve(&b, (size_t)-1));
	CU_ASSERT_FALSE(buf_ok(&b));
	CU_ASSERT_FALSE(buf_reserve(&b, 1));
	arena_free(a);
}

static void t_urlencode(void)
{
	static const struct { const char *in, *out; } t[] = {
		{"abc", "abc"}, {"a b", "a%20b"}, {"a&b=c", "a%26b%3Dc"}, {"~_.-", "~_.-"},
		{"é", "%C3%A9"}, {"/?#", "%2F%3F%23"}, {"", ""},
	};
	struct arena *a = arena_new(0);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b;
		buf_init(&b, a);
		buf_urlencode(&b, t[i].in);
		buf_putc(&b, '\0');
		CU_ASSERT_STRING_EQUAL(b.p, t[i].out);
	}
	arena_free(a);
}

static void t_json(void)
{
	struct arena *a = arena_new(0);
	struct buf b;
	buf_init(&b, a);
	buf_json_str(&b, "a\"b\\c\n\x01");
	CU_ASSERT_STRING_EQUAL(b.p, "\"a\\\"b\\\\c\\n\\u0001\"");
	arena_free(a);
}

static const struct unit_case cases[] = {
	{"append and grow", t_append},
	{"reserve room ahead", t_reserve},
	{"url encoding table", t_urlencode},
	{"json strings", t_json},
	{NULL, NULL},
};
UNIT_MAIN("buf")
