/* trace_learned.c - replay with the predictor in the loop: learned eviction scores and
 * prefetch of its guesses into the same cache budget. */
#include "cache/policy.h"
#include "cache/trace.h"
#include "predictor/predictor.h"

#include <stdlib.h>
#include <string.h>

/* What the replay loop shares with the policy's hooks. */
typedef struct learned_run {
    const trace_t *t;
    predictor_t *pred;
    uint64_t *first_size; /* [n_keys] a key's size at its first request: what a prefetch reads */
    uint8_t *prefetched;  /* [n_keys] resident because of a prefetch, not yet used */
    uint64_t scorer_ns;
} learned_run_t;

void trace_learned_opts_default(trace_learned_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->model = "markov";
    o->min_prob = 0.6f;
    o->per_request = 2;
}

/* Each key's first size, and room for the prefetch marks. 0 or AUG_ENOMEM. */
static int learned_run_init(learned_run_t *lr)
{
    const trace_t *t = lr->t;
    lr->first_size = malloc((t->n_keys ? t->n_keys : 1) * sizeof(*lr->first_size));
    lr->prefetched = calloc(t->n_keys ? t->n_keys : 1, 1);
    if (!lr->first_size || !lr->prefetched) return AUG_ENOMEM;
    for (uint64_t i = t->n; i-- > 0;) /* backwards: the first request's size is written last */
        lr->first_size[t->ids[i]] = t->sizes[i];
    return 0;
}

static void learned_run_free(learned_run_t *lr)
{
    free(lr->first_size);
    free(lr->prefetched);
    predictor_destroy(lr->pred);
}

/* Eviction scorer: the predictor's expected accesses until key is wanted again. */
static uint64_t learned_score(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    const learned_run_t *lr = arg;
    return predictor_warm(lr->pred) ? predictor_score(lr->pred, key) : POLICY_SCORE_COLD;
}

/* Counts prefetched keys evicted unused (they are simply unmarked: waste is issued minus
 * used). */
static void learned_on_evict(void *arg, uint64_t key, uint64_t size)
{
    (void)size;
    learned_run_t *lr = arg;
    int64_t id = trace_key_id(lr->t, key);
    if (id >= 0) lr->prefetched[id] = 0;
}

/* Prefetch the predictor's guesses after request i. */
static int learned_prefetch(learned_run_t *lr, policy_t *p, const trace_learned_opts_t *o,
                            trace_result_t *r)
{
    predictor_guess_t g[PREDICTOR_GUESSES_MAX];
    size_t n = predictor_predict(lr->pred, g, o->per_request);
    for (size_t k = 0; o->prefetch && k < n; k++) {
        int64_t id = trace_key_id(lr->t, g[k].key);
        if (id < 0 || policy_contains(p, g[k].key)) continue; /* no such object, or cached */
        int rc = policy_insert(p, g[k].key, lr->first_size[id]);
        if (rc < 0) return rc;
        if (rc == 0) continue;
        lr->prefetched[id] = 1;
        r->prefetches++;
        r->prefetch_bytes += lr->first_size[id];
    }
    return 0;
}

/* One request: the access, then the predictor learns it and may prefetch. */
static int learned_step(learned_run_t *lr, policy_t *p, const trace_learned_opts_t *o,
                        uint64_t i, trace_result_t *r)
{
    const trace_t *t = lr->t;
    uint64_t key = t->keys[i], size = t->sizes[i];
    uint32_t id = t->ids[i];
    int rc = policy_access(p, key, size);
    if (rc < 0) return rc;
    if (rc == POLICY_HIT) {
        if (lr->prefetched[id]) {
            lr->prefetched[id] = 0;
            r->prefetch_used_bytes += lr->first_size[id];
        }
    } else {
        r->misses++;
        r->miss_bytes += size;
    }
    predictor_event_t ev = {.key = key, .size = size, .time = t->times[i], .op = PREDICTOR_READ};
    if (predictor_observe(lr->pred, &ev) != 0) return AUG_ENOMEM; /* never: drained each step */
    predictor_drain(lr->pred);
    return learned_prefetch(lr, p, o, r);
}

int trace_replay_learned(const trace_t *t, uint64_t cache_bytes, const trace_learned_opts_t *o,
                         trace_result_t *r, aug_err_t *err)
{
    memset(r, 0, sizeof(*r));
    r->cache_bytes = cache_bytes;
    r->requests = t->n;
    r->bytes = t->total_bytes;
    if (cache_bytes == 0)
        return aug_err_set(err, AUG_EINVAL, "learned: cache size must be at least 1 byte");
    learned_run_t lr = {.t = t};
    predictor_config_t pc;
    predictor_config_default(&pc);
    pc.model = o->model;
    pc.min_prob = o->min_prob;
    lr.pred = predictor_create(&pc, err);
    if (!lr.pred) return err ? err->code : AUG_EINVAL;
    policy_t *p = NULL;
    int rc = learned_run_init(&lr);
    if (rc == 0) {
        p = policy_create("learned", cache_bytes, err);
        if (!p) rc = err ? err->code : AUG_ENOMEM;
    }
    if (rc != 0) {
        learned_run_free(&lr);
        return rc == AUG_ENOMEM ? aug_err_set(err, rc, "learned: out of memory") : rc;
    }
    policy_set_scorer(p, learned_score, &lr);
    policy_set_evict_hook(p, learned_on_evict, &lr);
    int64_t t0 = aug_mono_ns();
    for (uint64_t i = 0; i < t->n && rc == 0; i++)
        rc = learned_step(&lr, p, o, i, r);
    r->seconds = (double)(aug_mono_ns() - t0) / 1e9;
    r->evictions = policy_evictions(p);
    predictor_stats_t st;
    predictor_get_stats(lr.pred, &st);
    r->predictor_cpu_ns = st.cpu_ns;
    r->guesses = st.guesses;
    r->guesses_right = st.guesses_right;
    policy_destroy(p);
    learned_run_free(&lr);
    if (rc != 0) return aug_err_set(err, rc, "learned: out of memory during the replay");
    return 0;
}
