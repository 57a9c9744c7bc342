/* Fuzz target: the advertiser postback parameters (conv_input_from_req) as
 * a GET query, a form body or a JSON body, the derived-id and JSON round
 * trip of what was accepted, decimal amounts, and the X-AffTok-Signature
 * check. Input: mode byte, then query, body and signature header separated
 * by NUL bytes. */
#include "fuzz.h"

#include <json-c/json.h>

#include "arena.h"
#include "conversion.h"
#include "decimal.h"
#include "http.h"

static const unsigned char secret[] = "postback secret for fuzzing";

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	data++, size--;
	char *query = fuzz_take(&data, &size);
	char *body = fuzz_take(&data, &size);
	char *sig = fuzz_cstr(data, size);
	struct arena *a = arena_new(512);
	FUZZ_CHECK(a != NULL);

	struct req q = {.arena = a, .request_id = "fuzz"};
	q.body = body;
	q.body_len = strlen(body);
	q.content_type = mode == 1 ? "application/x-www-form-urlencoded" : mode == 2 ? "application/json" : NULL;
	if (query_parse(a, query, strlen(query), &q.params, &q.nparams) != 0 || req_parse_body(&q) != 0)
		goto out;
	struct conv_input in;
	memset(&in, 0, sizeof in);
	const char *why = NULL;
	const char *bad = conv_input_from_req(&q, &in, &why);
	/* A parameter that is not text in a JSON body (object, array, boolean)
	 * is refused, never silently dropped. */
	if (q.json != NULL && json_object_is_type(q.json, json_type_object)) {
		static const char *names[] = {"click_id", "transaction_id", "amount", "currency", "status",
					      "event", "adv_sub1", "adv_sub2", "adv_sub3", "adv_sub4", "adv_sub5"};
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			struct json_object *v;
			if (json_object_object_get_ex(q.json, names[i], &v) && v != NULL &&
			    (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array) ||
			     json_object_is_type(v, json_type_boolean)))
				FUZZ_CHECK(bad != NULL);
		}
	}
	if (bad != NULL) {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
	} else {
		FUZZ_CHECK(in.click_id != NULL && in.click_id[0] && strlen(in.click_id) <= CONV_CLICKID_MAX);
		FUZZ_CHECK(in.transaction_id != NULL && strlen(in.transaction_id) <= CONV_TXID_MAX);
		if (in.txid_derived)
			FUZZ_CHECK(strlen(in.transaction_id) == CONV_DERIVED_TXID_LEN);
		FUZZ_CHECK(in.event != NULL && strlen(in.event) <= CONV_EVENT_MAX);
		FUZZ_CHECK(!in.has_amount || in.amount >= 0);
		FUZZ_CHECK(in.currency == NULL || currency_valid(in.currency));
		FUZZ_CHECK(in.status >= CONV_PENDING && in.status <= CONV_REJECTED);
		for (int i = 0; i < 5; i++)
			FUZZ_CHECK(in.adv_sub[i] == NULL || strlen(in.adv_sub[i]) <= CONV_SUB_MAX);
		/* What is queued for later matching comes back the same. */
		char *js = conv_input_to_json(a, &in);
		FUZZ_CHECK(js != NULL);
		struct conv_input back;
		memset(&back, 0, sizeof back);
		FUZZ_CHECK(conv_input_from_json(a, js, &back) == 0);
		FUZZ_CHECK(same(back.click_id, in.click_id) && same(back.transaction_id, in.transaction_id));
		FUZZ_CHECK(back.txid_derived == in.txid_derived && back.has_amount == in.has_amount);
		FUZZ_CHECK(!in.has_amount || back.amount == in.amount);
		FUZZ_CHECK(same(back.currency, in.currency) && back.status == in.status);
		FUZZ_CHECK(same(back.event, in.event));
		for (int i = 0; i < 5; i++)
			FUZZ_CHECK(same(back.adv_sub[i], in.adv_sub[i]));
	}
	/* Amounts: whatever parses formats back to the same value. */
	int64_t m;
	if (dec_parse(query, &m)) {
		char txt[DEC_STR_MAX];
		int64_t m2;
		FUZZ_CHECK(m >= 0);
		dec_format(m, 0, txt);
		FUZZ_CHECK(dec_parse(txt, &m2) && m2 == m);
	}
	/* The signature check never accepts what it did not sign... */
	enum conv_sig s = conv_sig_verify(secret, sizeof secret - 1, sig, body, q.body_len, 1700000000);
	FUZZ_CHECK(s >= SIG_OK && s <= SIG_MISMATCH && conv_sig_reason(s) != NULL);
	/* ...and always accepts what it did. */
	char hdr[160];
	conv_sig_make(secret, sizeof secret - 1, 1700000000, body, q.body_len, hdr, sizeof hdr);
	FUZZ_CHECK(conv_sig_verify(secret, sizeof secret - 1, hdr, body, q.body_len, 1700000100) == SIG_OK);
	FUZZ_CHECK(conv_sig_verify(secret, sizeof secret - 1, hdr, body, q.body_len, 1700001000) == SIG_STALE);
out:
	arena_free(a);
	free(query), free(body), free(sig);
	return 0;
}
