/* compose.c - new manifests made of ranges of existing versions, without copying their data:
 * CopyObject, UploadPartCopy, CompleteMultipartUpload and renames all end here. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append object o to layout l unless it is there already; returns its index or -1. */
static int layout_add_object(struct backend_layout *l, const backend_object_t *o)
{
    for (uint32_t i = 0; i < l->n_objects; i++)
        if (memcmp(l->objects[i].id, o->id, BACKEND_VERSION_ID_LEN) == 0) return (int)i;
    backend_object_t *p = realloc(l->objects, (l->n_objects + 1) * sizeof(*p));
    if (!p) return -1;
    l->objects = p;
    backend_object_t *dst = &l->objects[l->n_objects];
    *dst = *o;
    dst->nodes = calloc((size_t)(o->k + o->m), sizeof(char *));
    if (!dst->nodes) return -1;
    l->n_objects++; /* counted now so layout_free releases what was copied */
    for (int j = 0; j < o->k + o->m; j++)
        if (!(dst->nodes[j] = strdup(o->nodes[j]))) return -1;
    return (int)(l->n_objects - 1);
}

static int layout_add_extent(struct backend_layout *l, int obj, uint64_t off, uint64_t len)
{
    if (len == 0) return 0;
    /* a range continuing the previous one of the same object merges into it */
    if (l->n_extents > 0) {
        backend_extent_t *last = &l->extents[l->n_extents - 1];
        if (last->obj == (uint32_t)obj && last->obj_off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    backend_extent_t *p = realloc(l->extents, (l->n_extents + 1) * sizeof(*p));
    if (!p) return AUG_ENOMEM;
    l->extents = p;
    l->extents[l->n_extents++] = (backend_extent_t){.obj = (uint32_t)obj, .obj_off = off,
                                                    .len = len};
    return 0;
}

/* Add bytes [off, off+len) of manifest src's layout to l. */
static int layout_add_range(struct backend_layout *l, const backend_manifest_t *src,
                            uint64_t off, uint64_t len)
{
    const struct backend_layout *s = src->layout;
    uint64_t pos = 0, end = off + len;
    for (uint32_t i = 0; i < s->n_extents && pos < end; i++) {
        const backend_extent_t *e = &s->extents[i];
        uint64_t e_end = pos + e->len;
        if (e_end > off) {
            uint64_t lo = off > pos ? off - pos : 0;
            uint64_t hi = (end < e_end ? end : e_end) - pos;
            int obj = layout_add_object(l, &s->objects[e->obj]);
            if (obj < 0) return AUG_ENOMEM;
            int rc = layout_add_extent(l, obj, e->obj_off + lo, hi - lo);
            if (rc != 0) return rc;
        }
        pos = e_end;
    }
    return 0;
}

/* Inline bytes cannot be referenced: write them out as a data object of their own. */
static int materialise_inline(backend_t *b, const backend_manifest_t *src, uint64_t off,
                              uint64_t len, backend_manifest_t **out, aug_err_t *err)
{
    backend_writer_t *w;
    int rc = writer_open_record(b, NULL, src->bucket, src->key, NULL, &w, err);
    if (rc != 0) return rc;
    writer_force_shards(w);
    rc = backend_writer_write(w, src->layout->inline_data + off, (size_t)len, err);
    if (rc != 0) {
        backend_writer_abort(w);
        return rc;
    }
    return backend_writer_commit(w, out, err);
}

static int collect_bytes(void *arg, const void *buf, size_t len)
{
    struct backend_layout *l = arg;
    memcpy(l->inline_data + l->inline_len, buf, len);
    l->inline_len += len;
    return 0;
}

/* A small result is stored inline like any small object: read the pieces' bytes. */
static int compose_inline(backend_t *b, const backend_piece_t *pieces, size_t n, uint64_t total,
                          struct backend_layout *l, aug_err_t *err)
{
    l->is_inline = 1;
    l->inline_data = malloc(total ? total : 1);
    if (!l->inline_data) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = backend_read(b, pieces[i].manifest, pieces[i].off, pieces[i].len, collect_bytes,
                              l, err);
        if (rc != 0) return rc;
    }
    return 0;
}

int compose_layout(backend_t *b, const backend_piece_t *pieces, size_t n,
                   struct backend_layout **out, uint64_t *size, aug_err_t *err)
{
    struct backend_layout *l = calloc(1, sizeof(*l));
    if (!l) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    uint64_t total = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const backend_manifest_t *src = pieces[i].manifest;
        if (pieces[i].off > src->size || pieces[i].len > src->size - pieces[i].off) {
            layout_free(l);
            return aug_err_set(err, AUG_EINVAL, "range %llu+%llu is outside %s/%s (%llu bytes)",
                               (unsigned long long)pieces[i].off,
                               (unsigned long long)pieces[i].len, src->bucket, src->key,
                               (unsigned long long)src->size);
        }
        total += pieces[i].len;
    }
    if (total <= b->inline_max) {
        rc = compose_inline(b, pieces, n, total, l, err);
        if (rc != 0) {
            layout_free(l);
            return rc;
        }
        *out = l;
        *size = total;
        return 0;
    }
    total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const backend_manifest_t *src = pieces[i].manifest;
        uint64_t off = pieces[i].off, len = pieces[i].len;
        if (len == 0) continue;
        if (src->layout->is_inline) {
            backend_manifest_t *tmp = NULL;
            rc = materialise_inline(b, src, off, len, &tmp, err);
            if (rc == 0) rc = layout_add_range(l, tmp, 0, len);
            backend_manifest_free(tmp);
        } else {
            rc = layout_add_range(l, src, off, len);
        }
        if (rc == AUG_ENOMEM) aug_err_set(err, rc, "out of memory");
        total += len;
    }
    if (rc != 0) {
        layout_free(l);
        return rc;
    }
    *out = l;
    *size = total;
    return 0;
}

int compose_into_record(backend_t *b, const char *record, const char *bucket, const char *key,
                        const backend_put_attrs_t *attrs, const backend_piece_t *pieces,
                        size_t n, const char *etag, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *m = calloc(1, sizeof(*m));
    if (!m) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = manifest_fill_attrs(m, bucket, key, attrs);
    if (rc == 0) rc = aug_random_bytes(m->version_id, sizeof(m->version_id));
    if (rc != 0) {
        backend_manifest_free(m);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    rc = compose_layout(b, pieces, n, &m->layout, &m->size, err);
    if (rc == 0) {
        snprintf(m->etag, sizeof(m->etag), "%s", etag);
        rc = record_write(b, record, m, err);
    }
    if (rc == 0 && out) {
        *out = m;
        m = NULL;
    }
    backend_manifest_free(m);
    return rc;
}

int backend_put_composed(backend_t *b, const char *bucket, const char *key,
                         const backend_put_attrs_t *attrs, const backend_piece_t *pieces,
                         size_t n, const char *etag, backend_manifest_t **out, aug_err_t *err)
{
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = backend_check_key(key, err);
    if (rc == 0) rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    char record[PATH_MAX];
    if (manifest_name(bucket, key, record, sizeof(record)) != 0)
        return aug_err_set(err, AUG_ETOOLONG, "key too long");
    return compose_into_record(b, record, bucket, key, attrs, pieces, n, etag, out, err);
}
