/* API key authentication with a short per-process cache, so revocation is
 * seen by every worker within AUTH_CACHE_MS. */
#ifndef AFFTOK_AUTH_H
#define AFFTOK_AUTH_H

#include <stdbool.h>

#include "http.h"

#define AUTH_CACHE_MS 2000

struct app;

enum auth_result { AUTH_OK = 0, AUTH_INVALID = -1, AUTH_UNAVAILABLE = -2 };

/* Checks key (checksum first, then the database) and fills out. */
enum auth_result auth_check(struct app *app, struct arena *a, const char *key, struct auth *out);
/* True (out filled) when key was checked by this process less than
 * AUTH_CACHE_MS ago: auth_check() would answer AUTH_OK without the database. */
bool auth_cached(struct app *app, const char *key, struct auth *out);
/* Forgets cached keys (tests, and after a revocation by this process). */
void auth_cache_clear(void);

#endif
