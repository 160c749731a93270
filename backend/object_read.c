/* object_read.c - reading a data object stripe by stripe from any k good shards, checking every
 * shard's CRC32C, rebuilding what is lost and writing repaired shards back (heal on read). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum slot_state {
    SLOT_UNKNOWN = 0, /* not opened yet */
    SLOT_OK,          /* header checked, shards readable */
    SLOT_DOWN,        /* node unreachable: nothing to do until it is back */
    SLOT_MISSING,     /* node up, chunk file absent or its header wrong: rebuild whole */
};

/* Per-read state for one shard slot (shard index i of the object). */
typedef struct slot {
    int node;      /* index into b->nodes, -1 if the node is no longer configured */
    int state;
    int stripe_ok; /* this stripe's shard was read and checked */
    int stripe_bad; /* read but corrupt: patch it in place */
    node_writer_t *rebuild; /* rewriting the whole chunk file */
    uint8_t *buf;           /* shard_len + CRC */
} slot_t;

typedef struct reader {
    backend_t *b;
    const backend_object_t *o;
    ec_codec_t codec;
    int n; /* k + m */
    slot_t slots[24];
    char names[24][96];
    int full;     /* reading from stripe 0 to the end: whole chunks can be rebuilt */
    int verify_all; /* read every shard of every stripe (heal) */
    int repaired;
} reader_t;

static void slot_open(reader_t *r, int i)
{
    slot_t *s = &r->slots[i];
    backend_t *b = r->b;
    if (s->state != SLOT_UNKNOWN) return;
    if (s->node < 0 || !backend_node_usable(b, s->node)) {
        s->state = SLOT_DOWN;
        return;
    }
    uint8_t hdr[CHUNK_HEADER_LEN];
    size_t got = 0;
    node_t *nd = b->nodes[s->node];
    int rc = nd->ops->get(nd, r->names[i], chunk_footer_offset(r->o), hdr, sizeof(hdr), &got);
    backend_note_node(b, s->node, rc);
    if (rc == AUG_EIO || rc == AUG_ENOMEM || rc == AUG_EINVAL) {
        s->state = SLOT_DOWN;
        return;
    }
    if (rc == 0 && got == sizeof(hdr) && chunk_header_check(r->o, i, hdr) == 0) {
        s->state = SLOT_OK;
        return;
    }
    if (rc == 0)
        aug_warn("node %s: chunk %s has a bad header; it will be rebuilt", nd->spec, r->names[i]);
    s->state = SLOT_MISSING;
}

/* Read and check shard i of stripe st into its buffer. */
static void slot_read_stripe(reader_t *r, int i, uint64_t st, uint32_t len)
{
    slot_t *s = &r->slots[i];
    slot_open(r, i);
    if (s->state != SLOT_OK) return;
    node_t *nd = r->b->nodes[s->node];
    size_t got = 0;
    int rc = nd->ops->get(nd, r->names[i], chunk_offset(r->o, st), s->buf, len + SHARD_CRC_LEN,
                          &got);
    backend_note_node(r->b, s->node, rc);
    if (rc == AUG_EIO) {
        s->state = SLOT_DOWN;
        return;
    }
    if (rc == AUG_ENOENT) {
        s->state = SLOT_MISSING;
        return;
    }
    if (rc != 0 || got != len + SHARD_CRC_LEN) {
        s->stripe_bad = 1;
        return;
    }
    uint32_t stored = (uint32_t)s->buf[len] | (uint32_t)s->buf[len + 1] << 8 |
                      (uint32_t)s->buf[len + 2] << 16 | (uint32_t)s->buf[len + 3] << 24;
    if (aug_crc32c(0, s->buf, len) != stored) {
        aug_warn("node %s: shard %d of stripe %llu of %s failed its checksum", nd->spec, i,
                 (unsigned long long)st, r->names[i]);
        s->stripe_bad = 1;
        return;
    }
    s->stripe_ok = 1;
}

static void put_crc(uint8_t *shard, uint32_t len)
{
    uint32_t c = aug_crc32c(0, shard, len);
    shard[len] = (uint8_t)c;
    shard[len + 1] = (uint8_t)(c >> 8);
    shard[len + 2] = (uint8_t)(c >> 16);
    shard[len + 3] = (uint8_t)(c >> 24);
}

/* Open a writer that rebuilds slot i's whole chunk file, if the node can take it. */
static void slot_start_rebuild(reader_t *r, int i)
{
    slot_t *s = &r->slots[i];
    if (s->rebuild || s->node < 0 || !backend_node_usable(r->b, s->node)) return;
    node_t *nd = r->b->nodes[s->node];
    if (nd->ops->put_begin(nd, r->names[i], &s->rebuild) != 0) s->rebuild = NULL;
}

/* After a stripe is whole in the buffers, write back what was found broken. */
static void heal_stripe(reader_t *r, uint64_t st, uint32_t len)
{
    for (int i = 0; i < r->n; i++) {
        slot_t *s = &r->slots[i];
        if (s->node < 0) continue;
        node_t *nd = r->b->nodes[s->node];
        if (s->rebuild) {
            put_crc(s->buf, len);
            if (nd->ops->put_append(s->rebuild, s->buf, len + SHARD_CRC_LEN) != 0) {
                nd->ops->put_abort(s->rebuild);
                s->rebuild = NULL;
            }
        } else if (s->stripe_bad && s->state == SLOT_OK && nd->ops->patch) {
            put_crc(s->buf, len);
            if (nd->ops->patch(nd, r->names[i], chunk_offset(r->o, st), s->buf,
                               len + SHARD_CRC_LEN) == 0) {
                r->repaired++;
                aug_info("node %s: repaired shard %d of stripe %llu", nd->spec, i,
                         (unsigned long long)st);
            }
        }
    }
}

/* Make every shard of stripe st available in the slot buffers (data shards always; parity
 * too when verifying or rebuilding). Returns 0 or AUG_EUNAVAIL. */
static int load_stripe(reader_t *r, uint64_t st, uint32_t len, aug_err_t *err)
{
    int k = r->o->k, n = r->n;
    for (int i = 0; i < n; i++) r->slots[i].stripe_ok = r->slots[i].stripe_bad = 0;
    int good = 0;
    /* data shards first: with all of them good no decoding is needed */
    for (int i = 0; i < n && (good < k || r->verify_all); i++) {
        slot_read_stripe(r, i, st, len);
        if (r->slots[i].stripe_ok) good++;
    }
    if (good < k)
        return aug_err_set(err, AUG_EUNAVAIL,
                           "data unavailable: only %d of the %d shards needed are readable "
                           "(too many nodes lost or damaged)",
                           good, k);
    int src_idx[16], want[24], n_want = 0;
    uint8_t *src[16], *out[24];
    int ns = 0;
    for (int i = 0; i < n && ns < k; i++) {
        if (r->slots[i].stripe_ok) {
            src_idx[ns] = i;
            src[ns++] = r->slots[i].buf;
        }
    }
    for (int i = 0; i < n; i++) {
        slot_t *s = &r->slots[i];
        if (s->stripe_ok) continue;
        /* rebuild data shards always; parity shards only where something will be written */
        int needed = i < k || s->rebuild || s->stripe_bad;
        if (!needed) continue;
        want[n_want] = i;
        out[n_want++] = s->buf;
    }
    if (n_want > 0 && ec_codec_rebuild(&r->codec, len, src_idx, src, n_want, want, out) != 0)
        return aug_err_set(err, AUG_EUNAVAIL, "data unavailable: shards cannot be decoded");
    heal_stripe(r, st, len);
    return 0;
}

/* Deliver the part of stripe st that overlaps [off, end) to the sink. */
static int deliver(reader_t *r, uint64_t st, uint32_t len, uint64_t off, uint64_t end,
                   backend_sink_fn sink, void *arg)
{
    uint64_t base = st * object_stripe_bytes(r->o);
    uint64_t lo = off > base ? off : base;
    uint64_t stripe_end = base + (uint64_t)len * r->o->k;
    if (stripe_end > r->o->size) stripe_end = r->o->size;
    uint64_t hi = end < stripe_end ? end : stripe_end;
    while (lo < hi) {
        uint64_t rel = lo - base;
        int shard = (int)(rel / len);
        uint64_t in = rel % len;
        uint64_t take = len - in;
        if (take > hi - lo) take = hi - lo;
        int rc = sink(arg, r->slots[shard].buf + in, (size_t)take);
        if (rc != 0) return rc;
        lo += take;
    }
    return 0;
}

static void reader_finish(reader_t *r, int ok)
{
    for (int i = 0; i < r->n; i++) {
        slot_t *s = &r->slots[i];
        if (s->rebuild) {
            node_t *nd = r->b->nodes[s->node];
            uint8_t footer[CHUNK_HEADER_LEN];
            chunk_header_encode(r->o, i, footer);
            if (ok && nd->ops->put_append(s->rebuild, footer, sizeof(footer)) != 0) {
                nd->ops->put_abort(s->rebuild);
            } else if (ok && nd->ops->put_commit(s->rebuild) == 0) {
                r->repaired++;
                aug_info("node %s: rebuilt %s", nd->spec, r->names[i]);
            } else if (!ok) {
                nd->ops->put_abort(s->rebuild);
            }
            s->rebuild = NULL;
        }
        free(s->buf);
    }
    ec_codec_free(&r->codec);
}

int object_read(backend_t *b, const backend_object_t *o, uint64_t off, uint64_t len,
                backend_sink_fn sink, void *arg, int rebuild, int *repaired, aug_err_t *err)
{
    if (off >= o->size || len == 0) return 0;
    uint64_t end = len > o->size - off ? o->size : off + len;
    reader_t r = {.b = b, .o = o, .n = o->k + o->m};
    if (ec_codec_init(&r.codec, o->k, o->m) != 0)
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < r.n; i++) {
        r.slots[i].node = placement_node_index(b, o->nodes[i]);
        chunk_name(o->id, i, r.names[i], sizeof(r.names[i]));
        r.slots[i].buf = malloc((size_t)o->shard_len + SHARD_CRC_LEN);
        if (!r.slots[i].buf) rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    uint64_t sb = object_stripe_bytes(o);
    uint64_t first = off / sb, last = (end - 1) / sb;
    r.full = first == 0 && end == o->size;
    r.verify_all = rebuild;
    if (rc == 0 && r.full) {
        /* whole-object reads can rewrite missing chunk files as they go */
        for (int i = 0; i < r.n; i++) {
            if (rebuild || i < o->k) slot_open(&r, i);
            if (r.slots[i].state == SLOT_MISSING) slot_start_rebuild(&r, i);
        }
    }
    for (uint64_t st = first; rc == 0 && st <= last; st++) {
        uint32_t slen = object_shard_len(o, st);
        rc = load_stripe(&r, st, slen, err);
        if (rc == 0) {
            rc = deliver(&r, st, slen, off, end, sink, arg);
            if (rc != 0 && err && err->code == AUG_OK)
                aug_err_set(err, rc, "read stopped by its consumer");
        }
    }
    reader_finish(&r, rc == 0);
    if (repaired) *repaired += r.repaired;
    return rc;
}
