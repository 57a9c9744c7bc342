/* clickid: round trip of the time, uniqueness, ordering, forgery. */
#include <stdlib.h>
#include <string.h>

#include "clickid.h"
#include "unit.h"

static const unsigned char key[32] = {1, 2, 3};

static void t_roundtrip(void)
{
	static const int64_t times[] = {0, 1, 1764000000123LL, 1893456000000LL, 9999999999999LL};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char id[CLICKID_LEN + 1];
		int64_t ms = -1;
		clickid_new(key, times[i], id);
		CU_ASSERT_EQUAL(strlen(id), CLICKID_LEN);
		CU_ASSERT_TRUE(clickid_parse(key, id, &ms));
		CU_ASSERT_EQUAL(ms, times[i]);
	}
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static void t_unique_and_ordered(void)
{
	enum { N = 20000 };
	static char ids[N][CLICKID_LEN + 1];
	for (int i = 0; i < N; i++)
		clickid_new(key, 1764000000000LL + i / 100, ids[i]);
	for (int i = 1; i < N; i++)
		if (i % 100 == 0)
			CU_ASSERT(strcmp(ids[i - 1], ids[i]) < 0);
	qsort(ids, N, sizeof ids[0], cmp);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += !strcmp(ids[i - 1], ids[i]);
	CU_ASSERT_EQUAL(dups, 0);
}

static void t_forged(void)
{
	char id[CLICKID_LEN + 1];
	int64_t ms;
	clickid_new(key, 1764000000000LL, id);
	unsigned char other[32] = {9};
	CU_ASSERT_FALSE(clickid_parse(other, id, &ms));
	int accepted = 0;
	for (int i = 0; i < CLICKID_LEN; i++) {
		char f[CLICKID_LEN + 1];
		memcpy(f, id, sizeof f);
		f[i] = f[i] == 'a' ? 'b' : 'a';
		accepted += clickid_parse(key, f, &ms);
	}
	CU_ASSERT_EQUAL(accepted, 0);
	CU_ASSERT_FALSE(clickid_parse(key, "short", &ms));
	CU_ASSERT_FALSE(clickid_parse(key, NULL, &ms));
	id[3] = '-';
	CU_ASSERT_FALSE(clickid_parse(key, id, &ms));
}

static const struct unit_case cases[] = {
	{"time round trip", t_roundtrip},
	{"unique and time-ordered", t_unique_and_ordered},
	{"forged ids refused", t_forged},
	{NULL, NULL},
};
UNIT_MAIN("clickid")
