/* lstm_shim.h - C interface to the libtorch sequence model in lstm_shim.cc (private to
 * predictor/). The only C++ in augur lives behind these functions. */
#ifndef AUGUR_PREDICTOR_LSTM_SHIM_H
#define AUGUR_PREDICTOR_LSTM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The model: an embedding over `buckets` hashed key buckets, one LSTM layer of `hidden` units
 * and a linear output layer over the buckets: given the buckets read so far, the logits of the
 * next bucket.
 *
 * Two copies of the weights: the training copy (used only by lstm_net_train, one thread) and
 * the inference copy (lstm_net_advance/lstm_net_score/lstm_net_reset, one other thread).
 * lstm_net_publish, called by the training thread, copies the trained weights into a new
 * inference copy and swaps it in under a short lock; the inference thread picks it up at its
 * next call and keeps its recurrent state (h, c). So inference never waits for training.
 *
 * Errors: functions returning int give 0 or -1 and write a sentence into err (errlen bytes,
 * may be NULL/0). No C++ exception escapes.
 */

typedef struct lstm_net lstm_net_t;

typedef struct lstm_shape {
    uint32_t buckets; /* input and output vocabulary, e.g. 8192 */
    uint32_t embed;   /* embedding width, e.g. 32 */
    uint32_t hidden;  /* LSTM units, e.g. 64 */
    uint32_t seq_len; /* training window (time steps), e.g. 16 */
    uint32_t batch;   /* windows per training step, e.g. 32 */
    float lr;         /* Adam learning rate, e.g. 3e-3 */
    uint64_t seed;    /* weight init and window sampling: same seed, same model */
} lstm_shape_t;

/* 1 if this build has libtorch (always 1 when lstm_shim.cc is linked). */
int lstm_net_available(void);

/* Set libtorch's intra-op threads (call once, before creating nets, after any fork). */
void lstm_net_set_threads(int threads);

/* New net with freshly initialised weights. NULL with err set on a bad shape or failure.
 * Free with lstm_net_destroy. */
lstm_net_t *lstm_net_create(const lstm_shape_t *shape, char *err, size_t errlen);
void lstm_net_destroy(lstm_net_t *n);

/* Inference thread: feed count input buckets in order (each < buckets), advancing the
 * recurrent state. Uses the latest published weights. */
int lstm_net_advance(lstm_net_t *n, const uint32_t *buckets, size_t count, char *err,
                     size_t errlen);
/* Inference thread: forget the recurrent state. */
void lstm_net_reset(lstm_net_t *n);
/* Inference thread: log-softmax probabilities (natural log, normalised over ALL buckets) of
 * each of the count candidate buckets being the next input, given the state after the last
 * advance. The normaliser is exact: the first score on a state computes every bucket's logit
 * and their logsumexp (about 50-60 us at 8192x64); later scores on the same state, until the
 * next advance, reset or published weights, are lookups (about 1 us for 8 candidates). */
int lstm_net_score(lstm_net_t *n, const uint32_t *cand, size_t count, float *logp, char *err,
                   size_t errlen);

/* Training thread: one optimiser step on batch windows of seq_len+1 consecutive buckets drawn
 * (deterministically from the seed) from seq[0..len); len must be > seq_len. Cross-entropy of
 * each next bucket. Returns the mean loss (>= 0), or -1 with err set. */
float lstm_net_train(lstm_net_t *n, const uint32_t *seq, size_t len, char *err, size_t errlen);
/* Training thread: make the trained weights the inference weights (see above). */
void lstm_net_publish(lstm_net_t *n);

/* Training thread (or before the threads start). Save the trained weights and shape to path
 * (written to path.tmp, fsynced, renamed). Load replaces both copies' weights (the inference
 * thread picks them up as after a publish) and restarts Adam; a missing, corrupt or
 * differently-shaped file is an error (-1, err says which) and leaves the net unchanged. The
 * shape that must match is buckets, embed and hidden: seq_len, batch and lr are training
 * settings and may differ. */
int lstm_net_save(lstm_net_t *n, const char *path, char *err, size_t errlen);
int lstm_net_load(lstm_net_t *n, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
