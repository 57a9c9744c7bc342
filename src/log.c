/* Logging to syslog or stderr with a context prefix on every line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static bool to_stderr = true;
static enum log_level max_level = LOG_LVL_INFO;
static char context[96];
static char ident_buf[32] = "afftok";

void log_init(const char *ident, bool foreground)
{
	snprintf(ident_buf, sizeof ident_buf, "%s", ident ? ident : "afftok");
	to_stderr = foreground;
	if (!foreground)
		openlog(ident_buf, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level lvl)
{
	max_level = lvl;
}

void log_set_context(const char *ctx)
{
	/* A bounded copy, not snprintf: this runs twice a request, and the
	 * two snprintf calls were ~4 % of a click's user time in a worker. */
	size_t n = ctx ? strnlen(ctx, sizeof context - 1) : 0;
	if (n)
		memcpy(context, ctx, n);
	context[n] = '\0';
}

const char *log_context(void)
{
	return context;
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *name[] = {"error", "warning", "info", "debug"};
	char msg[1024];
	if (lvl > max_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (to_stderr) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		fprintf(stderr, "%s %s[%d] %s: [%s] %s\n", ts, ident_buf, (int)getpid(), name[lvl],
			context[0] ? context : "-", msg);
	} else {
		syslog(prio[lvl], "%s: [%s] %s", name[lvl], context[0] ? context : "-", msg);
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
