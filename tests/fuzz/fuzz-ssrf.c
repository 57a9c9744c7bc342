/* Fuzz target: the outbound target guard (ssrf_check, ssrf_addr_refused).
 * Input: one flag byte, then a URL. Names resolve without DNS to addresses
 * derived from the name (some in refused space, some public), so the run
 * is deterministic. Invariants: whatever parses as allowed has only
 * allowed addresses, an http/https scheme, a valid port and (for names) a
 * pin line naming exactly its host and port; and an IPv4 address is judged
 * the same in its IPv4-mapped, NAT64 and 6to4 forms. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ssrf.h"

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Every name resolves; its hash picks the address, often a refused one. */
static int fake_resolver(const char *host, struct sockaddr_storage *out, int max)
{
	static const char *const picks[] = {"127.0.0.1", "10.1.2.3",  "169.254.169.254",    "93.184.216.34",
	                                    "::1",       "fd00::1",   "::ffff:192.168.1.1", "2606:4700::1111",
	                                    "8.8.8.8",   "100.64.0.1"};
	uint32_t h = hash(host);
	if (h % 17 == 0)
		return -1; /* "does not resolve" */
	int n = 1 + (int)(h % 3);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		const char *a = picks[(h >> (4 * i)) % 10];
		memset(&out[i], 0, sizeof out[i]);
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out[i];
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[i];
		if (inet_pton(AF_INET, a, &s4->sin_addr) == 1)
			s4->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1)
			s6->sin6_family = AF_INET6;
	}
	return n;
}

static void same_in_v6_forms(const uint8_t *p, bool allow)
{
	struct sockaddr_in s4 = {0};
	struct sockaddr_in6 s6 = {0};
	s4.sin_family = AF_INET;
	memcpy(&s4.sin_addr, p, 4);
	bool want = ssrf_addr_refused((struct sockaddr *)&s4, allow, NULL);
	s6.sin6_family = AF_INET6;
	unsigned char *a = s6.sin6_addr.s6_addr;
	/* ::ffff:a.b.c.d */
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	memcpy(a + 12, p, 4);
	FUZZ_CHECK(ssrf_addr_refused((struct sockaddr *)&s6, allow, NULL) == want);
	/* 64:ff9b::a.b.c.d */
	memset(a, 0, 16);
	a[1] = 0x64, a[2] = 0xff, a[3] = 0x9b;
	memcpy(a + 12, p, 4);
	FUZZ_CHECK(ssrf_addr_refused((struct sockaddr *)&s6, allow, NULL) == want);
	/* 2002:a.b.c.d:: (6to4) */
	memset(a, 0, 16);
	a[0] = 0x20, a[1] = 0x02;
	memcpy(a + 2, p, 4);
	FUZZ_CHECK(ssrf_addr_refused((struct sockaddr *)&s6, allow, NULL) == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool allow = data[0] & 1;
	if (size >= 5)
		same_in_v6_forms(data + 1, allow);
	ssrf_set_resolver(fake_resolver);
	char *url = fuzz_cstr(data + 1, size - 1);
	struct ssrf_target t;
	char err[160];
	enum ssrf_verdict v = ssrf_check(url, allow, &t, err, sizeof err);
	FUZZ_CHECK(v == SSRF_OK || v == SSRF_BAD_URL || v == SSRF_BLOCKED || v == SSRF_DNS);
	FUZZ_CHECK(strlen(err) < sizeof err);
	if (v == SSRF_OK) {
		FUZZ_CHECK(!strcmp(t.scheme, "http") || !strcmp(t.scheme, "https"));
		FUZZ_CHECK(t.port > 0 && t.port <= 65535);
		FUZZ_CHECK(t.naddrs >= 1 && t.naddrs <= SSRF_MAX_ADDRS);
		for (int i = 0; i < t.naddrs; i++)
			FUZZ_CHECK(!ssrf_addr_refused((struct sockaddr *)&t.addrs[i], allow, NULL));
		FUZZ_CHECK(t.literal == (t.resolve == NULL));
		if (t.resolve) {
			char head[300];
			snprintf(head, sizeof head, "%s:%d:", t.host, t.port);
			FUZZ_CHECK(!strncmp(t.resolve->data, head, strlen(head)));
		}
		/* The user info of the URL never reaches the guard's messages. */
		FUZZ_CHECK(err[0] == '\0');
	} else {
		FUZZ_CHECK(t.resolve == NULL);
		FUZZ_CHECK(err[0] != '\0');
	}
	ssrf_target_free(&t);
	free(url);
	return 0;
}
