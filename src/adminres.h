/* The core admin collections (tenants, advertisers, affiliates, offers,
 * links, API keys) as resource descriptions (src/resource.h), plus what
 * does not fit plain CRUD: creating tenants and keys, rotating and revoking
 * keys, signing links. Handlers in fcgi/h-admin-*.c are thin wrappers. */
#ifndef AFFTOK_ADMINRES_H
#define AFFTOK_ADMINRES_H

#include "resource.h"

extern const struct resource res_tenants;
extern const struct resource res_advertisers;
extern const struct resource res_affiliates;
extern const struct resource res_offers;
extern const struct resource res_links;
extern const struct resource res_api_keys;
extern const struct resource res_audit; /* admin_audit, read-only */

#define KEY_OVERLAP_DEFAULT_S 86400
#define KEY_OVERLAP_MAX_S (30 * 86400)

/* POST /admin/tenants (operator): 201 with the tenant and its admin_key. */
int admin_tenant_create(struct req *q, struct resp *r);
/* POST /admin/api-keys: 201 with the key row and "key" (shown once). */
int admin_key_create(struct req *q, struct resp *r);
/* POST /admin/api-keys/<id>/rotate?overlap_s=: a new key with the same
 * rights; the old one stays valid overlap_s seconds. 201 like create. */
int admin_key_rotate(struct req *q, struct resp *r);
/* DELETE /admin/api-keys/<id>: revoked now (every worker within AUTH_CACHE_MS). */
int admin_key_revoke(struct req *q, struct resp *r);
/* POST /admin/advertisers/<id>/postback-secret: a new secret for the
 * advertiser's X-AffTok-Signature, shown once, stored encrypted; replaces
 * the previous one at once. 201 {"advertiser_id","postback_secret",...}. */
int admin_postback_secret(struct req *q, struct resp *r);
/* POST /admin/links/<id>/sign?ttl=: {"url","token","expires_at"}. */
int admin_link_sign(struct req *q, struct resp *r);

#endif
