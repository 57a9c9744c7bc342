/* Worker and job start-up state. */
#include "app.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "kv.h"
#include "log.h"

/* [general] log_level as a level; false when it names none. */
static bool log_level_of(const char *name, enum log_level *out)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum log_level)i;
			return true;
		}
	return false;
}

int app_init(struct app *app, const char *config_path, const char *appname, char *err,
	     size_t errlen)
{
	memset(app, 0, sizeof *app);
	if (config_load(&app->cfg, config_path, err, errlen) != 0)
		return -1;
	if (master_key_load(&app->mk, app->cfg.secret_key_file, err, errlen) != 0)
		return -1;
	const struct config *c = &app->cfg;
	enum log_level lvl;
	if (!log_level_of(c->log_level, &lvl)) {
		snprintf(err, errlen, "[general] log_level: '%s' is not error, warning, info or debug", c->log_level);
		return -1;
	}
	log_set_level(lvl);
	app->db = db_new(c->db_conninfo, (int)c->db_connect_timeout_s, (int)c->db_statement_timeout_ms,
			 appname);
	if (c->db_replica_conninfo[0])
		app->replica = db_new(c->db_replica_conninfo, (int)c->db_connect_timeout_s,
				      (int)c->db_statement_timeout_ms, appname);
	struct kv_opts ko = {
		.host = c->redis_host,
		.port = (int)c->redis_port,
		.socket = c->redis_socket,
		.password = c->redis_password,
		.connect_timeout_ms = (int)c->redis_connect_timeout_ms,
		.command_timeout_ms = (int)c->redis_command_timeout_ms,
		.sentinels = c->redis_sentinels,
		.sentinel_master = c->redis_sentinel_master,
	};
	app->kv = kv_new(&ko);
	if (app->db == NULL || app->kv == NULL || (c->db_replica_conninfo[0] && app->replica == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->instance_id[0])
		snprintf(app->instance, sizeof app->instance, "%s", c->instance_id);
	else if (gethostname(app->instance, sizeof app->instance) != 0)
		snprintf(app->instance, sizeof app->instance, "host");
	app->instance[sizeof app->instance - 1] = '\0';
	return 0;
}

void app_close(struct app *app)
{
	db_free(app->db);
	db_free(app->replica);
	kv_free(app->kv);
	config_free(&app->cfg);
	memset(&app->mk, 0, sizeof app->mk);
}
