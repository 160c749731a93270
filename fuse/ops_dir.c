/* ops_dir.c - the namespace operations of the mount: listing directories page by page,
 * mkdir/rmdir (buckets at the top), unlink, rename as manifest swaps, symlinks, statfs. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Keys asked of the store per listing page: each page costs a pass over the directory on every
 * node, so a 100,000-entry directory is listed in 10 passes rather than 100. */
#define LIST_PAGE 10000
/* Recent file names remembered while listing, to hide a directory of the same name (keys
 * "a" and "a/b" both exist): the file wins, as in lookups. The two sort close together. */
#define RECENT_NAMES 16

/* Upload a file created here and not in the store yet at p, so that store operations on the
 * name (rename, listing its directory for rmdir) see it. 0 when there is none. */
static int upload_created(augfs_t *fs, const fpath_t *p)
{
    fnode_t *n = fnode_find_created(fs, p->bucket, p->key);
    if (!n) return 0;
    pthread_mutex_lock(&n->mu);
    int rc = fnode_flush(fs, n);
    pthread_mutex_unlock(&n->mu);
    fnode_put(fs, n);
    return rc;
}

/* 1 when a file created here and not uploaded yet holds p's name. */
static int created_here(augfs_t *fs, const fpath_t *p)
{
    fnode_t *n = fnode_find_created(fs, p->bucket, p->key);
    fnode_put(fs, n);
    return n != NULL;
}

static int flush_below(augfs_t *fs, const char *bucket, const char *prefix);

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct dirh {
    fpath_t p;
    char prefix[BACKEND_KEY_MAX + 2]; /* "" for a bucket, "KEY/" below */
    off_t pos;                        /* entries handed out, "." and ".." included */
    backend_list_result_t *page;
    size_t oi, pi; /* next object and prefix of page */
    char *marker;  /* where the next page starts; NULL when page is the last */
    int started;
    backend_bucket_info_t *buckets; /* the root's entries */
    size_t n_buckets, bi;
    char recent[RECENT_NAMES][BACKEND_COMPONENT_MAX + 1];
    int recent_next;
    /* an entry the kernel's buffer had no room for, handed out first next time */
    int have_held;
    char held_name[BACKEND_COMPONENT_MAX + 1];
    struct stat held_st;
    int held_plus;
    /* files created here and not uploaded yet, listed first (sorted names) */
    int local_done;
    char **local;
    uint8_t *local_shown; /* shown from the node: the store's copy is not listed again */
    size_t n_local, li;
} dirh_t;

static void dirh_reset(dirh_t *d)
{
    backend_list_free(d->page);
    d->page = NULL;
    d->oi = d->pi = 0;
    free(d->marker);
    d->marker = NULL;
    d->started = 0;
    free(d->buckets);
    d->buckets = NULL;
    d->n_buckets = d->bi = 0;
    d->pos = 0;
    d->have_held = 0;
    memset(d->recent, 0, sizeof(d->recent));
    for (size_t i = 0; i < d->n_local; i++)
        free(d->local[i]);
    free(d->local);
    free(d->local_shown);
    d->local = NULL;
    d->local_shown = NULL;
    d->n_local = d->li = 0;
    d->local_done = 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the files created directly in d and not uploaded yet: the store cannot list them. */
static int collect_created(augfs_t *fs, dirh_t *d)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, d->p.bucket, d->prefix, &arr);
    if (count < 0) return (int)count;
    size_t plen = strlen(d->prefix);
    d->local = calloc((size_t)count + 1, sizeof(*d->local));
    d->local_shown = calloc((size_t)count + 1, 1);
    int rc = d->local && d->local_shown ? 0 : -ENOMEM;
    for (ssize_t i = 0; i < count; i++) {
        fnode_t *n = arr[i];
        pthread_mutex_lock(&n->mu);
        const char *name = n->key + plen;
        if (rc == 0 && n->created && !n->unlinked && strcmp(n->bucket, d->p.bucket) == 0 &&
            strncmp(n->key, d->prefix, plen) == 0 && !strchr(name, '/') &&
            strlen(name) <= BACKEND_COMPONENT_MAX) {
            if ((d->local[d->n_local] = strdup(name)))
                d->n_local++;
            else
                rc = -ENOMEM;
        }
        pthread_mutex_unlock(&n->mu);
        fnode_put(fs, n);
    }
    free(arr);
    if (d->n_local > 1) qsort(d->local, d->n_local, sizeof(*d->local), cmp_names);
    d->local_done = 1;
    return rc;
}

/* The next created file of d still open here: 1 with name and st set, 0 when none is left. */
static int next_created(augfs_t *fs, dirh_t *d, char *name, struct stat *st)
{
    char key[BACKEND_KEY_MAX + 2];
    while (d->li < d->n_local) {
        size_t i = d->li++;
        snprintf(key, sizeof(key), "%s%s", d->prefix, d->local[i]);
        fnode_t *n = fnode_find(fs, d->p.bucket, key);
        if (!n) continue; /* closed and uploaded meanwhile: the store lists it */
        int live = fnode_stat_uploading(n, st);
        if (!live) {
            pthread_mutex_lock(&n->mu);
            live = !n->unlinked;
            if (live) fnode_stat(fs, n, st);
            pthread_mutex_unlock(&n->mu);
        }
        fnode_put(fs, n);
        if (!live) continue;
        d->local_shown[i] = 1;
        snprintf(name, BACKEND_COMPONENT_MAX + 1, "%s", d->local[i]);
        return 1;
    }
    return 0;
}

/* 1 when name was already listed from a node of this mount. */
static int shown_locally(const dirh_t *d, const char *name)
{
    if (d->n_local == 0) return 0;
    const char *key = name;
    char **hit = bsearch(&key, d->local, d->n_local, sizeof(*d->local), cmp_names);
    return hit && d->local_shown[hit - d->local];
}

int augfs_opendir(const char *path, struct fuse_file_info *fi)
{
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc == -EINVAL ? -ENOENT : rc;
    dirh_t *d = calloc(1, sizeof(*d));
    if (!d) return -ENOMEM;
    d->p = p;
    if (p.kind == FP_KEY && fpath_marker(&p, d->prefix) != 0) {
        free(d);
        return -ENAMETOOLONG;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

int augfs_releasedir(const char *path, struct fuse_file_info *fi)
{
    dirh_t *d = (dirh_t *)(uintptr_t)fi->fh;
    dirh_reset(d);
    free(d);
    return 0;
}

static int recently_seen(const dirh_t *d, const char *name)
{
    for (int i = 0; i < RECENT_NAMES; i++)
        if (strcmp(d->recent[i], name) == 0) return 1;
    return 0;
}

/* Fetch the next page of the listing. Returns 0 (d->page set, maybe empty) or -errno. */
static int next_page(augfs_t *fs, dirh_t *d)
{
    if (d->started && !d->marker) return 0; /* the last page is done */
    backend_list_opts_t opts = {
        .prefix = d->prefix, .delimiter = "/", .start_after = d->marker, .max_keys = LIST_PAGE};
    backend_list_result_t *res;
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_list(fs->b, d->p.bucket, &opts, &res, &err);
    if (rc != 0) {
        aug_error("mount: listing %s/%s: %s", d->p.bucket, d->prefix, err.msg);
        return augfs_errno(rc);
    }
    backend_list_free(d->page);
    d->page = res;
    d->oi = d->pi = 0;
    d->started = 1;
    free(d->marker);
    d->marker = res->truncated && res->next_marker ? strdup(res->next_marker) : NULL;
    if (res->truncated && !d->marker) return -ENOMEM;
    return 0;
}

/* The next entry after "." and "..": 1 with name, st and plus (st is complete) set, 0 at the
 * end, or -errno. */
static int next_entry(augfs_t *fs, dirh_t *d, char *name, struct stat *st, int *plus)
{
    *plus = 0;
    memset(st, 0, sizeof(*st));
    if (d->p.kind == FP_ROOT) {
        if (!d->started) {
            aug_err_t err;
            int rc = backend_bucket_list(fs->b, &d->buckets, &d->n_buckets, &err);
            if (rc != 0) return augfs_errno(rc);
            d->started = 1;
        }
        if (d->bi == d->n_buckets) return 0;
        snprintf(name, BACKEND_COMPONENT_MAX + 1, "%s", d->buckets[d->bi++].name);
        st->st_mode = S_IFDIR;
        return 1;
    }
    if (!d->local_done) {
        int rc = collect_created(fs, d);
        if (rc != 0) return rc;
    }
    if (next_created(fs, d, name, st)) {
        *plus = 1;
        return 1;
    }
    size_t plen = strlen(d->prefix);
    for (;;) {
        if (!d->page || (d->oi == d->page->n_objects && d->pi == d->page->n_prefixes)) {
            if (d->started && !d->marker) return 0;
            int rc = next_page(fs, d);
            if (rc != 0) return rc;
            if (d->page->n_objects + d->page->n_prefixes == 0 && !d->marker) return 0;
            continue;
        }
        int take_prefix = d->pi < d->page->n_prefixes &&
                          (d->oi == d->page->n_objects ||
                           strcmp(d->page->prefixes[d->pi], d->page->objects[d->oi]->key) < 0);
        if (take_prefix) {
            const char *pre = d->page->prefixes[d->pi++] + plen;
            size_t n = strlen(pre);
            if (n < 1 || n - 1 > BACKEND_COMPONENT_MAX) continue;
            memcpy(name, pre, n - 1);
            name[n - 1] = '\0';
            if (recently_seen(d, name)) continue;
            st->st_mode = S_IFDIR;
            return 1;
        }
        const backend_manifest_t *m = d->page->objects[d->oi++];
        const char *rest = m->key + plen;
        if (*rest == '\0' || strlen(rest) > BACKEND_COMPONENT_MAX) continue; /* the marker */
        if (shown_locally(d, rest)) continue;
        snprintf(name, BACKEND_COMPONENT_MAX + 1, "%s", rest);
        snprintf(d->recent[d->recent_next], sizeof(d->recent[0]), "%s", name);
        d->recent_next = (d->recent_next + 1) % RECENT_NAMES;
        /* a file open here with local changes shows as it is */
        fnode_t *n = fnode_find(fs, d->p.bucket, m->key);
        int local = 0;
        if (n) {
            if (!(local = fnode_stat_uploading(n, st))) {
                pthread_mutex_lock(&n->mu);
                if ((local = n->staged || n->dirty_data || n->dirty_attrs || n->pending))
                    fnode_stat(fs, n, st);
                pthread_mutex_unlock(&n->mu);
            }
            fnode_put(fs, n);
        }
        if (!local) {
            fattrs_t a;
            if (fattrs_from_manifest(fs, m, 0, &a) != 0) return -ENOMEM;
            fattrs_stat(fs, &a, m->size, m->written_ns, st);
            fattrs_free(&a);
        }
        *plus = 1;
        return 1;
    }
}

int augfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                  struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    augfs_t *fs = augfs_current();
    dirh_t *d = (dirh_t *)(uintptr_t)fi->fh;
    char name[BACKEND_COMPONENT_MAX + 1];
    struct stat st;
    int plus = 0;
    if (off != d->pos) {
        /* a seek (rewinddir, or telldir/seekdir): list again from the start */
        dirh_reset(d);
        while (d->pos < off) {
            if (d->pos >= 2) {
                int rc = next_entry(fs, d, name, &st, &plus);
                if (rc < 0) return rc;
                if (rc == 0) return 0;
            }
            d->pos++;
        }
    }
    for (;;) {
        if (d->pos < 2) {
            memset(&st, 0, sizeof(st));
            st.st_mode = S_IFDIR;
            if (filler(buf, d->pos == 0 ? "." : "..", &st, d->pos + 1, 0)) return 0;
            d->pos++;
            continue;
        }
        if (d->have_held) {
            memcpy(name, d->held_name, sizeof(name));
            st = d->held_st;
            plus = d->held_plus;
        } else {
            int rc = next_entry(fs, d, name, &st, &plus);
            if (rc < 0) return rc;
            if (rc == 0) return 0;
        }
        enum fuse_fill_dir_flags ff = plus && (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
        if (filler(buf, name, &st, d->pos + 1, ff)) {
            d->have_held = 1;
            memcpy(d->held_name, name, sizeof(name));
            d->held_st = st;
            d->held_plus = plus;
            return 0;
        }
        d->have_held = 0;
        d->pos++;
    }
}

/* ---- mkdir, rmdir, unlink ------------------------------------------------------------------- */

int augfs_mkdir(const char *path, mode_t mode)
{
    augfs_t *fs = augfs_current();
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc;
    aug_err_t err;
    aug_err_clear(&err);
    if (p.kind == FP_ROOT) return -EEXIST;
    if (p.kind == FP_BUCKET) {
        rc = backend_bucket_create(fs->b, p.bucket, &err);
        if (rc != 0 && rc != AUG_EEXIST) aug_error("mount: mkdir %s: %s", p.bucket, err.msg);
        if (rc == 0) times_entry_changed(fs, p.bucket, NULL);
        return augfs_errno(rc);
    }
    char mk[BACKEND_KEY_MAX + 2];
    if ((rc = fpath_marker(&p, mk)) != 0) return rc;
    if (created_here(fs, &p)) return -EEXIST;
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    backend_manifest_free(m);
    if (rc == 0) return -EEXIST;
    if (rc != -ENOENT) return rc;
    struct fuse_context *ctx = fuse_get_context();
    fattrs_t a = {.mode = S_IFDIR | (mode & 07777),
                  .uid = ctx->uid,
                  .gid = ctx->gid,
                  .mtime_ns = aug_now_ns()};
    rc = put_bytes(fs, p.bucket, mk, &a, NULL, 0, NULL);
    if (rc == 0) times_entry_changed(fs, p.bucket, p.key);
    return rc;
}

int augfs_rmdir(const char *path)
{
    augfs_t *fs = augfs_current();
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc == -EINVAL ? -ENOENT : rc;
    aug_err_t err;
    aug_err_clear(&err);
    if (p.kind == FP_ROOT) return -EBUSY;
    if (p.kind == FP_BUCKET) {
        rc = augfs_errno(backend_bucket_delete(fs->b, p.bucket, &err));
        if (rc == 0) times_entry_changed(fs, p.bucket, NULL);
        return rc;
    }
    backend_manifest_t *m = NULL;
    rc = cache_head(fs->c, p.bucket, p.key, &m, &err);
    backend_manifest_free(m);
    if (rc == 0) return -ENOTDIR;
    if (rc != AUG_ENOENT) return augfs_errno(rc);
    char mk[BACKEND_KEY_MAX + 2];
    if (fpath_marker(&p, mk) != 0) return -ENOENT;
    /* files created below and not uploaded yet make it non-empty too */
    if ((rc = flush_below(fs, p.bucket, mk)) != 0) return rc;
    backend_list_opts_t opts = {.prefix = mk, .max_keys = 2};
    backend_list_result_t *res;
    rc = backend_list(fs->b, p.bucket, &opts, &res, &err);
    if (rc != 0) return augfs_errno(rc);
    int has_marker = res->n_objects > 0 && strcmp(res->objects[0]->key, mk) == 0;
    size_t others = res->n_objects + res->n_prefixes - (size_t)has_marker;
    backend_list_free(res);
    if (others > 0) return -ENOTEMPTY;
    if (!has_marker) return -ENOENT;
    rc = cache_delete(fs->c, p.bucket, mk, &err);
    if (rc != 0) return augfs_errno(rc);
    keep_parent(fs, &p);
    times_entry_changed(fs, p.bucket, p.key);
    return 0;
}

int augfs_unlink(const char *path)
{
    augfs_t *fs = augfs_current();
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc == -EINVAL ? -ENOENT : rc;
    if (p.kind != FP_KEY) return -EISDIR;
    /* created here and never uploaded: there is nothing in the store to remove */
    fnode_t *created = fnode_find_created(fs, p.bucket, p.key);
    if (created) {
        int local = fnode_unlink(fs, created);
        fnode_put(fs, created);
        if (local) {
            times_entry_changed(fs, p.bucket, p.key);
            return 0;
        }
        /* its background upload finished meanwhile: remove it from the store below */
    }
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    backend_manifest_free(m);
    if (rc != 0) return rc;
    if (is_dir) return -EISDIR;
    /* handles still open keep their bytes, but nothing of them is uploaded any more */
    fnode_t *n = fnode_find(fs, p.bucket, p.key);
    if (n) {
        fnode_unlink(fs, n);
        fnode_put(fs, n);
    }
    aug_err_t err;
    aug_err_clear(&err);
    rc = cache_delete(fs->c, p.bucket, p.key, &err);
    if (rc != 0 && rc != AUG_ENOENT) {
        aug_error("mount: removing %s/%s: %s", p.bucket, p.key, err.msg);
        return augfs_errno(rc);
    }
    keep_parent(fs, &p);
    times_entry_changed(fs, p.bucket, p.key);
    times_forget(fs, p.bucket, p.key);
    return 0;
}

/* ---- rename ---------------------------------------------------------------------------------- */

/* Put attributes exactly as m has them (a renamed object keeps what S3 clients gave it). */
static void put_attrs_of(const backend_manifest_t *m, backend_put_attrs_t *pa)
{
    memset(pa, 0, sizeof(*pa));
    pa->content_type = m->content_type;
    pa->mode = m->mode;
    pa->uid = m->uid;
    pa->gid = m->gid;
    pa->mtime_ns = m->mtime_ns ? m->mtime_ns : 1;
    pa->n_meta = m->n_meta;
    pa->meta = m->meta;
}

/* A new manifest for bucket/key naming the bytes of src: no data is copied. */
static int swap_in(augfs_t *fs, const char *bucket, const char *key, const backend_put_attrs_t *pa,
                   const backend_manifest_t *src, backend_manifest_t **out)
{
    backend_piece_t piece = {.manifest = src, .off = 0, .len = src->size};
    aug_err_t err;
    aug_err_clear(&err);
    int rc =
        cache_put_composed(fs->c, bucket, key, pa, &piece, src->size ? 1 : 0, src->etag, out, &err);
    if (rc != 0) aug_error("mount: rename to %s/%s: %s", bucket, key, err.msg);
    return augfs_errno(rc);
}

/* The file being replaced by a rename may be uploading in the background: let that upload
 * finish (or fail) first, so that it cannot land over the renamed file. Errors are ignored:
 * the replaced file's changes are dropped anyway. */
static void settle_replaced(augfs_t *fs, const fpath_t *dst)
{
    fnode_t *old = fnode_find(fs, dst->bucket, dst->key);
    if (!old) return;
    pthread_mutex_lock(&old->mu);
    if (old->pending) fnode_flush(fs, old);
    pthread_mutex_unlock(&old->mu);
    fnode_put(fs, old);
}

static int rename_file(augfs_t *fs, const fpath_t *src, const backend_manifest_t *m,
                       const fpath_t *dst)
{
    settle_replaced(fs, dst); /* before n->mu: two nodes' locks are never held together */
    fnode_t *n = fnode_find(fs, src->bucket, src->key);
    const backend_manifest_t *from = m;
    backend_put_attrs_t pa;
    int rc = 0;
    if (n) {
        pthread_mutex_lock(&n->mu);
        /* local changes go first, so the new name gets them */
        if (n->staged || n->dirty_data || n->dirty_attrs || n->pending) {
            rc = fnode_flush(fs, n);
            from = n->base;
            fattrs_to_put(&n->a, &pa);
        }
    }
    if (from == m) put_attrs_of(m, &pa);
    backend_manifest_t *nm = NULL;
    if (rc == 0) rc = swap_in(fs, dst->bucket, dst->key, &pa, from, &nm);
    if (rc == 0) {
        /* whatever is open under the new name belonged to the file just replaced */
        fnode_t *old = fnode_find(fs, dst->bucket, dst->key);
        if (old && old != n) fnode_unlink(fs, old);
        fnode_put(fs, old);
        aug_err_t err;
        aug_err_clear(&err);
        int d = cache_delete(fs->c, src->bucket, src->key, &err);
        if (d != 0 && d != AUG_ENOENT) {
            aug_error("mount: rename from %s/%s: %s", src->bucket, src->key, err.msg);
            rc = augfs_errno(d);
        }
    }
    if (n) {
        if (rc == 0 && fnode_rename(fs, n, dst->bucket, dst->key) == 0) {
            backend_manifest_free(n->base);
            n->base = nm;
            n->ctime_ns = nm->written_ns;
            nm = NULL;
        }
        pthread_mutex_unlock(&n->mu);
        fnode_put(fs, n);
    }
    backend_manifest_free(nm);
    if (rc == 0) keep_parent(fs, src);
    return rc;
}

/* Upload local changes of every open file below bucket/prefix. */
static int flush_below(augfs_t *fs, const char *bucket, const char *prefix)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, bucket, prefix, &arr);
    if (count < 0) return (int)count;
    int rc = 0;
    for (ssize_t i = 0; i < count; i++) {
        pthread_mutex_lock(&arr[i]->mu);
        int r = fnode_flush(fs, arr[i]);
        pthread_mutex_unlock(&arr[i]->mu);
        if (r != 0 && rc == 0) rc = r;
        fnode_put(fs, arr[i]);
    }
    free(arr);
    return rc;
}

/* The longest key below bucket/prefix, or -errno. */
static ssize_t longest_key_below(augfs_t *fs, const char *bucket, const char *prefix)
{
    size_t longest = 0;
    char *marker = NULL;
    int rc = 0;
    do {
        backend_list_opts_t opts = {.prefix = prefix, .start_after = marker, .max_keys = LIST_PAGE};
        backend_list_result_t *res;
        if ((rc = backend_list(fs->b, bucket, &opts, &res, NULL)) != 0) break;
        for (size_t i = 0; i < res->n_objects; i++)
            if (strlen(res->objects[i]->key) > longest) longest = strlen(res->objects[i]->key);
        free(marker);
        marker = res->truncated && res->next_marker ? strdup(res->next_marker) : NULL;
        backend_list_free(res);
    } while (marker);
    free(marker);
    return rc ? augfs_errno(rc) : (ssize_t)longest;
}

/* Move every key below src to below dst, one manifest swap each. Not atomic: a failure half
 * way leaves both directories, each with part of the keys (nothing is lost). */
static int rename_dir(augfs_t *fs, const fpath_t *src, const fpath_t *dst, int dst_exists)
{
    char sp[BACKEND_KEY_MAX + 2], dp[BACKEND_KEY_MAX + 2];
    if (fpath_marker(src, sp) != 0 || fpath_marker(dst, dp) != 0) return -ENAMETOOLONG;
    size_t splen = strlen(sp), dplen = strlen(dp);
    int rc = flush_below(fs, src->bucket, sp);
    if (rc != 0) return rc;
    if (dplen > splen) {
        ssize_t longest = longest_key_below(fs, src->bucket, sp);
        if (longest < 0) return (int)longest;
        if ((size_t)longest - splen + dplen > BACKEND_KEY_MAX) return -ENAMETOOLONG;
    }
    aug_err_t err;
    aug_err_clear(&err);
    if (dst_exists) cache_delete(fs->c, dst->bucket, dp, NULL); /* an empty directory */
    char *marker = NULL;
    char newkey[BACKEND_KEY_MAX + 2];
    do {
        backend_list_opts_t opts = {.prefix = sp, .start_after = marker, .max_keys = LIST_PAGE};
        backend_list_result_t *res;
        if ((rc = augfs_errno(backend_list(fs->b, src->bucket, &opts, &res, &err))) != 0) break;
        for (size_t i = 0; i < res->n_objects && rc == 0; i++) {
            const backend_manifest_t *o = res->objects[i];
            snprintf(newkey, sizeof(newkey), "%s%s", dp, o->key + splen);
            backend_put_attrs_t pa;
            put_attrs_of(o, &pa);
            rc = swap_in(fs, dst->bucket, newkey, &pa, o, NULL);
            if (rc == 0) {
                int d = cache_delete(fs->c, src->bucket, o->key, &err);
                if (d != 0 && d != AUG_ENOENT) rc = augfs_errno(d);
            }
        }
        free(marker);
        marker = res->truncated && res->next_marker ? strdup(res->next_marker) : NULL;
        backend_list_free(res);
    } while (rc == 0 && marker);
    free(marker);
    if (rc != 0) {
        aug_error("mount: renaming %s/%s to %s/%s stopped half way", src->bucket, sp, dst->bucket,
                  dp);
        return rc;
    }
    /* files open below the old name follow it */
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, src->bucket, sp, &arr);
    for (ssize_t i = 0; i < count; i++) {
        fnode_t *n = arr[i];
        pthread_mutex_lock(&n->mu);
        if (strncmp(n->key, sp, splen) == 0 && strcmp(n->bucket, src->bucket) == 0) {
            snprintf(newkey, sizeof(newkey), "%s%s", dp, n->key + splen);
            fnode_rename(fs, n, dst->bucket, newkey);
        }
        pthread_mutex_unlock(&n->mu);
        fnode_put(fs, n);
    }
    if (count >= 0) free(arr);
    keep_parent(fs, src);
    return 0;
}

int augfs_rename(const char *from, const char *to, unsigned int flags)
{
    augfs_t *fs = augfs_current();
    if (flags & ~(unsigned)RENAME_NOREPLACE) return -EINVAL; /* RENAME_EXCHANGE, WHITEOUT */
    /* buckets cannot be renamed: EXDEV makes mv copy and remove instead */
    if (!strchr(from + 1, '/') || !strchr(to + 1, '/')) return from[1] && to[1] ? -EXDEV : -EBUSY;
    fpath_t src, dst;
    int rc = fpath_parse(from, &src);
    if (rc != 0) return rc == -EINVAL ? -ENOENT : rc;
    if ((rc = fpath_parse(to, &dst)) != 0) return rc;
    if ((rc = upload_created(fs, &src)) != 0 || (rc = upload_created(fs, &dst)) != 0) return rc;
    backend_manifest_t *m = NULL, *dm = NULL;
    int is_dir, dst_is_dir;
    if ((rc = lookup_key(fs, &src, &m, &is_dir)) != 0) return rc;
    rc = lookup_key(fs, &dst, &dm, &dst_is_dir);
    int dst_exists = rc == 0;
    backend_manifest_free(dm);
    if (rc != 0 && rc != -ENOENT) goto out;
    rc = 0;
    if (dst_exists && (flags & RENAME_NOREPLACE))
        rc = -EEXIST;
    else if (!is_dir && dst_exists && dst_is_dir)
        rc = -EISDIR;
    else if (is_dir && dst_exists && !dst_is_dir)
        rc = -ENOTDIR;
    if (rc != 0) goto out;
    if (!is_dir) {
        rc = rename_file(fs, &src, m, &dst);
        goto out;
    }
    if (dst_exists) {
        /* only an empty directory may be replaced */
        char dp[BACKEND_KEY_MAX + 2];
        fpath_marker(&dst, dp);
        backend_list_opts_t opts = {.prefix = dp, .max_keys = 2};
        backend_list_result_t *res;
        if ((rc = augfs_errno(backend_list(fs->b, dst.bucket, &opts, &res, NULL))) != 0) goto out;
        int has_marker = res->n_objects > 0 && strcmp(res->objects[0]->key, dp) == 0;
        if (res->n_objects + res->n_prefixes > (size_t)has_marker) rc = -ENOTEMPTY;
        backend_list_free(res);
        if (rc != 0) goto out;
    }
    rc = rename_dir(fs, &src, &dst, dst_exists);
out:
    backend_manifest_free(m);
    if (rc == 0) {
        times_entry_changed(fs, src.bucket, src.key);
        times_entry_changed(fs, dst.bucket, dst.key);
    }
    return rc;
}

/* ---- symbolic links ------------------------------------------------------------------------ */

int augfs_symlink(const char *target, const char *path)
{
    augfs_t *fs = augfs_current();
    if (!strchr(path + 1, '/')) return -EPERM; /* only buckets live at the top */
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc;
    if (strlen(target) >= PATH_MAX) return -ENAMETOOLONG;
    if (created_here(fs, &p)) return -EEXIST;
    backend_manifest_t *m;
    int is_dir;
    rc = lookup_key(fs, &p, &m, &is_dir);
    backend_manifest_free(m);
    if (rc == 0) return -EEXIST;
    if (rc != -ENOENT) return rc;
    /* the target is the content; the mode says it is a link */
    struct fuse_context *ctx = fuse_get_context();
    fattrs_t a = {
        .mode = S_IFLNK | 0777, .uid = ctx->uid, .gid = ctx->gid, .mtime_ns = aug_now_ns()};
    rc = put_bytes(fs, p.bucket, p.key, &a, target, strlen(target), NULL);
    if (rc == 0) times_entry_changed(fs, p.bucket, p.key);
    return rc;
}

typedef struct link_buf {
    char *dst;
    size_t got, cap;
} link_buf_t;

static int link_sink(void *arg, const void *buf, size_t len)
{
    link_buf_t *l = arg;
    size_t n = len < l->cap - l->got ? len : l->cap - l->got;
    memcpy(l->dst + l->got, buf, n);
    l->got += n;
    return 0;
}

int augfs_readlink(const char *path, char *buf, size_t size)
{
    augfs_t *fs = augfs_current();
    fpath_t p;
    int rc = fpath_parse(path, &p);
    if (rc != 0) return rc == -EINVAL ? -ENOENT : rc;
    if (p.kind != FP_KEY || size == 0) return -EINVAL;
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m;
    rc = cache_head(fs->c, p.bucket, p.key, &m, &err);
    if (rc != 0) return augfs_errno(rc);
    if (!S_ISLNK(m->mode)) {
        backend_manifest_free(m);
        return -EINVAL;
    }
    link_buf_t l = {.dst = buf, .cap = size - 1};
    rc = cache_read(fs->c, m, 0, m->size, link_sink, &l, &err);
    backend_manifest_free(m);
    if (rc != 0) return -EIO;
    buf[l.got] = '\0';
    return 0;
}

/* ---- statfs ---------------------------------------------------------------------------------- */

int augfs_statfs(const char *path, struct statvfs *st)
{
    augfs_t *fs = augfs_current();
    uint64_t total = 0, avail = 0;
    int n = backend_node_count(fs->b);
    for (int i = 0; i < n; i++) {
        backend_node_status_t ns;
        if (backend_node_status(fs->b, i, &ns) == 0 && ns.up) {
            total += ns.total_bytes;
            avail += ns.free_bytes;
        }
    }
    /* of every k+m bytes stored, k are data */
    int km = fs->k + fs->m > 0 ? fs->k + fs->m : 1;
    const unsigned long bsize = 4096;
    memset(st, 0, sizeof(*st));
    st->f_bsize = bsize;
    st->f_frsize = bsize;
    st->f_blocks = (fsblkcnt_t)(total / (uint64_t)km * (uint64_t)fs->k / bsize);
    st->f_bfree = (fsblkcnt_t)(avail / (uint64_t)km * (uint64_t)fs->k / bsize);
    st->f_bavail = st->f_bfree;
    /* keys are not a limited resource: report plenty */
    st->f_files = 1ULL << 32;
    st->f_ffree = 1ULL << 31;
    st->f_favail = st->f_ffree;
    st->f_namemax = BACKEND_COMPONENT_MAX;
    return 0;
}
