/* Conversions in PostgreSQL: click match, checks, idempotent insert and
 * status changes with their audit row, outbox event and affiliate postback. */
#include "convstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "arena.h"
#include "clickid.h"
#include "db.h"
#include "log.h"
#include "secret.h"
#include "util.h"

int conv_outcome_http(enum conv_outcome o)
{
	static const int map[] = {
		[CO_RECORDED] = 200, [CO_DUPLICATE] = 200, [CO_UPDATED] = 200,
		[CO_PENDING_CLICK] = 202, [CO_BAD_PARAM] = 400, [CO_BAD_SIGNATURE] = 401,
		[CO_FORBIDDEN] = 403, [CO_CLICK_NOT_FOUND] = 404, [CO_CONFLICT] = 409,
		[CO_EXPIRED] = 410, [CO_UNAVAILABLE] = 503,
	};
	return (unsigned)o < sizeof map / sizeof map[0] ? map[o] : 500;
}

/* "2026-11-25 01:51:25.123+00": the exact created_at of a click, read from its id. */
static void ms_to_ts(int64_t ms, char out[40])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03d+00", (int)(ms % 1000));
}

static void new_event_id(char out[32])
{
	unsigned char raw[12];
	rand_bytes(raw, sizeof raw);
	memcpy(out, "evt_", 4);
	hex_encode(raw, sizeof raw, out + 4);
}

static bool is_t(const char *v)
{
	return v && v[0] == 't';
}

/* The event's data object, from a conversions row named r (SPEC §5 data of
 * conversion.created / conversion.updated; documented in src/outbox.h). */
#define EVENT_DATA(r, prev)                                                                       \
	"jsonb_build_object('conversion_id', " r ".id::text, 'click_id', " r ".click_id, "          \
	"'transaction_id', " r ".transaction_id, 'status', " r ".status, 'previous_status', " prev  \
	", 'reason', " r ".reason, 'event', " r ".event, 'offer_id', " r ".offer_id, "               \
	"'affiliate_id', " r ".affiliate_id, 'advertiser_id', " r ".advertiser_id, 'link_id', " r     \
	".link_id, 'amount', " r ".amount::text, 'currency', " r ".currency, 'payout', " r            \
	".payout::text, 'revenue', " r ".revenue::text, 'payout_currency', " r ".payout_currency, "  \
	"'source', " r ".source, 'adv_sub1', " r ".adv_sub1, 'adv_sub2', " r ".adv_sub2, 'adv_sub3', " \
	r ".adv_sub3, 'adv_sub4', " r ".adv_sub4, 'adv_sub5', " r ".adv_sub5, 'click_created_at', " r  \
	".click_created_at, 'created_at', " r ".created_at, 'updated_at', " r ".updated_at)"

/* The audit row, the event and the affiliate postback of a changed row r. */
#define SIDE_EFFECTS(r, type, prev, reason)                                                        \
	", lg AS (INSERT INTO conversion_status_log (tenant_id, conversion_id, old_status, "         \
	"new_status, source, actor, reason) SELECT " r ".tenant_id, " r ".id, " prev ", " r ".status, " \
	"$src, $actor, " reason " FROM " r "), ev AS (INSERT INTO event_outbox (event_id, tenant_id, " \
	"type, data) SELECT $evt, " r ".tenant_id, '" type "', " EVENT_DATA(r, prev) " FROM " r       \
	"), pb AS (INSERT INTO affiliate_postbacks (tenant_id, conversion_id, affiliate_id, status) "  \
	"SELECT " r ".tenant_id, " r ".id, " r ".affiliate_id, " r ".status FROM " r " JOIN affiliates f " \
	"ON f.tenant_id = " r ".tenant_id AND f.id = " r ".affiliate_id WHERE coalesce(f.postback_url, '') <> '' " \
	"ON CONFLICT (conversion_id, status) DO NOTHING) "

/* $n placeholders above are named for reading; numbered here. */
static char *number_params(struct arena *a, const char *sql, const char *const *names, int n)
{
	struct buf b;
	buf_init(&b, a);
	for (const char *p = sql; *p;) {
		int hit = -1;
		if (*p == '$')
			for (int i = 0; i < n; i++) {
				size_t l = strlen(names[i]);
				if (!strncmp(p + 1, names[i], l) && !(p[1 + l] >= 'a' && p[1 + l] <= 'z'))
					hit = i;
			}
		if (hit < 0) {
			buf_putc(&b, *p++);
			continue;
		}
		buf_printf(&b, "$%d", hit + 1);
		p += 1 + strlen(names[hit]);
	}
	return buf_ok(&b) ? b.p : NULL;
}

static const char *INSERT_SQL =
	"WITH ins AS (INSERT INTO conversions (tenant_id, offer_id, affiliate_id, advertiser_id, link_id, "
	"click_id, click_created_at, transaction_id, txid_derived, status, reason, event, amount, currency, "
	"payout_currency, payout, revenue, adv_sub1, adv_sub2, adv_sub3, adv_sub4, adv_sub5, source) "
	"VALUES ($tenant, $offer, $aff, $adv, $link, $click, $clickat, $txid, $derived, $status, $reason, "
	"$event, $amount, $cur, $pcur, $payout, $revenue, $s1, $s2, $s3, $s4, $s5, $src) "
	"ON CONFLICT (tenant_id, offer_id, transaction_id) DO NOTHING RETURNING *)"
	SIDE_EFFECTS("ins", "conversion.created", "NULL::text", "ins.reason")
	"SELECT id, payout::text FROM ins";
static const char *const insert_names[] = {
	"tenant", "offer", "aff", "adv", "link", "clickat", "click", "txid", "derived", "status",
	"reason", "event", "amount", "cur", "pcur", "payout", "revenue", "s1", "s2", "s3", "s4", "s5",
	"src", "actor", "evt"};

static const char *UPDATE_SQL =
	"WITH up AS (UPDATE conversions SET status = $status, updated_at = now() "
	"WHERE id = $id AND status = $old RETURNING *)"
	SIDE_EFFECTS("up", "conversion.updated", "$old::text", "$why::text")
	"SELECT id, payout::text FROM up";
static const char *const update_names[] = {"status", "id", "old", "src", "actor", "evt", "why"};

/* Both statements, numbered once per process. */
static const char *insert_sql, *update_sql;
static char numbered_insert[8192], numbered_update[4096];

static int prepare_sql(struct arena *a)
{
	if (insert_sql)
		return 0;
	char *i = number_params(a, INSERT_SQL, insert_names, 25);
	char *u = number_params(a, UPDATE_SQL, update_names, 7);
	if (!i || !u || strlen(i) >= sizeof numbered_insert || strlen(u) >= sizeof numbered_update)
		return -1;
	strcpy(numbered_insert, i);
	strcpy(numbered_update, u);
	insert_sql = numbered_insert;
	update_sql = numbered_update;
	return 0;
}

static const char *ll(struct arena *a, long long v);
static int ensure_prepared(PGconn *c, int which, const char *sql, int n);

/* The hot statements are prepared once per connection: the lookup goes to
 * a partitioned table, and planning it on every request (pruning the
 * clicks partitions) cost more than running it. A reconnect (new backend
 * pid) prepares again. */
enum { PS_LOOKUP, PS_INSERT, PS_UPDATE, PS_EXISTING, PS_TENANT, PS_FAST, PS_COUNT };
static const char *ps_names[PS_COUNT] = {"conv_lookup", "conv_insert", "conv_update", "conv_existing",
					 "conv_tenant", "conv_fast"};
/* The tenant for row-level security, prepared too: parsing and planning
 * even this one-liner on every postback was measurable. */
static const char TENANT_SQL[] = "SELECT set_config('afftok.tenant_id', $1, true)";
static PGconn *ps_conn;
static int ps_pid;
static unsigned ps_done;

static void put_result(void *r)
{
	PQclear(r);
}

static PGresult *exec_prepared(struct app *app, struct arena *a, int which, const char *sql, int n,
			       const char *const *p)
{
	if (!db_ready(app->db))
		return NULL;
	PGconn *c = db_conn(app->db);
	db_guard(app->db, true); /* a hanging server must not block the worker for ever */
	int prep = ensure_prepared(c, which, sql, n);
	PGresult *res = prep == 0 ? PQexecPrepared(c, ps_names[which], n, p, NULL, NULL, 0) : NULL;
	db_guard(app->db, false);
	if (prep != 0)
		return NULL;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		log_warn("conversion: %s: %s %s", ps_names[which], state ? state : "",
			 res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		if (state && !strcmp(state, "26000"))
			ps_done = 0; /* prepared statements gone: prepare again next time */
		PQclear(res);
		return NULL;
	}
	if (arena_defer(a, put_result, res) != 0)
		return NULL;
	return res;
}

/* Several statements in one round trip (libpq pipeline mode). q[i].prep is
 * a PS_* statement (prepared first, outside the pipeline) or -1 for q[i].sql
 * as it is. res[i] gets each result (on the arena). Returns 0 when all
 * succeeded, else -1 (an open transaction is then aborted). */
struct pq {
	int prep;
	const char *sql;
	int n;
	const char *const *p;
};

static int ensure_prepared(PGconn *c, int which, const char *sql, int n)
{
	if (c != ps_conn || PQbackendPID(c) != ps_pid) {
		ps_conn = c;
		ps_pid = PQbackendPID(c);
		ps_done = 0;
	}
	if (ps_done & (1u << which))
		return 0;
	PGresult *r = PQprepare(c, ps_names[which], sql, n, NULL);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		log_warn("conversion: prepare %s: %s", ps_names[which], PQresultErrorMessage(r));
	PQclear(r);
	if (!ok)
		return -1;
	ps_done |= 1u << which;
	return 0;
}

static int pipe_body(PGconn *c, struct arena *a, const struct pq *q, int n, PGresult **res);

static int pipe_run(struct app *app, struct arena *a, const struct pq *q, int n, PGresult **res)
{
	if (!db_ready(app->db))
		return -1;
	db_guard(app->db, true); /* a hanging server must not block the worker for ever */
	int rc = pipe_body(db_conn(app->db), a, q, n, res);
	db_guard(app->db, false);
	return rc;
}

static int pipe_body(PGconn *c, struct arena *a, const struct pq *q, int n, PGresult **res)
{
	for (int i = 0; i < n; i++)
		if (q[i].prep >= 0 && ensure_prepared(c, q[i].prep, q[i].sql, q[i].n) != 0)
			return -1;
	if (!PQenterPipelineMode(c))
		return -1;
	bool ok = true;
	for (int i = 0; i < n && ok; i++)
		ok = q[i].prep >= 0 ? PQsendQueryPrepared(c, ps_names[q[i].prep], q[i].n, q[i].p, NULL, NULL, 0)
				    : PQsendQueryParams(c, q[i].sql, q[i].n, NULL, q[i].p, NULL, NULL, 0);
	if (!ok || !PQpipelineSync(c)) {
		log_warn("conversion: pipeline: %s", PQerrorMessage(c));
		return -1; /* the connection is broken: db_ready() reconnects */
	}
	for (int i = 0; i < n; i++) {
		PGresult *r = PQgetResult(c);
		res[i] = r;
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			if (ok && st != PGRES_PIPELINE_ABORTED)
				log_warn("conversion: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
			ok = false;
		}
		if (r) {
			arena_defer(a, put_result, r);
			PQclear(PQgetResult(c)); /* the NULL that ends each statement */
		}
	}
	PGresult *sync = PQgetResult(c);
	PQclear(sync);
	PQexitPipelineMode(c);
	return ok ? 0 : -1;
}

/* own_scope: the transaction conv_record opens and ends itself. */
static bool scope_open;

static const char *scope_tenant(struct arena *a, const struct auth *au)
{
	return au->tenant_id > 0 ? ll(a, au->tenant_id) : "*";
}

/* Opens the scope unless it is open (own_scope only): BEGIN and the tenant
 * in one round trip. */
static int need_scope(struct app *app, struct arena *a, const struct conv_actor *who)
{
	if (!who->own_scope || scope_open)
		return 0;
	const char *tp[1] = {scope_tenant(a, &who->auth)};
	const struct pq q[2] = {
		{-1, "BEGIN", 0, NULL},
		{PS_TENANT, TENANT_SQL, 1, tp},
	};
	PGresult *r2[2];
	scope_open = true;
	return pipe_run(app, a, q, 2, r2);
}

static int scope_close(struct app *app, struct arena *a, bool commit)
{
	scope_open = false;
	PGresult *res = db_exec(app->db, a, commit ? "COMMIT" : "ROLLBACK", 0, NULL);
	if (commit && res && !strcmp(PQcmdStatus(res), "COMMIT"))
		return 0;
	if (commit && res == NULL)
		db_exec(app->db, a, "ROLLBACK", 0, NULL);
	return commit ? -1 : 0;
}

static const char *LOOKUP_SQL =
	"SELECT ka.postback_secret_enc, ka.require_signature, x.tenant_id, x.offer_id, x.affiliate_id, "
	"x.link_id, x.billable, x.advertiser_id, x.currency, x.payout_type, x.payout_value, "
	"x.revenue_type, x.revenue_value, x.expired, x.cap_daily_conversions, x.cap_total_conversions, "
	"x.trust_pixel, x.convert_invalid "
	"FROM (SELECT 1) one "
	"LEFT JOIN advertisers ka ON ka.tenant_id = $3::bigint AND ka.id = $4::bigint "
	"LEFT JOIN LATERAL (SELECT c.tenant_id, c.offer_id, c.affiliate_id, c.link_id, c.billable, "
	"  o.advertiser_id, o.currency, o.payout_type, o.payout_value::text, o.revenue_type, "
	"  o.revenue_value::text, c.created_at < now() - make_interval(days => o.attribution_days) AS expired, "
	"  o.cap_daily_conversions, o.cap_total_conversions, o.trust_pixel, o.convert_invalid "
	"  FROM clicks c JOIN offers o ON o.tenant_id = c.tenant_id AND o.id = c.offer_id "
	"  WHERE c.click_id = $1 AND c.created_at = $2::timestamptz) x ON true";

enum { L_SECRET, L_REQSIG, L_TENANT, L_OFFER, L_AFF, L_LINK, L_BILLABLE, L_ADV, L_CUR, L_PTYPE,
       L_PVAL, L_RTYPE, L_RVAL, L_EXPIRED, L_CAPD, L_CAPT, L_TRUSTPX, L_CONVINV,
       /* afftok_postback() only (sql/095): what it did */
       F_KIND, F_ID, F_STATUS, F_PAYOUT, F_CLICK, F_REASON };

/* The fast path (sql/095_postback_function.sql): lookup, checks and insert
 * with its audit row, event and affiliate postback in one statement and one
 * round trip, when the conversion is new and nothing needs C; else it
 * returns the same columns as LOOKUP_SQL (and, for a known transaction id,
 * that conversion) and the code below goes on from there. */
static const char FAST_SQL[] =
	"SELECT * FROM afftok_postback($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
	"$15, $16, $17, $18, $19, $20)";

static int fail(struct conv_result *out, enum conv_outcome o, const char *msg)
{
	out->outcome = o;
	out->message = msg;
	return 0;
}

static int unavailable(struct app *app, struct conv_result *out)
{
	log_warn("conversion: database: %s", db_error(app->db));
	return fail(out, CO_UNAVAILABLE, "the database is unavailable");
}

static bool clickid_shape(const char *id)
{
	if (strlen(id) != CLICKID_LEN)
		return false;
	return strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == CLICKID_LEN;
}

static const char *ll(struct arena *a, long long v)
{
	return arena_sprintf(a, "%lld", v);
}

static int store_pending(struct app *app, struct arena *a, const struct conv_input *in,
			 const struct conv_actor *who, const char *clickat, struct conv_result *out)
{
	const char *params = conv_input_to_json(a, in);
	if (params == NULL)
		return -1;
	const struct auth *au = &who->auth;
	PGresult *res = db_execp(app->db, a,
		"INSERT INTO pending_postbacks (tenant_id, click_id, click_created_at, source, key_id, "
		"key_scope, advertiser_id, params, next_try_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, "
		"now() + interval '2 seconds') RETURNING id",
		au->tenant_id ? ll(a, au->tenant_id) : NULL, in->click_id, clickat, who->source,
		au->key_id ? ll(a, au->key_id) : NULL,
		au->scope == SCOPE_NONE ? NULL : au->scope == SCOPE_ADVERTISER ? "advertiser" : "admin",
		au->advertiser_id ? ll(a, au->advertiser_id) : NULL, params);
	if (res == NULL || PQntuples(res) != 1)
		return unavailable(app, out);
	out->pending_id = atoll(db_val(res, 0, 0));
	out->outcome = CO_PENDING_CLICK;
	return 0;
}

static enum conv_sig check_signature(struct app *app, struct arena *a, const struct conv_actor *who,
				     const char *secret_enc)
{
	if (secret_enc == NULL)
		return who->signature ? SIG_MISMATCH : SIG_MISSING;
	unsigned char *secret;
	int n = secret_decrypt(&app->mk, a, secret_enc, &secret);
	if (n < 0) {
		log_err("conversion: advertiser postback secret does not decrypt");
		return SIG_MISMATCH;
	}
	return conv_sig_verify(secret, (size_t)n, who->signature, who->signed_payload,
			       who->signed_len, now_ms() / 1000);
}

/* Caps: serialised per offer with a transaction-scoped advisory lock, so
 * concurrent postbacks cannot both take the last slot. Sets *over when the
 * daily or total cap is already reached by live (not rejected) conversions.
 * *exists when the transaction id is already known (no new slot taken). */
static int check_caps(struct app *app, struct arena *a, const char *tenant, const char *offer,
		      const char *txid, const char *capd, const char *capt, bool *over, bool *exists)
{
	*over = *exists = false;
	if (db_execp(app->db, a, "SELECT pg_advisory_xact_lock(30, ($1::bigint % 2147483647)::int)",
		     offer) == NULL)
		return -1;
	PGresult *res = db_execp(app->db, a,
		"SELECT EXISTS (SELECT 1 FROM conversions WHERE tenant_id = $1 AND offer_id = $2 AND transaction_id = $3), "
		"(SELECT count(*) FROM conversions WHERE offer_id = $2 AND status <> 'rejected' "
		"  AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), "
		"CASE WHEN $4::bigint IS NOT NULL THEN (SELECT count(*) FROM conversions "
		"  WHERE offer_id = $2 AND status <> 'rejected') END",
		tenant, offer, txid, capt);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	*exists = is_t(db_val(res, 0, 0));
	long long today = atoll(db_val(res, 0, 1));
	if (capd && today >= atoll(capd))
		*over = true;
	if (capt && db_val(res, 0, 2) && atoll(db_val(res, 0, 2)) >= atoll(capt))
		*over = true;
	return 0;
}

static void fill_ok(struct conv_result *out, enum conv_outcome o, const char *id, const char *payout,
		    const char *click_id)
{
	out->outcome = o;
	snprintf(out->conversion_id, sizeof out->conversion_id, "%s", id);
	snprintf(out->click_id, sizeof out->click_id, "%s", click_id);
	int64_t p = 0;
	if (payout == NULL || !dec_parse(payout, &p))
		p = 0;
	dec_format(p, 2, out->payout);
}

static int record(struct app *app, struct arena *a, const struct conv_input *in,
		  const struct conv_actor *who, struct conv_result *out)
{
	const struct auth *au = &who->auth;
	if (prepare_sql(a) != 0)
		return -1;

	/* 1. The click id alone: shape (400), MAC and time (404 at once). */
	int64_t ms;
	if (!clickid_shape(in->click_id)) {
		out->param = "click_id";
		return fail(out, CO_BAD_PARAM, "is not a click id");
	}
	if (!clickid_parse(app->mk.clickid, in->click_id, &ms) || ms > now_ms() + 300000)
		return fail(out, CO_CLICK_NOT_FOUND, "no such click");
	char clickat[40];
	ms_to_ts(ms, clickat);

	/* 2. One round trip: the key's advertiser (signature settings) and
	 * the click with its offer, straight from the click's partition. */
	const char *lp[4] = {in->click_id, clickat, ll(a, au->tenant_id),
			     ll(a, au->scope == SCOPE_ADVERTISER ? au->advertiser_id : 0)};
	const char *actor = au->key_id ? arena_sprintf(a, "key:%lld", au->key_id)
				       : arena_sprintf(a, "%s", who->source);
	char amount[DEC_STR_MAX], evt[32];
	dec_format(in->amount, 0, amount);
	/* A conversion already known (the fast path found it): id, status,
	 * payout, click id. */
	const char *known[4] = {NULL, NULL, NULL, NULL};
	PGresult *res;
	if (who->own_scope && who->signature == NULL) {
		/* The fast path: one statement, its own transaction. A
		 * signature needs the secret decrypted here first: not this way. */
		new_event_id(evt);
		evt[28] = '\0';
		const char *fp[20] = {
			scope_tenant(a, au), in->click_id, clickat, lp[2], lp[3],
			who->check_signature && au->scope == SCOPE_ADVERTISER ? "t" : "f",
			in->transaction_id, in->txid_derived ? "t" : "f", conv_status_name(in->status),
			in->event, in->has_amount ? amount : NULL, in->currency, in->adv_sub[0],
			in->adv_sub[1], in->adv_sub[2], in->adv_sub[3], in->adv_sub[4], who->source, actor,
			evt};
		res = exec_prepared(app, a, PS_FAST, FAST_SQL, 20, fp);
		if (res == NULL || PQntuples(res) != 1)
			return unavailable(app, out);
		const char *kind = db_val(res, 0, F_KIND);
		enum conv_status st;
		if (kind && !strcmp(kind, "recorded")) {
			if (!conv_status_from_name(db_val(res, 0, F_STATUS), &st))
				return -1;
			fill_ok(out, CO_RECORDED, db_val(res, 0, F_ID), db_val(res, 0, F_PAYOUT), in->click_id);
			out->status = conv_status_name(st);
			out->reason = db_val(res, 0, F_REASON);
			return 0;
		}
		if (kind && !strcmp(kind, "exists"))
			for (int i = 0; i < 4; i++)
				known[i] = db_val(res, 0, F_ID + i);
	} else if (who->own_scope) {
		/* BEGIN, the tenant for RLS and the lookup: one round trip. */
		const char *tp[1] = {scope_tenant(a, au)};
		const struct pq q[3] = {
			{-1, "BEGIN", 0, NULL},
			{PS_TENANT, TENANT_SQL, 1, tp},
			{PS_LOOKUP, LOOKUP_SQL, 4, lp},
		};
		PGresult *r3[3];
		scope_open = true;
		if (pipe_run(app, a, q, 3, r3) != 0)
			return unavailable(app, out);
		res = r3[2];
	} else {
		res = exec_prepared(app, a, PS_LOOKUP, LOOKUP_SQL, 4, lp);
	}
	if (res == NULL || PQntuples(res) != 1)
		return unavailable(app, out);

	/* 3. Signature, before anything about the click is told. Advertiser
	 * keys only: the secret is the advertiser's; an admin key is the
	 * tenant's own credential. */
	if (who->check_signature && au->scope == SCOPE_ADVERTISER &&
	    (is_t(db_val(res, 0, L_REQSIG)) || who->signature)) {
		enum conv_sig s = check_signature(app, a, who, db_val(res, 0, L_SECRET));
		if (s != SIG_OK)
			return fail(out, CO_BAD_SIGNATURE, conv_sig_reason(s));
	}

	/* 4. Not (yet) there. Another tenant's click looks exactly the same. */
	const char *tenant = db_val(res, 0, L_TENANT);
	if (tenant == NULL || (au->tenant_id && atoll(tenant) != au->tenant_id)) {
		if (who->may_defer && ms >= now_ms() - CONV_PENDING_MAX_AGE_S * 1000LL)
			return need_scope(app, a, who) != 0 ? unavailable(app, out)
							     : store_pending(app, a, in, who, clickat, out);
		return fail(out, CO_CLICK_NOT_FOUND, "no such click");
	}
	if (au->scope == SCOPE_ADVERTISER && atoll(db_val(res, 0, L_ADV)) != au->advertiser_id)
		return fail(out, CO_FORBIDDEN, "this click belongs to another advertiser's offer");
	if (is_t(db_val(res, 0, L_EXPIRED)))
		return fail(out, CO_EXPIRED, "the offer's attribution window has passed");

	/* 5. Money, exactly. */
	struct conv_money_rule prule, rrule;
	if (!conv_money_rule_parse(db_val(res, 0, L_PTYPE), db_val(res, 0, L_PVAL), &prule) ||
	    !conv_money_rule_parse(db_val(res, 0, L_RTYPE), db_val(res, 0, L_RVAL), &rrule))
		return -1;
	const char *offer_cur = db_val(res, 0, L_CUR);
	const char *cur = in->currency ? in->currency : offer_cur;
	if ((prule.percent || rrule.percent) && !in->has_amount) {
		out->param = "amount";
		return fail(out, CO_BAD_PARAM, "is required: this offer pays a percentage of the sale");
	}
	if ((prule.percent || rrule.percent) && strcmp(cur, offer_cur) != 0) {
		out->param = "currency";
		out->message = arena_sprintf(a, "must be the offer's currency (%s) for a percentage payout", offer_cur);
		out->outcome = CO_BAD_PARAM;
		return 0;
	}
	int64_t payout = conv_money(&prule, in->has_amount, in->amount);
	int64_t revenue = conv_money(&rrule, in->has_amount, in->amount);
	if (payout < 0 || revenue < 0) {
		out->param = "amount";
		return fail(out, CO_BAD_PARAM, "is too large");
	}

	/* 6. Status: untrusted pixels stay pending; invalid clicks and full
	 * caps are recorded as rejected, with the reason in the answer. */
	enum conv_status status = in->status;
	const char *reason = NULL;
	if (!strcmp(who->source, "pixel") && !is_t(db_val(res, 0, L_TRUSTPX)))
		status = CONV_PENDING;
	if (!is_t(db_val(res, 0, L_BILLABLE)) && !is_t(db_val(res, 0, L_CONVINV))) {
		status = CONV_REJECTED;
		reason = "invalid_click";
	}
	const char *offer = db_val(res, 0, L_OFFER);
	const char *capd = db_val(res, 0, L_CAPD), *capt = db_val(res, 0, L_CAPT);
	bool exists = false;
	if ((capd || capt) && status != CONV_REJECTED) {
		bool over;
		if (need_scope(app, a, who) != 0 ||
		    check_caps(app, a, tenant, offer, in->transaction_id, capd, capt, &over, &exists) != 0)
			return unavailable(app, out);
		if (over && !exists) {
			status = CONV_REJECTED;
			reason = "cap_reached";
		}
	}

	char pay[DEC_STR_MAX], rev[DEC_STR_MAX];
	dec_format(payout, 2, pay);
	dec_format(revenue, 2, rev);
	if (known[0])
		exists = true;
	for (int attempt = 0; attempt < 4; attempt++) {
		/* 7. New: insert; a conflict means it exists (or just got in). */
		if (!exists) {
			new_event_id(evt);
			evt[28] = '\0';
			const char *p[25] = {
				tenant, offer, db_val(res, 0, L_AFF), db_val(res, 0, L_ADV), db_val(res, 0, L_LINK),
				clickat, in->click_id, in->transaction_id, in->txid_derived ? "t" : "f",
				conv_status_name(status), reason, in->event, in->has_amount ? amount : NULL, cur,
				offer_cur, pay, rev, in->adv_sub[0], in->adv_sub[1], in->adv_sub[2], in->adv_sub[3],
				in->adv_sub[4], who->source, actor, evt};
			PGresult *ins;
			if (need_scope(app, a, who) != 0)
				return unavailable(app, out);
			if (who->own_scope) {
				/* The insert and its COMMIT: one round trip. */
				const struct pq q[2] = {{PS_INSERT, insert_sql, 25, p}, {-1, "COMMIT", 0, NULL}};
				PGresult *r2[2];
				int prc = pipe_run(app, a, q, 2, r2);
				scope_open = prc != 0; /* failed: still to roll back */
				if (prc != 0 || strcmp(PQcmdStatus(r2[1]), "COMMIT") != 0)
					return unavailable(app, out);
				ins = r2[0];
			} else {
				ins = exec_prepared(app, a, PS_INSERT, insert_sql, 25, p);
			}
			if (ins == NULL)
				return unavailable(app, out);
			if (PQntuples(ins) == 1) {
				fill_ok(out, CO_RECORDED, db_val(ins, 0, 0), db_val(ins, 0, 1), in->click_id);
				out->status = conv_status_name(status);
				out->reason = reason;
				return 0;
			}
		}
		/* 8. Known transaction: same status is a duplicate, a permitted
		 * change an update (guarded by the old status, so two racing
		 * changes cannot both apply), anything else 409. The fast path
		 * may have read it already. */
		const char *ex[4];
		if (known[0]) {
			memcpy(ex, known, sizeof ex);
			known[0] = NULL;
		} else {
			/* The insert committed nothing: a new scope for what follows. */
			if (need_scope(app, a, who) != 0)
				return unavailable(app, out);
			const char *ep[3] = {tenant, offer, in->transaction_id};
			PGresult *er = exec_prepared(app, a, PS_EXISTING,
				"SELECT id, status, payout::text, click_id FROM conversions "
				"WHERE tenant_id = $1 AND offer_id = $2 AND transaction_id = $3", 3, ep);
			if (er == NULL)
				return unavailable(app, out);
			if (PQntuples(er) == 0) {
				exists = false;
				continue;
			}
			for (int i = 0; i < 4; i++)
				ex[i] = db_val(er, 0, i);
		}
		enum conv_status old;
		if (!conv_status_from_name(ex[1], &old))
			return -1;
		/* A change asked for by the advertiser: rejections AffTok made
		 * itself (cap, invalid click) do not make a repeat a change. */
		enum conv_status want = in->status;
		if (!strcmp(who->source, "pixel") && !is_t(db_val(res, 0, L_TRUSTPX)))
			want = CONV_PENDING;
		switch (conv_transition(old, want)) {
		case CONV_T_DUPLICATE:
			fill_ok(out, CO_DUPLICATE, ex[0], ex[2], ex[3]);
			out->status = conv_status_name(old);
			return 0;
		case CONV_T_CONFLICT:
			fill_ok(out, CO_CONFLICT, ex[0], ex[2], ex[3]);
			out->status = conv_status_name(old);
			out->message = arena_sprintf(a, "the conversion is %s and cannot become %s",
						     conv_status_name(old), conv_status_name(want));
			return 0;
		case CONV_T_UPDATE:
			break;
		}
		new_event_id(evt);
		evt[28] = '\0';
		const char *u[7] = {conv_status_name(want), ex[0], conv_status_name(old),
				    who->source, actor, evt, NULL};
		if (need_scope(app, a, who) != 0)
			return unavailable(app, out);
		PGresult *up = exec_prepared(app, a, PS_UPDATE, update_sql, 7, u);
		if (up == NULL)
			return unavailable(app, out);
		if (PQntuples(up) == 1) {
			fill_ok(out, CO_UPDATED, db_val(up, 0, 0), db_val(up, 0, 1), ex[3]);
			out->status = conv_status_name(want);
			out->previous_status = conv_status_name(old);
			return 0;
		}
		exists = true; /* changed under us: look again */
	}
	return fail(out, CO_CONFLICT, "the conversion is changing concurrently; retry");
}

int conv_record(struct app *app, struct arena *a, const struct conv_input *in,
		const struct conv_actor *who, struct conv_result *out)
{
	memset(out, 0, sizeof *out);
	scope_open = false;
	int rc = record(app, a, in, who, out);
	if (scope_open) {
		bool keep = rc == 0 && conv_outcome_http(out->outcome) < 400;
		if (scope_close(app, a, keep) != 0 && keep)
			return unavailable(app, out);
	}
	return rc;
}

int conv_set_status(struct app *app, struct arena *a, long long tenant, const char *id,
		    enum conv_status to, const char *actor, const char *reason, struct conv_result *out)
{
	memset(out, 0, sizeof *out);
	if (prepare_sql(a) != 0)
		return -1;
	PGresult *ex = db_execp(app->db, a,
		"SELECT id, status, payout::text, click_id FROM conversions "
		"WHERE tenant_id = $1 AND id = $2::bigint FOR UPDATE", ll(a, tenant), id);
	if (ex == NULL)
		return unavailable(app, out);
	if (PQntuples(ex) == 0)
		return fail(out, CO_CLICK_NOT_FOUND, "no such conversion");
	enum conv_status old;
	if (!conv_status_from_name(db_val(ex, 0, 1), &old))
		return -1;
	if (old == to) {
		fill_ok(out, CO_DUPLICATE, db_val(ex, 0, 0), db_val(ex, 0, 2), db_val(ex, 0, 3));
		out->status = conv_status_name(old);
		return 0;
	}
	/* A person with an admin key may make any change (that is what the
	 * manual route is for); it is audited with its reason and announced
	 * like any other change. */
	char evt[32];
	new_event_id(evt);
	const char *u[7] = {conv_status_name(to), db_val(ex, 0, 0), conv_status_name(old), "manual",
			    actor, evt, reason};
	PGresult *up = exec_prepared(app, a, PS_UPDATE, update_sql, 7, u);
	if (up == NULL)
		return unavailable(app, out);
	if (PQntuples(up) != 1) /* impossible under FOR UPDATE */
		return fail(out, CO_CONFLICT, "the conversion changed concurrently; retry");
	fill_ok(out, CO_UPDATED, db_val(up, 0, 0), db_val(up, 0, 1), db_val(ex, 0, 3));
	out->status = conv_status_name(to);
	out->previous_status = conv_status_name(old);
	return 0;
}

char *conv_json(struct app *app, struct arena *a, long long tenant, const char *id)
{
	PGresult *res = db_execp(app->db, a,
		"SELECT (" EVENT_DATA("c", "NULL::text") " - 'previous_status' || "
		"jsonb_build_object('id', c.id::text))::text FROM conversions c "
		"WHERE c.tenant_id = $1 AND c.id = $2::bigint", ll(a, tenant), id);
	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	return arena_strdup(a, db_val(res, 0, 0));
}
