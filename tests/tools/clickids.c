/* Test and benchmark helper: prints authentic click ids, so tests and
 * benchmarks can create click rows without the click path.
 *   clickids KEYFILE N [START_MS [STEP_MS]]
 * prints N lines "<click_id>\t<created_at>" (created_at as PostgreSQL
 * timestamptz text with milliseconds), times from START_MS (default now)
 * going back by STEP_MS (default 0). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clickid.h"
#include "secret.h"
#include "util.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: clickids KEYFILE N [START_MS [STEP_MS]]\n");
		return 64;
	}
	struct master_key mk;
	char err[256];
	if (master_key_load(&mk, argv[1], err, sizeof err) != 0) {
		fprintf(stderr, "clickids: %s\n", err);
		return 1;
	}
	long long n = atoll(argv[2]);
	long long ms = argc > 3 ? atoll(argv[3]) : (long long)now_ms();
	long long step = argc > 4 ? atoll(argv[4]) : 0;
	char id[CLICKID_LEN + 1], ts[40];
	for (long long i = 0; i < n; i++, ms -= step) {
		time_t s = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&s, &tm);
		size_t k = strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(ts + k, sizeof ts - k, ".%03d+00", (int)(ms % 1000));
		clickid_new(mk.clickid, ms, id);
		printf("%s\t%s\n", id, ts);
	}
	return ferror(stdout) ? 1 : 0;
}
