/* Cheap user-agent families: one pass over the user agent notes which of a
 * few dozen tokens occur (dispatching on the first byte), then a fixed
 * order of tests decides. The order matters: Edge and Opera say "Chrome"
 * too, Chrome says "Safari", Android tablets lack "Mobile". */
#include "uaparse.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
	T_IPHONE = 1u << 0,
	T_IPAD = 1u << 1,
	T_IPOD = 1u << 2,
	T_ANDROID = 1u << 3,
	T_WINDOWS = 1u << 4,
	T_WINPHONE = 1u << 5,
	T_CROS = 1u << 6,
	T_MAC = 1u << 7,
	T_LINUX = 1u << 8,
	T_TABLET = 1u << 9,
	T_MOBI = 1u << 10,
	T_MOBILE = 1u << 11,
	T_EDGE = 1u << 12,
	T_OPERA = 1u << 13,
	T_SAMSUNG = 1u << 14,
	T_YANDEX = 1u << 15,
	T_FIREFOX = 1u << 16,
	T_CHROME = 1u << 17,
	T_SAFARI = 1u << 18,
	T_VERSION = 1u << 19,
};

struct token {
	const char *s;
	unsigned char len;
	uint32_t bit;
};

#define TK(s, b)                                                                                             \
	{                                                                                                    \
		s, sizeof s - 1, b                                                                           \
	}
static const struct token tokens[] = {
    TK("iPhone", T_IPHONE),
    TK("iPad", T_IPAD),
    TK("iPod", T_IPOD),
    TK("Android", T_ANDROID),
    TK("Windows Phone", T_WINPHONE),
    TK("Windows", T_WINDOWS),
    TK("CrOS", T_CROS),
    TK("CriOS/", T_CHROME),
    TK("Chrome/", T_CHROME),
    TK("Macintosh", T_MAC),
    TK("Mac OS X", T_MAC),
    TK("Mobile", T_MOBILE | T_MOBI),
    TK("Mobi", T_MOBI),
    TK("Linux", T_LINUX),
    TK("X11", T_LINUX),
    TK("Tablet", T_TABLET),
    TK("Edg/", T_EDGE),
    TK("EdgA/", T_EDGE),
    TK("EdgiOS/", T_EDGE),
    TK("OPR/", T_OPERA),
    TK("Opera", T_OPERA),
    TK("SamsungBrowser/", T_SAMSUNG),
    TK("Safari/", T_SAFARI),
    TK("YaBrowser/", T_YANDEX),
    TK("Firefox/", T_FIREFOX),
    TK("FxiOS/", T_FIREFOX),
    TK("Version/", T_VERSION),
};

static uint32_t scan(const char *ua, size_t len)
{
	/* first[c]: bit i set when tokens[i] starts with byte c. */
	static uint32_t first[256];
	static bool ready;
	if (!ready) {
		for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
			first[(unsigned char)tokens[i].s[0]] |= 1u << i;
		ready = true;
	}
	uint32_t seen = 0;
	for (size_t i = 0; i < len; i++) {
		uint32_t cand = first[(unsigned char)ua[i]];
		while (cand) {
			int k = __builtin_ctz(cand);
			cand &= cand - 1;
			if (tokens[k].len <= len - i && memcmp(ua + i, tokens[k].s, tokens[k].len) == 0)
				seen |= tokens[k].bit;
		}
	}
	return seen;
}

void ua_parse(const char *ua, size_t len, struct ua_info *out)
{
	out->device = "desktop";
	out->os = "other";
	out->browser = "other";
	if (ua == NULL || len == 0)
		return;
	uint32_t t = scan(ua, len);

	if (t & (T_IPHONE | T_IPAD | T_IPOD))
		out->os = "iOS";
	else if (t & T_ANDROID)
		out->os = "Android";
	else if (t & (T_WINDOWS | T_WINPHONE))
		out->os = "Windows";
	else if (t & T_CROS)
		out->os = "ChromeOS";
	else if (t & T_MAC)
		out->os = "macOS";
	else if (t & T_LINUX)
		out->os = "Linux";

	if ((t & (T_IPAD | T_TABLET)) ||
	    ((t & T_ANDROID) && !(t & (T_IPHONE | T_IPAD | T_IPOD)) && !(t & T_MOBILE)))
		out->device = "tablet";
	else if (t & (T_MOBI | T_IPHONE | T_IPOD | T_WINPHONE))
		out->device = "mobile";

	if (t & T_EDGE)
		out->browser = "Edge";
	else if (t & T_OPERA)
		out->browser = "Opera";
	else if (t & T_SAMSUNG)
		out->browser = "Samsung";
	else if (t & T_YANDEX)
		out->browser = "Yandex";
	else if (t & T_FIREFOX)
		out->browser = "Firefox";
	else if (t & T_CHROME)
		out->browser = "Chrome";
	else if ((t & T_SAFARI) && (t & T_VERSION))
		out->browser = "Safari";
}
