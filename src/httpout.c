/* Concurrent outgoing HTTP on a libcurl multi handle (see httpout.h). */
#include "httpout.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssrf.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif
#define BODY_READ_MAX (1024 * 1024)

struct xfer {
	struct httpout_req *req;
	CURL *easy;
	struct curl_slist *headers;
	struct ssrf_target target;
	size_t body_seen;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct xfer *next;          /* waiting or finished-early list */
	struct xfer *rprev, *rnext; /* running list */
};

struct httpout {
	CURLM *multi;
	bool allow_private;
	int max_parallel;
	long timeout_ms;
	int running;
	struct xfer *run_head;              /* started, not finished */
	struct xfer *wait_head, *wait_tail; /* queued, not started */
	struct xfer *early;                 /* finished without a transfer */
	void (*done)(struct httpout_req *, void *);
	void *arg;
};

static int global_init(void)
{
	static bool inited;
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		inited = true;
	}
	return 0;
}

const char *httpout_result_name(enum httpout_result r)
{
	switch (r) {
	case HTTPOUT_PENDING: return "pending";
	case HTTPOUT_ANSWERED: return "answered";
	case HTTPOUT_REFUSED: return "refused";
	case HTTPOUT_BAD_URL: return "bad_url";
	case HTTPOUT_TIMEOUT: return "timeout";
	case HTTPOUT_NETWORK: return "network";
	}
	return "?";
}

bool httpout_temporary(enum httpout_result r)
{
	return r == HTTPOUT_TIMEOUT || r == HTTPOUT_NETWORK;
}

struct httpout *httpout_new(bool allow_private, int max_parallel, long default_timeout_ms,
                            void (*done)(struct httpout_req *req, void *arg), void *arg)
{
	if (global_init() != 0)
		return NULL;
	struct httpout *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		return NULL;
	}
	h->allow_private = allow_private;
	h->max_parallel = max_parallel > 0 ? max_parallel : 64;
	h->timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : 15000;
	h->done = done;
	h->arg = arg;
	/* Keep a few connections per host for the next batch; no pipelining
	 * surprises: one request per connection at a time. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->max_parallel);
	return h;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * n;
	struct httpout_req *r = x->req;
	if (r->head_len < HTTPOUT_HEAD_MAX) {
		size_t take = HTTPOUT_HEAD_MAX - r->head_len;
		if (take > len)
			take = len;
		memcpy(r->head + r->head_len, p, take);
		r->head_len += take;
		r->head[r->head_len] = '\0';
	}
	x->body_seen += len;
	if (x->body_seen > BODY_READ_MAX) {
		x->too_big = true;
		return 0; /* stops the transfer; the status is already known */
	}
	return len;
}

static void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	ssrf_target_free(&x->target);
	free(x);
}

static void finish_early(struct httpout *h, struct xfer *x, enum httpout_result res, const char *why)
{
	x->req->result = res;
	snprintf(x->req->error, sizeof x->req->error, "%s", why);
	x->next = h->early;
	h->early = x;
}

/* Checks the target and builds the easy handle; on a refusal the request
 * goes to the early list. Returns 0, or -1 when out of memory. */
static int start(struct httpout *h, struct xfer *x)
{
	struct httpout_req *r = x->req;
	char why[160];
	switch (ssrf_check(r->url, h->allow_private, &x->target, why, sizeof why)) {
	case SSRF_OK: break;
	case SSRF_BAD_URL: finish_early(h, x, HTTPOUT_BAD_URL, why); return 0;
	case SSRF_BLOCKED: finish_early(h, x, HTTPOUT_REFUSED, why); return 0;
	case SSRF_DNS: finish_early(h, x, HTTPOUT_NETWORK, why); return 0;
	}
	x->easy = curl_easy_init();
	if (x->easy == NULL)
		return -1;
	for (size_t i = 0; i < r->nheaders; i++) {
		struct curl_slist *s = curl_slist_append(x->headers, r->headers[i]);
		if (s == NULL)
			return -1;
		x->headers = s;
	}
	/* No "Expect: 100-continue" round trip on bodies. */
	struct curl_slist *s = curl_slist_append(x->headers, "Expect:");
	if (s == NULL)
		return -1;
	x->headers = s;
	long timeout = r->timeout_ms > 0 ? r->timeout_ms : h->timeout_ms;
	const char *method = r->method ? r->method : (r->body ? "POST" : "GET");
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "AffTok/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		if (r->body) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		}
	}
	if (ssrf_pin(e, &x->target) != 0)
		return -1;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		return -1;
	x->rnext = h->run_head;
	if (h->run_head)
		h->run_head->rprev = x;
	h->run_head = x;
	h->running++;
	return 0;
}

/* Starts queued requests while there are free slots. */
static void start_waiting(struct httpout *h)
{
	while (h->wait_head && h->running < h->max_parallel) {
		struct xfer *x = h->wait_head;
		h->wait_head = x->next;
		if (h->wait_head == NULL)
			h->wait_tail = NULL;
		x->next = NULL;
		if (start(h, x) != 0) {
			if (x->easy) {
				curl_easy_cleanup(x->easy);
				x->easy = NULL;
			}
			finish_early(h, x, HTTPOUT_NETWORK, "out of memory");
		}
	}
}

int httpout_add(struct httpout *h, struct httpout_req *r)
{
	struct xfer *x = calloc(1, sizeof *x);
	if (x == NULL)
		return -1;
	x->req = r;
	r->result = HTTPOUT_PENDING;
	r->status = 0;
	r->latency_ms = 0;
	r->head[0] = '\0';
	r->head_len = 0;
	r->error[0] = '\0';
	r->priv_ = x;
	if (h->wait_tail)
		h->wait_tail->next = x;
	else
		h->wait_head = x;
	h->wait_tail = x;
	return 0;
}

int httpout_free_slots(const struct httpout *h)
{
	int queued = 0;
	for (const struct xfer *x = h->wait_head; x; x = x->next)
		queued++;
	int n = h->max_parallel - h->running - queued;
	return n > 0 ? n : 0;
}

static void unlink_running(struct httpout *h, struct xfer *x)
{
	if (x->rprev)
		x->rprev->rnext = x->rnext;
	else
		h->run_head = x->rnext;
	if (x->rnext)
		x->rnext->rprev = x->rprev;
	x->rprev = x->rnext = NULL;
	h->running--;
}

static void complete(struct httpout *h, struct xfer *x, CURLcode rc)
{
	struct httpout_req *r = x->req;
	long code = 0;
	curl_off_t total = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
	r->status = (int)code;
	r->latency_ms = (long)(total / 1000);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->too_big && code > 0)) {
		r->result = HTTPOUT_ANSWERED;
	} else if (x->target.refused_at_connect) {
		r->result = HTTPOUT_REFUSED;
		snprintf(r->error, sizeof r->error, "target refused at connect: %s", x->target.refused_why);
	} else {
		r->result = rc == CURLE_OPERATION_TIMEDOUT ? HTTPOUT_TIMEOUT : HTTPOUT_NETWORK;
		r->status = 0;
		snprintf(r->error, sizeof r->error, "%.150s",
		         x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	}
	curl_multi_remove_handle(h->multi, x->easy);
	unlink_running(h, x);
	r->priv_ = NULL;
	xfer_free(x);
	if (h->done)
		h->done(r, h->arg);
}

static void drain_early(struct httpout *h)
{
	while (h->early) {
		struct xfer *x = h->early;
		h->early = x->next;
		struct httpout_req *r = x->req;
		r->priv_ = NULL;
		xfer_free(x);
		if (h->done)
			h->done(r, h->arg);
	}
}

int httpout_poll(struct httpout *h, int wait_ms)
{
	start_waiting(h);
	drain_early(h);
	int still = 0;
	curl_multi_perform(h->multi, &still);
	if (wait_ms > 0) {
		/* Also when idle: curl_multi_poll then sleeps wait_ms, so a
		 * caller's idle loop (the webhooks job reading its stream) waits
		 * instead of spinning on Redis thousands of times a second. */
		curl_multi_poll(h->multi, NULL, 0, wait_ms, NULL);
		curl_multi_perform(h->multi, &still);
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		complete(h, x, m->data.result);
	}
	/* Slots freed above: start the next ones now rather than next call. */
	start_waiting(h);
	drain_early(h);
	int queued = 0;
	for (const struct xfer *x = h->wait_head; x; x = x->next)
		queued++;
	return h->running + queued;
}

int httpout_run(struct httpout *h, struct httpout_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (httpout_add(h, &reqs[i]) != 0)
			return -1;
	while (httpout_poll(h, 100) > 0)
		;
	return 0;
}

void httpout_free(struct httpout *h)
{
	if (h == NULL)
		return;
	for (struct xfer *x = h->wait_head, *n; x; x = n) {
		n = x->next;
		xfer_free(x);
	}
	for (struct xfer *x = h->early, *n; x; x = n) {
		n = x->next;
		xfer_free(x);
	}
	for (struct xfer *x = h->run_head, *n; x; x = n) {
		n = x->rnext;
		curl_multi_remove_handle(h->multi, x->easy);
		x->req->priv_ = NULL;
		xfer_free(x);
	}
	curl_multi_cleanup(h->multi);
	free(h);
}
