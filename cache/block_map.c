/* block_map.c - a chained hash map from block keys to the tiers' entries (intrusive: a tier's
 * entry starts with a block_map_entry_t). Not locked: the owning tier locks. */
#include "tiers.h"

#include <stdlib.h>
#include <string.h>

int block_map_init(block_map_t *m)
{
    m->n_slots = 1024;
    m->count = 0;
    m->slots = calloc(m->n_slots, sizeof(*m->slots));
    return m->slots ? 0 : AUG_ENOMEM;
}

void block_map_destroy(block_map_t *m, void (*free_entry)(block_map_entry_t *e))
{
    for (size_t i = 0; m->slots && i < m->n_slots; i++) {
        for (block_map_entry_t *e = m->slots[i], *next; e; e = next) {
            next = e->next;
            free_entry(e);
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->count = 0;
}

block_map_entry_t *block_map_find(const block_map_t *m, uint64_t hash, const block_key_t *k)
{
    block_map_entry_t *e = m->slots[hash & (m->n_slots - 1)];
    while (e && (e->hash != hash || (k && memcmp(&e->key, k, sizeof(*k)) != 0))) e = e->next;
    return e;
}

/* Double the slots; on no memory the map just stays more crowded. */
static void grow(block_map_t *m)
{
    size_t n = m->n_slots * 2;
    block_map_entry_t **slots = calloc(n, sizeof(*slots));
    if (!slots) return;
    for (size_t i = 0; i < m->n_slots; i++) {
        for (block_map_entry_t *e = m->slots[i], *next; e; e = next) {
            next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n;
}

void block_map_insert(block_map_t *m, block_map_entry_t *e, const block_key_t *k)
{
    e->key = *k;
    e->hash = block_key_hash(k);
    block_map_entry_t **slot = &m->slots[e->hash & (m->n_slots - 1)];
    e->next = *slot;
    *slot = e;
    if (++m->count > m->n_slots) grow(m);
}

block_map_entry_t *block_map_remove(block_map_t *m, uint64_t hash)
{
    block_map_entry_t **pp = &m->slots[hash & (m->n_slots - 1)];
    while (*pp && (*pp)->hash != hash) pp = &(*pp)->next;
    block_map_entry_t *e = *pp;
    if (e) {
        *pp = e->next;
        m->count--;
    }
    return e;
}

uint64_t *block_map_hashes(const block_map_t *m, size_t *n)
{
    uint64_t *out = malloc((m->count ? m->count : 1) * sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; out && i < m->n_slots; i++)
        for (block_map_entry_t *e = m->slots[i]; e; e = e->next) out[k++] = e->hash;
    *n = k;
    return out;
}

void block_map_replay(block_map_t *m, policy_t *p,
                      uint64_t (*size_of)(const block_map_entry_t *e),
                      void (*drop)(void *tier, uint64_t hash), void *tier)
{
    size_t n;
    uint64_t *hashes = block_map_hashes(m, &n);
    if (!hashes) return;
    for (size_t i = 0; i < n; i++)
        policy_access(p, hashes[i], size_of(block_map_find(m, hashes[i], NULL)));
    /* dropped after, not during, the replay: the map must not change under it */
    for (size_t i = 0; i < n; i++)
        if (!policy_contains(p, hashes[i])) drop(tier, hashes[i]);
    free(hashes);
}
