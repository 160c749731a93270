/* cache.c - the tiered cache manager: the path of a block through RAM, SSD and Redis to the
 * backend with one backend read per block however many ask at once, the manifest cache with
 * invalidation, and the writes that go through to the backend. */
#include "tiers.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Manifests kept in RAM, by count: they are small, and the TTL bounds staleness anyway. */
#define MANIFEST_ENTRIES 65536

typedef struct manifest_entry {
    char *name; /* "bucket/key" */
    uint64_t hash;
    backend_manifest_t *m;
    int64_t expires_ns;
    struct manifest_entry *next;
} manifest_entry_t;

/* A backend read in progress that other readers of the same block wait for. */
typedef struct flight {
    block_key_t key;
    pthread_cond_t done_cv;
    int done;
    int waiters;
    block_buf_t *result;
    aug_err_t err;
    struct flight *next;
} flight_t;

struct cache {
    backend_t *b;
    aug_config_t cfg;
    ram_tier_t *ram;
    ssd_tier_t *ssd;
    redis_tier_t *redis;
    prefetcher_t *pf;
    cache_predict_t *cp; /* NULL when [predictor] model = off */
    _Atomic int guess_ssd_only; /* [predictor] prefetch_tier = ssd */

    pthread_mutex_t mf_mu; /* manifest cache */
    manifest_entry_t *mf_slots[4096];
    policy_t *mf_policy;
    _Atomic uint64_t inval_gen; /* bumped by every invalidation seen here */

    pthread_mutex_t fl_mu; /* flights */
    flight_t *flights;

    _Atomic uint64_t block_reads, backend_reads, backend_bytes, flight_joins;
    _Atomic uint64_t manifest_hits, manifest_misses, inval_sent, inval_received;
    _Atomic uint64_t prefetch_issued, prefetch_used, prefetch_dropped, readahead_issued;

    pthread_mutex_t pd_mu; /* keys whose write is pending elsewhere in this process */
    pthread_cond_t pd_cv;
    uint32_t pd_keys[CACHE_PENDING_SLOTS];    /* by name_hash */
    uint32_t pd_buckets[CACHE_PENDING_SLOTS]; /* by bucket_hash, for listings */

    pthread_rwlock_t ln_lock; /* the change listener: read-held while it is called */
    cache_change_fn ln_fn;
    void *ln_arg;
};

/* ---- manifest cache ------------------------------------------------------------------------ */

static uint64_t name_hash(const char *bucket, const char *key)
{
    return aug_hash64(key, strlen(key), aug_hash64(bucket, strlen(bucket), 7));
}

static uint64_t bucket_hash(const char *bucket)
{
    return aug_hash64(bucket, strlen(bucket), 13);
}

/* ---- pending writes ------------------------------------------------------------------------ */

cache_pending_t cache_pending_begin(cache_t *c, const char *bucket, const char *key)
{
    cache_pending_t t = {.key_slot = (uint32_t)(name_hash(bucket, key) % CACHE_PENDING_SLOTS),
                         .bucket_slot = (uint32_t)(bucket_hash(bucket) % CACHE_PENDING_SLOTS)};
    pthread_mutex_lock(&c->pd_mu);
    c->pd_keys[t.key_slot]++;
    c->pd_buckets[t.bucket_slot]++;
    pthread_mutex_unlock(&c->pd_mu);
    return t;
}

void cache_pending_end(cache_t *c, cache_pending_t t)
{
    pthread_mutex_lock(&c->pd_mu);
    assert(c->pd_keys[t.key_slot] > 0 && c->pd_buckets[t.bucket_slot] > 0);
    c->pd_keys[t.key_slot]--;
    c->pd_buckets[t.bucket_slot]--;
    pthread_cond_broadcast(&c->pd_cv);
    pthread_mutex_unlock(&c->pd_mu);
}

int cache_pending_wait(cache_t *c, const char *bucket, const char *key)
{
    uint32_t *slot = key ? &c->pd_keys[name_hash(bucket, key) % CACHE_PENDING_SLOTS]
                         : &c->pd_buckets[bucket_hash(bucket) % CACHE_PENDING_SLOTS];
    struct timespec until = aug_deadline_in(CACHE_PENDING_WAIT_MS * 1000000LL);
    pthread_mutex_lock(&c->pd_mu);
    int rc = 0;
    while (*slot > 0 && rc == 0)
        rc = pthread_cond_timedwait(&c->pd_cv, &c->pd_mu, &until);
    int left = *slot > 0;
    pthread_mutex_unlock(&c->pd_mu);
    return left ? AUG_EAGAIN : 0;
}

/* Remove the entry with this hash. Called with mf_mu held. */
static void mf_drop(cache_t *c, uint64_t hash)
{
    manifest_entry_t **pp = &c->mf_slots[hash % 4096];
    while (*pp && (*pp)->hash != hash) pp = &(*pp)->next;
    manifest_entry_t *e = *pp;
    if (!e) return;
    *pp = e->next;
    backend_manifest_free(e->m);
    free(e->name);
    free(e);
}

static void mf_on_evict(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    mf_drop(arg, key);
}

/* A copy of the cached manifest of bucket/key if present and fresh, else NULL. */
static backend_manifest_t *mf_get(cache_t *c, const char *bucket, const char *key)
{
    uint64_t h = name_hash(bucket, key);
    backend_manifest_t *copy = NULL;
    pthread_mutex_lock(&c->mf_mu);
    for (manifest_entry_t *e = c->mf_slots[h % 4096]; e; e = e->next) {
        if (e->hash != h || strcmp(e->m->bucket, bucket) != 0 || strcmp(e->m->key, key) != 0)
            continue;
        if (aug_mono_ns() < e->expires_ns) {
            copy = backend_manifest_copy(e->m);
            policy_access(c->mf_policy, h, 1);
        } else {
            policy_remove(c->mf_policy, h);
            mf_drop(c, h);
        }
        break;
    }
    pthread_mutex_unlock(&c->mf_mu);
    return copy;
}

static void mf_put(cache_t *c, const backend_manifest_t *m)
{
    uint64_t h = name_hash(m->bucket, m->key);
    manifest_entry_t *e = calloc(1, sizeof(*e));
    if (!e) return;
    e->m = backend_manifest_copy(m);
    e->hash = h;
    e->expires_ns = aug_mono_ns() + (int64_t)c->cfg.cache.manifest_ttl_ms * 1000000LL;
    if (!e->m) {
        free(e);
        return;
    }
    pthread_mutex_lock(&c->mf_mu);
    policy_remove(c->mf_policy, h);
    mf_drop(c, h);
    e->next = c->mf_slots[h % 4096];
    c->mf_slots[h % 4096] = e;
    policy_access(c->mf_policy, h, 1);
    pthread_mutex_unlock(&c->mf_mu);
}

static void mf_forget(cache_t *c, const char *bucket, const char *key)
{
    uint64_t h = name_hash(bucket, key);
    atomic_fetch_add(&c->inval_gen, 1);
    pthread_mutex_lock(&c->mf_mu);
    policy_remove(c->mf_policy, h);
    mf_drop(c, h);
    pthread_mutex_unlock(&c->mf_mu);
}

/* Redis came back: invalidations sent while we were cut off are lost, so forget every
 * cached manifest. */
static void on_redis_resync(void *arg)
{
    cache_t *c = arg;
    atomic_fetch_add(&c->inval_gen, 1);
    pthread_mutex_lock(&c->mf_mu);
    for (size_t i = 0; i < 4096; i++) {
        while (c->mf_slots[i]) {
            uint64_t h = c->mf_slots[i]->hash;
            policy_remove(c->mf_policy, h);
            mf_drop(c, h);
        }
    }
    pthread_mutex_unlock(&c->mf_mu);
}

static void on_remote_invalidation(void *arg, const char *bucket, const char *key)
{
    cache_t *c = arg;
    atomic_fetch_add(&c->inval_received, 1);
    mf_forget(c, bucket, key);
}

int cache_head(cache_t *c, const char *bucket, const char *key, backend_manifest_t **out,
               aug_err_t *err)
{
    backend_manifest_t *m = mf_get(c, bucket, key);
    if (m) {
        atomic_fetch_add(&c->manifest_hits, 1);
        *out = m;
        return 0;
    }
    atomic_fetch_add(&c->manifest_misses, 1);
    uint64_t gen = atomic_load(&c->inval_gen);
    if (c->redis) {
        uint8_t *buf;
        size_t len;
        if (redis_tier_get_manifest(c->redis, bucket, key, &buf, &len) == 0) {
            int rc = backend_manifest_decode(buf, len, &m);
            free(buf);
            if (rc == 0 && strcmp(m->bucket, bucket) == 0 && strcmp(m->key, key) == 0) {
                if (atomic_load(&c->inval_gen) == gen) mf_put(c, m);
                *out = m;
                return 0;
            }
            backend_manifest_free(m);
        }
    }
    int rc = backend_head(c->b, bucket, key, &m, err);
    if (rc != 0) return rc;
    /* an invalidation during the lookup may mean this copy is already old: don't keep it */
    if (atomic_load(&c->inval_gen) == gen) {
        mf_put(c, m);
        uint8_t *buf;
        size_t len;
        if (c->redis && backend_manifest_encode(m, &buf, &len) == 0) {
            redis_tier_put_manifest(c->redis, bucket, key, buf, len);
            free(buf);
        }
    }
    *out = m;
    return 0;
}

void cache_invalidate(cache_t *c, const char *bucket, const char *key)
{
    mf_forget(c, bucket, key);
    atomic_fetch_add(&c->inval_sent, 1);
    if (c->redis) redis_tier_invalidate(c->redis, bucket, key);
}

/* ---- blocks -------------------------------------------------------------------------------- */

uint64_t cache_block_size(const cache_t *c)
{
    return c->cfg.cache.block_size;
}

uint64_t cache_readahead_max(const cache_t *c)
{
    return c->cfg.cache.readahead_max;
}

static void block_key_of(const backend_manifest_t *m, uint64_t index, block_key_t *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->vid, m->version_id, sizeof(k->vid));
    k->index = index;
}

int cache_has_block(cache_t *c, const backend_manifest_t *m, uint64_t index)
{
    block_key_t k;
    block_key_of(m, index, &k);
    return (c->ram && ram_tier_contains(c->ram, &k)) || (c->ssd && ssd_tier_contains(c->ssd, &k));
}

typedef struct fill {
    block_buf_t *b;
    size_t pos;
} fill_t;

static int fill_block(void *arg, const void *data, size_t len)
{
    fill_t *f = arg;
    if (f->pos + len > f->b->len) return AUG_ECORRUPT;
    memcpy(f->b->data + f->pos, data, len);
    f->pos += len;
    return 0;
}

/* Bring the block in from the slower tiers or the backend, and admit it upwards. */
static block_buf_t *fetch_block(cache_t *c, const backend_manifest_t *m, const block_key_t *k,
                                int prefetch, aug_err_t *err)
{
    uint64_t bs = c->cfg.cache.block_size, off = k->index * bs;
    size_t len = (size_t)(m->size - off < bs ? m->size - off : bs);
    block_buf_t *b = c->ssd ? ssd_tier_get(c->ssd, k) : NULL;
    if (b && b->len != len) {
        block_buf_unref(b); /* a file of the wrong size cannot be this block */
        b = NULL;
    }
    /* a guess bound for the SSD tier alone must not push demand blocks out of RAM */
    int to_ram = c->ram && prefetch != 2;
    if (b) {
        if (to_ram) ram_tier_put(c->ram, k, b, prefetch);
        return b;
    }
    if (c->redis && len <= c->cfg.cache.redis_block_max && (b = block_buf_new(len))) {
        size_t got = 0;
        if (redis_tier_get_block(c->redis, k->vid, k->index, b->data, len, &got) == 0 &&
            got == len) {
            if (to_ram) ram_tier_put(c->ram, k, b, prefetch);
            if (c->ssd) ssd_tier_put(c->ssd, k, b);
            return b;
        }
        block_buf_unref(b);
        b = NULL;
    }
    b = block_buf_new(len);
    if (!b) {
        aug_err_set(err, AUG_ENOMEM, "out of memory");
        return NULL;
    }
    fill_t f = {.b = b};
    int rc = backend_read(c->b, m, off, len, fill_block, &f, err);
    if (rc == 0 && f.pos != len)
        rc = aug_err_set(err, AUG_ECORRUPT, "%s/%s: short read of block %llu", m->bucket, m->key,
                         (unsigned long long)k->index);
    if (rc != 0) {
        block_buf_unref(b);
        return NULL;
    }
    atomic_fetch_add(&c->backend_reads, 1);
    atomic_fetch_add(&c->backend_bytes, len);
    if (prefetch) atomic_fetch_add(&c->prefetch_issued, 1);
    if (to_ram) ram_tier_put(c->ram, k, b, prefetch);
    if (c->ssd) ssd_tier_put(c->ssd, k, b);
    if (c->redis && len <= c->cfg.cache.redis_block_max)
        redis_tier_put_block(c->redis, k->vid, k->index, b->data, len);
    return b;
}

block_buf_t *cache_get_block(cache_t *c, const backend_manifest_t *m, uint64_t index,
                             int prefetch, aug_err_t *err)
{
    block_key_t k;
    block_key_of(m, index, &k);
    if (!prefetch) atomic_fetch_add(&c->block_reads, 1);
    if (c->redis && !prefetch) redis_tier_count_access(c->redis, k.vid, k.index);
    if (c->cp && !prefetch) {
        uint64_t bs = c->cfg.cache.block_size, off = index * bs;
        cache_predict_observe(c->cp, m, &k, m->size - off < bs ? m->size - off : bs);
    }
    int was_prefetched = 0;
    block_buf_t *b = c->ram ? ram_tier_get(c->ram, &k, &was_prefetched) : NULL;
    if (b) {
        if (was_prefetched && !prefetch) atomic_fetch_add(&c->prefetch_used, 1);
        return b;
    }
    /* single flight: the first miss fetches, the others wait for its result */
    pthread_mutex_lock(&c->fl_mu);
    flight_t *f = c->flights;
    while (f && memcmp(&f->key, &k, sizeof(k)) != 0) f = f->next;
    if (f) {
        f->waiters++;
        atomic_fetch_add(&c->flight_joins, 1);
        while (!f->done) pthread_cond_wait(&f->done_cv, &c->fl_mu);
        b = f->result ? block_buf_ref(f->result) : NULL;
        if (!b && err) *err = f->err;
        int last = --f->waiters == 0;
        pthread_mutex_unlock(&c->fl_mu);
        if (last) {
            block_buf_unref(f->result);
            pthread_cond_destroy(&f->done_cv);
            free(f);
        }
        return b;
    }
    /* the block may have landed in RAM between our miss and taking the lock: fetchers put
     * it there before they leave the flight table */
    b = c->ram ? ram_tier_lookup(c->ram, &k, &was_prefetched, 0) : NULL;
    if (b) {
        pthread_mutex_unlock(&c->fl_mu);
        if (was_prefetched && !prefetch) atomic_fetch_add(&c->prefetch_used, 1);
        return b;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        pthread_mutex_unlock(&c->fl_mu);
        aug_err_set(err, AUG_ENOMEM, "out of memory");
        return NULL;
    }
    f->key = k;
    pthread_cond_init(&f->done_cv, NULL);
    f->waiters = 1; /* this caller */
    f->next = c->flights;
    c->flights = f;
    pthread_mutex_unlock(&c->fl_mu);

    aug_err_clear(&f->err);
    b = fetch_block(c, m, &k, prefetch, &f->err);
    if (!b && err) *err = f->err;

    pthread_mutex_lock(&c->fl_mu);
    for (flight_t **pp = &c->flights; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    f->result = b ? block_buf_ref(b) : NULL;
    f->done = 1;
    pthread_cond_broadcast(&f->done_cv);
    int last = --f->waiters == 0;
    pthread_mutex_unlock(&c->fl_mu);
    if (last) {
        block_buf_unref(f->result);
        pthread_cond_destroy(&f->done_cv);
        free(f);
    }
    return b;
}

int cache_prefetch_mode(const cache_t *c, int prio)
{
    return prio == CACHE_PRIO_GUESS && c->guess_ssd_only && c->ssd ? 2 : 1;
}

void cache_note_prefetch(cache_t *c, int issued_readahead, int dropped)
{
    if (issued_readahead) atomic_fetch_add(&c->readahead_issued, (uint64_t)issued_readahead);
    if (dropped) atomic_fetch_add(&c->prefetch_dropped, (uint64_t)dropped);
}

uint64_t cache_prefetch(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
                        int priority)
{
    if (!c->pf || len == 0 || off >= m->size || m->layout == NULL) return 0;
    uint64_t bs = c->cfg.cache.block_size;
    uint64_t end = len > m->size - off ? m->size : off + len;
    return prefetcher_enqueue(c->pf, m, off / bs, (end - 1) / bs, priority, 0);
}

void cache_prefetch_cancel(cache_t *c, uint64_t id)
{
    if (c->pf) prefetcher_cancel(c->pf, id);
}

/* ---- writes -------------------------------------------------------------------------------- */

struct cache_writer {
    cache_t *c;
    backend_writer_t *w;
    char *bucket, *key;
};

int cache_writer_open(cache_t *c, const char *bucket, const char *key,
                      const backend_put_attrs_t *attrs, cache_writer_t **out, aug_err_t *err)
{
    cache_writer_t *w = calloc(1, sizeof(*w));
    if (!w) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    w->c = c;
    w->bucket = strdup(bucket);
    w->key = strdup(key);
    int rc = w->bucket && w->key ? backend_writer_open(c->b, bucket, key, attrs, &w->w, err)
                                 : aug_err_set(err, AUG_ENOMEM, "out of memory");
    if (rc != 0) {
        free(w->bucket);
        free(w->key);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int cache_writer_write(cache_writer_t *w, const void *buf, size_t len, aug_err_t *err)
{
    return backend_writer_write(w->w, buf, len, err);
}

int cache_writer_set_meta(cache_writer_t *w, const char *name, const char *value)
{
    return backend_writer_set_meta(w->w, name, value);
}

void cache_set_change_listener(cache_t *c, cache_change_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&c->ln_lock); /* waits for calls in progress */
    c->ln_fn = fn;
    c->ln_arg = arg;
    pthread_rwlock_unlock(&c->ln_lock);
}

/* A key changed: every instance forgets its manifest; this one learns the new one, and the
 * listener hears of it (after, so that it reads the new manifest). */
static void changed(cache_t *c, const char *bucket, const char *key, const backend_manifest_t *m)
{
    cache_invalidate(c, bucket, key);
    if (m) mf_put(c, m);
    pthread_rwlock_rdlock(&c->ln_lock);
    if (c->ln_fn) c->ln_fn(c->ln_arg, bucket, key);
    pthread_rwlock_unlock(&c->ln_lock);
}

int cache_writer_commit(cache_writer_t *w, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *m = NULL;
    int rc = backend_writer_commit(w->w, &m, err);
    if (rc == 0) changed(w->c, w->bucket, w->key, m);
    if (rc == 0 && out) *out = m;
    else backend_manifest_free(m);
    free(w->bucket);
    free(w->key);
    free(w);
    return rc;
}

void cache_writer_abort(cache_writer_t *w)
{
    if (!w) return;
    backend_writer_abort(w->w);
    free(w->bucket);
    free(w->key);
    free(w);
}

int cache_delete(cache_t *c, const char *bucket, const char *key, aug_err_t *err)
{
    int rc = backend_delete(c->b, bucket, key, err);
    /* even a failed delete may have reached some nodes: forget what we had */
    changed(c, bucket, key, NULL);
    return rc;
}

int cache_put_composed(cache_t *c, const char *bucket, const char *key,
                       const backend_put_attrs_t *attrs, const backend_piece_t *pieces, size_t n,
                       const char *etag, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *m = NULL;
    int rc = backend_put_composed(c->b, bucket, key, attrs, pieces, n, etag, &m, err);
    if (rc == 0) changed(c, bucket, key, m);
    if (rc == 0 && out) *out = m;
    else backend_manifest_free(m);
    return rc;
}

int cache_upload_complete(cache_t *c, const char *bucket, const char *upload_id,
                          const backend_piece_t *pieces, size_t n, const char *etag,
                          const char *part_sizes, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *m = NULL;
    int rc = backend_upload_complete(c->b, bucket, upload_id, pieces, n, etag, part_sizes, &m,
                                     err);
    if (rc == 0) changed(c, bucket, m->key, m);
    if (rc == 0 && out) *out = m;
    else backend_manifest_free(m);
    return rc;
}

/* ---- lifetime and statistics ----------------------------------------------------------- */

backend_t *cache_backend(cache_t *c)
{
    return c->b;
}

static int open_redis(cache_t *c, aug_err_t *err)
{
    if (!c->cfg.redis.url[0]) return 0;
    char password[256] = "";
    if (c->cfg.redis.password_file[0]) {
        FILE *f = fopen(c->cfg.redis.password_file, "r");
        if (!f || !fgets(password, sizeof(password), f)) {
            if (f) fclose(f);
            return aug_err_set(err, AUG_ECONFIG, "[redis] password_file %s cannot be read",
                               c->cfg.redis.password_file);
        }
        fclose(f);
        password[strcspn(password, "\r\n")] = '\0';
    }
    redis_tier_config_t rc = {
        .url = c->cfg.redis.url,
        .password = password[0] ? password : NULL,
        .size_bytes = c->cfg.cache.redis_size,
        .block_max = c->cfg.cache.redis_block_max,
        .manifest_ttl_ms = c->cfg.cache.manifest_ttl_ms,
        .policy = c->cfg.cache.redis_policy,
        .on_invalidate = on_remote_invalidation,
        .arg = c,
        .on_resync = on_redis_resync,
    };
    int r = redis_tier_open(&rc, &c->redis, err);
    memset(password, 0, sizeof(password));
    return r;
}

int cache_open(const aug_config_t *cfg, backend_t *b, cache_t **out, aug_err_t *err)
{
    cache_t *c = calloc(1, sizeof(*c));
    if (!c) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    c->b = b;
    c->cfg = *cfg;
    pthread_mutex_init(&c->mf_mu, NULL);
    pthread_mutex_init(&c->fl_mu, NULL);
    pthread_rwlock_init(&c->ln_lock, NULL);
    pthread_mutex_init(&c->pd_mu, NULL);
    pthread_cond_init(&c->pd_cv, NULL);
    int rc = 0;
    c->mf_policy = policy_create("lru", MANIFEST_ENTRIES, err);
    if (!c->mf_policy) rc = err ? err->code : AUG_ENOMEM;
    else policy_set_evict_hook(c->mf_policy, mf_on_evict, c);
    if (rc == 0 && cfg->cache.ram_size > 0)
        rc = ram_tier_open(cfg->cache.ram_size, cfg->cache.ram_policy, &c->ram, err);
    if (rc == 0 && cfg->cache.dir[0] && cfg->cache.ssd_size > 0)
        rc = ssd_tier_open(cfg->cache.dir, cfg->cache.ssd_size, cfg->cache.ssd_min_free,
                           cfg->cache.ssd_policy, &c->ssd, err);
    if (rc == 0) rc = open_redis(c, err);
    if (rc == 0 && cfg->cache.prefetch_inflight > 0 &&
        prefetcher_open(c, cfg->cache.prefetch_inflight, cfg->cache.prefetch_rate, &c->pf) != 0)
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
    if (rc == 0) rc = cache_predict_open(c, cfg, &c->cp, err);
    if (rc == 0 && c->cp) {
        c->guess_ssd_only = strcmp(cfg->predictor.prefetch_tier, "ssd") == 0;
        if (c->ram) ram_tier_set_scorer(c->ram, cache_predict_score, c->cp);
        if (c->ssd) ssd_tier_set_scorer(c->ssd, cache_predict_score, c->cp);
    }
    if (rc != 0) {
        cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cache_close(cache_t *c)
{
    if (!c) return;
    /* the tiers stop asking the predictor for scores (evictions hold the tier's lock, so
     * none is in flight after this), then the predictor and its guess thread stop, then
     * the prefetch workers that use the tiers */
    if (c->ram) ram_tier_set_scorer(c->ram, NULL, NULL);
    if (c->ssd) ssd_tier_set_scorer(c->ssd, NULL, NULL);
    cache_predict_close(c->cp);
    prefetcher_close(c->pf);
    redis_tier_close(c->redis);
    ram_tier_close(c->ram);
    ssd_tier_close(c->ssd);
    for (size_t i = 0; i < 4096; i++) {
        for (manifest_entry_t *e = c->mf_slots[i], *next; e; e = next) {
            next = e->next;
            backend_manifest_free(e->m);
            free(e->name);
            free(e);
        }
    }
    policy_destroy(c->mf_policy);
    pthread_mutex_destroy(&c->mf_mu);
    pthread_mutex_destroy(&c->fl_mu);
    pthread_rwlock_destroy(&c->ln_lock);
    pthread_mutex_destroy(&c->pd_mu);
    pthread_cond_destroy(&c->pd_cv);
    free(c);
}

int cache_reconfigure(cache_t *c, const aug_config_t *cfg, aug_err_t *err)
{
    (void)err;
    if (c->ram) ram_tier_resize(c->ram, cfg->cache.ram_size, cfg->cache.ram_policy);
    if (c->ssd) ssd_tier_resize(c->ssd, cfg->cache.ssd_size, cfg->cache.ssd_policy);
    if (c->pf)
        prefetcher_configure(c->pf, cfg->cache.prefetch_inflight, cfg->cache.prefetch_rate);
    if (c->cp) { /* the model itself is chosen at start; its budgets follow reloads */
        cache_predict_reconfigure(c->cp, cfg);
        atomic_store(&c->guess_ssd_only, strcmp(cfg->predictor.prefetch_tier, "ssd") == 0);
    }
    c->cfg.cache.ram_size = cfg->cache.ram_size;
    c->cfg.cache.ssd_size = cfg->cache.ssd_size;
    c->cfg.cache.readahead_max = cfg->cache.readahead_max;
    c->cfg.cache.manifest_ttl_ms = cfg->cache.manifest_ttl_ms;
    return 0;
}

void cache_get_stats(cache_t *c, cache_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (c->cp) cache_predict_stats(c->cp, &st->predictor);
    uint64_t wasted = 0;
    if (c->ram) ram_tier_stats(c->ram, &st->ram, &wasted);
    if (c->ssd) ssd_tier_stats(c->ssd, &st->ssd);
    if (c->redis) {
        redis_tier_stats_t rs;
        redis_tier_get_stats(c->redis, &rs);
        st->redis = (cache_tier_stats_t){.capacity_bytes = rs.capacity_bytes,
                                         .used_bytes = rs.used_bytes, .blocks = rs.blocks,
                                         .hits = rs.hits, .misses = rs.misses,
                                         .evictions = rs.evictions, .errors = rs.errors};
        st->redis_up = redis_tier_up(c->redis);
    }
    st->block_reads = atomic_load(&c->block_reads);
    st->backend_reads = atomic_load(&c->backend_reads);
    st->backend_bytes = atomic_load(&c->backend_bytes);
    st->flight_joins = atomic_load(&c->flight_joins);
    st->manifest_hits = atomic_load(&c->manifest_hits);
    st->manifest_misses = atomic_load(&c->manifest_misses);
    st->invalidations_sent = atomic_load(&c->inval_sent);
    st->invalidations_received = atomic_load(&c->inval_received);
    st->prefetch_issued = atomic_load(&c->prefetch_issued);
    st->prefetch_used = atomic_load(&c->prefetch_used);
    st->prefetch_wasted = wasted;
    st->prefetch_dropped = atomic_load(&c->prefetch_dropped);
    st->readahead_issued = atomic_load(&c->readahead_issued);
}
