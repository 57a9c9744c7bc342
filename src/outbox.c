/* The outbox drain: event_outbox rows -> XADD afftok:events. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "crashpoint.h"
#include "db.h"
#include "kv.h"
#include "log.h"

int outbox_drain(struct app *app, struct arena *a)
{
	if (!kv_ready(app->kv) || !db_ready(app->db))
		return -1;
	if (db_exec(app->db, a, "BEGIN", 0, NULL) == NULL)
		return -1;
	/* SKIP LOCKED: two drains (two hosts) share the backlog. */
	PGresult *res = db_exec(app->db, a,
		"SELECT id, event_id, tenant_id::text, type, "
		"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), data::text "
		"FROM event_outbox WHERE published_at IS NULL ORDER BY id LIMIT " 
		"500 FOR UPDATE SKIP LOCKED", 0, NULL);
	if (res == NULL)
		goto fail;
	int n = PQntuples(res);
	if (n == 0) {
		db_exec(app->db, a, "COMMIT", 0, NULL);
		return 0;
	}
	struct buf ids;
	buf_init(&ids, a);
	buf_putc(&ids, '{');
	for (int i = 0; i < n; i++) {
		const char *argv[] = {"XADD", OUTBOX_STREAM, "MAXLEN", "~", OUTBOX_STREAM_MAXLEN, "*",
				      "type", db_val(res, i, 3), "id", db_val(res, i, 1),
				      "tenant_id", db_val(res, i, 2), "created_at", db_val(res, i, 4),
				      "data", db_val(res, i, 5)};
		size_t lens[16];
		for (int k = 0; k < 16; k++)
			lens[k] = strlen(argv[k]);
		if (kv_cmdargv(app->kv, a, 16, argv, lens) == NULL) {
			log_warn("outbox: XADD failed: %s", kv_error(app->kv));
			goto fail;
		}
		buf_printf(&ids, "%s%s", i ? "," : "", db_val(res, i, 0));
	}
	buf_putc(&ids, '}');
	crash_point("events.after_xadd"); /* in the stream, not marked published */
	if (!buf_ok(&ids) ||
	    db_execp(app->db, a, "UPDATE event_outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
		     ids.p) == NULL ||
	    db_exec(app->db, a, "COMMIT", 0, NULL) == NULL)
		goto fail;
	return n;
fail:
	db_exec(app->db, a, "ROLLBACK", 0, NULL);
	return -1;
}

long outbox_prune(struct app *app, struct arena *a, int keep_days)
{
	char days[16];
	snprintf(days, sizeof days, "%d", keep_days);
	PGresult *res = db_execp(app->db, a,
		"DELETE FROM event_outbox WHERE id IN (SELECT id FROM event_outbox "
		"WHERE published_at < now() - make_interval(days => $1::int) LIMIT 10000)", days);
	return res ? atol(PQcmdTuples(res)) : -1;
}
