/* test_durability.c - with k=4, m=2 over 6 nodes the backend loses nothing to two lost or
 * replaced nodes or to flipped bytes, never hands out wrong bytes, heals what was damaged,
 * keeps deletes deleted and refuses writes it cannot make durable. */
#include "testlib.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUCKET "dur"
#define N 6
#define K 4
#define M 2
#define STRIPE 4096 /* shard 1024 bytes, a stripe holds 4096 */
#define SHARD 1024
#define INLINE_MAX 1024
#define CRC_LEN 4
#define FOOTER_LEN 64

/* The objects every scenario checks: inline, one short stripe, many stripes, exact stripes. */
typedef struct obj {
    const char *key;
    uint64_t seed, len;
} obj_t;

static const obj_t objs[] = {
    {"inline", 101, 700},
    {"one-stripe", 102, 3000},
    {"multi", 103, 6 * STRIPE + 333},
    {"dir/exact", 104, 3 * STRIPE},
};
#define N_OBJS (sizeof(objs) / sizeof(objs[0]))

/* ---- helpers --------------------------------------------------------------------------- */

static backend_t *reopen(test_cluster_t *c)
{
    backend_t *b = test_backend_open(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

/* A fresh 4+2 cluster over 6 nodes holding objs. */
static void setup(test_cluster_t *c, const char *tag)
{
    test_cluster_init(c, tag, N, K, M, STRIPE, INLINE_MAX);
    backend_t *b = reopen(c);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    for (size_t i = 0; i < N_OBJS; i++)
        CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, objs[i].key, objs[i].seed, objs[i].len), 0);
    backend_close(b);
}

/* Read every object whole and check its bytes; returns how many were wrong or unreadable. */
static int check_all(backend_t *b, const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < N_OBJS; i++) {
        int ok = 0;
        int rc = test_get_check(b, BUCKET, objs[i].key, objs[i].seed, objs[i].len, &ok);
        if (rc != 0 || !ok) {
            fprintf(stderr, "%s: %s: rc %d (%s) ok %d\n", what, objs[i].key, rc, aug_strerror(rc),
                    ok);
            bad++;
        }
    }
    return bad;
}

static void shell(const char *fmt, const char *a, const char *b2)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), fmt, a, b2);
    if (system(cmd) != 0) fprintf(stderr, "warning: '%s' failed\n", cmd);
}

/* Copy every node directory aside, and put them back. */
static void snapshot_take(const test_cluster_t *c)
{
    char snap[PATH_MAX + 8];
    snprintf(snap, sizeof(snap), "%s.snap", c->dir);
    test_remove_tree(snap);
    shell("cp -a '%s' '%s'", c->dir, snap);
}

static void snapshot_restore(const test_cluster_t *c)
{
    char snap[PATH_MAX + 8];
    snprintf(snap, sizeof(snap), "%s.snap", c->dir);
    test_remove_tree(c->dir);
    shell("cp -a '%s' '%s'", snap, c->dir);
}

static void snapshot_drop(const test_cluster_t *c)
{
    char snap[PATH_MAX + 8];
    snprintf(snap, sizeof(snap), "%s.snap", c->dir);
    test_remove_tree(snap);
}

/* Version id (hex) of key's current version. */
static int version_of(backend_t *b, const char *key, char hex[33])
{
    backend_manifest_t *m = NULL;
    int rc = backend_head(b, BUCKET, key, &m, NULL);
    if (rc != 0) return rc;
    backend_version_hex(m, hex);
    backend_manifest_free(m);
    return 0;
}

/* Path of the chunk file of shard s of version hex on node i ("d/xx/<vid>.<s>/\xff"). */
static void chunk_path(const test_cluster_t *c, int i, const char *hex, int s, char *out,
                       size_t len)
{
    char node[PATH_MAX];
    test_node_path(c, i, node, sizeof(node));
    snprintf(out, len, "%s/d/%.2s/%s.%d/\xff", node, hex, hex, s);
}

/* The node holding shard s of version hex, its file path in out; -1 if no node has it. */
static int find_shard(const test_cluster_t *c, const char *hex, int s, char *out, size_t len)
{
    for (int i = 0; i < c->n_nodes; i++) {
        chunk_path(c, i, hex, s, out, len);
        if (access(out, F_OK) == 0) return i;
    }
    return -1;
}

/* Path of node i's copy of key's manifest ("m/<bucket>/<key>/\xff"). */
static void manifest_path(const test_cluster_t *c, int i, const char *key, char *out, size_t len)
{
    char node[PATH_MAX];
    test_node_path(c, i, node, sizeof(node));
    snprintf(out, len, "%s/m/" BUCKET "/%s/\xff", node, key);
}

/* Whole file into a malloc'd buffer; NULL when missing. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

/* 1 when path holds exactly the len bytes of want. */
static int file_equals(const char *path, const uint8_t *want, size_t len)
{
    size_t got_len = 0;
    uint8_t *got = slurp(path, &got_len);
    int eq = got && got_len == len && memcmp(got, want, len) == 0;
    free(got);
    return eq;
}

/* Files under live (recursively) that differ from, or are missing in, the same path under
 * snap; *files counts the files seen. */
static int tree_mismatches(const char *live, const char *snap, int *files)
{
    DIR *dh = opendir(live);
    if (!dh) return 0;
    int bad = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char lp[PATH_MAX], sp[PATH_MAX];
        snprintf(lp, sizeof(lp), "%s/%s", live, de->d_name);
        snprintf(sp, sizeof(sp), "%s/%s", snap, de->d_name);
        struct stat st;
        if (lstat(lp, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            bad += tree_mismatches(lp, sp, files);
            continue;
        }
        (*files)++;
        size_t len = 0;
        uint8_t *want = slurp(sp, &len);
        if (!want || !file_equals(lp, want, len)) {
            fprintf(stderr, "rebuilt %s differs from the original\n", lp);
            bad++;
        }
        free(want);
    }
    closedir(dh);
    return bad;
}

/* Mismatches between node i's namespace sub ("d", "m", "b") and the snapshot's. */
static int node_matches_snapshot(const test_cluster_t *c, int i, const char *sub, int *files)
{
    char node[PATH_MAX], live[PATH_MAX + 8], snap[PATH_MAX + 16];
    test_node_path(c, i, node, sizeof(node));
    snprintf(live, sizeof(live), "%s/%s", node, sub);
    snprintf(snap, sizeof(snap), "%s.snap/n%d/%s", c->dir, i, sub);
    return tree_mismatches(live, snap, files);
}

/* Flip (invert) the byte at off of path in place. */
static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    uint8_t v;
    CU_ASSERT_FATAL(pread(fd, &v, 1, (off_t)off) == 1);
    v ^= 0xff;
    CU_ASSERT_FATAL(pwrite(fd, &v, 1, (off_t)off) == 1);
    close(fd);
}

static const obj_t *obj_named(const char *key)
{
    for (size_t i = 0; i < N_OBJS; i++)
        if (!strcmp(objs[i].key, key)) return &objs[i];
    return NULL;
}

/* Offsets to damage in a chunk of "multi" (7 stripes, the last 333 bytes -> 84-byte shards):
 * first data byte, inside stripe 3, a stored CRC, the short last stripe, the footer. */
static const uint64_t multi_flips[] = {
    0,
    3 * (SHARD + CRC_LEN) + 517,
    2 * (SHARD + CRC_LEN) + SHARD + 1,
    6 * (SHARD + CRC_LEN) + 40,
    6 * (SHARD + CRC_LEN) + 84 + CRC_LEN + 20,
};
#define N_MULTI_FLIPS (sizeof(multi_flips) / sizeof(multi_flips[0]))

static void heal_ok(backend_t *b, backend_heal_stats_t *st)
{
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_heal(b, NULL, NULL, st, &err);
    if (rc != 0) fprintf(stderr, "heal: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
}

/* ---- lost and replaced nodes ----------------------------------------------------------- */

static void test_reads_survive_every_loss_of_up_to_two_nodes(void)
{
    test_cluster_t c;
    setup(&c, "dur-lose2");
    int bad = 0;
    for (int a = -1; a < N; a++) {
        for (int d = a + 1; d < N; d++) {
            /* a == -1: only node d is lost; plus the case of none lost */
            if (a >= 0) test_node_down(&c, a);
            test_node_down(&c, d);
            backend_t *b = reopen(&c);
            char what[64];
            snprintf(what, sizeof(what), "nodes %d,%d down", a, d);
            bad += check_all(b, what);
            backend_close(b);
            test_node_up(&c, d);
            if (a >= 0) test_node_up(&c, a);
        }
    }
    backend_t *b = reopen(&c);
    bad += check_all(b, "no node down");
    backend_close(b);
    CU_ASSERT_EQUAL(bad, 0);
    test_cluster_destroy(&c);
}

static void test_reads_survive_every_two_nodes_replaced_with_empty_disks(void)
{
    test_cluster_t c;
    setup(&c, "dur-repl2");
    snapshot_take(&c);
    int bad = 0;
    for (int a = 0; a < N; a++) {
        for (int d = a + 1; d < N; d++) {
            test_node_replace_empty(&c, a);
            test_node_replace_empty(&c, d);
            backend_t *b = reopen(&c);
            char what[64];
            snprintf(what, sizeof(what), "nodes %d,%d replaced", a, d);
            bad += check_all(b, what);
            backend_close(b);
            /* the full reads rebuilt the replaced nodes' data chunks: exactly the originals */
            int files = 0;
            bad += node_matches_snapshot(&c, a, "d", &files);
            bad += node_matches_snapshot(&c, d, "d", &files);
            if (files == 0) {
                fprintf(stderr, "%s: reads rebuilt nothing\n", what);
                bad++;
            }
            snapshot_restore(&c);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    snapshot_drop(&c);
    test_cluster_destroy(&c);
}

static void test_three_lost_nodes_fail_unavailable_without_wrong_bytes(void)
{
    test_cluster_t c;
    setup(&c, "dur-lose3");
    const obj_t *multi = obj_named("multi"), *inl = obj_named("inline");
    for (int a = 0; a < N; a++)
        for (int d = a + 1; d < N; d++)
            for (int e = d + 1; e < N; e++) {
                test_node_down(&c, a);
                test_node_down(&c, d);
                test_node_down(&c, e);
                backend_t *b = reopen(&c);
                backend_manifest_t *m = NULL;
                aug_err_t err;
                aug_err_clear(&err);
                CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, multi->key, &m, &err), 0);
                test_sink_t sink = {.seed = multi->seed};
                int rc = backend_read(b, m, 0, m->size, test_sink_check, &sink, &err);
                CU_ASSERT_EQUAL(rc, AUG_EUNAVAIL);
                CU_ASSERT_EQUAL(err.code, AUG_EUNAVAIL);
                CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "multi"));
                CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unavailable"));
                CU_ASSERT_EQUAL(sink.mismatches, 0);
                CU_ASSERT_EQUAL(sink.pos, 0); /* stripe 0 already lacks a fourth shard */
                backend_manifest_free(m);
                /* an inline object lives in every manifest copy, so it is still readable */
                int ok = 0;
                CU_ASSERT_EQUAL(test_get_check(b, BUCKET, inl->key, inl->seed, inl->len, &ok), 0);
                CU_ASSERT(ok);
                backend_close(b);
                test_node_up(&c, a);
                test_node_up(&c, d);
                test_node_up(&c, e);
            }
    test_cluster_destroy(&c);
}

static void test_unrecoverable_stripe_fails_after_only_correct_bytes(void)
{
    test_cluster_t c;
    setup(&c, "dur-midfail");
    const obj_t *multi = obj_named("multi");
    backend_t *b = reopen(&c);
    char hex[33], path[PATH_MAX + 64];
    CU_ASSERT_EQUAL_FATAL(version_of(b, multi->key, hex), 0);
    backend_close(b);
    /* shards 0 and 1 lost, shard 2 damaged in stripe 4 only: stripes 0-3 decode, 4 cannot */
    int n0 = find_shard(&c, hex, 0, path, sizeof(path));
    int n1 = find_shard(&c, hex, 1, path, sizeof(path));
    CU_ASSERT_FATAL(find_shard(&c, hex, 2, path, sizeof(path)) >= 0);
    flip_byte(path, 4 * (SHARD + CRC_LEN) + 10);
    test_node_down(&c, n0);
    test_node_down(&c, n1);
    b = reopen(&c);
    backend_manifest_t *m = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, multi->key, &m, &err), 0);
    test_sink_t sink = {.seed = multi->seed};
    int rc = backend_read(b, m, 0, m->size, test_sink_check, &sink, &err);
    CU_ASSERT_EQUAL(rc, AUG_EUNAVAIL);
    CU_ASSERT_EQUAL(sink.mismatches, 0);
    CU_ASSERT_EQUAL(sink.pos, 4 * STRIPE);
    /* a range inside the good stripes still reads */
    test_sink_t part = {.seed = multi->seed, .pos = 100};
    CU_ASSERT_EQUAL(backend_read(b, m, 100, 3 * STRIPE, test_sink_check, &part, NULL), 0);
    CU_ASSERT_EQUAL(part.mismatches, 0);
    backend_manifest_free(m);
    backend_close(b);
    test_node_up(&c, n0);
    test_node_up(&c, n1);
    b = reopen(&c);
    CU_ASSERT_EQUAL(check_all(b, "nodes back"), 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- flipped bytes --------------------------------------------------------------------- */

static void test_flipped_byte_in_data_shard_is_detected_and_written_back(void)
{
    test_cluster_t c;
    setup(&c, "dur-flipdata");
    backend_t *b = reopen(&c);
    const char *keys[] = {"multi", "one-stripe", "dir/exact"};
    int bad = 0;
    for (size_t ki = 0; ki < 3; ki++) {
        char hex[33];
        CU_ASSERT_EQUAL_FATAL(version_of(b, keys[ki], hex), 0);
        for (int s = 0; s < K; s++) {
            char path[PATH_MAX + 64];
            CU_ASSERT_FATAL(find_shard(&c, hex, s, path, sizeof(path)) >= 0);
            size_t len = 0;
            uint8_t *orig = slurp(path, &len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
            /* the listed offsets that fall in this file, plus its first and last byte */
            uint64_t offs[N_MULTI_FLIPS + 2];
            size_t no = 0;
            for (size_t f = 0; f < N_MULTI_FLIPS; f++)
                if (multi_flips[f] < len) offs[no++] = multi_flips[f];
            offs[no++] = len / 2;
            offs[no++] = len - 1;
            for (size_t f = 0; f < no; f++) {
                flip_byte(path, offs[f]);
                char what[128];
                snprintf(what, sizeof(what), "%s shard %d flipped at %llu", keys[ki], s,
                         (unsigned long long)offs[f]);
                bad += check_all(b, what);
                if (!file_equals(path, orig, len)) {
                    fprintf(stderr, "%s: not written back by the read\n", what);
                    bad++;
                    FILE *fp = fopen(path, "wb"); /* restore for the next case */
                    if (fp) fwrite(orig, 1, len, fp), fclose(fp);
                }
            }
            free(orig);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_flipped_byte_in_parity_shard_is_repaired_by_heal(void)
{
    test_cluster_t c;
    setup(&c, "dur-flippar");
    backend_t *b = reopen(&c);
    char hex[33];
    CU_ASSERT_EQUAL_FATAL(version_of(b, "multi", hex), 0);
    int bad = 0;
    for (int s = K; s < K + M; s++) {
        char path[PATH_MAX + 64];
        CU_ASSERT_FATAL(find_shard(&c, hex, s, path, sizeof(path)) >= 0);
        size_t len = 0;
        uint8_t *orig = slurp(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
        for (size_t f = 0; f < N_MULTI_FLIPS; f++) {
            flip_byte(path, multi_flips[f]);
            bad += check_all(b, "parity flipped");
            backend_heal_stats_t st;
            heal_ok(b, &st);
            CU_ASSERT(st.shards_repaired >= 1);
            if (!file_equals(path, orig, len)) {
                fprintf(stderr, "parity shard %d flipped at %llu: not repaired by heal\n", s,
                        (unsigned long long)multi_flips[f]);
                bad++;
                FILE *fp = fopen(path, "wb");
                if (fp) fwrite(orig, 1, len, fp), fclose(fp);
            }
        }
        free(orig);
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_flipped_parity_byte_is_detected_when_a_read_needs_parity(void)
{
    test_cluster_t c;
    setup(&c, "dur-flipneed");
    backend_t *b = reopen(&c);
    const obj_t *multi = obj_named("multi");
    char hex[33], ppath[PATH_MAX + 64], dpath[PATH_MAX + 64];
    CU_ASSERT_EQUAL_FATAL(version_of(b, multi->key, hex), 0);
    backend_close(b);
    /* data shard 1 lost: every stripe needs both parity shards; parity 4 damaged in stripe 3 */
    int dn = find_shard(&c, hex, 1, dpath, sizeof(dpath));
    CU_ASSERT_FATAL(find_shard(&c, hex, 4, ppath, sizeof(ppath)) >= 0);
    size_t len = 0;
    uint8_t *orig = slurp(ppath, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    flip_byte(ppath, 3 * (SHARD + CRC_LEN) + 99);
    test_node_down(&c, dn);
    b = reopen(&c);
    /* 3 data + 1 good parity = k shards: still exact; the damaged parity stripe is patched */
    CU_ASSERT_EQUAL(check_all(b, "data shard lost, parity flipped"), 0);
    CU_ASSERT(file_equals(ppath, orig, len));
    backend_close(b);
    test_node_up(&c, dn);
    free(orig);
    test_cluster_destroy(&c);
}

static void test_flipped_byte_in_any_manifest_copy_is_detected_and_rewritten(void)
{
    test_cluster_t c;
    setup(&c, "dur-flipman");
    backend_t *b = reopen(&c);
    const char *keys[] = {"inline", "multi"};
    int bad = 0;
    for (int i = 0; i < N; i++) {
        for (size_t ki = 0; ki < 2; ki++) {
            char path[PATH_MAX + 1200];
            manifest_path(&c, i, keys[ki], path, sizeof(path));
            size_t len = 0;
            uint8_t *orig = slurp(path, &len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
            uint64_t offs[] = {0, 5, len / 3, len / 2, len - 5, len - 1};
            for (size_t f = 0; f < sizeof(offs) / sizeof(offs[0]); f++) {
                flip_byte(path, offs[f]);
                char what[128];
                snprintf(what, sizeof(what), "node %d manifest of %s flipped at %llu", i, keys[ki],
                         (unsigned long long)offs[f]);
                bad += check_all(b, what);
                if (!file_equals(path, orig, len)) {
                    fprintf(stderr, "%s: copy not rewritten\n", what);
                    bad++;
                    FILE *fp = fopen(path, "wb");
                    if (fp) fwrite(orig, 1, len, fp), fclose(fp);
                }
            }
            free(orig);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- heal ------------------------------------------------------------------------------ */

static void test_heal_after_replacing_a_node_survives_losing_two_others(void)
{
    test_cluster_t c;
    setup(&c, "dur-heal");
    snapshot_take(&c);
    int bad = 0;
    for (int r = 0; r < N; r++) {
        test_node_replace_empty(&c, r);
        backend_t *b = reopen(&c);
        backend_heal_stats_t st;
        heal_ok(b, &st);
        backend_close(b);
        /* the new disk holds exactly what the old one did */
        int files = 0;
        bad += node_matches_snapshot(&c, r, "d", &files);
        bad += node_matches_snapshot(&c, r, "m", &files);
        bad += node_matches_snapshot(&c, r, "b", &files);
        CU_ASSERT_EQUAL(files, 3 + (int)N_OBJS + 1); /* 3 chunks, 4 manifests, 1 bucket */
        for (int a = 0; a < N; a++) {
            for (int d = a + 1; d < N; d++) {
                if (a == r || d == r) continue;
                test_node_down(&c, a);
                test_node_down(&c, d);
                b = reopen(&c);
                char what[96];
                snprintf(what, sizeof(what), "node %d healed, %d and %d down", r, a, d);
                bad += check_all(b, what);
                backend_close(b);
                test_node_up(&c, a);
                test_node_up(&c, d);
            }
        }
        snapshot_restore(&c);
    }
    CU_ASSERT_EQUAL(bad, 0);
    snapshot_drop(&c);
    test_cluster_destroy(&c);
}

typedef struct lines {
    int n;
    char text[4096];
} lines_t;

static void collect_line(void *arg, const char *line)
{
    lines_t *l = arg;
    l->n++;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "%s\n", line);
}

static void test_heal_reports_what_it_repaired(void)
{
    test_cluster_t c;
    setup(&c, "dur-report");
    test_node_replace_empty(&c, 3);
    backend_t *b = reopen(&c);
    lines_t lines = {0};
    backend_heal_stats_t st;
    CU_ASSERT_EQUAL(backend_heal(b, collect_line, &lines, &st, NULL), 0);
    CU_ASSERT_EQUAL(st.objects_checked, N_OBJS);
    /* the replaced node lacked the bucket record and every manifest */
    CU_ASSERT_EQUAL(st.manifests_repaired, N_OBJS + 1);
    /* and one chunk of each striped object */
    CU_ASSERT_EQUAL(st.shards_repaired, N_OBJS - 1);
    CU_ASSERT_EQUAL(st.objects_unrecoverable, 0);
    CU_ASSERT_EQUAL(st.garbage_removed, 0);
    CU_ASSERT(lines.n >= 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(lines.text, "multi"));
    /* everything is whole now: a second pass repairs nothing */
    lines_t again = {0};
    CU_ASSERT_EQUAL(backend_heal(b, collect_line, &again, &st, NULL), 0);
    CU_ASSERT_EQUAL(st.objects_checked, N_OBJS);
    CU_ASSERT_EQUAL(st.manifests_repaired, 0);
    CU_ASSERT_EQUAL(st.shards_repaired, 0);
    CU_ASSERT_EQUAL(again.n, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- deletes and writes ---------------------------------------------------------------- */

/* backend_head's code for key (the manifest, if any, is dropped). */
static int head_rc(backend_t *b, const char *key)
{
    backend_manifest_t *m = NULL;
    int rc = backend_head(b, BUCKET, key, &m, NULL);
    backend_manifest_free(m);
    return rc;
}

/* 1 when a listing of the bucket contains key. */
static int listed(backend_t *b, const char *key)
{
    backend_list_opts_t lo = {0};
    backend_list_result_t *res = NULL;
    if (backend_list(b, BUCKET, &lo, &res, NULL) != 0) return -1;
    int found = 0;
    for (size_t i = 0; i < res->n_objects; i++)
        if (!strcmp(res->objects[i]->key, key)) found = 1;
    backend_list_free(res);
    return found;
}

static void test_delete_while_a_node_is_down_stays_deleted_when_it_returns(void)
{
    test_cluster_t c;
    setup(&c, "dur-del");
    test_node_down(&c, 2);
    backend_t *b = reopen(&c);
    CU_ASSERT_EQUAL(backend_delete(b, BUCKET, "multi", NULL), 0);
    CU_ASSERT_EQUAL(backend_delete(b, BUCKET, "inline", NULL), 0);
    backend_close(b);
    test_node_up(&c, 2);
    b = reopen(&c);
    CU_ASSERT_EQUAL(head_rc(b, "multi"), AUG_ENOENT);
    CU_ASSERT_EQUAL(head_rc(b, "inline"), AUG_ENOENT);
    CU_ASSERT_EQUAL(listed(b, "multi"), 0);
    CU_ASSERT_EQUAL(listed(b, "inline"), 0);
    CU_ASSERT_EQUAL(listed(b, "one-stripe"), 1);
    backend_heal_stats_t st;
    heal_ok(b, &st);
    CU_ASSERT_EQUAL(head_rc(b, "multi"), AUG_ENOENT);
    CU_ASSERT_EQUAL(head_rc(b, "inline"), AUG_ENOENT);
    CU_ASSERT_EQUAL(listed(b, "multi"), 0);
    backend_close(b);
    /* the returning node now holds the tombstones: with only it and one peer left, the keys
     * are still gone */
    for (int i = 0; i < N; i++)
        if (i != 2 && i != 5) test_node_down(&c, i);
    b = reopen(&c);
    CU_ASSERT_EQUAL(head_rc(b, "multi"), AUG_ENOENT);
    CU_ASSERT_EQUAL(head_rc(b, "inline"), AUG_ENOENT);
    CU_ASSERT_EQUAL(listed(b, "multi"), 0);
    backend_close(b);
    for (int i = 0; i < N; i++)
        if (i != 2 && i != 5) test_node_up(&c, i);
    test_cluster_destroy(&c);
}

static void test_write_with_only_four_nodes_up_fails_quorum_and_changes_nothing(void)
{
    test_cluster_t c;
    setup(&c, "dur-quorum");
    backend_t *b = reopen(&c);
    char before[N_OBJS][33];
    for (size_t i = 0; i < N_OBJS; i++)
        CU_ASSERT_EQUAL(version_of(b, objs[i].key, before[i]), 0);
    backend_close(b);
    test_node_down(&c, 1);
    test_node_down(&c, 4);
    b = reopen(&c);
    aug_err_t err;
    /* overwrites of an inline and a striped key, a new key of each kind, and a delete */
    struct {
        const char *key;
        uint64_t len;
    } puts[] = {{"inline", 10}, {"multi", 5 * STRIPE}, {"new-inline", 10}, {"new-big", 9000}};
    for (size_t i = 0; i < 4; i++) {
        test_source_t src = {.seed = 900 + i, .len = puts[i].len};
        aug_err_clear(&err);
        int rc = backend_put(b, BUCKET, puts[i].key, NULL, test_source_read, &src, NULL, &err);
        CU_ASSERT_EQUAL(rc, AUG_EQUORUM);
        if (rc != AUG_EQUORUM) fprintf(stderr, "put %s with 4 nodes: rc %d\n", puts[i].key, rc);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "quorum"));
    }
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_delete(b, BUCKET, "one-stripe", &err), AUG_EQUORUM);
    /* nothing changed, as seen with the 4 nodes that took part */
    CU_ASSERT_EQUAL(check_all(b, "after refused writes, 4 nodes"), 0);
    CU_ASSERT_EQUAL(head_rc(b, "new-inline"), AUG_ENOENT);
    backend_close(b);
    /* ... and with every node back */
    test_node_up(&c, 1);
    test_node_up(&c, 4);
    b = reopen(&c);
    CU_ASSERT_EQUAL(check_all(b, "after refused writes, all nodes"), 0);
    for (size_t i = 0; i < N_OBJS; i++) {
        char now[33];
        CU_ASSERT_EQUAL(version_of(b, objs[i].key, now), 0);
        CU_ASSERT_STRING_EQUAL(now, before[i]);
    }
    CU_ASSERT_EQUAL(head_rc(b, "new-inline"), AUG_ENOENT);
    CU_ASSERT_EQUAL(head_rc(b, "new-big"), AUG_ENOENT);
    CU_ASSERT_EQUAL(listed(b, "new-inline"), 0);
    CU_ASSERT_EQUAL(listed(b, "new-big"), 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_write_with_one_node_down_succeeds_and_heal_fills_the_node(void)
{
    test_cluster_t c;
    setup(&c, "dur-late");
    test_node_down(&c, 5);
    backend_t *b = reopen(&c);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "late-inline", 201, 500), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "late-multi", 202, 5 * STRIPE + 9), 0);
    int ok = 0;
    CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "late-multi", 202, 5 * STRIPE + 9, &ok), 0);
    CU_ASSERT(ok);
    char hex[33];
    CU_ASSERT_EQUAL_FATAL(version_of(b, "late-multi", hex), 0);
    backend_close(b);
    test_node_up(&c, 5);
    b = reopen(&c);
    backend_heal_stats_t st;
    heal_ok(b, &st);
    CU_ASSERT_EQUAL(st.manifests_repaired, 2);
    CU_ASSERT_EQUAL(st.shards_repaired, 1);
    backend_close(b);
    /* node 5 now holds both manifests and its chunk of the striped one */
    char path[PATH_MAX + 1200];
    manifest_path(&c, 5, "late-inline", path, sizeof(path));
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    manifest_path(&c, 5, "late-multi", path, sizeof(path));
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    int have = 0;
    for (int s = 0; s < K + M; s++) {
        chunk_path(&c, 5, hex, s, path, sizeof(path));
        if (access(path, F_OK) == 0) have++;
    }
    CU_ASSERT_EQUAL(have, 1);
    /* so any two other nodes can go */
    int bad = 0;
    for (int a = 0; a < N - 1; a++)
        for (int d = a + 1; d < N - 1; d++) {
            test_node_down(&c, a);
            test_node_down(&c, d);
            b = reopen(&c);
            ok = 0;
            if (test_get_check(b, BUCKET, "late-multi", 202, 5 * STRIPE + 9, &ok) != 0 || !ok)
                bad++;
            if (test_get_check(b, BUCKET, "late-inline", 201, 500, &ok) != 0 || !ok) bad++;
            backend_close(b);
            test_node_up(&c, a);
            test_node_up(&c, d);
        }
    CU_ASSERT_EQUAL(bad, 0);
    test_cluster_destroy(&c);
}

/* ---- nodes lost during a put, stale nodes, damaged chunk files, collection -------------- */

/* A source that takes nodes away once it has produced at_bytes. */
typedef struct vanishing_source {
    test_source_t s;
    test_cluster_t *c;
    uint64_t at_bytes;
    int nodes[2], n_nodes, done;
} vanishing_source_t;

static ssize_t vanishing_source_read(void *arg, void *buf, size_t len)
{
    vanishing_source_t *v = arg;
    if (!v->done && v->s.pos >= v->at_bytes) {
        for (int i = 0; i < v->n_nodes; i++)
            test_node_down(v->c, v->nodes[i]);
        v->done = 1;
    }
    if (!v->done && len > v->at_bytes - v->s.pos) len = (size_t)(v->at_bytes - v->s.pos);
    return test_source_read(&v->s, buf, len);
}

static void test_node_lost_during_a_put_is_tolerated_and_healed(void)
{
    test_cluster_t c;
    setup(&c, "dur-vanish1");
    backend_t *b = reopen(&c);
    vanishing_source_t src = {.s = {.seed = 301, .len = 6 * STRIPE + 5, .chunk = 1000},
                              .c = &c,
                              .at_bytes = 2 * STRIPE + 100,
                              .nodes = {3},
                              .n_nodes = 1};
    aug_err_t err;
    int rc = backend_put(b, BUCKET, "vanish", NULL, vanishing_source_read, &src, NULL, &err);
    if (rc != 0) fprintf(stderr, "put: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    int ok = 0;
    CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "vanish", 301, 6 * STRIPE + 5, &ok), 0);
    CU_ASSERT(ok);
    backend_close(b);
    test_node_up(&c, 3);
    b = reopen(&c);
    backend_heal_stats_t st;
    heal_ok(b, &st);
    CU_ASSERT_EQUAL(st.shards_repaired, 1);
    CU_ASSERT_EQUAL(st.manifests_repaired, 1);
    backend_close(b);
    for (int a = 0; a < N; a++)
        for (int d = a + 1; d < N; d++) {
            if (a == 3 || d == 3) continue;
            test_node_down(&c, a);
            test_node_down(&c, d);
            b = reopen(&c);
            CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "vanish", 301, 6 * STRIPE + 5, &ok), 0);
            CU_ASSERT(ok);
            backend_close(b);
            test_node_up(&c, a);
            test_node_up(&c, d);
        }
    test_cluster_destroy(&c);
}

static void test_two_nodes_lost_during_a_put_fail_quorum_and_keep_the_old_version(void)
{
    test_cluster_t c;
    setup(&c, "dur-vanish2");
    backend_t *b = reopen(&c);
    char before[33];
    CU_ASSERT_EQUAL_FATAL(version_of(b, "multi", before), 0);
    vanishing_source_t src = {.s = {.seed = 302, .len = 6 * STRIPE + 5, .chunk = 1000},
                              .c = &c,
                              .at_bytes = 3 * STRIPE,
                              .nodes = {0, 5},
                              .n_nodes = 2};
    aug_err_t err;
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_put(b, BUCKET, "multi", NULL, vanishing_source_read, &src, NULL, &err),
                    AUG_EQUORUM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "quorum"));
    backend_close(b);
    test_node_up(&c, 0);
    test_node_up(&c, 5);
    b = reopen(&c);
    char now[33];
    CU_ASSERT_EQUAL(version_of(b, "multi", now), 0);
    CU_ASSERT_STRING_EQUAL(now, before);
    CU_ASSERT_EQUAL(check_all(b, "after a put that lost two nodes"), 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_overwrite_while_a_node_is_away_wins_when_it_returns(void)
{
    test_cluster_t c;
    setup(&c, "dur-stale");
    test_node_down(&c, 1);
    backend_t *b = reopen(&c);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "multi", 401, 2 * STRIPE + 1), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "inline", 402, 30), 0);
    backend_close(b);
    test_node_up(&c, 1);
    /* node 1 still has the old manifests: readers, heal, and readers after heal see the new */
    for (int pass = 0; pass < 2; pass++) {
        b = reopen(&c);
        int ok = 0;
        CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "multi", 401, 2 * STRIPE + 1, &ok), 0);
        CU_ASSERT(ok);
        CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "inline", 402, 30, &ok), 0);
        CU_ASSERT(ok);
        if (pass == 0) heal_ok(b, NULL);
        backend_close(b);
    }
    /* after heal node 1 holds the new manifests too: with 4 others down it still answers */
    for (int i = 0; i < N; i++)
        if (i != 1 && i != 2) test_node_down(&c, i);
    b = reopen(&c);
    int ok = 0;
    CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "inline", 402, 30, &ok), 0);
    CU_ASSERT(ok);
    backend_close(b);
    for (int i = 0; i < N; i++)
        if (i != 1 && i != 2) test_node_up(&c, i);
    test_cluster_destroy(&c);
}

static void test_head_with_five_nodes_down_is_unavailable_not_missing(void)
{
    test_cluster_t c;
    setup(&c, "dur-lose5");
    for (int i = 1; i < N; i++)
        test_node_down(&c, i);
    backend_t *b = reopen(&c);
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m = NULL;
    /* one node cannot tell a missing key from one it has not heard of */
    CU_ASSERT_EQUAL(backend_head(b, BUCKET, "multi", &m, &err), AUG_EUNAVAIL);
    CU_ASSERT_EQUAL(backend_head(b, BUCKET, "no-such-key", &m, &err), AUG_EUNAVAIL);
    CU_ASSERT(err.msg[0] != '\0');
    CU_ASSERT_PTR_NULL(m);
    backend_close(b);
    for (int i = 1; i < N; i++)
        test_node_up(&c, i);
    test_cluster_destroy(&c);
}

static void test_truncated_emptied_or_deleted_chunk_file_is_rebuilt_by_a_read(void)
{
    test_cluster_t c;
    setup(&c, "dur-trunc");
    backend_t *b = reopen(&c);
    char hex[33];
    CU_ASSERT_EQUAL_FATAL(version_of(b, "multi", hex), 0);
    int bad = 0;
    for (int how = 0; how < 3; how++) {
        for (int s = 0; s < K; s++) {
            char path[PATH_MAX + 64];
            CU_ASSERT_FATAL(find_shard(&c, hex, s, path, sizeof(path)) >= 0);
            size_t len = 0;
            uint8_t *orig = slurp(path, &len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
            int rc = how == 2 ? unlink(path) : truncate(path, how == 0 ? (off_t)len / 2 : 0);
            CU_ASSERT_EQUAL(rc, 0);
            bad += check_all(b, "chunk damaged");
            if (!file_equals(path, orig, len)) {
                fprintf(stderr, "shard %d damaged (%d): not rebuilt\n", s, how);
                bad++;
            }
            free(orig);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* Chunk files on node i. */
static int chunks_on(const test_cluster_t *c, int i)
{
    char node[PATH_MAX], cmd[PATH_MAX + 64];
    test_node_path(c, i, node, sizeof(node));
    snprintf(cmd, sizeof(cmd), "find '%s/d' -type f 2>/dev/null | wc -l", node);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_heal_collects_only_unreferenced_chunks(void)
{
    test_cluster_t c;
    test_cluster_init(&c, "dur-gc", N, K, M, STRIPE, INLINE_MAX);
    c.cfg.backend.gc_grace_ms = 0; /* everything unreferenced is garbage at once */
    backend_t *b = reopen(&c);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    for (size_t i = 0; i < N_OBJS; i++)
        CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, objs[i].key, objs[i].seed, objs[i].len), 0);
    /* two superseded striped versions, one striped version deleted, one became inline */
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "gone", 1, 2 * STRIPE), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "multi", 2, 3 * STRIPE), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "multi", objs[2].seed, objs[2].len), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "dir/exact", 3, 5), 0);
    CU_ASSERT_EQUAL(backend_delete(b, BUCKET, "gone", NULL), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "dir/exact", objs[3].seed, objs[3].len), 0);
    /* live striped: one-stripe, multi, dir/exact; garbage: gone, multi v1, multi v2,
     * dir/exact v1 */
    backend_heal_stats_t st;
    heal_ok(b, &st);
    CU_ASSERT_EQUAL(st.garbage_removed, 4 * N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(chunks_on(&c, i), 3);
    CU_ASSERT_EQUAL(check_all(b, "after collection"), 0);
    backend_close(b);
    for (int a = 0; a < N; a++)
        for (int d = a + 1; d < N; d++) {
            test_node_down(&c, a);
            test_node_down(&c, d);
            b = reopen(&c);
            CU_ASSERT_EQUAL(check_all(b, "after collection, two down"), 0);
            backend_close(b);
            test_node_up(&c, a);
            test_node_up(&c, d);
        }
    test_cluster_destroy(&c);
}

static void test_heal_with_a_node_down_repairs_the_rest_and_says_so(void)
{
    test_cluster_t c;
    test_cluster_init(&c, "dur-healdown", N, K, M, STRIPE, INLINE_MAX);
    c.cfg.backend.gc_grace_ms = 0;
    backend_t *b = reopen(&c);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    for (size_t i = 0; i < N_OBJS; i++)
        CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, objs[i].key, objs[i].seed, objs[i].len), 0);
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "multi", 5, 2 * STRIPE), 0); /* leaves garbage */
    CU_ASSERT_EQUAL(test_put(b, BUCKET, "multi", objs[2].seed, objs[2].len), 0);
    backend_close(b);
    test_node_replace_empty(&c, 2);
    test_node_down(&c, 4);
    b = reopen(&c);
    backend_heal_stats_t st;
    aug_err_t err;
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_heal(b, NULL, NULL, &st, &err), AUG_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "down"));
    CU_ASSERT_EQUAL(st.manifests_repaired, N_OBJS + 1); /* all of node 2's, none of 4's */
    CU_ASSERT_EQUAL(st.shards_repaired, N_OBJS - 1);
    CU_ASSERT_EQUAL(st.objects_unrecoverable, 0);
    CU_ASSERT_EQUAL(st.garbage_removed, 0); /* node 4 may know of data the walk missed */
    backend_close(b);
    test_node_up(&c, 4);
    b = reopen(&c);
    heal_ok(b, &st);
    if (st.garbage_removed != 2 * (N - 1))
        fprintf(stderr, "garbage removed: %llu\n", (unsigned long long)st.garbage_removed);
    /* multi v1 and v2 on every node but 2, whose disk was replaced */
    CU_ASSERT_EQUAL(st.garbage_removed, 2 * (N - 1));
    backend_close(b);
    /* node 2 was rebuilt while 4 was away: now 4's peers 0 and 1 can go */
    test_node_down(&c, 0);
    test_node_down(&c, 1);
    b = reopen(&c);
    CU_ASSERT_EQUAL(check_all(b, "node 2 healed, 0 and 1 down"), 0);
    backend_close(b);
    test_node_up(&c, 0);
    test_node_up(&c, 1);
    test_cluster_destroy(&c);
}

int main(void)
{
    aug_log_set_level(AUG_LOG_ERROR); /* nodes going down on purpose are not news */
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("backend durability (4+2 over 6 nodes)", NULL, NULL);
    CU_add_test(s, "reads survive every loss of up to two nodes",
                test_reads_survive_every_loss_of_up_to_two_nodes);
    CU_add_test(s, "reads survive every two nodes replaced with empty disks",
                test_reads_survive_every_two_nodes_replaced_with_empty_disks);
    CU_add_test(s, "three lost nodes fail unavailable without wrong bytes",
                test_three_lost_nodes_fail_unavailable_without_wrong_bytes);
    CU_add_test(s, "unrecoverable stripe fails after only correct bytes",
                test_unrecoverable_stripe_fails_after_only_correct_bytes);
    CU_add_test(s, "flipped byte in data shard is detected and written back",
                test_flipped_byte_in_data_shard_is_detected_and_written_back);
    CU_add_test(s, "flipped byte in parity shard is repaired by heal",
                test_flipped_byte_in_parity_shard_is_repaired_by_heal);
    CU_add_test(s, "flipped parity byte is detected when a read needs parity",
                test_flipped_parity_byte_is_detected_when_a_read_needs_parity);
    CU_add_test(s, "flipped byte in any manifest copy is detected and rewritten",
                test_flipped_byte_in_any_manifest_copy_is_detected_and_rewritten);
    CU_add_test(s, "heal after replacing a node survives losing two others",
                test_heal_after_replacing_a_node_survives_losing_two_others);
    CU_add_test(s, "heal reports what it repaired", test_heal_reports_what_it_repaired);
    CU_add_test(s, "delete while a node is down stays deleted when it returns",
                test_delete_while_a_node_is_down_stays_deleted_when_it_returns);
    CU_add_test(s, "write with only four nodes up fails quorum and changes nothing",
                test_write_with_only_four_nodes_up_fails_quorum_and_changes_nothing);
    CU_add_test(s, "write with one node down succeeds and heal fills the node",
                test_write_with_one_node_down_succeeds_and_heal_fills_the_node);
    CU_add_test(s, "node lost during a put is tolerated and healed",
                test_node_lost_during_a_put_is_tolerated_and_healed);
    CU_add_test(s, "two nodes lost during a put fail quorum and keep the old version",
                test_two_nodes_lost_during_a_put_fail_quorum_and_keep_the_old_version);
    CU_add_test(s, "overwrite while a node is away wins when it returns",
                test_overwrite_while_a_node_is_away_wins_when_it_returns);
    CU_add_test(s, "head with five nodes down is unavailable, not missing",
                test_head_with_five_nodes_down_is_unavailable_not_missing);
    CU_add_test(s, "truncated, emptied or deleted chunk file is rebuilt by a read",
                test_truncated_emptied_or_deleted_chunk_file_is_rebuilt_by_a_read);
    CU_add_test(s, "heal collects only unreferenced chunks",
                test_heal_collects_only_unreferenced_chunks);
    CU_add_test(s, "heal with a node down repairs the rest and says so",
                test_heal_with_a_node_down_repairs_the_rest_and_says_so);
    return test_run_all();
}
