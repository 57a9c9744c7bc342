/* The state one worker or job process holds: configuration, master key and
 * connections. Built once at start-up. */
#ifndef AFFTOK_APP_H
#define AFFTOK_APP_H

#include "config.h"
#include "secret.h"

struct db;
struct kv;

struct app {
	struct config cfg;
	struct master_key mk;
	struct db *db;      /* primary */
	struct db *replica; /* NULL when none is configured */
	struct kv *kv;
	char instance[24];  /* short host name used in click ids and journal names */
};

/* Loads the config and master key and prepares (lazy) connections.
 * Returns 0, or -1 with a message in err. */
int app_init(struct app *app, const char *config_path, const char *appname, char *err,
	     size_t errlen);
void app_close(struct app *app);

#endif
