/* Copies what a request needs out of the FastCGI environment into the arena,
 * so nothing from FCGX_GetParam outlives FCGX_Finish_r, and writes answers. */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"

static const char *env(FCGX_Request *fr, struct arena *a, const char *name)
{
	const char *v = FCGX_GetParam(name, fr->envp);
	return v ? arena_strdup(a, v) : NULL;
}

int adapter_read(FCGX_Request *fr, struct arena *a, long max_body, struct req *q, bool *too_large)
{
	memset(q, 0, sizeof *q);
	*too_large = false;
	q->arena = a;
	q->request_id = req_new_id(a);
	q->method_name = env(fr, a, "REQUEST_METHOD");
	if (q->method_name == NULL)
		q->method_name = "GET";
	q->method = http_method_from(q->method_name);
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	if (uri == NULL)
		uri = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	if (uri == NULL)
		uri = "/";
	size_t plen = strcspn(uri, "?");
	q->path = arena_strndup(a, uri, plen);
	q->query = env(fr, a, "QUERY_STRING");
	if (q->query == NULL)
		q->query = uri[plen] ? arena_strdup(a, uri + plen + 1) : "";
	q->remote_addr = env(fr, a, "REMOTE_ADDR");
	q->user_agent = env(fr, a, "HTTP_USER_AGENT");
	q->referer = env(fr, a, "HTTP_REFERER");
	q->accept = env(fr, a, "HTTP_ACCEPT");
	q->accept_language = env(fr, a, "HTTP_ACCEPT_LANGUAGE");
	q->content_type = env(fr, a, "CONTENT_TYPE");
	q->signature = env(fr, a, "HTTP_X_AFFTOK_SIGNATURE");
	q->api_key = env(fr, a, "HTTP_X_API_KEY");
	const char *authz = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	if ((q->api_key == NULL || !q->api_key[0]) && authz && !strncasecmp(authz, "Bearer ", 7))
		q->api_key = arena_strdup(a, authz + 7);
	if (q->path == NULL || query_parse(a, q->query, strlen(q->query), &q->params, &q->nparams) != 0) {
		/* A malformed escape in the query: keep going without parameters;
		 * routes that need them answer 400. */
		q->nparams = 0;
	}
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	long len = cl ? atol(cl) : 0;
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

void adapter_write(FCGX_Request *fr, const struct req *q, const struct resp *r)
{
	FCGX_FPrintF(fr->out, "Status: %d %s\r\n", r->status, http_reason(r->status));
	if (r->headers.len)
		FCGX_PutStr(r->headers.p, (int)r->headers.len, fr->out);
	if (r->content_type)
		FCGX_FPrintF(fr->out, "Content-Type: %s\r\n", r->content_type);
	FCGX_FPrintF(fr->out, "X-Request-Id: %s\r\n\r\n", q->request_id);
	if (q->method != HTTP_HEAD && r->body.len)
		FCGX_PutStr(r->body.p, (int)r->body.len, fr->out);
}
