/* conversion: postback parameters, status transitions, derived ids, money
 * rules and the X-AffTok-Signature check, table-driven. */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "conversion.h"
#include "unit.h"

/* A parameter set "name=value&..." (no escaping) as a getter. */
struct kv { char buf[1024]; const char *names[16], *values[16]; int n; };

static const char *get(void *ctx, const char *name)
{
	struct kv *k = ctx;
	for (int i = 0; i < k->n; i++)
		if (!strcmp(k->names[i], name))
			return k->values[i];
	return NULL;
}

static void kv_set(struct kv *k, const char *s)
{
	snprintf(k->buf, sizeof k->buf, "%s", s);
	k->n = 0;
	for (char *p = strtok(k->buf, "&"); p && k->n < 16; p = strtok(NULL, "&")) {
		char *eq = strchr(p, '=');
		if (!eq)
			continue;
		*eq = '\0';
		k->names[k->n] = p;
		k->values[k->n++] = eq + 1;
	}
}

static void t_params_table(void)
{
	static const struct { const char *in; const char *bad; } t[] = {
		{"click_id=abc", NULL},
		{"click_id=abc&transaction_id=T-1&amount=12.50&currency=EUR&status=pending&event=sale", NULL},
		{"click_id=abc&currency=usd", NULL}, /* upper-cased */
		{"transaction_id=x", "click_id"},
		{"click_id=", "click_id"},
		{"click_id=a b", "click_id"},
		{"click_id=0123456789012345678901234567890123456789X", "click_id"},
		{"click_id=abc&amount=-1", "amount"},
		{"click_id=abc&amount=1e3", "amount"},
		{"click_id=abc&amount=12,50", "amount"},
		{"click_id=abc&amount=1.1234567", "amount"},
		{"click_id=abc&amount=abc", "amount"},
		{"click_id=abc&currency=US", "currency"},
		{"click_id=abc&currency=USDX", "currency"},
		{"click_id=abc&currency=XXX", "currency"},
		{"click_id=abc&currency=ZZZ", "currency"},
		{"click_id=abc&status=paid", "status"},
		{"click_id=abc&status=APPROVED", "status"},
		{"click_id=abc&event=a b", "event"},
		{"click_id=abc&adv_sub3=\x01", "adv_sub3"},
		{"click_id=abc&transaction_id=\x7f", "transaction_id"},
	};
	struct arena *a = arena_new(4096);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct kv k;
		struct conv_input in;
		const char *why;
		kv_set(&k, t[i].in);
		const char *bad = conv_input_parse(a, get, &k, &in, &why);
		if (t[i].bad == NULL) {
			CU_ASSERT_PTR_NULL(bad);
		} else {
			CU_ASSERT_PTR_NOT_NULL(bad);
			if (bad)
				CU_ASSERT_STRING_EQUAL(bad, t[i].bad);
		}
		arena_reset(a);
	}
	arena_free(a);
}

static void t_params_values(void)
{
	struct arena *a = arena_new(4096);
	struct kv k;
	struct conv_input in;
	const char *why;
	kv_set(&k, "click_id=abc&transaction_id=T1&amount=19.99&currency=eur&status=pending&adv_sub2=x");
	CU_ASSERT_PTR_NULL(conv_input_parse(a, get, &k, &in, &why));
	CU_ASSERT_STRING_EQUAL(in.transaction_id, "T1");
	CU_ASSERT_FALSE(in.txid_derived);
	CU_ASSERT_TRUE(in.has_amount);
	CU_ASSERT_EQUAL(in.amount, 19990000);
	CU_ASSERT_STRING_EQUAL(in.currency, "EUR");
	CU_ASSERT_EQUAL(in.status, CONV_PENDING);
	CU_ASSERT_STRING_EQUAL(in.event, "conversion");
	CU_ASSERT_STRING_EQUAL(in.adv_sub[1], "x");
	/* defaults */
	kv_set(&k, "click_id=abc");
	CU_ASSERT_PTR_NULL(conv_input_parse(a, get, &k, &in, &why));
	CU_ASSERT_EQUAL(in.status, CONV_APPROVED);
	CU_ASSERT_FALSE(in.has_amount);
	CU_ASSERT_PTR_NULL(in.currency);
	CU_ASSERT_TRUE(in.txid_derived);
	/* JSON round trip (pending_postbacks.params) */
	kv_set(&k, "click_id=abc&amount=0.5&currency=JPY&status=rejected&event=lead&adv_sub5=\"q\"");
	CU_ASSERT_PTR_NULL(conv_input_parse(a, get, &k, &in, &why));
	char *json = conv_input_to_json(a, &in);
	struct conv_input back;
	CU_ASSERT_EQUAL(conv_input_from_json(a, json, &back), 0);
	CU_ASSERT_STRING_EQUAL(back.click_id, "abc");
	CU_ASSERT_STRING_EQUAL(back.transaction_id, in.transaction_id);
	CU_ASSERT_TRUE(back.txid_derived);
	CU_ASSERT_EQUAL(back.amount, 500000);
	CU_ASSERT_STRING_EQUAL(back.currency, "JPY");
	CU_ASSERT_EQUAL(back.status, CONV_REJECTED);
	CU_ASSERT_STRING_EQUAL(back.event, "lead");
	CU_ASSERT_STRING_EQUAL(back.adv_sub[4], "\"q\"");
	CU_ASSERT_PTR_NULL(back.adv_sub[0]);
	arena_free(a);
}

static void t_transitions(void)
{
	static const struct { enum conv_status from, to; enum conv_transition want; } t[] = {
		{CONV_PENDING, CONV_PENDING, CONV_T_DUPLICATE},
		{CONV_PENDING, CONV_APPROVED, CONV_T_UPDATE},
		{CONV_PENDING, CONV_REJECTED, CONV_T_UPDATE},
		{CONV_APPROVED, CONV_APPROVED, CONV_T_DUPLICATE},
		{CONV_APPROVED, CONV_REJECTED, CONV_T_UPDATE}, /* reversal */
		{CONV_APPROVED, CONV_PENDING, CONV_T_CONFLICT},
		{CONV_REJECTED, CONV_REJECTED, CONV_T_DUPLICATE},
		{CONV_REJECTED, CONV_APPROVED, CONV_T_CONFLICT},
		{CONV_REJECTED, CONV_PENDING, CONV_T_CONFLICT},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CU_ASSERT_EQUAL(conv_transition(t[i].from, t[i].to), t[i].want);
}

static void t_derived_txid(void)
{
	char a[CONV_DERIVED_TXID_LEN + 1], b[CONV_DERIVED_TXID_LEN + 1], c[CONV_DERIVED_TXID_LEN + 1];
	conv_derive_txid("click1", "conversion", a);
	conv_derive_txid("click1", "conversion", b);
	conv_derive_txid("click1", "lead", c);
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_EQUAL(strlen(a), CONV_DERIVED_TXID_LEN);
	CU_ASSERT_EQUAL(strncmp(a, "d_", 2), 0);
	/* "ab"+"\nc" must not collide with "a"+"b\nc"-style splits */
	conv_derive_txid("ab", "c", b);
	conv_derive_txid("a", "bc", c);
	CU_ASSERT_STRING_NOT_EQUAL(b, c);
}

static void t_money(void)
{
	static const struct { const char *type, *value; bool has; const char *amount; int64_t want; } t[] = {
		{"fixed", "2.500000", false, NULL, 2500000},
		{"fixed", "2.500000", true, "100", 2500000},
		{"percent", "10.000000", true, "19.99", 1999000},
		{"percent", "12.500000", true, "80.00", 10000000},
		{"percent", "10.000000", false, NULL, 0},
		{"percent", "0.000000", true, "1000", 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct conv_money_rule r;
		int64_t amount = 0;
		CU_ASSERT_TRUE(conv_money_rule_parse(t[i].type, t[i].value, &r));
		if (t[i].amount)
			dec_parse(t[i].amount, &amount);
		CU_ASSERT_EQUAL(conv_money(&r, t[i].has, amount), t[i].want);
	}
	struct conv_money_rule r;
	CU_ASSERT_FALSE(conv_money_rule_parse("share", "1", &r));
	CU_ASSERT_FALSE(conv_money_rule_parse("fixed", "-1", &r));
}

static void t_signature(void)
{
	const unsigned char secret[] = "s3cret";
	const char *q = "click_id=abc&transaction_id=1&amount=5";
	char h[128], bad[160];
	int64_t now = 1764000000;
	conv_sig_make(secret, 6, now, q, strlen(q), h, sizeof h);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, q, strlen(q), now), SIG_OK);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, q, strlen(q), now + 300), SIG_OK);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, q, strlen(q), now + 301), SIG_STALE);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, q, strlen(q), now - 301), SIG_STALE);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, "click_id=abd&transaction_id=1&amount=5", strlen(q), now), SIG_MISMATCH);
	CU_ASSERT_EQUAL(conv_sig_verify((const unsigned char *)"other!", 6, h, q, strlen(q), now), SIG_MISMATCH);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, NULL, q, strlen(q), now), SIG_MISSING);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, "", q, strlen(q), now), SIG_MISSING);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, "v1=abcd", q, strlen(q), now), SIG_MALFORMED);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, "t=1764000000", q, strlen(q), now), SIG_MALFORMED);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, "t=abc,v1=00", q, strlen(q), now), SIG_MALFORMED);
	/* upper-case hex, spaces, a second (rotated) signature, unknown schemes */
	char upper[128];
	snprintf(upper, sizeof upper, "%s", h);
	for (char *p = strstr(upper, "v1=") + 3; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p -= 32;
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, upper, q, strlen(q), now), SIG_OK);
	snprintf(bad, sizeof bad, "t=%lld, v1=%064d, %s, v2=zz", (long long)now, 0, strstr(h, "v1="));
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, bad, q, strlen(q), now), SIG_OK);
	/* the timestamp is signed: changing it breaks the signature */
	snprintf(bad, sizeof bad, "t=%lld,%s", (long long)now + 1, strstr(h, "v1="));
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, bad, q, strlen(q), now), SIG_MISMATCH);
	/* a one-character change anywhere in the signature fails */
	for (size_t i = strlen(h) - 64; i < strlen(h); i++) {
		snprintf(bad, sizeof bad, "%s", h);
		bad[i] = bad[i] == '0' ? '1' : '0';
		CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, bad, q, strlen(q), now), SIG_MISMATCH);
	}
	/* empty payload (a POST without body) */
	conv_sig_make(secret, 6, now, "", 0, h, sizeof h);
	CU_ASSERT_EQUAL(conv_sig_verify(secret, 6, h, "", 0, now), SIG_OK);
}

static void t_currency(void)
{
	CU_ASSERT_TRUE(currency_valid("USD"));
	CU_ASSERT_TRUE(currency_valid("EUR"));
	CU_ASSERT_TRUE(currency_valid("JPY"));
	CU_ASSERT_TRUE(currency_valid("ZWL"));
	CU_ASSERT_TRUE(currency_valid("AED"));
	CU_ASSERT_FALSE(currency_valid("usd"));
	CU_ASSERT_FALSE(currency_valid("ABC"));
	CU_ASSERT_FALSE(currency_valid("XXX"));
	CU_ASSERT_FALSE(currency_valid("US"));
	CU_ASSERT_FALSE(currency_valid(""));
	CU_ASSERT_FALSE(currency_valid(NULL));
	CU_ASSERT_FALSE(currency_valid("SD "));
}

static const struct unit_case cases[] = {
	{"parameters table", t_params_table},
	{"parameter values and JSON round trip", t_params_values},
	{"status transitions", t_transitions},
	{"derived transaction id", t_derived_txid},
	{"money rules", t_money},
	{"signature", t_signature},
	{"currency codes", t_currency},
	{NULL, NULL},
};
UNIT_MAIN("conversion")
