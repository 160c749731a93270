/* policy_arc.c - ARC (Megiddo and Modha, FAST '03), with every list measured in bytes. */
#include "cache/policy.h"

#include <stdlib.h>

/*
 * T1 holds keys seen once recently, T2 keys seen at least twice; B1 and B2 remember keys
 * evicted from each (ghosts). A ghost hit in B1 says T1 was too small, so the target p for
 * T1's bytes grows; a ghost hit in B2 shrinks it. The paper counts pages; here every count is
 * bytes, and a ghost hit moves p by the returning key's size times the ghost-list ratio, so a
 * unit-size trace behaves as the original. The directory stays near twice the capacity:
 * T1 + B1 within the capacity and all four lists within twice it, trimmed on each new key.
 */

enum { Q_T1 = 0, Q_T2 = 1, Q_B1 = 2, Q_B2 = 3 };

typedef struct arc {
    policy_list_t list[4]; /* indexed by Q_* */
    uint64_t p;            /* target bytes for T1 */
    uint64_t dir_cap;      /* bytes all four lists may describe: twice the capacity */
} arc_t;

/* Allocate the four lists. */
static int arc_init(policy_t *p)
{
    arc_t *a = calloc(1, sizeof(*a));
    if (!a) return AUG_ENOMEM;
    a->dir_cap = p->capacity > UINT64_MAX / 2 ? UINT64_MAX : 2 * p->capacity;
    p->impl = a;
    return 0;
}

/* Free the list heads (the core frees the nodes). */
static void arc_fini(policy_t *p)
{
    free(p->impl);
}

/* Move n from its list to the head of list q. */
static void arc_move(arc_t *a, policy_node_t *n, int q)
{
    policy_list_unlink(&a->list[n->queue], n);
    n->queue = (uint8_t)q;
    policy_list_push(&a->list[q], n);
}

/* A hit in T1 or T2 makes n the most recent key of T2. */
static void arc_hit(policy_t *p, policy_node_t *n)
{
    arc_move(p->impl, n, Q_T2);
}

/* Forget the oldest ghost of list q. */
static void arc_forget(policy_t *p, arc_t *a, int q)
{
    policy_node_t *n = a->list[q].tail;
    policy_list_unlink(&a->list[q], n);
    policy_node_free(p, n);
}

/* Evict from T1 or T2 (whichever is over its target) until size more bytes fit; evicted
 * keys become ghosts in B1 or B2. from_b2: the request is a B2 ghost hit, which breaks a tie
 * towards evicting T1, as in the paper. */
static void arc_replace(policy_t *p, arc_t *a, uint64_t size, int from_b2)
{
    while (p->used + size > p->capacity) {
        policy_list_t *t1 = &a->list[Q_T1];
        int q;
        if (t1->count &&
            (t1->bytes > a->p || (from_b2 && t1->bytes >= a->p) || a->list[Q_T2].count == 0))
            q = Q_T1;
        else
            q = Q_T2;
        policy_node_t *n = a->list[q].tail;
        arc_move(a, n, q == Q_T1 ? Q_B1 : Q_B2);
        policy_node_evicted(p, n);
    }
}

/* Keep the directory (all four lists) within twice the capacity: evictions while serving
 * ghost hits add ghosts that the new-key path would otherwise only trim later. */
static void arc_trim(policy_t *p, arc_t *a)
{
    policy_list_t *l = a->list;
    while (l[Q_T1].bytes + l[Q_T2].bytes + l[Q_B1].bytes + l[Q_B2].bytes > a->dir_cap &&
           (l[Q_B1].count || l[Q_B2].count))
        arc_forget(p, a, l[Q_B2].count ? Q_B2 : Q_B1);
}

/* size * num / den, at least size, without overflow for realistic byte counts. */
static uint64_t arc_delta(uint64_t size, uint64_t num, uint64_t den)
{
    if (num <= den) return size;
    return (uint64_t)((double)size * (double)num / (double)den);
}

/* A miss: adapt p on a ghost hit and admit into T2, or admit a new key into T1. */
static int arc_miss(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost)
{
    arc_t *a = p->impl;
    uint64_t c = p->capacity;
    if (size > c) {
        if (ghost) {
            policy_list_unlink(&a->list[ghost->queue], ghost);
            policy_node_free(p, ghost);
        }
        return 0;
    }
    if (ghost) {
        uint64_t b1 = a->list[Q_B1].bytes, b2 = a->list[Q_B2].bytes;
        int from_b2 = ghost->queue == Q_B2;
        if (!from_b2) {
            uint64_t d = arc_delta(size, b2, b1);
            a->p = d > c - a->p ? c : a->p + d;
        } else {
            uint64_t d = arc_delta(size, b1, b2);
            a->p = d > a->p ? 0 : a->p - d;
        }
        /* Off its ghost list first, so the replacement below cannot forget it. */
        policy_list_unlink(&a->list[ghost->queue], ghost);
        arc_replace(p, a, size, from_b2);
        ghost->size = size;
        ghost->queue = Q_T2;
        policy_list_push(&a->list[Q_T2], ghost);
        policy_node_admit(p, ghost);
        arc_trim(p, a);
        return 0;
    }
    policy_list_t *l = a->list;
    while (l[Q_T1].bytes + l[Q_B1].bytes + size > c && l[Q_B1].count)
        arc_forget(p, a, Q_B1);
    while (l[Q_T1].bytes + l[Q_T2].bytes + l[Q_B1].bytes + l[Q_B2].bytes + size > a->dir_cap &&
           l[Q_B2].count)
        arc_forget(p, a, Q_B2);
    arc_replace(p, a, size, 0);
    policy_node_t *n = policy_node_new(p, key, size);
    if (!n) return AUG_ENOMEM;
    n->queue = Q_T1;
    policy_list_push(&l[Q_T1], n);
    policy_node_admit(p, n);
    return 0;
}

/* Take n off whichever list holds it. */
static void arc_unlink(policy_t *p, policy_node_t *n)
{
    arc_t *a = p->impl;
    policy_list_unlink(&a->list[n->queue], n);
}

const policy_ops_t policy_arc_ops = {
    .name = "arc",
    .init = arc_init,
    .fini = arc_fini,
    .hit = arc_hit,
    .miss = arc_miss,
    .unlink = arc_unlink,
};
