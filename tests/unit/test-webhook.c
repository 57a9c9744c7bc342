/* webhook: the Standard Webhooks signature vectors, secrets, event bodies
 * and the retry schedule run on a compressed clock. */
#include <json-c/json.h>
#include <string.h>

#include "arena.h"
#include "unit.h"
#include "util.h"
#include "webhook.h"

/* The published Standard Webhooks test vector (the reference libraries'
 * own tests use it), then vectors made with Python's hmac module. */
static void t_sign_vectors(void)
{
	static const struct {
		const char *secret, *id;
		long long ts;
		const char *body, *sig;
	} v[] = {
	    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
	     "{\"test\": 2432232314}", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	    /* python3 -c 'import hmac,hashlib,base64; k=bytes(range(32));
	     *   print(base64.b64encode(hmac.new(k,b"evt_1.1700000000.{}",hashlib.sha256).digest()))' */
	    {"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "evt_1", 1700000000, "{}",
	     "v1,bXtchBV0Hi1flm60IFUb87JKA3d/Yvv8UoEjbNotegk="},
	    {"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "evt_0123456789abcdef01234567", 1764000000,
	     "{\"id\":\"evt_0123456789abcdef01234567\",\"type\":\"conversion.created\",\"data\":{\"payout\":"
	     "\"2.50\"}}",
	     "v1,C+ogN+DCxwAeVrbk9r1/Xedz5mfw6b2OUSLlTaaeIIE="},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		unsigned char key[64];
		int n = webhook_secret_parse(v[i].secret, key, sizeof key);
		CU_ASSERT_TRUE_FATAL(n > 0);
		char sig[WEBHOOK_SIG_LEN + 1];
		webhook_sign(key, (size_t)n, v[i].id, v[i].ts, v[i].body, strlen(v[i].body), sig);
		CU_ASSERT_STRING_EQUAL(sig, v[i].sig);
	}
	/* Any change to id, time, body or key changes the signature. */
	unsigned char key[32];
	char a[WEBHOOK_SIG_LEN + 1], b[WEBHOOK_SIG_LEN + 1];
	memset(key, 7, sizeof key);
	webhook_sign(key, 32, "evt_1", 100, "{}", 2, a);
	webhook_sign(key, 32, "evt_1", 101, "{}", 2, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	webhook_sign(key, 32, "evt_2", 100, "{}", 2, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	webhook_sign(key, 32, "evt_1", 100, "{ }", 3, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	key[31] ^= 1;
	webhook_sign(key, 32, "evt_1", 100, "{}", 2, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static void t_secrets(void)
{
	unsigned char key[WEBHOOK_KEY_LEN], back[64];
	char text[WEBHOOK_SECRET_LEN + 1];
	webhook_secret_new(key, text);
	CU_ASSERT_EQUAL(strlen(text), WEBHOOK_SECRET_LEN);
	CU_ASSERT_EQUAL(strncmp(text, "whsec_", 6), 0);
	CU_ASSERT_EQUAL(webhook_secret_parse(text, back, sizeof back), WEBHOOK_KEY_LEN);
	CU_ASSERT_EQUAL(memcmp(key, back, WEBHOOK_KEY_LEN), 0);
	char other[WEBHOOK_SECRET_LEN + 1];
	webhook_secret_new(key, other);
	CU_ASSERT_STRING_NOT_EQUAL(text, other);
	CU_ASSERT_EQUAL(webhook_secret_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", back, sizeof back), -1);
	CU_ASSERT_EQUAL(webhook_secret_parse("whsec_", back, sizeof back), -1);
	CU_ASSERT_EQUAL(webhook_secret_parse("whsec_AAAA", back, sizeof back), -1); /* 3 bytes */
	CU_ASSERT_EQUAL(webhook_secret_parse("whsec_!!!!", back, sizeof back), -1);
}

static void t_body(void)
{
	struct arena *a = arena_new(4096);
	const char *b =
	    webhook_body(a, "evt_1", "conversion.created", "2026-01-02T03:04:05.000Z", 7,
	                 "{ \"conversion_id\" : \"12\", \"payout\":\"2.50\", \"url\":\"http://x/y\" }");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_STRING_EQUAL(
	    b,
	    "{\"id\":\"evt_1\",\"type\":\"conversion.created\",\"created_at\":\"2026-01-02T03:04:05.000Z\","
	    "\"tenant_id\":\"7\",\"data\":{\"conversion_id\":\"12\",\"payout\":\"2.50\",\"url\":\"http://x/"
	    "y\"}}");
	struct json_object *o = json_tokener_parse(b);
	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);
	CU_ASSERT_PTR_NULL(webhook_body(a, "evt_1", "x", "t", 1, "[1,2]"));
	CU_ASSERT_PTR_NULL(webhook_body(a, "evt_1", "x", "t", 1, "{\"a\":"));
	CU_ASSERT_PTR_NULL(webhook_body(a, "evt_1", "x", "t", 1, "\"str\""));
	CU_ASSERT_PTR_NOT_NULL(webhook_body(a, "evt_\"q", "x", "t", 1, "{}"));
	char iso[32], evt[32];
	webhook_iso_time(1764000000123LL, iso);
	CU_ASSERT_STRING_EQUAL(iso, "2025-11-24T16:00:00.123Z");
	webhook_event_id(evt);
	CU_ASSERT_EQUAL(strlen(evt), 28);
	CU_ASSERT_EQUAL(strncmp(evt, "evt_", 4), 0);
	arena_free(a);
}

static void t_backoff_table(void)
{
	/* Delays without jitter (u = 0.5 gives factor 1.0). */
	static const struct {
		int n;
		int64_t ms;
	} t[] = {
	    {1, 5000},     {2, 20000},    {3, 80000},    {4, 320000},    {5, 1280000},     {6, 5120000},
	    {7, 20480000}, {8, 43200000}, {9, 43200000}, {30, 43200000}, {1000, 43200000},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CU_ASSERT_EQUAL(webhook_backoff_ms(t[i].n, 0.5), t[i].ms);
	/* Jitter stays within [0.8, 1.2) of the delay. */
	for (int n = 1; n < 12; n++) {
		int64_t mid = webhook_backoff_ms(n, 0.5);
		CU_ASSERT_EQUAL(webhook_backoff_ms(n, 0.0), mid * 8 / 10);
		CU_ASSERT_TRUE(webhook_backoff_ms(n, 0.999) < mid * 12 / 10);
		CU_ASSERT_TRUE(webhook_backoff_ms(n, 0.999) > mid * 11 / 10);
	}
}

/* A delivery that always fails, on a simulated clock: every attempt time
 * from the first (t = 0) until it is dead at the 72 h give-up time. */
static void t_schedule_compressed_clock(void)
{
	const int64_t H = 3600000, give_up = 72 * H;
	static const int64_t expected[] = {
	    0,
	    5000,
	    25000,
	    105000,
	    425000,
	    1705000,
	    6825000,
	    27305000, /* 5 s .. 5.7 h */
	    27305000 + 12 * H,
	    27305000 + 24 * H,
	    27305000 + 36 * H,
	    27305000 + 48 * H,
	    27305000 + 60 * H,
	    72 * H, /* the last try at the give-up time */
	};
	const size_t n_expected = sizeof expected / sizeof expected[0];
	int64_t now = 0;
	size_t n = 0;
	int64_t times[64];
	for (;;) {
		times[n++] = now; /* attempt n made at now, and failed */
		int64_t next = webhook_next_attempt_ms((int)n, now, give_up, 0.5);
		if (next < 0)
			break;
		CU_ASSERT_TRUE_FATAL(next > now && n < 64);
		now = next;
	}
	CU_ASSERT_EQUAL(n, n_expected);
	for (size_t i = 0; i < n && i < n_expected; i++)
		CU_ASSERT_EQUAL(times[i], expected[i]);
	/* About 3 days in all, whatever the jitter. */
	for (int k = 0; k < 2; k++) {
		double u = k ? 0.999 : 0.0;
		now = 0;
		int attempts = 0;
		for (;;) {
			attempts++;
			int64_t next = webhook_next_attempt_ms(attempts, now, give_up, u);
			if (next < 0)
				break;
			now = next;
		}
		CU_ASSERT_EQUAL(now, give_up);
		CU_ASSERT_TRUE(attempts >= 12 && attempts <= 16);
	}
	/* A replayed dead letter (new give-up time) starts over. */
	CU_ASSERT_EQUAL(webhook_next_attempt_ms(1, 100 * H, 172 * H, 0.5), 100 * H + 5000);
	CU_ASSERT_EQUAL(webhook_next_attempt_ms(5, 72 * H, 72 * H, 0.5), -1);
}

static const struct unit_case cases[] = {
    {"Standard Webhooks signature vectors", t_sign_vectors},
    {"whsec_ secrets", t_secrets},
    {"event body", t_body},
    {"backoff table", t_backoff_table},
    {"retry schedule on a compressed clock", t_schedule_compressed_clock},
    {NULL, NULL},
};
UNIT_MAIN("webhook")
