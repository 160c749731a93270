/* node.c - open files: the table of keys open in the mount, their staged bytes in a local file
 * filled lazily block by block from the version they started from, and the upload of a new
 * version: at once on fsync, by background workers after close (kept and retried when it
 * fails). A closed file stays in the table, served from its stage, until its upload is done. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Bytes moved per step when uploading or filling from the old version. */
#define COPY_CHUNK (1u << 20)

/* ---- the table --------------------------------------------------------------------------- */

static size_t slot_of(const char *bucket, const char *key)
{
    return (size_t)(aug_hash64(key, strlen(key), aug_hash64(bucket, strlen(bucket), 11)) %
                    NODE_SLOTS);
}

/* With nodes_mu held. */
static fnode_t *table_find(augfs_t *fs, const char *bucket, const char *key)
{
    for (fnode_t *n = fs->slots[slot_of(bucket, key)]; n; n = n->next)
        if (strcmp(n->bucket, bucket) == 0 && strcmp(n->key, key) == 0) return n;
    return NULL;
}

/* With nodes_mu held. */
static void table_remove(augfs_t *fs, fnode_t *n)
{
    if (!n->in_table) return;
    fnode_t **pp = &fs->slots[slot_of(n->bucket, n->key)];
    while (*pp && *pp != n)
        pp = &(*pp)->next;
    if (*pp) *pp = n->next;
    n->next = NULL;
    n->in_table = 0;
}

/* With nodes_mu held. */
static void table_insert(augfs_t *fs, fnode_t *n)
{
    size_t s = slot_of(n->bucket, n->key);
    n->next = fs->slots[s];
    fs->slots[s] = n;
    n->in_table = 1;
}

fnode_t *fnode_find(augfs_t *fs, const char *bucket, const char *key)
{
    pthread_mutex_lock(&fs->nodes_mu);
    fnode_t *n = table_find(fs, bucket, key);
    if (n) n->refs++;
    pthread_mutex_unlock(&fs->nodes_mu);
    return n;
}

static int fill_block(augfs_t *fs, fnode_t *n, uint64_t blk);
static int is_valid(const fnode_t *n, uint64_t blk);
static int set_valid(fnode_t *n, uint64_t blk);

/* Leave the staged bytes of n in place, completed with the old bytes it did not rewrite when
 * the store can still give them, with the note naming its key: the next mount uploads it. */
static void keep_stage(augfs_t *fs, fnode_t *n)
{
    int complete = 1;
    for (uint64_t blk = 0; n->base_limit > 0 && blk <= (n->base_limit - 1) / STAGE_BLOCK; blk++)
        if (!is_valid(n, blk) && (fill_block(fs, n, blk) != 0 || set_valid(n, blk) != 0))
            complete = 0;
    stage_note(fs, n, 1);
    aug_error("mount: changes to %s/%s could not be uploaded; the file (%llu bytes%s) is kept in "
              "%s (described in %s.key) and uploaded at the next mount",
              n->bucket, n->key, (unsigned long long)n->size, complete ? "" : ", partly",
              n->stage_path, n->stage_path);
}

static void node_free(augfs_t *fs, fnode_t *n)
{
    if (n->stage_path) {
        /* a file whose changes never reached the store is kept for the operator */
        if (n->dirty_data && !n->unlinked) {
            keep_stage(fs, n);
        } else {
            n->dirty_data = 0;
            stage_note(fs, n, 0); /* removes the note */
            unlink(n->stage_path);
        }
    } else if ((n->dirty_data || n->dirty_attrs) && !n->unlinked) {
        aug_error("mount: changed attributes of %s/%s could not be uploaded", n->bucket, n->key);
    }
    stage_uncount(fs, n);
    if (n->stage_fd >= 0) close(n->stage_fd); /* releases the lock: recovery may take it */
    free(n->stage_path);
    free(n->valid);
    backend_manifest_free(n->base);
    fattrs_free(&n->a);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->snap_mu);
    free(n->key);
    free(n);
}

int fnode_get(augfs_t *fs, const char *bucket, const char *key, const backend_manifest_t *m,
              fnode_t **out)
{
    fnode_t *n = fnode_find(fs, bucket, key);
    if (n) {
        *out = n;
        return 0;
    }
    n = calloc(1, sizeof(*n));
    if (!n) return -ENOMEM;
    n->stage_fd = -1;
    snprintf(n->bucket, sizeof(n->bucket), "%s", bucket);
    n->key = strdup(key);
    n->base = backend_manifest_copy(m);
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->snap_mu, NULL);
    if (!n->key || !n->base || fattrs_from_manifest(fs, m, 0, &n->a) != 0) {
        node_free(fs, n);
        return -ENOMEM;
    }
    n->ctime_ns = m->written_ns;
    n->refs = 1;
    pthread_mutex_lock(&fs->nodes_mu);
    fnode_t *other = table_find(fs, bucket, key); /* opened meanwhile by another request */
    if (other) {
        other->refs++;
        pthread_mutex_unlock(&fs->nodes_mu);
        node_free(fs, n);
        *out = other;
        return 0;
    }
    table_insert(fs, n);
    pthread_mutex_unlock(&fs->nodes_mu);
    *out = n;
    return 0;
}

/* A manifest for a file not in the store yet: no version (all zeros), no bytes. */
static backend_manifest_t *local_manifest(const char *bucket, const char *key, const fattrs_t *a)
{
    backend_manifest_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    snprintf(tmp.bucket, sizeof(tmp.bucket), "%s", bucket);
    tmp.key = (char *)key;
    tmp.mtime_ns = a->mtime_ns;
    tmp.written_ns = a->mtime_ns;
    tmp.mode = a->mode;
    tmp.uid = a->uid;
    tmp.gid = a->gid;
    return backend_manifest_copy(&tmp); /* a heap copy with an empty layout */
}

int fnode_create(augfs_t *fs, const char *bucket, const char *key, const fattrs_t *a, fnode_t **out)
{
    backend_manifest_t *m = local_manifest(bucket, key, a);
    if (!m) return -ENOMEM;
    fnode_t *n = calloc(1, sizeof(*n));
    if (!n) {
        backend_manifest_free(m);
        return -ENOMEM;
    }
    n->stage_fd = -1;
    snprintf(n->bucket, sizeof(n->bucket), "%s", bucket);
    n->key = strdup(key);
    n->base = m;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->snap_mu, NULL);
    if (!n->key || fattrs_from_manifest(fs, m, 0, &n->a) != 0) {
        node_free(fs, n);
        return -ENOMEM;
    }
    n->ctime_ns = a->mtime_ns;
    n->created = 1;
    n->staged = 1; /* empty, and must be uploaded even if never written */
    n->dirty_data = 1;
    n->refs = 1;
    pthread_mutex_lock(&fs->nodes_mu);
    fnode_t *other = table_find(fs, bucket, key);
    if (other)
        other->refs++;
    else
        table_insert(fs, n);
    pthread_mutex_unlock(&fs->nodes_mu);
    if (other) {
        n->dirty_data = 0;
        node_free(fs, n);
        *out = other;
        return -EEXIST;
    }
    *out = n;
    return 0;
}

fnode_t *fnode_find_created(augfs_t *fs, const char *bucket, const char *key)
{
    fnode_t *n = fnode_find(fs, bucket, key);
    if (!n) return NULL;
    pthread_mutex_lock(&n->mu);
    int created = n->created && !n->unlinked;
    pthread_mutex_unlock(&n->mu);
    if (created) return n;
    fnode_put(fs, n);
    return NULL;
}

void fnode_put(augfs_t *fs, fnode_t *n)
{
    if (!n) return;
    pthread_mutex_lock(&fs->nodes_mu);
    int last = --n->refs == 0;
    if (last) table_remove(fs, n);
    pthread_mutex_unlock(&fs->nodes_mu);
    if (last) node_free(fs, n);
}

int fnode_unlink(augfs_t *fs, fnode_t *n)
{
    pthread_mutex_lock(&n->mu);
    /* decided under n->mu: a background upload either finished before (the caller deletes the
     * key) or never starts (unlinked nodes are not uploaded) */
    int local = n->created && !n->unlinked;
    n->unlinked = 1;
    int had_pending = fnode_clear_pending(fs, n);
    stage_note(fs, n, 0);
    stage_account(fs, n);
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_lock(&fs->nodes_mu);
    table_remove(fs, n);
    pthread_mutex_unlock(&fs->nodes_mu);
    if (had_pending) fnode_put(fs, n);
    return local;
}

int fnode_rename(augfs_t *fs, fnode_t *n, const char *bucket, const char *key)
{
    char *k = strdup(key);
    if (!k) return -ENOMEM;
    pthread_mutex_lock(&fs->nodes_mu);
    int was_in = n->in_table;
    table_remove(fs, n);
    free(n->key);
    n->key = k;
    snprintf(n->bucket, sizeof(n->bucket), "%s", bucket);
    /* a node still open under the new name belongs to the file that was replaced */
    fnode_t *old = table_find(fs, bucket, key);
    if (old) table_remove(fs, old);
    if (was_in) table_insert(fs, n);
    pthread_mutex_unlock(&fs->nodes_mu);
    if (n->noted) stage_note(fs, n, 1); /* recovery must upload to the new name */
    return 0;
}

ssize_t fnode_collect(augfs_t *fs, const char *bucket, const char *prefix, fnode_t ***out)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    pthread_mutex_lock(&fs->nodes_mu);
    size_t n = 0;
    for (size_t s = 0; s < NODE_SLOTS; s++)
        for (fnode_t *x = fs->slots[s]; x; x = x->next)
            n++;
    fnode_t **arr = malloc((n ? n : 1) * sizeof(*arr));
    if (!arr) {
        pthread_mutex_unlock(&fs->nodes_mu);
        return -ENOMEM;
    }
    size_t got = 0;
    for (size_t s = 0; s < NODE_SLOTS; s++) {
        for (fnode_t *x = fs->slots[s]; x; x = x->next) {
            if (bucket && strcmp(x->bucket, bucket) != 0) continue;
            if (plen && strncmp(x->key, prefix, plen) != 0) continue;
            x->refs++;
            arr[got++] = x;
        }
    }
    pthread_mutex_unlock(&fs->nodes_mu);
    *out = arr;
    return (ssize_t)got;
}

/* ---- attributes ---------------------------------------------------------------------------- */

int fnode_reset(augfs_t *fs, fnode_t *n, const backend_manifest_t *m)
{
    backend_manifest_t *copy = backend_manifest_copy(m);
    fattrs_t a;
    if (!copy || fattrs_from_manifest(fs, m, 0, &a) != 0) {
        backend_manifest_free(copy);
        return -ENOMEM;
    }
    backend_manifest_free(n->base);
    n->base = copy;
    fattrs_free(&n->a);
    n->a = a;
    n->ctime_ns = m->written_ns;
    n->staged = 0;
    n->size = m->size;
    n->base_limit = m->size;
    if (n->valid) memset(n->valid, 0, n->valid_bytes);
    if (n->stage_fd >= 0 && ftruncate(n->stage_fd, 0) != 0)
        aug_warn("mount: cannot empty %s: %s", n->stage_path, strerror(errno));
    n->dirty_data = n->dirty_attrs = 0;
    stage_note(fs, n, 0);
    stage_account(fs, n);
    return 0;
}

int fnode_complete(const fnode_t *n)
{
    for (uint64_t blk = 0; n->base_limit > 0 && blk <= (n->base_limit - 1) / STAGE_BLOCK; blk++)
        if (!is_valid(n, blk)) return 0;
    return 1;
}

uint64_t fnode_size(const fnode_t *n)
{
    return n->staged ? n->size : n->base->size;
}

void fnode_stat(augfs_t *fs, fnode_t *n, struct stat *st)
{
    fattrs_stat(fs, &n->a, fnode_size(n), n->ctime_ns, st);
}

/* ---- staging ------------------------------------------------------------------------------- */

static int is_valid(const fnode_t *n, uint64_t blk)
{
    return blk / 8 < n->valid_bytes && (n->valid[blk / 8] >> (blk % 8)) & 1;
}

static int set_valid(fnode_t *n, uint64_t blk)
{
    if (blk / 8 >= n->valid_bytes) {
        size_t want = (size_t)(blk / 8 + 1) * 2;
        uint8_t *p = realloc(n->valid, want);
        if (!p) return -ENOMEM;
        memset(p + n->valid_bytes, 0, want - n->valid_bytes);
        n->valid = p;
        n->valid_bytes = want;
    }
    n->valid[blk / 8] |= (uint8_t)(1u << (blk % 8));
    return 0;
}

/* Make the content staged: from now on size and base_limit describe it. */
static void begin_staging(fnode_t *n)
{
    if (n->staged) return;
    n->staged = 1;
    n->size = n->base->size;
    n->base_limit = n->base->size;
}

/* Create the staging file. Its bytes outside valid blocks are always zero (never written). */
static int open_stage(augfs_t *fs, fnode_t *n)
{
    if (n->stage_fd >= 0) return 0;
    char path[PATH_MAX];
    int fd = -1;
    /* a name left by an earlier process with our pid is skipped */
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        uint64_t seq = atomic_fetch_add(&fs->stage_seq, 1);
        if ((size_t)snprintf(path, sizeof(path), "%s/%d-%llu.stage", fs->stage_dir, (int)getpid(),
                             (unsigned long long)seq) >= sizeof(path))
            return -ENAMETOOLONG;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        aug_error("mount: cannot create a staging file in %s: %s", fs->stage_dir, strerror(e));
        return e == ENOSPC || e == EDQUOT ? -e : -EIO;
    }
    /* held while we live: the next mount's recovery leaves a locked file alone */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        aug_warn("mount: cannot lock %s: %s", path, strerror(errno));
    if (ftruncate(fd, (off_t)n->size) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return e == ENOSPC || e == EFBIG ? -e : -EIO;
    }
    n->stage_path = strdup(path);
    if (!n->stage_path) {
        close(fd);
        unlink(path);
        return -ENOMEM;
    }
    n->stage_fd = fd;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno == ENOSPC || errno == EDQUOT || errno == EFBIG ? -errno : -EIO;
        }
        buf += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Read exactly len bytes of the staging file at off (zeros past its end). */
static int read_stage(const fnode_t *n, char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t r = pread(n->stage_fd, buf, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -EIO;
        }
        if (r == 0) {
            memset(buf, 0, len);
            return 0;
        }
        buf += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

typedef struct mem_sink {
    char *dst;
    size_t got, cap;
} mem_sink_t;

static int to_mem(void *arg, const void *buf, size_t len)
{
    mem_sink_t *s = arg;
    if (len > s->cap - s->got) return AUG_EINVAL;
    memcpy(s->dst + s->got, buf, len);
    s->got += len;
    return 0;
}

/* Bytes [off, off+len) of the base version into buf through the cache. */
static int read_base(augfs_t *fs, fnode_t *n, char *buf, size_t len, uint64_t off)
{
    mem_sink_t s = {.dst = buf, .cap = len};
    aug_err_t err;
    aug_err_clear(&err);
    int rc = cache_read(fs->c, n->base, off, len, to_mem, &s, &err);
    if (rc != 0) {
        aug_error("mount: reading %s/%s: %s", n->bucket, n->key,
                  err.msg[0] ? err.msg : aug_strerror(rc));
        return rc == AUG_ENOMEM ? -ENOMEM : -EIO;
    }
    if (s.got < len) memset(buf + s.got, 0, len - s.got);
    return 0;
}

ssize_t fnode_read(augfs_t *fs, fnode_t *n, char *buf, size_t len, uint64_t off)
{
    uint64_t size = fnode_size(n);
    if (off >= size) return 0;
    if (len > size - off) len = (size_t)(size - off);
    if (!n->staged) {
        int rc = read_base(fs, n, buf, len, off);
        return rc ? rc : (ssize_t)len;
    }
    size_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint64_t blk = pos / STAGE_BLOCK;
        uint64_t blk_end = (blk + 1) * STAGE_BLOCK;
        size_t step = (size_t)((blk_end - pos) < (len - done) ? blk_end - pos : len - done);
        int rc;
        if (is_valid(n, blk)) {
            rc = n->stage_fd >= 0 ? read_stage(n, buf + done, step, pos)
                                  : (memset(buf + done, 0, step), 0);
        } else {
            /* not staged: the old bytes below base_limit, zeros above */
            size_t from_base =
                pos < n->base_limit
                    ? (size_t)((n->base_limit - pos) < step ? n->base_limit - pos : step)
                    : 0;
            rc = from_base ? read_base(fs, n, buf + done, from_base, pos) : 0;
            if (rc == 0) memset(buf + done + from_base, 0, step - from_base);
        }
        if (rc != 0) return rc;
        done += step;
    }
    return (ssize_t)len;
}

/* Copy block blk's old bytes into the staging file before a write that covers it only in
 * part. */
static int fill_block(augfs_t *fs, fnode_t *n, uint64_t blk)
{
    uint64_t lo = blk * STAGE_BLOCK;
    uint64_t hi = lo + STAGE_BLOCK < n->base_limit ? lo + STAGE_BLOCK : n->base_limit;
    if (hi <= lo) return 0;
    char *tmp = malloc((size_t)(hi - lo));
    if (!tmp) return -ENOMEM;
    int rc = read_base(fs, n, tmp, (size_t)(hi - lo), lo);
    if (rc == 0) rc = write_all(n->stage_fd, tmp, (size_t)(hi - lo), lo);
    free(tmp);
    return rc;
}

ssize_t fnode_write(augfs_t *fs, fnode_t *n, const char *buf, size_t len, uint64_t off)
{
    if (len == 0) return 0;
    begin_staging(n);
    int rc = open_stage(fs, n);
    if (rc != 0) return rc;
    uint64_t end = off + len;
    for (uint64_t blk = off / STAGE_BLOCK; blk <= (end - 1) / STAGE_BLOCK; blk++) {
        if (is_valid(n, blk)) continue;
        uint64_t lo = blk * STAGE_BLOCK;
        uint64_t hi = lo + STAGE_BLOCK < n->base_limit ? lo + STAGE_BLOCK : n->base_limit;
        /* old bytes in this block that the write does not cover must be kept */
        if (hi > lo && (off > lo || end < hi)) {
            rc = fill_block(fs, n, blk);
            if (rc != 0) return rc;
        }
        if ((rc = set_valid(n, blk)) != 0) return rc;
    }
    rc = write_all(n->stage_fd, buf, len, off);
    if (rc != 0) return rc;
    if (end > n->size) n->size = end;
    n->dirty_data = 1;
    n->a.mtime_ns = n->ctime_ns = aug_now_ns();
    if (n->noted != 2) stage_note(fs, n, 0);
    stage_account(fs, n);
    return (ssize_t)len;
}

int fnode_truncate(augfs_t *fs, fnode_t *n, uint64_t size)
{
    begin_staging(n);
    if (n->stage_fd >= 0 && ftruncate(n->stage_fd, (off_t)size) != 0)
        return errno == ENOSPC || errno == EFBIG ? -errno : -EIO;
    if (size < n->size) {
        if (size < n->base_limit) n->base_limit = size;
        /* blocks wholly past the end are zeros now (ftruncate cleared their bytes) */
        uint64_t first_gone = (size + STAGE_BLOCK - 1) / STAGE_BLOCK;
        for (uint64_t blk = first_gone; blk / 8 < n->valid_bytes; blk++)
            n->valid[blk / 8] &= (uint8_t) ~(1u << (blk % 8));
    }
    n->size = size;
    n->dirty_data = 1;
    n->a.mtime_ns = n->ctime_ns = aug_now_ns();
    if (n->noted != 2) stage_note(fs, n, 0);
    stage_account(fs, n);
    return 0;
}

/* ---- upload -------------------------------------------------------------------------------- */

/* Stream the content (staged blocks, old bytes, zeros) into w. */
static int upload_content(augfs_t *fs, fnode_t *n, cache_writer_t *w, aug_err_t *err)
{
    char *buf = malloc(COPY_CHUNK);
    if (!buf) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = 0;
    for (uint64_t pos = 0; pos < n->size && rc == 0;) {
        size_t step = n->size - pos < COPY_CHUNK ? (size_t)(n->size - pos) : COPY_CHUNK;
        ssize_t got = fnode_read(fs, n, buf, step, pos);
        if (got < 0 || (size_t)got != step) {
            rc = aug_err_set(err, AUG_EIO, "cannot read the staged bytes of %s/%s", n->bucket,
                             n->key);
            break;
        }
        rc = cache_writer_write(w, buf, step, err);
        pos += step;
    }
    free(buf);
    return rc;
}

/* The old bytes an upload will copy (blocks not staged, below base_limit) are read in order:
 * ask the cache to fetch them ahead. */
static void prefetch_unstaged(augfs_t *fs, fnode_t *n)
{
    if (n->base_limit == 0 || backend_manifest_is_inline(n->base)) return;
    uint64_t last = (n->base_limit - 1) / STAGE_BLOCK;
    for (uint64_t blk = 0; blk <= last;) {
        if (is_valid(n, blk)) {
            blk++;
            continue;
        }
        uint64_t run = blk;
        while (run + 1 <= last && !is_valid(n, run + 1))
            run++;
        uint64_t lo = blk * STAGE_BLOCK;
        uint64_t hi =
            (run + 1) * STAGE_BLOCK < n->base_limit ? (run + 1) * STAGE_BLOCK : n->base_limit;
        cache_prefetch(fs->c, n->base, lo, hi - lo, 0);
        blk = run + 1;
    }
}

int fnode_flush(augfs_t *fs, fnode_t *n)
{
    if (n->unlinked) {
        n->dirty_data = n->dirty_attrs = 0;
        stage_note(fs, n, 0);
        stage_account(fs, n);
        return 0;
    }
    if (!n->dirty_data && !n->dirty_attrs) return 0;
    aug_err_t err;
    aug_err_clear(&err);
    backend_put_attrs_t pa;
    backend_manifest_t *m = NULL;
    int rc;
    if (!n->dirty_data) {
        /* new attributes over the same bytes: a new manifest, no data written */
        fattrs_to_put(&n->a, &pa);
        backend_piece_t piece = {.manifest = n->base, .off = 0, .len = n->base->size};
        rc = cache_put_composed(fs->c, n->bucket, n->key, &pa, &piece, n->base->size ? 1 : 0,
                                n->base->etag, &m, &err);
    } else {
        fattrs_drop_data_meta(&n->a);
        fattrs_to_put(&n->a, &pa);
        prefetch_unstaged(fs, n);
        cache_writer_t *w;
        rc = cache_writer_open(fs->c, n->bucket, n->key, &pa, &w, &err);
        if (rc == 0) {
            rc = upload_content(fs, n, w, &err);
            if (rc == 0)
                rc = cache_writer_commit(w, &m, &err);
            else
                cache_writer_abort(w);
        }
    }
    if (rc != 0) {
        aug_error("mount: cannot upload %s/%s: %s", n->bucket, n->key,
                  err.msg[0] ? err.msg : aug_strerror(rc));
        return augfs_errno(rc) == -ENOMEM ? -ENOMEM : -EIO;
    }
    /* the staged blocks stay: they hold exactly the new version's bytes */
    backend_manifest_free(n->base);
    n->base = m;
    n->created = 0;
    n->ctime_ns = m->written_ns;
    if (n->staged) n->base_limit = n->size;
    n->dirty_data = n->dirty_attrs = 0;
    stage_note(fs, n, 0);
    stage_account(fs, n);
    return 0;
}

/* ---- background uploads -------------------------------------------------------------------- */

void fnode_upload_later(augfs_t *fs, fnode_t *n)
{
    if (n->unlinked || (!n->dirty_data && !n->dirty_attrs)) return;
    if (n->created && n->stage_fd < 0 && open_stage(fs, n) == 0) stage_note(fs, n, 0);
    pthread_mutex_lock(&fs->nodes_mu);
    n->refs += !n->pending; /* held by the pending state */
    pthread_mutex_unlock(&fs->nodes_mu);
    if (!n->pending) {
        n->pending = 1;
        n->pending_reg = cache_pending_begin(fs->c, n->bucket, n->key);
    }
    pthread_mutex_lock(&fs->up_mu);
    int enqueue = !n->queued && !fs->up_stopping;
    if (enqueue) {
        n->queued = 1;
        n->up_next = NULL;
        if (fs->up_tail)
            fs->up_tail->up_next = n;
        else
            fs->up_head = n;
        fs->up_tail = n;
        pthread_cond_signal(&fs->up_cv);
    }
    pthread_mutex_unlock(&fs->up_mu);
    if (enqueue) { /* held by the queue; nodes_mu is taken after up_mu is released */
        pthread_mutex_lock(&fs->nodes_mu);
        n->refs++;
        pthread_mutex_unlock(&fs->nodes_mu);
    }
}

int fnode_clear_pending(augfs_t *fs, fnode_t *n)
{
    if (!n->pending) return 0;
    n->pending = 0;
    n->upload_failed = 0;
    cache_pending_end(fs->c, n->pending_reg);
    return 1;
}

/* Upload pending node n (a reference held by the caller). */
static void upload_pending(augfs_t *fs, fnode_t *n, int retry)
{
    int done = 0;
    pthread_mutex_lock(&n->mu);
    if (n->pending && (!retry || n->upload_failed)) {
        pthread_mutex_lock(&n->snap_mu);
        fnode_stat(fs, n, &n->up_st);
        n->uploading = 1;
        pthread_mutex_unlock(&n->snap_mu);
        int rc = fnode_flush(fs, n);
        pthread_mutex_lock(&n->snap_mu);
        n->uploading = 0;
        pthread_mutex_unlock(&n->snap_mu);
        if (rc == 0) {
            if (n->upload_failed)
                aug_warn("mount: %s/%s uploaded after an earlier failure", n->bucket, n->key);
            done = fnode_clear_pending(fs, n);
        } else {
            n->upload_failed = 1; /* kept, counted as staged, retried every RETRY_INTERVAL_MS */
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (done) fnode_put(fs, n);
}

int fnode_stat_uploading(fnode_t *n, struct stat *st)
{
    pthread_mutex_lock(&n->snap_mu);
    int up = n->uploading;
    if (up) *st = n->up_st;
    pthread_mutex_unlock(&n->snap_mu);
    return up;
}

void fnode_upload_queued(augfs_t *fs)
{
    for (;;) {
        pthread_mutex_lock(&fs->up_mu);
        while (!fs->up_head && !fs->up_stopping)
            pthread_cond_wait(&fs->up_cv, &fs->up_mu);
        if (fs->up_stopping) {
            pthread_mutex_unlock(&fs->up_mu);
            return;
        }
        fnode_t *n = fs->up_head;
        fs->up_head = n->up_next;
        if (!fs->up_head) fs->up_tail = NULL;
        n->up_next = NULL;
        n->queued = 0;
        pthread_mutex_unlock(&fs->up_mu);
        upload_pending(fs, n, 0);
        fnode_put(fs, n); /* the queue's reference */
    }
}

void fnode_drain_queue(augfs_t *fs)
{
    pthread_mutex_lock(&fs->up_mu);
    fnode_t *n = fs->up_head;
    fs->up_head = fs->up_tail = NULL;
    for (fnode_t *x = n; x; x = x->up_next)
        x->queued = 0;
    pthread_mutex_unlock(&fs->up_mu);
    while (n) {
        fnode_t *next = n->up_next;
        n->up_next = NULL;
        fnode_put(fs, n);
        n = next;
    }
}

void fnode_retry_pending(augfs_t *fs)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, NULL, NULL, &arr);
    if (count < 0) return;
    for (ssize_t i = 0; i < count; i++) {
        upload_pending(fs, arr[i], 1);
        fnode_put(fs, arr[i]);
    }
    free(arr);
}
