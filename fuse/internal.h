/* internal.h - (private to fuse/) the mount's state: paths, open files, their staging. */
#ifndef AUGUR_FUSE_INTERNAL_H
#define AUGUR_FUSE_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse.h> /* libfuse3's high-level API (pkg-config fuse3 puts its folder on the path) */

#include "fuse/augur_fuse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

/* Staged files are filled from their version in blocks of this size: a small write into a
 * big file fetches one block of the old bytes, not the whole file. */
#define STAGE_BLOCK (1u << 20)
/* Open files are found by name in a table of this many chains. */
#define NODE_SLOTS 1024
/* Reads of one open file keep this many positioned cache readers, so that the kernel's
 * readahead requests arriving slightly out of order still continue a sequential reader. */
#define HANDLE_READERS 4
/* A staged file whose upload failed is retried this often (milliseconds). */
#define RETRY_INTERVAL_MS 2000
/* Threads uploading closed files in the background. An upload waits mostly on the nodes'
 * write quorum (about 8 ms for a small file), not on a core: four overlap those waits on a
 * 2-core machine without starving the requests the mount serves. */
#define UPLOAD_WORKERS 4
/* Objects written over S3 carry no POSIX attributes: they show with these. */
#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755
/* S3 allows 2 KiB of user metadata per object; xattrs map onto it. */
#define XATTR_TOTAL_MAX 2048

/* ---- paths (paths.c) ----------------------------------------------------------------------- */

typedef enum { FP_ROOT, FP_BUCKET, FP_KEY } fpath_kind_t;

/* A mount path split into bucket and key. */
typedef struct fpath {
    fpath_kind_t kind;
    char bucket[BACKEND_BUCKET_MAX + 1];
    char key[BACKEND_KEY_MAX + 2]; /* room for a directory marker's '/' */
} fpath_t;

/* Split path ("/", "/BUCKET" or "/BUCKET/KEY..."). Returns 0, -ENAMETOOLONG (a component
 * over 255 bytes, a key over 1024), or -EINVAL (a name that cannot be a bucket or a key:
 * lookups turn that into ENOENT, creations report it). */
int fpath_parse(const char *path, fpath_t *out);
/* Key of the directory marker of p ("KEY/") into out (BACKEND_KEY_MAX + 2 bytes); returns 0
 * or -ENAMETOOLONG. */
int fpath_marker(const fpath_t *p, char *out);
/* errno (negative) for an AUG_E* code. */
int augfs_errno(int aug_code);

/* ---- attributes ---------------------------------------------------------------------------- */

/* The POSIX and S3 attributes a version is written with. */
typedef struct fattrs {
    uint32_t mode; /* with the file type bits */
    uint32_t uid, gid;
    int64_t mtime_ns;
    char *content_type;
    backend_kv_t *meta;
    size_t n_meta;
} fattrs_t;

/* Attributes as the mount shows them: defaults for objects written without POSIX
 * attributes. is_dir says what a manifest without a type is (a marker or a file). Returns 0
 * or -ENOMEM; free with fattrs_free(). */
int fattrs_from_manifest(const augfs_t *fs, const backend_manifest_t *m, int is_dir, fattrs_t *out);
int fattrs_copy(const fattrs_t *src, fattrs_t *dst);
void fattrs_free(fattrs_t *a);
/* Put attributes for writing a (borrowed: valid while a is). */
void fattrs_to_put(const fattrs_t *a, backend_put_attrs_t *out);
/* Drop metadata that describes the old bytes (part sizes of a multipart upload). */
void fattrs_drop_data_meta(fattrs_t *a);
/* Fill st from a and size. */
void fattrs_stat(const augfs_t *fs, const fattrs_t *a, uint64_t size, int64_t ctime_ns,
                 struct stat *st);

/* ---- open files (node.c) ------------------------------------------------------------------- */

/* One open key, shared by every handle open on it, so that all see the same staged bytes.
 * Lock order: node->mu before fs->nodes_mu. node->mu serialises everything done to one open
 * file, including its upload: it is held across cache calls, which never call back here. */
typedef struct fnode { /* a closed file being uploaded stays here until the upload ends */
    struct fnode *next;                  /* chain in fs->slots (nodes_mu) */
    char bucket[BACKEND_BUCKET_MAX + 1]; /* changed by rename with mu and nodes_mu held */
    char *key;
    int refs;     /* handles, one while an upload is pending, one while queued (nodes_mu) */
    int in_table; /* nodes_mu */

    pthread_mutex_t mu;
    backend_manifest_t *base; /* the version the content started from */
    fattrs_t a;               /* current attributes (authoritative once changed) */
    int64_t ctime_ns;
    int staged;   /* content is size + staged blocks + base below base_limit */
    int stage_fd; /* -1 until the first byte is written */
    char *stage_path;
    uint64_t size;       /* while staged */
    uint64_t base_limit; /* bytes of base still part of the content (<= size) */
    uint8_t *valid;      /* bitmap: STAGE_BLOCK blocks whose bytes are in the stage */
    size_t valid_bytes;
    int dirty_data, dirty_attrs; /* not uploaded yet */
    int unlinked;                /* removed or replaced: never uploaded again */
    int created;                 /* made by create and not in the store yet (base is local) */
    int pending;                 /* closed with changes: uploaded in the background */
    int upload_failed;           /* the last background upload failed: retried */
    cache_pending_t pending_reg; /* the key's registration in the cache while pending */
    int queued;                  /* in fs->up_head's queue (up_mu) */
    pthread_mutex_t snap_mu;     /* uploading and up_st */
    int uploading;               /* a background upload holds mu (snap_mu) */
    struct stat up_st;           /* the attributes while it does (snap_mu) */
    struct fnode *up_next;       /* the queue (up_mu) */
    int writers;                 /* open handles that may write */
    int noted;                   /* the staging note says: 0 nothing, 1 partial, 2 complete */
    int counted;                 /* counted in fs->staged_files */
    uint64_t counted_bytes;      /* counted in fs->staged_bytes */
} fnode_t;

/* An open file descriptor's state. */
typedef struct fhandle {
    struct fhandle *next, *prev; /* fs->handles (nodes_mu), to release them all at the end */
    fnode_t *node;
    int flags;
    int writable;
    pthread_mutex_t mu;         /* readers */
    backend_manifest_t *pinned; /* the version this open reads while nothing is staged */
    struct {
        cache_reader_t *r;
        uint64_t pos;
        uint64_t used;
    } readers[HANDLE_READERS];
    uint64_t tick;
} fhandle_t;

/* The node open on bucket/key with a reference, or NULL. */
fnode_t *fnode_find(augfs_t *fs, const char *bucket, const char *key);
/* The node for bucket/key with a reference, made from m if there is none. Returns 0 or
 * -ENOMEM. */
int fnode_get(augfs_t *fs, const char *bucket, const char *key, const backend_manifest_t *m,
              fnode_t **out);
/* A new empty file bucket/key with attributes a, staged only: it exists for this mount at once
 * and reaches the store at its first fsync, or after its first close. Returns 0, -EEXIST when a
 * node already holds the name (*out is then that node, referenced), or -ENOMEM. */
int fnode_create(augfs_t *fs, const char *bucket, const char *key, const fattrs_t *a,
                 fnode_t **out);
/* The node of a file created here and not uploaded yet at bucket/key, referenced, or NULL. */
fnode_t *fnode_find_created(augfs_t *fs, const char *bucket, const char *key);
/* Drop a reference; the last one frees the node and its staged file. */
void fnode_put(augfs_t *fs, fnode_t *n);
/* Take n out of the table (its key was removed or replaced): it is never uploaded again.
 * Called without n->mu. Returns 1 when n was created here and not uploaded yet at that moment
 * (there is nothing in the store to remove), else 0. */
int fnode_unlink(augfs_t *fs, fnode_t *n);
/* Move n to bucket/key in the table. Called with n->mu held. */
int fnode_rename(augfs_t *fs, fnode_t *n, const char *bucket, const char *key);
/* With n->mu held: start over from version m (nothing staged or dirty). */
int fnode_reset(augfs_t *fs, fnode_t *n, const backend_manifest_t *m);
/* With n->mu held: bytes [off, off+len) into buf; returns the count or -errno. */
ssize_t fnode_read(augfs_t *fs, fnode_t *n, char *buf, size_t len, uint64_t off);
/* With n->mu held: write len bytes at off; returns len or -errno. */
ssize_t fnode_write(augfs_t *fs, fnode_t *n, const char *buf, size_t len, uint64_t off);
/* With n->mu held: set the size. Returns 0 or -errno. */
int fnode_truncate(augfs_t *fs, fnode_t *n, uint64_t size);
/* With n->mu held: upload changes as a new version. Returns 0 or -errno (still dirty). */
int fnode_flush(augfs_t *fs, fnode_t *n);
/* With n->mu held: the node's attributes. */
void fnode_stat(augfs_t *fs, fnode_t *n, struct stat *st);
/* With n->mu held: the current size. */
uint64_t fnode_size(const fnode_t *n);
/* Node references for every node under bucket/prefix (all nodes when bucket is NULL) into a
 * malloc'd array; release each with fnode_put(). Returns the count, or -ENOMEM. */
ssize_t fnode_collect(augfs_t *fs, const char *bucket, const char *prefix, fnode_t ***out);
/* With n->mu held: n was closed; when it has changes not in the store, mark it pending (the
 * key is registered with cache_pending_begin so that S3 reads through this process wait for
 * it) and queue it for the upload workers. A file created and never written gets an empty
 * staging file and note first, so that a crash before the upload does not lose it. */
void fnode_upload_later(augfs_t *fs, fnode_t *n);
/* With n->mu held: end n's pending state. Returns 1 when it was pending: the caller then drops
 * the reference the pending state held (fnode_put, after unlocking n->mu). */
int fnode_clear_pending(augfs_t *fs, fnode_t *n);
/* Without n->mu: when a background upload holds n->mu, fill st with the attributes n had when
 * it started (nothing can change them meanwhile) and return 1, so that stat and readdir do not
 * wait for the upload; else return 0 (take n->mu and look). */
int fnode_stat_uploading(fnode_t *n, struct stat *st);
/* Upload queued nodes until fs->up_stopping (the upload workers' loop). */
void fnode_upload_queued(augfs_t *fs);
/* Drop the nodes still queued (the workers have stopped). */
void fnode_drain_queue(augfs_t *fs);
/* One retry pass over nodes whose background upload failed. */
void fnode_retry_pending(augfs_t *fs);

/* With n->mu held: 1 when the staging file holds every byte of the content (nothing is left
 * to read from the base version). */
int fnode_complete(const fnode_t *n);

/* ---- the staging directory across crashes (staging.c) -------------------------------------- */

/* With n->mu held: keep the note beside n's staging file current (which key, which base
 * version, whether the file is complete), or remove it when nothing is left unsaved. force
 * rewrites it even when nothing it says changed (the key was renamed, the size matters). */
void stage_note(augfs_t *fs, fnode_t *n, int force);
/* With n->mu held: count n's unsaved bytes in the mount's staged totals. */
void stage_account(augfs_t *fs, fnode_t *n);
/* Take n out of the staged totals (it is being freed). */
void stage_uncount(augfs_t *fs, fnode_t *n);
/* Upload the complete staged files a process that died left in the staging directory, when
 * their key still names the version they were staged from; keep the others and say so in the
 * log. Returns how many were uploaded. */
int stage_recover(augfs_t *fs);

/* ---- the kernel's caches (kernel_cache.c) -------------------------------------------------- */

/* Paths whose cached version is remembered (a direct-mapped table: a collision only costs a
 * kept page cache). */
#define KCACHE_SLOTS 65536
/* The kernel's readahead for the mount (KiB): its default 128 KiB makes cold sequential reads
 * one FUSE round trip per 128 KiB; 4 MiB is measured 3x faster from the RAM cache. */
#define KERNEL_READAHEAD_KB 4096

/* The version a path's page cache was last filled from. */
typedef struct kcache_slot {
    uint64_t name; /* hash of bucket/key, 0 when empty */
    uint8_t version[BACKEND_VERSION_ID_LEN];
} kcache_slot_t;

int kcache_init(augfs_t *fs);
void kcache_free(augfs_t *fs);
/* An open of m's version: 1 when the page cache holds that version's bytes and may be kept,
 * 0 when it must be dropped (m is remembered as what the page cache holds from now on). */
int kcache_keep(augfs_t *fs, const backend_manifest_t *m);
/* A read of m's version through an old handle: when a newer version is remembered for the path,
 * forget it (the page cache gets old bytes). */
void kcache_check_read(augfs_t *fs, const backend_manifest_t *m);
/* Forget what the page cache of bucket/key holds: the next open drops it. */
void kcache_forget(augfs_t *fs, const char *bucket, const char *key);
/* Listen (on 1) or stop listening (0) to changes made through the cache from outside the mount,
 * invalidating the kernel's attributes and bytes of their paths at once. */
void kcache_listen(augfs_t *fs, int on);
/* Mark the calling thread as the mount's own (on 1) or not (0); see kernel_cache.c. */
void kcache_own_thread(int on);
/* Raise the kernel's readahead window for the mount, once (after the kernel's INIT, which
 * would set it back). */
void kcache_raise_readahead(augfs_t *fs);

/* ---- times kept in memory (times.c) --------------------------------------------------------- */

/* Paths with times kept here are found in a table of this many chains. */
#define TIMES_SLOTS 4096

void times_free(augfs_t *fs);
/* An entry was created, removed or renamed: its parent directory's mtime and ctime are now.
 * key NULL: the entry is the bucket (its parent is the root). */
void times_entry_changed(augfs_t *fs, const char *bucket, const char *key);
/* Apply the kept times of directory bucket/key (key "" for the bucket itself, bucket "" and
 * key "" for the root) to st, where they are newer. */
void times_dir_stat(augfs_t *fs, const char *bucket, const char *key, struct stat *st);
/* Apply the kept access time of file bucket/key to st. */
void times_file_stat(augfs_t *fs, const char *bucket, const char *key, struct stat *st);
/* A read of bucket/key, whose mtime is mtime_ns: move its access time as relatime does. */
void times_read(augfs_t *fs, const char *bucket, const char *key, int64_t mtime_ns);
/* utimensat's access time. */
void times_set_atime(augfs_t *fs, const char *bucket, const char *key, int64_t atime_ns);
/* The file is gone: forget its access time. */
void times_forget(augfs_t *fs, const char *bucket, const char *key);

/* ---- the mount (mount.c) ------------------------------------------------------------------- */

struct augfs {
    cache_t *c;
    backend_t *b;
    char mountpoint[PATH_MAX];
    char stage_dir[PATH_MAX];
    uint32_t uid, gid; /* owner shown for objects without POSIX attributes */
    int64_t start_ns;  /* mtime of the root and of implied directories */
    int k, m;          /* erasure coding, for statfs */
    struct fuse *fuse;
    int mounted;

    pthread_t loop_thread, retry_thread;
    int loop_started, retry_started;
    pthread_t up_threads[UPLOAD_WORKERS];
    int up_started; /* workers running */

    pthread_mutex_t up_mu; /* the queue of closed files to upload */
    pthread_cond_t up_cv;
    fnode_t *up_head, *up_tail;
    int up_stopping;
    pthread_mutex_t state_mu;
    pthread_cond_t state_cv;
    int loop_done, stopping;
    void (*on_end)(void *);
    void *on_end_arg;

    pthread_mutex_t nodes_mu;
    fnode_t *slots[NODE_SLOTS];
    fhandle_t *handles;
    _Atomic uint64_t stage_seq;
    _Atomic uint64_t staged_files, staged_bytes; /* unsaved changes, for augur status */

    pthread_mutex_t kc_mu;
    kcache_slot_t *kc; /* KCACHE_SLOTS */
    atomic_int ra_raised;
    int listening;

    pthread_mutex_t times_mu;
    struct ptime *times[TIMES_SLOTS];
};

/* The operations (ops.c, ops_dir.c). */
extern const struct fuse_operations augfs_ops;
/* The mount of the calling request. */
augfs_t *augfs_current(void);
/* Release the handles of files still open when the mount stops. */
void augfs_release_all(augfs_t *fs);

/* ---- helpers shared by the operations (ops.c) ------------------------------------------------ */

/* The directory operations (ops_dir.c), gathered into augfs_ops by ops.c. */
int augfs_opendir(const char *path, struct fuse_file_info *fi);
int augfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                  struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int augfs_releasedir(const char *path, struct fuse_file_info *fi);
int augfs_mkdir(const char *path, mode_t mode);
int augfs_rmdir(const char *path);
int augfs_unlink(const char *path);
int augfs_rename(const char *from, const char *to, unsigned int flags);
int augfs_symlink(const char *target, const char *path);
int augfs_readlink(const char *path, char *buf, size_t size);
int augfs_statfs(const char *path, struct statvfs *st);
/* Attributes of a directory without a marker (the root, a bucket, an implied directory). */
void dir_stat(const augfs_t *fs, int64_t mtime_ns, struct stat *st);

/* What a key path is: a file (m set), a directory with a marker (m set, is_dir) or without
 * one (m NULL, is_dir), or nothing (-ENOENT). Caller frees *m. */
int lookup_key(augfs_t *fs, const fpath_t *p, backend_manifest_t **m, int *is_dir);
/* Write an object of len bytes from data with attributes a. */
int put_bytes(augfs_t *fs, const char *bucket, const char *key, const fattrs_t *a, const void *data,
              size_t len, backend_manifest_t **out);
/* After a key under p's parent went away: keep the parent directory with a marker if it has
 * nothing else left, as a local filesystem keeps an emptied directory. */
void keep_parent(augfs_t *fs, const fpath_t *p);

#endif
