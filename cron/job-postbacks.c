/* afftokctl postbacks [--once]: sends the affiliate postbacks queued with
 * each conversion event (affiliate_postbacks, one per conversion and
 * status), all due ones at once over libcurl multi (src/httpout.h: SSRF
 * guard, timeouts, no redirects), and records every attempt. A 2xx is
 * delivered; a refused or malformed URL is permanent ('refused'); anything
 * else is retried with exponential backoff until 72 h after the event
 * ('failed'). Rows are leased (next_attempt_at pushed ahead) before the
 * sending starts, so two runs never send the same one at the same time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "affpostback.h"
#include "app.h"
#include "arena.h"
#include "buf.h"
#include "crashpoint.h"
#include "db.h"
#include "decimal.h"
#include "httpout.h"
#include "jobs.h"
#include "log.h"
#include "util.h"

#define BATCH 200
#define LEASE "10 minutes"

struct sending {
	struct httpout_req req;
	const char *id, *tenant;
	int attempt;
	long long age_s;
	bool url_new;
};

static void noop_done(struct httpout_req *req, void *arg)
{
}

/* Response text as PostgreSQL accepts it: printable ASCII only. */
static const char *clean(struct arena *a, const char *s, size_t n)
{
	char *out = arena_strndup(a, s, n);
	for (char *p = out; p && *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return out;
}

static int record(struct app *app, struct arena *a, struct sending *s)
{
	struct httpout_req *r = &s->req;
	const char *state = "queued";
	char wait[24] = "0";
	bool ok = r->result == HTTPOUT_ANSWERED && r->status >= 200 && r->status < 300;
	if (ok) {
		state = "delivered";
	} else if (r->result == HTTPOUT_REFUSED || r->result == HTTPOUT_BAD_URL) {
		state = "refused";
	} else {
		unsigned char rb[2];
		rand_bytes(rb, 2);
		int64_t w = affpb_backoff_s(s->attempt, (unsigned)(rb[0] << 8 | rb[1]));
		if (affpb_retry_allowed(s->age_s, w))
			snprintf(wait, sizeof wait, "%lld", (long long)w);
		else
			state = "failed";
	}
	char status[16] = "", latency[24], attempt[16];
	if (r->result == HTTPOUT_ANSWERED)
		snprintf(status, sizeof status, "%d", r->status);
	snprintf(latency, sizeof latency, "%ld", r->latency_ms);
	snprintf(attempt, sizeof attempt, "%d", s->attempt);
	const char *err = ok ? NULL
			     : r->result == HTTPOUT_ANSWERED ? arena_sprintf(a, "HTTP %d", r->status)
							     : clean(a, r->error, strlen(r->error));
	const char *head = clean(a, r->head, r->head_len);
	PGresult *res = db_execp(app->db, a,
		"WITH t AS (INSERT INTO affiliate_postback_attempts (tenant_id, postback_id, attempt, url, "
		"  http_status, error, latency_ms, response) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) "
		"UPDATE affiliate_postbacks SET state = $9, attempts = $3, url = $4, last_http_status = $5, "
		"  last_error = $6, updated_at = now(), next_attempt_at = now() + $10::int * interval '1 second' "
		"WHERE id = $2",
		s->tenant, s->id, attempt, r->url, status[0] ? status : NULL, err, latency, head, state, wait);
	if (res == NULL)
		return -1;
	if (!ok)
		log_info("affiliate postback %s attempt %d: %s (%s)", s->id, s->attempt, state,
			 err ? err : "");
	return 0;
}

/* One batch. Returns how many were sent, or -1 when PostgreSQL failed. */
static int send_batch(struct app *app, struct arena *a)
{
	PGresult *res = db_exec(app->db, a,
		"WITH due AS (SELECT id FROM affiliate_postbacks WHERE state = 'queued' AND next_attempt_at <= now() "
		"  ORDER BY next_attempt_at LIMIT 200 FOR UPDATE SKIP LOCKED), "
		"leased AS (UPDATE affiliate_postbacks p SET next_attempt_at = now() + interval '" LEASE "' "
		"  FROM due WHERE p.id = due.id RETURNING p.*) "
		"SELECT p.id, p.tenant_id, p.attempts + 1, p.url, f.postback_url, c.click_id, c.payout::text, "
		"  c.payout_currency, p.status, c.transaction_id, c.offer_id, c.id, "
		"  cl.sub1, cl.sub2, cl.sub3, cl.sub4, cl.sub5, "
		"  extract(epoch FROM now() - p.created_at)::bigint "
		"FROM leased p JOIN conversions c ON c.id = p.conversion_id "
		"JOIN affiliates f ON f.tenant_id = p.tenant_id AND f.id = p.affiliate_id "
		"LEFT JOIN clicks cl ON cl.click_id = c.click_id AND cl.created_at = c.click_created_at",
		0, NULL);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	if (n == 0)
		return 0;
	struct sending *s = arena_alloc(a, sizeof *s * (size_t)n);
	struct httpout_req *reqs = arena_alloc(a, sizeof *reqs * (size_t)n);
	if (s == NULL || reqs == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		s[i].id = db_val(res, i, 0);
		s[i].tenant = db_val(res, i, 1);
		s[i].attempt = atoi(db_val(res, i, 2));
		s[i].age_s = atoll(db_val(res, i, 17));
		const char *url = db_val(res, i, 3);
		if (url == NULL) {
			/* Filled once, at the first attempt: retries send the same URL. */
			char payout[DEC_STR_MAX];
			int64_t p = 0;
			dec_parse(db_val(res, i, 6), &p);
			dec_format(p, 2, payout);
			struct affpb_values v = {
				.click_id = db_val(res, i, 5), .payout = payout, .currency = db_val(res, i, 7),
				.status = db_val(res, i, 8), .transaction_id = db_val(res, i, 9),
				.offer_id = db_val(res, i, 10), .conversion_id = db_val(res, i, 11),
			};
			for (int k = 0; k < 5; k++)
				v.sub[k] = db_val(res, i, 12 + k);
			struct buf b;
			buf_init(&b, a);
			affpb_expand(&b, db_val(res, i, 4) ? db_val(res, i, 4) : "", &v);
			url = buf_ok(&b) ? b.p : "";
		}
		memset(&reqs[i], 0, sizeof reqs[i]);
		reqs[i].url = url;
		reqs[i].method = "GET";
		reqs[i].user = &s[i];
	}
	crash_point("postbacks.after_lease"); /* claimed, nothing sent */
	struct httpout *h = httpout_new(app->cfg.outbound_allow_private, 32,
					app->cfg.outbound_timeout_s * 1000, noop_done, NULL);
	if (h == NULL)
		return -1;
	int rc = httpout_run(h, reqs, (size_t)n);
	httpout_free(h);
	if (rc != 0)
		return -1;
	crash_point("postbacks.after_send"); /* sent, not recorded */
	for (int i = 0; i < n; i++) {
		s[i].req = reqs[i];
		if (record(app, a, &s[i]) != 0)
			return -1; /* the lease brings it back in 10 minutes */
	}
	return n;
}

int job_postbacks(struct app *app, struct arena *a, int argc, char **argv)
{
	bool once = argc > 1 && !strcmp(argv[1], "--once");
	int64_t until = mono_ms() + app->cfg.cron_conversions_loop_s * 1000;
	long sent = 0;
	for (;;) {
		int n;
		while ((n = send_batch(app, a)) > 0) {
			sent += n;
			arena_reset(a);
		}
		arena_reset(a);
		if (n < 0) {
			log_warn("postbacks: database: %s", db_error(app->db));
			return EX_TEMPFAIL;
		}
		if (once || mono_ms() >= until)
			break;
		usleep(500000);
	}
	if (sent)
		log_info("%ld affiliate postbacks sent", sent);
	return EX_OK;
}
