/* common.h - errors, logging, configuration and small helpers shared by every part of augur. */
#ifndef AUGUR_COMMON_H
#define AUGUR_COMMON_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AUGUR_VERSION "0.1.0"

/* ---- errors ---------------------------------------------------------------------------- */

/* Error codes: functions return 0 on success or one of these (all negative). */
enum {
    AUG_OK = 0,
    AUG_EINVAL = -1,     /* bad argument or input (name, key, config value) */
    AUG_ENOENT = -2,     /* no such bucket, key or file */
    AUG_EEXIST = -3,     /* already exists */
    AUG_ENOTEMPTY = -4,  /* bucket not empty */
    AUG_EIO = -5,        /* a node or disk failed */
    AUG_ENOMEM = -6,     /* out of memory */
    AUG_EQUORUM = -7,    /* not enough healthy nodes to meet the write quorum */
    AUG_EUNAVAIL = -8,   /* data cannot be reconstructed: too many shards lost */
    AUG_ECORRUPT = -9,   /* stored data failed its checksum */
    AUG_ECONFIG = -10,   /* configuration file is wrong */
    AUG_ETOOLONG = -11,  /* name or key too long */
    AUG_ECANCELED = -12, /* a callback asked to stop */
    AUG_EAGAIN = -13,    /* a bounded queue is full; the work was dropped, try later */
};

#define AUG_ERR_MSG_MAX 512

/* An error carried from where it is understood up to the user: code plus a sentence. */
typedef struct aug_err {
    int code;
    char msg[AUG_ERR_MSG_MAX];
} aug_err_t;

/* Record code and a printf-style message in err (which may be NULL); returns code. */
int aug_err_set(aug_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clear err to AUG_OK with an empty message. */
void aug_err_clear(aug_err_t *err);
/* Short fixed name of a code ("not found", "I/O error", ...). Never NULL. */
const char *aug_strerror(int code);

/* ---- logging --------------------------------------------------------------------------- */

typedef enum { AUG_LOG_ERROR = 0, AUG_LOG_WARN, AUG_LOG_INFO, AUG_LOG_DEBUG } aug_log_level_t;

/* Lines below the level are dropped. Thread-safe. Default: AUG_LOG_WARN. */
void aug_log_set_level(aug_log_level_t level);
aug_log_level_t aug_log_get_level(void);
/* Parse "error", "warn", "info" or "debug"; returns 0 or AUG_EINVAL. */
int aug_log_parse_level(const char *s, aug_log_level_t *out);
/* Write one line to stderr: time, level, message. Thread-safe. Never pass secrets. */
void aug_log(aug_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One access-log line to stderr, printed whatever the level. Never pass secrets. */
void aug_log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define aug_error(...) aug_log(AUG_LOG_ERROR, __VA_ARGS__)
#define aug_warn(...) aug_log(AUG_LOG_WARN, __VA_ARGS__)
#define aug_info(...) aug_log(AUG_LOG_INFO, __VA_ARGS__)
#define aug_debug(...) aug_log(AUG_LOG_DEBUG, __VA_ARGS__)

/* ---- parsing helpers ------------------------------------------------------------------- */

/* Parse a byte size: decimal digits with an optional K, M, G or T suffix (powers of 1024,
 * optional trailing "B" or "iB"). Returns 0, or AUG_EINVAL for anything else or overflow. */
int aug_parse_size(const char *s, uint64_t *out);
/* Parse a duration: digits with an optional ms, s, m, h or d suffix (none = seconds), into
 * milliseconds. Returns 0 or AUG_EINVAL. */
int aug_parse_duration_ms(const char *s, uint64_t *out);
/* Format bytes as a short human string ("1.5 MiB") into buf of len bytes; returns buf. */
char *aug_format_size(uint64_t bytes, char *buf, size_t len);

/* ---- configuration --------------------------------------------------------------------- */

#define AUG_MAX_NODES 64

typedef struct aug_config {
    char path[PATH_MAX]; /* file the configuration came from, "" for built-in defaults */
    struct {
        aug_log_level_t log_level;
        char state_dir[PATH_MAX];
    } general;
    struct {
        int data_shards;   /* k, 1..16 */
        int parity_shards; /* m, 0..8 */
        int write_quorum;  /* k..k+m; default k+1 (capped at k+m) */
        int n_nodes;
        char nodes[AUG_MAX_NODES][PATH_MAX + 8]; /* "dir:/path" */
        uint64_t inline_max;  /* objects up to this many bytes live inside the manifest */
        uint64_t stripe_size; /* bytes of object data per stripe (k shards) */
        uint64_t gc_grace_ms; /* unreferenced data younger than this is never collected */
        uint64_t scrub_interval_ms; /* augurd heals everything this often; 0 = never */
    } backend;
    struct {
        char listen[128];          /* HOST:PORT of the S3 endpoint; "" disables it */
        char credentials[PATH_MAX]; /* credentials file; must not be readable by others */
        int threads;               /* HTTP worker threads */
        int max_connections;
        uint64_t idle_timeout_ms;  /* a connection idle this long is closed */
        char region[64];           /* what GetBucketLocation answers and SigV4 expects */
        char domain[256];          /* virtual-hosted style: BUCKET.domain; "" path style only */
        char public_read[1024];    /* buckets anonymous clients may read, comma separated */
        uint64_t multipart_expiry_ms; /* uploads abandoned this long are removed */
    } gateway;
    struct {
        char dir[PATH_MAX];      /* SSD tier directory; "" disables the tier */
        uint64_t block_size;     /* bytes per cached block */
        uint64_t ram_size;       /* RAM tier budget; 0 disables it */
        uint64_t ssd_size;       /* SSD tier budget */
        uint64_t ssd_min_free;   /* keep at least this much free on the SSD's filesystem */
        uint64_t redis_size;     /* this instance's budget for blocks in Redis */
        uint64_t redis_block_max; /* larger blocks are not put in Redis */
        char ram_policy[32], ssd_policy[32], redis_policy[32];
        uint64_t manifest_ttl_ms; /* manifests cached this long without an invalidation */
        uint64_t prefetch_inflight; /* bytes being prefetched at once */
        uint64_t prefetch_rate;     /* prefetched bytes per second; 0 = unlimited */
        uint64_t readahead_max;     /* largest sequential readahead window */
    } cache;
    struct {
        char url[512]; /* redis://[:password@]host[:port][/db] or unix:///path; "" = none */
        char password_file[PATH_MAX]; /* file holding the password (readable by us only) */
    } redis;
    struct {
        char listen[128];            /* admin endpoint HOST:PORT; "" disables it */
        char token_file[PATH_MAX];   /* the bearer token (file readable by augur only) */
    } admin;
    struct {
        char mountpoint[PATH_MAX];  /* where augurd mounts the buckets; "" = no mount */
        int allow_other;            /* 1: users other than the mounting one may use it */
        uint64_t attr_timeout_ms;   /* how long the kernel trusts attributes it was given */
        uint64_t entry_timeout_ms;  /* how long the kernel trusts a name lookup */
        char staging_dir[PATH_MAX]; /* files being written; "" = STATE_DIR/fuse-staging */
    } fuse;
    struct {
        char model[16];          /* "markov", "lstm" or "off" */
        int min_confidence;      /* percent: less likely guesses are not prefetched */
        char prefetch_tier[8];   /* "ram", "ssd" or "off": where guessed blocks go */
        int threads;             /* libtorch threads (lstm) */
        int train_steps_per_sec; /* training budget (lstm) */
        uint64_t queue_events;   /* accesses waiting for the predictor; more are dropped */
        uint64_t ring_events;    /* recent accesses kept for training */
        uint64_t table_keys;     /* blocks whose history is kept */
        uint64_t save_interval_ms; /* model saved to STATE_DIR/predictor.model this often */
    } predictor;
} aug_config_t;

/* Eviction policies a tier can be configured with; cache/policy.c implements each. */
#define AUG_POLICY_NAMES "lru, fifo, s3fifo, sieve, arc, learned"
/* 1 if name is one of AUG_POLICY_NAMES. */
int aug_policy_name_valid(const char *name);

/* Fill cfg with built-in defaults (no nodes). */
void aug_config_defaults(aug_config_t *cfg);
/* Load an INI file over the defaults. Unknown sections or keys, bad values and inconsistent
 * settings fail with AUG_ECONFIG and err->msg "file:line: what is wrong". */
int aug_config_load(aug_config_t *cfg, const char *path, aug_err_t *err);
/* Same, from a string (name is used in messages). */
int aug_config_load_string(aug_config_t *cfg, const char *text, const char *name,
                           aug_err_t *err);

/* ---- small helpers --------------------------------------------------------------------- */

/* Fill buf with len cryptographically random bytes; returns 0 or AUG_EIO. */
int aug_random_bytes(void *buf, size_t len);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void aug_hex(const void *data, size_t len, char *out);
/* Parse 2*len hex digits into out; returns 0 or AUG_EINVAL. */
int aug_unhex(const char *hex, void *out, size_t len);
/* Wall-clock time in nanoseconds since the epoch. */
int64_t aug_now_ns(void);
/* Monotonic time in nanoseconds. */
int64_t aug_mono_ns(void);
/* The wall-clock instant ns nanoseconds from now, for pthread_cond_timedwait. */
struct timespec aug_deadline_in(int64_t ns);
/* CRC32C (Castagnoli) of len bytes continuing from crc (start with 0). ISA-L backed. */
uint32_t aug_crc32c(uint32_t crc, const void *data, size_t len);
/* 64-bit hash of len bytes (for placement and hashing tables; not cryptographic). */
uint64_t aug_hash64(const void *data, size_t len, uint64_t seed);

#endif
