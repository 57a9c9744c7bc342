/* afftokctl webhooks [--once] [--loop S] [--consumer NAME] [--claim-idle-ms N]:
 * turns events into webhook deliveries and sends them (SPEC §5).
 *
 * Fan-out. Events come from the Redis Stream afftok:events (fields type, id,
 * tenant_id, created_at, data), read by the consumer group "webhooks". Each
 * entry becomes, in one SQL statement, a webhook_events row (the exact body)
 * and one pending delivery per matching endpoint; only then is it XACKed,
 * so a consumer killed in between leaves the entry pending: this host's own
 * leftovers are read again first (ID 0), other consumers' are taken over
 * with XAUTOCLAIM once idle for --claim-idle-ms (60 s). Storing twice is
 * harmless (unique event id, unique endpoint+event). An entry that can
 * never be stored (no id, data not a JSON object), or that was handed out
 * 5 times without an acknowledgement (it kills its consumers), goes to the
 * stream afftok:events:dead with the reason, and is acknowledged.
 *
 * Delivery. Due deliveries are claimed with FOR UPDATE SKIP LOCKED, at most
 * per_endpoint in flight to one endpoint and max_parallel in all; claiming
 * moves next_attempt_at past the timeout (a lease), so a job killed while
 * sending leaves them due again. Each attempt is signed afresh and sent with
 * src/httpout.c; a 2xx within the timeout is success, anything else is
 * retried on the schedule of src/webhook.h until it is dead. A 410, a target
 * the SSRF guard refuses, or failing for disable_after_hours disables the
 * endpoint, and the tenant's other endpoints get a webhook.endpoint_disabled
 * event.
 *
 * Each run also deletes events older than [cron] retention_days whose
 * deliveries have all ended (deliveries and attempts go with them).
 *
 * --once: stop as soon as there is nothing to read, nothing due and nothing
 * in flight (tests). Otherwise run for [webhooks] loop_s, then finish what
 * is in flight. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "crashpoint.h"
#include "db.h"
#include "httpout.h"
#include "jobs.h"
#include "kv.h"
#include "log.h"
#include "secret.h"
#include "util.h"
#include "webhook.h"

#define STREAM "afftok:events"
#define DEAD_STREAM "afftok:events:dead"
#define GROUP "webhooks"
#define READ_COUNT "200"

struct opts {
	bool once;
	long loop_s;
	const char *consumer;
	long claim_idle_ms;
};

/* One delivery in flight: what the request points to lives here. */
struct flight {
	struct httpout_req req;
	long long id, tenant_id, endpoint_id;
	int attempt;
	int64_t started_ms, give_up_ms;
	char *url, *body, *event_id;
	char hdr_id[128], hdr_ts[48], hdr_sig[128], hdr_ct[48];
	const char *headers[4];
};

/* A finished attempt waiting to be recorded. */
struct outcome {
	long long id, endpoint_id;
	const char *status, *result, *response, *disable;
	int64_t next_ms, started_ms;
	int code;
	long latency_ms;
	bool ok;
	char error[200];
};

struct state {
	struct app *app;
	struct outcome *batch;
	int nbatch, batch_cap;
	struct arena *scratch; /* reset after each step */
	struct httpout *out;
	struct opts o;
	long long endpoint_ids[4096]; /* in flight per endpoint (small: linear scan) */
	int endpoint_n[4096];
	int nendpoints;
	long sent, succeeded, failed;
	bool db_down;
	/* Tenants with an enabled endpoint, read once per batch of entries:
	 * most events of a busy installation belong to tenants without
	 * webhooks, and they are acknowledged without a statement each. */
	long long *subscribed;
	int nsubscribed;
};

/* ---- fan-out: stream -> PostgreSQL ---- */

static bool db_error_is_transient(struct db *db)
{
	const char *s = db_sqlstate(db);
	/* connection (08), resources (53), operator intervention (57),
	 * serialization/deadlock (40): try again later; anything else is the
	 * entry's fault. */
	return s == NULL || s[0] == '\0' || !strncmp(s, "08", 2) || !strncmp(s, "53", 2) ||
	       !strncmp(s, "57", 2) || !strncmp(s, "40", 2);
}

static const char *field(const redisReply *fields, const char *name)
{
	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && !strcmp(k->str, name))
			return v->str;
	}
	return NULL;
}

static bool valid_type(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n > 0 && n <= 100 && strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789._") == n;
}

/* created_at may be ISO 8601 text or Unix seconds/milliseconds. */
static const char *event_time(struct arena *a, const char *v)
{
	int64_t n;
	char iso[32];
	if (v == NULL || *v == '\0') {
		webhook_iso_time(now_ms(), iso);
		return arena_strdup(a, iso);
	}
	if (parse_i64(v, &n) && n > 0) {
		webhook_iso_time(n < 100000000000LL ? n * 1000 : n, iso);
		return arena_strdup(a, iso);
	}
	/* ISO text is passed on as it is; PostgreSQL refuses a bad one when it
	 * is stored, which dead-letters the entry. */
	size_t len = strlen(v);
	if (len < 10 || len > 40 || strspn(v, "0123456789-:.TZ+ ") != len)
		return NULL;
	return v;
}

static void dead_letter(struct state *s, const char *entry_id, const redisReply *fields, const char *why)
{
	const char *argv[64];
	size_t lens[64];
	int n = 0;
	argv[n++] = "XADD", argv[n++] = DEAD_STREAM, argv[n++] = "MAXLEN", argv[n++] = "~",
	argv[n++] = "100000", argv[n++] = "*";
	argv[n++] = "reason", argv[n++] = why, argv[n++] = "source_id", argv[n++] = entry_id;
	argv[n++] = "consumer_group", argv[n++] = GROUP;
	for (size_t i = 0; fields && fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements && n < 62;
	     i += 2) {
		if (fields->element[i]->type != REDIS_REPLY_STRING ||
		    fields->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		argv[n++] = fields->element[i]->str;
		argv[n++] = fields->element[i + 1]->str;
	}
	for (int i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	if (kv_cmdargv(s->app->kv, s->scratch, n, argv, lens) == NULL)
		log_err("stream entry %s: dead-lettering failed: %s", entry_id, kv_error(s->app->kv));
	else
		log_warn("stream entry %s dead-lettered: %s", entry_id, why);
}

static int load_subscribed(struct state *s)
{
	PGresult *res = db_exec(s->app->db, s->scratch,
	                        "SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE enabled ORDER BY 1", 0, NULL);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	s->subscribed = arena_alloc(s->scratch, sizeof *s->subscribed * (size_t)(n ? n : 1));
	if (s->subscribed == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		s->subscribed[i] = atoll(db_val(res, i, 0));
	s->nsubscribed = n;
	return 0;
}

static bool subscribed(const struct state *s, long long tenant)
{
	int lo = 0, hi = s->nsubscribed;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (s->subscribed[mid] == tenant)
			return true;
		if (s->subscribed[mid] < tenant)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Stores one entry. Returns 1 stored (ack it), 0 poison (dead-lettered, ack
 * it), -1 the database is down (leave it pending). */
static int store_entry(struct state *s, const char *entry_id, const redisReply *fields)
{
	struct arena *a = s->scratch;
	const char *type = field(fields, "type"), *id = field(fields, "id");
	const char *tenant = field(fields, "tenant_id"), *data = field(fields, "data");
	const char *created = event_time(a, field(fields, "created_at"));
	int64_t tid;
	const char *why = NULL;
	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		why = "entry was deleted";
	else if (!valid_type(type))
		why = "missing or malformed type";
	else if (id == NULL || *id == '\0' || strlen(id) > 100)
		why = "missing or malformed id";
	else if (tenant == NULL || !parse_i64(tenant, &tid) || tid <= 0)
		why = "missing or malformed tenant_id";
	else if (created == NULL)
		why = "malformed created_at";
	if (why) {
		if (fields && fields->type == REDIS_REPLY_ARRAY)
			dead_letter(s, entry_id, fields, why);
		return 0;
	}
	if (!subscribed(s, tid))
		return 1; /* nobody to tell: acknowledged, as the statement would store nothing */
	const char *body = webhook_body(a, id, type, created, tid, data ? data : "{}");
	if (body == NULL) {
		dead_letter(s, entry_id, fields, "data is not a JSON object");
		return 0;
	}
	if (webhook_enqueue(s->app, a, id, tid, type, body, created, entry_id, 0, 0) >= 0)
		return 1;
	if (db_error_is_transient(s->app->db)) {
		s->db_down = true;
		return -1;
	}
	char reason[200];
	snprintf(reason, sizeof reason, "not storable: SQLSTATE %s", db_sqlstate(s->app->db));
	dead_letter(s, entry_id, fields, reason);
	return 0;
}

/* Handles an array of [id, fields] entries; returns how many were read, or
 * -1 when PostgreSQL or Redis failed. */
static int handle_entries(struct state *s, const redisReply *entries)
{
	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
		return 0;
	if (entries->elements > 0 && load_subscribed(s) != 0) {
		if (db_error_is_transient(s->app->db))
			s->db_down = true;
		return -1;
	}
	const char *ack[1024 + 3];
	int nack = 0;
	ack[nack++] = "XACK", ack[nack++] = STREAM, ack[nack++] = GROUP;
	int rc = 0;
	for (size_t i = 0; i < entries->elements && nack < 1024 + 3; i++) {
		const redisReply *e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		const redisReply *fields = e->elements > 1 ? e->element[1] : NULL;
		int st = store_entry(s, e->element[0]->str, fields);
		if (st < 0) {
			rc = -1;
			break;
		}
		ack[nack++] = e->element[0]->str;
	}
	if (nack > 3) {
		crash_point("webhooks.before_ack"); /* deliveries stored, entries not acknowledged */
		size_t lens[1024 + 3];
		for (int i = 0; i < nack; i++)
			lens[i] = strlen(ack[i]);
		if (kv_cmdargv(s->app->kv, s->scratch, nack, ack, lens) == NULL)
			return -1; /* stored but not acked: read again later, stored again harmlessly */
	}
	return rc < 0 ? -1 : (int)entries->elements;
}

static int ensure_group(struct state *s)
{
	/* From the stream's beginning ("0"), so events written before the first
	 * run are delivered too. */
	if (kv_cmd(s->app->kv, s->scratch, "XGROUP CREATE %s %s 0 MKSTREAM", STREAM, GROUP) != NULL)
		return 0;
	return strstr(kv_error(s->app->kv), "BUSYGROUP") ? 0 : -1;
}

/* This consumer's own unacknowledged entries (a previous run that died). */
static int read_own_pending(struct state *s)
{
	for (;;) {
		redisReply *r = kv_cmd(s->app->kv, s->scratch, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s 0",
		                       GROUP, s->o.consumer, READ_COUNT, STREAM);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
			return 0;
		const redisReply *entries = r->element[0]->elements > 1 ? r->element[0]->element[1] : NULL;
		if (entries == NULL || entries->elements == 0)
			return 0;
		if (handle_entries(s, entries) < 0)
			return -1;
		arena_reset(s->scratch);
	}
}

/* An entry handed out MAX_DELIVERIES times without an acknowledgement is
 * one that kills (or hangs) every consumer that reads it before it can be
 * stored: it goes to the dead-letter stream instead of taking the next
 * consumer down too. Returns 0, or -1 when Redis failed. */
#define MAX_DELIVERIES 5
static int drop_poison(struct state *s)
{
	char idle[24];
	snprintf(idle, sizeof idle, "%ld", s->o.claim_idle_ms);
	redisReply *r = kv_cmd(s->app->kv, s->scratch, "XPENDING %s %s IDLE %s - + 100", STREAM, GROUP, idle);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
		    e->element[0]->type != REDIS_REPLY_STRING || e->element[3]->integer < MAX_DELIVERIES)
			continue;
		const char *id = e->element[0]->str;
		redisReply *x = kv_cmd(s->app->kv, s->scratch, "XRANGE %s %s %s", STREAM, id, id);
		const redisReply *fields = NULL;
		if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 1 && x->element[0]->elements > 1)
			fields = x->element[0]->element[1];
		char why[80];
		snprintf(why, sizeof why, "handed out %lld times without being acknowledged",
		         e->element[3]->integer);
		dead_letter(s, id, fields, why);
		if (kv_cmd(s->app->kv, s->scratch, "XACK %s %s %s", STREAM, GROUP, id) == NULL)
			return -1;
	}
	return 0;
}

/* Entries other consumers read but never acknowledged. */
static int autoclaim(struct state *s)
{
	char cursor[64] = "0-0", idle[24];
	snprintf(idle, sizeof idle, "%ld", s->o.claim_idle_ms);
	int total = 0;
	do {
		redisReply *r = kv_cmd(s->app->kv, s->scratch, "XAUTOCLAIM %s %s %s %s %s COUNT %s", STREAM,
		                       GROUP, s->o.consumer, idle, cursor, READ_COUNT);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
			return -1;
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str ? r->element[0]->str : "0-0");
		int n = handle_entries(s, r->element[1]);
		if (n < 0)
			return -1;
		if (n > 0)
			log_info("took over %d entries left by other consumers", n);
		total += n;
		arena_reset(s->scratch);
	} while (strcmp(cursor, "0-0") != 0);
	return total;
}

/* New entries; returns how many were read, or -1. */
static int read_new(struct state *s)
{
	redisReply *r = kv_cmd(s->app->kv, s->scratch, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s >", GROUP,
	                       s->o.consumer, READ_COUNT, STREAM);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->elements < 2)
		return 0;
	return handle_entries(s, r->element[0]->element[1]);
}

/* ---- delivery ---- */

static int *inflight_slot(struct state *s, long long endpoint, bool create)
{
	for (int i = 0; i < s->nendpoints; i++)
		if (s->endpoint_ids[i] == endpoint)
			return &s->endpoint_n[i];
	if (!create || s->nendpoints >= 4096)
		return NULL;
	s->endpoint_ids[s->nendpoints] = endpoint;
	s->endpoint_n[s->nendpoints] = 0;
	return &s->endpoint_n[s->nendpoints++];
}

static void inflight_drop(struct state *s, long long endpoint)
{
	for (int i = 0; i < s->nendpoints; i++) {
		if (s->endpoint_ids[i] != endpoint)
			continue;
		if (--s->endpoint_n[i] <= 0) {
			s->nendpoints--;
			s->endpoint_ids[i] = s->endpoint_ids[s->nendpoints];
			s->endpoint_n[i] = s->endpoint_n[s->nendpoints];
		}
		return;
	}
}

static void flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	free(f->url);
	free(f->body);
	free(f->event_id);
	free(f);
}

static double jitter(void)
{
	unsigned char r[4];
	rand_bytes(r, sizeof r);
	return (double)((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]) /
	       4294967296.0;
}

/* Disables an endpoint (once), ends its pending deliveries and tells the
 * tenant's other endpoints. */
static void disable_endpoint(struct state *s, long long endpoint, const char *reason)
{
	struct arena *a = s->scratch;
	char id[24];
	snprintf(id, sizeof id, "%lld", endpoint);
	PGresult *r = db_execp(
	    s->app->db, a,
	    "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(),"
	    " updated_at = now() WHERE id = $1 AND enabled RETURNING tenant_id",
	    id, reason);
	if (r == NULL || PQntuples(r) != 1)
		return;
	long long tenant = atoll(db_val(r, 0, 0));
	log_warn("endpoint %lld disabled: %s", endpoint, reason);
	db_execp(s->app->db, a,
	         "UPDATE webhook_deliveries SET status = 'dead', last_error = 'endpoint disabled: ' || $2,"
	         " finished_at = now(), updated_at = now() WHERE endpoint_id = $1 AND status = 'pending'",
	         id, reason);
	char evt[32], iso[32];
	webhook_event_id(evt);
	webhook_iso_time(now_ms(), iso);
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "endpoint_id", json_object_new_string(id));
	json_object_object_add(d, "reason", json_object_new_string(reason));
	json_object_object_add(d, "disabled_at", json_object_new_string(iso));
	const char *data = arena_strdup(a, json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
	json_object_put(d);
	const char *body = webhook_body(a, evt, "webhook.endpoint_disabled", iso, tenant, data);
	if (body && webhook_enqueue(s->app, a, evt, tenant, "webhook.endpoint_disabled", body, iso, NULL, 0,
	                            endpoint) < 0)
		log_err("endpoint %lld: could not queue the disabled notice: %s", endpoint,
		        db_error(s->app->db));
}

/* The start of an answer as text PostgreSQL accepts: valid UTF-8 without
 * NUL or control characters (a cut multi-byte sequence at the end, binary
 * bytes and controls become '?'). */
static const char *text_clean(struct arena *a, const char *p, size_t n)
{
	char *out = arena_alloc(a, n + 1);
	if (out == NULL)
		return NULL;
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, o = 0;
	while (i < n) {
		unsigned char c = u[i];
		size_t len = c < 0x80             ? 1
		             : (c & 0xe0) == 0xc0 ? 2
		             : (c & 0xf0) == 0xe0 ? 3
		             : (c & 0xf8) == 0xf0 ? 4
		                                  : 0;
		bool good = len > 0 && i + len <= n && !(len == 2 && c < 0xc2) && !(len == 4 && c > 0xf4);
		for (size_t k = 1; good && k < len; k++)
			good = (u[i + k] & 0xc0) == 0x80;
		/* overlong forms and UTF-16 surrogates, which PostgreSQL refuses */
		if (good && ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] >= 0xa0) ||
		             (c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] >= 0x90)))
			good = false;
		if (good && len == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			good = false;
		if (!good) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, u + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return out;
}

static const char *attempt_result(const struct httpout_req *r)
{
	if (r->result == HTTPOUT_ANSWERED)
		return r->status >= 200 && r->status < 300 ? "success" : "http_error";
	return httpout_result_name(r->result);
}

/* Appends one element to a PostgreSQL array literal; NULL stays NULL. */
static void arr_add(struct buf *b, const char *v)
{
	if (b->len > 1)
		buf_putc(b, ',');
	if (v == NULL) {
		buf_puts(b, "NULL");
		return;
	}
	buf_putc(b, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *v);
	}
	buf_putc(b, '"');
}

/* Records the finished attempts of this turn in one statement (round trips,
 * not CPU, limit a single job), then disables the endpoints that asked for
 * it: a 410, a refused target, or failing for disable_after_hours. */
static void flush(struct state *s)
{
	if (s->nbatch == 0)
		return;
	struct arena *a = s->scratch;
	enum { ID, STATUS, NEXT, CODE, LAT, RESP, ERR, STARTED, RESULT, OK, NCOL };
	struct buf col[NCOL];
	for (int c = 0; c < NCOL; c++) {
		buf_init(&col[c], a);
		buf_putc(&col[c], '{');
	}
	for (int i = 0; i < s->nbatch; i++) {
		const struct outcome *o = &s->batch[i];
		arr_add(&col[ID], arena_sprintf(a, "%lld", o->id));
		arr_add(&col[STATUS], o->status);
		arr_add(&col[NEXT], arena_sprintf(a, "%lld", (long long)o->next_ms));
		arr_add(&col[CODE], o->code ? arena_sprintf(a, "%d", o->code) : NULL);
		arr_add(&col[LAT], arena_sprintf(a, "%ld", o->latency_ms));
		arr_add(&col[RESP], o->response);
		arr_add(&col[ERR], o->error[0] ? o->error : NULL);
		arr_add(&col[STARTED], arena_sprintf(a, "%lld", (long long)o->started_ms));
		arr_add(&col[RESULT], o->result);
		arr_add(&col[OK], o->ok ? "t" : "f");
	}
	const char *p[NCOL + 1];
	for (int c = 0; c < NCOL; c++) {
		buf_putc(&col[c], '}');
		p[c] = buf_ok(&col[c]) ? col[c].p : NULL;
	}
	p[NCOL] = arena_sprintf(a, "%ld", s->app->cfg.webhooks_disable_after_hours);
	const char *sql =
	    "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::int[], "
	    "$6::text[],"
	    "   $7::text[], $8::bigint[], $9::text[], $10::bool[])"
	    "   AS r(id, status, next_ms, code, latency, response, error, started_ms, result, ok)),"
	    " d AS (UPDATE webhook_deliveries w SET status = r.status,"
	    "   next_attempt_at = CASE WHEN r.status = 'pending' THEN to_timestamp(r.next_ms / 1000.0) ELSE "
	    "w.next_attempt_at END,"
	    "   last_status_code = r.code, last_latency_ms = r.latency, last_response = r.response,"
	    "   last_error = r.error, updated_at = now(),"
	    "   finished_at = CASE WHEN r.status <> 'pending' THEN now() END"
	    "   FROM r WHERE w.id = ANY ($1::bigint[]) AND w.id = r.id AND w.status = 'pending'"
	    "   RETURNING w.id, w.tenant_id, w.attempts, w.endpoint_id),"
	    " t AS (INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, started_at, result, "
	    "status_code,"
	    "   latency_ms, response, error) SELECT d.tenant_id, d.id, d.attempts, to_timestamp(r.started_ms "
	    "/ 1000.0),"
	    "   r.result, r.code, r.latency, r.response, r.error FROM d JOIN r ON r.id = d.id),"
	    /* One success in the batch ends an endpoint's failure run. */
	    " x AS (SELECT d.endpoint_id, bool_or(r.ok) AS any_ok FROM d JOIN r ON r.id = d.id GROUP BY 1)"
	    " UPDATE webhook_endpoints e SET failing_since = CASE WHEN x.any_ok THEN NULL"
	    "   ELSE coalesce(e.failing_since, now()) END"
	    " FROM x WHERE e.id = x.endpoint_id AND (e.failing_since IS NOT NULL OR NOT x.any_ok)"
	    " RETURNING e.id, NOT x.any_ok AND e.failing_since <= now() - make_interval(hours => $11::int)";
	PGresult *r = NULL;
	for (int c = 0; c < NCOL && p[0]; c++)
		if (p[c] == NULL)
			p[0] = NULL;
	crash_point("webhooks.before_record"); /* sent, outcomes not recorded */
	if (p[0])
		r = db_exec(s->app->db, a, sql, NCOL + 1, p);
	if (r == NULL) {
		/* The lease brings them back: sent again later, at least once. */
		log_err("recording %d attempts failed: %s", s->nbatch, db_error(s->app->db));
		s->db_down = true;
	}
	for (int i = 0; i < s->nbatch; i++)
		if (s->batch[i].disable)
			disable_endpoint(s, s->batch[i].endpoint_id, s->batch[i].disable);
	for (int i = 0; r && i < PQntuples(r); i++) {
		if (strcmp(db_val(r, i, 1), "t") != 0)
			continue;
		disable_endpoint(s, atoll(db_val(r, i, 0)),
		                 arena_sprintf(a, "failing for more than %ld hours",
		                               s->app->cfg.webhooks_disable_after_hours));
	}
	s->nbatch = 0;
}

/* A finished attempt: decides what becomes of the delivery and queues the
 * record for flush(). */
static void on_done(struct httpout_req *req, void *arg)
{
	struct state *s = arg;
	struct flight *f = req->user;
	inflight_drop(s, f->endpoint_id);
	s->sent++;
	if (s->nbatch >= s->batch_cap)
		flush(s);
	struct outcome *o = &s->batch[s->nbatch++];
	memset(o, 0, sizeof *o);
	int64_t now = now_ms();
	o->id = f->id;
	o->endpoint_id = f->endpoint_id;
	o->ok = req->result == HTTPOUT_ANSWERED && req->status >= 200 && req->status < 300;
	o->status = "pending";
	o->next_ms = now;
	o->code = req->result == HTTPOUT_ANSWERED ? req->status : 0;
	o->latency_ms = req->latency_ms;
	o->started_ms = f->started_ms;
	o->result = attempt_result(req);
	o->response = req->head_len ? text_clean(s->scratch, req->head, req->head_len) : NULL;
	if (o->ok) {
		o->status = "done";
		s->succeeded++;
	} else {
		s->failed++;
		if (req->result == HTTPOUT_ANSWERED)
			snprintf(o->error, sizeof o->error, "answered %d", req->status);
		else
			snprintf(o->error, sizeof o->error, "%s", req->error);
		if (req->result == HTTPOUT_ANSWERED && req->status == 410) {
			o->disable = "answered 410 Gone";
			o->status = "dead";
		} else if (!httpout_temporary(req->result) && req->result != HTTPOUT_ANSWERED) {
			/* A refused or malformed target: permanent, not a retry loop. */
			o->disable = arena_strdup(s->scratch, o->error);
			o->status = "dead";
		} else {
			int64_t next = webhook_next_attempt_ms(f->attempt, now, f->give_up_ms, jitter());
			if (next < 0)
				o->status = "dead";
			else
				o->next_ms = next;
		}
	}
	log_debug("delivery %lld attempt %d: %s %d in %ld ms -> %s", f->id, f->attempt, o->result,
	          req->status, req->latency_ms, o->status);
	flight_free(f);
}

/* Fills the signature header: the current key, and the previous one while
 * its overlap lasts. Returns 0 or -1 (a secret that does not decrypt). */
static int sign(struct state *s, struct flight *f, const char *enc, const char *prev_enc, long long ts)
{
	unsigned char *key = NULL;
	int n = secret_decrypt(&s->app->mk, s->scratch, enc, &key);
	if (n <= 0)
		return -1;
	char sig[WEBHOOK_SIG_LEN + 1];
	webhook_sign(key, (size_t)n, f->event_id, ts, f->body, strlen(f->body), sig);
	int len = snprintf(f->hdr_sig, sizeof f->hdr_sig, "webhook-signature: %s", sig);
	if (prev_enc) {
		n = secret_decrypt(&s->app->mk, s->scratch, prev_enc, &key);
		if (n > 0) {
			webhook_sign(key, (size_t)n, f->event_id, ts, f->body, strlen(f->body), sig);
			snprintf(f->hdr_sig + len, sizeof f->hdr_sig - (size_t)len, " %s", sig);
		}
	}
	return 0;
}

/* Endpoints at their in-flight limit, as a PostgreSQL array literal. */
static const char *busy_endpoints(struct state *s)
{
	struct buf b;
	buf_init(&b, s->scratch);
	buf_putc(&b, '{');
	bool first = true;
	for (int i = 0; i < s->nendpoints; i++) {
		if (s->endpoint_n[i] < s->app->cfg.webhooks_per_endpoint)
			continue;
		buf_printf(&b, "%s%lld", first ? "" : ",", s->endpoint_ids[i]);
		first = false;
	}
	buf_putc(&b, '}');
	return buf_ok(&b) ? b.p : "{}";
}

/* Claims due deliveries for the free slots and starts them. Returns how
 * many were started, or -1 on a database error. */
static int claim(struct state *s)
{
	int slots = httpout_free_slots(s->out);
	if (slots <= 0)
		return 0;
	struct arena *a = s->scratch;
	char limit[24], per[24], lease[24], retry[24];
	snprintf(limit, sizeof limit, "%d", slots);
	snprintf(per, sizeof per, "%ld", s->app->cfg.webhooks_per_endpoint);
	/* The lease outlasts the request timeout, so a finished attempt is
	 * always recorded before the delivery could be claimed again. */
	snprintf(lease, sizeof lease, "%ld", s->app->cfg.outbound_timeout_s + 60);
	snprintf(retry, sizeof retry, "%ld", s->app->cfg.webhooks_retry_hours);
	const char *sql =
	    "WITH due AS (SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries"
	    "   WHERE status = 'pending' AND next_attempt_at <= now() AND endpoint_id <> ALL ($2::bigint[])"
	    "   ORDER BY next_attempt_at LIMIT 5000),"
	    " fair AS (SELECT id, next_attempt_at FROM (SELECT id, next_attempt_at, row_number() OVER"
	    "   (PARTITION BY endpoint_id ORDER BY next_attempt_at) AS rn FROM due) x WHERE rn <= $3::int),"
	    /* Lookups by id arrays keep the plan on the primary key whatever the
	     * statistics say (right after a fan-out they know nothing yet). */
	    " pick AS (SELECT d.id FROM webhook_deliveries d"
	    "   WHERE d.id = ANY (ARRAY(SELECT id FROM fair ORDER BY next_attempt_at LIMIT $1::int))"
	    "   AND d.status = 'pending' AND d.next_attempt_at <= now() FOR UPDATE SKIP LOCKED)"
	    " UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
	    "   next_attempt_at = now() + make_interval(secs => $4::int),"
	    "   give_up_at = coalesce(d.give_up_at, now() + make_interval(hours => $5::int)), updated_at = "
	    "now()"
	    " FROM webhook_endpoints e, webhook_events v"
	    " WHERE d.id = ANY (ARRAY(SELECT id FROM pick)) AND e.id = d.endpoint_id AND v.event_id = "
	    "d.event_id"
	    " RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempts,"
	    "   (extract(epoch FROM d.give_up_at) * 1000)::bigint, e.url, e.secret_enc,"
	    "   CASE WHEN e.prev_secret_until > now() THEN e.prev_secret_enc END, e.enabled, v.payload";
	const char *busy = busy_endpoints(s);
	int64_t t0 = mono_ms();
	PGresult *r = db_execp(s->app->db, a, sql, limit, busy, per, lease, retry);
	if (mono_ms() - t0 > 1000)
		log_warn("claiming took %lld ms", (long long)(mono_ms() - t0));
	if (r == NULL) {
		log_err("claiming deliveries failed: %s", db_error(s->app->db));
		s->db_down = true;
		return -1;
	}
	if (PQntuples(r) > 0)
		crash_point("webhooks.after_claim"); /* leased, nothing sent */
	int started = 0;
	long long ts = now_ms() / 1000;
	for (int i = 0; i < PQntuples(r); i++) {
		struct flight *f = calloc(1, sizeof *f);
		if (f == NULL)
			break;
		f->id = atoll(db_val(r, i, 0));
		f->tenant_id = atoll(db_val(r, i, 1));
		f->endpoint_id = atoll(db_val(r, i, 2));
		f->event_id = strdup(db_val(r, i, 3));
		f->attempt = atoi(db_val(r, i, 4));
		f->give_up_ms = atoll(db_val(r, i, 5));
		f->url = strdup(db_val(r, i, 6));
		f->body = strdup(db_val(r, i, 10));
		f->started_ms = now_ms();
		f->req.user = f;
		int *n = inflight_slot(s, f->endpoint_id, true);
		if (n)
			(*n)++;
		if (f->event_id == NULL || f->url == NULL || f->body == NULL ||
		    sign(s, f, db_val(r, i, 7), db_val(r, i, 8), ts) != 0) {
			log_err("delivery %lld: cannot prepare (secret does not decrypt?)", f->id);
			/* Recorded as a failed attempt so it is retried, then dead. */
			f->req.result = HTTPOUT_NETWORK;
			snprintf(f->req.error, sizeof f->req.error,
			         "could not sign: endpoint secret unreadable");
			on_done(&f->req, s);
			continue;
		}
		if (strcmp(db_val(r, i, 9), "t") != 0) {
			/* Disabled after it was queued. */
			db_execp(
			    s->app->db, a,
			    "UPDATE webhook_deliveries SET status = 'dead', last_error = 'endpoint disabled',"
			    " finished_at = now(), updated_at = now() WHERE id = $1",
			    db_val(r, i, 0));
			inflight_drop(s, f->endpoint_id);
			flight_free(f);
			continue;
		}
		snprintf(f->hdr_ct, sizeof f->hdr_ct, "Content-Type: application/json");
		snprintf(f->hdr_id, sizeof f->hdr_id, "webhook-id: %s", f->event_id);
		snprintf(f->hdr_ts, sizeof f->hdr_ts, "webhook-timestamp: %lld", ts);
		f->headers[0] = f->hdr_ct, f->headers[1] = f->hdr_id, f->headers[2] = f->hdr_ts;
		f->headers[3] = f->hdr_sig;
		f->req.url = f->url;
		f->req.method = "POST";
		f->req.body = f->body;
		f->req.body_len = strlen(f->body);
		f->req.headers = f->headers;
		f->req.nheaders = 4;
		if (httpout_add(s->out, &f->req) != 0) {
			inflight_drop(s, f->endpoint_id);
			flight_free(f); /* the lease brings it back */
			continue;
		}
		started++;
	}
	return started;
}

/* Old history goes after [cron] retention_days: events none of whose
 * deliveries is still pending, with their deliveries and attempts. In
 * batches, so a run never holds many locks for long. */
static void prune(struct state *s)
{
	const char *days = arena_sprintf(s->scratch, "%ld", s->app->cfg.cron_retention_days);
	PGresult *r = db_execp(
	    s->app->db, s->scratch,
	    "DELETE FROM webhook_events WHERE event_id IN (SELECT v.event_id FROM webhook_events v"
	    " WHERE v.received_at < now() - make_interval(days => $1::int) AND NOT EXISTS"
	    " (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.event_id AND d.status = 'pending')"
	    " LIMIT 5000)",
	    days);
	if (r && atoi(PQcmdTuples(r)) > 0)
		log_info("pruned %s events older than %s days", PQcmdTuples(r), days);
	arena_reset(s->scratch);
}

/* ---- the loop ---- */

static int parse_opts(struct app *app, int argc, char **argv, struct opts *o)
{
	static char consumer[64];
	snprintf(consumer, sizeof consumer, "%s", app->instance);
	o->once = false;
	o->loop_s = app->cfg.webhooks_loop_s;
	o->consumer = consumer;
	o->claim_idle_ms = 60000;
	static const struct option longopts[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"loop", required_argument, NULL, 'l'},
	    {"consumer", required_argument, NULL, 'c'},
	    {"claim-idle-ms", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o': o->once = true; break;
		case 'l': o->loop_s = atol(optarg); break;
		case 'c': o->consumer = optarg; break;
		case 'i': o->claim_idle_ms = atol(optarg); break;
		default: return -1;
		}
	}
	return 0;
}

int job_webhooks(struct app *app, struct arena *a, int argc, char **argv)
{
	static struct state s;
	memset(&s, 0, sizeof s);
	s.app = app;
	if (parse_opts(app, argc, argv, &s.o) != 0) {
		fprintf(
		    stderr,
		    "usage: afftokctl webhooks [--once] [--loop S] [--consumer NAME] [--claim-idle-ms N]\n");
		return EX_USAGE;
	}
	if (!db_ready(app->db) || !kv_ready(app->kv))
		return EX_TEMPFAIL;
	/* A result lost in a crash only means the webhook is sent again, which
	 * at-least-once delivery allows; not waiting for each WAL flush is what
	 * lets one job record hundreds of attempts a second. */
	db_exec(app->db, a, "SET synchronous_commit = off", 0, NULL);
	s.scratch = arena_new(65536);
	s.batch_cap = (int)app->cfg.webhooks_max_parallel + 16;
	s.batch = calloc((size_t)s.batch_cap, sizeof *s.batch);
	s.out = httpout_new(app->cfg.outbound_allow_private, (int)app->cfg.webhooks_max_parallel,
	                    app->cfg.outbound_timeout_s * 1000, on_done, &s);
	if (s.scratch == NULL || s.out == NULL || s.batch == NULL) {
		free(s.batch);
		arena_free(s.scratch);
		httpout_free(s.out);
		return EX_OSERR;
	}
	int rc = EX_OK;
	if (ensure_group(&s) != 0 || drop_poison(&s) != 0 || read_own_pending(&s) != 0 || autoclaim(&s) < 0) {
		log_err("reading %s failed: %s", STREAM, s.db_down ? db_error(app->db) : kv_error(app->kv));
		rc = EX_TEMPFAIL;
		goto out;
	}
	prune(&s);
	int64_t end = mono_ms() + s.o.loop_s * 1000, next_claim = 0, next_autoclaim = mono_ms() + 30000;
	bool stopping = false;
	for (;;) {
		int64_t now = mono_ms();
		int got = 0, started = 0;
		if (!stopping && now >= end)
			stopping = true;
		if (!stopping) {
			got = read_new(&s);
			if (got < 0) {
				rc = EX_TEMPFAIL;
				stopping = true;
			}
			if (now >= next_autoclaim) {
				drop_poison(&s);
				autoclaim(&s);
				next_autoclaim = now + 30000;
			}
		}
		if (!stopping && (now >= next_claim || got > 0)) {
			started = claim(&s);
			if (started < 0) {
				rc = EX_TEMPFAIL;
				stopping = true;
			}
			/* Nothing due: look again in a while, not on every turn. */
			next_claim = started > 0 ? now : now + 500;
		}
		flush(&s);
		arena_reset(s.scratch);
		int running = httpout_poll(s.out, started > 0 || got > 0 ? 5 : 50);
		flush(&s);
		arena_reset(s.scratch);
		if (s.db_down && rc == EX_OK) {
			rc = EX_TEMPFAIL;
			stopping = true;
		}
		if (s.o.once && !stopping && got == 0 && started <= 0 && running == 0) {
			/* Idle: but a delivery may have become due meanwhile. */
			int more = claim(&s);
			flush(&s);
			if (more == 0 && httpout_poll(s.out, 0) == 0)
				stopping = true;
			flush(&s);
		}
		if (stopping && running == 0 && httpout_poll(s.out, 0) == 0) {
			flush(&s);
			break;
		}
	}
out:
	log_info("sent %ld (%ld ok, %ld failed)", s.sent, s.succeeded, s.failed);
	httpout_free(s.out);
	arena_free(s.scratch);
	free(s.batch);
	return rc;
}
