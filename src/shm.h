/* Counters shared by all FastCGI workers of one host, in a file mapped
 * MAP_SHARED (click.state_file), updated with atomic instructions: no lock,
 * no system call and no network per click. Three tables:
 *   - windowed hit counters (activity rule: clicks per address per window);
 *   - sequence counters (route rotation: the n-th click of a route);
 *   - sticky slots (a visitor fingerprint's route destination).
 * Tables are fixed-size hash tables; a full neighbourhood evicts the
 * stalest entry, so the numbers are exact while the working set fits
 * (65,536 addresses per window, 4,096 routes, 262,144 visitors) and
 * degrade gently (an evicted address starts again from 0) beyond.
 * If the file cannot be mapped, the process uses private memory: the same
 * logic, counted per worker instead of per host. */
#ifndef AFFTOK_SHM_H
#define AFFTOK_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct shm;

/* Maps path (created and sized when new). NULL path or failure: private
 * memory (err says why when it was a failure). NULL only when out of memory. */
struct shm *shm_open_state(const char *path, char *err, size_t errlen);
void shm_close(struct shm *s);
/* Whether the state is shared with other processes. */
bool shm_shared(const struct shm *s);

/* Counts one hit for key in the window `window` (e.g. now / window_s) and
 * returns the count in that window including this hit. */
uint32_t shm_hit(struct shm *s, uint64_t key, uint32_t window);
/* Returns the key's sequence number before incrementing it (0, 1, 2, ...). */
uint64_t shm_next(struct shm *s, uint64_t key);
/* Sticky slots: the value stored for key no older than max_age_s, or false. */
bool shm_sticky_get(struct shm *s, uint64_t key, uint32_t now_s, uint32_t max_age_s, uint32_t *val);
void shm_sticky_put(struct shm *s, uint64_t key, uint32_t now_s, uint32_t val);

/* The process-wide state from the [click] keys, mapped on first use. */
struct shm *shm_shared_state(const struct config *cfg);

/* 64-bit FNV-1a, for keys. */
uint64_t shm_hash(const void *p, size_t n, uint64_t seed);

#endif
