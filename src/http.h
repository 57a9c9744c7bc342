/* Server-independent request and response. The FastCGI adapter copies what a
 * request needs into req's arena; handlers fill resp; one writer sends it. */
#ifndef AFFTOK_HTTP_H
#define AFFTOK_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct arena;
struct json_object;

enum http_method {
	HTTP_GET = 1,
	HTTP_HEAD = 2,
	HTTP_POST = 4,
	HTTP_PUT = 8,
	HTTP_PATCH = 16,
	HTTP_DELETE = 32,
	HTTP_OPTIONS = 64,
};

struct param {
	const char *name;
	const char *value;
};

enum auth_scope { SCOPE_NONE = 0, SCOPE_OPERATOR, SCOPE_ADMIN, SCOPE_ADVERTISER, SCOPE_AFFILIATE };

struct auth {
	enum auth_scope scope;
	long long key_id;
	long long tenant_id; /* 0 for the operator */
	long long advertiser_id;
	long long affiliate_id;
	long rate_limit; /* requests per minute: 0 = the configured default, -1 = none */
};

struct req {
	struct arena *arena;
	const char *request_id;
	enum http_method method;
	const char *method_name;
	const char *path;  /* without the query string, not decoded */
	const char *query; /* raw, may be "" */
	const char *remote_addr;
	const char *user_agent;
	const char *referer;
	const char *accept;
	const char *accept_language;
	const char *content_type;
	const char *api_key; /* X-API-Key, or the Bearer token */
	const char *signature; /* X-AffTok-Signature */
	const char *body;
	size_t body_len;
	struct param *params; /* query string, then form body */
	size_t nparams;
	struct json_object *json; /* parsed body when it is JSON */
	const char *args[4]; /* path segments matched by '*' in the route */
	struct auth auth;
	void *app;
};

struct resp {
	int status;
	const char *content_type;
	struct buf headers; /* "Name: value\r\n" lines */
	struct buf body;
	bool head_only;
};

void resp_init(struct resp *r, struct arena *a);
void resp_header(struct resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The SPEC section 7 error body with the request id. */
void resp_error(const struct req *q, struct resp *r, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Called once the response is built: when its headers or body ran out of
 * memory it becomes a fixed 500 (no allocation), never a half-written one. */
void resp_finish(struct resp *r);
/* Serialises obj (json-c) as the body; obj is put on the arena. */
void resp_json(struct req *q, struct resp *r, int status, struct json_object *obj);
const char *http_reason(int status);

/* Parses "a=1&b=%20" into params (decoded, '+' as space), appended to *out.
 * Returns 0, or -1 on allocation failure or a malformed escape. */
int query_parse(struct arena *a, const char *s, size_t len, struct param **out, size_t *n);
/* Decodes %XX and, when plus is true, '+'; NULL on a malformed escape or NUL byte. */
char *url_decode(struct arena *a, const char *s, size_t len, bool plus);
/* First value of name, or NULL. */
const char *req_param(const struct req *q, const char *name);
enum http_method http_method_from(const char *name);
/* Parses the body as JSON or form according to content type. Returns 0, or
 * -1 when it is malformed (the caller answers 400). */
int req_parse_body(struct req *q);
/* A new request id: 16 hex characters. */
const char *req_new_id(struct arena *a);

#endif
