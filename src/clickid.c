/* Click id generation and verification. */
#include "clickid.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "hmac.h"
#include "util.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int b62_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

static void mac(const unsigned char key[32], const char *id, char out[6])
{
	unsigned char md[32];
	/* HMAC can fail (allocation): then md holds stack leftovers, maybe
	 * the MAC of an earlier id. '!' is no base62 digit, so nothing verifies.
	 * hmac_sha256, not HMAC(): the latter's per-call algorithm fetch was a
	 * large part of a click's CPU time. */
	if (!hmac_sha256(key, 32, id, 22, md)) {
		memset(out, '!', 6);
		return;
	}
	uint64_t v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | md[i];
	for (int i = 0; i < 6; i++) {
		out[i] = b62[v % 62];
		v /= 62;
	}
}

void clickid_new(const unsigned char key[32], int64_t ms, char *out)
{
	uint64_t t = (uint64_t)ms;
	for (int i = 7; i >= 0; i--) {
		out[i] = b62[t % 62];
		t /= 62;
	}
	/* 16 bytes give the 14 characters but for ~1 % of ids, which draw
	 * again: fewer refills of rand_bytes' pool than 32 a click. */
	unsigned char raw[16];
	int filled = 0;
	while (filled < 14) {
		rand_bytes(raw, sizeof raw);
		for (size_t j = 0; j < sizeof raw && filled < 14; j++)
			if (raw[j] < 248) /* uniform: 248 = 4 * 62 */
				out[8 + filled++] = b62[raw[j] % 62];
	}
	mac(key, out, out + 22);
	out[CLICKID_LEN] = '\0';
}

bool clickid_parse(const unsigned char key[32], const char *id, int64_t *ms)
{
	if (id == NULL || strlen(id) != CLICKID_LEN)
		return false;
	uint64_t t = 0;
	for (int i = 0; i < CLICKID_LEN; i++) {
		int v = b62_val(id[i]);
		if (v < 0)
			return false;
		if (i < 8)
			t = t * 62 + (uint64_t)v;
	}
	char m[6];
	mac(key, id, m);
	if (!ct_equal(m, id + 22, 6))
		return false;
	*ms = (int64_t)t;
	return true;
}
