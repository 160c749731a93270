/* markov.c - per-key recency/frequency/successor tables and stride transitions: the pure-C
 * model, and the candidate source the LSTM re-ranks. */
#include "predictor/markov.h"

#include <stdlib.h>
#include <string.h>

/* Ways per set of the key table: enough that hot keys rarely evict each other. */
#define MARKOV_SET 4
/* Seed of the set hash; fixed so runs are reproducible. */
#define MARKOV_HASH_SEED 0x707265646963746fULL
/* Counts are halved when a row's total passes this: recent transitions outweigh old ones. */
#define MARKOV_TOTAL_MAX 15
/* Gap averages: a key's own gap moves a quarter of the way to each new gap; the global
 * first-reuse gap moves 1/64 of the way, smoothing over many keys. */
#define MARKOV_GAP_SHIFT 2
#define MARKOV_FIRST_GAP_SHIFT 6
/* Weight, in guesses, of a row's raw count ratio before calibration has evidence. */
#define MARKOV_CAL_PRIOR 4.0f
/* Calibration counters are halved past this many guesses, to follow a changing stream. */
#define MARKOV_CAL_MAX 4096
/* Stride contexts farther apart than this are lumped together: they do not repeat. */
#define MARKOV_DELTA_SPAN (INT64_C(1) << 32)

/* Relaxed atomics: score readers tolerate torn multi-field views. */
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

int markov_init(markov_t *m, uint32_t table_keys)
{
    memset(m, 0, sizeof(*m));
    uint64_t n = 64;
    while (n < table_keys)
        n <<= 1;
    m->keys = calloc(n, sizeof(*m->keys));
    if (!m->keys) return AUG_ENOMEM;
    m->set_mask = n / MARKOV_SET - 1;
    return 0;
}

void markov_fini(markov_t *m)
{
    free(m->keys);
    m->keys = NULL;
}

uint64_t markov_table_keys(const markov_t *m)
{
    return (m->set_mask + 1) * MARKOV_SET;
}

/* First entry of key's set. */
static markov_key_t *markov_set(const markov_t *m, uint64_t key)
{
    uint64_t set = aug_hash64(&key, sizeof(key), MARKOV_HASH_SEED) & m->set_mask;
    return &m->keys[set * MARKOV_SET];
}

/* key's entry, or NULL. */
static markov_key_t *markov_find(const markov_t *m, uint64_t key)
{
    markov_key_t *s = markov_set(m, key);
    for (int i = 0; i < MARKOV_SET; i++)
        if (LOAD(s[i].last) != 0 && LOAD(s[i].key) == key) return &s[i];
    return NULL;
}

/* A fresh entry for key in its set: an empty way, else the least recently used one. */
static markov_key_t *markov_claim(markov_t *m, uint64_t key)
{
    markov_key_t *s = markov_set(m, key), *victim = &s[0];
    for (int i = 0; i < MARKOV_SET; i++) {
        if (LOAD(s[i].last) < LOAD(victim->last)) victim = &s[i];
    }
    STORE(victim->last, 0); /* readers skip it while it changes hands */
    STORE(victim->key, key);
    STORE(victim->count, 0);
    STORE(victim->gap, 0);
    memset(victim->succ, 0, sizeof(victim->succ));
    memset(victim->succ_n, 0, sizeof(victim->succ_n));
    victim->succ_total = 0;
    return victim;
}

/* Count "next is x" in a row of MARKOV_WAYS candidates: a known candidate gains, else x
 * replaces the weakest. Totals are halved past MARKOV_TOTAL_MAX so the row follows change. */
static void markov_row_learn(uint64_t *cand, uint16_t *n, uint16_t *total, uint64_t x)
{
    int slot = -1, weakest = 0;
    for (int i = 0; i < MARKOV_WAYS; i++) {
        if (n[i] > 0 && cand[i] == x) slot = i;
        if (n[i] < n[weakest]) weakest = i;
    }
    if (slot < 0) {
        slot = weakest;
        cand[slot] = x;
        n[slot] = 0;
    }
    n[slot]++;
    if (++*total > MARKOV_TOTAL_MAX) {
        *total = 0;
        for (int i = 0; i < MARKOV_WAYS; i++) {
            n[i] /= 2;
            *total += n[i];
        }
    }
}

/* Fold a gap into an entry's average and the first-reuse average. */
static void markov_learn_gap(markov_t *m, markov_key_t *e, uint64_t gap)
{
    uint32_t count = LOAD(e->count);
    if (gap > UINT32_MAX) gap = UINT32_MAX;
    if (count == 1) {
        int64_t fg = (int64_t)LOAD(m->first_gap);
        fg += ((int64_t)gap - fg) / (1 << MARKOV_FIRST_GAP_SHIFT);
        STORE(m->first_gap, fg > 0 ? (uint64_t)fg : 1);
        STORE(e->gap, (uint32_t)gap);
    } else {
        int64_t g = LOAD(e->gap);
        g += ((int64_t)gap - g) / (1 << MARKOV_GAP_SHIFT);
        STORE(e->gap, (uint32_t)(g > 0 ? g : 1));
    }
    if (count < UINT32_MAX) STORE(e->count, count + 1);
}

/* The stride row for context ctx (direct mapped; a different context takes it over). */
static markov_delta_t *markov_delta_row(markov_t *m, int64_t ctx, int claim)
{
    uint64_t h = aug_hash64(&ctx, sizeof(ctx), MARKOV_HASH_SEED) % MARKOV_DELTAS;
    markov_delta_t *r = &m->deltas[h];
    if (r->used && r->ctx == ctx) return r;
    if (!claim) return NULL;
    memset(r, 0, sizeof(*r));
    r->ctx = ctx;
    r->used = 1;
    return r;
}

/* Key distance a -> b, lumping far jumps into one context. */
static int64_t markov_delta(uint64_t a, uint64_t b)
{
    int64_t d = (int64_t)(b - a);
    if (d > MARKOV_DELTA_SPAN || d < -MARKOV_DELTA_SPAN) return INT64_MAX;
    return d;
}

/* Count the pending guesses this access proves right. */
static void markov_settle(markov_t *m, uint64_t key, uint64_t seq)
{
    for (int i = 0; i < MARKOV_PENDING; i++) {
        markov_pending_t *g = &m->pending[i];
        if (!g->cell) continue;
        if (seq - g->seq > MARKOV_CAL_WINDOW) {
            g->cell = NULL; /* expired: it stays counted as made, not right */
        } else if (g->key == key) {
            g->cell->right++;
            g->cell = NULL;
        }
    }
}

void markov_observe(markov_t *m, const predictor_event_t *ev)
{
    uint64_t seq = LOAD(m->seq) + 1;
    STORE(m->seq, seq);
    if (ev->op != PREDICTOR_DELETE) markov_settle(m, ev->key, seq);
    markov_key_t *e = markov_find(m, ev->key);
    if (ev->op == PREDICTOR_DELETE) {
        if (e) STORE(e->last, 0); /* gone: its history no longer predicts anything */
        return;
    }
    if (e) {
        markov_learn_gap(m, e, seq - LOAD(e->last));
    } else {
        e = markov_claim(m, ev->key);
        STORE(e->count, 1);
    }
    STORE(e->last, seq);
    if (m->have_prev) {
        markov_key_t *pe = markov_find(m, m->prev_key);
        if (pe) markov_row_learn(pe->succ, pe->succ_n, &pe->succ_total, ev->key);
        int64_t d = markov_delta(m->prev_key, ev->key);
        if (m->have_prev > 1 && (int64_t)m->prev_delta != INT64_MAX && d != INT64_MAX) {
            markov_delta_t *r = markov_delta_row(m, (int64_t)m->prev_delta, 1);
            markov_row_learn((uint64_t *)r->d, r->n, &r->total, (uint64_t)d);
        }
        m->prev_delta = (uint64_t)d;
    }
    m->prev_key = ev->key;
    if (m->have_prev < 2) m->have_prev++;
}

/* Add a candidate, combining evidence for the same key as independent chances. */
static size_t markov_add_guess(predictor_guess_t *g, size_t n, uint64_t key, float prob)
{
    for (size_t i = 0; i < n; i++) {
        if (g[i].key == key) {
            g[i].prob = 1.0f - (1.0f - g[i].prob) * (1.0f - prob);
            return n;
        }
    }
    g[n].key = key;
    g[n].prob = prob;
    return n + 1;
}

/* The calibrated probability of a guess from source src with count n of total, and its
 * outcome recorded as pending. */
static float markov_calibrated(markov_t *m, int src, unsigned n, unsigned total, uint64_t key)
{
    if (n >= MARKOV_CAL_COUNTS) n = MARKOV_CAL_COUNTS - 1;
    if (total >= MARKOV_CAL_COUNTS) total = MARKOV_CAL_COUNTS - 1;
    markov_cal_t *c = &m->cal[src][n][total];
    float raw = (float)n / (float)(total + 1);
    float p = ((float)c->right + MARKOV_CAL_PRIOR * raw) / ((float)c->made + MARKOV_CAL_PRIOR);
    if (++c->made > MARKOV_CAL_MAX) {
        c->made /= 2;
        c->right /= 2;
    }
    markov_pending_t *g = &m->pending[m->pending_at++ % MARKOV_PENDING];
    g->key = key;
    g->seq = LOAD(m->seq);
    g->cell = c;
    return p;
}

float markov_calibrate_other(markov_t *m, float raw, uint64_t key)
{
    unsigned n = raw <= 0 ? 0 : raw >= 1 ? MARKOV_CAL_COUNTS - 1
                                         : (unsigned)(raw * (MARKOV_CAL_COUNTS - 1) + 0.5f);
    return markov_calibrated(m, 2, n, MARKOV_CAL_COUNTS - 2, key);
}

void markov_sort_guesses(predictor_guess_t *g, size_t n)
{
    /* insertion sort: n is at most PREDICTOR_GUESSES_MAX */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && g[j].prob > g[j - 1].prob; j--) {
            predictor_guess_t t = g[j];
            g[j] = g[j - 1];
            g[j - 1] = t;
        }
}

size_t markov_predict(markov_t *m, predictor_guess_t *out, size_t max)
{
    if (!m->have_prev || max == 0) return 0;
    predictor_guess_t g[2 * MARKOV_WAYS];
    size_t n = 0;
    markov_key_t *e = markov_find(m, m->prev_key);
    for (int i = 0; e && i < MARKOV_WAYS; i++)
        if (e->succ_n[i] > 0)
            n = markov_add_guess(g, n, e->succ[i],
                                 markov_calibrated(m, 0, e->succ_n[i], e->succ_total, e->succ[i]));
    markov_delta_t *r =
        m->have_prev > 1 ? markov_delta_row(m, (int64_t)m->prev_delta, 0) : NULL;
    for (int i = 0; r && i < MARKOV_WAYS; i++)
        if (r->n[i] > 0) {
            uint64_t key = m->prev_key + (uint64_t)r->d[i];
            n = markov_add_guess(g, n, key, markov_calibrated(m, 1, r->n[i], r->total, key));
        }
    markov_sort_guesses(g, n);
    if (n > max) n = max;
    memcpy(out, g, n * sizeof(*g));
    return n;
}

void markov_note_guess(markov_t *m, uint64_t key)
{
    STORE(m->recent[m->recent_at++ % MARKOV_RECENT], key);
}

/* True if key was guessed lately. */
static int markov_recently_guessed(const markov_t *m, uint64_t key)
{
    for (int i = 0; i < MARKOV_RECENT; i++)
        if (LOAD(m->recent[i]) == key) return 1;
    return 0;
}

/* A key's frequency, capped: keys read often are worth keeping longer, up to a point. */
#define MARKOV_FREQ_CAP 8

uint64_t markov_score(const markov_t *m, uint64_t key)
{
    const markov_key_t *e = markov_find(m, key);
    if (!e) return PREDICTOR_SCORE_UNKNOWN;
    if (markov_recently_guessed(m, key)) return 1;
    uint64_t now = LOAD(m->seq), last = LOAD(e->last);
    uint64_t age = now > last ? now - last : 0;
    uint32_t count = LOAD(e->count);
    if (count < 2) {
        /* seen once: most such keys never return, and those that do come back after about
         * first_gap, so they rank behind every key with a history */
        return (age + LOAD(m->first_gap)) * 2 + 1;
    }
    /* due again in gap - age; an overdue key is judged by twice its idle time. Dividing by
     * the (capped) frequency keeps hot keys: measured on the shared traces, this beat
     * gap-only and log-frequency variants on all four. */
    uint64_t gap = LOAD(e->gap);
    uint64_t due = gap > age ? gap - age : age * 2;
    return due / (count > MARKOV_FREQ_CAP ? MARKOV_FREQ_CAP : count);
}

/* ---- model file -------------------------------------------------------------------------- */

/* Bytes of one key entry on disk: key, last, count, gap, successors, their counts, total. */
#define MARKOV_KEY_BYTES (8 + 8 + 4 + 4 + 8 * MARKOV_WAYS + 2 * MARKOV_WAYS + 2)
/* Bytes of one stride row: ctx, deltas, counts, total. */
#define MARKOV_DELTA_BYTES (8 + 8 * MARKOV_WAYS + 2 * MARKOV_WAYS + 2)

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static const unsigned char *get_u64(const unsigned char *p, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)p[i] << (8 * i);
    return p + 8;
}

static const unsigned char *get_u32(const unsigned char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++)
        *v |= (uint32_t)p[i] << (8 * i);
    return p + 4;
}

static const unsigned char *get_u16(const unsigned char *p, uint16_t *v)
{
    *v = (uint16_t)(p[0] | p[1] << 8);
    return p + 2;
}

/* Write len bytes, folding them into crc. */
static int markov_put(FILE *f, const void *buf, size_t len, uint32_t *crc)
{
    *crc = aug_crc32c(*crc, buf, len);
    return fwrite(buf, 1, len, f) == len ? 0 : AUG_EIO;
}

/* Read exactly len bytes, folding them into crc; a short read means a truncated file. */
static int markov_get(FILE *f, void *buf, size_t len, uint32_t *crc)
{
    if (fread(buf, 1, len, f) != len) return ferror(f) ? AUG_EIO : AUG_ECORRUPT;
    *crc = aug_crc32c(*crc, buf, len);
    return 0;
}

/* Bytes of the context block: where the stream stands (previous key and stride), the
 * recent guesses, the calibration counts and the guesses awaiting their outcome, so a
 * reloaded model behaves exactly as the one saved. */
#define MARKOV_CAL_CELLS (3 * MARKOV_CAL_COUNTS * MARKOV_CAL_COUNTS)
#define MARKOV_CONTEXT_BYTES                                                                        \
    (8 + 8 + 4 + 4 + 8 * MARKOV_RECENT + 4 + 8 * MARKOV_CAL_CELLS + 4 +                            \
     MARKOV_PENDING * (8 + 8 + 4))

/* Index of a calibration cell, or UINT32_MAX for none. */
static uint32_t markov_cal_index(const markov_t *m, const markov_cal_t *c)
{
    return c ? (uint32_t)(c - &m->cal[0][0][0]) : UINT32_MAX;
}

static int markov_write_context(const markov_t *m, FILE *f, uint32_t *crc)
{
    unsigned char *b = malloc(MARKOV_CONTEXT_BYTES), *p = b;
    if (!b) return AUG_ENOMEM;
    p = put_u64(p, m->prev_key);
    p = put_u64(p, m->prev_delta);
    p = put_u32(p, (uint32_t)m->have_prev);
    p = put_u32(p, m->recent_at);
    for (int i = 0; i < MARKOV_RECENT; i++)
        p = put_u64(p, LOAD(m->recent[i]));
    p = put_u32(p, m->pending_at);
    const markov_cal_t *cal = &m->cal[0][0][0];
    for (int i = 0; i < MARKOV_CAL_CELLS; i++) {
        p = put_u32(p, cal[i].made);
        p = put_u32(p, cal[i].right);
    }
    p = put_u32(p, 0); /* reserved */
    for (int i = 0; i < MARKOV_PENDING; i++) {
        p = put_u64(p, m->pending[i].key);
        p = put_u64(p, m->pending[i].seq);
        p = put_u32(p, markov_cal_index(m, m->pending[i].cell));
    }
    int rc = markov_put(f, b, MARKOV_CONTEXT_BYTES, crc);
    free(b);
    return rc;
}

/* Read the context block into t. */
static int markov_read_context(markov_t *t, FILE *f, uint32_t *crc)
{
    unsigned char *b = malloc(MARKOV_CONTEXT_BYTES);
    if (!b) return AUG_ENOMEM;
    int rc = markov_get(f, b, MARKOV_CONTEXT_BYTES, crc);
    const unsigned char *p = b;
    uint32_t v;
    if (rc == 0) {
        p = get_u64(p, &t->prev_key);
        p = get_u64(p, &t->prev_delta);
        p = get_u32(p, &v);
        t->have_prev = v > 2 ? 2 : (int)v;
        p = get_u32(p, &t->recent_at);
        for (int i = 0; i < MARKOV_RECENT; i++) {
            uint64_t k;
            p = get_u64(p, &k);
            STORE(t->recent[i], k);
        }
        p = get_u32(p, &t->pending_at);
        markov_cal_t *cal = &t->cal[0][0][0];
        for (int i = 0; i < MARKOV_CAL_CELLS; i++) {
            p = get_u32(p, &cal[i].made);
            p = get_u32(p, &cal[i].right);
        }
        p = get_u32(p, &v);
        for (int i = 0; i < MARKOV_PENDING && rc == 0; i++) {
            p = get_u64(p, &t->pending[i].key);
            p = get_u64(p, &t->pending[i].seq);
            p = get_u32(p, &v);
            if (v != UINT32_MAX && v >= MARKOV_CAL_CELLS) rc = AUG_ECORRUPT;
            t->pending[i].cell = v == UINT32_MAX ? NULL : &cal[v];
        }
    }
    free(b);
    return rc;
}

int markov_write(const markov_t *m, FILE *f, uint32_t *crc)
{
    unsigned char b[64];
    uint64_t n_keys = 0, n_deltas = 0, total = markov_table_keys(m);
    for (uint64_t i = 0; i < total; i++)
        n_keys += LOAD(m->keys[i].last) != 0;
    for (int i = 0; i < MARKOV_DELTAS; i++)
        n_deltas += m->deltas[i].used != 0;
    unsigned char *p = put_u64(b, LOAD(m->seq));
    p = put_u64(p, LOAD(m->first_gap));
    p = put_u64(p, n_keys);
    p = put_u64(p, n_deltas);
    int rc = markov_put(f, b, (size_t)(p - b), crc);
    for (uint64_t i = 0; rc == 0 && i < total; i++) {
        const markov_key_t *e = &m->keys[i];
        if (LOAD(e->last) == 0) continue;
        p = put_u64(b, LOAD(e->key));
        p = put_u64(p, LOAD(e->last));
        p = put_u32(p, LOAD(e->count));
        p = put_u32(p, LOAD(e->gap));
        for (int w = 0; w < MARKOV_WAYS; w++)
            p = put_u64(p, e->succ[w]);
        for (int w = 0; w < MARKOV_WAYS; w++)
            p = put_u16(p, e->succ_n[w]);
        p = put_u16(p, e->succ_total);
        rc = markov_put(f, b, MARKOV_KEY_BYTES, crc);
    }
    for (int i = 0; rc == 0 && i < MARKOV_DELTAS; i++) {
        const markov_delta_t *r = &m->deltas[i];
        if (!r->used) continue;
        p = put_u64(b, (uint64_t)r->ctx);
        for (int w = 0; w < MARKOV_WAYS; w++)
            p = put_u64(p, (uint64_t)r->d[w]);
        for (int w = 0; w < MARKOV_WAYS; w++)
            p = put_u16(p, r->n[w]);
        p = put_u16(p, r->total);
        rc = markov_put(f, b, MARKOV_DELTA_BYTES, crc);
    }
    return rc ? rc : markov_write_context(m, f, crc);
}

/* Read one key entry into a claimed slot of t. */
static int markov_read_key(markov_t *t, FILE *f, uint32_t *crc)
{
    unsigned char b[MARKOV_KEY_BYTES];
    int rc = markov_get(f, b, sizeof(b), crc);
    if (rc) return rc;
    uint64_t key, last;
    uint32_t count, gap;
    const unsigned char *p = get_u64(b, &key);
    p = get_u64(p, &last);
    p = get_u32(p, &count);
    p = get_u32(p, &gap);
    if (last == 0 || count == 0 || last > LOAD(t->seq)) return AUG_ECORRUPT;
    markov_key_t *e = markov_find(t, key);
    if (e) return AUG_ECORRUPT; /* a key twice */
    e = markov_claim(t, key);
    STORE(e->count, count);
    STORE(e->gap, gap);
    for (int w = 0; w < MARKOV_WAYS; w++)
        p = get_u64(p, &e->succ[w]);
    for (int w = 0; w < MARKOV_WAYS; w++)
        p = get_u16(p, &e->succ_n[w]);
    get_u16(p, &e->succ_total);
    STORE(e->last, last);
    return 0;
}

/* Read one stride row into t. */
static int markov_read_delta(markov_t *t, FILE *f, uint32_t *crc)
{
    unsigned char b[MARKOV_DELTA_BYTES];
    int rc = markov_get(f, b, sizeof(b), crc);
    if (rc) return rc;
    uint64_t ctx;
    const unsigned char *p = get_u64(b, &ctx);
    markov_delta_t *r = markov_delta_row(t, (int64_t)ctx, 1);
    for (int w = 0; w < MARKOV_WAYS; w++) {
        uint64_t d;
        p = get_u64(p, &d);
        r->d[w] = (int64_t)d;
    }
    for (int w = 0; w < MARKOV_WAYS; w++)
        p = get_u16(p, &r->n[w]);
    get_u16(p, &r->total);
    return 0;
}

int markov_read(const markov_t *like, FILE *f, uint32_t *crc, markov_t *out)
{
    unsigned char b[32];
    int rc = markov_get(f, b, sizeof(b), crc);
    if (rc) return rc;
    uint64_t seq, first_gap, n_keys, n_deltas;
    const unsigned char *p = get_u64(b, &seq);
    p = get_u64(p, &first_gap);
    p = get_u64(p, &n_keys);
    get_u64(p, &n_deltas);
    if (n_deltas > MARKOV_DELTAS || n_keys > seq) return AUG_ECORRUPT;
    markov_t *t = out;
    if (markov_init(t, (uint32_t)markov_table_keys(like)) != 0) return AUG_ENOMEM;
    STORE(t->seq, seq);
    STORE(t->first_gap, first_gap);
    for (uint64_t i = 0; rc == 0 && i < n_keys; i++)
        rc = markov_read_key(t, f, crc);
    for (uint64_t i = 0; rc == 0 && i < n_deltas; i++)
        rc = markov_read_delta(t, f, crc);
    if (rc == 0) rc = markov_read_context(t, f, crc);
    if (rc) markov_fini(t);
    return rc;
}
