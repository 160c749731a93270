/* bench_backend.c - throughput and memory of the erasure-coded backend against plain files.
 *
 * Measured in one run, on one disk (everything lives under $AUGUR_BENCH_DIR, default
 * /tmp/augur-bench, in a private subdirectory removed at the end):
 *   1. PUT and GET MiB/s of 1 MiB and 256 MiB objects, k=4 m=2 over 6 dir nodes, stripe
 *      1 MiB, beside plain files (write + fsync + close; read) of the same sizes and counts
 *      in the same directory tree, as ratios augur/plain. Reads are measured warm (both from
 *      the page cache) and, when /proc/sys/vm/drop_caches is writable, cold (caches dropped
 *      before each side). Each figure is the median of REPS runs.
 *   2. ISA-L encode MiB/s (data bytes) for 4+2 with 256 KiB shards, called directly; CRC32C
 *      and MD5, the other per-byte work of a put, beside it for context.
 *   3. Peak RSS of a 1 GiB put and of a 1 GiB get, each in its own forked child (wait4).
 *   4. Listing 10,000 keys, in pages of 1,000 and of 10,000, beside readdir + stat of a plain
 *      directory of 10,000 files (for information: no target).
 * Targets printed as PASS/FAIL: 256 MiB PUT >= 0.5x plain write, GET >= 0.8x plain read,
 * peak RSS < 64 MiB for the 1 GiB put and get. The exit status is 0 whatever the targets
 * say (the bench reports, it does not gate); it is 1 only when the bench itself fails. */
#include "backend/backend.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <isa-l/crc.h>
#include <isa-l/erasure_code.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024.0 * 1024.0)
#define REPS 3
#define K 4
#define M 2
#define N_NODES 6
#define STRIPE (1u << 20)
#define IO_CHUNK (1u << 20) /* plain read/write call size and source/sink piece size */
/* The byte stream: byte i of stream seed is pat[(i + seed) % PAT_LEN]. PAT_LEN is not a
 * multiple of anything the backend uses, so shards and stripes all differ. */
#define PAT_LEN ((1u << 20) + 4093u)

#define SMALL_SIZE (1ull << 20)
#define SMALL_COUNT 64
#define LARGE_SIZE (256ull << 20)
#define LARGE_COUNT 3
#define RSS_SIZE (1ull << 30)
#define RSS_LIMIT_KIB (64 * 1024L)

static const char *BUCKET = "bench";

static uint8_t *g_pat;      /* PAT_LEN + IO_CHUNK bytes: any IO_CHUNK run is contiguous */
static uint8_t *g_iobuf;    /* IO_CHUNK bytes for plain reads */
static char g_work[PATH_MAX - 512]; /* private working directory, removed at the end */
static int g_child;

/* ---- small helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
    if (g_work[0]) {
        remove_tree(g_work);
        g_work[0] = '\0';
    }
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_backend: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (g_child) _exit(1);
    cleanup();
    exit(1);
}

static void mkdir_or_die(const char *p)
{
    if (mkdir(p, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", p, strerror(errno));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[16];
    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int g_can_drop = -1;

/* sync, then drop the page cache; returns 0 when it worked. */
static int drop_caches(void)
{
    sync();
    if (g_can_drop == 0) return -1;
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write(fd, "3\n", 2) == 2;
    if (fd >= 0) close(fd);
    g_can_drop = ok;
    return ok ? 0 : -1;
}

/* The first three fields of /proc/loadavg: other work on the machine skews every figure. */
static void read_loadavg(char *out, size_t len)
{
    snprintf(out, len, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static long self_maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- byte streams -------------------------------------------------------------------------- */

static void pattern_init(void)
{
    /* Page-aligned: the kernel's copy to a user buffer that is not page-aligned can be
     * several times slower (measured 6x on AMD EPYC), which would handicap plain reads. */
    if (posix_memalign((void **)&g_pat, 4096, (size_t)PAT_LEN + IO_CHUNK) != 0 ||
        posix_memalign((void **)&g_iobuf, 4096, IO_CHUNK) != 0)
        die("out of memory");
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < PAT_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g_pat[i] = (uint8_t)(x >> 24);
    }
    memcpy(g_pat + PAT_LEN, g_pat, IO_CHUNK);
}

static const uint8_t *stream_at(uint64_t seed, uint64_t pos)
{
    return g_pat + (pos + seed) % PAT_LEN;
}

typedef struct src {
    uint64_t seed, len, pos;
} src_t;

static ssize_t src_read(void *arg, void *buf, size_t len)
{
    src_t *s = arg;
    uint64_t left = s->len - s->pos;
    size_t n = len < left ? len : (size_t)left;
    size_t done = 0;
    while (done < n) {
        size_t piece = n - done < IO_CHUNK ? n - done : IO_CHUNK;
        memcpy((uint8_t *)buf + done, stream_at(s->seed, s->pos), piece);
        s->pos += piece;
        done += piece;
    }
    return (ssize_t)n;
}

typedef struct sink {
    uint64_t seed, pos;
    int verify;
    uint64_t bad;
} sink_t;

static int sink_write(void *arg, const void *buf, size_t len)
{
    sink_t *s = arg;
    if (s->verify) {
        size_t done = 0;
        while (done < len) {
            size_t piece = len - done < IO_CHUNK ? len - done : IO_CHUNK;
            if (memcmp((const uint8_t *)buf + done, stream_at(s->seed, s->pos + done), piece))
                s->bad++;
            done += piece;
        }
    }
    s->pos += len;
    return 0;
}

/* ---- plain files ----------------------------------------------------------------------------- */

static void plain_path(char *out, size_t len, const char *tag, int i)
{
    snprintf(out, len, "%s/plain/%s-%03d", g_work, tag, i);
}

static void plain_put(const char *tag, int i, uint64_t size, uint64_t seed)
{
    char p[PATH_MAX];
    plain_path(p, sizeof(p), tag, i);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    for (uint64_t pos = 0; pos < size;) {
        size_t n = size - pos < IO_CHUNK ? (size_t)(size - pos) : IO_CHUNK;
        ssize_t w = write(fd, stream_at(seed, pos), n);
        if (w <= 0) die("write %s: %s", p, strerror(errno));
        pos += (uint64_t)w;
    }
    if (fsync(fd) != 0) die("fsync %s: %s", p, strerror(errno));
    if (close(fd) != 0) die("close %s: %s", p, strerror(errno));
}

static void plain_get(const char *tag, int i, uint64_t size, uint64_t seed, int verify)
{
    char p[PATH_MAX];
    plain_path(p, sizeof(p), tag, i);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    uint64_t pos = 0;
    for (;;) {
        ssize_t r = read(fd, g_iobuf, IO_CHUNK);
        if (r < 0) die("read %s: %s", p, strerror(errno));
        if (r == 0) break;
        if (verify && memcmp(g_iobuf, stream_at(seed, pos), (size_t)r) != 0)
            die("plain file %s has wrong bytes", p);
        pos += (uint64_t)r;
    }
    close(fd);
    if (pos != size) die("plain file %s: read %llu bytes, wanted %llu", p,
                         (unsigned long long)pos, (unsigned long long)size);
}

/* ---- the backend ------------------------------------------------------------------------------ */

/* A fresh set of N_NODES empty node directories under g_work/name and a backend over them. */
static backend_t *cluster_open(const char *name)
{
    char dir[PATH_MAX - 256];
    snprintf(dir, sizeof(dir), "%s/%s", g_work, name);
    remove_tree(dir);
    mkdir_or_die(dir);
    aug_config_t cfg;
    aug_config_defaults(&cfg);
    cfg.backend.data_shards = K;
    cfg.backend.parity_shards = M;
    cfg.backend.write_quorum = K + 1;
    cfg.backend.n_nodes = N_NODES;
    cfg.backend.stripe_size = STRIPE;
    cfg.backend.inline_max = 32 << 10;
    for (int i = 0; i < N_NODES; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/n%d", dir, i);
        mkdir_or_die(p);
        snprintf(cfg.backend.nodes[i], sizeof(cfg.backend.nodes[i]), "dir:%s", p);
    }
    backend_t *b;
    aug_err_t err;
    if (backend_open(&cfg, &b, &err) != 0) die("backend_open: %s", err.msg);
    if (backend_bucket_create(b, BUCKET, &err) != 0) die("bucket create: %s", err.msg);
    return b;
}

static void obj_key(char *out, size_t len, const char *tag, int i)
{
    snprintf(out, len, "%s-%03d", tag, i);
}

static void augur_put(backend_t *b, const char *tag, int i, uint64_t size, uint64_t seed)
{
    char key[64];
    obj_key(key, sizeof(key), tag, i);
    src_t s = {.seed = seed, .len = size};
    aug_err_t err;
    if (backend_put(b, BUCKET, key, NULL, src_read, &s, NULL, &err) != 0)
        die("put %s: %s", key, err.msg);
}

/* GET as a client sees it: look the key up, then stream its bytes. */
static void augur_get(backend_t *b, const char *tag, int i, uint64_t size, uint64_t seed,
                      int verify)
{
    char key[64];
    obj_key(key, sizeof(key), tag, i);
    backend_manifest_t *m;
    aug_err_t err;
    if (backend_head(b, BUCKET, key, &m, &err) != 0) die("head %s: %s", key, err.msg);
    if (m->size != size) die("head %s: size %llu, wanted %llu", key,
                             (unsigned long long)m->size, (unsigned long long)size);
    sink_t s = {.seed = seed, .verify = verify};
    if (backend_read(b, m, 0, m->size, sink_write, &s, &err) != 0)
        die("read %s: %s", key, err.msg);
    if (s.pos != size || s.bad) die("read %s: %llu bytes, %llu bad pieces", key,
                                    (unsigned long long)s.pos, (unsigned long long)s.bad);
    backend_manifest_free(m);
}

/* ---- throughput ------------------------------------------------------------------------------ */

typedef struct workload {
    const char *tag, *label;
    uint64_t size;
    int count;
    /* medians, MiB/s */
    double put_plain, put_augur, warm_plain, warm_augur, cold_plain, cold_augur;
    double put_plain_min, put_plain_max, put_augur_min, put_augur_max; /* PUT run spread */
} workload_t;

static uint64_t seed_of(const workload_t *w, int i)
{
    return w->size * 7919u + (uint64_t)i * 104729u;
}

enum { OP_PLAIN_PUT, OP_AUGUR_PUT, OP_PLAIN_GET, OP_AUGUR_GET };

/* Run one op over every object of w; returns MiB/s of user data. */
static double run_op(backend_t *b, const workload_t *w, int op, int verify)
{
    double t0 = now_s();
    for (int i = 0; i < w->count; i++) {
        uint64_t seed = seed_of(w, i);
        switch (op) {
        case OP_PLAIN_PUT: plain_put(w->tag, i, w->size, seed); break;
        case OP_AUGUR_PUT: augur_put(b, w->tag, i, w->size, seed); break;
        case OP_PLAIN_GET: plain_get(w->tag, i, w->size, seed, verify); break;
        default: augur_get(b, w->tag, i, w->size, seed, verify); break;
        }
    }
    double dt = now_s() - t0;
    return (double)w->size * w->count / MiB / dt;
}

static void plain_reset(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/plain", g_work);
    remove_tree(p);
    mkdir_or_die(p);
}

static void bench_throughput(workload_t *ws, int n_ws)
{
    double pp[4][REPS], pa[4][REPS], wp[4][REPS], wa[4][REPS], cp[4][REPS], ca[4][REPS];
    backend_t *b = NULL;
    /* PUT: every run starts from empty node directories and an empty plain directory, with
     * nothing dirty in the page cache; plain and augur alternate so drift hits both. */
    for (int r = 0; r < REPS; r++) {
        if (b) backend_close(b);
        plain_reset();
        b = cluster_open("nodes");
        for (int j = 0; j < n_ws; j++) {
            for (int side = 0; side < 2; side++) { /* odd runs put augur first */
                sync();
                if ((side ^ (r & 1)) == 0) pp[j][r] = run_op(b, &ws[j], OP_PLAIN_PUT, 0);
                else pa[j][r] = run_op(b, &ws[j], OP_AUGUR_PUT, 0);
            }
            fprintf(stderr, "  put run %d %-8s plain %8.1f  augur %8.1f MiB/s\n", r + 1,
                    ws[j].label, pp[j][r], pa[j][r]);
        }
    }
    /* The last run's objects stay for the reads. Check every byte once (untimed); this also
     * makes the warm runs start from a fully cached state for both sides. */
    for (int j = 0; j < n_ws; j++) {
        run_op(b, &ws[j], OP_PLAIN_GET, 1);
        run_op(b, &ws[j], OP_AUGUR_GET, 1);
    }
    for (int r = 0; r < REPS; r++) {
        for (int j = 0; j < n_ws; j++) {
            wp[j][r] = run_op(b, &ws[j], OP_PLAIN_GET, 0);
            wa[j][r] = run_op(b, &ws[j], OP_AUGUR_GET, 0);
            fprintf(stderr, "  warm get run %d %-8s plain %8.1f  augur %8.1f MiB/s\n", r + 1,
                    ws[j].label, wp[j][r], wa[j][r]);
        }
    }
    int can_drop = drop_caches() == 0;
    for (int r = 0; r < REPS && can_drop; r++) {
        for (int j = 0; j < n_ws; j++) {
            drop_caches();
            cp[j][r] = run_op(b, &ws[j], OP_PLAIN_GET, 0);
            drop_caches();
            ca[j][r] = run_op(b, &ws[j], OP_AUGUR_GET, 0);
            fprintf(stderr, "  cold get run %d %-8s plain %8.1f  augur %8.1f MiB/s\n", r + 1,
                    ws[j].label, cp[j][r], ca[j][r]);
        }
    }
    backend_close(b);
    for (int j = 0; j < n_ws; j++) {
        workload_t *w = &ws[j];
        w->put_plain = median(pp[j], REPS);
        w->put_augur = median(pa[j], REPS);
        w->put_augur_min = w->put_augur_max = pa[j][0];
        w->put_plain_min = w->put_plain_max = pp[j][0];
        for (int r = 1; r < REPS; r++) {
            if (pp[j][r] < w->put_plain_min) w->put_plain_min = pp[j][r];
            if (pp[j][r] > w->put_plain_max) w->put_plain_max = pp[j][r];
            if (pa[j][r] < w->put_augur_min) w->put_augur_min = pa[j][r];
            if (pa[j][r] > w->put_augur_max) w->put_augur_max = pa[j][r];
        }
        w->warm_plain = median(wp[j], REPS);
        w->warm_augur = median(wa[j], REPS);
        w->cold_plain = g_can_drop == 1 ? median(cp[j], REPS) : 0;
        w->cold_augur = g_can_drop == 1 ? median(ca[j], REPS) : 0;
    }
}

/* ---- CPU kernels ------------------------------------------------------------------------------ */

typedef struct kernels {
    double ec, crc, md5; /* MiB/s, medians */
} kernels_t;

#define EC_SHARD (256u << 10)
#define KERNEL_SECONDS 0.3

static void bench_kernels(kernels_t *out)
{
    uint8_t *buf[K + M];
    for (int i = 0; i < K + M; i++) {
        if (posix_memalign((void **)&buf[i], 64, EC_SHARD) != 0) die("out of memory");
        memcpy(buf[i], g_pat + (size_t)i * 4099, EC_SHARD);
    }
    uint8_t matrix[(K + M) * K], tables[32 * K * M];
    gf_gen_cauchy1_matrix(matrix, K + M, K);
    ec_init_tables(K, M, matrix + K * K, tables);
    double ec[REPS], crc[REPS], md5[REPS];
    volatile uint32_t sinkv = 0;
    for (int r = 0; r < REPS; r++) {
        long it = 0;
        double t0 = now_s(), t;
        do {
            for (int j = 0; j < 16; j++, it++) ec_encode_data(EC_SHARD, K, M, tables, buf, buf + K);
        } while ((t = now_s() - t0) < KERNEL_SECONDS);
        ec[r] = (double)it * K * EC_SHARD / MiB / t;

        it = 0;
        t0 = now_s();
        do {
            for (int j = 0; j < 16; j++, it++) sinkv ^= crc32_iscsi(buf[j % K], EC_SHARD, 0);
        } while ((t = now_s() - t0) < KERNEL_SECONDS);
        crc[r] = (double)it * EC_SHARD / MiB / t;

        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) die("no MD5");
        it = 0;
        t0 = now_s();
        do {
            for (int j = 0; j < 4; j++, it++) EVP_DigestUpdate(ctx, buf[j % K], EC_SHARD);
        } while ((t = now_s() - t0) < KERNEL_SECONDS);
        md5[r] = (double)it * EC_SHARD / MiB / t;
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl;
        EVP_DigestFinal_ex(ctx, d, &dl);
        EVP_MD_CTX_free(ctx);
    }
    (void)sinkv;
    out->ec = median(ec, REPS);
    out->crc = median(crc, REPS);
    out->md5 = median(md5, REPS);
    for (int i = 0; i < K + M; i++) free(buf[i]);
}

/* ---- peak RSS ----------------------------------------------------------------------------------- */

typedef struct rss_result {
    long kib;    /* child's ru_maxrss */
    double mibs; /* throughput of the 1 GiB op, for context */
} rss_result_t;

enum { RSS_IDLE, RSS_PUT, RSS_GET };

/* Fork a child that opens the backend over g_work/rss and does one thing; the parent reads
 * the child's own peak RSS from wait4. */
static rss_result_t rss_child(int what)
{
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        g_child = 1;
        backend_t *b;
        aug_config_t cfg;
        aug_err_t err;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/rss", g_work);
        aug_config_defaults(&cfg);
        cfg.backend.data_shards = K;
        cfg.backend.parity_shards = M;
        cfg.backend.write_quorum = K + 1;
        cfg.backend.n_nodes = N_NODES;
        cfg.backend.stripe_size = STRIPE;
        for (int i = 0; i < N_NODES; i++)
            snprintf(cfg.backend.nodes[i], sizeof(cfg.backend.nodes[i]), "dir:%s/n%d", dir, i);
        if (backend_open(&cfg, &b, &err) != 0) die("backend_open: %s", err.msg);
        if (what == RSS_PUT) augur_put(b, "rss", 0, RSS_SIZE, 42);
        if (what == RSS_GET) augur_get(b, "rss", 0, RSS_SIZE, 42, 1);
        backend_close(b);
        _exit(0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) die("wait4: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("RSS child %d failed", what);
    double dt = now_s() - t0;
    return (rss_result_t){.kib = ru.ru_maxrss, .mibs = (double)RSS_SIZE / MiB / dt};
}

static void bench_rss(rss_result_t *idle, rss_result_t *put, rss_result_t *get)
{
    backend_t *b = cluster_open("rss"); /* fresh nodes and the bucket, then let go */
    backend_close(b);
    *idle = rss_child(RSS_IDLE);
    sync();
    *put = rss_child(RSS_PUT);
    *get = rss_child(RSS_GET);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/rss", g_work);
    remove_tree(dir);
}

/* ---- listing ------------------------------------------------------------------------------- */

#define LIST_KEYS 10000

typedef struct list_result {
    double plain;                /* entries/s: readdir + stat of a plain directory */
    double augur_s3, augur_page; /* keys/s: pages of 1,000 (S3's default) and of 10,000 */
} list_result_t;

static double plain_list_once(const char *dir)
{
    double t0 = now_s();
    DIR *d = opendir(dir);
    if (!d) die("opendir %s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *de;
    struct stat st;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            die("stat %s: %s", de->d_name, strerror(errno));
        n++;
    }
    closedir(d);
    if (n != LIST_KEYS) die("plain listing found %d files, wanted %d", n, LIST_KEYS);
    return n / (now_s() - t0);
}

/* Every key of the bucket, page by page: keys/s. */
static double augur_list_once(backend_t *b, size_t page)
{
    double t0 = now_s();
    char *marker = NULL;
    size_t n = 0;
    for (;;) {
        backend_list_opts_t o = {.start_after = marker, .max_keys = page};
        backend_list_result_t *r;
        aug_err_t err;
        if (backend_list(b, BUCKET, &o, &r, &err) != 0) die("list: %s", err.msg);
        n += r->n_objects;
        free(marker);
        marker = r->truncated ? strdup(r->next_marker) : NULL;
        backend_list_free(r);
        if (!marker) break;
    }
    if (n != LIST_KEYS) die("augur listing found %zu keys, wanted %d", n, LIST_KEYS);
    return n / (now_s() - t0);
}

/* 10,000 small objects against 10,000 small files; each side listed REPS times, warm. */
static void bench_listing(list_result_t *out)
{
    backend_t *b = cluster_open("list");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/list/plain", g_work);
    mkdir_or_die(dir);
    for (int i = 0; i < LIST_KEYS; i++) {
        augur_put(b, "k", i, 100, (uint64_t)i);
        char p[PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s/k-%05d", dir, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, g_pat, 100) != 100 || close(fd) != 0)
            die("plain file %s: %s", p, strerror(errno));
    }
    double plain[REPS], s3[REPS], page[REPS];
    for (int r = 0; r < REPS; r++) {
        plain[r] = plain_list_once(dir);
        s3[r] = augur_list_once(b, 1000);
        page[r] = augur_list_once(b, LIST_KEYS);
    }
    out->plain = median(plain, REPS);
    out->augur_s3 = median(s3, REPS);
    out->augur_page = median(page, REPS);
    backend_close(b);
    snprintf(dir, sizeof(dir), "%s/list", g_work);
    remove_tree(dir);
}

/* ---- report -------------------------------------------------------------------------------- */

static const char *verdict(int ok)
{
    return ok ? "PASS" : "FAIL";
}

static void row(const char *op, const workload_t *w, double plain, double augur, const char *note)
{
    printf("%-10s %-8s %5d %12.1f %12.1f %8.2fx  %s\n", op, w->label, w->count, plain, augur,
           plain > 0 ? augur / plain : 0.0, note);
}

int main(void)
{
    double t_start = now_s();
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *root = getenv("AUGUR_BENCH_DIR");
    if (!root || !*root) root = "/tmp/augur-bench";
    char rootcopy[PATH_MAX];
    snprintf(rootcopy, sizeof(rootcopy), "%s", root);
    for (char *p = rootcopy + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = '\0';
            mkdir(rootcopy, 0755);
            *p = '/';
        }
    mkdir_or_die(rootcopy);
    if (strlen(root) > sizeof(g_work) - 64) die("AUGUR_BENCH_DIR is too long");
    /* a fixed name, so what an interrupted run left behind is removed by the next one */
    snprintf(g_work, sizeof(g_work), "%s/bench_backend.tmp", root);
    remove_tree(g_work);
    mkdir_or_die(g_work);

    pattern_init();
    char load_start[128];
    read_loadavg(load_start, sizeof(load_start));

    /* RSS first, while this process is still small (a child starts with the parent's pages). */
    long parent_kib = self_maxrss_kib();
    rss_result_t idle, rput, rget;
    bench_rss(&idle, &rput, &rget);

    kernels_t kr;
    bench_kernels(&kr);

    workload_t ws[2] = {
        {.tag = "s", .label = "1 MiB", .size = SMALL_SIZE, .count = SMALL_COUNT},
        {.tag = "l", .label = "256 MiB", .size = LARGE_SIZE, .count = LARGE_COUNT},
    };
    bench_throughput(ws, 2);
    list_result_t lr;
    bench_listing(&lr);

    workload_t *L = &ws[1];
    printf("\n");
    printf("augur backend bench: k=%d m=%d over %d dir nodes, stripe %u KiB, write quorum %d\n",
           K, M, N_NODES, STRIPE >> 10, K + 1);
    char load_end[128];
    read_loadavg(load_end, sizeof(load_end));
    printf("disk: %s (nodes and plain files on the same filesystem)\n", g_work);
    printf("load average at start %s, at end %s (%ld CPUs online)\n", load_start, load_end,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("each figure is the median of %d runs; MiB/s of object bytes\n", REPS);
    printf("plain PUT = write(1 MiB pieces) + fsync + close per file; plain GET = read(1 MiB, page-aligned buffer)\n");
    printf("augur GET = backend_head + backend_read of the whole object\n");
    printf("warm = both sides read from the page cache (every byte was read just before);\n");
    printf("cold = sync + drop_caches before each side's run%s\n\n",
           g_can_drop == 1 ? "" : " (NOT AVAILABLE here: drop_caches failed)");
    printf("%-10s %-8s %5s %12s %12s %9s  %s\n", "op", "size", "count", "plain MiB/s",
           "augur MiB/s", "ratio", "target");
    printf("---------------------------------------------------------------------------------\n");
    char note[128];
    row("PUT", &ws[0], ws[0].put_plain, ws[0].put_augur, "(info)");
    snprintf(note, sizeof(note), ">= 0.50x %s  (runs: plain %.0f..%.0f, augur %.0f..%.0f)",
             verdict(L->put_augur >= 0.5 * L->put_plain), L->put_plain_min, L->put_plain_max,
             L->put_augur_min, L->put_augur_max);
    row("PUT", L, L->put_plain, L->put_augur, note);
    row("GET warm", &ws[0], ws[0].warm_plain, ws[0].warm_augur, "(info)");
    snprintf(note, sizeof(note), ">= 0.80x %s", verdict(L->warm_augur >= 0.8 * L->warm_plain));
    row("GET warm", L, L->warm_plain, L->warm_augur, note);
    if (g_can_drop == 1) {
        row("GET cold", &ws[0], ws[0].cold_plain, ws[0].cold_augur, "(info)");
        snprintf(note, sizeof(note), ">= 0.80x %s",
                 verdict(L->cold_augur >= 0.8 * L->cold_plain));
        row("GET cold", L, L->cold_plain, L->cold_augur, note);
    } else {
        printf("%-10s %-8s   (cold reads not measured: cannot drop the page cache)\n",
               "GET cold", "");
    }
    printf("augur PUT writes %.2fx the object bytes to disk (k+m)/k, plus one manifest per node\n",
           (double)(K + M) / K);

    printf("\nlisting %d keys of 100 bytes (warm, medians of %d runs; info, no target):\n",
           LIST_KEYS, REPS);
    printf("  plain directory, readdir + stat         %9.0f entries/s\n", lr.plain);
    printf("  augur, pages of 1,000 (S3's default)    %9.0f keys/s  %6.2fx\n", lr.augur_s3,
           lr.augur_s3 / lr.plain);
    printf("  augur, pages of 10,000 (the mount's)    %9.0f keys/s  %6.2fx\n", lr.augur_page,
           lr.augur_page / lr.plain);

    printf("\nCPU kernels (one core, medians of %d x %.1f s):\n", REPS, KERNEL_SECONDS);
    printf("  ISA-L ec_encode_data 4+2, 256 KiB shards  %9.1f MiB/s of data\n", kr.ec);
    printf("  ISA-L crc32_iscsi (CRC32C)                %9.1f MiB/s\n", kr.crc);
    printf("  OpenSSL MD5 (the ETag)                    %9.1f MiB/s\n", kr.md5);

    printf("\npeak RSS (ru_maxrss of a forked child; parent was %ld KiB at fork):\n",
           parent_kib);
    printf("  child that only opens the backend      %8ld KiB\n", idle.kib);
    printf("  put of a 1 GiB object                  %8ld KiB  (%.0f MiB/s)  < 64 MiB %s\n",
           rput.kib, rput.mibs, verdict(rput.kib < RSS_LIMIT_KIB));
    printf("  get of a 1 GiB object (verified)       %8ld KiB  (%.0f MiB/s)  < 64 MiB %s\n",
           rget.kib, rget.mibs, verdict(rget.kib < RSS_LIMIT_KIB));

    int pass = L->put_augur >= 0.5 * L->put_plain && L->warm_augur >= 0.8 * L->warm_plain &&
               (g_can_drop != 1 || L->cold_augur >= 0.8 * L->cold_plain) &&
               rput.kib < RSS_LIMIT_KIB && rget.kib < RSS_LIMIT_KIB;
    printf("\nsummary: %s\n", pass ? "all targets PASS" : "some targets FAIL (see above)");

    free(g_pat);
    free(g_iobuf);
    cleanup();
    rmdir(root); /* only if nothing else is left in it */
    printf("bench time %.1f s\n", now_s() - t_start);
    return 0;
}
