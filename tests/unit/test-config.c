/* config: defaults, file values, bad values, and that the sample file
 * documents every key of the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/afftok-test-conf-XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void t_defaults(void)
{
	struct config c;
	char err[256];
	CU_ASSERT_EQUAL_FATAL(config_load(&c, NULL, err, sizeof err), 0);
	CU_ASSERT_EQUAL(c.redis_port, 6379);
	CU_ASSERT_STRING_EQUAL(c.journal_fsync, "interval");
	CU_ASSERT_EQUAL(c.journal_fsync_interval_ms, 100);
	CU_ASSERT_FALSE(c.outbound_allow_private);
	config_free(&c);
}

static void t_values(void)
{
	struct config c;
	char err[256];
	char *p = write_tmp("[redis]\nport = 7000\n[outbound]\nallow_private = yes\n[database]\nconninfo = service=x\n");
	CU_ASSERT_EQUAL_FATAL(config_load(&c, p, err, sizeof err), 0);
	CU_ASSERT_EQUAL(c.redis_port, 7000);
	CU_ASSERT_TRUE(c.outbound_allow_private);
	CU_ASSERT_STRING_EQUAL(c.db_conninfo, "service=x");
	config_free(&c);
	unlink(p);
}

static void t_errors(void)
{
	static const char *bad[] = {
		"[redis]\nport = 99999\n", "[redis]\nport = abc\n", "[nope]\nx = 1\n",
		"[outbound]\nallow_private = maybe\n", "[redis\nport=1\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config c;
		char err[256] = "";
		char *p = write_tmp(bad[i]);
		CU_ASSERT_EQUAL(config_load(&c, p, err, sizeof err), -1);
		CU_ASSERT(err[0] != '\0');
		config_free(&c);
		unlink(p);
	}
	struct config c;
	char err[256];
	CU_ASSERT_EQUAL(config_load(&c, "/nonexistent/afftok.conf", err, sizeof err), -1);
	config_free(&c);
}

/* Every key in the table appears as "name =" under its [section] in the sample. */
static void t_sample_lists_every_key(void)
{
	FILE *f = fopen(SRCDIR "/etc/afftok.conf.sample.in", "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	for (const struct config_key *k = config_keys; k->name; k++) {
		char sec[64], key[96];
		snprintf(sec, sizeof sec, "[%s]", k->section);
		snprintf(key, sizeof key, "\n%s =", k->name);
		char *s = strstr(text, sec);
		CU_ASSERT_PTR_NOT_NULL(s);
		if (s == NULL)
			continue;
		char *next = strstr(s + 1, "\n[");
		char *hit = strstr(s, key);
		bool ok = hit && (next == NULL || hit < next);
		if (!ok)
			fprintf(stderr, "sample lacks %s.%s\n", k->section, k->name);
		CU_ASSERT(ok);
	}
}

static const struct unit_case cases[] = {
	{"defaults", t_defaults},
	{"values from a file", t_values},
	{"bad files refused", t_errors},
	{"sample lists every key", t_sample_lists_every_key},
	{NULL, NULL},
};
UNIT_MAIN("config")
