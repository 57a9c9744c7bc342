/* decimal: parsing, formatting and percentages in exact micro-units. */
#include <string.h>

#include "decimal.h"
#include "unit.h"

static void t_parse_table(void)
{
	static const struct { const char *in; bool ok; int64_t v; } t[] = {
		{"0", true, 0}, {"12", true, 12000000}, {"12.5", true, 12500000},
		{"12.50", true, 12500000}, {"0.000001", true, 1}, {"19.99", true, 19990000},
		{"999999999999.999999", true, 999999999999999999LL}, {"007.10", true, 7100000},
		{"1000000000000", false, 0}, {"1.0000001", false, 0}, {"", false, 0}, {".5", false, 0},
		{"5.", false, 0}, {"-1", false, 0}, {"+1", false, 0}, {"1e3", false, 0}, {" 1", false, 0},
		{"1 ", false, 0}, {"1,5", false, 0}, {"0x10", false, 0}, {"1.2.3", false, 0},
		{"NaN", false, 0}, {"inf", false, 0}, {"١٢", false, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int64_t v = -1;
		bool ok = dec_parse(t[i].in, &v);
		CU_ASSERT_EQUAL(ok, t[i].ok);
		if (ok && t[i].ok)
			CU_ASSERT_EQUAL(v, t[i].v);
	}
	CU_ASSERT_FALSE(dec_parse(NULL, NULL));
}

static void t_format(void)
{
	char out[DEC_STR_MAX];
	dec_format(2500000, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "2.50");
	dec_format(1999000, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "1.999");
	dec_format(1, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "0.000001");
	dec_format(7000000, 0, out);
	CU_ASSERT_STRING_EQUAL(out, "7");
	dec_format(0, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "0.00");
	dec_format(999999999999999999LL, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "999999999999.999999");
	dec_format(-1500000, 2, out);
	CU_ASSERT_STRING_EQUAL(out, "-1.50");
}

static void t_percent(void)
{
	/* 10 % of 19.99 = 1.999 exactly; a double would give 1.9990000000000001. */
	CU_ASSERT_EQUAL(dec_percent(19990000, 10000000), 1999000);
	/* 15 % of 19.99 = 2.9985 */
	CU_ASSERT_EQUAL(dec_percent(19990000, 15000000), 2998500);
	/* 33.333333 % of 0.01 = 0.0033333333 -> 0.003333 (half up) */
	CU_ASSERT_EQUAL(dec_percent(10000, 33333333), 3333);
	/* 0.5 micro rounds up: 50 % of 0.000001 = 0.0000005 -> 0.000001 */
	CU_ASSERT_EQUAL(dec_percent(1, 50000000), 1);
	/* 100 % of the largest amount is exact (128-bit intermediate). */
	CU_ASSERT_EQUAL(dec_percent(999999999999999999LL, 100000000), 999999999999999999LL);
	/* beyond 12 integer digits: refused */
	CU_ASSERT_EQUAL(dec_percent(999999999999999999LL, 200000000), -1);
	CU_ASSERT_EQUAL(dec_percent(0, 50000000), 0);
	/* 0.1 + 0.2 style sums stay exact in micro-units */
	int64_t a, b;
	dec_parse("0.1", &a);
	dec_parse("0.2", &b);
	char out[DEC_STR_MAX];
	dec_format(a + b, 1, out);
	CU_ASSERT_STRING_EQUAL(out, "0.3");
}

static const struct unit_case cases[] = {
	{"parse table", t_parse_table},
	{"format", t_format},
	{"percent", t_percent},
	{NULL, NULL},
};
UNIT_MAIN("decimal")
