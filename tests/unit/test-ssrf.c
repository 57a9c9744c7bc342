/* ssrf + httpout: the table of refused targets (every spelling of loopback,
 * private, link-local, metadata and IPv6 forms), names that resolve to
 * refused space through the resolver hook, pinning, the connect-time check,
 * and the concurrent sender against a small HTTP server in a thread. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpout.h"
#include "ssrf.h"
#include "unit.h"
#include "util.h"

/* ---- a resolver answering from a table (no DNS, no /etc/hosts) ---- */

static const struct {
	const char *name;
	const char *addrs[3];
} fake_dns[] = {
    {"internal.test", {"10.0.0.5"}},
    {"rebind.test", {"93.184.216.34", "127.0.0.1"}},
    {"metadata.test", {"169.254.169.254"}},
    {"v6private.test", {"fd12::1"}},
    {"v6mapped.test", {"::ffff:192.168.0.10"}},
    {"cgnat.test", {"100.100.1.1"}},
    {"public.test", {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"}},
    {"pinned.test", {"127.0.0.1"}},
};

static int fake_resolver(const char *host, struct sockaddr_storage *out, int max)
{
	for (size_t i = 0; i < sizeof fake_dns / sizeof fake_dns[0]; i++) {
		if (strcmp(fake_dns[i].name, host) != 0)
			continue;
		int n = 0;
		for (int j = 0; j < 3 && fake_dns[i].addrs[j] && n < max; j++, n++) {
			memset(&out[n], 0, sizeof out[n]);
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n];
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n];
			if (inet_pton(AF_INET, fake_dns[i].addrs[j], &s4->sin_addr) == 1)
				s4->sin_family = AF_INET;
			else if (inet_pton(AF_INET6, fake_dns[i].addrs[j], &s6->sin6_addr) == 1)
				s6->sin6_family = AF_INET6;
		}
		return n;
	}
	return -1; /* everything else "does not resolve" */
}

/* ---- the table: all refused with the guard on ---- */

static const char *const refused[] = {
    /* loopback, every spelling */
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1/",
    "http://127.1/",
    "http://127.255.255.254/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://%31%32%37.0.0.1/",
    "http://user:pass@127.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://0.0.0.0/",
    "http://0/",
    /* private and shared */
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    /* link-local and metadata */
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://2852039166/",
    "http://[fd00:ec2::254]/",
    /* IPv6 forms */
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    /* multicast, broadcast, reserved, documentation */
    "http://224.0.0.1/",
    "http://239.255.255.250:1900/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    /* names that resolve to refused space */
    "http://internal.test/",
    "http://rebind.test/",
    "http://metadata.test/",
    "http://v6private.test/",
    "http://v6mapped.test/",
    "http://cgnat.test:8443/x",
};

static void t_refused_table(void)
{
	ssrf_set_resolver(fake_resolver);
	size_t n = sizeof refused / sizeof refused[0];
	CU_ASSERT_TRUE(n >= 40);
	for (size_t i = 0; i < n; i++) {
		struct ssrf_target t;
		char err[160];
		enum ssrf_verdict v = ssrf_check(refused[i], false, &t, err, sizeof err);
		if (v != SSRF_BLOCKED)
			printf("\n  not refused: %s -> %s (%s)\n", refused[i], ssrf_verdict_name(v), err);
		CU_ASSERT_EQUAL(v, SSRF_BLOCKED);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused"));
		CU_ASSERT_PTR_NULL(strstr(err, "pass")); /* the user info never shows */
		ssrf_target_free(&t);
	}
	ssrf_set_resolver(NULL);
}

static void t_bad_urls(void)
{
	static const char *const bad[] = {
	    "ftp://example.com/",
	    "file:///etc/passwd",
	    "gopher://127.0.0.1:6379/_INFO",
	    "dict://127.0.0.1:11211/",
	    "javascript:alert(1)",
	    "http://",
	    "",
	    "http://exa mple.com/",
	    "http://example.com/\r\nX: y",
	    "http://\xe2\x91\xa0\xe2\x91\xa1\xe2\x91\xa6.0.0.1/",
	    "http://example.com:99999/",
	    "//example.com/",
	    "http://[::1/",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ssrf_target t;
		char err[160];
		enum ssrf_verdict v = ssrf_check(bad[i], true, &t, err, sizeof err);
		if (v != SSRF_BAD_URL)
			printf("\n  accepted: '%s' -> %s\n", bad[i], ssrf_verdict_name(v));
		CU_ASSERT_EQUAL(v, SSRF_BAD_URL);
		ssrf_target_free(&t);
	}
}

static void t_allowed(void)
{
	ssrf_set_resolver(fake_resolver);
	struct ssrf_target t;
	char err[160];
	CU_ASSERT_EQUAL(ssrf_check("https://public.test/hook?a=1", false, &t, err, sizeof err), SSRF_OK);
	CU_ASSERT_STRING_EQUAL(t.host, "public.test");
	CU_ASSERT_EQUAL(t.port, 443);
	CU_ASSERT_EQUAL(t.naddrs, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t.resolve);
	CU_ASSERT_STRING_EQUAL(t.resolve->data,
	                       "public.test:443:93.184.216.34,[2606:2800:220:1:248:1893:25c8:1946]");
	ssrf_target_free(&t);
	CU_ASSERT_EQUAL(ssrf_check("http://8.8.8.8:8080/", false, &t, err, sizeof err), SSRF_OK);
	CU_ASSERT_TRUE(t.literal);
	CU_ASSERT_PTR_NULL(t.resolve);
	ssrf_target_free(&t);
	CU_ASSERT_EQUAL(ssrf_check("http://[2606:4700::1111]/", false, &t, err, sizeof err), SSRF_OK);
	CU_ASSERT_EQUAL(ssrf_check("http://172.32.0.1/", false, &t, err, sizeof err), SSRF_OK);
	CU_ASSERT_EQUAL(ssrf_check("http://100.128.0.1/", false, &t, err, sizeof err), SSRF_OK);
	/* A name that does not resolve now is a temporary failure, not a refusal. */
	CU_ASSERT_EQUAL(ssrf_check("http://nowhere.test/", false, &t, err, sizeof err), SSRF_DNS);
	ssrf_set_resolver(NULL);
}

static void t_allow_private(void)
{
	static const char *const ok[] = {
	    "http://127.0.0.1:9/", "http://[::1]/",         "http://10.1.2.3/",   "http://192.168.0.1/",
	    "http://[fd12::1]/",   "http://169.254.10.10/", "http://2130706433/", "http://localhost/",
	};
	static const char *const still[] = {
	    "http://169.254.169.254/", "http://[fd00:ec2::254]/",
	    "http://0.0.0.0/",         "http://[::]/",
	    "http://224.0.0.1/",       "http://[ff02::1]/",
	    "http://255.255.255.255/", "http://[::ffff:169.254.169.254]/",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct ssrf_target t;
		char err[160];
		enum ssrf_verdict v = ssrf_check(ok[i], true, &t, err, sizeof err);
		if (v != SSRF_OK)
			printf("\n  refused with allow_private: %s (%s)\n", ok[i], err);
		CU_ASSERT_EQUAL(v, SSRF_OK);
		ssrf_target_free(&t);
	}
	for (size_t i = 0; i < sizeof still / sizeof still[0]; i++) {
		struct ssrf_target t;
		char err[160];
		CU_ASSERT_EQUAL(ssrf_check(still[i], true, &t, err, sizeof err), SSRF_BLOCKED);
		ssrf_target_free(&t);
	}
}

/* ---- a small HTTP server in a thread, one thread per connection ---- */

static int srv_port;

static void *serve_conn(void *p)
{
	int fd = (int)(long)p;
	char buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		const char *cl = strcasestr(buf, "content-length:");
		size_t need = (size_t)(end + 4 - buf) + (cl ? (size_t)atoi(cl + 15) : 0);
		if (got < need)
			continue;
		const char *resp, *path = strchr(buf, ' ');
		path = path ? path + 2 : buf;
		if (!strncmp(path, "slow", 4)) {
			usleep(300000);
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow";
		} else if (!strncmp(path, "redirect", 8)) {
			resp = "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\nConnection: "
			       "close\r\n\r\n";
		} else if (!strncmp(path, "echo", 4)) {
			char out[4200];
			int len = snprintf(
			    out, sizeof out,
			    "HTTP/1.1 500 Oops\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    strlen(end + 4), end + 4);
			if (write(fd, out, (size_t)len) < 0)
				break;
			break;
		} else {
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
		}
		if (write(fd, resp, strlen(resp)) < 0)
			break;
		break;
	}
	close(fd);
	return NULL;
}

static void *serve(void *p)
{
	int ls = (int)(long)p;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t th;
		if (pthread_create(&th, NULL, serve_conn, (void *)(long)fd) == 0)
			pthread_detach(th);
		else
			close(fd);
	}
	return NULL;
}

static void server_start(void)
{
	if (srv_port)
		return;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	CU_ASSERT_EQUAL_FATAL(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	CU_ASSERT_EQUAL_FATAL(listen(ls, 128), 0);
	socklen_t len = sizeof sa;
	getsockname(ls, (struct sockaddr *)&sa, &len);
	srv_port = ntohs(sa.sin_port);
	pthread_t th;
	pthread_create(&th, NULL, serve, (void *)(long)ls);
	pthread_detach(th);
}

static int ndone;
static void on_done(struct httpout_req *r, void *arg)
{
	ndone++;
}

static void t_httpout_concurrent(void)
{
	server_start();
	struct httpout *h = httpout_new(true, 64, 5000, on_done, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	enum { N = 30 };
	static struct httpout_req reqs[N];
	static char urls[N][64];
	for (int i = 0; i < N; i++) {
		snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/slow/%d", srv_port, i);
		memset(&reqs[i], 0, sizeof reqs[i]);
		reqs[i].url = urls[i];
		reqs[i].body = "{}";
		reqs[i].body_len = 2;
	}
	ndone = 0;
	int64_t t0 = mono_ms();
	CU_ASSERT_EQUAL(httpout_run(h, reqs, N), 0);
	int64_t took = mono_ms() - t0;
	CU_ASSERT_EQUAL(ndone, N);
	/* 30 requests of 300 ms each: together well under 30 x 300 ms. */
	CU_ASSERT_TRUE(took < 2000);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(reqs[i].result, HTTPOUT_ANSWERED);
		CU_ASSERT_EQUAL(reqs[i].status, 200);
		CU_ASSERT_STRING_EQUAL(reqs[i].head, "slow");
		CU_ASSERT_TRUE(reqs[i].latency_ms >= 250);
	}
	httpout_free(h);
}

static void t_httpout_outcomes(void)
{
	server_start();
	ssrf_set_resolver(fake_resolver);
	struct httpout *h = httpout_new(true, 4, 5000, NULL, NULL);
	char u_slow[64], u_redir[64], u_echo[64], u_pinned[64], u_closed[64];
	snprintf(u_slow, sizeof u_slow, "http://127.0.0.1:%d/slow", srv_port);
	snprintf(u_redir, sizeof u_redir, "http://127.0.0.1:%d/redirect", srv_port);
	snprintf(u_echo, sizeof u_echo, "http://127.0.0.1:%d/echo", srv_port);
	/* pinned.test exists only in the fake resolver: it works only if the
	 * checked address is what curl connects to. */
	snprintf(u_pinned, sizeof u_pinned, "http://pinned.test:%d/ok", srv_port);
	snprintf(u_closed, sizeof u_closed, "http://127.0.0.1:1/");
	const char *hdrs[] = {"Content-Type: application/json", "webhook-id: evt_1"};
	struct httpout_req r[7];
	memset(r, 0, sizeof r);
	r[0].url = u_slow, r[0].timeout_ms = 100;
	r[1].url = u_redir;
	r[2].url = u_echo, r[2].body = "{\"a\":1}", r[2].body_len = 7, r[2].headers = hdrs, r[2].nheaders = 2;
	r[3].url = u_pinned;
	r[4].url = u_closed;
	r[5].url = "http://169.254.169.254/";
	r[6].url = "gopher://x/";
	CU_ASSERT_EQUAL(httpout_run(h, r, 7), 0);
	CU_ASSERT_EQUAL(r[0].result, HTTPOUT_TIMEOUT);
	CU_ASSERT_TRUE(httpout_temporary(r[0].result));
	CU_ASSERT_EQUAL(r[1].result, HTTPOUT_ANSWERED);
	CU_ASSERT_EQUAL(r[1].status, 302); /* not followed */
	CU_ASSERT_EQUAL(r[2].status, 500);
	CU_ASSERT_STRING_EQUAL(r[2].head, "{\"a\":1}");
	CU_ASSERT_EQUAL(r[3].result, HTTPOUT_ANSWERED);
	CU_ASSERT_EQUAL(r[3].status, 200);
	CU_ASSERT_EQUAL(r[4].result, HTTPOUT_NETWORK);
	CU_ASSERT_EQUAL(r[5].result, HTTPOUT_REFUSED);
	CU_ASSERT_FALSE(httpout_temporary(r[5].result));
	CU_ASSERT_EQUAL(r[6].result, HTTPOUT_BAD_URL);
	httpout_free(h);

	/* Guard on: the local server is refused before any byte is sent. */
	h = httpout_new(false, 4, 5000, NULL, NULL);
	struct httpout_req g[2];
	memset(g, 0, sizeof g);
	g[0].url = u_slow;
	g[1].url = u_pinned;
	CU_ASSERT_EQUAL(httpout_run(h, g, 2), 0);
	CU_ASSERT_EQUAL(g[0].result, HTTPOUT_REFUSED);
	CU_ASSERT_EQUAL(g[1].result, HTTPOUT_REFUSED);
	CU_ASSERT_EQUAL(g[0].latency_ms, 0);
	httpout_free(h);
	ssrf_set_resolver(NULL);
}

/* The connect-time check: even when curl is told (here by a forged
 * CURLOPT_RESOLVE, as a rebinding DNS answer would) to connect to a refused
 * address, the socket callback says no. */
static void t_connect_time_check(void)
{
	server_start();
	ssrf_set_resolver(fake_resolver);
	struct ssrf_target t;
	char err[160], url[64];
	snprintf(url, sizeof url, "http://public.test:%d/", srv_port);
	CU_ASSERT_EQUAL_FATAL(ssrf_check(url, false, &t, err, sizeof err), SSRF_OK);
	CURL *c = curl_easy_init();
	CU_ASSERT_EQUAL(ssrf_pin(c, &t), 0);
	char forged[64];
	snprintf(forged, sizeof forged, "public.test:%d:127.0.0.1", srv_port);
	struct curl_slist *rebind = curl_slist_append(NULL, forged);
	curl_easy_setopt(c, CURLOPT_RESOLVE, rebind);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	CURLcode rc = curl_easy_perform(c);
	CU_ASSERT_NOT_EQUAL(rc, CURLE_OK);
	CU_ASSERT_TRUE(t.refused_at_connect);
	CU_ASSERT_PTR_NOT_NULL(strstr(t.refused_why, "loopback"));
	curl_easy_cleanup(c);
	curl_slist_free_all(rebind);
	ssrf_target_free(&t);
	ssrf_set_resolver(NULL);
}

static const struct unit_case cases[] = {
    {"refused targets table (guard on)", t_refused_table},
    {"malformed and non-http URLs", t_bad_urls},
    {"public targets pass and are pinned", t_allowed},
    {"allow_private still refuses metadata and multicast", t_allow_private},
    {"httpout: 30 slow requests run concurrently", t_httpout_concurrent},
    {"httpout: timeout, no redirect, body, pinning, refusals", t_httpout_outcomes},
    {"connect-time check beats a rebinding answer", t_connect_time_check},
    {NULL, NULL},
};
UNIT_MAIN("ssrf")
