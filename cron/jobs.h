/* afftokctl's commands and cron jobs: each an entry in the table of
 * cron/main.c, one file per job. A job returns a sysexits code. */
#ifndef AFFTOK_CRON_JOBS_H
#define AFFTOK_CRON_JOBS_H

#include <sysexits.h>

struct app;
struct arena;

struct job {
	const char *name;
	const char *help;
	int (*run)(struct app *app, struct arena *a, int argc, char **argv);
	unsigned flags;
};

enum job_flags {
	JOB_CRON = 1, /* a periodic job: its runs are recorded in job_runs */
};

extern const struct job jobs[];

/* job-ingest.c, job-partitions.c */
int job_ingest(struct app *app, struct arena *a, int argc, char **argv);
int job_partitions(struct app *app, struct arena *a, int argc, char **argv);

/* cmd-demo.c */
int cmd_demo(struct app *app, struct arena *a, int argc, char **argv);

/* cmd-sign.c */
int cmd_sign(struct app *app, struct arena *a, int argc, char **argv);

/* cmd-admin.c */
int cmd_migrate(struct app *app, struct arena *a, int argc, char **argv);
int cmd_bootstrap(struct app *app, struct arena *a, int argc, char **argv);
int cmd_create_tenant(struct app *app, struct arena *a, int argc, char **argv);

/* job-webhooks.c */
int job_webhooks(struct app *app, struct arena *a, int argc, char **argv);

/* job-aggregate.c */
int job_aggregate(struct app *app, struct arena *a, int argc, char **argv);

/* job-match.c, job-events.c */
int job_match(struct app *app, struct arena *a, int argc, char **argv);
int job_events(struct app *app, struct arena *a, int argc, char **argv);
/* job-postbacks.c */
int job_postbacks(struct app *app, struct arena *a, int argc, char **argv);

#endif
