/* tier_ram.c - the RAM tier: blocks in process memory under a byte budget, evicted by a policy
 * from policy.h. Buffers are reference counted, so a reader keeps its block even if the tier
 * evicts it meanwhile. */
#include "tiers.h"

#include <stdlib.h>
#include <string.h>

block_buf_t *block_buf_new(size_t len)
{
    block_buf_t *b = malloc(sizeof(*b) + (len ? len : 1));
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    return b;
}

void block_buf_unref(block_buf_t *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

typedef struct ram_entry {
    block_map_entry_t base; /* first: the map's view of this entry */
    block_buf_t *buf;
    int prefetched; /* fetched ahead and not read yet */
} ram_entry_t;

struct ram_tier {
    pthread_mutex_t mu;
    policy_t *policy;
    policy_score_fn score; /* for a learned policy */
    void *score_arg;
    block_map_t map;
    uint64_t hits, misses, wasted;
};

static void free_entry(block_map_entry_t *e)
{
    block_buf_unref(((ram_entry_t *)e)->buf);
    free(e);
}

/* Remove the entry whose policy key is hash (policy keys are the block hashes). */
static void drop_hash(ram_tier_t *t, uint64_t hash)
{
    ram_entry_t *e = (ram_entry_t *)block_map_remove(&t->map, hash);
    if (!e) return;
    if (e->prefetched) t->wasted++;
    free_entry(&e->base);
}

static void on_evict(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    drop_hash(arg, key);
}

static uint64_t entry_size(const block_map_entry_t *e)
{
    return ((const ram_entry_t *)e)->buf->len;
}

static void drop_in_tier(void *tier, uint64_t hash)
{
    drop_hash(tier, hash);
}

int ram_tier_open(uint64_t size, const char *policy, ram_tier_t **out, aug_err_t *err)
{
    ram_tier_t *t = calloc(1, sizeof(*t));
    if (!t) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = block_map_init(&t->map);
    t->policy = rc == 0 ? policy_create(policy, size ? size : 1, err) : NULL;
    if (!t->policy) {
        block_map_destroy(&t->map, free_entry);
        free(t);
        return err && err->code ? err->code : AUG_ENOMEM;
    }
    policy_set_evict_hook(t->policy, on_evict, t);
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void ram_tier_close(ram_tier_t *t)
{
    if (!t) return;
    block_map_destroy(&t->map, free_entry);
    policy_destroy(t->policy);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

block_buf_t *ram_tier_get(ram_tier_t *t, const block_key_t *k, int *prefetched)
{
    return ram_tier_lookup(t, k, prefetched, 1);
}

block_buf_t *ram_tier_lookup(ram_tier_t *t, const block_key_t *k, int *prefetched, int count)
{
    uint64_t h = block_key_hash(k);
    block_buf_t *b = NULL;
    *prefetched = 0;
    pthread_mutex_lock(&t->mu);
    ram_entry_t *e = (ram_entry_t *)block_map_find(&t->map, h, k);
    if (e) {
        b = block_buf_ref(e->buf);
        *prefetched = e->prefetched;
        e->prefetched = 0;
        policy_access(t->policy, h, e->buf->len); /* a hit: the policy notes the reuse */
        if (count) t->hits++;
    } else if (count) {
        t->misses++;
    }
    pthread_mutex_unlock(&t->mu);
    return b;
}

int ram_tier_contains(ram_tier_t *t, const block_key_t *k)
{
    uint64_t h = block_key_hash(k);
    pthread_mutex_lock(&t->mu);
    int found = block_map_find(&t->map, h, k) != NULL;
    pthread_mutex_unlock(&t->mu);
    return found;
}

void ram_tier_put(ram_tier_t *t, const block_key_t *k, block_buf_t *b, int prefetched)
{
    uint64_t h = block_key_hash(k);
    pthread_mutex_lock(&t->mu);
    if (block_map_find(&t->map, h, k)) {
        pthread_mutex_unlock(&t->mu);
        return; /* another reader put it first */
    }
    /* a different block with the same 64-bit hash would confuse the policy: keep the first */
    if (policy_contains(t->policy, h)) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    ram_entry_t *e = malloc(sizeof(*e));
    if (!e) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    e->buf = block_buf_ref(b);
    e->prefetched = prefetched;
    block_map_insert(&t->map, &e->base, k);
    /* admission may evict others (the hook drops them) or decline this one */
    policy_access(t->policy, h, b->len);
    if (!policy_contains(t->policy, h)) drop_hash(t, h);
    pthread_mutex_unlock(&t->mu);
}

void ram_tier_resize(ram_tier_t *t, uint64_t size, const char *policy)
{
    aug_err_t err;
    policy_t *p = policy_create(policy, size ? size : 1, &err);
    if (!p) return;
    pthread_mutex_lock(&t->mu);
    policy_destroy(t->policy);
    t->policy = p;
    if (t->score) policy_set_scorer(p, t->score, t->score_arg);
    block_map_replay(&t->map, p, entry_size, drop_in_tier, t);
    policy_set_evict_hook(p, on_evict, t);
    pthread_mutex_unlock(&t->mu);
}

void ram_tier_stats(ram_tier_t *t, cache_tier_stats_t *st, uint64_t *wasted)
{
    pthread_mutex_lock(&t->mu);
    st->capacity_bytes = policy_capacity_bytes(t->policy);
    st->used_bytes = policy_used_bytes(t->policy);
    st->blocks = t->map.count;
    st->hits = t->hits;
    st->misses = t->misses;
    st->evictions = policy_evictions(t->policy);
    st->errors = 0;
    if (wasted) *wasted = t->wasted;
    pthread_mutex_unlock(&t->mu);
}

/* Remember the scorer and hand it to the policy if it is a learned one. */
void ram_tier_set_scorer(ram_tier_t *t, policy_score_fn fn, void *arg)
{
    pthread_mutex_lock(&t->mu);
    t->score = fn;
    t->score_arg = arg;
    policy_set_scorer(t->policy, fn, arg); /* AUG_EINVAL for other policies: nothing to do */
    pthread_mutex_unlock(&t->mu);
}
