/* SHA-256 and HMAC-SHA256 for the click path. OpenSSL 3's HMAC() and
 * EVP_sha256() look the algorithm up, build parameters and allocate on every
 * call, which was a fifth of a click's CPU time; here OpenSSL's SHA-256
 * functions are called directly, and the states of a key's padded blocks
 * are kept per thread for the last few keys. */
#ifndef AFFTOK_HMAC_H
#define AFFTOK_HMAC_H

#include <stdbool.h>
#include <stddef.h>

/* out: 32 bytes. False (out unspecified) when OpenSSL fails: callers must
 * then produce something no stored MAC equals. */
bool sha256(const void *msg, size_t len, unsigned char out[32]) __attribute__((warn_unused_result));
bool hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
    __attribute__((warn_unused_result));
/* Wipes this thread's kept key states (the next call prepares them
 * again): for a thread about to end, and for tests. */
void hmac_release(void);

#endif
