/* object_write.c - streaming put: small objects inline in the manifest, larger ones cut into
 * stripes of k data + m parity shards written to k+m nodes, acknowledged at write quorum. */
#include "internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shard writers of one data object being written. */
typedef struct shard_set {
    backend_t *b;
    backend_object_t obj;
    node_writer_t *w[24];
    int node_of[24];
    char names[24][96];
    int live;
} shard_set_t;

static void shard_set_abort(shard_set_t *ss)
{
    for (int i = 0; i < ss->obj.k + ss->obj.m; i++) {
        if (ss->w[i]) {
            ss->b->nodes[ss->node_of[i]]->ops->put_abort(ss->w[i]);
            ss->w[i] = NULL;
        }
    }
}

/* Pick k+m nodes in rendezvous order, preferring reachable ones, and open a writer on each. */
static int shard_set_open(shard_set_t *ss, aug_err_t *err)
{
    backend_t *b = ss->b;
    int n = ss->obj.k + ss->obj.m, order[AUG_MAX_NODES], used[AUG_MAX_NODES] = {0};
    placement_rank(b, ss->obj.id, order);
    int slot = 0;
    for (int r = 0; r < b->n_nodes && slot < n; r++) {
        int i = order[r];
        if (!backend_node_usable(b, i)) continue;
        chunk_name(ss->obj.id, slot, ss->names[slot], sizeof(ss->names[slot]));
        int rc = b->nodes[i]->ops->put_begin(b->nodes[i], ss->names[slot], &ss->w[slot]);
        backend_note_node(b, i, rc);
        if (rc != 0) {
            ss->w[slot] = NULL;
            continue;
        }
        ss->node_of[slot] = i;
        used[i] = 1;
        slot++;
    }
    ss->live = slot;
    if (slot < b->write_quorum) {
        shard_set_abort(ss);
        return aug_err_set(err, AUG_EQUORUM,
                           "only %d of %d nodes are reachable; the write quorum is %d", slot,
                           b->n_nodes, b->write_quorum);
    }
    /* slots no reachable node took go to the next nodes in rank order: heal fills them */
    for (int r = 0; r < b->n_nodes && slot < n; r++) {
        if (used[order[r]]) continue;
        chunk_name(ss->obj.id, slot, ss->names[slot], sizeof(ss->names[slot]));
        ss->node_of[slot] = order[r];
        ss->w[slot] = NULL;
        used[order[r]] = 1;
        slot++;
    }
    ss->obj.nodes = calloc((size_t)n, sizeof(char *));
    if (!ss->obj.nodes) {
        shard_set_abort(ss);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        ss->obj.nodes[i] = strdup(b->nodes[ss->node_of[i]]->spec);
        if (!ss->obj.nodes[i]) {
            shard_set_abort(ss);
            return aug_err_set(err, AUG_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Append len bytes to shard i; a failing node is dropped while the quorum still holds. */
static int shard_append(shard_set_t *ss, int i, const void *buf, size_t len, aug_err_t *err)
{
    if (!ss->w[i]) return 0;
    node_t *nd = ss->b->nodes[ss->node_of[i]];
    int rc = nd->ops->put_append(ss->w[i], buf, len);
    if (rc == 0) return 0;
    aug_warn("node %s failed during a write; continuing without it", nd->spec);
    backend_note_node(ss->b, ss->node_of[i], AUG_EIO);
    nd->ops->put_abort(ss->w[i]);
    ss->w[i] = NULL;
    if (--ss->live < ss->b->write_quorum)
        return aug_err_set(err, AUG_EQUORUM,
                           "too many nodes failed during the write (quorum %d not reachable)",
                           ss->b->write_quorum);
    return 0;
}

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Commit every writer; on quorum failure remove those that did commit. */
typedef struct commit_job {
    shard_set_t *ss;
    int i;
    int rc;
} commit_job_t;

static void commit_job_run(void *arg)
{
    commit_job_t *j = arg;
    node_t *nd = j->ss->b->nodes[j->ss->node_of[j->i]];
    j->rc = nd->ops->put_commit(j->ss->w[j->i]);
}

static int shard_set_commit(shard_set_t *ss, aug_err_t *err)
{
    int n = ss->obj.k + ss->obj.m, ok = 0, done[24] = {0};
    /* every node fsyncs at once: a commit costs one fsync round trip, not k+m of them */
    commit_job_t jobs[24];
    io_batch_t batch;
    io_batch_init(&batch);
    for (int i = 0; i < n; i++) {
        jobs[i] = (commit_job_t){.ss = ss, .i = i, .rc = AUG_EIO};
        if (ss->w[i]) io_pool_submit(ss->b->io, &batch, commit_job_run, &jobs[i]);
    }
    io_batch_wait(&batch);
    for (int i = 0; i < n; i++) {
        if (!ss->w[i]) continue;
        ss->w[i] = NULL;
        backend_note_node(ss->b, ss->node_of[i], jobs[i].rc);
        if (jobs[i].rc == 0) done[i] = 1, ok++;
    }
    if (ok >= ss->b->write_quorum) return 0;
    for (int i = 0; i < n; i++)
        if (done[i]) ss->b->nodes[ss->node_of[i]]->ops->remove(ss->b->nodes[ss->node_of[i]],
                                                               ss->names[i]);
    return aug_err_set(err, AUG_EQUORUM,
                       "only %d shards were stored durably; the write quorum is %d", ok,
                       ss->b->write_quorum);
}

int manifest_fill_attrs(backend_manifest_t *m, const char *bucket, const char *key,
                      const backend_put_attrs_t *a)
{
    snprintf(m->bucket, sizeof(m->bucket), "%s", bucket);
    m->key = strdup(key);
    if (!m->key) return AUG_ENOMEM;
    m->written_ns = aug_now_ns();
    m->mtime_ns = a && a->mtime_ns ? a->mtime_ns : m->written_ns;
    if (!a) return 0;
    m->mode = a->mode;
    m->uid = a->uid;
    m->gid = a->gid;
    if (a->content_type && !(m->content_type = strdup(a->content_type))) return AUG_ENOMEM;
    if (a->n_meta) {
        m->meta = calloc(a->n_meta, sizeof(*m->meta));
        if (!m->meta) return AUG_ENOMEM;
        for (size_t i = 0; i < a->n_meta; i++) {
            m->meta[i].name = strdup(a->meta[i].name);
            m->meta[i].value = strdup(a->meta[i].value);
            m->n_meta = i + 1;
            if (!m->meta[i].name || !m->meta[i].value) return AUG_ENOMEM;
        }
    }
    return 0;
}

/* Build the layout for either inline bytes or the data object just written. */
static int set_layout(backend_manifest_t *m, shard_set_t *ss, uint8_t *inline_data,
                      size_t inline_len)
{
    struct backend_layout *l = calloc(1, sizeof(*l));
    if (!l) return AUG_ENOMEM;
    m->layout = l;
    if (!ss) {
        l->is_inline = 1;
        l->inline_data = inline_data;
        l->inline_len = inline_len;
        return 0;
    }
    l->objects = malloc(sizeof(*l->objects));
    l->extents = malloc(sizeof(*l->extents));
    if (!l->objects || !l->extents) return AUG_ENOMEM;
    l->objects[0] = ss->obj;
    ss->obj.nodes = NULL; /* now owned by the layout */
    l->n_objects = 1;
    l->extents[0] = (backend_extent_t){.obj = 0, .obj_off = 0, .len = l->objects[0].size};
    l->n_extents = 1;
    return 0;
}

/* MD5 of one stripe's bytes, run on the pool while the writer fills the other stripe. */
typedef struct md5_job {
    EVP_MD_CTX *md5;
    const uint8_t *p;
    size_t len;
} md5_job_t;

struct backend_writer {
    backend_t *b;
    backend_manifest_t *m; /* being built */
    char record[PATH_MAX]; /* node name its manifest is written under */
    EVP_MD_CTX *md5;
    uint8_t *head; /* bytes kept while the object may still fit inline */
    size_t head_len;
    int erasure_coded; /* switched to shards once past inline_max */
    int force_shards;  /* never inline: the data object is referenced elsewhere */
    shard_set_t ss;
    ec_codec_t codec;
    /* The ETag's MD5 is a third of a put's CPU and cannot be split, so it runs beside the
     * rest: while the pool hashes one stripe buffer, the writer fills, encodes and stores
     * the other. */
    uint8_t *stripes[2], *stripe; /* stripe is the one being filled */
    uint8_t *parity;              /* its parity shards */
    size_t stripe_fill;
    uint64_t stripe_start; /* stream offset of the stripe's first byte */
    uint64_t hashed;       /* bytes of the stream hashed, or handed to md5_job */
    md5_job_t md5_job;
    io_batch_t md5_batch;
    int md5_busy;
    uint64_t total;
    int failed;
};

static void md5_job_run(void *arg)
{
    md5_job_t *j = arg;
    EVP_DigestUpdate(j->md5, j->p, j->len);
}

/* Wait for the stripe being hashed, if any: its buffer and the digest are free after. */
static void md5_wait(backend_writer_t *w)
{
    if (!w->md5_busy) return;
    io_batch_wait(&w->md5_batch);
    w->md5_busy = 0;
}

/* Hash the part of the current stripe not hashed yet, on the pool, then fill the other. */
static void md5_hand_off_stripe(backend_writer_t *w, size_t got)
{
    uint64_t end = w->stripe_start + got;
    md5_wait(w);
    if (end > w->hashed) {
        size_t skip = (size_t)(w->hashed > w->stripe_start ? w->hashed - w->stripe_start : 0);
        w->md5_job = (md5_job_t){.md5 = w->md5, .p = w->stripe + skip, .len = got - skip};
        io_batch_init(&w->md5_batch);
        w->md5_busy = 1;
        io_pool_submit(w->b->io, &w->md5_batch, md5_job_run, &w->md5_job);
        w->hashed = end;
    }
    w->stripe_start = end;
    w->stripe = w->stripe == w->stripes[0] ? w->stripes[1] : w->stripes[0];
}

/* Encode the buffered stripe (len bytes, short only for the last) and append every shard
 * with its CRC to its node. */
static int flush_stripe(backend_writer_t *w, aug_err_t *err)
{
    shard_set_t *ss = &w->ss;
    int k = ss->obj.k, m = ss->obj.m;
    uint32_t sl = ss->obj.shard_len;
    size_t got = w->stripe_fill, stripe = (size_t)k * sl;
    /* a short last stripe gets shorter shards, padded with zeros to k equal parts */
    uint32_t len = got == stripe ? sl : (uint32_t)((got + (size_t)k - 1) / (size_t)k);
    memset(w->stripe + got, 0, (size_t)k * len - got);
    uint8_t *dp[16], *pp[8], crc[SHARD_CRC_LEN];
    for (int i = 0; i < k; i++) dp[i] = w->stripe + (size_t)i * len;
    for (int i = 0; i < m; i++) pp[i] = w->parity + (size_t)i * sl;
    ec_codec_encode(&w->codec, len, dp, pp);
    int rc = 0;
    for (int i = 0; i < k + m && rc == 0; i++) {
        uint8_t *shard = i < k ? dp[i] : pp[i - k];
        le32(crc, aug_crc32c(0, shard, len));
        rc = shard_append(ss, i, shard, len, err);
        if (rc == 0) rc = shard_append(ss, i, crc, SHARD_CRC_LEN, err);
    }
    md5_hand_off_stripe(w, got);
    w->stripe_fill = 0;
    return rc;
}

/* Append bytes to the stripe pipeline, flushing every full stripe. */
static int feed_stripes(backend_writer_t *w, const uint8_t *p, size_t len, aug_err_t *err)
{
    size_t stripe = (size_t)w->ss.obj.k * w->ss.obj.shard_len;
    while (len > 0) {
        size_t n = stripe - w->stripe_fill;
        if (n > len) n = len;
        memcpy(w->stripe + w->stripe_fill, p, n);
        w->stripe_fill += n;
        p += n;
        len -= n;
        if (w->stripe_fill == stripe) {
            int rc = flush_stripe(w, err);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

/* The object outgrew inline_max: open shard writers and push the kept bytes through. */
static int start_erasure_coding(backend_writer_t *w, aug_err_t *err)
{
    backend_t *b = w->b;
    shard_set_t *ss = &w->ss;
    memcpy(ss->obj.id, w->m->version_id, sizeof(ss->obj.id));
    ss->obj.k = (uint8_t)b->k;
    ss->obj.m = (uint8_t)b->m;
    ss->obj.shard_len = b->shard_len;
    w->stripes[0] = malloc((size_t)b->k * b->shard_len);
    w->stripes[1] = malloc((size_t)b->k * b->shard_len);
    w->stripe = w->stripes[0];
    w->parity = malloc((size_t)(b->m ? b->m : 1) * b->shard_len);
    if (!w->stripes[0] || !w->stripes[1] || !w->parity ||
        ec_codec_init(&w->codec, b->k, b->m) != 0)
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = shard_set_open(ss, err);
    if (rc != 0) return rc;
    w->erasure_coded = 1;
    rc = feed_stripes(w, w->head, w->head_len, err);
    free(w->head);
    w->head = NULL;
    w->head_len = 0;
    return rc;
}

int writer_open_record(backend_t *b, const char *record, const char *bucket, const char *key,
                       const backend_put_attrs_t *attrs, backend_writer_t **out, aug_err_t *err)
{
    backend_writer_t *w = calloc(1, sizeof(*w));
    if (!w) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    w->b = b;
    w->ss.b = b;
    if (record) snprintf(w->record, sizeof(w->record), "%s", record);
    w->m = calloc(1, sizeof(*w->m));
    w->md5 = EVP_MD_CTX_new();
    w->head = malloc(b->inline_max ? b->inline_max : 1);
    if (!w->m || !w->md5 || !w->head || manifest_fill_attrs(w->m, bucket, key, attrs) != 0 ||
        aug_random_bytes(w->m->version_id, sizeof(w->m->version_id)) != 0 ||
        !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
        backend_writer_abort(w);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    *out = w;
    return 0;
}

int backend_writer_open(backend_t *b, const char *bucket, const char *key,
                        const backend_put_attrs_t *attrs, backend_writer_t **out, aug_err_t *err)
{
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = backend_check_key(key, err);
    if (rc == 0) rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    char record[PATH_MAX];
    if (manifest_name(bucket, key, record, sizeof(record)) != 0)
        return aug_err_set(err, AUG_ETOOLONG, "key too long");
    return writer_open_record(b, record, bucket, key, attrs, out, err);
}

int backend_writer_write(backend_writer_t *w, const void *buf, size_t len, aug_err_t *err)
{
    if (w->failed) return aug_err_set(err, AUG_EIO, "the write already failed");
    const uint8_t *p = buf;
    if (!w->erasure_coded) { /* later bytes are hashed stripe by stripe (flush_stripe) */
        EVP_DigestUpdate(w->md5, p, len);
        w->hashed += len;
    }
    w->total += len;
    int rc = 0;
    if (!w->erasure_coded) {
        size_t room = w->force_shards ? 0 : w->b->inline_max - w->head_len;
        if (len <= room) {
            memcpy(w->head + w->head_len, p, len);
            w->head_len += len;
            return 0;
        }
        rc = start_erasure_coding(w, err);
    }
    if (rc == 0) rc = feed_stripes(w, p, len, err);
    if (rc != 0) w->failed = 1;
    return rc;
}

/* Finish the shards: last partial stripe, footers, durable commit on the quorum. */
static int finish_shards(backend_writer_t *w, aug_err_t *err)
{
    shard_set_t *ss = &w->ss;
    int rc = w->stripe_fill > 0 ? flush_stripe(w, err) : 0;
    ss->obj.size = w->total;
    uint8_t footer[CHUNK_HEADER_LEN];
    for (int i = 0; i < ss->obj.k + ss->obj.m && rc == 0; i++) {
        chunk_header_encode(&ss->obj, i, footer);
        rc = shard_append(ss, i, footer, sizeof(footer), err);
    }
    if (rc != 0) {
        shard_set_abort(ss);
        return rc;
    }
    return shard_set_commit(ss, err);
}

int backend_writer_commit(backend_writer_t *w, backend_manifest_t **out, aug_err_t *err)
{
    int rc = w->failed ? aug_err_set(err, AUG_EIO, "the write already failed") : 0;
    backend_manifest_t *m = w->m;
    if (rc == 0 && w->erasure_coded) {
        rc = finish_shards(w, err);
        if (rc == 0) rc = set_layout(m, &w->ss, NULL, 0);
    } else if (rc == 0) {
        rc = set_layout(m, NULL, w->head, w->head_len);
        if (rc == 0) w->head = NULL;
        else aug_err_set(err, rc, "out of memory");
    }
    md5_wait(w);
    if (rc == 0) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        EVP_DigestFinal_ex(w->md5, digest, &dlen);
        aug_hex(digest, dlen, m->etag);
        m->size = w->total;
        /* the last writer to finish wins: stamp the write now, not when it started */
        int64_t opened_ns = m->written_ns;
        m->written_ns = aug_now_ns();
        if (m->mtime_ns == opened_ns) m->mtime_ns = m->written_ns;
        if (w->record[0]) rc = record_write(w->b, w->record, m, err);
    }
    if (rc == 0 && out) {
        *out = m;
        w->m = NULL;
    }
    w->failed = rc != 0;
    backend_writer_abort(w);
    return rc;
}

int backend_writer_set_meta(backend_writer_t *w, const char *name, const char *value)
{
    backend_manifest_t *m = w->m;
    char *v = strdup(value);
    if (!v) return AUG_ENOMEM;
    for (size_t i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta[i].name, name) == 0) {
            free(m->meta[i].value);
            m->meta[i].value = v;
            return 0;
        }
    }
    backend_kv_t *p = realloc(m->meta, (m->n_meta + 1) * sizeof(*p));
    char *n = strdup(name);
    if (!p || !n) {
        free(v);
        free(n);
        if (p) m->meta = p;
        return AUG_ENOMEM;
    }
    m->meta = p;
    m->meta[m->n_meta].name = n;
    m->meta[m->n_meta].value = v;
    m->n_meta++;
    return 0;
}

void writer_force_shards(backend_writer_t *w)
{
    w->force_shards = 1;
}

void backend_writer_abort(backend_writer_t *w)
{
    if (!w) return;
    md5_wait(w); /* the pool may still be reading a stripe buffer */
    shard_set_abort(&w->ss);
    if (w->ss.obj.nodes) {
        for (int i = 0; i < w->ss.obj.k + w->ss.obj.m; i++) free(w->ss.obj.nodes[i]);
        free(w->ss.obj.nodes);
    }
    if (w->erasure_coded || w->codec.matrix) ec_codec_free(&w->codec);
    free(w->stripes[0]);
    free(w->stripes[1]);
    free(w->parity);
    free(w->head);
    EVP_MD_CTX_free(w->md5);
    backend_manifest_free(w->m);
    free(w);
}

/* Bytes per call to a put source: large enough to amortise calls, small next to a stripe. */
#define PUT_CHUNK (256u << 10)

int backend_put(backend_t *b, const char *bucket, const char *key,
                const backend_put_attrs_t *attrs, backend_source_fn src, void *src_arg,
                backend_manifest_t **out, aug_err_t *err)
{
    backend_writer_t *w;
    int rc = backend_writer_open(b, bucket, key, attrs, &w, err);
    if (rc != 0) return rc;
    uint8_t *buf = malloc(PUT_CHUNK);
    if (!buf) {
        backend_writer_abort(w);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = src(src_arg, buf, PUT_CHUNK);
        if (n < 0) {
            rc = aug_err_set(err, (int)n, "the upload was abandoned by its source");
            break;
        }
        if (n == 0) break;
        rc = backend_writer_write(w, buf, (size_t)n, err);
        if (rc != 0) break;
    }
    free(buf);
    if (rc != 0) {
        backend_writer_abort(w);
        return rc;
    }
    return backend_writer_commit(w, out, err);
}
