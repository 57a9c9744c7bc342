/* Small helpers: hex, base64, random bytes, constant-time compare, time. */
#ifndef AFFTOK_UTIL_H
#define AFFTOK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of a hex digit, -1 for anything else. Inline: the ingest
 * decodes a fingerprint's 32 digits per click. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
/* Writes 2n hex characters and a NUL to out. */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Decodes exactly 2n hex characters; -1 on anything else. */
int hex_decode(const char *in, unsigned char *out, size_t n);
/* Standard base64 with padding; out needs 4*((n+2)/3)+1 bytes. */
void b64_encode(const unsigned char *in, size_t n, char *out);
/* Returns the decoded length, or -1. */
int b64_decode(const char *in, unsigned char *out, size_t cap);
/* Cryptographically strong random bytes (OpenSSL); aborts if the RNG fails,
 * since nothing safe can be done without it. */
void rand_bytes(unsigned char *out, size_t n);
bool ct_equal(const void *a, const void *b, size_t n);
/* Milliseconds / microseconds since the epoch (CLOCK_REALTIME). */
int64_t now_ms(void);
int64_t now_us(void);
/* Monotonic milliseconds. */
int64_t mono_ms(void);
/* Strict decimal integer parse of the whole string; false on anything else. */
bool parse_i64(const char *s, int64_t *out);
/* Writes v in decimal and a NUL into out (at least 21 bytes); returns the
 * length. For the click path, where snprintf's parsing was measurable. */
size_t fmt_i64(char *out, int64_t v);

#endif
