/* Applies numbered SQL files that schema_migrations does not list yet. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(struct arena *a, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
		s = NULL;
	fclose(f);
	return s;
}

static int list_files(struct arena *a, const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		log_err("migrate: %s: %s", dir, strerror(errno));
		return -1;
	}
	int n = 0, cap = 64;
	char **names = arena_alloc(a, (size_t)cap * sizeof *names);
	struct dirent *e;
	while (names && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 8 || strcmp(e->d_name + len - 4, ".sql") || strspn(e->d_name, "0123456789") != 3)
			continue;
		if (n == cap) {
			char **more = arena_alloc(a, (size_t)cap * 2 * sizeof *names);
			if (more == NULL) {
				names = NULL;
				break;
			}
			memcpy(more, names, (size_t)n * sizeof *names);
			names = more;
			cap *= 2;
		}
		names[n++] = arena_strdup(a, e->d_name);
	}
	closedir(d);
	if (names == NULL)
		return -1;
	qsort(names, (size_t)n, sizeof *names, by_name);
	*out = names;
	return n;
}

int migrate_apply(struct db *db, struct arena *a, const char *dir)
{
	char **files;
	int n = list_files(a, dir, &files);
	if (n < 0)
		return -1;
	if (!db_exec(db, a, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL))
		return -1;
	int applied = 0;
	for (int i = 0; i < n; i++) {
		char version[4] = {files[i][0], files[i][1], files[i][2], 0};
		char *path = arena_sprintf(a, "%s/%s", dir, files[i]);
		char *sql = path ? slurp(a, path) : NULL;
		if (sql == NULL) {
			log_err("migrate: cannot read %s", path ? path : files[i]);
			return -1;
		}
		if (!db_exec(db, a, "BEGIN", 0, NULL))
			return -1;
		/* The lock makes a second migrator wait, then see the row and skip. */
		PGresult *res = db_exec(db, a, "SELECT pg_advisory_xact_lock(727274)", 0, NULL);
		if (res)
			res = db_execp(db, a, "SELECT 1 FROM schema_migrations WHERE version = $1", version);
		if (res && PQntuples(res) == 1) {
			db_exec(db, a, "COMMIT", 0, NULL);
			continue;
		}
		/* The file goes as one simple-query string so it may hold many statements. */
		PGresult *r = res ? PQexec(db_conn(db), sql) : NULL;
		bool ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
		if (!ok)
			log_err("migrate: %s: %s", files[i], r ? PQresultErrorMessage(r) : db_error(db));
		PQclear(r);
		if (ok && db_execp(db, a, "INSERT INTO schema_migrations (version) VALUES ($1)", version) &&
		    db_exec(db, a, "COMMIT", 0, NULL)) {
			log_info("migrate: applied %s", files[i]);
			applied++;
			continue;
		}
		db_exec(db, a, "ROLLBACK", 0, NULL);
		return -1;
	}
	return applied;
}
