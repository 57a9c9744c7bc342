/* click: the rules of GET /c/<token> on a hand-made cached link: bare and
 * signed tokens, each failure reason, redirect vs reject policy, fallback
 * URL, macros in the destination, and the journal record's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "click.h"
#include "http.h"
#include "linkcache.h"
#include "unit.h"

static const char *secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const unsigned char idkey[32] = {7};
#define NOW_MS 1764000000123LL

static struct link_entry link;
static struct arena *arena;

static void setup_link(void)
{
	memset(&link, 0, sizeof link);
	strcpy(link.code, "link1");
	link.found = true;
	link.link_id = 5, link.tenant_id = 2, link.offer_id = 3, link.affiliate_id = 4;
	strcpy(link.link_status, "active");
	strcpy(link.offer_status, "active");
	strcpy(link.tenant_status, "active");
	link.url = "https://adv.test/lp?cid={click_id}&s1={sub1}&o={offer_id}&a={affiliate_id}&c={link_code}&x={nope}";
	link.ttl_s = 3600;
	memcpy(link.secret, secret, 64);
	link.secret_len = 64;
	if (arena == NULL)
		arena = arena_new(8192);
	arena_reset(arena);
}

static struct param params[] = {{"sub1", "a b&c"}, {"sub3", "three"}, {"utm_source", "x\ty\\z"}};

static void run(struct click *c, const char *token)
{
	memset(c, 0, sizeof *c);
	CU_ASSERT_TRUE_FATAL(sign_parse(token, &c->tok));
	c->arena = arena;
	c->link = &link;
	c->ip = "192.0.2.1";
	c->user_agent = "Mozilla/5.0 (test)";
	c->params = params;
	c->nparams = 3;
	c->now_ms = NOW_MS;
	c->clickid_key = idkey;
	CU_ASSERT_EQUAL_FATAL(click_process(c), 0);
}

static char *signed_token(long long ts, const char *nonce)
{
	static char tok[200];
	char sig[SIGN_SIG_LEN + 1];
	sign_compute((const unsigned char *)secret, 64, "link1", ts, nonce, sig);
	snprintf(tok, sizeof tok, "link1.%lld.%s.%s", ts, nonce, sig);
	return tok;
}

static void t_bare_code(void)
{
	setup_link();
	struct click c;
	run(&c, "link1");
	CU_ASSERT_EQUAL(c.status, 302);
	CU_ASSERT_PTR_NULL(c.reason);
	CU_ASSERT_FALSE(c.nonce_ok);
	char want[512];
	snprintf(want, sizeof want, "https://adv.test/lp?cid=%s&s1=a%%20b%%26c&o=3&a=4&c=link1&x={nope}", c.click_id);
	CU_ASSERT_STRING_EQUAL(c.location, want);
	CU_ASSERT_EQUAL(strlen(c.click_id), CLICKID_LEN);
	int64_t ms;
	CU_ASSERT_TRUE(clickid_parse(idkey, c.click_id, &ms));
	CU_ASSERT_EQUAL(ms, NOW_MS);
	CU_ASSERT_EQUAL(strlen(c.fingerprint), 32);
	/* Same visitor and link, same fingerprint; another IP, another one. */
	struct click d;
	char fp[33];
	strcpy(fp, c.fingerprint);
	run(&d, "link1");
	CU_ASSERT_STRING_EQUAL(d.fingerprint, fp);
	CU_ASSERT_STRING_NOT_EQUAL(d.click_id, c.click_id);
	d.ip = "192.0.2.2";
	memset(d.fingerprint, 0, sizeof d.fingerprint);
	CU_ASSERT_EQUAL(click_process(&d), 0);
	CU_ASSERT_STRING_NOT_EQUAL(d.fingerprint, fp);
}

static void t_signed(void)
{
	setup_link();
	struct click c;
	run(&c, signed_token(NOW_MS / 1000 - 10, "nonce-0001"));
	CU_ASSERT_EQUAL(c.status, 302);
	CU_ASSERT_PTR_NULL(c.reason);
	CU_ASSERT_TRUE(c.nonce_ok);

	run(&c, signed_token(NOW_MS / 1000 - 3600 - 301, "nonce-0002"));
	CU_ASSERT_STRING_EQUAL(c.reason, "expired");
	CU_ASSERT_FALSE(c.nonce_ok);
	CU_ASSERT_EQUAL(c.status, 302); /* redirect policy */

	char *tok = signed_token(NOW_MS / 1000, "nonce-0003");
	tok[strlen(tok) - 1] ^= 1;
	run(&c, tok);
	CU_ASSERT_STRING_EQUAL(c.reason, "invalid_signature");
	run(&c, "link1.123");
	CU_ASSERT_STRING_EQUAL(c.reason, "invalid_signature");

	/* Rotation: the previous secret counts until prev_until. */
	memcpy(link.prev_secret, secret, 64);
	link.prev_len = 64;
	memcpy(link.secret, "ff", 2);
	link.prev_until_s = NOW_MS / 1000 + 60;
	run(&c, signed_token(NOW_MS / 1000, "nonce-0004"));
	CU_ASSERT_PTR_NULL(c.reason);
	link.prev_until_s = NOW_MS / 1000 - 1;
	run(&c, signed_token(NOW_MS / 1000, "nonce-0005"));
	CU_ASSERT_STRING_EQUAL(c.reason, "invalid_signature");
}

static void t_policy(void)
{
	setup_link();
	struct click c;
	strcpy(link.offer_status, "paused");
	run(&c, "link1");
	CU_ASSERT_STRING_EQUAL(c.reason, "offer_paused");
	CU_ASSERT_EQUAL(c.status, 302);
	CU_ASSERT_EQUAL(strncmp(c.location, "https://adv.test/lp?cid=", 24), 0);

	link.fallback_url = "https://fallback.test/?c={click_id}&s={sub3}";
	run(&c, "link1");
	char want[256];
	snprintf(want, sizeof want, "https://fallback.test/?c=%s&s=three", c.click_id);
	CU_ASSERT_STRING_EQUAL(c.location, want);

	link.policy_reject = true;
	run(&c, "link1");
	CU_ASSERT_EQUAL(c.status, 403);
	CU_ASSERT_STRING_EQUAL(c.reason, "offer_paused");
	CU_ASSERT_EQUAL(strlen(c.click_id), CLICKID_LEN); /* still recorded */

	/* Reject policy, nothing wrong: the visitor goes on. */
	strcpy(link.offer_status, "active");
	run(&c, "link1");
	CU_ASSERT_EQUAL(c.status, 302);
	CU_ASSERT_EQUAL(strncmp(c.location, "https://adv.test/", 17), 0);
	/* A paused link counts as a paused offer. */
	strcpy(link.link_status, "paused");
	run(&c, "link1");
	CU_ASSERT_EQUAL(c.status, 403);
	/* The first failure is the reason. */
	strcpy(link.link_status, "active");
	strcpy(link.offer_status, "paused");
	run(&c, "link1.1.2.3");
	CU_ASSERT_STRING_EQUAL(c.reason, "invalid_signature");
}

static int count_fields(const char *s, size_t n)
{
	int f = 1;
	for (size_t i = 0; i < n; i++)
		f += s[i] == '\t';
	return f;
}

static void t_record(void)
{
	setup_link();
	struct click c;
	run(&c, signed_token(NOW_MS / 1000, "nonce-0009"));
	c.user_agent = "UA with\ttab, \\ and \xff bad byte\nnewline";
	struct buf b;
	buf_init(&b, arena);
	click_record(&c, &b);
	CU_ASSERT_TRUE_FATAL(buf_ok(&b));
	CU_ASSERT_EQUAL(count_fields(b.p, b.len), CLICK_RECORD_FIELDS);
	CU_ASSERT_PTR_NULL(memchr(b.p, '\n', b.len));
	CU_ASSERT_EQUAL(strncmp(b.p, "2\t", 2), 0);
	/* the token's ts closes the record (a nonce is claimed per link and ts) */
	char tail[32];
	snprintf(tail, sizeof tail, "\t%lld", (long long)(NOW_MS / 1000));
	CU_ASSERT_TRUE(b.len > strlen(tail) && !strcmp(b.p + b.len - strlen(tail), tail));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, c.click_id));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\t2025-11-24 16:00:00.123+00\t") ? strstr(b.p, "\t2025-11-24 16:00:00.123+00\t") : strstr(b.p, ".123+00\t"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "UA with\\ttab, \\\\ and ? bad byte\\nnewline"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\t{\"utm_source\":\"x\\\\ty\\\\\\\\z\"}\t"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\tnonce-0009\tt\tt\t\\N\t")); /* nonce, nonce_ok, billable, reason */
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\ta b&c\t\\N\tthree\t"));
	/* a bare code has no ts */
	run(&c, "link1");
	struct buf bare;
	buf_init(&bare, arena);
	click_record(&c, &bare);
	CU_ASSERT_EQUAL(count_fields(bare.p, bare.len), CLICK_RECORD_FIELDS);
	CU_ASSERT_TRUE(bare.len > 3 && !strcmp(bare.p + bare.len - 3, "\t\\N"));
}

/* The user agent field: at most 512 bytes of the input, never half a
 * UTF-8 sequence, escapes counted by the input bytes they stand for. */
static const char *ua_field(const char *ua)
{
	setup_link();
	struct click c;
	run(&c, signed_token(NOW_MS / 1000, "nonce-0010"));
	c.user_agent = ua;
	struct buf b;
	buf_init(&b, arena);
	click_record(&c, &b);
	if (!buf_ok(&b))
		return NULL;
	const char *f = b.p;
	for (int i = 0; i < 8 && f; i++) /* version, id, time, 4 ids, ip: the UA is the 9th field */
		f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
	if (f == NULL)
		return NULL;
	return arena_strndup(arena, f, strcspn(f, "\t"));
}

static void t_record_bounds(void)
{
	char in[1200], want[1200];
	memset(in, 'a', 600);
	in[600] = '\0';
	memset(want, 'a', 512);
	want[512] = '\0';
	const char *got = ua_field(in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
	in[0] = '\0';
	for (int i = 0; i < 300; i++)
		strcat(in, "\xc3\xa9"); /* é, two bytes */
	got = ua_field(in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(strlen(got), 512);
	CU_ASSERT_EQUAL((unsigned char)got[510], 0xc3);
	memset(in, 'a', 511);
	strcpy(in + 511, "\\b");
	memcpy(want, in, 511);
	strcpy(want + 511, "\\\\");
	got = ua_field(in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
	got = ua_field("Mozilla/5.0 (X11; Linux x86_64) caf\xc3\xa9\x01 \xe2\x82 end");
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, "Mozilla/5.0 (X11; Linux x86_64) caf\xc3\xa9\x01 ?? end");
}

static const struct unit_case cases[] = {
	{"bare code: 302, macros, click id, fingerprint", t_bare_code},
	{"signed links: ok, expired, invalid, rotation", t_signed},
	{"policy: redirect, fallback, reject, paused", t_policy},
	{"journal record", t_record},
	{"journal record: field bounds and UTF-8", t_record_bounds},
	{NULL, NULL},
};

UNIT_MAIN("click")
