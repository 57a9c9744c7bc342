/* API keys: "aft_<scope letter>_<30 random base62><6 checksum base62>".
 * The checksum lets a mistyped key be refused without a database hit; the
 * database keeps only HMAC-SHA256(pepper, key). */
#ifndef AFFTOK_APIKEY_H
#define AFFTOK_APIKEY_H

#include <stdbool.h>

#include "http.h"

#define APIKEY_LEN 42
#define APIKEY_HASH_HEX 64

/* out must hold APIKEY_LEN + 1 bytes. Returns 0, or -1 for SCOPE_NONE. */
int apikey_generate(enum auth_scope scope, char *out);
/* Well-formed with a valid checksum. */
bool apikey_well_formed(const char *key);
enum auth_scope apikey_scope(const char *key);
/* out: APIKEY_HASH_HEX + 1 bytes. */
void apikey_hash(const unsigned char pepper[32], const char *key, char *out);
const char *scope_name(enum auth_scope s);
enum auth_scope scope_from_name(const char *name);

#endif
