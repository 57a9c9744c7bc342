/* Country and ASN lookups with libmaxminddb. The country may be stored as a
 * top-level country_code (ip-location-db) or as country.iso_code /
 * registered_country.iso_code (MaxMind GeoIP2/GeoLite2); the ASN as
 * autonomous_system_number. */
#include "geo.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"

struct geo {
	MMDB_s country;
	MMDB_s asn;
	bool have_asn;
};

bool geo_country_code_valid(const char *cc)
{
	return cc && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z' && cc[2] == '\0';
}

/* ISO 3166-1 alpha-2, the 249 officially assigned codes, sorted, plus XK
 * (Kosovo: user-assigned, but what geo databases report). */
static const char iso3166[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCI"
    "CKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQ"
    "GRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLS"
    "LTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPG"
    "PHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTK"
    "TLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW"
    "XK";

bool geo_country_code_known(const char *cc)
{
	if (!geo_country_code_valid(cc))
		return false;
	for (const char *p = iso3166; *p; p += 2)
		if (p[0] == cc[0] && p[1] == cc[1])
			return true;
	return false;
}

struct geo *geo_open(const char *country_db, const char *asn_db, char *err, size_t errlen)
{
	err[0] = '\0';
	if (country_db == NULL || country_db[0] == '\0')
		return NULL;
	struct geo *g = calloc(1, sizeof *g);
	if (g == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int rc = MMDB_open(country_db, MMDB_MODE_MMAP, &g->country);
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: %s", country_db, MMDB_strerror(rc));
		free(g);
		return NULL;
	}
	if (asn_db && asn_db[0]) {
		rc = MMDB_open(asn_db, MMDB_MODE_MMAP, &g->asn);
		if (rc != MMDB_SUCCESS)
			/* Country still works; the ASN just stays unknown. */
			log_warn("geo: ASN database %s: %s; ASN lookups off", asn_db, MMDB_strerror(rc));
		else
			g->have_asn = true;
	}
	return g;
}

void geo_close(struct geo *g)
{
	if (g == NULL)
		return;
	MMDB_close(&g->country);
	if (g->have_asn)
		MMDB_close(&g->asn);
	free(g);
}

/* Numeric address to a sockaddr without getaddrinfo (which MMDB_lookup_string
 * would call: slower, and it could consult the resolver). */
static bool to_sockaddr(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static void read_country(MMDB_lookup_result_s *res, char out[3])
{
	static const char *const paths[][3] = {
	    {"country_code", NULL, NULL},
	    {"country", "iso_code", NULL},
	    {"registered_country", "iso_code", NULL},
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		MMDB_entry_data_s d;
		if (MMDB_aget_value(&res->entry, &d, paths[i]) == MMDB_SUCCESS && d.has_data &&
		    d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == 2) {
			out[0] = d.utf8_string[0];
			out[1] = d.utf8_string[1];
			out[2] = '\0';
			if (geo_country_code_valid(out))
				return;
			out[0] = '\0';
		}
	}
}

static uint32_t read_asn(MMDB_lookup_result_s *res)
{
	static const char *const path[] = {"autonomous_system_number", NULL};
	MMDB_entry_data_s d;
	if (MMDB_aget_value(&res->entry, &d, path) != MMDB_SUCCESS || !d.has_data)
		return 0;
	if (d.type == MMDB_DATA_TYPE_UINT32)
		return d.uint32;
	if (d.type == MMDB_DATA_TYPE_UINT16)
		return d.uint16;
	return 0;
}

bool geo_lookup(const struct geo *cg, const char *ip, struct geo_result *out)
{
	memset(out, 0, sizeof *out);
	struct geo *g =
	    (struct geo *)cg; /* libmaxminddb takes non-const handles; lookups do not modify them */
	struct sockaddr_storage ss;
	if (g == NULL || ip == NULL || !to_sockaddr(ip, &ss))
		return false;
	int mmerr;
	MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&g->country, (struct sockaddr *)&ss, &mmerr);
	if (mmerr == MMDB_SUCCESS && res.found_entry) {
		read_country(&res, out->country);
		out->asn = read_asn(&res);
	}
	if (g->have_asn && out->asn == 0) {
		res = MMDB_lookup_sockaddr(&g->asn, (struct sockaddr *)&ss, &mmerr);
		if (mmerr == MMDB_SUCCESS && res.found_entry)
			out->asn = read_asn(&res);
	}
	return out->country[0] != '\0' || out->asn != 0;
}

static struct geo *shared;
static bool shared_tried;
static char shared_err[512];

const struct geo *geo_shared(const struct config *cfg)
{
	if (!shared_tried) {
		shared_tried = true;
		shared = geo_open(cfg->click_geoip_db, cfg->click_asn_db, shared_err, sizeof shared_err);
		if (shared == NULL && shared_err[0])
			log_warn("geo: %s; geo is off", shared_err);
		else if (shared == NULL)
			snprintf(shared_err, sizeof shared_err, "no database configured (click.geoip_db)");
	}
	return shared;
}

bool geo_status(const struct config *cfg, const char **detail, uint64_t *build_epoch)
{
	const struct geo *g = geo_shared(cfg);
	*detail = g ? cfg->click_geoip_db : shared_err;
	*build_epoch = g ? g->country.metadata.build_epoch : 0;
	return g != NULL;
}
