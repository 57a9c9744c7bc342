/* Crawler user-agent matcher: literal-indexed PCRE2 patterns (see botua.h). */
#include "botua.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <json-c/json.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generic signs of automated clients that a maintained list may lack. Kept
 * short and specific: "bot" alone would hit phone makers (CUBOT). One word
 * per pattern, so each is indexed by its (lower-case) literal. */
static const char *const builtin[] = {
    "(?i)crawler",
    "(?i)spider",
    "(?i)scraper",
    "(?i)headlesschrome",
    "(?i)phantomjs",
    "(?i)slimerjs",
    "(?i)puppeteer",
    "(?i)playwright",
    "(?i)bot[/_-]v?\\d",
    "(?i)compatible;[^)]*bot",
    "\\+https?://", /* crawlers name their info page; browsers never do */
    "(?i)^(?:curl|wget|python|go-http-client|java|okhttp|apache-httpclient|libwww-perl|axios|node-fetch|"
    "scrapy)",
};

/* Longest user agent whose lower-case copy is indexed; longer ones run the
 * case-insensitive patterns directly. */
#define CI_MAX 2048

#define NBUCKETS 4096
#define GRAM 3

struct lit {
	uint32_t gram; /* the literal's first GRAM bytes */
	uint32_t pat;
	const char *s;
	size_t len;
	bool ci; /* case-insensitive: s is lower case, matched against a lower-case copy */
	struct lit *next;
};

struct pat {
	char *src;
	pcre2_code *re;
};

struct botua {
	struct pat *pats;
	size_t npats, cappats;
	struct lit *buckets[NBUCKETS];
	struct lit *cibuckets[NBUCKETS];
	size_t nci;
	/* Bit (b0 | b1 << 8) set when a literal starts with bytes b0 b1: one
	 * L1 load rules out most positions before any hashing. */
	uint64_t pre[1024], cipre[1024];
	struct lit *lits; /* one block for all literals */
	size_t nlits, caplits;
	char *litbase;        /* the literals' bytes */
	pcre2_code *residual; /* alternation of the unindexed patterns */
	int *residual_map;    /* the unindexed patterns' indexes */
	size_t nresidual;
	pcre2_match_data *md;
};

static uint32_t gram_at(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static size_t bucket_of(uint32_t g)
{
	return (g * 2654435761u) >> 20 & (NBUCKETS - 1);
}

/* Skips a [...] class starting at p[i] == '['; returns the index after ']'. */
static size_t skip_class(const char *p, size_t i, size_t n)
{
	i++;
	if (i < n && p[i] == '^')
		i++;
	if (i < n && p[i] == ']')
		i++;
	while (i < n && p[i] != ']')
		i += p[i] == '\\' && i + 1 < n ? 2 : 1;
	return i < n ? i + 1 : n;
}

/* Skips a (...) group starting at p[i] == '('; returns the index after ')'. */
static size_t skip_group(const char *p, size_t i, size_t n)
{
	int depth = 0;
	while (i < n) {
		if (p[i] == '\\') {
			i += 2;
			continue;
		}
		if (p[i] == '[') {
			i = skip_class(p, i, n);
			continue;
		}
		if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && --depth == 0)
			return i + 1;
		i++;
	}
	return n;
}

/* The longest run of characters every match of p[0..n) must contain
 * (case-sensitively), written to out; returns its length (0 = none). Any
 * construct we do not follow ends the current run, which keeps the answer
 * correct, only shorter. */
static size_t required_literal(const char *p, size_t n, char *out, size_t cap)
{
	char cur[256];
	size_t cl = 0, best = 0;
	out[0] = '\0';
#define FLUSH()                                                                                              \
	do {                                                                                                 \
		if (cl > best && cl < cap) {                                                                 \
			memcpy(out, cur, cl);                                                                \
			out[cl] = '\0';                                                                      \
			best = cl;                                                                           \
		}                                                                                            \
		cl = 0;                                                                                      \
	} while (0)
	size_t i = 0;
	while (i < n) {
		char c = p[i];
		if (c == '\\' && i + 1 < n) {
			char e = p[i + 1];
			if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
				FLUSH();
				i += 2;
				continue;
			}
			if (cl < sizeof cur)
				cur[cl++] = e;
			i += 2;
		} else if (c == '[') {
			FLUSH();
			i = skip_class(p, i, n);
		} else if (c == '(') {
			FLUSH();
			i = skip_group(p, i, n);
		} else if (c == '?' || c == '*' || c == '{') {
			/* The previous atom may be absent: drop it from the run. */
			if (cl > 0)
				cl--;
			FLUSH();
			i++;
			if (c == '{')
				while (i < n && p[i - 1] != '}')
					i++;
		} else if (c == '+') {
			FLUSH();
			i++;
		} else if (c == '.' || c == '^' || c == '$' || c == ')' || c == ']' || c == '}') {
			FLUSH();
			i++;
		} else {
			if (cl < sizeof cur)
				cur[cl++] = c;
			i++;
		}
	}
	FLUSH();
#undef FLUSH
	/* A quantifier right after the run could make its last byte optional;
	 * handled above by dropping it before flushing. */
	return best;
}

static int add_pattern(struct botua *m, const char *src, char *err, size_t errlen)
{
	if (m->npats == m->cappats) {
		size_t nc = m->cappats ? 2 * m->cappats : 256;
		struct pat *np = realloc(m->pats, nc * sizeof *np);
		if (np == NULL)
			goto oom;
		m->pats = np;
		m->cappats = nc;
	}
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
	if (re == NULL) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(ec, msg, sizeof msg);
		snprintf(err, errlen, "crawler pattern '%s': %s at %zu", src, (char *)msg, (size_t)eo);
		return -1;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
	m->pats[m->npats].src = strdup(src);
	m->pats[m->npats].re = re;
	if (m->pats[m->npats].src == NULL) {
		pcre2_code_free(re);
		goto oom;
	}
	m->npats++;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Splits p at top-level '|' and finds each alternative's literal; true
 * (with the literals appended to m->lits) when every alternative has one of
 * at least GRAM bytes. Case-insensitive patterns are never indexed. */
static bool index_pattern(struct botua *m, uint32_t idx, const char *p, char **litmem, size_t *litfree)
{
	size_t n = strlen(p);
	/* "(?i)" as a prefix only: the whole pattern is case-insensitive. */
	bool ci = !strncmp(p, "(?i)", 4);
	if (ci)
		p += 4, n -= 4;
	if (strstr(p, "(?"))
		return false;
	size_t start = 0, first = m->nlits;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] == '\\') {
			i++;
			continue;
		}
		if (i < n && p[i] == '[') {
			i = skip_class(p, i, n) - 1;
			continue;
		}
		if (i < n && p[i] == '(') {
			i = skip_group(p, i, n) - 1;
			continue;
		}
		if (i < n && p[i] != '|')
			continue;
		char lit[256];
		size_t len = required_literal(p + start, i - start, lit, sizeof lit);
		if (len < GRAM || len + 1 > *litfree || m->nlits == m->caplits) {
			m->nlits = first;
			return false;
		}
		char *s = *litmem;
		for (size_t k = 0; k <= len; k++)
			s[k] = ci && lit[k] >= 'A' && lit[k] <= 'Z' ? (char)(lit[k] + 32) : lit[k];
		*litmem += len + 1;
		*litfree -= len + 1;
		m->lits[m->nlits++] = (struct lit){gram_at((const unsigned char *)s), idx, s, len, ci, NULL};
		start = i + 1;
	}
	return true;
}

static int build(struct botua *m, char *err, size_t errlen)
{
	/* Literal storage: never more than the pattern text itself. */
	size_t total = 0;
	for (size_t i = 0; i < m->npats; i++)
		total += strlen(m->pats[i].src) + 1;
	m->caplits = 4 * m->npats + 16;
	m->lits = calloc(m->caplits, sizeof *m->lits);
	char *litmem = malloc(total + 1);
	if (m->lits == NULL || litmem == NULL) {
		free(litmem);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *litbase = litmem;
	m->litbase = litbase;
	size_t litfree = total + 1;
	struct buf_s {
		char *p;
		size_t len, cap;
	} alt = {NULL, 0, 0};
	m->residual_map = calloc(m->npats + 1, sizeof *m->residual_map);
	if (m->residual_map == NULL)
		goto oom;
	for (size_t i = 0; i < m->npats; i++) {
		if (index_pattern(m, (uint32_t)i, m->pats[i].src, &litmem, &litfree))
			continue;
		size_t need = strlen(m->pats[i].src) + 8;
		if (alt.len + need + 1 > alt.cap) {
			size_t nc = (alt.cap + need + 1) * 2;
			char *np = realloc(alt.p, nc);
			if (np == NULL)
				goto oom;
			alt.p = np;
			alt.cap = nc;
		}
		alt.len +=
		    (size_t)sprintf(alt.p + alt.len, "%s(?:%s)", m->nresidual ? "|" : "", m->pats[i].src);
		m->residual_map[m->nresidual++] = (int)i;
	}
	for (size_t i = 0; i < m->nlits; i++) {
		size_t b = bucket_of(m->lits[i].gram);
		struct lit **head = m->lits[i].ci ? &m->cibuckets[b] : &m->buckets[b];
		uint32_t pair = m->lits[i].gram & 0xffff;
		(m->lits[i].ci ? m->cipre : m->pre)[pair >> 6] |= 1ull << (pair & 63);
		m->lits[i].next = *head;
		*head = &m->lits[i];
		m->nci += m->lits[i].ci;
	}
	if (m->nresidual) {
		int ec;
		PCRE2_SIZE eo;
		m->residual = pcre2_compile((PCRE2_SPTR)alt.p, alt.len, 0, &ec, &eo, NULL);
		if (m->residual == NULL) {
			snprintf(err, errlen,
			         "crawler patterns: cannot join the unindexed patterns (error %d)", ec);
			free(alt.p);
			return -1;
		}
		pcre2_jit_compile(m->residual, PCRE2_JIT_COMPLETE);
	}
	free(alt.p);
	m->md = pcre2_match_data_create(1, NULL);
	if (m->md == NULL)
		goto oom;
	return 0;
oom:
	free(alt.p);
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int load_json(struct botua *m, const char *path, char *err, size_t errlen)
{
	struct json_object *root = json_object_from_file(path);
	if (root == NULL || !json_object_is_type(root, json_type_array)) {
		snprintf(err, errlen, "%s: not a readable JSON array of crawler patterns", path);
		json_object_put(root);
		return -1;
	}
	int rc = 0;
	size_t n = json_object_array_length(root);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *e = json_object_array_get_idx(root, i), *pat;
		if (!json_object_object_get_ex(e, "pattern", &pat) ||
		    !json_object_is_type(pat, json_type_string))
			continue;
		rc = add_pattern(m, json_object_get_string(pat), err, errlen);
	}
	json_object_put(root);
	return rc;
}

struct botua *botua_new(const char *path, char *err, size_t errlen)
{
	struct botua *m = calloc(1, sizeof *m);
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	err[0] = '\0';
	if (path && path[0] && load_json(m, path, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
		if (add_pattern(m, builtin[i], err, errlen) != 0)
			goto fail;
	if (build(m, err, errlen) != 0)
		goto fail;
	return m;
fail:
	botua_free(m);
	return NULL;
}

void botua_free(struct botua *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->npats; i++) {
		free(m->pats[i].src);
		pcre2_code_free(m->pats[i].re);
	}
	free(m->pats);
	free(m->lits);
	free(m->litbase);
	free(m->residual_map);
	pcre2_code_free(m->residual);
	pcre2_match_data_free(m->md);
	free(m);
}

static bool run(const pcre2_code *re, pcre2_match_data *md, const char *ua, size_t len)
{
	return pcre2_match(re, (PCRE2_SPTR)ua, len, 0, 0, md, NULL) >= 0;
}

/* Patterns are compiled in byte mode (they are ASCII), so any bytes a
 * client sends are safe to match. */
int botua_match(const struct botua *m, const char *ua, size_t len)
{
	if (m == NULL || ua == NULL)
		return -1;
	const unsigned char *u = (const unsigned char *)ua;
	for (size_t i = 0; i + GRAM <= len; i++) {
		uint32_t pair = (uint32_t)u[i] | (uint32_t)u[i + 1] << 8;
		if (!(m->pre[pair >> 6] >> (pair & 63) & 1))
			continue;
		uint32_t g = gram_at(u + i);
		for (const struct lit *l = m->buckets[bucket_of(g)]; l; l = l->next) {
			if (l->gram != g || l->len > len - i || memcmp(u + i, l->s, l->len) != 0)
				continue;
			if (run(m->pats[l->pat].re, m->md, ua, len))
				return (int)l->pat;
		}
	}
	if (m->nci && len > CI_MAX) {
		/* Too long to copy: try the case-insensitive patterns directly. */
		for (size_t k = 0; k < m->nlits; k++)
			if (m->lits[k].ci && run(m->pats[m->lits[k].pat].re, m->md, ua, len))
				return (int)m->lits[k].pat;
	} else if (m->nci) {
		unsigned char low[CI_MAX];
		for (size_t i = 0; i < len; i++)
			low[i] = u[i] >= 'A' && u[i] <= 'Z' ? (unsigned char)(u[i] + 32) : u[i];
		for (size_t i = 0; i + GRAM <= len; i++) {
			uint32_t pair = (uint32_t)low[i] | (uint32_t)low[i + 1] << 8;
			if (!(m->cipre[pair >> 6] >> (pair & 63) & 1))
				continue;
			uint32_t g = gram_at(low + i);
			for (const struct lit *l = m->cibuckets[bucket_of(g)]; l; l = l->next) {
				if (l->gram != g || l->len > len - i || memcmp(low + i, l->s, l->len) != 0)
					continue;
				if (run(m->pats[l->pat].re, m->md, ua, len))
					return (int)l->pat;
			}
		}
	}
	/* One alternation says whether any unindexed pattern matches; only
	 * then are they tried one by one to name it. */
	if (m->residual && run(m->residual, m->md, ua, len)) {
		for (size_t k = 0; k < m->nresidual; k++)
			if (run(m->pats[m->residual_map[k]].re, m->md, ua, len))
				return m->residual_map[k];
	}
	return -1;
}

const char *botua_pattern(const struct botua *m, int idx)
{
	return m && idx >= 0 && (size_t)idx < m->npats ? m->pats[idx].src : NULL;
}

size_t botua_count(const struct botua *m, size_t *residual)
{
	*residual = m ? m->nresidual : 0;
	return m ? m->npats : 0;
}
