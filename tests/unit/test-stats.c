/* Stats: group_by parsing, dates and zones, the choice of rollup, exact
 * cr/epc/money formatting and CSV quoting. */
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "stats.h"
#include "unit.h"

static void test_group_parse(void)
{
	struct stats_groups g;
	CU_ASSERT_EQUAL(stats_group_parse("day,offer", &g), 0);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.dims[0], SD_DAY);
	CU_ASSERT_EQUAL(g.dims[1], SD_OFFER);
	CU_ASSERT_EQUAL(g.mask, SD_DAY | SD_OFFER);
	CU_ASSERT_EQUAL(stats_group_parse("sub1,hour,affiliate,country,device,offer,day", &g), 0);
	CU_ASSERT_EQUAL(g.n, 7);
	CU_ASSERT_EQUAL(g.dims[0], SD_SUB1);
	CU_ASSERT_EQUAL(stats_group_parse(NULL, &g), 0); /* default: by day */
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.dims[0], SD_DAY);
	CU_ASSERT_EQUAL(stats_group_parse("", &g), 0);
	CU_ASSERT_EQUAL(g.dims[0], SD_DAY);
	static const char *bad[] = {"week", "day,week", "day,day", "day,", ",day", "day,,offer",
				    "Day", "offer_id", "days", "da", "day offer", NULL};
	for (int i = 0; bad[i]; i++)
		CU_ASSERT_EQUAL_FATAL(stats_group_parse(bad[i], &g), -1);
	CU_ASSERT_STRING_EQUAL(stats_dim_key(SD_OFFER), "offer_id");
	CU_ASSERT_STRING_EQUAL(stats_dim_name(SD_AFFILIATE), "affiliate");
}

static void test_dates(void)
{
	int64_t d;
	CU_ASSERT_TRUE(stats_date_days("1970-01-01", &d));
	CU_ASSERT_EQUAL(d, 0);
	CU_ASSERT_TRUE(stats_date_days("2000-03-01", &d));
	CU_ASSERT_EQUAL(d, 11017);
	CU_ASSERT_TRUE(stats_date_days("2024-02-29", &d));
	int64_t e;
	CU_ASSERT_TRUE(stats_date_days("2025-02-28", &e));
	CU_ASSERT_EQUAL(e - d, 365); /* 2024-02-29 .. 2025-02-28 */
	CU_ASSERT_TRUE(stats_date_days("2025-12-31", &d));
	CU_ASSERT_TRUE(stats_date_days("2026-12-31", &e));
	CU_ASSERT_EQUAL(e - d, 365);
	static const char *bad[] = {"2025-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "25-01-01",
				    "2025-1-01", "2025/01/01", "2025-01-01x", "", "1969-12-31",
				    "+025-01-01", NULL};
	for (int i = 0; bad[i]; i++)
		CU_ASSERT_FALSE_FATAL(stats_date_days(bad[i], &d));
}

static void test_tz_names(void)
{
	static const char *good[] = {"UTC", "Asia/Kolkata", "America/Argentina/Buenos_Aires",
				     "Etc/GMT+5", "America/Port-au-Prince", "Asia/Kathmandu", NULL};
	static const char *bad[] = {"", "/UTC", "UTC/", "Asia//Kolkata", "../etc/passwd", "Asia/../x",
				    "+05:30", "UTC+5'", "Asia/Kolkata;", "a b", NULL};
	for (int i = 0; good[i]; i++)
		CU_ASSERT_TRUE_FATAL(stats_tz_name_ok(good[i]));
	for (int i = 0; bad[i]; i++)
		CU_ASSERT_FALSE_FATAL(stats_tz_name_ok(bad[i]));
	char long_name[80];
	memset(long_name, 'A', 65);
	long_name[65] = '\0';
	CU_ASSERT_FALSE(stats_tz_name_ok(long_name));
}

static void test_offsets(void)
{
	char o[8];
	stats_offset_format(330, o);
	CU_ASSERT_STRING_EQUAL(o, "+05:30");
	stats_offset_format(345, o);
	CU_ASSERT_STRING_EQUAL(o, "+05:45");
	stats_offset_format(-300, o);
	CU_ASSERT_STRING_EQUAL(o, "-05:00");
	stats_offset_format(-570, o);
	CU_ASSERT_STRING_EQUAL(o, "-09:30");
	stats_offset_format(0, o);
	CU_ASSERT_STRING_EQUAL(o, "+00:00");
	stats_offset_format(840, o);
	CU_ASSERT_STRING_EQUAL(o, "+14:00");
}

/* The cubes only when they are exact: no dimension they lack, hourly ones
 * only in whole-hour zones. */
static void test_pick_source(void)
{
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY, true), SRC_OFFER_HOURLY);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY | SD_OFFER, true), SRC_OFFER_HOURLY);
	CU_ASSERT_EQUAL(stats_pick_source(SD_HOUR | SD_OFFER, true), SRC_OFFER_HOURLY);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY | SD_AFFILIATE, true), SRC_OFFER_AFFILIATE_HOURLY);
	CU_ASSERT_EQUAL(stats_pick_source(SD_OFFER | SD_AFFILIATE, true), SRC_OFFER_AFFILIATE_HOURLY);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY | SD_COUNTRY, true), SRC_BASE);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DEVICE, true), SRC_BASE);
	CU_ASSERT_EQUAL(stats_pick_source(SD_SUB1 | SD_OFFER, true), SRC_BASE);
	/* +05:30: the 15-minute cubes */
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY, false), SRC_OFFER_QUARTER);
	CU_ASSERT_EQUAL(stats_pick_source(SD_HOUR | SD_OFFER, false), SRC_OFFER_QUARTER);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY | SD_OFFER | SD_AFFILIATE, false), SRC_OFFER_AFFILIATE_QUARTER);
	CU_ASSERT_EQUAL(stats_pick_source(SD_DAY | SD_SUB1, false), SRC_BASE);
}

/* The daily rollups hold UTC days: never for hours; for anything else the
 * whole UTC days of the range (moved to local days where needed). */
static void test_daily_ok(void)
{
	CU_ASSERT_TRUE(stats_daily_ok(SD_DAY));
	CU_ASSERT_TRUE(stats_daily_ok(SD_DAY | SD_OFFER));
	CU_ASSERT_FALSE(stats_daily_ok(SD_HOUR));
	CU_ASSERT_FALSE(stats_daily_ok(SD_HOUR | SD_OFFER));
	CU_ASSERT_FALSE(stats_daily_ok(SD_DAY | SD_HOUR));
	CU_ASSERT_TRUE(stats_daily_ok(SD_OFFER | SD_AFFILIATE));
	CU_ASSERT_TRUE(stats_daily_ok(SD_DAY | SD_COUNTRY));
	CU_ASSERT_TRUE(stats_daily_ok(0));
	CU_ASSERT_STRING_EQUAL(stats_source_name(SRC_OFFER_HOURLY), "offer-hourly");
	CU_ASSERT_STRING_EQUAL(stats_source_name(SRC_BASE), "base-quarter");
}

static void test_money(void)
{
	int64_t m;
	char out[STATS_MONEY_MAX];
	static const struct {
		const char *in;
		int64_t micros;
		const char *out;
	} t[] = {
		{"0", 0, "0.00"},
		{"12.500000", 12500000, "12.50"},
		{"3.333333", 3333333, "3.333333"},
		{"-9.722222", -9722222, "-9.722222"},
		{"0.000001", 1, "0.000001"},
		{"7.5", 7500000, "7.50"},
		{"1.12000000000", 1120000, "1.12"}, /* NUMERIC sums may carry extra zeros */
		{"-0.5", -500000, "-0.50"},
		{"123456789012.123456", 123456789012123456LL, "123456789012.123456"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_TRUE_FATAL(stats_money_parse(t[i].in, &m));
		CU_ASSERT_EQUAL(m, t[i].micros);
		stats_money_format(m, out);
		CU_ASSERT_STRING_EQUAL(out, t[i].out);
	}
	static const char *bad[] = {"", "-", "1.", ".5", "1.0000001", "1e5", "1,5", "abc", " 1",
				    "99999999999999999999", NULL};
	for (int i = 0; bad[i]; i++)
		CU_ASSERT_FALSE_FATAL(stats_money_parse(bad[i], &m));
}

static void test_cr_epc(void)
{
	char out[STATS_MONEY_MAX];
	static const struct {
		int64_t approved, billable;
		const char *cr;
	} crs[] = {
		{2, 5, "40.00"},   {1, 3, "33.33"},   {2, 3, "66.67"}, /* half up from .666.. */
		{1, 8, "12.50"},   {1, 16, "6.25"},   {1, 32, "3.13"}, /* 3.125 rounds up */
		{0, 10, "0.00"},   {3, 0, "0.00"},    {7, 7, "100.00"},
		{1, 200000, "0.00"}, {1, 199999, "0.00"}, {1, 20000, "0.01"}, /* 0.005 half up */
		{1000000000000LL, 3, "33333333333333.33"},
	};
	for (size_t i = 0; i < sizeof crs / sizeof crs[0]; i++) {
		stats_cr(crs[i].approved, crs[i].billable, out);
		CU_ASSERT_STRING_EQUAL(out, crs[i].cr);
	}
	static const struct {
		int64_t payout, billable;
		const char *epc;
	} epcs[] = {
		{22500000, 5, "4.5000"},  {23611111, 5, "4.7222"}, {7500000, 4, "1.8750"},
		{1000000, 3, "0.3333"},   {2000000, 3, "0.6667"},  {50, 1, "0.0001"}, /* 0.00005 up */
		{49, 1, "0.0000"},        {0, 9, "0.0000"},        {5000000, 0, "0.0000"},
		{-1000000, 3, "-0.3333"},
	};
	for (size_t i = 0; i < sizeof epcs / sizeof epcs[0]; i++) {
		stats_epc(epcs[i].payout, epcs[i].billable, out);
		CU_ASSERT_STRING_EQUAL(out, epcs[i].epc);
	}
}

static void test_csv_field(void)
{
	struct arena *a = arena_new(4096);
	static const struct {
		const char *in, *out;
	} t[] = {
		{"plain", "plain"},
		{"x,y", "\"x,y\""},
		{"say \"hi\"", "\"say \"\"hi\"\"\""},
		{"two\nlines", "\"two\nlines\""},
		{"cr\rhere", "\"cr\rhere\""},
		{"=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""},
		{"+1", "\"'+1\""},
		{"-2", "\"'-2\""},
		{"@SUM", "\"'@SUM\""},
		{"a=b", "a=b"},
		{"", ""},
		{"ünï", "ünï"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b;
		buf_init(&b, a);
		stats_csv_field(&b, t[i].in);
		CU_ASSERT_TRUE(buf_ok(&b));
		CU_ASSERT_STRING_EQUAL(b.p ? b.p : "", t[i].out);
	}
	struct buf b;
	buf_init(&b, a);
	stats_csv_field(&b, NULL);
	CU_ASSERT_EQUAL(b.len, 0);
	arena_free(a);
}

/* A report written as CSV: header, keys quoted, totals not mixed in. */
static void test_csv_report(void)
{
	struct arena *a = arena_new(4096);
	struct stats_row rows[2] = {
		{.keys = {"2026-11-24", "x,y"}, .clicks = 4, .unique_clicks = 3, .invalid_clicks = 1,
		 .conversions = 2, .approved = 2, .revenue = 30000000, .payout = 22500000},
		{.keys = {"2026-11-24", NULL}, .clicks = 1, .unique_clicks = 1, .conversions = 1, .rejected = 1},
	};
	struct stats_report rep = {.rows = rows, .nrows = 2};
	stats_group_parse("day,sub1", &rep.groups);
	struct buf b;
	buf_init(&b, a);
	stats_write_csv(&b, &rep);
	CU_ASSERT_STRING_EQUAL(b.p,
		"day,sub1,clicks,unique_clicks,invalid_clicks,conversions,approved,pending,rejected,revenue,payout,profit,cr,epc\r\n"
		"2026-11-24,\"x,y\",4,3,1,2,2,0,0,30.00,22.50,7.50,66.67,7.5000\r\n"
		"2026-11-24,,1,1,0,1,0,0,1,0.00,0.00,0.00,0.00,0.0000\r\n");
	arena_free(a);
}

static const struct unit_case cases[] = {
	{"group_by parsing", test_group_parse},
	{"dates", test_dates},
	{"time zone names", test_tz_names},
	{"UTC offsets", test_offsets},
	{"rollup choice", test_pick_source},
	{"daily rollups when exact", test_daily_ok},
	{"exact money", test_money},
	{"cr and epc", test_cr_epc},
	{"CSV fields", test_csv_field},
	{"CSV report", test_csv_report},
	{NULL, NULL},
};

UNIT_MAIN("stats")
