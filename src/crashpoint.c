/* The crash-point test hook (see crashpoint.h). */
#include "crashpoint.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool looked;
static char want[128]; /* empty: no point armed */
static long nth = 1, passed;

static void arm(void)
{
	looked = true;
	const char *v = getenv("AFFTOK_CRASH_POINT");
	if (v == NULL || *v == '\0' || strlen(v) >= sizeof want)
		return;
	snprintf(want, sizeof want, "%s", v);
	char *colon = strchr(want, ':');
	if (colon) {
		*colon = '\0';
		nth = atol(colon + 1);
		if (nth < 1)
			nth = 1;
	}
}

void crash_point(const char *name)
{
	if (!looked)
		arm();
	if (want[0] == '\0' || strcmp(name, want) != 0 || ++passed < nth)
		return;
	/* Straight to the kernel: no atexit handlers, no flushing, exactly
	 * like the OOM killer or a power cut for this process. */
	static const char msg[] = "crash point reached: SIGKILL\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	kill(getpid(), SIGKILL);
}
