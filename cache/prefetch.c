/* prefetch.c - background block fetching: a priority queue of blocks worked by a few threads,
 * within a budget of bytes in flight and bytes per second, cancellable per request. */
#include "tiers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Workers: enough to keep a few blocks in flight, few enough to leave cores to requests. */
#define PREFETCH_THREADS_MAX 4
/* Queued blocks beyond this are dropped (counted): prefetch must never pile up. */
#define PREFETCH_QUEUE_MAX 4096

/* A manifest shared by the queued blocks of one request. */
typedef struct shared_manifest {
    _Atomic int refs;
    backend_manifest_t *m;
} shared_manifest_t;

typedef struct pf_task {
    uint64_t id;
    shared_manifest_t *sm;
    uint64_t index;
    int priority;
    struct pf_task *next;
} pf_task_t;

struct prefetcher {
    cache_t *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pf_task_t *queue; /* sorted: highest priority first, FIFO within a priority */
    size_t queued;
    uint64_t next_id;
    uint64_t inflight_max, rate;
    uint64_t inflight;
    double tokens; /* bytes the rate limit allows now */
    int64_t tokens_at;
    int stopping;
    int n_threads;
    pthread_t threads[PREFETCH_THREADS_MAX];
};

static void sm_unref(shared_manifest_t *sm)
{
    if (sm && atomic_fetch_sub(&sm->refs, 1) == 1) {
        backend_manifest_free(sm->m);
        free(sm);
    }
}

/* Refill the token bucket; returns the nanoseconds to wait before len bytes may start. */
static int64_t rate_wait(prefetcher_t *p, uint64_t len)
{
    if (p->rate == 0) return 0;
    int64_t now = aug_mono_ns();
    p->tokens += (double)(now - p->tokens_at) * (double)p->rate / 1e9;
    /* at most one second of burst */
    if (p->tokens > (double)p->rate) p->tokens = (double)p->rate;
    p->tokens_at = now;
    if (p->tokens >= (double)len || p->tokens >= (double)p->rate) return 0;
    return (int64_t)(((double)len - p->tokens) * 1e9 / (double)p->rate);
}

static void *worker(void *arg)
{
    prefetcher_t *p = arg;
    uint64_t bs = cache_block_size(p->c);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && (!p->queue || p->inflight + bs > p->inflight_max))
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping) break;
        int64_t wait = rate_wait(p, bs);
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t at = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + wait;
            ts.tv_sec = (time_t)(at / 1000000000LL);
            ts.tv_nsec = (long)(at % 1000000000LL);
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            continue;
        }
        pf_task_t *t = p->queue;
        p->queue = t->next;
        p->queued--;
        p->inflight += bs;
        if (p->rate) p->tokens -= (double)bs;
        pthread_mutex_unlock(&p->mu);
        if (!cache_has_block(p->c, t->sm->m, t->index)) {
            aug_err_t err;
            aug_err_clear(&err);
            block_buf_t *b = cache_get_block(p->c, t->sm->m, t->index,
                                              cache_prefetch_mode(p->c, t->priority), &err);
            block_buf_unref(b);
        }
        sm_unref(t->sm);
        free(t);
        pthread_mutex_lock(&p->mu);
        p->inflight -= bs;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int prefetcher_open(cache_t *c, uint64_t inflight, uint64_t rate, prefetcher_t **out)
{
    prefetcher_t *p = calloc(1, sizeof(*p));
    if (!p) return AUG_ENOMEM;
    p->c = c;
    p->inflight_max = inflight;
    p->rate = rate;
    p->tokens_at = aug_mono_ns();
    p->next_id = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    uint64_t bs = cache_block_size(c);
    int n = (int)(inflight / bs);
    if (n < 1) n = 1;
    if (n > PREFETCH_THREADS_MAX) n = PREFETCH_THREADS_MAX;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n_threads++;
    }
    *out = p;
    return 0;
}

void prefetcher_close(prefetcher_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    while (p->queue) {
        pf_task_t *t = p->queue;
        p->queue = t->next;
        sm_unref(t->sm);
        free(t);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

uint64_t prefetcher_enqueue(prefetcher_t *p, const backend_manifest_t *m, uint64_t first,
                            uint64_t last, int priority, int readahead)
{
    (void)readahead;
    shared_manifest_t *sm = malloc(sizeof(*sm));
    if (!sm) return 0;
    sm->m = backend_manifest_copy(m);
    if (!sm->m) {
        free(sm);
        return 0;
    }
    atomic_init(&sm->refs, 1);
    pthread_mutex_lock(&p->mu);
    uint64_t id = p->next_id++;
    int dropped = 0;
    /* find where this priority's run ends, then append in order */
    pf_task_t **pos = &p->queue;
    while (*pos && (*pos)->priority >= priority) pos = &(*pos)->next;
    for (uint64_t i = first; i <= last; i++) {
        if (p->queued >= PREFETCH_QUEUE_MAX) {
            dropped += (int)(last - i + 1);
            break;
        }
        pf_task_t *t = malloc(sizeof(*t));
        if (!t) break;
        t->id = id;
        t->sm = sm;
        atomic_fetch_add(&sm->refs, 1);
        t->index = i;
        t->priority = priority;
        t->next = *pos;
        *pos = t;
        pos = &t->next;
        p->queued++;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    sm_unref(sm);
    if (dropped) cache_note_prefetch(p->c, 0, dropped);
    return id;
}

void prefetcher_cancel(prefetcher_t *p, uint64_t id)
{
    /* queued blocks go now; a block already being fetched finishes */
    pthread_mutex_lock(&p->mu);
    int dropped = 0;
    for (pf_task_t **pp = &p->queue; *pp;) {
        pf_task_t *t = *pp;
        if (t->id == id) {
            *pp = t->next;
            p->queued--;
            sm_unref(t->sm);
            free(t);
            dropped++;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (dropped) cache_note_prefetch(p->c, 0, dropped);
}

void prefetcher_configure(prefetcher_t *p, uint64_t inflight, uint64_t rate)
{
    pthread_mutex_lock(&p->mu);
    p->inflight_max = inflight;
    p->rate = rate;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
