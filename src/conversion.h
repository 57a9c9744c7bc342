/* The rules of an advertiser postback (SPEC §3), without I/O: parameter
 * parsing and validation (GET query, POST form or POST JSON), the status
 * transition table, the derived transaction id, payout/revenue from an
 * offer in exact decimals, and the X-AffTok-Signature check.
 * The database side is src/convstore.h. */
#ifndef AFFTOK_CONVERSION_H
#define AFFTOK_CONVERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decimal.h"

struct arena;
struct req;

#define CONV_TXID_MAX 128
#define CONV_EVENT_MAX 64
#define CONV_SUB_MAX 256
#define CONV_CLICKID_MAX 40
#define CONV_SIG_SKEW_S 300

enum conv_status { CONV_PENDING = 0, CONV_APPROVED, CONV_REJECTED };

struct conv_input {
	const char *click_id;
	const char *transaction_id; /* as sent, or derived (txid_derived) */
	bool txid_derived;
	bool has_amount;
	int64_t amount; /* micro-units */
	const char *currency; /* upper case; NULL = the offer's */
	enum conv_status status;
	const char *event;
	const char *adv_sub[5];
};

/* Where the parameters come from: fn(ctx, name) returns the value or NULL.
 * Values that are not text (a JSON object for "amount"...) are given as
 * CONV_NOT_TEXT so they are refused by name. */
typedef const char *(*conv_getter)(void *ctx, const char *name);
extern const char CONV_NOT_TEXT[];

/* Fills in from the getter. Returns NULL when valid, else the name of the
 * first bad parameter, with a short reason in *why. */
const char *conv_input_parse(struct arena *a, conv_getter get, void *ctx, struct conv_input *in,
			     const char **why);
/* The same, from a request: JSON body when it has one, else query + form. */
const char *conv_input_from_req(const struct req *q, struct conv_input *in, const char **why);

/* Serialises an input to JSON (for pending_postbacks.params) and back. */
char *conv_input_to_json(struct arena *a, const struct conv_input *in);
int conv_input_from_json(struct arena *a, const char *json, struct conv_input *in);

const char *conv_status_name(enum conv_status s);
bool conv_status_from_name(const char *name, enum conv_status *out);
bool currency_valid(const char *code);

/* What a postback with status `to` does to a conversion in status `from`. */
enum conv_transition { CONV_T_DUPLICATE, CONV_T_UPDATE, CONV_T_CONFLICT };
enum conv_transition conv_transition(enum conv_status from, enum conv_status to);

/* "d_" + 32 hex of SHA-256(click_id "\n" event): the same URL fired twice
 * without a transaction_id gives the same id, so it counts once. */
#define CONV_DERIVED_TXID_LEN 34
void conv_derive_txid(const char *click_id, const char *event, char out[CONV_DERIVED_TXID_LEN + 1]);

/* An offer's payout or revenue rule. */
struct conv_money_rule {
	bool percent;   /* of amount; else fixed */
	int64_t value;  /* micro-units (fixed) or micro-percent */
};
/* Payout or revenue in micro-units. A percent rule without an amount is 0
 * (callers refuse that case first); -1 on overflow. */
int64_t conv_money(const struct conv_money_rule *rule, bool has_amount, int64_t amount);
/* Parses "fixed"/"percent" and a NUMERIC text into rule; false if malformed. */
bool conv_money_rule_parse(const char *type, const char *value, struct conv_money_rule *rule);

/* X-AffTok-Signature: "t=<unix>,v1=<hex>[,v1=<hex>...]" over "<t>.<payload>"
 * with HMAC-SHA256(secret). */
enum conv_sig { SIG_OK = 0, SIG_MISSING, SIG_MALFORMED, SIG_STALE, SIG_MISMATCH };
enum conv_sig conv_sig_verify(const unsigned char *secret, size_t secret_len, const char *header,
			      const char *payload, size_t payload_len, int64_t now_s);
/* The header value for payload at time t (tests, SDKs, documentation).
 * out: at least 96 bytes. */
void conv_sig_make(const unsigned char *secret, size_t secret_len, int64_t t, const char *payload,
		   size_t payload_len, char *out, size_t outlen);
const char *conv_sig_reason(enum conv_sig s);

#endif
