/* test_crash.c - a writer killed at any point leaves a key holding one whole version (the
 * last acknowledged one or the one in flight), and concurrent writers and readers only ever
 * see whole versions, with the last written version winning. */
#include "testlib.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUCKET "crash"
#define KEY "one/key"
#define META_SEED "x-amz-meta-seed"

/* ---- versions: content, length and metadata all follow from a seed --------------------- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Length of version seed: 0..max bytes, one in five small enough to be inline. */
static uint64_t version_len(uint64_t seed, uint64_t max)
{
    uint64_t h = mix(seed);
    if (h % 5 == 0) return (h >> 8) % 3000;
    return (h >> 8) % (max + 1);
}

/* Put version seed of key with its seed in user metadata; *out gets the manifest. */
static int put_version(backend_t *b, const char *key, uint64_t seed, uint64_t max,
                       backend_manifest_t **out, aug_err_t *err)
{
    char v[32];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)seed);
    backend_kv_t meta = {META_SEED, v};
    backend_put_attrs_t a = {.n_meta = 1, .meta = &meta};
    test_source_t src = {.seed = seed, .len = version_len(seed, max), .chunk = 65536};
    return backend_put(b, BUCKET, key, &a, test_source_read, &src, out, err);
}

static void md5_hex(uint64_t seed, uint64_t len, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    uint8_t buf[65536];
    for (uint64_t pos = 0; pos < len;) {
        size_t n = len - pos < sizeof(buf) ? (size_t)(len - pos) : sizeof(buf);
        test_fill(buf, n, seed, pos);
        EVP_DigestUpdate(ctx, buf, n);
        pos += n;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    aug_hex(d, dl, out);
}

/* Check that m is a whole version: its seed, size, ETag and every byte agree. Returns 1 if
 * so and stores the seed; otherwise says why on stderr. */
static int version_whole(backend_t *b, const backend_manifest_t *m, uint64_t max,
                         uint64_t *seed_out)
{
    const char *sv = backend_manifest_meta(m, META_SEED);
    if (!sv) {
        fprintf(stderr, "version without a seed\n");
        return 0;
    }
    uint64_t seed = strtoull(sv, NULL, 10), len = version_len(seed, max);
    if (m->size != len) {
        fprintf(stderr, "seed %llu: size %llu, want %llu\n", (unsigned long long)seed,
                (unsigned long long)m->size, (unsigned long long)len);
        return 0;
    }
    test_sink_t sink = {.seed = seed};
    aug_err_t err;
    int rc = backend_read(b, m, 0, m->size, test_sink_check, &sink, &err);
    if (rc != 0 || sink.pos != len || sink.mismatches != 0) {
        fprintf(stderr, "seed %llu: read rc %d (%s), %llu of %llu bytes, %llu wrong\n",
                (unsigned long long)seed, rc, rc ? err.msg : "", (unsigned long long)sink.pos,
                (unsigned long long)len, (unsigned long long)sink.mismatches);
        return 0;
    }
    *seed_out = seed;
    return 1;
}

/* A deterministic PRNG (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* ---- killed writer --------------------------------------------------------------------- */

#define CRASH_ROUNDS 20
#define CRASH_MAX_LEN (3u << 20)
#define CRASH_VERSIONS_PER_ROUND 1000 /* far more than a round lasts */

/* The child: overwrite KEY with versions first, first+1, ... and report each acknowledged
 * one on fd. Never returns. */
static void writer_child(test_cluster_t *c, uint64_t first, int fd)
{
    backend_t *b = NULL;
    aug_err_t err;
    if (backend_open(&c->cfg, &b, &err) != 0) _exit(2);
    for (uint64_t s = first; s < first + CRASH_VERSIONS_PER_ROUND; s++) {
        if (put_version(b, KEY, s, CRASH_MAX_LEN, NULL, &err) != 0) {
            fprintf(stderr, "child: put %llu: %s\n", (unsigned long long)s, err.msg);
            _exit(3);
        }
        if (write(fd, &s, sizeof(s)) != (ssize_t)sizeof(s)) _exit(4);
    }
    _exit(0);
}

/* Seed of the current version of KEY after checking it is whole; 0 when the key is absent,
 * UINT64_MAX when it is broken. */
static uint64_t current_seed(backend_t *b, char vid[33])
{
    backend_manifest_t *m = NULL;
    aug_err_t err;
    int rc = backend_head(b, BUCKET, KEY, &m, &err);
    if (rc == AUG_ENOENT) return 0;
    if (rc != 0) {
        fprintf(stderr, "head: %s\n", err.msg);
        return UINT64_MAX;
    }
    uint64_t seed = UINT64_MAX;
    if (!version_whole(b, m, CRASH_MAX_LEN, &seed)) seed = UINT64_MAX;
    char etag[33];
    if (seed != UINT64_MAX) {
        md5_hex(seed, m->size, etag);
        if (strcmp(etag, m->etag) != 0) {
            fprintf(stderr, "seed %llu: etag %s, want %s\n", (unsigned long long)seed, m->etag,
                    etag);
            seed = UINT64_MAX;
        }
    }
    if (vid) backend_version_hex(m, vid);
    backend_manifest_free(m);
    return seed;
}

static void test_killed_writer_leaves_last_acknowledged_or_new_version_whole(void)
{
    test_cluster_t c;
    test_cluster_init(&c, "crash-kill", 6, 4, 2, 256 << 10, 4096);
    backend_t *b = test_backend_open(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    backend_close(b);
    uint64_t rng = 20240917, visible = 0; /* seed of the version readers see; 0: none */
    int advanced = 0, in_flight_seen = 0, acked_total = 0;
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int fds[2];
        CU_ASSERT_FATAL(pipe(fds) == 0);
        uint64_t first = (uint64_t)(round + 1) * 10000; /* seeds of a round sort after the last */
        fflush(NULL);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            writer_child(&c, first, fds[1]);
        }
        close(fds[1]);
        /* let it acknowledge 0-2 versions, then kill it somewhere in the next 0-80 ms */
        int want = (int)(rng_next(&rng) % 3);
        uint64_t acked = 0, s;
        for (int i = 0; i < want && read(fds[0], &s, sizeof(s)) == (ssize_t)sizeof(s); i++)
            acked = s;
        struct timespec ts = {0, (long)(rng_next(&rng) % 80) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(fds[0], &s, sizeof(s)) == (ssize_t)sizeof(s))
            acked = s;
        close(fds[0]);

        b = test_backend_open(&c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        char vid[33] = "";
        uint64_t now = current_seed(b, vid);
        /* the last acknowledged version, or the one being written (acked + 1, or this round's
         * first when none was acknowledged): whole, and never older than what was visible */
        uint64_t lo = acked ? acked : visible, in_flight = acked ? acked + 1 : first;
        int ok = now != UINT64_MAX && (now == lo || now == in_flight);
        if (!ok)
            fprintf(stderr, "round %d: visible seed %llu, want %llu or %llu\n", round,
                    (unsigned long long)now, (unsigned long long)lo, (unsigned long long)in_flight);
        CU_ASSERT(ok);
        if (now != visible) advanced++;
        if (now == in_flight) in_flight_seen++;
        if (acked) acked_total++;
        visible = now;
        /* heal finishes what the killed writer left half done */
        backend_heal_stats_t st;
        aug_err_t err;
        int rc = backend_heal(b, NULL, NULL, &st, &err);
        if (rc != 0) fprintf(stderr, "round %d: heal: %s\n", round, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(st.objects_unrecoverable, 0);
        char vid2[33] = "";
        CU_ASSERT_EQUAL(current_seed(b, vid2), now);
        CU_ASSERT_STRING_EQUAL(vid2, vid);
        backend_close(b);
        /* after heal every node agrees: any two nodes may go and the same version is seen */
        int a = (int)(rng_next(&rng) % 6), d = (a + 1 + (int)(rng_next(&rng) % 5)) % 6;
        test_node_down(&c, a);
        test_node_down(&c, d);
        b = test_backend_open(&c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        CU_ASSERT_EQUAL(current_seed(b, vid2), now);
        CU_ASSERT_STRING_EQUAL(vid2, vid);
        backend_close(b);
        test_node_up(&c, a);
        test_node_up(&c, d);
    }
    fprintf(stderr,
            "\n    %d rounds: %d with acknowledged puts, %d advanced the key, %d showed the "
            "version in flight at the kill\n",
            CRASH_ROUNDS, acked_total, advanced, in_flight_seen);
    CU_ASSERT(advanced > 0);
    test_cluster_destroy(&c);
}

/* ---- concurrent writers and readers ---------------------------------------------------- */

#define CONC_MAX_LEN (256u << 10)
#define WRITERS 4
#define PUTS_PER_WRITER 12
#define READERS 2

typedef struct conc {
    backend_t *handles[3];
    _Atomic int writers_left;
    _Atomic uint64_t reads, whole, broken, errors;
    /* every acknowledged put: its seed and written_ns */
    uint64_t seeds[WRITERS][PUTS_PER_WRITER];
    int64_t written[WRITERS][PUTS_PER_WRITER];
    _Atomic int put_failures;
    _Atomic uint64_t heals, heal_failures;
} conc_t;

typedef struct worker {
    conc_t *c;
    int id;
} worker_t;

static void *writer_thread(void *arg)
{
    worker_t *w = arg;
    conc_t *c = w->c;
    /* writers 0 and 1 share a handle; the others have their own */
    backend_t *b = c->handles[w->id < 2 ? 0 : w->id - 1];
    for (int i = 0; i < PUTS_PER_WRITER; i++) {
        uint64_t seed = (uint64_t)(w->id + 1) * 1000 + (uint64_t)i;
        backend_manifest_t *m = NULL;
        aug_err_t err;
        if (put_version(b, KEY, seed, CONC_MAX_LEN, &m, &err) != 0) {
            fprintf(stderr, "writer %d: put %llu: %s\n", w->id, (unsigned long long)seed, err.msg);
            atomic_fetch_add(&c->put_failures, 1);
            continue;
        }
        c->seeds[w->id][i] = seed;
        c->written[w->id][i] = m->written_ns;
        backend_manifest_free(m);
    }
    atomic_fetch_sub(&c->writers_left, 1);
    return NULL;
}

static void *reader_thread(void *arg)
{
    worker_t *w = arg;
    conc_t *c = w->c;
    backend_t *b = c->handles[w->id % 3];
    while (atomic_load(&c->writers_left) > 0) {
        backend_manifest_t *m = NULL;
        aug_err_t err;
        int rc = backend_head(b, BUCKET, KEY, &m, &err);
        if (rc == AUG_ENOENT) continue; /* before the first put */
        if (rc != 0) {
            fprintf(stderr, "reader %d: head: %s\n", w->id, err.msg);
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        uint64_t seed;
        atomic_fetch_add(&c->reads, 1);
        if (version_whole(b, m, CONC_MAX_LEN, &seed))
            atomic_fetch_add(&c->whole, 1);
        else
            atomic_fetch_add(&c->broken, 1);
        backend_manifest_free(m);
    }
    return NULL;
}

/* Heal over and over until the writers are done; every pass must succeed. */
static void *healer_thread(void *arg)
{
    conc_t *c = arg;
    while (atomic_load(&c->writers_left) > 0) {
        backend_heal_stats_t st;
        aug_err_t err;
        if (backend_heal(c->handles[2], NULL, NULL, &st, &err) != 0 ||
            st.objects_unrecoverable != 0) {
            fprintf(stderr, "heal: %s\n", err.msg);
            atomic_fetch_add(&c->heal_failures, 1);
        }
        atomic_fetch_add(&c->heals, 1);
    }
    return NULL;
}

/* Run WRITERS writers (and n_readers readers, and a healer if asked) against one key until
 * the writers are done. */
static void run_concurrent(test_cluster_t *cl, conc_t *c, int n_readers, int heal)
{
    for (int i = 0; i < 3; i++) {
        c->handles[i] = test_backend_open(cl);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c->handles[i]);
    }
    atomic_store(&c->writers_left, WRITERS);
    pthread_t wt[WRITERS], rt[READERS];
    worker_t ww[WRITERS], rw[READERS];
    for (int i = 0; i < n_readers; i++) {
        rw[i] = (worker_t){c, i};
        pthread_create(&rt[i], NULL, reader_thread, &rw[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        ww[i] = (worker_t){c, i};
        pthread_create(&wt[i], NULL, writer_thread, &ww[i]);
    }
    pthread_t ht;
    if (heal) pthread_create(&ht, NULL, healer_thread, c);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    for (int i = 0; i < n_readers; i++)
        pthread_join(rt[i], NULL);
    if (heal) pthread_join(ht, NULL);
}

static void close_handles(conc_t *c)
{
    for (int i = 0; i < 3; i++)
        backend_close(c->handles[i]);
}

static void test_concurrent_readers_see_only_whole_versions(void)
{
    test_cluster_t cl;
    test_cluster_init(&cl, "crash-readers", 6, 4, 2, 64 << 10, 4096);
    conc_t *c = calloc(1, sizeof(*c));
    backend_t *b = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    backend_close(b);
    run_concurrent(&cl, c, READERS, 0);
    CU_ASSERT_EQUAL(atomic_load(&c->put_failures), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->broken), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->errors), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->reads), atomic_load(&c->whole));
    close_handles(c);
    free(c);
    test_cluster_destroy(&cl);
}

static void test_concurrent_writers_leave_the_last_written_version(void)
{
    test_cluster_t cl;
    test_cluster_init(&cl, "crash-lww", 6, 4, 2, 64 << 10, 4096);
    conc_t *c = calloc(1, sizeof(*c));
    backend_t *b = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    backend_close(b);
    run_concurrent(&cl, c, 0, 0);
    CU_ASSERT_EQUAL_FATAL(atomic_load(&c->put_failures), 0);
    int64_t best = 0;
    uint64_t best_seed = 0;
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < PUTS_PER_WRITER; i++)
            if (c->written[w][i] > best) best = c->written[w][i], best_seed = c->seeds[w][i];
    close_handles(c);
    /* seen from a fresh handle, and again after heal */
    for (int pass = 0; pass < 2; pass++) {
        b = test_backend_open(&cl);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        backend_manifest_t *m = NULL;
        CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, KEY, &m, NULL), 0);
        uint64_t seed = 0;
        CU_ASSERT(version_whole(b, m, CONC_MAX_LEN, &seed));
        if (m->written_ns != best || seed != best_seed)
            fprintf(stderr,
                    "pass %d: current version %llu written at %lld; last written was %llu "
                    "at %lld\n",
                    pass, (unsigned long long)seed, (long long)m->written_ns,
                    (unsigned long long)best_seed, (long long)best);
        CU_ASSERT_EQUAL(m->written_ns, best);
        CU_ASSERT_EQUAL(seed, best_seed);
        backend_manifest_free(m);
        if (pass == 0) CU_ASSERT_EQUAL(backend_heal(b, NULL, NULL, NULL, NULL), 0);
        backend_close(b);
    }
    free(c);
    test_cluster_destroy(&cl);
}

static void test_heal_running_alongside_writers_and_readers_disturbs_nothing(void)
{
    test_cluster_t cl;
    test_cluster_init(&cl, "crash-heal", 6, 4, 2, 64 << 10, 4096);
    conc_t *c = calloc(1, sizeof(*c));
    backend_t *b = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    backend_close(b);
    run_concurrent(&cl, c, READERS, 1);
    CU_ASSERT_EQUAL(atomic_load(&c->put_failures), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->broken), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->errors), 0);
    CU_ASSERT_EQUAL(atomic_load(&c->heal_failures), 0);
    CU_ASSERT(atomic_load(&c->heals) > 0);
    int64_t best = 0;
    uint64_t best_seed = 0;
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < PUTS_PER_WRITER; i++)
            if (c->written[w][i] > best) best = c->written[w][i], best_seed = c->seeds[w][i];
    close_handles(c);
    b = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, KEY, &m, NULL), 0);
    uint64_t seed = 0;
    CU_ASSERT(version_whole(b, m, CONC_MAX_LEN, &seed));
    CU_ASSERT_EQUAL(m->written_ns, best);
    CU_ASSERT_EQUAL(seed, best_seed);
    backend_manifest_free(m);
    backend_close(b);
    free(c);
    test_cluster_destroy(&cl);
}

/* ---- an older put finishing last ------------------------------------------------------- */

/* A source that, on its first call, lets a whole other put of the same key happen: the
 * put it feeds started first (older written_ns) and finishes last. */
typedef struct racing_source {
    test_source_t s;
    backend_t *b;
    uint64_t other_seed, max;
    backend_manifest_t *other;
    int other_rc;
} racing_source_t;

static ssize_t racing_source_read(void *arg, void *buf, size_t len)
{
    racing_source_t *r = arg;
    if (!r->other && r->other_rc == 0)
        r->other_rc = put_version(r->b, KEY, r->other_seed, r->max, &r->other, NULL);
    return test_source_read(&r->s, buf, len);
}

/* Seeds whose versions are inline (< 3000 bytes) or striped (> 4096) with max 256 KiB. */
static uint64_t seed_of_kind(int striped, uint64_t from)
{
    for (uint64_t s = from;; s++) {
        uint64_t len = version_len(s, CONC_MAX_LEN);
        if (striped ? len > 8192 : len < 3000) return s;
    }
}

static void test_put_that_started_first_cannot_roll_back_a_newer_version(void)
{
    test_cluster_t cl;
    test_cluster_init(&cl, "crash-older", 6, 4, 2, 64 << 10, 4096);
    backend_t *b = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    for (int kind = 0; kind < 4; kind++) {
        /* older put inline or striped, newer put inline or striped */
        uint64_t older = seed_of_kind(kind & 1, 100 * (uint64_t)kind + 1);
        uint64_t newer = seed_of_kind(kind >> 1, 100 * (uint64_t)kind + 50);
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)older);
        backend_kv_t meta = {META_SEED, v};
        backend_put_attrs_t a = {.n_meta = 1, .meta = &meta};
        racing_source_t src = {
            .s = {.seed = older, .len = version_len(older, CONC_MAX_LEN), .chunk = 65536},
            .b = b,
            .other_seed = newer,
            .max = CONC_MAX_LEN};
        backend_manifest_t *m_old = NULL, *cur = NULL;
        CU_ASSERT_EQUAL_FATAL(
            backend_put(b, BUCKET, KEY, &a, racing_source_read, &src, &m_old, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(src.other_rc, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(src.other);
        const backend_manifest_t *last =
            m_old->written_ns > src.other->written_ns ? m_old : src.other;
        CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, KEY, &cur, NULL), 0);
        uint64_t seed = 0;
        CU_ASSERT(version_whole(b, cur, CONC_MAX_LEN, &seed));
        if (cur->written_ns != last->written_ns)
            fprintf(stderr,
                    "kind %d: current version %llu written at %lld, but %s was written "
                    "at %lld\n",
                    kind, (unsigned long long)seed, (long long)cur->written_ns,
                    backend_manifest_meta(last, META_SEED), (long long)last->written_ns);
        CU_ASSERT_EQUAL(cur->written_ns, last->written_ns);
        CU_ASSERT_STRING_EQUAL(backend_manifest_meta(cur, META_SEED),
                               backend_manifest_meta(last, META_SEED));
        backend_manifest_free(cur);
        backend_manifest_free(m_old);
        backend_manifest_free(src.other);
    }
    backend_close(b);
    test_cluster_destroy(&cl);
}

int main(void)
{
    aug_log_set_level(AUG_LOG_ERROR); /* killed writers and racing repairs are expected */
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("backend crashes and concurrency", NULL, NULL);
    CU_add_test(s, "killed writer leaves last acknowledged or new version whole",
                test_killed_writer_leaves_last_acknowledged_or_new_version_whole);
    CU_add_test(s, "concurrent readers see only whole versions",
                test_concurrent_readers_see_only_whole_versions);
    CU_add_test(s, "heal running alongside writers and readers disturbs nothing",
                test_heal_running_alongside_writers_and_readers_disturbs_nothing);
    CU_add_test(s, "put that started first cannot roll back a newer version",
                test_put_that_started_first_cannot_roll_back_a_newer_version);
    CU_add_test(s, "concurrent writers leave the last written version",
                test_concurrent_writers_leave_the_last_written_version);
    return test_run_all();
}
