/* resource: field-by-field validation of admin bodies (no database), as a
 * table of bodies and the field the refusal must name; the column values a
 * good body turns into; ids in paths; rate-limit keys. */
#include <json-c/json.h>
#include <string.h>

#include "adminres.h"
#include "arena.h"
#include "ratelimit.h"
#include "resource.h"
#include "unit.h"

static struct arena *a;

static void put_json(void *o)
{
	json_object_put(o);
}

/* Parses body for res; returns 0/-1 and leaves the message in err. The
 * values may point into the JSON object (numbers keep their text), so it
 * lives on the arena like a request's body (ASan found it freed too early). */
static int parse(const struct resource *res, const char *body, bool patch, struct rvals *v, char *err)
{
	struct json_object *o = json_tokener_parse(body);
	int rc = resource_parse(res, o, patch, a, v, err, 256);
	arena_defer(a, put_json, o);
	return rc;
}

static const char *col(const struct rvals *v, const char *c)
{
	for (int i = 0; i < v->n; i++)
		if (!strcmp(v->v[i].column, c))
			return v->v[i].value ? v->v[i].value : "NULL";
	return NULL;
}

static const char *big(size_t n)
{
	char *s = arena_alloc(a, n + 1);
	memset(s, 'x', n);
	return s;
}

struct bad {
	const struct resource *res;
	bool patch;
	const char *body;
	const char *field; /* must appear quoted in the message */
};

static void test_refusals(void)
{
	a = arena_new(4096);
	const char *huge_name = arena_sprintf(a, "{\"name\":\"%s\"}", big(201));
	const char *huge_url =
	    arena_sprintf(a, "{\"name\":\"p\",\"postback_url\":\"https://e.x/%s\"}", big(2040));
	const struct bad cases[] = {
	    {&res_advertisers, false, "{}", "name"},
	    {&res_advertisers, false, "{\"name\":\"\"}", "name"},
	    {&res_advertisers, false, "{\"name\":1}", "name"},
	    {&res_advertisers, false, "{\"name\":null}", "name"},
	    {&res_advertisers, false, huge_name, "name"},
	    {&res_advertisers, false, "{\"name\":\"a\\u0001b\"}", "name"},
	    {&res_advertisers, false, "{\"name\":\"n\",\"extra\":1}", "extra"},
	    {&res_advertisers, false, "{\"name\":\"n\",\"id\":1}", "id"},
	    {&res_advertisers, false, "{\"name\":\"n\",\"status\":\"deleted\"}", "status"},
	    {&res_advertisers, false, "{\"name\":\"n\",\"require_signature\":0}", "require_signature"},
	    {&res_advertisers, true, "{\"updated_at\":\"x\"}", "updated_at"},
	    {&res_affiliates, false, huge_url, "postback_url"},
	    {&res_affiliates, false, "{\"name\":\"p\",\"postback_url\":\"ftp://e.x/\"}", "postback_url"},
	    {&res_affiliates, false, "{\"name\":\"p\",\"postback_url\":\"https://\"}", "postback_url"},
	    {&res_affiliates, false, "{\"name\":\"p\",\"postback_url\":\"https://a b/\"}", "postback_url"},
	    {&res_offers, false, "{\"name\":\"o\",\"url\":\"https://e.x/\"}", "advertiser_id"},
	    {&res_offers, false, "{\"advertiser_id\":0,\"name\":\"o\",\"url\":\"https://e.x/\"}",
	     "advertiser_id"},
	    {&res_offers, false, "{\"advertiser_id\":1.5,\"name\":\"o\",\"url\":\"https://e.x/\"}",
	     "advertiser_id"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"currency\":\"usd\"}",
	     "currency"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"currency\":\"US\"}", "currency"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":{\"value\":2.5}}",
	     "payout.value"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":{\"value\":\"1.\"}}",
	     "payout.value"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":{\"value\":\".5\"}}",
	     "payout.value"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/"
	     "\",\"payout\":{\"value\":\"1234567890123\"}}",
	     "payout.value"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":{\"value\":-1}}",
	     "payout.value"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":{\"type\":\"flat\"}}",
	     "payout.type"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"payout\":[1]}", "payout"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"revenue\":{\"x\":1}}",
	     "revenue.x"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"link_ttl_s\":59}", "link_ttl_s"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"attribution_days\":366}",
	     "attribution_days"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/"
	     "\",\"caps\":{\"daily_clicks\":2147483648}}",
	     "caps.daily_clicks"},
	    {&res_offers, false,
	     "{\"advertiser_id\":1,\"name\":\"o\",\"url\":\"https://e.x/\",\"link_policy\":\"drop\"}",
	     "link_policy"},
	    {&res_offers, true, "{\"advertiser_id\":2}", "advertiser_id"},
	    {&res_links, false, "{\"offer_id\":1,\"affiliate_id\":1,\"code\":\"abcd\"}", "code"},
	    {&res_links, true, "{\"offer_id\":2}", "offer_id"},
	    {&res_api_keys, false, "{\"scope\":\"operator\"}", "scope"},
	    {&res_api_keys, false, "{\"scope\":\"admin\",\"key_hash\":\"x\"}", "key_hash"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rvals v;
		char err[256] = "", want[64];
		int rc = parse(cases[i].res, cases[i].body, cases[i].patch, &v, err);
		snprintf(want, sizeof want, "'%s'", cases[i].field);
		if (rc != -1 || strstr(err, want) == NULL)
			fprintf(stderr, "case %zu (%s): rc %d, message \"%s\"\n", i, cases[i].body, rc, err);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	}
	CU_ASSERT_EQUAL(parse(&res_offers, "[1]", false, &(struct rvals){0}, (char[256]){0}), -1);
	arena_free(a);
}

static void test_good_offer(void)
{
	a = arena_new(4096);
	struct rvals v;
	char err[256] = "";
	int rc = parse(&res_offers,
	               "{\"advertiser_id\":7,\"name\":\"Ünïcødé\",\"url\":\"https://e.x/"
	               "?c={click_id}\",\"currency\":\"EUR\","
	               "\"payout\":{\"type\":\"percent\",\"value\":\"12.5\"},\"revenue\":{\"value\":3},"
	               "\"fallback_url\":null,\"caps\":{\"daily_clicks\":10,\"total_conversions\":null},"
	               "\"trust_pixel\":true}",
	               false, &v, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(col(&v, "advertiser_id"), "7");
	CU_ASSERT_STRING_EQUAL(col(&v, "name"), "Ünïcødé");
	CU_ASSERT_STRING_EQUAL(col(&v, "payout_type"), "percent");
	CU_ASSERT_STRING_EQUAL(col(&v, "payout_value"), "12.5"); /* the text as given: exact */
	CU_ASSERT_STRING_EQUAL(col(&v, "revenue_value"), "3");
	CU_ASSERT_STRING_EQUAL(col(&v, "fallback_url"), "NULL");
	CU_ASSERT_STRING_EQUAL(col(&v, "cap_daily_clicks"), "10");
	CU_ASSERT_STRING_EQUAL(col(&v, "cap_total_conversions"), "NULL");
	CU_ASSERT_STRING_EQUAL(col(&v, "trust_pixel"), "true");
	CU_ASSERT_PTR_NULL(col(&v, "status")); /* absent: the database default */
	/* PATCH takes any subset and no required fields. */
	CU_ASSERT_EQUAL(parse(&res_offers, "{\"status\":\"paused\"}", true, &v, err), 0);
	CU_ASSERT_EQUAL(v.n, 1);
	CU_ASSERT_EQUAL(parse(&res_offers, "{}", true, &v, err), 0);
	CU_ASSERT_EQUAL(v.n, 0);
	arena_free(a);
}

static int no_empty(struct json_object *v, char *err, size_t len)
{
	if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
		return 0;
	snprintf(err, len, "must be a non-empty array");
	return -1;
}

static void test_field_types(void)
{
	a = arena_new(4096);
	const char *t;
	char err[200];
	struct field countries = {.name = "countries", .type = F_COUNTRIES};
	struct json_object *o = json_tokener_parse("[\"US\",\"DE\"]");
	CU_ASSERT_EQUAL(field_value(&countries, o, a, &t, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(t, "{\"US\",\"DE\"}");
	json_object_put(o);
	o = json_tokener_parse("[\"US\",\"usa\"]");
	CU_ASSERT_EQUAL(field_value(&countries, o, a, &t, err, sizeof err), -1);
	json_object_put(o);
	o = json_tokener_parse("[]");
	CU_ASSERT_EQUAL(field_value(&countries, o, a, &t, err, sizeof err), -1);
	json_object_put(o);

	struct field events = {.name = "events", .type = F_STRINGS, .choices = "a.b|c", .max = 2};
	o = json_tokener_parse("[\"a.b\",\"c\"]");
	CU_ASSERT_EQUAL(field_value(&events, o, a, &t, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(t, "{\"a.b\",\"c\"}");
	json_object_put(o);
	o = json_tokener_parse("[\"a.b\",\"c\",\"c\"]");
	CU_ASSERT_EQUAL(field_value(&events, o, a, &t, err, sizeof err), -1); /* too many */
	json_object_put(o);
	o = json_tokener_parse("[\"zzz\"]");
	CU_ASSERT_EQUAL(field_value(&events, o, a, &t, err, sizeof err), -1);
	json_object_put(o);

	struct field quoted = {.name = "names", .type = F_STRINGS};
	o = json_tokener_parse("[\"say \\\"hi\\\" \\\\ there\"]");
	CU_ASSERT_EQUAL(field_value(&quoted, o, a, &t, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(t, "{\"say \\\"hi\\\" \\\\ there\"}"); /* array literal escapes */
	json_object_put(o);

	struct field doc = {.name = "doc", .type = F_JSON, .check = no_empty};
	o = json_tokener_parse("[{\"url\":\"https://e.x/\",\"weight\":1}]");
	CU_ASSERT_EQUAL(field_value(&doc, o, a, &t, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(t, "[{\"url\":\"https://e.x/\",\"weight\":1}]");
	json_object_put(o);
	o = json_tokener_parse("{}");
	CU_ASSERT_EQUAL(field_value(&doc, o, a, &t, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "must be a non-empty array");
	json_object_put(o);

	struct field n = {.name = "n", .type = F_INT, .min = -5, .max = 5};
	o = json_object_new_int(-5);
	CU_ASSERT_EQUAL(field_value(&n, o, a, &t, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(t, "-5");
	json_object_put(o);
	o = json_object_new_int(6);
	CU_ASSERT_EQUAL(field_value(&n, o, a, &t, err, sizeof err), -1);
	json_object_put(o);
	o = json_object_new_string("3");
	CU_ASSERT_EQUAL(field_value(&n, o, a, &t, err, sizeof err), -1);
	json_object_put(o);

	struct field s = {.name = "s", .type = F_STR, .max = 3};
	o = json_object_new_string("äöü"); /* 3 characters, 6 bytes */
	CU_ASSERT_EQUAL(field_value(&s, o, a, &t, err, sizeof err), 0);
	json_object_put(o);
	o = json_object_new_string("\xff\xfe");
	CU_ASSERT_EQUAL(field_value(&s, o, a, &t, err, sizeof err), -1); /* not UTF-8 */
	json_object_put(o);
	arena_free(a);
}

static void test_ids_and_keys(void)
{
	CU_ASSERT_TRUE(resource_id_valid("1"));
	CU_ASSERT_TRUE(resource_id_valid("123456789012345678"));
	CU_ASSERT_FALSE(resource_id_valid("1234567890123456789"));
	CU_ASSERT_FALSE(resource_id_valid("0"));
	CU_ASSERT_FALSE(resource_id_valid("01"));
	CU_ASSERT_FALSE(resource_id_valid("-1"));
	CU_ASSERT_FALSE(resource_id_valid("1a"));
	CU_ASSERT_FALSE(resource_id_valid(""));
	CU_ASSERT_FALSE(resource_id_valid(NULL));
	a = arena_new(512);
	CU_ASSERT_STRING_EQUAL(ratelimit_redis_key(a, "admin:7", 29000000), "afftok:rl:admin:7:29000000");
	arena_free(a);
}

static const struct unit_case cases[] = {
    {"bodies refused naming the field", test_refusals},
    {"a good offer becomes its columns", test_good_offer},
    {"field types: arrays, JSON, ints, UTF-8", test_field_types},
    {"path ids and rate-limit keys", test_ids_and_keys},
    {NULL, NULL},
};

UNIT_MAIN("resource")
