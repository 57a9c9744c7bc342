/* PostgreSQL connection with connect and statement timeouts and reconnect.
 * Results are registered on the caller's arena and freed with it. */
#ifndef AFFTOK_DB_H
#define AFFTOK_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct arena;
struct db;

/* Does not connect yet; NULL on allocation failure. The hang guard's
 * deadline (below) starts as statement_timeout_ms + 2 s. */
struct db *db_new(const char *conninfo, int connect_timeout_s, int statement_timeout_ms,
		  const char *application_name);
void db_free(struct db *db);
/* Connects or reconnects when needed; false when the server cannot be reached.
 * Reconnect attempts are spaced by at least one second so a dead server
 * costs a request one connect timeout at most once a second. */
bool db_ready(struct db *db);
/* Runs one statement with text parameters (NULL = SQL NULL). Returns the
 * result (registered on a) when it succeeded, NULL otherwise; then
 * db_sqlstate() tells why ("08006" and the like for a lost connection). */
PGresult *db_exec(struct db *db, struct arena *a, const char *sql, int nparams,
		  const char *const *params);
const char *db_sqlstate(const struct db *db);

/* The hang guard. statement_timeout is the server's to enforce; a server
 * that hangs, or a network that holds packets while something on the way
 * still acknowledges them (so TCP keepalives and tcp_user_timeout see
 * nothing wrong), never answers, and libpq would wait for ever. A watchdog
 * thread (one per process, started with the first guarded statement) shuts
 * down the socket of a connection busy for longer than its deadline: the
 * statement fails (08006, "no answer within N ms") and the next db_ready()
 * reconnects. db_exec() guards itself; code that drives libpq directly
 * through db_conn() brackets the calls with db_guard(db, true/false).
 * ms <= 0 turns the guard off for this connection. */
void db_set_deadline(struct db *db, int ms);
void db_guard(struct db *db, bool busy);
const char *db_error(const struct db *db);
PGconn *db_conn(struct db *db);

/* db_execp(db, a, sql, p1, p2, ...): at least one parameter. */
#define DB_NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
#define db_execp(db, a, sql, ...) \
	db_exec((db), (a), (sql), DB_NARGS(__VA_ARGS__), (const char *const[]){__VA_ARGS__})

/* Value of row r, column c, or NULL when SQL NULL. */
const char *db_val(const PGresult *res, int r, int c);

#endif
