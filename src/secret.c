/* Master key file and AES-256-GCM sealing of stored secrets. */
#include "secret.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "util.h"

void master_key_from(struct master_key *mk, const unsigned char raw[32])
{
	unsigned int n = 32;
	HMAC(EVP_sha256(), raw, 32, (const unsigned char *)"afftok secret encryption", 24, mk->enc, &n);
	n = 32;
	HMAC(EVP_sha256(), raw, 32, (const unsigned char *)"afftok api key pepper", 21, mk->pepper, &n);
	n = 32;
	HMAC(EVP_sha256(), raw, 32, (const unsigned char *)"afftok click id", 15, mk->clickid, &n);
}

int master_key_load(struct master_key *mk, const char *path, char *err, size_t errlen)
{
	char line[128] = "";
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	line[strcspn(line, " \r\n")] = '\0';
	unsigned char raw[32];
	if (got == NULL || hex_decode(line, raw, sizeof raw) != 0) {
		snprintf(err, errlen, "%s: expected 64 hex characters", path);
		return -1;
	}
	master_key_from(mk, raw);
	return 0;
}

char *secret_encrypt(const struct master_key *mk, struct arena *a, const unsigned char *plain,
		     size_t len)
{
	unsigned char *blob = arena_alloc(a, 12 + len + 16);
	char *out = arena_alloc(a, 3 + 4 * ((12 + len + 16 + 2) / 3) + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok = blob && out && ctx;
	if (ok) {
		rand_bytes(blob, 12);
		ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, mk->enc, blob) == 1 &&
		     EVP_EncryptUpdate(ctx, blob + 12, &n, plain, (int)len) == 1 &&
		     EVP_EncryptFinal_ex(ctx, blob + 12 + n, &n) == 1 &&
		     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, blob + 12 + len) == 1;
	}
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return NULL;
	memcpy(out, "v1:", 3);
	b64_encode(blob, 12 + len + 16, out + 3);
	return out;
}

int secret_decrypt(const struct master_key *mk, struct arena *a, const char *text,
		   unsigned char **out)
{
	if (text == NULL || strncmp(text, "v1:", 3) != 0)
		return -1;
	size_t cap = strlen(text + 3) / 4 * 3;
	unsigned char *blob = arena_alloc(a, cap + 1);
	if (blob == NULL)
		return -1;
	int blen = b64_decode(text + 3, blob, cap);
	if (blen < 12 + 16)
		return -1;
	size_t len = (size_t)blen - 28;
	unsigned char *plain = arena_alloc(a, len + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok = plain && ctx;
	if (ok)
		ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, mk->enc, blob) == 1 &&
		     EVP_DecryptUpdate(ctx, plain, &n, blob + 12, (int)len) == 1 &&
		     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, blob + 12 + len) == 1 &&
		     EVP_DecryptFinal_ex(ctx, plain + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return -1;
	plain[len] = '\0';
	*out = plain;
	return (int)len;
}
