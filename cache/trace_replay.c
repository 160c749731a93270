/* trace_replay.c - run one policy at one cache size over a loaded trace and count misses. */
#include "cache/policy.h"
#include "cache/trace.h"

#include <string.h>

/* Name trace_replay accepts besides the policy_create names. */
#define TRACE_BELADY "belady"

/* True for every policy_create name and "belady". */
int trace_policy_known(const char *name)
{
    return policy_name_known(name) || (name && strcmp(name, TRACE_BELADY) == 0);
}

/* Replay t through Belady's optimum. */
static int trace_replay_belady(const trace_t *t, uint64_t cache_bytes, trace_result_t *r,
                               aug_err_t *err)
{
    belady_t *b = belady_create(cache_bytes, t->n_keys);
    if (!b) return aug_err_set(err, AUG_ENOMEM, "belady: out of memory");
    int64_t t0 = aug_mono_ns();
    uint64_t misses = 0, miss_bytes = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        if (!belady_access(b, t->ids[i], t->sizes[i], t->next[i])) {
            misses++;
            miss_bytes += t->sizes[i];
        }
    }
    r->seconds = (double)(aug_mono_ns() - t0) / 1e9;
    r->misses = misses;
    r->miss_bytes = miss_bytes;
    r->evictions = belady_evictions(b);
    belady_destroy(b);
    return 0;
}

/* Replay t through a fresh policy called name. */
static int trace_replay_policy(const trace_t *t, const char *name, uint64_t cache_bytes,
                               trace_result_t *r, aug_err_t *err)
{
    aug_err_t local;
    policy_t *p = policy_create(name, cache_bytes, err ? err : &local);
    if (!p) return err ? err->code : local.code;
    int64_t t0 = aug_mono_ns();
    uint64_t misses = 0, miss_bytes = 0;
    const uint64_t *keys = t->keys, *sizes = t->sizes;
    for (uint64_t i = 0; i < t->n; i++) {
        int rc = policy_access(p, keys[i], sizes[i]);
        if (rc == POLICY_HIT) continue;
        if (rc < 0) {
            policy_destroy(p);
            return aug_err_set(err, rc, "%s: out of memory at request %llu", name,
                               (unsigned long long)i + 1);
        }
        misses++;
        miss_bytes += sizes[i];
    }
    r->seconds = (double)(aug_mono_ns() - t0) / 1e9;
    r->misses = misses;
    r->miss_bytes = miss_bytes;
    r->evictions = policy_evictions(p);
    policy_destroy(p);
    return 0;
}

/* Validate, then replay through Belady or a policy; see trace.h for errors. */
int trace_replay(const trace_t *t, const char *name, uint64_t cache_bytes, trace_result_t *r,
                 aug_err_t *err)
{
    memset(r, 0, sizeof(*r));
    r->cache_bytes = cache_bytes;
    r->requests = t->n;
    r->bytes = t->total_bytes;
    if (!trace_policy_known(name))
        return aug_err_set(err, AUG_EINVAL, "unknown policy '%s' (known: %s, %s)",
                           name ? name : "(null)", policy_names(), TRACE_BELADY);
    if (cache_bytes == 0)
        return aug_err_set(err, AUG_EINVAL, "%s: cache size must be at least 1 byte", name);
    if (strcmp(name, TRACE_BELADY) == 0) return trace_replay_belady(t, cache_bytes, r, err);
    if (strcmp(name, "learned") == 0) {
        trace_learned_opts_t o;
        trace_learned_opts_default(&o);
        return trace_replay_learned(t, cache_bytes, &o, r, err);
    }
    return trace_replay_policy(t, name, cache_bytes, r, err);
}
