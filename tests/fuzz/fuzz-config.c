/* Fuzz target: the configuration parser (config_load on a file). Any file
 * either loads, with every integer inside its declared range, or is refused
 * with a message; nothing leaks either way. */
#include "fuzz.h"

#include <unistd.h>

#include "config.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (path[0] == '\0')
		snprintf(path, sizeof path, "/tmp/afftok-fuzz-conf-%d", (int)getpid());
	FILE *f = fopen(path, "w");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size);
	fclose(f);
	struct config c;
	char err[256] = "";
	if (config_load(&c, path, err, sizeof err) == 0) {
		for (const struct config_key *k = config_keys; k->name; k++) {
			const char *field = (const char *)&c + k->offset;
			if (k->type == CFG_INT) {
				long v = *(const long *)field;
				FUZZ_CHECK(v >= k->min && v <= k->max);
			} else if (k->type == CFG_STR) {
				FUZZ_CHECK(*(char *const *)field != NULL);
			}
		}
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	config_free(&c);
	unlink(path);
	return 0;
}
