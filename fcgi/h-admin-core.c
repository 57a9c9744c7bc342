/* /admin/tenants, advertisers, affiliates, offers, links, api-keys: thin
 * wrappers over src/adminres.c (descriptions and special operations) and
 * src/resource.c (validation, tenant-scoped CRUD, pagination). */
#include "adminres.h"
#include "handlers.h"

const struct route_param admin_list_params[] = {
    {"limit", P_INT, false, 4},         {"cursor", P_TOKEN, false, 32},
    {"status", P_TOKEN, false, 16},     {"advertiser_id", P_INT, false, 18},
    {"affiliate_id", P_INT, false, 18}, {"offer_id", P_INT, false, 18},
    {"scope", P_TOKEN, false, 16},      {NULL, 0, false, 0},
};

const struct route_param admin_audit_params[] = {
    {"limit", P_INT, false, 4},       {"cursor", P_TOKEN, false, 32},    {"action", P_TOKEN, false, 16},
    {"resource", P_TOKEN, false, 64}, {"resource_id", P_INT, false, 18}, {NULL, 0, false, 0},
};

const struct route_param admin_rotate_params[] = {
    {"overlap_s", P_INT, false, 8},
    {NULL, 0, false, 0},
};

const struct route_param admin_sign_params[] = {
    {"ttl", P_INT, false, 8},
    {NULL, 0, false, 0},
};

int h_admin_tenants(struct req *q, struct resp *r)
{
	if (q->method == HTTP_POST && q->args[0] == NULL) {
		if (q->body_len > 0 && q->json == NULL) {
			resp_error(q, r, 400, "BAD_REQUEST",
			           "the body must be JSON (Content-Type: application/json)");
			return 0;
		}
		return admin_tenant_create(q, r);
	}
	return resource_handle(q, r, &res_tenants);
}

int h_admin_advertisers(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_advertisers);
}

int h_admin_postback_secret(struct req *q, struct resp *r)
{
	return admin_postback_secret(q, r);
}

int h_admin_affiliates(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_affiliates);
}

int h_admin_offers(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_offers);
}

int h_admin_links(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_links);
}

int h_admin_link_sign(struct req *q, struct resp *r)
{
	return admin_link_sign(q, r);
}

int h_admin_api_keys(struct req *q, struct resp *r)
{
	if (q->method == HTTP_POST && q->args[0] == NULL)
		return admin_key_create(q, r);
	if (q->method == HTTP_DELETE)
		return admin_key_revoke(q, r);
	return resource_handle(q, r, &res_api_keys);
}

int h_admin_api_key_rotate(struct req *q, struct resp *r)
{
	return admin_key_rotate(q, r);
}

int h_admin_audit(struct req *q, struct resp *r)
{
	return resource_handle(q, r, &res_audit);
}
