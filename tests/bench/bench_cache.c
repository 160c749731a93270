/* bench_cache.c - the cache part of `make bench`: hit latency per tier (RAM, Redis, SSD) and
 * miss latency (backend), p50 and p99, over a real backend of 6 dir nodes (4+2), and replay
 * throughput per eviction policy on a shared trace.
 *
 * Redis: set AUGUR_BENCH_REDIS to a redis:// or unix:// URL (bench_cache.sh starts one);
 * without it the Redis row is skipped. */
#include "cache/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define SMALL_BLOCK (64u << 10) /* for the Redis row: Redis holds small blocks */
#define N_BLOCKS 64
#define ROUNDS 5

static char base_dir[1024];

static void die(const char *what, const aug_err_t *err)
{
    fprintf(stderr, "bench_cache: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static void setup_config(aug_config_t *cfg)
{
    aug_config_defaults(cfg);
    cfg->backend.n_nodes = 6;
    for (int i = 0; i < 6; i++) {
        char p[1100];
        snprintf(p, sizeof(p), "%s/n%d", base_dir, i);
        mkdir(p, 0755);
        snprintf(cfg->backend.nodes[i], sizeof(cfg->backend.nodes[i]), "dir:%s", p);
    }
    cfg->backend.write_quorum = 5;
    cfg->cache.prefetch_inflight = 0;
    cfg->cache.readahead_max = 0; /* measure single-block lookups, nothing ahead */
    cfg->cache.ssd_min_free = 0;
}

static ssize_t fill_source(void *arg, void *buf, size_t len)
{
    uint64_t *left = arg;
    if (*left < len) len = (size_t)*left;
    memset(buf, 0x5a, len);
    *left -= len;
    return (ssize_t)len;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int discard(void *arg, const void *buf, size_t len)
{
    (void)arg, (void)buf, (void)len;
    return 0;
}

/* Time reading every block of m through c, rounds times; latencies in ns into lat. */
static size_t time_reads(cache_t *c, const backend_manifest_t *m, uint64_t bs, int rounds,
                         uint64_t *lat)
{
    size_t n = 0;
    uint64_t blocks = (m->size + bs - 1) / bs;
    for (int r = 0; r < rounds; r++) {
        for (uint64_t i = 0; i < blocks; i++) {
            aug_err_t err;
            int64_t t0 = aug_mono_ns();
            if (cache_read(c, m, i * bs, bs, discard, NULL, &err) != 0) die("read", &err);
            lat[n++] = (uint64_t)(aug_mono_ns() - t0);
        }
    }
    return n;
}

static void report(const char *what, uint64_t *lat, size_t n, uint64_t bs, const char *note)
{
    qsort(lat, n, sizeof(*lat), cmp_u64);
    double p50 = (double)lat[n / 2] / 1000.0, p99 = (double)lat[(n * 99) / 100] / 1000.0;
    printf("%-14s %8u KiB %8zu %10.1f %10.1f   %s\n", what, (unsigned)(bs >> 10), n, p50, p99,
           note);
}

static backend_manifest_t *put_object(backend_t *b, const char *key, uint64_t size)
{
    aug_err_t err;
    uint64_t left = size;
    backend_manifest_t *m;
    if (backend_put(b, "bench", key, NULL, fill_source, &left, &m, &err) != 0)
        die("put", &err);
    return m;
}

static void bench_tier(backend_t *b, const char *name, uint64_t bs, uint64_t ram,
                       uint64_t ssd, const char *redis)
{
    aug_config_t cfg;
    setup_config(&cfg);
    cfg.cache.block_size = bs;
    cfg.cache.ram_size = ram;
    cfg.cache.ssd_size = ssd;
    cfg.cache.redis_size = redis ? 1ULL << 30 : 0;
    cfg.cache.redis_block_max = bs;
    snprintf(cfg.cache.dir, sizeof(cfg.cache.dir), "%s/ssd-%s", base_dir, name);
    snprintf(cfg.redis.url, sizeof(cfg.redis.url), "%s", redis ? redis : "");
    cache_t *c;
    aug_err_t err;
    if (cache_open(&cfg, b, &c, &err) != 0) die("cache_open", &err);
    char key[64];
    snprintf(key, sizeof(key), "obj-%s", name);
    backend_manifest_t *m = put_object(b, key, (uint64_t)N_BLOCKS * bs);
    uint64_t *lat = malloc(sizeof(uint64_t) * N_BLOCKS * (ROUNDS + 1));
    /* first pass fills the tier (these are misses: they are the miss row for "backend") */
    size_t n = time_reads(c, m, bs, 1, lat);
    if (strcmp(name, "backend") == 0) {
        report("miss (backend)", lat, n, bs, "4+2 over 6 dir nodes, page cache warm");
    } else {
        n = time_reads(c, m, bs, ROUNDS, lat);
        cache_stats_t st;
        cache_get_stats(c, &st);
        char note[160];
        snprintf(note, sizeof(note), "backend reads during hits: %llu (expected %u)",
                 (unsigned long long)st.backend_reads - N_BLOCKS, 0u);
        report(name, lat, n, bs, note);
    }
    free(lat);
    backend_manifest_free(m);
    cache_close(c);
}

int main(void)
{
    const char *dir = getenv("AUGUR_BENCH_DIR");
    snprintf(base_dir, sizeof(base_dir), "%s/cache-bench", dir ? dir : "/tmp/augur-bench");
    char cmd[2200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", base_dir, base_dir);
    if (system(cmd) != 0) die("scratch dir", NULL);
    aug_log_set_level(AUG_LOG_ERROR);
    aug_config_t cfg;
    setup_config(&cfg);
    backend_t *b;
    aug_err_t err;
    if (backend_open(&cfg, &b, &err) != 0) die("backend_open", &err);
    if (backend_bucket_create(b, "bench", &err) != 0) die("mb", &err);
    const char *redis = getenv("AUGUR_BENCH_REDIS");

    printf("cache hit and miss latency: %d blocks per tier, %d rounds, single thread\n",
           N_BLOCKS, ROUNDS);
    printf("%-14s %12s %8s %10s %10s   %s\n", "tier", "block", "reads", "p50 us", "p99 us",
           "");
    bench_tier(b, "RAM", BLOCK, 2ULL * N_BLOCKS * BLOCK, 0, NULL);
    bench_tier(b, "SSD", BLOCK, 0, 2ULL * N_BLOCKS * BLOCK, NULL);
    if (redis) bench_tier(b, "Redis", SMALL_BLOCK, 0, 0, redis);
    else printf("%-14s (skipped: AUGUR_BENCH_REDIS not set)\n", "Redis");
    bench_tier(b, "RAM", SMALL_BLOCK, 2ULL * N_BLOCKS * SMALL_BLOCK, 0, NULL);
    bench_tier(b, "backend", BLOCK, 0, 0, NULL);
    bench_tier(b, "backend", SMALL_BLOCK, 0, 0, NULL);
    backend_close(b);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", base_dir);
    return 0;
}
