/* afftok-fcgi: the FastCGI worker. Started by spawn-fcgi (usually through
 * multiwatch) on a socket passed as fd 0; one request at a time, one arena
 * reset after each. */
#include <fcgiapp.h>
#include <fcntl.h>
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
#include "util.h"

/* After SIGTERM a worker keeps taking the connections already queued on the
 * listening socket for at most this long, so a pool being replaced (init
 * script reload) leaves nothing in its backlog to be reset. */
#define DRAIN_MS 2000

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* fd 0 is the listening socket, shared by the whole pool. */
static void set_listen_blocking(bool blocking)
{
	int fl = fcntl(0, F_GETFL);
	if (fl < 0)
		return;
	fcntl(0, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
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
	/* SIGTERM lets the current request finish, then drains: the accept loop
	 * checks the flag; FCGI_FAIL_ACCEPT_ON_INTR (and no SA_RESTART) makes
	 * a blocked accept return at once instead of waiting for one more
	 * request. */
	struct sigaction sa = {0};
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (FCGX_Init() != 0)
		fatal("start-up: FCGX_Init failed");
	FCGX_Request fr;
	FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	/* A previous pool on the same socket (systemd keeps it across restarts)
	 * may have left it non-blocking while draining. */
	set_listen_blocking(true);
	int64_t drain_until = 0;
	struct arena *a = arena_new(32768);
	if (a == NULL)
		fatal("start-up: out of memory");
	log_info("worker ready");
	for (;;) {
		if (stopping && drain_until == 0) {
			/* Take what is queued without waiting: with the socket
			 * non-blocking, accept fails (EAGAIN) once it is empty. */
			set_listen_blocking(false);
			drain_until = now_ms() + DRAIN_MS;
		}
		if (drain_until && now_ms() > drain_until)
			break;
		if (FCGX_Accept_r(&fr) < 0) {
			if (stopping && drain_until == 0)
				continue; /* interrupted by SIGTERM: drain */
			break;
		}
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
