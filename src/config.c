/* The configuration table and its INI loader. Adding a key: a field in
 * struct config, a row here and a documented line in etc/afftok.conf.sample
 * (a unit test checks the sample lists every key). */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define O(f) offsetof(struct config, f)
#define S(sec, name, f, def, help) {sec, name, CFG_STR, O(f), def, 0, 0, help}
#define I(sec, name, f, def, lo, hi, help) {sec, name, CFG_INT, O(f), #def, lo, hi, help}
#define B(sec, name, f, def, help) {sec, name, CFG_BOOL, O(f), def, 0, 1, help}

const struct config_key config_keys[] = {
	S("general", "log_level", log_level, "info", "error, warning, info or debug"),
	I("general", "body_max_bytes", body_max_bytes, 65536, 1024, 16777216, "largest request body accepted (413 beyond)"),
	S("general", "instance_id", instance_id, "", "short name of this host, part of click ids; empty = hostname"),
	S("general", "public_url", public_url, "http://localhost", "base URL of tracking links (<public_url>/c/<code>)"),
	S("database", "conninfo", db_conninfo, "dbname=afftok", "libpq connection string or service=NAME"),
	S("database", "replica_conninfo", db_replica_conninfo, "", "read replica for stats; empty = none"),
	I("database", "connect_timeout_s", db_connect_timeout_s, 3, 1, 60, "seconds to wait for a connection"),
	I("database", "statement_timeout_ms", db_statement_timeout_ms, 5000, 10, 600000, "statement_timeout of request connections"),
	I("database", "replica_max_lag_s", db_replica_max_lag_s, 30, 0, 86400, "replica lag beyond which stats use the primary"),
	S("redis", "host", redis_host, "127.0.0.1", "Redis host (ignored when socket is set)"),
	I("redis", "port", redis_port, 6379, 1, 65535, "Redis TCP port"),
	S("redis", "socket", redis_socket, "", "Redis unix socket path"),
	S("redis", "password", redis_password, "", "Redis AUTH password"),
	I("redis", "connect_timeout_ms", redis_connect_timeout_ms, 500, 10, 60000, "connect timeout"),
	I("redis", "command_timeout_ms", redis_command_timeout_ms, 500, 10, 60000, "command timeout"),
	S("redis", "sentinels", redis_sentinels, "", "host:port,... of Redis Sentinels; set = ask them for the master"),
	S("redis", "sentinel_master", redis_sentinel_master, "afftok", "master name the Sentinels monitor"),
	S("security", "secret_key_file", secret_key_file, SYSCONFDIR "/afftok/secret.key", "32-byte master key (hex) that encrypts stored secrets"),
	S("journal", "dir", journal_dir, LOCALSTATEDIR "/lib/afftok/journal", "click journal directory"),
	S("journal", "fsync", journal_fsync, "interval", "interval, always or off"),
	I("journal", "fsync_interval_ms", journal_fsync_interval_ms, 100, 1, 60000, "fsync period with fsync = interval"),
	I("journal", "segment_max_bytes", journal_segment_max_bytes, 16777216, 4096, 1073741824, "segment size before rotation"),
	I("journal", "spill_max_bytes", journal_spill_max_bytes, 16777216, 0, 1073741824, "clicks kept in memory per worker while the journal cannot be written; 0 = none"),
	B("journal", "refuse_unrecorded", journal_refuse_unrecorded, "true", "a click that can be neither written nor kept: 503 (true) or redirect and lose it (false)"),
	I("click", "cache_ttl_s", click_cache_ttl_s, 5, 1, 3600, "how long a worker trusts its cached link data"),
	S("click", "geoip_db", click_geoip_db, "", "MaxMind-format country database; empty = geo off"),
	S("click", "unknown_country", click_unknown_country, "allow", "allow or block clicks whose country is unknown"),
	S("click", "asn_db", click_asn_db, "", "MaxMind-format ASN database (GeoLite2-ASN shape); empty = ASN from geoip_db if it has one"),
	S("click", "crawler_patterns", click_crawler_patterns, "", "crawler-user-agents.json (npm crawler-user-agents); empty = built-in patterns only"),
	S("click", "datacenter_cidrs", click_datacenter_cidrs, SYSCONFDIR "/afftok/datacenter-cidrs.txt", "datacenter/hosting networks and ASNs; missing file = none"),
	I("click", "bot_threshold", click_bot_threshold, 70, 1, 1000, "bot score from which a click is counted as a bot"),
	I("click", "activity_max", click_activity_max, 30, 0, 1000000, "clicks from one address in activity_window_s beyond which they are bots; 0 = off"),
	I("click", "activity_window_s", click_activity_window_s, 60, 1, 86400, "window of the activity rule"),
	S("click", "state_file", click_state_file, "", "shared-memory file of the workers' counters; empty = one in /dev/shm named after journal.dir"),
	I("click", "cap_sync_ms", click_cap_sync_ms, 100, 10, 2000, "how often a worker adds its capped-offer click counts to Redis"),
	I("limits", "auth_failures_per_min", limit_auth_failures, 30, 0, 1000000, "failed key checks per client address per minute before 429; 0 = off"),
	I("limits", "admin_per_min", limit_admin_per_min, 1200, 0, 100000000, "requests per API key per minute on /admin routes; 0 = off"),
	I("limits", "stats_per_min", limit_stats_per_min, 600, 0, 100000000, "requests per API key per minute on stats routes; 0 = off"),
	I("limits", "postback_per_min", limit_postback_per_min, 60000, 0, 100000000, "postbacks per API key per minute; 0 = off"),
	B("outbound", "allow_private", outbound_allow_private, "false", "allow postback/webhook targets in private address space"),
	I("outbound", "timeout_s", outbound_timeout_s, 15, 1, 120, "timeout of outgoing HTTP requests"),
	I("webhooks", "retry_hours", webhooks_retry_hours, 72, 1, 720, "how long a delivery is retried before it is dead"),
	I("webhooks", "disable_after_hours", webhooks_disable_after_hours, 120, 1, 8760, "an endpoint failing this long is disabled"),
	I("webhooks", "rotation_overlap_hours", webhooks_rotation_overlap_hours, 24, 0, 720, "default time the old secret keeps signing after a rotation"),
	I("webhooks", "max_parallel", webhooks_max_parallel, 256, 1, 4096, "deliveries in flight at once per job"),
	I("webhooks", "per_endpoint", webhooks_per_endpoint, 16, 1, 1024, "deliveries in flight at once to one endpoint"),
	I("webhooks", "loop_s", webhooks_loop_s, 55, 0, 3600, "how long one webhooks run keeps fanning out and sending"),
	I("cron", "ingest_loop_s", cron_ingest_loop_s, 55, 0, 3600, "how long one ingest run keeps polling"),
	I("cron", "ingest_batch", cron_ingest_batch, 200000, 1000, 200000, "clicks per ingest batch (transaction)"),
	I("cron", "conversions_loop_s", cron_conversions_loop_s, 55, 0, 3600, "how long one match/events/postbacks run keeps polling"),
	I("cron", "partition_days_ahead", cron_partition_days_ahead, 7, 1, 365, "partitions created ahead of time"),
	I("cron", "retention_days", cron_retention_days, 90, 1, 36500, "raw click/conversion retention"),
	S("cron", "sql_dir", cron_sql_dir, "", "migrations directory; empty = the installed one"),
	{NULL, NULL, CFG_STR, 0, NULL, 0, 0, NULL},
};

struct load_ctx {
	struct config *cfg;
	char *err;
	size_t errlen;
};

static int set_value(struct config *cfg, const struct config_key *k, const char *v, char *err,
		     size_t errlen)
{
	void *field = (char *)cfg + k->offset;
	switch (k->type) {
	case CFG_STR: {
		char *s = strdup(v);
		if (s == NULL)
			return -1;
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case CFG_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < k->min || n > k->max) {
			snprintf(err, errlen, "%s.%s: expected an integer from %ld to %ld, got '%s'",
				 k->section, k->name, k->min, k->max, v);
			return -1;
		}
		*(long *)field = n;
		return 0;
	}
	case CFG_BOOL:
		if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
			*(bool *)field = true;
		else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") || !strcasecmp(v, "off"))
			*(bool *)field = false;
		else {
			snprintf(err, errlen, "%s.%s: expected true or false, got '%s'", k->section, k->name, v);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	for (const struct config_key *k = config_keys; k->name; k++) {
		if (!strcmp(k->section, section) && !strcmp(k->name, name))
			return set_value(ctx->cfg, k, value, ctx->err, ctx->errlen) == 0;
	}
	snprintf(ctx->err, ctx->errlen, "unknown key %s.%s", section, name);
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(err, errlen, "out of memory");
	for (const struct config_key *k = config_keys; k->name; k++)
		if (set_value(cfg, k, k->def, err, errlen) != 0)
			return -1;
	err[0] = '\0';
	if (path == NULL)
		return 0;
	struct load_ctx ctx = {cfg, err, errlen};
	int rc = ini_parse(path, on_entry, &ctx);
	if (rc == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "syntax error");
		char tmp[256];
		snprintf(tmp, sizeof tmp, "%s:%d: %s", path, rc > 0 ? rc : 0, err);
		snprintf(err, errlen, "%s", tmp);
		return -1;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->type == CFG_STR) {
			char **f = (char **)((char *)cfg + k->offset);
			free(*f);
			*f = NULL;
		}
	}
}
