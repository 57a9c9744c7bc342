/* The installation's master key and what is derived from it: AES-256-GCM
 * encryption of stored secrets (link secrets, postback and webhook secrets)
 * and the pepper of API key hashes. */
#ifndef AFFTOK_SECRET_H
#define AFFTOK_SECRET_H

#include <stddef.h>

struct arena;

struct master_key {
	unsigned char enc[32];    /* encrypts stored secrets */
	unsigned char pepper[32]; /* keys the API key hash */
	unsigned char clickid[32]; /* authenticates click ids */
};

/* Reads 64 hex characters from path. Returns 0, or -1 with a message in err. */
int master_key_load(struct master_key *mk, const char *path, char *err, size_t errlen);
/* Derives both keys from 32 raw bytes. */
void master_key_from(struct master_key *mk, const unsigned char raw[32]);
/* "v1:" + base64(nonce | ciphertext | tag); NULL on failure. */
char *secret_encrypt(const struct master_key *mk, struct arena *a, const unsigned char *plain,
		     size_t len);
/* Returns the plaintext length and a NUL-terminated copy in *out, or -1 when
 * the text is malformed or fails authentication. */
int secret_decrypt(const struct master_key *mk, struct arena *a, const char *text,
		   unsigned char **out);

#endif
