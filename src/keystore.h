/* Creating tenants and API keys in the database. The key text is returned
 * once to the caller and only its hash is stored. */
#ifndef AFFTOK_KEYSTORE_H
#define AFFTOK_KEYSTORE_H

#include "apikey.h"

struct app;
struct arena;

/* Creates a key; key_out gets the plaintext (APIKEY_LEN + 1 bytes). tenant_id
 * 0 for the operator, advertiser_id/affiliate_id 0 when not used.
 * Returns the new key id, or -1. */
long long keystore_create(struct app *app, struct arena *a, long long tenant_id,
			  enum auth_scope scope, long long advertiser_id, long long affiliate_id,
			  const char *label, char *key_out);
/* Creates a tenant with a fresh link secret and an admin key.
 * Returns the tenant id, or -1. */
long long keystore_create_tenant(struct app *app, struct arena *a, const char *name,
				 char *admin_key_out);

#endif
