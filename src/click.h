/* The click rules (SPEC section 2), free of FastCGI so they can be unit
 * tested: validate a token against a cached link, run the checks, choose
 * the answer (302 to the destination or fallback, 403 for the reject policy),
 * and serialise the journal record. See click.c for how to add a check. */
#ifndef AFFTOK_CLICK_H
#define AFFTOK_CLICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clickid.h"
#include "sign.h"

struct app;
struct arena;
struct buf;
struct param;
struct link_entry;

/* Journal record format version (first field of every record). Version 2
 * added the signed token's ts as the last field (a nonce is claimed per
 * link and ts); the ingest still reads version 1 records. */
#define CLICK_RECORD_VERSION "2"
#define CLICK_RECORD_FIELDS 31
#define CLICK_RECORD_FIELDS_V1 30

struct click {
	/* ---- input, set by the caller ---- */
	struct app *app;      /* may be NULL in unit tests */
	struct arena *arena;
	const struct link_entry *link;
	struct token tok;     /* parsed token (sign_parse) */
	const char *ip, *user_agent, *referer, *accept; /* may be NULL */
	const char *accept_language; /* may be NULL (a bot signal, src/bot.h) */
	const struct param *params; /* query parameters (sub1..sub5 and others) */
	size_t nparams;
	int64_t now_ms;       /* time of the click */
	const unsigned char *clickid_key; /* 32 bytes (app->mk.clickid) */

	/* ---- filled by the checks (see the step table in click.c) ---- */
	const char *reason;   /* first failed check; NULL = billable */
	bool nonce_ok;        /* signature valid and not expired: the nonce counts at ingest */
	char country[3];      /* ISO 3166 alpha-2 or "" */
	long asn;             /* 0 = unknown */
	const char *device, *os, *browser; /* NULL = unknown */
	int bot_score;        /* -1 = not scored */
	const char *route_dest; /* chosen route destination label, NULL = none */
	const char *bot_reason; /* strongest bot signal (src/bot.h) when the click is a bot */
	bool keep_destination; /* failed, but still goes to dest_template (bot_action redirect) */
	bool force_reject;     /* failed and answered 403 whatever the link policy (bot_action reject) */
	const char *dest_template; /* where to send the visitor; starts as the offer URL */

	/* ---- outcome, filled by click_process ---- */
	char click_id[CLICKID_LEN + 1];
	char fingerprint[33];
	const char *sub[5];
	int status;           /* 302 or 403 */
	const char *location; /* for 302 */
};

/* One step of the pipeline: enriches the click and/or fails it with
 * click_fail(). Steps run in table order, all of them, even after a failure
 * (later steps still fill country, device and the like for the record). */
struct click_check {
	const char *name;
	void (*run)(struct click *c);
};

/* Sets the click's reason unless an earlier step already failed it. */
void click_fail(struct click *c, const char *reason);
/* Runs every step, makes the click id and fingerprint, and decides the
 * answer. Returns 0, or -1 on allocation failure. */
int click_process(struct click *c);
/* The journal record of a processed click (COPY text format, one line
 * without the newline) appended to out. */
void click_record(const struct click *c, struct buf *out);
/* Whether t (n bytes) has the form click_record writes created_at in,
 * "YYYY-MM-DD HH:MM:SS.mmm+00" (digits where the form has them). */
bool click_time_form(const char *t, size_t n);
/* First value of a query parameter, or NULL. */
const char *click_param(const struct click *c, const char *name);

#endif
