/* router: matching, 404 vs 405 with Allow, parameter validation and
 * dropping, 413 - all without connections (routes that need none). */
#include <string.h>

#include "app.h"
#include "arena.h"
#include "router.h"
#include "unit.h"

static int called;
static int h_ok(struct req *q, struct resp *r)
{
	called++;
	r->status = 200;
	return 0;
}
static int h_fail(struct req *q, struct resp *r) { return -1; }

static const struct route_param stats_params[] = {
	{"from", P_DATE, true, 0}, {"limit", P_INT, false, 0}, {"amount", P_DECIMAL, false, 0}, {NULL, 0, false, 0},
};
static const struct route table[] = {
	{"/health", HTTP_GET, 0, 0, NULL, h_ok},
	{"/things/*", HTTP_GET | HTTP_DELETE, 0, 0, NULL, h_ok},
	{"/things", HTTP_POST, 0, 0, NULL, h_ok},
	{"/stats", HTTP_GET, 0, 0, stats_params, h_ok},
	{"/c/*", HTTP_GET, R_ANYPARAM, 0, NULL, h_ok},
	{"/broken", HTTP_GET, 0, 0, NULL, h_fail},
	{NULL, 0, 0, 0, NULL, NULL},
};

static struct app app = {.cfg = {.body_max_bytes = 100}};

static int run(struct arena *a, const char *method, const char *path, const char *query,
	       struct req *q, struct resp *r, bool too_large)
{
	memset(q, 0, sizeof *q);
	q->arena = a;
	q->request_id = "t";
	q->method_name = method;
	q->method = http_method_from(method);
	q->path = path;
	q->query = query;
	query_parse(a, query, strlen(query), &q->params, &q->nparams);
	resp_init(r, a);
	router_dispatch(table, &app, q, r, too_large);
	return r->status;
}

static void t_match(void)
{
	const char *args[4] = {0};
	struct arena *a = arena_new(0);
	CU_ASSERT_TRUE(route_match("/a/*/b", "/a/12/b", a, args));
	CU_ASSERT_STRING_EQUAL(args[0], "12");
	CU_ASSERT_FALSE(route_match("/a/*", "/a/", a, args));
	CU_ASSERT_FALSE(route_match("/a/*", "/a/1/2", a, args));
	CU_ASSERT_FALSE(route_match("/a", "/ab", a, args));
	arena_free(a);
}

static void t_status(void)
{
	struct arena *a = arena_new(0);
	struct req q;
	struct resp r;
	CU_ASSERT_EQUAL(run(a, "GET", "/health", "", &q, &r, false), 200);
	CU_ASSERT_EQUAL(run(a, "HEAD", "/health", "", &q, &r, false), 200);
	CU_ASSERT_EQUAL(run(a, "GET", "/nope", "", &q, &r, false), 404);
	CU_ASSERT_EQUAL(run(a, "POST", "/health", "", &q, &r, false), 405);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.headers.p, "Allow: GET, HEAD"));
	CU_ASSERT_EQUAL(run(a, "PUT", "/things/7", "", &q, &r, false), 405);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.headers.p, "DELETE"));
	CU_ASSERT_EQUAL(run(a, "DELETE", "/things/7", "", &q, &r, false), 200);
	CU_ASSERT_STRING_EQUAL(q.args[0], "7");
	CU_ASSERT_EQUAL(run(a, "POST", "/things", "", &q, &r, true), 413);
	CU_ASSERT_EQUAL(run(a, "GET", "/broken", "", &q, &r, false), 500);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body.p, "INTERNAL"));
	arena_free(a);
}

static void t_params(void)
{
	struct arena *a = arena_new(0);
	struct req q;
	struct resp r;
	CU_ASSERT_EQUAL(run(a, "GET", "/stats", "", &q, &r, false), 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body.p, "'from'"));
	CU_ASSERT_EQUAL(run(a, "GET", "/stats", "from=2026-02-30", &q, &r, false), 400);
	CU_ASSERT_EQUAL(run(a, "GET", "/stats", "from=2026-02-28&limit=x", &q, &r, false), 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body.p, "'limit'"));
	CU_ASSERT_EQUAL(run(a, "GET", "/stats", "from=2026-02-28&amount=1.5.5", &q, &r, false), 400);
	CU_ASSERT_EQUAL(run(a, "GET", "/stats", "from=2024-02-29&limit=5&junk=1", &q, &r, false), 200);
	CU_ASSERT_PTR_NULL(req_param(&q, "junk"));
	CU_ASSERT_STRING_EQUAL(req_param(&q, "limit"), "5");
	CU_ASSERT_EQUAL(run(a, "GET", "/c/abc", "sub1=x&other=y", &q, &r, false), 200);
	CU_ASSERT_STRING_EQUAL(req_param(&q, "other"), "y");
	arena_free(a);
}

static void t_param_types(void)
{
	static const struct { enum param_type t; const char *v; bool ok; } t[] = {
		{P_INT, "12", true}, {P_INT, "-3", true}, {P_INT, "", false}, {P_INT, "1e3", false},
		{P_INT, "9999999999999999999", false}, {P_DATE, "2026-11-25", true},
		{P_DATE, "2026-13-01", false}, {P_DATE, "2023-02-29", false}, {P_DATE, "26-1-1", false},
		{P_DECIMAL, "0.50", true}, {P_DECIMAL, "10", true}, {P_DECIMAL, "-1", false},
		{P_DECIMAL, ".5", false}, {P_DECIMAL, "1.", false}, {P_DECIMAL, "1.1234567", false},
		{P_TOKEN, "day,offer", true}, {P_TOKEN, "a b", false}, {P_STR, "anything at all", true},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct route_param p = {"x", t[i].t, false, 0};
		CU_ASSERT_EQUAL(param_valid(&p, t[i].v), t[i].ok);
	}
	struct route_param p = {"x", P_STR, false, 3};
	CU_ASSERT_FALSE(param_valid(&p, "abcd"));
}

static const struct unit_case cases[] = {
	{"pattern matching", t_match},
	{"404, 405, 413, 500", t_status},
	{"declared parameters", t_params},
	{"parameter types table", t_param_types},
	{NULL, NULL},
};
UNIT_MAIN("router")
