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
    block_key_t key;
    uint64_t hash;
    block_buf_t *buf;
    int prefetched; /* fetched ahead and not read yet */
    struct ram_entry *next;
} ram_entry_t;

struct ram_tier {
    pthread_mutex_t mu;
    policy_t *policy;
    ram_entry_t **slots;
    size_t n_slots, count;
    uint64_t hits, misses, wasted;
};

static ram_entry_t **find_slot(ram_tier_t *t, uint64_t hash, const block_key_t *k)
{
    ram_entry_t **pp = &t->slots[hash & (t->n_slots - 1)];
    while (*pp && ((*pp)->hash != hash || memcmp(&(*pp)->key, k, sizeof(*k)) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Remove the entry whose policy key is hash (policy keys are the block hashes). */
static void drop_hash(ram_tier_t *t, uint64_t hash)
{
    ram_entry_t **pp = &t->slots[hash & (t->n_slots - 1)];
    while (*pp && (*pp)->hash != hash) pp = &(*pp)->next;
    ram_entry_t *e = *pp;
    if (!e) return;
    *pp = e->next;
    if (e->prefetched) t->wasted++;
    block_buf_unref(e->buf);
    free(e);
    t->count--;
}

static void on_evict(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    drop_hash(arg, key);
}

static void grow(ram_tier_t *t)
{
    size_t n = t->n_slots * 2;
    ram_entry_t **slots = calloc(n, sizeof(*slots));
    if (!slots) return;
    for (size_t i = 0; i < t->n_slots; i++) {
        for (ram_entry_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
}

int ram_tier_open(uint64_t size, const char *policy, ram_tier_t **out, aug_err_t *err)
{
    ram_tier_t *t = calloc(1, sizeof(*t));
    if (!t) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    t->n_slots = 1024;
    t->slots = calloc(t->n_slots, sizeof(*t->slots));
    t->policy = policy_create(policy, size ? size : 1, err);
    if (!t->slots || !t->policy) {
        free(t->slots);
        policy_destroy(t->policy);
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
    for (size_t i = 0; i < t->n_slots; i++) {
        for (ram_entry_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            block_buf_unref(e->buf);
            free(e);
        }
    }
    free(t->slots);
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
    ram_entry_t *e = *find_slot(t, h, k);
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
    int found = *find_slot(t, h, k) != NULL;
    pthread_mutex_unlock(&t->mu);
    return found;
}

void ram_tier_put(ram_tier_t *t, const block_key_t *k, block_buf_t *b, int prefetched)
{
    uint64_t h = block_key_hash(k);
    pthread_mutex_lock(&t->mu);
    ram_entry_t **pp = find_slot(t, h, k);
    if (*pp) {
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
    e->key = *k;
    e->hash = h;
    e->buf = block_buf_ref(b);
    e->prefetched = prefetched;
    e->next = *pp;
    *pp = e;
    t->count++;
    if (t->count > t->n_slots) grow(t);
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
    /* replay what is resident into the new policy; whatever it will not hold is dropped */
    policy_destroy(t->policy);
    t->policy = p;
    /* no hook while replaying: entries are dropped after, not under the iteration */
    for (size_t i = 0; i < t->n_slots; i++) {
        for (ram_entry_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            policy_access(p, e->hash, e->buf->len);
        }
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        for (ram_entry_t *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            if (!policy_contains(p, e->hash)) drop_hash(t, e->hash);
        }
    }
    policy_set_evict_hook(p, on_evict, t);
    pthread_mutex_unlock(&t->mu);
}

void ram_tier_stats(ram_tier_t *t, cache_tier_stats_t *st, uint64_t *wasted)
{
    pthread_mutex_lock(&t->mu);
    st->capacity_bytes = policy_capacity_bytes(t->policy);
    st->used_bytes = policy_used_bytes(t->policy);
    st->blocks = t->count;
    st->hits = t->hits;
    st->misses = t->misses;
    st->evictions = policy_evictions(t->policy);
    st->errors = 0;
    if (wasted) *wasted = t->wasted;
    pthread_mutex_unlock(&t->mu);
}
