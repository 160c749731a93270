/* lstm_model.c - glue between the predictor and the libtorch shim: bucket hashing, the
 * training ring, candidate re-ranking. Without libtorch the model reports itself missing. */
#include "predictor/lstm_model.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef AUGUR_HAVE_LSTM
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "predictor/lstm_shim.h"

/*
 * The shim is a shared library opened only when an lstm model is created: loading libtorch
 * costs a process about 0.7 s and 165 MB, which every `augur` command and every augurd
 * running markov would otherwise pay. It is looked for at $AUGUR_LSTM_SHIM, beside the
 * program (DIR/liblstm_shim.so, DIR/../lib/augur/liblstm_shim.so), then where it was built.
 */
#ifndef AUGUR_LSTM_SHIM_BUILT
#define AUGUR_LSTM_SHIM_BUILT "liblstm_shim.so"
#endif

/* The shim's entry points, resolved once. */
static struct {
    pthread_once_t once;
    int ok;
    char why[256];
    int (*available)(void);
    void (*set_threads)(int);
    lstm_net_t *(*create)(const lstm_shape_t *, char *, size_t);
    void (*destroy)(lstm_net_t *);
    int (*advance)(lstm_net_t *, const uint32_t *, size_t, char *, size_t);
    int (*score)(lstm_net_t *, const uint32_t *, size_t, float *, char *, size_t);
    float (*train)(lstm_net_t *, const uint32_t *, size_t, char *, size_t);
    void (*publish)(lstm_net_t *);
    int (*save)(lstm_net_t *, const char *, char *, size_t);
    int (*load)(lstm_net_t *, const char *, char *, size_t);
} shim = {.once = PTHREAD_ONCE_INIT};

/* dlopen the first shim found; NULL if none. */
static void *shim_open(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    const char *env = getenv("AUGUR_LSTM_SHIM");
    if (env && *env) return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        const char *rel[] = {"/liblstm_shim.so", "/../lib/augur/liblstm_shim.so"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
            void *h = access(path, R_OK) == 0 ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
            if (h) return h;
        }
    }
    return dlopen(AUGUR_LSTM_SHIM_BUILT, RTLD_NOW | RTLD_LOCAL);
}

/* Resolve every entry point, or record why not. */
static void shim_load(void)
{
    void *h = shim_open();
    if (!h) {
        snprintf(shim.why, sizeof(shim.why), "cannot load liblstm_shim.so: %s", dlerror());
        return;
    }
#define SHIM_SYM(field, name)                                                                   \
    if (!(*(void **)&shim.field = dlsym(h, name))) {                                            \
        snprintf(shim.why, sizeof(shim.why), "liblstm_shim.so lacks %s", name);                 \
        return;                                                                                 \
    }
    SHIM_SYM(available, "lstm_net_available");
    SHIM_SYM(set_threads, "lstm_net_set_threads");
    SHIM_SYM(create, "lstm_net_create");
    SHIM_SYM(destroy, "lstm_net_destroy");
    SHIM_SYM(advance, "lstm_net_advance");
    SHIM_SYM(score, "lstm_net_score");
    SHIM_SYM(train, "lstm_net_train");
    SHIM_SYM(publish, "lstm_net_publish");
    SHIM_SYM(save, "lstm_net_save");
    SHIM_SYM(load, "lstm_net_load");
#undef SHIM_SYM
    /* OpenBLAS (what libblas.so.3 points to once installed) starts a thread per core that
     * spins beside ours: measured, training then cut the predictor thread from 130k to 24k
     * accesses/s. Our threads are the budget; its own pool stays at one. */
    void (*blas_threads)(int);
    *(void **)&blas_threads = dlsym(h, "openblas_set_num_threads");
    if (blas_threads) blas_threads(1);
    shim.ok = shim.available();
    if (!shim.ok) snprintf(shim.why, sizeof(shim.why), "liblstm_shim.so has no libtorch");
}

/* 1 when the shim is usable (loads it on first use). */
static int shim_ready(void)
{
    pthread_once(&shim.once, shim_load);
    return shim.ok;
}

/* Network shape beyond what the config sets: sizes measured to train in ~100 ms a step
 * (see issue 6 notes in the README). */
#define LSTM_EMBED 32
#define LSTM_SEQ_LEN 16
#define LSTM_BATCH 32
#define LSTM_LR 3e-3f
/* Accesses fed to the network per advance: one step costs ~40 us however they are batched,
 * so past this only the most recent accesses of a batch are fed (the state summarises the
 * recent past anyway); that keeps the predictor thread above 50,000 accesses per second. */
#define LSTM_PENDING_MAX 16
/* Seed of the bucket hash: fixed, so a saved model means the same buckets next start. */
#define LSTM_BUCKET_SEED 0x6c73746d5f6b6579ULL

struct lstm_model {
    lstm_net_t *net;
    uint32_t buckets;
    /* inference: buckets observed since the last advance */
    uint32_t pending[LSTM_PENDING_MAX];
    size_t n_pending;
    /* training ring, shared with the training thread */
    pthread_mutex_t mu;
    uint32_t *ring;
    size_t ring_cap, ring_len, ring_at;
    uint32_t *snapshot; /* training thread's copy, oldest first */
};

int lstm_model_available(void)
{
    return shim_ready();
}

/* The bucket a key's embedding and output row live in. */
static uint32_t lstm_bucket(const lstm_model_t *m, uint64_t key)
{
    return (uint32_t)(aug_hash64(&key, sizeof(key), LSTM_BUCKET_SEED) % m->buckets);
}

int lstm_model_create(const predictor_config_t *cfg, lstm_model_t **out, aug_err_t *err)
{
    if (cfg->lstm_buckets < 2 || cfg->lstm_hidden < 1 || cfg->ring_events <= LSTM_SEQ_LEN + 1)
        return aug_err_set(err, AUG_EINVAL,
                           "lstm: need lstm_buckets >= 2, lstm_hidden >= 1 and ring_events > %d",
                           LSTM_SEQ_LEN + 1);
    if (!shim_ready())
        return aug_err_set(err, AUG_EINVAL, "lstm: %s (set AUGUR_LSTM_SHIM, or use markov)",
                           shim.why);
    lstm_model_t *m = calloc(1, sizeof(*m));
    if (!m) return aug_err_set(err, AUG_ENOMEM, "lstm: out of memory");
    m->buckets = cfg->lstm_buckets;
    m->ring_cap = cfg->ring_events;
    m->ring = calloc(m->ring_cap, sizeof(*m->ring));
    m->snapshot = calloc(m->ring_cap, sizeof(*m->snapshot));
    pthread_mutex_init(&m->mu, NULL);
    if (!m->ring || !m->snapshot) {
        lstm_model_destroy(m);
        return aug_err_set(err, AUG_ENOMEM, "lstm: out of memory for a %zu-event ring",
                           (size_t)cfg->ring_events);
    }
    lstm_shape_t shape = {
        .buckets = cfg->lstm_buckets,
        .embed = LSTM_EMBED,
        .hidden = cfg->lstm_hidden,
        .seq_len = LSTM_SEQ_LEN,
        .batch = LSTM_BATCH,
        .lr = LSTM_LR,
        .seed = cfg->seed,
    };
    char msg[256] = "";
    shim.set_threads(cfg->threads ? (int)cfg->threads : 1);
    m->net = shim.create(&shape, msg, sizeof(msg));
    if (!m->net) {
        lstm_model_destroy(m);
        return aug_err_set(err, AUG_EIO, "lstm: cannot create the network: %s", msg);
    }
    *out = m;
    return 0;
}

void lstm_model_destroy(lstm_model_t *m)
{
    if (!m) return;
    if (m->net) shim.destroy(m->net);
    pthread_mutex_destroy(&m->mu);
    free(m->ring);
    free(m->snapshot);
    free(m);
}

/* Advance the network over what is pending. */
static int lstm_model_flush(lstm_model_t *m, aug_err_t *err)
{
    if (m->n_pending == 0) return 0;
    char msg[256] = "";
    int rc = shim.advance(m->net, m->pending, m->n_pending, msg, sizeof(msg));
    m->n_pending = 0;
    if (rc != 0) return aug_err_set(err, AUG_EIO, "lstm: advance failed: %s", msg);
    return 0;
}

void lstm_model_observe(lstm_model_t *m, uint64_t key)
{
    uint32_t b = lstm_bucket(m, key);
    if (m->n_pending == LSTM_PENDING_MAX) {
        memmove(m->pending, m->pending + 1, (LSTM_PENDING_MAX - 1) * sizeof(*m->pending));
        m->n_pending--;
    }
    m->pending[m->n_pending++] = b;
    pthread_mutex_lock(&m->mu);
    m->ring[m->ring_at] = b;
    m->ring_at = (m->ring_at + 1) % m->ring_cap;
    if (m->ring_len < m->ring_cap) m->ring_len++;
    pthread_mutex_unlock(&m->mu);
}

int lstm_model_rerank(lstm_model_t *m, predictor_guess_t *g, size_t n, aug_err_t *err)
{
    int rc = lstm_model_flush(m, err);
    if (rc || n == 0) return rc;
    uint32_t cand[PREDICTOR_GUESSES_MAX];
    float logp[PREDICTOR_GUESSES_MAX];
    if (n > PREDICTOR_GUESSES_MAX) n = PREDICTOR_GUESSES_MAX;
    for (size_t i = 0; i < n; i++)
        cand[i] = lstm_bucket(m, g[i].key);
    char msg[256] = "";
    if (shim.score(m->net, cand, n, logp, msg, sizeof(msg)) != 0)
        return aug_err_set(err, AUG_EIO, "lstm: scoring failed: %s", msg);
    for (size_t i = 0; i < n; i++)
        g[i].prob = expf(logp[i]);
    return 0;
}

int lstm_model_train(lstm_model_t *m, double *loss, aug_err_t *err)
{
    pthread_mutex_lock(&m->mu);
    size_t len = m->ring_len;
    size_t start = (m->ring_at + m->ring_cap - len) % m->ring_cap;
    for (size_t i = 0; i < len; i++)
        m->snapshot[i] = m->ring[(start + i) % m->ring_cap];
    pthread_mutex_unlock(&m->mu);
    if (len <= LSTM_SEQ_LEN + 1) return AUG_EAGAIN;
    char msg[256] = "";
    float l = shim.train(m->net, m->snapshot, len, msg, sizeof(msg));
    if (l < 0) return aug_err_set(err, AUG_EIO, "lstm: training step failed: %s", msg);
    shim.publish(m->net);
    *loss = l;
    return 0;
}

int lstm_model_save(lstm_model_t *m, const char *path, aug_err_t *err)
{
    char msg[256] = "";
    if (shim.save(m->net, path, msg, sizeof(msg)) != 0)
        return aug_err_set(err, AUG_EIO, "%s: %s", path, msg);
    return 0;
}

int lstm_model_load(lstm_model_t *m, const char *path, aug_err_t *err)
{
    char msg[256] = "";
    if (shim.load(m->net, path, msg, sizeof(msg)) != 0)
        return aug_err_set(err, AUG_ECORRUPT, "%s: %s", path, msg);
    return 0;
}

#else /* !AUGUR_HAVE_LSTM: a build without libtorch has no lstm model to offer */

struct lstm_model {
    int unused;
};

int lstm_model_available(void)
{
    return 0;
}

int lstm_model_create(const predictor_config_t *cfg, lstm_model_t **out, aug_err_t *err)
{
    (void)cfg;
    *out = NULL;
    return aug_err_set(err, AUG_EINVAL,
                       "model 'lstm' is not in this build (built without libtorch: install "
                       "libtorch-dev and rebuild, or use model = markov)");
}

void lstm_model_destroy(lstm_model_t *m)
{
    (void)m;
}

void lstm_model_observe(lstm_model_t *m, uint64_t key)
{
    (void)m;
    (void)key;
}

int lstm_model_rerank(lstm_model_t *m, predictor_guess_t *g, size_t n, aug_err_t *err)
{
    (void)m;
    (void)g;
    (void)n;
    return aug_err_set(err, AUG_EINVAL, "lstm: not in this build");
}

int lstm_model_train(lstm_model_t *m, double *loss, aug_err_t *err)
{
    (void)m;
    (void)loss;
    return aug_err_set(err, AUG_EINVAL, "lstm: not in this build");
}

int lstm_model_save(lstm_model_t *m, const char *path, aug_err_t *err)
{
    (void)m;
    (void)path;
    return aug_err_set(err, AUG_EINVAL, "lstm: not in this build");
}

int lstm_model_load(lstm_model_t *m, const char *path, aug_err_t *err)
{
    (void)m;
    (void)path;
    return aug_err_set(err, AUG_EINVAL, "lstm: not in this build");
}

#endif
