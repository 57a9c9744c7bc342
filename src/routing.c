/* Route destination choice (see routing.h). */
#include "routing.h"

#include <string.h>

#include "shm.h"

static bool in_list(const char *const *list, const char *v)
{
	if (list == NULL || list[0] == NULL)
		return true;
	if (v == NULL)
		return false;
	for (; *list; list++)
		if (!strcmp(*list, v))
			return true;
	return false;
}

bool route_dest_applies(const struct route_dest *d, const char *country, const char *device, const char *os)
{
	if (d->countries && d->countries[0]) {
		bool hit = false;
		for (const char *p = d->countries; country && country[0] && p[0] && p[1]; p += 2)
			if (p[0] == country[0] && p[1] == country[1]) {
				hit = true;
				break;
			}
		if (!hit)
			return false;
	}
	return in_list(d->devices, device) && in_list(d->os, os);
}

int route_pick_seq(const struct route_plan *r, uint64_t mask, uint64_t seq)
{
	uint64_t total = 0;
	for (size_t i = 0; i < r->ndests && i < ROUTE_DEST_MAX; i++)
		if (mask >> i & 1)
			total += r->dests[i].weight;
	if (total == 0)
		return -1;
	/* frac(seq * (phi - 1)) in 64-bit fixed point: the Weyl sequence with
	 * the golden ratio, whose points spread evenly over [0, 1) for every
	 * prefix length. Scaled to [0, total) by the high 64 bits of u*total. */
	uint64_t u = seq * 0x9E3779B97F4A7C15ull;
	uint64_t target = (uint64_t)(((unsigned __int128)u * total) >> 64);
	uint64_t acc = 0;
	for (size_t i = 0; i < r->ndests && i < ROUTE_DEST_MAX; i++) {
		if (!(mask >> i & 1))
			continue;
		acc += r->dests[i].weight;
		if (target < acc)
			return (int)i;
	}
	return -1; /* not reached: target < total */
}

int route_choose(const struct route_plan *r, struct shm *s, const char *fp, const char *country,
                 const char *device, const char *os, uint32_t now_s, bool counted)
{
	uint64_t mask = 0;
	for (size_t i = 0; i < r->ndests && i < ROUTE_DEST_MAX; i++)
		if (r->dests[i].weight > 0 && route_dest_applies(&r->dests[i], country, device, os))
			mask |= 1ull << i;
	if (mask == 0)
		return -1;
	if (!counted)
		return route_pick_seq(r, mask, fp ? shm_hash(fp, strlen(fp), (uint64_t)r->id) : 0);
	uint64_t sticky_key = 0;
	if (r->sticky && fp && fp[0]) {
		sticky_key = shm_hash(fp, strlen(fp), (uint64_t)r->id * 0x100000001b3ull);
		uint32_t v;
		if (shm_sticky_get(s, sticky_key, now_s, ROUTE_STICKY_MAX_AGE_S, &v) && v < r->ndests &&
		    (mask >> v & 1))
			return (int)v;
	}
	uint64_t parts[2] = {(uint64_t)r->id, mask};
	uint64_t seq = shm_next(s, shm_hash(parts, sizeof parts, 0x726f757465ull));
	int pick = route_pick_seq(r, mask, seq);
	if (pick >= 0 && sticky_key)
		shm_sticky_put(s, sticky_key, now_s, (uint32_t)pick);
	return pick;
}
