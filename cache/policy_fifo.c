/* policy_fifo.c - first in, first out: hits change nothing, evict the oldest admission. */
#include "cache/policy.h"

#include <stdlib.h>

/* Allocate the single insertion-order list. */
static int fifo_init(policy_t *p)
{
    p->impl = calloc(1, sizeof(policy_list_t));
    return p->impl ? 0 : AUG_ENOMEM;
}

/* Free the list head (the core frees the nodes). */
static void fifo_fini(policy_t *p)
{
    free(p->impl);
}

/* Hits do not reorder a FIFO. */
static void fifo_hit(policy_t *p, policy_node_t *n)
{
    (void)p;
    (void)n;
}

/* Evict the oldest admissions until size more bytes fit, then admit key at the head. */
static int fifo_miss(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost)
{
    (void)ghost; /* FIFO keeps no ghosts */
    return policy_list_miss(p, p->impl, key, size);
}

/* Take n off the list. */
static void fifo_unlink(policy_t *p, policy_node_t *n)
{
    policy_list_unlink(p->impl, n);
}

const policy_ops_t policy_fifo_ops = {
    .name = "fifo",
    .init = fifo_init,
    .fini = fifo_fini,
    .hit = fifo_hit,
    .miss = fifo_miss,
    .unlink = fifo_unlink,
};
