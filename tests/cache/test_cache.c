/* test_cache.c - the tiered cache over a real backend: the path of a block through the tiers,
 * budgets, a warm restart from the SSD tier, corrupt SSD blocks, single flight under many
 * threads, readahead and prefetch budgets. (Redis is covered in test_redis_tier.c and the
 * two-instance end-to-end tests.) */
#include "cache/cache.h"
#include "testlib.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (64u << 10)

static test_cluster_t cluster;
static backend_t *backend;

static void cache_config(aug_config_t *cfg, uint64_t ram, uint64_t ssd)
{
    *cfg = cluster.cfg;
    cfg->cache.block_size = BLOCK;
    cfg->cache.ram_size = ram;
    cfg->cache.ssd_size = ssd;
    cfg->cache.ssd_min_free = 0;
    if ((size_t)snprintf(cfg->cache.dir, sizeof(cfg->cache.dir), "%.4000s/ssd", cluster.dir) >=
        sizeof(cfg->cache.dir))
        abort();
    cfg->redis.url[0] = '\0';
    cfg->cache.prefetch_inflight = 4 * BLOCK;
    cfg->cache.readahead_max = 8 * BLOCK;
}

static cache_t *open_cache(uint64_t ram, uint64_t ssd)
{
    aug_config_t cfg;
    cache_config(&cfg, ram, ssd);
    cache_t *c = NULL;
    aug_err_t err;
    if (cache_open(&cfg, backend, &c, &err) != 0) fprintf(stderr, "cache_open: %s\n", err.msg);
    return c;
}

static int suite_init(void)
{
    test_cluster_init(&cluster, "cache", 6, 4, 2, 64 << 10, 4 << 10);
    backend = test_backend_open(&cluster);
    if (!backend) return 1;
    aug_err_t err;
    if (backend_bucket_create(backend, "data", &err) != 0) return 1;
    return 0;
}

static int suite_clean(void)
{
    backend_close(backend);
    test_cluster_destroy(&cluster);
    return 0;
}

/* Read all of bucket/key through the cache and check it against the seed. */
static int read_check(cache_t *c, const char *key, uint64_t seed, uint64_t len)
{
    backend_manifest_t *m;
    aug_err_t err;
    if (cache_head(c, "data", key, &m, &err) != 0) return 0;
    test_sink_t sink = {.seed = seed};
    int rc = cache_read(c, m, 0, m->size, test_sink_check, &sink, &err);
    int ok = rc == 0 && sink.pos == len && sink.mismatches == 0;
    backend_manifest_free(m);
    return ok;
}

static void test_second_read_is_served_from_ram(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "ram", 1, 10 * BLOCK + 5), 0);
    cache_t *c = open_cache(64 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "ram", 1, 10 * BLOCK + 5));
    cache_stats_t st;
    cache_get_stats(c, &st);
    uint64_t first = st.backend_reads;
    CU_ASSERT(first >= 11);
    CU_ASSERT(read_check(c, "ram", 1, 10 * BLOCK + 5));
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.backend_reads, first);
    CU_ASSERT(st.ram.hits >= 11);
    cache_close(c);
}

static void test_ram_budget_is_never_exceeded(void)
{
    /* 20 blocks: S3-FIFO's small queue (10 %) must hold at least one block to admit any */
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "budget", 2, 60 * BLOCK), 0);
    cache_t *c = open_cache(20 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "budget", 2, 60 * BLOCK));
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT(st.ram.used_bytes <= 20 * BLOCK);
    CU_ASSERT(st.ram.blocks <= 20);
    CU_ASSERT(st.ram.blocks > 0);
    CU_ASSERT(st.ram.evictions > 0);
    cache_close(c);
}

static void test_blocks_evicted_from_ram_come_back_from_ssd(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "tiers", 3, 20 * BLOCK), 0);
    cache_t *c = open_cache(4 * BLOCK, 64 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "tiers", 3, 20 * BLOCK));
    cache_stats_t st;
    cache_get_stats(c, &st);
    uint64_t backend_reads = st.backend_reads;
    CU_ASSERT(read_check(c, "tiers", 3, 20 * BLOCK));
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.backend_reads, backend_reads);
    CU_ASSERT(st.ssd.hits >= 16);
    CU_ASSERT(st.ssd.used_bytes <= 64 * BLOCK);
    cache_close(c);
}

static void test_restart_keeps_the_ssd_tier_warm(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "warm", 4, 12 * BLOCK), 0);
    cache_t *c = open_cache(2 * BLOCK, 64 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "warm", 4, 12 * BLOCK));
    cache_close(c);
    c = open_cache(2 * BLOCK, 64 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT(st.ssd.blocks >= 12);
    CU_ASSERT(read_check(c, "warm", 4, 12 * BLOCK));
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.backend_reads, 0);
    cache_close(c);
}

/* Flip one byte in every block file under the SSD directory. */
static int corrupt_ssd_blocks(void)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/ssd", cluster.dir);
    char cmd[PATH_MAX + 200];
    snprintf(cmd, sizeof(cmd),
             "for f in $(find '%s' -type f -name '*-*'); do printf '\\377' | dd of=$f bs=1 "
             "seek=100 conv=notrunc status=none; done",
             dir);
    return system(cmd);
}

static void test_corrupt_ssd_block_is_never_served(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "corrupt", 5, 6 * BLOCK), 0);
    cache_t *c = open_cache(BLOCK, 64 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "corrupt", 5, 6 * BLOCK));
    cache_close(c);
    CU_ASSERT_EQUAL(corrupt_ssd_blocks(), 0);
    c = open_cache(BLOCK, 64 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(read_check(c, "corrupt", 5, 6 * BLOCK));
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT(st.ssd.errors >= 6);
    CU_ASSERT(st.backend_reads >= 6);
    cache_close(c);
}

typedef struct stress_arg {
    cache_t *c;
    const backend_manifest_t *m;
    int ok;
} stress_arg_t;

static void *stress_reader(void *p)
{
    stress_arg_t *a = p;
    aug_err_t err;
    a->ok = 1;
    for (int round = 0; round < 5; round++) {
        test_sink_t sink = {.seed = 6};
        if (cache_read(a->c, a->m, 0, a->m->size, test_sink_check, &sink, &err) != 0 ||
            sink.mismatches != 0 || sink.pos != a->m->size)
            a->ok = 0;
    }
    return NULL;
}

static void test_concurrent_misses_make_one_backend_read_per_block(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "stress", 6, 16 * BLOCK), 0);
    aug_config_t cfg;
    cache_config(&cfg, 64 * BLOCK, 0);
    cfg.cache.readahead_max = 0; /* only demand reads: count them exactly */
    cfg.cache.prefetch_inflight = 0;
    cache_t *c;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_open(&cfg, backend, &c, &err), 0);
    backend_manifest_t *m;
    CU_ASSERT_EQUAL_FATAL(cache_head(c, "data", "stress", &m, &err), 0);
    pthread_t th[8];
    stress_arg_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (stress_arg_t){.c = c, .m = m};
        pthread_create(&th[i], NULL, stress_reader, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT(args[i].ok);
    }
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.backend_reads, 16);
    backend_manifest_free(m);
    cache_close(c);
}

static void test_sequential_reader_gets_blocks_read_ahead(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "seq", 7, 32 * BLOCK), 0);
    cache_t *c = open_cache(64 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    backend_manifest_t *m;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_head(c, "data", "seq", &m, &err), 0);
    /* four blocks read in order: the window opens and grows ahead of the reader */
    test_sink_t sink = {.seed = 7};
    CU_ASSERT_EQUAL(cache_read(c, m, 0, 4 * BLOCK, test_sink_check, &sink, &err), 0);
    CU_ASSERT_EQUAL(sink.mismatches, 0);
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT(st.readahead_issued >= 4);
    for (int i = 0; i < 500 && st.prefetch_issued < 4; i++) { /* bounded wait */
        usleep(10000);
        cache_get_stats(c, &st);
    }
    CU_ASSERT(st.prefetch_issued >= 4);
    uint64_t before = st.backend_reads;
    /* the next blocks were fetched ahead: reading them costs no backend read */
    test_sink_t next = {.seed = 7, .pos = 4 * BLOCK};
    CU_ASSERT_EQUAL(cache_read(c, m, 4 * BLOCK, 3 * BLOCK, test_sink_check, &next, &err), 0);
    CU_ASSERT_EQUAL(next.mismatches, 0);
    cache_get_stats(c, &st);
    CU_ASSERT(st.prefetch_used >= 3);
    /* a new reader starts a new window, which may fetch more ahead, but never the same
     * block twice: each block came from the backend at most once */
    CU_ASSERT(st.backend_reads - before <= 8);
    CU_ASSERT(st.backend_reads <= 32);
    backend_manifest_free(m);
    cache_close(c);
}

static void test_prefetch_fills_the_cache_and_can_be_cancelled(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "pf", 8, 24 * BLOCK), 0);
    aug_config_t cfg;
    cache_config(&cfg, 64 * BLOCK, 0);
    cfg.cache.readahead_max = 0; /* only the explicit prefetch fetches ahead */
    cache_t *c;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_open(&cfg, backend, &c, &err), 0);
    backend_manifest_t *m;
    CU_ASSERT_EQUAL_FATAL(cache_head(c, "data", "pf", &m, &err), 0);
    uint64_t id = cache_prefetch(c, m, 0, 8 * BLOCK, 5);
    CU_ASSERT(id != 0);
    cache_stats_t st;
    for (int i = 0; i < 500; i++) { /* bounded wait for the background fetches */
        cache_get_stats(c, &st);
        if (st.prefetch_issued >= 8) break;
        usleep(10000);
    }
    CU_ASSERT_EQUAL(st.prefetch_issued, 8);
    uint64_t before = st.backend_reads;
    test_sink_t sink = {.seed = 8};
    CU_ASSERT_EQUAL(cache_read(c, m, 0, 8 * BLOCK, test_sink_check, &sink, &err), 0);
    CU_ASSERT_EQUAL(sink.mismatches, 0);
    cache_get_stats(c, &st);
    CU_ASSERT(st.prefetch_used >= 8);
    CU_ASSERT_EQUAL(st.backend_reads, before); /* every block read was prefetched */
    uint64_t id2 = cache_prefetch(c, m, 16 * BLOCK, 8 * BLOCK, 0);
    cache_prefetch_cancel(c, id2);
    backend_manifest_free(m);
    cache_close(c);
}

static void test_writes_through_the_cache_are_seen_at_once(void)
{
    cache_t *c = open_cache(64 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "rw", 9, 3 * BLOCK), 0);
    CU_ASSERT(read_check(c, "rw", 9, 3 * BLOCK));
    cache_writer_t *w;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_writer_open(c, "data", "rw", NULL, &w, &err), 0);
    uint8_t buf[1000];
    test_fill(buf, sizeof(buf), 10, 0);
    CU_ASSERT_EQUAL(cache_writer_write(w, buf, sizeof(buf), &err), 0);
    CU_ASSERT_EQUAL(cache_writer_commit(w, NULL, &err), 0);
    CU_ASSERT(read_check(c, "rw", 10, 1000));
    CU_ASSERT_EQUAL(cache_delete(c, "data", "rw", &err), 0);
    backend_manifest_t *m;
    CU_ASSERT_EQUAL(cache_head(c, "data", "rw", &m, &err), AUG_ENOENT);
    cache_close(c);
}

typedef struct pending_writer {
    cache_t *c;
    cache_pending_t reg;
} pending_writer_t;

/* Commit "pending" after a pause, then end its registration (as the mount's uploader does). */
static void *commit_later(void *arg)
{
    pending_writer_t *pw = arg;
    usleep(200 * 1000);
    cache_writer_t *w;
    aug_err_t err;
    uint8_t buf[500];
    test_fill(buf, sizeof(buf), 11, 0);
    if (cache_writer_open(pw->c, "data", "pending", NULL, &w, &err) == 0 &&
        cache_writer_write(w, buf, sizeof(buf), &err) == 0)
        cache_writer_commit(w, NULL, &err);
    cache_pending_end(pw->c, pw->reg);
    return NULL;
}

static void test_reads_wait_for_a_pending_write_of_their_key(void)
{
    cache_t *c = open_cache(64 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    pending_writer_t pw = {.c = c, .reg = cache_pending_begin(c, "data", "pending")};
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, commit_later, &pw), 0);
    /* waits for the commit: the key is there, with the new bytes */
    CU_ASSERT_EQUAL(cache_pending_wait(c, "data", "pending"), 0);
    CU_ASSERT(read_check(c, "pending", 11, 500));
    pthread_join(t, NULL);
    /* nothing pending: no wait, for the key or the bucket */
    CU_ASSERT_EQUAL(cache_pending_wait(c, "data", "pending"), 0);
    CU_ASSERT_EQUAL(cache_pending_wait(c, "data", NULL), 0);
    cache_close(c);
}

static void test_a_pending_write_that_never_ends_is_waited_for_a_bounded_time(void)
{
    cache_t *c = open_cache(64 * BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    cache_pending_t reg = cache_pending_begin(c, "data", "stuck");
    int64_t t0 = aug_now_ns();
    CU_ASSERT_EQUAL(cache_pending_wait(c, "data", NULL), AUG_EAGAIN); /* the bucket's listing */
    int64_t waited_ms = (aug_now_ns() - t0) / 1000000;
    CU_ASSERT(waited_ms >= CACHE_PENDING_WAIT_MS - 50 && waited_ms < CACHE_PENDING_WAIT_MS + 2000);
    cache_pending_end(c, reg);
    CU_ASSERT_EQUAL(cache_pending_wait(c, "data", "stuck"), 0);
    cache_close(c);
}

static void test_reconfigure_shrinks_the_tiers_at_once(void)
{
    CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", "shrink", 11, 40 * BLOCK), 0);
    aug_config_t cfg;
    cache_config(&cfg, 40 * BLOCK, 40 * BLOCK);
    cfg.cache.readahead_max = 0;
    cache_t *c;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_open(&cfg, backend, &c, &err), 0);
    CU_ASSERT(read_check(c, "shrink", 11, 40 * BLOCK));
    cfg.cache.ram_size = 20 * BLOCK;
    cfg.cache.ssd_size = 20 * BLOCK;
    snprintf(cfg.cache.ram_policy, sizeof(cfg.cache.ram_policy), "lru");
    CU_ASSERT_EQUAL(cache_reconfigure(c, &cfg, &err), 0);
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT(st.ram.used_bytes <= 20 * BLOCK && st.ram.blocks > 0);
    CU_ASSERT(st.ssd.used_bytes <= 20 * BLOCK && st.ssd.blocks > 0);
    CU_ASSERT_EQUAL(st.ram.capacity_bytes, 20 * BLOCK);
    /* what is left is still served correctly */
    CU_ASSERT(read_check(c, "shrink", 11, 40 * BLOCK));
    cache_close(c);
}

/* Seconds since t0 (monotonic). */
static double since(int64_t t0)
{
    return (double)(aug_mono_ns() - t0) / 1e9;
}

static void test_predictor_prefetches_within_its_budgets(void)
{
    enum { OBJECTS = 24, LAPS = 6 };
    char key[32];
    for (int i = 0; i < OBJECTS; i++) {
        snprintf(key, sizeof(key), "seq%02d", i);
        CU_ASSERT_EQUAL_FATAL(test_put(backend, "data", key, 100 + (uint64_t)i, BLOCK), 0);
    }
    aug_config_t cfg;
    cache_config(&cfg, 10 * BLOCK, 0);
    snprintf(cfg.cache.ram_policy, sizeof(cfg.cache.ram_policy), "learned");
    cfg.cache.readahead_max = 0;           /* only the predictor fetches ahead */
    cfg.cache.prefetch_rate = 20 * BLOCK;  /* bytes per second */
    cfg.cache.prefetch_inflight = BLOCK;   /* one block at a time */
    cache_t *c;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_open(&cfg, backend, &c, &err), 0);
    int64_t t0 = aug_mono_ns();
    for (int lap = 0; lap < LAPS; lap++) {
        for (int i = 0; i < OBJECTS; i++) {
            snprintf(key, sizeof(key), "seq%02d", i);
            CU_ASSERT(read_check(c, key, 100 + (uint64_t)i, BLOCK));
            usleep(5000); /* a client's think time: lets guesses land before the next read */
        }
    }
    double secs = since(t0);
    usleep(200000);
    cache_stats_t st;
    cache_get_stats(c, &st);
    printf(" (%llu reads learned, %llu guesses, %llu prefetched, %llu used, %.2f s) ",
           (unsigned long long)st.predictor.observed, (unsigned long long)st.predictor.guesses,
           (unsigned long long)st.prefetch_issued, (unsigned long long)st.prefetch_used, secs);
    CU_ASSERT_EQUAL(st.predictor.enabled, 1);
    CU_ASSERT_STRING_EQUAL(st.predictor.model, "markov");
    CU_ASSERT_EQUAL(st.predictor.observed, OBJECTS * LAPS);
    CU_ASSERT(st.predictor.guesses > 0);
    CU_ASSERT(st.predictor.guess_prefetches > 0);
    CU_ASSERT(st.prefetch_used > 0);
    /* the rate budget: one second of burst plus rate x elapsed, never more */
    double allowed = (double)cfg.cache.prefetch_rate * (secs + 0.2 + 1.0);
    CU_ASSERT((double)st.prefetch_issued * BLOCK <= allowed);
    CU_ASSERT(st.ram.used_bytes <= 10 * BLOCK);
    /* SIGHUP turns prefetch off: the predictor keeps learning, no guess is fetched */
    snprintf(cfg.predictor.prefetch_tier, sizeof(cfg.predictor.prefetch_tier), "off");
    CU_ASSERT_EQUAL(cache_reconfigure(c, &cfg, &err), 0);
    uint64_t before = st.predictor.guess_prefetches;
    for (int i = 0; i < OBJECTS; i++) {
        snprintf(key, sizeof(key), "seq%02d", i);
        CU_ASSERT(read_check(c, key, 100 + (uint64_t)i, BLOCK));
        usleep(5000);
    }
    usleep(200000);
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.predictor.guess_prefetches, before);
    CU_ASSERT(st.predictor.observed > OBJECTS * LAPS);
    cache_close(c);
}

static void test_predictor_off_means_no_guesses(void)
{
    aug_config_t cfg;
    cache_config(&cfg, 10 * BLOCK, 0);
    snprintf(cfg.predictor.model, sizeof(cfg.predictor.model), "off");
    snprintf(cfg.cache.ram_policy, sizeof(cfg.cache.ram_policy), "learned");
    cache_t *c;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(cache_open(&cfg, backend, &c, &err), 0);
    CU_ASSERT(read_check(c, "seq00", 100, BLOCK));
    cache_stats_t st;
    cache_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.predictor.enabled, 0);
    cache_close(c);
}

int main(void)
{
    aug_log_set_level(AUG_LOG_ERROR);
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("cache", suite_init, suite_clean);
    CU_add_test(s, "second read is served from RAM", test_second_read_is_served_from_ram);
    CU_add_test(s, "RAM budget is never exceeded", test_ram_budget_is_never_exceeded);
    CU_add_test(s, "blocks evicted from RAM come back from SSD",
                test_blocks_evicted_from_ram_come_back_from_ssd);
    CU_add_test(s, "restart keeps the SSD tier warm", test_restart_keeps_the_ssd_tier_warm);
    CU_add_test(s, "corrupt SSD block is never served", test_corrupt_ssd_block_is_never_served);
    CU_add_test(s, "concurrent misses make one backend read per block",
                test_concurrent_misses_make_one_backend_read_per_block);
    CU_add_test(s, "sequential reader gets blocks read ahead",
                test_sequential_reader_gets_blocks_read_ahead);
    CU_add_test(s, "prefetch fills the cache and can be cancelled",
                test_prefetch_fills_the_cache_and_can_be_cancelled);
    CU_add_test(s, "writes through the cache are seen at once",
                test_writes_through_the_cache_are_seen_at_once);
    CU_add_test(s, "reads wait for a pending write of their key",
                test_reads_wait_for_a_pending_write_of_their_key);
    CU_add_test(s, "a pending write that never ends is waited for a bounded time",
                test_a_pending_write_that_never_ends_is_waited_for_a_bounded_time);
    CU_add_test(s, "reconfigure shrinks the tiers at once",
                test_reconfigure_shrinks_the_tiers_at_once);
    CU_add_test(s, "predictor prefetches within its budgets",
                test_predictor_prefetches_within_its_budgets);
    CU_add_test(s, "predictor off means no guesses", test_predictor_off_means_no_guesses);
    return test_run_all();
}
