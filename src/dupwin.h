/* The duplicate-click window of the ingest: recent clicks by fingerprint,
 * in memory, so the rule "an earlier click with the same fingerprint within
 * 60 s" needs no index lookup per click.
 *
 * The window answers for a time range only when it holds every stored
 * click of that range: the ingest loads a range from PostgreSQL before it
 * asks about it (dupwin_need / dupwin_loaded) and adds each click it
 * stores itself. A click is (fingerprint, time, hash of the click id); the
 * id hash keeps a click from being its own duplicate when a segment is
 * replayed over clicks stored already.
 *
 * Memory and time do not grow with the clicks of one fingerprint (one
 * visitor or bot sending thousands a second): the window keeps one entry
 * of constant size per fingerprint and minute, which is all the rule needs
 * (see dupwin.c). */
#ifndef AFFTOK_DUPWIN_H
#define AFFTOK_DUPWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUPWIN_SPAN_MS 60000 /* the rule's 60 s */

struct dupwin;

struct dupwin *dupwin_new(void);
void dupwin_free(struct dupwin *w);

/* A click: fingerprint (16 bytes), created_at in ms, its id's hash.
 * -1 when out of memory. */
int dupwin_add(struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash);
/* Whether another click with this fingerprint has a time in
 * [ms - DUPWIN_SPAN_MS, ms]. */
bool dupwin_seen(const struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash);

/* Coverage: the window holds every stored click from a time on (the
 * ingest is the one writer of its visitors' clicks, see docs/DEPLOY.md, and
 * adds what it stores). Before asking about clicks from `from` on:
 * dupwin_need says whether [from, *to) must be loaded first (*to is
 * INT64_MAX when nothing is covered yet: load everything from `from`), and
 * dupwin_loaded(from) records that it was. */
bool dupwin_need(const struct dupwin *w, int64_t from, int64_t *to);
void dupwin_loaded(struct dupwin *w, int64_t from);

/* Drops what only clicks older than before_ms need (memory stays bounded;
 * clicks of up to DUPWIN_SPAN_MS before it may be kept, and they still
 * count: they are stored clicks). The coverage starts at before_ms. */
void dupwin_evict(struct dupwin *w, int64_t before_ms);
/* Clicks added and kept, and the entries holding them. */
size_t dupwin_count(const struct dupwin *w);
size_t dupwin_entries(const struct dupwin *w);

/* The window kept between runs of the ingest in a file: written with a
 * checksum (via a temporary file and rename), read back whole or not at
 * all. -1 / NULL on any failure, a damaged or foreign file included. */
int dupwin_save(const struct dupwin *w, const char *path);
struct dupwin *dupwin_load(const char *path);

/* 64-bit FNV-1a of a click id (or any bytes). */
uint64_t dupwin_hash(const void *p, size_t n);

#endif
