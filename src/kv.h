/* Redis connection (hiredis 0.14 API) with timeouts, reconnect and a short
 * circuit breaker so a dead Redis costs at most one timeout per second.
 * With Sentinels configured, every (re)connect asks them where the master
 * is, so the client follows a failover. */
#ifndef AFFTOK_KV_H
#define AFFTOK_KV_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

struct arena;
struct kv;

struct kv_opts {
	const char *host;
	int port;
	const char *socket;   /* preferred when non-empty */
	const char *password; /* may be empty */
	int connect_timeout_ms;
	int command_timeout_ms;
	const char *sentinels;       /* "host:port,host:port"; empty = none */
	const char *sentinel_master; /* name the Sentinels monitor */
};

struct kv *kv_new(const struct kv_opts *o);
void kv_free(struct kv *kv);
bool kv_ready(struct kv *kv);
/* One command; the reply is registered on a. NULL on a connection error or
 * an error reply (then kv_error tells which). */
redisReply *kv_cmd(struct kv *kv, struct arena *a, const char *fmt, ...);
redisReply *kv_cmdargv(struct kv *kv, struct arena *a, int argc, const char **argv, const size_t *argvlen);
const char *kv_error(const struct kv *kv);
redisContext *kv_ctx(struct kv *kv);

#endif
