/* macro: substitution table and URL encoding of the values. */
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "macro.h"
#include "unit.h"

static void t_table(void)
{
	const struct macro vals[] = {
		{"click_id", "0VbwibgJproWcmy5rpEas0JWx1Jo"}, {"sub1", "hello world"}, {"sub2", "a&b=c/d?e#f"},
		{"sub3", NULL}, {"sub4", "ünï"}, {"sub5", "-_.~"}, {"offer_id", "12"}, {"affiliate_id", "7"},
		{"link_code", "demo1"}, {"country", "DE"}, {"device", "mobile"}, {"ts", "1764000000"},
	};
	struct {
		const char *in, *out;
	} t[] = {
		{"https://x.test/?c={click_id}", "https://x.test/?c=0VbwibgJproWcmy5rpEas0JWx1Jo"},
		{"https://x.test/?s={sub1}&t={sub2}", "https://x.test/?s=hello%20world&t=a%26b%3Dc%2Fd%3Fe%23f"},
		{"https://x.test/?s3={sub3}", "https://x.test/?s3="},
		{"https://x.test/?s4={sub4}", "https://x.test/?s4=%C3%BCn%C3%AF"},
		{"https://x.test/?s5={sub5}", "https://x.test/?s5=-_.~"},
		{"https://x.test/{offer_id}/{affiliate_id}/{link_code}?g={country}&d={device}&ts={ts}",
		 "https://x.test/12/7/demo1?g=DE&d=mobile&ts=1764000000"},
		{"https://x.test/?u={unknown}&c={click_id}", "https://x.test/?u={unknown}&c=0VbwibgJproWcmy5rpEas0JWx1Jo"},
		{"https://x.test/?a={{click_id}}", "https://x.test/?a={0VbwibgJproWcmy5rpEas0JWx1Jo}"},
		{"https://x.test/?a={click_id", "https://x.test/?a={click_id"},
		{"https://x.test/?a=}{", "https://x.test/?a=}{"},
		{"{}", "{}"},
		{"", ""},
		{"{sub1}{sub1}", "hello%20worldhello%20world"},
		{"{CLICK_ID}", "{CLICK_ID}"},
	};
	struct arena *a = arena_new(4096);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b;
		buf_init(&b, a);
		macro_expand(&b, t[i].in, vals, sizeof vals / sizeof vals[0]);
		CU_ASSERT_TRUE(buf_ok(&b));
		const char *got = b.p ? b.p : "";
		if (strcmp(got, t[i].out))
			fprintf(stderr, "case %zu: got '%s'\n", i, got);
		CU_ASSERT_STRING_EQUAL(got, t[i].out);
	}
	arena_free(a);
}

static void t_encoding(void)
{
	/* Every byte but the unreserved set is percent-encoded. */
	struct arena *a = arena_new(4096);
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	const struct macro v[] = {{"x", all}};
	struct buf b;
	buf_init(&b, a);
	macro_expand(&b, "{x}", v, 1);
	size_t plain = 0, escaped = 0;
	for (size_t i = 0; i < b.len; i++) {
		if (b.p[i] == '%') {
			escaped++;
			i += 2;
		} else {
			plain++;
			CU_ASSERT_PTR_NOT_NULL(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~", b.p[i]));
		}
	}
	CU_ASSERT_EQUAL(plain, 66);
	CU_ASSERT_EQUAL(escaped, 255 - 66);
	arena_free(a);
}

static const struct unit_case cases[] = {
	{"substitution table", t_table},
	{"URL encoding of every byte", t_encoding},
	{NULL, NULL},
};

UNIT_MAIN("macro")
