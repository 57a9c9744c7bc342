/* Geo: country (and ASN when a database has it) of a client address, from
 * MaxMind-format databases opened once per process (MMDB_MMAP, so the pages
 * are shared by every worker). Without a database geo is off: lookups
 * answer "unknown" and a click never fails because of it. */
#ifndef AFFTOK_GEO_H
#define AFFTOK_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct geo;

struct geo_result {
	char country[3]; /* ISO 3166-1 alpha-2, "" when unknown */
	uint32_t asn;    /* 0 when unknown */
};

/* Opens the country database and, when asn_db is non-empty, an ASN
 * database (either may also carry the other's fields). NULL when
 * country_db is empty or cannot be opened (then err says why, or is ""
 * when geo is simply not configured). */
struct geo *geo_open(const char *country_db, const char *asn_db, char *err, size_t errlen);
void geo_close(struct geo *g);

/* Looks up a numeric IPv4/IPv6 address. Fills out (zeroed first); false
 * when nothing is known (geo off, bad address, address not in the data). */
bool geo_lookup(const struct geo *g, const char *ip, struct geo_result *out);

/* The process-wide handle, opened on first use from the [click] keys;
 * NULL when geo is off. */
const struct geo *geo_shared(const struct config *cfg);
/* For /admin/health: whether geo is on, the database path or the reason it
 * is off, and the database build time (Unix seconds, 0 when off). */
bool geo_status(const struct config *cfg, const char **detail, uint64_t *build_epoch);

/* True for two upper-case ASCII letters (the shape of an ISO 3166 code). */
bool geo_country_code_valid(const char *cc);
/* True for an assigned ISO 3166-1 alpha-2 code (and XK). */
bool geo_country_code_known(const char *cc);

#endif
