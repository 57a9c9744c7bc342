/* Device class, OS and browser from a user agent: a few substring tests in a
 * fixed order, cheap enough for the click path (well under a microsecond).
 * Not a full parser: names are families ("Chrome", "iOS"), no versions. */
#ifndef AFFTOK_UAPARSE_H
#define AFFTOK_UAPARSE_H

#include <stddef.h>

struct ua_info {
	const char *device; /* "desktop", "mobile", "tablet" ("bot" is set by the caller) */
	const char *os;     /* "Windows", "macOS", "iOS", "Android", "ChromeOS", "Linux", "other" */
	const char
	    *browser; /* "Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung", "Yandex", "other" */
};

/* Fills out; ua may be NULL or empty (then desktop/other/other). The
 * strings are static. */
void ua_parse(const char *ua, size_t len, struct ua_info *out);

#endif
