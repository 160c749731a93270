/* redis_tier.h - (private to cache/) the Redis tier: manifests, small hot blocks and access
 * statistics shared by every augurd of a site, and invalidations over pub/sub.
 *
 * Redis is an accelerator, never a dependency: every call returns quickly with AUG_EIO when
 * Redis is unreachable (a warning is logged once per outage, an info line when it is back),
 * and a background thread reconnects with exponential back-off (100 ms doubling to 5 s); no
 * call ever connects. Connecting times out after 200 ms, each socket read or write of a
 * command after 500 ms. Calls are thread-safe and take no lock while talking to Redis other
 * than the one connection of a small pool they use. The same background thread holds the
 * subscription to "augur:inval" and calls the callbacks below, with no lock held.
 *
 * A connection lost under writing would raise SIGPIPE: redis_tier_open sets SIGPIPE to
 * ignored when it is still at its default (augurd ignores it anyway).
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
 * published. Must not block, and must not call redis_tier_close. */
typedef void (*redis_invalidate_fn)(void *arg, const char *bucket, const char *key);
/* Called from the subscriber thread each time the subscription is established after
 * redis_tier_open returned (Redis came up late, or came back after an outage): invalidations
 * published meanwhile were missed, so every manifest cached outside Redis may be stale. Must
 * not block, and must not call redis_tier_close. */
typedef void (*redis_resync_fn)(void *arg);

typedef struct redis_tier_config {
    /* redis://[[user]:password@]host[:port][/db] (host may be [IPv6]; port 6379 by default;
     * user and password percent-decoded) or unix:///path/to.sock[?db=N] */
    const char *url;
    const char *password;     /* overrides the URL's, may be NULL or "" (none) */
    uint64_t size_bytes;      /* budget for blocks this instance puts in Redis (0: puts none) */
    uint64_t block_max;       /* blocks larger than this are not stored in Redis */
    uint64_t manifest_ttl_ms; /* manifests expire after this (0: never) */
    const char *policy;       /* eviction policy for this instance's blocks (cache/policy.h);
                                 NULL means "lru" */
    redis_invalidate_fn on_invalidate; /* may be NULL */
    void *arg;                         /* passed to both callbacks */
    redis_resync_fn on_resync;         /* may be NULL */
} redis_tier_config_t;

/* Start the tier: one connection attempt is made here (bounded by the timeouts above), then a
 * background thread keeps the connections and the subscription. Fails only for a malformed
 * URL or policy (AUG_ECONFIG, with a message that never shows the password) or no memory; an
 * unreachable Redis or a wrong password is an outage (AUG_EIO from every call, the reason in
 * redis_tier_last_error and one warning). Caller frees with redis_tier_close(). */
int redis_tier_open(const redis_tier_config_t *cfg, redis_tier_t **out, aug_err_t *err);
/* Stop the background thread, close the connections and free t (NULL is fine). Returns
 * within the connect and command timeouts. Not from a callback. */
void redis_tier_close(redis_tier_t *t);
/* 1 when connected now. */
int redis_tier_up(redis_tier_t *t);
/* Why the tier is down (AUG_EIO and a sentence naming the server, never the password), or
 * AUG_OK with an empty message while it is up. */
void redis_tier_last_error(redis_tier_t *t, aug_err_t *err);

/* Longest "BUCKET/KEY" the manifest functions take (a 255-byte bucket and a 1024-byte key). */
#define REDIS_TIER_NAME_MAX 1280

/* 0 and a malloc'd copy in *buf (caller frees), AUG_ENOENT when absent, AUG_EIO when down,
 * AUG_EINVAL for an empty bucket or one containing '/', AUG_ETOOLONG when "BUCKET/KEY" is
 * longer than REDIS_TIER_NAME_MAX bytes. Same argument rules for the two functions below. */
int redis_tier_get_manifest(redis_tier_t *t, const char *bucket, const char *key, uint8_t **buf,
                            size_t *len);
/* Store a manifest (with PX manifest_ttl_ms when that is not 0). 0, or AUG_EIO when down. */
int redis_tier_put_manifest(redis_tier_t *t, const char *bucket, const char *key,
                            const uint8_t *buf, size_t len);
/* Delete the cached manifest and publish the invalidation to every instance (this one
 * included: its on_invalidate is called too). 0, or AUG_EIO when down. */
int redis_tier_invalidate(redis_tier_t *t, const char *bucket, const char *key);

/* 0 with the block copied into buf (at most cap bytes, *len set), AUG_ENOENT, AUG_EIO.
 * AUG_EINVAL, with *len set to the block's size and nothing copied, when cap is too small.
 * Hits and misses are counted; a hit refreshes the block in this instance's policy. */
int redis_tier_get_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index, uint8_t *buf,
                         size_t cap, size_t *len);
/* Store a block under this instance's budget, evicting (DEL) its older blocks by its policy.
 * 0 when stored, or when the policy declined it (e.g. larger than the budget); AUG_EINVAL,
 * without counting an error, when len > block_max or size_bytes is 0; AUG_EIO when down;
 * AUG_ENOMEM. The tier forgets what it put when it is closed: blocks have no TTL, so give
 * the Redis server a maxmemory and an allkeys-* maxmemory-policy as a backstop. */
int redis_tier_put_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index,
                         const uint8_t *data, size_t len);
/* Count an access to a block (HINCRBY "augur:s:VID" INDEX 1, pipelined, fire and forget:
 * dropped while Redis is down or every pooled connection is busy). */
void redis_tier_count_access(redis_tier_t *t, const uint8_t vid[16], uint64_t index);

typedef struct redis_tier_stats {
    uint64_t used_bytes, blocks, capacity_bytes;
    uint64_t hits, misses, evictions, errors;
    uint64_t invalidations_sent, invalidations_received;
} redis_tier_stats_t;
/* used_bytes, blocks, capacity_bytes and evictions are this instance's blocks (its policy);
 * errors counts calls that failed (AUG_EIO), whether Redis was down or answered an error. */
void redis_tier_get_stats(redis_tier_t *t, redis_tier_stats_t *st);

#endif
