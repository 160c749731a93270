/* policy_sieve.c - SIEVE (Zhang et al., NSDI '24): a FIFO whose hand spares visited keys. */
#include "cache/policy.h"

#include <stdlib.h>

/*
 * New keys enter at the head; a hit only sets the key's visited bit. To evict, a hand walks
 * from where it last stopped towards the head (wrapping to the tail), clearing visited bits,
 * and evicts the first unvisited key. Survivors keep their place, so the hand sweeps old keys
 * while new ones wait for it near the head.
 */

typedef struct sieve {
    policy_list_t list;
    policy_node_t *hand; /* next key to examine; NULL means start at the tail */
} sieve_t;

/* Allocate the list and hand. */
static int sieve_init(policy_t *p)
{
    p->impl = calloc(1, sizeof(sieve_t));
    return p->impl ? 0 : AUG_ENOMEM;
}

/* Free the list head (the core frees the nodes). */
static void sieve_fini(policy_t *p)
{
    free(p->impl);
}

/* A hit marks n visited; nothing moves. */
static void sieve_hit(policy_t *p, policy_node_t *n)
{
    (void)p;
    n->freq = 1;
}

/* Run the hand to the first unvisited key, evict it and leave the hand just past it. */
static void sieve_evict_one(policy_t *p, sieve_t *s)
{
    policy_node_t *n = s->hand ? s->hand : s->list.tail;
    while (n->freq) {
        n->freq = 0;
        n = n->newer ? n->newer : s->list.tail;
    }
    s->hand = n->newer;
    policy_list_unlink(&s->list, n);
    policy_node_evicted(p, n);
    policy_node_free(p, n);
}

/* Evict until size more bytes fit, then admit key unvisited at the head. */
static int sieve_miss(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost)
{
    sieve_t *s = p->impl;
    (void)ghost; /* SIEVE keeps no ghosts */
    if (size > p->capacity) return 0;
    while (p->used + size > p->capacity)
        sieve_evict_one(p, s);
    policy_node_t *n = policy_node_new(p, key, size);
    if (!n) return AUG_ENOMEM;
    policy_list_push(&s->list, n);
    policy_node_admit(p, n);
    return 0;
}

/* Take n off the list, moving the hand along if it pointed at n. */
static void sieve_unlink(policy_t *p, policy_node_t *n)
{
    sieve_t *s = p->impl;
    if (s->hand == n) s->hand = n->newer;
    policy_list_unlink(&s->list, n);
}

const policy_ops_t policy_sieve_ops = {
    .name = "sieve",
    .init = sieve_init,
    .fini = sieve_fini,
    .hit = sieve_hit,
    .miss = sieve_miss,
    .unlink = sieve_unlink,
};
