/* db and kv without a server: a dead dependency answers at once with an
 * error, and the one-second reconnect spacing keeps a dead server from
 * costing every request a connect timeout. Logging: context on every line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "unit.h"
#include "util.h"

static void t_db_down(void)
{
	/* Port 1 on loopback: connection refused at once. */
	struct db *db = db_new("host=127.0.0.1 port=1 dbname=x user=x", 1, 1000, "test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	struct arena *a = arena_new(0);
	CU_ASSERT_FALSE(db_ready(db));
	CU_ASSERT_STRING_EQUAL(db_sqlstate(db), "08001");
	CU_ASSERT(strlen(db_error(db)) > 0);
	int64_t t0 = mono_ms();
	for (int i = 0; i < 100; i++)
		CU_ASSERT_PTR_NULL(db_exec(db, a, "SELECT 1", 0, NULL));
	/* Within the same second no new attempt is made. */
	CU_ASSERT(mono_ms() - t0 < 500);
	arena_free(a);
	db_free(db);
	db_free(NULL);
}

static void t_kv_down(void)
{
	struct kv_opts o = {.host = "127.0.0.1", .port = 1, .socket = "", .password = "",
			    .connect_timeout_ms = 200, .command_timeout_ms = 200};
	struct kv *kv = kv_new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
	struct arena *a = arena_new(0);
	CU_ASSERT_FALSE(kv_ready(kv));
	CU_ASSERT(strlen(kv_error(kv)) > 0);
	int64_t t0 = mono_ms();
	for (int i = 0; i < 100; i++)
		CU_ASSERT_PTR_NULL(kv_cmd(kv, a, "PING"));
	CU_ASSERT(mono_ms() - t0 < 500);
	arena_free(a);
	kv_free(kv);
	kv_free(NULL);
}

static void t_log_context(void)
{
	char path[] = "/tmp/afftok-log-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_init("unit", true);
	log_set_context("req-42");
	log_info("hello %d", 5);
	log_set_context(NULL);
	log_warn("no context");
	log_set_level(LOG_LVL_WARN);
	log_info("filtered out");
	log_set_level(LOG_LVL_INFO);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char text[1024] = "";
	FILE *f = fopen(path, "r");
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	close(fd);
	unlink(path);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "info: [req-42] hello 5"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "warning: [-] no context"));
	CU_ASSERT_PTR_NULL(strstr(text, "filtered out"));
}

static const struct unit_case cases[] = {
	{"postgresql down answers at once", t_db_down},
	{"redis down answers at once", t_kv_down},
	{"log lines carry their context", t_log_context},
	{NULL, NULL},
};
UNIT_MAIN("conn")
