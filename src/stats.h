/* Stats reports (SPEC §6, GET /api/stats) over the rollups of
 * sql/060_stats.sql: parsing and validating a request, choosing the
 * smallest rollup that can answer it exactly, running it on the replica
 * or the primary, and writing the answer as JSON or CSV.
 *
 * Definitions (also in the README):
 *   clicks          every recorded click, invalid ones included
 *   unique_clicks   clicks flagged unique by the click path
 *   invalid_clicks  clicks that are not billable (bot, replay, expired, ...)
 *   conversions     conversions of every status; approved/pending/rejected split it
 *   revenue, payout sums over approved conversions (a reversal takes them back)
 *   profit          revenue - payout
 *   cr              approved / billable clicks x 100, billable = clicks - invalid_clicks,
 *                   rounded half up to 2 decimals ("0.00" without billable clicks)
 *   epc             payout / billable clicks, rounded half up to 4 decimals
 * Money is carried as integer micro-units (NUMERIC(18,6) scale), never as
 * floating point. */
#ifndef AFFTOK_STATS_H
#define AFFTOK_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct app;
struct arena;
struct buf;
struct db;

#define STATS_MAX_DAYS 366     /* longest from..to range, both days included */
#define STATS_MAX_ROWS 100000  /* beyond this a report is refused (400 group_by) */
#define STATS_MONEY_MAX 32     /* room for a formatted amount */

enum stats_dim {
	SD_DAY = 1,
	SD_HOUR = 2,
	SD_OFFER = 4,
	SD_AFFILIATE = 8,
	SD_COUNTRY = 16,
	SD_DEVICE = 32,
	SD_SUB1 = 64,
};
#define STATS_NDIMS 7

struct stats_groups {
	int n;
	enum stats_dim dims[STATS_NDIMS]; /* in the order asked */
	unsigned mask;
};

/* The rollup a report reads: the hourly offer (x affiliate) cubes in zones
 * whose hours start on UTC hours, the 15-minute ones in the others, and the
 * 15-minute base rollups when grouping or filtering by country, device or
 * sub1 (all exact in every time zone). The whole UTC days of the range come
 * from the matching daily rollup instead when stats_daily_ok() says so. */
enum stats_source {
	SRC_OFFER_HOURLY,
	SRC_OFFER_AFFILIATE_HOURLY,
	SRC_OFFER_QUARTER,
	SRC_OFFER_AFFILIATE_QUARTER,
	SRC_BASE,
};

/* "day,offer": names from the list above, order kept, no duplicates.
 * Empty or NULL means "day". Returns 0, or -1 for anything else. */
int stats_group_parse(const char *s, struct stats_groups *g);
/* The name in group_by and the key in rows: "offer" -> "offer_id". */
const char *stats_dim_name(enum stats_dim d);
const char *stats_dim_key(enum stats_dim d);

/* Days since 1970-01-01 of a valid YYYY-MM-DD date; false when invalid. */
bool stats_date_days(const char *s, int64_t *days);
/* An IANA zone name as PostgreSQL knows them ("UTC", "Asia/Kolkata",
 * "America/Argentina/Buenos_Aires", "Etc/GMT+5"): letters, digits and _ + - /
 * in at most 64 characters, no empty or dot segments. Whether the zone
 * exists is PostgreSQL's to say. */
bool stats_tz_name_ok(const char *tz);
/* "+05:30" / "-03:00" for an offset in minutes east of UTC. */
void stats_offset_format(int minutes, char out[8]);
/* The rollup for a report that needs dims (SD_* other than day and hour:
 * groups, filters and the key's scope) in a zone whose hours all start on
 * UTC hours (whole_hours) or not. */
enum stats_source stats_pick_source(unsigned dims, bool whole_hours);
/* Whether the whole UTC days of a report grouped by groups (SD_* mask) may
 * come from the daily rollups (sql/070): not when it groups by hour. The
 * rest of the range (a zone's day starting at 05:00 or 18:30 UTC) comes
 * from the source above, and so, for a report by day in a zone whose days
 * are not UTC days, do the hours of each UTC day that belong to another
 * local day than the one the day is counted under (src/stats.c). */
bool stats_daily_ok(unsigned groups);
/* "offer-hourly", ... "base-quarter": for the X-Stats-Rollup header. */
const char *stats_source_name(enum stats_source src);

/* Exact decimals. money_parse reads PostgreSQL NUMERIC text ("-12.500000")
 * into micro-units; false on malformed input, more than 6 significant
 * fractional digits or overflow. money_format writes at least 2 and at most
 * 6 fractional digits. */
bool stats_money_parse(const char *s, int64_t *micros);
void stats_money_format(int64_t micros, char out[STATS_MONEY_MAX]);
/* num / den x 10^scale... both: rounded half up; den 0 gives zero. */
void stats_cr(int64_t approved, int64_t billable, char out[STATS_MONEY_MAX]);
void stats_epc(int64_t payout_micros, int64_t billable, char out[STATS_MONEY_MAX]);
/* One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF or
 * starts with a character a spreadsheet would take for a formula (= + - @),
 * which is then prefixed with ' inside the quotes. NULL writes nothing. */
void stats_csv_field(struct buf *b, const char *s);

struct stats_row {
	const char *keys[STATS_NDIMS]; /* formatted group keys in group order; NULL = unknown */
	int64_t clicks, unique_clicks, invalid_clicks;
	int64_t conversions, approved, pending, rejected;
	int64_t revenue, payout; /* micro-units */
};

struct stats_query {
	const char *from, *to; /* YYYY-MM-DD, local dates in tz, both included */
	const char *tz;        /* NULL = UTC */
	struct stats_groups groups;
	long long offer_id, affiliate_id; /* filters, 0 = none */
	struct auth auth;                 /* tenant and role scope */
};

struct stats_report {
	struct stats_groups groups;
	struct stats_row *rows;
	size_t nrows;
	struct stats_row totals;
	const char **reasons; /* invalid clicks by reason over the whole report */
	int64_t *reason_clicks;
	size_t nreasons;
	enum stats_source source;
	bool daily;            /* whole UTC days came from the daily rollups */
	const char *served_by; /* "replica" or "primary" */
};

enum stats_status { STATS_OK = 0, STATS_BAD_PARAM = -1, STATS_UNAVAILABLE = -2, STATS_FAILED = -3 };

/* Validates q (on STATS_BAD_PARAM *bad names the parameter and *why says
 * what is wrong) and runs it. */
enum stats_status stats_run(struct app *app, struct arena *a, const struct stats_query *q,
			    struct stats_report *out, const char **bad, const char **why);
void stats_write_json(struct buf *b, const struct stats_query *q, const struct stats_report *rep);
void stats_write_csv(struct buf *b, const struct stats_report *rep);

/* The connection report queries go to: the replica when one is configured,
 * reachable and no more than db_replica_max_lag_s behind, else the primary.
 * *name gets "replica" or "primary". The replica's state is checked at most
 * once a second per process. */
struct db *stats_db(struct app *app, struct arena *a, const char **name);
/* Forget the replica's last state (after a query on it failed). */
void stats_replica_failed(void);

#endif
