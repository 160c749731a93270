/* tiers.h - (private to cache/) block keys, shared block buffers, the RAM and SSD tiers, and the
 * cache's own state. */
#ifndef AUGUR_CACHE_TIERS_H
#define AUGUR_CACHE_TIERS_H

#include "cache.h"
#include "policy.h"
#include "redis_tier.h"

#include <pthread.h>
#include <stdatomic.h>

/* A block of a version. */
typedef struct block_key {
    uint8_t vid[BACKEND_VERSION_ID_LEN];
    uint64_t index;
} block_key_t;

static inline uint64_t block_key_hash(const block_key_t *k)
{
    return aug_hash64(k, sizeof(*k), 0x6175677572ULL);
}

/* Bytes of one block, shared by the tiers and readers holding it (reference counted). */
typedef struct block_buf {
    _Atomic int refs;
    size_t len;
    uint8_t data[];
} block_buf_t;

block_buf_t *block_buf_new(size_t len);
static inline block_buf_t *block_buf_ref(block_buf_t *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}
void block_buf_unref(block_buf_t *b);

/* ---- block_map.c: the tiers' index ------------------------------------------------------- */

/* The head of a tier's entry; entries are found by block key and by hash (the policies'
 * keys are the block hashes). */
typedef struct block_map_entry {
    block_key_t key;
    uint64_t hash;
    struct block_map_entry *next;
} block_map_entry_t;

typedef struct block_map {
    block_map_entry_t **slots;
    size_t n_slots, count;
} block_map_t;

int block_map_init(block_map_t *m);
/* Free every entry with free_entry, then the map. */
void block_map_destroy(block_map_t *m, void (*free_entry)(block_map_entry_t *e));
/* The entry with this hash (and key, unless k is NULL), or NULL. */
block_map_entry_t *block_map_find(const block_map_t *m, uint64_t hash, const block_key_t *k);
void block_map_insert(block_map_t *m, block_map_entry_t *e, const block_key_t *k);
/* Unlink and return the entry with this hash (the caller frees it), or NULL. */
block_map_entry_t *block_map_remove(block_map_t *m, uint64_t hash);
/* Every entry's hash in a malloc'd array (for passes that remove entries). */
uint64_t *block_map_hashes(const block_map_t *m, size_t *n);
/* Replay every entry (its size from size_of) into policy p, then call drop(tier, hash) for
 * each entry p declined to hold. p must have no eviction hook while this runs. */
void block_map_replay(block_map_t *m, policy_t *p,
                      uint64_t (*size_of)(const block_map_entry_t *e),
                      void (*drop)(void *tier, uint64_t hash), void *tier);

/* ---- tier_ram.c -------------------------------------------------------------------------- */

typedef struct ram_tier ram_tier_t;
int ram_tier_open(uint64_t size, const char *policy, ram_tier_t **out, aug_err_t *err);
void ram_tier_close(ram_tier_t *t);
/* A reference to the block (caller unrefs) or NULL; *prefetched says whether it came from a
 * prefetch and had not been read before (the mark is cleared). */
block_buf_t *ram_tier_get(ram_tier_t *t, const block_key_t *k, int *prefetched);
/* Admit a block (the tier takes its own reference). */
/* Same, counting the lookup in the hit statistics only when count is set. */
block_buf_t *ram_tier_lookup(ram_tier_t *t, const block_key_t *k, int *prefetched, int count);
void ram_tier_put(ram_tier_t *t, const block_key_t *k, block_buf_t *b, int prefetched);
int ram_tier_contains(ram_tier_t *t, const block_key_t *k);
void ram_tier_resize(ram_tier_t *t, uint64_t size, const char *policy);
/* Scores for a learned policy (kept across resizes; ignored by other policies). */
void ram_tier_set_scorer(ram_tier_t *t, policy_score_fn fn, void *arg);
void ram_tier_stats(ram_tier_t *t, cache_tier_stats_t *st, uint64_t *wasted);

/* ---- tier_ssd.c -------------------------------------------------------------------------- */

typedef struct ssd_tier ssd_tier_t;
/* Open dir (created if missing) and rebuild the index from the files found there. */
int ssd_tier_open(const char *dir, uint64_t size, uint64_t min_free, const char *policy,
                  ssd_tier_t **out, aug_err_t *err);
void ssd_tier_close(ssd_tier_t *t);
/* A new buffer with the block if present and its CRC32C holds (a corrupt file is removed and
 * counted as an error), else NULL. */
block_buf_t *ssd_tier_get(ssd_tier_t *t, const block_key_t *k);
void ssd_tier_put(ssd_tier_t *t, const block_key_t *k, const block_buf_t *b);
int ssd_tier_contains(ssd_tier_t *t, const block_key_t *k);
void ssd_tier_resize(ssd_tier_t *t, uint64_t size, const char *policy);
void ssd_tier_set_scorer(ssd_tier_t *t, policy_score_fn fn, void *arg);
void ssd_tier_stats(ssd_tier_t *t, cache_tier_stats_t *st);

/* ---- prefetch.c ---------------------------------------------------------------------------- */

typedef struct prefetcher prefetcher_t;
int prefetcher_open(cache_t *c, uint64_t inflight, uint64_t rate, prefetcher_t **out);
void prefetcher_close(prefetcher_t *p);
uint64_t prefetcher_enqueue(prefetcher_t *p, const backend_manifest_t *m, uint64_t first,
                            uint64_t last, int priority, int readahead);
void prefetcher_cancel(prefetcher_t *p, uint64_t id);
void prefetcher_configure(prefetcher_t *p, uint64_t inflight, uint64_t rate);

/* ---- cache.c: what prefetch and readers use ------------------------------------------------- */

/* The block (a reference the caller unrefs), from the tiers or, once for all concurrent
 * callers, from the backend. prefetch marks a block fetched ahead of use. NULL with err on
 * failure. */
block_buf_t *cache_get_block(cache_t *c, const backend_manifest_t *m, uint64_t index,
                             int prefetch, aug_err_t *err);
/* True if the block is in RAM or on the SSD already. */
int cache_has_block(cache_t *c, const backend_manifest_t *m, uint64_t index);
uint64_t cache_block_size(const cache_t *c);
uint64_t cache_readahead_max(const cache_t *c);
/* Count readahead/prefetch work (statistics). */
void cache_note_prefetch(cache_t *c, int issued_readahead, int dropped);

/* Prefetch priorities: readahead of a reader outranks the predictor's guesses. */
#define CACHE_PRIO_GUESS 0
#define CACHE_PRIO_READAHEAD 1
/* cache_get_block's prefetch argument: how a prefetched block of priority prio is admitted
 * (1 = every tier, 2 = the SSD tier only, as [predictor] prefetch_tier = ssd asks). */
int cache_prefetch_mode(const cache_t *c, int prio);

/* ---- cache_predict.c: the predictor in the cache ----------------------------------------- */

typedef struct cache_predict cache_predict_t;
/* Start the predictor [predictor] describes (*out NULL when model = off). */
int cache_predict_open(cache_t *c, const aug_config_t *cfg, cache_predict_t **out,
                       aug_err_t *err);
/* Stop it and save its model. NULL is fine. */
void cache_predict_close(cache_predict_t *cp);
/* A request read block k of m (len bytes). Never blocks. */
void cache_predict_observe(cache_predict_t *cp, const backend_manifest_t *m,
                           const block_key_t *k, uint64_t len);
/* Apply reloaded budgets: min_confidence, train_steps_per_sec, prefetch_tier. */
void cache_predict_reconfigure(cache_predict_t *cp, const aug_config_t *cfg);
/* policy_score_fn for tiers with the learned policy (arg is the cache_predict_t). */
uint64_t cache_predict_score(void *arg, uint64_t key, uint64_t size);
void cache_predict_stats(cache_predict_t *cp, cache_predictor_stats_t *st);

#endif
