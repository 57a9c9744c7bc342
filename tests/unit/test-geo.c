/* Geo lookups against small databases written by tests/data/make-test-mmdb.pl,
 * and the geo rule precedence table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "georule.h"
#include "unit.h"

static char dir[64];
static char country_db[128], asn_db[128];

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof dir, "/tmp/afftok-geo-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	char cmd[512];
	snprintf(cmd, sizeof cmd, "perl %s/tests/data/make-test-mmdb.pl %s", SRCDIR, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot build the test databases (libmaxmind-db-writer-perl)\n");
		abort();
	}
	snprintf(country_db, sizeof country_db, "%s/test-country.mmdb", dir);
	snprintf(asn_db, sizeof asn_db, "%s/test-asn.mmdb", dir);
}

static void test_lookup(void)
{
	setup();
	char err[256];
	struct geo *g = geo_open(country_db, asn_db, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	static const struct {
		const char *ip, *cc;
		unsigned asn;
		int found;
	} t[] = {
	    {"8.8.8.8", "US", 15169, 1},     {"3.120.0.1", "US", 16509, 1},
	    {"5.9.10.11", "DE", 24940, 1},   {"192.0.2.10", "US", 64500, 1},
	    {"192.0.2.200", "DE", 64500, 1}, {"198.51.100.7", "FR", 0, 1},
	    {"2001:db8:1::5", "US", 0, 1},   {"2001:db8:2:ffff::1", "DE", 0, 1},
	    {"203.0.113.1", "", 0, 0},       {"10.1.2.3", "", 0, 0},
	    {"not-an-ip", "", 0, 0},         {"", "", 0, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct geo_result r;
		bool found = geo_lookup(g, t[i].ip, &r);
		CU_ASSERT_EQUAL(found, t[i].found);
		CU_ASSERT_STRING_EQUAL(r.country, t[i].cc);
		CU_ASSERT_EQUAL(r.asn, t[i].asn);
		if (strcmp(r.country, t[i].cc) || r.asn != t[i].asn)
			fprintf(stderr, "%s: got %s/%u\n", t[i].ip, r.country, r.asn);
	}
	geo_close(g);
}

static void test_off(void)
{
	setup();
	char err[256];
	CU_ASSERT_PTR_NULL(geo_open("", NULL, err, sizeof err));
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_PTR_NULL(geo_open("/nonexistent.mmdb", NULL, err, sizeof err));
	CU_ASSERT(strstr(err, "/nonexistent.mmdb") != NULL);
	struct geo_result r;
	CU_ASSERT_FALSE(geo_lookup(NULL, "8.8.8.8", &r));
	CU_ASSERT_STRING_EQUAL(r.country, "");
	/* A broken ASN database leaves the country working. */
	struct geo *g = geo_open(country_db, "/nonexistent-asn.mmdb", err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_TRUE(geo_lookup(g, "5.9.1.1", &r));
	CU_ASSERT_STRING_EQUAL(r.country, "DE");
	geo_close(g);
}

static void test_packaged_db(void)
{
	/* The real database from npm, when installed (scripts/lib.sh does). */
	char path[512];
	snprintf(path, sizeof path,
	         "%s/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb",
	         SRCDIR);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "packaged country database not installed; skipped\n");
		return;
	}
	fclose(f);
	char err[256];
	struct geo *g = geo_open(path, NULL, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	struct geo_result r;
	CU_ASSERT_TRUE(geo_lookup(g, "8.8.8.8", &r));
	CU_ASSERT_STRING_EQUAL(r.country, "US");
	CU_ASSERT_TRUE(geo_lookup(g, "5.9.0.1", &r)); /* Hetzner, Germany */
	CU_ASSERT_STRING_EQUAL(r.country, "DE");
	geo_close(g);
}

static void test_codes(void)
{
	CU_ASSERT_TRUE(geo_country_code_valid("US"));
	CU_ASSERT_FALSE(geo_country_code_valid("us"));
	CU_ASSERT_FALSE(geo_country_code_valid("USA"));
	CU_ASSERT_FALSE(geo_country_code_valid("U"));
	CU_ASSERT_FALSE(geo_country_code_valid(""));
	CU_ASSERT_FALSE(geo_country_code_valid(NULL));
	CU_ASSERT_TRUE(geo_country_code_known("US"));
	CU_ASSERT_TRUE(geo_country_code_known("DE"));
	CU_ASSERT_TRUE(geo_country_code_known("AD"));
	CU_ASSERT_TRUE(geo_country_code_known("ZW"));
	CU_ASSERT_TRUE(geo_country_code_known("XK"));
	CU_ASSERT_FALSE(geo_country_code_known("ZZ"));
	CU_ASSERT_FALSE(geo_country_code_known("UK")); /* the code is GB */
	CU_ASSERT_FALSE(geo_country_code_known("de"));
	CU_ASSERT_FALSE(geo_country_code_known(NULL));
}

/* The precedence table: rules at each scope, a country, and the answer. */
#define T GEO_SCOPE_TENANT
#define A GEO_SCOPE_ADVERTISER
#define O GEO_SCOPE_OFFER
#define N GEO_SCOPE_NONE
static void test_precedence(void)
{
	static const struct {
		const char *name;
		struct geo_rule rules[4];
		size_t n;
		const char *cc;
		bool unknown_ok;
		bool want;
		enum geo_scope by;
	} t[] = {
	    {"no rules", {{0}}, 0, "US", true, true, N},
	    {"no rules, unknown, unknown blocked", {{0}}, 0, "", false, true, N},
	    {"tenant block US: US", {{T, true, true, "US"}}, 1, "US", true, false, T},
	    {"tenant block US: DE", {{T, true, true, "US"}}, 1, "DE", true, true, T},
	    {"tenant allow US: DE", {{T, false, true, "US"}}, 1, "DE", true, false, T},
	    {"tenant allow US,DE: DE", {{T, false, true, "USDE"}}, 1, "DE", true, true, T},
	    {"advertiser beats tenant",
	     {{T, true, true, "US"}, {A, false, true, "US"}},
	     2,
	     "US",
	     true,
	     true,
	     A},
	    {"advertiser allow US: DE blocked",
	     {{T, true, true, "US"}, {A, false, true, "US"}},
	     2,
	     "DE",
	     true,
	     false,
	     A},
	    {"offer beats advertiser",
	     {{A, true, true, "DE"}, {O, false, true, "DE"}},
	     2,
	     "DE",
	     true,
	     true,
	     O},
	    {"offer beats tenant", {{T, false, true, "US"}, {O, true, true, "FR"}}, 2, "DE", true, true, O},
	    {"inactive offer rule ignored",
	     {{T, true, true, "US"}, {O, false, false, "US"}},
	     2,
	     "US",
	     true,
	     false,
	     T},
	    {"all inactive", {{T, true, false, "US"}, {O, true, false, "US"}}, 2, "US", true, true, N},
	    {"same scope: block wins over allow",
	     {{O, false, true, "USDE"}, {O, true, true, "DE"}},
	     2,
	     "DE",
	     true,
	     false,
	     O},
	    {"same scope: two allow lists",
	     {{O, false, true, "US"}, {O, false, true, "DE"}},
	     2,
	     "DE",
	     true,
	     true,
	     O},
	    {"unknown, allowed by config", {{T, false, true, "US"}}, 1, "", true, true, T},
	    {"unknown, blocked by config", {{T, false, true, "US"}}, 1, "", false, false, T},
	    {"unknown NULL, blocked by config", {{O, true, true, "US"}}, 1, NULL, false, false, O},
	    {"three scopes, offer decides",
	     {{T, true, true, "DE"}, {A, true, true, "DE"}, {O, false, true, "DE"}},
	     3,
	     "DE",
	     true,
	     true,
	     O},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum geo_scope by;
		bool got = georule_allows(t[i].rules, t[i].n, t[i].cc, t[i].unknown_ok, &by);
		if (got != t[i].want || by != t[i].by)
			fprintf(stderr, "precedence case '%s': got %d by %d\n", t[i].name, got, by);
		CU_ASSERT_EQUAL(got, t[i].want);
		CU_ASSERT_EQUAL(by, t[i].by);
	}
	CU_ASSERT_EQUAL(geo_scope_from("offer"), O);
	CU_ASSERT_EQUAL(geo_scope_from("planet"), N);
	CU_ASSERT_STRING_EQUAL(geo_scope_name(A), "advertiser");
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static const struct unit_case cases[] = {
    {"lookup", test_lookup},
    {"geo off", test_off},
    {"packaged database", test_packaged_db},
    {"country codes", test_codes},
    {"precedence table", test_precedence},
    {"cleanup", cleanup},
    {NULL, NULL},
};
UNIT_MAIN("geo")
