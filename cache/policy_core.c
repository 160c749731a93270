/* policy_core.c - the policy API: name lookup, key table, node allocator and counters. */
#include "cache/policy.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Buckets a new table starts with; it doubles whenever nodes outnumber buckets. */
#define POLICY_TABLE_MIN 1024
/* Nodes carved from one malloc: large enough that allocation cost vanishes per request. */
#define POLICY_CHUNK_NODES 4096
/* Seed of the key hash; any constant works, a fixed one keeps runs reproducible. */
#define POLICY_HASH_SEED 0x61756775725f7031ULL

typedef struct policy_chunk {
    struct policy_chunk *next;
    policy_node_t nodes[POLICY_CHUNK_NODES];
} policy_chunk_t;

static const policy_ops_t *const policy_all[] = {
    &policy_lru_ops,   &policy_fifo_ops, &policy_s3fifo_ops,
    &policy_sieve_ops, &policy_arc_ops,  &policy_learned_ops,
};
#define POLICY_N_ALL (sizeof(policy_all) / sizeof(policy_all[0]))

/* Bucket index of key. */
static inline uint64_t policy_table_slot(const policy_t *p, uint64_t key)
{
    return aug_hash64(&key, sizeof(key), POLICY_HASH_SEED) & p->mask;
}

/* The node of key (resident or ghost), or NULL. */
static policy_node_t *policy_table_find(const policy_t *p, uint64_t key)
{
    policy_node_t *n = p->buckets[policy_table_slot(p, key)];
    while (n && n->key != key)
        n = n->hnext;
    return n;
}

/* Double the bucket array; on ENOMEM the table just stays denser. */
static void policy_table_grow(policy_t *p)
{
    uint64_t nb = (p->mask + 1) * 2;
    policy_node_t **b = calloc(nb, sizeof(*b));
    if (!b) return;
    policy_node_t **old = p->buckets;
    uint64_t old_n = p->mask + 1;
    p->buckets = b;
    p->mask = nb - 1;
    for (uint64_t i = 0; i < old_n; i++) {
        policy_node_t *n = old[i];
        while (n) {
            policy_node_t *next = n->hnext;
            uint64_t s = policy_table_slot(p, n->key);
            n->hnext = b[s];
            b[s] = n;
            n = next;
        }
    }
    free(old);
}

/* The implementation called name, or NULL. */
static const policy_ops_t *policy_ops_find(const char *name)
{
    for (size_t i = 0; name && i < POLICY_N_ALL; i++)
        if (strcmp(policy_all[i]->name, name) == 0) return policy_all[i];
    return NULL;
}

/* True if policy_create accepts name. */
bool policy_name_known(const char *name)
{
    return policy_ops_find(name) != NULL;
}

/* Known names for messages (static storage). */
const char *policy_names(void)
{
    return "lru, fifo, s3fifo, sieve, arc, learned";
}

/* Allocate a policy and its empty table; NULL with err set on a bad name, zero capacity
 * or ENOMEM. The caller frees it with policy_destroy. */
policy_t *policy_create(const char *name, uint64_t capacity_bytes, aug_err_t *err)
{
    const policy_ops_t *ops = policy_ops_find(name);
    if (!ops) {
        aug_err_set(err, AUG_EINVAL, "unknown eviction policy '%s' (known: %s)",
                    name ? name : "(null)", policy_names());
        return NULL;
    }
    if (capacity_bytes == 0) {
        aug_err_set(err, AUG_EINVAL, "policy %s: capacity must be at least 1 byte", name);
        return NULL;
    }
    policy_t *p = calloc(1, sizeof(*p));
    if (!p) goto nomem;
    p->ops = ops;
    p->capacity = capacity_bytes;
    p->buckets = calloc(POLICY_TABLE_MIN, sizeof(*p->buckets));
    if (!p->buckets) goto nomem;
    p->mask = POLICY_TABLE_MIN - 1;
    if (ops->init(p) != 0) goto nomem;
    return p;
nomem:
    if (p) free(p->buckets);
    free(p);
    aug_err_set(err, AUG_ENOMEM, "policy %s: out of memory", name);
    return NULL;
}

/* Free the policy, its node chunks and table; hooks are not called. */
void policy_destroy(policy_t *p)
{
    if (!p) return;
    p->ops->fini(p);
    policy_chunk_t *c = p->chunks;
    while (c) {
        policy_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(p->buckets);
    free(p);
}

/* Look key up once; hand a hit or a miss (with its ghost, if any) to the policy.
 * Returns POLICY_HIT, POLICY_MISS or AUG_ENOMEM. */
int policy_access(policy_t *p, uint64_t key, uint64_t size)
{
    policy_node_t *n = policy_table_find(p, key);
    if (n && !n->ghost) {
        p->ops->hit(p, n);
        return POLICY_HIT;
    }
    int rc = p->ops->miss(p, key, size, n);
    assert(p->used <= p->capacity);
    return rc < 0 ? rc : POLICY_MISS;
}

/* Admit key unless resident, without counting a request: a prefetch. Returns 1 if it was
 * admitted, 0 if it was resident already or declined, or AUG_ENOMEM. */
int policy_insert(policy_t *p, uint64_t key, uint64_t size)
{
    policy_node_t *n = policy_table_find(p, key);
    if (n && !n->ghost) return 0;
    int rc = p->ops->miss(p, key, size, n);
    assert(p->used <= p->capacity);
    if (rc < 0) return rc;
    return policy_contains(p, key) ? 1 : 0;
}

/* Forget key whether resident or ghost; 0 if it was resident, else AUG_ENOENT. */
int policy_remove(policy_t *p, uint64_t key)
{
    policy_node_t *n = policy_table_find(p, key);
    if (!n) return AUG_ENOENT;
    int was_resident = !n->ghost;
    p->ops->unlink(p, n);
    if (was_resident) {
        p->used -= n->size;
        p->count--;
    }
    policy_node_free(p, n);
    return was_resident ? 0 : AUG_ENOENT;
}

/* True if key is resident. */
bool policy_contains(const policy_t *p, uint64_t key)
{
    const policy_node_t *n = policy_table_find(p, key);
    return n && !n->ghost;
}

/* Resident bytes. */
uint64_t policy_used_bytes(const policy_t *p)
{
    return p->used;
}

/* Resident keys. */
uint64_t policy_count(const policy_t *p)
{
    return p->count;
}

/* Capacity given at creation. */
uint64_t policy_capacity_bytes(const policy_t *p)
{
    return p->capacity;
}

/* Evictions so far. */
uint64_t policy_evictions(const policy_t *p)
{
    return p->evictions;
}

/* The policy's name (static storage). */
const char *policy_name(const policy_t *p)
{
    return p->ops->name;
}

/* Install or clear (fn NULL) the eviction hook. */
void policy_set_evict_hook(policy_t *p, policy_evict_fn fn, void *arg)
{
    p->on_evict = fn;
    p->evict_arg = fn ? arg : NULL;
}

/* Pass a scorer to a policy that takes one; AUG_EINVAL for the others. */
int policy_set_scorer(policy_t *p, policy_score_fn fn, void *arg)
{
    if (!p->ops->set_scorer) return AUG_EINVAL;
    p->ops->set_scorer(p, fn, arg);
    return 0;
}

/* Take a node from the free list (growing it by a chunk if empty) and enter it in the
 * table as a ghost. NULL on ENOMEM. */
policy_node_t *policy_node_new(policy_t *p, uint64_t key, uint64_t size)
{
    if (!p->free_nodes) {
        policy_chunk_t *c = malloc(sizeof(*c));
        if (!c) return NULL;
        c->next = p->chunks;
        p->chunks = c;
        for (size_t i = POLICY_CHUNK_NODES; i-- > 0;) {
            c->nodes[i].hnext = p->free_nodes;
            p->free_nodes = &c->nodes[i];
        }
    }
    policy_node_t *n = p->free_nodes;
    p->free_nodes = n->hnext;
    memset(n, 0, sizeof(*n));
    n->key = key;
    n->size = size;
    n->ghost = 1;
    uint64_t s = policy_table_slot(p, key);
    n->hnext = p->buckets[s];
    p->buckets[s] = n;
    if (++p->n_nodes > p->mask + 1) policy_table_grow(p);
    return n;
}

/* Unchain n from its bucket and return it to the free list. */
void policy_node_free(policy_t *p, policy_node_t *n)
{
    policy_node_t **pp = &p->buckets[policy_table_slot(p, n->key)];
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    p->n_nodes--;
    n->hnext = p->free_nodes;
    p->free_nodes = n;
}

/* Count n as resident. */
void policy_node_admit(policy_t *p, policy_node_t *n)
{
    assert(n->ghost);
    n->ghost = 0;
    p->used += n->size;
    p->count++;
}

/* Uncount resident n, count the eviction, tell the hook. */
void policy_node_evicted(policy_t *p, policy_node_t *n)
{
    assert(!n->ghost);
    n->ghost = 1;
    p->used -= n->size;
    p->count--;
    p->evictions++;
    if (p->on_evict) p->on_evict(p->evict_arg, n->key, n->size);
}

int policy_list_miss(policy_t *p, policy_list_t *l, uint64_t key, uint64_t size)
{
    if (size > p->capacity) return 0;
    while (p->used + size > p->capacity) {
        policy_node_t *victim = l->tail;
        policy_list_unlink(l, victim);
        policy_node_evicted(p, victim);
        policy_node_free(p, victim);
    }
    policy_node_t *n = policy_node_new(p, key, size);
    if (!n) return AUG_ENOMEM;
    policy_list_push(l, n);
    policy_node_admit(p, n);
    return 0;
}
