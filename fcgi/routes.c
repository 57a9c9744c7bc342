/* The route table: every URL the FastCGI front answers. The dispatcher
 * (src/router.c) enforces methods, parameters, connections and scopes. */
#include "handlers.h"

#define ADMIN (SCOPE_BIT(SCOPE_OPERATOR) | SCOPE_BIT(SCOPE_ADMIN))
#define OPERATOR SCOPE_BIT(SCOPE_OPERATOR)
#define TADMIN SCOPE_BIT(SCOPE_ADMIN) /* a tenant's admin key */
#define ADV SCOPE_BIT(SCOPE_ADVERTISER)
#define AFF SCOPE_BIT(SCOPE_AFFILIATE)

static const struct route_param admin_postbacks_params[] = {
	{"limit", P_INT, false, 4}, {"cursor", P_INT, false, 20},
	{"conversion_id", P_INT, false, 20}, {"state", P_TOKEN, false, 16}, {NULL, 0, false, 0}};

static const struct route_param stats_params[] = {
	{"from", P_DATE, true, 10}, {"to", P_DATE, true, 10}, {"group_by", P_TOKEN, false, 64},
	{"offer_id", P_INT, false, 20}, {"affiliate_id", P_INT, false, 20}, {"tz", P_STR, false, 64},
	{"format", P_TOKEN, false, 8}, {NULL, 0, false, 0}};
static const struct route_param conversions_params[] = {
	{"from", P_DATE, false, 10}, {"to", P_DATE, false, 10}, {"status", P_TOKEN, false, 16},
	{"offer_id", P_INT, false, 20}, {"affiliate_id", P_INT, false, 20}, {"limit", P_INT, false, 4},
	{"cursor", P_INT, false, 20}, {NULL, 0, false, 0}};

const struct route routes[] = {
	{"/health", HTTP_GET, 0, 0, NULL, h_health},
	/* No R_DB: a cached link is answered with PostgreSQL down. */
	{"/c/*", HTTP_GET, R_ANYPARAM, 0, NULL, h_click},
	{"/admin/health", HTTP_GET, 0, ADMIN, NULL, h_admin_health},
	/* /postback: conv_record opens the tenant scope itself, pipelined (convstore.h). */
	{"/postback", HTTP_GET | HTTP_POST, R_DB | R_ANYPARAM | R_RL_POSTBACK,
	 SCOPE_BIT(SCOPE_ADMIN) | SCOPE_BIT(SCOPE_ADVERTISER), NULL, h_postback},
	/* POST: the Web SDK's navigator.sendBeacon (form body, same parameters). */
	{"/pixel", HTTP_GET | HTTP_POST, R_ANYPARAM, 0, NULL, h_pixel},
	{"/admin/postbacks", HTTP_GET, R_DB | R_TENANT | R_RL_ADMIN, ADMIN, admin_postbacks_params, h_admin_postbacks},
	{"/admin/conversions/*", HTTP_GET | HTTP_PATCH, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, NULL, h_admin_conversion},
	/* Core admin collections (h-admin-core.c). Reads may be open to the
	 * advertiser/affiliate a row belongs to; writes are the tenant admin's;
	 * tenants are the operator's. Entries are tried in order, so the GET
	 * entry of a path comes before its write entry. */
	{"/admin/tenants", HTTP_GET | HTTP_POST, R_DB | R_RL_ADMIN, OPERATOR, admin_list_params, h_admin_tenants},
	{"/admin/tenants/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, OPERATOR, NULL, h_admin_tenants},
	{"/admin/advertisers", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | ADV, admin_list_params, h_admin_advertisers},
	{"/admin/advertisers", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_advertisers},
	{"/admin/advertisers/*", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | ADV, NULL, h_admin_advertisers},
	{"/admin/advertisers/*", HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_advertisers},
	{"/admin/advertisers/*/postback-secret", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_postback_secret},
	{"/admin/affiliates", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | AFF, admin_list_params, h_admin_affiliates},
	{"/admin/affiliates", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_affiliates},
	{"/admin/affiliates/*", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | AFF, NULL, h_admin_affiliates},
	{"/admin/affiliates/*", HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_affiliates},
	{"/admin/offers", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | ADV, admin_list_params, h_admin_offers},
	{"/admin/offers", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_offers},
	{"/admin/offers/*", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | ADV, NULL, h_admin_offers},
	{"/admin/offers/*", HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_offers},
	{"/admin/links", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | AFF, admin_list_params, h_admin_links},
	{"/admin/links", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_links},
	{"/admin/links/*", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN | AFF, NULL, h_admin_links},
	{"/admin/links/*", HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_links},
	{"/admin/links/*/sign", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN | AFF, admin_sign_params, h_admin_link_sign},
	{"/admin/api-keys", HTTP_GET | HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, admin_list_params, h_admin_api_keys},
	{"/admin/api-keys/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_api_keys},
	{"/admin/api-keys/*/rotate", HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, admin_rotate_params, h_admin_api_key_rotate},
	{"/admin/audit", HTTP_GET, R_DB | R_RL_ADMIN, OPERATOR | TADMIN, admin_audit_params, h_admin_audit},
	{"/admin/audit/*", HTTP_GET, R_DB | R_RL_ADMIN, OPERATOR | TADMIN, NULL, h_admin_audit},
	/* Traffic quality (h-admin-traffic.c): the tenant admin's. */
	{"/admin/geo-rules", HTTP_GET | HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, admin_traffic_params, h_admin_geo_rules},
	{"/admin/geo-rules/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_geo_rules},
	{"/admin/routes", HTTP_GET | HTTP_POST, R_DB | R_RL_ADMIN, TADMIN, admin_traffic_params, h_admin_routes},
	{"/admin/routes/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_routes},
	/* Webhook endpoints (h-webhooks.c): the tenant admin's. Collection routes
	 * open their own tenant scope (src/resource.c); the others run in R_TENANT. */
	{"/admin/webhooks", HTTP_GET, R_DB | R_RL_ADMIN, TADMIN, webhook_list_params, h_admin_webhooks},
	{"/admin/webhooks", HTTP_POST, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, NULL, h_admin_webhooks},
	{"/admin/webhooks/*", HTTP_GET | HTTP_PATCH | HTTP_DELETE, R_DB | R_RL_ADMIN, TADMIN, NULL, h_admin_webhooks},
	{"/admin/webhooks/*/rotate", HTTP_POST, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, webhook_rotate_params, h_admin_webhook_rotate},
	{"/admin/webhooks/*/test", HTTP_POST, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, NULL, h_admin_webhook_test},
	{"/admin/webhooks/*/deliveries", HTTP_GET, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, webhook_deliveries_params, h_admin_webhook_deliveries},
	{"/admin/webhooks/*/replay", HTTP_POST, R_DB | R_TENANT | R_RL_ADMIN, TADMIN, webhook_replay_params, h_admin_webhook_replay},
	/* Stats and raw records (h-stats.c): every tenant key, each scoped to
	 * what it may see (src/stats.h). */
	{"/api/stats", HTTP_GET, R_DB | R_RL_STATS, TADMIN | ADV | AFF, stats_params, h_stats},
	{"/api/clicks/*", HTTP_GET, R_DB | R_RL_STATS, TADMIN | ADV | AFF, NULL, h_click_get},
	{"/api/conversions", HTTP_GET, R_DB | R_RL_STATS, TADMIN | ADV | AFF, conversions_params, h_conversions_list},
	{NULL, 0, 0, 0, NULL, NULL},
};
