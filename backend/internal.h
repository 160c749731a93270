/* internal.h - (private to backend/) the backend's shared state, layouts, encodings. */
#ifndef AUGUR_BACKEND_INTERNAL_H
#define AUGUR_BACKEND_INTERNAL_H

#include "backend.h"
#include "node.h"

#include <pthread.h>
#include <stdatomic.h>

/* Where a manifest, bucket record or shard lives in a node's namespace. */
#define NS_BUCKETS "b/"
#define NS_MANIFESTS "m/"
#define NS_DATA "d/"
#define NS_UPLOADS "u/"

/* Chunk file: for each stripe this node's shard followed by its CRC32C, then a footer that
 * names the object and shard (at the end, because a stream learns its size only there). */
#define CHUNK_MAGIC 0x43475541u /* "AUGC" */
#define CHUNK_HEADER_LEN 64
#define SHARD_CRC_LEN 4
/* Shards are multiples of 64 bytes so ISA-L's SIMD paths see aligned, whole vectors. */
#define SHARD_ALIGN 64
/* Largest manifest or bucket record we accept from a node (inline data plus metadata). */
#define MANIFEST_MAX (4u << 20)

/* One erasure-coded data object: an immutable run of bytes, k+m chunk files. */
typedef struct backend_object {
    uint8_t id[BACKEND_VERSION_ID_LEN];
    uint64_t size;
    uint8_t k, m;
    uint32_t shard_len; /* bytes of each full shard; a stripe holds k * shard_len bytes */
    char **nodes;       /* k + m node specs: shard i lives on nodes[i] */
} backend_object_t;

/* A run of a manifest's bytes taken from one data object. */
typedef struct backend_extent {
    uint32_t obj;
    uint64_t obj_off;
    uint64_t len;
} backend_extent_t;

struct backend_layout {
    int is_inline;
    uint8_t *inline_data;
    size_t inline_len;
    uint32_t n_objects;
    backend_object_t *objects;
    uint32_t n_extents;
    backend_extent_t *extents;
};

/* ---- io_pool.c ------------------------------------------------------------------------- */

typedef struct io_pool io_pool_t;
/* Tasks submitted together, waited for together. */
typedef struct io_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
} io_batch_t;
int io_pool_create(int threads, io_pool_t **out);
void io_pool_destroy(io_pool_t *p);
void io_batch_init(io_batch_t *b);
/* Run fn(arg) on a pool thread as part of batch b (inline when the pool cannot take it). */
void io_pool_submit(io_pool_t *p, io_batch_t *b, void (*fn)(void *), void *arg);
/* Wait until every task of b has run; b may not be used afterwards without io_batch_init. */
void io_batch_wait(io_batch_t *b);

struct backend {
    io_pool_t *io; /* parallel shard reads */
    int k, m, write_quorum;
    uint64_t inline_max;
    uint32_t shard_len;
    uint64_t gc_grace_ms;
    int n_nodes;
    node_t *nodes[AUG_MAX_NODES];
    _Atomic int node_down[AUG_MAX_NODES]; /* last known state, refreshed on use */
    _Atomic int64_t node_down_since[AUG_MAX_NODES];
    _Atomic uint64_t node_ops[AUG_MAX_NODES], node_errors[AUG_MAX_NODES];
    _Atomic uint64_t node_timed[AUG_MAX_NODES], node_time_us[AUG_MAX_NODES];
};

/* ---- manifest.c ------------------------------------------------------------------------ */

/* Serialise m (with its layout) into a malloc'd buffer ending in a CRC32C. */
int manifest_encode(const backend_manifest_t *m, uint8_t **out, size_t *len);
/* Parse and check a serialised manifest; AUG_ECORRUPT if it fails its checksum or form. */
int manifest_decode(const uint8_t *buf, size_t len, backend_manifest_t **out);
/* Deep copy. */
backend_manifest_t *manifest_clone(const backend_manifest_t *m);
/* Newer-than for last-writer-wins: written_ns, then version id. */
int manifest_newer(const backend_manifest_t *a, const backend_manifest_t *b);
void layout_free(struct backend_layout *l);
/* Node name of a key's manifest ("m/BUCKET/KEY") into out. */
int manifest_name(const char *bucket, const char *key, char *out, size_t len);

/* ---- erasure.c ------------------------------------------------------------------------- */

typedef struct ec_codec {
    int k, m;
    uint8_t *matrix; /* (k+m) x k Cauchy encode matrix */
    uint8_t *tables; /* ISA-L tables for the m parity rows */
} ec_codec_t;

int ec_codec_init(ec_codec_t *c, int k, int m);
void ec_codec_free(ec_codec_t *c);
/* Compute m parity shards of len bytes from k data shards. */
void ec_codec_encode(const ec_codec_t *c, size_t len, uint8_t **data, uint8_t **parity);
/* Rebuild shards: src holds k good shards whose indices are src_idx (ascending); out[i]
 * receives shard want[i] for i < n_want. Returns 0 or AUG_EINVAL. */
int ec_codec_rebuild(const ec_codec_t *c, size_t len, const int *src_idx, uint8_t **src,
                     int n_want, const int *want, uint8_t **out);

/* ---- placement.c ----------------------------------------------------------------------- */

/* Order all node indices by rendezvous weight for id, best first, into order[n_nodes]. */
void placement_rank(const backend_t *b, const uint8_t id[BACKEND_VERSION_ID_LEN], int *order);
/* Index of the node with this spec, or -1. */
int placement_node_index(const backend_t *b, const char *spec);

/* ---- records.c: manifests and bucket records replicated on every node ------------------- */

/* Read name from every node and return the newest valid copy (NULL-safe: *out NULL and
 * AUG_ENOENT when no node has one). stale[] (may be NULL) is set for up nodes whose copy is
 * missing, corrupt or older. Fails with AUG_EUNAVAIL when too few nodes answer to be sure
 * of the newest. */
int record_read(backend_t *b, const char *name, backend_manifest_t **out, int *stale);
/* Write m under name to every up node; AUG_EQUORUM if fewer than the write quorum took it. */
int record_write(backend_t *b, const char *name, const backend_manifest_t *m, aug_err_t *err);
/* Write m to the nodes marked in which[]; best effort (heal). Returns how many took it. */
int record_repair(backend_t *b, const char *name, const backend_manifest_t *m, const int *which);

/* ---- chunk.c: shard file names and headers ---------------------------------------------- */

void chunk_name(const uint8_t id[BACKEND_VERSION_ID_LEN], int shard, char *out, size_t len);
void chunk_header_encode(const backend_object_t *o, int shard, uint8_t out[CHUNK_HEADER_LEN]);
int chunk_header_check(const backend_object_t *o, int shard, const uint8_t *hdr);
uint64_t object_stripes(const backend_object_t *o);
/* Data bytes per full stripe. */
static inline uint64_t object_stripe_bytes(const backend_object_t *o)
{
    return (uint64_t)o->k * o->shard_len;
}
/* Shard length of stripe s (the last stripe may be short). */
uint32_t object_shard_len(const backend_object_t *o, uint64_t s);
/* Offset of stripe s's shard within a chunk file. */
static inline uint64_t chunk_offset(const backend_object_t *o, uint64_t s)
{
    return s * ((uint64_t)o->shard_len + SHARD_CRC_LEN);
}
/* Offset of the footer (CHUNK_HEADER_LEN bytes) within a chunk file. */
uint64_t chunk_footer_offset(const backend_object_t *o);

/* ---- listing.c ------------------------------------------------------------------------- */

/* Names taken from each node per round when the caller has no better figure. */
#define NAMES_BATCH 1000

/* Merge one batch (at most batch names from each node) of names starting with nsprefix and
 * after cursor (NULL: from the start) from the first want nodes that answer: sorted, unique,
 * exact up to the last returned name. *exhausted is set when no node has more. Caller frees
 * with names_free(). AUG_EUNAVAIL when fewer than records_quorum() nodes answer. */
int names_merge_round(backend_t *b, const char *nsprefix, const char *cursor, size_t batch,
                      int want, char ***out, size_t *n_out, int *exhausted);

/* How many nodes' answers are enough to see every record acknowledged by a write quorum:
 * n - write_quorum + 1, since any that many nodes include one the write reached. */
int records_quorum(const backend_t *b);
/* How many nodes a listing reads: records_quorum plus m, so that a key stays listed while
 * its data survives, with up to m of the nodes that took it since emptied (a swapped disk
 * not yet healed). At most n. */
int listing_nodes(const backend_t *b);
void names_free(char **names, size_t n);

/* ---- object_write.c -------------------------------------------------------------------- */

/* Open a writer whose manifest goes to node name record (a key's, or a multipart part's);
 * record NULL writes the data only (the caller references it from another manifest). */
int writer_open_record(backend_t *b, const char *record, const char *bucket, const char *key,
                       const backend_put_attrs_t *attrs, backend_writer_t **out, aug_err_t *err);

/* Store even a small object as shards (for data that other manifests will reference). */
void writer_force_shards(backend_writer_t *w);
/* Copy the attributes of a new version into m (bucket, key, times, mode, metadata). */
int manifest_fill_attrs(backend_manifest_t *m, const char *bucket, const char *key,
                        const backend_put_attrs_t *a);

/* ---- compose.c ------------------------------------------------------------------------- */

/* Layout made of the pieces' ranges (inline when small enough); *size gets its length. */
int compose_layout(backend_t *b, const backend_piece_t *pieces, size_t n,
                   struct backend_layout **out, uint64_t *size, aug_err_t *err);
/* Write a manifest for bucket/key under node name record, made of the pieces. */
int compose_into_record(backend_t *b, const char *record, const char *bucket, const char *key,
                        const backend_put_attrs_t *attrs, const backend_piece_t *pieces,
                        size_t n, const char *etag, backend_manifest_t **out, aug_err_t *err);

/* ---- object_read.c ----------------------------------------------------------------------- */

/* Read object bytes [off, off+len) to sink, healing what it can. If rebuild is set, shards
 * whose chunk files are missing are rebuilt whole (the caller reads the whole object). */
int object_read(backend_t *b, const backend_object_t *o, uint64_t off, uint64_t len,
                backend_sink_fn sink, void *arg, int rebuild, int *repaired, aug_err_t *err);

/* Mark node i down or up after an operation (and count it). */
void backend_note_node(backend_t *b, int i, int rc);
/* The same for a timed operation that started at start_ns (monotonic). */
void backend_note_node_timed(backend_t *b, int i, int rc, int64_t start_ns);
int backend_node_usable(backend_t *b, int i);

#endif
