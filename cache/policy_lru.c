/* policy_lru.c - least recently used: one list, hits move to the head, evict the tail. */
#include "cache/policy.h"

#include <stdlib.h>

/* Allocate the single recency list. */
static int lru_init(policy_t *p)
{
    p->impl = calloc(1, sizeof(policy_list_t));
    return p->impl ? 0 : AUG_ENOMEM;
}

/* Free the list head (the core frees the nodes). */
static void lru_fini(policy_t *p)
{
    free(p->impl);
}

/* A hit makes n the most recently used. */
static void lru_hit(policy_t *p, policy_node_t *n)
{
    policy_list_t *l = p->impl;
    if (l->head == n) return;
    policy_list_unlink(l, n);
    policy_list_push(l, n);
}

/* Evict least recently used keys until size more bytes fit, then admit key at the head. */
static int lru_miss(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost)
{
    (void)ghost; /* LRU keeps no ghosts */
    return policy_list_miss(p, p->impl, key, size);
}

/* Take n off the recency list. */
static void lru_unlink(policy_t *p, policy_node_t *n)
{
    policy_list_unlink(p->impl, n);
}

const policy_ops_t policy_lru_ops = {
    .name = "lru",
    .init = lru_init,
    .fini = lru_fini,
    .hit = lru_hit,
    .miss = lru_miss,
    .unlink = lru_unlink,
};
