/* Admin resources: field-table validation, JSON rows, tenant-scoped CRUD. */
#include "resource.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "arena.h"
#include "buf.h"
#include "db.h"
#include "linkcache.h"
#include "log.h"
#include "router.h"
#include "tenantdb.h"

const struct route_param resource_params[] = {
    {"limit", P_INT, false, 4},
    {"cursor", P_TOKEN, false, 32},
    {NULL, 0, false, 0},
};

static const char *col_of(const struct field *f)
{
	return f->column ? f->column : f->name;
}

static const char *tenant_col(const struct resource *res)
{
	return res->tenant_col ? res->tenant_col : "tenant_id";
}

bool resource_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= 18 && strspn(id, "0123456789") == n && id[0] != '0';
}

/* ---- validation (pure) ---- */

static bool in_choices(const char *choices, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = choices; p && *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && n > 0 && !strncmp(p, s, n))
			return true;
		p += len + (p[len] == '|');
	}
	return false;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* UTF-8 characters, or -1 when not valid UTF-8. */
static long utf8_len(const char *s)
{
	long n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int extra = *p < 0x80             ? 0
		            : (*p & 0xe0) == 0xc0 ? 1
		            : (*p & 0xf0) == 0xe0 ? 2
		            : (*p & 0xf8) == 0xf0 ? 3
		                                  : -1;
		if (extra < 0 || (extra == 1 && *p < 0xc2))
			return -1;
		p++;
		for (int i = 0; i < extra; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return -1;
		n++;
	}
	return n;
}

static bool is_decimal_text(const char *v)
{
	size_t digits = strspn(v, "0123456789");
	const char *p = v + digits;
	size_t frac = 0;
	if (*p == '.') {
		frac = strspn(p + 1, "0123456789");
		if (frac == 0)
			return false;
		p += 1 + frac;
	}
	return *p == '\0' && digits > 0 && digits <= 12 && frac <= 6;
}

static bool is_url(const char *s)
{
	const char *rest = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7 : NULL;
	return rest && *rest && *rest != '/' && strchr(s, ' ') == NULL;
}

static bool upper_code(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return false;
	return true;
}

/* Appends s as one element of a PostgreSQL array literal. */
static void array_elem(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

static int check_string(const struct field *f, const char *s, long long maxdef, char *err, size_t errlen)
{
	long len = utf8_len(s);
	long long max = f->max ? f->max : maxdef;
	if (len < 0 || has_control(s)) {
		snprintf(err, errlen, "must be text without control characters");
		return -1;
	}
	if (len < (f->min ? f->min : 1) || len > max) {
		snprintf(err, errlen, "must be %lld to %lld characters long", f->min ? f->min : 1, max);
		return -1;
	}
	return 0;
}

static int array_value(const struct field *f, struct json_object *v, struct arena *a, const char **text,
                       char *err, size_t errlen)
{
	bool countries = f->type == F_COUNTRIES;
	long long max = f->max ? f->max : countries ? 300 : 50;
	if (!json_object_is_type(v, json_type_array)) {
		snprintf(err, errlen, "must be an array");
		return -1;
	}
	size_t n = json_object_array_length(v);
	if (n < 1 || (long long)n > max) {
		snprintf(err, errlen, "must hold 1 to %lld items", max);
		return -1;
	}
	struct buf b;
	buf_init(&b, a);
	buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (s == NULL) {
			snprintf(err, errlen, "must hold strings only");
			return -1;
		}
		if (countries && !upper_code(s, 2)) {
			snprintf(err, errlen, "item %zu is not an ISO 3166 country code (like \"US\")", i);
			return -1;
		}
		if (!countries) {
			struct field item = {.min = 1, .max = 200};
			if (check_string(&item, s, 200, err, errlen) != 0)
				return -1;
			if (f->choices && !in_choices(f->choices, s)) {
				snprintf(err, errlen, "item %zu must be one of %s", i, f->choices);
				return -1;
			}
		}
		if (i)
			buf_putc(&b, ',');
		array_elem(&b, s);
	}
	buf_putc(&b, '}');
	*text = buf_ok(&b) ? b.p : NULL;
	return *text ? 0 : -1;
}

int field_value(const struct field *f, struct json_object *v, struct arena *a, const char **text, char *err,
                size_t errlen)
{
	*text = NULL;
	if (v == NULL || json_object_is_type(v, json_type_null)) {
		if (f->flags & FF_NULLABLE)
			return 0;
		snprintf(err, errlen, "may not be null");
		return -1;
	}
	if (f->check && f->check(v, err, errlen) != 0)
		return -1;
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	switch (f->type) {
	case F_ID:
	case F_INT: {
		if (!json_object_is_type(v, json_type_int)) {
			snprintf(err, errlen, "must be an integer");
			return -1;
		}
		long long n = json_object_get_int64(v);
		long long lo = f->type == F_ID ? 1 : f->min,
		          hi = f->type == F_ID || f->max == 0 ? INT64_MAX : f->max;
		if (n < lo || n > hi || (n == INT64_MAX && f->type == F_ID)) {
			if (f->type == F_ID)
				snprintf(err, errlen, "must be a positive id");
			else
				snprintf(err, errlen, "must be between %lld and %lld", lo, hi);
			return -1;
		}
		*text = arena_sprintf(a, "%lld", n);
		break;
	}
	case F_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "must be true or false");
			return -1;
		}
		*text = json_object_get_boolean(v) ? "true" : "false";
		break;
	case F_STR:
	case F_URL:
		if (s == NULL) {
			snprintf(err, errlen, "must be a string");
			return -1;
		}
		if (check_string(f, s, f->type == F_URL ? 2048 : 200, err, errlen) != 0)
			return -1;
		if (f->type == F_URL && !is_url(s)) {
			snprintf(err, errlen, "must be an http:// or https:// URL");
			return -1;
		}
		*text = s;
		break;
	case F_ENUM:
		if (s == NULL || !in_choices(f->choices, s)) {
			snprintf(err, errlen, "must be one of %s", f->choices);
			return -1;
		}
		*text = s;
		break;
	case F_DECIMAL:
		if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
		    json_object_get_int64(v) < 1000000000000LL) {
			*text = arena_sprintf(a, "%lld", (long long)json_object_get_int64(v));
			break;
		}
		if (s == NULL || !is_decimal_text(s)) {
			snprintf(err, errlen,
			         "must be a non-negative decimal string like \"2.50\" (at most 12 digits "
			         "before and 6 after the point)");
			return -1;
		}
		*text = s;
		break;
	case F_CURRENCY:
		if (s == NULL || !upper_code(s, 3)) {
			snprintf(err, errlen, "must be an ISO 4217 currency code like \"USD\"");
			return -1;
		}
		*text = s;
		break;
	case F_COUNTRIES:
	case F_STRINGS: return array_value(f, v, a, text, err, errlen);
	case F_JSON:
		if (f->check == NULL) {
			snprintf(err, errlen, "is not accepted");
			return -1;
		}
		*text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		                                              JSON_C_TO_STRING_NOSLASHESCAPE);
		*text = *text ? arena_strdup(a, *text) : NULL;
		break;
	case F_TIME: snprintf(err, errlen, "is read-only"); return -1;
	}
	if (*text == NULL) {
		snprintf(err, errlen, "could not be stored");
		return -1;
	}
	return 0;
}

int rvals_add(struct rvals *v, const char *column, const char *value)
{
	if (v->n >= RVALS_MAX)
		return -1;
	v->v[v->n].column = column;
	v->v[v->n].value = value;
	v->v[v->n].field = NULL;
	v->n++;
	return 0;
}

static const struct field *find_field(const struct resource *res, const char *name)
{
	for (const struct field *f = res->fields; f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

/* True when some field is a member of the object called prefix. */
static bool is_group(const struct resource *res, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const struct field *f = res->fields; f->name; f++)
		if (!strncmp(f->name, prefix, n) && f->name[n] == '.')
			return true;
	return false;
}

static int parse_member(const struct resource *res, const char *name, struct json_object *val, bool patch,
                        struct arena *a, struct rvals *out, char *err, size_t errlen)
{
	char msg[200];
	const struct field *f = find_field(res, name);
	if (f == NULL && is_group(res, name)) {
		if (!json_object_is_type(val, json_type_object)) {
			snprintf(err, errlen, "field '%s' must be an object", name);
			return -1;
		}
		json_object_object_foreach(val, k, sub)
		{
			char *full = arena_sprintf(a, "%s.%s", name, k);
			if (full == NULL || parse_member(res, full, sub, patch, a, out, err, errlen) != 0)
				return -1;
		}
		return 0;
	}
	if (f == NULL || strlen(name) > 100) {
		snprintf(err, errlen, "unknown field '%.100s'", name);
		return -1;
	}
	if (f->flags & FF_READONLY) {
		snprintf(err, errlen, "field '%s' is read-only", name);
		return -1;
	}
	if (patch && (f->flags & FF_FIXED)) {
		snprintf(err, errlen, "field '%s' cannot be changed", name);
		return -1;
	}
	const char *text;
	if (field_value(f, val, a, &text, msg, sizeof msg) != 0) {
		snprintf(err, errlen, "field '%s' %s", name, msg);
		return -1;
	}
	if (out->n >= RVALS_MAX) {
		snprintf(err, errlen, "too many fields");
		return -1;
	}
	out->v[out->n].column = col_of(f);
	out->v[out->n].value = text;
	out->v[out->n].field = f;
	out->n++;
	return 0;
}

int resource_parse(const struct resource *res, struct json_object *body, bool patch, struct arena *a,
                   struct rvals *out, char *err, size_t errlen)
{
	out->n = 0;
	if (body == NULL || !json_object_is_type(body, json_type_object)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	json_object_object_foreach(body, k, v)
	{
		if (parse_member(res, k, v, patch, a, out, err, errlen) != 0)
			return -1;
	}
	if (patch)
		return 0;
	for (const struct field *f = res->fields; f->name; f++) {
		if (!(f->flags & FF_REQUIRED))
			continue;
		bool seen = false;
		for (int i = 0; i < out->n; i++)
			seen |= out->v[i].field == f;
		if (!seen) {
			snprintf(err, errlen, "field '%s' is required", f->name);
			return -1;
		}
	}
	return 0;
}

/* ---- rows as JSON ---- */

static void select_list(struct buf *b, const struct resource *res)
{
	bool first = true;
	for (const struct field *f = res->fields; f->name; f++) {
		if (!first)
			buf_puts(b, ", ");
		first = false;
		const char *c = col_of(f);
		switch (f->type) {
		case F_TIME:
			buf_printf(b, "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
			           c);
			break;
		case F_DECIMAL:
			/* exact, without trailing zeros but with at least cents: 2.50, 0.125 */
			buf_printf(b,
			           "(CASE WHEN scale(trim_scale(%s)) < 2 THEN round(%s, 2) ELSE "
			           "trim_scale(%s) END)::text",
			           c, c, c);
			break;
		case F_COUNTRIES:
		case F_STRINGS: buf_printf(b, "array_to_json(%s)::text", c); break;
		default: buf_printf(b, "%s::text", c);
		}
	}
}

/* The object that holds member name ("a.b" -> obj["a"]), created on demand. */
static struct json_object *holder(struct json_object *obj, const char *name, const char **leaf)
{
	const char *dot = strchr(name, '.');
	if (dot == NULL) {
		*leaf = name;
		return obj;
	}
	char group[64];
	snprintf(group, sizeof group, "%.*s", (int)(dot - name), name);
	struct json_object *sub;
	if (!json_object_object_get_ex(obj, group, &sub)) {
		sub = json_object_new_object();
		json_object_object_add(obj, group, sub);
	}
	return holder(sub, dot + 1, leaf);
}

struct json_object *resource_row_json(struct req *q, const struct resource *res, const PGresult *pr, int row)
{
	struct json_object *obj = json_object_new_object();
	if (obj == NULL)
		return NULL;
	int col = 0;
	for (const struct field *f = res->fields; f->name; f++, col++) {
		if (f->flags & FF_HIDDEN)
			continue;
		const char *leaf, *v = db_val(pr, row, col);
		struct json_object *h = holder(obj, f->name, &leaf), *jv = NULL;
		if (v == NULL)
			jv = NULL;
		else if (f->type == F_ID || f->type == F_INT)
			jv = json_object_new_int64(atoll(v));
		else if (f->type == F_BOOL)
			jv = json_object_new_boolean(v[0] == 't');
		else if (f->type == F_COUNTRIES || f->type == F_STRINGS || f->type == F_JSON)
			jv = json_tokener_parse(v);
		else
			jv = json_object_new_string(v);
		json_object_object_add(h, leaf, jv);
	}
	if (res->decorate)
		res->decorate(q, obj);
	return obj;
}

/* ---- database ---- */

struct sql {
	struct buf b;
	const char *p[RVALS_MAX + 8];
	int n;
};

/* Adds a parameter and returns its number. */
static int param(struct sql *s, const char *v)
{
	s->p[s->n++] = v;
	return s->n;
}

/* " WHERE <tenant> [AND <owner>]" for the caller's key; false when the key
 * may see no row of this resource at all. */
static bool scope_filter(struct sql *s, struct req *q, const struct resource *res, const char *alias)
{
	const struct auth *au = &q->auth;
	struct arena *a = q->arena;
	buf_puts(&s->b, " WHERE true");
	if (au->scope != SCOPE_OPERATOR)
		buf_printf(&s->b, " AND %s%s = $%d", alias, tenant_col(res),
		           param(s, arena_sprintf(a, "%lld", au->tenant_id)));
	if (au->scope == SCOPE_ADVERTISER) {
		if (res->advertiser_col == NULL)
			return false;
		buf_printf(&s->b, " AND %s%s = $%d", alias, res->advertiser_col,
		           param(s, arena_sprintf(a, "%lld", au->advertiser_id)));
	}
	if (au->scope == SCOPE_AFFILIATE) {
		if (res->affiliate_col == NULL)
			return false;
		buf_printf(&s->b, " AND %s%s = $%d", alias, res->affiliate_col,
		           param(s, arena_sprintf(a, "%lld", au->affiliate_id)));
	}
	return true;
}

static PGresult *run(struct req *q, struct sql *s)
{
	struct app *app = q->app;
	if (!buf_ok(&s->b))
		return NULL;
	return db_exec(app->db, q->arena, s->b.p, s->n, s->p);
}

int resource_db_error(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	const char *st = db_sqlstate(app->db);
	if (!strcmp(st, "23505")) {
		resp_error(q, r, 409, "CONFLICT", "a conflicting record already exists");
		return 0;
	}
	if (!strcmp(st, "23503")) {
		resp_error(q, r, 409, "CONFLICT", "the record is referenced by or refers to another record");
		return 0;
	}
	if (!strncmp(st, "22", 2) || !strcmp(st, "23514") || !strcmp(st, "23502")) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "a value is out of range");
		return 0;
	}
	if (!strcmp(st, "42501")) { /* row-level security refused a write */
		resp_error(q, r, 404, "NOT_FOUND", "no such %s", "record");
		return 0;
	}
	return -1;
}

PGresult *resource_fetch(struct req *q, const struct resource *res, const char *id)
{
	struct sql s = {.n = 0};
	buf_init(&s.b, q->arena);
	buf_puts(&s.b, "SELECT ");
	select_list(&s.b, res);
	buf_printf(&s.b, " FROM %s", res->table);
	if (!scope_filter(&s, q, res, ""))
		buf_puts(&s.b, " AND false");
	buf_printf(&s.b, " AND id = $%d", param(&s, id));
	return run(q, &s);
}

int resource_check_refs(struct req *q, struct resp *r, const struct rvals *v)
{
	struct app *app = q->app;
	for (int i = 0; i < v->n; i++) {
		const struct field *f = v->v[i].field;
		if (f == NULL || f->type != F_ID || f->ref == NULL || v->v[i].value == NULL)
			continue;
		char *sql =
		    arena_sprintf(q->arena, "SELECT 1 FROM %s WHERE id = $1 AND tenant_id = $2", f->ref);
		const char *tenant = arena_sprintf(q->arena, "%lld", q->auth.tenant_id);
		PGresult *pr = sql ? db_execp(app->db, q->arena, sql, v->v[i].value, tenant) : NULL;
		if (pr == NULL)
			return resource_db_error(q, r) == 0 ? 1 : -1;
		if (PQntuples(pr) == 0) {
			/* 404 like a foreign id in a path: missing and foreign look alike. */
			resp_error(q, r, 404, "NOT_FOUND", "field '%s': no such %s", f->name, f->ref);
			return 1;
		}
	}
	return 0;
}

int resource_audit(struct req *q, const char *action, const char *resource, long long tenant_id,
                   const char *id, const struct rvals *v)
{
	struct app *app = q->app;
	struct buf b;
	buf_init(&b, q->arena);
	buf_putc(&b, '{');
	for (int i = 0; v && i < v->n; i++) {
		if (i)
			buf_putc(&b, ',');
		array_elem(&b, v->v[i].field ? v->v[i].field->name : v->v[i].column);
	}
	buf_putc(&b, '}');
	if (tenant_id == 0)
		tenant_id = q->auth.tenant_id;
	const char *tenant = tenant_id ? arena_sprintf(q->arena, "%lld", tenant_id) : NULL;
	const char *key = q->auth.key_id ? arena_sprintf(q->arena, "%lld", q->auth.key_id) : NULL;
	if (!buf_ok(&b))
		return -1;
	return db_execp(app->db, q->arena,
	                "INSERT INTO admin_audit (tenant_id, key_id, scope, action, resource, resource_id, "
	                "fields, request_id) "
	                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	                tenant, key, scope_name(q->auth.scope), action, resource, id, b.p, q->request_id)
	           ? 0
	           : -1;
}

/* The result column of the id field (every select list follows the fields). */
static int id_column(const struct resource *res)
{
	int col = 0;
	for (const struct field *f = res->fields; f->name; f++, col++)
		if (!strcmp(f->name, "id"))
			return col;
	return 0;
}

/* Audits the change to the row in pr (row 0). */
static int audit_row(struct req *q, const struct resource *res, const char *action, const PGresult *pr,
                     const struct rvals *v)
{
	const char *id = db_val(pr, 0, id_column(res));
	/* A tenant row belongs to itself. */
	long long tenant = !strcmp(tenant_col(res), "id") && id ? atoll(id) : 0;
	return id ? resource_audit(q, action, res->table, tenant, id, v) : -1;
}

static int answer_row(struct req *q, struct resp *r, const struct resource *res, PGresult *pr, int status)
{
	struct json_object *o = resource_row_json(q, res, pr, 0);
	if (o == NULL)
		return -1;
	resp_json(q, r, status, o);
	return 0;
}

/* GET by id: 200 with the row, or 404 (missing and foreign alike). */
static int answer_fetched(struct req *q, struct resp *r, const struct resource *res, const char *id)
{
	PGresult *pr = resource_fetch(q, res, id);
	if (pr == NULL)
		return resource_db_error(q, r);
	if (PQntuples(pr) == 0) {
		resp_error(q, r, 404, "NOT_FOUND", "no such %s", res->name);
		return 0;
	}
	return answer_row(q, r, res, pr, 200);
}

int resource_page(struct req *q, struct resp *r, long long *limit, const char **cursor)
{
	const char *ls = req_param(q, "limit");
	*limit = RESOURCE_LIMIT_DEFAULT;
	*cursor = req_param(q, "cursor");
	if (ls && (!resource_id_valid(ls) || (*limit = atoll(ls)) > RESOURCE_LIMIT_MAX)) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'limit' must be 1 to %d",
		           RESOURCE_LIMIT_MAX);
		return -1;
	}
	if (*cursor && !resource_id_valid(*cursor)) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'cursor' is not valid");
		return -1;
	}
	return 0;
}

static int do_list(struct req *q, struct resp *r, const struct resource *res)
{
	long long limit;
	const char *cursor;
	if (resource_page(q, r, &limit, &cursor) != 0)
		return 0;
	struct sql s = {.n = 0};
	buf_init(&s.b, q->arena);
	buf_puts(&s.b, "SELECT ");
	select_list(&s.b, res);
	buf_printf(&s.b, " FROM %s", res->table);
	if (!scope_filter(&s, q, res, ""))
		buf_puts(&s.b, " AND false");
	for (const struct field *f = res->fields; f->name; f++) {
		const char *v = (f->flags & FF_FILTER) ? req_param(q, f->name) : NULL;
		if (v == NULL)
			continue;
		if ((f->type == F_ID && !resource_id_valid(v)) ||
		    (f->type == F_ENUM && !in_choices(f->choices, v))) {
			resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' is not valid", f->name);
			return 0;
		}
		/* ids compared as bigint (indexes apply), the rest as text */
		buf_printf(&s.b, f->type == F_ID ? " AND %s.%s = $%d::bigint" : " AND %s.%s::text = $%d",
		           res->table, col_of(f), param(&s, v));
	}
	if (cursor)
		buf_printf(&s.b, " AND id > $%d", param(&s, cursor));
	/* qualified: the select list has a text column named id too */
	buf_printf(&s.b, " ORDER BY %s.id LIMIT %lld", res->table, limit + 1);
	PGresult *pr = run(q, &s);
	if (pr == NULL)
		return resource_db_error(q, r);
	struct json_object *out = json_object_new_object(), *data = json_object_new_array();
	int n = PQntuples(pr);
	for (int i = 0; i < n && i < limit; i++)
		json_object_array_add(data, resource_row_json(q, res, pr, i));
	json_object_object_add(out, "data", data);
	json_object_object_add(out, "next_cursor",
	                       n > limit ? json_object_new_string(db_val(pr, (int)limit - 1, id_column(res)))
	                                 : NULL);
	resp_json(q, r, 200, out);
	return 0;
}

static int do_create(struct req *q, struct resp *r, const struct resource *res)
{
	char err[256];
	struct rvals v;
	if (resource_parse(res, q->json, false, q->arena, &v, err, sizeof err) != 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "%s", err);
		return 0;
	}
	int rc = resource_check_refs(q, r, &v);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (res->before_insert && res->before_insert(q, r, &v) != 0)
		return r->status >= 400 ? 0 : -1;
	struct sql s = {.n = 0};
	buf_init(&s.b, q->arena);
	buf_printf(&s.b, "INSERT INTO %s (%s", res->table, tenant_col(res));
	for (int i = 0; i < v.n; i++)
		buf_printf(&s.b, ", %s", v.v[i].column);
	buf_printf(&s.b, ") VALUES ($%d", param(&s, arena_sprintf(q->arena, "%lld", q->auth.tenant_id)));
	for (int i = 0; i < v.n; i++)
		buf_printf(&s.b, ", $%d", param(&s, v.v[i].value));
	buf_puts(&s.b, ") RETURNING ");
	select_list(&s.b, res);
	PGresult *pr = run(q, &s);
	if (pr == NULL || PQntuples(pr) != 1)
		return pr ? -1 : resource_db_error(q, r);
	if (audit_row(q, res, "create", pr, &v) != 0)
		return -1;
	return answer_row(q, r, res, pr, 201);
}

/* PATCH (body given) and soft DELETE (archive). */
static int do_update(struct req *q, struct resp *r, const struct resource *res, const char *id, bool archive)
{
	char err[256];
	struct rvals v = {.n = 0};
	if (!archive && resource_parse(res, q->json, true, q->arena, &v, err, sizeof err) != 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "%s", err);
		return 0;
	}
	if (archive)
		rvals_add(&v, "status", "archived");
	int rc = resource_check_refs(q, r, &v);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (v.n == 0 && res->no_updated_at)
		return answer_fetched(q, r, res, id); /* nothing to change */
	struct sql s = {.n = 0};
	buf_init(&s.b, q->arena);
	buf_printf(&s.b, "UPDATE %s SET ", res->table);
	if (!res->no_updated_at)
		buf_puts(&s.b, "updated_at = now()");
	for (int i = 0; i < v.n; i++)
		buf_printf(&s.b, "%s%s = $%d", i || !res->no_updated_at ? ", " : "", v.v[i].column,
		           param(&s, v.v[i].value));
	if (!scope_filter(&s, q, res, ""))
		buf_puts(&s.b, " AND false");
	buf_printf(&s.b, " AND id = $%d RETURNING ", param(&s, id));
	select_list(&s.b, res);
	PGresult *pr = run(q, &s);
	if (pr == NULL)
		return resource_db_error(q, r);
	if (PQntuples(pr) == 0) {
		resp_error(q, r, 404, "NOT_FOUND", "no such %s", res->name);
		return 0;
	}
	if (audit_row(q, res, archive ? "delete" : "update", pr, archive ? NULL : &v) != 0)
		return -1;
	return answer_row(q, r, res, pr, 200);
}

static int do_delete(struct req *q, struct resp *r, const struct resource *res, const char *id)
{
	if (res->soft_delete)
		return do_update(q, r, res, id, true);
	struct sql s = {.n = 0};
	buf_init(&s.b, q->arena);
	buf_printf(&s.b, "DELETE FROM %s", res->table);
	if (!scope_filter(&s, q, res, ""))
		buf_puts(&s.b, " AND false");
	buf_printf(&s.b, " AND id = $%d RETURNING id", param(&s, id));
	PGresult *pr = run(q, &s);
	if (pr == NULL)
		return resource_db_error(q, r);
	if (PQntuples(pr) == 0) {
		resp_error(q, r, 404, "NOT_FOUND", "no such %s", res->name);
		return 0;
	}
	if (resource_audit(q, "delete", res->table, 0, id, NULL) != 0)
		return -1;
	r->status = 204;
	return 0;
}

static int dispatch(struct req *q, struct resp *r, const struct resource *res)
{
	const char *id = q->args[0];
	if (id == NULL) {
		if (q->method == HTTP_POST)
			return do_create(q, r, res);
		return do_list(q, r, res);
	}
	if (!resource_id_valid(id)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such %s", res->name);
		return 0;
	}
	switch (q->method) {
	case HTTP_PATCH: return do_update(q, r, res, id, false);
	case HTTP_DELETE: return do_delete(q, r, res, id);
	default: return answer_fetched(q, r, res, id);
	}
}

int resource_handle(struct req *q, struct resp *r, const struct resource *res)
{
	struct app *app = q->app;
	bool write = q->method != HTTP_GET && q->method != HTTP_HEAD;
	if (write && q->body_len > 0 && q->json == NULL) {
		resp_error(q, r, 400, "BAD_REQUEST",
		           "the body must be JSON (Content-Type: application/json)");
		return 0;
	}
	if (tenant_scope_begin(app, q->arena, &q->auth) != 0) {
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return 0;
	}
	int rc = dispatch(q, r, res);
	bool ok = rc == 0 && r->status < 400;
	if (tenant_scope_end(app, q->arena, ok) != 0)
		return -1;
	if (ok && write && res->bump_cache)
		linkcache_bump(app, q->arena);
	return rc;
}
