/* API key format, checksum and hash. */
#include "apikey.h"

#include <openssl/sha.h>
#include <string.h>

#include "hmac.h"
#include "util.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char letters[] = {[SCOPE_OPERATOR] = 'o', [SCOPE_ADMIN] = 'a', [SCOPE_ADVERTISER] = 'v',
			       [SCOPE_AFFILIATE] = 'f'};

/* Every authenticated request checks a checksum and hashes its key: with
 * src/hmac.h's kept digest, not OpenSSL 3's one-shot SHA256() and HMAC(),
 * which fetch the algorithm and allocate on every call. */
static bool checksum(const char *key, size_t n, char out[6])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	if (!sha256(key, n, md))
		return false;
	unsigned long long v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | md[i];
	for (int i = 0; i < 6; i++) {
		out[i] = b62[v % 62];
		v /= 62;
	}
	return true;
}

int apikey_generate(enum auth_scope scope, char *out)
{
	if (scope <= SCOPE_NONE || scope > SCOPE_AFFILIATE)
		return -1;
	unsigned char raw[30];
	memcpy(out, "aft_", 4);
	out[4] = letters[scope];
	out[5] = '_';
	/* 256 % 62 != 0: reject the top values so every character is uniform. */
	for (int i = 0; i < 30;) {
		rand_bytes(raw, sizeof raw);
		for (int j = 0; j < 30 && i < 30; j++)
			if (raw[j] < 248)
				out[6 + i++] = b62[raw[j] % 62];
	}
	if (!checksum(out, 36, out + 36))
		return -1;
	out[APIKEY_LEN] = '\0';
	return 0;
}

enum auth_scope apikey_scope(const char *key)
{
	/* key[4] is checked before key[5] is read: "aft_" alone ends there. */
	if (key == NULL || strncmp(key, "aft_", 4) != 0 || key[4] == '\0' || key[5] != '_')
		return SCOPE_NONE;
	for (int s = SCOPE_OPERATOR; s <= SCOPE_AFFILIATE; s++)
		if (key[4] == letters[s])
			return (enum auth_scope)s;
	return SCOPE_NONE;
}

bool apikey_well_formed(const char *key)
{
	if (key == NULL || strlen(key) != APIKEY_LEN || apikey_scope(key) == SCOPE_NONE)
		return false;
	for (int i = 6; i < APIKEY_LEN; i++)
		if (!strchr(b62, key[i]) || key[i] == '\0')
			return false;
	char sum[6];
	return checksum(key, 36, sum) && memcmp(sum, key + 36, 6) == 0;
}

void apikey_hash(const unsigned char pepper[32], const char *key, char *out)
{
	unsigned char md[32];
	/* On failure a hash that matches no stored one. */
	if (!hmac_sha256(pepper, 32, key, strlen(key), md)) {
		memset(out, 'x', APIKEY_HASH_HEX);
		out[APIKEY_HASH_HEX] = '\0';
		return;
	}
	hex_encode(md, sizeof md, out);
}

const char *scope_name(enum auth_scope s)
{
	switch (s) {
	case SCOPE_OPERATOR: return "operator";
	case SCOPE_ADMIN: return "admin";
	case SCOPE_ADVERTISER: return "advertiser";
	case SCOPE_AFFILIATE: return "affiliate";
	default: return "none";
	}
}

enum auth_scope scope_from_name(const char *name)
{
	for (int s = SCOPE_OPERATOR; s <= SCOPE_AFFILIATE; s++)
		if (name && !strcmp(name, scope_name((enum auth_scope)s)))
			return (enum auth_scope)s;
	return SCOPE_NONE;
}
