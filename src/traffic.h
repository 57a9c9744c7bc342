/* Traffic quality at the click: the steps src/click.c runs (in this order)
 * and the per-worker cache of what they need per link.
 *   geo    country/ASN of the address (src/geo.h), geo rules (src/georule.h)
 *          -> "geo_blocked";
 *   bot    device/OS/browser (src/uaparse.h), activity rule (src/shm.h),
 *          bot signals (src/bot.h) -> "bot" with the offer's bot_action:
 *          redirect (to the destination, not billable), fallback, reject;
 *   caps   daily/total click and conversion caps (src/caps.h) -> "cap_reached";
 *   route  the link's or offer's route (src/routing.h) -> c->dest_template,
 *          c->route_dest.
 * Per link the cache holds the offer's bot action, the geo rules of its
 * tenant, advertiser and offer, and its route; an entry is reloaded (one
 * query) when the link cache epoch moves (admin changes call
 * linkcache_bump()) or after 60 s, and kept as it is when PostgreSQL cannot
 * answer. */
#ifndef AFFTOK_TRAFFIC_H
#define AFFTOK_TRAFFIC_H

struct click;

void traffic_check_geo(struct click *c);
void traffic_check_bot(struct click *c);
void traffic_check_caps(struct click *c);
void traffic_route(struct click *c);

#endif
