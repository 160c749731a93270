/* policy.h - eviction policies over (key, size) that never touch bytes (private to cache/). */
#ifndef AUGUR_CACHE_POLICY_H
#define AUGUR_CACHE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

/*
 * A policy decides which keys a byte budget holds. It sees only (key, size) pairs: the tiered
 * cache stores the bytes and asks the policy what to keep; `augur trace replay` runs the very
 * same code over recorded traces. Every operation is O(1) (amortised over hash-table growth).
 *
 * Names: "lru", "fifo", "s3fifo" (S3-FIFO, SOSP '23), "sieve" (SIEVE, NSDI '24), "arc"
 * (ARC, FAST '03, counted in bytes) and "learned" (evicts the sampled key predicted to be
 * wanted last; S3-FIFO until a scorer is set).
 *
 * Accounting follows the usual simulator definitions: a request for a resident key is a hit
 * even if it names a different size (the resident size is kept); an object larger than the
 * capacity is never admitted, and S3-FIFO (and "learned") also declines a new object larger
 * than its small queue (10 % of the capacity), which it could only pass through by flushing
 * that queue.
 *
 * Thread safety: none. A policy_t belongs to one thread at a time; the owner locks.
 */

typedef struct policy policy_t;

/* Result of policy_access (negative values are AUG_E* errors). */
enum { POLICY_MISS = 0, POLICY_HIT = 1 };

/* Called once for each key the policy evicts to make room, after the key stopped being
 * resident. Not called by policy_remove or policy_destroy. The hook must not call back into
 * the same policy. */
typedef void (*policy_evict_fn)(void *arg, uint64_t key, uint64_t size);

/* For "learned": predicted time until the next access of key (any monotone unit, e.g.
 * requests or nanoseconds); UINT64_MAX = never again. Larger means evicted sooner. */
typedef uint64_t (*policy_score_fn)(void *arg, uint64_t key, uint64_t size);
/* What a scorer returns while its model is still cold: "learned" then evicts as S3-FIFO. */
#define POLICY_SCORE_COLD (UINT64_MAX - 1)

/* Create the policy called name with a budget of capacity_bytes (> 0). Returns NULL with err
 * set (AUG_EINVAL for an unknown name or zero capacity, AUG_ENOMEM) on failure. The caller
 * frees it with policy_destroy. */
policy_t *policy_create(const char *name, uint64_t capacity_bytes, aug_err_t *err);

/* Free p and everything it holds (NULL is fine). No eviction hooks are called. */
void policy_destroy(policy_t *p);

/* Record one request for key of size bytes. On a miss the key is admitted (evicting others
 * as needed, each reported to the eviction hook) unless the policy declines it, e.g. because
 * it is larger than the capacity. Returns POLICY_HIT, POLICY_MISS, or AUG_ENOMEM (the request
 * then counts as a miss that was not admitted; the policy stays consistent). */
int policy_access(policy_t *p, uint64_t key, uint64_t size);

/* Admit key of size bytes as a prefetch would: no request is counted and a resident key is
 * left as it is (no hit is recorded). Evicts as a miss does. Returns 1 if admitted, 0 if it
 * was resident already or the policy declined it, or AUG_ENOMEM. */
int policy_insert(policy_t *p, uint64_t key, uint64_t size);

/* Drop key (resident or remembered as a ghost) without counting an eviction or calling the
 * hook, e.g. because the object was deleted. Returns 0, or AUG_ENOENT if it was not
 * resident. */
int policy_remove(policy_t *p, uint64_t key);

/* True if key is resident (ghost entries do not count). Does not count as an access. */
bool policy_contains(const policy_t *p, uint64_t key);

/* Bytes held by resident keys; never above the capacity. */
uint64_t policy_used_bytes(const policy_t *p);
/* Number of resident keys. */
uint64_t policy_count(const policy_t *p);
/* The capacity given at creation. */
uint64_t policy_capacity_bytes(const policy_t *p);
/* Keys evicted to make room since creation (policy_remove does not count). */
uint64_t policy_evictions(const policy_t *p);
/* The name the policy was created with (static storage). */
const char *policy_name(const policy_t *p);

/* Install (or with fn NULL, clear) the eviction hook. */
void policy_set_evict_hook(policy_t *p, policy_evict_fn fn, void *arg);

/* Give a "learned" policy its scorer (fn NULL falls back to S3-FIFO). Returns 0, or
 * AUG_EINVAL if p is not a learned policy. */
int policy_set_scorer(policy_t *p, policy_score_fn fn, void *arg);

/* True if name is a policy policy_create knows. */
bool policy_name_known(const char *name);
/* Comma-separated list of known names, for help and error messages (static storage). */
const char *policy_names(void);

/* ---- for the policy implementations (policy_*.c) only -------------------------------------
 *
 * The core (policy_core.c) owns the hash table of nodes, the node allocator and the counters;
 * each policy owns the lists its nodes are on. A node stays in the table while it is resident
 * or a ghost (a remembered, non-resident key some policies use to adapt).
 */

typedef struct policy_node {
    uint64_t key;
    uint64_t size;
    struct policy_node *newer; /* towards the head of the node's list */
    struct policy_node *older; /* towards the tail */
    struct policy_node *hnext; /* hash chain */
    uint32_t slot;             /* "learned": index in its sample array */
    uint8_t queue;             /* which of the policy's lists holds the node */
    uint8_t freq;              /* policy-specific access counter or visited bit */
    uint8_t ghost;             /* 1 while not resident */
} policy_node_t;

/* A doubly linked list: head is the newest insertion, tail the oldest. */
typedef struct policy_list {
    policy_node_t *head;
    policy_node_t *tail;
    uint64_t bytes;
    uint64_t count;
} policy_list_t;

typedef struct policy_ops {
    const char *name;
    /* Set up p->impl; 0 or AUG_ENOMEM. */
    int (*init)(policy_t *p);
    /* Free p->impl (nodes are freed by the core). */
    void (*fini)(policy_t *p);
    /* A request found resident node n. */
    void (*hit)(policy_t *p, policy_node_t *n);
    /* A request missed; ghost is the key's ghost node or NULL. Admits or declines; returns 0
     * or AUG_ENOMEM. */
    int (*miss)(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost);
    /* Take n (resident or ghost) off its list before the core frees it. */
    void (*unlink)(policy_t *p, policy_node_t *n);
    /* Optional: install a scorer; NULL means the policy takes none. */
    void (*set_scorer)(policy_t *p, policy_score_fn fn, void *arg);
} policy_ops_t;

extern const policy_ops_t policy_lru_ops;
extern const policy_ops_t policy_fifo_ops;
extern const policy_ops_t policy_sieve_ops;
extern const policy_ops_t policy_s3fifo_ops;
extern const policy_ops_t policy_learned_ops;
extern const policy_ops_t policy_arc_ops;

/* The part of policy_t the implementations see; impl is theirs. */
struct policy {
    const policy_ops_t *ops;
    void *impl;
    uint64_t capacity;
    uint64_t used;
    uint64_t count;
    uint64_t evictions;
    policy_evict_fn on_evict;
    void *evict_arg;
    /* hash table (chained, power-of-two buckets) */
    policy_node_t **buckets;
    uint64_t mask;
    uint64_t n_nodes;
    /* node allocator */
    policy_node_t *free_nodes;
    void *chunks;
};

/* New node for key (not yet resident: ghost = 1), entered in the table. NULL on ENOMEM. */
policy_node_t *policy_node_new(policy_t *p, uint64_t key, uint64_t size);
/* Remove n from the table and recycle it. n must be off every list. */
void policy_node_free(policy_t *p, policy_node_t *n);
/* Mark n resident and count its bytes. */
void policy_node_admit(policy_t *p, policy_node_t *n);
/* Mark resident n evicted: uncount it, count an eviction and call the hook. The caller then
 * frees n or keeps it as a ghost. */
void policy_node_evicted(policy_t *p, policy_node_t *n);
/* A miss on a single-list policy (lru, fifo): evict from the tail of l until size more
 * bytes fit, then admit key at the head. 0 or AUG_ENOMEM. */
int policy_list_miss(policy_t *p, policy_list_t *l, uint64_t key, uint64_t size);

/* Insert n at the head of l. */
static inline void policy_list_push(policy_list_t *l, policy_node_t *n)
{
    n->newer = NULL;
    n->older = l->head;
    if (l->head)
        l->head->newer = n;
    else
        l->tail = n;
    l->head = n;
    l->bytes += n->size;
    l->count++;
}

/* Take n off l. */
static inline void policy_list_unlink(policy_list_t *l, policy_node_t *n)
{
    if (n->newer)
        n->newer->older = n->older;
    else
        l->head = n->older;
    if (n->older)
        n->older->newer = n->newer;
    else
        l->tail = n->newer;
    n->newer = n->older = NULL;
    l->bytes -= n->size;
    l->count--;
}

#endif
