/* Bot detection against packaged fixtures: the real browser user agents of
 * the npm package user-agents (none may be flagged) and the crawler
 * examples ("instances") of crawler-user-agents (at least 99 % must be),
 * plus the signals, the datacenter set and the device/OS/browser parse. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot.h"
#include "botua.h"
#include "netset.h"
#include "uaparse.h"
#include "unit.h"

#define PATTERNS SRCDIR "/node_modules/crawler-user-agents/crawler-user-agents.json"
#define BROWSERS SRCDIR "/node_modules/user-agents/dist/user-agents.json"

static struct botua *matcher(void)
{
	static struct botua *m;
	if (m == NULL) {
		char err[256];
		m = botua_new(PATTERNS, err, sizeof err);
		if (m == NULL)
			fprintf(stderr, "%s (install the npm data: scripts/lib.sh install_data)\n", err);
	}
	return m;
}

static void test_loaded(void)
{
	struct botua *m = matcher();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	size_t residual, n = botua_count(m, &residual);
	fprintf(stderr, "%zu patterns, %zu not indexed by a literal\n", n, residual);
	CU_ASSERT(n >= 1000);
	CU_ASSERT(residual < n / 20); /* the index must carry almost all of them */
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_browsers_not_flagged(void)
{
	struct botua *m = matcher();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	struct json_object *root = json_object_from_file(BROWSERS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	size_t n = json_object_array_length(root), tested = 0, flagged = 0, dev_ok = 0, uniq = 0;
	struct bot_rules rules = {m, NULL, 70};
	const char **seen = calloc(n, sizeof *seen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(root, i), *v, *cat;
		if (!json_object_object_get_ex(e, "userAgent", &v))
			continue;
		const char *ua = json_object_get_string(v);
		seen[tested++] = ua;
		struct bot_input in = {ua, "en-US,en;q=0.9", "192.0.2.1", 0, false, false, 0};
		struct bot_verdict vd;
		bot_classify(&rules, &in, &vd);
		if (vd.bot || vd.score) {
			flagged++;
			fprintf(stderr, "false positive (%s, %s): %s\n", vd.reason,
			        vd.pattern >= 0 ? botua_pattern(m, vd.pattern) : "-", ua);
		}
		struct ua_info info;
		ua_parse(ua, strlen(ua), &info);
		if (json_object_object_get_ex(e, "deviceCategory", &cat) &&
		    !strcmp(json_object_get_string(cat), info.device))
			dev_ok++;
	}
	qsort(seen, tested, sizeof *seen, cmp_str);
	for (size_t i = 0; i < tested; i++)
		uniq += i == 0 || strcmp(seen[i], seen[i - 1]) != 0;
	free(seen);
	fprintf(stderr, "browsers: %zu tested (%zu distinct), %zu flagged; device class right for %zu\n",
	        tested, uniq, flagged, dev_ok);
	CU_ASSERT(uniq >= 500);
	CU_ASSERT_EQUAL(flagged, 0);
	CU_ASSERT(dev_ok * 100 >= tested * 95);
	json_object_put(root);
}

static void test_crawlers_recall(void)
{
	struct botua *m = matcher();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	struct json_object *root = json_object_from_file(PATTERNS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	size_t n = json_object_array_length(root), tested = 0, caught = 0;
	struct bot_rules rules = {m, NULL, 70};
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(root, i), *inst;
		if (!json_object_object_get_ex(e, "instances", &inst))
			continue;
		for (size_t k = 0; k < json_object_array_length(inst); k++) {
			const char *ua = json_object_get_string(json_object_array_get_idx(inst, k));
			tested++;
			/* A crawler that sends browser headers: only the user agent
			 * may give it away. */
			struct bot_input in = {ua, "en-US", "192.0.2.1", 0, false, false, 0};
			struct bot_verdict vd;
			bot_classify(&rules, &in, &vd);
			if (vd.bot)
				caught++;
			else
				fprintf(stderr, "missed: %s\n", ua);
		}
	}
	fprintf(stderr, "crawlers: %zu tested, %zu caught\n", tested, caught);
	CU_ASSERT(tested >= 500);
	CU_ASSERT(caught * 100 >= tested * 99);
	json_object_put(root);
}

static void test_builtin_only(void)
{
	char err[256];
	struct botua *m = botua_new(NULL, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT(botua_match(m, "Mozilla/5.0 (compatible; SomeNewBot/1.0; +http://x)", 50) >= 0);
	const char *hc = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	                 "HeadlessChrome/120.0 Safari/537.36";
	CU_ASSERT(botua_match(m, hc, strlen(hc)) >= 0);
	const char *cubot = "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like "
	                    "Gecko) Chrome/120.0 Mobile Safari/537.36";
	CU_ASSERT_EQUAL(botua_match(m, cubot, strlen(cubot)), -1);
	CU_ASSERT_PTR_NULL(botua_new("/nonexistent.json", err, sizeof err));
	botua_free(m);
}

static void test_signals(void)
{
	struct botua *m = matcher();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	struct netset *dc = netset_new();
	CU_ASSERT_EQUAL(netset_add(dc, "203.0.113.0/24"), 0);
	CU_ASSERT_EQUAL(netset_add(dc, "AS16509"), 0);
	netset_finish(dc);
	struct bot_rules rules = {m, dc, 70};
	const char *chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
	                     "Gecko) Chrome/131.0.0.0 Safari/537.36";
	static const struct {
		const char *ua, *al, *ip;
		unsigned asn;
		bool act;
		bool bot;
		const char *reason;
		int score;
	} t[] = {
	    {NULL, "en", "192.0.2.1", 0, false, true, "empty_ua", 100},
	    {"", "en", "192.0.2.1", 0, false, true, "empty_ua", 100},
	    {"curl/8.1.2", "en", "192.0.2.1", 0, false, true, "crawler_ua", 100},
	    {"MyScript/1.0", "en", "192.0.2.1", 0, false, true, "non_browser_ua", 80},
	    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "en", "192.0.2.1", 0,
	     false, true, "crawler_ua", 100},
	    {NULL, NULL, NULL, 0, false, false, NULL, 0}, /* end */
	};
	for (size_t i = 0; t[i].al; i++) {
		struct bot_input in = {t[i].ua, t[i].al, t[i].ip, t[i].asn, t[i].act, false, 0};
		struct bot_verdict v;
		bot_classify(&rules, &in, &v);
		CU_ASSERT_EQUAL(v.bot, t[i].bot);
		CU_ASSERT_STRING_EQUAL(v.reason, t[i].reason);
		CU_ASSERT_EQUAL(v.score, t[i].score);
	}
	struct bot_verdict v;
	struct bot_input in = {chrome, "de-DE", "192.0.2.1", 0, false, false, 0};
	bot_classify(&rules, &in, &v);
	CU_ASSERT_FALSE(v.bot);
	CU_ASSERT_EQUAL(v.score, 0);
	CU_ASSERT_PTR_NULL(v.reason);
	in.ip = "203.0.113.9"; /* datacenter alone: a VPN user, not a bot */
	bot_classify(&rules, &in, &v);
	CU_ASSERT_FALSE(v.bot);
	CU_ASSERT_STRING_EQUAL(v.reason, "datacenter");
	CU_ASSERT_EQUAL(v.score, 60);
	in.accept_language = NULL; /* ... without Accept-Language: a bot */
	bot_classify(&rules, &in, &v);
	CU_ASSERT_TRUE(v.bot);
	CU_ASSERT_EQUAL(v.score, 90);
	in.ip = "192.0.2.1";
	in.asn = 16509;
	bot_classify(&rules, &in, &v);
	CU_ASSERT_TRUE(v.bot);
	CU_ASSERT_STRING_EQUAL(v.reason, "datacenter");
	in.asn = 0;
	bot_classify(&rules, &in, &v);
	CU_ASSERT_FALSE(v.bot);
	CU_ASSERT_STRING_EQUAL(v.reason, "no_accept_language");
	in.accept_language = "en";
	in.activity_exceeded = true;
	bot_classify(&rules, &in, &v);
	CU_ASSERT_TRUE(v.bot);
	CU_ASSERT_STRING_EQUAL(v.reason, "activity");
	netset_free(dc);
}

static void test_netset(void)
{
	struct netset *s = netset_new();
	CU_ASSERT_EQUAL(netset_add(s, "10.0.0.0/8"), 0);
	CU_ASSERT_EQUAL(netset_add(s, "10.1.0.0/16"), 0); /* inside the first: merged */
	CU_ASSERT_EQUAL(netset_add(s, "192.0.2.7"), 0);
	CU_ASSERT_EQUAL(netset_add(s, "2001:db8::/32"), 0);
	CU_ASSERT_EQUAL(netset_add(s, "as64500"), 0);
	CU_ASSERT_EQUAL(netset_add(s, "10.0.0.0/33"), -1);
	CU_ASSERT_EQUAL(netset_add(s, "garbage"), -1);
	CU_ASSERT_EQUAL(netset_add(s, "AS"), -1);
	CU_ASSERT_EQUAL(netset_add(s, "1.2.3.4/x"), -1);
	netset_finish(s);
	CU_ASSERT_TRUE(netset_has_ip(s, "10.255.255.255"));
	CU_ASSERT_TRUE(netset_has_ip(s, "10.0.0.0"));
	CU_ASSERT_FALSE(netset_has_ip(s, "11.0.0.0"));
	CU_ASSERT_FALSE(netset_has_ip(s, "9.255.255.255"));
	CU_ASSERT_TRUE(netset_has_ip(s, "192.0.2.7"));
	CU_ASSERT_FALSE(netset_has_ip(s, "192.0.2.8"));
	CU_ASSERT_TRUE(netset_has_ip(s, "2001:db8:ffff::1"));
	CU_ASSERT_FALSE(netset_has_ip(s, "2001:db9::1"));
	CU_ASSERT_FALSE(netset_has_ip(s, "::ffff:11.0.0.1"));
	CU_ASSERT_TRUE(netset_has_ip(s, "::ffff:10.0.0.1")); /* mapped form of a listed IPv4 */
	CU_ASSERT_FALSE(netset_has_ip(s, "bogus"));
	CU_ASSERT_TRUE(netset_has_asn(s, 64500));
	CU_ASSERT_FALSE(netset_has_asn(s, 64501));
	CU_ASSERT_FALSE(netset_has_asn(s, 0));
	netset_free(s);

	/* The shipped list parses without a malformed line. */
	struct netset *f = netset_new();
	size_t bad = 99;
	CU_ASSERT_EQUAL(netset_load(f, SRCDIR "/etc/datacenter-cidrs.txt", &bad), 0);
	CU_ASSERT_EQUAL(bad, 0);
	netset_finish(f);
	CU_ASSERT(netset_size(f) > 10);
	netset_free(f);
}

static void test_uaparse(void)
{
	static const struct {
		const char *ua, *dev, *os, *br;
	} t[] = {
	    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	     "desktop", "Windows", "Edge"},
	    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
	     "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
	     "mobile", "iOS", "Safari"},
	    {"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	     "CriOS/120.0 Mobile/15E148 Safari/604.1",
	     "tablet", "iOS", "Chrome"},
	    {"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
	     "mobile", "Android", "Samsung"},
	    {"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "Chrome/120.0.0.0 Safari/537.36",
	     "tablet", "Android", "Chrome"},
	    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
	     "desktop", "macOS", "Firefox"},
	    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
	     "Safari/537.36 OPR/106.0.0.0",
	     "desktop", "Linux", "Opera"},
	    {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "Chrome/120.0.0.0 Safari/537.36",
	     "desktop", "ChromeOS", "Chrome"},
	    {"", "desktop", "other", "other"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ua_info u;
		ua_parse(t[i].ua, strlen(t[i].ua), &u);
		CU_ASSERT_STRING_EQUAL(u.device, t[i].dev);
		CU_ASSERT_STRING_EQUAL(u.os, t[i].os);
		CU_ASSERT_STRING_EQUAL(u.browser, t[i].br);
	}
}

static void test_speed(void)
{
	/* Not the benchmark (bench/quality-micro.c), a guard: matching a browser
	 * user agent against every pattern must stay in microseconds. */
	struct botua *m = matcher();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	const char *ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	                 "Chrome/131.0.0.0 Safari/537.36";
	size_t len = strlen(ua);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int hits = 0;
	for (int i = 0; i < 20000; i++)
		hits += botua_match(m, ua, len) >= 0;
	clock_gettime(CLOCK_MONOTONIC, &b);
	double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / 20000;
	fprintf(stderr, "botua_match: %.2f us per browser user agent\n", us);
	CU_ASSERT_EQUAL(hits, 0);
	CU_ASSERT(us < 20.0);
}

static const struct unit_case cases[] = {
    {"patterns loaded", test_loaded},
    {"browsers: no false positive", test_browsers_not_flagged},
    {"crawlers: recall", test_crawlers_recall},
    {"built-in patterns", test_builtin_only},
    {"signals and scores", test_signals},
    {"datacenter set", test_netset},
    {"device, os, browser", test_uaparse},
    {"matching speed", test_speed},
    {NULL, NULL},
};
UNIT_MAIN("bot")
