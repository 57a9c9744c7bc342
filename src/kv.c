/* hiredis wrapper. */
#include "kv.h"

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
	if (!kv->host || !kv->socket || !kv->password) {
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

bool kv_ready(struct kv *kv)
{
	if (kv->c)
		return true;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < kv->retry_after.tv_sec ||
	    (now.tv_sec == kv->retry_after.tv_sec && now.tv_nsec < kv->retry_after.tv_nsec))
		return false;
	struct timeval ct = ms_tv(kv->connect_timeout_ms);
	redisContext *c = kv->socket[0] ? redisConnectUnixWithTimeout(kv->socket, ct)
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

redisReply *kv_cmdargv(struct kv *kv, struct arena *a, int argc, const char **argv,
		       const size_t *argvlen)
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
