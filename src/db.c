/* libpq wrapper: lazy connect, reconnect with spacing, errors kept for the caller. */
#include "db.h"

#include <ctype.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "util.h"

struct db {
	PGconn *conn;
	char *conninfo;
	char *appname;
	int connect_timeout_s;
	int statement_timeout_ms;
	/* The breaker: no connection attempt before retry_at (monotonic ms);
	 * the pause doubles from 1 s to DB_BACKOFF_MAX_MS while attempts fail. */
	int64_t retry_at;
	int backoff_ms;
	char sqlstate[6];
	char error[256];
	/* The hang guard (db.h), under guard_mu. */
	int deadline_ms;
	int64_t busy_until; /* monotonic ms; 0 = idle */
	int busy_fd;
	bool timed_out;
	/* A transaction block was open on the connection when it was lost:
	 * until the caller ends the block (COMMIT fails, ROLLBACK succeeds) or
	 * begins a new one, statements are refused instead of running on the
	 * new connection outside the transaction they belonged to. */
	bool in_txn, txn_lost;
};

#define DB_BACKOFF_MAX_MS 4000

/* A failure (connect refused or timed out, a statement cut off by the
 * guard): wait before the next attempt, counted from now, the end of the
 * failure, so a server that hangs costs each process one connect timeout
 * per pause instead of blocking it back to back. */
static void back_off(struct db *db)
{
	db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : 1000;
	if (db->backoff_ms > DB_BACKOFF_MAX_MS)
		db->backoff_ms = DB_BACKOFF_MAX_MS;
	db->retry_at = mono_ms() + db->backoff_ms;
}

/* ---- the hang guard ---- */

#define GUARD_MAX 16 /* connections per process: a worker has 4 */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db *guarded[GUARD_MAX];
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static bool guard_running;

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(100000);
		int64_t now = mono_ms();
		pthread_mutex_lock(&guard_mu);
		for (int i = 0; i < GUARD_MAX; i++) {
			struct db *db = guarded[i];
			if (db == NULL || db->busy_until == 0 || now < db->busy_until || db->timed_out ||
			    db->busy_fd < 0)
				continue;
			/* libpq now reads the end of the stream and gives up;
			 * the descriptor stays the connection's to close. */
			shutdown(db->busy_fd, SHUT_RDWR);
			db->timed_out = true;
		}
		pthread_mutex_unlock(&guard_mu);
	}
	return NULL;
}

static void guard_start(void)
{
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	guard_running = pthread_create(&t, &at, watchdog, NULL) == 0;
	pthread_attr_destroy(&at);
	if (!guard_running)
		log_warn("postgresql: cannot start the hang guard; a hanging server can block this process");
}

void db_set_deadline(struct db *db, int ms)
{
	pthread_mutex_lock(&guard_mu);
	db->deadline_ms = ms;
	pthread_mutex_unlock(&guard_mu);
}

void db_guard(struct db *db, bool busy)
{
	if (db->deadline_ms <= 0)
		return;
	pthread_once(&guard_once, guard_start);
	pthread_mutex_lock(&guard_mu);
	if (busy) {
		db->busy_fd = db->conn ? PQsocket(db->conn) : -1;
		db->busy_until = mono_ms() + db->deadline_ms;
		db->timed_out = false;
	} else {
		db->busy_until = 0;
		if (db->timed_out)
			back_off(db);
	}
	pthread_mutex_unlock(&guard_mu);
}

/* Whether the last guarded call ended because the guard cut it off. */
static bool guard_fired(struct db *db)
{
	pthread_mutex_lock(&guard_mu);
	bool f = db->timed_out;
	pthread_mutex_unlock(&guard_mu);
	return f;
}

struct db *db_new(const char *conninfo, int connect_timeout_s, int statement_timeout_ms,
		  const char *application_name)
{
	struct db *db = calloc(1, sizeof *db);
	if (db == NULL)
		return NULL;
	db->conninfo = strdup(conninfo ? conninfo : "");
	db->appname = strdup(application_name ? application_name : "afftok");
	if (db->conninfo == NULL || db->appname == NULL) {
		db_free(db);
		return NULL;
	}
	db->connect_timeout_s = connect_timeout_s;
	db->statement_timeout_ms = statement_timeout_ms;
	db->deadline_ms = statement_timeout_ms > 0 ? statement_timeout_ms + 2000 : 0;
	db->busy_fd = -1;
	pthread_mutex_lock(&guard_mu);
	for (int i = 0; i < GUARD_MAX; i++) {
		if (guarded[i] == NULL) {
			guarded[i] = db;
			break;
		}
	}
	pthread_mutex_unlock(&guard_mu);
	return db;
}

void db_free(struct db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&guard_mu);
	for (int i = 0; i < GUARD_MAX; i++)
		if (guarded[i] == db)
			guarded[i] = NULL;
	pthread_mutex_unlock(&guard_mu);
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db->appname);
	free(db);
}

static void set_error(struct db *db, const char *state, const char *msg)
{
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	snprintf(db->error, sizeof db->error, "%s", msg ? msg : "");
	char *nl = strchr(db->error, '\n');
	if (nl)
		*nl = '\0';
}

static bool connect_now(struct db *db)
{
	char timeout[16], options[128];
	snprintf(timeout, sizeof timeout, "%d", db->connect_timeout_s);
	/* afftok.tenant_id=*: outside a tenant scope (src/tenantdb.h) the
	 * application works across tenants; see sql/020_rls.sql. */
	snprintf(options, sizeof options,
		 "-c statement_timeout=%d -c client_min_messages=warning -c afftok.tenant_id=*",
		 db->statement_timeout_ms);
	/* conninfo first with expand_dbname, so it may hold a URI or service=NAME;
	 * the keywords after it fill in what it leaves out. */
	const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
	const char *vals[] = {db->conninfo, timeout, options, db->appname, NULL};
	if (db->conn)
		PQfinish(db->conn);
	if (db->in_txn)
		db->txn_lost = true;
	db->in_txn = false;
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		set_error(db, "08001", db->conn ? PQerrorMessage(db->conn) : "out of memory");
		log_warn("postgresql: connect failed: %s", db->error);
		return false;
	}
	return true;
}

/* An idle connection the server has closed (a restart, an admin's
 * pg_terminate_backend) still says CONNECTION_OK until it is used: the
 * server's goodbye or the EOF is already readable, so look before the next
 * statement instead of failing it. Only outside a transaction, where a new
 * connection loses nothing. */
static bool closed_by_server(PGconn *conn)
{
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		return false;
	struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
	if (pfd.fd < 0 || poll(&pfd, 1, 0) != 1)
		return false;
	return PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK;
}

bool db_ready(struct db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
		if (!closed_by_server(db->conn))
			return true;
		log_warn("postgresql: the server closed the connection; reconnecting");
		if (connect_now(db))
			return true;
		back_off(db);
		return false;
	}
	if (mono_ms() < db->retry_at)
		return false;
	if (!connect_now(db)) {
		back_off(db);
		return false;
	}
	db->backoff_ms = 0;
	return true;
}

/* sql starts with the keyword word (any case, after blanks). */
static bool starts_with_word(const char *sql, const char *word)
{
	sql += strspn(sql, " \t\r\n");
	size_t n = strlen(word);
	return !strncasecmp(sql, word, n) && !isalnum((unsigned char)sql[n]) && sql[n] != '_';
}

/* After a connection was lost inside a transaction block: false (with the
 * error set) when sql must not run on the new connection. */
static bool txn_may_run(struct db *db, const char *sql)
{
	if (starts_with_word(sql, "ROLLBACK") || starts_with_word(sql, "ABORT") ||
	    starts_with_word(sql, "BEGIN") || starts_with_word(sql, "START")) {
		db->txn_lost = false;
		return true;
	}
	if (starts_with_word(sql, "COMMIT") || starts_with_word(sql, "END"))
		db->txn_lost = false;
	set_error(db, "08006", "the connection was lost inside a transaction; it was rolled back");
	return false;
}

PGresult *db_exec(struct db *db, struct arena *a, const char *sql, int nparams,
		  const char *const *params)
{
	if (!db_ready(db))
		return NULL;
	if (db->txn_lost && !txn_may_run(db, sql))
		return NULL;
	db_guard(db, true);
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	db_guard(db, false);
	if (PQstatus(db->conn) == CONNECTION_OK) {
		PGTransactionStatusType ts = PQtransactionStatus(db->conn);
		db->in_txn = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
	}
	if (db->deadline_ms > 0 && guard_fired(db)) {
		char why[96];
		snprintf(why, sizeof why, "no answer within %d ms; connection dropped", db->deadline_ms);
		set_error(db, "08006", why);
		log_warn("postgresql: %s", why);
		PQclear(res);
		return NULL;
	}
	if (res == NULL) {
		set_error(db, "08006", PQerrorMessage(db->conn));
		return NULL;
	}
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (arena_defer(a, (void (*)(void *))PQclear, res) != 0)
			return NULL;
		db->sqlstate[0] = '\0';
		return res;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	set_error(db, state ? state : "08006", PQresultErrorMessage(res));
	PQclear(res);
	if (PQstatus(db->conn) != CONNECTION_OK)
		log_warn("postgresql: connection lost: %s", db->error);
	else if (strncmp(db->sqlstate, "23", 2) != 0)
		log_warn("postgresql: %s: %s", db->sqlstate, db->error);
	return NULL;
}

const char *db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

const char *db_error(const struct db *db)
{
	return db->error;
}

PGconn *db_conn(struct db *db)
{
	return db->conn;
}

const char *db_val(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return NULL;
	return PQgetvalue(res, r, c);
}
