/* attrs.c - POSIX attributes of keys: as stored in manifests, as shown to the kernel. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fattrs_from_manifest(const augfs_t *fs, const backend_manifest_t *m, int is_dir, fattrs_t *out)
{
    memset(out, 0, sizeof(*out));
    if (m->mode == 0) {
        /* written over S3 without POSIX attributes: owned by whoever mounted */
        out->mode = is_dir ? (S_IFDIR | DEFAULT_DIR_MODE) : (S_IFREG | DEFAULT_FILE_MODE);
        out->uid = fs->uid;
        out->gid = fs->gid;
    } else {
        out->mode = m->mode;
        if ((out->mode & S_IFMT) == 0) out->mode |= is_dir ? S_IFDIR : S_IFREG;
        out->uid = m->uid;
        out->gid = m->gid;
    }
    out->mtime_ns = m->mtime_ns;
    fattrs_t tmp = {.content_type = m->content_type, .meta = m->meta, .n_meta = m->n_meta};
    fattrs_t copy;
    if (fattrs_copy(&tmp, &copy) != 0) return -ENOMEM;
    out->content_type = copy.content_type;
    out->meta = copy.meta;
    out->n_meta = copy.n_meta;
    return 0;
}

int fattrs_copy(const fattrs_t *src, fattrs_t *dst)
{
    *dst = *src;
    dst->content_type = NULL;
    dst->meta = NULL;
    dst->n_meta = 0;
    if (src->content_type && !(dst->content_type = strdup(src->content_type))) goto fail;
    if (src->n_meta) {
        dst->meta = calloc(src->n_meta, sizeof(*dst->meta));
        if (!dst->meta) goto fail;
        for (size_t i = 0; i < src->n_meta; i++) {
            dst->meta[i].name = strdup(src->meta[i].name);
            dst->meta[i].value = strdup(src->meta[i].value);
            dst->n_meta = i + 1;
            if (!dst->meta[i].name || !dst->meta[i].value) goto fail;
        }
    }
    return 0;
fail:
    fattrs_free(dst);
    return -ENOMEM;
}

void fattrs_free(fattrs_t *a)
{
    if (!a) return;
    free(a->content_type);
    for (size_t i = 0; i < a->n_meta; i++) {
        free(a->meta[i].name);
        free(a->meta[i].value);
    }
    free(a->meta);
    a->content_type = NULL;
    a->meta = NULL;
    a->n_meta = 0;
}

void fattrs_to_put(const fattrs_t *a, backend_put_attrs_t *out)
{
    memset(out, 0, sizeof(*out));
    out->content_type = a->content_type;
    out->mode = a->mode;
    out->uid = a->uid;
    out->gid = a->gid;
    /* 0 means "now" to the backend: a file dated exactly at the epoch keeps 1 ns instead */
    out->mtime_ns = a->mtime_ns ? a->mtime_ns : 1;
    out->n_meta = a->n_meta;
    out->meta = a->meta;
}

void fattrs_drop_data_meta(fattrs_t *a)
{
    size_t j = 0;
    for (size_t i = 0; i < a->n_meta; i++) {
        if (strncmp(a->meta[i].name, "augur-", 6) == 0) {
            free(a->meta[i].name);
            free(a->meta[i].value);
        } else {
            a->meta[j++] = a->meta[i];
        }
    }
    a->n_meta = j;
}

static struct timespec ts_of(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    if (ts.tv_nsec < 0) {
        ts.tv_sec--;
        ts.tv_nsec += 1000000000L;
    }
    return ts;
}

void fattrs_stat(const augfs_t *fs, const fattrs_t *a, uint64_t size, int64_t ctime_ns,
                 struct stat *st)
{
    (void)fs;
    memset(st, 0, sizeof(*st));
    st->st_mode = a->mode;
    st->st_nlink = S_ISDIR(a->mode) ? 2 : 1;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)size;
    st->st_blksize = 128 * 1024; /* what cp and friends size their buffers by */
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_mtim = ts_of(a->mtime_ns);
    st->st_atim = st->st_mtim; /* until one is kept in memory (times.c) */
    st->st_ctim = ts_of(ctime_ns ? ctime_ns : a->mtime_ns);
}
