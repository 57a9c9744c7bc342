/* Smart routing and the shared counters: weighted-split exactness, the
 * conditions, stickiness, and counters shared between processes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "routing.h"
#include "shm.h"
#include "trafficres.h"
#include "unit.h"

static const char *const mobile_only[] = {"mobile", "tablet", NULL};
static const char *const ios_only[] = {"iOS", NULL};

static void test_split_exact(void)
{
	struct route_dest d[2] = {{.name = "a", .url = "http://a", .weight = 70},
	                          {.name = "b", .url = "http://b", .weight = 30}};
	struct route_plan r = {.id = 1, .dests = d, .ndests = 2};
	long count[2] = {0, 0};
	long worst = 0;
	for (uint64_t n = 0; n < 10000; n++) {
		int i = route_pick_seq(&r, 3, n);
		CU_ASSERT_FATAL(i == 0 || i == 1);
		count[i]++;
		/* Every prefix, not just the end, stays close to 70/30. */
		long want = (long)((n + 1) * 70 / 100), dev = labs(count[0] - want);
		if (n >= 99 && dev > worst)
			worst = dev;
	}
	fprintf(stderr, "70/30 over 10000: %ld/%ld; worst prefix deviation %ld clicks\n", count[0], count[1],
	        worst);
	CU_ASSERT(labs(count[0] - 7000) <= 100); /* the 1 % of the issue */
	CU_ASSERT(labs(count[0] - 7000) <= 5);   /* what the sequence actually gives */
	CU_ASSERT(worst <= 5);
}

static void test_split_three(void)
{
	struct route_dest d[4] = {{.name = "a", .weight = 50},
	                          {.name = "b", .weight = 30},
	                          {.name = "c", .weight = 20},
	                          {.name = "off", .weight = 0}};
	struct route_plan r = {.id = 2, .dests = d, .ndests = 4};
	long c[4] = {0};
	for (uint64_t n = 0; n < 1000; n++)
		c[route_pick_seq(&r, 0xF, n)]++;
	CU_ASSERT(labs(c[0] - 500) <= 3);
	CU_ASSERT(labs(c[1] - 300) <= 3);
	CU_ASSERT(labs(c[2] - 200) <= 3);
	CU_ASSERT_EQUAL(c[3], 0);
	CU_ASSERT_EQUAL(route_pick_seq(&r, 0x8, 5), -1); /* only a zero weight */
	CU_ASSERT_EQUAL(route_pick_seq(&r, 0, 5), -1);
	CU_ASSERT_EQUAL(route_pick_seq(&r, 0x2, 5), 1);
}

static void test_conditions(void)
{
	struct route_dest us = {.name = "us", .weight = 1, .countries = "USCA"};
	struct route_dest mob = {.name = "mob", .weight = 1, .devices = mobile_only};
	struct route_dest ios = {.name = "ios", .weight = 1, .os = ios_only, .countries = "DE"};
	struct route_dest any = {.name = "any", .weight = 1};
	CU_ASSERT_TRUE(route_dest_applies(&us, "US", "desktop", "Windows"));
	CU_ASSERT_TRUE(route_dest_applies(&us, "CA", "desktop", "Windows"));
	CU_ASSERT_FALSE(route_dest_applies(&us, "DE", "desktop", "Windows"));
	CU_ASSERT_FALSE(route_dest_applies(&us, "", "desktop", "Windows"));
	CU_ASSERT_TRUE(route_dest_applies(&mob, "", "tablet", "Android"));
	CU_ASSERT_FALSE(route_dest_applies(&mob, "US", "desktop", "Android"));
	CU_ASSERT_TRUE(route_dest_applies(&ios, "DE", "mobile", "iOS"));
	CU_ASSERT_FALSE(route_dest_applies(&ios, "DE", "mobile", "Android"));
	CU_ASSERT_FALSE(route_dest_applies(&ios, "US", "mobile", "iOS"));
	CU_ASSERT_TRUE(route_dest_applies(&any, NULL, NULL, NULL));

	char err[128];
	struct shm *s = shm_open_state(NULL, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	struct route_dest d[2] = {us, mob};
	struct route_plan r = {.id = 3, .dests = d, .ndests = 2};
	CU_ASSERT_EQUAL(route_choose(&r, s, NULL, "US", "desktop", "Windows", 1000, true), 0);
	CU_ASSERT_EQUAL(route_choose(&r, s, NULL, "FR", "mobile", "Android", 1000, true), 1);
	CU_ASSERT_EQUAL(route_choose(&r, s, NULL, "FR", "desktop", "Linux", 1000, true), -1); /* fallback */
	shm_close(s);
}

static void test_sticky(void)
{
	char err[128];
	struct shm *s = shm_open_state(NULL, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	struct route_dest d[2] = {{.name = "a", .weight = 50},
	                          {.name = "b", .weight = 50, .countries = "US"}};
	struct route_plan r = {.id = 4, .sticky = true, .dests = d, .ndests = 2};
	char fp[33];
	int first[200];
	for (int v = 0; v < 200; v++) {
		snprintf(fp, sizeof fp, "visitor-%d", v);
		first[v] = route_choose(&r, s, fp, "US", "desktop", "Windows", 5000, true);
	}
	int same = 0, a = 0;
	for (int round = 0; round < 3; round++)
		for (int v = 0; v < 200; v++) {
			snprintf(fp, sizeof fp, "visitor-%d", v);
			int again =
			    route_choose(&r, s, fp, "US", "desktop", "Windows", 5000 + 60 * round, true);
			same += again == first[v];
		}
	for (int v = 0; v < 200; v++)
		a += first[v] == 0;
	CU_ASSERT_EQUAL(same, 600);
	CU_ASSERT(abs(a - 100) <= 2); /* new visitors still split 50/50 */
	/* A sticky destination that no longer applies is not kept. */
	int v0 = -1;
	for (int v = 0; v < 200 && v0 < 0; v++)
		if (first[v] == 1)
			v0 = v;
	CU_ASSERT_FATAL(v0 >= 0);
	snprintf(fp, sizeof fp, "visitor-%d", v0);
	CU_ASSERT_EQUAL(route_choose(&r, s, fp, "DE", "desktop", "Windows", 5100, true), 0);
	/* Without stickiness the same visitor moves on with the sequence. */
	r.sticky = false;
	int changes = 0, prev = route_choose(&r, s, "x", "US", "desktop", "Windows", 5000, true);
	for (int i = 0; i < 20; i++) {
		int c = route_choose(&r, s, "x", "US", "desktop", "Windows", 5000, true);
		changes += c != prev;
		prev = c;
	}
	CU_ASSERT(changes > 5);
	/* Uncounted (invalid) clicks leave the sequence and the slots alone. */
	int before = route_choose(&r, s, "y", "US", "desktop", "Windows", 5000, false);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(route_choose(&r, s, "y", "US", "desktop", "Windows", 5000, false), before);
	/* Too old: forgotten. */
	uint32_t val;
	shm_sticky_put(s, 42, 1000, 7);
	CU_ASSERT_TRUE(shm_sticky_get(s, 42, 1000 + 10, 60, &val));
	CU_ASSERT_EQUAL(val, 7);
	CU_ASSERT_FALSE(shm_sticky_get(s, 42, 1000 + 61, 60, &val));
	CU_ASSERT_FALSE(shm_sticky_get(s, 43, 1000, 60, &val));
	shm_close(s);
}

static void test_shared_between_processes(void)
{
	char path[] = "/tmp/afftok-shm-test.XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	char err[256];
	/* Four processes, 5000 hits and 5000 sequence numbers each. */
	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			struct shm *s = shm_open_state(path, err, sizeof err);
			if (s == NULL || !shm_shared(s))
				_exit(2);
			for (int i = 0; i < 5000; i++) {
				shm_hit(s, 777, 9);
				shm_next(s, 888);
			}
			_exit(0);
		}
	}
	int ok = 0;
	for (int p = 0; p < 4; p++) {
		int st;
		wait(&st);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	CU_ASSERT_EQUAL(ok, 4);
	struct shm *s = shm_open_state(path, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_TRUE(shm_shared(s));
	CU_ASSERT_EQUAL(shm_hit(s, 777, 9), 20001);
	CU_ASSERT_EQUAL(shm_next(s, 888), 20000);
	/* A new window starts from one. */
	CU_ASSERT_EQUAL(shm_hit(s, 777, 10), 1);
	CU_ASSERT_EQUAL(shm_hit(s, 777, 10), 2);
	shm_close(s);
	unlink(path);

	/* Unwritable path: private memory, still counting. */
	s = shm_open_state("/nonexistent-dir/x.shm", err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FALSE(shm_shared(s));
	CU_ASSERT(strstr(err, "/nonexistent-dir") != NULL);
	CU_ASSERT_EQUAL(shm_hit(s, 1, 1), 1);
	shm_close(s);
}

static void test_many_keys(void)
{
	/* More addresses than fit: counts of live keys stay right. */
	char err[64];
	struct shm *s = shm_open_state(NULL, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (uint64_t k = 1; k <= 100000; k++)
		shm_hit(s, shm_hash(&k, sizeof k, 0), 1);
	uint64_t k = 5;
	uint64_t h = shm_hash(&k, sizeof k, 0);
	uint32_t before = shm_hit(s, h, 2);
	CU_ASSERT_EQUAL(before, 1); /* the new window evicts old-window slots first */
	CU_ASSERT_EQUAL(shm_hit(s, h, 2), 2);
	shm_close(s);
}

static void test_destinations_check(void)
{
	static const struct {
		const char *json;
		bool ok;
	} t[] = {
	    {"[{\"url\":\"https://a.example/x?c={click_id}\",\"weight\":70},{\"offer_id\":3,\"weight\":30}]",
	     true},
	    {"[{\"name\":\"A\",\"url\":\"http://a/\",\"weight\":1,\"countries\":[\"US\",\"DE\"],"
	     "\"devices\":[\"mobile\"],\"os\":[\"iOS\",\"Android\"]}]",
	     true},
	    {"[{\"url\":\"http://a/\",\"weight\":0}]", true},
	    {"[]", false},
	    {"{}", false},
	    {"[1]", false},
	    {"[{\"weight\":1}]", false},
	    {"[{\"url\":\"http://a/\"}]", false},
	    {"[{\"url\":\"http://a/\",\"offer_id\":2,\"weight\":1}]", false},
	    {"[{\"url\":\"javascript:alert(1)\",\"weight\":1}]", false},
	    {"[{\"url\":\"http://a/ b\",\"weight\":1}]", false},
	    {"[{\"offer_id\":0,\"weight\":1}]", false},
	    {"[{\"offer_id\":\"3\",\"weight\":1}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1000001}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1.5}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1,\"countries\":[\"ZZ\"]}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1,\"countries\":[]}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1,\"devices\":[\"phone\"]}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1,\"os\":[\"windows\"]}]", false},
	    {"[{\"url\":\"http://a/\",\"weight\":1,\"extra\":1}]", false},
	    {"[{\"name\":\"x\",\"url\":\"http://a/\",\"weight\":1},{\"name\":\"x\",\"url\":\"http://b/"
	     "\",\"weight\":1}]",
	     false},
	    {"[{\"name\":\"\",\"url\":\"http://a/\",\"weight\":1}]", false},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct json_object *v = json_tokener_parse(t[i].json);
		char err[256] = "";
		int rc = route_destinations_check(v, err, sizeof err);
		if ((rc == 0) != t[i].ok)
			fprintf(stderr, "destinations %s: rc %d (%s)\n", t[i].json, rc, err);
		CU_ASSERT_EQUAL(rc == 0, t[i].ok);
		if (!t[i].ok)
			CU_ASSERT(err[0] != '\0');
		json_object_put(v);
	}
	/* 65 destinations: one too many. */
	struct json_object *arr = json_object_new_array();
	for (int i = 0; i < 65; i++) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "url", json_object_new_string("http://a/"));
		json_object_object_add(d, "weight", json_object_new_int(1));
		json_object_array_add(arr, d);
	}
	char err[256];
	CU_ASSERT_EQUAL(route_destinations_check(arr, err, sizeof err), -1);
	json_object_put(arr);
}

static const struct unit_case cases[] = {
    {"route destinations validation", test_destinations_check},
    {"70/30 split exact over 10,000 clicks", test_split_exact},
    {"three-way split and zero weights", test_split_three},
    {"conditions and fallback", test_conditions},
    {"sticky per visitor", test_sticky},
    {"counters shared between processes", test_shared_between_processes},
    {"more keys than slots", test_many_keys},
    {NULL, NULL},
};
UNIT_MAIN("routing")
