/* Webhook secrets, signatures, schedule, bodies and queueing (see webhook.h). */
#include "webhook.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "db.h"
#include "util.h"

void webhook_secret_new(unsigned char key[WEBHOOK_KEY_LEN], char *out)
{
	rand_bytes(key, WEBHOOK_KEY_LEN);
	memcpy(out, "whsec_", 6);
	b64_encode(key, WEBHOOK_KEY_LEN, out + 6);
}

int webhook_secret_parse(const char *text, unsigned char *key, size_t cap)
{
	if (text == NULL || strncmp(text, "whsec_", 6) != 0)
		return -1;
	int n = b64_decode(text + 6, key, cap);
	return n >= 16 && n <= 64 ? n : -1;
}

void webhook_sign(const unsigned char *key, size_t keylen, const char *id, long long ts, const char *body,
                  size_t bodylen, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char head[160];
	int hl = snprintf(head, sizeof head, "%.100s.%lld.", id, ts);
	size_t n = (size_t)hl + bodylen;
	unsigned char *msg = malloc(n + 1);
	/* Allocation failure here leaves nothing sensible to sign with. */
	if (msg == NULL)
		abort();
	memcpy(msg, head, (size_t)hl);
	memcpy(msg + hl, body, bodylen);
	HMAC(EVP_sha256(), key, (int)keylen, msg, n, mac, &maclen);
	free(msg);
	memcpy(out, "v1,", 3);
	b64_encode(mac, maclen, out + 3);
}

int64_t webhook_backoff_ms(int n, double u)
{
	if (n < 1)
		n = 1;
	int64_t d = WEBHOOK_BACKOFF_BASE_MS;
	for (int i = 1; i < n && d < WEBHOOK_BACKOFF_CAP_MS; i++)
		d *= 4;
	if (d > WEBHOOK_BACKOFF_CAP_MS)
		d = WEBHOOK_BACKOFF_CAP_MS;
	if (u < 0)
		u = 0;
	if (u >= 1)
		u = 0.999999;
	/* Jitter spreads the retries of many deliveries that failed together
	 * (an endpoint that was down) so they do not come back as one burst. */
	return (int64_t)((double)d * (0.8 + 0.4 * u));
}

int64_t webhook_next_attempt_ms(int n, int64_t now_ms, int64_t give_up_ms, double u)
{
	if (now_ms >= give_up_ms)
		return -1;
	int64_t next = now_ms + webhook_backoff_ms(n, u);
	return next > give_up_ms ? give_up_ms : next;
}

static void json_put(void *o)
{
	json_object_put(o);
}

void webhook_iso_time(int64_t ms, char *out)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm);
	int frac = (int)(ms % 1000);
	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	out[21] = (char)('0' + frac / 10 % 10);
	out[22] = (char)('0' + frac % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

void webhook_event_id(char *out)
{
	unsigned char r[12];
	rand_bytes(r, sizeof r);
	memcpy(out, "evt_", 4);
	hex_encode(r, sizeof r, out + 4);
}

char *webhook_body(struct arena *a, const char *id, const char *type, const char *created_at,
                   long long tenant_id, const char *data)
{
	/* data is re-serialised, so what is signed is canonical compact JSON
	 * whatever spacing the producer used. */
	struct json_object *d = json_tokener_parse(data ? data : "");
	if (d == NULL)
		return NULL;
	if (arena_defer(a, json_put, d) != 0 || !json_object_is_type(d, json_type_object))
		return NULL;
	struct buf b;
	buf_init(&b, a);
	buf_puts(&b, "{\"id\":");
	buf_json_str(&b, id);
	buf_puts(&b, ",\"type\":");
	buf_json_str(&b, type);
	buf_puts(&b, ",\"created_at\":");
	buf_json_str(&b, created_at);
	buf_printf(&b, ",\"tenant_id\":\"%lld\",\"data\":", tenant_id);
	buf_puts(&b,
	         json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(&b, '}');
	return buf_ok(&b) ? b.p : NULL;
}

int webhook_enqueue(struct app *app, struct arena *a, const char *event_id, long long tenant_id,
                    const char *type, const char *body, const char *created_at, const char *stream_id,
                    long long only_endpoint, long long except_endpoint)
{
	char tenant[24], only[24], except[24];
	snprintf(tenant, sizeof tenant, "%lld", tenant_id);
	snprintf(only, sizeof only, "%lld", only_endpoint);
	snprintf(except, sizeof except, "%lld", except_endpoint);
	/* The event is stored only when some endpoint gets it: most events of
	 * a busy installation go to tenants without webhooks. */
	const char *sql =
	    "WITH target AS (SELECT e.tenant_id, e.id FROM webhook_endpoints e"
	    "   WHERE e.tenant_id = $2 AND e.enabled"
	    "   AND ($7::bigint = 0 OR e.id = $7::bigint) AND ($8::bigint = 0 OR e.id <> $8::bigint)"
	    "   AND ($7::bigint > 0 OR $8::bigint > 0 OR $3 = ANY (e.events) OR '*' = ANY (e.events))),"
	    " ev AS (INSERT INTO webhook_events (event_id, tenant_id, type, payload, created_at, stream_id)"
	    "   SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM target)"
	    "   ON CONFLICT (event_id) DO NOTHING)"
	    " INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id)"
	    " SELECT tenant_id, id, $1 FROM target ON CONFLICT (endpoint_id, event_id) DO NOTHING";
	const char *p[] = {event_id, tenant, type, body, created_at, stream_id, only, except};
	PGresult *res = db_exec(app->db, a, sql, 8, p);
	if (res == NULL)
		return -1;
	return atoi(PQcmdTuples(res));
}
