/* backend.h - the durable store: buckets, immutable versions and manifests, Reed-Solomon
 * shards spread over nodes, listing, healing.
 *
 * Every function is thread-safe on one backend_t. Errors are returned as negative AUG_E*
 * codes with a sentence for the user in *err (err may be NULL). */
#ifndef AUGUR_BACKEND_H
#define AUGUR_BACKEND_H

#include "common/common.h"

#include <stdint.h>
#include <sys/types.h>

#define BACKEND_KEY_MAX 1024          /* bytes of a key, as S3 */
#define BACKEND_COMPONENT_MAX 255     /* bytes of one '/'-separated key component (NAME_MAX) */
#define BACKEND_BUCKET_MIN 3
#define BACKEND_BUCKET_MAX 63
#define BACKEND_ETAG_MAX 72           /* hex MD5, or hex MD5 plus "-N" for multipart */
#define BACKEND_VERSION_ID_LEN 16     /* bytes of a version id */

typedef struct backend backend_t;

/* One name=value pair: user metadata as "x-amz-meta-NAME", or a kept header such as
 * "content-encoding". Names are lower case. */
typedef struct backend_kv {
    char *name;
    char *value;
} backend_kv_t;

/* What a key points at: one immutable version and its attributes. The layout (where the
 * bytes are) is private. Freed with backend_manifest_free(). */
typedef struct backend_manifest {
    char bucket[BACKEND_BUCKET_MAX + 1];
    char *key;
    uint8_t version_id[BACKEND_VERSION_ID_LEN];
    uint64_t size;
    int64_t mtime_ns;   /* user-visible modification time */
    int64_t written_ns; /* when this manifest was written: newest wins across nodes */
    char etag[BACKEND_ETAG_MAX + 1]; /* without quotes */
    char *content_type;              /* NULL when not set */
    uint32_t mode, uid, gid;
    int deleted; /* a tombstone: never returned by lookups, kept so deletes stick */
    size_t n_meta;
    backend_kv_t *meta;
    struct backend_layout *layout;
} backend_manifest_t;

/* Attributes of a new version. Every field may be zero/NULL. */
typedef struct backend_put_attrs {
    const char *content_type;
    uint32_t mode, uid, gid;
    int64_t mtime_ns; /* 0: now */
    size_t n_meta;
    const backend_kv_t *meta;
} backend_put_attrs_t;

/* A source of bytes for a put: fill buf with up to len bytes and return how many, 0 at the
 * end, or a negative AUG_E* code to abandon the put (nothing becomes visible). */
typedef ssize_t (*backend_source_fn)(void *arg, void *buf, size_t len);
/* A sink for a read: consume len bytes; return 0, or a negative code to stop the read. */
typedef int (*backend_sink_fn)(void *arg, const void *buf, size_t len);

/* ---- lifetime -------------------------------------------------------------------------- */

/* Open the backend described by cfg->backend (nodes that are down are tolerated: they are
 * retried on use). Caller frees with backend_close(). */
int backend_open(const aug_config_t *cfg, backend_t **out, aug_err_t *err);
void backend_close(backend_t *b);

/* ---- names ----------------------------------------------------------------------------- */

/* Check a bucket name against S3's rules (3-63 chars of a-z 0-9 . -, starting and ending with
 * a letter or digit, no "..", not an IP address). Returns 0 or AUG_EINVAL with a reason. */
int backend_check_bucket_name(const char *bucket, aug_err_t *err);
/* Check a key: non-empty valid UTF-8, at most 1024 bytes, no empty, "." or ".." component,
 * no component over 255 bytes (one trailing '/' marks a directory). AUG_EINVAL or
 * AUG_ETOOLONG with a reason. */
int backend_check_key(const char *key, aug_err_t *err);

/* ---- buckets --------------------------------------------------------------------------- */

/* Create a bucket; AUG_EEXIST if it exists. */
int backend_bucket_create(backend_t *b, const char *bucket, aug_err_t *err);
/* Delete an empty bucket; AUG_ENOENT if missing, AUG_ENOTEMPTY if it holds keys. */
int backend_bucket_delete(backend_t *b, const char *bucket, aug_err_t *err);
/* 0 if the bucket exists (creation time in *created_ns when not NULL), else AUG_ENOENT. */
int backend_bucket_stat(backend_t *b, const char *bucket, int64_t *created_ns, aug_err_t *err);

typedef struct backend_bucket_info {
    char name[BACKEND_BUCKET_MAX + 1];
    int64_t created_ns;
} backend_bucket_info_t;
/* All buckets sorted by name into a malloc'd array the caller frees. */
int backend_bucket_list(backend_t *b, backend_bucket_info_t **out, size_t *n, aug_err_t *err);

/* ---- objects --------------------------------------------------------------------------- */

/* Write a new version of bucket/key from src, streaming (memory bounded by a few stripes),
 * and make it the key's current version once the write quorum holds it durably. On success
 * *out (when not NULL) receives the new manifest, which the caller frees. On failure nothing
 * new is visible. */
int backend_put(backend_t *b, const char *bucket, const char *key,
                const backend_put_attrs_t *attrs, backend_source_fn src, void *src_arg,
                backend_manifest_t **out, aug_err_t *err);
/* Push-style writing of a new version, for callers that receive bytes in pieces (HTTP
 * bodies, staged files). Nothing is visible until commit; abort (or a failed write or
 * commit) leaves no trace beyond data that heal collects. One writer is used by one thread
 * at a time. */
typedef struct backend_writer backend_writer_t;
int backend_writer_open(backend_t *b, const char *bucket, const char *key,
                        const backend_put_attrs_t *attrs, backend_writer_t **out,
                        aug_err_t *err);
int backend_writer_write(backend_writer_t *w, const void *buf, size_t len, aug_err_t *err);
/* Add or replace a metadata entry of the version being written (before commit). */
int backend_writer_set_meta(backend_writer_t *w, const char *name, const char *value);
/* Make the version current; frees w. *out (when not NULL) receives the manifest. */
int backend_writer_commit(backend_writer_t *w, backend_manifest_t **out, aug_err_t *err);
/* Drop the write; frees w. NULL is allowed. */
void backend_writer_abort(backend_writer_t *w);

/* Look up the current manifest of bucket/key. AUG_ENOENT for a missing bucket or key.
 * Caller frees *out. */
int backend_head(backend_t *b, const char *bucket, const char *key, backend_manifest_t **out,
                 aug_err_t *err);
/* Stream bytes [off, off+len) of the version m names to sink, clamped to the object's
 * size. Only the stripes overlapping the range are read. Missing or corrupt shards are
 * rebuilt from the others and written back. Never delivers wrong bytes: when fewer than k
 * good shards remain it fails with AUG_EUNAVAIL before delivering the affected stripe. */
int backend_read(backend_t *b, const backend_manifest_t *m, uint64_t off, uint64_t len,
                 backend_sink_fn sink, void *sink_arg, aug_err_t *err);
/* Pull-style reading of bytes [off, off+len) of a version (clamped to its size), for
 * callers that are asked for bytes in pieces (HTTP responses, FUSE reads). The reader keeps
 * its own copy of m. Same guarantees as backend_read. */
typedef struct backend_reader backend_reader_t;
int backend_reader_open(backend_t *b, const backend_manifest_t *m, uint64_t off, uint64_t len,
                        backend_reader_t **out, aug_err_t *err);
/* Copy up to len bytes into buf; returns the count, 0 at the end, or a negative code. */
ssize_t backend_reader_read(backend_reader_t *r, void *buf, size_t len, aug_err_t *err);
void backend_reader_close(backend_reader_t *r);

/* A range of an existing version, as a piece of a new one. */
typedef struct backend_piece {
    const backend_manifest_t *manifest;
    uint64_t off, len;
} backend_piece_t;

/* Make a new version of bucket/key out of ranges of existing versions without copying
 * their data (the new manifest refers to the same immutable data objects); small results
 * are stored inline. etag is stored as given (e.g. "md5-N" for multipart). AUG_EINVAL for a
 * range outside its source. */
int backend_put_composed(backend_t *b, const char *bucket, const char *key,
                         const backend_put_attrs_t *attrs, const backend_piece_t *pieces,
                         size_t n, const char *etag, backend_manifest_t **out, aug_err_t *err);

/* Delete bucket/key by writing a tombstone. AUG_ENOENT if it does not exist. */
int backend_delete(backend_t *b, const char *bucket, const char *key, aug_err_t *err);

void backend_manifest_free(backend_manifest_t *m);
/* The manifest as bytes (with a CRC32C), e.g. for a shared cache; caller frees *buf. */
int backend_manifest_encode(const backend_manifest_t *m, uint8_t **buf, size_t *len);
/* Back from bytes; AUG_ECORRUPT if they fail their checksum. Caller frees *out. */
int backend_manifest_decode(const uint8_t *buf, size_t len, backend_manifest_t **out);
/* 1 if the version's bytes live inside the manifest (small objects). */
int backend_manifest_is_inline(const backend_manifest_t *m);
/* A deep copy, or NULL without memory. */
backend_manifest_t *backend_manifest_copy(const backend_manifest_t *m);
/* Version id as 32 hex digits into out (33 bytes). */
void backend_version_hex(const backend_manifest_t *m, char out[33]);
/* Value of metadata name (lower case) or NULL. */
const char *backend_manifest_meta(const backend_manifest_t *m, const char *name);

/* ---- multipart uploads ------------------------------------------------------------------ */

#define BACKEND_MAX_PARTS 10000

/* Start an upload of bucket/key with the attributes the final object gets; upload_id
 * receives 32 hex digits. */
int backend_upload_create(backend_t *b, const char *bucket, const char *key,
                          const backend_put_attrs_t *attrs, char upload_id[33], aug_err_t *err);
/* The upload's record (key, attributes; written_ns is when it started). AUG_ENOENT if there
 * is no such upload. Caller frees *out. */
int backend_upload_get(backend_t *b, const char *bucket, const char *upload_id,
                       backend_manifest_t **out, aug_err_t *err);
/* A writer for part number part (1..10000); its commit replaces any earlier upload of that
 * part and returns the part's manifest (ETag = MD5 of the part). */
int backend_upload_part_writer(backend_t *b, const char *bucket, const char *upload_id,
                               int part, backend_writer_t **out, aug_err_t *err);
/* A part made of ranges of existing versions (UploadPartCopy), with the given ETag. */
int backend_upload_part_compose(backend_t *b, const char *bucket, const char *upload_id,
                                int part, const backend_piece_t *pieces, size_t n,
                                const char *etag, backend_manifest_t **out, aug_err_t *err);

typedef struct backend_part {
    int number;
    backend_manifest_t *manifest; /* size, etag, written_ns of the part */
} backend_part_t;
typedef struct backend_part_list {
    backend_part_t *parts; /* sorted by number */
    size_t n;
} backend_part_list_t;
int backend_upload_list_parts(backend_t *b, const char *bucket, const char *upload_id,
                              backend_part_list_t *out, aug_err_t *err);
void backend_part_list_free(backend_part_list_t *l);
/* Make the object out of the given ranges of parts (the caller has checked part numbers,
 * order and ETags), then forget the upload. part_sizes (may be NULL) is kept as metadata
 * "augur-parts" so single parts can be read back by number. */
int backend_upload_complete(backend_t *b, const char *bucket, const char *upload_id,
                            const backend_piece_t *pieces, size_t n, const char *etag,
                            const char *part_sizes, backend_manifest_t **out, aug_err_t *err);
/* Forget an upload and its parts (their data is collected by heal). */
int backend_upload_abort(backend_t *b, const char *bucket, const char *upload_id,
                         aug_err_t *err);

typedef struct backend_upload_info {
    char upload_id[33];
    backend_manifest_t *manifest; /* the upload record: key, attributes, start time */
} backend_upload_info_t;
/* Uploads in progress in bucket, sorted by key then start time. */
int backend_upload_list(backend_t *b, const char *bucket, backend_upload_info_t **out,
                        size_t *n, aug_err_t *err);
void backend_upload_list_free(backend_upload_info_t *items, size_t n);
/* Abort uploads of bucket started before older_than_ns; *expired counts them. */
int backend_upload_expire(backend_t *b, const char *bucket, int64_t older_than_ns, int *expired,
                          aug_err_t *err);

/* ---- listing --------------------------------------------------------------------------- */

typedef struct backend_list_opts {
    const char *prefix;      /* NULL or "" for all */
    const char *delimiter;   /* NULL or "" for none */
    const char *start_after; /* list keys (and prefixes) strictly after this; NULL for none */
    size_t max_keys;         /* objects + common prefixes returned; 0 means 1000 */
} backend_list_opts_t;

typedef struct backend_list_result {
    size_t n_objects;
    backend_manifest_t **objects; /* sorted by key in byte order, as S3 */
    size_t n_prefixes;
    char **prefixes; /* common prefixes, sorted */
    int truncated;   /* more entries follow */
    char *next_marker; /* when truncated: the last key or prefix returned */
} backend_list_result_t;

/* List a bucket as S3 ListObjects does, merging every reachable node, correct while up to
 * m nodes are down. Caller frees *out with backend_list_free(). */
int backend_list(backend_t *b, const char *bucket, const backend_list_opts_t *opts,
                 backend_list_result_t **out, aug_err_t *err);
void backend_list_free(backend_list_result_t *r);

/* ---- health and repair ----------------------------------------------------------------- */

typedef struct backend_node_status {
    char spec[PATH_MAX + 8];
    int up;
    uint64_t total_bytes, free_bytes;
    char reason[128]; /* why it is down, "" when up */
    uint64_t ops, errors;        /* node operations since open, and those that failed */
    uint64_t timed_ops, time_us; /* timed reads: count and total time (mean latency) */
} backend_node_status_t;

int backend_node_count(const backend_t *b);
/* Check node i now (this may initialise an empty replacement directory). */
int backend_node_status(backend_t *b, int i, backend_node_status_t *st);

typedef struct backend_heal_stats {
    uint64_t objects_checked;
    uint64_t manifests_repaired; /* manifest copies written to nodes that lacked them */
    uint64_t shards_repaired;    /* chunk files rebuilt or patched */
    uint64_t objects_unrecoverable;
    uint64_t garbage_removed; /* chunk files no manifest refers to */
} backend_heal_stats_t;

/* Called by backend_heal for each repair with a line for the operator. */
typedef void (*backend_heal_report_fn)(void *arg, const char *line);

/* Walk every bucket and object, restore full redundancy (manifest copies on every node,
 * every shard present and correct), and remove unreferenced data older than gc_grace.
 * Returns 0 when everything is whole now, AUG_EUNAVAIL if some object could not be
 * repaired, or another error. */
int backend_heal(backend_t *b, backend_heal_report_fn report, void *arg,
                 backend_heal_stats_t *stats, aug_err_t *err);

#endif
