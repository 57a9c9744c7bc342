/* http: query parsing, URL decoding, error bodies, body parsing. */
#include <json-c/json.h>
#include <string.h>

#include "arena.h"
#include "http.h"
#include "unit.h"

static void t_query(void)
{
	struct arena *a = arena_new(0);
	struct param *p = NULL;
	size_t n = 0;
	const char *qs = "a=1&b=x+y&c=%41%42&d&&e=";
	CU_ASSERT_EQUAL_FATAL(query_parse(a, qs, strlen(qs), &p, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_STRING_EQUAL(p[1].value, "x y");
	CU_ASSERT_STRING_EQUAL(p[2].value, "AB");
	CU_ASSERT_STRING_EQUAL(p[3].name, "d");
	CU_ASSERT_STRING_EQUAL(p[3].value, "");
	struct req q = {.params = p, .nparams = n};
	CU_ASSERT_STRING_EQUAL(req_param(&q, "a"), "1");
	CU_ASSERT_PTR_NULL(req_param(&q, "zz"));
	arena_free(a);
}

static void t_decode_bad(void)
{
	static const char *bad[] = {"%", "%4", "%zz", "a%0", "%00", "x%G1"};
	struct arena *a = arena_new(0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_PTR_NULL(url_decode(a, bad[i], strlen(bad[i]), true));
	CU_ASSERT_STRING_EQUAL(url_decode(a, "a+b", 3, false), "a+b");
	struct param *p = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(query_parse(a, "a=%zz", 5, &p, &n), -1);
	arena_free(a);
}

static void t_error_body(void)
{
	struct arena *a = arena_new(0);
	struct req q = {.arena = a, .request_id = "abc123"};
	struct resp r;
	resp_init(&r, a);
	resp_error(&q, &r, 400, "INVALID_PARAMETER", "parameter '%s' is not valid", "am\"ount");
	CU_ASSERT_EQUAL(r.status, 400);
	struct json_object *o = json_tokener_parse(r.body.p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	struct json_object *e, *v;
	CU_ASSERT(json_object_object_get_ex(o, "error", &e));
	CU_ASSERT(json_object_object_get_ex(e, "code", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "INVALID_PARAMETER");
	CU_ASSERT(json_object_object_get_ex(e, "request_id", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "abc123");
	CU_ASSERT(json_object_object_get_ex(e, "message", &v));
	CU_ASSERT_PTR_NOT_NULL(strstr(json_object_get_string(v), "am\"ount"));
	json_object_put(o);
	arena_free(a);
}

static void t_header_injection(void)
{
	struct arena *a = arena_new(0);
	struct resp r;
	resp_init(&r, a);
	resp_header(&r, "Location", "http://x/\r\nSet-Cookie: y");
	CU_ASSERT_PTR_NULL(strstr(r.headers.p, "\r\nSet-Cookie"));
	/* The same value through the "%s" path, which skips the formatting. */
	resp_init(&r, a);
	resp_header(&r, "Location", "%s", "http://x/\r\nSet-Cookie: y\n");
	CU_ASSERT_STRING_EQUAL(r.headers.p, "Location: http://x/  Set-Cookie: y \r\n");
	resp_init(&r, a);
	resp_header(&r, "X-Empty", "%s", (const char *)NULL);
	CU_ASSERT_STRING_EQUAL(r.headers.p, "X-Empty: \r\n");
	/* Both paths cut a long value at the same place. */
	char *big = arena_alloc(a, 5000);
	memset(big, 'a', 4999);
	struct resp f;
	resp_init(&r, a);
	resp_init(&f, a);
	resp_header(&r, "Location", "%s", big);
	resp_header(&f, "Location", "%s%s", big, "");
	CU_ASSERT_EQUAL(r.headers.len, strlen("Location: \r\n") + 2047);
	CU_ASSERT_STRING_EQUAL(r.headers.p, f.headers.p);
	arena_free(a);
}

static void t_body(void)
{
	struct arena *a = arena_new(0);
	struct req q = {.arena = a, .content_type = "application/json", .body = "{\"a\":1}", .body_len = 7};
	CU_ASSERT_EQUAL(req_parse_body(&q), 0);
	CU_ASSERT_PTR_NOT_NULL(q.json);
	struct req bad = {.arena = a, .content_type = "application/json; charset=utf-8", .body = "{\"a\":1} x", .body_len = 9};
	CU_ASSERT_EQUAL(req_parse_body(&bad), -1);
	struct req form = {.arena = a, .content_type = "application/x-www-form-urlencoded", .body = "k=v%20w", .body_len = 7};
	CU_ASSERT_EQUAL(req_parse_body(&form), 0);
	CU_ASSERT_STRING_EQUAL(req_param(&form, "k"), "v w");
	arena_free(a);
	CU_ASSERT_EQUAL(http_method_from("PATCH"), HTTP_PATCH);
	CU_ASSERT_EQUAL(http_method_from("BREW"), 0);
}

static const struct unit_case cases[] = {
	{"query parsing", t_query},
	{"malformed escapes", t_decode_bad},
	{"error body", t_error_body},
	{"no header injection", t_header_injection},
	{"body parsing", t_body},
	{NULL, NULL},
};
UNIT_MAIN("http")
