/* Raw records for the stats API: one click by id, conversions by page.
 * Same scoping as the reports: a tenant's admin sees its tenant, an
 * advertiser its offers, an affiliate its own traffic; anything else is
 * "not found". Reads go where the reports go (stats_db). */
#include "records.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "clickid.h"
#include "db.h"
#include "stats.h"
#include "util.h"

/* Appends the scope filter for key au to sql; tenant is $1, the scope id
 * becomes $n (n = *np + 1, appended to pv). */
static void scope_filter(struct buf *sql, const struct auth *au, const char **pv, int *np,
			 struct arena *a)
{
	if (au->scope == SCOPE_AFFILIATE) {
		pv[(*np)++] = arena_sprintf(a, "%lld", au->affiliate_id);
		buf_printf(sql, " AND affiliate_id = $%d", *np);
	} else if (au->scope == SCOPE_ADVERTISER) {
		pv[(*np)++] = arena_sprintf(a, "%lld", au->advertiser_id);
		buf_printf(sql, " AND offer_id IN (SELECT id FROM offers WHERE tenant_id = $1 AND advertiser_id = $%d)", *np);
	}
}

/* Runs sql in a read-only transaction with the tenant set for RLS. */
static PGresult *scoped(struct app *app, struct arena *a, const struct auth *au, const char *sql,
			int np, const char *const *pv, const char **served_by)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct db *db = stats_db(app, a, served_by);
		char tenant[24];
		snprintf(tenant, sizeof tenant, "%lld", au->tenant_id);
		PGresult *res = NULL;
		if (db_exec(db, a, "BEGIN READ ONLY", 0, NULL) &&
		    db_execp(db, a, "SELECT set_config('afftok.tenant_id', $1, true)", tenant))
			res = db_exec(db, a, sql, np, pv);
		db_exec(db, a, "ROLLBACK", 0, NULL);
		if (res || db == app->db || PQstatus(db_conn(db)) == CONNECTION_OK)
			return res;
		stats_replica_failed(); /* try the primary */
	}
	return NULL;
}

static void put_str(struct buf *b, const char *name, const char *v, bool comma)
{
	buf_printf(b, "%s\"%s\":", comma ? "," : "", name);
	if (v)
		buf_json_str(b, v);
	else
		buf_puts(b, "null");
}

static void put_raw(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":%s", name, v ? v : "null");
}

static void put_bool(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":%s", name, v == NULL ? "null" : !strcmp(v, "t") ? "true" : "false");
}

int records_click(struct app *app, struct arena *a, const struct auth *au, const char *click_id,
		  struct buf *out)
{
	int64_t ms;
	if (!clickid_parse(app->mk.clickid, click_id, &ms))
		return 0; /* malformed or forged: no lookup at all */
	const char *pv[4] = {arena_sprintf(a, "%lld", au->tenant_id), click_id,
			     arena_sprintf(a, "%lld", (long long)ms)};
	int np = 3;
	struct buf sql;
	buf_init(&sql, a);
	/* The id's time names the partition: created_at is that millisecond. */
	buf_puts(&sql,
		 "SELECT click_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		 "offer_id, affiliate_id, link_id, host(ip), user_agent, referer, sub1, sub2, sub3, sub4, sub5, "
		 "params::text, country, device, os, browser, billable, reason, is_unique, route_dest, destination, "
		 "signed FROM clicks WHERE tenant_id = $1 AND click_id = $2 "
		 "AND created_at >= timestamptz 'epoch' + $3::bigint * interval '1 millisecond' "
		 "AND created_at < timestamptz 'epoch' + ($3::bigint + 1) * interval '1 millisecond'");
	scope_filter(&sql, au, pv, &np, a);
	if (!buf_ok(&sql))
		return -1;
	const char *served;
	PGresult *res = scoped(app, a, au, sql.p, np, pv, &served);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	bool admin = au->scope == SCOPE_ADMIN;
	buf_putc(out, '{');
	put_str(out, "click_id", db_val(res, 0, 0), false);
	put_str(out, "created_at", db_val(res, 0, 1), true);
	put_raw(out, "offer_id", db_val(res, 0, 2));
	put_raw(out, "affiliate_id", db_val(res, 0, 3));
	put_raw(out, "link_id", db_val(res, 0, 4));
	/* The visitor's address and browser are the network's to see. */
	put_str(out, "ip", admin ? db_val(res, 0, 5) : NULL, true);
	put_str(out, "user_agent", admin ? db_val(res, 0, 6) : NULL, true);
	put_str(out, "referer", db_val(res, 0, 7), true);
	static const char *subs[] = {"sub1", "sub2", "sub3", "sub4", "sub5"};
	for (int i = 0; i < 5; i++)
		put_str(out, subs[i], db_val(res, 0, 8 + i), true);
	put_raw(out, "params", db_val(res, 0, 13));
	put_str(out, "country", db_val(res, 0, 14), true);
	put_str(out, "device", db_val(res, 0, 15), true);
	put_str(out, "os", db_val(res, 0, 16), true);
	put_str(out, "browser", db_val(res, 0, 17), true);
	put_bool(out, "billable", db_val(res, 0, 18));
	put_str(out, "reason", db_val(res, 0, 19), true);
	put_bool(out, "unique", db_val(res, 0, 20));
	put_str(out, "route_dest", db_val(res, 0, 21), true);
	put_str(out, "destination", db_val(res, 0, 22), true);
	put_bool(out, "signed", db_val(res, 0, 23));
	buf_puts(out, "}\n");
	return buf_ok(out) ? 1 : -1;
}

int records_conversions(struct app *app, struct arena *a, const struct records_filter *f,
			struct buf *out)
{
	const char *pv[12];
	int np = 0;
	struct buf sql;
	buf_init(&sql, a);
	pv[np++] = arena_sprintf(a, "%lld", f->auth.tenant_id);
	buf_puts(&sql,
		 "SELECT id, click_id, to_char(click_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		 "transaction_id, status, event, offer_id, affiliate_id, link_id, amount, currency, payout, revenue, "
		 "payout_currency, source, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		 "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
		 "FROM conversions WHERE tenant_id = $1");
	if (f->from) {
		pv[np++] = f->from;
		buf_printf(&sql, " AND created_at >= $%d::date::timestamp AT TIME ZONE 'UTC'", np);
	}
	if (f->to) {
		pv[np++] = f->to;
		buf_printf(&sql, " AND created_at < ($%d::date + 1)::timestamp AT TIME ZONE 'UTC'", np);
	}
	if (f->status) {
		pv[np++] = f->status;
		buf_printf(&sql, " AND status = $%d", np);
	}
	if (f->offer_id) {
		pv[np++] = arena_sprintf(a, "%lld", f->offer_id);
		buf_printf(&sql, " AND offer_id = $%d", np);
	}
	if (f->affiliate_id) {
		pv[np++] = arena_sprintf(a, "%lld", f->affiliate_id);
		buf_printf(&sql, " AND affiliate_id = $%d", np);
	}
	if (f->after_id) {
		pv[np++] = arena_sprintf(a, "%lld", f->after_id);
		buf_printf(&sql, " AND id < $%d", np);
	}
	scope_filter(&sql, &f->auth, pv, &np, a);
	/* Newest first by id (ids grow with time); one more row than asked
	 * tells whether there is a next page. */
	buf_printf(&sql, " ORDER BY id DESC LIMIT %d", f->limit + 1);
	if (!buf_ok(&sql))
		return -1;
	const char *served;
	PGresult *res = scoped(app, a, &f->auth, sql.p, np, pv, &served);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	bool more = n > f->limit;
	if (more)
		n = f->limit;
	bool affiliate = f->auth.scope == SCOPE_AFFILIATE;
	buf_puts(out, "{\"data\":[");
	for (int i = 0; i < n; i++) {
		buf_puts(out, i ? ",{" : "{");
		buf_printf(out, "\"id\":%s", db_val(res, i, 0));
		put_str(out, "click_id", db_val(res, i, 1), true);
		put_str(out, "click_created_at", db_val(res, i, 2), true);
		put_str(out, "transaction_id", db_val(res, i, 3), true);
		put_str(out, "status", db_val(res, i, 4), true);
		put_str(out, "event", db_val(res, i, 5), true);
		put_raw(out, "offer_id", db_val(res, i, 6));
		put_raw(out, "affiliate_id", db_val(res, i, 7));
		put_raw(out, "link_id", db_val(res, i, 8));
		/* What the advertiser pays (revenue) and the sale amount are not the
		 * affiliate's business; its payout is. */
		put_str(out, "amount", affiliate ? NULL : db_val(res, i, 9), true);
		put_str(out, "currency", affiliate ? NULL : db_val(res, i, 10), true);
		put_str(out, "payout", db_val(res, i, 11), true);
		put_str(out, "revenue", affiliate ? NULL : db_val(res, i, 12), true);
		put_str(out, "payout_currency", db_val(res, i, 13), true);
		put_str(out, "source", db_val(res, i, 14), true);
		put_str(out, "created_at", db_val(res, i, 15), true);
		put_str(out, "updated_at", db_val(res, i, 16), true);
		buf_putc(out, '}');
	}
	buf_puts(out, "],\"next_cursor\":");
	if (more)
		buf_json_str(out, db_val(res, n - 1, 0));
	else
		buf_puts(out, "null");
	buf_puts(out, "}\n");
	return buf_ok(out) ? 0 : -1;
}
