/* times.c - the times the store does not keep, kept in the mount's memory for its life: a
 * directory's mtime and ctime (changed when an entry is created, removed or renamed in it; the
 * store would need a write of the directory's marker each time) and files' access times
 * (relatime: moved on a read when older than the mtime or a day; a write per read otherwise). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The relatime rule: an access time older than this is moved on the next read. */
#define ATIME_MAX_AGE_NS (24LL * 3600 * 1000000000LL)

typedef struct ptime {
    struct ptime *next;
    uint64_t hash;
    int64_t mtime_ns, ctime_ns, atime_ns; /* 0: not changed here */
    char name[];                          /* "bucket/key" */
} ptime_t;

static uint64_t hash_of(const char *name)
{
    return aug_hash64(name, strlen(name), 31);
}

/* "bucket/key" into out; 0, or -1 when it does not fit. */
static int name_of(const char *bucket, const char *key, char *out, size_t len)
{
    return (size_t)snprintf(out, len, "%s/%s", bucket, key) < len ? 0 : -1;
}

/* The entry for name, made when missing and make is set. With times_mu held. */
static ptime_t *find(augfs_t *fs, const char *name, int make)
{
    uint64_t h = hash_of(name);
    ptime_t **slot = &fs->times[h % TIMES_SLOTS];
    for (ptime_t *t = *slot; t; t = t->next)
        if (t->hash == h && strcmp(t->name, name) == 0) return t;
    if (!make) return NULL;
    size_t n = strlen(name) + 1;
    ptime_t *t = calloc(1, sizeof(*t) + n);
    if (!t) return NULL; /* the time is simply not kept */
    t->hash = h;
    memcpy(t->name, name, n);
    t->next = *slot;
    *slot = t;
    return t;
}

void times_free(augfs_t *fs)
{
    for (size_t i = 0; i < TIMES_SLOTS; i++)
        for (ptime_t *t = fs->times[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
}

void times_entry_changed(augfs_t *fs, const char *bucket, const char *key)
{
    /* the parent of a bucket (key NULL) is the root, "/"; of a key, its bucket and the key up
     * to its last '/' */
    char dir[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    const char *slash = key ? strrchr(key, '/') : NULL;
    int klen = slash ? (int)(slash - key) : 0;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/%.*s", key ? bucket : "", klen, key ? key : "") >=
        sizeof(dir))
        return;
    int64_t now = aug_now_ns();
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, dir, 1);
    if (t) t->mtime_ns = t->ctime_ns = now;
    pthread_mutex_unlock(&fs->times_mu);
}

void times_dir_stat(augfs_t *fs, const char *bucket, const char *key, struct stat *st)
{
    char name[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    if (name_of(bucket ? bucket : "", key ? key : "", name, sizeof(name)) != 0) return;
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, name, 0);
    int64_t m = t ? t->mtime_ns : 0, c = t ? t->ctime_ns : 0;
    pthread_mutex_unlock(&fs->times_mu);
    int64_t sm = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    int64_t sc = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    if (m > sm) {
        st->st_mtim.tv_sec = (time_t)(m / 1000000000LL);
        st->st_mtim.tv_nsec = (long)(m % 1000000000LL);
    }
    if (c > sc) {
        st->st_ctim.tv_sec = (time_t)(c / 1000000000LL);
        st->st_ctim.tv_nsec = (long)(c % 1000000000LL);
    }
}

void times_file_stat(augfs_t *fs, const char *bucket, const char *key, struct stat *st)
{
    char name[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    if (name_of(bucket, key, name, sizeof(name)) != 0) return;
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, name, 0);
    int64_t a = t ? t->atime_ns : 0;
    pthread_mutex_unlock(&fs->times_mu);
    if (a == 0) return; /* never read here: the mtime stands in */
    st->st_atim.tv_sec = (time_t)(a / 1000000000LL);
    st->st_atim.tv_nsec = (long)(a % 1000000000LL);
}

void times_set_atime(augfs_t *fs, const char *bucket, const char *key, int64_t atime_ns)
{
    char name[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    if (name_of(bucket, key, name, sizeof(name)) != 0) return;
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, name, 1);
    if (t) t->atime_ns = atime_ns ? atime_ns : 1;
    pthread_mutex_unlock(&fs->times_mu);
}

void times_read(augfs_t *fs, const char *bucket, const char *key, int64_t mtime_ns)
{
    char name[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    if (name_of(bucket, key, name, sizeof(name)) != 0) return;
    int64_t now = aug_now_ns();
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, name, 0);
    int64_t a = t && t->atime_ns ? t->atime_ns : mtime_ns; /* not kept yet: as shown */
    if (a <= mtime_ns || now - a > ATIME_MAX_AGE_NS) {
        if (!t) t = find(fs, name, 1);
        if (t) t->atime_ns = now;
    }
    pthread_mutex_unlock(&fs->times_mu);
}

void times_forget(augfs_t *fs, const char *bucket, const char *key)
{
    char name[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    if (name_of(bucket, key, name, sizeof(name)) != 0) return;
    pthread_mutex_lock(&fs->times_mu);
    ptime_t *t = find(fs, name, 0);
    if (t) t->atime_ns = 0;
    pthread_mutex_unlock(&fs->times_mu);
}
