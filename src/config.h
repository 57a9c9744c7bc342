/* Configuration: one table of keys (section, name, type, default) loaded from
 * an INI file with inih. Defaults apply to keys the file leaves out. */
#ifndef AFFTOK_CONFIG_H
#define AFFTOK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/afftok/afftok.conf"

struct config {
	/* [general] */
	char *log_level;
	long body_max_bytes;
	char *instance_id;
	char *public_url; /* base of tracking links: <public_url>/c/<code> */
	/* [database] */
	char *db_conninfo;
	char *db_replica_conninfo;
	long db_connect_timeout_s;
	long db_statement_timeout_ms;
	long db_replica_max_lag_s;
	/* [redis] */
	char *redis_host;
	long redis_port;
	char *redis_socket;
	char *redis_password;
	long redis_connect_timeout_ms;
	long redis_command_timeout_ms;
	char *redis_sentinels;
	char *redis_sentinel_master;
	/* [security] */
	char *secret_key_file;
	/* [journal] */
	char *journal_dir;
	char *journal_fsync;
	long journal_fsync_interval_ms;
	long journal_segment_max_bytes;
	long journal_spill_max_bytes;
	bool journal_refuse_unrecorded;
	/* [click] */
	long click_cache_ttl_s;
	char *click_geoip_db;
	char *click_unknown_country;
	/* traffic quality (src/geo.c, bot.c, routing.c, caps.c, shm.c) */
	char *click_asn_db;
	char *click_crawler_patterns;
	char *click_datacenter_cidrs;
	long click_bot_threshold;
	long click_activity_max;
	long click_activity_window_s;
	char *click_state_file;
	long click_cap_sync_ms;
	/* [limits] (src/ratelimit.c) */
	long limit_auth_failures;
	long limit_admin_per_min;
	long limit_stats_per_min;
	long limit_postback_per_min;
	/* [outbound] */
	bool outbound_allow_private;
	long outbound_timeout_s;
	/* [webhooks] (src/webhook.c, cron/job-webhooks.c) */
	long webhooks_retry_hours;
	long webhooks_disable_after_hours;
	long webhooks_rotation_overlap_hours;
	long webhooks_max_parallel;
	long webhooks_per_endpoint;
	long webhooks_loop_s;
	/* [cron] */
	long cron_ingest_loop_s;
	long cron_ingest_batch;
	long cron_conversions_loop_s;
	long cron_partition_days_ahead;
	long cron_retention_days;
	char *cron_sql_dir;
};

enum config_type { CFG_STR, CFG_INT, CFG_BOOL };

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def;
	long min, max; /* for CFG_INT */
	const char *help;
};

/* The table, terminated by an entry with name == NULL. */
extern const struct config_key config_keys[];

/* Fills cfg with defaults, then the file's values. Returns 0, or -1 with a
 * message in err (unknown key, bad value, unreadable file). path NULL means
 * defaults only. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

#endif
