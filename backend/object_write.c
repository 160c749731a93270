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

/* Bytes come first from an already-read head buffer, then from the caller's source. */
typedef struct put_source {
    const uint8_t *head;
    size_t head_len, head_pos;
    backend_source_fn src;
    void *arg;
    int eof;
} put_source_t;

/* Fill buf with up to len bytes; returns the count (short only at the end) or an error. */
static ssize_t source_fill(put_source_t *s, uint8_t *buf, size_t len)
{
    size_t got = 0;
    if (s->head_pos < s->head_len) {
        size_t n = s->head_len - s->head_pos;
        if (n > len) n = len;
        memcpy(buf, s->head + s->head_pos, n);
        s->head_pos += n;
        got = n;
    }
    while (got < len && !s->eof) {
        ssize_t n = s->src(s->arg, buf + got, len - got);
        if (n < 0) return n;
        if (n == 0) s->eof = 1;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

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
static int shard_set_commit(shard_set_t *ss, aug_err_t *err)
{
    int n = ss->obj.k + ss->obj.m, ok = 0, done[24] = {0};
    for (int i = 0; i < n; i++) {
        if (!ss->w[i]) continue;
        node_t *nd = ss->b->nodes[ss->node_of[i]];
        int rc = nd->ops->put_commit(ss->w[i]);
        ss->w[i] = NULL;
        backend_note_node(ss->b, ss->node_of[i], rc);
        if (rc == 0) done[i] = 1, ok++;
    }
    if (ok >= ss->b->write_quorum) return 0;
    for (int i = 0; i < n; i++)
        if (done[i]) ss->b->nodes[ss->node_of[i]]->ops->remove(ss->b->nodes[ss->node_of[i]],
                                                               ss->names[i]);
    return aug_err_set(err, AUG_EQUORUM,
                       "only %d shards were stored durably; the write quorum is %d", ok,
                       ss->b->write_quorum);
}

/* Stream the rest of the object into the shard writers; fills ss->obj.size and the MD5. */
static int write_stripes(shard_set_t *ss, put_source_t *src, EVP_MD_CTX *md5, aug_err_t *err)
{
    int k = ss->obj.k, m = ss->obj.m, n = k + m;
    uint32_t sl = ss->obj.shard_len;
    size_t stripe = (size_t)k * sl;
    uint8_t *data = malloc(stripe);
    uint8_t *parity = malloc((size_t)(m ? m : 1) * sl);
    uint8_t crc[SHARD_CRC_LEN];
    ec_codec_t codec;
    if (!data || !parity || ec_codec_init(&codec, k, m) != 0) {
        free(data);
        free(parity);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t got = source_fill(src, data, stripe);
        if (got < 0) {
            rc = aug_err_set(err, (int)got, "the upload was abandoned by its source");
            break;
        }
        if (got == 0) break;
        /* a short last stripe gets shorter shards, padded with zeros to k equal parts */
        uint32_t len = (size_t)got == stripe ? sl : (uint32_t)(((size_t)got + k - 1) / k);
        memset(data + got, 0, (size_t)k * len - (size_t)got);
        EVP_DigestUpdate(md5, data, (size_t)got);
        uint8_t *dp[16], *pp[8];
        for (int i = 0; i < k; i++) dp[i] = data + (size_t)i * len;
        for (int i = 0; i < m; i++) pp[i] = parity + (size_t)i * sl;
        ec_codec_encode(&codec, len, dp, pp);
        for (int i = 0; i < n && rc == 0; i++) {
            uint8_t *shard = i < k ? dp[i] : pp[i - k];
            le32(crc, aug_crc32c(0, shard, len));
            rc = shard_append(ss, i, shard, len, err);
            if (rc == 0) rc = shard_append(ss, i, crc, SHARD_CRC_LEN, err);
        }
        total += (uint64_t)got;
        if (rc != 0 || (size_t)got < stripe) break;
    }
    free(data);
    free(parity);
    ec_codec_free(&codec);
    ss->obj.size = total;
    if (rc != 0) return rc;
    uint8_t footer[CHUNK_HEADER_LEN];
    for (int i = 0; i < n && rc == 0; i++) {
        chunk_header_encode(&ss->obj, i, footer);
        rc = shard_append(ss, i, footer, sizeof(footer), err);
    }
    return rc;
}

static int fill_attrs(backend_manifest_t *m, const char *bucket, const char *key,
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

/* Read up to cap bytes from src into buf; *eof is set when the source ended within them. */
static ssize_t read_head(backend_source_fn src, void *arg, uint8_t *buf, size_t cap, int *eof)
{
    size_t got = 0;
    *eof = 0;
    while (got < cap) {
        ssize_t n = src(arg, buf + got, cap - got);
        if (n < 0) return n;
        if (n == 0) {
            *eof = 1;
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
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

int backend_put(backend_t *b, const char *bucket, const char *key,
                const backend_put_attrs_t *attrs, backend_source_fn src, void *src_arg,
                backend_manifest_t **out, aug_err_t *err)
{
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = backend_check_key(key, err);
    if (rc == 0) rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    char mname[PATH_MAX];
    if (manifest_name(bucket, key, mname, sizeof(mname)) != 0)
        return aug_err_set(err, AUG_ETOOLONG, "key too long");

    backend_manifest_t *m = calloc(1, sizeof(*m));
    EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    uint8_t *head = malloc(b->inline_max + 1);
    shard_set_t ss = {.b = b};
    if (!m || !md5 || !head || fill_attrs(m, bucket, key, attrs) != 0 ||
        aug_random_bytes(m->version_id, sizeof(m->version_id)) != 0 ||
        !EVP_DigestInit_ex(md5, EVP_md5(), NULL)) {
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
        goto out;
    }
    int eof;
    ssize_t got = read_head(src, src_arg, head, b->inline_max + 1, &eof);
    if (got < 0) {
        rc = aug_err_set(err, (int)got, "the upload was abandoned by its source");
        goto out;
    }
    if (eof) {
        EVP_DigestUpdate(md5, head, (size_t)got);
        m->size = (uint64_t)got;
        rc = set_layout(m, NULL, head, (size_t)got);
        if (rc == 0) head = NULL;
    } else {
        memcpy(ss.obj.id, m->version_id, sizeof(ss.obj.id));
        ss.obj.k = (uint8_t)b->k;
        ss.obj.m = (uint8_t)b->m;
        ss.obj.shard_len = b->shard_len;
        put_source_t ps = {.head = head, .head_len = (size_t)got, .src = src, .arg = src_arg};
        rc = shard_set_open(&ss, err);
        if (rc == 0) rc = write_stripes(&ss, &ps, md5, err);
        if (rc == 0) rc = shard_set_commit(&ss, err);
        else shard_set_abort(&ss);
        if (rc == 0) {
            m->size = ss.obj.size;
            rc = set_layout(m, &ss, NULL, 0);
        }
    }
    if (rc != 0) {
        if (err && err->code == AUG_OK) aug_err_set(err, rc, "%s", aug_strerror(rc));
        goto out;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md5, digest, &dlen);
    aug_hex(digest, dlen, m->etag);
    rc = record_write(b, mname, m, err);
    if (rc == 0 && out) {
        *out = m;
        m = NULL;
    }
out:
    if (ss.obj.nodes) {
        for (int i = 0; i < ss.obj.k + ss.obj.m; i++) free(ss.obj.nodes[i]);
        free(ss.obj.nodes);
    }
    EVP_MD_CTX_free(md5);
    free(head);
    backend_manifest_free(m);
    return rc;
}
