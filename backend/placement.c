/* placement.c - rendezvous hashing of a version id over the configured nodes. */
#include "internal.h"

#include <string.h>

typedef struct ranked {
    uint64_t weight;
    int index;
} ranked_t;

void placement_rank(const backend_t *b, const uint8_t id[BACKEND_VERSION_ID_LEN], int *order)
{
    ranked_t r[AUG_MAX_NODES];
    uint64_t seed = aug_hash64(id, BACKEND_VERSION_ID_LEN, 0);
    for (int i = 0; i < b->n_nodes; i++) {
        r[i].weight = aug_hash64(b->nodes[i]->spec, strlen(b->nodes[i]->spec), seed);
        r[i].index = i;
    }
    /* insertion sort: at most 64 nodes, highest weight first */
    for (int i = 1; i < b->n_nodes; i++) {
        ranked_t x = r[i];
        int j = i - 1;
        while (j >= 0 && r[j].weight < x.weight) {
            r[j + 1] = r[j];
            j--;
        }
        r[j + 1] = x;
    }
    for (int i = 0; i < b->n_nodes; i++) order[i] = r[i].index;
}

int placement_node_index(const backend_t *b, const char *spec)
{
    for (int i = 0; i < b->n_nodes; i++)
        if (strcmp(b->nodes[i]->spec, spec) == 0) return i;
    return -1;
}
