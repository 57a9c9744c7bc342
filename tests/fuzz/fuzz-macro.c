/* Fuzz target: destination macros (macro_expand). Input: the template, then
 * the values of the known macros separated by NUL bytes. The result equals
 * a plain reference expansion, and nothing from a value reaches it
 * unencoded: a byte the template does not hold is always an RFC 3986
 * unreserved character or a %XX escape (no header or URL injection through
 * the Location of a click). */
#include "fuzz.h"

#include "arena.h"
#include "buf.h"
#include "macro.h"

static const char *names[] = {"click_id", "sub1", "sub2", "sub3", "sub4", "sub5", "offer_id", "sub1"};
#define NV (sizeof names / sizeof names[0])

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '~';
}

/* The reference: the same rules written the slow, obvious way. */
static void reference(struct buf *out, const char *t, const struct macro *v, size_t n)
{
	size_t len = strlen(t);
	for (size_t i = 0; i < len;) {
		if (t[i] != '{') {
			buf_putc(out, t[i++]);
			continue;
		}
		size_t j = i + 1;
		while (j < len && t[j] != '}' && t[j] != '{')
			j++;
		if (j >= len || t[j] == '{') {
			buf_putc(out, t[i++]);
			continue;
		}
		const struct macro *m = NULL;
		for (size_t k = 0; k < n; k++)
			if (strlen(v[k].name) == j - i - 1 && !strncmp(v[k].name, t + i + 1, j - i - 1))
				m = &v[k]; /* the last of a repeated name wins */
		if (m)
			buf_urlencode(out, m->value ? m->value : "");
		else
			buf_append(out, t + i, j - i + 1);
		i = j + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tmpl = fuzz_take(&data, &size);
	struct macro vals[NV];
	char *owned[NV];
	for (size_t i = 0; i < NV; i++) {
		owned[i] = size ? fuzz_take(&data, &size) : NULL;
		vals[i] = (struct macro){names[i], owned[i]};
	}
	struct arena *a = arena_new(1024);
	FUZZ_CHECK(a != NULL);
	struct buf got, want;
	buf_init(&got, a);
	buf_init(&want, a);
	macro_expand(&got, tmpl, vals, NV);
	reference(&want, tmpl, vals, NV);
	FUZZ_CHECK(buf_ok(&got) && buf_ok(&want));
	FUZZ_CHECK(got.len == want.len && (got.len == 0 || !memcmp(got.p, want.p, got.len)));
	for (size_t i = 0; i < got.len; i++) {
		unsigned char c = (unsigned char)got.p[i];
		FUZZ_CHECK(strchr(tmpl, c) != NULL || unreserved(c) || c == '%' ||
			   (c >= 'A' && c <= 'F'));
	}
	arena_free(a);
	free(tmpl);
	for (size_t i = 0; i < NV; i++)
		free(owned[i]);
	return 0;
}
