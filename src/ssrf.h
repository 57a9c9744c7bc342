/* The outbound target guard: every URL AffTok calls on someone's behalf
 * (webhooks, affiliate postbacks) goes through here first.
 *
 * API
 *   ssrf_check(url, allow_private, &t, err, errlen)
 *       Parses url with libcurl's URL API (http and https only, no
 *       whitespace, at most SSRF_URL_MAX bytes), resolves the host (an IP
 *       literal in any spelling curl or inet_aton accept: 2130706433,
 *       0x7f.1, 017700000001, 127.1, [::ffff:127.0.0.1], ...) and checks
 *       EVERY resolved address. Returns SSRF_OK and fills t (scheme, host,
 *       port, the addresses and a CURLOPT_RESOLVE line that pins them), or:
 *         SSRF_BAD_URL   malformed, not http/https        (permanent)
 *         SSRF_BLOCKED   an address is in refused space   (permanent)
 *         SSRF_DNS       the name does not resolve now    (temporary: retry)
 *       with a human reason in err (no secrets: the URL's user info and
 *       query are never copied into it).
 *   ssrf_pin(curl, &t, allow_private)
 *       Sets up an easy handle for t: CURLOPT_RESOLVE with the checked
 *       addresses (so a DNS answer that changes between the check and the
 *       connect, "DNS rebinding", is never used), an OPENSOCKETFUNCTION that
 *       re-checks the address curl actually connects to, http/https only,
 *       no redirects, no proxy from the environment. Returns 0 or -1.
 *       The handle must not outlive t (t holds the curl_slist).
 *   ssrf_addr_refused(sa, allow_private)
 *       The address predicate itself; names the range in *why when refused.
 *   ssrf_target_free(&t)  releases what ssrf_check put in t; accepts a zeroed t.
 *
 * Refused always: unspecified (0.0.0.0/8, ::), broadcast, multicast
 * (224/4, ff00::/8), reserved 240/4, documentation and benchmark ranges,
 * and cloud metadata addresses (169.254.169.254, fd00:ec2::254).
 * Refused unless allow_private ([outbound] allow_private): loopback
 * (127/8, ::1, localhost and *.localhost names), private (10/8, 172.16/12,
 * 192.168/16), shared 100.64/10, link-local (169.254/16, fe80::/10),
 * unique-local fc00::/7, site-local fec0::/10. IPv6 forms that carry an
 * IPv4 address (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96, 2002::/16) are
 * judged by the IPv4 address inside; Teredo 2001::/32 is refused. */
#ifndef AFFTOK_SSRF_H
#define AFFTOK_SSRF_H

#include <curl/curl.h>
#include <stdbool.h>
#include <sys/socket.h>

#define SSRF_URL_MAX 2048
#define SSRF_MAX_ADDRS 8

enum ssrf_verdict { SSRF_OK = 0, SSRF_BAD_URL, SSRF_BLOCKED, SSRF_DNS };

struct ssrf_target {
	char scheme[8];
	char host[256]; /* as curl normalised it; IPv6 without brackets */
	int port;
	bool literal; /* the host is an IP address */
	int naddrs;
	struct sockaddr_storage addrs[SSRF_MAX_ADDRS];
	struct curl_slist *resolve; /* "host:port:addr,..." for CURLOPT_RESOLVE */
	bool allow_private;
	bool refused_at_connect; /* set by the socket callback when it said no */
	char refused_why[64];
};

/* Resolves host into out (at most max addresses, port left 0); returns the
 * count, or -1 when the name does not resolve. getaddrinfo by default, its
 * answers kept 30 s (every use is checked and pinned all the same);
 * tests install a table-driven one with ssrf_set_resolver (NULL restores). */
typedef int (*ssrf_resolver_fn)(const char *host, struct sockaddr_storage *out, int max);
void ssrf_set_resolver(ssrf_resolver_fn fn);

enum ssrf_verdict ssrf_check(const char *url, bool allow_private, struct ssrf_target *t, char *err,
                             size_t errlen);
int ssrf_pin(CURL *curl, struct ssrf_target *t);
bool ssrf_addr_refused(const struct sockaddr *sa, bool allow_private, const char **why);
void ssrf_target_free(struct ssrf_target *t);
const char *ssrf_verdict_name(enum ssrf_verdict v);

#endif
