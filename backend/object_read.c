/* object_read.c - reading a data object stripe by stripe from any k good shards, checking every
 * shard's CRC32C, rebuilding what is lost and writing repaired shards back (heal on read). */
#include "internal.h"

#include <stdio.h>
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
    node_blob_t *blob;      /* the chunk file, kept open while reading */
    uint8_t *buf;           /* shard_len + CRC, page aligned */
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
    uint64_t pos, end;   /* object bytes still to hand out */
    uint64_t cur;        /* stripe in the buffers, UINT64_MAX for none */
    uint32_t cur_len;    /* its shard length */
    int failed;
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
    int rc;
    if (nd->ops->open_blob) {
        rc = nd->ops->open_blob(nd, r->names[i], &s->blob);
        if (rc != 0) s->blob = NULL;
        else rc = nd->ops->read_blob(s->blob, chunk_footer_offset(r->o), hdr, sizeof(hdr), &got);
    } else {
        rc = nd->ops->get(nd, r->names[i], chunk_footer_offset(r->o), hdr, sizeof(hdr), &got);
    }
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
    int64_t t0 = aug_mono_ns();
    int rc = s->blob ? nd->ops->read_blob(s->blob, chunk_offset(r->o, st), s->buf,
                                          len + SHARD_CRC_LEN, &got)
                     : nd->ops->get(nd, r->names[i], chunk_offset(r->o, st), s->buf,
                                    len + SHARD_CRC_LEN, &got);
    backend_note_node_timed(r->b, s->node, rc, t0);
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
typedef struct shard_job {
    reader_t *r;
    int i;
    uint64_t st;
    uint32_t len;
} shard_job_t;

static void shard_job_run(void *arg)
{
    shard_job_t *j = arg;
    slot_read_stripe(j->r, j->i, j->st, j->len);
}

/* Read shards [from, to) of stripe st at once, each on its own pool thread (the first one
 * here); returns how many are good. */
static int read_shards(reader_t *r, int from, int to, uint64_t st, uint32_t len)
{
    shard_job_t jobs[24];
    io_batch_t batch;
    io_batch_init(&batch);
    for (int i = from; i < to; i++) {
        jobs[i] = (shard_job_t){.r = r, .i = i, .st = st, .len = len};
        if (i > from) io_pool_submit(r->b->io, &batch, shard_job_run, &jobs[i]);
    }
    if (to > from) shard_job_run(&jobs[from]);
    io_batch_wait(&batch);
    int good = 0;
    for (int i = from; i < to; i++) good += r->slots[i].stripe_ok;
    return good;
}

static int load_stripe(reader_t *r, uint64_t st, uint32_t len, aug_err_t *err)
{
    int k = r->o->k, n = r->n;
    for (int i = 0; i < n; i++) r->slots[i].stripe_ok = r->slots[i].stripe_bad = 0;
    /* data shards first, together: with all of them good no decoding is needed */
    int good = read_shards(r, 0, r->verify_all ? n : k, st, len);
    for (int i = k; i < n && good < k && !r->verify_all; i++) {
        slot_read_stripe(r, i, st, len);
        good += r->slots[i].stripe_ok;
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
        if (s->blob) r->b->nodes[s->node]->ops->close_blob(s->blob);
        s->blob = NULL;
        free(s->buf);
    }
    ec_codec_free(&r->codec);
}

/* Start reading object bytes [off, off+len) (clamped); returns 0 or an error. */
static int reader_init(reader_t *r, backend_t *b, const backend_object_t *o, uint64_t off,
                       uint64_t len, int rebuild, aug_err_t *err)
{
    memset(r, 0, sizeof(*r));
    r->b = b;
    r->o = o;
    r->n = o->k + o->m;
    r->cur = UINT64_MAX;
    r->pos = off < o->size ? off : o->size;
    r->end = len > o->size - r->pos ? o->size : r->pos + len;
    if (ec_codec_init(&r->codec, o->k, o->m) != 0)
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    for (int i = 0; i < r->n; i++) {
        r->slots[i].node = placement_node_index(b, o->nodes[i]);
        chunk_name(o->id, i, r->names[i], sizeof(r->names[i]));
        /* page-aligned buffers let the kernel copy from the page cache at full speed */
        void *p = NULL;
        if (posix_memalign(&p, 4096, (size_t)o->shard_len + SHARD_CRC_LEN) != 0)
            return aug_err_set(err, AUG_ENOMEM, "out of memory");
        r->slots[i].buf = p;
    }
    r->full = r->pos == 0 && r->end == o->size && o->size > 0;
    r->verify_all = rebuild;
    if (r->full) {
        /* whole-object reads can rewrite missing chunk files as they go */
        for (int i = 0; i < r->n; i++) {
            if (rebuild || i < o->k) slot_open(r, i);
            if (r->slots[i].state == SLOT_MISSING) slot_start_rebuild(r, i);
        }
    }
    return 0;
}

/* Point *view at up to max of the next bytes (inside the shard buffers, valid until the
 * next call), loading stripes as needed. Returns the count, 0 at the end, or an error. */
static ssize_t reader_view(reader_t *r, const uint8_t **view, size_t max, aug_err_t *err)
{
    if (r->failed) return AUG_EIO;
    if (r->pos >= r->end || max == 0) return 0;
    uint64_t sb = object_stripe_bytes(r->o);
    uint64_t st = r->pos / sb;
    if (st != r->cur) {
        r->cur_len = object_shard_len(r->o, st);
        int rc = load_stripe(r, st, r->cur_len, err);
        if (rc != 0) {
            r->failed = 1;
            return rc;
        }
        r->cur = st;
    }
    uint64_t base = st * sb;
    uint64_t stripe_end = base + (uint64_t)r->cur_len * r->o->k;
    if (stripe_end > r->end) stripe_end = r->end;
    uint64_t rel = r->pos - base;
    int shard = (int)(rel / r->cur_len);
    uint64_t in = rel % r->cur_len;
    uint64_t take = r->cur_len - in;
    if (take > stripe_end - r->pos) take = stripe_end - r->pos;
    if (take > max) take = max;
    *view = r->slots[shard].buf + in;
    r->pos += take;
    return (ssize_t)take;
}

/* Copy up to len of the next bytes into buf, loading stripes as needed. */
static ssize_t reader_next(reader_t *r, uint8_t *buf, size_t len, aug_err_t *err)
{
    size_t done = 0;
    uint64_t sb = object_stripe_bytes(r->o);
    while (done < len) {
        /* one stripe per call: a failure to load the next one is reported on its own */
        if (done > 0 && r->pos % sb == 0) break;
        const uint8_t *view = NULL;
        ssize_t n = reader_view(r, &view, len - done, err);
        if (n < 0) return n;
        if (n == 0) break;
        memcpy(buf + done, view, (size_t)n);
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Bytes handed to a sink per call. */
#define READ_CHUNK (256u << 10)

int object_read(backend_t *b, const backend_object_t *o, uint64_t off, uint64_t len,
                backend_sink_fn sink, void *arg, int rebuild, int *repaired, aug_err_t *err)
{
    reader_t r;
    int rc = reader_init(&r, b, o, off, len, rebuild, err);
    while (rc == 0) {
        const uint8_t *view = NULL;
        ssize_t n = reader_view(&r, &view, SIZE_MAX, err);
        if (n < 0) rc = (int)n;
        if (n <= 0) break;
        rc = sink(arg, view, (size_t)n);
        if (rc != 0 && err && err->code == AUG_OK)
            aug_err_set(err, rc, "read stopped by its consumer");
    }
    reader_finish(&r, rc == 0 && r.pos == r.end);
    if (repaired) *repaired += r.repaired;
    return rc;
}

/* ---- pull-style reader over a manifest's extents ---------------------------------------- */

struct backend_reader {
    backend_t *b;
    backend_manifest_t *m;
    uint64_t pos, end; /* manifest bytes still to hand out */
    uint32_t ext;      /* extent of pos */
    uint64_t ext_start;
    int open; /* obj holds the reader of extent ext */
    reader_t obj;
};

int backend_reader_open(backend_t *b, const backend_manifest_t *m, uint64_t off, uint64_t len,
                        backend_reader_t **out, aug_err_t *err)
{
    backend_reader_t *r = calloc(1, sizeof(*r));
    if (!r) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    r->b = b;
    r->m = manifest_clone(m);
    if (!r->m) {
        free(r);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    r->pos = off < m->size ? off : m->size;
    r->end = len > m->size - r->pos ? m->size : r->pos + len;
    *out = r;
    return 0;
}

/* Annotate an unavailable-data error with the object's name, once. */
static void name_error(const backend_manifest_t *m, aug_err_t *err)
{
    if (!err || err->code != AUG_EUNAVAIL || strncmp(err->msg, "data unavailable", 16) != 0)
        return;
    char msg[AUG_ERR_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s", err->msg);
    aug_err_set(err, AUG_EUNAVAIL, "%s/%s: %s", m->bucket, m->key, msg);
}

ssize_t backend_reader_read(backend_reader_t *r, void *buf, size_t len, aug_err_t *err)
{
    const struct backend_layout *l = r->m->layout;
    if (r->pos >= r->end || len == 0) return 0;
    if (l->is_inline) {
        if (r->end > l->inline_len)
            return aug_err_set(err, AUG_ECORRUPT, "manifest of %s/%s is inconsistent",
                               r->m->bucket, r->m->key);
        size_t n = (size_t)(r->end - r->pos < len ? r->end - r->pos : len);
        memcpy(buf, l->inline_data + r->pos, n);
        r->pos += n;
        return (ssize_t)n;
    }
    for (;;) {
        if (r->ext >= l->n_extents) return 0;
        const backend_extent_t *e = &l->extents[r->ext];
        if (r->pos >= r->ext_start + e->len) {
            /* this extent is done: move to the next */
            if (r->open) reader_finish(&r->obj, r->obj.pos == r->obj.end);
            r->open = 0;
            r->ext_start += e->len;
            r->ext++;
            continue;
        }
        if (!r->open) {
            uint64_t in = r->pos - r->ext_start;
            uint64_t want = e->len - in;
            if (want > r->end - r->pos) want = r->end - r->pos;
            int rc = reader_init(&r->obj, r->b, &l->objects[e->obj], e->obj_off + in, want, 0,
                                 err);
            if (rc != 0) {
                reader_finish(&r->obj, 0);
                return rc;
            }
            r->open = 1;
        }
        ssize_t n = reader_next(&r->obj, buf, len, err);
        if (n < 0) {
            name_error(r->m, err);
            return n;
        }
        if (n == 0) {
            /* the extent's requested part is done; only the overall end stops us */
            if (r->pos >= r->end) return 0;
            r->pos = r->ext_start + e->len;
            continue;
        }
        r->pos += (uint64_t)n;
        return n;
    }
}

void backend_reader_close(backend_reader_t *r)
{
    if (!r) return;
    if (r->open) reader_finish(&r->obj, r->obj.pos == r->obj.end);
    backend_manifest_free(r->m);
    free(r);
}

int backend_read(backend_t *b, const backend_manifest_t *m, uint64_t off, uint64_t len,
                 backend_sink_fn sink, void *sink_arg, aug_err_t *err)
{
    const struct backend_layout *l = m->layout;
    if (off >= m->size || len == 0) return 0;
    uint64_t end = len > m->size - off ? m->size : off + len;
    if (l->is_inline) {
        if (end > l->inline_len)
            return aug_err_set(err, AUG_ECORRUPT, "manifest of %s/%s is inconsistent", m->bucket,
                               m->key);
        int rc = sink(sink_arg, l->inline_data + off, (size_t)(end - off));
        return rc ? aug_err_set(err, rc, "read stopped by its consumer") : 0;
    }
    /* straight from the shard buffers to the sink: no copy in between */
    uint64_t pos = 0;
    for (uint32_t i = 0; i < l->n_extents && pos < end; i++) {
        const backend_extent_t *e = &l->extents[i];
        uint64_t e_end = pos + e->len;
        if (e_end > off) {
            uint64_t lo = off > pos ? off - pos : 0;
            uint64_t hi = (end < e_end ? end : e_end) - pos;
            int rc = object_read(b, &l->objects[e->obj], e->obj_off + lo, hi - lo, sink,
                                 sink_arg, 0, NULL, err);
            if (rc != 0) {
                name_error(m, err);
                return rc;
            }
        }
        pos = e_end;
    }
    return 0;
}
