/* tier_ssd.c - the local SSD tier: one file per block under the cache directory, written
 * atomically (temporary file, rename), CRC32C-checked on every read, indexed in memory and
 * re-indexed from the directory on start so a restart keeps a warm cache. */
#include "tiers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SSD_MAGIC 0x4b4c4241u /* "ABLK" */
#define SSD_HEADER_LEN 40     /* magic, len, crc, key (16 + 8), pad */

/* The index: which blocks are on disk and how big they are. */
typedef struct ssd_entry {
    block_map_entry_t base; /* first: the map's view of this entry */
    uint64_t len;
} ssd_entry_t;

/* Room below the directory for "/xx/VID-INDEX" and temporary names. */
#define SSD_DIR_MAX (PATH_MAX - 512)

struct ssd_tier {
    pthread_mutex_t mu;
    char dir[SSD_DIR_MAX];
    uint64_t min_free;
    policy_t *policy;
    policy_score_fn score; /* for a learned policy */
    void *score_arg;
    block_map_t map;
    uint64_t hits, misses, errors;
};

static void block_file(const ssd_tier_t *t, const block_key_t *k, char *out, size_t len)
{
    char hex[33];
    aug_hex(k->vid, sizeof(k->vid), hex);
    snprintf(out, len, "%s/%.2s/%s-%llu", t->dir, hex, hex, (unsigned long long)k->index);
}

static void free_entry(block_map_entry_t *e)
{
    free(e);
}

/* Forget the block with this hash and delete its file. Called with the lock held. */
static void drop_hash(ssd_tier_t *t, uint64_t hash)
{
    block_map_entry_t *e = block_map_remove(&t->map, hash);
    if (!e) return;
    char path[PATH_MAX + 64];
    block_file(t, &e->key, path, sizeof(path));
    unlink(path);
    free(e);
}

static uint64_t entry_size(const block_map_entry_t *e)
{
    return ((const ssd_entry_t *)e)->len;
}

static void drop_in_tier(void *tier, uint64_t hash)
{
    drop_hash(tier, hash);
}

static void on_evict(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    drop_hash(arg, key);
}

/* Add a block to the index and the policy; the policy may decline or evict others. */
static void index_add(ssd_tier_t *t, const block_key_t *k, uint64_t len)
{
    uint64_t h = block_key_hash(k);
    if (block_map_find(&t->map, h, k) || policy_contains(t->policy, h)) return;
    ssd_entry_t *e = malloc(sizeof(*e));
    if (!e) return;
    e->len = len;
    block_map_insert(&t->map, &e->base, k);
    policy_access(t->policy, h, len);
    if (!policy_contains(t->policy, h)) drop_hash(t, h);
}

/* Parse "VID-INDEX" back into a key. */
static int parse_name(const char *name, block_key_t *k)
{
    if (strlen(name) < 34 || name[32] != '-') return -1;
    if (aug_unhex(name, k->vid, sizeof(k->vid)) != 0) return -1;
    char *end;
    unsigned long long idx = strtoull(name + 33, &end, 10);
    if (*end || end == name + 33) return -1;
    k->index = idx;
    return 0;
}

/* Walk DIR/xx/ and index every block file found (temporary leftovers are removed). */
static void rebuild_index(ssd_tier_t *t)
{
    DIR *top = opendir(t->dir);
    if (!top) return;
    struct dirent *de;
    uint64_t found = 0;
    while ((de = readdir(top)) != NULL) {
        if (strlen(de->d_name) != 2) continue;
        char sub[SSD_DIR_MAX + 8];
        snprintf(sub, sizeof(sub), "%s/%.2s", t->dir, de->d_name);
        DIR *d = opendir(sub);
        if (!d) continue;
        struct dirent *fe;
        while ((fe = readdir(d)) != NULL) {
            if (fe->d_name[0] == '.') continue;
            char path[PATH_MAX + 300];
            snprintf(path, sizeof(path), "%s/%.255s", sub, fe->d_name);
            block_key_t k;
            struct stat st;
            if (parse_name(fe->d_name, &k) != 0) {
                if (strstr(fe->d_name, ".tmp")) unlink(path);
                continue;
            }
            if (stat(path, &st) != 0 || st.st_size < SSD_HEADER_LEN) {
                unlink(path);
                continue;
            }
            index_add(t, &k, (uint64_t)st.st_size - SSD_HEADER_LEN);
            found++;
        }
        closedir(d);
    }
    closedir(top);
    if (found) aug_info("cache: SSD tier %s: %llu blocks found", t->dir, (unsigned long long)found);
}

int ssd_tier_open(const char *dir, uint64_t size, uint64_t min_free, const char *policy,
                  ssd_tier_t **out, aug_err_t *err)
{
    if (strlen(dir) >= SSD_DIR_MAX)
        return aug_err_set(err, AUG_ECONFIG, "cache directory path too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return aug_err_set(err, AUG_EIO, "cache directory %s: %s", dir, strerror(errno));
    ssd_tier_t *t = calloc(1, sizeof(*t));
    if (!t) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    snprintf(t->dir, sizeof(t->dir), "%s", dir);
    t->min_free = min_free;
    int rc = block_map_init(&t->map);
    t->policy = rc == 0 ? policy_create(policy, size ? size : 1, err) : NULL;
    if (!t->policy) {
        block_map_destroy(&t->map, free_entry);
        free(t);
        return err && err->code ? err->code : AUG_ENOMEM;
    }
    policy_set_evict_hook(t->policy, on_evict, t);
    pthread_mutex_init(&t->mu, NULL);
    rebuild_index(t);
    *out = t;
    return 0;
}

void ssd_tier_close(ssd_tier_t *t)
{
    if (!t) return;
    block_map_destroy(&t->map, free_entry);
    policy_destroy(t->policy);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void encode_header(uint8_t *h, const block_key_t *k, const block_buf_t *b)
{
    memset(h, 0, SSD_HEADER_LEN);
    put_le(h, SSD_MAGIC, 4);
    put_le(h + 4, b->len, 8);
    put_le(h + 12, aug_crc32c(0, b->data, b->len), 4);
    memcpy(h + 16, k->vid, 16);
    put_le(h + 32, k->index, 8);
}

int ssd_tier_contains(ssd_tier_t *t, const block_key_t *k)
{
    pthread_mutex_lock(&t->mu);
    int found = block_map_find(&t->map, block_key_hash(k), k) != NULL;
    pthread_mutex_unlock(&t->mu);
    return found;
}

/* Read and check the block's file; NULL if missing or corrupt. */
static block_buf_t *read_block_file(const char *path, const block_key_t *k, int *corrupt)
{
    *corrupt = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    uint8_t h[SSD_HEADER_LEN];
    block_buf_t *b = NULL;
    if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && get_le(h, 4) == SSD_MAGIC &&
        memcmp(h + 16, k->vid, 16) == 0 && get_le(h + 32, 8) == k->index) {
        uint64_t len = get_le(h + 4, 8);
        b = len <= (256ULL << 20) ? block_buf_new((size_t)len) : NULL;
        if (b && (pread(fd, b->data, (size_t)len, SSD_HEADER_LEN) != (ssize_t)len ||
                  aug_crc32c(0, b->data, (size_t)len) != (uint32_t)get_le(h + 12, 4))) {
            block_buf_unref(b);
            b = NULL;
            *corrupt = 1;
        }
    } else {
        *corrupt = 1;
    }
    close(fd);
    return b;
}

block_buf_t *ssd_tier_get(ssd_tier_t *t, const block_key_t *k)
{
    uint64_t h = block_key_hash(k);
    pthread_mutex_lock(&t->mu);
    int present = block_map_find(&t->map, h, k) != NULL;
    if (!present) t->misses++;
    pthread_mutex_unlock(&t->mu);
    if (!present) return NULL;
    char path[PATH_MAX + 64];
    block_file(t, k, path, sizeof(path));
    int corrupt;
    block_buf_t *b = read_block_file(path, k, &corrupt);
    pthread_mutex_lock(&t->mu);
    if (b) {
        t->hits++;
        policy_access(t->policy, h, b->len);
    } else {
        /* never serve a damaged block: forget it and let the backend supply it */
        if (corrupt) {
            t->errors++;
            aug_warn("cache: SSD block %s failed its checksum; dropped", path);
        }
        t->misses++;
        policy_remove(t->policy, h);
        drop_hash(t, h);
    }
    pthread_mutex_unlock(&t->mu);
    return b;
}

/* Enough room on the filesystem to write len more bytes and stay above min_free? */
static int room_for(const ssd_tier_t *t, uint64_t len)
{
    struct statvfs v;
    if (statvfs(t->dir, &v) != 0) return 0;
    uint64_t free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
    return free_bytes > len && free_bytes - len >= t->min_free;
}

void ssd_tier_put(ssd_tier_t *t, const block_key_t *k, const block_buf_t *b)
{
    if (ssd_tier_contains(t, k) || !room_for(t, b->len + SSD_HEADER_LEN)) return;
    char path[PATH_MAX + 64], tmp[PATH_MAX + 96], sub[PATH_MAX + 64];
    block_file(t, k, path, sizeof(path));
    memcpy(sub, path, sizeof(sub));
    *strrchr(sub, '/') = '\0';
    if (mkdir(sub, 0700) != 0 && errno != EEXIST) return;
    uint8_t rnd[6];
    char hex[13];
    aug_random_bytes(rnd, sizeof(rnd));
    aug_hex(rnd, sizeof(rnd), hex);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", sub, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return;
    uint8_t h[SSD_HEADER_LEN];
    encode_header(h, k, b);
    int ok = write(fd, h, sizeof(h)) == (ssize_t)sizeof(h) &&
             write(fd, b->data, b->len) == (ssize_t)b->len;
    /* no fsync: a block torn by a crash fails its CRC and is refetched, never served */
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return;
    }
    pthread_mutex_lock(&t->mu);
    index_add(t, k, b->len);
    pthread_mutex_unlock(&t->mu);
}

void ssd_tier_resize(ssd_tier_t *t, uint64_t size, const char *policy)
{
    aug_err_t err;
    policy_t *p = policy_create(policy, size ? size : 1, &err);
    if (!p) return;
    pthread_mutex_lock(&t->mu);
    policy_destroy(t->policy);
    t->policy = p;
    if (t->score) policy_set_scorer(p, t->score, t->score_arg);
    /* what the new policy will not hold is dropped and its file deleted */
    block_map_replay(&t->map, p, entry_size, drop_in_tier, t);
    policy_set_evict_hook(p, on_evict, t);
    pthread_mutex_unlock(&t->mu);
}

void ssd_tier_stats(ssd_tier_t *t, cache_tier_stats_t *st)
{
    pthread_mutex_lock(&t->mu);
    st->capacity_bytes = policy_capacity_bytes(t->policy);
    st->used_bytes = policy_used_bytes(t->policy);
    st->blocks = t->map.count;
    st->hits = t->hits;
    st->misses = t->misses;
    st->evictions = policy_evictions(t->policy);
    st->errors = t->errors;
    pthread_mutex_unlock(&t->mu);
}

/* Remember the scorer and hand it to the policy if it is a learned one. */
void ssd_tier_set_scorer(ssd_tier_t *t, policy_score_fn fn, void *arg)
{
    pthread_mutex_lock(&t->mu);
    t->score = fn;
    t->score_arg = arg;
    policy_set_scorer(t->policy, fn, arg); /* AUG_EINVAL for other policies: nothing to do */
    pthread_mutex_unlock(&t->mu);
}
