/* The outbound target guard (see ssrf.h): parse, resolve, judge every
 * address, then pin what was judged so curl connects nowhere else. */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int lookup(const char *host, struct sockaddr_storage *out, int max)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	int n = 0;
	for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memset(&out[n], 0, sizeof out[n]);
		memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
		n++;
	}
	freeaddrinfo(res);
	return n > 0 ? n : -1;
}

/* A short cache of answers: a sender with hundreds of deliveries a second
 * to the same few hosts would otherwise wait on the resolver for each one.
 * It cannot weaken the guard: what comes out of it is checked like a fresh
 * answer, and the request is pinned to exactly those addresses. */
#define CACHE_SLOTS 256
#define CACHE_TTL_S 30
static struct {
	char host[256];
	time_t at;
	int n;
	struct sockaddr_storage addrs[SSRF_MAX_ADDRS];
} cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(const char *host)
{
	unsigned h = 2166136261u;
	for (; *host; host++)
		h = (h ^ (unsigned char)(*host | 0x20)) * 16777619u;
	return h % CACHE_SLOTS;
}

static int default_resolver(const char *host, struct sockaddr_storage *out, int max)
{
	if (strlen(host) >= sizeof cache[0].host)
		return lookup(host, out, max);
	unsigned i = slot_of(host);
	time_t now = time(NULL);
	int n = -1;
	pthread_mutex_lock(&cache_lock);
	if (cache[i].n > 0 && now - cache[i].at < CACHE_TTL_S && !strcasecmp(cache[i].host, host)) {
		n = cache[i].n < max ? cache[i].n : max;
		memcpy(out, cache[i].addrs, sizeof out[0] * (size_t)n);
	}
	pthread_mutex_unlock(&cache_lock);
	if (n > 0)
		return n;
	n = lookup(host, out, max);
	if (n > 0) {
		pthread_mutex_lock(&cache_lock);
		snprintf(cache[i].host, sizeof cache[i].host, "%s", host);
		cache[i].at = now;
		cache[i].n = n < SSRF_MAX_ADDRS ? n : SSRF_MAX_ADDRS;
		memcpy(cache[i].addrs, out, sizeof out[0] * (size_t)cache[i].n);
		pthread_mutex_unlock(&cache_lock);
	}
	return n;
}

static ssrf_resolver_fn resolver = default_resolver;

void ssrf_set_resolver(ssrf_resolver_fn fn)
{
	resolver = fn ? fn : default_resolver;
}

const char *ssrf_verdict_name(enum ssrf_verdict v)
{
	switch (v) {
	case SSRF_OK: return "ok";
	case SSRF_BAD_URL: return "bad_url";
	case SSRF_BLOCKED: return "blocked";
	case SSRF_DNS: return "dns";
	}
	return "?";
}

/* ---- the address predicate ---- */

struct v4range {
	uint32_t net;
	int bits;
	bool always; /* refused even when private targets are allowed */
	const char *name;
};

#define A(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
static const struct v4range v4ranges[] = {
    {A(169, 254, 169, 254), 32, true, "cloud metadata"},
    {A(0, 0, 0, 0), 8, true, "unspecified (0.0.0.0/8)"},
    {A(255, 255, 255, 255), 32, true, "broadcast"},
    {A(224, 0, 0, 0), 4, true, "multicast (224.0.0.0/4)"},
    {A(240, 0, 0, 0), 4, true, "reserved (240.0.0.0/4)"},
    {A(192, 0, 0, 0), 24, true, "IETF protocol assignments (192.0.0.0/24)"},
    {A(192, 0, 2, 0), 24, true, "documentation (192.0.2.0/24)"},
    {A(198, 51, 100, 0), 24, true, "documentation (198.51.100.0/24)"},
    {A(203, 0, 113, 0), 24, true, "documentation (203.0.113.0/24)"},
    {A(198, 18, 0, 0), 15, true, "benchmarking (198.18.0.0/15)"},
    {A(127, 0, 0, 0), 8, false, "loopback (127.0.0.0/8)"},
    {A(10, 0, 0, 0), 8, false, "private (10.0.0.0/8)"},
    {A(172, 16, 0, 0), 12, false, "private (172.16.0.0/12)"},
    {A(192, 168, 0, 0), 16, false, "private (192.168.0.0/16)"},
    {A(100, 64, 0, 0), 10, false, "shared address space (100.64.0.0/10)"},
    {A(169, 254, 0, 0), 16, false, "link-local (169.254.0.0/16)"},
};
#undef A

static bool v4_refused(uint32_t ip, bool allow_private, const char **why)
{
	for (size_t i = 0; i < sizeof v4ranges / sizeof v4ranges[0]; i++) {
		const struct v4range *r = &v4ranges[i];
		uint32_t mask = r->bits == 0 ? 0 : 0xffffffffu << (32 - r->bits);
		if ((ip & mask) != r->net)
			continue;
		if (allow_private && !r->always)
			return false;
		*why = r->name;
		return true;
	}
	return false;
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_prefix(const unsigned char *a, const unsigned char *prefix, int bits)
{
	int bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, prefix, (size_t)bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (prefix[bytes] & mask);
}

static bool v6_refused(const unsigned char *a, bool allow_private, const char **why)
{
	static const unsigned char zero[16] = {0};
	static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char ec2[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
	static const struct {
		unsigned char p[16];
		int bits;
		bool always;
		const char *name;
	} r6[] = {
	    {{0xff}, 8, true, "multicast (ff00::/8)"},
	    {{0x01, 0x00}, 64, true, "discard (100::/64)"},
	    {{0x20, 0x01, 0x0d, 0xb8}, 32, true, "documentation (2001:db8::/32)"},
	    {{0x20, 0x01, 0x00, 0x00}, 32, true, "Teredo (2001::/32)"},
	    {{0xfc}, 7, false, "unique local (fc00::/7)"},
	    {{0xfe, 0x80}, 10, false, "link-local (fe80::/10)"},
	    {{0xfe, 0xc0}, 10, false, "site-local (fec0::/10)"},
	};
	if (!memcmp(a, zero, 16)) {
		*why = "unspecified (::)";
		return true;
	}
	if (!memcmp(a, ec2, 16)) {
		*why = "cloud metadata";
		return true;
	}
	if (!memcmp(a, loop, 16)) {
		if (allow_private)
			return false;
		*why = "loopback (::1)";
		return true;
	}
	/* Forms that carry an IPv4 address are judged by it. */
	if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12))
		return v4_refused(v4_at(a + 12), allow_private, why);
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4 */
		return v4_refused(v4_at(a + 2), allow_private, why);
	for (size_t i = 0; i < sizeof r6 / sizeof r6[0]; i++) {
		if (!v6_prefix(a, r6[i].p, r6[i].bits))
			continue;
		if (allow_private && !r6[i].always)
			return false;
		*why = r6[i].name;
		return true;
	}
	return false;
}

bool ssrf_addr_refused(const struct sockaddr *sa, bool allow_private, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return v4_refused(ntohl(s4->sin_addr.s_addr), allow_private, why);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		return v6_refused(s6->sin6_addr.s6_addr, allow_private, why);
	}
	*why = "not an IP address";
	return true;
}

/* ---- parsing and resolving ---- */

static bool host_chars_ok(const char *h)
{
	/* curl has decoded %XX and normalised numeric IPv4; anything beyond
	 * plain LDH names and IP literals (IDN, odd bytes) is refused so the
	 * name we resolve is exactly the name curl would resolve. */
	if (*h == '\0' || strlen(h) > 253)
		return false;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == strlen(h);
}

static bool is_localhost_name(const char *h)
{
	size_t n = strlen(h);
	while (n > 0 && h[n - 1] == '.')
		n--;
	/* RFC 6761: "localhost" and every name under it is loopback. */
	if (n == 9 && !strncasecmp(h, "localhost", 9))
		return true;
	return n > 10 && !strncasecmp(h + n - 10, ".localhost", 10);
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t len, bool brackets)
{
	char tmp[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, tmp, sizeof tmp);
		snprintf(out, len, "%s", tmp);
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, tmp, sizeof tmp);
		snprintf(out, len, brackets ? "[%s]" : "%s", tmp);
	}
}

static enum ssrf_verdict __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, enum ssrf_verdict v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return v;
}

enum ssrf_verdict ssrf_check(const char *url, bool allow_private, struct ssrf_target *t, char *err,
                             size_t errlen)
{
	memset(t, 0, sizeof *t);
	t->allow_private = allow_private;
	if (url == NULL || *url == '\0')
		return fail(err, errlen, SSRF_BAD_URL, "the URL is empty");
	if (strlen(url) > SSRF_URL_MAX)
		return fail(err, errlen, SSRF_BAD_URL, "the URL is too long");
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return fail(err, errlen, SSRF_BAD_URL,
			            "the URL contains spaces or control characters");

	enum ssrf_verdict v = SSRF_BAD_URL;
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLU *u = curl_url();
	if (u == NULL)
		return fail(err, errlen, SSRF_DNS, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		fail(err, errlen, v, "the URL is malformed");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
		fail(err, errlen, v, "only http and https URLs are allowed");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		fail(err, errlen, v, "the URL has no host");
		goto out;
	}
	snprintf(t->scheme, sizeof t->scheme, "%s", scheme);
	for (char *c = t->scheme; *c; c++)
		*c = (char)(*c | 0x20);
	t->port = atoi(port);
	if (t->port <= 0 || t->port > 65535) {
		fail(err, errlen, v, "the port is not valid");
		goto out;
	}

	/* IPv6 literal: curl keeps the brackets (and drops a zone id). */
	size_t hl = strlen(host);
	struct in6_addr a6;
	struct in_addr a4;
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		snprintf(t->host, sizeof t->host, "%.*s", (int)(hl - 2), host + 1);
		char *zone = strchr(t->host, '%');
		if (zone)
			*zone = '\0';
		if (inet_pton(AF_INET6, t->host, &a6) != 1) {
			fail(err, errlen, v, "the IPv6 address is malformed");
			goto out;
		}
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addrs[0];
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a6;
		t->naddrs = 1;
		t->literal = true;
	} else {
		snprintf(t->host, sizeof t->host, "%s", host);
		if (!host_chars_ok(t->host)) {
			fail(err, errlen, v, "the host name has characters that are not allowed");
			goto out;
		}
		if (is_localhost_name(t->host) && !allow_private) {
			v = fail(err, errlen, SSRF_BLOCKED, "target refused: loopback (localhost)");
			goto out;
		}
		/* inet_aton takes every IPv4 spelling (2130706433, 0x7f.1, 0177.1)
		 * in case curl ever stops normalising them. */
		if (inet_aton(t->host, &a4) == 1) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addrs[0];
			s4->sin_family = AF_INET;
			s4->sin_addr = a4;
			t->naddrs = 1;
			t->literal = true;
		} else {
			t->naddrs = resolver(t->host, t->addrs, SSRF_MAX_ADDRS);
			if (t->naddrs <= 0) {
				t->naddrs = 0;
				v = fail(err, errlen, SSRF_DNS, "the host name %s does not resolve", t->host);
				goto out;
			}
		}
	}

	/* One refused address refuses the name: a public name that also
	 * answers with a private address is exactly the attack. */
	for (int i = 0; i < t->naddrs; i++) {
		const char *why = "";
		if (ssrf_addr_refused((struct sockaddr *)&t->addrs[i], allow_private, &why)) {
			v = fail(err, errlen, SSRF_BLOCKED, "target refused: %s", why);
			goto out;
		}
	}

	if (!t->literal) {
		char line[sizeof t->host + 16 + SSRF_MAX_ADDRS * (INET6_ADDRSTRLEN + 3)];
		int n = snprintf(line, sizeof line, "%s:%d:", t->host, t->port);
		for (int i = 0; i < t->naddrs; i++) {
			char at[INET6_ADDRSTRLEN + 3];
			addr_text(&t->addrs[i], at, sizeof at, true);
			n += snprintf(line + n, sizeof line - (size_t)n, "%s%s", i ? "," : "", at);
		}
		t->resolve = curl_slist_append(NULL, line);
		if (t->resolve == NULL) {
			v = fail(err, errlen, SSRF_DNS, "out of memory");
			goto out;
		}
	}
	err[0] = '\0';
	v = SSRF_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (v != SSRF_OK) {
		curl_slist_free_all(t->resolve);
		t->resolve = NULL;
	}
	return v;
}

/* Connect-time check: whatever address curl is about to connect to (the
 * pinned one, or anything else should curl resolve on its own) is judged
 * again, so no path around ssrf_check reaches a refused address. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct ssrf_target *t = clientp;
	const char *why = "";
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (ssrf_addr_refused(&addr->addr, t->allow_private, &why)) {
		t->refused_at_connect = true;
		snprintf(t->refused_why, sizeof t->refused_why, "%s", why);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

int ssrf_pin(CURL *curl, struct ssrf_target *t)
{
	t->refused_at_connect = false;
	t->refused_why[0] = '\0';
	if (t->resolve && curl_easy_setopt(curl, CURLOPT_RESOLVE, t->resolve) != CURLE_OK)
		return -1;
	if (curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, t) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*") != CURLE_OK)
		return -1;
	return 0;
}

void ssrf_target_free(struct ssrf_target *t)
{
	if (t == NULL)
		return;
	curl_slist_free_all(t->resolve);
	t->resolve = NULL;
}
