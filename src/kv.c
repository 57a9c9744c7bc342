/* hiredis wrapper: one connection per process, reconnect behind a one-second
 * circuit breaker, and with Sentinels the master's address looked up on
 * every (re)connect. */
#include "kv.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "arena.h"
#include "log.h"

struct kv {
	redisContext *c;
	char *host, *socket, *password;
	char *sentinels, *master_name;
	char master[300]; /* "host:port" last reported by the Sentinels */
	int port;
	int connect_timeout_ms, command_timeout_ms;
	struct timespec retry_after;
	char error[160];
};

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

struct kv *kv_new(const struct kv_opts *o)
{
	struct kv *kv = calloc(1, sizeof *kv);
	if (kv == NULL)
		return NULL;
	kv->host = dup_or_empty(o->host);
	kv->socket = dup_or_empty(o->socket);
	kv->password = dup_or_empty(o->password);
	kv->sentinels = dup_or_empty(o->sentinels);
	kv->master_name = dup_or_empty(o->sentinel_master);
	if (!kv->host || !kv->socket || !kv->password || !kv->sentinels || !kv->master_name) {
		kv_free(kv);
		return NULL;
	}
	kv->port = o->port;
	kv->connect_timeout_ms = o->connect_timeout_ms;
	kv->command_timeout_ms = o->command_timeout_ms;
	return kv;
}

void kv_free(struct kv *kv)
{
	if (kv == NULL)
		return;
	if (kv->c)
		redisFree(kv->c);
	free(kv->host);
	free(kv->socket);
	free(kv->password);
	free(kv->sentinels);
	free(kv->master_name);
	free(kv);
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

static void drop(struct kv *kv, const char *why)
{
	snprintf(kv->error, sizeof kv->error, "%s", why);
	if (kv->c) {
		redisFree(kv->c);
		kv->c = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &kv->retry_after);
	kv->retry_after.tv_sec += 1;
}

/* Asks the Sentinels in turn where the master named master_name is; 0 with
 * host and port set on the first answer, -1 when none knows. */
static int sentinel_lookup(struct kv *kv, char *host, size_t hostlen, int *port)
{
	char list[1024];
	snprintf(list, sizeof list, "%s", kv->sentinels);
	char *save = NULL;
	for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		const char *shost = item;
		long sport = 26379;
		char *colon = strrchr(item, ':');
		if (colon && (item[0] != '[' || colon[-1] == ']')) {
			*colon = '\0';
			sport = strtol(colon + 1, NULL, 10);
		}
		if (shost[0] == '[') { /* [v6 address]:port */
			shost++;
			char *end = strchr(shost, ']');
			if (end)
				*end = '\0';
		}
		if (sport < 1 || sport > 65535)
			continue;
		redisContext *s = redisConnectWithTimeout(shost, (int)sport, ms_tv(kv->connect_timeout_ms));
		if (s == NULL || s->err) {
			log_warn("redis: sentinel %s:%ld: %s", shost, sport, s ? s->errstr : "out of memory");
			if (s)
				redisFree(s);
			continue;
		}
		redisSetTimeout(s, ms_tv(kv->command_timeout_ms));
		redisReply *r = redisCommand(s, "SENTINEL get-master-addr-by-name %s", kv->master_name);
		bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		          r->element[0]->type == REDIS_REPLY_STRING &&
		          r->element[1]->type == REDIS_REPLY_STRING;
		if (ok) {
			snprintf(host, hostlen, "%s", r->element[0]->str);
			*port = atoi(r->element[1]->str);
		} else {
			log_warn("redis: sentinel %s:%ld does not know master '%s'", shost, sport,
			         kv->master_name);
		}
		if (r)
			freeReplyObject(r);
		redisFree(s);
		if (ok)
			return 0;
	}
	return -1;
}

/* A Sentinel's answer can be stale for a moment after a failover, and a
 * demoted master still accepts connections: only a master will do. */
static bool is_master(redisContext *c)
{
	redisReply *r = redisCommand(c, "ROLE");
	bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	          r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "master");
	if (r)
		freeReplyObject(r);
	return ok;
}

/* Between commands nothing is owed to us, so a readable socket means the
 * server closed it (restart, failover, idle timeout). */
static bool closed_by_server(redisContext *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

bool kv_ready(struct kv *kv)
{
	if (kv->c) {
		if (!closed_by_server(kv->c))
			return true;
		/* Reconnect now instead of failing a command on a dead
		 * connection (a killed master: the Sentinels name another). */
		redisFree(kv->c);
		kv->c = NULL;
		log_warn("redis: connection closed by the server; reconnecting");
	} else {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < kv->retry_after.tv_sec ||
		    (now.tv_sec == kv->retry_after.tv_sec && now.tv_nsec < kv->retry_after.tv_nsec))
			return false;
	}
	struct timeval ct = ms_tv(kv->connect_timeout_ms);
	char mhost[256];
	int mport = 0;
	if (kv->sentinels[0]) {
		if (sentinel_lookup(kv, mhost, sizeof mhost, &mport) != 0) {
			drop(kv, "no Sentinel knows the master");
			log_warn("redis: %s", kv->error);
			return false;
		}
		char where[sizeof kv->master];
		snprintf(where, sizeof where, "%s:%d", mhost, mport);
		if (strcmp(where, kv->master) != 0) {
			log_info("redis: master '%s' is at %s", kv->master_name, where);
			snprintf(kv->master, sizeof kv->master, "%s", where);
		}
	}
	redisContext *c = kv->sentinels[0] ? redisConnectWithTimeout(mhost, mport, ct)
	                  : kv->socket[0]  ? redisConnectUnixWithTimeout(kv->socket, ct)
	                                   : redisConnectWithTimeout(kv->host, kv->port, ct);
	if (c == NULL || c->err) {
		char why[160];
		snprintf(why, sizeof why, "connect: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		drop(kv, why);
		log_warn("redis: %s", kv->error);
		return false;
	}
	redisSetTimeout(c, ms_tv(kv->command_timeout_ms));
	kv->c = c;
	if (kv->password[0]) {
		redisReply *r = redisCommand(c, "AUTH %s", kv->password);
		bool ok = r && r->type != REDIS_REPLY_ERROR;
		if (r)
			freeReplyObject(r);
		if (!ok) {
			drop(kv, "AUTH failed");
			log_warn("redis: %s", kv->error);
			return false;
		}
	}
	if (kv->sentinels[0] && !is_master(c)) {
		drop(kv, "the address the Sentinels gave is not a master (yet)");
		log_warn("redis: %s", kv->error);
		return false;
	}
	return true;
}

static redisReply *finish(struct kv *kv, struct arena *a, redisReply *r)
{
	if (r == NULL) {
		char why[160];
		snprintf(why, sizeof why, "%s", kv->c && kv->c->errstr[0] ? kv->c->errstr : "no reply");
		drop(kv, why);
		log_warn("redis: %s", kv->error);
		return NULL;
	}
	if (arena_defer(a, freeReplyObject, r) != 0)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(kv->error, sizeof kv->error, "%s", r->str);
		/* A master demoted by a failover refuses writes: ask the
		 * Sentinels again on the next command, without waiting. */
		if (kv->sentinels[0] && !strncmp(r->str, "READONLY", 8)) {
			drop(kv, r->str);
			kv->retry_after = (struct timespec){0, 0};
			log_warn("redis: %s", kv->error);
		}
		return NULL;
	}
	return r;
}

redisReply *kv_cmd(struct kv *kv, struct arena *a, const char *fmt, ...)
{
	if (!kv_ready(kv))
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(kv->c, fmt, ap);
	va_end(ap);
	return finish(kv, a, r);
}

redisReply *kv_cmdargv(struct kv *kv, struct arena *a, int argc, const char **argv, const size_t *argvlen)
{
	if (!kv_ready(kv))
		return NULL;
	return finish(kv, a, redisCommandArgv(kv->c, argc, argv, argvlen));
}

const char *kv_error(const struct kv *kv)
{
	return kv->error;
}

redisContext *kv_ctx(struct kv *kv)
{
	return kv->c;
}
