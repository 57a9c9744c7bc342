/* Core admin collections and their special operations. */
#include "adminres.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apikey.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "db.h"
#include "keystore.h"
#include "secret.h"
#include "linkcache.h"
#include "sign.h"
#include "tenantdb.h"
#include "util.h"

#define INT32_CAP 2147483647LL

/* ---- descriptions ---- */

static const struct field tenant_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "name", .type = F_STR, .flags = FF_REQUIRED, .max = 200},
    {.name = "status", .type = F_ENUM, .flags = FF_FILTER, .choices = "active|suspended|archived"},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_tenants = {
    .name = "tenant",
    .table = "tenants",
    .fields = tenant_fields,
    .tenant_col = "id",
    .soft_delete = true,
    .bump_cache = true, /* the click path caches tenant status and secrets */
};

static const struct field advertiser_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "name", .type = F_STR, .flags = FF_REQUIRED, .max = 200},
    {.name = "status", .type = F_ENUM, .flags = FF_FILTER, .choices = "active|paused|archived"},
    {.name = "require_signature", .type = F_BOOL, .flags = 0},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_advertisers = {
    .name = "advertiser",
    .table = "advertisers",
    .fields = advertiser_fields,
    .advertiser_col = "id",
    .soft_delete = true,
    .bump_cache = true,
};

static const struct field affiliate_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "name", .type = F_STR, .flags = FF_REQUIRED, .max = 200},
    {.name = "status", .type = F_ENUM, .flags = FF_FILTER, .choices = "active|paused|archived"},
    {.name = "postback_url", .type = F_URL, .flags = FF_NULLABLE, .max = 2048},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_affiliates = {
    .name = "affiliate",
    .table = "affiliates",
    .fields = affiliate_fields,
    .affiliate_col = "id",
    .soft_delete = true,
    .bump_cache = true,
};

static const struct field offer_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "advertiser_id",
     .type = F_ID,
     .flags = FF_REQUIRED | FF_FIXED | FF_FILTER,
     .ref = "advertisers"},
    {.name = "name", .type = F_STR, .flags = FF_REQUIRED, .max = 200},
    {.name = "url", .type = F_URL, .flags = FF_REQUIRED, .max = 2048},
    {.name = "currency", .type = F_CURRENCY, .flags = 0},
    {.name = "payout.type", .type = F_ENUM, .flags = 0, .column = "payout_type", .choices = "fixed|percent"},
    {.name = "payout.value", .type = F_DECIMAL, .flags = 0, .column = "payout_value"},
    {.name = "revenue.type",
     .type = F_ENUM,
     .flags = 0,
     .column = "revenue_type",
     .choices = "fixed|percent"},
    {.name = "revenue.value", .type = F_DECIMAL, .flags = 0, .column = "revenue_value"},
    {.name = "status", .type = F_ENUM, .flags = FF_FILTER, .choices = "active|paused|archived"},
    {.name = "link_policy", .type = F_ENUM, .flags = 0, .choices = "redirect|reject"},
    {.name = "fallback_url", .type = F_URL, .flags = FF_NULLABLE, .max = 2048},
    {.name = "link_ttl_s", .type = F_INT, .flags = 0, .min = 60, .max = 2592000},
    {.name = "attribution_days", .type = F_INT, .flags = 0, .min = 1, .max = 365},
    {.name = "caps.daily_clicks",
     .type = F_INT,
     .flags = FF_NULLABLE,
     .column = "cap_daily_clicks",
     .min = 1,
     .max = INT32_CAP},
    {.name = "caps.total_clicks",
     .type = F_INT,
     .flags = FF_NULLABLE,
     .column = "cap_total_clicks",
     .min = 1,
     .max = 1000000000000LL},
    {.name = "caps.daily_conversions",
     .type = F_INT,
     .flags = FF_NULLABLE,
     .column = "cap_daily_conversions",
     .min = 1,
     .max = INT32_CAP},
    {.name = "caps.total_conversions",
     .type = F_INT,
     .flags = FF_NULLABLE,
     .column = "cap_total_conversions",
     .min = 1,
     .max = 1000000000000LL},
    {.name = "trust_pixel", .type = F_BOOL, .flags = 0},
    {.name = "convert_invalid", .type = F_BOOL, .flags = 0},
    {.name = "bot_action", .type = F_ENUM, .flags = 0, .choices = "redirect|fallback|reject"}, /* sql/040 */
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_offers = {
    .name = "offer",
    .table = "offers",
    .fields = offer_fields,
    .advertiser_col = "advertiser_id",
    .soft_delete = true,
    .bump_cache = true,
};

static const struct field link_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "offer_id", .type = F_ID, .flags = FF_REQUIRED | FF_FIXED | FF_FILTER, .ref = "offers"},
    {.name = "affiliate_id", .type = F_ID, .flags = FF_REQUIRED | FF_FIXED | FF_FILTER, .ref = "affiliates"},
    {.name = "code", .type = F_STR, .flags = FF_READONLY},
    {.name = "status", .type = F_ENUM, .flags = FF_FILTER, .choices = "active|paused|archived"},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

/* Link codes: 10 base62 characters (59 bits), unguessable enough that codes
 * cannot be enumerated; a collision only fails one create (409). */
static int link_before_insert(struct req *q, struct resp *r, struct rvals *v)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[10];
	char *code = arena_alloc(q->arena, sizeof raw + 1);
	if (code == NULL)
		return -1;
	rand_bytes(raw, sizeof raw);
	for (size_t i = 0; i < sizeof raw; i++)
		code[i] = alphabet[raw[i] % 62];
	(void)r;
	return rvals_add(v, "code", code);
}

static void link_decorate(struct req *q, struct json_object *row)
{
	struct app *app = q->app;
	struct json_object *code;
	if (json_object_object_get_ex(row, "code", &code))
		json_object_object_add(
		    row, "url",
		    json_object_new_string(arena_sprintf(q->arena, "%s/c/%s", app->cfg.public_url,
		                                         json_object_get_string(code))));
}

const struct resource res_links = {
    .name = "link",
    .table = "links",
    .fields = link_fields,
    .affiliate_col = "affiliate_id",
    .soft_delete = true,
    .bump_cache = true,
    .before_insert = link_before_insert,
    .decorate = link_decorate,
};

static const struct field key_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "scope",
     .type = F_ENUM,
     .flags = FF_REQUIRED | FF_FIXED | FF_FILTER,
     .choices = "admin|advertiser|affiliate"},
    {.name = "advertiser_id", .type = F_ID, .flags = FF_NULLABLE | FF_FIXED, .ref = "advertisers"},
    {.name = "affiliate_id", .type = F_ID, .flags = FF_NULLABLE | FF_FIXED, .ref = "affiliates"},
    {.name = "label", .type = F_STR, .flags = FF_NULLABLE, .max = 200},
    {.name = "rate_limit_per_min", .type = F_INT, .flags = FF_NULLABLE, .min = 0, .max = 100000000},
    {.name = "key_prefix", .type = F_STR, .flags = FF_READONLY},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "expires_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "revoked_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "last_used_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "replaced_by", .type = F_ID, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_api_keys = {
    .name = "API key",
    .table = "api_keys",
    .fields = key_fields,
    .no_updated_at = true,
};

static const struct field audit_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "tenant_id", .type = F_ID, .flags = FF_READONLY},
    {.name = "key_id", .type = F_ID, .flags = FF_READONLY},
    {.name = "scope", .type = F_STR, .flags = FF_READONLY},
    {.name = "action",
     .type = F_ENUM,
     .flags = FF_READONLY | FF_FILTER,
     .choices = "create|update|delete|rotate|revoke|secret"},
    {.name = "resource", .type = F_STR, .flags = FF_READONLY | FF_FILTER}, /* the table */
    {.name = "resource_id", .type = F_ID, .flags = FF_READONLY | FF_FILTER},
    {.name = "fields", .type = F_STRINGS, .flags = FF_READONLY},
    {.name = "request_id", .type = F_STR, .flags = FF_READONLY},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

/* Read-only: GET /admin/audit (the operator sees every tenant's). */
const struct resource res_audit = {
    .name = "audit entry",
    .table = "admin_audit",
    .fields = audit_fields,
    .no_updated_at = true,
};

/* ---- helpers ---- */

static const char *lld(struct arena *a, long long v)
{
	return arena_sprintf(a, "%lld", v);
}

static const char *rval(const struct rvals *v, const char *column)
{
	for (int i = 0; i < v->n; i++)
		if (!strcmp(v->v[i].column, column))
			return v->v[i].value;
	return NULL;
}

/* Answers the freshly fetched row with one extra member. */
static int answer_with(struct req *q, struct resp *r, const struct resource *res, const char *id,
                       const char *member, const char *value, int status)
{
	PGresult *pr = resource_fetch(q, res, id);
	if (pr == NULL || PQntuples(pr) != 1)
		return -1;
	struct json_object *o = resource_row_json(q, res, pr, 0);
	if (o == NULL)
		return -1;
	if (member)
		json_object_object_add(o, member, json_object_new_string(value));
	resp_json(q, r, status, o);
	return 0;
}

static int bad_body(struct req *q, struct resp *r, const char *err)
{
	resp_error(q, r, 400, "INVALID_PARAMETER", "%s", err);
	return 0;
}

/* ---- tenants ---- */

int admin_tenant_create(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	char err[256], key[APIKEY_LEN + 1];
	struct rvals v;
	if (resource_parse(&res_tenants, q->json, false, q->arena, &v, err, sizeof err) != 0)
		return bad_body(q, r, err);
	/* keystore_create_tenant runs its own transaction; the operator works
	 * across tenants anyway (afftok.tenant_id = '*'). */
	long long id = keystore_create_tenant(app, q->arena, rval(&v, "name"), key);
	if (id < 0)
		return -1;
	const char *status = rval(&v, "status");
	if (status && !db_execp(app->db, q->arena, "UPDATE tenants SET status = $1 WHERE id = $2", status,
	                        lld(q->arena, id)))
		return -1;
	if (resource_audit(q, "create", "tenants", id, lld(q->arena, id), &v) != 0)
		return -1;
	int rc = answer_with(q, r, &res_tenants, lld(q->arena, id), "admin_key", key, 201);
	memset(key, 0, sizeof key);
	return rc;
}

/* ---- API keys ---- */

/* Inside a tenant scope: creates a key like the request says. */
static int key_create_scoped(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	char err[256], key[APIKEY_LEN + 1];
	struct rvals v;
	if (resource_parse(&res_api_keys, q->json, false, q->arena, &v, err, sizeof err) != 0)
		return bad_body(q, r, err);
	enum auth_scope scope = scope_from_name(rval(&v, "scope"));
	const char *adv = rval(&v, "advertiser_id"), *aff = rval(&v, "affiliate_id");
	if ((scope == SCOPE_ADVERTISER) != (adv != NULL))
		return bad_body(q, r,
		                scope == SCOPE_ADVERTISER
		                    ? "field 'advertiser_id' is required for scope advertiser"
		                    : "field 'advertiser_id' is only for scope advertiser");
	if ((scope == SCOPE_AFFILIATE) != (aff != NULL))
		return bad_body(q, r,
		                scope == SCOPE_AFFILIATE
		                    ? "field 'affiliate_id' is required for scope affiliate"
		                    : "field 'affiliate_id' is only for scope affiliate");
	int rc = resource_check_refs(q, r, &v);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	long long id = keystore_create(app, q->arena, q->auth.tenant_id, scope, adv ? atoll(adv) : 0,
	                               aff ? atoll(aff) : 0, rval(&v, "label"), key);
	if (id < 0)
		return resource_db_error(q, r);
	const char *limit = rval(&v, "rate_limit_per_min");
	if (limit && !db_execp(app->db, q->arena, "UPDATE api_keys SET rate_limit_per_min = $1 WHERE id = $2",
	                       limit, lld(q->arena, id)))
		return -1;
	if (resource_audit(q, "create", "api_keys", 0, lld(q->arena, id), &v) != 0)
		return -1;
	rc = answer_with(q, r, &res_api_keys, lld(q->arena, id), "key", key, 201);
	memset(key, 0, sizeof key);
	return rc;
}

/* Runs fn inside the caller's tenant scope, committing when it answered < 400. */
static int scoped(struct req *q, struct resp *r, int (*fn)(struct req *, struct resp *), bool bump)
{
	struct app *app = q->app;
	if (tenant_scope_begin(app, q->arena, &q->auth) != 0) {
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return 0;
	}
	int rc = fn(q, r);
	bool ok = rc == 0 && r->status < 400;
	if (tenant_scope_end(app, q->arena, ok) != 0)
		return -1;
	if (ok && bump)
		linkcache_bump(app, q->arena);
	return rc;
}

int admin_key_create(struct req *q, struct resp *r)
{
	if (q->body_len > 0 && q->json == NULL) {
		resp_error(q, r, 400, "BAD_REQUEST",
		           "the body must be JSON (Content-Type: application/json)");
		return 0;
	}
	return scoped(q, r, key_create_scoped, false);
}

static int key_rotate_scoped(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0], *ov = req_param(q, "overlap_s");
	long long overlap = KEY_OVERLAP_DEFAULT_S;
	if (ov && (strspn(ov, "0123456789") != strlen(ov) || strlen(ov) > 8 ||
	           (overlap = atoll(ov)) > KEY_OVERLAP_MAX_S)) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'overlap_s' must be 0 to %d",
		           KEY_OVERLAP_MAX_S);
		return 0;
	}
	if (!resource_id_valid(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such API key");
		return 0;
	}
	/* Only a live key of this tenant can be rotated; FOR UPDATE makes two
	 * concurrent rotations of one key produce one successor. */
	PGresult *pr =
	    db_execp(app->db, q->arena,
	             "SELECT scope, advertiser_id, affiliate_id, label, rate_limit_per_min FROM api_keys "
	             "WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL AND replaced_by IS NULL "
	             "AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE",
	             id, lld(q->arena, q->auth.tenant_id));
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1) {
		resp_error(q, r, 404, "NOT_FOUND",
		           "no such API key (or it was revoked, replaced or expired)");
		return 0;
	}
	char key[APIKEY_LEN + 1];
	const char *adv = db_val(pr, 0, 1), *aff = db_val(pr, 0, 2);
	long long nid = keystore_create(app, q->arena, q->auth.tenant_id, scope_from_name(db_val(pr, 0, 0)),
	                                adv ? atoll(adv) : 0, aff ? atoll(aff) : 0, db_val(pr, 0, 3), key);
	if (nid < 0)
		return -1;
	const char *nids = lld(q->arena, nid);
	if (!db_execp(app->db, q->arena, "UPDATE api_keys SET rate_limit_per_min = $1 WHERE id = $2",
	              db_val(pr, 0, 4), nids) ||
	    !db_execp(
	        app->db, q->arena,
	        "UPDATE api_keys SET replaced_by = $1, expires_at = now() + make_interval(secs => $2::int) "
	        "WHERE id = $3",
	        nids, lld(q->arena, overlap), id))
		return -1;
	struct rvals changed = {.n = 0};
	rvals_add(&changed, "replaced_by", nids);
	rvals_add(&changed, "expires_at", NULL);
	if (resource_audit(q, "rotate", "api_keys", 0, id, &changed) != 0)
		return -1;
	int rc = answer_with(q, r, &res_api_keys, nids, "key", key, 201);
	memset(key, 0, sizeof key);
	return rc;
}

int admin_key_rotate(struct req *q, struct resp *r)
{
	int rc = scoped(q, r, key_rotate_scoped, false);
	auth_cache_clear(); /* this worker at once; the others within AUTH_CACHE_MS */
	return rc;
}

static int key_revoke_scoped(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0];
	if (!resource_id_valid(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such API key");
		return 0;
	}
	PGresult *pr = db_execp(
	    app->db, q->arena,
	    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND tenant_id = $2 "
	    "RETURNING id",
	    id, lld(q->arena, q->auth.tenant_id));
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1) {
		resp_error(q, r, 404, "NOT_FOUND", "no such API key");
		return 0;
	}
	if (resource_audit(q, "revoke", "api_keys", 0, id, NULL) != 0)
		return -1;
	return answer_with(q, r, &res_api_keys, id, NULL, NULL, 200);
}

int admin_key_revoke(struct req *q, struct resp *r)
{
	int rc = scoped(q, r, key_revoke_scoped, false);
	auth_cache_clear();
	return rc;
}

/* ---- signed links ---- */

static int link_sign_scoped(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0], *ttls = req_param(q, "ttl");
	long long ttl = 0;
	if (ttls && (strspn(ttls, "0123456789") != strlen(ttls) || strlen(ttls) > 8 ||
	             (ttl = atoll(ttls)) < 60 || ttl > 2592000)) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'ttl' must be 60 to 2592000 seconds");
		return 0;
	}
	if (!resource_id_valid(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such link");
		return 0;
	}
	/* An affiliate key may sign its own links only. */
	const char *aff = q->auth.scope == SCOPE_AFFILIATE ? lld(q->arena, q->auth.affiliate_id) : NULL;
	PGresult *pr = db_execp(
	    app->db, q->arena,
	    "SELECT l.code, o.link_ttl_s, t.link_secret_enc, l.status, o.status FROM links l "
	    "JOIN offers o ON o.tenant_id = l.tenant_id AND o.id = l.offer_id "
	    "JOIN tenants t ON t.id = l.tenant_id "
	    "WHERE l.id = $1 AND l.tenant_id = $2 AND ($3::bigint IS NULL OR l.affiliate_id = $3::bigint)",
	    id, lld(q->arena, q->auth.tenant_id), aff);
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1) {
		resp_error(q, r, 404, "NOT_FOUND", "no such link");
		return 0;
	}
	if (!strcmp(db_val(pr, 0, 3), "archived") || !strcmp(db_val(pr, 0, 4), "archived")) {
		resp_error(q, r, 409, "CONFLICT", "the link or its offer is archived");
		return 0;
	}
	long long offer_ttl = atoll(db_val(pr, 0, 1));
	int64_t now = time(NULL);
	char *token = sign_link(app, q->arena, db_val(pr, 0, 2), db_val(pr, 0, 0), offer_ttl, ttl, now);
	if (token == NULL)
		return -1;
	long long life = ttl > 0 && ttl < offer_ttl ? ttl : offer_ttl;
	time_t exp = (time_t)(now + life);
	struct tm tm;
	char when[32];
	gmtime_r(&exp, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "link_id", json_object_new_int64(atoll(id)));
	json_object_object_add(o, "token", json_object_new_string(token));
	json_object_object_add(
	    o, "url", json_object_new_string(arena_sprintf(q->arena, "%s/c/%s", app->cfg.public_url, token)));
	json_object_object_add(o, "expires_at", json_object_new_string(when));
	json_object_object_add(o, "ttl_s", json_object_new_int64(life));
	resp_json(q, r, 200, o);
	return 0;
}

int admin_link_sign(struct req *q, struct resp *r)
{
	return scoped(q, r, link_sign_scoped, false);
}

/* ---- advertiser postback secrets ---- */

static int postback_secret_scoped(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *id = q->args[0];
	if (!resource_id_valid(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such advertiser");
		return 0;
	}
	/* 32 random bytes as 64 hex characters; the advertiser uses the text
	 * as its HMAC key, and we keep it only encrypted under the master key. */
	unsigned char raw[32];
	char secret[65];
	rand_bytes(raw, sizeof raw);
	hex_encode(raw, sizeof raw, secret);
	char *enc = secret_encrypt(&app->mk, q->arena, (const unsigned char *)secret, 64);
	if (enc == NULL)
		return -1;
	PGresult *pr =
	    db_execp(app->db, q->arena,
	             "UPDATE advertisers SET postback_secret_enc = $1, updated_at = now() "
	             "WHERE id = $2 AND tenant_id = $3 AND status <> 'archived' RETURNING require_signature",
	             enc, id, lld(q->arena, q->auth.tenant_id));
	if (pr == NULL)
		return -1;
	if (PQntuples(pr) != 1) {
		resp_error(q, r, 404, "NOT_FOUND", "no such advertiser");
		return 0;
	}
	struct rvals changed = {.n = 0};
	rvals_add(&changed, "postback_secret", NULL);
	if (resource_audit(q, "secret", "advertisers", 0, id, &changed) != 0)
		return -1;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "advertiser_id", json_object_new_int64(atoll(id)));
	json_object_object_add(o, "postback_secret", json_object_new_string(secret));
	json_object_object_add(o, "require_signature", json_object_new_boolean(db_val(pr, 0, 0)[0] == 't'));
	memset(secret, 0, sizeof secret);
	resp_json(q, r, 201, o);
	return 0;
}

int admin_postback_secret(struct req *q, struct resp *r)
{
	return scoped(q, r, postback_secret_scoped, false);
}
