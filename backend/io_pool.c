/* io_pool.c - a small pool of threads that run node I/O (shard reads) in parallel, so a stripe's
 * shards come from their nodes at the same time instead of one after another. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct io_task {
    void (*fn)(void *arg);
    void *arg;
    io_batch_t *batch;
    struct io_task *next;
} io_task_t;

struct io_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    io_task_t *head, *tail;
    int stopping;
    int n_threads;
    pthread_t threads[];
};

static void batch_done(io_batch_t *b)
{
    pthread_mutex_lock(&b->mu);
    if (--b->pending == 0) pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *worker(void *arg)
{
    io_pool_t *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        io_task_t *t = p->head;
        if (!t) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->arg);
        batch_done(t->batch);
        free(t);
    }
}

int io_pool_create(int threads, io_pool_t **out)
{
    io_pool_t *p = calloc(1, sizeof(*p) + (size_t)threads * sizeof(pthread_t));
    if (!p) return AUG_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n_threads++;
    }
    *out = p;
    return 0;
}

void io_pool_destroy(io_pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

void io_batch_init(io_batch_t *b)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->pending = 0;
}

void io_pool_submit(io_pool_t *p, io_batch_t *b, void (*fn)(void *), void *arg)
{
    io_task_t *t = p && p->n_threads > 0 ? malloc(sizeof(*t)) : NULL;
    if (!t) {
        fn(arg); /* no pool, or no memory: do it here */
        return;
    }
    t->fn = fn;
    t->arg = arg;
    t->batch = b;
    t->next = NULL;
    pthread_mutex_lock(&b->mu);
    b->pending++;
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = t;
    else p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void io_batch_wait(io_batch_t *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}
