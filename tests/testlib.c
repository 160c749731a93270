/* testlib.c - helpers shared by the CUnit test programs. */
#include "testlib.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void test_scratch_dir(const char *tag, char *out, size_t len)
{
    const char *base = getenv("AUGUR_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(out, len, "%s/%s-%d", base, tag, (int)getpid());
    test_remove_tree(out);
    if (mkdir(out, 0755) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", out, strerror(errno));
        abort();
    }
}

void test_remove_tree(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

void test_node_path(const test_cluster_t *c, int i, char *out, size_t len)
{
    snprintf(out, len, "%s/n%d", c->dir, i);
}

void test_cluster_init(test_cluster_t *c, const char *tag, int n, int k, int m,
                       uint64_t stripe_size, uint64_t inline_max)
{
    memset(c, 0, sizeof(*c));
    test_scratch_dir(tag, c->dir, sizeof(c->dir));
    c->n_nodes = n;
    aug_config_defaults(&c->cfg);
    if ((size_t)snprintf(c->cfg.general.state_dir, sizeof(c->cfg.general.state_dir), "%.4000s/state",
                         c->dir) >= sizeof(c->cfg.general.state_dir))
        abort();
    c->cfg.backend.data_shards = k;
    c->cfg.backend.parity_shards = m;
    c->cfg.backend.write_quorum = k + 1 > k + m ? k + m : k + 1;
    c->cfg.backend.stripe_size = stripe_size;
    c->cfg.backend.inline_max = inline_max;
    c->cfg.backend.n_nodes = n;
    for (int i = 0; i < n; i++) {
        char p[PATH_MAX];
        test_node_path(c, i, p, sizeof(p));
        mkdir(p, 0755);
        snprintf(c->cfg.backend.nodes[i], sizeof(c->cfg.backend.nodes[i]), "dir:%s", p);
    }
}

void test_cluster_destroy(test_cluster_t *c)
{
    test_remove_tree(c->dir);
}

void test_node_down(test_cluster_t *c, int i)
{
    char p[PATH_MAX], q[PATH_MAX + 8];
    test_node_path(c, i, p, sizeof(p));
    snprintf(q, sizeof(q), "%s.down", p);
    if (rename(p, q) != 0) fprintf(stderr, "warning: cannot take %s down\n", p);
}

void test_node_up(test_cluster_t *c, int i)
{
    char p[PATH_MAX], q[PATH_MAX + 8];
    test_node_path(c, i, p, sizeof(p));
    snprintf(q, sizeof(q), "%s.down", p);
    if (rename(q, p) != 0) fprintf(stderr, "warning: cannot bring %s up\n", p);
}

void test_node_replace_empty(test_cluster_t *c, int i)
{
    char p[PATH_MAX];
    test_node_path(c, i, p, sizeof(p));
    test_remove_tree(p);
    mkdir(p, 0755);
}

backend_t *test_backend_open(test_cluster_t *c)
{
    backend_t *b = NULL;
    aug_err_t err;
    if (backend_open(&c->cfg, &b, &err) != 0) {
        fprintf(stderr, "backend_open: %s\n", err.msg);
        return NULL;
    }
    return b;
}

/* splitmix64 over the position: any byte of the stream is computable on its own. */
static uint8_t stream_byte(uint64_t seed, uint64_t i)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) + 1;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (uint8_t)(x >> ((i & 7) * 8));
}

void test_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t offset)
{
    for (size_t i = 0; i < len; i++) buf[i] = stream_byte(seed, offset + i);
}

ssize_t test_source_read(void *arg, void *buf, size_t len)
{
    test_source_t *s = arg;
    uint64_t left = s->len - s->pos;
    if (len > left) len = (size_t)left;
    if (s->chunk && len > s->chunk) len = s->chunk;
    test_fill(buf, len, s->seed, s->pos);
    s->pos += len;
    return (ssize_t)len;
}

int test_sink_check(void *arg, const void *buf, size_t len)
{
    test_sink_t *s = arg;
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != stream_byte(s->seed, s->pos + i)) s->mismatches++;
    s->pos += len;
    return 0;
}

int test_buffer_append(void *arg, const void *buf, size_t len)
{
    test_buffer_t *b = arg;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) return AUG_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

int test_put(backend_t *b, const char *bucket, const char *key, uint64_t seed, uint64_t len)
{
    test_source_t src = {.seed = seed, .len = len, .chunk = 100000};
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_put(b, bucket, key, NULL, test_source_read, &src, NULL, &err);
    if (rc != 0) fprintf(stderr, "put %s/%s: %s\n", bucket, key, err.msg);
    return rc;
}

int test_get_check(backend_t *b, const char *bucket, const char *key, uint64_t seed,
                   uint64_t len, int *ok)
{
    backend_manifest_t *m;
    aug_err_t err;
    *ok = 0;
    int rc = backend_head(b, bucket, key, &m, &err);
    if (rc != 0) return rc;
    test_sink_t sink = {.seed = seed};
    rc = backend_read(b, m, 0, m->size, test_sink_check, &sink, &err);
    *ok = rc == 0 && m->size == len && sink.pos == len && sink.mismatches == 0;
    backend_manifest_free(m);
    return rc;
}

int test_run_all(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_failure_records();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return (failed || failures) ? 1 : 0;
}

/* ---- tree snapshots ------------------------------------------------------------------- */

static char **snap_lines;
static size_t snap_n, snap_cap, snap_root_len;

static int snap_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (strlen(path) <= snap_root_len) return 0; /* the root itself */
    if (snap_n == snap_cap) {
        snap_cap = snap_cap ? snap_cap * 2 : 256;
        snap_lines = realloc(snap_lines, snap_cap * sizeof(char *));
        if (!snap_lines) abort();
    }
    char line[PATH_MAX + 64];
    if (type == FTW_D || type == FTW_DP)
        snprintf(line, sizeof(line), "d %s", path + snap_root_len + 1);
    else
        snprintf(line, sizeof(line), "f %s %lld", path + snap_root_len + 1,
                 (long long)st->st_size);
    if (!(snap_lines[snap_n++] = strdup(line))) abort();
    return 0;
}

static int snap_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *test_tree_snapshot(const char *dir)
{
    snap_lines = NULL;
    snap_n = snap_cap = 0;
    snap_root_len = strlen(dir);
    nftw(dir, snap_visit, 16, FTW_PHYS);
    qsort(snap_lines, snap_n, sizeof(char *), snap_cmp);
    size_t total = 1;
    for (size_t i = 0; i < snap_n; i++) total += strlen(snap_lines[i]) + 1;
    char *out = malloc(total), *p = out;
    if (!out) abort();
    for (size_t i = 0; i < snap_n; i++) {
        size_t l = strlen(snap_lines[i]);
        memcpy(p, snap_lines[i], l);
        p[l] = '\n';
        p += l + 1;
        free(snap_lines[i]);
    }
    *p = '\0';
    free(snap_lines);
    snap_lines = NULL;
    return out;
}
