/* chunk.c - names and self-describing headers of the per-node chunk files of data objects. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void chunk_name(const uint8_t id[BACKEND_VERSION_ID_LEN], int shard, char *out, size_t len)
{
    char hex[2 * BACKEND_VERSION_ID_LEN + 1];
    aug_hex(id, BACKEND_VERSION_ID_LEN, hex);
    snprintf(out, len, NS_DATA "%.2s/%s.%d", hex, hex, shard);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

/* magic u32 | shard u8 | k u8 | m u8 | pad u8 | shard_len u32 | size u64 | id[16] | ... |
 * crc32c of bytes 0..59 at 60 */
void chunk_header_encode(const backend_object_t *o, int shard, uint8_t out[CHUNK_HEADER_LEN])
{
    memset(out, 0, CHUNK_HEADER_LEN);
    put_le32(out, CHUNK_MAGIC);
    out[4] = (uint8_t)shard;
    out[5] = o->k;
    out[6] = o->m;
    put_le32(out + 8, o->shard_len);
    put_le64(out + 12, o->size);
    memcpy(out + 20, o->id, BACKEND_VERSION_ID_LEN);
    put_le32(out + 60, aug_crc32c(0, out, 60));
}

int chunk_header_check(const backend_object_t *o, int shard, const uint8_t *hdr)
{
    uint8_t want[CHUNK_HEADER_LEN];
    chunk_header_encode(o, shard, want);
    return memcmp(want, hdr, CHUNK_HEADER_LEN) == 0 ? 0 : AUG_ECORRUPT;
}

uint64_t object_stripes(const backend_object_t *o)
{
    uint64_t sb = object_stripe_bytes(o);
    return (o->size + sb - 1) / sb;
}

uint32_t object_shard_len(const backend_object_t *o, uint64_t s)
{
    uint64_t sb = object_stripe_bytes(o);
    uint64_t start = s * sb;
    uint64_t rem = o->size - start;
    if (rem >= sb) return o->shard_len;
    return (uint32_t)((rem + o->k - 1) / o->k);
}

uint64_t chunk_footer_offset(const backend_object_t *o)
{
    uint64_t n = object_stripes(o);
    if (n == 0) return 0;
    return chunk_offset(o, n - 1) + object_shard_len(o, n - 1) + SHARD_CRC_LEN;
}
