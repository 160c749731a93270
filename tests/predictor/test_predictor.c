/* test_predictor.c - the predictor: learning, scores, the never-blocking queue, threads, the
 * model file, and replay with the predictor in the loop (markov, and lstm when built). */
#include "cache/trace.h"
#include "predictor/predictor.h"
#include "testlib.h"

#include <CUnit/Basic.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Distinct keys in the repeating sequence, and how often it repeats. */
#define PERIOD 50
#define LAPS 30

/* Key i of a fixed, scattered sequence (no stride to exploit: successors must be learned). */
static uint64_t seq_key(unsigned i)
{
    return (uint64_t)(i % PERIOD) * 0x9e3779b97f4a7c15ULL + 12345;
}

static predictor_t *new_predictor(const char *model, const char *state_path)
{
    predictor_config_t c;
    predictor_config_default(&c);
    c.model = model;
    c.table_keys = 4096;
    c.queue_events = 1024;
    c.ring_events = 4096;
    c.lstm_buckets = 256;
    c.lstm_hidden = 32;
    c.train_every_events = 50;
    c.state_path = state_path;
    aug_err_t err;
    predictor_t *p = predictor_create(&c, &err);
    if (!p) fprintf(stderr, "predictor_create: %s\n", err.msg);
    return p;
}

static void observe_now(predictor_t *p, uint64_t key)
{
    predictor_event_t ev = {.key = key, .size = 4096, .time = 0, .op = PREDICTOR_READ};
    CU_ASSERT_EQUAL(predictor_observe(p, &ev), 0);
    predictor_drain(p);
}

/* Feed laps of the sequence; returns top-1 accuracy over the last lap. */
static double learn_sequence(predictor_t *p, int laps)
{
    unsigned right = 0, asked = 0;
    for (unsigned i = 0; i < (unsigned)laps * PERIOD; i++) {
        observe_now(p, seq_key(i));
        predictor_guess_t g[PREDICTOR_GUESSES_MAX];
        size_t n = predictor_predict(p, g, 1);
        if (i >= (unsigned)(laps - 1) * PERIOD) {
            asked++;
            right += n > 0 && g[0].key == seq_key(i + 1);
        }
    }
    return (double)right / asked;
}

static void test_markov_learns_a_repeating_sequence(void)
{
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    double acc = learn_sequence(p, LAPS);
    printf(" (top-1 accuracy %.3f) ", acc);
    CU_ASSERT(acc > 0.95);
    predictor_stats_t st;
    predictor_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.observed, LAPS * PERIOD);
    CU_ASSERT(st.guesses_right > (LAPS - 3) * PERIOD);
    CU_ASSERT_EQUAL(st.dropped, 0);
    /* a reload that asks for certainty silences it; the old budget brings the guesses back */
    predictor_guess_t g[PREDICTOR_GUESSES_MAX];
    predictor_set_budgets(p, 1.0f, 0);
    observe_now(p, seq_key(0));
    CU_ASSERT_EQUAL(predictor_predict(p, g, PREDICTOR_GUESSES_MAX), 0);
    predictor_set_budgets(p, 0.6f, 0);
    observe_now(p, seq_key(1));
    CU_ASSERT(predictor_predict(p, g, PREDICTOR_GUESSES_MAX) > 0);
    predictor_destroy(p);
}

static void test_random_stream_gives_no_confident_guesses(void)
{
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint64_t x = 88172645463325252ULL, guesses = 0;
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        observe_now(p, x % 100000);
        predictor_guess_t g[PREDICTOR_GUESSES_MAX];
        guesses += predictor_predict(p, g, PREDICTOR_GUESSES_MAX);
    }
    /* calibration learns that guesses fail here: almost none pass min_prob */
    printf(" (%llu guesses) ", (unsigned long long)guesses);
    CU_ASSERT(guesses < 100);
    predictor_destroy(p);
}

static void test_scores_rank_hot_before_cold_and_unknown(void)
{
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    observe_now(p, 7); /* once, long ago */
    for (int i = 0; i < 200; i++) {
        observe_now(p, 1000 + (uint64_t)(i % 10)); /* ten hot keys */
        observe_now(p, 5000 + (uint64_t)i);        /* a scan of cold keys */
    }
    uint64_t hot = predictor_score(p, 1003), cold = predictor_score(p, 7);
    CU_ASSERT(hot < cold);
    CU_ASSERT(predictor_score(p, 5190) < PREDICTOR_SCORE_UNKNOWN);
    CU_ASSERT_EQUAL(predictor_score(p, 424242), PREDICTOR_SCORE_UNKNOWN);
    /* a deleted key is forgotten */
    predictor_event_t del = {.key = 1003, .op = PREDICTOR_DELETE};
    CU_ASSERT_EQUAL(predictor_observe(p, &del), 0);
    predictor_drain(p);
    CU_ASSERT_EQUAL(predictor_score(p, 1003), PREDICTOR_SCORE_UNKNOWN);
    predictor_destroy(p);
}

static void test_full_queue_drops_and_counts_never_blocks(void)
{
    predictor_t *p = new_predictor("markov", NULL); /* queue of 1024, nobody draining */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int accepted = 0, dropped = 0;
    for (int i = 0; i < 3000; i++) {
        predictor_event_t ev = {.key = (uint64_t)i, .size = 1};
        int rc = predictor_observe(p, &ev);
        if (rc == 0) accepted++;
        else if (rc == AUG_EAGAIN) dropped++;
    }
    CU_ASSERT_EQUAL(accepted, 1024);
    CU_ASSERT_EQUAL(dropped, 3000 - 1024);
    predictor_stats_t st;
    predictor_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.dropped, (uint64_t)dropped);
    CU_ASSERT_EQUAL(st.lag_events, 1024);
    predictor_drain(p);
    predictor_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.observed, 1024);
    CU_ASSERT_EQUAL(st.lag_events, 0);
    predictor_destroy(p);
}

typedef struct guess_sink {
    pthread_mutex_t mu;
    uint64_t calls, guesses;
} guess_sink_t;

static void on_guess(void *arg, const predictor_guess_t *g, size_t n)
{
    guess_sink_t *s = arg;
    (void)g;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    s->guesses += n;
    pthread_mutex_unlock(&s->mu);
}

typedef struct producer {
    predictor_t *p;
    unsigned offset, count;
} producer_t;

/* Observe the sequence, backing off when the queue is full (a real caller would drop). */
static void *produce(void *arg)
{
    producer_t *pr = arg;
    for (unsigned i = 0; i < pr->count; i++) {
        predictor_event_t ev = {.key = seq_key(i + pr->offset), .size = 1};
        while (predictor_observe(pr->p, &ev) == AUG_EAGAIN)
            usleep(100);
    }
    return NULL;
}

static void test_thread_learns_from_concurrent_producers(void)
{
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    guess_sink_t sink = {.mu = PTHREAD_MUTEX_INITIALIZER};
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(predictor_start(p, on_guess, &sink, &err), 0);
    CU_ASSERT_EQUAL(predictor_start(p, on_guess, &sink, &err), AUG_EINVAL);
    producer_t pr[2] = {{p, 0, 20000}, {p, 7, 20000}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, produce, &pr[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    predictor_stats_t st;
    for (int i = 0; i < 1000; i++) { /* up to 10 s for the thread to catch up */
        predictor_get_stats(p, &st);
        if (st.observed >= 40000) break;
        usleep(10000);
    }
    predictor_stop(p);
    predictor_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.observed, 40000); /* producers retried every dropped event */
    CU_ASSERT(sink.calls > 0);
    CU_ASSERT(sink.guesses > 0);
    CU_ASSERT(st.cpu_ns > 0);
    predictor_destroy(p);
}

/* A scratch file path. */
static void scratch_file(const char *tag, const char *name, char *out, size_t len)
{
    char dir[PATH_MAX];
    test_scratch_dir(tag, dir, sizeof(dir));
    snprintf(out, len, "%.3000s/%s", dir, name);
}

/* Guesses and scores after feeding both predictors the same next events must agree. */
static void assert_same_behaviour(predictor_t *a, predictor_t *b)
{
    for (unsigned i = 0; i < 2 * PERIOD; i++) {
        observe_now(a, seq_key(i));
        observe_now(b, seq_key(i));
        predictor_guess_t ga[PREDICTOR_GUESSES_MAX], gb[PREDICTOR_GUESSES_MAX];
        size_t na = predictor_predict(a, ga, PREDICTOR_GUESSES_MAX);
        size_t nb = predictor_predict(b, gb, PREDICTOR_GUESSES_MAX);
        CU_ASSERT_EQUAL_FATAL(na, nb);
        for (size_t k = 0; k < na; k++) {
            CU_ASSERT_EQUAL(ga[k].key, gb[k].key);
            CU_ASSERT_DOUBLE_EQUAL(ga[k].prob, gb[k].prob, 1e-5);
        }
        CU_ASSERT_EQUAL(predictor_score(a, seq_key(i + 3)), predictor_score(b, seq_key(i + 3)));
    }
}

/* Save a trained model; predictors loading it behave alike, and for markov exactly like the
 * one saved (the LSTM's recurrent state is not part of the file, so a reloaded network starts
 * from a fresh state). */
static void round_trip(const char *model)
{
    char path[PATH_MAX];
    scratch_file("predictor-save", "model", path, sizeof(path));
    predictor_t *a = new_predictor(model, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    learn_sequence(a, 10);
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(predictor_save(a, path, &err), 0);
    predictor_t *b = new_predictor(model, path); /* loads at create */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    predictor_t *c = new_predictor(model, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(predictor_load(c, path, &err), 0);
    predictor_stats_t st;
    predictor_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.observed, 0); /* counters are per run; the model is what persists */
    if (strcmp(model, "markov") == 0) {
        predictor_t *d = new_predictor(model, path);
        assert_same_behaviour(a, d);
        predictor_destroy(d);
    }
    assert_same_behaviour(b, c);
    predictor_destroy(a);
    predictor_destroy(b);
    predictor_destroy(c);
}

static void test_markov_save_load_round_trip(void)
{
    round_trip("markov");
}

/* Write len bytes of buf to path. */
static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* The whole file at path (caller frees); *len its size. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* A fresh predictor refuses path with code, and one created over it starts cold. */
static void assert_refused(const char *path, int code)
{
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    learn_sequence(p, 3);
    predictor_guess_t before[PREDICTOR_GUESSES_MAX], after[PREDICTOR_GUESSES_MAX];
    size_t nb = predictor_predict(p, before, PREDICTOR_GUESSES_MAX);
    aug_err_t err;
    CU_ASSERT_EQUAL(predictor_load(p, path, &err), code);
    CU_ASSERT(strlen(err.msg) > 0);
    size_t na = predictor_predict(p, after, PREDICTOR_GUESSES_MAX);
    CU_ASSERT_EQUAL(na, nb); /* unchanged by the failed load */
    predictor_destroy(p);
    predictor_t *q = new_predictor("markov", path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q); /* ignored with a warning: starts cold */
    CU_ASSERT_EQUAL(predictor_score(q, seq_key(1)), PREDICTOR_SCORE_UNKNOWN);
    predictor_destroy(q); /* and overwrites the bad file with a good (empty) model */
    predictor_t *r = new_predictor("markov", NULL);
    CU_ASSERT_EQUAL(predictor_load(r, path, &err), 0);
    predictor_destroy(r);
}

static void test_bad_model_files_are_refused_and_ignored(void)
{
    char path[PATH_MAX], bad[PATH_MAX + 8];
    scratch_file("predictor-bad", "model", path, sizeof(path));
    predictor_t *a = new_predictor("markov", NULL);
    learn_sequence(a, 5);
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(predictor_save(a, path, &err), 0);
    predictor_destroy(a);
    size_t len = 0;
    unsigned char *good = read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    snprintf(bad, sizeof(bad), "%s.bad", path);
    /* one flipped bit in the middle */
    good[len / 2] ^= 0x10;
    write_file(bad, good, len);
    assert_refused(bad, AUG_ECORRUPT);
    good[len / 2] ^= 0x10;
    /* truncated */
    write_file(bad, good, len - 7);
    assert_refused(bad, AUG_ECORRUPT);
    /* not a model file at all */
    write_file(bad, "hello, world\n", 13);
    assert_refused(bad, AUG_ECORRUPT);
    /* a future format version */
    good[8] = 99;
    write_file(bad, good, len);
    assert_refused(bad, AUG_EINVAL);
    good[8] = 1;
    /* another model kind */
    good[12] = 1;
    write_file(bad, good, len);
    assert_refused(bad, AUG_EINVAL);
    free(good);
    /* missing */
    unlink(bad);
    predictor_t *p = new_predictor("markov", NULL);
    CU_ASSERT_EQUAL(predictor_load(p, bad, &err), AUG_ENOENT);
    predictor_destroy(p);
}

static void test_unknown_model_is_refused(void)
{
    predictor_config_t c;
    predictor_config_default(&c);
    c.model = "oracle";
    aug_err_t err;
    CU_ASSERT_PTR_NULL(predictor_create(&c, &err));
    CU_ASSERT_EQUAL(err.code, AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "oracle"));
    CU_ASSERT(predictor_model_available("markov"));
    CU_ASSERT(!predictor_model_available("oracle"));
}

/* ---- replay with the predictor in the loop ----------------------------------------------- */

/* A trace where a learner should win: a working set of 400 keys read in a fixed order, with
 * one-off keys mixed in, far larger than the cache. */
static trace_t *synthetic_trace(void)
{
    char path[PATH_MAX];
    scratch_file("predictor-trace", "trace.csv", path, sizeof(path));
    FILE *f = fopen(path, "w");
    fputs("time,key,size\n", f);
    uint64_t x = 42;
    for (int i = 0; i < 24000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t key = (x >> 33) % 10 == 0 ? 1000000 + (uint64_t)i : (uint64_t)((i * 7) % 400);
        fprintf(f, "%d,%llu,100\n", i + 1, (unsigned long long)key);
    }
    fclose(f);
    trace_t *t = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL(trace_load(path, &t, &err), 0);
    return t;
}

static void replay_beats_s3fifo(const char *model)
{
    trace_t *t = synthetic_trace();
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    uint64_t size = 100 * 100; /* a quarter of the working set */
    trace_result_t classic, learned, plain;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(trace_replay(t, "s3fifo", size, &classic, &err), 0);
    trace_learned_opts_t o;
    trace_learned_opts_default(&o);
    o.model = model;
    CU_ASSERT_EQUAL_FATAL(trace_replay_learned(t, size, &o, &plain, &err), 0);
    o.prefetch = 1;
    CU_ASSERT_EQUAL_FATAL(trace_replay_learned(t, size, &o, &learned, &err), 0);
    double mc = (double)classic.miss_bytes / classic.bytes;
    double ml = (double)learned.miss_bytes / learned.bytes;
    double traffic = (double)(learned.miss_bytes + learned.prefetch_bytes) / learned.bytes;
    double precision = (double)learned.prefetch_used_bytes / (double)learned.prefetch_bytes;
    printf(" (%s: s3fifo %.3f, learned %.3f, with prefetch %.3f, traffic %.3f, precision %.3f) ",
           model, mc, (double)plain.miss_bytes / plain.bytes, ml, traffic, precision);
    CU_ASSERT(ml < mc * 0.5);
    CU_ASSERT(traffic < mc * 1.1);
    CU_ASSERT(precision > 0.8);
    CU_ASSERT(learned.prefetches > 0);
    CU_ASSERT(learned.predictor_cpu_ns > 0);
    /* deterministic: the same run gives the same figures */
    trace_result_t again;
    CU_ASSERT_EQUAL(trace_replay_learned(t, size, &o, &again, &err), 0);
    CU_ASSERT_EQUAL(again.miss_bytes, learned.miss_bytes);
    CU_ASSERT_EQUAL(again.prefetch_bytes, learned.prefetch_bytes);
    trace_free(t);
}

static void test_markov_replay_beats_s3fifo(void)
{
    replay_beats_s3fifo("markov");
}

static void test_lstm_learns_and_round_trips(void)
{
    if (!predictor_model_available("lstm")) {
        printf(" (skipped: this build has no libtorch) ");
        predictor_config_t c;
        predictor_config_default(&c);
        c.model = "lstm";
        aug_err_t err;
        CU_ASSERT_PTR_NULL(predictor_create(&c, &err));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "libtorch"));
        return;
    }
    predictor_t *p = new_predictor("lstm", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    double acc = learn_sequence(p, LAPS);
    printf(" (lstm top-1 accuracy %.3f) ", acc);
    CU_ASSERT(acc > 0.9);
    predictor_stats_t st;
    predictor_get_stats(p, &st);
    CU_ASSERT(st.train_steps > 0);
    predictor_destroy(p);
    round_trip("lstm");
    replay_beats_s3fifo("lstm");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("predictor", NULL, NULL);
    if (!s) return 1;
    struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"markov learns a repeating sequence", test_markov_learns_a_repeating_sequence},
        {"random stream gives no confident guesses",
         test_random_stream_gives_no_confident_guesses},
        {"scores rank hot before cold and unknown", test_scores_rank_hot_before_cold_and_unknown},
        {"full queue drops and counts, never blocks",
         test_full_queue_drops_and_counts_never_blocks},
        {"thread learns from concurrent producers", test_thread_learns_from_concurrent_producers},
        {"markov save/load round trip", test_markov_save_load_round_trip},
        {"bad model files are refused and ignored", test_bad_model_files_are_refused_and_ignored},
        {"unknown model is refused", test_unknown_model_is_refused},
        {"markov replay beats s3fifo", test_markov_replay_beats_s3fifo},
        {"lstm learns and round trips", test_lstm_learns_and_round_trips},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return 1;
    return test_run_all();
}
