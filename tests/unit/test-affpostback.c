/* affpostback: macro table and retry schedule. */
#include <string.h>

#include "affpostback.h"
#include "arena.h"
#include "buf.h"
#include "unit.h"

static void t_macros(void)
{
	static const struct { const char *tmpl, *want; } t[] = {
		{"https://aff.example/pb?c={click_id}&p={payout}&cur={currency}&s={status}",
		 "https://aff.example/pb?c=CLK1&p=2.50&cur=USD&s=approved"},
		{"http://x/?t={transaction_id}&o={offer_id}&cv={conversion_id}",
		 "http://x/?t=order%201%2F%26&o=17&cv=42"},
		{"http://x/{sub1}/{sub2}/{sub3}/{sub4}/{sub5}", "http://x/a%3Db/%C3%A9///"},
		{"http://x/?u={unknown}&c={click_id", "http://x/?u={unknown}&c={click_id"},
		{"http://x/?{{click_id}}", "http://x/?{CLK1}"},
		{"", ""},
	};
	struct arena *a = arena_new(4096);
	struct affpb_values v = {
		.click_id = "CLK1", .sub = {"a=b", "\xc3\xa9", "", NULL, NULL}, .payout = "2.50",
		.currency = "USD", .status = "approved", .transaction_id = "order 1/&", .offer_id = "17",
		.conversion_id = "42",
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b;
		buf_init(&b, a);
		affpb_expand(&b, t[i].tmpl, &v);
		CU_ASSERT_TRUE(buf_ok(&b));
		CU_ASSERT_STRING_EQUAL(b.p ? b.p : "", t[i].want);
	}
	arena_free(a);
}

static void t_backoff(void)
{
	static const struct { int attempt; long long want; } t[] = {
		{0, 60}, {1, 60}, {2, 120}, {3, 240}, {4, 480}, {8, 7680}, {9, 15360}, {10, 21600}, {30, 21600},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_EQUAL(affpb_backoff_s(t[i].attempt, 0), t[i].want);
		/* jitter stays within +10 % */
		long long j = affpb_backoff_s(t[i].attempt, 65535);
		CU_ASSERT_TRUE(j >= t[i].want && j <= t[i].want + t[i].want / 10);
	}
	/* The whole schedule reaches 72 h in a bounded number of attempts. */
	long long age = 0;
	int attempts = 0;
	while (affpb_retry_allowed(age, affpb_backoff_s(attempts + 1, 0)) && attempts < 100)
		age += affpb_backoff_s(++attempts, 0);
	CU_ASSERT_TRUE(attempts > 10 && attempts < 30);
	CU_ASSERT_TRUE(age <= AFFPB_GIVE_UP_S && age > AFFPB_GIVE_UP_S - 6 * 3600);
	CU_ASSERT_FALSE(affpb_retry_allowed(AFFPB_GIVE_UP_S - 10, 60));
	CU_ASSERT_TRUE(affpb_retry_allowed(0, 60));
}

static const struct unit_case cases[] = {
	{"macros", t_macros},
	{"backoff schedule", t_backoff},
	{NULL, NULL},
};
UNIT_MAIN("affpostback")
