/* Outgoing HTTP for webhooks and affiliate postbacks: many requests at once
 * on one libcurl multi handle, so a slow or dead target never holds up the
 * others. Every request goes through the SSRF guard (ssrf.h): the target is
 * checked and its address pinned before anything is sent; redirects are
 * never followed (a 3xx is just a status the caller sees).
 *
 * API
 *   h = httpout_new(allow_private, max_parallel, default_timeout_ms, done, arg)
 *       done(req, arg) is called once for every request added, from
 *       httpout_poll (never from httpout_add). NULL on allocation failure.
 *   httpout_add(h, req)
 *       Queues req; the caller keeps req (and the strings it points to)
 *       alive until done(req) ran. At most max_parallel transfers run at
 *       once; the rest wait in order, and their timeout starts when they
 *       start. A refused or malformed target is not sent: done() reports it.
 *       Returns 0, or -1 when out of memory (then done() is not called).
 *   httpout_poll(h, wait_ms)
 *       Drives transfers, waiting up to wait_ms for activity, and calls
 *       done() for each finished one. Returns how many are still queued or
 *       running (0 = idle).
 *   httpout_run(h, reqs, n)
 *       Adds all n and polls until every one finished. Returns 0 or -1.
 *   httpout_free_slots(h)   how many more can start without waiting.
 *   httpout_free(h)         aborts what still runs (done() not called);
 *                           accepts NULL.
 *
 * Result (filled before done() is called):
 *   result  HTTPOUT_ANSWERED: an HTTP answer arrived in time; status holds
 *           its code (any code, the caller decides what success is).
 *           HTTPOUT_REFUSED / HTTPOUT_BAD_URL: permanent, never sent.
 *           HTTPOUT_TIMEOUT / HTTPOUT_NETWORK: temporary (DNS, connect,
 *           reset, TLS), worth a retry.
 *   latency_ms  from the transfer's start to its end (or failure).
 *   head, head_len  the first HTTPOUT_HEAD_MAX bytes of the response body
 *           (NUL-terminated; more is read and dropped, up to 1 MiB).
 *   error   why, for logs and the attempts list; never holds the URL. */
#ifndef AFFTOK_HTTPOUT_H
#define AFFTOK_HTTPOUT_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPOUT_HEAD_MAX 512

enum httpout_result {
	HTTPOUT_PENDING = 0,
	HTTPOUT_ANSWERED,
	HTTPOUT_REFUSED,
	HTTPOUT_BAD_URL,
	HTTPOUT_TIMEOUT,
	HTTPOUT_NETWORK,
};

struct httpout_req {
	/* set by the caller */
	const char *url;
	const char *method; /* NULL: POST when there is a body, else GET */
	const char *body;
	size_t body_len;
	const char *const *headers; /* "Name: value" lines */
	size_t nheaders;
	long timeout_ms; /* 0: the sender's default */
	void *user;
	/* set by httpout */
	enum httpout_result result;
	int status;
	long latency_ms;
	char head[HTTPOUT_HEAD_MAX + 1];
	size_t head_len;
	char error[160];
	void *priv_; /* httpout's own */
};

struct httpout;

struct httpout *httpout_new(bool allow_private, int max_parallel, long default_timeout_ms,
                            void (*done)(struct httpout_req *req, void *arg), void *arg);
int httpout_add(struct httpout *h, struct httpout_req *req);
int httpout_poll(struct httpout *h, int wait_ms);
int httpout_run(struct httpout *h, struct httpout_req *reqs, size_t n);
int httpout_free_slots(const struct httpout *h);
void httpout_free(struct httpout *h);
const char *httpout_result_name(enum httpout_result r);
/* True for the results that are worth retrying. */
bool httpout_temporary(enum httpout_result r);

#endif
