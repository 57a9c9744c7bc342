/* GET /health (liveness, no dependencies) and GET /admin/health. */
#include <json-c/json.h>

#include "app.h"
#include "handlers.h"
#include "health.h"

int h_health(struct req *q, struct resp *r)
{
	r->status = 200;
	r->content_type = "application/json";
	buf_puts(&r->body, "{\"status\":\"ok\"}\n");
	return 0;
}

int h_admin_health(struct req *q, struct resp *r)
{
	bool ok;
	struct json_object *o = health_report(q->app, q->arena, &ok);
	if (o == NULL)
		return -1;
	if (!ok) {
		/* Same error object as every other 503, beside the detail. */
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string("UNAVAILABLE"));
		json_object_object_add(e, "message", json_object_new_string("a dependency is down"));
		json_object_object_add(e, "request_id", json_object_new_string(q->request_id));
		json_object_object_add(o, "error", e);
	}
	resp_json(q, r, ok ? 200 : 503, o);
	return 0;
}
