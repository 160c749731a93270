/* predictor.h - learns the stream of accesses and predicts which keys come next and how soon
 * each key will be wanted again. Plain C; the LSTM lives behind it in a C++ shim. */
#ifndef AUGUR_PREDICTOR_H
#define AUGUR_PREDICTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/*
 * The cache tells the predictor of every access (predictor_observe: a bounded, lock-free
 * enqueue that never blocks and drops the event, counted, when the queue is full). One
 * predictor thread owns the models: it takes events in batches, updates them and hands its
 * guesses of the next keys to a callback (the cache prefetches them). With the "lstm" model a
 * second thread trains a copy of the network within a CPU budget and publishes its weights.
 *
 * Without a started thread (tests, `augur trace replay`) the caller drives it synchronously:
 * predictor_drain processes what is queued, predictor_predict answers for the latest access,
 * predictor_train runs training steps. Same inputs, same outputs: the synchronous mode is
 * deterministic.
 *
 * Models:
 *   "markov"  pure C: per-key successor counts, stride (key delta) counts and per-key
 *             recency/frequency; always available, and the baseline the LSTM must beat.
 *   "lstm"    an embedding over hashed key buckets, an LSTM and an output layer (libtorch)
 *             that re-ranks the candidates the markov tables propose; needs a build with
 *             libtorch (predictor_model_available).
 *
 * Time: scores count accesses, not seconds. The predictor numbers the events it has
 * processed, and "expected time to next access" is in those units, so it is comparable
 * across keys and independent of the clock the caller uses.
 *
 * Thread safety: predictor_observe, predictor_score, predictor_warm, predictor_set_budgets
 * and predictor_get_stats may be called
 * from any thread at any time. Everything else belongs to one owner thread.
 */

typedef struct predictor predictor_t;

/* What an access did. Writes and deletes teach recency; reads teach sequences too. */
typedef enum predictor_op { PREDICTOR_READ = 0, PREDICTOR_WRITE = 1, PREDICTOR_DELETE = 2 } predictor_op_t;

typedef struct predictor_event {
    uint64_t key;  /* the key's hash, or any stable 64-bit id (a block, a trace key) */
    uint64_t size; /* bytes */
    uint64_t time; /* caller's clock, any monotone unit (kept for the model file's summary) */
    uint8_t op;    /* predictor_op_t */
} predictor_event_t;

/* A guess: key is expected next with probability prob (0..1]. */
typedef struct predictor_guess {
    uint64_t key;
    float prob;
} predictor_guess_t;

/* Most guesses one prediction returns. */
#define PREDICTOR_GUESSES_MAX 8
/* predictor_score for a key the predictor knows nothing of. */
#define PREDICTOR_SCORE_UNKNOWN (UINT64_C(1) << 40)

typedef struct predictor_config {
    const char *model;             /* "markov" or "lstm" */
    uint32_t queue_events;         /* observe() queue, rounded up to a power of two */
    uint32_t ring_events;          /* recent accesses kept for training (lstm) */
    uint32_t table_keys;           /* keys with statistics kept; older ones are forgotten */
    uint32_t threads;              /* libtorch threads (lstm) */
    uint32_t train_steps_per_sec;  /* background training budget (lstm); 0 = never train */
    uint32_t train_every_events;   /* synchronous mode: one training step per this many events */
    uint32_t lstm_buckets;         /* hashed key buckets of the embedding and output layer */
    uint32_t lstm_hidden;          /* LSTM units */
    const char *state_path;        /* model file loaded at create and saved; NULL = none */
    uint32_t save_interval_s;      /* background save period; 0 = only at destroy */
    float min_prob;                /* guesses less likely than this are not handed out */
    uint64_t seed;                 /* same seed, same model */
} predictor_config_t;

typedef struct predictor_stats {
    uint64_t observed;       /* events processed */
    uint64_t dropped;        /* events dropped because the queue was full */
    uint64_t predictions;    /* guess lists produced */
    uint64_t guesses;        /* guesses handed out */
    uint64_t guesses_right;  /* guesses whose key was the next access, top-1 only */
    uint64_t train_steps;
    double last_loss;        /* lstm: mean cross-entropy of the last step; 0 for markov */
    uint64_t cpu_ns;         /* CPU time the predictor's own work took */
    uint64_t lag_events;     /* events queued but not yet processed */
    uint64_t saves, save_errors;
} predictor_stats_t;

/* Fill c with the defaults (markov, 64k queue, 1M-key table, ...). */
void predictor_config_default(predictor_config_t *c);

/* True if this build can create the model called name. */
int predictor_model_available(const char *name);

/* Create a predictor. A model file at cfg->state_path is loaded; a missing, corrupt or
 * incompatible one is ignored with a warning in the log (the model starts cold). Returns
 * NULL with err set on a bad config (unknown or unavailable model) or ENOMEM. Free with
 * predictor_destroy. */
predictor_t *predictor_create(const predictor_config_t *cfg, aug_err_t *err);

/* Stop the threads, save the model if a state path is set (errors logged) and free p. NULL
 * is fine. */
void predictor_destroy(predictor_t *p);

/* Record one access. Never blocks: returns 0, or AUG_EAGAIN if the queue was full and the
 * event was dropped (counted in stats.dropped). Any thread. */
int predictor_observe(predictor_t *p, const predictor_event_t *ev);

/* Called on the predictor thread with the guesses that follow each processed batch; must be
 * quick (queue a prefetch, nothing more). */
typedef void (*predictor_guess_fn)(void *arg, const predictor_guess_t *g, size_t n);

/* Start the predictor thread (and the training thread for lstm). Returns 0, AUG_EINVAL if
 * already started, or AUG_EIO with err set if a thread cannot start. */
int predictor_start(predictor_t *p, predictor_guess_fn fn, void *arg, aug_err_t *err);

/* Stop the threads (waits for them). The predictor can be started again. */
void predictor_stop(predictor_t *p);

/* Synchronous mode: process every queued event now, in this thread, training one step per
 * cfg->train_every_events. Not while the thread runs. */
void predictor_drain(predictor_t *p);

/* Synchronous mode: up to max (<= PREDICTOR_GUESSES_MAX) guesses for the access after the
 * latest processed one, most likely first. Returns how many were written. */
size_t predictor_predict(predictor_t *p, predictor_guess_t *out, size_t max);

/* Expected number of accesses until key is accessed again: small = soon, UINT64_MAX = never,
 * PREDICTOR_SCORE_UNKNOWN if key was never seen (or forgotten). Cheap; any thread. */
uint64_t predictor_score(const predictor_t *p, uint64_t key);

/* Change the budgets a reload may change: the confidence a guess needs (0..1; another value
 * is ignored) and the training steps per second (0 pauses training). Any thread. */
void predictor_set_budgets(predictor_t *p, float min_prob, uint32_t train_steps_per_sec);

/* Accesses a model must have learned from (in this run or a loaded model file) before its
 * scores are worth more than a classic policy's. */
#define PREDICTOR_WARM_EVENTS 1024
/* True once the model has learned from PREDICTOR_WARM_EVENTS accesses. Any thread. */
int predictor_warm(const predictor_t *p);

/* Synchronous mode: run steps training steps now. 0, or an AUG_E* code with err set.
 * A no-op for markov, which learns as it observes. */
int predictor_train(predictor_t *p, unsigned steps, aug_err_t *err);

/* Save the model to path (path.tmp, fsync, rename) / load it. Load leaves the model
 * unchanged on any error: AUG_ENOENT (missing), AUG_ECORRUPT (damaged or not a model file),
 * AUG_EINVAL (another model kind or shape), AUG_EIO. Not while the thread runs (it saves on
 * its own schedule). */
int predictor_save(predictor_t *p, const char *path, aug_err_t *err);
int predictor_load(predictor_t *p, const char *path, aug_err_t *err);

/* Counters since create. Any thread. */
void predictor_get_stats(const predictor_t *p, predictor_stats_t *st);

/* The model's name ("markov" or "lstm"). */
const char *predictor_model_name(const predictor_t *p);

#endif
