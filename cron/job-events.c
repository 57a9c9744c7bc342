/* afftokctl events [--once]: drains the event outbox to the Redis Stream
 * afftok:events (format in src/outbox.h) and prunes published events after
 * 7 days. Runs for [cron] conversions_loop_s, polling every 200 ms, so an
 * event reaches the stream within about a second of its commit. */
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "jobs.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

int job_events(struct app *app, struct arena *a, int argc, char **argv)
{
	bool once = argc > 1 && !strcmp(argv[1], "--once");
	int64_t until = mono_ms() + app->cfg.cron_conversions_loop_s * 1000;
	long sent = 0;
	for (;;) {
		int n;
		while ((n = outbox_drain(app, a)) > 0) {
			sent += n;
			arena_reset(a);
		}
		arena_reset(a);
		if (n < 0) {
			log_warn("events: %ld published, then PostgreSQL or Redis failed", sent);
			return EX_TEMPFAIL;
		}
		if (once || mono_ms() >= until)
			break;
		usleep(200000);
	}
	outbox_prune(app, a, 7);
	if (sent)
		log_info("%ld events published", sent);
	return EX_OK;
}
