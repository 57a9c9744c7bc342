/* Conversions in: GET/POST /postback (advertisers), GET /pixel (browsers),
 * and GET /admin/postbacks (outgoing affiliate postbacks and their attempts).
 * The rules are src/conversion.c, the storage src/convstore.c. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "convstore.h"
#include "db.h"
#include "handlers.h"
#include "log.h"

static void answer(struct req *q, struct resp *r, const struct conv_result *res)
{
	int status = conv_outcome_http(res->outcome);
	switch (res->outcome) {
	case CO_RECORDED:
	case CO_UPDATED:
	case CO_DUPLICATE:
		break;
	case CO_PENDING_CLICK:
		r->status = 202;
		r->content_type = "application/json";
		buf_puts(&r->body, "{\"status\":\"pending_click\"}\n");
		return;
	case CO_BAD_PARAM:
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' %s", res->param, res->message);
		return;
	case CO_BAD_SIGNATURE:
		resp_error(q, r, 401, "INVALID_SIGNATURE", "%s", res->message);
		return;
	case CO_FORBIDDEN:
		resp_error(q, r, 403, "FORBIDDEN", "%s", res->message);
		return;
	case CO_CLICK_NOT_FOUND:
		resp_error(q, r, 404, "CLICK_NOT_FOUND", "no click with this click_id");
		return;
	case CO_CONFLICT:
		resp_error(q, r, 409, "CONFLICT", "%s", res->message);
		return;
	case CO_EXPIRED:
		resp_error(q, r, 410, "ATTRIBUTION_EXPIRED", "%s", res->message);
		return;
	case CO_UNAVAILABLE:
		resp_error(q, r, 503, "UNAVAILABLE", "the conversion could not be stored; retry");
		return;
	}
	struct buf *b = &r->body;
	r->status = status;
	r->content_type = "application/json";
	buf_printf(b, "{\"status\":\"%s\",\"conversion_id\":\"%s\"",
		   res->outcome == CO_RECORDED ? "recorded" : res->outcome == CO_UPDATED ? "updated" : "duplicate",
		   res->conversion_id);
	if (res->outcome != CO_DUPLICATE) {
		buf_puts(b, ",\"click_id\":");
		buf_json_str(b, res->click_id);
		buf_printf(b, ",\"payout\":\"%s\"", res->payout);
	}
	buf_printf(b, ",\"conversion_status\":\"%s\"", res->status);
	if (res->previous_status)
		buf_printf(b, ",\"previous_status\":\"%s\"", res->previous_status);
	if (res->reason)
		buf_printf(b, ",\"reason\":\"%s\"", res->reason);
	buf_puts(b, "}\n");
}

int h_postback(struct req *q, struct resp *r)
{
	struct conv_input in;
	const char *why;
	const char *bad = conv_input_from_req(q, &in, &why);
	if (bad) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' %s", bad, why);
		return 0;
	}
	/* The signature covers the raw body of a POST, the raw query of a GET. */
	bool post = q->method == HTTP_POST;
	struct conv_actor who = {
		.source = "postback",
		.auth = q->auth,
		.check_signature = true,
		.signature = q->signature,
		.signed_payload = post ? (q->body ? q->body : "") : q->query,
		.signed_len = post ? q->body_len : strlen(q->query),
		.may_defer = true,
		/* The tenant scope (RLS) is conv_record's own: it pipelines BEGIN
		 * with the lookup and COMMIT with the insert (two round trips). */
		.own_scope = true,
	};
	struct conv_result res;
	if (conv_record(q->app, q->arena, &in, &who, &res) != 0)
		return -1;
	answer(q, r, &res);
	return 0;
}

/* 1x1 transparent GIF. */
static const unsigned char gif[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
	0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
	0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* The pixel never shows an error: whatever happens the browser gets the
 * GIF (the outcome is in X-AffTok-Status for debugging and the SDK tests). */
int h_pixel(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *outcome = "invalid";
	struct conv_input in;
	const char *why;
	if (conv_input_from_req(q, &in, &why) == NULL) {
		/* No key: the tenant is the click's, so the scope covers every
		 * tenant and each query filters by what the click row says. */
		struct conv_actor who = {.source = "pixel", .may_defer = true, .own_scope = true};
		struct conv_result res;
		static const char *names[] = {
			[CO_RECORDED] = "recorded", [CO_DUPLICATE] = "duplicate", [CO_UPDATED] = "updated",
			[CO_PENDING_CLICK] = "pending_click", [CO_BAD_PARAM] = "invalid",
			[CO_BAD_SIGNATURE] = "invalid", [CO_FORBIDDEN] = "invalid",
			[CO_CLICK_NOT_FOUND] = "click_not_found", [CO_CONFLICT] = "conflict",
			[CO_EXPIRED] = "expired", [CO_UNAVAILABLE] = "unavailable"};
		outcome = "unavailable";
		if (db_ready(app->db) && conv_record(app, q->arena, &in, &who, &res) == 0)
			outcome = names[res.outcome];
	}
	r->status = 200;
	r->content_type = "image/gif";
	resp_header(r, "Cache-Control", "no-store, no-cache, must-revalidate");
	resp_header(r, "X-AffTok-Status", "%s", outcome);
	buf_append(&r->body, gif, sizeof gif);
	return 0;
}

/* GET /admin/postbacks?limit=&cursor=&conversion_id=&state=: newest first,
 * each with its attempts. The cursor is the last id of the previous page. */
int h_admin_postbacks(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *limit = req_param(q, "limit");
	long n = limit ? atol(limit) : 50;
	if (n < 1 || n > 500) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'limit' must be from 1 to 500");
		return 0;
	}
	const char *cursor = req_param(q, "cursor");
	const char *state = req_param(q, "state");
	if (state && strcmp(state, "queued") && strcmp(state, "delivered") && strcmp(state, "failed") &&
	    strcmp(state, "refused")) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'state' must be queued, delivered, failed or refused");
		return 0;
	}
	PGresult *res = db_execp(app->db, q->arena,
		"SELECT coalesce(json_agg(x ORDER BY x.id DESC), '[]'), min(x.id), count(*) FROM ("
		" SELECT p.id, p.conversion_id::text AS conversion_id, p.affiliate_id, p.status, p.state, p.url,"
		"  p.attempts, p.last_http_status, p.last_error, p.next_attempt_at, p.created_at, p.updated_at,"
		"  (SELECT coalesce(json_agg(json_build_object('attempt', t.attempt, 'url', t.url,"
		"    'http_status', t.http_status, 'error', t.error, 'latency_ms', t.latency_ms,"
		"    'response', t.response, 'created_at', t.created_at) ORDER BY t.attempt), '[]')"
		"   FROM affiliate_postback_attempts t WHERE t.postback_id = p.id) AS attempt_log"
		" FROM affiliate_postbacks p WHERE p.tenant_id = $1"
		"  AND ($2::bigint IS NULL OR p.id < $2::bigint)"
		"  AND ($3::bigint IS NULL OR p.conversion_id = $3::bigint)"
		"  AND ($4::text IS NULL OR p.state = $4)"
		" ORDER BY p.id DESC LIMIT $5) x",
		arena_sprintf(q->arena, "%lld", q->auth.tenant_id), cursor, req_param(q, "conversion_id"),
		state, arena_sprintf(q->arena, "%ld", n));
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	bool more = atol(db_val(res, 0, 2)) == n;
	r->status = 200;
	r->content_type = "application/json";
	buf_printf(&r->body, "{\"data\":%s,\"next_cursor\":", db_val(res, 0, 0));
	if (more)
		buf_printf(&r->body, "\"%s\"}\n", db_val(res, 0, 1));
	else
		buf_puts(&r->body, "null}\n");
	return 0;
}

/* GET /admin/conversions/<id>: one conversion. PATCH with
 * {"status":"approved"|"pending"|"rejected","reason":"..."}: a manual status
 * change, audited (conversion_status_log: actor key, reason), announced with
 * a conversion.updated event and an affiliate postback like any change. */
int h_admin_conversion(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0];
	if (id == NULL || strlen(id) > 18 || strspn(id, "0123456789") != strlen(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such conversion");
		return 0;
	}
	const char *previous = NULL;
	/* A foreign or missing id is 404 whatever the body says. */
	const char *obj = conv_json(app, q->arena, q->auth.tenant_id, id);
	if (obj == NULL) {
		resp_error(q, r, 404, "NOT_FOUND", "no such conversion");
		return 0;
	}
	if (q->method == HTTP_PATCH) {
		struct json_object *o = q->json, *v;
		if (o == NULL || !json_object_is_type(o, json_type_object)) {
			resp_error(q, r, 400, "BAD_REQUEST", "the body must be a JSON object");
			return 0;
		}
		json_object_object_foreach(o, key, val) {
			(void)val;
			if (strcmp(key, "status") && strcmp(key, "reason")) {
				resp_error(q, r, 400, "INVALID_PARAMETER", "field '%s' is not known", key);
				return 0;
			}
		}
		enum conv_status to;
		if (!json_object_object_get_ex(o, "status", &v) || !json_object_is_type(v, json_type_string) ||
		    !conv_status_from_name(json_object_get_string(v), &to)) {
			resp_error(q, r, 400, "INVALID_PARAMETER", "field 'status' must be approved, pending or rejected");
			return 0;
		}
		const char *reason = NULL;
		if (!json_object_object_get_ex(o, "reason", &v) || !json_object_is_type(v, json_type_string) ||
		    (reason = json_object_get_string(v))[0] == '\0' || strlen(reason) > 500) {
			resp_error(q, r, 400, "INVALID_PARAMETER", "field 'reason' is required (1 to 500 characters)");
			return 0;
		}
		struct conv_result res;
		const char *actor = arena_sprintf(q->arena, "key:%lld", q->auth.key_id);
		if (conv_set_status(app, q->arena, q->auth.tenant_id, id, to, actor, reason, &res) != 0)
			return -1;
		if (res.outcome == CO_CLICK_NOT_FOUND) {
			resp_error(q, r, 404, "NOT_FOUND", "no such conversion");
			return 0;
		}
		if (res.outcome != CO_UPDATED && res.outcome != CO_DUPLICATE) {
			answer(q, r, &res);
			return 0;
		}
		previous = res.previous_status;
		obj = conv_json(app, q->arena, q->auth.tenant_id, id);
	}
	if (obj == NULL) {
		resp_error(q, r, 404, "NOT_FOUND", "no such conversion");
		return 0;
	}
	r->status = 200;
	r->content_type = "application/json";
	if (previous) /* the object with what it was before this change */
		buf_printf(&r->body, "%.*s,\"previous_status\":\"%s\"}\n", (int)strlen(obj) - 1, obj, previous);
	else
		buf_printf(&r->body, "%s\n", obj);
	return 0;
}
