/* A set of IPv4/IPv6 networks and AS numbers, read from a text file (one
 * "192.0.2.0/24", "2001:db8::/32" or "AS64500" per line, '#' comments), for
 * the datacenter check. Lookups are binary searches over sorted ranges. */
#ifndef AFFTOK_NETSET_H
#define AFFTOK_NETSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netset;

/* An empty set. NULL on allocation failure. */
struct netset *netset_new(void);
void netset_free(struct netset *s);
/* Adds one line's entry. Returns 0, or -1 when it is malformed. */
int netset_add(struct netset *s, const char *entry);
/* Reads a file; blank lines and comments are skipped, malformed lines are
 * counted in *bad. Returns 0, or -1 when the file cannot be read. */
int netset_load(struct netset *s, const char *path, size_t *bad);
/* Sorts what was added; call once before lookups. */
void netset_finish(struct netset *s);
bool netset_has_ip(const struct netset *s, const char *ip);
bool netset_has_asn(const struct netset *s, uint32_t asn);
size_t netset_size(const struct netset *s);

#endif
