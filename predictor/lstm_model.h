/* lstm_model.h - the "lstm" model: a libtorch network over hashed key buckets that re-ranks
 * the markov tables' candidates (private to predictor/). */
#ifndef AUGUR_PREDICTOR_LSTM_MODEL_H
#define AUGUR_PREDICTOR_LSTM_MODEL_H

#include <stddef.h>

#include "predictor/predictor.h"

/*
 * Threads: lstm_model_observe, lstm_model_rerank and lstm_model_reset run on the predictor
 * thread; lstm_model_train on the training thread (or the same thread in synchronous mode).
 * The ring of recent buckets is the one thing both touch; it has its own lock.
 */

typedef struct lstm_model lstm_model_t;

/* 1 if the build has libtorch. */
int lstm_model_available(void);

/* A fresh network shaped by cfg. AUG_EINVAL with err set when the build has no libtorch or
 * the shape is bad, AUG_ENOMEM. */
int lstm_model_create(const predictor_config_t *cfg, lstm_model_t **out, aug_err_t *err);
void lstm_model_destroy(lstm_model_t *m);

/* Note one access (its key's bucket joins the training ring and the next inference batch). */
void lstm_model_observe(lstm_model_t *m, uint64_t key);

/* Feed the pending accesses to the network, then replace the prob of each of the n guesses
 * by the network's probability of its bucket coming next (the order is left as it was). 0 or an AUG_E*
 * code with err set (the guesses are then left as they were). */
int lstm_model_rerank(lstm_model_t *m, predictor_guess_t *g, size_t n, aug_err_t *err);

/* One training step on the ring, then publish the weights. *loss gets the step's loss. 0,
 * AUG_EAGAIN (not enough accesses yet: nothing done), or AUG_EIO with err set. */
int lstm_model_train(lstm_model_t *m, double *loss, aug_err_t *err);

/* Save the weights to path / load them (see lstm_net_save/lstm_net_load). */
int lstm_model_save(lstm_model_t *m, const char *path, aug_err_t *err);
int lstm_model_load(lstm_model_t *m, const char *path, aug_err_t *err);

#endif
