/* /admin/geo-rules and /admin/routes: thin wrappers over src/trafficres.c. */
#include "handlers.h"
#include "trafficres.h"

const struct route_param admin_traffic_params[] = {
    {"limit", P_INT, false, 4},    {"cursor", P_TOKEN, false, 32},
    {"scope", P_TOKEN, false, 16}, {"offer_id", P_INT, false, 18},
    {NULL, 0, false, 0},
};

int h_admin_geo_rules(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_geo_rules);
}

int h_admin_routes(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_routes);
}
