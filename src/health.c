/* Health report and cron job bookkeeping. */
#include "health.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "geo.h"
#include "journal.h"
#include "bot.h"
#include "botua.h"
#include "netset.h"
#include "shm.h"
#include "kv.h"
#include "util.h"

static struct json_object *check_db(struct db *db, struct arena *a, bool *up)
{
	struct json_object *o = json_object_new_object();
	int64_t t0 = mono_ms();
	PGresult *res = db_exec(db, a,
		/* A replica that has replayed all it received is not behind, however
		 * long ago the primary last wrote (the same rule as src/stats.c). */
		"SELECT CASE WHEN pg_is_in_recovery() THEN CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
		"THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END END", 0, NULL);
	*up = res != NULL;
	json_object_object_add(o, "up", json_object_new_boolean(*up));
	if (*up) {
		json_object_object_add(o, "latency_ms", json_object_new_int64(mono_ms() - t0));
		const char *lag = db_val(res, 0, 0);
		if (lag)
			json_object_object_add(o, "lag_s", json_object_new_double(atof(lag)));
	} else {
		json_object_object_add(o, "error", json_object_new_string("unreachable"));
	}
	return o;
}

static long journal_backlog(const char *dir, long long *bytes)
{
	long n = 0;
	*bytes = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		/* Segments being written (.jnl) and closed ones not ingested yet (.rdy). */
		if (len > 4 && (!strcmp(e->d_name + len - 4, ".jnl") || !strcmp(e->d_name + len - 4, ".rdy"))) {
			struct stat st;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			if (stat(path, &st) == 0)
				*bytes += st.st_size;
			n++;
		}
	}
	closedir(d);
	return n;
}

struct json_object *health_report(struct app *app, struct arena *a, bool *ok)
{
	struct json_object *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	bool pg_up, kv_up, rep_up;
	json_object_object_add(o, "postgresql", check_db(app->db, a, &pg_up));
	if (app->replica)
		json_object_object_add(o, "replica", check_db(app->replica, a, &rep_up));

	struct json_object *r = json_object_new_object();
	redisReply *pong = kv_cmd(app->kv, a, "PING");
	kv_up = pong != NULL;
	json_object_object_add(r, "up", json_object_new_boolean(kv_up));
	if (!kv_up)
		json_object_object_add(r, "error", json_object_new_string("unreachable"));
	json_object_object_add(o, "redis", r);

	struct json_object *j = json_object_new_object();
	long long bytes;
	long segs = journal_backlog(app->cfg.journal_dir, &bytes);
	json_object_object_add(j, "segments", json_object_new_int64(segs));
	json_object_object_add(j, "bytes", json_object_new_int64(bytes));
	struct statvfs fs;
	if (statvfs(app->cfg.journal_dir, &fs) == 0)
		json_object_object_add(j, "free_bytes", json_object_new_int64((int64_t)fs.f_bavail * (int64_t)fs.f_frsize));
	/* This worker's click journal: clicks waiting in memory for the disk
	 * (see journal.h, the spill) and clicks lost since it started. */
	struct journal_stats js;
	if (journal_process_stats(&js)) {
		json_object_object_add(j, "spill_records", json_object_new_int64((int64_t)js.spill_records));
		json_object_object_add(j, "spill_bytes", json_object_new_int64((int64_t)js.spill_bytes));
		json_object_object_add(j, "spilled_total", json_object_new_int64((int64_t)js.spilled));
		json_object_object_add(j, "lost_total", json_object_new_int64((int64_t)js.lost));
		json_object_object_add(j, "status", json_object_new_string(js.spill_records ? "spilling" : "ok"));
	}
	json_object_object_add(o, "journal", j);

	struct json_object *geo = json_object_new_object();
	const char *geo_detail;
	uint64_t geo_built;
	bool geo_on = geo_status(&app->cfg, &geo_detail, &geo_built);
	json_object_object_add(geo, "enabled", json_object_new_boolean(geo_on));
	json_object_object_add(geo, geo_on ? "database" : "reason", json_object_new_string(geo_detail));
	if (geo_on)
		json_object_object_add(geo, "built_at", json_object_new_int64((int64_t)geo_built));
	json_object_object_add(o, "geo", geo);

	/* Traffic quality: what bot detection runs with in this worker, and
	 * whether the counters are shared by the host's workers. */
	struct json_object *tq = json_object_new_object();
	const struct bot_rules *br = bot_shared(&app->cfg);
	size_t residual = 0;
	int64_t npat = br ? (int64_t)botua_count(br->ua, &residual) : 0;
	int64_t ndc = br ? (int64_t)netset_size(br->dc) : 0;
	json_object_object_add(tq, "crawler_patterns", json_object_new_int64(npat));
	json_object_object_add(tq, "datacenter_entries", json_object_new_int64(ndc));
	json_object_object_add(tq, "shared_counters", json_object_new_boolean(shm_shared(shm_shared_state(&app->cfg))));
	json_object_object_add(o, "traffic", tq);

	struct json_object *jobs = json_object_new_object();
	PGresult *res = pg_up ? db_exec(app->db, a,
		"SELECT name, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		"to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), detail "
		"FROM job_runs ORDER BY name", 0, NULL) : NULL;
	for (int i = 0; res && i < PQntuples(res); i++) {
		struct json_object *jo = json_object_new_object();
		static const char *keys[] = {NULL, "status", "last_start", "last_finish", "detail"};
		for (int c = 1; c < 5; c++) {
			const char *v = db_val(res, i, c);
			json_object_object_add(jo, keys[c], v ? json_object_new_string(v) : NULL);
		}
		json_object_object_add(jobs, db_val(res, i, 0), jo);
	}
	json_object_object_add(o, "jobs", jobs);
	*ok = pg_up && kv_up;
	json_object_object_add(o, "status", json_object_new_string(*ok ? "ok" : "degraded"));
	return o;
}

int health_job_mark(struct app *app, struct arena *a, const char *job, const char *status,
		    const char *detail)
{
	const char *sql = !strcmp(status, "running")
		? "INSERT INTO job_runs (name, status, started_at, detail) VALUES ($1, $2, now(), $3) "
		  "ON CONFLICT (name) DO UPDATE SET status = $2, started_at = now(), detail = $3"
		: "INSERT INTO job_runs (name, status, finished_at, detail) VALUES ($1, $2, now(), $3) "
		  "ON CONFLICT (name) DO UPDATE SET status = $2, finished_at = now(), detail = $3";
	return db_execp(app->db, a, sql, job, status, detail ? detail : "") ? 0 : -1;
}
