/* redis_tier.h - (private to cache/) the Redis tier: manifests, small hot blocks and access
 * statistics shared by every augurd of a site, and invalidations over pub/sub.
 *
 * Redis is an accelerator, never a dependency: every call returns quickly with AUG_EIO when
 * Redis is unreachable (a warning is logged once per outage), and a background thread
 * reconnects with exponential back-off (100 ms doubling to 5 s). Calls are thread-safe.
 *
 * Keys (prefix "augur:"): "augur:m:BUCKET/KEY" a manifest (backend_manifest_encode bytes),
 * "augur:b:VID:INDEX" a block (VID = 32 hex digits), "augur:s:VID" a hash of per-block access
 * counts. Channel "augur:inval" carries "BUCKET/KEY" for every changed key. */
#ifndef AUGUR_CACHE_REDIS_TIER_H
#define AUGUR_CACHE_REDIS_TIER_H

#include "common/common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct redis_tier redis_tier_t;

/* Called from the subscriber thread for every invalidation another instance (or this one)
 * published. Must not block. */
typedef void (*redis_invalidate_fn)(void *arg, const char *bucket, const char *key);

typedef struct redis_tier_config {
    const char *url;       /* redis://[:password@]host[:port][/db] or unix:///path/to.sock */
    const char *password;  /* overrides the URL's, may be NULL */
    uint64_t size_bytes;   /* budget for blocks this instance puts in Redis */
    uint64_t block_max;    /* blocks larger than this are not stored in Redis */
    uint64_t manifest_ttl_ms; /* manifests expire after this (0: never) */
    const char *policy;    /* eviction policy for this instance's blocks (cache/policy.h) */
    redis_invalidate_fn on_invalidate;
    void *arg;
} redis_tier_config_t;

/* Start the tier (and its reconnecting and subscriber threads). Fails only for a malformed
 * URL or policy (AUG_ECONFIG) or no memory. Caller frees with redis_tier_close(). */
int redis_tier_open(const redis_tier_config_t *cfg, redis_tier_t **out, aug_err_t *err);
void redis_tier_close(redis_tier_t *t);
/* 1 when connected now. */
int redis_tier_up(redis_tier_t *t);

/* 0 and a malloc'd copy in *buf (caller frees), AUG_ENOENT when absent, AUG_EIO when down. */
int redis_tier_get_manifest(redis_tier_t *t, const char *bucket, const char *key, uint8_t **buf,
                            size_t *len);
int redis_tier_put_manifest(redis_tier_t *t, const char *bucket, const char *key,
                            const uint8_t *buf, size_t len);
/* Delete the cached manifest and publish the invalidation to every instance. */
int redis_tier_invalidate(redis_tier_t *t, const char *bucket, const char *key);

/* 0 with the block copied into buf (at most cap bytes, *len set), AUG_ENOENT, AUG_EIO. */
int redis_tier_get_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index, uint8_t *buf,
                         size_t cap, size_t *len);
/* Store a block (ignored when larger than block_max); may evict this instance's older blocks
 * by its policy. */
int redis_tier_put_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index,
                         const uint8_t *data, size_t len);
/* Count an access to a block (pipelined, fire and forget). */
void redis_tier_count_access(redis_tier_t *t, const uint8_t vid[16], uint64_t index);

typedef struct redis_tier_stats {
    uint64_t used_bytes, blocks, capacity_bytes;
    uint64_t hits, misses, evictions, errors;
    uint64_t invalidations_sent, invalidations_received;
} redis_tier_stats_t;
void redis_tier_get_stats(redis_tier_t *t, redis_tier_stats_t *st);

#endif
