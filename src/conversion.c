/* Postback rules: parameters, statuses, derived ids, money, signatures. */
#include "conversion.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http.h"
#include "util.h"

/* Not empty: the parser treats "" as absent, and a JSON object given as
 * "amount" must be refused by name, not ignored (found by 80-hostile). */
const char CONV_NOT_TEXT[] = "(not text)";

/* Active ISO 4217 codes plus precious metals and SDR; without XTS/XXX
 * (testing, "no currency"), which no sale is in. */
static const char iso4217[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP "
    "ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR "
    "ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR "
    "PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF "
    "XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWL";

bool currency_valid(const char *code)
{
	if (code == NULL || strlen(code) != 3)
		return false;
	for (int i = 0; i < 3; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return false;
	/* Entries are "XYZ " with no space after the last one: stop by length,
	 * not at the NUL, or p += 4 steps past it (found by fuzz-postback). */
	for (size_t i = 0; i + 3 <= sizeof iso4217 - 1; i += 4)
		if (!memcmp(iso4217 + i, code, 3))
			return true;
	return false;
}

static const char *status_names[] = {"pending", "approved", "rejected"};

const char *conv_status_name(enum conv_status s)
{
	return (unsigned)s < 3 ? status_names[s] : "?";
}

bool conv_status_from_name(const char *name, enum conv_status *out)
{
	for (int i = 0; i < 3; i++) {
		if (name && !strcmp(name, status_names[i])) {
			*out = (enum conv_status)i;
			return true;
		}
	}
	return false;
}

enum conv_transition conv_transition(enum conv_status from, enum conv_status to)
{
	if (from == to)
		return CONV_T_DUPLICATE;
	if (from == CONV_PENDING)
		return CONV_T_UPDATE; /* approved or rejected */
	if (from == CONV_APPROVED && to == CONV_REJECTED)
		return CONV_T_UPDATE; /* reversal (refund, chargeback) */
	return CONV_T_CONFLICT;     /* approved -> pending, rejected -> anything */
}

void conv_derive_txid(const char *click_id, const char *event, char out[CONV_DERIVED_TXID_LEN + 1])
{
	/* Both are bounded by validation (40 + 64 characters). */
	char in[CONV_CLICKID_MAX + CONV_EVENT_MAX + 2];
	int n = snprintf(in, sizeof in, "%s\n%s", click_id, event);
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)in, (size_t)(n < (int)sizeof in ? n : (int)sizeof in - 1), md);
	out[0] = 'd';
	out[1] = '_';
	hex_encode(md, 16, out + 2);
}

static bool all_in(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

#define IDCHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

const char *conv_input_parse(struct arena *a, conv_getter get, void *ctx, struct conv_input *in,
			     const char **why)
{
	memset(in, 0, sizeof *in);
	*why = "is not valid";
	const char *v = get(ctx, "click_id");
	if (v == NULL || v[0] == '\0') {
		*why = "is required";
		return "click_id";
	}
	if (v == CONV_NOT_TEXT || strlen(v) > CONV_CLICKID_MAX || !all_in(v, IDCHARS))
		return "click_id";
	in->click_id = v;

	v = get(ctx, "event");
	if (v != NULL && v[0] != '\0') {
		if (v == CONV_NOT_TEXT || strlen(v) > CONV_EVENT_MAX || !all_in(v, IDCHARS ".:"))
			return "event";
		in->event = v;
	} else {
		in->event = "conversion";
	}

	v = get(ctx, "transaction_id");
	if (v != NULL && v[0] != '\0') {
		if (v == CONV_NOT_TEXT || strlen(v) > CONV_TXID_MAX || !printable(v))
			return "transaction_id";
		in->transaction_id = v;
	} else {
		char *d = arena_alloc(a, CONV_DERIVED_TXID_LEN + 1);
		if (d == NULL)
			return "transaction_id";
		conv_derive_txid(in->click_id, in->event, d);
		in->transaction_id = d;
		in->txid_derived = true;
	}

	v = get(ctx, "amount");
	if (v != NULL && v[0] != '\0') {
		if (v == CONV_NOT_TEXT || !dec_parse(v, &in->amount)) {
			*why = "must be a non-negative decimal with at most 12 digits before and 6 after the point";
			return "amount";
		}
		in->has_amount = true;
	}

	v = get(ctx, "currency");
	if (v != NULL && v[0] != '\0') {
		char *up = v == CONV_NOT_TEXT ? NULL : arena_strdup(a, v);
		for (char *p = up; p && *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (!currency_valid(up)) {
			*why = "must be an ISO 4217 currency code";
			return "currency";
		}
		in->currency = up;
	}

	v = get(ctx, "status");
	in->status = CONV_APPROVED;
	if (v != NULL && v[0] != '\0' && (v == CONV_NOT_TEXT || !conv_status_from_name(v, &in->status))) {
		*why = "must be approved, pending or rejected";
		return "status";
	}

	static const char *subs[] = {"adv_sub1", "adv_sub2", "adv_sub3", "adv_sub4", "adv_sub5"};
	for (int i = 0; i < 5; i++) {
		v = get(ctx, subs[i]);
		if (v == NULL || v[0] == '\0')
			continue;
		if (v == CONV_NOT_TEXT || strlen(v) > CONV_SUB_MAX || !printable(v))
			return subs[i];
		in->adv_sub[i] = v;
	}
	return NULL;
}

static const char *get_param(void *ctx, const char *name)
{
	return req_param(ctx, name);
}

/* JSON bodies: strings as they are, numbers in their original text (json-c
 * keeps it, so 12.50 stays "12.50" and never goes through a double). */
static const char *get_json(void *ctx, const char *name)
{
	const struct req *q = ctx;
	struct json_object *v;
	if (!json_object_object_get_ex(q->json, name, &v) || v == NULL)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
	case json_type_int:
	case json_type_double:
		return json_object_get_string(v);
	default:
		return CONV_NOT_TEXT;
	}
}

const char *conv_input_from_req(const struct req *q, struct conv_input *in, const char **why)
{
	if (q->json != NULL) {
		if (!json_object_is_type(q->json, json_type_object)) {
			*why = "the body must be a JSON object";
			return "body";
		}
		/* Parameters come from the JSON object only; the key may still be
		 * in the query string (api_key=), which the router reads. */
		return conv_input_parse(q->arena, get_json, (void *)q, in, why);
	}
	return conv_input_parse(q->arena, get_param, (void *)q, in, why);
}

char *conv_input_to_json(struct arena *a, const struct conv_input *in)
{
	struct buf b;
	char amt[DEC_STR_MAX];
	buf_init(&b, a);
	buf_puts(&b, "{\"click_id\":");
	buf_json_str(&b, in->click_id);
	buf_puts(&b, ",\"transaction_id\":");
	buf_json_str(&b, in->transaction_id);
	buf_printf(&b, ",\"txid_derived\":%s", in->txid_derived ? "true" : "false");
	if (in->has_amount) {
		dec_format(in->amount, 0, amt);
		buf_printf(&b, ",\"amount\":\"%s\"", amt);
	}
	if (in->currency)
		buf_printf(&b, ",\"currency\":\"%s\"", in->currency);
	buf_printf(&b, ",\"status\":\"%s\",\"event\":", conv_status_name(in->status));
	buf_json_str(&b, in->event);
	for (int i = 0; i < 5; i++) {
		if (in->adv_sub[i] == NULL)
			continue;
		buf_printf(&b, ",\"adv_sub%d\":", i + 1);
		buf_json_str(&b, in->adv_sub[i]);
	}
	buf_putc(&b, '}');
	return buf_ok(&b) ? b.p : NULL;
}

static void put_obj(void *p)
{
	json_object_put(p);
}

static const char *obj_str(struct json_object *o, const char *name)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int conv_input_from_json(struct arena *a, const char *json, struct conv_input *in)
{
	struct json_object *o = json_tokener_parse(json);
	if (o == NULL)
		return -1;
	arena_defer(a, put_obj, o);
	memset(in, 0, sizeof *in);
	struct json_object *d;
	in->click_id = obj_str(o, "click_id");
	in->transaction_id = obj_str(o, "transaction_id");
	in->txid_derived = json_object_object_get_ex(o, "txid_derived", &d) && json_object_get_boolean(d);
	in->event = obj_str(o, "event");
	const char *amt = obj_str(o, "amount");
	if (amt != NULL) {
		if (!dec_parse(amt, &in->amount))
			return -1;
		in->has_amount = true;
	}
	in->currency = obj_str(o, "currency");
	if (in->click_id == NULL || in->transaction_id == NULL || in->event == NULL ||
	    !conv_status_from_name(obj_str(o, "status"), &in->status))
		return -1;
	char name[16];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "adv_sub%d", i + 1);
		in->adv_sub[i] = obj_str(o, name);
	}
	return 0;
}

bool conv_money_rule_parse(const char *type, const char *value, struct conv_money_rule *rule)
{
	if (type == NULL || value == NULL)
		return false;
	if (!strcmp(type, "percent"))
		rule->percent = true;
	else if (!strcmp(type, "fixed"))
		rule->percent = false;
	else
		return false;
	/* NUMERIC(18,6) prints exactly six fractional digits: within dec_parse. */
	return dec_parse(value, &rule->value);
}

int64_t conv_money(const struct conv_money_rule *rule, bool has_amount, int64_t amount)
{
	if (!rule->percent)
		return rule->value;
	if (!has_amount)
		return 0;
	return dec_percent(amount, rule->value);
}

static void sig_hex(const unsigned char *secret, size_t secret_len, const char *t, size_t tlen,
		    const char *payload, size_t payload_len, char out[65])
{
	unsigned char md[32];
	unsigned n = 0;
	/* "<t>.<payload>" in one piece for the one-shot HMAC. */
	unsigned char *msg = malloc(tlen + 1 + payload_len + 1);
	if (msg == NULL) {
		memset(out, 0, 65);
		return;
	}
	memcpy(msg, t, tlen);
	msg[tlen] = '.';
	memcpy(msg + tlen + 1, payload, payload_len);
	unsigned char *ok = HMAC(EVP_sha256(), secret, (int)secret_len, msg, tlen + 1 + payload_len, md, &n);
	free(msg);
	if (ok == NULL) { /* HMAC() allocates; as for malloc above: matches nothing */
		memset(out, 0, 65);
		return;
	}
	hex_encode(md, 32, out);
}

void conv_sig_make(const unsigned char *secret, size_t secret_len, int64_t t, const char *payload,
		   size_t payload_len, char *out, size_t outlen)
{
	char ts[24], hex[65];
	int n = snprintf(ts, sizeof ts, "%lld", (long long)t);
	sig_hex(secret, secret_len, ts, (size_t)n, payload, payload_len, hex);
	snprintf(out, outlen, "t=%s,v1=%s", ts, hex);
}

enum conv_sig conv_sig_verify(const unsigned char *secret, size_t secret_len, const char *header,
			      const char *payload, size_t payload_len, int64_t now_s)
{
	if (header == NULL || header[0] == '\0')
		return SIG_MISSING;
	if (strlen(header) > 1024)
		return SIG_MALFORMED;
	const char *t = NULL;
	size_t tlen = 0;
	const char *sigs[8];
	int nsigs = 0;
	const char *p = header;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, ",");
		const char *end = p + n;
		while (end > p && end[-1] == ' ')
			end--;
		if (!strncmp(p, "t=", 2)) {
			t = p + 2;
			tlen = (size_t)(end - t);
		} else if (!strncmp(p, "v1=", 3)) {
			if (end - (p + 3) != 64 || nsigs == 8)
				return SIG_MALFORMED;
			sigs[nsigs++] = p + 3;
		} /* other schemes (v2=...) are ignored, for forward compatibility */
		p += n;
	}
	if (t == NULL || tlen == 0 || tlen > 12 || nsigs == 0)
		return SIG_MALFORMED;
	int64_t ts = 0;
	for (size_t i = 0; i < tlen; i++) {
		if (t[i] < '0' || t[i] > '9')
			return SIG_MALFORMED;
		ts = ts * 10 + (t[i] - '0');
	}
	if (ts < now_s - CONV_SIG_SKEW_S || ts > now_s + CONV_SIG_SKEW_S)
		return SIG_STALE;
	char want[65];
	sig_hex(secret, secret_len, t, tlen, payload, payload_len, want);
	bool ok = false;
	for (int i = 0; i < nsigs; i++) {
		char got[65];
		for (int k = 0; k < 64; k++)
			got[k] = (char)tolower((unsigned char)sigs[i][k]);
		got[64] = '\0';
		ok |= ct_equal(got, want, 64);
	}
	return ok ? SIG_OK : SIG_MISMATCH;
}

const char *conv_sig_reason(enum conv_sig s)
{
	switch (s) {
	case SIG_OK: return "valid";
	case SIG_MISSING: return "this advertiser requires X-AffTok-Signature";
	case SIG_MALFORMED: return "X-AffTok-Signature must be t=<unix>,v1=<hex>";
	case SIG_STALE: return "the signature's timestamp is more than 300 s away";
	case SIG_MISMATCH: return "the signature does not match";
	}
	return "?";
}
