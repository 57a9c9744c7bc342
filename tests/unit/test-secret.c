/* secret: AES-256-GCM round trip, tamper detection, key file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "secret.h"
#include "unit.h"

static void t_roundtrip(void)
{
	unsigned char raw[32] = {7};
	struct master_key mk, other;
	master_key_from(&mk, raw);
	raw[0] = 8;
	master_key_from(&other, raw);
	struct arena *a = arena_new(0);
	const char *plain = "whsec_secret-value";
	char *enc = secret_encrypt(&mk, a, (const unsigned char *)plain, strlen(plain));
	CU_ASSERT_PTR_NOT_NULL_FATAL(enc);
	CU_ASSERT_PTR_NULL(strstr(enc, "secret-value"));
	unsigned char *out;
	CU_ASSERT_EQUAL(secret_decrypt(&mk, a, enc, &out), (int)strlen(plain));
	CU_ASSERT_STRING_EQUAL((char *)out, plain);
	CU_ASSERT_EQUAL(secret_decrypt(&other, a, enc, &out), -1);
	char *tampered = arena_strdup(a, enc);
	tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(secret_decrypt(&mk, a, tampered, &out), -1);
	CU_ASSERT_EQUAL(secret_decrypt(&mk, a, "v1:", &out), -1);
	CU_ASSERT_EQUAL(secret_decrypt(&mk, a, "nope", &out), -1);
	CU_ASSERT_EQUAL(secret_decrypt(&mk, a, NULL, &out), -1);
	/* Two encryptions of the same text differ (random nonce). */
	CU_ASSERT_NOT_EQUAL(strcmp(enc, secret_encrypt(&mk, a, (const unsigned char *)plain, strlen(plain))), 0);
	arena_free(a);
}

static void t_keyfile(void)
{
	char path[] = "/tmp/afftok-key-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	struct master_key mk;
	char err[256];
	CU_ASSERT_EQUAL(master_key_load(&mk, path, err, sizeof err), 0);
	f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(master_key_load(&mk, path, err, sizeof err), -1);
	unlink(path);
	CU_ASSERT_EQUAL(master_key_load(&mk, path, err, sizeof err), -1);
}

static const struct unit_case cases[] = {
	{"round trip and tamper", t_roundtrip},
	{"key file", t_keyfile},
	{NULL, NULL},
};
UNIT_MAIN("secret")
