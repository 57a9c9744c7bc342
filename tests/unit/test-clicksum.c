/* stats_click_pre rows of a set of clicks: a few clicks by hand, random
 * clicks against a brute-force grouping, and the 15-minute buckets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "clicksum.h"
#include "unit.h"

/* key from "tenant|bucket|offer|aff|link|country|device|route|sub1|reason" */
static struct clicksum_key key_of(char *text)
{
	struct clicksum_key k;
	char *p = text;
	for (int i = 0; i < CLICKSUM_KEYS; i++) {
		char *bar = strchr(p, '|');
		k.v[i] = p;
		k.n[i] = bar ? (size_t)(bar - p) : strlen(p);
		p = bar ? bar + 1 : p + strlen(p);
	}
	return k;
}

static void test_by_hand(void)
{
	struct arena *a = arena_new(4096);
	struct clicksum *s = clicksum_new();
	char k1[] = "1|2026-11-25 10:15:00+00|7|8|9|US|mobile|\\N|s1|\\N";
	char k2[] = "1|2026-11-25 10:15:00+00|7|8|9|US|mobile|\\N|s1|replay";
	char k3[] = "1|2026-11-25 10:15:00+00|7|8|9|US |mobile|\\N|s1|\\N"; /* char(2) blank */
	struct clicksum_key x = key_of(k1), y = key_of(k2), z = key_of(k3);
	CU_ASSERT_EQUAL(clicksum_add(s, &x, true, true), 0);
	CU_ASSERT_EQUAL(clicksum_add(s, &y, true, false), 0);
	CU_ASSERT_EQUAL(clicksum_add(s, &z, false, false), 0);
	CU_ASSERT_EQUAL(clicksum_rows(s), 2);
	struct buf out;
	buf_init(&out, a);
	clicksum_copy(s, &out);
	buf_putc(&out, '\0');
	CU_ASSERT_STRING_EQUAL(out.p,
		"1\t2026-11-25 10:15:00+00\t7\t8\t9\tUS\tmobile\t\\N\ts1\t\\N\t2\t1\t1\n"
		"1\t2026-11-25 10:15:00+00\t7\t8\t9\tUS\tmobile\t\\N\ts1\treplay\t1\t1\t1\n");
	clicksum_free(s);
	arena_free(a);
}

/* Random clicks over a small key space (so keys repeat), with the table
 * growing several times; each row's counts against counting by hand. */
static void test_brute_force(void)
{
	enum { N = 20000 };
	static char text[N][64];
	static struct clicksum_key keys[N];
	static bool uniq[N], bill[N];
	srand(7);
	for (int i = 0; i < N; i++) {
		snprintf(text[i], sizeof text[i], "%d|b%d|%d|%d|%d|%s|d|r|%d|%s", rand() % 3, rand() % 4, 1, 2,
			 rand() % 50, rand() % 2 ? "US" : "DE", rand() % 20, rand() % 3 ? "\\N" : "replay");
		keys[i] = key_of(text[i]);
		uniq[i] = rand() % 2;
		bill[i] = rand() % 4 != 0;
	}
	struct clicksum *s = clicksum_new();
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL_FATAL(clicksum_add(s, &keys[i], uniq[i], bill[i]), 0);
	struct arena *a = arena_new(1 << 20);
	struct buf out;
	buf_init(&out, a);
	clicksum_copy(s, &out);
	buf_putc(&out, '\0');
	CU_ASSERT_FATAL(buf_ok(&out));
	/* every line: its key's counts, and the keys are distinct */
	size_t lines = 0, total = 0;
	for (char *line = strtok(out.p, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		char key[64] = "";
		long c = 0, u = 0, v = 0;
		char *tab = line;
		for (int f = 0; f < CLICKSUM_KEYS; f++) {
			char *end = strchr(tab, '\t');
			strncat(key, tab, (size_t)(end - tab));
			if (f < CLICKSUM_KEYS - 1)
				strcat(key, "|");
			tab = end + 1;
		}
		CU_ASSERT_EQUAL(sscanf(tab, "%ld\t%ld\t%ld", &c, &u, &v), 3);
		long wc = 0, wu = 0, wv = 0;
		for (int i = 0; i < N; i++)
			if (!strcmp(text[i], key))
				wc++, wu += uniq[i], wv += !bill[i];
		CU_ASSERT_EQUAL(c, wc);
		CU_ASSERT_EQUAL(u, wu);
		CU_ASSERT_EQUAL(v, wv);
		total += (size_t)c;
	}
	CU_ASSERT_EQUAL(lines, clicksum_rows(s));
	CU_ASSERT_EQUAL(total, N);
	clicksum_free(s);
	arena_free(a);
}

static void test_buckets(void)
{
	static const struct {
		const char *t, *want;
	} t[] = {
		{"2026-11-25 10:00:00.000+00", "2026-11-25 10:00:00+00"},
		{"2026-11-25 10:14:59.999+00", "2026-11-25 10:00:00+00"},
		{"2026-11-25 10:15:00.000+00", "2026-11-25 10:15:00+00"},
		{"2026-11-25 23:59:59.999+00", "2026-11-25 23:45:00+00"},
		{"2026-11-25 10:37:01.000+00", "2026-11-25 10:30:00+00"},
		{"2026-11-25 10:60:00.000+00", NULL},
		{"2026-11-25 10:15:00+00", NULL},
		{"2026-11-25T10:15:00.000+00", NULL},
		{"2026-11-25 10:15:00.000+02", NULL},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char out[CLICKSUM_BUCKET_LEN + 1];
		bool ok = clicksum_bucket(t[i].t, strlen(t[i].t), out);
		CU_ASSERT_EQUAL(ok, t[i].want != NULL);
		if (ok && t[i].want)
			CU_ASSERT_STRING_EQUAL(out, t[i].want);
	}
}

static const struct unit_case cases[] = {
	{"clicks by hand, a char(2) country with its blank", test_by_hand},
	{"random clicks against counting by hand", test_brute_force},
	{"15-minute buckets of created_at", test_buckets},
	{NULL, NULL},
};

UNIT_MAIN("clicksum")
