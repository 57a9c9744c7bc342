/* Signed tracking links: <code>.<ts>.<nonce>.<sig> where sig is the first 32
 * lowercase hex characters of HMAC-SHA256(tenant link secret,
 * "<code>.<ts>.<nonce>") (SPEC section 2). Parsing, verification (constant
 * time, TTL per offer, clock skew, previous secret during rotation) and
 * signing. */
#ifndef AFFTOK_SIGN_H
#define AFFTOK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct arena;

#define SIGN_CODE_MAX 32
#define SIGN_NONCE_MIN 8
#define SIGN_NONCE_MAX 32
#define SIGN_SIG_LEN 32
#define SIGN_SKEW_S 300
/* A token never longer than this is accepted (code.ts.nonce.sig). */
#define SIGN_TOKEN_MAX (SIGN_CODE_MAX + 1 + 11 + 1 + SIGN_NONCE_MAX + 1 + SIGN_SIG_LEN)

struct token {
	char code[SIGN_CODE_MAX + 1];
	bool signed_link;  /* there was something after the code */
	bool well_formed;  /* for signed links: ts, nonce and sig have the right shape */
	int64_t ts;
	char nonce[SIGN_NONCE_MAX + 1];
	char sig[SIGN_SIG_LEN + 1];
};

/* A secret usable for verification: key bytes (the 64 hex characters of
 * the stored secret, used as they are) and, for a previous secret, the
 * Unix time until which it is accepted (0 = current secret). */
struct sign_key {
	const unsigned char *key;
	size_t len;
	int64_t until_s;
};

enum sign_result {
	SIGN_OK,
	SIGN_BAD,     /* invalid_signature: malformed, wrong MAC, or from the future */
	SIGN_EXPIRED, /* expired: valid MAC, older than TTL + skew */
};

/* True when the code part is a valid link code ([A-Za-z0-9_-]{4,32}); the
 * rest is described by t->signed_link / t->well_formed. A false return means
 * no link can match (404). */
bool sign_parse(const char *token, struct token *t);
bool sign_code_valid(const char *code, size_t len);
/* out: SIGN_SIG_LEN + 1 bytes. */
void sign_compute(const unsigned char *key, size_t keylen, const char *code, int64_t ts,
		  const char *nonce, char *out);
/* Checks a parsed signed token against the current key and optionally a
 * previous one (prev may be NULL; it counts only while now_s < until_s). */
enum sign_result sign_verify(const struct token *t, const struct sign_key *cur,
			     const struct sign_key *prev, int64_t ttl_s, int64_t now_s);

/* Builds a signed token for a link: decrypts the tenant's stored link secret
 * (tenants.link_secret_enc) with the master key, picks a random 16-character
 * nonce and a timestamp such that the token expires ttl_s seconds from now_s
 * given the offer's TTL (a ttl_s larger than the offer's cannot be granted:
 * the token then lives offer_ttl_s; ttl_s <= 0 means the offer's TTL).
 * Returns "<code>.<ts>.<nonce>.<sig>" on the arena, or NULL when the secret
 * cannot be decrypted. The admin API answers it as BASE/c/<token>. */
char *sign_link(struct app *app, struct arena *a, const char *secret_enc, const char *code,
		int64_t offer_ttl_s, int64_t ttl_s, int64_t now_s);

#endif
