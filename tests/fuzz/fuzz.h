/* Shared by the libFuzzer targets: turning the fuzzer's bytes into C strings
 * on an arena, and the invariant check that aborts so libFuzzer reports it. */
#ifndef AFFTOK_FUZZ_H
#define AFFTOK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the code under test promises; a violation is a finding. */
#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                      \
		if (!(cond)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
			abort();                                                                          \
		}                                                                                     \
	} while (0)

/* A NUL-terminated copy of data (malloc'd, so ASan sees overreads). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits data at the first NUL byte into *part (a malloc'd string) and the rest. */
static inline char *fuzz_take(const uint8_t **data, size_t *size)
{
	const uint8_t *z = memchr(*data, '\0', *size);
	size_t n = z ? (size_t)(z - *data) : *size;
	char *s = fuzz_cstr(*data, n);
	*data += z ? n + 1 : n;
	*size -= z ? n + 1 : n;
	return s;
}

#endif
