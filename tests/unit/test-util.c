/* util: hex, base64, integer parsing, constant-time compare. */
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "util.h"

static void t_hex(void)
{
	unsigned char in[4] = {0, 0xab, 0x10, 0xff}, out[4];
	char hex[9];
	hex_encode(in, 4, hex);
	CU_ASSERT_STRING_EQUAL(hex, "00ab10ff");
	CU_ASSERT_EQUAL(hex_decode(hex, out, 4), 0);
	CU_ASSERT_EQUAL(memcmp(in, out, 4), 0);
	CU_ASSERT_EQUAL(hex_decode("00ab10f", out, 4), -1);
	CU_ASSERT_EQUAL(hex_decode("00ab10ffff", out, 4), -1);
	CU_ASSERT_EQUAL(hex_decode("zzab10ff", out, 4), -1);
}

static void t_b64(void)
{
	static const struct { const char *in, *out; } t[] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char enc[16];
		unsigned char dec[16];
		b64_encode((const unsigned char *)t[i].in, strlen(t[i].in), enc);
		CU_ASSERT_STRING_EQUAL(enc, t[i].out);
		int n = b64_decode(enc, dec, sizeof dec);
		CU_ASSERT_EQUAL(n, (int)strlen(t[i].in));
		CU_ASSERT_EQUAL(memcmp(dec, t[i].in, strlen(t[i].in)), 0);
	}
	unsigned char d[4];
	CU_ASSERT_EQUAL(b64_decode("Zm9", d, sizeof d), -1);
}

static void t_parse(void)
{
	int64_t v;
	CU_ASSERT_TRUE(parse_i64("123", &v));
	CU_ASSERT_EQUAL(v, 123);
	CU_ASSERT_TRUE(parse_i64("-5", &v));
	CU_ASSERT_FALSE(parse_i64("", &v));
	CU_ASSERT_FALSE(parse_i64("12a", &v));
	CU_ASSERT_FALSE(parse_i64(" 1", &v));
	CU_ASSERT_FALSE(parse_i64("99999999999999999999", &v));
	char d[24];
	CU_ASSERT_EQUAL(fmt_i64(d, 0), 1);
	CU_ASSERT_STRING_EQUAL(d, "0");
	CU_ASSERT_EQUAL(fmt_i64(d, 42), 2);
	CU_ASSERT_STRING_EQUAL(d, "42");
	CU_ASSERT_EQUAL(fmt_i64(d, -7), 2);
	CU_ASSERT_STRING_EQUAL(d, "-7");
	CU_ASSERT_EQUAL(fmt_i64(d, INT64_MAX), 19);
	CU_ASSERT_STRING_EQUAL(d, "9223372036854775807");
	CU_ASSERT_EQUAL(fmt_i64(d, INT64_MIN), 20);
	CU_ASSERT_STRING_EQUAL(d, "-9223372036854775808");
	CU_ASSERT_TRUE(ct_equal("abc", "abc", 3));
	CU_ASSERT_FALSE(ct_equal("abc", "abd", 3));
}

/* A forked child must not hand out the bytes its parent draws next. */
static void t_rand_fork(void)
{
	unsigned char first[16], parent[16], child[16] = {0};
	rand_bytes(first, sizeof first); /* the pool is filled before the fork */
	int fds[2];
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	pid_t pid = fork();
	CU_ASSERT_TRUE_FATAL(pid >= 0);
	if (pid == 0) {
		unsigned char b[16];
		rand_bytes(b, sizeof b);
		_exit(write(fds[1], b, sizeof b) == (ssize_t)sizeof b ? 0 : 1);
	}
	rand_bytes(parent, sizeof parent);
	int st = 0;
	waitpid(pid, &st, 0);
	CU_ASSERT_EQUAL(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
	close(fds[0]);
	close(fds[1]);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_NOT_EQUAL(memcmp(parent, child, sizeof parent), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(first, parent, sizeof parent), 0);
}

static const struct unit_case cases[] = {
	{"hex", t_hex},
	{"base64 table", t_b64},
	{"integers and compare", t_parse},
	{"random bytes after fork", t_rand_fork},
	{NULL, NULL},
};
UNIT_MAIN("util")
