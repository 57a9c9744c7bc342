/* Shared counters (see shm.h). Every slot is two 64-bit words updated with
 * __atomic builtins; a slot's key is claimed with a compare-and-swap, and
 * a window and its count share one word so a reset and an increment can
 * never interleave. */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MAGIC 0x4146544b53484d31ull /* "AFTKSHM1" */
#define HIT_SLOTS (1u << 16)
#define SEQ_SLOTS (1u << 12)
#define STICKY_SLOTS (1u << 18)
#define PROBES 8

struct slot {
	uint64_t key; /* 0 = free */
	uint64_t val;
};

struct layout {
	uint64_t magic;
	uint64_t size;
	struct slot hit[HIT_SLOTS];       /* val = window << 32 | count */
	struct slot seq[SEQ_SLOTS];       /* val = next sequence number */
	struct slot sticky[STICKY_SLOTS]; /* val = time_s << 32 | value */
};

struct shm {
	struct layout *l;
	bool shared;
};

uint64_t shm_hash(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h ? h : 1; /* 0 marks a free slot */
}

static struct shm *private_state(void)
{
	struct shm *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->l = calloc(1, sizeof *s->l);
	if (s->l == NULL) {
		free(s);
		return NULL;
	}
	s->l->magic = MAGIC;
	s->l->size = sizeof *s->l;
	return s;
}

struct shm *shm_open_state(const char *path, char *err, size_t errlen)
{
	err[0] = '\0';
	if (path == NULL || path[0] == '\0')
		return private_state();
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return private_state();
	}
	struct stat st;
	/* Sized by whoever comes first; ftruncate to the same size is harmless
	 * when two workers race, and new pages read as zeros (free slots). */
	if (fstat(fd, &st) != 0 ||
	    (st.st_size != (off_t)sizeof(struct layout) && ftruncate(fd, sizeof(struct layout)) != 0)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return private_state();
	}
	void *p = mmap(NULL, sizeof(struct layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return private_state();
	}
	struct shm *s = calloc(1, sizeof *s);
	if (s == NULL) {
		munmap(p, sizeof(struct layout));
		return NULL;
	}
	s->l = p;
	s->shared = true;
	uint64_t zero = 0;
	__atomic_compare_exchange_n(&s->l->magic, &zero, MAGIC, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	if (s->l->magic != MAGIC) {
		/* A file of another layout: start it afresh rather than misread it. */
		memset(p, 0, sizeof(struct layout));
		s->l->magic = MAGIC;
	}
	s->l->size = sizeof(struct layout);
	return s;
}

void shm_close(struct shm *s)
{
	if (s == NULL)
		return;
	if (s->shared)
		munmap(s->l, sizeof *s->l);
	else
		free(s->l);
	free(s);
}

bool shm_shared(const struct shm *s)
{
	return s && s->shared;
}

/* Finds key's slot in tab (probing PROBES slots), claiming a free one or
 * else evicting the one stale() ranks oldest. */
static struct slot *find(struct slot *tab, uint32_t nslots, uint64_t key, uint32_t (*age)(uint64_t val))
{
	uint32_t start = (uint32_t)(key ^ key >> 32) & (nslots - 1);
	struct slot *victim = NULL;
	uint32_t victim_age = UINT32_MAX;
	for (uint32_t i = 0; i < PROBES; i++) {
		struct slot *sl = &tab[(start + i) & (nslots - 1)];
		uint64_t k = __atomic_load_n(&sl->key, __ATOMIC_ACQUIRE);
		if (k == key)
			return sl;
		if (k == 0) {
			uint64_t expect = 0;
			if (__atomic_compare_exchange_n(&sl->key, &expect, key, false, __ATOMIC_ACQ_REL,
			                                __ATOMIC_ACQUIRE) ||
			    expect == key)
				return sl;
			continue;
		}
		uint32_t a = age(__atomic_load_n(&sl->val, __ATOMIC_RELAXED));
		if (a < victim_age) {
			victim_age = a;
			victim = sl;
		}
	}
	/* Evict: the slot now counts for key from scratch. */
	__atomic_store_n(&victim->val, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&victim->key, key, __ATOMIC_RELEASE);
	return victim;
}

static uint32_t high_word(uint64_t val)
{
	return (uint32_t)(val >> 32);
}

static uint32_t seq_age(uint64_t val)
{
	/* Sequence slots carry no time; evict the least used. */
	return val > UINT32_MAX ? UINT32_MAX : (uint32_t)val;
}

uint32_t shm_hit(struct shm *s, uint64_t key, uint32_t window)
{
	struct slot *sl = find(s->l->hit, HIT_SLOTS, key, high_word);
	uint64_t old = __atomic_load_n(&sl->val, __ATOMIC_RELAXED), nv;
	do {
		if (high_word(old) == window)
			nv = old + 1;
		else
			nv = (uint64_t)window << 32 | 1;
	} while (!__atomic_compare_exchange_n(&sl->val, &old, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return (uint32_t)nv;
}

uint64_t shm_next(struct shm *s, uint64_t key)
{
	struct slot *sl = find(s->l->seq, SEQ_SLOTS, key, seq_age);
	return __atomic_fetch_add(&sl->val, 1, __ATOMIC_ACQ_REL);
}

bool shm_sticky_get(struct shm *s, uint64_t key, uint32_t now_s, uint32_t max_age_s, uint32_t *val)
{
	uint32_t start = (uint32_t)(key ^ key >> 32) & (STICKY_SLOTS - 1);
	for (uint32_t i = 0; i < PROBES; i++) {
		struct slot *sl = &s->l->sticky[(start + i) & (STICKY_SLOTS - 1)];
		if (__atomic_load_n(&sl->key, __ATOMIC_ACQUIRE) != key)
			continue;
		uint64_t v = __atomic_load_n(&sl->val, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sl->key, __ATOMIC_ACQUIRE) != key || v == 0)
			return false; /* evicted meanwhile */
		if (now_s - high_word(v) > max_age_s)
			return false;
		*val = (uint32_t)v;
		return true;
	}
	return false;
}

void shm_sticky_put(struct shm *s, uint64_t key, uint32_t now_s, uint32_t val)
{
	struct slot *sl = find(s->l->sticky, STICKY_SLOTS, key, high_word);
	__atomic_store_n(&sl->val, (uint64_t)now_s << 32 | val, __ATOMIC_RELEASE);
}

static struct shm *state;

struct shm *shm_shared_state(const struct config *cfg)
{
	if (state == NULL) {
		char path[4096], err[512];
		struct stat st;
		if (cfg->click_state_file[0])
			snprintf(path, sizeof path, "%s", cfg->click_state_file);
		else if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
			/* tmpfs: a file on disk would have its pages written back and
			 * write-faulted again every few seconds. One file per journal
			 * directory, so two installations on a host never mix. */
			snprintf(path, sizeof path, "/dev/shm/afftok-traffic-%016llx.shm",
			         (unsigned long long)shm_hash(cfg->journal_dir, strlen(cfg->journal_dir), 0));
		else
			snprintf(path, sizeof path, "%s/traffic.shm", cfg->journal_dir);
		state = shm_open_state(path, err, sizeof err);
		if (err[0])
			log_warn("traffic state: %s; counting per worker instead of per host", err);
	}
	return state;
}
