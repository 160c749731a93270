/* node.h - (private) the node driver interface: one failure domain that stores named blobs.
 *
 * A name is '/'-separated components, each a valid file name (1..255 bytes, not "." or
 * ".."); the last component may be empty (a name ending in '/'). One name may be a prefix
 * directory of another ("m/b/a" and "m/b/a/x" both exist). Drivers assume nothing about
 * speed or availability: every call may fail with AUG_EIO, meaning the node is unreachable,
 * as opposed to AUG_ENOENT, meaning the node is up and the name does not exist. All calls
 * are thread-safe. */
#ifndef AUGUR_BACKEND_NODE_H
#define AUGUR_BACKEND_NODE_H

#include "common/common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct node node_t;
typedef struct node_writer node_writer_t;
typedef struct node_blob node_blob_t;

typedef struct node_stat {
    uint64_t size;
    int64_t mtime_ns;
} node_stat_t;

typedef struct node_health {
    int up;
    uint64_t total_bytes, free_bytes;
    char reason[128];
} node_health_t;

/* Called by list() for each name in byte order; return non-zero to stop early. */
typedef int (*node_name_fn)(void *arg, const char *name);

typedef struct node_ops {
    /* Start writing name; nothing is visible until commit. */
    int (*put_begin)(node_t *n, const char *name, node_writer_t **out);
    int (*put_append)(node_writer_t *w, const void *buf, size_t len);
    /* Make the whole blob visible atomically and durably, replacing any old one; frees w. */
    int (*put_commit)(node_writer_t *w);
    /* Drop everything written; frees w. */
    void (*put_abort)(node_writer_t *w);
    /* Read up to len bytes at off into buf; *got receives the count (short at the end). */
    int (*get)(node_t *n, const char *name, uint64_t off, void *buf, size_t len, size_t *got);
    /* Optional: keep a blob open for many reads (a reader going through a chunk file).
     * Same results as get(). NULL when the driver has no cheaper way. */
    int (*open_blob)(node_t *n, const char *name, node_blob_t **out);
    int (*read_blob)(node_blob_t *h, uint64_t off, void *buf, size_t len, size_t *got);
    void (*close_blob)(node_blob_t *h);
    /* Overwrite len bytes at off of an existing blob durably (heal of one shard). Drivers that
     * cannot leave this NULL; callers then rewrite the whole blob. */
    int (*patch)(node_t *n, const char *name, uint64_t off, const void *buf, size_t len);
    int (*remove)(node_t *n, const char *name);
    int (*stat)(node_t *n, const char *name, node_stat_t *st);
    /* Names starting with prefix and greater than after (NULL: no bound), in byte order. */
    int (*list)(node_t *n, const char *prefix, const char *after, node_name_fn fn, void *arg);
    /* Remove leftovers of writes that never committed (a crashed writer) older than
     * cutoff_ns (wall clock); returns how many were removed. May be NULL. */
    int (*sweep_partial)(node_t *n, int64_t cutoff_ns);
    /* Check the node now; an empty replacement directory is initialised here. */
    int (*health)(node_t *n, node_health_t *h);
    void (*close)(node_t *n);
} node_ops_t;

struct node {
    const node_ops_t *ops;
    char spec[PATH_MAX + 8]; /* as configured, e.g. "dir:/srv/augur/d1" */
};

/* Open the node a spec names ("dir:/path"). A node that is down still opens. */
int node_open(const char *spec, node_t **out, aug_err_t *err);

/* Helpers over the ops. */
static inline void node_close(node_t *n)
{
    n->ops->close(n);
}

/* Read a whole (small) blob into a malloc'd buffer; caller frees *buf. */
int node_get_all(node_t *n, const char *name, size_t max, void **buf, size_t *len);
/* Write a whole blob atomically. */
int node_put_all(node_t *n, const char *name, const void *buf, size_t len);

int node_dir_open(const char *path, node_t **out, aug_err_t *err);

#endif
