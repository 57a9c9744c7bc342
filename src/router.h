/* Route table and dispatcher. A route declares its methods, parameters,
 * needed connections and allowed key scopes; the dispatcher enforces all of
 * that (404 vs 405 with Allow, 400 naming the parameter, 413, 503, 401/403)
 * before the handler runs, so handlers stay short. */
#ifndef AFFTOK_ROUTER_H
#define AFFTOK_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct app;

enum param_type {
	P_STR,     /* any text up to max_len */
	P_INT,     /* decimal integer */
	P_DATE,    /* YYYY-MM-DD */
	P_DECIMAL, /* 12.34, non-negative */
	P_TOKEN,   /* [A-Za-z0-9_.,:-] */
};

struct route_param {
	const char *name;
	enum param_type type;
	bool required;
	size_t max_len; /* 0 = 256 */
};

enum route_flags {
	R_DB = 1,      /* needs PostgreSQL */
	R_KV = 2,      /* needs Redis */
	R_ANYPARAM = 4, /* keep undeclared parameters (click sub-ids and the like) */
	R_TENANT = 8,   /* run the handler in a tenant scope (src/tenantdb.h): RLS on */
	/* per-key request limits counted in Redis (src/ratelimit.h); Redis down:
	 * admin writes 503, the rest go through */
	R_RL_ADMIN = 16,
	R_RL_STATS = 32,
	R_RL_POSTBACK = 64,
};

#define SCOPE_BIT(s) (1u << (s))
#define SCOPES_ANY (SCOPE_BIT(SCOPE_OPERATOR) | SCOPE_BIT(SCOPE_ADMIN) | SCOPE_BIT(SCOPE_ADVERTISER) | SCOPE_BIT(SCOPE_AFFILIATE))

struct route {
	const char *pattern; /* "/admin/offers/ *" without the space: '*' matches one segment */
	unsigned methods;    /* HTTP_GET | ...; HEAD is implied by GET */
	unsigned flags;
	unsigned scopes; /* allowed key scopes; 0 = no key needed */
	const struct route_param *params; /* terminated by name == NULL; NULL = none declared */
	int (*handler)(struct req *q, struct resp *r);
};

/* Matches path against pattern, filling args with the '*' segments. */
bool route_match(const char *pattern, const char *path, struct arena *a, const char **args);
/* Checks one value against a declared type. */
bool param_valid(const struct route_param *p, const char *v);
/* Runs the whole pipeline for one request. body_too_large: the adapter saw a
 * body over the configured limit and did not read it. */
void router_dispatch(const struct route *table, struct app *app, struct req *q, struct resp *r,
		     bool body_too_large);

#endif
