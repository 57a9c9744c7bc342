/* The click rules: checks, answer and journal record of GET /c/<token>.
 *
 * ADDING A CHECK (traffic quality: geo, bot, caps, routing):
 *   1. write `static void check_<name>(struct click *c)` (or an extern one in
 *      your own module, e.g. src/geo.c, declared in its header);
 *   2. add a row to `steps[]` below, in the marked place.
 * A step may enrich the click (c->country, c->asn, c->device, c->os,
 * c->browser, c->bot_score, c->route_dest, c->dest_template) and/or fail it
 * with click_fail(c, "geo_blocked" | "bot" | "cap_reached" | ...). Every step
 * runs even after an earlier one failed (so the record still gets a country
 * and a device); the first failure is the recorded reason. The step gets
 * the cached link (c->link: offer, caps, policy), the request (c->ip,
 * c->user_agent, c->referer, c->params) and c->app for per-worker state of
 * your own. A step must not wait on the network: the click path answers
 * from memory and the journal only (use per-worker caches refreshed in the
 * background, like src/linkcache.c). Per-link data that admin changes must
 * invalidate: call linkcache_bump() after the change.
 * What happens next is generic: reject policy -> 403; redirect -> 302 to
 * the fallback URL (when set and the click failed) or c->dest_template,
 * with the SPEC macros filled in. Replay and duplicate are decided at ingest
 * (cron/job-ingest.c), not here. */
#include "click.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "hmac.h"
#include "http.h"
#include "linkcache.h"
#include "macro.h"
#include "traffic.h"
#include "util.h"

/* ---- the steps ---- */

static void check_signature(struct click *c)
{
	if (!c->tok.signed_link)
		return; /* a bare code is a permanent link */
	const struct link_entry *l = c->link;
	struct sign_key cur = {l->secret, l->secret_len, 0};
	struct sign_key prev = {l->prev_secret, l->prev_len, l->prev_until_s};
	switch (sign_verify(&c->tok, &cur, l->prev_len ? &prev : NULL, l->ttl_s, c->now_ms / 1000)) {
	case SIGN_OK:
		c->nonce_ok = true;
		break;
	case SIGN_EXPIRED:
		click_fail(c, "expired");
		break;
	default:
		click_fail(c, "invalid_signature");
	}
}

static void check_offer_status(struct click *c)
{
	if (strcmp(c->link->offer_status, "active") != 0 || strcmp(c->link->link_status, "active") != 0)
		click_fail(c, "offer_paused");
}

static const struct click_check steps[] = {
	{"signature", check_signature},
	{"offer_status", check_offer_status},
	/* ---- traffic quality (src/traffic.h) ---- */
	{"geo", traffic_check_geo},
	{"bot", traffic_check_bot},
	{"caps", traffic_check_caps},
	{"route", traffic_route},
	{NULL, NULL},
};

void click_fail(struct click *c, const char *reason)
{
	if (c->reason == NULL)
		c->reason = reason;
}

const char *click_param(const struct click *c, const char *name)
{
	for (size_t i = 0; i < c->nparams; i++)
		if (!strcmp(c->params[i].name, name))
			return c->params[i].value;
	return NULL;
}

static void fingerprint(struct click *c)
{
	/* IP, user agent and link, NUL-separated so no two inputs collide. */
	struct buf b;
	buf_init(&b, c->arena);
	buf_puts(&b, c->ip ? c->ip : "");
	buf_putc(&b, '\0');
	buf_puts(&b, c->user_agent ? c->user_agent : "");
	buf_putc(&b, '\0');
	char id[24];
	buf_append(&b, id, fmt_i64(id, c->link->link_id));
	unsigned char md[32];
	if (!buf_ok(&b) || !sha256(b.p, b.len, md))
		memset(md, 0, sizeof md);
	hex_encode(md, 16, c->fingerprint);
}

/* Header values must not break the header block. */
static const char *no_crlf(struct arena *a, const char *s)
{
	if (strpbrk(s, "\r\n") == NULL)
		return s;
	char *d = arena_strdup(a, s);
	for (char *p = d; p && *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	return d;
}

int click_process(struct click *c)
{
	c->bot_score = c->bot_score ? c->bot_score : -1;
	if (c->dest_template == NULL)
		c->dest_template = c->link->url;
	for (const struct click_check *s = steps; s->name; s++)
		s->run(c);
	static const char *const subs[5] = {"sub1", "sub2", "sub3", "sub4", "sub5"};
	for (int i = 0; i < 5; i++)
		c->sub[i] = click_param(c, subs[i]);
	clickid_new(c->clickid_key, c->now_ms, c->click_id);
	fingerprint(c);

	if (c->reason && (c->link->policy_reject || c->force_reject) && !c->keep_destination) {
		c->status = 403;
		return 0;
	}
	const char *tmpl = c->reason && c->link->fallback_url && !c->keep_destination ? c->link->fallback_url
										   : c->dest_template;
	char offer[24], aff[24], ts[24];
	fmt_i64(offer, c->link->offer_id);
	fmt_i64(aff, c->link->affiliate_id);
	fmt_i64(ts, c->now_ms / 1000);
	const struct macro m[] = {
		{"click_id", c->click_id}, {"sub1", c->sub[0]}, {"sub2", c->sub[1]},
		{"sub3", c->sub[2]}, {"sub4", c->sub[3]}, {"sub5", c->sub[4]},
		{"offer_id", offer}, {"affiliate_id", aff}, {"link_code", c->link->code},
		{"country", c->country}, {"device", c->device}, {"ts", ts},
	};
	struct buf b;
	buf_init(&b, c->arena);
	macro_expand(&b, tmpl, m, sizeof m / sizeof m[0]);
	if (!buf_ok(&b))
		return -1;
	c->location = no_crlf(c->arena, b.p ? b.p : "");
	c->status = 302;
	return 0;
}

/* ---- the journal record: one line of COPY text format ---- */

/* Length of a valid UTF-8 sequence at p (up to end), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	unsigned min;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0)
		n = 2, min = 0x80;
	else if ((p[0] & 0xF0) == 0xE0)
		n = 3, min = 0x800;
	else if ((p[0] & 0xF8) == 0xF0)
		n = 4, min = 0x10000;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	unsigned v = p[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

/* Appends at most max bytes of s as valid UTF-8 (other bytes become '?',
 * so PostgreSQL never rejects the row), COPY-escaped when escape is set. */
static void clean(struct buf *b, const char *s, size_t max, bool escape)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t out = 0;
	while (p < end) {
		/* A run of plain printable ASCII goes in one piece: most of a
		 * record is that, and byte-wise appends were ~2 % of a click. */
		const unsigned char *q = p;
		while (q < end && (size_t)(q - p) < max - out && *q >= 0x20 && *q < 0x7f && *q != '\\')
			q++;
		if (q > p) {
			buf_append(b, p, (size_t)(q - p));
			out += (size_t)(q - p);
			p = q;
			continue;
		}
		size_t n = utf8_len(p, end);
		if (out + (n ? n : 1) > max)
			break;
		if (n == 0) {
			buf_putc(b, '?');
			p++, out++;
			continue;
		}
		if (n == 1 && escape) {
			switch (*p) {
			case '\\': buf_puts(b, "\\\\"); break;
			case '\t': buf_puts(b, "\\t"); break;
			case '\n': buf_puts(b, "\\n"); break;
			case '\r': buf_puts(b, "\\r"); break;
			default: buf_putc(b, (char)*p);
			}
		} else {
			buf_append(b, p, n);
		}
		p += n, out += n;
	}
}

/* A COPY text field: tab, then \N for NULL or the cleaned, escaped value. */
static void field(struct buf *b, const char *s, size_t max)
{
	buf_putc(b, '\t');
	if (s == NULL)
		buf_puts(b, "\\N");
	else
		clean(b, s, max, true);
}

static void field_ll(struct buf *b, long long v)
{
	char d[24];
	d[0] = '\t';
	buf_append(b, d, 1 + fmt_i64(d + 1, v));
}

/* n as width zero-padded digits at p; returns p + width. */
static char *digits(char *p, int n, int width)
{
	for (int i = width - 1; i >= 0; i--, n /= 10)
		p[i] = (char)('0' + n % 10);
	return p + width;
}

static const char *params_json(const struct click *c)
{
	struct buf j;
	buf_init(&j, c->arena);
	int n = 0;
	for (size_t i = 0; i < c->nparams && n < 20; i++) {
		const char *k = c->params[i].name;
		if (!strncmp(k, "sub", 3) && k[3] >= '1' && k[3] <= '5' && k[4] == '\0')
			continue;
		/* Sanitised like every field so jsonb accepts it. */
		struct buf kb, vb;
		buf_init(&kb, c->arena);
		buf_init(&vb, c->arena);
		clean(&kb, k, 64, false);
		clean(&vb, c->params[i].value ? c->params[i].value : "", 256, false);
		if (!buf_ok(&kb) || !buf_ok(&vb))
			return NULL;
		buf_putc(&j, n++ ? ',' : '{');
		buf_json_str(&j, kb.p ? kb.p : "");
		buf_putc(&j, ':');
		buf_json_str(&j, vb.p ? vb.p : "");
	}
	if (n == 0)
		return NULL;
	buf_putc(&j, '}');
	return buf_ok(&j) ? j.p : NULL;
}

void click_record(const struct click *c, struct buf *b)
{
	const struct link_entry *l = c->link;
	time_t secs = (time_t)(c->now_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	/* "YYYY-MM-DD HH:MM:SS.mmm+00" (the years this runs in have 4 digits). */
	char when[32], *w = when;
	w = digits(w, tm.tm_year + 1900, 4), *w++ = '-';
	w = digits(w, tm.tm_mon + 1, 2), *w++ = '-';
	w = digits(w, tm.tm_mday, 2), *w++ = ' ';
	w = digits(w, tm.tm_hour, 2), *w++ = ':';
	w = digits(w, tm.tm_min, 2), *w++ = ':';
	w = digits(w, tm.tm_sec, 2), *w++ = '.';
	w = digits(w, (int)(c->now_ms % 1000), 3);
	memcpy(w, "+00", 4);
	buf_puts(b, CLICK_RECORD_VERSION);
	field(b, c->click_id, 64);
	field(b, when, 64);
	field_ll(b, l->tenant_id);
	field_ll(b, l->link_id);
	field_ll(b, l->offer_id);
	field_ll(b, l->affiliate_id);
	field(b, c->ip && c->ip[0] ? c->ip : NULL, 64);
	field(b, c->user_agent, 512);
	field(b, c->referer, 1024);
	for (int i = 0; i < 5; i++)
		field(b, c->sub[i], 256);
	/* JSON escapes hold backslashes: field() escapes them for COPY. */
	field(b, params_json(c), 8192);
	field(b, c->country[0] ? c->country : NULL, 2);
	if (c->asn > 0)
		field_ll(b, c->asn);
	else
		field(b, NULL, 0);
	field(b, c->device, 32);
	field(b, c->os, 32);
	field(b, c->browser, 32);
	field(b, c->fingerprint, 64);
	field(b, c->tok.signed_link ? "t" : "f", 1);
	field(b, c->tok.nonce[0] ? c->tok.nonce : NULL, 32);
	field(b, c->nonce_ok ? "t" : "f", 1);
	field(b, c->reason ? "f" : "t", 1);
	field(b, c->reason, 32);
	if (c->bot_score >= 0)
		field_ll(b, c->bot_score);
	else
		field(b, NULL, 0);
	field(b, c->route_dest, 256);
	field(b, c->status == 302 ? c->location : NULL, 4096);
	if (c->tok.signed_link)
		field_ll(b, c->tok.ts);
	else
		field(b, NULL, 0);
}

bool click_time_form(const char *t, size_t n)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd.ddd+00";
	if (n != sizeof shape - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i])
			return false;
	return true;
}
