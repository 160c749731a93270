/* markov.h - the pure-C tables every predictor keeps: per-key recency, frequency and
 * successors, and stride (key delta) transitions (private to predictor/). */
#ifndef AUGUR_PREDICTOR_MARKOV_H
#define AUGUR_PREDICTOR_MARKOV_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "predictor/predictor.h"

/*
 * Memory is fixed at creation: table_keys entries in 4-way sets (the least recently used way
 * of a full set is forgotten) and MARKOV_DELTAS stride contexts. One writer (the predictor
 * thread, or the synchronous caller); markov_score may run concurrently on other threads,
 * so the fields it reads are relaxed atomics: a torn read yields a slightly wrong score,
 * never a crash.
 */

/* Successors remembered per key and per stride context. */
#define MARKOV_WAYS 2

typedef struct markov_key {
    _Atomic uint64_t key;
    _Atomic uint64_t last;   /* sequence number of the latest access; 0 = empty entry */
    _Atomic uint32_t count;  /* accesses, saturating */
    _Atomic uint32_t gap;    /* moving average of the gap between accesses, in accesses */
    uint64_t succ[MARKOV_WAYS];
    uint16_t succ_n[MARKOV_WAYS];
    uint16_t succ_total;
} markov_key_t;

typedef struct markov_delta {
    int64_t ctx; /* the stride that led here */
    int64_t d[MARKOV_WAYS];
    uint16_t n[MARKOV_WAYS];
    uint16_t total;
    uint16_t used;
} markov_delta_t;

/* Stride contexts kept (direct mapped). */
#define MARKOV_DELTAS 4096
/* Keys guessed recently whose score is held low until they are used or age out. */
#define MARKOV_RECENT 64

/* Calibration: how often guesses of each kind came true, so a probability means what it
 * says. A guess is right if its key is accessed within MARKOV_CAL_WINDOW accesses. */
#define MARKOV_CAL_WINDOW 8
#define MARKOV_CAL_COUNTS 16 /* row counts 0..15 (MARKOV_TOTAL_MAX) */
#define MARKOV_PENDING 64    /* guesses waiting for their outcome */

typedef struct markov_cal {
    uint32_t made, right;
} markov_cal_t;

typedef struct markov_pending {
    uint64_t key;
    uint64_t seq; /* when it was guessed */
    markov_cal_t *cell;
} markov_pending_t;

typedef struct markov {
    markov_key_t *keys;
    uint64_t set_mask; /* sets - 1; a set is 4 consecutive entries */
    markov_delta_t deltas[MARKOV_DELTAS];
    _Atomic uint64_t seq; /* accesses processed; the clock of every score */
    uint64_t prev_key, prev_delta;
    int have_prev;
    /* the mean gap from a key's first access to its second, over keys that had one */
    _Atomic uint64_t first_gap;
    _Atomic uint64_t recent[MARKOV_RECENT];
    uint32_t recent_at;
    /* [source: 0 successor, 1 stride, 2 lstm][count][row total]; the lstm's probability p is
     * filed as count round(15 p) of 15 */
    markov_cal_t cal[3][MARKOV_CAL_COUNTS][MARKOV_CAL_COUNTS];
    markov_pending_t pending[MARKOV_PENDING];
    uint32_t pending_at;
} markov_t;

/* Allocate for table_keys keys (rounded up to a power of two, at least 64). 0 or
 * AUG_ENOMEM. */
int markov_init(markov_t *m, uint32_t table_keys);
void markov_fini(markov_t *m);

/* Learn from one access. */
void markov_observe(markov_t *m, const predictor_event_t *ev);

/* Guesses for the access after the latest one, most likely first (merged successor and stride
 * candidates). Returns the count (<= max). */
size_t markov_predict(markov_t *m, predictor_guess_t *out, size_t max);

/* The calibrated probability of a guess of key that another model (the LSTM) gives raw
 * probability raw; its outcome is tracked like the markov guesses'. */
float markov_calibrate_other(markov_t *m, float raw, uint64_t key);

/* Order n guesses most likely first. */
void markov_sort_guesses(predictor_guess_t *g, size_t n);

/* Remember that key was guessed, so its score stays low until it is used. */
void markov_note_guess(markov_t *m, uint64_t key);

/* See predictor_score. */
uint64_t markov_score(const markov_t *m, uint64_t key);

/* Append the tables to f. 0 or AUG_EIO. crc accumulates the CRC32C of the bytes written. */
int markov_write(const markov_t *m, FILE *f, uint32_t *crc);
/* Read tables written by markov_write into a new model *out with like's table size (entries
 * are placed by key again, so the size may differ from the writer's). 0 (free *out with
 * markov_fini), or AUG_EIO, AUG_ECORRUPT, AUG_ENOMEM with *out left empty. crc accumulates
 * the CRC32C of the bytes read: the caller checks it before adopting *out. */
int markov_read(const markov_t *like, FILE *f, uint32_t *crc, markov_t *out);
/* Entries in the key table (what markov_write records as the size). */
uint64_t markov_table_keys(const markov_t *m);

#endif
