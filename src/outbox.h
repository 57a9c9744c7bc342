/* Events out of PostgreSQL into the Redis Stream, at least once.
 *
 * Every change that others must hear about (conversion created or changed,
 * a cap reached) writes a row to event_outbox IN THE SAME TRANSACTION as the change
 * (src/convstore.c), so no event is lost when Redis is down and none is
 * sent for a change that rolled back. outbox_drain() (run by
 * `afftokctl events`) copies unpublished rows, oldest first, to the stream
 * and marks them published; a crash between XADD and the mark sends them
 * again, so consumers deduplicate by the event id.
 *
 * STREAM FORMAT (consumed by webhooks, stats and affiliate postbacks):
 *   key     afftok:events   (XADD with MAXLEN ~ OUTBOX_STREAM_MAXLEN)
 *   fields  type        "conversion.created" | "conversion.updated" |
 *                       "cap.reached" (written by src/caps.c, data: offer_id,
 *                       cap, limit, count, period)
 *           id          "evt_" + 24 hex; stable: the same event always has it
 *           tenant_id   decimal
 *           created_at  ISO 8601 UTC with milliseconds, "2026-11-25T01:58:03.008Z"
 *           data        JSON object. For conversion.* events:
 *             conversion_id (string), click_id, transaction_id, status,
 *             previous_status (null when created), reason (null, or why AffTok
 *             rejected it: cap_reached, invalid_click), event, offer_id,
 *             affiliate_id, advertiser_id, link_id (numbers), amount (string
 *             decimal or null), currency (of amount), payout, revenue (string
 *             decimals, 6 places), payout_currency (the offer's), source
 *             (postback, pixel, manual), adv_sub1..adv_sub5, click_created_at,
 *             created_at, updated_at (ISO 8601).
 * Order: within one conversion, events are published in the order their
 * transactions committed (rows are read by id in commit order in practice;
 * a consumer that needs certainty compares updated_at). */
#ifndef AFFTOK_OUTBOX_H
#define AFFTOK_OUTBOX_H

#define OUTBOX_STREAM "afftok:events"
#define OUTBOX_STREAM_MAXLEN "5000000"
#define OUTBOX_BATCH 500

struct app;
struct arena;

/* Publishes up to OUTBOX_BATCH events. Returns how many, or -1 when
 * PostgreSQL or Redis failed (nothing is marked then). */
int outbox_drain(struct app *app, struct arena *a);
/* Deletes events published more than keep_days ago; returns how many or -1. */
long outbox_prune(struct app *app, struct arena *a, int keep_days);

#endif
