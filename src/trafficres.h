/* The traffic-quality admin collections as resource descriptions
 * (src/resource.h): /admin/geo-rules and /admin/routes. */
#ifndef AFFTOK_TRAFFICRES_H
#define AFFTOK_TRAFFICRES_H

#include <stddef.h>

#include "resource.h"

struct json_object;

extern const struct resource res_geo_rules;
extern const struct resource res_routes;

/* Checks a route's "destinations" array (exposed for the unit test).
 * 0, or -1 with a message in err. */
int route_destinations_check(struct json_object *v, char *err, size_t errlen);

#endif
