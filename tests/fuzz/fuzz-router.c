/* Fuzz target: the dispatcher (route matching, 404/405, body parsing,
 * parameter validation and dropping) on a table that uses every parameter
 * type. Input: method byte, then path, query, content type and body
 * separated by NUL bytes. Whatever arrives, the answer is one of the
 * dispatcher's statuses with a SPEC section 7 body, and a handler only ever
 * sees declared, valid parameters. */
#include "fuzz.h"

#include <json-c/json.h>

#include "app.h"
#include "arena.h"
#include "router.h"

static const struct route *matched;

static int h_ok(struct req *q, struct resp *r)
{
	r->status = 200;
	return 0;
}

static const struct route_param p_stats[] = {
	{"from", P_DATE, true, 0},      {"to", P_DATE, false, 0},
	{"limit", P_INT, false, 6},     {"amount", P_DECIMAL, false, 0},
	{"group_by", P_TOKEN, false, 64}, {"q", P_STR, false, 16},
	{NULL, 0, false, 0},
};
static const struct route_param p_post[] = {
	{"click_id", P_TOKEN, true, 40}, {"transaction_id", P_STR, false, 128},
	{"amount", P_DECIMAL, false, 0}, {"status", P_TOKEN, false, 16},
	{NULL, 0, false, 0},
};
static const struct route table[] = {
	{"/health", HTTP_GET, 0, 0, NULL, h_ok},
	{"/api/stats", HTTP_GET, 0, 0, p_stats, h_ok},
	{"/postback", HTTP_GET | HTTP_POST, 0, 0, p_post, h_ok},
	{"/c/*", HTTP_GET, R_ANYPARAM, 0, NULL, h_ok},
	{"/admin/offers/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, 0, 0, NULL, h_ok},
	{"/admin/links/*/sign", HTTP_POST, 0, 0, p_stats, h_ok},
	{"/a/*/*/*/*", HTTP_GET, R_ANYPARAM, 0, p_post, h_ok},
	{NULL, 0, 0, 0, NULL, NULL},
};

static struct app app = {.cfg = {.body_max_bytes = 4096}};

static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW", ""};
static const char *types[] = {"application/json", "application/x-www-form-urlencoded",
			      "text/plain", "application/json; charset=utf-8"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	data++, size--;
	char *path = fuzz_take(&data, &size);
	char *query = fuzz_take(&data, &size);
	char *ctype = fuzz_take(&data, &size);
	/* The body is the rest, without a terminating NUL, as the adapter reads it. */
	char *body = malloc(size ? size : 1);
	FUZZ_CHECK(body != NULL);
	memcpy(body, data, size);

	struct arena *a = arena_new(512);
	FUZZ_CHECK(a != NULL);
	struct req q = {.arena = a, .request_id = "fuzz"};
	q.method_name = methods[(sel & 15) % (sizeof methods / sizeof methods[0])];
	q.method = http_method_from(q.method_name);
	q.path = path;
	q.query = query;
	/* Upper bits pick a known content type or the fuzzer's own. */
	q.content_type = (sel & 0x40) ? types[(sel >> 4) & 3] : ctype;
	q.body = body;
	q.body_len = size;
	bool too_large = (sel & 0x80) && size > 64;
	struct resp r;
	resp_init(&r, a);
	if (query_parse(a, query, strlen(query), &q.params, &q.nparams) != 0) {
		q.params = NULL;
		q.nparams = 0;
	}
	matched = NULL;
	router_dispatch(table, &app, &q, &r, too_large);

	switch (r.status) {
	case 200: {
		/* Find the route the dispatcher ran and re-check what it let through. */
		for (const struct route *e = table; e->pattern; e++)
			if (route_match(e->pattern, path, NULL, NULL)) {
				matched = e;
				break;
			}
		FUZZ_CHECK(matched != NULL);
		for (size_t i = 0; i < q.nparams; i++) {
			const struct route_param *d = NULL;
			for (const struct route_param *p = matched->params; p && p->name; p++)
				if (!strcmp(p->name, q.params[i].name))
					d = p;
			FUZZ_CHECK(d != NULL || (matched->flags & R_ANYPARAM));
			if (d)
				FUZZ_CHECK(param_valid(d, q.params[i].value));
		}
		for (const struct route_param *p = matched->params; p && p->name; p++)
			if (p->required)
				FUZZ_CHECK(req_param(&q, p->name) != NULL);
		break;
	}
	case 400: case 404: case 405: case 413: {
		FUZZ_CHECK(buf_ok(&r.body) && r.body.len > 0);
		struct json_object *o = json_tokener_parse(r.body.p);
		FUZZ_CHECK(o != NULL);
		struct json_object *e, *c;
		FUZZ_CHECK(json_object_object_get_ex(o, "error", &e) && json_object_object_get_ex(e, "code", &c));
		json_object_put(o);
		break;
	}
	default:
		FUZZ_CHECK(!"unexpected status");
	}
	/* Header lines never carry a stray line break (response splitting). */
	if (r.headers.len) {
		for (const char *h = r.headers.p; *h; h++)
			if (*h == '\r' || *h == '\n')
				FUZZ_CHECK(h[0] == '\r' && h[1] == '\n' && (h++, 1));
	}
	arena_free(a);
	free(path), free(query), free(ctype), free(body);
	return 0;
}
