/* Webhooks (SPEC §5): endpoint secrets, Standard Webhooks signing, the
 * retry schedule, event bodies, and queueing an event for delivery.
 *
 * Secrets. An endpoint secret is "whsec_" + base64 of 32 random bytes; the
 * key that signs is those bytes (what the Standard Webhooks libraries do
 * with the same string). Only the bytes are stored, encrypted under the
 * master key (secret_encrypt); the string is shown once, at creation or
 * rotation.
 *
 * Signing. For each attempt, with ts = the attempt's Unix seconds:
 *   webhook-id:        the event id (stable across retries)
 *   webhook-timestamp: ts
 *   webhook-signature: "v1,<base64 HMAC-SHA256(key, id.ts.body)>", and during
 *                      a rotation's overlap a second " v1,..." with the old key.
 *
 * Schedule. Attempt 1 is immediate; after failed attempt n (n >= 1) the next
 * comes WEBHOOK_BACKOFF_BASE_MS * 4^(n-1) later (5 s, 20 s, 80 s, 5 min,
 * 21 min, 85 min, 5.7 h, then every 12 h), each delay scaled by a jitter
 * factor in [0.8, 1.2). Retries stop at the give-up time (first attempt +
 * [webhooks] retry_hours, 72 by default): the last try is made at that time,
 * after it the delivery is dead (replayable through the admin API). */
#ifndef AFFTOK_WEBHOOK_H
#define AFFTOK_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct arena;

#define WEBHOOK_KEY_LEN 32
#define WEBHOOK_SECRET_LEN 50 /* "whsec_" + 44 base64 characters */
#define WEBHOOK_SIG_LEN 47    /* "v1," + 44 base64 characters */
#define WEBHOOK_BACKOFF_BASE_MS 5000LL
#define WEBHOOK_BACKOFF_CAP_MS (12LL * 3600 * 1000)

/* A fresh key and its "whsec_" text (out: WEBHOOK_SECRET_LEN + 1 bytes). */
void webhook_secret_new(unsigned char key[WEBHOOK_KEY_LEN], char *out);
/* Decodes a "whsec_" secret (any key length 16..64). Returns the key
 * length, or -1 when the text is not such a secret. */
int webhook_secret_parse(const char *text, unsigned char *key, size_t cap);
/* "v1,<base64>" into out (WEBHOOK_SIG_LEN + 1 bytes). */
void webhook_sign(const unsigned char *key, size_t keylen, const char *id, long long ts, const char *body,
                  size_t bodylen, char *out);

/* Delay after failed attempt n (>= 1); u in [0, 1) picks the jitter. */
int64_t webhook_backoff_ms(int n, double u);
/* When to try again after failed attempt n made at now_ms, given the
 * give-up time; -1 when the delivery is now dead. */
int64_t webhook_next_attempt_ms(int n, int64_t now_ms, int64_t give_up_ms, double u);

/* The body {"id","type","created_at","tenant_id","data"} for an event; data
 * must be a JSON object text. created_at: ISO 8601 UTC. NULL when data is
 * not a JSON object (a poison event) or on allocation failure. */
char *webhook_body(struct arena *a, const char *id, const char *type, const char *created_at,
                   long long tenant_id, const char *data);
/* ISO 8601 UTC with milliseconds of a Unix time in ms (out: 25 bytes). */
void webhook_iso_time(int64_t ms, char *out);
/* A new event id: "evt_" + 24 hex characters (out: 29 bytes). */
void webhook_event_id(char *out);

/* Stores an event (once: a known event id is not stored again; not at all
 * when no endpoint gets it) and one pending delivery per enabled endpoint
 * of the tenant whose event filter matches; only_endpoint > 0 restricts to that endpoint (webhook.test),
 * except_endpoint > 0 sends to every other enabled endpoint regardless of
 * filter (the notice that an endpoint was disabled). Runs as one statement.
 * Returns the number of deliveries created, or -1 on a database error. */
int webhook_enqueue(struct app *app, struct arena *a, const char *event_id, long long tenant_id,
                    const char *type, const char *body, const char *created_at, const char *stream_id,
                    long long only_endpoint, long long except_endpoint);

#endif
