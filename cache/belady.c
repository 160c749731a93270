/* belady.c - Belady's offline optimum: evict the object whose next use is farthest away. */
#include "cache/trace.h"

#include <stdlib.h>

/* pos[] value of an id that is not resident. */
#define BELADY_ABSENT UINT32_MAX

/* Resident ids live in a binary max-heap ordered by next use, so the farthest is at the
 * root; pos[] finds an id's heap slot for the update a hit needs. O(log n) per request. */
struct belady {
    uint64_t capacity;
    uint64_t used;
    uint64_t evictions;
    uint32_t *heap; /* resident ids */
    uint64_t n_heap;
    uint32_t *pos;     /* [n_ids] heap index, or BELADY_ABSENT */
    uint32_t *next_of; /* [n_ids] next use of a resident id */
    uint64_t *size_of; /* [n_ids] resident size */
};

/* Allocate per-id arrays for n_ids keys; NULL on ENOMEM. Free with belady_destroy. */
belady_t *belady_create(uint64_t capacity_bytes, uint64_t n_ids)
{
    belady_t *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    size_t n = n_ids ? n_ids : 1;
    b->capacity = capacity_bytes;
    b->heap = malloc(n * sizeof(*b->heap));
    b->pos = malloc(n * sizeof(*b->pos));
    b->next_of = malloc(n * sizeof(*b->next_of));
    b->size_of = malloc(n * sizeof(*b->size_of));
    if (!b->heap || !b->pos || !b->next_of || !b->size_of) {
        belady_destroy(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        b->pos[i] = BELADY_ABSENT;
    return b;
}

/* Free b and its arrays (NULL is fine). */
void belady_destroy(belady_t *b)
{
    if (!b) return;
    free(b->heap);
    free(b->pos);
    free(b->next_of);
    free(b->size_of);
    free(b);
}

/* Put id at heap slot i and record where it is. */
static inline void belady_place(belady_t *b, uint64_t i, uint32_t id)
{
    b->heap[i] = id;
    b->pos[id] = (uint32_t)i;
}

/* Move the id at slot i up while its next use is farther than its parent's. */
static void belady_sift_up(belady_t *b, uint64_t i)
{
    uint32_t id = b->heap[i];
    while (i > 0) {
        uint64_t parent = (i - 1) / 2;
        if (b->next_of[b->heap[parent]] >= b->next_of[id]) break;
        belady_place(b, i, b->heap[parent]);
        i = parent;
    }
    belady_place(b, i, id);
}

/* Move the id at slot i down while a child's next use is farther. */
static void belady_sift_down(belady_t *b, uint64_t i)
{
    uint32_t id = b->heap[i];
    for (;;) {
        uint64_t c = 2 * i + 1;
        if (c >= b->n_heap) break;
        if (c + 1 < b->n_heap && b->next_of[b->heap[c + 1]] > b->next_of[b->heap[c]]) c++;
        if (b->next_of[b->heap[c]] <= b->next_of[id]) break;
        belady_place(b, i, b->heap[c]);
        i = c;
    }
    belady_place(b, i, id);
}

/* Evict the root: the resident id used farthest in the future. */
static void belady_evict_farthest(belady_t *b)
{
    uint32_t id = b->heap[0];
    b->used -= b->size_of[id];
    b->pos[id] = BELADY_ABSENT;
    b->evictions++;
    if (--b->n_heap > 0) {
        belady_place(b, 0, b->heap[b->n_heap]);
        belady_sift_down(b, 0);
    }
}

/* One request: a hit moves id to its new next use; a miss admits id, evicting the
 * farthest-used residents until it fits. Returns 1 on a hit, 0 on a miss. */
int belady_access(belady_t *b, uint32_t id, uint64_t size, uint32_t next)
{
    if (b->pos[id] != BELADY_ABSENT) {
        /* The old next use was this very request, so the new one is later: sift up. */
        b->next_of[id] = next;
        belady_sift_up(b, b->pos[id]);
        return 1;
    }
    if (size > b->capacity) return 0;
    /* Every miss that fits is admitted, even one never used again (it is the first victim
     * next time): this is the reference simulator's definition, which the published
     * reference ratios use. */
    while (b->used + size > b->capacity)
        belady_evict_farthest(b);
    b->next_of[id] = next;
    b->size_of[id] = size;
    b->used += size;
    belady_place(b, b->n_heap++, id);
    belady_sift_up(b, b->n_heap - 1);
    return 0;
}

/* Bytes held by resident ids. */
uint64_t belady_used_bytes(const belady_t *b)
{
    return b->used;
}

/* Ids evicted so far. */
uint64_t belady_evictions(const belady_t *b)
{
    return b->evictions;
}
