/* The route table: every URL the FastCGI front answers. The dispatcher
 * (src/router.c) enforces methods, parameters, connections and scopes. */
#include "handlers.h"

#define ADMIN (SCOPE_BIT(SCOPE_OPERATOR) | SCOPE_BIT(SCOPE_ADMIN))

const struct route routes[] = {
	{"/health", HTTP_GET, 0, 0, NULL, h_health},
	{"/admin/health", HTTP_GET, 0, ADMIN, NULL, h_admin_health},
	{NULL, 0, 0, 0, NULL, NULL},
};
