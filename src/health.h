/* The health report of /admin/health: dependencies, backlog and cron jobs. */
#ifndef AFFTOK_HEALTH_H
#define AFFTOK_HEALTH_H

#include <stdbool.h>

struct app;
struct arena;
struct json_object;

/* A new JSON object (the caller owns it); *ok is false when PostgreSQL or
 * Redis is down. NULL on allocation failure. */
struct json_object *health_report(struct app *app, struct arena *a, bool *ok);
/* Records the start or the end of a cron job run (status "running", "ok",
 * "failed"), in PostgreSQL. Returns 0 or -1. */
int health_job_mark(struct app *app, struct arena *a, const char *job, const char *status,
		    const char *detail);

#endif
