/* predictor.c - the predictor's public face: the lock-free event queue, the predictor and
 * training threads, the synchronous mode and the model file. */
#include "predictor/predictor.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "predictor/lstm_model.h"
#include "predictor/markov.h"

/* Events the predictor thread takes per batch: large enough to amortise the LSTM call,
 * small enough that guesses follow the stream within a millisecond or so. */
#define PREDICTOR_BATCH 256
/* Idle waits of the predictor thread when the queue is empty: from 1 ms, doubling to 50 ms
 * while nothing arrives (observe() never signals: it must not take a lock), so an idle
 * daemon costs ~20 wakeups a second and a busy one sees guesses within a millisecond. */
#define PREDICTOR_IDLE_MIN_NS 1000000
#define PREDICTOR_IDLE_MAX_NS 50000000
/* Model file: magic, format version. */
static const char PREDICTOR_MAGIC[8] = {'A', 'U', 'G', 'P', 'R', 'E', 'D', '\n'};
#define PREDICTOR_FORMAT 1

enum { MODEL_MARKOV = 0, MODEL_LSTM = 1 };

/* One slot of the bounded multi-producer queue: seq tells whose turn the slot is. */
typedef struct pq_cell {
    _Atomic uint64_t seq;
    predictor_event_t ev;
} pq_cell_t;

struct predictor {
    predictor_config_t cfg;
    char *state_path;
    int kind;
    markov_t mk;
    lstm_model_t *lstm;
    /* queue: producers claim head; the one consumer owns tail */
    pq_cell_t *cells;
    uint64_t qmask;
    _Atomic uint64_t head;
    uint64_t tail;
    /* the latest top guess, to count whether it came true */
    uint64_t pending_top;
    int have_pending;
    uint64_t since_train;
    /* counters (any thread reads) */
    _Atomic uint64_t observed, dropped, predictions, guesses, guesses_right, train_steps;
    _Atomic uint64_t cpu_ns, saves, save_errors;
    _Atomic uint64_t loss_bits;
    /* budgets SIGHUP may change while the threads run */
    _Atomic float min_prob;
    _Atomic uint32_t train_steps_per_sec;
    /* threads */
    pthread_t thread, trainer;
    int running;
    _Atomic int stopping;
    predictor_guess_fn fn;
    void *fn_arg;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
};

void predictor_config_default(predictor_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->model = "markov";
    c->queue_events = 65536;
    c->ring_events = 65536;
    c->table_keys = 1u << 20;
    c->threads = 1;
    c->train_steps_per_sec = 2;
    c->train_every_events = 2000;
    c->lstm_buckets = 8192;
    c->lstm_hidden = 64;
    c->save_interval_s = 300;
    c->min_prob = 0.6f;
    c->seed = 1;
}

int predictor_model_available(const char *name)
{
    if (!name) return 0;
    if (strcmp(name, "markov") == 0) return 1;
    if (strcmp(name, "lstm") == 0) return lstm_model_available();
    return 0;
}

const char *predictor_model_name(const predictor_t *p)
{
    return p->kind == MODEL_LSTM ? "lstm" : "markov";
}

/* CPU time of the calling thread, in nanoseconds. */
static uint64_t predictor_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Path of the LSTM weights beside the tables file. NULL on ENOMEM. */
static char *predictor_lstm_path(const char *path)
{
    size_t n = strlen(path) + sizeof(".lstm");
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s.lstm", path);
    return s;
}

/* Load the model file if there is one; any problem only costs a warm start. */
static void predictor_load_at_start(predictor_t *p)
{
    if (!p->state_path) return;
    aug_err_t err;
    int rc = predictor_load(p, p->state_path, &err);
    if (rc == 0)
        aug_info("predictor: loaded %s model from %s", predictor_model_name(p), p->state_path);
    else if (rc == AUG_ENOENT)
        aug_info("predictor: no model at %s yet; starting cold", p->state_path);
    else
        aug_warn("predictor: ignoring model file: %s; starting cold", err.msg);
}

predictor_t *predictor_create(const predictor_config_t *cfg, aug_err_t *err)
{
    int kind;
    if (!cfg->model || strcmp(cfg->model, "markov") == 0) {
        kind = MODEL_MARKOV;
    } else if (strcmp(cfg->model, "lstm") == 0) {
        kind = MODEL_LSTM;
    } else {
        aug_err_set(err, AUG_EINVAL, "predictor: unknown model '%s' (known: markov, lstm)",
                    cfg->model);
        return NULL;
    }
    if (!(cfg->min_prob >= 0 && cfg->min_prob <= 1)) {
        aug_err_set(err, AUG_EINVAL, "predictor: min_prob must be between 0 and 1");
        return NULL;
    }
    predictor_t *p = calloc(1, sizeof(*p));
    if (!p) {
        aug_err_set(err, AUG_ENOMEM, "predictor: out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->cfg.model = kind == MODEL_LSTM ? "lstm" : "markov";
    p->kind = kind;
    atomic_init(&p->min_prob, cfg->min_prob);
    atomic_init(&p->train_steps_per_sec, cfg->train_steps_per_sec);
    pthread_mutex_init(&p->wait_mu, NULL);
    pthread_cond_init(&p->wait_cv, NULL);
    uint64_t q = 2;
    while (q < cfg->queue_events)
        q <<= 1;
    p->qmask = q - 1;
    p->cells = calloc(q, sizeof(*p->cells));
    if (cfg->state_path && *cfg->state_path) p->state_path = strdup(cfg->state_path);
    if (!p->cells || (cfg->state_path && *cfg->state_path && !p->state_path) ||
        markov_init(&p->mk, cfg->table_keys) != 0) {
        aug_err_set(err, AUG_ENOMEM, "predictor: out of memory for its tables");
        predictor_destroy(p);
        return NULL;
    }
    for (uint64_t i = 0; i < q; i++)
        atomic_init(&p->cells[i].seq, i);
    if (kind == MODEL_LSTM && lstm_model_create(&p->cfg, &p->lstm, err) != 0) {
        predictor_destroy(p);
        return NULL;
    }
    predictor_load_at_start(p);
    return p;
}

void predictor_destroy(predictor_t *p)
{
    if (!p) return;
    predictor_stop(p);
    if (p->state_path && p->mk.keys) {
        aug_err_t err;
        if (predictor_save(p, p->state_path, &err) != 0)
            aug_warn("predictor: could not save the model at shutdown: %s", err.msg);
    }
    lstm_model_destroy(p->lstm);
    markov_fini(&p->mk);
    free(p->cells);
    free(p->state_path);
    pthread_mutex_destroy(&p->wait_mu);
    pthread_cond_destroy(&p->wait_cv);
    free(p);
}

/* ---- the queue --------------------------------------------------------------------------- */

int predictor_observe(predictor_t *p, const predictor_event_t *ev)
{
    uint64_t pos = atomic_load_explicit(&p->head, memory_order_relaxed);
    for (;;) {
        pq_cell_t *c = &p->cells[pos & p->qmask];
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&p->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->ev = *ev;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
            return AUG_EAGAIN;
        } else {
            pos = atomic_load_explicit(&p->head, memory_order_relaxed);
        }
    }
}

/* Take the oldest queued event (consumer only). 1 if one was taken, 0 if empty. */
static int predictor_dequeue(predictor_t *p, predictor_event_t *ev)
{
    pq_cell_t *c = &p->cells[p->tail & p->qmask];
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (seq != p->tail + 1) return 0;
    *ev = c->ev;
    atomic_store_explicit(&c->seq, p->tail + p->qmask + 1, memory_order_release);
    p->tail++;
    return 1;
}

/* ---- processing -------------------------------------------------------------------------- */

/* Learn from one event. */
static void predictor_process(predictor_t *p, const predictor_event_t *ev)
{
    if (p->have_pending && ev->op != PREDICTOR_DELETE) {
        if (p->pending_top == ev->key)
            atomic_fetch_add_explicit(&p->guesses_right, 1, memory_order_relaxed);
        p->have_pending = 0;
    }
    markov_observe(&p->mk, ev);
    if (p->lstm && ev->op != PREDICTOR_DELETE) lstm_model_observe(p->lstm, ev->key);
    atomic_fetch_add_explicit(&p->observed, 1, memory_order_relaxed);
}

/* Let the LSTM judge the markov candidates: each keeps the larger of the two calibrated
 * probabilities, so an untrained network costs nothing and a trained one promotes the
 * candidates it is sure of. */
static void predictor_rerank(predictor_t *p, predictor_guess_t *g, size_t n)
{
    predictor_guess_t raw[PREDICTOR_GUESSES_MAX];
    memcpy(raw, g, n * sizeof(*g));
    aug_err_t err;
    if (lstm_model_rerank(p->lstm, raw, n, &err) != 0) {
        aug_debug("predictor: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) { /* raw[i] is g[i] re-scored: the order is kept */
        float pl = markov_calibrate_other(&p->mk, raw[i].prob, g[i].key);
        if (pl > g[i].prob) g[i].prob = pl;
    }
    markov_sort_guesses(g, n);
}

/* Guesses for the next access: the markov candidates, re-ranked by the LSTM when there is
 * one, cut at min_prob. Noted so their scores stay low until used. */
static size_t predictor_guess(predictor_t *p, predictor_guess_t *out, size_t max)
{
    if (max > PREDICTOR_GUESSES_MAX) max = PREDICTOR_GUESSES_MAX;
    predictor_guess_t g[PREDICTOR_GUESSES_MAX];
    size_t n = markov_predict(&p->mk, g, PREDICTOR_GUESSES_MAX);
    if (p->lstm) predictor_rerank(p, g, n);
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        if (g[i].prob < atomic_load_explicit(&p->min_prob, memory_order_relaxed)) break;
        out[k++] = g[i];
        markov_note_guess(&p->mk, g[i].key);
    }
    atomic_fetch_add_explicit(&p->predictions, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->guesses, k, memory_order_relaxed);
    p->have_pending = k > 0;
    if (k) p->pending_top = out[0].key;
    return k;
}

/* One training step; counts it and keeps its loss. */
static int predictor_train_once(predictor_t *p, aug_err_t *err)
{
    double loss = 0;
    int rc = lstm_model_train(p->lstm, &loss, err);
    if (rc == 0) {
        atomic_fetch_add_explicit(&p->train_steps, 1, memory_order_relaxed);
        uint64_t bits;
        memcpy(&bits, &loss, sizeof(bits));
        atomic_store_explicit(&p->loss_bits, bits, memory_order_relaxed);
    }
    return rc == AUG_EAGAIN ? 0 : rc;
}

void predictor_drain(predictor_t *p)
{
    uint64_t t0 = predictor_thread_cpu_ns();
    predictor_event_t ev;
    while (predictor_dequeue(p, &ev)) {
        predictor_process(p, &ev);
        if (p->lstm && p->cfg.train_every_events && ++p->since_train >= p->cfg.train_every_events) {
            aug_err_t err;
            p->since_train = 0;
            if (predictor_train_once(p, &err) != 0) aug_warn("predictor: %s", err.msg);
        }
    }
    atomic_fetch_add_explicit(&p->cpu_ns, predictor_thread_cpu_ns() - t0, memory_order_relaxed);
}

size_t predictor_predict(predictor_t *p, predictor_guess_t *out, size_t max)
{
    uint64_t t0 = predictor_thread_cpu_ns();
    size_t n = predictor_guess(p, out, max);
    atomic_fetch_add_explicit(&p->cpu_ns, predictor_thread_cpu_ns() - t0, memory_order_relaxed);
    return n;
}

uint64_t predictor_score(const predictor_t *p, uint64_t key)
{
    return markov_score(&p->mk, key);
}

void predictor_set_budgets(predictor_t *p, float min_prob, uint32_t train_steps_per_sec)
{
    if (min_prob >= 0 && min_prob <= 1) atomic_store(&p->min_prob, min_prob);
    atomic_store(&p->train_steps_per_sec, train_steps_per_sec);
}

int predictor_warm(const predictor_t *p)
{
    return atomic_load_explicit(&p->mk.seq, memory_order_relaxed) >= PREDICTOR_WARM_EVENTS;
}

int predictor_train(predictor_t *p, unsigned steps, aug_err_t *err)
{
    if (!p->lstm) return 0;
    uint64_t t0 = predictor_thread_cpu_ns();
    int rc = 0;
    for (unsigned i = 0; i < steps && rc == 0; i++)
        rc = predictor_train_once(p, err);
    atomic_fetch_add_explicit(&p->cpu_ns, predictor_thread_cpu_ns() - t0, memory_order_relaxed);
    return rc;
}

void predictor_get_stats(const predictor_t *p, predictor_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->observed = atomic_load(&p->observed);
    st->dropped = atomic_load(&p->dropped);
    st->predictions = atomic_load(&p->predictions);
    st->guesses = atomic_load(&p->guesses);
    st->guesses_right = atomic_load(&p->guesses_right);
    st->train_steps = atomic_load(&p->train_steps);
    uint64_t bits = atomic_load(&p->loss_bits);
    memcpy(&st->last_loss, &bits, sizeof(bits));
    st->cpu_ns = atomic_load(&p->cpu_ns);
    uint64_t head = atomic_load(&((predictor_t *)p)->head);
    st->lag_events = head > st->observed ? head - st->observed : 0;
    st->saves = atomic_load(&p->saves);
    st->save_errors = atomic_load(&p->save_errors);
}

/* ---- threads ----------------------------------------------------------------------------- */

/* Sleep up to ns unless stopping. */
static void predictor_nap(predictor_t *p, int64_t ns)
{
    struct timespec ts = aug_deadline_in(ns);
    pthread_mutex_lock(&p->wait_mu);
    if (!atomic_load(&p->stopping)) pthread_cond_timedwait(&p->wait_cv, &p->wait_mu, &ts);
    pthread_mutex_unlock(&p->wait_mu);
}

/* Save on schedule from the thread that owns the tables. */
static void predictor_maybe_save(predictor_t *p, int64_t *next_save)
{
    if (!p->state_path || p->cfg.save_interval_s == 0 || aug_mono_ns() < *next_save) return;
    *next_save = aug_mono_ns() + (int64_t)p->cfg.save_interval_s * 1000000000;
    aug_err_t err;
    if (predictor_save(p, p->state_path, &err) != 0) aug_warn("predictor: %s", err.msg);
}

/* The predictor thread: batches of events in, guesses out. */
static void *predictor_main(void *arg)
{
    predictor_t *p = arg;
    int64_t next_save = aug_mono_ns() + (int64_t)p->cfg.save_interval_s * 1000000000;
    uint64_t cpu0 = predictor_thread_cpu_ns();
    int64_t idle = PREDICTOR_IDLE_MIN_NS;
    while (!atomic_load(&p->stopping)) {
        predictor_event_t ev;
        int n = 0;
        while (n < PREDICTOR_BATCH && predictor_dequeue(p, &ev)) {
            predictor_process(p, &ev);
            n++;
        }
        if (n > 0) {
            predictor_guess_t g[PREDICTOR_GUESSES_MAX];
            size_t k = predictor_guess(p, g, PREDICTOR_GUESSES_MAX);
            if (k && p->fn) p->fn(p->fn_arg, g, k);
        }
        uint64_t cpu = predictor_thread_cpu_ns();
        atomic_fetch_add_explicit(&p->cpu_ns, cpu - cpu0, memory_order_relaxed);
        cpu0 = cpu;
        predictor_maybe_save(p, &next_save);
        if (n > 0) {
            idle = PREDICTOR_IDLE_MIN_NS;
        } else {
            predictor_nap(p, idle);
            idle = idle * 2 > PREDICTOR_IDLE_MAX_NS ? PREDICTOR_IDLE_MAX_NS : idle * 2;
        }
    }
    return NULL;
}

/* The training thread (lstm): steps paced to train_steps_per_sec. */
static void *predictor_trainer_main(void *arg)
{
    predictor_t *p = arg;
    while (!atomic_load(&p->stopping)) {
        uint32_t rate = atomic_load(&p->train_steps_per_sec);
        if (rate == 0) { /* training paused by a reload: look again in a second */
            predictor_nap(p, 1000000000);
            continue;
        }
        int64_t period = 1000000000 / rate;
        int64_t t0 = aug_mono_ns();
        uint64_t c0 = predictor_thread_cpu_ns();
        aug_err_t err;
        if (predictor_train_once(p, &err) != 0) aug_warn("predictor: %s", err.msg);
        atomic_fetch_add_explicit(&p->cpu_ns, predictor_thread_cpu_ns() - c0,
                                  memory_order_relaxed);
        int64_t left = period - (aug_mono_ns() - t0);
        predictor_nap(p, left > 0 ? left : 1000000);
    }
    return NULL;
}

int predictor_start(predictor_t *p, predictor_guess_fn fn, void *arg, aug_err_t *err)
{
    if (p->running) return aug_err_set(err, AUG_EINVAL, "predictor: already started");
    p->fn = fn;
    p->fn_arg = arg;
    atomic_store(&p->stopping, 0);
    int rc = pthread_create(&p->thread, NULL, predictor_main, p);
    if (rc != 0)
        return aug_err_set(err, AUG_EIO, "predictor: cannot start its thread: %s", strerror(rc));
    p->running = 1;
    if (p->lstm) { /* started even at 0 steps/s: a reload may raise the budget */
        rc = pthread_create(&p->trainer, NULL, predictor_trainer_main, p);
        if (rc != 0) {
            predictor_stop(p);
            return aug_err_set(err, AUG_EIO, "predictor: cannot start its training thread: %s",
                               strerror(rc));
        }
        p->running = 2;
    }
    return 0;
}

void predictor_stop(predictor_t *p)
{
    if (!p->running) return;
    pthread_mutex_lock(&p->wait_mu);
    atomic_store(&p->stopping, 1);
    pthread_cond_broadcast(&p->wait_cv);
    pthread_mutex_unlock(&p->wait_mu);
    pthread_join(p->thread, NULL);
    if (p->running == 2) pthread_join(p->trainer, NULL);
    p->running = 0;
}

/* ---- model file -------------------------------------------------------------------------- */

/* Write the header and tables to f; crc covers everything after the magic. */
static int predictor_write_tables(const predictor_t *p, FILE *f)
{
    uint32_t crc = 0;
    unsigned char h[8];
    uint32_t v = PREDICTOR_FORMAT, k = (uint32_t)p->kind;
    for (int i = 0; i < 4; i++) {
        h[i] = (unsigned char)(v >> (8 * i));
        h[4 + i] = (unsigned char)(k >> (8 * i));
    }
    if (fwrite(PREDICTOR_MAGIC, 1, sizeof(PREDICTOR_MAGIC), f) != sizeof(PREDICTOR_MAGIC) ||
        fwrite(h, 1, sizeof(h), f) != sizeof(h))
        return AUG_EIO;
    crc = aug_crc32c(crc, h, sizeof(h));
    int rc = markov_write(&p->mk, f, &crc);
    if (rc) return rc;
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(crc >> (8 * i));
    return fwrite(c, 1, sizeof(c), f) == sizeof(c) ? 0 : AUG_EIO;
}

/* Write path.tmp, flush it to disk and rename it over path, so a crash leaves the old file
 * or the new one, never half of one. */
static int predictor_save_tables(const predictor_t *p, const char *path, aug_err_t *err)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) return aug_err_set(err, AUG_ENOMEM, "predictor: out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return aug_err_set(err, AUG_EIO, "predictor: cannot write %s: %s", path, strerror(e));
    }
    int rc = predictor_write_tables(p, f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = AUG_EIO;
    if (fclose(f) != 0) rc = AUG_EIO;
    if (rc == 0 && rename(tmp, path) != 0) rc = AUG_EIO;
    if (rc != 0) {
        unlink(tmp);
        free(tmp);
        return aug_err_set(err, rc, "predictor: cannot write %s: %s", path, strerror(errno));
    }
    free(tmp);
    return 0;
}

int predictor_save(predictor_t *p, const char *path, aug_err_t *err)
{
    int rc = predictor_save_tables(p, path, err);
    if (rc == 0 && p->lstm) {
        char *lp = predictor_lstm_path(path);
        rc = lp ? lstm_model_save(p->lstm, lp, err)
                : aug_err_set(err, AUG_ENOMEM, "predictor: out of memory");
        free(lp);
    }
    atomic_fetch_add(rc == 0 ? &p->saves : &p->save_errors, 1);
    return rc;
}

/* Read and check the header and tables from f into *out (a new model). */
static int predictor_read_tables(const predictor_t *p, FILE *f, const char *path, markov_t *out,
                                 aug_err_t *err)
{
    char magic[sizeof(PREDICTOR_MAGIC)];
    unsigned char h[8], c[4];
    if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) ||
        memcmp(magic, PREDICTOR_MAGIC, sizeof(magic)) != 0)
        return aug_err_set(err, AUG_ECORRUPT, "%s: not an augur model file", path);
    if (fread(h, 1, sizeof(h), f) != sizeof(h))
        return aug_err_set(err, AUG_ECORRUPT, "%s: truncated", path);
    uint32_t crc = aug_crc32c(0, h, sizeof(h));
    uint32_t version = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                       (uint32_t)h[3] << 24;
    uint32_t kind = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
                    (uint32_t)h[7] << 24;
    if (version != PREDICTOR_FORMAT)
        return aug_err_set(err, AUG_EINVAL, "%s: model format %u, this augur reads %u", path,
                           version, PREDICTOR_FORMAT);
    if (kind != (uint32_t)p->kind)
        return aug_err_set(err, AUG_EINVAL, "%s: holds a %s model, configured is %s", path,
                           kind == MODEL_LSTM ? "lstm" : "markov", predictor_model_name(p));
    int rc = markov_read(&p->mk, f, &crc, out);
    if (rc == AUG_ENOMEM) return aug_err_set(err, rc, "predictor: out of memory");
    if (rc != 0) return aug_err_set(err, rc, "%s: damaged model tables", path);
    uint32_t want = 0;
    if (fread(c, 1, sizeof(c), f) == sizeof(c))
        want = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
    if (want != crc || fgetc(f) != EOF) {
        markov_fini(out);
        return aug_err_set(err, AUG_ECORRUPT, "%s: checksum mismatch (damaged file)", path);
    }
    return 0;
}

int predictor_load(predictor_t *p, const char *path, aug_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return aug_err_set(err, e == ENOENT ? AUG_ENOENT : AUG_EIO, "%s: %s", path, strerror(e));
    }
    markov_t fresh;
    int rc = predictor_read_tables(p, f, path, &fresh, err);
    fclose(f);
    if (rc != 0) return rc;
    if (p->lstm) {
        char *lp = predictor_lstm_path(path);
        rc = lp ? lstm_model_load(p->lstm, lp, err)
                : aug_err_set(err, AUG_ENOMEM, "predictor: out of memory");
        free(lp);
        if (rc != 0) {
            markov_fini(&fresh);
            return rc;
        }
    }
    markov_fini(&p->mk);
    memcpy(&p->mk, &fresh, sizeof(fresh));
    return 0;
}
