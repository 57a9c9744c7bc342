/* The dispatcher: everything a route declares is checked here. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "auth.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "ratelimit.h"
#include "tenantdb.h"

bool route_match(const char *pattern, const char *path, struct arena *a, const char **args)
{
	int nargs = 0;
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || nargs >= 4)
				return false;
			if (a)
				args[nargs] = arena_strndup(a, path, n);
			nargs++;
			path += n;
			pattern++;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return *pattern == '\0' && *path == '\0';
}

static bool is_date(const char *v)
{
	int y, m, d;
	char tail;
	if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return false;
	if (v[4] != '-' || v[7] != '-' || y < 1970 || m < 1 || m > 12 || d < 1)
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] && !(m == 2 && d == 29 && !leap);
}

static bool is_decimal(const char *v)
{
	const char *p = v;
	size_t digits = 0, frac = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, frac++;
		if (frac == 0)
			return false;
	}
	return *p == '\0' && digits > 0 && digits <= 15 && frac <= 6;
}

bool param_valid(const struct route_param *p, const char *v)
{
	size_t max = p->max_len ? p->max_len : 256;
	size_t len = strlen(v);
	if (len > max)
		return false;
	switch (p->type) {
	case P_STR:
		return true;
	case P_INT: {
		const char *s = v + (*v == '-');
		if (*s == '\0' || strlen(s) > 18)
			return false;
		return strspn(s, "0123456789") == strlen(s);
	}
	case P_DATE:
		return is_date(v);
	case P_DECIMAL:
		return is_decimal(v);
	case P_TOKEN:
		return len > 0 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,:-") == len;
	}
	return false;
}

/* Keeps declared parameters only and validates them; -1 after answering 400. */
static int check_params(const struct route *rt, struct req *q, struct resp *r)
{
	if (rt->params == NULL && !(rt->flags & R_ANYPARAM)) {
		q->nparams = 0;
		return 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < q->nparams; i++) {
		const struct route_param *p = NULL;
		for (const struct route_param *d = rt->params; d && d->name; d++)
			if (!strcmp(d->name, q->params[i].name))
				p = d;
		if (p == NULL) {
			if (rt->flags & R_ANYPARAM)
				q->params[kept++] = q->params[i];
			continue;
		}
		if (!param_valid(p, q->params[i].value)) {
			resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' is not valid", p->name);
			return -1;
		}
		q->params[kept++] = q->params[i];
	}
	q->nparams = kept;
	for (const struct route_param *d = rt->params; d && d->name; d++) {
		if (d->required && req_param(q, d->name) == NULL) {
			resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' is required", d->name);
			return -1;
		}
	}
	return 0;
}

static void allow_header(struct resp *r, unsigned methods)
{
	static const struct { unsigned m; const char *n; } t[] = {
		{HTTP_GET, "GET"}, {HTTP_HEAD, "HEAD"}, {HTTP_POST, "POST"}, {HTTP_PUT, "PUT"},
		{HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
	};
	char allow[64] = "";
	if (methods & HTTP_GET)
		methods |= HTTP_HEAD;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (methods & t[i].m) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, t[i].n);
		}
	}
	resp_header(r, "Allow", "%s", allow);
}

static int authenticate(const struct route *rt, struct app *app, struct req *q, struct resp *r)
{
	if (q->api_key == NULL || q->api_key[0] == '\0') {
		resp_error(q, r, 401, "INVALID_API_KEY", "an API key is required");
		return -1;
	}
	/* A key this process checked a moment ago, on a route with one key
	 * limit: both Redis checks in one round trip (the hot postback path).
	 * Anything else, above all an unknown key, checks the address first,
	 * so a blocked address cannot make us look keys up. */
	unsigned rl = rt->flags & (R_RL_ADMIN | R_RL_STATS | R_RL_POSTBACK);
	if ((rl == R_RL_ADMIN || rl == R_RL_STATS || rl == R_RL_POSTBACK) &&
	    auth_cached(app, q->api_key, &q->auth) && (rt->scopes & SCOPE_BIT(q->auth.scope)))
		return ratelimit_request(app, q, r,
		                         rl == R_RL_ADMIN ? RL_ADMIN : rl == R_RL_STATS ? RL_STATS : RL_POSTBACK);
	if (ratelimit_auth_blocked(app, q, r))
		return -1;
	switch (auth_check(app, q->arena, q->api_key, &q->auth)) {
	case AUTH_OK:
		break;
	case AUTH_UNAVAILABLE:
		resp_error(q, r, 503, "UNAVAILABLE", "the key store is unavailable");
		return -1;
	default:
		ratelimit_auth_failed(app, q);
		resp_error(q, r, 401, "INVALID_API_KEY", "the API key is not valid");
		return -1;
	}
	if (!(rt->scopes & SCOPE_BIT(q->auth.scope))) {
		resp_error(q, r, 403, "FORBIDDEN", "this key's scope may not use this route");
		return -1;
	}
	if ((rt->flags & R_RL_ADMIN) && ratelimit_key(app, q, r, RL_ADMIN) != 0)
		return -1;
	if ((rt->flags & R_RL_STATS) && ratelimit_key(app, q, r, RL_STATS) != 0)
		return -1;
	if ((rt->flags & R_RL_POSTBACK) && ratelimit_key(app, q, r, RL_POSTBACK) != 0)
		return -1;
	return 0;
}

void router_dispatch(const struct route *table, struct app *app, struct req *q, struct resp *r,
		     bool body_too_large)
{
	const struct route *rt = NULL;
	unsigned allowed = 0;
	for (const struct route *e = table; e->pattern; e++) {
		if (!route_match(e->pattern, q->path, NULL, NULL))
			continue;
		unsigned m = e->methods | ((e->methods & HTTP_GET) ? HTTP_HEAD : 0);
		allowed |= e->methods;
		if ((m & q->method) && rt == NULL)
			rt = e;
	}
	if (rt == NULL) {
		if (allowed) {
			allow_header(r, allowed);
			resp_error(q, r, 405, "METHOD_NOT_ALLOWED", "method %s is not allowed here", q->method_name);
		} else {
			resp_error(q, r, 404, "NOT_FOUND", "no such resource");
		}
		return;
	}
	route_match(rt->pattern, q->path, q->arena, q->args);
	if (body_too_large) {
		resp_error(q, r, 413, "PAYLOAD_TOO_LARGE", "the body is larger than %ld bytes", app->cfg.body_max_bytes);
		return;
	}
	if (req_parse_body(q) != 0) {
		resp_error(q, r, 400, "BAD_REQUEST", "the body is not valid %s", q->content_type ? q->content_type : "");
		return;
	}
	if (q->api_key == NULL && rt->scopes)
		q->api_key = req_param(q, "api_key"); /* before check_params drops it */
	if (check_params(rt, q, r) != 0)
		return;
	if ((rt->flags & R_DB) && !db_ready(app->db)) {
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return;
	}
	if ((rt->flags & R_KV) && !kv_ready(app->kv)) {
		resp_error(q, r, 503, "UNAVAILABLE", "redis is unavailable");
		return;
	}
	if (rt->scopes && authenticate(rt, app, q, r) != 0)
		return;
	q->app = app;
	if ((rt->flags & R_TENANT) && rt->scopes && tenant_scope_begin(app, q->arena, &q->auth) != 0) {
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return;
	}
	int rc = rt->handler(q, r);
	if ((rt->flags & R_TENANT) && tenant_scope_end(app, q->arena, rc == 0 && r->status < 400) != 0)
		rc = -1, r->status = 500, r->body.len = 0;
	if (rc != 0 && (r->status < 400 || r->body.len == 0)) {
		log_err("%s %s: handler failed", q->method_name, q->path);
		resp_error(q, r, 500, "INTERNAL", "internal error");
	}
}
