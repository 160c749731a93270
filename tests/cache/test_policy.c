/* test_policy.c - every eviction policy against a slow, obviously correct model of it. */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "cache/policy.h"
#include "testlib.h"

/* ---- random request streams ----------------------------------------------------------------
 *
 * A mix of a hot set, a larger warm set and one-off keys, so every policy evicts, promotes and
 * (for S3-FIFO and ARC) hits ghosts. Seeds are fixed: every run sees the same requests.
 */

typedef struct req {
    uint64_t key;
    uint64_t size;
} req_t;

/* xorshift64*: a small deterministic generator. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* Fill reqs[n]; sizes are 1 (unit), or 1..100 bytes per key with an occasional request naming
 * a different size for a key (as block traces do). */
static void make_requests(req_t *reqs, size_t n, uint64_t seed, int sized)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&s);
        uint64_t key;
        switch (r % 10) {
        case 0:
            key = 1000000 + i;
            break; /* one-off */
        case 1:
        case 2:
            key = 1000 + rng_next(&s) % 600;
            break; /* warm */
        default:
            key = rng_next(&s) % 60;
            break; /* hot */
        }
        reqs[i].key = key;
        if (!sized)
            reqs[i].size = 1;
        else if (rng_next(&s) % 50 == 0)
            reqs[i].size = 1 + rng_next(&s) % 100;
        else
            reqs[i].size = 1 + key * 2654435761u % 100;
    }
}

/* ---- the naive model -----------------------------------------------------------------------
 *
 * Entries sit in one flat array; "lists" are sets of entries with the same q, ordered by a
 * stamp (head = largest). Every lookup is a linear scan: slow, but plainly what each paper
 * describes, and independent of the linked lists and hash table under test.
 */

#define NAIVE_MAX 4096

typedef struct naive_entry {
    uint64_t key;
    uint64_t size;
    uint64_t stamp;
    int q; /* policy-specific; GHOST_* values mark non-resident entries */
    int freq;
} naive_entry_t;

typedef struct naive {
    const char *policy;
    uint64_t cap;
    uint64_t clock;
    naive_entry_t e[NAIVE_MAX];
    size_t n;
    uint64_t hand; /* SIEVE: stamp of the next entry to examine, 0 = the tail */
    uint64_t p;    /* ARC target */
    uint64_t evicted[64];
    size_t n_evicted;
} naive_t;

enum {
    NQ_MAIN = 0,
    NQ_SMALL = 1,
    NQ_T1 = 2,
    NQ_T2 = 3,
    NQ_GHOST = 10,
    NQ_B1 = 11,
    NQ_B2 = 12,
    NQ_NONE = 99 /* on no list */
};

static naive_entry_t *naive_find(naive_t *m, uint64_t key)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].key == key) return &m->e[i];
    return NULL;
}

static uint64_t naive_bytes(const naive_t *m, int q)
{
    uint64_t b = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].q == q) b += m->e[i].size;
    return b;
}

static uint64_t naive_used(const naive_t *m)
{
    uint64_t b = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].q < NQ_GHOST) b += m->e[i].size;
    return b;
}

static size_t naive_count(const naive_t *m, int q)
{
    size_t c = 0;
    for (size_t i = 0; i < m->n; i++)
        c += m->e[i].q == q;
    return c;
}

/* Oldest entry of q (smallest stamp), or NULL. */
static naive_entry_t *naive_oldest(naive_t *m, int q)
{
    naive_entry_t *best = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].q == q && (!best || m->e[i].stamp < best->stamp)) best = &m->e[i];
    return best;
}

/* Entry of q with the smallest stamp above stamp, or NULL. */
static naive_entry_t *naive_newer(naive_t *m, int q, uint64_t stamp)
{
    naive_entry_t *best = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].q == q && m->e[i].stamp > stamp && (!best || m->e[i].stamp < best->stamp))
            best = &m->e[i];
    return best;
}

static naive_entry_t *naive_add(naive_t *m, uint64_t key, uint64_t size, int q)
{
    CU_ASSERT_FATAL(m->n < NAIVE_MAX);
    naive_entry_t *x = &m->e[m->n++];
    *x = (naive_entry_t){.key = key, .size = size, .stamp = ++m->clock, .q = q};
    return x;
}

static void naive_delete(naive_t *m, naive_entry_t *x)
{
    *x = m->e[--m->n];
}

/* Record an eviction of a resident key (for comparison with the hook). */
static void naive_note_evict(naive_t *m, uint64_t key)
{
    if (m->n_evicted < 64) m->evicted[m->n_evicted] = key;
    m->n_evicted++;
}

/* LRU and FIFO: the oldest stamp leaves; LRU re-stamps on a hit. */
static int naive_lru_fifo(naive_t *m, uint64_t key, uint64_t size, int lru)
{
    naive_entry_t *x = naive_find(m, key);
    if (x) {
        if (lru) x->stamp = ++m->clock;
        return 1;
    }
    if (size > m->cap) return 0;
    while (naive_used(m) + size > m->cap) {
        naive_entry_t *v = naive_oldest(m, NQ_MAIN);
        naive_note_evict(m, v->key);
        naive_delete(m, v);
    }
    naive_add(m, key, size, NQ_MAIN);
    return 0;
}

/* SIEVE: a hand moves from old to new clearing visited bits, evicting the first unvisited. */
static int naive_sieve(naive_t *m, uint64_t key, uint64_t size)
{
    naive_entry_t *x = naive_find(m, key);
    if (x) {
        x->freq = 1;
        return 1;
    }
    if (size > m->cap) return 0;
    while (naive_used(m) + size > m->cap) {
        naive_entry_t *v = m->hand ? naive_newer(m, NQ_MAIN, m->hand - 1) : NULL;
        if (!v) v = naive_oldest(m, NQ_MAIN);
        while (v->freq) {
            v->freq = 0;
            naive_entry_t *nx = naive_newer(m, NQ_MAIN, v->stamp);
            v = nx ? nx : naive_oldest(m, NQ_MAIN);
        }
        naive_entry_t *after = naive_newer(m, NQ_MAIN, v->stamp);
        m->hand = after ? after->stamp : 0;
        naive_note_evict(m, v->key);
        naive_delete(m, v);
    }
    naive_add(m, key, size, NQ_MAIN);
    return 0;
}

/* S3-FIFO: small FIFO (10 %), main FIFO with a 2-bit counter, ghost FIFO as big as main. */
static void naive_s3_ghost(naive_t *m, uint64_t key, uint64_t size)
{
    uint64_t ghost_cap = m->cap - m->cap * 10 / 100;
    if (size > ghost_cap) return;
    while (naive_bytes(m, NQ_GHOST) + size > ghost_cap)
        naive_delete(m, naive_oldest(m, NQ_GHOST));
    naive_add(m, key, size, NQ_GHOST);
}

static void naive_s3_evict(naive_t *m)
{
    uint64_t small_cap = m->cap * 10 / 100;
    if (naive_bytes(m, NQ_MAIN) > m->cap - small_cap || naive_bytes(m, NQ_SMALL) == 0) {
        for (;;) {
            naive_entry_t *v = naive_oldest(m, NQ_MAIN);
            if (!v) return;
            if (v->freq > 0) {
                v->freq--;
                v->stamp = ++m->clock;
                continue;
            }
            naive_note_evict(m, v->key);
            naive_delete(m, v);
            return;
        }
    }
    for (;;) {
        naive_entry_t *v = naive_oldest(m, NQ_SMALL);
        if (!v) return;
        if (v->freq >= 2) {
            v->q = NQ_MAIN;
            v->freq = 0;
            v->stamp = ++m->clock;
            continue;
        }
        uint64_t k = v->key, s = v->size;
        naive_note_evict(m, k);
        naive_delete(m, v);
        naive_s3_ghost(m, k, s);
        return;
    }
}

static int naive_s3fifo(naive_t *m, uint64_t key, uint64_t size)
{
    naive_entry_t *x = naive_find(m, key);
    if (x && x->q != NQ_GHOST) {
        if (x->freq < 3) x->freq++;
        return 1;
    }
    int ghost = x != NULL;
    if (x) naive_delete(m, x);
    if (size > m->cap || (!ghost && size > m->cap * 10 / 100)) return 0;
    while (naive_used(m) + size > m->cap)
        naive_s3_evict(m);
    naive_add(m, key, size, ghost ? NQ_MAIN : NQ_SMALL);
    return 0;
}

/* ARC in bytes: T1/T2 resident, B1/B2 ghosts, p the byte target of T1. */
static void naive_arc_replace(naive_t *m, uint64_t size, int from_b2)
{
    while (naive_used(m) + size > m->cap) {
        uint64_t t1 = naive_bytes(m, NQ_T1);
        int from_t1 = naive_count(m, NQ_T1) &&
                      (t1 > m->p || (from_b2 && t1 >= m->p) || naive_count(m, NQ_T2) == 0);
        naive_entry_t *v = naive_oldest(m, from_t1 ? NQ_T1 : NQ_T2);
        naive_note_evict(m, v->key);
        v->q = from_t1 ? NQ_B1 : NQ_B2;
        v->stamp = ++m->clock;
    }
}

static uint64_t naive_dir_bytes(naive_t *m)
{
    return naive_bytes(m, NQ_T1) + naive_bytes(m, NQ_T2) + naive_bytes(m, NQ_B1) +
           naive_bytes(m, NQ_B2);
}

static int naive_arc(naive_t *m, uint64_t key, uint64_t size)
{
    naive_entry_t *x = naive_find(m, key);
    if (x && (x->q == NQ_T1 || x->q == NQ_T2)) {
        x->q = NQ_T2;
        x->stamp = ++m->clock;
        return 1;
    }
    if (size > m->cap) {
        if (x) naive_delete(m, x);
        return 0;
    }
    if (x) {
        uint64_t b1 = naive_bytes(m, NQ_B1), b2 = naive_bytes(m, NQ_B2);
        int from_b2 = x->q == NQ_B2;
        uint64_t num = from_b2 ? b1 : b2, den = from_b2 ? b2 : b1;
        uint64_t d = num <= den ? size : (uint64_t)((double)size * (double)num / (double)den);
        if (!from_b2)
            m->p = m->p + d > m->cap ? m->cap : m->p + d;
        else
            m->p = d > m->p ? 0 : m->p - d;
        x->q = NQ_NONE; /* off every list while room is made */
        naive_arc_replace(m, size, from_b2);
        x->q = NQ_T2;
        x->size = size;
        x->stamp = ++m->clock;
        while (naive_dir_bytes(m) > 2 * m->cap && naive_count(m, NQ_B1) + naive_count(m, NQ_B2))
            naive_delete(m, naive_oldest(m, naive_count(m, NQ_B2) ? NQ_B2 : NQ_B1));
        return 0;
    }
    while (naive_bytes(m, NQ_T1) + naive_bytes(m, NQ_B1) + size > m->cap && naive_count(m, NQ_B1))
        naive_delete(m, naive_oldest(m, NQ_B1));
    while (naive_dir_bytes(m) + size > 2 * m->cap && naive_count(m, NQ_B2))
        naive_delete(m, naive_oldest(m, NQ_B2));
    naive_arc_replace(m, size, 0);
    naive_add(m, key, size, NQ_T1);
    return 0;
}

static int naive_access(naive_t *m, uint64_t key, uint64_t size)
{
    m->n_evicted = 0;
    if (!strcmp(m->policy, "lru")) return naive_lru_fifo(m, key, size, 1);
    if (!strcmp(m->policy, "fifo")) return naive_lru_fifo(m, key, size, 0);
    if (!strcmp(m->policy, "sieve")) return naive_sieve(m, key, size);
    if (!strcmp(m->policy, "s3fifo") || !strcmp(m->policy, "learned"))
        return naive_s3fifo(m, key, size);
    if (!strcmp(m->policy, "arc")) return naive_arc(m, key, size);
    CU_FAIL_FATAL("no naive model for this policy");
    return -1;
}

/* ---- comparing the two ------------------------------------------------------------------- */

typedef struct evict_log {
    uint64_t keys[64];
    size_t n;
    uint64_t total;
    uint64_t bytes;
    const policy_t *p;
    int still_resident; /* hook saw a key the policy still claimed to hold */
} evict_log_t;

static void record_evict(void *arg, uint64_t key, uint64_t size)
{
    evict_log_t *l = arg;
    if (l->n < 64) l->keys[l->n] = key;
    l->n++;
    l->total++;
    l->bytes += size;
    if (policy_contains(l->p, key)) l->still_resident = 1;
}

/* Run policy and model side by side over n requests; stop at the first difference. */
static void check_against_model(const char *policy, uint64_t cap, uint64_t seed, int sized,
                                size_t n)
{
    req_t *reqs = malloc(n * sizeof(*reqs));
    naive_t *m = calloc(1, sizeof(*m));
    CU_ASSERT_FATAL(reqs && m);
    make_requests(reqs, n, seed, sized);
    m->policy = policy;
    m->cap = cap;
    aug_err_t err;
    policy_t *p = policy_create(policy, cap, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    evict_log_t log = {.p = p};
    policy_set_evict_hook(p, record_evict, &log);
    uint64_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        log.n = 0;
        int got = policy_access(p, reqs[i].key, reqs[i].size);
        int want = naive_access(m, reqs[i].key, reqs[i].size);
        hits += got == POLICY_HIT;
        int same_evictions = log.n == m->n_evicted &&
                             memcmp(log.keys, m->evicted, (log.n < 64 ? log.n : 64) * 8) == 0;
        if (got != want || !same_evictions || policy_used_bytes(p) != naive_used(m) ||
            policy_used_bytes(p) > cap) {
            fprintf(stderr,
                    "\n%s cap %llu seed %llu sized %d: request %zu key %llu size %llu: "
                    "policy %d model %d, evicted %zu vs %zu, used %llu vs %llu\n",
                    policy, (unsigned long long)cap, (unsigned long long)seed, sized, i,
                    (unsigned long long)reqs[i].key, (unsigned long long)reqs[i].size, got, want,
                    log.n, m->n_evicted, (unsigned long long)policy_used_bytes(p),
                    (unsigned long long)naive_used(m));
            CU_FAIL("policy and model disagree");
            break;
        }
    }
    CU_ASSERT_EQUAL(log.total, policy_evictions(p));
    CU_ASSERT_FALSE(log.still_resident);
    /* the workload must exercise both outcomes, or the comparison proves little */
    if (!(hits > n / 20 && hits < n - n / 20))
        fprintf(stderr, "\n%s cap %llu sized %d: %llu hits of %zu\n", policy,
                (unsigned long long)cap, sized, (unsigned long long)hits, n);
    CU_ASSERT(hits > n / 20 && hits < n - n / 20);
    CU_ASSERT(log.total > 0);
    policy_destroy(p);
    free(m);
    free(reqs);
}

/* Several seeds, capacities and size mixes for one policy. */
static void check_policy(const char *policy)
{
    static const uint64_t unit_caps[] = {20, 64, 300};
    static const uint64_t byte_caps[] = {600, 1500, 5000};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        for (size_t c = 0; c < sizeof(unit_caps) / sizeof(unit_caps[0]); c++)
            check_against_model(policy, unit_caps[c], seed, 0, 6000);
        for (size_t c = 0; c < sizeof(byte_caps) / sizeof(byte_caps[0]); c++)
            check_against_model(policy, byte_caps[c], seed, 1, 6000);
    }
}

static void test_lru_matches_model(void)
{
    check_policy("lru");
}

static void test_fifo_matches_model(void)
{
    check_policy("fifo");
}

static void test_sieve_matches_model(void)
{
    check_policy("sieve");
}

static void test_s3fifo_matches_model(void)
{
    check_policy("s3fifo");
}

static void test_arc_matches_model(void)
{
    check_policy("arc");
}

static void test_learned_without_scorer_is_s3fifo(void)
{
    check_policy("learned");
}

/* A scorer whose model has not learned enough yet. */
static uint64_t cold_scorer(void *arg, uint64_t key, uint64_t size)
{
    (void)key;
    (void)size;
    (*(uint64_t *)arg)++;
    return POLICY_SCORE_COLD;
}

static void test_learned_with_a_cold_scorer_is_s3fifo(void)
{
    aug_err_t err;
    policy_t *a = policy_create("s3fifo", 2000, &err), *b = policy_create("learned", 2000, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    uint64_t calls = 0;
    CU_ASSERT_EQUAL(policy_set_scorer(b, cold_scorer, &calls), 0);
    uint64_t x = 7;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t key = (x >> 33) % 500, size = 1 + (x >> 20) % 60;
        CU_ASSERT_EQUAL_FATAL(policy_access(a, key, size), policy_access(b, key, size));
    }
    CU_ASSERT(calls > 0); /* it was asked, and its silence meant S3-FIFO */
    CU_ASSERT_EQUAL(policy_evictions(a), policy_evictions(b));
    CU_ASSERT_EQUAL(policy_used_bytes(a), policy_used_bytes(b));
    policy_destroy(a);
    policy_destroy(b);
}

/* ---- single behaviours ------------------------------------------------------------------- */

static const char *const all_policies[] = {"lru", "fifo", "s3fifo", "sieve", "arc", "learned"};
#define N_POLICIES (sizeof(all_policies) / sizeof(all_policies[0]))

static void test_create_rejects_unknown_name_and_zero_capacity(void)
{
    aug_err_t err;
    aug_err_clear(&err);
    CU_ASSERT_PTR_NULL(policy_create("lfu-ish", 100, &err));
    CU_ASSERT_EQUAL(err.code, AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lfu-ish"));
    CU_ASSERT_PTR_NULL(policy_create(NULL, 100, &err));
    CU_ASSERT_PTR_NULL(policy_create("lru", 0, &err));
    CU_ASSERT_EQUAL(err.code, AUG_EINVAL);
    CU_ASSERT_PTR_NULL(policy_create("lru", 0, NULL));
    for (size_t i = 0; i < N_POLICIES; i++) {
        CU_ASSERT_TRUE(policy_name_known(all_policies[i]));
        policy_t *p = policy_create(all_policies[i], 10, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_STRING_EQUAL(policy_name(p), all_policies[i]);
        CU_ASSERT_EQUAL(policy_capacity_bytes(p), 10);
        policy_destroy(p);
    }
    CU_ASSERT_FALSE(policy_name_known("belady")); /* offline only: trace replay has it */
    policy_destroy(NULL);
}

static void test_object_larger_than_capacity_is_not_admitted(void)
{
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 1000, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(policy_access(p, 1, 10), POLICY_MISS);
        CU_ASSERT_EQUAL(policy_access(p, 2, 1001), POLICY_MISS);
        CU_ASSERT_FALSE(policy_contains(p, 2));
        CU_ASSERT_EQUAL(policy_access(p, 2, 1001), POLICY_MISS);
        CU_ASSERT_TRUE(policy_contains(p, 1));
        CU_ASSERT_EQUAL(policy_used_bytes(p), 10);
        CU_ASSERT_EQUAL(policy_evictions(p), 0);
        policy_destroy(p);
    }
}

static void test_capacity_is_never_exceeded(void)
{
    req_t reqs[20000];
    make_requests(reqs, 20000, 42, 1);
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 777, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        int over = 0;
        for (size_t r = 0; r < 20000; r++) {
            CU_ASSERT(policy_access(p, reqs[r].key, reqs[r].size) >= 0);
            if (policy_used_bytes(p) > 777) over = 1;
        }
        CU_ASSERT_FALSE(over);
        CU_ASSERT(policy_used_bytes(p) > 600); /* and the budget is actually used */
        policy_destroy(p);
    }
}

static void test_eviction_hook_reports_each_evicted_key(void)
{
    req_t reqs[5000];
    make_requests(reqs, 5000, 7, 1);
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 500, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        evict_log_t log = {.p = p};
        policy_set_evict_hook(p, record_evict, &log);
        uint64_t admitted = 0;
        for (size_t r = 0; r < 5000; r++) {
            uint64_t before = policy_used_bytes(p), ev_before = log.bytes;
            int rc = policy_access(p, reqs[r].key, reqs[r].size);
            if (rc == POLICY_MISS && policy_contains(p, reqs[r].key)) {
                admitted += policy_used_bytes(p) + (log.bytes - ev_before) - before;
                CU_ASSERT_EQUAL(policy_used_bytes(p) + (log.bytes - ev_before) - before,
                                reqs[r].size);
            }
        }
        /* bytes admitted = bytes evicted (all reported) + bytes still held */
        CU_ASSERT_EQUAL(admitted, log.bytes + policy_used_bytes(p));
        CU_ASSERT_EQUAL(log.total, policy_evictions(p));
        CU_ASSERT_FALSE(log.still_resident);
        CU_ASSERT(log.total > 100);
        policy_set_evict_hook(p, NULL, NULL);
        uint64_t seen = log.total;
        for (size_t r = 0; r < 1000; r++)
            policy_access(p, 5000000 + r, 3);
        CU_ASSERT_EQUAL(log.total, seen); /* cleared hook is not called */
        policy_destroy(p);
    }
}

static void test_remove_frees_bytes_without_counting_an_eviction(void)
{
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 100, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        evict_log_t log = {.p = p};
        policy_set_evict_hook(p, record_evict, &log);
        for (uint64_t k = 1; k <= 5; k++)
            policy_access(p, k, 5);
        CU_ASSERT_EQUAL(policy_remove(p, 3), 0);
        CU_ASSERT_FALSE(policy_contains(p, 3));
        CU_ASSERT_EQUAL(policy_used_bytes(p), 20);
        CU_ASSERT_EQUAL(policy_count(p), 4);
        CU_ASSERT_EQUAL(policy_remove(p, 3), AUG_ENOENT);
        CU_ASSERT_EQUAL(policy_remove(p, 99), AUG_ENOENT);
        CU_ASSERT_EQUAL(policy_evictions(p), 0);
        CU_ASSERT_EQUAL(log.total, 0);
        /* the structure stays sound: fill well past capacity, removing as we go */
        for (uint64_t k = 10; k < 400; k++) {
            policy_access(p, k, 1 + k % 9);
            policy_access(p, k - 5, 1 + (k - 5) % 9);
            if (k % 7 == 0) policy_remove(p, k - 3);
            CU_ASSERT(policy_used_bytes(p) <= 100);
        }
        CU_ASSERT_EQUAL(log.total, policy_evictions(p));
        policy_destroy(p);
    }
}

static void test_hit_with_another_size_keeps_the_resident_size(void)
{
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 100, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(policy_access(p, 1, 4), POLICY_MISS);
        CU_ASSERT_EQUAL(policy_access(p, 1, 60), POLICY_HIT);
        CU_ASSERT_EQUAL(policy_used_bytes(p), 4);
        policy_destroy(p);
    }
}

static void test_ghost_keys_are_not_resident(void)
{
    /* s3fifo: a key read once leaves the small queue as a ghost; a later request is a miss
     * that admits it straight to main, where it survives a flood of one-off keys. */
    policy_t *p = policy_create("s3fifo", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    policy_access(p, 1, 1);
    for (uint64_t k = 100; k < 250; k++)
        policy_access(p, k, 1);
    CU_ASSERT_FALSE(policy_contains(p, 1));
    CU_ASSERT_EQUAL(policy_access(p, 1, 1), POLICY_MISS);
    CU_ASSERT_TRUE(policy_contains(p, 1));
    for (uint64_t k = 1000; k < 1200; k++)
        policy_access(p, k, 1);
    CU_ASSERT_TRUE(policy_contains(p, 1));
    policy_destroy(p);
}

static void test_remove_forgets_a_ghost(void)
{
    /* Keys 1 and 2 become ghosts; removing 2 forgets it, so on its return only 1 goes
     * straight to main and outlives a flood of one-off keys. */
    policy_t *p = policy_create("s3fifo", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    policy_access(p, 1, 1);
    policy_access(p, 2, 1);
    for (uint64_t k = 100; k < 250; k++)
        policy_access(p, k, 1);
    CU_ASSERT_FALSE(policy_contains(p, 2));
    CU_ASSERT_EQUAL(policy_remove(p, 2), AUG_ENOENT); /* not resident, but forgotten */
    CU_ASSERT_EQUAL(policy_access(p, 1, 1), POLICY_MISS);
    CU_ASSERT_EQUAL(policy_access(p, 2, 1), POLICY_MISS);
    for (uint64_t k = 1000; k < 1200; k++)
        policy_access(p, k, 1);
    CU_ASSERT_TRUE(policy_contains(p, 1));
    CU_ASSERT_FALSE(policy_contains(p, 2));
    policy_destroy(p);
}

/* ---- learned ------------------------------------------------------------------------------ */

typedef struct oracle {
    const req_t *reqs;
    size_t n;
    size_t now;
    uint64_t *next_use; /* per key (keys < ORACLE_KEYS): index of its next request */
} oracle_t;

#define ORACLE_KEYS 4096

static uint64_t oracle_score(void *arg, uint64_t key, uint64_t size)
{
    oracle_t *o = arg;
    (void)size;
    return o->next_use[key % ORACLE_KEYS];
}

static void test_learned_with_oracle_scorer_beats_lru(void)
{
    enum { N = 30000 };
    req_t *reqs = malloc(N * sizeof(*reqs));
    uint64_t *next_of_req = malloc(N * sizeof(*next_of_req));
    oracle_t o = {.reqs = reqs, .n = N, .next_use = calloc(ORACLE_KEYS, sizeof(uint64_t))};
    CU_ASSERT_FATAL(reqs && next_of_req && o.next_use);
    uint64_t s = 99;
    for (size_t i = 0; i < N; i++) { /* keys < ORACLE_KEYS, looping scans plus noise */
        uint64_t r = rng_next(&s);
        reqs[i].key = r % 3 ? (i % 300) : 300 + rng_next(&s) % 3000;
        reqs[i].size = 1;
    }
    uint64_t last[ORACLE_KEYS];
    for (size_t k = 0; k < ORACLE_KEYS; k++)
        last[k] = UINT64_MAX;
    for (size_t i = N; i-- > 0;) {
        next_of_req[i] = last[reqs[i].key];
        last[reqs[i].key] = i;
    }
    policy_t *lru = policy_create("lru", 200, NULL);
    policy_t *learned = policy_create("learned", 200, NULL);
    CU_ASSERT_FATAL(lru && learned);
    CU_ASSERT_EQUAL(policy_set_scorer(learned, oracle_score, &o), 0);
    uint64_t miss_lru = 0, miss_learned = 0;
    for (size_t i = 0; i < N; i++) {
        o.now = i;
        o.next_use[reqs[i].key] = next_of_req[i];
        miss_lru += policy_access(lru, reqs[i].key, 1) == POLICY_MISS;
        miss_learned += policy_access(learned, reqs[i].key, 1) == POLICY_MISS;
        CU_ASSERT(policy_used_bytes(learned) <= 200);
    }
    /* a looping scan larger than the cache defeats LRU; knowing the future does not */
    CU_ASSERT(miss_learned * 10 < miss_lru * 7);
    /* clearing the scorer falls back to S3-FIFO and keeps working */
    CU_ASSERT_EQUAL(policy_set_scorer(learned, NULL, NULL), 0);
    for (size_t i = 0; i < 5000; i++)
        policy_access(learned, reqs[i].key, 1);
    CU_ASSERT(policy_used_bytes(learned) <= 200);
    policy_destroy(lru);
    policy_destroy(learned);
    free(o.next_use);
    free(next_of_req);
    free(reqs);
}

static void test_scorer_is_refused_by_other_policies(void)
{
    for (size_t i = 0; i < N_POLICIES; i++) {
        policy_t *p = policy_create(all_policies[i], 10, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        int want = strcmp(all_policies[i], "learned") == 0 ? 0 : AUG_EINVAL;
        CU_ASSERT_EQUAL(policy_set_scorer(p, oracle_score, NULL), want);
        policy_destroy(p);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("policy", NULL, NULL);
    if (!s) return 1;
    struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"lru matches model", test_lru_matches_model},
        {"fifo matches model", test_fifo_matches_model},
        {"sieve matches model", test_sieve_matches_model},
        {"s3fifo matches model", test_s3fifo_matches_model},
        {"arc matches model", test_arc_matches_model},
        {"learned without scorer is s3fifo", test_learned_without_scorer_is_s3fifo},
        {"learned with a cold scorer is s3fifo", test_learned_with_a_cold_scorer_is_s3fifo},
        {"create rejects unknown name and zero capacity",
         test_create_rejects_unknown_name_and_zero_capacity},
        {"object larger than capacity is not admitted",
         test_object_larger_than_capacity_is_not_admitted},
        {"capacity is never exceeded", test_capacity_is_never_exceeded},
        {"eviction hook reports each evicted key", test_eviction_hook_reports_each_evicted_key},
        {"remove frees bytes without counting an eviction",
         test_remove_frees_bytes_without_counting_an_eviction},
        {"hit with another size keeps the resident size",
         test_hit_with_another_size_keeps_the_resident_size},
        {"ghost keys are not resident", test_ghost_keys_are_not_resident},
        {"remove forgets a ghost", test_remove_forgets_a_ghost},
        {"learned with oracle scorer beats lru", test_learned_with_oracle_scorer_beats_lru},
        {"scorer is refused by other policies", test_scorer_is_refused_by_other_policies},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return 1;
    return test_run_all();
}
