/* cache_predict.c - the predictor inside the cache: every block read is observed, tiers with
 * the learned policy take its scores, and its confident guesses are prefetched. */
#include "tiers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "predictor/predictor.h"

/* Blocks whose identity (name, version, index) is remembered so a guessed hash can be
 * fetched; a guess for a block read longer ago is simply not prefetched. */
#define CP_BLOCKS 65536
/* Locks over the identity table: enough that request threads rarely share one. */
#define CP_STRIPES 64
/* Guesses waiting for the guess thread; more are dropped (counted). */
#define CP_QUEUE 256
/* Longest "bucket/key" remembered. */
#define CP_NAME_MAX (BACKEND_BUCKET_MAX + 1 + 1024)

/* Who a block hash belongs to. */
typedef struct cp_block {
    uint64_t hash;
    uint64_t index;
    uint8_t vid[BACKEND_VERSION_ID_LEN];
    char *name; /* "bucket/key" (bucket names have no '/') */
} cp_block_t;

typedef struct cp_guess {
    uint64_t index;
    uint8_t vid[BACKEND_VERSION_ID_LEN];
    char name[CP_NAME_MAX + 1];
} cp_guess_t;

struct cache_predict {
    cache_t *c;
    predictor_t *pred;
    cp_block_t *blocks;
    pthread_mutex_t stripes[CP_STRIPES];
    /* guess queue, worked by one thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cp_guess_t *queue;
    size_t q_head, q_len;
    int stopping;
    pthread_t thread;
    int started;
    _Atomic uint64_t guess_prefetches, guess_dropped;
    _Atomic int prefetch_on; /* [predictor] prefetch_tier != off */
};

/* The table slot and lock of a block hash. */
static cp_block_t *cp_slot(cache_predict_t *cp, uint64_t hash, pthread_mutex_t **lock)
{
    size_t i = hash % CP_BLOCKS;
    *lock = &cp->stripes[i % CP_STRIPES];
    return &cp->blocks[i];
}

/* Remember whose block hash is. Runs on request threads: a short lock, and an allocation
 * only when the slot changes hands to another object. */
static void cp_remember(cache_predict_t *cp, const backend_manifest_t *m, uint64_t index,
                        uint64_t hash)
{
    pthread_mutex_t *lock;
    cp_block_t *b = cp_slot(cp, hash, &lock);
    pthread_mutex_lock(lock);
    if (b->hash != hash || !b->name) {
        size_t bl = strlen(m->bucket), kl = strlen(m->key);
        char *name = NULL;
        if (bl + 1 + kl <= CP_NAME_MAX && (name = malloc(bl + kl + 2))) {
            memcpy(name, m->bucket, bl);
            name[bl] = '/';
            memcpy(name + bl + 1, m->key, kl + 1);
        }
        free(b->name);
        b->name = name;
        b->hash = hash;
        b->index = index;
        memcpy(b->vid, m->version_id, sizeof(b->vid));
    }
    pthread_mutex_unlock(lock);
}

void cache_predict_observe(cache_predict_t *cp, const backend_manifest_t *m,
                           const block_key_t *k, uint64_t len)
{
    uint64_t hash = block_key_hash(k);
    cp_remember(cp, m, k->index, hash);
    predictor_event_t ev = {.key = hash, .size = len, .time = (uint64_t)aug_mono_ns(),
                            .op = PREDICTOR_READ};
    predictor_observe(cp->pred, &ev); /* a full queue drops the event, counted */
}

/* Predictor thread: queue the guesses whose blocks we can name. */
static void cp_on_guess(void *arg, const predictor_guess_t *g, size_t n)
{
    cache_predict_t *cp = arg;
    if (!atomic_load_explicit(&cp->prefetch_on, memory_order_relaxed)) return;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_t *lock;
        cp_block_t *b = cp_slot(cp, g[i].key, &lock);
        pthread_mutex_lock(lock);
        int known = b->hash == g[i].key && b->name;
        pthread_mutex_lock(&cp->mu);
        if (known && cp->q_len < CP_QUEUE) {
            cp_guess_t *q = &cp->queue[(cp->q_head + cp->q_len++) % CP_QUEUE];
            q->index = b->index;
            memcpy(q->vid, b->vid, sizeof(q->vid));
            snprintf(q->name, sizeof(q->name), "%s", b->name);
            pthread_cond_signal(&cp->cv);
        } else if (known) {
            atomic_fetch_add(&cp->guess_dropped, 1);
        }
        pthread_mutex_unlock(&cp->mu);
        pthread_mutex_unlock(lock);
    }
}

/* Fetch one guessed block if its object still names that version. */
static void cp_prefetch_guess(cache_predict_t *cp, cp_guess_t *g)
{
    char *slash = strchr(g->name, '/');
    if (!slash) return;
    *slash = '\0';
    backend_manifest_t *m = NULL;
    aug_err_t err;
    if (cache_head(cp->c, g->name, slash + 1, &m, &err) != 0) return; /* deleted since */
    uint64_t bs = cache_block_size(cp->c);
    if (memcmp(m->version_id, g->vid, sizeof(g->vid)) == 0 && g->index * bs < m->size &&
        !cache_has_block(cp->c, m, g->index)) {
        if (cache_prefetch(cp->c, m, g->index * bs, bs, CACHE_PRIO_GUESS) != 0)
            atomic_fetch_add(&cp->guess_prefetches, 1);
    }
    backend_manifest_free(m);
}

/* The guess thread: turns guesses into prefetches (a manifest lookup may block, so this is
 * not done on the predictor thread). */
static void *cp_main(void *arg)
{
    cache_predict_t *cp = arg;
    cp_guess_t *g = malloc(sizeof(*g));
    pthread_mutex_lock(&cp->mu);
    while (g && !cp->stopping) {
        if (cp->q_len == 0) {
            pthread_cond_wait(&cp->cv, &cp->mu);
            continue;
        }
        *g = cp->queue[cp->q_head];
        cp->q_head = (cp->q_head + 1) % CP_QUEUE;
        cp->q_len--;
        pthread_mutex_unlock(&cp->mu);
        cp_prefetch_guess(cp, g);
        pthread_mutex_lock(&cp->mu);
    }
    pthread_mutex_unlock(&cp->mu);
    free(g);
    return NULL;
}

/* The predictor's settings from [predictor] and the state directory. */
static void cp_config(const aug_config_t *cfg, predictor_config_t *pc, char *path, size_t len)
{
    predictor_config_default(pc);
    pc->model = cfg->predictor.model;
    pc->min_prob = (float)cfg->predictor.min_confidence / 100.0f;
    pc->threads = (uint32_t)cfg->predictor.threads;
    pc->train_steps_per_sec = (uint32_t)cfg->predictor.train_steps_per_sec;
    pc->queue_events = (uint32_t)cfg->predictor.queue_events;
    pc->ring_events = (uint32_t)cfg->predictor.ring_events;
    pc->table_keys = (uint32_t)cfg->predictor.table_keys;
    pc->save_interval_s = (uint32_t)(cfg->predictor.save_interval_ms / 1000);
    if (cfg->general.state_dir[0] &&
        (mkdir(cfg->general.state_dir, 0750) == 0 || errno == EEXIST)) {
        snprintf(path, len, "%s/predictor.model", cfg->general.state_dir);
        pc->state_path = path;
    }
}

int cache_predict_open(cache_t *c, const aug_config_t *cfg, cache_predict_t **out,
                       aug_err_t *err)
{
    *out = NULL;
    if (strcmp(cfg->predictor.model, "off") == 0) return 0;
    cache_predict_t *cp = calloc(1, sizeof(*cp));
    if (!cp) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    cp->c = c;
    for (int i = 0; i < CP_STRIPES; i++)
        pthread_mutex_init(&cp->stripes[i], NULL);
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->cv, NULL);
    cp->blocks = calloc(CP_BLOCKS, sizeof(*cp->blocks));
    cp->queue = calloc(CP_QUEUE, sizeof(*cp->queue));
    if (!cp->blocks || !cp->queue) {
        cache_predict_close(cp);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    predictor_config_t pc;
    char path[PATH_MAX + 32];
    cp_config(cfg, &pc, path, sizeof(path));
    cp->pred = predictor_create(&pc, err);
    if (!cp->pred) {
        cache_predict_close(cp);
        return AUG_ECONFIG;
    }
    atomic_init(&cp->prefetch_on, strcmp(cfg->predictor.prefetch_tier, "off") != 0);
    int rc = predictor_start(cp->pred, cp_on_guess, cp, err);
    if (rc == 0 && pthread_create(&cp->thread, NULL, cp_main, cp) != 0)
        rc = aug_err_set(err, AUG_EIO, "predictor: cannot start the guess thread");
    if (rc != 0) {
        cache_predict_close(cp);
        return rc;
    }
    cp->started = 1;
    *out = cp;
    return 0;
}

void cache_predict_close(cache_predict_t *cp)
{
    if (!cp) return;
    if (cp->pred) predictor_stop(cp->pred); /* no more guesses arrive */
    if (cp->started) {
        pthread_mutex_lock(&cp->mu);
        cp->stopping = 1;
        pthread_cond_broadcast(&cp->cv);
        pthread_mutex_unlock(&cp->mu);
        pthread_join(cp->thread, NULL);
    }
    predictor_destroy(cp->pred); /* saves the model */
    for (size_t i = 0; cp->blocks && i < CP_BLOCKS; i++)
        free(cp->blocks[i].name);
    free(cp->blocks);
    free(cp->queue);
    for (int i = 0; i < CP_STRIPES; i++)
        pthread_mutex_destroy(&cp->stripes[i]);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
    free(cp);
}

void cache_predict_reconfigure(cache_predict_t *cp, const aug_config_t *cfg)
{
    predictor_set_budgets(cp->pred, (float)cfg->predictor.min_confidence / 100.0f,
                          (uint32_t)cfg->predictor.train_steps_per_sec);
    atomic_store(&cp->prefetch_on, strcmp(cfg->predictor.prefetch_tier, "off") != 0);
}

uint64_t cache_predict_score(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    const cache_predict_t *cp = arg;
    return predictor_warm(cp->pred) ? predictor_score(cp->pred, key) : POLICY_SCORE_COLD;
}

void cache_predict_stats(cache_predict_t *cp, cache_predictor_stats_t *st)
{
    predictor_stats_t ps;
    predictor_get_stats(cp->pred, &ps);
    st->enabled = 1;
    snprintf(st->model, sizeof(st->model), "%s", predictor_model_name(cp->pred));
    st->observed = ps.observed;
    st->dropped = ps.dropped;
    st->lag_events = ps.lag_events;
    st->guesses = ps.guesses;
    st->guesses_right = ps.guesses_right;
    st->train_steps = ps.train_steps;
    st->last_loss = ps.last_loss;
    st->cpu_ns = ps.cpu_ns;
    st->saves = ps.saves;
    st->save_errors = ps.save_errors;
    st->guess_prefetches = atomic_load(&cp->guess_prefetches);
    st->guess_dropped = atomic_load(&cp->guess_dropped);
}
