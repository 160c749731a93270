/* trace.h - load request traces, replay policies over them, plot results (private to cache/). */
#ifndef AUGUR_CACHE_TRACE_H
#define AUGUR_CACHE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

/* Thread safety: a loaded trace is read-only, so several threads may replay one trace at
 * once; each trace_replay builds its own policy. */

/* ---- loading (trace_read.c) ----------------------------------------------------------------
 *
 * A trace is CSV with the header `time,key,size` and one request per line: time an integer
 * (the learned replay hands it to the predictor; the policies ignore it), key an unsigned 64-bit integer, size a positive byte count. The file may
 * be zstd-compressed (recognised by its magic number, whatever its name). Blank lines are
 * skipped; a missing header is accepted; any other malformed line is an error naming the file
 * and line.
 */

/* next[i] when request i's key is never requested again. */
#define TRACE_NEVER UINT32_MAX

typedef struct trace {
    uint64_t n;            /* requests (< TRACE_NEVER) */
    uint64_t *keys;        /* [n] */
    uint64_t *sizes;       /* [n] bytes */
    uint64_t *times;       /* [n] the time column, in the trace's own unit */
    uint32_t *ids;         /* [n] key renumbered densely, 0 .. n_keys-1 in order of first use */
    uint32_t *next;        /* [n] index of the next request for the same key, or TRACE_NEVER */
    uint64_t n_keys;       /* distinct keys */
    uint64_t unique_bytes; /* sum over distinct keys of the size at their first request */
    uint64_t total_bytes;  /* sum of all request sizes */
    /* key -> id, kept from loading for trace_key_id (open addressing; id + 1, 0 = empty) */
    uint64_t *map_keys;
    uint32_t *map_ids;
    uint64_t map_mask;
} trace_t;

/* Load the whole trace at path into memory. Returns 0 and *out (free with trace_free), or
 * AUG_ENOENT / AUG_EIO (cannot open or read), AUG_EINVAL (malformed content: err says file
 * and line), AUG_ENOMEM. */
int trace_load(const char *path, trace_t **out, aug_err_t *err);

/* Same, from a stream already open (name is used in messages). The caller closes f. */
int trace_load_file(FILE *f, const char *name, trace_t **out, aug_err_t *err);

/* Free t (NULL is fine). */
void trace_free(trace_t *t);

/* The dense id of key, or -1 if t never requests it. */
int64_t trace_key_id(const trace_t *t, uint64_t key);

/* Cache size that is percent % of t's unique bytes, rounded down (as the reference simulator
 * computes fractions of the working set). */
uint64_t trace_percent_bytes(const trace_t *t, double percent);

/* ---- replay (trace_replay.c) -------------------------------------------------------------- */

typedef struct trace_result {
    uint64_t cache_bytes;
    uint64_t requests;
    uint64_t misses;
    uint64_t bytes;      /* requested */
    uint64_t miss_bytes; /* requested by misses */
    uint64_t evictions;
    double seconds; /* wall time of the replay loop alone */
    /* "learned" only */
    uint64_t prefetches;          /* keys prefetched */
    uint64_t prefetch_bytes;      /* bytes fetched by prefetches */
    uint64_t prefetch_used_bytes; /* of those, bytes a later request hit before eviction */
    uint64_t predictor_cpu_ns;    /* CPU time spent in the predictor */
    uint64_t guesses, guesses_right;
} trace_result_t;

/* Replay every request of t through a fresh policy called name (a policy_create name, or
 * "belady" for the offline optimum) with cache_bytes of capacity. Every request counts, with
 * no warm-up. Returns 0 and fills *r, or AUG_EINVAL (unknown name, zero size) / AUG_ENOMEM
 * with err set. */
int trace_replay(const trace_t *t, const char *name, uint64_t cache_bytes, trace_result_t *r,
                 aug_err_t *err);

/* How "learned" runs: the predictor in the loop, and optionally prefetching its guesses. */
typedef struct trace_learned_opts {
    const char *model; /* predictor model: "markov" or "lstm" */
    int prefetch;      /* admit guessed keys ahead of their request */
    float min_prob;    /* guesses below this are ignored */
    unsigned per_request; /* guesses prefetched after one request at most */
} trace_learned_opts_t;

/* The defaults: markov, no prefetch. */
void trace_learned_opts_default(trace_learned_opts_t *o);

/* Replay t through the "learned" policy with a fresh predictor (trace_learned.c). Each request
 * is observed by the predictor, its eviction scores drive the policy, and with o->prefetch its
 * guesses (keys that exist in the trace, at the size of their first request) are admitted
 * into the same cache budget. A prefetched key counts as used when a request hits it before
 * it is evicted. Deterministic. Errors as trace_replay, plus the predictor's. */
int trace_replay_learned(const trace_t *t, uint64_t cache_bytes, const trace_learned_opts_t *o,
                         trace_result_t *r, aug_err_t *err);

/* True if trace_replay accepts name. */
int trace_policy_known(const char *name);

/* ---- Belady's offline optimum (belady.c) --------------------------------------------------
 *
 * Admits every miss that fits and evicts the resident objects whose next use is farthest in
 * the future (never-used-again first), as the reference simulator does. The optimum for unit
 * sizes; with varying sizes only a reference line (size-aware optimum is NP-hard). Needs the
 * future, so it works on dense ids and next-use indexes from a loaded trace.
 */

typedef struct belady belady_t;

/* Create for capacity_bytes (> 0) and ids below n_ids. NULL on ENOMEM. Free with
 * belady_destroy. */
belady_t *belady_create(uint64_t capacity_bytes, uint64_t n_ids);
/* Free b (NULL is fine). */
void belady_destroy(belady_t *b);
/* Request id of size bytes whose next request is at index next (TRACE_NEVER if none).
 * Returns 1 on a hit, 0 on a miss. */
int belady_access(belady_t *b, uint32_t id, uint64_t size, uint32_t next);
/* Resident bytes, and evictions so far. */
uint64_t belady_used_bytes(const belady_t *b);
uint64_t belady_evictions(const belady_t *b);

/* ---- plots (svgplot.c) -------------------------------------------------------------------- */

/* One line of a plot: n points (x[i], y[i]). */
typedef struct svgplot_series {
    const char *label;
    const double *x;
    const double *y;
    size_t n;
} svgplot_series_t;

/* Write an SVG line chart of the series to path: x is cache size in bytes (log scale when it
 * spans a factor of 4 or more), y a ratio in [0, 1]. Returns 0, or AUG_EIO with err set. */
int svgplot_write(const char *path, const char *title, const svgplot_series_t *series,
                  size_t n_series, aug_err_t *err);

#endif
