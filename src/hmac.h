/* SHA-256 and HMAC-SHA256 for the click path. OpenSSL 3's HMAC() and
 * EVP_sha256() look the algorithm up, build parameters and allocate on every
 * call, which was a fifth of a click's CPU time; here the digest is fetched
 * once per thread and its context reused. */
#ifndef AFFTOK_HMAC_H
#define AFFTOK_HMAC_H

#include <stdbool.h>
#include <stddef.h>

/* out: 32 bytes. False (out unspecified) when OpenSSL fails: callers must
 * then produce something no stored MAC equals. */
bool sha256(const void *msg, size_t len, unsigned char out[32]) __attribute__((warn_unused_result));
bool hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
    __attribute__((warn_unused_result));
/* Frees this thread's kept context (the next call makes a new one): for a
 * thread about to end, and for tests that count allocations. */
void hmac_release(void);

#endif
