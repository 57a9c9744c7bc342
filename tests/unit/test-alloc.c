/* Allocation failure injection, in the manner of curl's torture tests: each
 * scenario runs once to count its allocations, then again with the 1st,
 * 2nd, ... Nth allocation failing (and once more with every allocation from
 * the Nth on failing). Each run must end in success with the right result or
 * in a clean error, never a crash, and must give back every byte it took.
 *
 * The journal gets the same treatment for write(2): the Nth write fails
 * (ENOSPC), or writes half its bytes, with ftruncate working or failing too;
 * what the journal reports as appended is exactly what a reader finds.
 *
 * Linked with -Wl,--wrap=malloc,... so the calls made by libafftok.a and this
 * file go through the counters below; OpenSSL's allocations are routed here
 * with CRYPTO_set_mem_functions. The asan-unit pass of scripts/test runs this
 * program under AddressSanitizer and LeakSanitizer as well. */
#include <json-c/json.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "config.h"
#include "hmac.h"
#include "apikey.h"
#include "clickid.h"
#include "conversion.h"
#include "http.h"
#include "journal.h"
#include "router.h"
#include "secret.h"
#include "sign.h"
#include "unit.h"

/* ---- the counting allocator ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static long calls;   /* allocation calls since the scenario started */
static long fail_at; /* 0: none fails */
static bool sticky;  /* every call from fail_at on fails, not just that one */
static long live;    /* blocks handed out and not yet freed */

static bool fail_now(void)
{
	calls++;
	return fail_at && (calls == fail_at || (sticky && calls > fail_at));
}

void *__wrap_malloc(size_t n)
{
	if (fail_now())
		return NULL;
	void *p = __real_malloc(n);
	live += p != NULL;
	return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
	if (fail_now())
		return NULL;
	void *p = __real_calloc(n, m);
	live += p != NULL;
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	if (fail_now())
		return NULL;
	void *q = __real_realloc(p, n);
	live += q != NULL && p == NULL;
	return q;
}

void __wrap_free(void *p)
{
	live -= p != NULL;
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	if (fail_now())
		return NULL;
	char *p = __real_strdup(s);
	live += p != NULL;
	return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
	if (fail_now())
		return NULL;
	char *p = __real_strndup(s, n);
	live += p != NULL;
	return p;
}

/* OpenSSL keeps the text of its last errors in a per-thread queue of 16
 * slots, freed when the thread ends: bounded, so not a leak, but it would
 * look like one to the counter. Those blocks are kept out of `live`. */
static void *err_blocks[64];

/* write(2) and ftruncate(2) of libafftok.a: the Nth write fails or is short. */
ssize_t __real_write(int fd, const void *p, size_t n);
int __real_ftruncate(int fd, off_t len);
enum write_fault { WF_ENOSPC, WF_SHORT, WF_SHORT_NOTRUNC };
static long writes, write_fail_at;
static enum write_fault write_fault;

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	if (++writes != write_fail_at)
		return __real_write(fd, p, n);
	if (write_fault == WF_ENOSPC) {
		errno = ENOSPC;
		return -1;
	}
	return __real_write(fd, p, n / 2);
}

int __wrap_ftruncate(int fd, off_t len)
{
	if (write_fail_at && writes == write_fail_at && write_fault == WF_SHORT_NOTRUNC) {
		errno = EIO;
		return -1;
	}
	return __real_ftruncate(fd, len);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	void *p = __wrap_malloc(n);
	if (p != NULL && strstr(file, "crypto/err/") != NULL) {
		for (size_t i = 0; i < sizeof err_blocks / sizeof err_blocks[0]; i++)
			if (err_blocks[i] == NULL) {
				err_blocks[i] = p;
				live--;
				break;
			}
	}
	return p;
}
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	return __wrap_realloc(p, n);
}
static void ossl_free(void *p, const char *file, int line)
{
	for (size_t i = 0; p != NULL && i < sizeof err_blocks / sizeof err_blocks[0]; i++)
		if (err_blocks[i] == p) {
			err_blocks[i] = NULL;
			live++;
			break;
		}
	__wrap_free(p);
}

/* Before OpenSSL allocates anything (it refuses the hook afterwards). */
static int ossl_hooked;
__attribute__((constructor)) static void hook_openssl(void)
{
	ossl_hooked = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
}

/* ---- the driver ---- */

/* A scenario returns true when it succeeded (and checked its result) and
 * false for a clean error; it asserts on anything else. */
typedef bool (*scenario_fn)(void);

struct torture {
	long counted;   /* allocations of a clean run */
	long runs, ok_runs, leaked_runs;
};

static bool run_once(scenario_fn fn, long at, bool stick, long *leaked)
{
	hmac_release(); /* the kept hashing context is made, and counted, inside the run */
	long before = live;
	calls = 0;
	fail_at = at;
	sticky = stick;
	bool ok = fn();
	fail_at = 0;
	sticky = false;
	hmac_release();
	*leaked = live - before;
	return ok;
}

static struct torture torture(const char *name, scenario_fn fn)
{
	struct torture t = {0};
	long leaked;
	/* Twice clean: the first run may fill lazy global state (OpenSSL's
	 * algorithm tables); the second is the reference. */
	CU_ASSERT_TRUE_FATAL(run_once(fn, 0, false, &leaked));
	CU_ASSERT_TRUE_FATAL(run_once(fn, 0, false, &leaked));
	CU_ASSERT_EQUAL(leaked, 0);
	t.counted = calls;
	CU_ASSERT(t.counted > 0);
	for (int stick = 0; stick < 2; stick++) {
		for (long at = 1; at <= t.counted; at++) {
			bool ok = run_once(fn, at, stick, &leaked);
			t.runs++;
			t.ok_runs += ok;
			if (leaked != 0) {
				t.leaked_runs++;
				fprintf(stderr, "%s: failing allocation %ld%s leaked %ld blocks\n", name, at,
					stick ? " onwards" : "", leaked);
			}
		}
	}
	CU_ASSERT_EQUAL(t.leaked_runs, 0);
	/* Most injected failures must reach the caller as errors: a scenario that
	 * succeeds every time is not exercising its allocations. */
	CU_ASSERT(t.ok_runs < t.runs);
	printf("%s: %ld allocations, %ld runs with a failure injected, %ld still succeeded\n", name,
	       t.counted, t.runs, t.ok_runs);
	return t;
}

/* ---- scenarios ---- */

static int deferred_freed;
static void count_free(void *p)
{
	deferred_freed++;
	free(p);
}

static bool sc_arena(void)
{
	struct arena *a = arena_new(128);
	if (a == NULL)
		return false;
	bool ok = true;
	int deferred = 0;
	deferred_freed = 0;
	for (int i = 0; i < 40 && ok; i++) {
		char *p = arena_alloc(a, 48); /* crosses a block every other call */
		ok = p != NULL;
		if (ok)
			memset(p, 'x', 48);
	}
	char *s = ok ? arena_strdup(a, "a string longer than one hundred and twenty-eight bytes so that "
					 "the arena has to take a block of its own size for it, not the usual one")
		     : NULL;
	char *f = ok ? arena_sprintf(a, "%s-%d", "value", 42) : NULL;
	ok = ok && s != NULL && f != NULL && !strcmp(f, "value-42");
	for (int i = 0; i < 5; i++) {
		void *obj = malloc(16);
		if (obj == NULL) {
			ok = false;
			continue;
		}
		deferred++;
		/* On failure arena_defer frees obj at once: either way it is freed once. */
		if (arena_defer(a, count_free, obj) != 0)
			ok = false;
	}
	arena_reset(a);
	CU_ASSERT_EQUAL(deferred_freed, deferred);
	ok = ok && arena_used(a) == 0 && arena_alloc(a, 16) != NULL;
	arena_free(a);
	return ok;
}

static bool sc_buf(void)
{
	struct arena *a = arena_new(64);
	if (a == NULL)
		return false;
	struct buf b;
	buf_init(&b, a);
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%03d,", i);
	buf_urlencode(&b, "a b&c=\xc3\xa9");
	buf_json_str(&b, "q\"\n");
	bool ok = buf_ok(&b);
	if (ok) {
		CU_ASSERT_EQUAL(b.len, 400 + 18 + 7);
		CU_ASSERT_EQUAL(strncmp(b.p, "000,001,", 8), 0);
		CU_ASSERT_STRING_EQUAL(b.p + 400, "a%20b%26c%3D%C3%A9\"q\\\"\\n\"");
	} else {
		/* Once out of memory a buffer stays so: no half-written tail. */
		buf_puts(&b, "more");
		CU_ASSERT_FALSE(buf_ok(&b));
	}
	arena_free(a);
	return ok;
}

static bool sc_query(void)
{
	struct arena *a = arena_new(128);
	if (a == NULL)
		return false;
	static const char qs[] = "click_id=abc&sub1=hello+world&sub2=%C3%A9t%C3%A9&sub3=&flag"
				 "&amount=12.50&long=0123456789012345678901234567890123456789"
				 "0123456789012345678901234567890123456789&z=%7B%7D";
	struct param *p = NULL;
	size_t n = 0;
	bool ok = query_parse(a, qs, sizeof qs - 1, &p, &n) == 0;
	if (ok) {
		struct req q = {.params = p, .nparams = n};
		CU_ASSERT_EQUAL(n, 8);
		CU_ASSERT_STRING_EQUAL(req_param(&q, "sub1"), "hello world");
		CU_ASSERT_STRING_EQUAL(req_param(&q, "sub2"), "\xc3\xa9t\xc3\xa9");
		CU_ASSERT_STRING_EQUAL(req_param(&q, "flag"), "");
		CU_ASSERT_STRING_EQUAL(req_param(&q, "z"), "{}");
	} else {
		CU_ASSERT_EQUAL(n, 0);
	}
	/* The same through a form body, appended after a query parameter. */
	struct req q = {.arena = a, .content_type = "application/x-www-form-urlencoded",
			.body = qs, .body_len = sizeof qs - 1};
	bool ok2 = query_parse(a, "x=1", 3, &q.params, &q.nparams) == 0 && req_parse_body(&q) == 0;
	if (ok2) {
		CU_ASSERT_EQUAL(q.nparams, 9);
		CU_ASSERT_STRING_EQUAL(req_param(&q, "x"), "1");
		CU_ASSERT_STRING_EQUAL(req_param(&q, "amount"), "12.50");
	}
	arena_free(a);
	return ok && ok2;
}

static char conf_path[64];

static bool sc_config(void)
{
	struct config c;
	char err[256] = "";
	bool ok = config_load(&c, conf_path, err, sizeof err) == 0;
	if (ok) {
		CU_ASSERT_EQUAL(c.redis_port, 7001);
		CU_ASSERT_STRING_EQUAL(c.db_conninfo, "host=/tmp dbname=x");
		CU_ASSERT_STRING_EQUAL(c.journal_dir, "/var/tmp/j");
		CU_ASSERT_TRUE(c.outbound_allow_private);
	} else {
		CU_ASSERT(err[0] != '\0');
	}
	/* The documented contract: config_free after a failed load too. */
	config_free(&c);
	return ok;
}

static struct master_key mk;

static bool sc_secret(void)
{
	struct arena *a = arena_new(256);
	if (a == NULL)
		return false;
	static const char plain[] = "whsec_0123456789abcdef0123456789abcdef";
	char *sealed = secret_encrypt(&mk, a, (const unsigned char *)plain, sizeof plain - 1);
	bool ok = sealed != NULL;
	if (ok) {
		CU_ASSERT_EQUAL(strncmp(sealed, "v1:", 3), 0);
		unsigned char *back = NULL;
		int n = secret_decrypt(&mk, a, sealed, &back);
		ok = n >= 0;
		if (ok) {
			CU_ASSERT_EQUAL(n, (int)sizeof plain - 1);
			CU_ASSERT_STRING_EQUAL((char *)back, plain);
		}
	}
	arena_free(a);
	return ok;
}

static int h_echo(struct req *q, struct resp *r)
{
	r->status = 200;
	r->content_type = "application/json";
	resp_header(r, "Cache-Control", "no-store");
	buf_puts(&r->body, "{\"sub1\":");
	buf_json_str(&r->body, req_param(q, "sub1"));
	buf_puts(&r->body, ",\"n\":");
	buf_puts(&r->body, req_param(q, "n"));
	buf_puts(&r->body, "}");
	return 0;
}

static const struct route_param echo_params[] = {
	{"sub1", P_STR, true, 0}, {"n", P_INT, true, 0}, {NULL, 0, false, 0},
};
static const struct route echo_table[] = {
	{"/echo", HTTP_GET | HTTP_POST, 0, 0, echo_params, h_echo},
	{NULL, 0, 0, 0, NULL, NULL},
};

/* One request through the dispatcher; the answer is the expected one, whole,
 * or the fixed out-of-memory 500: never a half-built body. */
static bool dispatch(struct arena *a, const char *query, const char *ctype, const char *body,
		     int want)
{
	static struct app app = {.cfg = {.body_max_bytes = 4096}};
	struct req q = {.arena = a, .request_id = "alloc", .method = HTTP_POST, .method_name = "POST",
			.path = "/echo", .query = query, .content_type = ctype, .body = body,
			.body_len = strlen(body)};
	struct resp r;
	resp_init(&r, a);
	if (query_parse(a, query, strlen(query), &q.params, &q.nparams) != 0)
		resp_error(&q, &r, 400, "BAD_REQUEST", "bad query string");
	else
		router_dispatch(echo_table, &app, &q, &r, false);
	resp_finish(&r);
	CU_ASSERT(r.body.len > 0);
	struct json_object *o = json_tokener_parse(r.body.p ? r.body.p : "");
	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);
	if (r.status == 500) {
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body.p, "out of memory"));
		return false;
	}
	/* query_parse cannot tell a malformed string from a failed allocation,
	 * so a parse that ran out of memory is answered 400 BAD_REQUEST: a
	 * clean error, if not the most accurate one. */
	if (r.status != want) {
		CU_ASSERT_EQUAL(r.status, 400);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body.p, "BAD_REQUEST"));
		return false;
	}
	if (r.status == 200)
		CU_ASSERT_PTR_NOT_NULL(strstr(r.headers.p, "Cache-Control: no-store\r\n"));
	return r.status == want && (want != 400 || strstr(r.body.p, "INVALID_PARAMETER") != NULL);
}

static bool sc_dispatch(void)
{
	struct arena *a = arena_new(256);
	if (a == NULL)
		return false;
	bool ok = dispatch(a, "sub1=caf%C3%A9+au+lait&x=drop", "application/x-www-form-urlencoded",
			   "n=42&pad=0123456789012345678901234567890123456789", 200);
	ok = dispatch(a, "sub1=x", "application/x-www-form-urlencoded", "n=4.2", 400) && ok;
	ok = dispatch(a, "", "application/json", "{\"sub1\": [1, 2, {\"a\": null}]}", 400) && ok;
	arena_free(a);
	return ok;
}

/* MAC checks (HMAC() allocates inside OpenSSL): a genuine id, token, key
 * hash or postback signature is accepted or refused, a forged one never,
 * even right after the genuine one left its MAC on the stack. */
static const unsigned char mac_key[32] = "key of the MAC checks, 32 bytes";
static char good_id[CLICKID_LEN + 1], forged_id[CLICKID_LEN + 1];
static char good_tok[SIGN_TOKEN_MAX + 1], forged_tok[SIGN_TOKEN_MAX + 1];
static char good_hash[APIKEY_HASH_HEX + 1], good_sig[160];

static bool sc_macs(void)
{
	bool ok = true;
	int64_t ms = 0;
	if (clickid_parse(mac_key, good_id, &ms)) {
		CU_ASSERT_EQUAL(ms, 1700000000123LL);
	} else {
		ok = false;
	}
	CU_ASSERT_FALSE(clickid_parse(mac_key, forged_id, &ms));

	struct token t;
	struct sign_key k = {mac_key, 32, 0};
	CU_ASSERT_TRUE(sign_parse(good_tok, &t));
	ok = sign_verify(&t, &k, NULL, 3600, 1700000000) == SIGN_OK && ok;
	CU_ASSERT_TRUE(sign_parse(forged_tok, &t));
	CU_ASSERT_EQUAL(sign_verify(&t, &k, NULL, 3600, 1700000000), SIGN_BAD);

	char h[APIKEY_HASH_HEX + 1];
	apikey_hash(mac_key, "aft_a_key", h);
	if (strcmp(h, good_hash) != 0) {
		CU_ASSERT_EQUAL(strspn(h, "x"), APIKEY_HASH_HEX); /* matches no stored hash */
		ok = false;
	}

	ok = conv_sig_verify(mac_key, 32, good_sig, "amount=1", 8, 1700000000) == SIG_OK && ok;
	CU_ASSERT_NOT_EQUAL(conv_sig_verify(mac_key, 32, good_sig, "amount=9", 8, 1700000000), SIG_OK);
	return ok;
}

static void t_macs(void)
{
	clickid_new(mac_key, 1700000000123LL, good_id);
	memcpy(forged_id, good_id, sizeof good_id);
	forged_id[12] = forged_id[12] == 'a' ? 'b' : 'a'; /* random part changed, MAC kept */
	char sig[SIGN_SIG_LEN + 1];
	sign_compute(mac_key, 32, "code1", 1700000000, "nonce-0123", sig);
	snprintf(good_tok, sizeof good_tok, "code1.1700000000.nonce-0123.%s", sig);
	snprintf(forged_tok, sizeof forged_tok, "code1.1700000000.nonce-0124.%s", sig);
	apikey_hash(mac_key, "aft_a_key", good_hash);
	conv_sig_make(mac_key, 32, 1700000000, "amount=1", 8, good_sig, sizeof good_sig);
	torture("MAC checks", sc_macs);
}

/* Appends 12 records to a journal in a fresh directory, then reads every
 * segment back: the records found are exactly those whose append returned
 * 0, in order, and the loss count is the number of failed appends. */
static bool appended[12];

static bool sc_journal(void)
{
	char dir[] = "/tmp/afftok-test-journal-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	memset(appended, 0, sizeof appended);
	struct journal *j = journal_open(dir, "t-1", "off", 100, 1 << 20);
	bool ok = j != NULL;
	int good = 0, lost = 0;
	for (int i = 0; j && i < 12; i++) {
		char rec[64];
		int n = snprintf(rec, sizeof rec, "record %d\tpayload %d", i, i * 7);
		appended[i] = journal_append(j, rec, (size_t)n) == 0;
		good += appended[i];
		lost += !appended[i];
	}
	if (j) {
		struct journal_stats st;
		journal_get_stats(j, &st);
		CU_ASSERT_EQUAL(st.records, (uint64_t)good);
		CU_ASSERT_EQUAL(st.lost, (uint64_t)lost);
		journal_close(j);
	}
	/* Segment names sort by time and sequence within this process. */
	struct dirent **names;
	int nn = scandir(dir, &names, NULL, alphasort);
	CU_ASSERT_FATAL(nn >= 2);
	int next = 0;
	for (int k = 0; k < nn; k++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, names[k]->d_name);
		if (names[k]->d_name[0] != '.') {
			static unsigned char seg[65536];
			FILE *f = fopen(path, "rb");
			CU_ASSERT_PTR_NOT_NULL_FATAL(f);
			size_t len = fread(seg, 1, sizeof seg, f);
			fclose(f);
			struct journal_scan sc;
			journal_scan_init(&sc, seg, len, true);
			const unsigned char *rec;
			size_t n;
			while (journal_scan_next(&sc, &rec, &n)) {
				while (next < 12 && !appended[next])
					next++;
				char want[64];
				int wn = snprintf(want, sizeof want, "record %d\tpayload %d", next, next * 7);
				CU_ASSERT_FATAL(next < 12);
				CU_ASSERT(n == (size_t)wn && !memcmp(rec, want, n));
				next++;
			}
			unlink(path);
		}
		/* scandir allocated these inside libc, past the counters. */
		__real_free(names[k]);
	}
	__real_free(names);
	while (next < 12 && !appended[next])
		next++;
	CU_ASSERT_EQUAL(next, 12); /* every appended record was found */
	rmdir(dir);
	return ok && lost == 0;
}

static void t_journal(void)
{
	torture("journal", sc_journal);
	static const char *fault_names[] = {"ENOSPC", "short write", "short write, ftruncate fails"};
	for (int f = WF_ENOSPC; f <= WF_SHORT_NOTRUNC; f++) {
		writes = write_fail_at = 0;
		CU_ASSERT_TRUE_FATAL(sc_journal());
		long total = writes;
		long failures = 0;
		for (long at = 1; at <= total; at++) {
			writes = 0;
			write_fail_at = at;
			write_fault = (enum write_fault)f;
			failures += !sc_journal();
		}
		write_fail_at = 0;
		/* Each injected fault costs exactly the one record it hit. */
		CU_ASSERT_EQUAL(failures, total);
		printf("journal: %ld writes, each failed in turn (%s)\n", total, fault_names[f]);
	}
}

/* ---- cases ---- */

static void t_arena(void) { torture("arena", sc_arena); }
static void t_buf(void) { torture("buf", sc_buf); }
static void t_query(void) { torture("query_parse", sc_query); }
static void t_dispatch(void) { torture("router_dispatch", sc_dispatch); }

static void t_config(void)
{
	snprintf(conf_path, sizeof conf_path, "/tmp/afftok-test-alloc-%d.conf", (int)getpid());
	FILE *f = fopen(conf_path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("[database]\nconninfo = host=/tmp dbname=x\n[redis]\nport = 7001\n"
	      "[journal]\ndir = /var/tmp/j\n[outbound]\nallow_private = yes\n", f);
	fclose(f);
	torture("config_load", sc_config);
	unlink(conf_path);
}

static void t_secret(void)
{
	/* Without the hook OpenSSL's own allocations would escape injection. */
	CU_ASSERT_EQUAL_FATAL(ossl_hooked, 1);
	unsigned char raw[32];
	memset(raw, 7, sizeof raw);
	master_key_from(&mk, raw);
	struct torture t = torture("secret", sc_secret);
	/* OpenSSL's allocations were counted, not only the arena's. */
	CU_ASSERT(t.counted > 4);
}

static const struct unit_case cases[] = {
	{"arena under allocation failures", t_arena},
	{"buf under allocation failures", t_buf},
	{"query_parse and form bodies under allocation failures", t_query},
	{"router_dispatch and resp_finish under allocation failures", t_dispatch},
	{"config_load under allocation failures", t_config},
	{"secret_encrypt/decrypt under allocation failures", t_secret},
	{"MAC checks under allocation failures", t_macs},
	{"journal under allocation and write failures", t_journal},
	{NULL, NULL},
};

UNIT_MAIN("alloc")
