/* /admin/geo-rules and /admin/routes: field tables plus the checks that
 * need more than one field or the database (a rule's scope_id must name an
 * advertiser or offer of the caller's tenant; a route hangs on exactly one
 * of offer and link, and its offer destinations are the tenant's). Every
 * change bumps the link cache epoch, so workers reload within a second. */
#include "trafficres.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "geo.h"
#include "routing.h"

static int countries_check(struct json_object *v, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_array))
		return 0; /* the type check names the problem */
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *cc = json_object_get_string(json_object_array_get_idx(v, i));
		if (geo_country_code_valid(cc) && !geo_country_code_known(cc)) {
			snprintf(err, errlen, "holds \"%s\", which is not an ISO 3166-1 country code", cc);
			return -1;
		}
	}
	return 0;
}

static const char *rval(const struct rvals *v, const char *column)
{
	for (int i = 0; i < v->n; i++)
		if (!strcmp(v->v[i].column, column))
			return v->v[i].value;
	return NULL;
}

static bool tenant_row(struct req *q, const char *table, const char *id, bool *dberr)
{
	struct app *app = q->app;
	char t[24];
	snprintf(t, sizeof t, "%lld", q->auth.tenant_id);
	const char *sql = !strcmp(table, "offers")
	                      ? "SELECT 1 FROM offers WHERE tenant_id = $1 AND id = $2::bigint"
	                      : "SELECT 1 FROM advertisers WHERE tenant_id = $1 AND id = $2::bigint";
	PGresult *res = db_execp(app->db, q->arena, sql, t, id);
	*dberr = res == NULL;
	return res && PQntuples(res) == 1;
}

static int geo_rule_before_insert(struct req *q, struct resp *r, struct rvals *v)
{
	const char *scope = rval(v, "scope"), *sid = rval(v, "scope_id");
	bool tenant = scope && !strcmp(scope, "tenant");
	if (tenant && sid) {
		resp_error(q, r, 400, "INVALID_PARAMETER",
		           "field 'scope_id' must be absent for a tenant rule");
		return -1;
	}
	if (!tenant && sid == NULL) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "field 'scope_id' is required for an %s rule",
		           scope);
		return -1;
	}
	if (!tenant) {
		bool dberr;
		if (!tenant_row(q, !strcmp(scope, "offer") ? "offers" : "advertisers", sid, &dberr)) {
			if (dberr)
				return -1;
			resp_error(q, r, 400, "INVALID_PARAMETER",
			           "field 'scope_id' names no %s of this tenant", scope);
			return -1;
		}
	}
	return 0;
}

static const struct field geo_rule_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "scope",
     .type = F_ENUM,
     .flags = FF_REQUIRED | FF_FIXED | FF_FILTER,
     .choices = "tenant|advertiser|offer"},
    {.name = "scope_id", .type = F_ID, .flags = FF_FIXED | FF_NULLABLE},
    {.name = "mode", .type = F_ENUM, .flags = FF_REQUIRED, .choices = "allow|block"},
    {.name = "countries", .type = F_COUNTRIES, .flags = FF_REQUIRED, .max = 300, .check = countries_check},
    {.name = "active", .type = F_BOOL, .flags = 0},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_geo_rules = {
    .name = "geo rule",
    .table = "geo_rules",
    .fields = geo_rule_fields,
    .bump_cache = true,
    .before_insert = geo_rule_before_insert,
};

/* ---- routes ---- */

static bool in_choices(const char *s, const char *const *choices)
{
	for (; *choices; choices++)
		if (s && !strcmp(s, *choices))
			return true;
	return false;
}

static int string_list(struct json_object *v, const char *what, const char *const *choices, size_t i,
                       char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
	    json_object_array_length(v) > 300) {
		snprintf(err, errlen, "item %zu: '%s' must be a non-empty array", i, what);
		return -1;
	}
	for (size_t k = 0; k < json_object_array_length(v); k++) {
		struct json_object *e = json_object_array_get_idx(v, k);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		bool ok = choices ? in_choices(s, choices) : geo_country_code_known(s);
		if (!ok) {
			snprintf(err, errlen, "item %zu: '%s' holds %s%s%s, which is not %s", i, what,
			         s ? "\"" : "", s ? s : "a non-string", s ? "\"" : "",
			         choices ? "one of the accepted values" : "an ISO 3166-1 country code");
			return -1;
		}
	}
	return 0;
}

static bool http_url(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 2048 || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

int route_destinations_check(struct json_object *v, char *err, size_t errlen)
{
	static const char *const devices[] = {"desktop", "mobile", "tablet", "bot", NULL};
	static const char *const oses[] = {"Windows",  "macOS", "iOS",   "Android",
	                                   "ChromeOS", "Linux", "other", NULL};
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
	    json_object_array_length(v) > ROUTE_DEST_MAX) {
		snprintf(err, errlen, "must be an array of 1 to %d destinations", ROUTE_DEST_MAX);
		return -1;
	}
	size_t n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(v, i), *m;
		if (!json_object_is_type(d, json_type_object)) {
			snprintf(err, errlen, "item %zu must be an object", i);
			return -1;
		}
		bool has_url = false, has_offer = false, has_weight = false;
		json_object_object_foreach(d, key, val)
		{
			if (!strcmp(key, "url")) {
				if (!json_object_is_type(val, json_type_string) ||
				    !http_url(json_object_get_string(val))) {
					snprintf(err, errlen,
					         "item %zu: 'url' must be an http:// or https:// URL", i);
					return -1;
				}
				has_url = true;
			} else if (!strcmp(key, "offer_id")) {
				if (!json_object_is_type(val, json_type_int) ||
				    json_object_get_int64(val) <= 0) {
					snprintf(err, errlen,
					         "item %zu: 'offer_id' must be a positive integer", i);
					return -1;
				}
				has_offer = true;
			} else if (!strcmp(key, "weight")) {
				if (!json_object_is_type(val, json_type_int) ||
				    json_object_get_int64(val) < 0 || json_object_get_int64(val) > 1000000) {
					snprintf(err, errlen,
					         "item %zu: 'weight' must be an integer from 0 to 1000000",
					         i);
					return -1;
				}
				has_weight = true;
			} else if (!strcmp(key, "name")) {
				const char *s = json_object_is_type(val, json_type_string)
				                    ? json_object_get_string(val)
				                    : NULL;
				if (s == NULL || s[0] == '\0' || strlen(s) > 64) {
					snprintf(err, errlen,
					         "item %zu: 'name' must be a string of 1 to 64 characters",
					         i);
					return -1;
				}
				for (size_t k = 0; k < i; k++)
					if (json_object_object_get_ex(json_object_array_get_idx(v, k), "name",
					                              &m) &&
					    !strcmp(json_object_get_string(m), s)) {
						snprintf(err, errlen, "item %zu: name \"%s\" is used twice",
						         i, s);
						return -1;
					}
			} else if (!strcmp(key, "countries")) {
				if (string_list(val, key, NULL, i, err, errlen) != 0)
					return -1;
			} else if (!strcmp(key, "devices")) {
				if (string_list(val, key, devices, i, err, errlen) != 0)
					return -1;
			} else if (!strcmp(key, "os")) {
				if (string_list(val, key, oses, i, err, errlen) != 0)
					return -1;
			} else {
				snprintf(err, errlen, "item %zu: unknown member '%s'", i, key);
				return -1;
			}
		}
		if (has_url == has_offer) {
			snprintf(err, errlen, "item %zu needs exactly one of 'url' and 'offer_id'", i);
			return -1;
		}
		if (!has_weight) {
			snprintf(err, errlen, "item %zu: 'weight' is required", i);
			return -1;
		}
	}
	return 0;
}

static int route_before_insert(struct req *q, struct resp *r, struct rvals *v)
{
	const char *offer = rval(v, "offer_id"), *link = rval(v, "link_id"), *dests = rval(v, "destinations");
	if ((offer == NULL) == (link == NULL)) {
		resp_error(q, r, 400, "INVALID_PARAMETER",
		           "a route needs exactly one of 'offer_id' and 'link_id'");
		return -1;
	}
	/* Offer destinations must be offers of this tenant. */
	struct json_object *arr = dests ? json_tokener_parse(dests) : NULL;
	int rc = 0;
	for (size_t i = 0; arr && i < json_object_array_length(arr) && rc == 0; i++) {
		struct json_object *o;
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "offer_id", &o))
			continue;
		char id[24];
		snprintf(id, sizeof id, "%lld", (long long)json_object_get_int64(o));
		bool dberr;
		if (!tenant_row(q, "offers", id, &dberr)) {
			if (!dberr)
				resp_error(
				    q, r, 400, "INVALID_PARAMETER",
				    "field 'destinations' item %zu: offer %s is not an offer of this tenant",
				    i, id);
			rc = -1;
		}
	}
	json_object_put(arr);
	return rc;
}

static const struct field route_fields[] = {
    {.name = "id", .type = F_ID, .flags = FF_READONLY},
    {.name = "offer_id", .type = F_ID, .flags = FF_FIXED | FF_NULLABLE | FF_FILTER, .ref = "offers"},
    {.name = "link_id", .type = F_ID, .flags = FF_FIXED | FF_NULLABLE, .ref = "links"},
    {.name = "name", .type = F_STR, .flags = FF_NULLABLE, .max = 200},
    {.name = "destinations", .type = F_JSON, .flags = FF_REQUIRED, .check = route_destinations_check},
    {.name = "sticky", .type = F_BOOL, .flags = 0},
    {.name = "fallback_url", .type = F_URL, .flags = FF_NULLABLE, .max = 2048},
    {.name = "active", .type = F_BOOL, .flags = 0},
    {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = "updated_at", .type = F_TIME, .flags = FF_READONLY},
    {.name = NULL},
};

const struct resource res_routes = {
    .name = "route",
    .table = "routes",
    .fields = route_fields,
    .bump_cache = true,
    .before_insert = route_before_insert,
};
