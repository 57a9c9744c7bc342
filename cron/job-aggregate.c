/* afftokctl aggregate [--rebuild YYYY-MM-DD]: rolls clicks and
 * conversions up into the stats tables (sql/060_stats.sql).
 *
 * Unit of work: one UTC hour, rewritten with DELETE + INSERT in one
 * transaction (base rollups, then the hourly cubes derived from them, and
 * the daily rollups of sql/070 moved by the difference between the hour's
 * new and old rows). So a run is idempotent, a killed run leaves every hour
 * (and its day) either old or new, and rerunning finishes the job. The
 * hour's clicks are grouped once into a scratch table from which the base
 * rollups, the invalid clicks and the daily differences come.
 *
 * Clicks come from stats_click_pre (sql/090), which triggers on `clicks`
 * fill with the clicks of each statement grouped by the rollup keys, in the
 * statement's transaction. An hour's rows are taken out with DELETE ...
 * RETURNING (exactly the rows it removes: rows committed meanwhile stay for
 * the next run), grouped, and put back grouped with fresh = false, so the
 * next rewrite of the hour reads one row per key plus the new statements'
 * rows instead of every raw click of the hour.
 *
 * Which hours: those with fresh summary rows (clicks stored since the
 * hour's last rewrite; exact, no clock involved), and those of conversions
 * changed (created, status changes, reversals) after the conversions'
 * watermark. That watermark is taken before the changed rows are read, and
 * held back to the start of the oldest transaction that is writing right
 * now (its rows carry now() = its start time but are not visible yet) minus
 * a minute of margin; hours seen twice are simply rewritten twice. The
 * current hour is rewritten on every run that saw new clicks, so under the
 * every-minute cron entry today's numbers are at most a run behind.
 *
 * --rebuild DAY rewrites the 24 hours of a UTC day from raw clicks and
 * resets each hour's summary rows to what it read, in one REPEATABLE READ
 * transaction per hour (the raw read and the DELETE of summary rows see the
 * same snapshot, so clicks committed meanwhile stay fresh for the next run);
 * hours whose raw clicks are gone (past retention) keep their click rollups
 * and summary rows. Then it recomputes the day's daily rollups from the
 * finer tables. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "crashpoint.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "util.h"

/* pg_advisory_lock key: "afftok.aggregate" in spirit; any constant will do. */
#define AGG_LOCK "7302451660293140001"
#define ORIGIN "timestamptz '2000-01-01 00:00:00+00'"

#define DAY_OF_HOUR "date_bin('1 day', $1::timestamptz, " ORIGIN ")"
#define HOUR_RANGE(col) col " >= $1::timestamptz AND " col " < $2::timestamptz"

/* Per-run scratch tables, emptied at every commit: one hour's raw clicks
 * (and conversions) grouped once, from which the base rollups, the invalid
 * clicks and the differences for the daily rollups are all taken. */
static const char *sql_scratch[] = {
	"CREATE TEMP TABLE IF NOT EXISTS agg_c (tenant_id bigint, bucket timestamptz, offer_id bigint, "
	"affiliate_id bigint, link_id bigint, country text, device text, route_dest text, sub1 text, reason text, "
	"clicks bigint, unique_clicks bigint, invalid_clicks bigint) ON COMMIT DELETE ROWS",
	"CREATE TEMP TABLE IF NOT EXISTS agg_v (LIKE stats_conv_q) ON COMMIT DELETE ROWS",
};

#define PRE_KEYS "tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, route_dest, sub1, reason"
/* The hour's summary rows taken out and grouped (keys whose counts add up
 * to zero, clicks deleted again, are left out as a raw GROUP BY would). */
static const char *sql_stage_pre =
	"WITH d AS (DELETE FROM stats_click_pre WHERE " HOUR_RANGE("bucket") " RETURNING " PRE_KEYS ", "
	"clicks, unique_clicks, invalid_clicks) "
	"INSERT INTO agg_c SELECT " PRE_KEYS ", sum(clicks), sum(unique_clicks), sum(invalid_clicks) FROM d "
	"GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 "
	"HAVING sum(clicks) <> 0 OR sum(unique_clicks) <> 0 OR sum(invalid_clicks) <> 0";
/* --rebuild: the hour's raw clicks, grouped as the triggers group them;
 * then the summary rows of the same snapshot go. */
static const char *sql_stage_raw =
	"INSERT INTO agg_c SELECT tenant_id, date_bin('15 minutes', created_at, " ORIGIN "), offer_id, affiliate_id, "
	"link_id, country::text, device, route_dest, sub1, reason, count(*), count(*) FILTER (WHERE is_unique), "
	"count(*) FILTER (WHERE NOT billable) "
	"FROM clicks WHERE " HOUR_RANGE("created_at") " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10";
static const char *sql_drop_pre = "DELETE FROM stats_click_pre WHERE " HOUR_RANGE("bucket");
/* The grouped hour back, already consumed. */
static const char *sql_put_pre =
	"INSERT INTO stats_click_pre (" PRE_KEYS ", clicks, unique_clicks, invalid_clicks, fresh) "
	"SELECT " PRE_KEYS ", clicks, unique_clicks, invalid_clicks, false FROM agg_c";
/* The daily base rollup moves by (new - old) of the hour, only where that
 * is not zero: rewriting an unchanged hour touches no daily row. */
static const char *sql_day_clicks =
	"INSERT INTO stats_base_d AS b (tenant_id, day, offer_id, affiliate_id, country, device, sub1, clicks, "
	"unique_clicks, invalid_clicks) "
	"SELECT tenant_id, " DAY_OF_HOUR ", offer_id, affiliate_id, country, device, sub1, sum(clicks), "
	"sum(unique_clicks), sum(invalid_clicks) FROM ("
	" SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, clicks, unique_clicks, invalid_clicks "
	" FROM agg_c UNION ALL"
	" SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, -clicks, -unique_clicks, -invalid_clicks "
	" FROM stats_clicks_q WHERE " HOUR_RANGE("bucket") ") s GROUP BY 1, 3, 4, 5, 6, 7 "
	"HAVING sum(clicks) <> 0 OR sum(unique_clicks) <> 0 OR sum(invalid_clicks) <> 0 "
	"ON CONFLICT (tenant_id, day, offer_id, affiliate_id, country, device, sub1) DO UPDATE SET "
	"clicks = b.clicks + excluded.clicks, unique_clicks = b.unique_clicks + excluded.unique_clicks, "
	"invalid_clicks = b.invalid_clicks + excluded.invalid_clicks";
static const char *sql_del_clicks = "DELETE FROM stats_clicks_q WHERE " HOUR_RANGE("bucket");
static const char *sql_ins_clicks =
	"INSERT INTO stats_clicks_q (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, "
	"route_dest, sub1, clicks, unique_clicks, invalid_clicks) "
	"SELECT tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, route_dest, sub1, sum(clicks), "
	"sum(unique_clicks), sum(invalid_clicks) FROM agg_c WHERE " HOUR_RANGE("bucket") " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9";
static const char *sql_day_invalid =
	"INSERT INTO stats_invalid_d AS b (tenant_id, day, offer_id, affiliate_id, reason, clicks) "
	"SELECT tenant_id, " DAY_OF_HOUR ", offer_id, affiliate_id, reason, sum(n) FROM ("
	" SELECT tenant_id, offer_id, affiliate_id, reason, invalid_clicks AS n FROM agg_c WHERE invalid_clicks > 0"
	" UNION ALL SELECT tenant_id, offer_id, affiliate_id, reason, -clicks FROM stats_invalid_q"
	" WHERE " HOUR_RANGE("bucket") ") s GROUP BY 1, 3, 4, 5 HAVING sum(n) <> 0 "
	"ON CONFLICT (tenant_id, day, offer_id, affiliate_id, reason) DO UPDATE SET clicks = b.clicks + excluded.clicks";
static const char *sql_day_invalid_o =
	"INSERT INTO stats_invalid_o_d AS b (tenant_id, day, offer_id, reason, clicks) "
	"SELECT tenant_id, " DAY_OF_HOUR ", offer_id, reason, sum(n) FROM ("
	" SELECT tenant_id, offer_id, reason, invalid_clicks AS n FROM agg_c WHERE invalid_clicks > 0"
	" UNION ALL SELECT tenant_id, offer_id, reason, -clicks FROM stats_invalid_q"
	" WHERE " HOUR_RANGE("bucket") ") s GROUP BY 1, 3, 4 HAVING sum(n) <> 0 "
	"ON CONFLICT (tenant_id, day, offer_id, reason) DO UPDATE SET clicks = b.clicks + excluded.clicks";
static const char *sql_del_invalid = "DELETE FROM stats_invalid_q WHERE " HOUR_RANGE("bucket");
static const char *sql_ins_invalid =
	"INSERT INTO stats_invalid_q (tenant_id, bucket, offer_id, affiliate_id, reason, clicks) "
	"SELECT tenant_id, bucket, offer_id, affiliate_id, reason, sum(invalid_clicks) "
	"FROM agg_c WHERE invalid_clicks > 0 AND " HOUR_RANGE("bucket") " GROUP BY 1, 2, 3, 4, 5";
/* Dimensions of a conversion come from its click (country, device, sub1,
 * route); a click already past retention leaves them NULL. */
static const char *sql_stage_conv =
	"INSERT INTO agg_v (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, "
	"route_dest, sub1, conversions, approved, pending, rejected, revenue, payout) "
	"SELECT v.tenant_id, date_bin('15 minutes', v.created_at, " ORIGIN "), v.offer_id, v.affiliate_id, "
	"v.link_id, c.country::text, c.device, c.route_dest, c.sub1, count(*), "
	"count(*) FILTER (WHERE v.status = 'approved'), count(*) FILTER (WHERE v.status = 'pending'), "
	"count(*) FILTER (WHERE v.status = 'rejected'), "
	"coalesce(sum(v.revenue) FILTER (WHERE v.status = 'approved'), 0), "
	"coalesce(sum(v.payout) FILTER (WHERE v.status = 'approved'), 0) "
	"FROM conversions v LEFT JOIN clicks c ON c.click_id = v.click_id AND c.created_at = v.click_created_at "
	"WHERE v.created_at >= $1::timestamptz AND v.created_at < $2::timestamptz GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9";
#define CONV_METRICS "conversions, approved, pending, rejected, revenue, payout"
#define CONV_NEGATED "-conversions, -approved, -pending, -rejected, -revenue, -payout"
#define CONV_SUMS "sum(conversions), sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)"
#define CONV_NONZERO "sum(conversions) <> 0 OR sum(approved) <> 0 OR sum(pending) <> 0 OR " \
	"sum(rejected) <> 0 OR sum(revenue) <> 0 OR sum(payout) <> 0"
#define CONV_ADD "conversions = b.conversions + excluded.conversions, approved = b.approved + excluded.approved, " \
	"pending = b.pending + excluded.pending, rejected = b.rejected + excluded.rejected, " \
	"revenue = b.revenue + excluded.revenue, payout = b.payout + excluded.payout"
static const char *sql_day_conv =
	"INSERT INTO stats_base_d AS b (tenant_id, day, offer_id, affiliate_id, country, device, sub1, "
	CONV_METRICS ") SELECT tenant_id, " DAY_OF_HOUR ", offer_id, affiliate_id, country, device, sub1, " CONV_SUMS
	" FROM (SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, " CONV_METRICS " FROM agg_v UNION ALL"
	" SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, " CONV_NEGATED " FROM stats_conv_q"
	" WHERE " HOUR_RANGE("bucket") ") s GROUP BY 1, 3, 4, 5, 6, 7 HAVING " CONV_NONZERO
	" ON CONFLICT (tenant_id, day, offer_id, affiliate_id, country, device, sub1) DO UPDATE SET " CONV_ADD;
static const char *sql_del_conv = "DELETE FROM stats_conv_q WHERE " HOUR_RANGE("bucket");
static const char *sql_ins_conv = "INSERT INTO stats_conv_q SELECT * FROM agg_v WHERE " HOUR_RANGE("bucket");

#define ALL_METRICS "clicks, unique_clicks, invalid_clicks, " CONV_METRICS
#define ALL_NEGATED "-clicks, -unique_clicks, -invalid_clicks, " CONV_NEGATED
#define ALL_SUMS "sum(clicks), sum(unique_clicks), sum(invalid_clicks), " CONV_SUMS
#define ALL_NONZERO "sum(clicks) <> 0 OR sum(unique_clicks) <> 0 OR sum(invalid_clicks) <> 0 OR " CONV_NONZERO
#define ALL_ADD "clicks = b.clicks + excluded.clicks, unique_clicks = b.unique_clicks + excluded.unique_clicks, " \
	"invalid_clicks = b.invalid_clicks + excluded.invalid_clicks, " CONV_ADD

/* The cubes, each from the finer one: offer x affiliate per bucket from
 * the base rollups, then offer per bucket, then the same two per hour (and
 * the hour's difference into the day, before the hour is rewritten). */
static const char *sql_del_oa_q = "DELETE FROM stats_oa_q WHERE " HOUR_RANGE("bucket");
static const char *sql_ins_oa_q =
	"INSERT INTO stats_oa_q (tenant_id, bucket, offer_id, affiliate_id, " ALL_METRICS ") "
	"SELECT tenant_id, bucket, offer_id, affiliate_id, " ALL_SUMS " FROM ("
	" SELECT tenant_id, bucket, offer_id, affiliate_id, clicks, unique_clicks, invalid_clicks, 0 AS conversions, "
	" 0 AS approved, 0 AS pending, 0 AS rejected, 0 AS revenue, 0 AS payout "
	" FROM stats_clicks_q WHERE " HOUR_RANGE("bucket") " UNION ALL "
	" SELECT tenant_id, bucket, offer_id, affiliate_id, 0, 0, 0, " CONV_METRICS
	" FROM stats_conv_q WHERE " HOUR_RANGE("bucket") ") s GROUP BY 1, 2, 3, 4";
static const char *sql_del_o_q = "DELETE FROM stats_o_q WHERE " HOUR_RANGE("bucket");
static const char *sql_ins_o_q =
	"INSERT INTO stats_o_q (tenant_id, bucket, offer_id, " ALL_METRICS ") "
	"SELECT tenant_id, bucket, offer_id, " ALL_SUMS " FROM stats_oa_q WHERE " HOUR_RANGE("bucket")
	" GROUP BY 1, 2, 3";
static const char *sql_day_oa =
	"INSERT INTO stats_oa_d AS b (tenant_id, day, offer_id, affiliate_id, " ALL_METRICS ") "
	"SELECT tenant_id, " DAY_OF_HOUR ", offer_id, affiliate_id, " ALL_SUMS " FROM ("
	" SELECT tenant_id, offer_id, affiliate_id, " ALL_METRICS " FROM stats_oa_q WHERE " HOUR_RANGE("bucket")
	" UNION ALL SELECT tenant_id, offer_id, affiliate_id, " ALL_NEGATED " FROM stats_oa_h WHERE hour = $1::timestamptz"
	") s GROUP BY 1, 3, 4 HAVING " ALL_NONZERO
	" ON CONFLICT (tenant_id, day, offer_id, affiliate_id) DO UPDATE SET " ALL_ADD;
static const char *sql_del_oa = "DELETE FROM stats_oa_h WHERE hour = $1::timestamptz";
static const char *sql_ins_oa =
	"INSERT INTO stats_oa_h (tenant_id, hour, offer_id, affiliate_id, " ALL_METRICS ") "
	"SELECT tenant_id, $1::timestamptz, offer_id, affiliate_id, " ALL_SUMS
	" FROM stats_oa_q WHERE " HOUR_RANGE("bucket") " GROUP BY 1, 3, 4";
static const char *sql_day_o =
	"INSERT INTO stats_o_d AS b (tenant_id, day, offer_id, " ALL_METRICS ") "
	"SELECT tenant_id, " DAY_OF_HOUR ", offer_id, " ALL_SUMS " FROM ("
	" SELECT tenant_id, offer_id, " ALL_METRICS " FROM stats_o_q WHERE " HOUR_RANGE("bucket")
	" UNION ALL SELECT tenant_id, offer_id, " ALL_NEGATED " FROM stats_o_h WHERE hour = $1::timestamptz"
	") s GROUP BY 1, 3 HAVING " ALL_NONZERO " ON CONFLICT (tenant_id, day, offer_id) DO UPDATE SET " ALL_ADD;
static const char *sql_del_o = "DELETE FROM stats_o_h WHERE hour = $1::timestamptz";
static const char *sql_ins_o =
	"INSERT INTO stats_o_h (tenant_id, hour, offer_id, " ALL_METRICS ") "
	"SELECT tenant_id, hour, offer_id, " ALL_SUMS " FROM stats_oa_h WHERE hour = $1::timestamptz GROUP BY 1, 2, 3";
/* Keys whose figures fell to zero (through the partial "_zero" indexes). */
static const char *sql_zero[] = {
	"DELETE FROM stats_base_d WHERE day = " DAY_OF_HOUR " AND clicks = 0 AND conversions = 0",
	"DELETE FROM stats_oa_d WHERE day = " DAY_OF_HOUR " AND clicks = 0 AND conversions = 0",
	"DELETE FROM stats_o_d WHERE day = " DAY_OF_HOUR " AND clicks = 0 AND conversions = 0",
	"DELETE FROM stats_invalid_d WHERE day = " DAY_OF_HOUR " AND clicks = 0",
	"DELETE FROM stats_invalid_o_d WHERE day = " DAY_OF_HOUR " AND clicks = 0",
};

struct agg {
	struct app *app;
	struct arena *a;
	bool have_conv; /* the conversions table exists (migration 030) */
	int hours, click_hours, conv_hours;
};

/* Runs a statement over [from, to), or keyed by the hour alone (to NULL). */
static bool run(struct agg *g, const char *sql, const char *from, const char *to)
{
	if (to == NULL)
		return db_execp(g->app->db, g->a, sql, from) != NULL;
	return db_execp(g->app->db, g->a, sql, from, to) != NULL;
}

/* How an hour's click rollups are rewritten. */
enum clicks_from { CLICKS_KEEP, CLICKS_PRE, CLICKS_RAW };

/* Rewrites one hour [from, to); clicks/conv say which base rollups to
 * rebuild (clicks from the summary rows or from raw clicks). The cubes are
 * always re-derived, and every daily rollup moves by the hour's difference
 * in the same transaction. */
static int aggregate_hour(struct agg *g, const char *from, const char *to, enum clicks_from clicks, bool conv)
{
	struct db *db = g->app->db;
	/* From raw: the raw read and the DELETE of summary rows in one snapshot. */
	if (db_exec(db, g->a, clicks == CLICKS_RAW ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN", 0,
		    NULL) == NULL)
		return -1;
	bool ok = true;
	if (clicks == CLICKS_PRE)
		ok = run(g, sql_stage_pre, from, to);
	else if (clicks == CLICKS_RAW)
		ok = run(g, sql_stage_raw, from, to) && run(g, sql_drop_pre, from, to);
	if (ok && clicks != CLICKS_KEEP)
		ok = db_exec(db, g->a, sql_put_pre, 0, NULL) != NULL && run(g, sql_day_clicks, from, to) &&
		     run(g, sql_day_invalid, from, to) && run(g, sql_day_invalid_o, from, to) &&
		     run(g, sql_del_clicks, from, to) &&
		     run(g, sql_ins_clicks, from, to) && run(g, sql_del_invalid, from, to) &&
		     run(g, sql_ins_invalid, from, to);
	if (ok && conv && g->have_conv)
		ok = run(g, sql_stage_conv, from, to) && run(g, sql_day_conv, from, to) &&
		     run(g, sql_del_conv, from, to) && run(g, sql_ins_conv, from, to);
	if (ok)
		crash_point("aggregate.mid_hour"); /* base rollups rewritten, cubes not */
	ok = ok && run(g, sql_del_oa_q, from, to) && run(g, sql_ins_oa_q, from, to) &&
	     run(g, sql_del_o_q, from, to) && run(g, sql_ins_o_q, from, to) &&
	     run(g, sql_day_oa, from, to) && run(g, sql_del_oa, from, NULL) && run(g, sql_ins_oa, from, to) &&
	     run(g, sql_day_o, from, to) && run(g, sql_del_o, from, NULL) && run(g, sql_ins_o, from, NULL);
	for (size_t i = 0; ok && i < sizeof sql_zero / sizeof *sql_zero; i++)
		ok = run(g, sql_zero[i], from, NULL);
	if (!ok) {
		log_err("hour %s: %s", from, db_error(db));
		db_exec(db, g->a, "ROLLBACK", 0, NULL);
		return -1;
	}
	if (db_exec(db, g->a, "COMMIT", 0, NULL) == NULL)
		return -1;
	g->hours++;
	g->click_hours += clicks != CLICKS_KEEP;
	g->conv_hours += conv && g->have_conv;
	return 0;
}

/* A day's daily rollups recomputed from the finer tables ($1 = the UTC
 * day's start, $2 = the next day's): what --rebuild does after the hours, so
 * a daily table that drifted for any reason is put right too. */
#define DAY_RANGE(col) col " >= $1::timestamptz AND " col " < $2::timestamptz"
static const char *sql_redo_day[] = {
	"DELETE FROM stats_base_d WHERE " DAY_RANGE("day"),
	"INSERT INTO stats_base_d (tenant_id, day, offer_id, affiliate_id, country, device, sub1, " ALL_METRICS ") "
	"SELECT tenant_id, $1::timestamptz, offer_id, affiliate_id, country, device, sub1, " ALL_SUMS " FROM ("
	" SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, clicks, unique_clicks, invalid_clicks, "
	" 0 AS conversions, 0 AS approved, 0 AS pending, 0 AS rejected, 0 AS revenue, 0 AS payout "
	" FROM stats_clicks_q WHERE " DAY_RANGE("bucket") " UNION ALL"
	" SELECT tenant_id, offer_id, affiliate_id, country, device, sub1, 0, 0, 0, " CONV_METRICS
	" FROM stats_conv_q WHERE " DAY_RANGE("bucket") ") s GROUP BY 1, 3, 4, 5, 6, 7",
	"DELETE FROM stats_oa_d WHERE " DAY_RANGE("day"),
	"INSERT INTO stats_oa_d (tenant_id, day, offer_id, affiliate_id, " ALL_METRICS ") "
	"SELECT tenant_id, $1::timestamptz, offer_id, affiliate_id, " ALL_SUMS
	" FROM stats_oa_h WHERE " DAY_RANGE("hour") " GROUP BY 1, 3, 4",
	"DELETE FROM stats_o_d WHERE " DAY_RANGE("day"),
	"INSERT INTO stats_o_d (tenant_id, day, offer_id, " ALL_METRICS ") "
	"SELECT tenant_id, $1::timestamptz, offer_id, " ALL_SUMS " FROM stats_o_h WHERE " DAY_RANGE("hour")
	" GROUP BY 1, 3",
	"DELETE FROM stats_invalid_d WHERE " DAY_RANGE("day"),
	"INSERT INTO stats_invalid_d (tenant_id, day, offer_id, affiliate_id, reason, clicks) "
	"SELECT tenant_id, $1::timestamptz, offer_id, affiliate_id, reason, sum(clicks) FROM stats_invalid_q "
	"WHERE " DAY_RANGE("bucket") " GROUP BY 1, 3, 4, 5",
	"DELETE FROM stats_invalid_o_d WHERE " DAY_RANGE("day"),
	"INSERT INTO stats_invalid_o_d (tenant_id, day, offer_id, reason, clicks) "
	"SELECT tenant_id, day, offer_id, reason, sum(clicks) FROM stats_invalid_d "
	"WHERE " DAY_RANGE("day") " GROUP BY 1, 2, 3, 4",
};

static int redo_day(struct agg *g, const char *from, const char *to)
{
	struct db *db = g->app->db;
	if (db_exec(db, g->a, "BEGIN", 0, NULL) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof sql_redo_day / sizeof *sql_redo_day; i++) {
		if (!run(g, sql_redo_day[i], from, to)) {
			log_err("day %s: %s", from, db_error(db));
			db_exec(db, g->a, "ROLLBACK", 0, NULL);
			return -1;
		}
	}
	return db_exec(db, g->a, "COMMIT", 0, NULL) == NULL ? -1 : 0;
}

static int rebuild_day(struct agg *g, const char *day)
{
	struct db *db = g->app->db;
	/* The clicks of the day are still there when its partition is (or any
	 * row is, whatever the partitioning); otherwise keep the click rollups. */
	PGresult *res = db_execp(db, g->a,
		"SELECT to_regclass(format('clicks_%s', to_char($1::date, 'YYYYMMDD'))) IS NOT NULL "
		"OR EXISTS (SELECT 1 FROM clicks WHERE created_at >= $1::date::timestamp AT TIME ZONE 'UTC' "
		"AND created_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'), "
		"to_char(h, 'YYYY-MM-DD HH24:MI:SS+00'), to_char(h + interval '1 hour', 'YYYY-MM-DD HH24:MI:SS+00') "
		"FROM generate_series($1::date::timestamp, $1::date::timestamp + interval '23 hours', interval '1 hour') h",
		day);
	if (res == NULL)
		return -1;
	bool clicks = !strcmp(db_val(res, 0, 0), "t");
	if (!clicks)
		log_warn("rebuild %s: raw clicks are gone (retention); click rollups kept as they are", day);
	for (int i = 0; i < PQntuples(res); i++)
		if (aggregate_hour(g, db_val(res, i, 1), db_val(res, i, 2), clicks ? CLICKS_RAW : CLICKS_KEEP, true) != 0)
			return -1;
	return redo_day(g, db_val(res, 0, 1), db_val(res, PQntuples(res) - 1, 2));
}

/* Distinct hours with fresh click summaries or conversions changed after
 * the watermark: hour, next hour, clicks?, conversions?. */
static PGresult *changed_hours(struct agg *g, const char *wm)
{
	static const char *with_conv =
		"SELECT to_char(h, 'YYYY-MM-DD HH24:MI:SS+00'), to_char(h + interval '1 hour', 'YYYY-MM-DD HH24:MI:SS+00'), "
		"bool_or(src = 'c'), bool_or(src = 'v') FROM ("
		" SELECT DISTINCT date_bin('1 hour', bucket, " ORIGIN ") AS h, 'c' AS src FROM stats_click_pre WHERE fresh"
		" UNION ALL"
		" SELECT DISTINCT date_bin('1 hour', created_at, " ORIGIN "), 'v' FROM conversions WHERE updated_at > $1"
		") s GROUP BY h ORDER BY h";
	static const char *clicks_only =
		"SELECT to_char(h, 'YYYY-MM-DD HH24:MI:SS+00'), to_char(h + interval '1 hour', 'YYYY-MM-DD HH24:MI:SS+00'), "
		"true, false FROM ("
		" SELECT DISTINCT date_bin('1 hour', bucket, " ORIGIN ") AS h FROM stats_click_pre WHERE fresh"
		") s ORDER BY h";
	if (!g->have_conv)
		return db_exec(g->app->db, g->a, clicks_only, 0, NULL);
	return db_execp(g->app->db, g->a, with_conv, wm);
}

static int incremental(struct agg *g)
{
	struct db *db = g->app->db;
	/* The new watermark first (see the top of the file). */
	PGresult *res = db_exec(db, g->a,
		"SELECT to_char(least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
		"WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid())) - interval '1 minute', "
		"'YYYY-MM-DD HH24:MI:SS.US+00'), "
		"coalesce((SELECT to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US+00') FROM stats_watermark WHERE source = 'raw'), "
		"'-infinity')", 0, NULL);
	if (res == NULL)
		return -1;
	const char *next = arena_strdup(g->a, db_val(res, 0, 0));
	const char *wm = arena_strdup(g->a, db_val(res, 0, 1));
	PGresult *hours = changed_hours(g, wm);
	if (hours == NULL)
		return -1;
	for (int i = 0; i < PQntuples(hours); i++) {
		bool clicks = !strcmp(db_val(hours, i, 2), "t");
		bool conv = !strcmp(db_val(hours, i, 3), "t");
		if (aggregate_hour(g, db_val(hours, i, 0), db_val(hours, i, 1), clicks ? CLICKS_PRE : CLICKS_KEEP,
				   conv) != 0)
			return -1;
	}
	crash_point("aggregate.before_watermark");
	/* Only after every changed hour is done: a run killed before this line
	 * leaves the old watermark, and the next run redoes the same hours. */
	if (db_execp(db, g->a,
		     "INSERT INTO stats_watermark (source, ts) VALUES ('raw', $1) "
		     "ON CONFLICT (source) DO UPDATE SET ts = greatest(stats_watermark.ts, $1), updated_at = now()",
		     next) == NULL)
		return -1;
	return 0;
}

static bool valid_day(const char *s)
{
	int y, m, d;
	char tail;
	return strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && s[4] == '-' &&
	       s[7] == '-' && y >= 2000 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

int job_aggregate(struct app *app, struct arena *a, int argc, char **argv)
{
	const char *rebuild = NULL;
	if (argc == 3 && !strcmp(argv[1], "--rebuild") && valid_day(argv[2])) {
		rebuild = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: afftokctl aggregate [--rebuild YYYY-MM-DD]\n");
		return EX_USAGE;
	}
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	struct agg g = {.app = app, .a = a};
	int64_t t0 = mono_ms();
	/* An hour of heavy traffic takes longer than a request's timeout. */
	if (db_exec(app->db, a, "SET statement_timeout = 0", 0, NULL) == NULL ||
	    db_exec(app->db, a, "SET work_mem = '64MB'", 0, NULL) == NULL) /* hash aggregates in memory */
		return EX_TEMPFAIL;
	PGresult *res = db_exec(app->db, a,
		"SELECT to_regclass('conversions') IS NOT NULL AND to_regclass('stats_conv_q') IS NOT NULL, "
		"to_regclass('stats_clicks_q') IS NOT NULL AND to_regclass('stats_base_d') IS NOT NULL "
		"AND to_regclass('stats_click_pre') IS NOT NULL", 0, NULL);
	if (res == NULL)
		return EX_TEMPFAIL;
	if (strcmp(db_val(res, 0, 1), "t") != 0) {
		log_err("the stats tables are missing: run afftokctl migrate");
		return EX_SOFTWARE;
	}
	g.have_conv = !strcmp(db_val(res, 0, 0), "t");
	for (size_t i = 0; i < sizeof sql_scratch / sizeof *sql_scratch; i++)
		if (db_exec(app->db, a, sql_scratch[i], 0, NULL) == NULL)
			return EX_TEMPFAIL;
	/* One aggregator at a time: a rebuild waits for the cron run, a cron run
	 * meeting a rebuild (or a run on another host) leaves it the work. */
	res = db_exec(app->db, a,
		      rebuild ? "SELECT pg_advisory_lock(" AGG_LOCK ")::text <> 'x'"
			      : "SELECT pg_try_advisory_lock(" AGG_LOCK ")", 0, NULL);
	if (res == NULL)
		return EX_TEMPFAIL;
	if (strcmp(db_val(res, 0, 0), "t") != 0) {
		log_info("another aggregate run is busy; leaving it the work");
		return EX_OK;
	}
	int rc = rebuild ? rebuild_day(&g, rebuild) : incremental(&g);
	db_exec(app->db, a, "SELECT pg_advisory_unlock(" AGG_LOCK ")", 0, NULL);
	if (rc != 0)
		return db_ready(app->db) ? EX_SOFTWARE : EX_TEMPFAIL;
	log_info("%d hours rewritten (%d from clicks, %d from conversions) in %lld ms", g.hours,
		 g.click_hours, g.conv_hours, (long long)(mono_ms() - t0));
	return EX_OK;
}
