/* /admin/webhooks (SPEC §5, §6): endpoints as a resource (src/resource.h)
 * plus what plain CRUD does not cover: creating with a secret shown once,
 * rotating it with an overlap, the SSRF check of the URL, test events,
 * the delivery log and replaying dead letters.
 *
 *   POST   /admin/webhooks {"url","events":[..],"description"}  201 + "secret"
 *   GET    /admin/webhooks, /admin/webhooks/<id>
 *   PATCH  /admin/webhooks/<id> {"url","events","description","enabled"}
 *   DELETE /admin/webhooks/<id>                                   204
 *   POST   /admin/webhooks/<id>/rotate?overlap_s=                200 + "secret"
 *   POST   /admin/webhooks/<id>/test                             202 {"event_id"}
 *   GET    /admin/webhooks/<id>/deliveries?status=&limit=&cursor=
 *   POST   /admin/webhooks/<id>/replay[?delivery_id=]            200 {"replayed":n}
 *
 * Re-enabling an endpoint (PATCH enabled=true) clears its disabled reason
 * and failure run (a trigger in sql/050_webhooks.sql does it). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "handlers.h"
#include "resource.h"
#include "secret.h"
#include "ssrf.h"
#include "util.h"
#include "webhook.h"

#define EVENT_TYPES                                                                                          \
	"*|conversion.created|conversion.updated|click.rejected|cap.reached|postback.failed|webhook.test|"   \
	"webhook.endpoint_disabled"
#define OVERLAP_MAX_S (30 * 86400)

static const struct field webhook_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "url", .type = F_URL, .flags = FF_REQUIRED, .max = 2048},
    {.name = "description", .type = F_STR, .flags = FF_NULLABLE, .max = 200},
    {.name = "events", .type = F_STRINGS, .flags = FF_REQUIRED, .max = 50, .choices = EVENT_TYPES},
    {.name = "enabled", .type = F_BOOL, .flags = 0},
    {.name = "disabled_reason", .type = F_STR, .flags = FF_READONLY},
    {.name = "disabled_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "failing_since", .type = F_TIME, .flags = FF_READONLY},
    {.name = "previous_secret_until", .type = F_TIME, .flags = FF_READONLY, .column = "prev_secret_until"},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

static const struct resource res_webhooks = {
    .name = "webhook endpoint",
    .table = "webhook_endpoints",
    .fields = webhook_fields,
};

const struct route_param webhook_list_params[] = {
    {"limit", P_INT, false, 4},
    {"cursor", P_TOKEN, false, 32},
    {NULL, 0, false, 0},
};

const struct route_param webhook_rotate_params[] = {
    {"overlap_s", P_INT, false, 8},
    {NULL, 0, false, 0},
};

const struct route_param webhook_deliveries_params[] = {
    {"limit", P_INT, false, 4},
    {"cursor", P_INT, false, 19},
    {"status", P_TOKEN, false, 8},
    {NULL, 0, false, 0},
};

const struct route_param webhook_replay_params[] = {
    {"delivery_id", P_INT, false, 19},
    {NULL, 0, false, 0},
};

static const char *lld(struct arena *a, long long v)
{
	return arena_sprintf(a, "%lld", v);
}

static int not_found(struct req *q, struct resp *r)
{
	resp_error(q, r, 404, "NOT_FOUND", "no such webhook endpoint");
	return 0;
}

/* The SSRF guard at the door: a URL the sender would refuse is refused
 * now, with the reason, instead of failing every delivery later. A name
 * that does not resolve yet is accepted (it is checked again per attempt). */
static int url_refused(struct req *q, struct resp *r, const char *url)
{
	struct app *app = q->app;
	struct ssrf_target t;
	char why[160];
	enum ssrf_verdict v = ssrf_check(url, app->cfg.outbound_allow_private, &t, why, sizeof why);
	ssrf_target_free(&t);
	if (v == SSRF_OK || v == SSRF_DNS)
		return 0;
	resp_error(q, r, 400, "INVALID_PARAMETER", "field 'url': %s", why);
	return 1;
}

/* Answers the endpoint row, with the secret when one was just made. */
static int answer(struct req *q, struct resp *r, const char *id, const char *secret, int status)
{
	PGresult *pr = resource_fetch(q, &res_webhooks, id);
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1)
		return not_found(q, r);
	struct json_object *o = resource_row_json(q, &res_webhooks, pr, 0);
	if (o == NULL)
		return -1;
	if (secret)
		json_object_object_add(o, "secret", json_object_new_string(secret));
	resp_json(q, r, status, o);
	return 0;
}

/* A fresh secret: the text for the caller, the encrypted key for the row. */
static const char *new_secret(struct req *q, char *text)
{
	struct app *app = q->app;
	unsigned char key[WEBHOOK_KEY_LEN];
	webhook_secret_new(key, text);
	const char *enc = secret_encrypt(&app->mk, q->arena, key, sizeof key);
	memset(key, 0, sizeof key);
	return enc;
}

/* POST /admin/webhooks, inside the route's tenant scope. */
static int create(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	char err[256], secret[WEBHOOK_SECRET_LEN + 1];
	struct rvals v;
	if (q->json == NULL || !json_object_is_type(q->json, json_type_object)) {
		resp_error(q, r, 400, "BAD_REQUEST",
		           "the body must be a JSON object (Content-Type: application/json)");
		return 0;
	}
	if (resource_parse(&res_webhooks, q->json, false, q->arena, &v, err, sizeof err) != 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "%s", err);
		return 0;
	}
	for (int i = 0; i < v.n; i++)
		if (!strcmp(v.v[i].column, "url") && url_refused(q, r, v.v[i].value))
			return 0;
	const char *enc = new_secret(q, secret);
	if (enc == NULL || rvals_add(&v, "secret_enc", enc) != 0)
		return -1;
	struct buf sql;
	buf_init(&sql, q->arena);
	buf_puts(&sql, "INSERT INTO webhook_endpoints (tenant_id");
	for (int i = 0; i < v.n; i++)
		buf_printf(&sql, ", %s", v.v[i].column);
	buf_puts(&sql, ") VALUES ($1");
	const char *params[RVALS_MAX + 1];
	params[0] = lld(q->arena, q->auth.tenant_id);
	for (int i = 0; i < v.n; i++) {
		buf_printf(&sql, ", $%d", i + 2);
		params[i + 1] = v.v[i].value;
	}
	buf_puts(&sql, ") RETURNING id");
	if (!buf_ok(&sql))
		return -1;
	PGresult *pr = db_exec(app->db, q->arena, sql.p, v.n + 1, params);
	if (pr == NULL || PQntuples(pr) != 1)
		return pr ? -1 : resource_db_error(q, r);
	int rc = answer(q, r, db_val(pr, 0, 0), secret, 201);
	memset(secret, 0, sizeof secret);
	return rc;
}

int h_admin_webhooks(struct req *q, struct resp *r)
{
	if (q->method == HTTP_POST && q->args[0] == NULL)
		return create(q, r);
	if (q->method == HTTP_PATCH && q->json && json_object_is_type(q->json, json_type_object)) {
		struct json_object *u;
		if (json_object_object_get_ex(q->json, "url", &u) &&
		    json_object_is_type(u, json_type_string) && url_refused(q, r, json_object_get_string(u)))
			return 0;
	}
	return resource_handle(q, r, &res_webhooks);
}

/* POST /admin/webhooks/<id>/rotate?overlap_s= */
int h_admin_webhook_rotate(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0], *ov = req_param(q, "overlap_s");
	long long overlap = app->cfg.webhooks_rotation_overlap_hours * 3600;
	if (ov && (!parse_i64(ov, (int64_t *)&overlap) || overlap < 0 || overlap > OVERLAP_MAX_S)) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'overlap_s' must be 0 to %d",
		           OVERLAP_MAX_S);
		return 0;
	}
	if (!resource_id_valid(id))
		return not_found(q, r);
	char secret[WEBHOOK_SECRET_LEN + 1];
	const char *enc = new_secret(q, secret);
	if (enc == NULL)
		return -1;
	/* The old key keeps signing (a second v1 signature) during the overlap,
	 * so receivers can switch to the new secret at their own pace. */
	PGresult *pr = db_execp(
	    app->db, q->arena,
	    "UPDATE webhook_endpoints SET prev_secret_enc = CASE WHEN $3::int > 0 THEN secret_enc END,"
	    " prev_secret_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int) END,"
	    " secret_enc = $4, updated_at = now() WHERE id = $1 AND tenant_id = $2 RETURNING id",
	    id, lld(q->arena, q->auth.tenant_id), lld(q->arena, overlap), enc);
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1)
		return not_found(q, r);
	int rc = answer(q, r, id, secret, 200);
	memset(secret, 0, sizeof secret);
	return rc;
}

/* POST /admin/webhooks/<id>/test: a webhook.test event for this endpoint
 * alone, sent by the next `afftokctl webhooks` pass like any other. */
int h_admin_webhook_test(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0];
	if (!resource_id_valid(id))
		return not_found(q, r);
	PGresult *pr = db_execp(app->db, q->arena,
	                        "SELECT enabled FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2", id,
	                        lld(q->arena, q->auth.tenant_id));
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1)
		return not_found(q, r);
	if (strcmp(db_val(pr, 0, 0), "t") != 0) {
		resp_error(q, r, 409, "CONFLICT", "the endpoint is disabled; enable it first");
		return 0;
	}
	char evt[32], iso[32];
	webhook_event_id(evt);
	webhook_iso_time(now_ms(), iso);
	const char *data = arena_sprintf(
	    q->arena, "{\"endpoint_id\":\"%s\",\"message\":\"This is a test event from AffTok.\"}", id);
	const char *body = webhook_body(q->arena, evt, "webhook.test", iso, q->auth.tenant_id, data);
	if (body == NULL)
		return -1;
	int n = webhook_enqueue(app, q->arena, evt, q->auth.tenant_id, "webhook.test", body, iso, NULL,
	                        atoll(id), 0);
	if (n < 0)
		return -1;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("queued"));
	json_object_object_add(o, "event_id", json_object_new_string(evt));
	resp_json(q, r, 202, o);
	return 0;
}

/* GET /admin/webhooks/<id>/deliveries: newest first, each with its attempts
 * (time, result, status code, latency, the start of the answer). */
int h_admin_webhook_deliveries(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0], *cursor;
	const char *status = req_param(q, "status");
	long long limit;
	if (resource_page(q, r, &limit, &cursor) != 0)
		return 0;
	if (status && strcmp(status, "pending") && strcmp(status, "done") && strcmp(status, "dead")) {
		resp_error(q, r, 400, "INVALID_PARAMETER",
		           "parameter 'status' must be pending, done or dead");
		return 0;
	}
	if (!resource_id_valid(id))
		return not_found(q, r);
	const char *tenant = lld(q->arena, q->auth.tenant_id);
	PGresult *ep =
	    db_execp(app->db, q->arena, "SELECT 1 FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2",
	             id, tenant);
	if (ep == NULL)
		return -1;
	if (PQntuples(ep) != 1)
		return not_found(q, r);
#define TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	PGresult
	    *
	        pr =
	            db_execp(app->db, q->arena,
	                     "SELECT d.id, d.event_id, v.type, d.status, d.attempts, " TS(
	                         "d.next_attempt_at") ", d.last_status_code,"
	                                              " d.last_latency_ms, d.last_response, "
	                                              "d.last_error, " TS("d.created_at") ", " TS(
	                                                  "d.finished_at") ","
	                                                                   " coalesce((SELECT "
	                                                                   "json_agg(json_build_object('"
	                                                                   "attempt', a.attempt, "
	                                                                   "'started_at', " TS(
	                                                                       "a.started_at") ","
	                                                                                       "   'result', "
	                                                                                       "a.result, "
	                                                                                       "'status_code'"
	                                                                                       ", "
	                                                                                       "a.status_"
	                                                                                       "code, "
	                                                                                       "'latency_ms',"
	                                                                                       " a.latency_"
	                                                                                       "ms, "
	                                                                                       "'response', "
	                                                                                       "a.response,"
	                                                                                       "   'error', "
	                                                                                       "a.error) "
	                                                                                       "ORDER BY "
	                                                                                       "a.id) FROM "
	                                                                                       "webhook_"
	                                                                                       "attempts a "
	                                                                                       "WHERE "
	                                                                                       "a.delivery_"
	                                                                                       "id = d.id), "
	                                                                                       "'[]')"
	                                                                                       " FROM "
	                                                                                       "webhook_"
	                                                                                       "deliveries d "
	                                                                                       "JOIN "
	                                                                                       "webhook_"
	                                                                                       "events v ON "
	                                                                                       "v.event_id = "
	                                                                                       "d.event_id"
	                                                                                       " WHERE "
	                                                                                       "d.endpoint_"
	                                                                                       "id = $1 AND "
	                                                                                       "d.tenant_id "
	                                                                                       "= $2 AND "
	                                                                                       "($3::bigint "
	                                                                                       "IS NULL OR "
	                                                                                       "d.id < "
	                                                                                       "$3::bigint)"
	                                                                                       "   AND "
	                                                                                       "($4::text IS "
	                                                                                       "NULL OR "
	                                                                                       "d.status = "
	                                                                                       "$4) ORDER BY "
	                                                                                       "d.id DESC "
	                                                                                       "LIMIT "
	                                                                                       "$5::int + 1",
	                     id, tenant, cursor, status, lld(q->arena, limit));
#undef TS
	if (pr == NULL)
		return -1;
	static const char *const names[] = {"id",
	                                    "event_id",
	                                    "type",
	                                    "status",
	                                    "attempts",
	                                    "next_attempt_at",
	                                    "last_status_code",
	                                    "last_latency_ms",
	                                    "last_response",
	                                    "last_error",
	                                    "created_at",
	                                    "finished_at"};
	struct json_object *out = json_object_new_object(), *data = json_object_new_array();
	int n = PQntuples(pr);
	for (int i = 0; i < n && i < limit; i++) {
		struct json_object *o = json_object_new_object();
		for (int c = 0; c < 12; c++) {
			const char *val = db_val(pr, i, c);
			struct json_object *jv = NULL;
			if (val && (c == 0 || c == 4 || c == 6 || c == 7))
				jv = json_object_new_int64(atoll(val));
			else if (val)
				jv = json_object_new_string(val);
			json_object_object_add(o, names[c], jv);
		}
		/* Pending deliveries have no "finished" time, done ones no next try. */
		if (strcmp(db_val(pr, i, 3), "pending") != 0)
			json_object_object_add(o, "next_attempt_at", NULL);
		json_object_object_add(o, "attempts_log", json_tokener_parse(db_val(pr, i, 12)));
		json_object_array_add(data, o);
	}
	json_object_object_add(out, "data", data);
	json_object_object_add(out, "next_cursor",
	                       n > limit ? json_object_new_string(db_val(pr, (int)limit - 1, 0)) : NULL);
	resp_json(q, r, 200, out);
	return 0;
}

/* POST /admin/webhooks/<id>/replay[?delivery_id=]: dead deliveries become
 * pending again, due now, with a fresh retry window. */
int h_admin_webhook_replay(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0], *one = req_param(q, "delivery_id");
	if (!resource_id_valid(id) || (one && !resource_id_valid(one)))
		return not_found(q, r);
	const char *tenant = lld(q->arena, q->auth.tenant_id);
	PGresult *ep =
	    db_execp(app->db, q->arena,
	             "SELECT enabled FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2", id, tenant);
	if (ep == NULL)
		return -1;
	if (PQntuples(ep) != 1)
		return not_found(q, r);
	if (strcmp(db_val(ep, 0, 0), "t") != 0) {
		resp_error(q, r, 409, "CONFLICT", "the endpoint is disabled; enable it before replaying");
		return 0;
	}
	PGresult *pr = db_execp(
	    app->db, q->arena,
	    "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), give_up_at = NULL,"
	    " finished_at = NULL, updated_at = now() WHERE endpoint_id = $1 AND tenant_id = $2"
	    " AND status = 'dead' AND ($3::bigint IS NULL OR id = $3::bigint)",
	    id, tenant, one);
	if (pr == NULL)
		return -1;
	int n = atoi(PQcmdTuples(pr));
	if (one && n == 0) {
		resp_error(q, r, 404, "NOT_FOUND", "no such dead delivery");
		return 0;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "replayed", json_object_new_int(n));
	resp_json(q, r, 200, o);
	return 0;
}
