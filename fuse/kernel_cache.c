/* kernel_cache.c - the kernel's caches of the mount: which version's bytes the page cache may
 * hold for each path (versions never change, so an open that sees the same version keeps them),
 * the kernel's readahead window, and invalidation when a key changes through the cache from
 * outside the mount (the S3 gateway of the same augurd). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Thread-local mark of the mount's own threads: their changes need no invalidation (the next
 * open sees a new version), and invalidating while they hold a node would deadlock with a
 * kernel read of that file waiting for them. */
static _Thread_local int own_thread;

void kcache_own_thread(int on)
{
    own_thread = on;
}

static uint64_t name_hash(const char *bucket, const char *key)
{
    /* never 0: 0 marks an empty slot */
    return aug_hash64(key, strlen(key), aug_hash64(bucket, strlen(bucket), 29)) | 1;
}

static const uint8_t no_version[BACKEND_VERSION_ID_LEN];

int kcache_init(augfs_t *fs)
{
    fs->kc = calloc(KCACHE_SLOTS, sizeof(*fs->kc));
    if (!fs->kc) return -ENOMEM;
    pthread_mutex_init(&fs->kc_mu, NULL);
    return 0;
}

void kcache_free(augfs_t *fs)
{
    if (!fs->kc) return;
    pthread_mutex_destroy(&fs->kc_mu);
    free(fs->kc);
    fs->kc = NULL;
}

int kcache_keep(augfs_t *fs, const backend_manifest_t *m)
{
    if (memcmp(m->version_id, no_version, sizeof(no_version)) == 0) return 0; /* not stored */
    uint64_t h = name_hash(m->bucket, m->key);
    kcache_slot_t *s = &fs->kc[h % KCACHE_SLOTS];
    pthread_mutex_lock(&fs->kc_mu);
    int same = s->name == h && memcmp(s->version, m->version_id, BACKEND_VERSION_ID_LEN) == 0;
    s->name = h;
    memcpy(s->version, m->version_id, BACKEND_VERSION_ID_LEN);
    pthread_mutex_unlock(&fs->kc_mu);
    return same;
}

void kcache_check_read(augfs_t *fs, const backend_manifest_t *m)
{
    uint64_t h = name_hash(m->bucket, m->key);
    kcache_slot_t *s = &fs->kc[h % KCACHE_SLOTS];
    pthread_mutex_lock(&fs->kc_mu);
    /* an older version read into the page cache: the next open must not trust it */
    if (s->name == h && memcmp(s->version, m->version_id, BACKEND_VERSION_ID_LEN) != 0) s->name = 0;
    pthread_mutex_unlock(&fs->kc_mu);
}

void kcache_forget(augfs_t *fs, const char *bucket, const char *key)
{
    uint64_t h = name_hash(bucket, key);
    kcache_slot_t *s = &fs->kc[h % KCACHE_SLOTS];
    pthread_mutex_lock(&fs->kc_mu);
    if (s->name == h) s->name = 0;
    pthread_mutex_unlock(&fs->kc_mu);
}

/* A key changed through the cache: drop what the kernel holds of its path (attributes and
 * bytes), so that the mount shows the change at once. */
static void on_change(void *arg, const char *bucket, const char *key)
{
    augfs_t *fs = arg;
    kcache_forget(fs, bucket, key);
    if (own_thread || fuse_get_context()) return; /* the mount's own threads */
    char path[BACKEND_BUCKET_MAX + BACKEND_KEY_MAX + 4];
    int n = snprintf(path, sizeof(path), "/%s/%s", bucket, key);
    if (n <= 0 || (size_t)n >= sizeof(path)) return;
    if (path[n - 1] == '/') path[n - 1] = '\0'; /* a directory marker names the directory */
    /* -ENOENT: the kernel does not know the path, so it caches nothing of it */
    fuse_invalidate_path(fs->fuse, path);
}

void kcache_listen(augfs_t *fs, int on)
{
    if (on)
        cache_set_change_listener(fs->c, on_change, fs);
    else
        cache_set_change_listener(fs->c, NULL, NULL);
}

void kcache_raise_readahead(augfs_t *fs)
{
    if (atomic_exchange(&fs->ra_raised, 1)) return;
    /* the mount's device number, from the mount table: stat() of the mountpoint would ask us */
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) return;
    char line[PATH_MAX + 512], dev[32] = "", mp[PATH_MAX];
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %*s %31s %*s %4095s", dev, mp) == 2 &&
            strcmp(mp, fs->mountpoint) == 0)
            break;
        else
            dev[0] = '\0';
    fclose(f);
    if (!dev[0]) return;
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
    f = fopen(path, "w");
    int ok = f && fprintf(f, "%d\n", KERNEL_READAHEAD_KB) > 0;
    if (f && fclose(f) != 0) ok = 0;
    /* not root, or no sysfs: reads work, in the kernel's smaller requests */
    if (!ok)
        aug_debug("mount: cannot raise the kernel's readahead in %s: %s", path, strerror(errno));
}
