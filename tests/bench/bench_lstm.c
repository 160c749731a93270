/* bench_lstm.c - cost of the libtorch LSTM shim at the daemon's shape (8192 buckets, embed 32,
 * hidden 64; batch 32 x 16 steps), one torch thread: advance, score, normaliser, train step.
 * Not part of run_bench.sh yet. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef AUGUR_HAVE_LSTM
#include "predictor/lstm_shim.h"

#define SEQ 100000
#define CAND 8

static lstm_net_t *net;
static uint32_t *seq;
static char err[256];

/* This thread's CPU time, not wall time: on a shared machine, time spent preempted is someone
 * else's. (Cache and memory contention from others still shows.) */
static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_lstm: %s: %s\n", what, err);
        exit(1);
    }
}

/* A stream with structure to learn and noise: runs through a few hundred "files" of
 * consecutive buckets, interleaved with random one-off buckets. */
static void make_sequence(void)
{
    uint64_t x = 88172645463325252ULL;
    seq = malloc(SEQ * sizeof(*seq));
    if (!seq) exit(1);
    uint32_t file = 0, pos = 0;
    for (size_t i = 0; i < SEQ; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x % 10 == 0) {
            seq[i] = (uint32_t)(x >> 20) % 8192;
            continue;
        }
        if (x % 37 == 1) {
            file = (uint32_t)(x >> 24) % 300;
            pos = 0;
        }
        seq[i] = (file * 27 + pos++ % 20) % 8192;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* Each call is timed on its own and the median reported, which ignores the calls disturbed
 * by other processes. */
static void time_inference(int n, double *adv, double *adv64, double *first, double *again,
                           double *all)
{
    static const uint32_t cand[CAND] = {1, 27, 28, 500, 1024, 4000, 7000, 8191};
    float logp[CAND];
    uint32_t *every = malloc(8192 * sizeof(*every));
    float *every_logp = malloc(8192 * sizeof(*every_logp));
    double *ta = malloc(4 * (size_t)n * sizeof(double)), *tf = ta + n, *tg = tf + n, *tl = tg + n;
    if (!every || !every_logp || !ta) exit(1);
    for (uint32_t i = 0; i < 8192; i++) every[i] = i;
    lstm_net_reset(net);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        check(lstm_net_advance(net, &seq[i], 1, err, sizeof(err)), "advance");
        double t1 = now_us();
        check(lstm_net_score(net, cand, CAND, logp, err, sizeof(err)), "score");
        double t2 = now_us();
        check(lstm_net_score(net, cand, CAND, logp, err, sizeof(err)), "score");
        double t3 = now_us();
        check(lstm_net_score(net, every, 8192, every_logp, err, sizeof(err)), "score all");
        double t4 = now_us();
        ta[i] = t1 - t0;
        tf[i] = t2 - t1;
        tg[i] = t3 - t2;
        tl[i] = t4 - t3;
    }
    for (int i = 0; i < n / 64; i++) {
        double t0 = now_us();
        check(lstm_net_advance(net, &seq[i * 64], 64, err, sizeof(err)), "advance 64");
        tl[i] = (now_us() - t0) / 64;
    }
    *adv64 = median(tl, n / 64);
    *adv = median(ta, n);
    *first = median(tf, n);
    *again = median(tg, n);
    *all = median(tl, n);
    free(ta);
    free(every);
    free(every_logp);
}

int main(void)
{
    lstm_shape_t shape = {.buckets = 8192,
                          .embed = 32,
                          .hidden = 64,
                          .seq_len = 16,
                          .batch = 32,
                          .lr = 3e-3f,
                          .seed = 1};
    lstm_net_set_threads(1);
    net = lstm_net_create(&shape, err, sizeof(err));
    if (!net) check(-1, "create");
    make_sequence();

    /* Trained weights, so the timings are of a net that has seen data. */
    for (int i = 0; i < 5; i++)
        if (lstm_net_train(net, seq, SEQ, err, sizeof(err)) < 0) check(-1, "train");
    int steps = 20;
    double t0 = now_us();
    float loss = 0;
    for (int i = 0; i < steps; i++)
        if ((loss = lstm_net_train(net, seq, SEQ, err, sizeof(err))) < 0) check(-1, "train");
    double train_ms = (now_us() - t0) / steps / 1e3;
    lstm_net_publish(net);

    double adv, adv64, first, again, all;
    time_inference(5000, &adv, &adv64, &first, &again, &all);

    printf("LSTM shim: 8192 buckets x embed 32 x hidden 64, torch threads 1\n");
    printf("%-58s %8.1f us\n", "advance, one bucket", adv);
    printf("%-58s %8.1f us\n", "advance, per bucket in calls of 64", adv64);
    printf("%-58s %8.1f us\n", "score of 8 candidates, first on a state", first);
    printf("%-58s %8.1f us\n", "  of which all logits + exact logsumexp (8192 buckets)",
           first - again);
    printf("%-58s %8.1f us\n", "score of 8 candidates, again on the same state", again);
    printf("%-58s %8.1f us\n", "score of all 8192 buckets, again on the same state", all);
    printf("%-58s %8.1f ms  (loss %.2f after %d steps)\n", "training step, batch 32 x 16 steps",
           train_ms, loss, steps + 5);
    lstm_net_destroy(net);
    free(seq);
    return 0;
}

#else

int main(void)
{
    printf("LSTM shim: skipped (built without libtorch, LSTM=0)\n");
    return 0;
}

#endif
