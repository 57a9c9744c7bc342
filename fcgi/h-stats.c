/* GET /api/stats, GET /api/clicks/<click_id>, GET /api/conversions:
 * thin over src/stats.c and src/records.c. The route table admits admin,
 * advertiser and affiliate keys; the scope of each is applied below them. */
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "records.h"
#include "stats.h"
#include "util.h"

/* An optional positive id parameter: 0 when absent, -1 when not valid. */
static long long id_param(const struct req *q, const char *name)
{
	const char *v = req_param(q, name);
	int64_t n;
	if (v == NULL)
		return 0;
	return parse_i64(v, &n) && n > 0 ? (long long)n : -1;
}

int h_stats(struct req *q, struct resp *r)
{
	struct stats_query sq = {
		.from = req_param(q, "from"),
		.to = req_param(q, "to"),
		.tz = req_param(q, "tz"),
		.auth = q->auth,
	};
	if (stats_group_parse(req_param(q, "group_by"), &sq.groups) != 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER",
			   "parameter 'group_by' is not valid: a comma-separated list of day, hour, offer, "
			   "affiliate, country, device, sub1, each at most once");
		return 0;
	}
	const char *format = req_param(q, "format");
	bool csv = format && !strcmp(format, "csv");
	if (format && !csv && strcmp(format, "json") != 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter 'format' is not valid: json or csv");
		return 0;
	}
	sq.offer_id = id_param(q, "offer_id");
	sq.affiliate_id = id_param(q, "affiliate_id");
	if (sq.offer_id < 0 || sq.affiliate_id < 0) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' is not valid",
			   sq.offer_id < 0 ? "offer_id" : "affiliate_id");
		return 0;
	}
	struct stats_report rep;
	const char *bad = NULL, *why = NULL;
	switch (stats_run(q->app, q->arena, &sq, &rep, &bad, &why)) {
	case STATS_OK:
		break;
	case STATS_BAD_PARAM:
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' %s", bad, why);
		return 0;
	case STATS_UNAVAILABLE:
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return 0;
	default:
		return -1;
	}
	r->status = 200;
	resp_header(r, "X-Stats-Source", "%s", rep.served_by);
	/* Which rollups answered (whole UTC days from the daily ones: +daily). */
	resp_header(r, "X-Stats-Rollup", "%s%s", stats_source_name(rep.source), rep.daily ? "+daily" : "");
	resp_header(r, "Cache-Control", "private, no-store");
	if (csv) {
		r->content_type = "text/csv; charset=utf-8";
		resp_header(r, "Content-Disposition", "attachment; filename=\"stats-%s-%s.csv\"", sq.from, sq.to);
		stats_write_csv(&r->body, &rep);
	} else {
		r->content_type = "application/json";
		stats_write_json(&r->body, &sq, &rep);
	}
	return buf_ok(&r->body) ? 0 : -1;
}

int h_click_get(struct req *q, struct resp *r)
{
	int rc = records_click(q->app, q->arena, &q->auth, q->args[0], &r->body);
	if (rc < 0) {
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return 0;
	}
	if (rc == 0) {
		r->body.len = 0;
		resp_error(q, r, 404, "CLICK_NOT_FOUND", "no such click");
		return 0;
	}
	r->status = 200;
	r->content_type = "application/json";
	resp_header(r, "Cache-Control", "private, no-store");
	return 0;
}

int h_conversions_list(struct req *q, struct resp *r)
{
	struct records_filter f = {
		.auth = q->auth,
		.from = req_param(q, "from"),
		.to = req_param(q, "to"),
		.status = req_param(q, "status"),
		.offer_id = id_param(q, "offer_id"),
		.affiliate_id = id_param(q, "affiliate_id"),
		.after_id = id_param(q, "cursor"),
		.limit = RECORDS_LIMIT_DEFAULT,
	};
	const char *bad = NULL;
	int64_t limit;
	if (f.status && strcmp(f.status, "pending") && strcmp(f.status, "approved") && strcmp(f.status, "rejected"))
		bad = "status";
	else if (f.offer_id < 0)
		bad = "offer_id";
	else if (f.affiliate_id < 0)
		bad = "affiliate_id";
	else if (f.after_id < 0)
		bad = "cursor";
	else if (req_param(q, "limit") && (!parse_i64(req_param(q, "limit"), &limit) || limit < 1 ||
					   limit > RECORDS_LIMIT_MAX))
		bad = "limit";
	else if (f.from && f.to && strcmp(f.from, f.to) > 0)
		bad = "to";
	if (bad) {
		resp_error(q, r, 400, "INVALID_PARAMETER", "parameter '%s' is not valid", bad);
		return 0;
	}
	if (req_param(q, "limit"))
		f.limit = (int)limit;
	if (records_conversions(q->app, q->arena, &f, &r->body) != 0) {
		r->body.len = 0;
		resp_error(q, r, 503, "UNAVAILABLE", "the database is unavailable");
		return 0;
	}
	r->status = 200;
	r->content_type = "application/json";
	resp_header(r, "Cache-Control", "private, no-store");
	return 0;
}
