/* Click ids: 28 characters of [0-9A-Za-z]:
 *   8  creation time, Unix milliseconds in base62 (fixed width, so ids sort by time)
 *   14 random base62 (about 83 bits: unique across workers and hosts without coordination)
 *   6  base62 of an HMAC over the first 22 (forged ids are refused without a lookup)
 * The time tells a postback which daily partition holds the click. */
#ifndef AFFTOK_CLICKID_H
#define AFFTOK_CLICKID_H

#include <stdbool.h>
#include <stdint.h>

#define CLICKID_LEN 28

/* out: CLICKID_LEN + 1 bytes. */
void clickid_new(const unsigned char key[32], int64_t ms, char *out);
/* True when id is well-formed and its MAC verifies; *ms gets its time. */
bool clickid_parse(const unsigned char key[32], const char *id, int64_t *ms);

#endif
