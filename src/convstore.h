/* Recording a conversion in PostgreSQL: match the click in its partition,
 * check the key, signature, attribution window, billability and caps,
 * compute payout/revenue, then insert or change the status idempotently
 * (UNIQUE (tenant_id, offer_id, transaction_id) + ON CONFLICT), writing the
 * audit row, the outbox event (src/outbox.h) and the affiliate postback in
 * the same transaction.
 *
 * Everything conv_record() writes commits or rolls back together: either
 * inside the caller's transaction (the match job's BEGIN/COMMIT), or, with
 * own_scope, in a transaction it opens itself with the tenant set for RLS
 * (src/tenantdb.h), where BEGIN travels with the click lookup and COMMIT
 * with the insert, so a new conversion costs two round trips. */
#ifndef AFFTOK_CONVSTORE_H
#define AFFTOK_CONVSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "conversion.h"
#include "http.h"

struct app;
struct arena;

/* Who sent it. */
struct conv_actor {
	const char *source;        /* "postback" or "pixel" */
	struct auth auth;          /* scope SCOPE_NONE for a pixel */
	bool check_signature;      /* false when already checked (match job) */
	const char *signature;     /* X-AffTok-Signature, may be NULL */
	const char *signed_payload; /* raw query or body */
	size_t signed_len;
	bool may_defer;            /* a recent click not stored yet -> pending table */
	bool own_scope;            /* conv_record opens and ends the transaction (tenant
				    * scope for RLS: auth.tenant_id, or every tenant for 0),
				    * pipelining BEGIN with the lookup and COMMIT with the insert */
};

enum conv_outcome {
	CO_RECORDED,        /* 200 recorded */
	CO_DUPLICATE,       /* 200 duplicate */
	CO_UPDATED,         /* 200 updated */
	CO_PENDING_CLICK,   /* 202: kept in pending_postbacks */
	CO_BAD_PARAM,       /* 400 INVALID_PARAMETER (param, message) */
	CO_BAD_SIGNATURE,   /* 401 INVALID_SIGNATURE (message) */
	CO_FORBIDDEN,       /* 403: another advertiser's offer */
	CO_CLICK_NOT_FOUND, /* 404 */
	CO_CONFLICT,        /* 409: a transition the table refuses */
	CO_EXPIRED,         /* 410 ATTRIBUTION_EXPIRED */
	CO_UNAVAILABLE,     /* 503: the database failed */
};

struct conv_result {
	enum conv_outcome outcome;
	const char *param;   /* CO_BAD_PARAM */
	const char *message; /* for errors */
	char conversion_id[24];
	char click_id[CONV_CLICKID_MAX + 1];
	char payout[DEC_STR_MAX];
	const char *status;          /* the conversion's status now */
	const char *previous_status; /* CO_UPDATED */
	const char *reason;          /* set when AffTok rejected it (cap_reached, invalid_click) */
	long long pending_id;        /* CO_PENDING_CLICK */
};

/* How long after its time a click id that is not in clicks yet is kept
 * waiting (202) rather than answered 404. */
#define CONV_PENDING_MAX_AGE_S (6 * 3600)

int conv_record(struct app *app, struct arena *a, const struct conv_input *in,
		const struct conv_actor *who, struct conv_result *out);
/* A manual status change (PATCH /admin/conversions/<id>), inside the
 * caller's tenant scope: any change is allowed, audited with actor and
 * reason, with its event and affiliate postback. CO_CLICK_NOT_FOUND when
 * the tenant has no such conversion, CO_DUPLICATE when nothing changes. */
int conv_set_status(struct app *app, struct arena *a, long long tenant, const char *id,
		    enum conv_status to, const char *actor, const char *reason, struct conv_result *out);
/* The conversion as a JSON object text (the fields of the event data plus
 * "id"), or NULL when the tenant has none with that id. */
char *conv_json(struct app *app, struct arena *a, long long tenant, const char *id);
/* HTTP status of an outcome. */
int conv_outcome_http(enum conv_outcome o);

#endif
