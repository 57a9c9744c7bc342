/* Handlers of the FastCGI front, one file per route family (h-*.c), and the
 * route table that names them (routes.c). */
#ifndef AFFTOK_FCGI_HANDLERS_H
#define AFFTOK_FCGI_HANDLERS_H

#include "http.h"
#include "router.h"

extern const struct route routes[];

/* h-admin-core.c */
extern const struct route_param admin_list_params[];
extern const struct route_param admin_rotate_params[];
extern const struct route_param admin_sign_params[];
int h_admin_tenants(struct req *q, struct resp *r);
int h_admin_advertisers(struct req *q, struct resp *r);
int h_admin_postback_secret(struct req *q, struct resp *r);
int h_admin_affiliates(struct req *q, struct resp *r);
int h_admin_offers(struct req *q, struct resp *r);
int h_admin_links(struct req *q, struct resp *r);
int h_admin_link_sign(struct req *q, struct resp *r);
int h_admin_api_keys(struct req *q, struct resp *r);
int h_admin_api_key_rotate(struct req *q, struct resp *r);
extern const struct route_param admin_audit_params[];
int h_admin_audit(struct req *q, struct resp *r);

/* h-admin-traffic.c */
extern const struct route_param admin_traffic_params[];
int h_admin_geo_rules(struct req *q, struct resp *r);
int h_admin_routes(struct req *q, struct resp *r);

/* h-webhooks.c */
extern const struct route_param webhook_list_params[];
extern const struct route_param webhook_rotate_params[];
extern const struct route_param webhook_deliveries_params[];
extern const struct route_param webhook_replay_params[];
int h_admin_webhooks(struct req *q, struct resp *r);
int h_admin_webhook_rotate(struct req *q, struct resp *r);
int h_admin_webhook_test(struct req *q, struct resp *r);
int h_admin_webhook_deliveries(struct req *q, struct resp *r);
int h_admin_webhook_replay(struct req *q, struct resp *r);

/* h-stats.c */
int h_stats(struct req *q, struct resp *r);
int h_click_get(struct req *q, struct resp *r);
int h_conversions_list(struct req *q, struct resp *r);

/* h-click.c */
int h_click(struct req *q, struct resp *r);

/* h-health.c */
int h_health(struct req *q, struct resp *r);
int h_admin_health(struct req *q, struct resp *r);

/* h-postback.c */
int h_postback(struct req *q, struct resp *r);
int h_pixel(struct req *q, struct resp *r);
int h_admin_postbacks(struct req *q, struct resp *r);
int h_admin_conversion(struct req *q, struct resp *r);

#endif
