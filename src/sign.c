/* Signed tracking links (see sign.h). */
#include "sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "app.h"
#include "hmac.h"
#include "arena.h"
#include "secret.h"
#include "util.h"

static bool code_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

bool sign_code_valid(const char *code, size_t len)
{
	if (len < 4 || len > SIGN_CODE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!code_char(code[i]))
			return false;
	return true;
}

/* ts: 1 to 11 decimal digits without sign or leading zero. */
static bool parse_ts(const char *s, size_t len, int64_t *out)
{
	if (len < 1 || len > 11 || (s[0] == '0' && len > 1))
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool sign_parse(const char *token, struct token *t)
{
	memset(t, 0, sizeof *t);
	size_t clen = strcspn(token, ".");
	if (!sign_code_valid(token, clen))
		return false;
	memcpy(t->code, token, clen);
	if (token[clen] == '\0')
		return true;
	t->signed_link = true;
	const char *p = token + clen + 1;
	size_t tlen = strcspn(p, ".");
	if (p[tlen] != '.' || !parse_ts(p, tlen, &t->ts))
		return true;
	p += tlen + 1;
	size_t nlen = strcspn(p, ".");
	if (p[nlen] != '.' || nlen < SIGN_NONCE_MIN || nlen > SIGN_NONCE_MAX)
		return true;
	for (size_t i = 0; i < nlen; i++)
		if (!code_char(p[i]))
			return true;
	memcpy(t->nonce, p, nlen);
	p += nlen + 1;
	if (strlen(p) != SIGN_SIG_LEN)
		return true;
	for (size_t i = 0; i < SIGN_SIG_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return true;
	memcpy(t->sig, p, SIGN_SIG_LEN);
	t->well_formed = true;
	return true;
}

void sign_compute(const unsigned char *key, size_t keylen, const char *code, int64_t ts,
		  const char *nonce, char *out)
{
	/* "<code>.<ts>.<nonce>", put together by hand: snprintf was a third of
	 * the signature check's time in a worker. */
	char msg[SIGN_TOKEN_MAX + 1], num[24];
	size_t cl = strlen(code), tl = fmt_i64(num, ts), nl = strlen(nonce), n = 0;
	if (cl + tl + nl + 2 < sizeof msg) { /* always for parsed parts; else an empty MAC input, never a real one's */
		memcpy(msg, code, cl);
		msg[cl] = '.';
		memcpy(msg + cl + 1, num, tl);
		msg[cl + 1 + tl] = '.';
		memcpy(msg + cl + 2 + tl, nonce, nl);
		n = cl + tl + nl + 2;
	}
	unsigned char md[32];
	/* HMAC can fail (OpenSSL's answer): then a signature no token carries
	 * (not hex), rather than whatever md held before. */
	if (!hmac_sha256(key, keylen, msg, n, md)) {
		memset(out, 'x', SIGN_SIG_LEN);
		out[SIGN_SIG_LEN] = '\0';
		return;
	}
	hex_encode(md, SIGN_SIG_LEN / 2, out);
}

static bool mac_matches(const struct token *t, const struct sign_key *k)
{
	char want[SIGN_SIG_LEN + 1];
	sign_compute(k->key, k->len, t->code, t->ts, t->nonce, want);
	return ct_equal(want, t->sig, SIGN_SIG_LEN);
}

enum sign_result sign_verify(const struct token *t, const struct sign_key *cur,
			     const struct sign_key *prev, int64_t ttl_s, int64_t now_s)
{
	if (!t->signed_link || !t->well_formed || cur == NULL || cur->key == NULL)
		return SIGN_BAD;
	/* Both MACs are always computed so timing says nothing about which key. */
	bool ok = mac_matches(t, cur);
	if (prev && prev->key && prev->len) {
		bool okp = mac_matches(t, prev);
		ok = ok || (okp && now_s < prev->until_s);
	}
	if (!ok || t->ts > now_s + SIGN_SKEW_S)
		return SIGN_BAD;
	if (now_s > t->ts + ttl_s + SIGN_SKEW_S)
		return SIGN_EXPIRED;
	return SIGN_OK;
}

char *sign_link(struct app *app, struct arena *a, const char *secret_enc, const char *code,
		int64_t offer_ttl_s, int64_t ttl_s, int64_t now_s)
{
	unsigned char *key;
	int klen = secret_decrypt(&app->mk, a, secret_enc, &key);
	if (klen <= 0 || !sign_code_valid(code, strlen(code)))
		return NULL;
	/* The verifier allows ts + offer TTL (+ skew); backdating ts makes a
	 * shorter lifetime without a field of its own in the token. */
	int64_t ts = now_s;
	if (ttl_s > 0 && ttl_s < offer_ttl_s)
		ts = now_s - (offer_ttl_s - ttl_s);
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[16];
	char nonce[17];
	rand_bytes(raw, sizeof raw);
	for (int i = 0; i < 16; i++)
		nonce[i] = alphabet[raw[i] & 63];
	nonce[16] = '\0';
	char sig[SIGN_SIG_LEN + 1];
	sign_compute(key, (size_t)klen, code, ts, nonce, sig);
	memset(key, 0, (size_t)klen);
	return arena_sprintf(a, "%s.%lld.%s.%s", code, (long long)ts, nonce, sig);
}
