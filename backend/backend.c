/* backend.c - opening the backend, buckets, lookups, deletes and reads over a manifest. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int backend_open(const aug_config_t *cfg, backend_t **out, aug_err_t *err)
{
    const int k = cfg->backend.data_shards, m = cfg->backend.parity_shards;
    if (cfg->backend.n_nodes < k + m)
        return aug_err_set(err, AUG_ECONFIG,
                           "%s: [backend] nodes lists %d nodes; %d data + %d parity shards "
                           "need at least %d",
                           cfg->path[0] ? cfg->path : "configuration", cfg->backend.n_nodes, k, m,
                           k + m);
    backend_t *b = calloc(1, sizeof(*b));
    if (!b) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    b->k = k;
    b->m = m;
    b->write_quorum = cfg->backend.write_quorum ? cfg->backend.write_quorum
                                                : (k + 1 > k + m ? k + m : k + 1);
    b->inline_max = cfg->backend.inline_max;
    b->gc_grace_ms = cfg->backend.gc_grace_ms;
    /* one thread per shard of a stripe, so all of them are read at once */
    if (io_pool_create(k + m > 16 ? 16 : k + m, &b->io) != 0) {
        free(b);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    uint64_t per_shard = (cfg->backend.stripe_size + (uint64_t)k - 1) / (uint64_t)k;
    b->shard_len = (uint32_t)((per_shard + SHARD_ALIGN - 1) / SHARD_ALIGN * SHARD_ALIGN);
    for (int i = 0; i < cfg->backend.n_nodes; i++) {
        int rc = node_open(cfg->backend.nodes[i], &b->nodes[i], err);
        if (rc != 0) {
            backend_close(b);
            return rc;
        }
        b->n_nodes = i + 1;
        node_health_t h;
        b->nodes[i]->ops->health(b->nodes[i], &h);
        if (!h.up) {
            aug_warn("node %s is down (%s); continuing without it", b->nodes[i]->spec, h.reason);
            atomic_store(&b->node_down[i], 1);
            atomic_store(&b->node_down_since[i], aug_mono_ns());
        }
    }
    *out = b;
    return 0;
}

void backend_close(backend_t *b)
{
    if (!b) return;
    io_pool_destroy(b->io);
    for (int i = 0; i < b->n_nodes; i++) node_close(b->nodes[i]);
    free(b);
}

int backend_node_count(const backend_t *b)
{
    return b->n_nodes;
}

int backend_node_status(backend_t *b, int i, backend_node_status_t *st)
{
    if (i < 0 || i >= b->n_nodes) return AUG_EINVAL;
    node_health_t h;
    memset(st, 0, sizeof(*st));
    snprintf(st->spec, sizeof(st->spec), "%s", b->nodes[i]->spec);
    b->nodes[i]->ops->health(b->nodes[i], &h);
    backend_note_node(b, i, h.up ? 0 : AUG_EIO);
    if (h.up) atomic_store(&b->node_down[i], 0);
    st->up = h.up;
    st->ops = atomic_load(&b->node_ops[i]);
    st->errors = atomic_load(&b->node_errors[i]);
    st->timed_ops = atomic_load(&b->node_timed[i]);
    st->time_us = atomic_load(&b->node_time_us[i]);
    st->total_bytes = h.total_bytes;
    st->free_bytes = h.free_bytes;
    snprintf(st->reason, sizeof(st->reason), "%s", h.reason);
    return 0;
}

/* ---- buckets --------------------------------------------------------------------------- */

static void bucket_record_name(const char *bucket, char *out, size_t len)
{
    snprintf(out, len, NS_BUCKETS "%s", bucket);
}

static int unavailable(aug_err_t *err)
{
    return aug_err_set(err, AUG_EUNAVAIL,
                       "too many nodes are unreachable to answer reliably; check the nodes");
}

int backend_bucket_stat(backend_t *b, const char *bucket, int64_t *created_ns, aug_err_t *err)
{
    char name[128];
    int rc = backend_check_bucket_name(bucket, err);
    if (rc != 0) return rc;
    bucket_record_name(bucket, name, sizeof(name));
    backend_manifest_t *rec;
    rc = record_read(b, name, &rec, NULL);
    if (rc == AUG_EUNAVAIL) return unavailable(err);
    if (rc == 0 && rec->deleted) rc = AUG_ENOENT;
    if (rc == AUG_ENOENT) {
        backend_manifest_free(rec);
        return aug_err_set(err, AUG_ENOENT, "bucket '%s' not found", bucket);
    }
    if (rc != 0) return aug_err_set(err, rc, "bucket '%s': %s", bucket, aug_strerror(rc));
    if (created_ns) *created_ns = rec->mtime_ns;
    backend_manifest_free(rec);
    return 0;
}

/* Write a bucket record (live or tombstone) to every node. */
static int bucket_record_write(backend_t *b, const char *bucket, int deleted, aug_err_t *err)
{
    char name[128];
    bucket_record_name(bucket, name, sizeof(name));
    backend_manifest_t rec = {0};
    snprintf(rec.bucket, sizeof(rec.bucket), "%s", bucket);
    rec.key = "";
    rec.written_ns = rec.mtime_ns = aug_now_ns();
    rec.deleted = deleted;
    if (aug_random_bytes(rec.version_id, sizeof(rec.version_id)) != 0)
        return aug_err_set(err, AUG_EIO, "no randomness available");
    return record_write(b, name, &rec, err);
}

int backend_bucket_create(backend_t *b, const char *bucket, aug_err_t *err)
{
    int rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc == 0) return aug_err_set(err, AUG_EEXIST, "bucket '%s' already exists", bucket);
    if (rc != AUG_ENOENT) return rc;
    aug_err_clear(err);
    return bucket_record_write(b, bucket, 0, err);
}

int backend_bucket_delete(backend_t *b, const char *bucket, aug_err_t *err)
{
    int rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    backend_list_opts_t opts = {.max_keys = 1};
    backend_list_result_t *res;
    rc = backend_list(b, bucket, &opts, &res, err);
    if (rc != 0) return rc;
    int empty = res->n_objects == 0 && res->n_prefixes == 0;
    backend_list_free(res);
    if (!empty) return aug_err_set(err, AUG_ENOTEMPTY, "bucket '%s' is not empty", bucket);
    return bucket_record_write(b, bucket, 1, err);
}

typedef struct bucket_names {
    backend_t *b;
    backend_bucket_info_t *items;
    size_t n, cap;
    int failed;
} bucket_names_t;

static int add_bucket_name(void *arg, const char *name)
{
    bucket_names_t *bn = arg;
    const char *bucket = name + strlen(NS_BUCKETS);
    if (backend_check_bucket_name(bucket, NULL) != 0) return 0;
    for (size_t i = 0; i < bn->n; i++)
        if (strcmp(bn->items[i].name, bucket) == 0) return 0;
    if (bn->n == bn->cap) {
        size_t cap = bn->cap ? bn->cap * 2 : 16;
        backend_bucket_info_t *p = realloc(bn->items, cap * sizeof(*p));
        if (!p) {
            bn->failed = 1;
            return 1;
        }
        bn->items = p;
        bn->cap = cap;
    }
    snprintf(bn->items[bn->n].name, sizeof(bn->items[0].name), "%s", bucket);
    bn->items[bn->n++].created_ns = 0;
    return 0;
}

static int cmp_bucket(const void *a, const void *b)
{
    return strcmp(((const backend_bucket_info_t *)a)->name,
                  ((const backend_bucket_info_t *)b)->name);
}

int backend_bucket_list(backend_t *b, backend_bucket_info_t **out, size_t *n, aug_err_t *err)
{
    bucket_names_t bn = {.b = b};
    int answered = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        if (!backend_node_usable(b, i)) continue;
        int rc = b->nodes[i]->ops->list(b->nodes[i], NS_BUCKETS, NULL, add_bucket_name, &bn);
        backend_note_node(b, i, rc);
        if (rc == 0) answered++;
    }
    if (bn.failed) {
        free(bn.items);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    if (answered < b->n_nodes - b->write_quorum + 1) {
        free(bn.items);
        return unavailable(err);
    }
    /* keep only buckets whose newest record is live */
    size_t kept = 0;
    for (size_t i = 0; i < bn.n; i++) {
        int64_t created;
        if (backend_bucket_stat(b, bn.items[i].name, &created, NULL) == 0) {
            bn.items[kept] = bn.items[i];
            bn.items[kept++].created_ns = created;
        }
    }
    /* with no bucket at all items is NULL, and qsort(NULL, 0, ...) is undefined */
    if (kept > 1) qsort(bn.items, kept, sizeof(*bn.items), cmp_bucket);
    *out = bn.items;
    *n = kept;
    return 0;
}

/* ---- objects --------------------------------------------------------------------------- */

int backend_head(backend_t *b, const char *bucket, const char *key, backend_manifest_t **out,
                 aug_err_t *err)
{
    char name[PATH_MAX];
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = backend_check_key(key, err);
    if (rc != 0) return rc;
    manifest_name(bucket, key, name, sizeof(name));
    int stale[AUG_MAX_NODES];
    backend_manifest_t *m;
    rc = record_read(b, name, &m, stale);
    if (rc == AUG_EUNAVAIL) return unavailable(err);
    if (rc == AUG_ENOENT || (rc == 0 && m->deleted)) {
        if (rc == 0) {
            record_repair(b, name, m, stale);
            backend_manifest_free(m);
        }
        if (backend_bucket_stat(b, bucket, NULL, err) != 0) return err ? err->code : AUG_ENOENT;
        return aug_err_set(err, AUG_ENOENT, "%s/%s not found", bucket, key);
    }
    if (rc != 0) return aug_err_set(err, rc, "%s/%s: %s", bucket, key, aug_strerror(rc));
    /* heal on read: nodes with a missing, corrupt or older copy get the current one */
    record_repair(b, name, m, stale);
    *out = m;
    return 0;
}

int backend_delete(backend_t *b, const char *bucket, const char *key, aug_err_t *err)
{
    backend_manifest_t *cur;
    int rc = backend_head(b, bucket, key, &cur, err);
    if (rc != 0) return rc;
    backend_manifest_t tomb = {0};
    snprintf(tomb.bucket, sizeof(tomb.bucket), "%s", bucket);
    tomb.key = (char *)key;
    tomb.deleted = 1;
    tomb.written_ns = tomb.mtime_ns = aug_now_ns();
    /* a clock step backwards must not let the old version win over its tombstone */
    if (tomb.written_ns <= cur->written_ns) tomb.written_ns = cur->written_ns + 1;
    backend_manifest_free(cur);
    if (aug_random_bytes(tomb.version_id, sizeof(tomb.version_id)) != 0)
        return aug_err_set(err, AUG_EIO, "no randomness available");
    char name[PATH_MAX];
    manifest_name(bucket, key, name, sizeof(name));
    return record_write(b, name, &tomb, err);
}
