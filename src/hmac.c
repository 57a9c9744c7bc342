/* SHA-256 and HMAC-SHA256 for the click path (see hmac.h). */
#include "hmac.h"

/* OpenSSL's SHA256_Init/Update/Final: deprecated in 3.0 in favour of EVP,
 * but the EVP path (provider dispatch, a context per digest) was 14 % of a
 * click's user time in a worker and 271 ns an HMAC even in a hot loop
 * (122 ns here), and only these let a key's padded blocks be hashed once
 * (a SHA256_CTX is a plain struct, copied by value). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#define BLOCK 64

bool sha256(const void *msg, size_t len, unsigned char out[32])
{
	SHA256_CTX c;
	bool ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, msg, len) == 1 && SHA256_Final(out, &c) == 1;
	OPENSSL_cleanse(&c, sizeof c);
	return ok;
}

/* A key's inner and outer states after its padded block, kept per thread
 * for the last few keys (a click uses two: the tenant's signing secret and
 * the click id key). */
struct kept {
	unsigned char key[BLOCK];
	size_t len; /* 0: unused */
	SHA256_CTX inner, outer;
};

#define KEPT 4
static _Thread_local struct kept kept[KEPT];
static _Thread_local unsigned next_slot;

void hmac_release(void)
{
	OPENSSL_cleanse(kept, sizeof kept);
	next_slot = 0;
}

static bool prepare(struct kept *k, const void *key, size_t klen)
{
	unsigned char pad[BLOCK];
	memset(k->key, 0, sizeof k->key);
	memcpy(k->key, key, klen);
	for (int i = 0; i < BLOCK; i++)
		pad[i] = k->key[i] ^ 0x36;
	bool ok = SHA256_Init(&k->inner) == 1 && SHA256_Update(&k->inner, pad, BLOCK) == 1;
	for (int i = 0; i < BLOCK; i++)
		pad[i] = k->key[i] ^ 0x5c;
	ok = ok && SHA256_Init(&k->outer) == 1 && SHA256_Update(&k->outer, pad, BLOCK) == 1;
	OPENSSL_cleanse(pad, sizeof pad);
	k->len = ok ? klen : 0;
	return ok;
}

/* The kept states of key (at most BLOCK bytes), prepared when missing. */
static struct kept *states(const void *key, size_t klen)
{
	for (int i = 0; i < KEPT; i++)
		if (kept[i].len == klen && !memcmp(kept[i].key, key, klen))
			return &kept[i];
	struct kept *k = &kept[next_slot++ % KEPT];
	return prepare(k, key, klen) ? k : NULL;
}

bool hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	unsigned char hashed[32], inner[32];
	if (klen > BLOCK) { /* RFC 2104: a longer key is hashed first */
		if (!sha256(key, klen, hashed))
			return false;
		key = hashed;
		klen = sizeof hashed;
	}
	/* An empty key pads like a key of zeros, but len 0 marks a free slot. */
	static const unsigned char zero[1];
	struct kept *k = states(klen ? key : zero, klen ? klen : 1);
	OPENSSL_cleanse(hashed, sizeof hashed);
	if (k == NULL)
		return false;
	SHA256_CTX c = k->inner;
	bool ok = SHA256_Update(&c, msg, mlen) == 1 && SHA256_Final(inner, &c) == 1;
	c = k->outer;
	ok = ok && SHA256_Update(&c, inner, sizeof inner) == 1 && SHA256_Final(out, &c) == 1;
	OPENSSL_cleanse(&c, sizeof c);
	OPENSSL_cleanse(inner, sizeof inner);
	return ok;
}
