/* Test helper: what src/db.c does when the connection is lost inside a
 * transaction block (tests/integration/01-foundation.sh).
 *   dbprobe CONF txn-lost
 * Opens a transaction, has the server end the session (the way a restart
 * or failover would), then prints one line per statement that follows:
 * "<statement>: ok" or "<statement>: <SQLSTATE>". */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "log.h"

static void step(struct app *app, struct arena *a, const char *sql)
{
	PGresult *res = db_exec(app->db, a, sql, 0, NULL);
	printf("%s: %s\n", sql, res ? "ok" : db_sqlstate(app->db));
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[2], "txn-lost") != 0) {
		fprintf(stderr, "usage: dbprobe CONF txn-lost\n");
		return 64;
	}
	log_init("dbprobe", true);
	static struct app app;
	char err[256];
	if (app_init(&app, argv[1], "dbprobe", err, sizeof err) != 0) {
		fprintf(stderr, "dbprobe: %s\n", err);
		return 1;
	}
	struct arena *a = arena_new(8192);
	if (a == NULL)
		return 1;
	step(&app, a, "BEGIN");
	step(&app, a, "CREATE TEMP TABLE probe (x int)");
	/* The session ends under the open transaction (57P01, connection lost). */
	step(&app, a, "SELECT pg_terminate_backend(pg_backend_pid())");
	/* Must not run on a fresh connection as if the transaction went on. */
	step(&app, a, "INSERT INTO probe VALUES (1)");
	step(&app, a, "SELECT 1");
	step(&app, a, "ROLLBACK");
	/* After the caller ended the block: a new connection, new work. */
	step(&app, a, "SELECT 1");
	arena_free(a);
	app_close(&app);
	return 0;
}
