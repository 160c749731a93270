/* uploads.c - multipart uploads: an upload record and one manifest per part, replicated on every
 * node like key manifests; completion composes the parts into the key without copying. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPLOAD_ID_LEN 32 /* hex digits */

static int check_upload_id(const char *id, aug_err_t *err)
{
    size_t n = strlen(id);
    uint8_t raw[UPLOAD_ID_LEN / 2];
    if (n != UPLOAD_ID_LEN || aug_unhex(id, raw, sizeof(raw)) != 0)
        return aug_err_set(err, AUG_ENOENT, "no such upload '%.64s'", id);
    return 0;
}

static void upload_record(const char *bucket, const char *id, char *out, size_t len)
{
    snprintf(out, len, NS_UPLOADS "%s/%s", bucket, id);
}

static void part_record(const char *bucket, const char *id, int part, char *out, size_t len)
{
    snprintf(out, len, NS_UPLOADS "%s/%s/%05d", bucket, id, part);
}

int backend_upload_create(backend_t *b, const char *bucket, const char *key,
                          const backend_put_attrs_t *attrs, char upload_id[33], aug_err_t *err)
{
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = backend_check_key(key, err);
    if (rc == 0) rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    backend_manifest_t *m = calloc(1, sizeof(*m));
    uint8_t raw[UPLOAD_ID_LEN / 2];
    if (!m || manifest_fill_attrs(m, bucket, key, attrs) != 0 ||
        aug_random_bytes(raw, sizeof(raw)) != 0 ||
        aug_random_bytes(m->version_id, sizeof(m->version_id)) != 0 ||
        !(m->layout = calloc(1, sizeof(*m->layout)))) {
        backend_manifest_free(m);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    m->layout->is_inline = 1;
    aug_hex(raw, sizeof(raw), upload_id);
    char record[PATH_MAX];
    upload_record(bucket, upload_id, record, sizeof(record));
    rc = record_write(b, record, m, err);
    backend_manifest_free(m);
    return rc;
}

int backend_upload_get(backend_t *b, const char *bucket, const char *upload_id,
                       backend_manifest_t **out, aug_err_t *err)
{
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = check_upload_id(upload_id, err);
    if (rc != 0) return rc;
    char record[PATH_MAX];
    upload_record(bucket, upload_id, record, sizeof(record));
    backend_manifest_t *m;
    rc = record_read(b, record, &m, NULL);
    if (rc == 0 && m->deleted) {
        backend_manifest_free(m);
        rc = AUG_ENOENT;
    }
    if (rc == AUG_ENOENT) return aug_err_set(err, rc, "no such upload '%s'", upload_id);
    if (rc != 0) return aug_err_set(err, rc, "upload '%s': %s", upload_id, aug_strerror(rc));
    *out = m;
    return 0;
}

int backend_upload_part_writer(backend_t *b, const char *bucket, const char *upload_id,
                               int part, backend_writer_t **out, aug_err_t *err)
{
    backend_manifest_t *up;
    if (part < 1 || part > BACKEND_MAX_PARTS)
        return aug_err_set(err, AUG_EINVAL, "part number must be between 1 and %d",
                           BACKEND_MAX_PARTS);
    int rc = backend_upload_get(b, bucket, upload_id, &up, err);
    if (rc != 0) return rc;
    char record[PATH_MAX];
    part_record(bucket, upload_id, part, record, sizeof(record));
    rc = writer_open_record(b, record, bucket, up->key, NULL, out, err);
    /* parts are referenced by the completed object: never inline */
    if (rc == 0) writer_force_shards(*out);
    backend_manifest_free(up);
    return rc;
}

int backend_upload_part_compose(backend_t *b, const char *bucket, const char *upload_id,
                                int part, const backend_piece_t *pieces, size_t n,
                                const char *etag, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *up;
    if (part < 1 || part > BACKEND_MAX_PARTS)
        return aug_err_set(err, AUG_EINVAL, "part number must be between 1 and %d",
                           BACKEND_MAX_PARTS);
    int rc = backend_upload_get(b, bucket, upload_id, &up, err);
    if (rc != 0) return rc;
    char record[PATH_MAX];
    part_record(bucket, upload_id, part, record, sizeof(record));
    rc = compose_into_record(b, record, bucket, up->key, NULL, pieces, n, etag, out, err);
    backend_manifest_free(up);
    return rc;
}

typedef struct part_collect {
    size_t prefix_len;
    int after;
    backend_manifest_t **parts;
    int *numbers;
    size_t n, cap;
    int failed;
} part_collect_t;

/* Names of the parts of one upload: "u/B/ID/00001". */
static int part_number_of(const char *name, size_t prefix_len)
{
    const char *p = name + prefix_len;
    if (strlen(p) != 5) return -1;
    int v = 0;
    for (int i = 0; i < 5; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int backend_upload_list_parts(backend_t *b, const char *bucket, const char *upload_id,
                              backend_part_list_t *out, aug_err_t *err)
{
    memset(out, 0, sizeof(*out));
    int rc = backend_check_bucket_name(bucket, err);
    if (rc == 0) rc = check_upload_id(upload_id, err);
    if (rc != 0) return rc;
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof(prefix), NS_UPLOADS "%s/%s/", bucket, upload_id);
    size_t plen = strlen(prefix);
    char *cursor = NULL;
    for (;;) {
        char **names;
        size_t n;
        int exhausted;
        rc = names_merge_round(b, prefix, cursor, NAMES_BATCH, listing_nodes(b), &names, &n,
                               &exhausted);
        if (rc != 0) break;
        for (size_t i = 0; i < n && rc == 0; i++) {
            int num = part_number_of(names[i], plen);
            if (num < 1) continue;
            backend_manifest_t *m;
            if (record_read(b, names[i], &m, NULL) != 0) continue;
            if (m->deleted) {
                backend_manifest_free(m);
                continue;
            }
            backend_part_t *p = realloc(out->parts, (out->n + 1) * sizeof(*p));
            if (!p) {
                backend_manifest_free(m);
                rc = AUG_ENOMEM;
                break;
            }
            out->parts = p;
            out->parts[out->n].number = num;
            out->parts[out->n].manifest = m;
            out->n++;
        }
        free(cursor);
        cursor = n ? strdup(names[n - 1]) : NULL;
        names_free(names, n);
        if (rc != 0 || exhausted || !cursor) break;
    }
    free(cursor);
    if (rc != 0) {
        backend_part_list_free(out);
        if (rc == AUG_EUNAVAIL)
            return aug_err_set(err, rc, "too many nodes are unreachable to list the parts");
        return aug_err_set(err, rc, "listing parts failed: %s", aug_strerror(rc));
    }
    return 0;
}

void backend_part_list_free(backend_part_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) backend_manifest_free(l->parts[i].manifest);
    free(l->parts);
    l->parts = NULL;
    l->n = 0;
}

/* Replace a record with a tombstone, so a node that was away cannot bring it back. */
static void record_bury(backend_t *b, const char *record, const backend_manifest_t *cur)
{
    backend_manifest_t tomb = {0};
    snprintf(tomb.bucket, sizeof(tomb.bucket), "%s", cur->bucket);
    tomb.key = cur->key;
    tomb.deleted = 1;
    tomb.written_ns = aug_now_ns();
    if (tomb.written_ns <= cur->written_ns) tomb.written_ns = cur->written_ns + 1;
    if (aug_random_bytes(tomb.version_id, sizeof(tomb.version_id)) != 0) return;
    record_write(b, record, &tomb, NULL);
}

/* Forget an upload and its parts; their data is collected by heal once no manifest refers
 * to it. */
static void upload_remove(backend_t *b, const char *bucket, const char *upload_id,
                          const backend_manifest_t *up, const backend_part_list_t *parts)
{
    char record[PATH_MAX];
    for (size_t i = 0; i < parts->n; i++) {
        part_record(bucket, upload_id, parts->parts[i].number, record, sizeof(record));
        record_bury(b, record, parts->parts[i].manifest);
    }
    upload_record(bucket, upload_id, record, sizeof(record));
    record_bury(b, record, up);
}

int backend_upload_complete(backend_t *b, const char *bucket, const char *upload_id,
                            const backend_piece_t *pieces, size_t n, const char *etag,
                            const char *part_sizes, backend_manifest_t **out, aug_err_t *err)
{
    backend_manifest_t *up;
    int rc = backend_upload_get(b, bucket, upload_id, &up, err);
    if (rc != 0) return rc;
    backend_kv_t *meta = calloc(up->n_meta + 1, sizeof(*meta));
    if (!meta) {
        backend_manifest_free(up);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    if (up->n_meta) memcpy(meta, up->meta, up->n_meta * sizeof(*meta));
    size_t n_meta = up->n_meta;
    if (part_sizes) meta[n_meta++] = (backend_kv_t){.name = "augur-parts", .value = (char *)part_sizes};
    backend_put_attrs_t attrs = {.content_type = up->content_type, .mode = up->mode,
                                 .uid = up->uid, .gid = up->gid, .n_meta = n_meta,
                                 .meta = meta};
    rc = backend_put_composed(b, bucket, up->key, &attrs, pieces, n, etag, out, err);
    free(meta);
    if (rc == 0) {
        backend_part_list_t parts;
        if (backend_upload_list_parts(b, bucket, upload_id, &parts, NULL) == 0) {
            upload_remove(b, bucket, upload_id, up, &parts);
            backend_part_list_free(&parts);
        }
    }
    backend_manifest_free(up);
    return rc;
}

int backend_upload_abort(backend_t *b, const char *bucket, const char *upload_id,
                         aug_err_t *err)
{
    backend_manifest_t *up;
    int rc = backend_upload_get(b, bucket, upload_id, &up, err);
    if (rc != 0) return rc;
    backend_part_list_t parts;
    rc = backend_upload_list_parts(b, bucket, upload_id, &parts, err);
    if (rc == 0) {
        upload_remove(b, bucket, upload_id, up, &parts);
        backend_part_list_free(&parts);
    }
    backend_manifest_free(up);
    return rc;
}

static int cmp_upload(const void *a, const void *b)
{
    const backend_upload_info_t *x = a, *y = b;
    int c = strcmp(x->manifest->key, y->manifest->key);
    if (c) return c;
    if (x->manifest->written_ns != y->manifest->written_ns)
        return x->manifest->written_ns < y->manifest->written_ns ? -1 : 1;
    return strcmp(x->upload_id, y->upload_id);
}

int backend_upload_list(backend_t *b, const char *bucket, backend_upload_info_t **out,
                        size_t *n_out, aug_err_t *err)
{
    int rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof(prefix), NS_UPLOADS "%s/", bucket);
    size_t plen = strlen(prefix);
    backend_upload_info_t *items = NULL;
    size_t count = 0;
    char *cursor = NULL;
    for (;;) {
        char **names;
        size_t n;
        int exhausted;
        rc = names_merge_round(b, prefix, cursor, NAMES_BATCH, listing_nodes(b), &names, &n,
                               &exhausted);
        if (rc != 0) break;
        for (size_t i = 0; i < n && rc == 0; i++) {
            const char *id = names[i] + plen;
            if (strlen(id) != UPLOAD_ID_LEN || strchr(id, '/')) continue;
            backend_manifest_t *m;
            if (record_read(b, names[i], &m, NULL) != 0) continue;
            if (m->deleted) {
                backend_manifest_free(m);
                continue;
            }
            backend_upload_info_t *p = realloc(items, (count + 1) * sizeof(*p));
            if (!p) {
                backend_manifest_free(m);
                rc = AUG_ENOMEM;
                break;
            }
            items = p;
            snprintf(items[count].upload_id, sizeof(items[count].upload_id), "%s", id);
            items[count++].manifest = m;
        }
        free(cursor);
        cursor = n ? strdup(names[n - 1]) : NULL;
        names_free(names, n);
        if (rc != 0 || exhausted || !cursor) break;
    }
    free(cursor);
    if (rc != 0) {
        backend_upload_list_free(items, count);
        return aug_err_set(err, rc, "listing uploads failed: %s", aug_strerror(rc));
    }
    if (count) qsort(items, count, sizeof(*items), cmp_upload);
    *out = items;
    *n_out = count;
    return 0;
}

void backend_upload_list_free(backend_upload_info_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) backend_manifest_free(items[i].manifest);
    free(items);
}

int backend_upload_expire(backend_t *b, const char *bucket, int64_t older_than_ns, int *expired,
                          aug_err_t *err)
{
    backend_upload_info_t *items;
    size_t n;
    *expired = 0;
    int rc = backend_upload_list(b, bucket, &items, &n, err);
    if (rc != 0) return rc;
    for (size_t i = 0; i < n; i++) {
        if (items[i].manifest->written_ns >= older_than_ns) continue;
        if (backend_upload_abort(b, bucket, items[i].upload_id, NULL) == 0) {
            (*expired)++;
            aug_info("expired abandoned upload %s of %s/%s", items[i].upload_id, bucket,
                     items[i].manifest->key);
        }
    }
    backend_upload_list_free(items, n);
    return 0;
}
