/* afftokctl match [--once]: postbacks and pixels that arrived before their
 * click was stored (202 pending_click) are matched here, one transaction
 * each, as soon as ingest has loaded the click. A row stays until its click
 * appears or the click id is older than CONV_PENDING_MAX_AGE_S; either way
 * it is kept with its result (30 days), never dropped silently. Runs for
 * [cron] conversions_loop_s, polling every half second. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "convstore.h"
#include "crashpoint.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "util.h"

static const char *outcome_name(enum conv_outcome o)
{
	static const char *names[] = {
		[CO_RECORDED] = "recorded", [CO_DUPLICATE] = "duplicate", [CO_UPDATED] = "updated",
		[CO_PENDING_CLICK] = "pending_click", [CO_BAD_PARAM] = "invalid_parameter",
		[CO_BAD_SIGNATURE] = "invalid_signature", [CO_FORBIDDEN] = "forbidden",
		[CO_CLICK_NOT_FOUND] = "click_not_found", [CO_CONFLICT] = "conflict",
		[CO_EXPIRED] = "attribution_expired", [CO_UNAVAILABLE] = "unavailable"};
	return names[o];
}

/* Returns 1 when a row was handled, 0 when none is due, -1 on a database failure. */
static int match_one(struct app *app, struct arena *a)
{
	if (db_exec(app->db, a, "BEGIN", 0, NULL) == NULL)
		return -1;
	PGresult *res = db_exec(app->db, a,
		"SELECT id, tenant_id, source, key_id, key_scope, advertiser_id, params::text, attempts, "
		"(extract(epoch FROM click_created_at) * 1000)::bigint FROM pending_postbacks "
		"WHERE resolved_at IS NULL AND next_try_at <= now() ORDER BY next_try_at LIMIT 1 "
		"FOR UPDATE SKIP LOCKED", 0, NULL);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		db_exec(app->db, a, "COMMIT", 0, NULL);
		return 0;
	}
	const char *id = db_val(res, 0, 0);
	struct conv_input in;
	struct conv_result out;
	const char *result;
	const char *conv_id = NULL;
	bool retry = false;
	if (conv_input_from_json(a, db_val(res, 0, 6), &in) != 0) {
		result = "invalid_parameter"; /* cannot happen: we wrote it */
	} else {
		const char *scope = db_val(res, 0, 4);
		struct conv_actor who = {
			.source = db_val(res, 0, 2),
			.auth = {
				.scope = scope == NULL ? SCOPE_NONE
					 : !strcmp(scope, "advertiser") ? SCOPE_ADVERTISER : SCOPE_ADMIN,
				.tenant_id = db_val(res, 0, 1) ? atoll(db_val(res, 0, 1)) : 0,
				.key_id = db_val(res, 0, 3) ? atoll(db_val(res, 0, 3)) : 0,
				.advertiser_id = db_val(res, 0, 5) ? atoll(db_val(res, 0, 5)) : 0,
			},
			.check_signature = false, /* checked when it arrived */
			.may_defer = false,
		};
		if (conv_record(app, a, &in, &who, &out) != 0 || out.outcome == CO_UNAVAILABLE)
			goto fail;
		result = outcome_name(out.outcome);
		if (out.conversion_id[0])
			conv_id = out.conversion_id;
		long long click_ms = atoll(db_val(res, 0, 8));
		retry = out.outcome == CO_CLICK_NOT_FOUND &&
			click_ms >= now_ms() - CONV_PENDING_MAX_AGE_S * 1000LL;
	}
	crash_point("match.before_commit"); /* conversion written, pending row not resolved */
	PGresult *up;
	if (retry) /* 1, 2, 4 ... 60 s between looks */
		up = db_execp(app->db, a,
			"UPDATE pending_postbacks SET attempts = attempts + 1, "
			"next_try_at = now() + least(power(2, attempts), 60) * interval '1 second' WHERE id = $1", id);
	else
		up = db_execp(app->db, a,
			"UPDATE pending_postbacks SET attempts = attempts + 1, resolved_at = now(), "
			"result = $2, conversion_id = $3 WHERE id = $1", id, result, conv_id);
	if (up == NULL || db_exec(app->db, a, "COMMIT", 0, NULL) == NULL)
		goto fail;
	if (!retry)
		log_info("pending %s (click %s): %s%s%s", id, in.click_id, result, conv_id ? " conversion " : "",
			 conv_id ? conv_id : "");
	return 1;
fail:
	log_warn("pending postbacks: database: %s", db_error(app->db));
	db_exec(app->db, a, "ROLLBACK", 0, NULL);
	return -1;
}

int job_match(struct app *app, struct arena *a, int argc, char **argv)
{
	bool once = argc > 1 && !strcmp(argv[1], "--once");
	int64_t until = mono_ms() + app->cfg.cron_conversions_loop_s * 1000;
	long matched = 0;
	for (;;) {
		int rc;
		while ((rc = match_one(app, a)) == 1) {
			matched++;
			arena_reset(a);
		}
		arena_reset(a);
		if (rc < 0)
			return EX_TEMPFAIL;
		if (once || mono_ms() >= until)
			break;
		usleep(500000);
	}
	/* Resolved rows are kept 30 days for questions ("what happened to my
	 * postback?"), then pruned in batches. */
	db_exec(app->db, a,
		"DELETE FROM pending_postbacks WHERE id IN (SELECT id FROM pending_postbacks "
		"WHERE resolved_at < now() - interval '30 days' LIMIT 10000)", 0, NULL);
	arena_reset(a);
	if (matched)
		log_info("%ld pending postbacks handled", matched);
	return EX_OK;
}
