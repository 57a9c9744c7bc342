/* GET|HEAD /c/<token>: the click. The rules are in src/click.c; this file
 * holds the worker's cache and journal and turns the outcome into HTTP. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "click.h"
#include "handlers.h"
#include "journal.h"
#include "linkcache.h"
#include "log.h"
#include "util.h"

static struct linkcache *cache;
static struct journal *clicklog;

static void at_exit(void)
{
	/* The open segment becomes .rdy so ingest takes it at once. */
	journal_close(clicklog);
	clicklog = NULL;
}

static int worker_state(struct app *app)
{
	if (cache == NULL && (cache = linkcache_new(app)) == NULL)
		return -1;
	if (clicklog == NULL) {
		clicklog = journal_open(app->cfg.journal_dir, app->instance, app->cfg.journal_fsync,
				   app->cfg.journal_fsync_interval_ms, app->cfg.journal_segment_max_bytes);
		if (clicklog == NULL)
			return -1;
		journal_set_spill(clicklog, (size_t)app->cfg.journal_spill_max_bytes);
		atexit(at_exit);
	}
	return 0;
}

static bool wants_json(const char *accept)
{
	return accept && strstr(accept, "application/json") != NULL;
}

static const char *valid_ip(const char *s)
{
	unsigned char tmp[16];
	if (s && (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1))
		return s;
	return NULL;
}

int h_click(struct req *q, struct resp *r)
{
	struct app *app = q->app;
	struct click c;
	memset(&c, 0, sizeof c);
	if (!sign_parse(q->args[0], &c.tok)) {
		resp_error(q, r, 404, "NOT_FOUND", "no such link");
		return 0;
	}
	if (worker_state(app) != 0) {
		resp_error(q, r, 503, "UNAVAILABLE", "the click path cannot start");
		return 0;
	}
	const struct link_entry *l = linkcache_get(cache, q->arena, c.tok.code);
	if (l == NULL) {
		resp_error(q, r, 503, "UNAVAILABLE", "the link store is unavailable");
		return 0;
	}
	if (!l->found || strcmp(l->tenant_status, "active") != 0 ||
	    !strcmp(l->link_status, "archived") || !strcmp(l->offer_status, "archived")) {
		resp_error(q, r, 404, "NOT_FOUND", "no such link");
		return 0;
	}
	c.app = app;
	c.arena = q->arena;
	c.link = l;
	c.ip = valid_ip(q->remote_addr);
	c.user_agent = q->user_agent;
	c.referer = q->referer;
	c.accept = q->accept;
	c.accept_language = q->accept_language;
	c.params = q->params;
	c.nparams = q->nparams;
	c.now_ms = now_ms();
	c.clickid_key = app->mk.clickid;
	if (click_process(&c) != 0)
		return -1;

	/* Recorded before the answer. A record the disk does not take (full,
	 * I/O error) is kept in the worker's memory and written later (the
	 * journal's spill); one that cannot be kept either is refused with 503
	 * so no visitor is redirected for a click that is not recorded, unless
	 * [journal] refuse_unrecorded = false (redirect, count it lost). */
	struct buf rec;
	buf_init(&rec, q->arena);
	click_record(&c, &rec);
	int kept = -1;
	if (buf_ok(&rec))
		kept = journal_append(clicklog, rec.p, rec.len);
	else
		log_err("click %s: record too large for memory; not journalled", c.click_id);
	if (kept < 0 && app->cfg.journal_refuse_unrecorded) {
		resp_header(r, "Retry-After", "1");
		resp_error(q, r, 503, "UNAVAILABLE", "the click cannot be recorded right now");
		return 0;
	}

	resp_header(r, "Cache-Control", "no-store");
	resp_header(r, "X-Click-Id", "%s", c.click_id);
	if (c.status == 403) {
		if (wants_json(q->accept)) {
			resp_error(q, r, 403, "FORBIDDEN", "this link cannot be followed (%s)", c.reason);
		} else {
			r->status = 403;
			r->content_type = "text/html; charset=utf-8";
			buf_printf(&r->body,
				   "<!doctype html><html><head><meta charset=\"utf-8\"><title>Link not available</title>"
				   "</head><body><h1>This link is not available</h1><p>Reason: %s</p></body></html>\n",
				   c.reason);
		}
		return 0;
	}
	r->status = 302;
	resp_header(r, "Location", "%s", c.location);
	return 0;
}
