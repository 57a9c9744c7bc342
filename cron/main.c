/* afftokctl: installation commands and the cron jobs, from one table.
 * Exit codes follow sysexits(3): 75 (EX_TEMPFAIL) when a dependency is down,
 * so cron.d wrappers and monitoring can tell "try later" from "broken". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "health.h"
#include "jobs.h"
#include "log.h"

const struct job jobs[] = {
	{"migrate", "apply pending schema migrations [DIR]", cmd_migrate, 0},
	{"bootstrap", "create the operator key and a demo tenant [--force]", cmd_bootstrap, 0},
	{"ingest", "load the click journal into PostgreSQL [--once]", job_ingest, JOB_CRON},
	{"partitions", "create click partitions ahead, drop those past retention", job_partitions, JOB_CRON},
	{"demo", "create a demo offer and link in a tenant: TENANT_ID BASE_URL", cmd_demo, 0},
	{"sign", "print a signed token for a link: CODE [--ttl S] [--ts UNIX] [--nonce N]", cmd_sign, 0},
	{"create-tenant", "create a tenant with an admin key: NAME", cmd_create_tenant, 0},
	{"webhooks", "fan events out to webhook endpoints and send them [--once] [--loop S]", job_webhooks, JOB_CRON},
	{"aggregate", "roll clicks and conversions up into stats [--rebuild YYYY-MM-DD]", job_aggregate, JOB_CRON},
	{"match", "match postbacks that came before their click [--once]", job_match, JOB_CRON},
	{"events", "publish the conversion event outbox to Redis [--once]", job_events, JOB_CRON},
	{"postbacks", "send affiliate postbacks, with retries [--once]", job_postbacks, JOB_CRON},
	{NULL, NULL, NULL, 0},
};

static void usage(void)
{
	fprintf(stderr, "usage: afftokctl [-c config] [-v] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct job *j = jobs; j->name; j++)
		fprintf(stderr, "  %-16s %s\n", j->name, j->help);
	exit(EX_USAGE);
}

int main(int argc, char **argv)
{
	const char *conf = getenv("AFFTOK_CONF") ? getenv("AFFTOK_CONF") : CONFIG_DEFAULT_PATH;
	bool verbose = false;
	int ch;
	while ((ch = getopt(argc, argv, "+c:vh")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'v': verbose = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	const struct job *job = NULL;
	for (const struct job *j = jobs; j->name; j++)
		if (!strcmp(j->name, argv[0]))
			job = j;
	if (job == NULL)
		usage();

	/* Jobs log to syslog under cron and to stderr at a terminal. */
	log_init("afftokctl", verbose || isatty(STDERR_FILENO));
	log_set_context(job->name);
	static struct app app;
	char err[512];
	if (app_init(&app, conf, "afftokctl", err, sizeof err) != 0) {
		log_err("%s", err);
		return EX_CONFIG;
	}
	/* Jobs lift statement_timeout for their big statements (ingest,
	 * aggregate): the hang guard (db.h) only stops a server that stays
	 * silent for a quarter of an hour from holding the job's lock for ever. */
	db_set_deadline(app.db, 15 * 60 * 1000);
	struct arena *a = arena_new(65536);
	if (a == NULL)
		return EX_OSERR;
	if (job->flags & JOB_CRON)
		health_job_mark(&app, a, job->name, "running", NULL);
	int rc = job->run(&app, a, argc, argv);
	if (job->flags & JOB_CRON) {
		char detail[32];
		snprintf(detail, sizeof detail, "exit %d", rc);
		health_job_mark(&app, a, job->name, rc == EX_OK ? "ok" : "failed", detail);
	}
	if (rc != EX_OK)
		log_err("failed with exit code %d", rc);
	arena_free(a);
	app_close(&app);
	return rc;
}
