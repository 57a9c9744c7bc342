/* The route table: every URL the FastCGI front answers. The dispatcher
 * (src/router.c) enforces methods, parameters, connections and scopes. */
#include "handlers.h"

#define ADMIN (SCOPE_BIT(SCOPE_OPERATOR) | SCOPE_BIT(SCOPE_ADMIN))

static const struct route_param admin_postbacks_params[] = {
	{"limit", P_INT, false, 4}, {"cursor", P_INT, false, 20},
	{"conversion_id", P_INT, false, 20}, {"state", P_TOKEN, false, 16}, {NULL, 0, false, 0}};

const struct route routes[] = {
	{"/health", HTTP_GET, 0, 0, NULL, h_health},
	{"/admin/health", HTTP_GET, 0, ADMIN, NULL, h_admin_health},
	{"/postback", HTTP_GET | HTTP_POST, R_DB | R_TENANT | R_ANYPARAM,
	 SCOPE_BIT(SCOPE_ADMIN) | SCOPE_BIT(SCOPE_ADVERTISER), NULL, h_postback},
	{"/pixel", HTTP_GET, R_ANYPARAM, 0, NULL, h_pixel},
	{"/admin/postbacks", HTTP_GET, R_DB | R_TENANT, ADMIN, admin_postbacks_params, h_admin_postbacks},
	{NULL, 0, 0, 0, NULL, NULL},
};
