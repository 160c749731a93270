/* policy_s3fifo.c - S3-FIFO (Yang et al., SOSP '23), and the learned policy built on it. */
#include "cache/policy.h"

#include <stdlib.h>

/*
 * S3-FIFO keeps three FIFO queues: a small one for new keys (10 % of the bytes), a main one
 * for keys that proved themselves, and a ghost queue of keys recently dropped from the small
 * one. A key re-requested while it is a ghost goes straight to main. Most new keys are read
 * once and leave through the small queue without disturbing main. Each key carries a 2-bit
 * access counter: in the small queue it decides promotion (and is reset by it), in main it
 * buys re-insertions at the head.
 *
 * The 10/90 split is a target, not a wall: main is evicted only while it holds more than its
 * share (promotions push it there) or the small queue is empty, so until main fills up the
 * small queue may use the room. This is how the reference simulator behaves too.
 *
 * "learned" is the same structure plus a scorer: while a scorer is set, a victim is the key
 * predicted to be wanted last among a random sample of resident keys; without one it
 * behaves exactly as S3-FIFO, so it is safe before the predictor has learned anything.
 */

/* Fraction of the bytes for the small queue (the paper's and the reference's 10 %). */
#define S3FIFO_SMALL_PERCENT 10
/* Accesses while in the small queue that earn promotion to main (reference threshold 2). */
#define S3FIFO_PROMOTE_FREQ 2
/* Counter ceiling: 2 bits, as in the paper. */
#define S3FIFO_FREQ_MAX 3
/* Keys sampled per learned eviction. With 16 the victim is among the 20 % of keys predicted
 * farthest with probability 1 - 0.8^16 = 97 %, for 16 scorer calls per eviction. */
#define LEARNED_SAMPLE 16

enum { Q_SMALL = 0, Q_MAIN = 1, Q_GHOST = 2 };

typedef struct s3fifo {
    policy_list_t small;
    policy_list_t main;
    policy_list_t ghost;
    uint64_t small_cap; /* bytes */
    uint64_t ghost_cap; /* bytes of ghost keys remembered: as many as main holds */
    /* learned only */
    int learned;
    policy_score_fn score;
    void *score_arg;
    policy_node_t **resident; /* every resident key, for uniform sampling */
    uint64_t n_resident;
    uint64_t resident_cap;
    uint64_t rng;
} s3fifo_t;

/* Allocate the queues and size them from the capacity. */
static int s3fifo_init_common(policy_t *p, int learned)
{
    s3fifo_t *s = calloc(1, sizeof(*s));
    if (!s) return AUG_ENOMEM;
    s->small_cap =
        p->capacity / 100 * S3FIFO_SMALL_PERCENT + p->capacity % 100 * S3FIFO_SMALL_PERCENT / 100;
    s->ghost_cap = p->capacity - s->small_cap;
    s->learned = learned;
    s->rng = 0x9e3779b97f4a7c15ULL; /* fixed seed: replays are reproducible */
    p->impl = s;
    return 0;
}

/* Plain S3-FIFO. */
static int s3fifo_init(policy_t *p)
{
    return s3fifo_init_common(p, 0);
}

/* S3-FIFO that also keeps the sample array a scorer needs. */
static int learned_init(policy_t *p)
{
    return s3fifo_init_common(p, 1);
}

/* Free the queue heads and sample array (the core frees the nodes). */
static void s3fifo_fini(policy_t *p)
{
    s3fifo_t *s = p->impl;
    free(s->resident);
    free(s);
}

/* A hit bumps the key's saturating counter. */
static void s3fifo_hit(policy_t *p, policy_node_t *n)
{
    (void)p;
    if (n->freq < S3FIFO_FREQ_MAX) n->freq++;
}

/* Drop n from the sample array (learned only). */
static void s3fifo_sample_remove(s3fifo_t *s, policy_node_t *n)
{
    if (!s->learned) return;
    policy_node_t *last = s->resident[--s->n_resident];
    s->resident[n->slot] = last;
    last->slot = n->slot;
}

/* Resident n leaves the cache: count the eviction and remember it as a ghost if it came from
 * the small queue, else forget it. n is already off its list. */
static void s3fifo_drop(policy_t *p, s3fifo_t *s, policy_node_t *n)
{
    int from_small = n->queue == Q_SMALL;
    s3fifo_sample_remove(s, n);
    policy_node_evicted(p, n);
    if (!from_small || n->size > s->ghost_cap) {
        policy_node_free(p, n);
        return;
    }
    while (s->ghost.bytes + n->size > s->ghost_cap) {
        policy_node_t *old = s->ghost.tail;
        policy_list_unlink(&s->ghost, old);
        policy_node_free(p, old);
    }
    n->queue = Q_GHOST;
    n->freq = 0;
    policy_list_push(&s->ghost, n);
}

/* Evict from the small queue: promote keys read often enough to main and stop at the first
 * that was not, which leaves as a ghost. May only promote (then the caller loops). */
static void s3fifo_evict_small(policy_t *p, s3fifo_t *s)
{
    while (s->small.tail) {
        policy_node_t *n = s->small.tail;
        policy_list_unlink(&s->small, n);
        if (n->freq >= S3FIFO_PROMOTE_FREQ) {
            n->queue = Q_MAIN;
            n->freq = 0;
            policy_list_push(&s->main, n);
            continue;
        }
        s3fifo_drop(p, s, n);
        return;
    }
}

/* Evict from main: a key with accesses left goes back to the head with one fewer; the
 * first without is evicted. */
static void s3fifo_evict_main(policy_t *p, s3fifo_t *s)
{
    while (s->main.tail) {
        policy_node_t *n = s->main.tail;
        policy_list_unlink(&s->main, n);
        if (n->freq > 0) {
            n->freq--;
            policy_list_push(&s->main, n);
            continue;
        }
        s3fifo_drop(p, s, n);
        return;
    }
}

/* Learned eviction: the sampled resident key with the largest predicted time to next use.
 * Returns 0, or -1 if the scorer is still cold (the caller evicts as S3-FIFO does). */
static int learned_evict(policy_t *p, s3fifo_t *s)
{
    policy_node_t *best = NULL;
    uint64_t best_score = 0;
    for (int i = 0; i < LEARNED_SAMPLE; i++) {
        /* xorshift64*: cheap, and a fixed seed keeps replays reproducible */
        s->rng ^= s->rng >> 12;
        s->rng ^= s->rng << 25;
        s->rng ^= s->rng >> 27;
        uint64_t r = s->rng * 0x2545f4914f6cdd1dULL;
        policy_node_t *n = s->resident[r % s->n_resident];
        uint64_t score = s->score(s->score_arg, n->key, n->size);
        if (score == POLICY_SCORE_COLD) return -1;
        if (!best || score > best_score) {
            best = n;
            best_score = score;
        }
    }
    policy_list_unlink(best->queue == Q_SMALL ? &s->small : &s->main, best);
    s3fifo_drop(p, s, best);
    return 0;
}

/* One eviction step. Main is evicted while it is over its share (promotions can push it
 * there) or when the small queue is empty; otherwise the small queue is. */
static void s3fifo_evict(policy_t *p, s3fifo_t *s)
{
    if (s->score && learned_evict(p, s) == 0)
        return;
    if (s->main.bytes > p->capacity - s->small_cap || s->small.bytes == 0)
        s3fifo_evict_main(p, s);
    else
        s3fifo_evict_small(p, s);
}

/* Make room in the sample array for one more resident key (learned only). */
static int s3fifo_sample_reserve(s3fifo_t *s)
{
    if (!s->learned || s->n_resident < s->resident_cap) return 0;
    uint64_t cap = s->resident_cap ? s->resident_cap * 2 : 1024;
    policy_node_t **r = realloc(s->resident, cap * sizeof(*r));
    if (!r) return AUG_ENOMEM;
    s->resident = r;
    s->resident_cap = cap;
    return 0;
}

/* A miss: a ghost goes to main, anything else to the small queue, unless it is larger than
 * the small queue itself (it would only flush it) or than the whole cache. */
static int s3fifo_miss(policy_t *p, uint64_t key, uint64_t size, policy_node_t *ghost)
{
    s3fifo_t *s = p->impl;
    if (ghost) policy_list_unlink(&s->ghost, ghost);
    int declined = size > p->capacity || (!ghost && size > s->small_cap);
    int rc = declined ? 0 : s3fifo_sample_reserve(s);
    if (declined || rc != 0) {
        if (ghost) policy_node_free(p, ghost);
        return rc;
    }
    while (p->used + size > p->capacity)
        s3fifo_evict(p, s);
    policy_node_t *n = ghost;
    if (n) {
        n->size = size;
        n->queue = Q_MAIN;
        n->freq = 0;
        policy_list_push(&s->main, n);
    } else {
        n = policy_node_new(p, key, size);
        if (!n) return AUG_ENOMEM;
        n->queue = Q_SMALL;
        policy_list_push(&s->small, n);
    }
    policy_node_admit(p, n);
    if (s->learned) {
        n->slot = (uint32_t)s->n_resident;
        s->resident[s->n_resident++] = n;
    }
    return 0;
}

/* Take n off whichever queue holds it. */
static void s3fifo_unlink(policy_t *p, policy_node_t *n)
{
    s3fifo_t *s = p->impl;
    if (n->queue == Q_GHOST) {
        policy_list_unlink(&s->ghost, n);
        return;
    }
    policy_list_unlink(n->queue == Q_SMALL ? &s->small : &s->main, n);
    s3fifo_sample_remove(s, n);
}

/* Install or clear the learned policy's scorer. */
static void learned_set_scorer(policy_t *p, policy_score_fn fn, void *arg)
{
    s3fifo_t *s = p->impl;
    s->score = fn;
    s->score_arg = fn ? arg : NULL;
}

const policy_ops_t policy_s3fifo_ops = {
    .name = "s3fifo",
    .init = s3fifo_init,
    .fini = s3fifo_fini,
    .hit = s3fifo_hit,
    .miss = s3fifo_miss,
    .unlink = s3fifo_unlink,
};

const policy_ops_t policy_learned_ops = {
    .name = "learned",
    .init = learned_init,
    .fini = s3fifo_fini,
    .hit = s3fifo_hit,
    .miss = s3fifo_miss,
    .unlink = s3fifo_unlink,
    .set_scorer = learned_set_scorer,
};
