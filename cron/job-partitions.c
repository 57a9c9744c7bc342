/* afftokctl partitions: keeps the daily partitions of clicks ahead of time
 * ([cron] partition_days_ahead) and detaches and drops those older than
 * [cron] retention_days; forgets link nonces nobody can replay any more.
 * Aggregates (stats tables) are not partitions of clicks and stay; the
 * dropped day's click summaries (stats_click_pre, sql/090) go with it. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "arena.h"
#include "crashpoint.h"
#include "db.h"
#include "jobs.h"
#include "log.h"

int job_partitions(struct app *app, struct arena *a, int argc, char **argv)
{
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	char ahead[24], keep[24];
	snprintf(ahead, sizeof ahead, "%ld", app->cfg.cron_partition_days_ahead);
	snprintf(keep, sizeof keep, "%ld", app->cfg.cron_retention_days);
	PGresult *res = db_execp(app->db, a, "SELECT afftok_ensure_partitions('clicks', $1::int)", ahead);
	if (res == NULL)
		return EX_TEMPFAIL;
	int created = atoi(db_val(res, 0, 0));
	res = db_execp(app->db, a,
		"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
		"WHERE i.inhparent = 'clicks'::regclass AND c.relname ~ '^clicks_[0-9]{8}$' "
		"AND to_date(substr(c.relname, 8), 'YYYYMMDD') < (now() AT TIME ZONE 'UTC')::date - $1::int "
		"ORDER BY 1", keep);
	if (res == NULL)
		return EX_TEMPFAIL;
	int dropped = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = db_val(res, i, 0);
		/* The name matched ^clicks_[0-9]{8}$: safe to splice. */
		char *detach = arena_sprintf(a, "ALTER TABLE clicks DETACH PARTITION %s", name);
		char *drop = arena_sprintf(a, "DROP TABLE %s", name);
		/* Summary rows of clicks that are gone: no rollup can be rebuilt
		 * from them any more (rebuilds read raw clicks), and a late click
		 * for the day has no partition to go to. */
		char *prune = arena_sprintf(a, "DELETE FROM stats_click_pre WHERE bucket < "
					       "(to_date('%s', 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'", name + 7);
		/* One transaction: a run killed between the statements must not
		 * leave a detached table that no later run would look at. */
		bool ok = db_exec(app->db, a, "BEGIN", 0, NULL) && db_exec(app->db, a, detach, 0, NULL);
		if (ok)
			crash_point("partitions.after_detach");
		ok = ok && db_exec(app->db, a, drop, 0, NULL) && db_exec(app->db, a, prune, 0, NULL) &&
		     db_exec(app->db, a, "COMMIT", 0, NULL);
		if (!ok) {
			log_err("partition %s: %s", name, db_error(app->db));
			db_exec(app->db, a, "ROLLBACK", 0, NULL);
			return EX_SOFTWARE;
		}
		log_info("dropped partition %s (older than %s days)", name, keep);
		dropped++;
	}
	/* A signed link lives at most 30 days (+ skew) after it was signed, or
	 * (link_nonces, claims of version 1 records) after its first click. */
	if (!db_exec(app->db, a, "DELETE FROM link_nonces WHERE created_at < now() - interval '31 days'", 0, NULL) ||
	    !db_exec(app->db, a,
		     "DELETE FROM link_nonce_sets WHERE ts < extract(epoch FROM now() - interval '31 days')::bigint", 0,
		     NULL))
		return EX_TEMPFAIL;
	if (created || dropped)
		log_info("partitions: %d created, %d dropped", created, dropped);
	return EX_OK;
}
