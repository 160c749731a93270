/* test_lstm_shim.c - the libtorch LSTM shim: it learns a sequence, saves and loads, refuses bad
 * model files without harm, and only publish changes what inference sees. */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#ifdef AUGUR_HAVE_LSTM
#include "predictor/lstm_shim.h"

#define PERIOD 50
#define SEQ_LEN (PERIOD * 20)

static char dir[PATH_MAX];
static uint32_t seq[SEQ_LEN];

/* Small enough to learn in a few seconds, with more buckets than the sequence visits so the
 * model must also learn which buckets never come. */
static lstm_shape_t small_shape(uint64_t seed)
{
    lstm_shape_t s = {.buckets = 64,
                      .embed = 16,
                      .hidden = 32,
                      .seq_len = 16,
                      .batch = 16,
                      .lr = 1e-2f,
                      .seed = seed};
    return s;
}

/* PERIOD distinct buckets in a shuffled order, repeated. */
static void make_sequence(void)
{
    uint32_t perm[64];
    uint64_t x = 12345;
    for (uint32_t i = 0; i < 64; i++) perm[i] = i;
    for (uint32_t i = 63; i > 0; i--) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t j = (uint32_t)((x >> 33) % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < SEQ_LEN; i++) seq[i] = perm[i % PERIOD];
}

static lstm_net_t *new_net(lstm_shape_t s)
{
    char err[256] = "";
    lstm_net_t *n = lstm_net_create(&s, err, sizeof(err));
    if (!n) fprintf(stderr, "lstm_net_create: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    return n;
}

/* Top-1 accuracy over one period after a warm-up period, from a reset state; also checks the
 * log-probabilities over all buckets sum to 1, i.e. the normaliser is right. */
static double accuracy(lstm_net_t *n)
{
    uint32_t all[64];
    float logp[64];
    char err[256];
    for (uint32_t i = 0; i < 64; i++) all[i] = i;
    lstm_net_reset(n);
    CU_ASSERT_EQUAL_FATAL(lstm_net_advance(n, seq, PERIOD, err, sizeof(err)), 0);
    int right = 0;
    double worst = 0;
    for (size_t i = PERIOD; i < 2 * PERIOD; i++) {
        CU_ASSERT_EQUAL_FATAL(lstm_net_score(n, all, 64, logp, err, sizeof(err)), 0);
        uint32_t best = 0;
        double sum = 0;
        for (uint32_t b = 0; b < 64; b++) {
            if (logp[b] > logp[best]) best = b;
            sum += exp(logp[b]);
        }
        if (fabs(sum - 1) > worst) worst = fabs(sum - 1);
        right += best == seq[i];
        CU_ASSERT_EQUAL_FATAL(lstm_net_advance(n, &seq[i], 1, err, sizeof(err)), 0);
    }
    CU_ASSERT(worst < 1e-3);
    return (double)right / PERIOD;
}

/* Log-probabilities of a few candidates after a fixed prefix, from a reset state. */
static void probe(lstm_net_t *n, float out[8])
{
    static const uint32_t cand[8] = {0, 3, 9, 17, 28, 40, 51, 63};
    char err[256];
    lstm_net_reset(n);
    CU_ASSERT_EQUAL_FATAL(lstm_net_advance(n, seq, 37, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(lstm_net_score(n, cand, 8, out, err, sizeof(err)), 0);
}

static void train_steps(lstm_net_t *n, int steps)
{
    char err[256];
    for (int i = 0; i < steps; i++) {
        float loss = lstm_net_train(n, seq, SEQ_LEN, err, sizeof(err));
        if (loss < 0) fprintf(stderr, "lstm_net_train: %s\n", err);
        CU_ASSERT_FATAL(loss >= 0);
    }
}

/* The trained net every later test starts from. */
static lstm_net_t *trained;

static void test_learns_sequence(void)
{
    trained = new_net(small_shape(1));
    double acc = accuracy(trained);
    CU_ASSERT(acc < 0.2); /* so what follows is learning */
    int steps = 0;
    while (steps < 1500) {
        train_steps(trained, 50);
        steps += 50;
        lstm_net_publish(trained);
        if ((acc = accuracy(trained)) > 0.9) break;
    }
    printf("\n    top-1 accuracy %.2f after %d training steps ", acc, steps);
    CU_ASSERT(acc > 0.9);
}

static void test_publish(void)
{
    lstm_net_t *n = new_net(small_shape(7));
    float before[8], after_train[8], after_publish[8];
    probe(n, before);
    train_steps(n, 20);
    probe(n, after_train);
    CU_ASSERT_EQUAL(memcmp(before, after_train, sizeof(before)), 0);
    lstm_net_publish(n);
    probe(n, after_publish);
    CU_ASSERT_NOT_EQUAL(memcmp(before, after_publish, sizeof(before)), 0);

    /* What inference sees after publish is exactly the trained weights: a net loading a save of
     * them scores the same. */
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof(path), "%s/publish.model", dir);
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(n, path, err, sizeof(err)), 0);
    lstm_net_t *m = new_net(small_shape(8));
    CU_ASSERT_EQUAL_FATAL(lstm_net_load(m, path, err, sizeof(err)), 0);
    float loaded[8];
    probe(m, loaded);
    CU_ASSERT_EQUAL(memcmp(loaded, after_publish, sizeof(loaded)), 0);
    lstm_net_destroy(m);
    lstm_net_destroy(n);
}

static void test_same_seed_same_model(void)
{
    lstm_net_t *a = new_net(small_shape(3)), *b = new_net(small_shape(3));
    train_steps(a, 5);
    train_steps(b, 5);
    lstm_net_publish(a);
    lstm_net_publish(b);
    float pa[8], pb[8];
    probe(a, pa);
    probe(b, pb);
    CU_ASSERT_EQUAL(memcmp(pa, pb, sizeof(pa)), 0);
    lstm_net_destroy(a);
    lstm_net_destroy(b);
}

static void test_save_load_round_trip(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(trained);
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof(path), "%s/trained.model", dir);
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(trained, path, err, sizeof(err)), 0);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);

    lstm_net_t *n = new_net(small_shape(99));
    if (lstm_net_load(n, path, err, sizeof(err)) != 0) fprintf(stderr, "load: %s\n", err);
    float want[8], got[8];
    probe(trained, want);
    probe(n, got);
    CU_ASSERT_EQUAL(memcmp(want, got, sizeof(want)), 0);
    CU_ASSERT(accuracy(n) > 0.9);

    /* Loading also replaced the training copy: training continues from the loaded weights. */
    train_steps(n, 5);
    lstm_net_publish(n);
    CU_ASSERT(accuracy(n) > 0.9);
    lstm_net_destroy(n);
}

/* The model file's checksums (see lstm_shim.cc), to forge a file whose header is valid. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

/* Each bad file is refused with a reason, and neither copy of the weights changes: inference
 * scores stay bit-identical and a save afterwards writes the same bytes as before. */
static void test_bad_files_refused(void)
{
    lstm_net_t *n = new_net(small_shape(5));
    train_steps(n, 3);
    lstm_net_publish(n);
    char good[PATH_MAX + 16], bad[PATH_MAX + 16], again[PATH_MAX + 16], err[256];
    snprintf(good, sizeof(good), "%s/good.model", dir);
    snprintf(bad, sizeof(bad), "%s/bad.model", dir);
    snprintf(again, sizeof(again), "%s/again.model", dir);
    /* A valid file of the right shape but other weights, to corrupt. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(trained);
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(trained, good, err, sizeof(err)), 0);
    size_t len;
    unsigned char *img = read_bytes(good, &len);
    CU_ASSERT_FATAL(len > 1000);

    char before_path[PATH_MAX + 16];
    snprintf(before_path, sizeof(before_path), "%s/before.model", dir);
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(n, before_path, err, sizeof(err)), 0);
    size_t before_len;
    unsigned char *before_img = read_bytes(before_path, &before_len);
    float before[8];
    probe(n, before);

    lstm_shape_t other = small_shape(5);
    other.hidden = 24;
    lstm_net_t *o = new_net(other);
    char other_path[PATH_MAX + 16];
    snprintf(other_path, sizeof(other_path), "%s/other.model", dir);
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(o, other_path, err, sizeof(err)), 0);
    lstm_net_destroy(o);

    for (int k = 0; k < 7; k++) {
        const char *path = bad, *what = "";
        unlink(bad);
        switch (k) {
        case 0:
            what = "missing";
            break;
        case 1:
            what = "payload byte flipped";
            img[len / 2] ^= 0x40;
            write_bytes(bad, img, len);
            img[len / 2] ^= 0x40;
            break;
        case 2:
            what = "header byte flipped";
            img[17] ^= 0x01;
            write_bytes(bad, img, len);
            img[17] ^= 0x01;
            break;
        case 3:
            what = "truncated";
            write_bytes(bad, img, len - 100);
            break;
        case 4:
            what = "truncated inside the header";
            write_bytes(bad, img, 20);
            break;
        case 5:
            what = "other shape";
            path = other_path;
            break;
        case 6: {
            /* Checksums right, so torch's archive reader itself must fail, and its exception
             * must come back as an error. */
            what = "valid header, payload not an archive";
            unsigned char *forged = malloc(len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(forged);
            memcpy(forged, img, 64);
            test_fill(forged + 64, len - 64, 42, 0);
            put64(forged + 48, fnv1a(forged + 64, len - 64));
            put64(forged + 56, fnv1a(forged, 56));
            write_bytes(bad, forged, len);
            free(forged);
            break;
        }
        }
        err[0] = '\0';
        int rc = lstm_net_load(n, path, err, sizeof(err));
        printf("\n    %s: %s", what, err);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT(strlen(err) > 0);
        float now[8];
        probe(n, now);
        CU_ASSERT_EQUAL(memcmp(before, now, sizeof(before)), 0);
    }
    printf("\n    ");
    CU_ASSERT_EQUAL_FATAL(lstm_net_save(n, again, err, sizeof(err)), 0);
    size_t again_len;
    unsigned char *again_img = read_bytes(again, &again_len);
    CU_ASSERT_EQUAL(again_len, before_len);
    CU_ASSERT(again_len == before_len && memcmp(again_img, before_img, before_len) == 0);

    /* The good file still loads into the same net afterwards. */
    CU_ASSERT_EQUAL(lstm_net_load(n, good, err, sizeof(err)), 0);
    free(again_img);
    free(before_img);
    free(img);
    lstm_net_destroy(n);
}

static void test_bad_arguments(void)
{
    char err[256] = "";
    lstm_shape_t s = small_shape(1);
    s.buckets = 1;
    CU_ASSERT_PTR_NULL(lstm_net_create(&s, err, sizeof(err)));
    CU_ASSERT(strstr(err, "buckets") != NULL);

    lstm_net_t *n = new_net(small_shape(1));
    uint32_t out_of_range = 64;
    float lp;
    err[0] = '\0';
    CU_ASSERT_EQUAL(lstm_net_advance(n, &out_of_range, 1, err, sizeof(err)), -1);
    CU_ASSERT(strstr(err, "out of range") != NULL);
    CU_ASSERT_EQUAL(lstm_net_score(n, &out_of_range, 1, &lp, err, sizeof(err)), -1);
    CU_ASSERT(lstm_net_train(n, seq, 16, err, sizeof(err)) < 0);
    uint32_t bad_seq[40] = {0};
    for (int i = 0; i < 40; i++) bad_seq[i] = 100;
    CU_ASSERT(lstm_net_train(n, bad_seq, 40, err, sizeof(err)) < 0);
    /* NULL err is allowed. */
    CU_ASSERT_EQUAL(lstm_net_advance(n, &out_of_range, 1, NULL, 0), -1);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.model", dir);
    CU_ASSERT_EQUAL(lstm_net_save(n, path, err, sizeof(err)), -1);
    lstm_net_destroy(n);
}

static int suite_init(void)
{
    test_scratch_dir("lstm", dir, sizeof(dir));
    make_sequence();
    lstm_net_set_threads(1);
    return lstm_net_available() ? 0 : 1;
}

static int suite_clean(void)
{
    lstm_net_destroy(trained);
    test_remove_tree(dir);
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("lstm_shim", suite_init, suite_clean);
    if (!s) return 1;
    /* Order matters: later tests use the net the first one trained. */
    if (!CU_add_test(s, "learns a repeating sequence", test_learns_sequence) ||
        !CU_add_test(s, "publish is what inference sees", test_publish) ||
        !CU_add_test(s, "same seed, same model", test_same_seed_same_model) ||
        !CU_add_test(s, "save/load round trip", test_save_load_round_trip) ||
        !CU_add_test(s, "bad model files refused, net unchanged", test_bad_files_refused) ||
        !CU_add_test(s, "bad arguments", test_bad_arguments))
        return 1;
    return test_run_all();
}

#else /* !AUGUR_HAVE_LSTM */

static void test_skipped(void)
{
    printf("\n    built without libtorch (LSTM=0): LSTM shim tests skipped ");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("lstm_shim", NULL, NULL);
    if (!s || !CU_add_test(s, "skipped without libtorch", test_skipped)) return 1;
    return test_run_all();
}

#endif
