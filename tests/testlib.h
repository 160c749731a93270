/* testlib.h - helpers shared by the CUnit test programs: scratch directories, node sets, a
 * backend over them, and byte sources and sinks. */
#ifndef AUGUR_TESTLIB_H
#define AUGUR_TESTLIB_H

#include "backend/backend.h"
#include "common/common.h"

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

/* A scratch directory with n node directories n0..n(n-1) and a config over them. */
typedef struct test_cluster {
    char dir[PATH_MAX];
    int n_nodes;
    aug_config_t cfg;
} test_cluster_t;

/* Make a fresh scratch directory under $AUGUR_TEST_TMP (or /tmp) named after tag. */
void test_scratch_dir(const char *tag, char *out, size_t len);
/* rm -rf path. */
void test_remove_tree(const char *path);
/* Set up n node directories and a config with k+m shards, stripe and inline sizes. */
void test_cluster_init(test_cluster_t *c, const char *tag, int n, int k, int m,
                       uint64_t stripe_size, uint64_t inline_max);
void test_cluster_destroy(test_cluster_t *c);
/* Path of node i's directory. */
void test_node_path(const test_cluster_t *c, int i, char *out, size_t len);
/* Take node i away (rename its directory) or bring it back. */
void test_node_down(test_cluster_t *c, int i);
void test_node_up(test_cluster_t *c, int i);
/* Replace node i with an empty directory (a disk swapped for a new one). */
void test_node_replace_empty(test_cluster_t *c, int i);
backend_t *test_backend_open(test_cluster_t *c);

/* Deterministic pseudo-random bytes: byte i of stream seed. */
void test_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t offset);

/* A source producing len deterministic bytes from seed, in chunks of at most chunk bytes. */
typedef struct test_source {
    uint64_t seed, len, pos;
    size_t chunk;
} test_source_t;
ssize_t test_source_read(void *arg, void *buf, size_t len);

/* A sink that checks bytes against the deterministic stream (from offset start). */
typedef struct test_sink {
    uint64_t seed, pos;
    uint64_t mismatches;
} test_sink_t;
int test_sink_check(void *arg, const void *buf, size_t len);

/* A sink collecting bytes into a growing buffer. */
typedef struct test_buffer {
    uint8_t *data;
    size_t len, cap;
} test_buffer_t;
int test_buffer_append(void *arg, const void *buf, size_t len);

/* Put len deterministic bytes; returns the backend's code. */
int test_put(backend_t *b, const char *bucket, const char *key, uint64_t seed, uint64_t len);
/* Read a whole key and check it against seed; returns the backend's code, sets *ok. */
int test_get_check(backend_t *b, const char *bucket, const char *key, uint64_t seed,
                   uint64_t len, int *ok);

/* Every file and directory below dir as sorted lines "d path" / "f path SIZE" (paths relative
 * to dir), to compare a tree before and after an operation. Caller frees. */
char *test_tree_snapshot(const char *dir);

/* Run every registered suite; returns the process exit status (0 when all passed). */
int test_run_all(void);

#endif
