/* afftok-fcgi: the FastCGI worker. Started by spawn-fcgi (usually through
 * multiwatch) on a socket passed as fd 0; one request at a time, one arena
 * reset after each. */
#include <fcgiapp.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "app.h"
#include "arena.h"
#include "handlers.h"
#include "log.h"
#include "router.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: afftok-fcgi [-c config] [-L]\n"
			"  -c FILE  configuration (default " CONFIG_DEFAULT_PATH ")\n"
			"  -L       log to stderr instead of syslog\n");
	exit(64);
}

int main(int argc, char **argv)
{
	const char *conf = getenv("AFFTOK_CONF") ? getenv("AFFTOK_CONF") : CONFIG_DEFAULT_PATH;
	bool to_stderr = false;
	int ch;
	while ((ch = getopt(argc, argv, "c:Lh")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'L': to_stderr = true; break;
		default: usage();
		}
	}
	log_init("afftok-fcgi", to_stderr);
	static struct app app;
	char err[512];
	if (app_init(&app, conf, "afftok-fcgi", err, sizeof err) != 0)
		fatal("start-up: %s", err);

	signal(SIGPIPE, SIG_IGN);
	/* SIGTERM lets the current request finish: the accept loop checks the
	 * flag; without SA_RESTART the blocked accept returns at once. */
	struct sigaction sa = {0};
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (FCGX_Init() != 0)
		fatal("start-up: FCGX_Init failed");
	FCGX_Request fr;
	FCGX_InitRequest(&fr, 0, 0);
	struct arena *a = arena_new(32768);
	if (a == NULL)
		fatal("start-up: out of memory");
	log_info("worker ready");
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		struct req q;
		struct resp r;
		bool too_large;
		resp_init(&r, a);
		if (adapter_read(&fr, a, app.cfg.body_max_bytes, &q, &too_large) != 0) {
			q.request_id = q.request_id ? q.request_id : "-";
			resp_error(&q, &r, 500, "INTERNAL", "internal error");
		} else {
			log_set_context(q.request_id);
			router_dispatch(routes, &app, &q, &r, too_large);
		}
		resp_finish(&r);
		adapter_write(&fr, &q, &r);
		FCGX_Finish_r(&fr);
		log_set_context(NULL);
		arena_reset(a);
	}
	log_info("worker stopping");
	arena_free(a);
	app_close(&app);
	return 0;
}
