/* erasure.c - Reed-Solomon k+m over GF(2^8) with ISA-L (Cauchy matrix: every k rows invert). */
#include "internal.h"

#include <isa-l/erasure_code.h>
#include <stdlib.h>
#include <string.h>

int ec_codec_init(ec_codec_t *c, int k, int m)
{
    memset(c, 0, sizeof(*c));
    c->k = k;
    c->m = m;
    c->matrix = malloc((size_t)(k + m) * (size_t)k);
    c->tables = malloc(32 * (size_t)k * (size_t)(m ? m : 1));
    if (!c->matrix || !c->tables) {
        ec_codec_free(c);
        return AUG_ENOMEM;
    }
    gf_gen_cauchy1_matrix(c->matrix, k + m, k);
    if (m > 0) ec_init_tables(k, m, c->matrix + (size_t)k * (size_t)k, c->tables);
    return 0;
}

void ec_codec_free(ec_codec_t *c)
{
    free(c->matrix);
    free(c->tables);
    c->matrix = c->tables = NULL;
}

void ec_codec_encode(const ec_codec_t *c, size_t len, uint8_t **data, uint8_t **parity)
{
    if (c->m == 0 || len == 0) return;
    ec_encode_data((int)len, c->k, c->m, c->tables, data, parity);
}

int ec_codec_rebuild(const ec_codec_t *c, size_t len, const int *src_idx, uint8_t **src,
                     int n_want, const int *want, uint8_t **out)
{
    int k = c->k;
    if (n_want == 0 || len == 0) return 0;
    uint8_t sub[16 * 16], inv[16 * 16], rows[24 * 16], tables[32 * 16 * 24];
    /* the rows of the encode matrix for the shards we have, inverted, map them to the data */
    for (int i = 0; i < k; i++) memcpy(sub + i * k, c->matrix + src_idx[i] * k, (size_t)k);
    if (gf_invert_matrix(sub, inv, k) != 0) return AUG_EINVAL;
    for (int w = 0; w < n_want; w++) {
        if (want[w] < k) {
            memcpy(rows + w * k, inv + want[w] * k, (size_t)k);
        } else {
            /* a parity row times the inverse gives that parity from the shards we have */
            const uint8_t *prow = c->matrix + want[w] * k;
            for (int j = 0; j < k; j++) {
                uint8_t s = 0;
                for (int t = 0; t < k; t++) s ^= gf_mul(prow[t], inv[t * k + j]);
                rows[w * k + j] = s;
            }
        }
    }
    ec_init_tables(k, n_want, rows, tables);
    ec_encode_data((int)len, k, n_want, tables, src, out);
    return 0;
}
