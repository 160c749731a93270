/* ops.c - the file operations of the mount: attributes, open, read, write, truncate, flush,
 * chmod/chown/utimens and extended attributes; the table of operations handed to libfuse. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define META_PREFIX "x-amz-meta-"
/* Bytes per read and write request: libfuse's receive buffer holds 1 MiB of data. */
#define MOUNT_MAX_IO (1u << 20)

augfs_t *augfs_current(void)
{
    return fuse_get_context()->private_data;
}

static fhandle_t *handle_of(struct fuse_file_info *fi)
{
    return (fhandle_t *)(uintptr_t)fi->fh;
}

/* A path parsed for a lookup: a name that could never exist is simply not there. */
static int parse_lookup(const char *path, fpath_t *p)
{
    int rc = fpath_parse(path, p);
    return rc == -EINVAL ? -ENOENT : rc;
}

/* ---- shared helpers -------------------------------------------------------------------------- */

void dir_stat(const augfs_t *fs, int64_t mtime_ns, struct stat *st)
{
    fattrs_t a = {
        .mode = S_IFDIR | DEFAULT_DIR_MODE, .uid = fs->uid, .gid = fs->gid, .mtime_ns = mtime_ns};
    fattrs_stat(fs, &a, 0, mtime_ns, st);
}

int lookup_key(augfs_t *fs, const fpath_t *p, backend_manifest_t **m, int *is_dir)
{
    aug_err_t err;
    aug_err_clear(&err);
    *m = NULL;
    *is_dir = 0;
    int rc = cache_head(fs->c, p->bucket, p->key, m, &err);
    if (rc == 0) return 0;
    if (rc != AUG_ENOENT) goto failed;
    char mk[BACKEND_KEY_MAX + 2];
    if (fpath_marker(p, mk) != 0) return -ENOENT;
    rc = cache_head(fs->c, p->bucket, mk, m, &err);
    if (rc == 0) {
        *is_dir = 1;
        return 0;
    }
    if (rc != AUG_ENOENT) goto failed;
    /* no marker: a directory exists while some key lies below it */
    backend_list_opts_t opts = {.prefix = mk, .max_keys = 1};
    backend_list_result_t *res;
    rc = backend_list(fs->b, p->bucket, &opts, &res, &err);
    if (rc == AUG_ENOENT) return -ENOENT;
    if (rc != 0) goto failed;
    int found = res->n_objects + res->n_prefixes > 0;
    backend_list_free(res);
    if (!found) return -ENOENT;
    *is_dir = 1;
    return 0;
failed:
    aug_error("mount: looking up %s/%s: %s", p->bucket, p->key,
              err.msg[0] ? err.msg : aug_strerror(rc));
    return augfs_errno(rc);
}

int put_bytes(augfs_t *fs, const char *bucket, const char *key, const fattrs_t *a, const void *data,
              size_t len, backend_manifest_t **out)
{
    backend_put_attrs_t pa;
    fattrs_to_put(a, &pa);
    aug_err_t err;
    aug_err_clear(&err);
    cache_writer_t *w;
    int rc = cache_writer_open(fs->c, bucket, key, &pa, &w, &err);
    if (rc == 0 && len > 0) {
        rc = cache_writer_write(w, data, len, &err);
        if (rc != 0) cache_writer_abort(w);
    }
    if (rc == 0) rc = cache_writer_commit(w, out, &err);
    if (rc != 0 && rc != AUG_ENOENT && rc != AUG_EEXIST)
        aug_error("mount: writing %s/%s: %s", bucket, key, err.msg[0] ? err.msg : aug_strerror(rc));
    return augfs_errno(rc);
}

void keep_parent(augfs_t *fs, const fpath_t *p)
{
    const char *slash = strrchr(p->key, '/');
    if (!slash) return; /* the bucket itself */
    char parent[BACKEND_KEY_MAX + 2];
    size_t n = (size_t)(slash - p->key) + 1;
    memcpy(parent, p->key, n);
    parent[n] = '\0';
    /* a marker keeps it already (usually a cache hit); listing would have to step over the
     * tombstones of everything removed from it */
    backend_manifest_t *m = NULL;
    if (cache_head(fs->c, p->bucket, parent, &m, NULL) == 0) {
        backend_manifest_free(m);
        return;
    }
    backend_list_opts_t opts = {.prefix = parent, .max_keys = 1};
    backend_list_result_t *res;
    if (backend_list(fs->b, p->bucket, &opts, &res, NULL) != 0) return;
    int empty = res->n_objects + res->n_prefixes == 0;
    backend_list_free(res);
    if (!empty) return;
    /* it showed as an implied directory: keep it looking the same */
    fattrs_t a = {.mode = S_IFDIR | DEFAULT_DIR_MODE,
                  .uid = fs->uid,
                  .gid = fs->gid,
                  .mtime_ns = aug_now_ns()};
    put_bytes(fs, p->bucket, parent, &a, NULL, 0, NULL);
}

/* ---- handles ----------------------------------------------------------------------------- */

static int handle_new(augfs_t *fs, fnode_t *n, int flags, fhandle_t **out)
{
    fhandle_t *h = calloc(1, sizeof(*h));
    if (!h) return -ENOMEM;
    pthread_mutex_lock(&n->mu);
    h->pinned = backend_manifest_copy(n->base);
    pthread_mutex_unlock(&n->mu);
    if (!h->pinned) {
        free(h);
        return -ENOMEM;
    }
    h->node = n;
    h->flags = flags;
    h->writable = (flags & O_ACCMODE) != O_RDONLY;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_lock(&fs->nodes_mu);
    h->next = fs->handles;
    if (h->next) h->next->prev = h;
    fs->handles = h;
    pthread_mutex_unlock(&fs->nodes_mu);
    *out = h;
    return 0;
}

/* Free h and drop its reference to its node. */
static void handle_free(augfs_t *fs, fhandle_t *h)
{
    pthread_mutex_lock(&fs->nodes_mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next) h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->nodes_mu);
    for (int i = 0; i < HANDLE_READERS; i++)
        cache_reader_close(h->readers[i].r);
    backend_manifest_free(h->pinned);
    pthread_mutex_destroy(&h->mu);
    fnode_put(fs, h->node);
    free(h);
}

void augfs_release_all(augfs_t *fs)
{
    for (;;) {
        pthread_mutex_lock(&fs->nodes_mu);
        fhandle_t *h = fs->handles;
        pthread_mutex_unlock(&fs->nodes_mu);
        if (!h) break;
        if (h->writable) {
            pthread_mutex_lock(&h->node->mu);
            h->node->writers--;
            pthread_mutex_unlock(&h->node->mu);
        }
        handle_free(fs, h);
    }
}

/* ---- attributes ------------------------------------------------------------------------------ */

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    if (fi && fi->fh) {
        fnode_t *n = handle_of(fi)->node;
        if (fnode_stat_uploading(n, st)) {
            times_file_stat(fs, n->bucket, n->key, st);
            return 0;
        }
        pthread_mutex_lock(&n->mu);
        fnode_stat(fs, n, st);
        times_file_stat(fs, n->bucket, n->key, st);
        pthread_mutex_unlock(&n->mu);
        return 0;
    }
    if (!path) return -ENOENT;
    fpath_t p;
    int rc = parse_lookup(path, &p);
    if (rc != 0) return rc;
    if (p.kind == FP_ROOT) {
        dir_stat(fs, fs->start_ns, st);
        times_dir_stat(fs, "", "", st);
        return 0;
    }
    if (p.kind == FP_BUCKET) {
        int64_t created = 0;
        aug_err_t err;
        rc = backend_bucket_stat(fs->b, p.bucket, &created, &err);
        if (rc != 0) return augfs_errno(rc);
        dir_stat(fs, created, st);
        times_dir_stat(fs, p.bucket, "", st);
        return 0;
    }
    /* a file open here with changes not uploaded yet is what the store will get */
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    if (n) {
        /* a closed file being uploaded is shown as it was closed, without waiting */
        int local = fnode_stat_uploading(n, st);
        if (!local) {
            pthread_mutex_lock(&n->mu);
            local = n->staged || n->dirty_data || n->dirty_attrs || n->pending;
            if (local) fnode_stat(fs, n, st);
            pthread_mutex_unlock(&n->mu);
        }
        fnode_put(fs, n);
        if (local) {
            times_file_stat(fs, p.bucket, p.key, st);
            return 0;
        }
    }
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    if (rc != 0) return rc;
    if (!m) {
        dir_stat(fs, fs->start_ns, st);
        times_dir_stat(fs, p.bucket, p.key, st);
        return 0;
    }
    fattrs_t a;
    rc = fattrs_from_manifest(fs, m, is_dir, &a);
    if (rc == 0) {
        fattrs_stat(fs, &a, is_dir ? 0 : m->size, m->written_ns, st);
        fattrs_free(&a);
        if (is_dir)
            times_dir_stat(fs, p.bucket, p.key, st);
        else
            times_file_stat(fs, p.bucket, p.key, st);
    }
    backend_manifest_free(m);
    return rc;
}

/* Change attributes: fn edits a copy (returns 0 when it changed something, 1 when nothing
 * changed, or -errno). */
typedef int (*attr_fn)(fattrs_t *a, void *arg);

/* Apply fn to an open file with local changes: kept with them, uploaded at close (at once
 * when only attributes changed). Called with n->mu held. */
static int update_node_attrs(augfs_t *fs, fnode_t *n, attr_fn fn, void *arg)
{
    fattrs_t a;
    if (fattrs_copy(&n->a, &a) != 0) return -ENOMEM;
    int rc = fn(&a, arg);
    if (rc != 0) {
        fattrs_free(&a);
        return rc < 0 ? rc : 0;
    }
    fattrs_free(&n->a);
    n->a = a;
    n->ctime_ns = aug_now_ns();
    n->dirty_attrs = 1;
    return n->dirty_data ? 0 : fnode_flush(fs, n);
}

static int update_attrs(const char *path, struct fuse_file_info *fi, attr_fn fn, void *arg)
{
    augfs_t *fs = augfs_current();
    fnode_t *n = NULL;
    fpath_t p;
    int rc;
    if (fi && fi->fh) {
        n = handle_of(fi)->node;
        pthread_mutex_lock(&fs->nodes_mu);
        n->refs++;
        pthread_mutex_unlock(&fs->nodes_mu);
        pthread_mutex_lock(&n->mu);
        /* the path may be gone (unlinked while open) or renamed: the node knows its key */
        snprintf(p.bucket, sizeof(p.bucket), "%s", n->bucket);
        snprintf(p.key, sizeof(p.key), "%s", n->key);
        p.kind = FP_KEY;
        pthread_mutex_unlock(&n->mu);
    } else {
        if (!path) return -ENOENT;
        if ((rc = parse_lookup(path, &p)) != 0) return rc;
        if (p.kind != FP_KEY) {
            /* the root and buckets have no manifest to keep attributes in */
            fattrs_t a = {0};
            rc = fn(&a, arg);
            fattrs_free(&a);
            return rc == 1 ? 0 : rc < 0 ? rc : -EPERM;
        }
        n = fnode_find(fs, p.bucket, p.key);
    }
    if (n) {
        pthread_mutex_lock(&n->mu);
        if (n->unlinked || n->staged || n->dirty_data || n->dirty_attrs || n->pending) {
            rc = update_node_attrs(fs, n, fn, arg);
            pthread_mutex_unlock(&n->mu);
            fnode_put(fs, n);
            return rc;
        }
        pthread_mutex_unlock(&n->mu);
    }
    /* nothing local: a new manifest over the same bytes, from the current version */
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    if (rc != 0) {
        fnode_put(fs, n);
        return rc;
    }
    fattrs_t a;
    if (m)
        rc = fattrs_from_manifest(fs, m, is_dir, &a);
    else
        a = (fattrs_t){.mode = S_IFDIR | DEFAULT_DIR_MODE,
                       .uid = fs->uid,
                       .gid = fs->gid,
                       .mtime_ns = fs->start_ns};
    if (rc == 0) rc = fn(&a, arg);
    char target[BACKEND_KEY_MAX + 2];
    if (is_dir)
        fpath_marker(&p, target);
    else
        snprintf(target, sizeof(target), "%s", p.key);
    backend_manifest_t *nm = NULL;
    if (rc == 0 && m) {
        backend_put_attrs_t pa;
        fattrs_to_put(&a, &pa);
        backend_piece_t piece = {.manifest = m, .off = 0, .len = m->size};
        aug_err_t err;
        aug_err_clear(&err);
        int r = cache_put_composed(fs->c, p.bucket, target, &pa, &piece, m->size ? 1 : 0, m->etag,
                                   &nm, &err);
        if (r != 0) aug_error("mount: updating %s/%s: %s", p.bucket, target, err.msg);
        rc = augfs_errno(r);
    } else if (rc == 0) {
        rc = put_bytes(fs, p.bucket, target, &a, NULL, 0, NULL); /* an implied directory */
    }
    if (rc == 0 && n && nm) {
        pthread_mutex_lock(&n->mu);
        if (!n->staged && !n->dirty_data && !n->dirty_attrs) fnode_reset(fs, n, nm);
        pthread_mutex_unlock(&n->mu);
    }
    backend_manifest_free(nm);
    fattrs_free(&a);
    backend_manifest_free(m);
    fnode_put(fs, n);
    return rc == 1 ? 0 : rc;
}

static int set_mode(fattrs_t *a, void *arg)
{
    mode_t mode = *(mode_t *)arg;
    if (a->mode == 0) return -EPERM; /* the root or a bucket */
    a->mode = (a->mode & S_IFMT) | (mode & 07777);
    return 0;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return update_attrs(path, fi, set_mode, &mode);
}

typedef struct owner {
    uid_t uid;
    gid_t gid;
} owner_t;

static int set_owner(fattrs_t *a, void *arg)
{
    const owner_t *o = arg;
    if (a->mode == 0) return -EPERM;
    if (o->uid != (uid_t)-1) a->uid = o->uid;
    if (o->gid != (gid_t)-1) a->gid = o->gid;
    /* as a local filesystem does: a new owner does not inherit set-id powers */
    if (!S_ISDIR(a->mode)) {
        a->mode &= ~(uint32_t)S_ISUID;
        if (a->mode & S_IXGRP) a->mode &= ~(uint32_t)S_ISGID;
    }
    return 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    owner_t o = {uid, gid};
    return update_attrs(path, fi, set_owner, &o);
}

static int set_times(fattrs_t *a, void *arg)
{
    const struct timespec *tv = arg;
    /* access times are kept by op_utimens; buckets and the root accept and ignore new times */
    if (tv[1].tv_nsec == UTIME_OMIT || a->mode == 0) return 1;
    a->mtime_ns = tv[1].tv_nsec == UTIME_NOW ? aug_now_ns()
                                             : (int64_t)tv[1].tv_sec * 1000000000LL + tv[1].tv_nsec;
    return 0;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    struct timespec copy[2] = {tv[0], tv[1]};
    int rc = update_attrs(path, fi, set_times, copy);
    fpath_t p;
    /* access times live in the mount's memory (times.c) */
    if (rc == 0 && tv[0].tv_nsec != UTIME_OMIT && path && parse_lookup(path, &p) == 0 &&
        p.kind == FP_KEY)
        times_set_atime(augfs_current(), p.bucket, p.key,
                        tv[0].tv_nsec == UTIME_NOW
                            ? aug_now_ns()
                            : (int64_t)tv[0].tv_sec * 1000000000LL + tv[0].tv_nsec);
    return rc;
}

/* ---- extended attributes: user.NAME is S3's x-amz-meta-NAME ---------------------------------- */

typedef struct xattr_set {
    const char *name; /* "x-amz-meta-..." */
    const char *value;
    size_t size;
    int flags;
    int remove;
} xattr_set_t;

/* The metadata name for xattr name, or -ENOTSUP / -EINVAL. S3 metadata names are HTTP header
 * names, lower case: anything else could not be read back as it was written. */
static int meta_name(const char *name, char *out, size_t len)
{
    if (strncmp(name, "user.", 5) != 0) return -ENOTSUP;
    const char *n = name + 5;
    if (!*n || strlen(n) + sizeof(META_PREFIX) > len) return -EINVAL;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
              *c == '.'))
            return -EINVAL;
    snprintf(out, len, META_PREFIX "%s", n);
    return 0;
}

static int edit_meta(fattrs_t *a, void *arg)
{
    const xattr_set_t *x = arg;
    if (a->mode == 0) return -ENOTSUP;
    size_t at = a->n_meta, total = 0;
    for (size_t i = 0; i < a->n_meta; i++) {
        if (strcmp(a->meta[i].name, x->name) == 0)
            at = i;
        else if (strncmp(a->meta[i].name, META_PREFIX, sizeof(META_PREFIX) - 1) == 0)
            total += strlen(a->meta[i].name) + strlen(a->meta[i].value);
    }
    if (x->remove) {
        if (at == a->n_meta) return -ENODATA;
        free(a->meta[at].name);
        free(a->meta[at].value);
        a->meta[at] = a->meta[--a->n_meta];
        return 0;
    }
    if (at < a->n_meta && (x->flags & XATTR_CREATE)) return -EEXIST;
    if (at == a->n_meta && (x->flags & XATTR_REPLACE)) return -ENODATA;
    if (total + strlen(x->name) + x->size > XATTR_TOTAL_MAX) return -ENOSPC;
    char *v = strndup(x->value, x->size);
    if (!v) return -ENOMEM;
    if (at < a->n_meta) {
        free(a->meta[at].value);
        a->meta[at].value = v;
        return 0;
    }
    backend_kv_t *p = realloc(a->meta, (a->n_meta + 1) * sizeof(*p));
    char *nm = strdup(x->name);
    if (!p || !nm) {
        if (p) a->meta = p;
        free(v);
        free(nm);
        return -ENOMEM;
    }
    a->meta = p;
    a->meta[a->n_meta].name = nm;
    a->meta[a->n_meta].value = v;
    a->n_meta++;
    return 0;
}

static int op_setxattr(const char *path, const char *name, const char *value, size_t size,
                       int flags)
{
    char mn[300];
    int rc = meta_name(name, mn, sizeof(mn));
    if (rc != 0) return rc;
    /* metadata travels in HTTP headers: printable text only */
    for (size_t i = 0; i < size; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) return -EINVAL;
    xattr_set_t x = {.name = mn, .value = value, .size = size, .flags = flags};
    return update_attrs(path, NULL, edit_meta, &x);
}

static int op_removexattr(const char *path, const char *name)
{
    char mn[300];
    int rc = meta_name(name, mn, sizeof(mn));
    if (rc == -ENOTSUP || rc == -EINVAL) return -ENODATA;
    xattr_set_t x = {.name = mn, .remove = 1};
    return update_attrs(path, NULL, edit_meta, &x);
}

/* The attributes of path for reading xattrs; *none when it has no metadata (the root, a
 * bucket, an implied directory). */
static int read_attrs(augfs_t *fs, const char *path, fattrs_t *a, int *none)
{
    fpath_t p;
    int rc = parse_lookup(path, &p);
    *none = 0;
    memset(a, 0, sizeof(*a));
    if (rc != 0) return rc;
    if (p.kind != FP_KEY) {
        *none = 1;
        return 0;
    }
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    if (n) {
        pthread_mutex_lock(&n->mu);
        rc = fattrs_copy(&n->a, a);
        pthread_mutex_unlock(&n->mu);
        fnode_put(fs, n);
        return rc;
    }
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    if (rc != 0) return rc;
    if (!m) {
        *none = 1;
        return 0;
    }
    rc = fattrs_from_manifest(fs, m, is_dir, a);
    backend_manifest_free(m);
    return rc;
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size)
{
    /* asked on every write (security.capability): answer without touching the store */
    if (strncmp(name, "user.", 5) != 0) return -ENODATA;
    char mn[300];
    if (meta_name(name, mn, sizeof(mn)) != 0) return -ENODATA;
    fattrs_t a;
    int none;
    int rc = read_attrs(augfs_current(), path, &a, &none);
    if (rc != 0 || none) return rc ? rc : -ENODATA;
    rc = -ENODATA;
    for (size_t i = 0; i < a.n_meta; i++) {
        if (strcmp(a.meta[i].name, mn) != 0) continue;
        size_t len = strlen(a.meta[i].value);
        if (size == 0)
            rc = (int)len;
        else if (size < len)
            rc = -ERANGE;
        else {
            memcpy(value, a.meta[i].value, len);
            rc = (int)len;
        }
        break;
    }
    fattrs_free(&a);
    return rc;
}

static int op_listxattr(const char *path, char *list, size_t size)
{
    fattrs_t a;
    int none;
    int rc = read_attrs(augfs_current(), path, &a, &none);
    if (rc != 0) return rc;
    size_t need = 0;
    const size_t plen = sizeof(META_PREFIX) - 1;
    for (size_t i = 0; i < a.n_meta; i++)
        if (strncmp(a.meta[i].name, META_PREFIX, plen) == 0)
            need += 5 + strlen(a.meta[i].name + plen) + 1;
    if (size == 0 || none) {
        fattrs_free(&a);
        return (int)need;
    }
    if (size < need) {
        fattrs_free(&a);
        return -ERANGE;
    }
    char *o = list;
    for (size_t i = 0; i < a.n_meta; i++) {
        if (strncmp(a.meta[i].name, META_PREFIX, plen) != 0) continue;
        size_t l = strlen(a.meta[i].name + plen);
        memcpy(o, "user.", 5);
        memcpy(o + 5, a.meta[i].name + plen, l + 1);
        o += 5 + l + 1;
    }
    fattrs_free(&a);
    return (int)need;
}

/* ---- open, create, read, write ------------------------------------------------------------- */

/* Open bucket/key for fi->flags, the node made from m when nobody has it open. */
static int open_node(augfs_t *fs, const fpath_t *p, const backend_manifest_t *m,
                     struct fuse_file_info *fi)
{
    fnode_t *n;
    int rc = fnode_get(fs, p->bucket, p->key, m, &n);
    if (rc != 0) return rc;
    pthread_mutex_lock(&n->mu);
    /* nothing local: see the version the store has now (another writer may have replaced
     * it while this node stayed open) */
    if (!n->staged && !n->dirty_data && !n->dirty_attrs && !n->pending &&
        memcmp(n->base->version_id, m->version_id, BACKEND_VERSION_ID_LEN) != 0)
        rc = fnode_reset(fs, n, m);
    pthread_mutex_unlock(&n->mu);
    fhandle_t *h = NULL;
    if (rc == 0) rc = handle_new(fs, n, fi->flags, &h);
    if (rc != 0) {
        fnode_put(fs, n);
        return rc;
    }
    pthread_mutex_lock(&n->mu);
    if (h->writable && (fi->flags & O_TRUNC)) rc = fnode_truncate(fs, n, 0);
    if (rc == 0 && h->writable) n->writers++;
    int local = n->staged || n->dirty_data || n->dirty_attrs || n->pending;
    pthread_mutex_unlock(&n->mu);
    if (rc != 0) {
        handle_free(fs, h); /* a failed open is never released */
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    /* versions never change: a page cache filled from this very version is still right */
    if (local) kcache_forget(fs, p->bucket, p->key);
    fi->keep_cache = local ? 0 : (unsigned)kcache_keep(fs, h->pinned);
    return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fpath_t p;
    int rc = parse_lookup(path, &p);
    if (rc != 0) return rc;
    if (p.kind != FP_KEY) return -EISDIR;
    kcache_raise_readahead(fs);
    /* a file open here with local changes is opened as it is, not as the store has it */
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    backend_manifest_t *m = NULL;
    if (n) {
        pthread_mutex_lock(&n->mu);
        if (n->staged || n->dirty_data || n->dirty_attrs || n->pending)
            m = backend_manifest_copy(n->base);
        pthread_mutex_unlock(&n->mu);
        fnode_put(fs, n);
    }
    if (!m) {
        aug_err_t err;
        aug_err_clear(&err);
        rc = cache_head(fs->c, p.bucket, p.key, &m, &err);
        if (rc == AUG_ENOENT) return -ENOENT;
        if (rc != 0) {
            aug_error("mount: opening %s/%s: %s", p.bucket, p.key, err.msg);
            return augfs_errno(rc);
        }
    }
    rc = open_node(fs, &p, m, fi);
    if (rc == 0 && (fi->flags & O_ACCMODE) != O_WRONLY)
        times_read(fs, p.bucket, p.key, m->mtime_ns); /* reads may never reach us (page cache) */
    backend_manifest_free(m);
    return rc;
}

/* With a reference to n, the node under a name the store does not have: 1 when it is a file
 * created here and not uploaded yet; otherwise it belongs to a key removed behind our back,
 * is taken out of the table and released, and 0 is returned. recheck: when it was uploaded
 * (it is not created any more), return 2 (released) and leave it: the caller looks again. */
static int still_created(augfs_t *fs, fnode_t *n, int recheck)
{
    pthread_mutex_lock(&n->mu);
    int live = n->created && !n->unlinked;
    int uploaded = !n->created && !n->unlinked;
    pthread_mutex_unlock(&n->mu);
    if (live) return 1;
    if (uploaded && recheck) {
        /* its background upload may have finished since the caller looked in the store */
        fnode_put(fs, n);
        return 2;
    }
    fnode_unlink(fs, n);
    fnode_put(fs, n);
    return 0;
}

/* Open n, a file created here (by this request, or earlier and not uploaded yet), for fi;
 * consumes the reference to n. existed: it was there before this request (O_EXCL fails). */
static int open_created(augfs_t *fs, const fpath_t *p, fnode_t *n, int existed,
                        struct fuse_file_info *fi)
{
    if (existed && (fi->flags & O_EXCL)) {
        fnode_put(fs, n);
        return -EEXIST;
    }
    pthread_mutex_lock(&n->mu);
    backend_manifest_t *m = backend_manifest_copy(n->base);
    pthread_mutex_unlock(&n->mu);
    int rc = m ? open_node(fs, p, m, fi) : -ENOMEM;
    backend_manifest_free(m);
    if (rc != 0) {
        pthread_mutex_lock(&n->mu);
        int orphan = n->created && n->writers == 0;
        pthread_mutex_unlock(&n->mu);
        if (orphan) fnode_unlink(fs, n); /* nobody holds it: it never existed */
    }
    fnode_put(fs, n);
    return rc;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    if (!strchr(path + 1, '/')) return -EPERM; /* only buckets live at the top */
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc;
    if (p.kind != FP_KEY) return -EEXIST;
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m = NULL;
    int looked = 0;
again:
    looked++;
    rc = cache_head(fs->c, p.bucket, p.key, &m, &err);
    if (rc == 0) {
        if (fi->flags & O_EXCL) {
            backend_manifest_free(m);
            return -EEXIST;
        }
        rc = open_node(fs, &p, m, fi);
        backend_manifest_free(m);
        return rc;
    }
    if (rc != AUG_ENOENT) return augfs_errno(rc);
    /* a file created here and not uploaded yet exists as much as one in the store */
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    int live = n ? still_created(fs, n, looked == 1) : 0;
    if (live == 2) goto again;
    if (!live) n = NULL;
    int existed = n != NULL;
    if (!n) {
        struct fuse_context *ctx = fuse_get_context();
        fattrs_t a = {.mode = S_IFREG | (mode & 07777),
                      .uid = ctx->uid,
                      .gid = ctx->gid,
                      .mtime_ns = aug_now_ns()};
        rc = fnode_create(fs, p.bucket, p.key, &a, &n);
        if (rc == -ENOMEM) return rc;
        existed = rc == -EEXIST; /* another request made it meanwhile */
        if (!existed) times_entry_changed(fs, p.bucket, p.key);
    }
    return open_created(fs, &p, n, existed, fi);
}

/* Read from the version the handle opened, keeping sequential readers positioned. */
static int read_pinned(augfs_t *fs, fhandle_t *h, char *buf, size_t size, uint64_t off)
{
    const backend_manifest_t *m = h->pinned;
    kcache_check_read(fs, m);
    times_read(fs, m->bucket, m->key, m->mtime_ns);
    if (off >= m->size) return 0;
    if (size > m->size - off) size = (size_t)(m->size - off);
    pthread_mutex_lock(&h->mu);
    int slot = -1, oldest = 0;
    for (int i = 0; i < HANDLE_READERS; i++) {
        if (h->readers[i].r && h->readers[i].pos == off) slot = i;
        if (h->readers[i].used < h->readers[oldest].used) oldest = i;
    }
    aug_err_t err;
    aug_err_clear(&err);
    int rc = 0;
    if (slot < 0) {
        slot = oldest;
        cache_reader_close(h->readers[slot].r);
        h->readers[slot].r = NULL;
        rc = cache_reader_open(fs->c, m, off, m->size - off, &h->readers[slot].r, &err);
        h->readers[slot].pos = off;
    }
    size_t done = 0;
    while (rc == 0 && done < size) {
        ssize_t n = cache_reader_read(h->readers[slot].r, buf + done, size - done, &err);
        if (n < 0) rc = (int)n;
        if (n <= 0) break;
        done += (size_t)n;
    }
    h->readers[slot].pos = off + done;
    h->readers[slot].used = ++h->tick;
    if (rc != 0) {
        /* never hand out wrong bytes: this read fails, the reader starts over next time */
        cache_reader_close(h->readers[slot].r);
        h->readers[slot].r = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc != 0) {
        aug_error("mount: reading %s/%s at %llu: %s", m->bucket, m->key, (unsigned long long)off,
                  err.msg[0] ? err.msg : aug_strerror(rc));
        return rc == AUG_ENOMEM ? -ENOMEM : -EIO;
    }
    return (int)done;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fhandle_t *h = handle_of(fi);
    fnode_t *n = h->node;
    pthread_mutex_lock(&n->mu);
    if (n->staged) {
        ssize_t r = fnode_read(fs, n, buf, size, (uint64_t)off);
        pthread_mutex_unlock(&n->mu);
        return (int)r;
    }
    pthread_mutex_unlock(&n->mu);
    return read_pinned(fs, h, buf, size, (uint64_t)off);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fhandle_t *h = handle_of(fi);
    fnode_t *n = h->node;
    pthread_mutex_lock(&n->mu);
    uint64_t at = (h->flags & O_APPEND) ? fnode_size(n) : (uint64_t)off;
    ssize_t r = fnode_write(fs, n, buf, size, at);
    pthread_mutex_unlock(&n->mu);
    return (int)r;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    if (size < 0) return -EINVAL;
    if (fi && fi->fh) {
        fnode_t *n = handle_of(fi)->node;
        pthread_mutex_lock(&n->mu);
        int rc = fnode_truncate(fs, n, (uint64_t)size); /* uploaded when the file is closed */
        pthread_mutex_unlock(&n->mu);
        return rc;
    }
    if (!path) return -ENOENT;
    fpath_t p;
    int rc = parse_lookup(path, &p);
    if (rc != 0) return rc;
    if (p.kind != FP_KEY) return -EISDIR;
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    if (!n) {
        backend_manifest_t *m;
        int is_dir;
        if ((rc = lookup_key(fs, &p, &m, &is_dir)) != 0) return rc;
        if (is_dir)
            rc = -EISDIR;
        else
            rc = fnode_get(fs, p.bucket, p.key, m, &n);
        backend_manifest_free(m);
        if (rc != 0) return rc;
    }
    pthread_mutex_lock(&n->mu);
    rc = fnode_truncate(fs, n, (uint64_t)size);
    /* nobody will close this file: upload now, unless a writer has it open */
    if (rc == 0 && n->writers == 0) rc = fnode_flush(fs, n);
    pthread_mutex_unlock(&n->mu);
    fnode_put(fs, n);
    return rc;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fhandle_t *h = handle_of(fi);
    pthread_mutex_lock(&h->node->mu);
    /* close() is not a durability point (fsync is): the upload goes to the background, and the
     * staged copy serves the mount (and S3 reads through this process wait for it) until then.
     * A file created read-only is uploaded like a written one. */
    if (h->writable || h->node->created) fnode_upload_later(fs, h->node);
    pthread_mutex_unlock(&h->node->mu);
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fhandle_t *h = handle_of(fi);
    pthread_mutex_lock(&h->node->mu);
    int rc = fnode_flush(fs, h->node);
    pthread_mutex_unlock(&h->node->mu);
    return rc;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    augfs_t *fs = augfs_current();
    fhandle_t *h = handle_of(fi);
    fnode_t *n = h->node;
    pthread_mutex_lock(&n->mu);
    /* normally queued by the flush before; a release without one (the mount stopping) too */
    if (h->writable || n->created) fnode_upload_later(fs, n);
    if (h->writable) n->writers--;
    pthread_mutex_unlock(&n->mu);
    handle_free(fs, h);
    return 0;
}

static int op_link(const char *from, const char *to)
{
    return -EPERM; /* a key names one version: there is no second name for it */
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
    return -EPERM; /* regular files come through create; devices and FIFOs are not kept */
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* an unlinked open file stays readable through its handle instead of being renamed to
     * .fuse_hidden*, and its handle's operations get no path */
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    cfg->use_ino = 0;
    /* the kernel clears set-id bits on write and chown by sending us the new mode */
    conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    /* every listing page carries attributes (we have them from the listing anyway): with the
     * adaptive default only the first page did, and `ls -l` then looked up each entry */
    conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
    /* the largest requests libfuse's buffers take: fewer round trips per MiB */
    conn->max_write = MOUNT_MAX_IO;
    conn->max_read = 0; /* no limit below max_write */
    /* whether to keep the page cache is decided at each open from the version (op_open) */
    cfg->auto_cache = 0;
    cfg->kernel_cache = 0;
    return fuse_get_context()->private_data;
}

const struct fuse_operations augfs_ops = {
    .init = op_init,
    .getattr = op_getattr,
    .readlink = augfs_readlink,
    .mknod = op_mknod,
    .mkdir = augfs_mkdir,
    .unlink = augfs_unlink,
    .rmdir = augfs_rmdir,
    .symlink = augfs_symlink,
    .rename = augfs_rename,
    .link = op_link,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .statfs = augfs_statfs,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .opendir = augfs_opendir,
    .readdir = augfs_readdir,
    .releasedir = augfs_releasedir,
    .create = op_create,
    .utimens = op_utimens,
};
