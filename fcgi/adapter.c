/* Copies what a request needs out of the FastCGI environment into the arena,
 * so nothing from the FastCGI environment outlives FCGX_Finish_r, and
 * writes answers. */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "util.h"

/* The parameters a request reads, found in one pass over the environment
 * (FCGX_GetParam scans it from the start for each name: a dozen scans were
 * ~4 % of a click's user time). The first of a repeated name wins, as with
 * FCGX_GetParam. */
enum { P_METHOD, P_URI, P_DOC_URI, P_QUERY, P_ADDR, P_UA, P_REFERER, P_ACCEPT, P_ACCEPT_LANG,
       P_CTYPE, P_SIG, P_API_KEY, P_AUTHZ, P_CLEN, P_COUNT };
#define NAME(s) { s, sizeof s - 1 }
static const struct {
	const char *s;
	size_t len;
} names[P_COUNT] = {
	NAME("REQUEST_METHOD"), NAME("REQUEST_URI"), NAME("DOCUMENT_URI"), NAME("QUERY_STRING"),
	NAME("REMOTE_ADDR"), NAME("HTTP_USER_AGENT"), NAME("HTTP_REFERER"), NAME("HTTP_ACCEPT"),
	NAME("HTTP_ACCEPT_LANGUAGE"), NAME("CONTENT_TYPE"), NAME("HTTP_X_AFFTOK_SIGNATURE"),
	NAME("HTTP_X_API_KEY"), NAME("HTTP_AUTHORIZATION"), NAME("CONTENT_LENGTH"),
};
#undef NAME

static void find_params(FCGX_ParamArray envp, const char *v[P_COUNT])
{
	for (int i = 0; i < P_COUNT; i++)
		v[i] = NULL;
	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');
		if (eq == NULL)
			continue;
		size_t n = (size_t)(eq - e);
		for (int i = 0; i < P_COUNT; i++) {
			if (names[i].len == n && v[i] == NULL && !memcmp(e, names[i].s, n)) {
				v[i] = eq + 1;
				break;
			}
		}
	}
}

int adapter_read(FCGX_Request *fr, struct arena *a, long max_body, struct req *q, bool *too_large)
{
	const char *v[P_COUNT];
	find_params(fr->envp, v);
	memset(q, 0, sizeof *q);
	*too_large = false;
	q->arena = a;
	q->request_id = req_new_id(a);
	q->method_name = arena_strdup(a, v[P_METHOD]);
	if (q->method_name == NULL)
		q->method_name = "GET";
	q->method = http_method_from(q->method_name);
	const char *uri = v[P_URI] ? v[P_URI] : v[P_DOC_URI] ? v[P_DOC_URI] : "/";
	size_t plen = strcspn(uri, "?");
	q->path = arena_strndup(a, uri, plen);
	q->query = arena_strdup(a, v[P_QUERY]);
	if (q->query == NULL)
		q->query = uri[plen] ? arena_strdup(a, uri + plen + 1) : "";
	q->remote_addr = arena_strdup(a, v[P_ADDR]);
	q->user_agent = arena_strdup(a, v[P_UA]);
	q->referer = arena_strdup(a, v[P_REFERER]);
	q->accept = arena_strdup(a, v[P_ACCEPT]);
	q->accept_language = arena_strdup(a, v[P_ACCEPT_LANG]);
	q->content_type = arena_strdup(a, v[P_CTYPE]);
	q->signature = arena_strdup(a, v[P_SIG]);
	q->api_key = arena_strdup(a, v[P_API_KEY]);
	const char *authz = v[P_AUTHZ];
	if ((q->api_key == NULL || !q->api_key[0]) && authz && !strncasecmp(authz, "Bearer ", 7))
		q->api_key = arena_strdup(a, authz + 7);
	if (q->path == NULL || query_parse(a, q->query, strlen(q->query), &q->params, &q->nparams) != 0) {
		/* A malformed escape in the query: keep going without parameters;
		 * routes that need them answer 400. */
		q->nparams = 0;
	}
	long len = v[P_CLEN] ? atol(v[P_CLEN]) : 0;
	if (len < 0)
		len = 0;
	if (len > max_body) {
		*too_large = true;
		return 0;
	}
	if (len > 0) {
		char *body = arena_alloc(a, (size_t)len + 1);
		if (body == NULL)
			return -1;
		int got = FCGX_GetStr(body, (int)len, fr->in);
		if (got < 0)
			got = 0;
		body[got] = '\0';
		q->body = body;
		q->body_len = (size_t)got;
	}
	return q->path ? 0 : -1;
}

/* Written in pieces with FCGX_PutS: FCGX_FPrintF's own formatter was ~3 %
 * of a click's user time. */
void adapter_write(FCGX_Request *fr, const struct req *q, const struct resp *r)
{
	char code[24];
	fmt_i64(code, r->status);
	FCGX_PutS("Status: ", fr->out);
	FCGX_PutS(code, fr->out);
	FCGX_PutS(" ", fr->out);
	FCGX_PutS(http_reason(r->status), fr->out);
	FCGX_PutS("\r\n", fr->out);
	if (r->headers.len)
		FCGX_PutStr(r->headers.p, (int)r->headers.len, fr->out);
	if (r->content_type) {
		FCGX_PutS("Content-Type: ", fr->out);
		FCGX_PutS(r->content_type, fr->out);
		FCGX_PutS("\r\n", fr->out);
	}
	FCGX_PutS("X-Request-Id: ", fr->out);
	FCGX_PutS(q->request_id, fr->out);
	FCGX_PutS("\r\n\r\n", fr->out);
	if (q->method != HTTP_HEAD && r->body.len)
		FCGX_PutStr(r->body.p, (int)r->body.len, fr->out);
}
