/* Requests, responses and the SPEC section 7 error body. */
#include "http.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "util.h"

static void json_put(void *o)
{
	json_object_put(o);
}

void resp_init(struct resp *r, struct arena *a)
{
	memset(r, 0, sizeof *r);
	r->status = 500;
	buf_init(&r->headers, a);
	buf_init(&r->body, a);
}

void resp_header(struct resp *r, const char *name, const char *fmt, ...)
{
	char val[2048];
	const char *v = val;
	va_list ap;
	va_start(ap, fmt);
	/* "%s" is most headers (Location, X-Click-Id) and a fixed value
	 * (Cache-Control) another: copied without a formatting pass, within
	 * the same bound. */
	if (!strcmp(fmt, "%s")) {
		v = va_arg(ap, const char *);
		v = v ? v : "";
	} else if (strchr(fmt, '%') == NULL) {
		v = fmt;
	} else {
		vsnprintf(val, sizeof val, fmt, ap);
	}
	va_end(ap);
	buf_puts(&r->headers, name);
	buf_puts(&r->headers, ": ");
	/* A header value never carries a line break: that would split the
	 * response. Values are cut at the size of val, as the formatted ones,
	 * so the header block stays within the web server's buffer. */
	size_t left = sizeof val - 1;
	while (left > 0 && *v) {
		size_t n = strcspn(v, "\r\n");
		n = n < left ? n : left;
		buf_append(&r->headers, v, n);
		left -= n;
		v += n;
		if (left > 0 && *v) {
			buf_putc(&r->headers, ' ');
			left--;
			v++;
		}
	}
	buf_puts(&r->headers, "\r\n");
}

void resp_error(const struct req *q, struct resp *r, int status, const char *code,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type = "application/json";
	r->body.len = 0;
	buf_puts(&r->body, "{\"error\":{\"code\":");
	buf_json_str(&r->body, code);
	buf_puts(&r->body, ",\"message\":");
	buf_json_str(&r->body, msg);
	buf_puts(&r->body, ",\"request_id\":");
	buf_json_str(&r->body, q->request_id ? q->request_id : "");
	buf_puts(&r->body, "}}\n");
}

void resp_finish(struct resp *r)
{
	static char oom_body[] =
	    "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\",\"request_id\":\"\"}}\n";
	if (buf_ok(&r->headers) && buf_ok(&r->body))
		return;
	r->status = 500;
	r->content_type = "application/json";
	r->headers.len = 0;
	r->headers.oom = false;
	/* cap 0: a later append copies into the arena instead of writing here. */
	r->body.p = oom_body;
	r->body.len = sizeof oom_body - 1;
	r->body.cap = 0;
	r->body.oom = false;
}

void resp_json(struct req *q, struct resp *r, int status, struct json_object *obj)
{
	arena_defer(q->arena, json_put, obj);
	r->status = status;
	r->content_type = "application/json";
	r->body.len = 0;
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	buf_puts(&r->body, s ? s : "null");
	buf_putc(&r->body, '\n');
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

char *url_decode(struct arena *a, const char *s, size_t len, bool plus)
{
	char *out = arena_alloc(a, len + 1);
	if (out == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = hex_digit(s[i + 1])) < 0 || (lo = hex_digit(s[i + 2])) < 0)
				return NULL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == '\0')
			return NULL;
		out[j++] = c;
	}
	out[j] = '\0';
	return out;
}

int query_parse(struct arena *a, const char *s, size_t len, struct param **out, size_t *n)
{
	size_t count = *n, pairs = 1;
	for (size_t i = 0; i < len; i++)
		pairs += s[i] == '&';
	struct param *p = arena_alloc(a, (count + pairs) * sizeof *p);
	if (p == NULL)
		return -1;
	if (count)
		memcpy(p, *out, count * sizeof *p);
	const char *end = s + len;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *stop = amp ? amp : end;
		if (stop > s) {
			const char *eq = memchr(s, '=', (size_t)(stop - s));
			const char *kend = eq ? eq : stop;
			char *k = url_decode(a, s, (size_t)(kend - s), true);
			char *v = eq ? url_decode(a, eq + 1, (size_t)(stop - eq - 1), true) : arena_strdup(a, "");
			if (k == NULL || v == NULL)
				return -1;
			p[count].name = k;
			p[count].value = v;
			count++;
		}
		s = amp ? amp + 1 : end;
	}
	*out = p;
	*n = count;
	return 0;
}

const char *req_param(const struct req *q, const char *name)
{
	for (size_t i = 0; i < q->nparams; i++)
		if (!strcmp(q->params[i].name, name))
			return q->params[i].value;
	return NULL;
}

enum http_method http_method_from(const char *name)
{
	static const struct { const char *n; enum http_method m; } t[] = {
		{"GET", HTTP_GET}, {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST}, {"PUT", HTTP_PUT},
		{"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (name && !strcmp(name, t[i].n))
			return t[i].m;
	return 0;
}

static bool is_type(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct && !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int req_parse_body(struct req *q)
{
	if (q->body_len == 0)
		return 0;
	if (is_type(q->content_type, "application/json")) {
		struct json_tokener *tok = json_tokener_new_ex(32);
		if (tok == NULL)
			return -1;
		struct json_object *o = json_tokener_parse_ex(tok, q->body, (int)q->body_len);
		bool complete = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
				json_tokener_get_parse_end(tok) == q->body_len;
		json_tokener_free(tok);
		if (!complete) {
			if (o)
				json_object_put(o);
			return -1;
		}
		arena_defer(q->arena, json_put, o);
		q->json = o;
		return 0;
	}
	if (is_type(q->content_type, "application/x-www-form-urlencoded"))
		return query_parse(q->arena, q->body, q->body_len, &q->params, &q->nparams);
	return 0;
}

const char *req_new_id(struct arena *a)
{
	unsigned char raw[8];
	char *hex = arena_alloc(a, 17);
	if (hex == NULL)
		return "-";
	rand_bytes(raw, sizeof raw);
	hex_encode(raw, sizeof raw, hex);
	return hex;
}
