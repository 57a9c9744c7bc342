/* SHA-256 and HMAC-SHA256 with a digest fetched once (see hmac.h). */
#include "hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

/* Per thread, so worker threads (epoch watcher, caps sync) may use it too. */
static _Thread_local EVP_MD *md;
static _Thread_local EVP_MD_CTX *ctx;

static bool ready(void)
{
	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	return md && ctx;
}

static bool digest2(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
	unsigned int n = 0;
	return EVP_DigestInit_ex2(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, a, alen) == 1 &&
	       (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
	       n == 32;
}

bool sha256(const void *msg, size_t len, unsigned char out[32])
{
	return ready() && digest2(msg, len, NULL, 0, out);
}

bool hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	if (!ready())
		return false;
	unsigned char k[64] = {0}, pad[64], inner[32];
	if (klen > sizeof k) {
		if (!digest2(key, klen, NULL, 0, k))
			return false;
	} else if (klen) {
		memcpy(k, key, klen);
	}
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	bool ok = digest2(pad, 64, msg, mlen, inner);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && digest2(pad, 64, inner, 32, out);
	OPENSSL_cleanse(k, sizeof k);
	OPENSSL_cleanse(pad, sizeof pad);
	return ok;
}
