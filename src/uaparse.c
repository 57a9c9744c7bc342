/* Cheap user-agent families. The order of the tests matters: Edge and Opera
 * say "Chrome" too, Chrome says "Safari", Android tablets lack "Mobile". */
#define _GNU_SOURCE /* memmem */
#include "uaparse.h"

#include <stdbool.h>
#include <string.h>

static bool has(const char *ua, size_t len, const char *needle)
{
	return memmem(ua, len, needle, strlen(needle)) != NULL;
}

void ua_parse(const char *ua, size_t len, struct ua_info *out)
{
	out->device = "desktop";
	out->os = "other";
	out->browser = "other";
	if (ua == NULL || len == 0)
		return;

	bool ios = has(ua, len, "iPhone") || has(ua, len, "iPad") || has(ua, len, "iPod");
	if (ios)
		out->os = "iOS";
	else if (has(ua, len, "Android"))
		out->os = "Android";
	else if (has(ua, len, "Windows"))
		out->os = "Windows";
	else if (has(ua, len, "CrOS"))
		out->os = "ChromeOS";
	else if (has(ua, len, "Macintosh") || has(ua, len, "Mac OS X"))
		out->os = "macOS";
	else if (has(ua, len, "Linux") || has(ua, len, "X11"))
		out->os = "Linux";

	if (has(ua, len, "iPad") || has(ua, len, "Tablet") ||
	    (out->os[0] == 'A' && !has(ua, len, "Mobile")))
		out->device = "tablet";
	else if (has(ua, len, "Mobi") || has(ua, len, "iPhone") || has(ua, len, "iPod") ||
		 has(ua, len, "Windows Phone"))
		out->device = "mobile";

	if (has(ua, len, "Edg/") || has(ua, len, "EdgA/") || has(ua, len, "EdgiOS/"))
		out->browser = "Edge";
	else if (has(ua, len, "OPR/") || has(ua, len, "Opera"))
		out->browser = "Opera";
	else if (has(ua, len, "SamsungBrowser/"))
		out->browser = "Samsung";
	else if (has(ua, len, "YaBrowser/"))
		out->browser = "Yandex";
	else if (has(ua, len, "Firefox/") || has(ua, len, "FxiOS/"))
		out->browser = "Firefox";
	else if (has(ua, len, "CriOS/") || has(ua, len, "Chrome/"))
		out->browser = "Chrome";
	else if (has(ua, len, "Safari/") && has(ua, len, "Version/"))
		out->browser = "Safari";
}
