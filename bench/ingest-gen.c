/* bench/ingest-gen: writes N click records into a journal directory with
 * the real code of the click path (click_process, click_record,
 * journal_append), for bench/ingest.sh to time `afftokctl ingest` alone.
 *
 *   ingest-gen DIR N SECRET_KEY_FILE TENANT LINK:OFFER:AFFILIATE[,...] [WRITERS [SIGNED% [BEFORE_MS]]]
 *
 * The clicks are spread over the N / 2,000 seconds before now (2,000 clicks
 * a second), or before now - BEFORE_MS (negative: up to a day after now),
 * across the given links, WRITERS (4)
 * interleaved segment files as a pool of workers leaves them. SIGNED% (100) of the clicks come
 * through a signed link with its own nonce, signed up to a minute before
 * the click (as a page renders it before the visitor clicks), except that
 * about 1 % click an earlier token again (replays); the others through the
 * bare link code. About 2 %
 * repeat an earlier visitor on the same link within seconds (duplicate
 * fingerprints), so the ingest rules have work to do.
 * Addresses come from a pool of 200,000 (or of $INGEST_GEN_VISITORS: a small
 * pool makes later runs repeat earlier runs' visitors), user agents from a
 * few real ones.
 * Country and device are set as the traffic checks would (they need the
 * running application); everything else is the worker's own record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "click.h"
#include "http.h"
#include "journal.h"
#include "linkcache.h"
#include "secret.h"
#include "sign.h"
#include "util.h"

#define RATE 2000 /* clicks per second of click time */
#define MAX_LINKS 64
#define MAX_WRITERS 16

static const char *agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
};
static const char *devices[] = {"desktop", "mobile", "desktop", "mobile", "desktop"};
static const char *countries[] = {"US", "DE", "FR", "GB", "BR", "IN", "JP", "CA"};

static const char *secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static unsigned long long rng = 88172645463325252ULL;
static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: ingest-gen DIR N SECRET_KEY_FILE TENANT LINK:OFFER:AFFILIATE[,...] [WRITERS]\n");
		return 64;
	}
	const char *dir = argv[1];
	long n = atol(argv[2]);
	struct master_key mk;
	char err[256];
	if (master_key_load(&mk, argv[3], err, sizeof err) != 0) {
		fprintf(stderr, "ingest-gen: %s\n", err);
		return 66;
	}
	static struct link_entry links[MAX_LINKS];
	int nlinks = 0;
	for (char *s = strtok(argv[5], ","); s && nlinks < MAX_LINKS; s = strtok(NULL, ",")) {
		struct link_entry *l = &links[nlinks];
		l->found = true;
		l->tenant_id = atoll(argv[4]);
		if (sscanf(s, "%lld:%lld:%lld", &l->link_id, &l->offer_id, &l->affiliate_id) != 3) {
			fprintf(stderr, "ingest-gen: bad link %s\n", s);
			return 64;
		}
		snprintf(l->code, sizeof l->code, "bench%d", nlinks);
		strcpy(l->link_status, "active");
		strcpy(l->offer_status, "active");
		strcpy(l->tenant_status, "active");
		l->url = "https://adv.example/lp?click_id={click_id}&sub1={sub1}&o={offer_id}";
		l->ttl_s = 86400;
		memcpy(l->secret, secret, 64);
		l->secret_len = 64;
		nlinks++;
	}
	int nwriters = argc > 6 ? atoi(argv[6]) : 4;
	int signed_pct = argc > 7 ? atoi(argv[7]) : 100;
	long long before_ms = argc > 8 ? atoll(argv[8]) : 0;
	if (nlinks == 0 || n <= 0 || nwriters < 1 || nwriters > MAX_WRITERS || signed_pct < 0 || signed_pct > 100 ||
	    before_ms < -86400000LL)
		return 64;
	const char *pool = getenv("INGEST_GEN_VISITORS");
	unsigned visitors = pool ? (unsigned)atoi(pool) : 200000;
	if (visitors < 1 || visitors > 200000)
		return 64;
	rng ^= (unsigned long long)now_ms();
	struct journal *jw[MAX_WRITERS];
	for (int w = 0; w < nwriters; w++) {
		char inst[32];
		snprintf(inst, sizeof inst, "bench%d", w);
		jw[w] = journal_open(dir, inst, "off", 100, 16L << 20);
		if (jw[w] == NULL)
			return 70;
	}
	struct arena *a = arena_new(65536);
	int64_t end = now_ms() - before_ms, start = end - n * 1000 / RATE;
	/* Recent visitors, to repeat one now and then (duplicates) and
	 * recent nonces, to replay one. */
	struct visitor {
		int link;
		char ip[40];
		int agent;
		char nonce[20];
		long long ts; /* when its token was signed */
	} recent[256];
	int nrecent = 0;
	struct buf b;
	for (long i = 0; i < n; i++) {
		arena_reset(a);
		int64_t ms = start + i * 1000 / RATE;
		unsigned long long r = next_rand();
		struct visitor v;
		int kind = (int)(r % 100); /* 0: replay, 1-2: duplicate visitor */
		if (nrecent > 0 && kind <= 2) {
			v = recent[(r >> 8) % (unsigned)nrecent];
			if (kind > 0) {
				snprintf(v.nonce, sizeof v.nonce, "n%016llx", next_rand());
				v.ts = ms / 1000 - (long long)(next_rand() % 60);
			}
		} else {
			unsigned long long h = next_rand();
			v.link = (int)(h % (unsigned)nlinks);
			unsigned ip = (unsigned)((h >> 16) % visitors);
			snprintf(v.ip, sizeof v.ip, "10.%u.%u.%u", ip >> 16, (ip >> 8) & 255, ip & 255);
			v.agent = (int)((h >> 40) % (sizeof agents / sizeof *agents));
			snprintf(v.nonce, sizeof v.nonce, "n%016llx", next_rand());
			v.ts = ms / 1000 - (long long)(next_rand() % 60);
			recent[nrecent < 256 ? nrecent++ : (int)((h >> 48) % 256)] = v;
		}
		struct link_entry *l = &links[v.link];
		char sig[SIGN_SIG_LEN + 1], token[200];
		sign_compute((const unsigned char *)secret, 64, l->code, v.ts, v.nonce, sig);
		if ((int)((r >> 24) % 100) < signed_pct)
			snprintf(token, sizeof token, "%s.%lld.%s.%s", l->code, v.ts, v.nonce, sig);
		else
			snprintf(token, sizeof token, "%s", l->code);
		struct param params[] = {{"sub1", "bench"}, {"sub2", "campaign-7"}};
		struct click c;
		memset(&c, 0, sizeof c);
		if (!sign_parse(token, &c.tok))
			return 70;
		c.arena = a;
		c.link = l;
		c.ip = v.ip;
		c.user_agent = agents[v.agent];
		c.referer = "https://publisher.example/page";
		c.params = params;
		c.nparams = 2;
		c.now_ms = ms;
		c.clickid_key = mk.clickid;
		if (click_process(&c) != 0)
			return 70;
		strcpy(c.country, countries[r % (sizeof countries / sizeof *countries)]);
		c.device = devices[v.agent];
		buf_init(&b, a);
		click_record(&c, &b);
		if (!buf_ok(&b) || journal_append(jw[i % nwriters], b.p, b.len) != 0)
			return 74;
	}
	for (int w = 0; w < nwriters; w++)
		journal_close(jw[w]);
	arena_free(a);
	return 0;
}
