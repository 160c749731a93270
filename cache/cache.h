/* cache.h - the tiered cache: blocks of immutable versions in RAM, Redis and on a local SSD,
 * manifests in RAM and Redis with invalidation across instances, single-flight misses,
 * prefetch and sequential readahead. The gateway and the mount read and write through it.
 *
 * The unit is a block of a version: (version id, block index), block_size bytes (the last
 * block of a version may be shorter). Versions never change, so blocks never go stale; only
 * manifests (which version a key names) are invalidated.
 *
 * Every function is thread-safe. Errors are negative AUG_E* codes with a sentence in *err. */
#ifndef AUGUR_CACHE_H
#define AUGUR_CACHE_H

#include "backend/backend.h"
#include "common/common.h"

typedef struct cache cache_t;

/* ---- lifetime -------------------------------------------------------------------------- */

/* Open the cache described by cfg->cache and cfg->redis over b (which must outlive it). The
 * SSD tier's index is rebuilt from its directory, so a restart keeps a warm cache. An
 * unreachable Redis is not an error: it is retried in the background. */
int cache_open(const aug_config_t *cfg, backend_t *b, cache_t **out, aug_err_t *err);
/* Stop background work (prefetch, Redis) and free everything. NULL is allowed. */
void cache_close(cache_t *c);
/* Apply new tier sizes and policies from cfg (SIGHUP); blocks beyond a smaller budget are
 * evicted. */
int cache_reconfigure(cache_t *c, const aug_config_t *cfg, aug_err_t *err);
backend_t *cache_backend(cache_t *c);

/* ---- manifests --------------------------------------------------------------------------- */

/* The current manifest of bucket/key, from RAM, Redis or the backend (in that order). Caller
 * frees *out with backend_manifest_free(). AUG_ENOENT when missing. */
int cache_head(cache_t *c, const char *bucket, const char *key, backend_manifest_t **out,
               aug_err_t *err);
/* Forget the cached manifest of bucket/key here and, through Redis, on every instance. */
void cache_invalidate(cache_t *c, const char *bucket, const char *key);

/* ---- writes pending elsewhere in this process ----------------------------------------------
 * The mount uploads a closed file in the background; while it does, the key is registered
 * here so that an S3 read of it through the same process waits for the upload instead of
 * seeing the previous version. Keys are counted in a direct-mapped table: a collision only
 * makes a reader wait for another key's upload. Thread-safe. */

/* Slots of the table (a power of two). */
#define CACHE_PENDING_SLOTS 4096
/* The longest cache_pending_wait() waits (milliseconds): an upload that keeps failing (its
 * file is kept and retried) must not hold S3 readers forever; they then get what the store
 * has. */
#define CACHE_PENDING_WAIT_MS 5000

/* What cache_pending_begin() registered, to end it (the key may be renamed meanwhile). */
typedef struct cache_pending {
    uint32_t key_slot, bucket_slot;
} cache_pending_t;

/* A write of bucket/key has started and will end with cache_pending_end(). */
cache_pending_t cache_pending_begin(cache_t *c, const char *bucket, const char *key);
/* The write registered as t has ended (committed, abandoned or cancelled): wakes waiters. */
void cache_pending_end(cache_t *c, cache_pending_t t);
/* Wait while a write of bucket/key (key NULL: of any key in bucket) is pending, at most
 * CACHE_PENDING_WAIT_MS. Returns 0, or AUG_EAGAIN when one is still pending. Never call it
 * from the thread that would end the write. */
int cache_pending_wait(cache_t *c, const char *bucket, const char *key);

/* Called after a key changed through this cache (a write, a copy, a completed upload or a
 * delete), on the thread that changed it, with no lock of the cache held. */
typedef void (*cache_change_fn)(void *arg, const char *bucket, const char *key);
/* Register fn (NULL removes it) to hear of every change made through c; there is one listener.
 * When this returns, no call to the previous listener is still running. */
void cache_set_change_listener(cache_t *c, cache_change_fn fn, void *arg);

/* ---- writes (through to the backend, then invalidated everywhere) ------------------------- */

typedef struct cache_writer cache_writer_t;
int cache_writer_open(cache_t *c, const char *bucket, const char *key,
                      const backend_put_attrs_t *attrs, cache_writer_t **out, aug_err_t *err);
int cache_writer_write(cache_writer_t *w, const void *buf, size_t len, aug_err_t *err);
int cache_writer_set_meta(cache_writer_t *w, const char *name, const char *value);
/* Commit; frees w. *out (may be NULL) receives the new manifest. */
int cache_writer_commit(cache_writer_t *w, backend_manifest_t **out, aug_err_t *err);
void cache_writer_abort(cache_writer_t *w);
int cache_delete(cache_t *c, const char *bucket, const char *key, aug_err_t *err);
int cache_put_composed(cache_t *c, const char *bucket, const char *key,
                       const backend_put_attrs_t *attrs, const backend_piece_t *pieces, size_t n,
                       const char *etag, backend_manifest_t **out, aug_err_t *err);
int cache_upload_complete(cache_t *c, const char *bucket, const char *upload_id,
                          const backend_piece_t *pieces, size_t n, const char *etag,
                          const char *part_sizes, backend_manifest_t **out, aug_err_t *err);

/* ---- reads ------------------------------------------------------------------------------- */

/* Pull-style reading of bytes [off, off+len) of the version m names, block by block through
 * the tiers. A reader reading consecutive blocks triggers readahead. The reader keeps its own
 * copy of m, so a file open for reading keeps reading the version it opened. */
typedef struct cache_reader cache_reader_t;
int cache_reader_open(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
                      cache_reader_t **out, aug_err_t *err);
/* Copy up to len bytes into buf; returns the count, 0 at the end, or a negative code. */
ssize_t cache_reader_read(cache_reader_t *r, void *buf, size_t len, aug_err_t *err);
void cache_reader_close(cache_reader_t *r);
/* Read [off, off+len) of m into sink (a convenience over a reader). */
int cache_read(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
               backend_sink_fn sink, void *arg, aug_err_t *err);

/* ---- prefetch ------------------------------------------------------------------------------ */

/* Fetch the blocks of m covering [off, off+len) in the background, higher priority first,
 * within the configured bytes in flight and bytes per second. Blocks already cached are
 * skipped. Prefetched blocks are marked: a later read of one counts as a prefetch hit. Returns
 * an id for cache_prefetch_cancel (0 if nothing was queued). */
uint64_t cache_prefetch(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
                        int priority);
/* Drop the queued blocks of a prefetch (blocks being fetched finish). */
void cache_prefetch_cancel(cache_t *c, uint64_t id);

/* ---- statistics ---------------------------------------------------------------------------- */

typedef struct cache_tier_stats {
    uint64_t capacity_bytes, used_bytes, blocks;
    uint64_t hits, misses, evictions, errors;
} cache_tier_stats_t;

/* The predictor's work (all zero when [predictor] model = off). */
typedef struct cache_predictor_stats {
    int enabled;
    char model[16];
    uint64_t observed, dropped, lag_events; /* block reads seen, dropped, waiting */
    uint64_t guesses, guesses_right;        /* handed out; top guess that came next */
    uint64_t guess_prefetches, guess_dropped; /* guesses turned into prefetches, or dropped */
    uint64_t train_steps;
    double last_loss;
    uint64_t cpu_ns;
    uint64_t saves, save_errors;
} cache_predictor_stats_t;

typedef struct cache_stats {
    cache_tier_stats_t ram, redis, ssd;
    uint64_t block_reads;      /* blocks asked of the cache */
    uint64_t backend_reads;    /* blocks read from the backend (misses plus prefetches) */
    uint64_t backend_bytes;
    uint64_t flight_joins;     /* misses that waited for another's backend read */
    uint64_t manifest_hits, manifest_misses;
    uint64_t invalidations_sent, invalidations_received;
    uint64_t prefetch_issued, prefetch_used, prefetch_wasted, prefetch_dropped;
    uint64_t readahead_issued;
    int redis_up;
    cache_predictor_stats_t predictor;
} cache_stats_t;

void cache_get_stats(cache_t *c, cache_stats_t *st);

#endif
