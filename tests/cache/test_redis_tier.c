/* test_redis_tier.c - the Redis tier against real redis-server processes started (and killed,
 * stopped and restarted) by the test itself. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/redis_tier.h"
#include "testlib.h"

#define REDIS_SERVER "/usr/bin/redis-server"
/* How long a redis-server may take to accept connections after exec. */
#define START_DEADLINE_MS 5000
/* The bound the issue sets on any call while Redis is dead: "quickly", here under 1 s. */
#define CALL_BOUND_NS 1000000000LL
/* Back-off tops out at 5 s; a restarted Redis must be found again well within this. */
#define RECONNECT_DEADLINE_MS 8000
/* Pub/sub is immediate; allow for a loaded machine under sanitizers. */
#define DELIVERY_DEADLINE_MS 3000

/* ---- redis-server processes ------------------------------------------------------------------ */

typedef struct test_redis {
    pid_t pid;
    int port; /* 0: unix socket only */
    char sock[108];
    char password[64]; /* "" = none */
    char log[PATH_MAX];
} test_redis_t;

static char g_dir[PATH_MAX]; /* scratch directory of this run */
static test_redis_t g_main;  /* shared server for tests that do not kill theirs */
static pid_t g_pids[32];     /* every server started, for the exit handler */
static int g_npids;

/* out = g_dir/name; aborts when it does not fit (a unix socket path holds 107 bytes). */
static void scratch_path(char *out, size_t len, const char *name)
{
    int n = snprintf(out, len, "%s/%s", g_dir, name);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "path %s/%s too long\n", g_dir, name);
        abort();
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t ms_since(int64_t start_ns)
{
    return (aug_mono_ns() - start_ns) / 1000000;
}

/* Kill every server still running and remove the scratch directory (also after a failed
 * assertion: CUnit keeps going and main returns normally; children also get SIGKILL from
 * PR_SET_PDEATHSIG if the test dies of a signal). */
static void cleanup_at_exit(void)
{
    for (int i = 0; i < g_npids; i++) {
        if (g_pids[i] <= 0) continue;
        kill(g_pids[i], SIGKILL);
        waitpid(g_pids[i], NULL, 0);
        g_pids[i] = 0;
    }
    if (g_dir[0]) test_remove_tree(g_dir);
}

static void forget_pid(pid_t pid)
{
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] == pid) g_pids[i] = 0;
}

/* A TCP port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

/* Describe a server: name is its socket and log name in the scratch directory; port 0 for
 * no TCP listener, -1 for a free one. */
static void redis_init(test_redis_t *r, const char *name, int port, const char *password)
{
    memset(r, 0, sizeof(*r));
    r->port = port < 0 ? free_port() : port;
    char file[64];
    snprintf(file, sizeof(file), "%s.sock", name);
    scratch_path(r->sock, sizeof(r->sock), file);
    snprintf(file, sizeof(file), "%s.log", name);
    scratch_path(r->log, sizeof(r->log), file);
    snprintf(r->password, sizeof(r->password), "%s", password ? password : "");
}

/* A raw hiredis connection to r (authenticated), NULL if it does not answer PING. */
static redisContext *raw_connect(const test_redis_t *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
    if (!c || c->err) goto fail;
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        redisReply *a = redisCommand(c, "AUTH %s", r->password);
        int ok = a && a->type == REDIS_REPLY_STATUS;
        if (a) freeReplyObject(a);
        if (!ok) goto fail;
    }
    redisReply *p = redisCommand(c, "PING");
    int ok = p && p->type == REDIS_REPLY_STATUS;
    if (p) freeReplyObject(p);
    if (ok) return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

/* Start r (again, on the same socket and port) and wait until it answers. */
static void redis_start(test_redis_t *r)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    const char *argv[24];
    int a = 0;
    argv[a++] = "redis-server";
    argv[a++] = "--port";
    argv[a++] = port;
    argv[a++] = "--bind";
    argv[a++] = "127.0.0.1";
    argv[a++] = "--unixsocket";
    argv[a++] = r->sock;
    argv[a++] = "--unixsocketperm";
    argv[a++] = "700";
    argv[a++] = "--save";
    argv[a++] = "";
    argv[a++] = "--appendonly";
    argv[a++] = "no";
    argv[a++] = "--daemonize";
    argv[a++] = "no";
    argv[a++] = "--logfile";
    argv[a++] = r->log;
    if (r->password[0]) {
        argv[a++] = "--requirepass";
        argv[a++] = r->password;
    }
    argv[a] = NULL;
    unlink(r->sock);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        execv(REDIS_SERVER, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    if (g_npids < (int)(sizeof(g_pids) / sizeof(g_pids[0]))) g_pids[g_npids++] = pid;
    int64_t t0 = aug_mono_ns();
    while (ms_since(t0) < START_DEADLINE_MS) {
        redisContext *c = raw_connect(r);
        if (c) {
            redisFree(c);
            return;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "redis-server did not start (see %s)\n", r->log);
    abort();
}

/* SIGKILL r and reap it (the socket file stays behind, as after a crash). */
static void redis_kill(test_redis_t *r)
{
    if (r->pid <= 0) return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    forget_pid(r->pid);
    r->pid = 0;
}

/* ---- raw checks of what the tier wrote ------------------------------------------------------- */

static redisReply *raw_command(const test_redis_t *r, int db, const char *fmt, ...)
{
    redisContext *c = raw_connect(r);
    if (!c) return NULL;
    if (db) {
        redisReply *s = redisCommand(c, "SELECT %d", db);
        if (s) freeReplyObject(s);
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return rep;
}

/* 1 if key exists in db, 0 if not, -1 when Redis did not answer. */
static int raw_exists(const test_redis_t *r, int db, const char *key)
{
    redisReply *rep = raw_command(r, db, "EXISTS %s", key);
    int v = rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    if (rep) freeReplyObject(rep);
    return v;
}

static long long raw_integer(const test_redis_t *r, const char *fmt, const char *a, const char *b)
{
    redisReply *rep = raw_command(r, 0, fmt, a, b);
    long long v = -999;
    if (rep && rep->type == REDIS_REPLY_INTEGER) v = rep->integer;
    if (rep && rep->type == REDIS_REPLY_STRING) v = atoll(rep->str);
    if (rep) freeReplyObject(rep);
    return v;
}

static void block_key(const uint8_t vid[16], uint64_t index, char *out, size_t len)
{
    char hex[33];
    aug_hex(vid, 16, hex);
    snprintf(out, len, "augur:b:%s:%llu", hex, (unsigned long long)index);
}

/* A version id distinct for each seed. */
static void make_vid(uint8_t vid[16], uint64_t seed)
{
    test_fill(vid, 16, seed * 7919 + 1, 0);
}

/* ---- callbacks ------------------------------------------------------------------------------- */

typedef struct inval_log {
    pthread_mutex_t lock;
    int n, resyncs;
    char last_bucket[256];
    char last_key[1100];
} inval_log_t;

static void log_init(inval_log_t *l)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
}

static void on_inval(void *arg, const char *bucket, const char *key)
{
    inval_log_t *l = arg;
    pthread_mutex_lock(&l->lock);
    l->n++;
    snprintf(l->last_bucket, sizeof(l->last_bucket), "%s", bucket);
    snprintf(l->last_key, sizeof(l->last_key), "%s", key);
    pthread_mutex_unlock(&l->lock);
}

static void on_resync(void *arg)
{
    inval_log_t *l = arg;
    pthread_mutex_lock(&l->lock);
    l->resyncs++;
    pthread_mutex_unlock(&l->lock);
}

static int log_count(inval_log_t *l)
{
    pthread_mutex_lock(&l->lock);
    int n = l->n;
    pthread_mutex_unlock(&l->lock);
    return n;
}

/* Wait until l has seen at least n invalidations; 1 if it did within the deadline. */
static int log_wait(inval_log_t *l, int n, int deadline_ms)
{
    int64_t t0 = aug_mono_ns();
    while (log_count(l) < n) {
        if (ms_since(t0) > deadline_ms) return 0;
        sleep_ms(5);
    }
    return 1;
}

/* Wait until the last invalidation l saw was for key; 1 if it was within the deadline. */
static int log_wait_key(inval_log_t *l, const char *key, int deadline_ms)
{
    int64_t t0 = aug_mono_ns();
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int seen = strcmp(l->last_key, key) == 0;
        pthread_mutex_unlock(&l->lock);
        if (seen) return 1;
        if (ms_since(t0) > deadline_ms) return 0;
        sleep_ms(5);
    }
}

/* Poll redis_tier_up until it equals want; 1 if it did within the deadline. */
static int wait_up(redis_tier_t *t, int want, int deadline_ms)
{
    int64_t t0 = aug_mono_ns();
    while (redis_tier_up(t) != want) {
        if (ms_since(t0) > deadline_ms) return 0;
        sleep_ms(10);
    }
    return 1;
}

/* ---- opening tiers --------------------------------------------------------------------------- */

static void unix_url(const test_redis_t *r, char *out, size_t len)
{
    snprintf(out, len, "unix://%s", r->sock);
}

static redis_tier_config_t config_for(const char *url, inval_log_t *log)
{
    redis_tier_config_t cfg = {
        .url = url,
        .size_bytes = 1 << 20,
        .block_max = 64 << 10,
        .manifest_ttl_ms = 0,
        .policy = "lru",
        .on_invalidate = log ? on_inval : NULL,
        .on_resync = log ? on_resync : NULL,
        .arg = log,
    };
    return cfg;
}

static redis_tier_t *open_tier(const redis_tier_config_t *cfg)
{
    redis_tier_t *t = NULL;
    aug_err_t err;
    int rc = redis_tier_open(cfg, &t, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    if (rc != 0) fprintf(stderr, "redis_tier_open: %s\n", err.msg);
    return t;
}

/* ---- capturing the log ----------------------------------------------------------------------- */

static int g_saved_stderr = -1;

static void capture_start(const char *path)
{
    fflush(stderr);
    g_saved_stderr = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0 || g_saved_stderr < 0) abort();
    dup2(fd, 2);
    close(fd);
}

/* Restore stderr; returns what was logged meanwhile (caller frees), echoed for the record. */
static char *capture_stop(const char *path)
{
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    if (!f || !text) abort();
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    fprintf(stderr, "%s", text);
    return text;
}

/* Lines of text containing both a and b. */
static int count_lines(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[4096];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
        if (strstr(buf, a) && strstr(buf, b)) n++;
        line = end ? end + 1 : NULL;
    }
    return n;
}

/* ---- manifests ------------------------------------------------------------------------------- */

static void test_manifest_round_trip_and_invalidation(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    inval_log_t log;
    log_init(&log);
    redis_tier_config_t cfg = config_for(url, &log);
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);

    const uint8_t m[] = {'m', 0, 1, 2, 0xff, 'x'};
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "bkt", "dir/sub/file.txt", m, sizeof(m)), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "bkt", "dir/sub/file.txt", &buf, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof(m));
    CU_ASSERT(buf && memcmp(buf, m, sizeof(m)) == 0);
    free(buf);
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, "augur:m:bkt/dir/sub/file.txt"), 1);
    CU_ASSERT_EQUAL(raw_integer(&g_main, "TTL %s%s", "augur:m:bkt/dir/sub/file.txt", ""), -1);

    CU_ASSERT_EQUAL(redis_tier_invalidate(t, "bkt", "dir/sub/file.txt"), 0);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "bkt", "dir/sub/file.txt", &buf, &len), AUG_ENOENT);
    CU_ASSERT_PTR_NULL(buf);
    /* the instance that published hears its own invalidation, split at the first '/' */
    CU_ASSERT(log_wait(&log, 1, DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&log.lock);
    CU_ASSERT_STRING_EQUAL(log.last_bucket, "bkt");
    CU_ASSERT_STRING_EQUAL(log.last_key, "dir/sub/file.txt");
    pthread_mutex_unlock(&log.lock);
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT_EQUAL(st.invalidations_sent, 1);
    CU_ASSERT(st.invalidations_received >= 1);
    CU_ASSERT_EQUAL(st.errors, 0);
    redis_tier_close(t);
}

static void test_manifest_arguments_are_checked(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "a/b", "k", (const uint8_t *)"x", 1), AUG_EINVAL);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "", "k", &buf, &len), AUG_EINVAL);
    CU_ASSERT_EQUAL(redis_tier_invalidate(t, "a/b", "k"), AUG_EINVAL);
    char *longkey = malloc(REDIS_TIER_NAME_MAX + 2);
    memset(longkey, 'k', REDIS_TIER_NAME_MAX + 1);
    longkey[REDIS_TIER_NAME_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", longkey, &buf, &len), AUG_ETOOLONG);
    longkey[REDIS_TIER_NAME_MAX - 2] = '\0'; /* "b/" + key = exactly the limit */
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", longkey, (const uint8_t *)"x", 1), 0);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", longkey, &buf, &len), 0);
    free(buf);
    free(longkey);
    /* an empty manifest value is still a value */
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "empty", (const uint8_t *)"", 0), 0);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "empty", &buf, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    free(buf);
    redis_tier_close(t);
}

static void test_manifest_expires_after_its_ttl(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.manifest_ttl_ms = 200;
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "bkt", "ttl", (const uint8_t *)"abc", 3), 0);
    long long pttl = raw_integer(&g_main, "PTTL %s%s", "augur:m:bkt/ttl", "");
    CU_ASSERT(pttl > 0 && pttl <= 200);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "bkt", "ttl", &buf, &len), 0);
    free(buf);
    sleep_ms(450);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "bkt", "ttl", &buf, &len), AUG_ENOENT);
    redis_tier_close(t);
}

/* ---- blocks ---------------------------------------------------------------------------------- */

static void test_block_round_trip_counts_hits_and_misses(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[5000], out[5000];
    make_vid(vid, 101);
    test_fill(data, sizeof(data), 5, 0);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 7, data, sizeof(data)), 0);
    size_t len = 0;
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 7, out, sizeof(out), &len), 0);
    CU_ASSERT_EQUAL(len, sizeof(data));
    CU_ASSERT(memcmp(out, data, sizeof(data)) == 0);
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 8, out, sizeof(out), &len), AUG_ENOENT);
    /* a buffer too small gets nothing, but learns the size */
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 7, out, 100, &len), AUG_EINVAL);
    CU_ASSERT_EQUAL(len, sizeof(data));
    char key[80];
    block_key(vid, 7, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), 1);
    CU_ASSERT_EQUAL(raw_integer(&g_main, "TTL %s%s", key, ""), -1); /* no TTL */
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT_EQUAL(st.hits, 1);
    CU_ASSERT_EQUAL(st.misses, 1);
    CU_ASSERT_EQUAL(st.blocks, 1);
    CU_ASSERT_EQUAL(st.used_bytes, sizeof(data));
    CU_ASSERT_EQUAL(st.capacity_bytes, 1 << 20);
    CU_ASSERT_EQUAL(st.errors, 0);
    redis_tier_close(t);
}

static void test_block_over_block_max_is_refused(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.block_max = 4096;
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[4097];
    make_vid(vid, 102);
    test_fill(data, sizeof(data), 6, 0);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 0, data, 4097), AUG_EINVAL);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 1, data, 4096), 0);
    char key[80];
    block_key(vid, 0, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), 0);
    block_key(vid, 1, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), 1);
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT_EQUAL(st.errors, 0);
    CU_ASSERT_EQUAL(st.blocks, 1);
    redis_tier_close(t);

    /* with no budget, the tier reads blocks but stores none */
    cfg.size_bytes = 0;
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 2, data, 100), AUG_EINVAL);
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 1, data, sizeof(data), &len), 0);
    CU_ASSERT_EQUAL(len, 4096);
    redis_tier_close(t);
}

static void test_budget_evicts_blocks_by_policy_from_redis(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.size_bytes = 10 * 1000;
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[1000], out[1000];
    make_vid(vid, 103);
    for (uint64_t i = 0; i < 10; i++) {
        test_fill(data, sizeof(data), 100 + i, 0);
        CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, i, data, sizeof(data)), 0);
    }
    size_t len;
    /* block 0 is read, so LRU evicts block 1 first */
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 0, out, sizeof(out), &len), 0);
    for (uint64_t i = 10; i < 25; i++) {
        test_fill(data, sizeof(data), 100 + i, 0);
        CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, i, data, sizeof(data)), 0);
        redis_tier_stats_t st;
        redis_tier_get_stats(t, &st);
        CU_ASSERT(st.used_bytes <= cfg.size_bytes);
    }
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT_EQUAL(st.blocks, 10);
    CU_ASSERT_EQUAL(st.used_bytes, 10 * 1000);
    CU_ASSERT_EQUAL(st.evictions, 15);
    /* what the policy evicted is gone from Redis, what it keeps is there */
    char key[80];
    for (uint64_t i = 0; i < 25; i++) {
        block_key(vid, i, key, sizeof(key));
        int want = i >= 15 ? 1 : 0;
        /* block 0 was refreshed, but 10 newer blocks followed: it went too */
        CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), want);
    }
    redis_tier_close(t);
    /* count this vid's keys in Redis: exactly the 10 the policy holds */
    char hex[33];
    aug_hex(vid, 16, hex);
    redisReply *all = raw_command(&g_main, 0, "KEYS augur:b:%s:*", hex);
    CU_ASSERT(all && all->type == REDIS_REPLY_ARRAY && all->elements == 10);
    if (all) freeReplyObject(all);
}

/* After a long random mix of puts and gets of blocks of many sizes, Redis holds exactly the
 * blocks this instance's policy holds: every eviction was deleted, nothing else was. */
static void redis_matches_policy(const char *policy, uint64_t seed)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.size_bytes = 20000;
    cfg.policy = policy;
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[1000], out[1000];
    size_t len;
    make_vid(vid, seed);
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < 3000; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545f4914f6cdd1dULL;
        uint64_t idx = r % 4 ? (r >> 8) % 25 : (r >> 8) % 400; /* a hot set and a long tail */
        size_t size = 100 + (size_t)(idx * 37 % 900);
        if ((r >> 40) % 3 == 0) {
            int rc = redis_tier_get_block(t, vid, idx, out, sizeof(out), &len);
            CU_ASSERT(rc == 0 || rc == AUG_ENOENT);
            if (rc == 0) CU_ASSERT_EQUAL(len, size);
        } else {
            test_fill(data, size, idx, 0);
            CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, idx, data, size), 0);
        }
    }
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT(st.evictions > 100);
    CU_ASSERT(st.used_bytes <= cfg.size_bytes);
    char hex[33];
    aug_hex(vid, 16, hex);
    redisReply *keys = raw_command(&g_main, 0, "KEYS augur:b:%s:*", hex);
    CU_ASSERT_FATAL(keys && keys->type == REDIS_REPLY_ARRAY);
    CU_ASSERT_EQUAL(keys->elements, st.blocks);
    uint64_t bytes = 0;
    for (size_t i = 0; i < keys->elements; i++)
        bytes += (uint64_t)raw_integer(&g_main, "STRLEN %s%s", keys->element[i]->str, "");
    CU_ASSERT_EQUAL(bytes, st.used_bytes);
    if (keys->elements != st.blocks || bytes != st.used_bytes)
        fprintf(stderr, "%s: redis %zu blocks %llu bytes, policy %llu blocks %llu bytes\n", policy,
                keys->elements, (unsigned long long)bytes, (unsigned long long)st.blocks,
                (unsigned long long)st.used_bytes);
    freeReplyObject(keys);
    redis_tier_close(t);
}

static void test_redis_holds_exactly_what_the_policy_holds(void)
{
    const char *policies[] = {"lru", "fifo", "s3fifo", "sieve", "arc"};
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
        redis_matches_policy(policies[i], 200 + i);
}

static void test_lru_keeps_a_block_that_is_read(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.size_bytes = 3 * 100;
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[100], out[100];
    size_t len;
    make_vid(vid, 104);
    test_fill(data, sizeof(data), 1, 0);
    for (uint64_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, i, data, sizeof(data)), 0);
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 0, out, sizeof(out), &len), 0);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 3, data, sizeof(data)), 0);
    char key[80];
    block_key(vid, 0, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), 1);
    block_key(vid, 1, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, key), 0);
    redis_tier_close(t);
}

static void test_block_deleted_elsewhere_stops_counting(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16], data[300], out[300];
    size_t len;
    make_vid(vid, 105);
    test_fill(data, sizeof(data), 2, 0);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 0, data, sizeof(data)), 0);
    char key[80];
    block_key(vid, 0, key, sizeof(key));
    CU_ASSERT_EQUAL(raw_integer(&g_main, "DEL %s%s", key, ""), 1);
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 0, out, sizeof(out), &len), AUG_ENOENT);
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT_EQUAL(st.blocks, 0);
    CU_ASSERT_EQUAL(st.used_bytes, 0);
    redis_tier_close(t);
}

static void test_access_counts_reach_redis(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    uint8_t vid[16];
    make_vid(vid, 106);
    for (int i = 0; i < 3; i++)
        redis_tier_count_access(t, vid, 5);
    redis_tier_count_access(t, vid, 6);
    /* and a synchronous call on the same connections still gets its own reply */
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "bkt", "after-counts", (const uint8_t *)"m", 1), 0);
    char key[64], hex[33];
    aug_hex(vid, 16, hex);
    snprintf(key, sizeof(key), "augur:s:%s", hex);
    int64_t t0 = aug_mono_ns();
    while (raw_integer(&g_main, "HGET %s %s", key, "5") != 3 && ms_since(t0) < 2000)
        sleep_ms(10);
    CU_ASSERT_EQUAL(raw_integer(&g_main, "HGET %s %s", key, "5"), 3);
    CU_ASSERT_EQUAL(raw_integer(&g_main, "HGET %s %s", key, "6"), 1);
    /* many more than the pipeline holds unread */
    for (int i = 0; i < 1000; i++)
        redis_tier_count_access(t, vid, 9);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "bkt", "after-counts", &buf, &len), 0);
    CU_ASSERT(len == 1 && buf && buf[0] == 'm');
    free(buf);
    t0 = aug_mono_ns();
    while (raw_integer(&g_main, "HGET %s %s", key, "9") < 900 && ms_since(t0) < 2000)
        sleep_ms(10);
    /* counts are fire and forget (dropped when every connection is busy), never invented */
    long long n9 = raw_integer(&g_main, "HGET %s %s", key, "9");
    CU_ASSERT(n9 >= 900 && n9 <= 1000);
    redis_tier_close(t);
}

/* ---- two instances --------------------------------------------------------------------------- */

static void test_invalidation_reaches_the_other_instance(void)
{
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    inval_log_t la, lb;
    log_init(&la);
    log_init(&lb);
    redis_tier_config_t ca = config_for(url, &la), cb = config_for(url, &lb);
    redis_tier_t *a = open_tier(&ca);
    redis_tier_t *b = open_tier(&cb);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(a, "shared", "k/1", (const uint8_t *)"v1", 2), 0);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(b, "shared", "k/1", &buf, &len), 0);
    free(buf);

    int64_t t0 = aug_mono_ns();
    CU_ASSERT_EQUAL(redis_tier_invalidate(a, "shared", "k/1"), 0);
    CU_ASSERT(log_wait(&lb, 1, DELIVERY_DEADLINE_MS));
    fprintf(stderr, "[invalidation delivered to the other instance in %lld ms] ",
            (long long)ms_since(t0));
    CU_ASSERT(log_wait(&la, 1, DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&lb.lock);
    CU_ASSERT_STRING_EQUAL(lb.last_bucket, "shared");
    CU_ASSERT_STRING_EQUAL(lb.last_key, "k/1");
    pthread_mutex_unlock(&lb.lock);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(b, "shared", "k/1", &buf, &len), AUG_ENOENT);

    /* and the other way */
    CU_ASSERT_EQUAL(redis_tier_invalidate(b, "shared", "other"), 0);
    CU_ASSERT(log_wait(&la, 2, DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&la.lock);
    CU_ASSERT_STRING_EQUAL(la.last_key, "other");
    pthread_mutex_unlock(&la.lock);

    /* a malformed message on the channel is ignored */
    redisReply *r = raw_command(&g_main, 0, "PUBLISH augur:inval %s", "no-slash");
    if (r) freeReplyObject(r);
    r = raw_command(&g_main, 0, "PUBLISH augur:inval %s", "b/after");
    if (r) freeReplyObject(r);
    CU_ASSERT(log_wait(&la, 3, DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&la.lock);
    CU_ASSERT_STRING_EQUAL(la.last_key, "after");
    CU_ASSERT_EQUAL(la.n, 3);
    CU_ASSERT_EQUAL(la.resyncs, 0);
    pthread_mutex_unlock(&la.lock);
    redis_tier_close(a);
    redis_tier_close(b);
}

/* ---- URLs, databases and passwords ----------------------------------------------------------- */

static void test_malformed_url_is_a_config_error(void)
{
    const char *bad[] = {
        "",
        "localhost:6379",
        "http://localhost:6379",
        "redis://",
        "redis://:hunter2@",
        "redis://host:",
        "redis://host:notaport",
        "redis://host:0",
        "redis://host:70000",
        "redis://:hunter2@host:99999",
        "redis://host:6379/db1",
        "redis://host:6379/1/2",
        "redis://host:6379/-1",
        "redis://[::1",
        "redis://:hun%2ter2@host",
        "rediss://host",
        "unix://",
        "unix://relative/path.sock",
        "unix:///tmp/x.sock?db=abc",
        "unix:///tmp/x.sock?timeout=3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redis_tier_config_t cfg = config_for(bad[i], NULL);
        redis_tier_t *t = (redis_tier_t *)1;
        aug_err_t err;
        aug_err_clear(&err);
        int rc = redis_tier_open(&cfg, &t, &err);
        CU_ASSERT_EQUAL(rc, AUG_ECONFIG);
        CU_ASSERT_PTR_NULL(t);
        CU_ASSERT(err.msg[0] != '\0');
        CU_ASSERT_PTR_NULL(strstr(err.msg, "hunter2"));
        CU_ASSERT_PTR_NULL(strstr(err.msg, "hun%2ter2"));
        if (rc != AUG_ECONFIG) fprintf(stderr, "accepted: '%s'\n", bad[i]);
        if (rc == 0) redis_tier_close(t);
    }
    char url[256];
    unix_url(&g_main, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    cfg.policy = "mru";
    redis_tier_t *t = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL(redis_tier_open(&cfg, &t, &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mru"));
    CU_ASSERT_PTR_NULL(t);
}

static void test_tcp_url_selects_the_database(void)
{
    char url[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", g_main.port);
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "dbtest", "k", (const uint8_t *)"x", 1), 0);
    CU_ASSERT_EQUAL(raw_exists(&g_main, 3, "augur:m:dbtest/k"), 1);
    CU_ASSERT_EQUAL(raw_exists(&g_main, 0, "augur:m:dbtest/k"), 0);
    redis_tier_close(t);

    snprintf(url, sizeof(url), "unix://%s?db=4", g_main.sock);
    cfg = config_for(url, NULL);
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "dbtest", "u", (const uint8_t *)"x", 1), 0);
    CU_ASSERT_EQUAL(raw_exists(&g_main, 4, "augur:m:dbtest/u"), 1);
    redis_tier_close(t);

    /* a database Redis does not have is an outage with Redis's reason, not a crash */
    snprintf(url, sizeof(url), "redis://localhost:%d/999", g_main.port);
    cfg = config_for(url, NULL);
    char cap[PATH_MAX];
    scratch_path(cap, sizeof(cap), "db-stderr.txt");
    capture_start(cap);
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    aug_err_t err;
    redis_tier_last_error(t, &err);
    CU_ASSERT_EQUAL(err.code, AUG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "database 999"));
    redis_tier_close(t);
    free(capture_stop(cap));
}

static void test_password_from_url_or_config_authenticates(void)
{
    /* a password with characters that must be escaped in a URL */
    test_redis_t r;
    redis_init(&r, "auth", -1, "p@ss:w/rd");
    redis_start(&r);
    char url[256];
    snprintf(url, sizeof(url), "redis://:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d", r.port);
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "k", (const uint8_t *)"x", 1), 0);
    redis_tier_close(t);

    /* Redis 6 ACL form: user "default" */
    snprintf(url, sizeof(url), "redis://default:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/0", r.port);
    cfg = config_for(url, NULL);
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);
    redis_tier_close(t);

    /* cfg->password over a unix socket (and over a wrong one in the URL) */
    snprintf(url, sizeof(url), "unix://%s", r.sock);
    cfg = config_for(url, NULL);
    cfg.password = "p@ss:w/rd";
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "k", &buf, &len), 0);
    free(buf);
    redis_tier_close(t);
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", r.port);
    cfg = config_for(url, NULL);
    cfg.password = "p@ss:w/rd";
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);
    redis_tier_close(t);
    redis_kill(&r);
}

static void test_wrong_password_is_a_clear_outage_that_hides_it(void)
{
    test_redis_t r;
    redis_init(&r, "authbad", -1, "right-password");
    redis_start(&r);
    char cap[PATH_MAX];
    scratch_path(cap, sizeof(cap), "wrongpw-stderr.txt");
    capture_start(cap);

    char url[256];
    snprintf(url, sizeof(url), "redis://:Wr0ngPassw0rd@127.0.0.1:%d", r.port);
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    aug_err_t err;
    redis_tier_last_error(t, &err);
    CU_ASSERT_EQUAL(err.code, AUG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "password"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "Wr0ngPassw0rd"));
    int64_t t0 = aug_mono_ns();
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "k", &buf, &len), AUG_EIO);
    CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
    sleep_ms(400); /* a few reconnect attempts, all refused */
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    redis_tier_close(t);

    /* no password at all where one is needed */
    snprintf(url, sizeof(url), "unix://%s", r.sock);
    cfg = config_for(url, NULL);
    cfg.password = "An0therWr0ngOne";
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    redis_tier_close(t);
    cfg.password = NULL;
    t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    redis_tier_last_error(t, &err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "wants a password"));
    redis_tier_close(t);

    char *text = capture_stop(cap);
    CU_ASSERT_EQUAL(count_lines(text, " warn ", "refused the password"), 2); /* once per tier */
    CU_ASSERT_EQUAL(count_lines(text, " warn ", "wants a password"), 1);
    CU_ASSERT_PTR_NULL(strstr(text, "Wr0ngPassw0rd"));
    CU_ASSERT_PTR_NULL(strstr(text, "An0therWr0ngOne"));
    free(text);
    redis_kill(&r);
}

/* ---- outages --------------------------------------------------------------------------------- */

/* Each call of the API, timed: every one must fail with AUG_EIO within CALL_BOUND_NS (or for
 * the void ones, just return within it). */
static void check_every_call_fails_fast(redis_tier_t *t)
{
    uint8_t vid[16], data[100], *mbuf;
    size_t len;
    make_vid(vid, 999);
    test_fill(data, sizeof(data), 9, 0);
    for (int round = 0; round < 3; round++) {
        int64_t t0 = aug_mono_ns();
        CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "k", &mbuf, &len), AUG_EIO);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
        t0 = aug_mono_ns();
        CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "k", data, 10), AUG_EIO);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
        t0 = aug_mono_ns();
        CU_ASSERT_EQUAL(redis_tier_invalidate(t, "b", "k"), AUG_EIO);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
        t0 = aug_mono_ns();
        CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 0, data, sizeof(data), &len), AUG_EIO);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
        t0 = aug_mono_ns();
        CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 0, data, sizeof(data)), AUG_EIO);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
        t0 = aug_mono_ns();
        redis_tier_count_access(t, vid, 0);
        CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
    }
}

/* Threads calling the tier the whole time Redis dies and comes back. */
typedef struct hammer {
    redis_tier_t *t;
    atomic_int stop;
    atomic_int bad; /* a code other than 0, AUG_ENOENT, AUG_EIO, or a mismatch */
    atomic_long calls, eio;
    _Atomic int64_t slowest_ns;
    int id;
} hammer_t;

static void hammer_note(hammer_t *h, int rc, int64_t t0)
{
    int64_t d = aug_mono_ns() - t0;
    int64_t s = atomic_load(&h->slowest_ns);
    while (d > s && !atomic_compare_exchange_weak(&h->slowest_ns, &s, d)) {
    }
    atomic_fetch_add(&h->calls, 1);
    if (rc == AUG_EIO) atomic_fetch_add(&h->eio, 1);
    if (rc != 0 && rc != AUG_ENOENT && rc != AUG_EIO) atomic_fetch_add(&h->bad, 1);
}

typedef struct hammer_arg {
    hammer_t *h;
    int id;
} hammer_arg_t;

static void *hammer_main(void *p)
{
    hammer_arg_t *a = p;
    hammer_t *h = a->h;
    uint8_t vid[16], data[2048], out[2048], *m;
    size_t len;
    make_vid(vid, 5000 + (uint64_t)a->id);
    char key[32];
    for (uint64_t i = 0; !atomic_load(&h->stop); i++) {
        uint64_t idx = i % 40;
        test_fill(data, sizeof(data), idx, 0);
        int64_t t0 = aug_mono_ns();
        hammer_note(h, redis_tier_put_block(h->t, vid, idx, data, sizeof(data)), t0);
        t0 = aug_mono_ns();
        int rc = redis_tier_get_block(h->t, vid, (idx * 7) % 40, out, sizeof(out), &len);
        hammer_note(h, rc, t0);
        if (rc == 0) {
            test_fill(data, sizeof(data), (idx * 7) % 40, 0);
            if (len != sizeof(out) || memcmp(out, data, len) != 0) atomic_fetch_add(&h->bad, 1);
        }
        snprintf(key, sizeof(key), "k%d/%llu", a->id, (unsigned long long)(i % 10));
        t0 = aug_mono_ns();
        hammer_note(h, redis_tier_put_manifest(h->t, "hb", key, data, 100), t0);
        t0 = aug_mono_ns();
        rc = redis_tier_get_manifest(h->t, "hb", key, &m, &len);
        hammer_note(h, rc, t0);
        if (rc == 0) free(m);
        if (i % 16 == 0) {
            t0 = aug_mono_ns();
            hammer_note(h, redis_tier_invalidate(h->t, "hb", key), t0);
        }
        t0 = aug_mono_ns();
        redis_tier_count_access(h->t, vid, idx);
        hammer_note(h, 0, t0);
    }
    return NULL;
}

#define HAMMER_THREADS 4

/* Kill Redis under load, check the outage from outside, restart it on the same address, and
 * check the tier (requests and subscription) comes back. url names r. */
static void kill_and_restart(test_redis_t *r, const char *url, const char *tag)
{
    char cap[PATH_MAX];
    char file[64];
    snprintf(file, sizeof(file), "%s-stderr.txt", tag);
    scratch_path(cap, sizeof(cap), file);
    aug_log_level_t old_level = aug_log_get_level();
    aug_log_set_level(AUG_LOG_INFO);
    capture_start(cap);

    inval_log_t log;
    log_init(&log);
    redis_tier_config_t cfg = config_for(url, &log);
    cfg.size_bytes = 64 * 2048; /* smaller than what the threads put: evictions under fire */
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);

    hammer_t h = {.t = t};
    pthread_t th[HAMMER_THREADS];
    hammer_arg_t args[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        args[i] = (hammer_arg_t){&h, i};
        pthread_create(&th[i], NULL, hammer_main, &args[i]);
    }
    sleep_ms(300);
    long calls_before = atomic_load(&h.calls);
    redis_kill(r);
    CU_ASSERT(wait_up(t, 0, 2000));
    sleep_ms(300);
    check_every_call_fails_fast(t);
    aug_err_t err;
    redis_tier_last_error(t, &err);
    CU_ASSERT_EQUAL(err.code, AUG_EIO);

    int64_t t0 = aug_mono_ns();
    redis_start(r);
    CU_ASSERT(wait_up(t, 1, RECONNECT_DEADLINE_MS));
    fprintf(stderr, "[%s: back %lld ms after restart] ", tag, (long long)ms_since(t0));
    sleep_ms(300);
    atomic_store(&h.stop, 1);
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&h.bad), 0);
    CU_ASSERT(atomic_load(&h.calls) > calls_before);
    CU_ASSERT(atomic_load(&h.eio) > 0);
    CU_ASSERT(atomic_load(&h.slowest_ns) < CALL_BOUND_NS);
    fprintf(stderr, "[%s: %ld calls, %ld EIO, slowest %.1f ms] ", tag, atomic_load(&h.calls),
            atomic_load(&h.eio), (double)atomic_load(&h.slowest_ns) / 1e6);

    /* works again, requests and subscription */
    uint8_t vid[16], data[500], out[500], *m;
    size_t len;
    make_vid(vid, 777);
    test_fill(data, sizeof(data), 77, 0);
    CU_ASSERT_EQUAL(redis_tier_put_block(t, vid, 1, data, sizeof(data)), 0);
    CU_ASSERT_EQUAL(redis_tier_get_block(t, vid, 1, out, sizeof(out), &len), 0);
    CU_ASSERT(len == sizeof(data) && memcmp(out, data, len) == 0);
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "back", data, 10), 0);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "back", &m, &len), 0);
    free(m);
    redisReply *rep = raw_command(r, 0, "PUBLISH augur:inval %s", "b/from-outside");
    CU_ASSERT(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    if (rep) freeReplyObject(rep);
    CU_ASSERT(log_wait_key(&log, "from-outside", DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&log.lock);
    CU_ASSERT_EQUAL(log.resyncs, 1);
    pthread_mutex_unlock(&log.lock);
    redis_tier_stats_t st;
    redis_tier_get_stats(t, &st);
    CU_ASSERT(st.errors > 0);
    CU_ASSERT(st.used_bytes <= cfg.size_bytes);
    redis_tier_close(t);

    char *text = capture_stop(cap);
    aug_log_set_level(old_level);
    const char *where = r->port && strncmp(url, "redis:", 6) == 0 ? "redis://127.0.0.1" : r->sock;
    CU_ASSERT_EQUAL(count_lines(text, " warn ", "redis"), 1);
    CU_ASSERT_EQUAL(count_lines(text, " warn ", where), 1);
    CU_ASSERT_EQUAL(count_lines(text, " info ", "is back"), 1);
    if (r->password[0]) CU_ASSERT_PTR_NULL(strstr(text, r->password));
    free(text);
}

static void test_redis_killed_and_restarted_on_its_socket(void)
{
    test_redis_t r;
    redis_init(&r, "killme", 0, NULL);
    redis_start(&r);
    char url[256];
    unix_url(&r, url, sizeof(url));
    kill_and_restart(&r, url, "unix");
    redis_kill(&r);
}

static void test_redis_killed_and_restarted_on_its_port(void)
{
    test_redis_t r;
    redis_init(&r, "killtcp", -1, "tcp-secret");
    redis_start(&r);
    char url[256];
    snprintf(url, sizeof(url), "redis://:tcp-secret@127.0.0.1:%d/2", r.port);
    kill_and_restart(&r, url, "tcp");
    redis_kill(&r);
}

static void test_tier_opened_while_redis_is_down_comes_up(void)
{
    test_redis_t r;
    redis_init(&r, "late", 0, NULL);
    char cap[PATH_MAX];
    scratch_path(cap, sizeof(cap), "late-stderr.txt");
    capture_start(cap);
    char url[256];
    unix_url(&r, url, sizeof(url));
    inval_log_t log;
    log_init(&log);
    redis_tier_config_t cfg = config_for(url, &log);
    int64_t t0 = aug_mono_ns();
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    check_every_call_fails_fast(t);
    sleep_ms(700); /* several failed attempts: still one warning */
    redis_start(&r);
    CU_ASSERT(wait_up(t, 1, RECONNECT_DEADLINE_MS));
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "late", (const uint8_t *)"x", 1), 0);
    CU_ASSERT_EQUAL(redis_tier_invalidate(t, "b", "late"), 0);
    CU_ASSERT(log_wait(&log, 1, DELIVERY_DEADLINE_MS));
    pthread_mutex_lock(&log.lock);
    CU_ASSERT_EQUAL(log.resyncs, 1); /* the cache may have cached manifests meanwhile */
    pthread_mutex_unlock(&log.lock);
    redis_tier_close(t);
    char *text = capture_stop(cap);
    CU_ASSERT_EQUAL(count_lines(text, " warn ", r.sock), 1);
    free(text);
    redis_kill(&r);
}

static void test_frozen_redis_times_out_and_recovers(void)
{
    test_redis_t r;
    redis_init(&r, "frozen", 0, NULL);
    redis_start(&r);
    char cap[PATH_MAX];
    scratch_path(cap, sizeof(cap), "frozen-stderr.txt");
    capture_start(cap);
    char url[256];
    unix_url(&r, url, sizeof(url));
    inval_log_t log;
    log_init(&log);
    redis_tier_config_t cfg = config_for(url, &log);
    redis_tier_t *t = open_tier(&cfg);
    CU_ASSERT_EQUAL(redis_tier_up(t), 1);

    /* a Redis that accepts nothing and answers nothing: the command timeout ends the call */
    kill(r.pid, SIGSTOP);
    uint8_t *m;
    size_t len;
    int64_t t0 = aug_mono_ns();
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "frozen", &m, &len), AUG_EIO);
    CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS);
    CU_ASSERT_EQUAL(redis_tier_up(t), 0);
    check_every_call_fails_fast(t);
    sleep_ms(800); /* reconnect attempts time out too */
    kill(r.pid, SIGCONT);
    CU_ASSERT(wait_up(t, 1, RECONNECT_DEADLINE_MS));
    CU_ASSERT_EQUAL(redis_tier_put_manifest(t, "b", "thawed", (const uint8_t *)"x", 1), 0);
    CU_ASSERT_EQUAL(redis_tier_get_manifest(t, "b", "thawed", &m, &len), 0);
    free(m);

    /* frozen with nobody asking: the subscriber's PING notices within a few seconds */
    kill(r.pid, SIGSTOP);
    CU_ASSERT(wait_up(t, 0, 5000));
    kill(r.pid, SIGCONT);
    CU_ASSERT(wait_up(t, 1, RECONNECT_DEADLINE_MS));
    redis_tier_close(t);
    char *text = capture_stop(cap);
    CU_ASSERT_EQUAL(count_lines(text, " warn ", r.sock), 2); /* two outages */
    free(text);
    redis_kill(&r);
}

static void test_close_is_prompt_while_reconnecting(void)
{
    test_redis_t r;
    redis_init(&r, "never", 0, NULL);
    char cap[PATH_MAX];
    scratch_path(cap, sizeof(cap), "never-stderr.txt");
    capture_start(cap);
    char url[256];
    unix_url(&r, url, sizeof(url));
    redis_tier_config_t cfg = config_for(url, NULL);
    redis_tier_t *t = open_tier(&cfg);
    sleep_ms(1700); /* the back-off is now at 1.6 s */
    int64_t t0 = aug_mono_ns();
    redis_tier_close(t);
    CU_ASSERT(aug_mono_ns() - t0 < CALL_BOUND_NS / 2);
    free(capture_stop(cap));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (access(REDIS_SERVER, X_OK) != 0) {
        fprintf(stderr, "%s not found: install redis-server\n", REDIS_SERVER);
        return 1;
    }
    test_scratch_dir("redis_tier", g_dir, sizeof(g_dir));
    if (strlen(g_dir) > 80) { /* sun_path holds 108 bytes */
        test_remove_tree(g_dir);
        snprintf(g_dir, sizeof(g_dir), "/tmp/redis_tier-%d", (int)getpid());
        mkdir(g_dir, 0700);
    }
    atexit(cleanup_at_exit);
    redis_init(&g_main, "main", -1, NULL);
    redis_start(&g_main);

    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("redis_tier", NULL, NULL);
    if (!s) return 1;
    struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"manifest round trip and invalidation", test_manifest_round_trip_and_invalidation},
        {"manifest arguments are checked", test_manifest_arguments_are_checked},
        {"manifest expires after its ttl", test_manifest_expires_after_its_ttl},
        {"block round trip counts hits and misses", test_block_round_trip_counts_hits_and_misses},
        {"block over block_max is refused", test_block_over_block_max_is_refused},
        {"budget evicts blocks by policy from redis",
         test_budget_evicts_blocks_by_policy_from_redis},
        {"lru keeps a block that is read", test_lru_keeps_a_block_that_is_read},
        {"redis holds exactly what the policy holds",
         test_redis_holds_exactly_what_the_policy_holds},
        {"block deleted elsewhere stops counting", test_block_deleted_elsewhere_stops_counting},
        {"access counts reach redis", test_access_counts_reach_redis},
        {"invalidation reaches the other instance", test_invalidation_reaches_the_other_instance},
        {"malformed url is a config error", test_malformed_url_is_a_config_error},
        {"tcp url selects the database", test_tcp_url_selects_the_database},
        {"password from url or config authenticates",
         test_password_from_url_or_config_authenticates},
        {"wrong password is a clear outage that hides it",
         test_wrong_password_is_a_clear_outage_that_hides_it},
        {"redis killed and restarted on its socket", test_redis_killed_and_restarted_on_its_socket},
        {"redis killed and restarted on its port", test_redis_killed_and_restarted_on_its_port},
        {"tier opened while redis is down comes up", test_tier_opened_while_redis_is_down_comes_up},
        {"frozen redis times out and recovers", test_frozen_redis_times_out_and_recovers},
        {"close is prompt while reconnecting", test_close_is_prompt_while_reconnecting},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return 1;
    return test_run_all();
}
