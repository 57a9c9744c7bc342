/* Stats reports over the rollups: validation, choice of rollup, the query,
 * exact derived figures, JSON and CSV. See stats.h for the definitions. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define ORIGIN "timestamptz '2000-01-01 00:00:00+00'"

/* ---- group_by ---- */

static const struct {
	enum stats_dim dim;
	const char *name, *key;
} dims[] = {
	{SD_DAY, "day", "day"},
	{SD_HOUR, "hour", "hour"},
	{SD_OFFER, "offer", "offer_id"},
	{SD_AFFILIATE, "affiliate", "affiliate_id"},
	{SD_COUNTRY, "country", "country"},
	{SD_DEVICE, "device", "device"},
	{SD_SUB1, "sub1", "sub1"},
};

const char *stats_dim_name(enum stats_dim d)
{
	for (size_t i = 0; i < STATS_NDIMS; i++)
		if (dims[i].dim == d)
			return dims[i].name;
	return "?";
}

const char *stats_dim_key(enum stats_dim d)
{
	for (size_t i = 0; i < STATS_NDIMS; i++)
		if (dims[i].dim == d)
			return dims[i].key;
	return "?";
}

int stats_group_parse(const char *s, struct stats_groups *g)
{
	memset(g, 0, sizeof *g);
	if (s == NULL || *s == '\0')
		s = "day";
	while (*s) {
		size_t n = strcspn(s, ",");
		size_t i;
		for (i = 0; i < STATS_NDIMS; i++)
			if (strlen(dims[i].name) == n && !strncmp(dims[i].name, s, n))
				break;
		if (i == STATS_NDIMS || (g->mask & dims[i].dim) || g->n == STATS_NDIMS)
			return -1;
		g->dims[g->n++] = dims[i].dim;
		g->mask |= dims[i].dim;
		s += n;
		if (*s == ',' && *++s == '\0')
			return -1; /* trailing comma */
	}
	return 0;
}

/* ---- dates and zones ---- */

bool stats_date_days(const char *s, int64_t *days)
{
	int y, m, d;
	char tail;
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    strspn(s, "0123456789-") != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return false;
	/* Howard Hinnant's days_from_civil. */
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t era = yy / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*days = era * 146097 + doe - 719468;
	return true;
}

bool stats_tz_name_ok(const char *tz)
{
	size_t len = tz ? strlen(tz) : 0;
	if (len == 0 || len > 64 || tz[0] == '/' || tz[len - 1] == '/')
		return false;
	if (strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") != len)
		return false;
	/* No empty segments; segments start with a letter (no "..", no "+05:30"-style
	 * POSIX strings, which PostgreSQL reads with the opposite sign). */
	for (const char *p = tz; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p)) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return false;
	}
	return true;
}

void stats_offset_format(int minutes, char out[8])
{
	char sign = minutes < 0 ? '-' : '+';
	int m = minutes < 0 ? -minutes : minutes;
	snprintf(out, 8, "%c%02d:%02d", sign, (m / 60) % 100, m % 60);
}

enum stats_source stats_pick_source(unsigned need, bool whole_hours)
{
	need &= ~(unsigned)(SD_DAY | SD_HOUR);
	if (need & ~(unsigned)(SD_OFFER | SD_AFFILIATE))
		return SRC_BASE;
	if (need & SD_AFFILIATE)
		return whole_hours ? SRC_OFFER_AFFILIATE_HOURLY : SRC_OFFER_AFFILIATE_QUARTER;
	return whole_hours ? SRC_OFFER_HOURLY : SRC_OFFER_QUARTER;
}

bool stats_daily_ok(unsigned groups)
{
	return !(groups & SD_HOUR);
}

const char *stats_source_name(enum stats_source src)
{
	static const char *names[] = {"offer-hourly", "offer-affiliate-hourly", "offer-quarter",
				      "offer-affiliate-quarter", "base-quarter"};
	return (unsigned)src < sizeof names / sizeof *names ? names[src] : "?";
}

static const char *daily_table(enum stats_source src)
{
	switch (src) {
	case SRC_OFFER_HOURLY:
	case SRC_OFFER_QUARTER:
		return "stats_o_d";
	case SRC_OFFER_AFFILIATE_HOURLY:
	case SRC_OFFER_AFFILIATE_QUARTER:
		return "stats_oa_d";
	case SRC_BASE:
		break;
	}
	return "stats_base_d";
}

/* The dimensions the daily table of src is keyed by, besides the day. */
static unsigned daily_dims(enum stats_source src)
{
	switch (src) {
	case SRC_OFFER_HOURLY:
	case SRC_OFFER_QUARTER:
		return SD_OFFER;
	case SRC_OFFER_AFFILIATE_HOURLY:
	case SRC_OFFER_AFFILIATE_QUARTER:
		return SD_OFFER | SD_AFFILIATE;
	case SRC_BASE:
		break;
	}
	return SD_OFFER | SD_AFFILIATE | SD_COUNTRY | SD_DEVICE | SD_SUB1;
}

/* ---- exact decimals ---- */

bool stats_money_parse(const char *s, int64_t *micros)
{
	bool neg = *s == '-';
	s += neg;
	if (*s < '0' || *s > '9')
		return false;
	int64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX / 1000000 - 1 - 9) / 10)
			return false; /* the micro-units would not fit */
		v = v * 10 + (*s - '0');
	}
	v *= 1000000;
	if (*s == '.') {
		s++;
		int64_t scale = 100000;
		if (*s < '0' || *s > '9')
			return false;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (scale == 0) {
				if (*s != '0')
					return false; /* finer than a micro-unit */
				continue;
			}
			v += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s != '\0')
		return false;
	*micros = neg ? -v : v;
	return true;
}

void stats_money_format(int64_t micros, char out[STATS_MONEY_MAX])
{
	uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
	char frac[8];
	snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(m % 1000000));
	int keep = 6;
	while (keep > 2 && frac[keep - 1] == '0')
		keep--;
	frac[keep] = '\0';
	snprintf(out, STATS_MONEY_MAX, "%s%llu.%s", micros < 0 ? "-" : "",
		 (unsigned long long)(m / 1000000), frac);
}

/* num / den rounded half up to an integer; num >= 0, den > 0. */
static unsigned __int128 div_round(unsigned __int128 num, unsigned __int128 den)
{
	return (num + den / 2) / den;
}

/* Writes v / 10^digits with exactly digits fractional digits. */
static void fixed_format(unsigned __int128 v, int digits, char out[STATS_MONEY_MAX])
{
	unsigned __int128 p = 1;
	for (int i = 0; i < digits; i++)
		p *= 10;
	snprintf(out, STATS_MONEY_MAX, "%llu.%0*llu", (unsigned long long)(v / p), digits,
		 (unsigned long long)(v % p));
}

void stats_cr(int64_t approved, int64_t billable, char out[STATS_MONEY_MAX])
{
	if (billable <= 0 || approved < 0) {
		snprintf(out, STATS_MONEY_MAX, "0.00");
		return;
	}
	/* approved / billable x 100, in hundredths: x 10^4. */
	fixed_format(div_round((unsigned __int128)approved * 10000, (unsigned __int128)billable), 2, out);
}

void stats_epc(int64_t payout_micros, int64_t billable, char out[STATS_MONEY_MAX])
{
	if (billable <= 0) {
		snprintf(out, STATS_MONEY_MAX, "0.0000");
		return;
	}
	bool neg = payout_micros < 0;
	uint64_t m = neg ? (uint64_t)0 - (uint64_t)payout_micros : (uint64_t)payout_micros;
	/* micro-units to ten-thousandths: / 100, and / billable. */
	unsigned __int128 v = div_round(m, (unsigned __int128)billable * 100);
	fixed_format(v, 4, out);
	if (neg && v != 0) {
		memmove(out + 1, out, strlen(out) + 1);
		out[0] = '-';
	}
}

void stats_csv_field(struct buf *b, const char *s)
{
	if (s == NULL)
		return;
	bool formula = strchr("=+-@", s[0]) != NULL && s[0] != '\0';
	if (!formula && s[strcspn(s, ",\"\r\n")] == '\0') {
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '"');
	if (formula)
		buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '"')
			buf_putc(b, '"');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

/* ---- replica or primary ---- */

static int64_t replica_checked_ms;
static bool replica_usable;

void stats_replica_failed(void)
{
	replica_checked_ms = mono_ms();
	replica_usable = false;
}

struct db *stats_db(struct app *app, struct arena *a, const char **name)
{
	*name = "primary";
	if (app->replica == NULL)
		return app->db;
	int64_t now = mono_ms();
	if (replica_checked_ms == 0 || now - replica_checked_ms >= 1000) {
		replica_checked_ms = now;
		replica_usable = false;
		/* Caught up (all received WAL replayed) counts as no lag even when
		 * the primary has been idle; otherwise the age of the last replayed
		 * transaction. */
		PGresult *res = db_ready(app->replica) ? db_exec(app->replica, a,
			"SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
			"WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
			"ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9) END",
			0, NULL) : NULL;
		if (res) {
			double lag = atof(db_val(res, 0, 0));
			replica_usable = lag <= (double)app->cfg.db_replica_max_lag_s;
			if (!replica_usable)
				log_warn("stats: replica %.1f s behind (limit %ld s): using the primary", lag,
					 app->cfg.db_replica_max_lag_s);
		}
	}
	if (!replica_usable)
		return app->db;
	*name = "replica";
	return app->replica;
}

/* ---- the query ---- */

struct sqlb {
	struct arena *a;
	struct buf b;
	const char *pv[16];
	int np;
};

static const char *param(struct sqlb *s, const char *v)
{
	s->pv[s->np++] = v;
	return arena_sprintf(s->a, "$%d", s->np);
}

struct filters {
	const char *offer, *affiliate, *advertiser_scope, *affiliate_scope; /* "$n" or NULL */
	const char *lo, *hi; /* "$n": the whole UTC days [lo, hi) of the range, or NULL */
};

/* The part of the report's range [start, end) a branch reads: all of it,
 * or, when whole UTC days come from the daily rollups, the head before the
 * first of them, those days, and the tail after the last. */
enum span { SPAN_ALL, SPAN_HEAD, SPAN_DAYS, SPAN_TAIL };

static void where_clause(struct buf *b, const struct filters *f, const char *tcol, enum span sp);

/* One SELECT over table for span sp: its time (tsel, or tcol itself), the
 * grouped dimensions and the metrics. */
static void branch_t(struct sqlb *s, const struct stats_query *q, const struct filters *f, const char *table,
		     const char *tsel, const char *tcol, const char *metrics, enum span sp)
{
	struct buf *b = &s->b;
	buf_printf(b, "SELECT %s AS t", tsel ? tsel : tcol);
	for (int i = 0; i < q->groups.n; i++) {
		enum stats_dim d = q->groups.dims[i];
		if (d != SD_DAY && d != SD_HOUR)
			buf_printf(b, ", %s", stats_dim_key(d));
	}
	buf_printf(b, ", %s FROM %s WHERE ", metrics, table);
	where_clause(b, f, tcol, sp);
}

static void branch(struct sqlb *s, const struct stats_query *q, const struct filters *f,
		   const char *table, const char *tcol, const char *metrics, enum span sp)
{
	branch_t(s, q, f, table, NULL, tcol, metrics, sp);
}

#define RANGE_START "($2::date::timestamp AT TIME ZONE $4)"
#define RANGE_END "(($3::date + 1)::timestamp AT TIME ZONE $4)"

/* Tenant, range (local dates of zone $4 as UTC instants, or the span of
 * them) and filters. */
static void where_clause(struct buf *b, const struct filters *f, const char *tcol, enum span sp)
{
	buf_printf(b, "tenant_id = $1 AND %s >= ", tcol);
	if (sp == SPAN_DAYS || sp == SPAN_TAIL)
		buf_printf(b, "%s::timestamptz", sp == SPAN_DAYS ? f->lo : f->hi);
	else
		buf_puts(b, RANGE_START);
	buf_printf(b, " AND %s < ", tcol);
	if (sp == SPAN_HEAD || sp == SPAN_DAYS)
		buf_printf(b, "%s::timestamptz", sp == SPAN_HEAD ? f->lo : f->hi);
	else
		buf_puts(b, RANGE_END);
	if (f->offer)
		buf_printf(b, " AND offer_id = %s", f->offer);
	if (f->affiliate)
		buf_printf(b, " AND affiliate_id = %s", f->affiliate);
	if (f->affiliate_scope)
		buf_printf(b, " AND affiliate_id = %s", f->affiliate_scope);
	if (f->advertiser_scope)
		buf_printf(b, " AND offer_id IN (SELECT id FROM offers WHERE tenant_id = $1 AND advertiser_id = %s)",
			   f->advertiser_scope);
}

#define METRICS_ALL "clicks, unique_clicks, invalid_clicks, conversions, approved, pending, rejected, revenue, payout"

/* The branches over the hourly or 15-minute table of src for span sp. */
static void fine_branches(struct sqlb *s, const struct stats_query *q, const struct filters *f,
			  enum stats_source src, enum span sp)
{
	switch (src) {
	case SRC_OFFER_HOURLY:
		branch(s, q, f, "stats_o_h", "hour", METRICS_ALL, sp);
		break;
	case SRC_OFFER_AFFILIATE_HOURLY:
		branch(s, q, f, "stats_oa_h", "hour", METRICS_ALL, sp);
		break;
	case SRC_OFFER_QUARTER:
		branch(s, q, f, "stats_o_q", "bucket", METRICS_ALL, sp);
		break;
	case SRC_OFFER_AFFILIATE_QUARTER:
		branch(s, q, f, "stats_oa_q", "bucket", METRICS_ALL, sp);
		break;
	case SRC_BASE:
		branch(s, q, f, "stats_clicks_q", "bucket",
		       "clicks, unique_clicks, invalid_clicks, 0::bigint AS conversions, 0::bigint AS approved, "
		       "0::bigint AS pending, 0::bigint AS rejected, 0::numeric AS revenue, 0::numeric AS payout", sp);
		buf_puts(&s->b, " UNION ALL ");
		branch(s, q, f, "stats_conv_q", "bucket",
		       "0::bigint, 0::bigint, 0::bigint, conversions, approved, pending, rejected, revenue, payout", sp);
		break;
	}
}

/* The parameters after $1-$4 (tenant, from, to, zone): lo and hi, the
 * whole UTC days to read from the daily rollups (or NULL), and the filters. */
static void add_filters(struct sqlb *s, const struct stats_query *q, const char *lo, const char *hi,
			struct filters *f)
{
	char num[24];
	memset(f, 0, sizeof *f);
	if (lo && hi) {
		f->lo = param(s, lo);
		f->hi = param(s, hi);
	}
	if (q->offer_id) {
		snprintf(num, sizeof num, "%lld", q->offer_id);
		f->offer = param(s, arena_strdup(s->a, num));
	}
	if (q->affiliate_id) {
		snprintf(num, sizeof num, "%lld", q->affiliate_id);
		f->affiliate = param(s, arena_strdup(s->a, num));
	}
	if (q->auth.scope == SCOPE_ADVERTISER) {
		snprintf(num, sizeof num, "%lld", q->auth.advertiser_id);
		f->advertiser_scope = param(s, arena_strdup(s->a, num));
	}
	if (q->auth.scope == SCOPE_AFFILIATE) {
		snprintf(num, sizeof num, "%lld", q->auth.affiliate_id);
		f->affiliate_scope = param(s, arena_strdup(s->a, num));
	}
}

static void sqlb_init(struct sqlb *s, struct arena *a, const char *tenant, const struct stats_query *q,
		      const char *tz)
{
	memset(s, 0, sizeof *s);
	s->a = a;
	buf_init(&s->b, a);
	param(s, tenant);
	param(s, q->from);
	param(s, q->to);
	param(s, tz);
}

/* Invalid clicks by reason over the report's range and scope. It groups by
 * nothing else, so the whole UTC days [lo, hi) of any zone come from the
 * daily table (per offer when no affiliate is asked for or scoped). */
static const char *invalid_sql(struct sqlb *s, const struct stats_query *q, const char *lo, const char *hi)
{
	struct filters f;
	add_filters(s, q, lo, hi, &f);
	struct buf *b = &s->b;
	const char *daily = f.affiliate || f.affiliate_scope ? "stats_invalid_d" : "stats_invalid_o_d";
	buf_puts(b, "SELECT coalesce(reason, 'unknown'), sum(clicks) FROM (SELECT reason, clicks FROM stats_invalid_q WHERE ");
	if (f.lo) {
		where_clause(b, &f, "bucket", SPAN_HEAD);
		buf_printf(b, " UNION ALL SELECT reason, clicks FROM %s WHERE ", daily);
		where_clause(b, &f, "day", SPAN_DAYS);
		buf_puts(b, " UNION ALL SELECT reason, clicks FROM stats_invalid_q WHERE ");
		where_clause(b, &f, "bucket", SPAN_TAIL);
	} else {
		where_clause(b, &f, "bucket", SPAN_ALL);
	}
	buf_puts(b, ") s GROUP BY 1 ORDER BY 1");
	return buf_ok(b) ? b->p : NULL;
}

/* A report by day in a zone whose days are not UTC days (New York's run
 * from 05:00 UTC): each UTC day's daily row counts under the local day of
 * its noon, and the finer rows of that UTC day that belong to another local
 * day (00:00-05:00 UTC in New York) are taken back from it and added to
 * their own. These are those finer rows, twice, signed. */
static void moved_branches(struct sqlb *s, const struct stats_query *q, const struct filters *f,
			   enum stats_source src)
{
	struct buf *b = &s->b;
	buf_puts(b, "SELECT CASE WHEN v.sgn < 0 THEN date_bin('1 day', x.t, " ORIGIN ") + interval '12 hours' "
		    "ELSE x.t END AS t");
	for (int i = 0; i < q->groups.n; i++) {
		enum stats_dim d = q->groups.dims[i];
		if (d != SD_DAY && d != SD_HOUR)
			buf_printf(b, ", x.%s", stats_dim_key(d));
	}
	buf_puts(b, ", x.clicks * v.sgn AS clicks, x.unique_clicks * v.sgn AS unique_clicks, "
		    "x.invalid_clicks * v.sgn AS invalid_clicks, x.conversions * v.sgn AS conversions, "
		    "x.approved * v.sgn AS approved, x.pending * v.sgn AS pending, x.rejected * v.sgn AS rejected, "
		    "x.revenue * v.sgn AS revenue, x.payout * v.sgn AS payout FROM (");
	fine_branches(s, q, f, src, SPAN_DAYS);
	buf_puts(b, ") x CROSS JOIN (VALUES (-1), (1)) v(sgn) WHERE (x.t AT TIME ZONE $4)::date <> "
		    "((date_bin('1 day', x.t, " ORIGIN ") + interval '12 hours') AT TIME ZONE $4)::date");
}

/* lo, hi: the whole UTC days to read from the daily rollups, or NULL.
 * days_aligned: the range's own ends are UTC midnights, so then the daily
 * rollups answer it all (and lo, hi are not needed). */
static const char *build_sql(struct sqlb *s, const struct stats_query *q, enum stats_source src,
			     bool whole_hours, bool days_aligned, const char *lo, const char *hi)
{
	struct filters f;
	bool daily = lo && hi;
	days_aligned = days_aligned && daily;
	add_filters(s, q, days_aligned ? NULL : lo, days_aligned ? NULL : hi, &f);
	struct buf *b = &s->b;
	const struct stats_groups *g = &q->groups;
	buf_puts(b, "SELECT ");
	for (int i = 0; i < g->n; i++) {
		switch (g->dims[i]) {
		case SD_HOUR:
			buf_printf(b, "to_char(k%d AT TIME ZONE $4, 'YYYY-MM-DD\"T\"HH24:MI:SS'), "
				   "(extract(epoch FROM (k%d AT TIME ZONE $4) - (k%d AT TIME ZONE 'UTC')) / 60)::int, ",
				   i, i, i);
			break;
		case SD_DAY:
			buf_printf(b, "to_char(k%d, 'YYYY-MM-DD'), ", i);
			break;
		case SD_OFFER:
		case SD_AFFILIATE:
			buf_printf(b, "k%d::text, ", i);
			break;
		default:
			buf_printf(b, "k%d, ", i);
		}
	}
	buf_puts(b, METRICS_ALL " FROM (SELECT ");
	for (int i = 0; i < g->n; i++) {
		switch (g->dims[i]) {
		case SD_DAY:
			/* A date, formatted once per group outside (cheaper than per row). */
			buf_printf(b, "(t AT TIME ZONE $4)::date AS k%d, ", i);
			break;
		case SD_HOUR:
			/* The instant the local hour starts (a UTC bucket in a +05:30 zone
			 * starts at :30 local): unambiguous across DST changes. */
			if (whole_hours)
				buf_printf(b, "t AS k%d, ", i);
			else
				buf_printf(b, "t - make_interval(mins => extract(minute FROM t AT TIME ZONE $4)::int) AS k%d, ", i);
			break;
		default:
			buf_printf(b, "%s AS k%d, ", stats_dim_key(g->dims[i]), i);
		}
	}
	/* Local days that are UTC days, grouped by exactly the daily table's
	 * key: its rows are the answer's rows, nothing to add up. */
	bool as_is = days_aligned && (g->mask & ~(unsigned)SD_DAY) == daily_dims(src) && (g->mask & SD_DAY);
	if (as_is) {
		buf_puts(b, METRICS_ALL " FROM (");
		branch(s, q, &f, daily_table(src), "day", METRICS_ALL, SPAN_ALL);
		buf_puts(b, ") s) g ORDER BY ");
		goto order;
	}
	buf_puts(b, "sum(clicks) AS clicks, sum(unique_clicks) AS unique_clicks, sum(invalid_clicks) AS invalid_clicks, "
		    "sum(conversions) AS conversions, sum(approved) AS approved, sum(pending) AS pending, "
		    "sum(rejected) AS rejected, sum(revenue) AS revenue, sum(payout) AS payout FROM (");
	if (!daily) {
		fine_branches(s, q, &f, src, SPAN_ALL);
	} else if (days_aligned) {
		branch(s, q, &f, daily_table(src), "day", METRICS_ALL, SPAN_ALL);
	} else {
		fine_branches(s, q, &f, src, SPAN_HEAD);
		buf_puts(b, " UNION ALL ");
		if (g->mask & SD_DAY) {
			branch_t(s, q, &f, daily_table(src), "day + interval '12 hours'", "day", METRICS_ALL, SPAN_DAYS);
			buf_puts(b, " UNION ALL ");
			moved_branches(s, q, &f, src);
		} else {
			branch(s, q, &f, daily_table(src), "day", METRICS_ALL, SPAN_DAYS);
		}
		buf_puts(b, " UNION ALL ");
		fine_branches(s, q, &f, src, SPAN_TAIL);
	}
	buf_puts(b, ") s GROUP BY ");
	for (int i = 0; i < g->n; i++)
		buf_printf(b, "%sk%d", i ? ", " : "", i);
	/* Moved rows can leave a key whose figures all cancel out; the finer
	 * tables would have no row for it (every one of their rows counts a
	 * click or a conversion). */
	if (daily && !days_aligned && (g->mask & SD_DAY))
		buf_puts(b, " HAVING sum(clicks) <> 0 OR sum(conversions) <> 0");
	buf_puts(b, ") g ORDER BY ");
order:
	/* g.kN, the grouped value: a bare kN would name the output column,
	 * which for ids is text (offer 10 before offer 9). */
	for (int i = 0; i < g->n; i++)
		buf_printf(b, "%sg.k%d", i ? ", " : "", i);
	buf_printf(b, " LIMIT %d", STATS_MAX_ROWS + 1);
	return buf_ok(b) ? b->p : NULL;
}

static bool add_row_metrics(struct stats_row *r, const PGresult *res, int i, int c)
{
	int64_t *counts[] = {&r->clicks, &r->unique_clicks, &r->invalid_clicks, &r->conversions,
			     &r->approved, &r->pending, &r->rejected};
	for (int k = 0; k < 7; k++) {
		const char *v = db_val(res, i, c + k);
		if (v == NULL || !parse_i64(v, counts[k]))
			return false;
	}
	const char *rev = db_val(res, i, c + 7), *pay = db_val(res, i, c + 8);
	return rev && pay && stats_money_parse(rev, &r->revenue) && stats_money_parse(pay, &r->payout);
}

static void add_totals(struct stats_row *t, const struct stats_row *r)
{
	t->clicks += r->clicks;
	t->unique_clicks += r->unique_clicks;
	t->invalid_clicks += r->invalid_clicks;
	t->conversions += r->conversions;
	t->approved += r->approved;
	t->pending += r->pending;
	t->rejected += r->rejected;
	t->revenue += r->revenue;
	t->payout += r->payout;
}

static bool tz_error(const struct db *db)
{
	/* 22023: invalid_parameter_value ("time zone ... not recognized"). */
	return !strcmp(db_sqlstate(db), "22023");
}

/* One attempt on db; STATS_UNAVAILABLE when the connection failed. */
static enum stats_status run_on(struct db *db, struct arena *a, const struct stats_query *q,
				const char *tz, struct stats_report *out, const char **bad, const char **why)
{
	char tenant[24];
	snprintf(tenant, sizeof tenant, "%lld", q->auth.tenant_id);
	enum stats_status st = STATS_FAILED;
	if (db_exec(db, a, "BEGIN READ ONLY", 0, NULL) == NULL)
		return STATS_UNAVAILABLE;
	/* Row-level security on (sql/020_rls.sql); no JIT (compiling costs more
	 * than these queries run); whether every hour of the range starts on a
	 * UTC hour in this zone: then the hourly cubes are exact, otherwise only
	 * the 15-minute rollups are; whether every local day of the range is a
	 * UTC day (UTC itself, or London in winter): then days come whole from
	 * the daily rollups; and the whole UTC days inside the range [lo, hi). */
	PGresult *res = db_execp(db, a,
		"SELECT set_config('afftok.tenant_id', $1, true), set_config('jit', 'off', true), "
		"(SELECT bool_and(extract(minute FROM h AT TIME ZONE $4) = 0) FROM generate_series("
		"date_bin('1 hour', " RANGE_START ", " ORIGIN "), " RANGE_END ", interval '1 hour') h), "
		"(SELECT bool_and(d AT TIME ZONE $4 = date_bin('1 day', d AT TIME ZONE $4, " ORIGIN ")) "
		"FROM generate_series($2::date::timestamp, ($3::date + 1)::timestamp, interval '1 day') d), "
		"to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"+00\"'), "
		"to_char(hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"+00\"'), lo < hi "
		"FROM (SELECT date_bin('1 day', " RANGE_START " + interval '1 day' - interval '1 microsecond', " ORIGIN
		") AS lo, date_bin('1 day', " RANGE_END ", " ORIGIN ") AS hi) r",
		tenant, q->from, q->to, tz);
	if (res == NULL) {
		if (tz_error(db)) {
			*bad = "tz";
			*why = "is not a known time zone";
			st = STATS_BAD_PARAM;
		} else if (PQstatus(db_conn(db)) != CONNECTION_OK) {
			st = STATS_UNAVAILABLE;
		}
		goto out;
	}
	PGresult *res0 = res;
	bool whole_hours = db_val(res, 0, 2) && !strcmp(db_val(res, 0, 2), "t");
	bool days_aligned = db_val(res, 0, 3) && !strcmp(db_val(res, 0, 3), "t");
	bool some_days = db_val(res, 0, 6) && !strcmp(db_val(res, 0, 6), "t");
	const char *lo = NULL, *hi = NULL;
	if (some_days && stats_daily_ok(q->groups.mask)) {
		lo = db_val(res, 0, 4);
		hi = db_val(res, 0, 5);
	}
	unsigned need = q->groups.mask;
	if (q->offer_id || q->auth.scope == SCOPE_ADVERTISER)
		need |= SD_OFFER;
	if (q->affiliate_id || q->auth.scope == SCOPE_AFFILIATE)
		need |= SD_AFFILIATE;
	out->source = stats_pick_source(need, whole_hours);

	struct sqlb s;
	sqlb_init(&s, a, tenant, q, tz);
	const char *sql = build_sql(&s, q, out->source, whole_hours, days_aligned, lo, hi);
	out->daily = lo != NULL;
	if (sql == NULL)
		goto out;
	res = db_exec(db, a, sql, s.np, s.pv);
	if (res == NULL) {
		if (PQstatus(db_conn(db)) != CONNECTION_OK) {
			st = STATS_UNAVAILABLE;
		} else if (!strcmp(db_sqlstate(db), "57014")) {
			/* statement_timeout: the request asks for more than a request
			 * may read; say so instead of a 500. */
			*bad = "to";
			*why = "makes a report too large to compute in time: narrow the range or group by fewer dimensions";
			st = STATS_BAD_PARAM;
		}
		goto out;
	}
	int n = PQntuples(res);
	if (n > STATS_MAX_ROWS) {
		*bad = "group_by";
		*why = "gives too many rows: narrow the range or group by less";
		st = STATS_BAD_PARAM;
		goto out;
	}
	out->rows = arena_alloc(a, sizeof *out->rows * (size_t)(n ? n : 1));
	if (out->rows == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		struct stats_row *r = &out->rows[i];
		int c = 0;
		for (int k = 0; k < q->groups.n; k++) {
			const char *v = db_val(res, i, c++);
			if (q->groups.dims[k] == SD_HOUR && v) {
				char off[8];
				stats_offset_format(atoi(db_val(res, i, c)), off);
				v = arena_sprintf(a, "%s%s", v, off);
			}
			if (q->groups.dims[k] == SD_HOUR)
				c++;
			r->keys[k] = v ? arena_strdup(a, v) : NULL;
		}
		if (!add_row_metrics(r, res, i, c)) {
			log_err("stats: malformed aggregate in row %d", i);
			goto out;
		}
		add_totals(&out->totals, r);
	}
	out->nrows = (size_t)n;

	/* Invalid clicks by reason, for the totals (same range and scope). */
	struct sqlb is;
	sqlb_init(&is, a, tenant, q, tz);
	sql = invalid_sql(&is, q, some_days ? db_val(res0, 0, 4) : NULL, some_days ? db_val(res0, 0, 5) : NULL);
	res = sql ? db_exec(db, a, sql, is.np, is.pv) : NULL;
	if (res == NULL) {
		if (PQstatus(db_conn(db)) != CONNECTION_OK)
			st = STATS_UNAVAILABLE;
		goto out;
	}
	out->nreasons = (size_t)PQntuples(res);
	out->reasons = arena_alloc(a, sizeof *out->reasons * (out->nreasons + 1));
	out->reason_clicks = arena_alloc(a, sizeof *out->reason_clicks * (out->nreasons + 1));
	if (out->reasons == NULL || out->reason_clicks == NULL)
		goto out;
	for (size_t i = 0; i < out->nreasons; i++) {
		out->reasons[i] = arena_strdup(a, db_val(res, (int)i, 0));
		if (!parse_i64(db_val(res, (int)i, 1), &out->reason_clicks[i]))
			goto out;
	}
	st = STATS_OK;
out:
	/* Read-only: nothing to keep; ROLLBACK also ends a failed transaction. */
	db_exec(db, a, "ROLLBACK", 0, NULL);
	return st;
}

enum stats_status stats_run(struct app *app, struct arena *a, const struct stats_query *q,
			    struct stats_report *out, const char **bad, const char **why)
{
	memset(out, 0, sizeof *out);
	out->groups = q->groups;
	int64_t from, to;
	*why = "is not a valid date (YYYY-MM-DD)";
	if (!stats_date_days(q->from, &from)) {
		*bad = "from";
		return STATS_BAD_PARAM;
	}
	if (!stats_date_days(q->to, &to)) {
		*bad = "to";
		return STATS_BAD_PARAM;
	}
	if (to < from) {
		*bad = "to";
		*why = "is before from";
		return STATS_BAD_PARAM;
	}
	if (to - from + 1 > STATS_MAX_DAYS) {
		*bad = "to";
		*why = "is more than 366 days after from";
		return STATS_BAD_PARAM;
	}
	const char *tz = q->tz && *q->tz ? q->tz : "UTC";
	if (!stats_tz_name_ok(tz)) {
		*bad = "tz";
		*why = "is not a known time zone";
		return STATS_BAD_PARAM;
	}
	if (q->auth.tenant_id <= 0)
		return STATS_FAILED; /* the route admits tenant keys only */
	struct db *db = stats_db(app, a, &out->served_by);
	enum stats_status st = run_on(db, a, q, tz, out, bad, why);
	if (st == STATS_UNAVAILABLE && db != app->db) {
		/* The replica went away since it was last checked. */
		stats_replica_failed();
		log_warn("stats: replica failed (%s): using the primary", db_error(db));
		memset(out, 0, sizeof *out);
		out->groups = q->groups;
		out->served_by = "primary";
		st = run_on(app->db, a, q, tz, out, bad, why);
	}
	return st;
}

/* ---- output ---- */

static bool numeric_dim(enum stats_dim d)
{
	return d == SD_OFFER || d == SD_AFFILIATE;
}

static void json_metrics(struct buf *b, const struct stats_row *r)
{
	char rev[STATS_MONEY_MAX], pay[STATS_MONEY_MAX], profit[STATS_MONEY_MAX], cr[STATS_MONEY_MAX],
	    epc[STATS_MONEY_MAX];
	int64_t billable = r->clicks - r->invalid_clicks;
	stats_money_format(r->revenue, rev);
	stats_money_format(r->payout, pay);
	stats_money_format(r->revenue - r->payout, profit);
	stats_cr(r->approved, billable, cr);
	stats_epc(r->payout, billable, epc);
	buf_printf(b,
		   "\"clicks\":%lld,\"unique_clicks\":%lld,\"invalid_clicks\":%lld,\"conversions\":%lld,"
		   "\"approved\":%lld,\"pending\":%lld,\"rejected\":%lld,\"revenue\":\"%s\",\"payout\":\"%s\","
		   "\"profit\":\"%s\",\"cr\":\"%s\",\"epc\":\"%s\"",
		   (long long)r->clicks, (long long)r->unique_clicks, (long long)r->invalid_clicks,
		   (long long)r->conversions, (long long)r->approved, (long long)r->pending,
		   (long long)r->rejected, rev, pay, profit, cr, epc);
}

void stats_write_json(struct buf *b, const struct stats_query *q, const struct stats_report *rep)
{
	buf_puts(b, "{\"from\":");
	buf_json_str(b, q->from);
	buf_puts(b, ",\"to\":");
	buf_json_str(b, q->to);
	buf_puts(b, ",\"tz\":");
	buf_json_str(b, q->tz && *q->tz ? q->tz : "UTC");
	buf_puts(b, ",\"group_by\":[");
	for (int k = 0; k < rep->groups.n; k++) {
		if (k)
			buf_putc(b, ',');
		buf_json_str(b, stats_dim_name(rep->groups.dims[k]));
	}
	buf_puts(b, "],\"rows\":[");
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct stats_row *r = &rep->rows[i];
		buf_puts(b, i ? ",{" : "{");
		for (int k = 0; k < rep->groups.n; k++) {
			buf_json_str(b, stats_dim_key(rep->groups.dims[k]));
			buf_putc(b, ':');
			if (r->keys[k] == NULL)
				buf_puts(b, "null");
			else if (numeric_dim(rep->groups.dims[k]))
				buf_puts(b, r->keys[k]);
			else
				buf_json_str(b, r->keys[k]);
			buf_putc(b, ',');
		}
		json_metrics(b, r);
		buf_putc(b, '}');
	}
	buf_puts(b, "],\"totals\":{");
	json_metrics(b, &rep->totals);
	buf_puts(b, ",\"invalid_by_reason\":{");
	for (size_t i = 0; i < rep->nreasons; i++) {
		if (i)
			buf_putc(b, ',');
		buf_json_str(b, rep->reasons[i]);
		buf_printf(b, ":%lld", (long long)rep->reason_clicks[i]);
	}
	buf_puts(b, "}}}\n");
}

void stats_write_csv(struct buf *b, const struct stats_report *rep)
{
	for (int k = 0; k < rep->groups.n; k++)
		buf_printf(b, "%s,", stats_dim_key(rep->groups.dims[k]));
	buf_puts(b, "clicks,unique_clicks,invalid_clicks,conversions,approved,pending,rejected,"
		    "revenue,payout,profit,cr,epc\r\n");
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct stats_row *r = &rep->rows[i];
		for (int k = 0; k < rep->groups.n; k++) {
			stats_csv_field(b, r->keys[k]);
			buf_putc(b, ',');
		}
		char rev[STATS_MONEY_MAX], pay[STATS_MONEY_MAX], profit[STATS_MONEY_MAX],
		    cr[STATS_MONEY_MAX], epc[STATS_MONEY_MAX];
		int64_t billable = r->clicks - r->invalid_clicks;
		stats_money_format(r->revenue, rev);
		stats_money_format(r->payout, pay);
		stats_money_format(r->revenue - r->payout, profit);
		stats_cr(r->approved, billable, cr);
		stats_epc(r->payout, billable, epc);
		buf_printf(b, "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%s,%s,%s,%s,%s\r\n", (long long)r->clicks,
			   (long long)r->unique_clicks, (long long)r->invalid_clicks,
			   (long long)r->conversions, (long long)r->approved, (long long)r->pending,
			   (long long)r->rejected, rev, pay, profit, cr, epc);
	}
}
