/* test_trace.c - trace loading (plain and zstd), replay accounting, Belady and the SVG plot. */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "cache/trace.h"

/* A real trace and its reference miss ratios at 1 % (traces/README.md). The tests run from
 * the repository root, next to the shared folder. */
#define OLTP_PATH "../shared/traces/arc_oltp.csv.zst"
#define OLTP_LRU_1PCT 0.5837
#define OLTP_S3FIFO_1PCT 0.5353
/* "A correct implementation of the same definitions lands within about 0.005". */
#define REFERENCE_TOLERANCE 0.005

static char tmpdir[PATH_MAX];

/* ---- helpers ------------------------------------------------------------------------------ */

/* mkdir -p. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int suite_init(void)
{
    const char *base = getenv("AUGUR_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    if (make_dirs(base) != 0) return -1;
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_trace.XXXXXX", base);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int suite_cleanup(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Path of name inside the test directory (static buffer, one at a time per slot). */
static const char *tmp_path(const char *name)
{
    static char paths[4][PATH_MAX];
    static int slot;
    char *p = paths[slot++ % 4];
    int n = snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
    CU_ASSERT_FATAL(n > 0 && n < PATH_MAX);
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

/* Write text zstd-compressed, as nframes concatenated frames. Returns the compressed size. */
static size_t write_zstd(const char *path, const char *text, size_t nframes)
{
    size_t len = strlen(text), cap = ZSTD_compressBound(len) + nframes * 64, out = 0;
    char *buf = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    for (size_t i = 0; i < nframes; i++) {
        size_t from = len * i / nframes, to = len * (i + 1) / nframes;
        size_t n = ZSTD_compress(buf + out, cap - out, text + from, to - from, 3);
        CU_ASSERT_FATAL(!ZSTD_isError(n));
        out += n;
    }
    write_file(path, buf, out);
    free(buf);
    return out;
}

/* A generated trace of n requests as CSV text (caller frees). */
static char *make_csv(size_t n, uint64_t seed)
{
    char *text = malloc(n * 64 + 32);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t pos = (size_t)sprintf(text, "time,key,size\n");
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t key = (s >> 33) % 5000 * 1000003ULL + 18000000000000000000ULL;
        pos += (size_t)sprintf(text + pos, "%zu,%llu,%llu\n", i + 1, (unsigned long long)key,
                               (unsigned long long)(1 + key % 4096));
    }
    return text;
}

/* Load text written as a plain file; returns the rc and fills *t and err. */
static int load_text(const char *name, const char *text, trace_t **t, aug_err_t *err)
{
    const char *path = tmp_path(name);
    write_file(path, text, strlen(text));
    return trace_load(path, t, err);
}

/* ---- loading ------------------------------------------------------------------------------ */

static void test_reads_plain_csv(void)
{
    trace_t *t;
    aug_err_t err;
    int rc = load_text(
        "plain.csv", "time,key,size\n1,10,100\n2,20,5\n3,10,7\n4,18446744073709551615,1\n5,20,5\n",
        &t, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(t->n, 5);
    CU_ASSERT_EQUAL(t->n_keys, 3);
    CU_ASSERT_EQUAL(t->keys[3], UINT64_MAX);
    CU_ASSERT_EQUAL(t->sizes[2], 7);
    /* unique bytes take each key's first size: 100 + 5 + 1, not key 10's later 7 */
    CU_ASSERT_EQUAL(t->unique_bytes, 106);
    CU_ASSERT_EQUAL(t->total_bytes, 118);
    CU_ASSERT_EQUAL(t->ids[0], 0);
    CU_ASSERT_EQUAL(t->ids[2], 0);
    CU_ASSERT_EQUAL(t->ids[1], 1);
    CU_ASSERT_EQUAL(t->ids[3], 2);
    CU_ASSERT_EQUAL(t->next[0], 2);
    CU_ASSERT_EQUAL(t->next[1], 4);
    CU_ASSERT_EQUAL(t->next[2], TRACE_NEVER);
    CU_ASSERT_EQUAL(t->next[4], TRACE_NEVER);
    trace_free(t);
}

static void test_reads_zstd_csv_like_plain(void)
{
    /* big enough to cross the reader's 1 MiB chunks several times */
    char *text = make_csv(120000, 5);
    const char *plain = tmp_path("big.csv"), *zst = tmp_path("big.csv.zst");
    write_file(plain, text, strlen(text));
    CU_ASSERT(write_zstd(zst, text, 1) < strlen(text) / 2);
    trace_t *a, *b;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(trace_load(plain, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(trace_load(zst, &b, &err), 0);
    CU_ASSERT_EQUAL(a->n, 120000);
    CU_ASSERT_EQUAL(b->n, a->n);
    CU_ASSERT_EQUAL(b->n_keys, a->n_keys);
    CU_ASSERT_EQUAL(b->unique_bytes, a->unique_bytes);
    CU_ASSERT_EQUAL(memcmp(a->keys, b->keys, a->n * sizeof(*a->keys)), 0);
    CU_ASSERT_EQUAL(memcmp(a->sizes, b->sizes, a->n * sizeof(*a->sizes)), 0);
    CU_ASSERT_EQUAL(memcmp(a->next, b->next, a->n * sizeof(*a->next)), 0);
    trace_free(a);
    trace_free(b);
    free(text);
}

static void test_reads_concatenated_zstd_frames(void)
{
    char *text = make_csv(3000, 9);
    const char *zst = tmp_path("frames.zst"); /* recognised by content, not by name */
    write_zstd(zst, text, 7);
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(trace_load(zst, &t, &err), 0);
    CU_ASSERT_EQUAL(t->n, 3000);
    trace_free(t);
    free(text);
}

static void test_accepts_no_header_crlf_blank_lines_and_no_final_newline(void)
{
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(load_text("loose.csv", "1,5,10\r\n\n-3,6,20\r\n\r\n4,5,10", &t, &err), 0);
    CU_ASSERT_EQUAL(t->n, 3);
    CU_ASSERT_EQUAL(t->keys[1], 6);
    CU_ASSERT_EQUAL(t->sizes[2], 10);
    CU_ASSERT_EQUAL(t->unique_bytes, 30);
    trace_free(t);
}

static void test_rejects_malformed_lines_naming_file_and_line(void)
{
    static const struct {
        const char *text;
        const char *where; /* expected ":line:" in the message */
    } bad[] = {
        {"time,key,size\n1,2,3\n1,2\n", ":3:"},
        {"time,key,size\n1,x,3\n", ":2:"},
        {"time,key,size\n1,2,3,4\n", ":2:"},
        {"time,key,size\n1,2,0\n", ":2:"},
        {"time,key,size\n1,2,-5\n", ":2:"},
        {"time,key,size\n1,18446744073709551616,3\n", ":2:"},
        {"time,key,size\n1, 2,3\n", ":2:"},
        {"time,key,size\n\n\n1,2,3\nhello\n", ":5:"},
        {"time,key,size\n1,2,3\ntime,key,size\n", ":3:"},
        {"key,time,size\n1,2,3\n", ":1:"},
        {"1,2,3\n,,\n", ":2:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        trace_t *t = (trace_t *)1;
        aug_err_t err;
        aug_err_clear(&err);
        int rc = load_text("bad.csv", bad[i].text, &t, &err);
        CU_ASSERT_EQUAL(rc, AUG_EINVAL);
        CU_ASSERT_EQUAL(err.code, AUG_EINVAL);
        CU_ASSERT_PTR_NULL(t);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad.csv"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].where));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "time,key,size"));
        if (rc != AUG_EINVAL || !strstr(err.msg, bad[i].where))
            fprintf(stderr, "\ncase %zu: rc %d: %s\n", i, rc, err.msg);
    }
}

static void test_rejects_binary_junk(void)
{
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)('a' + i % 26);
    write_file(tmp_path("junk.bin"), junk, sizeof(junk));
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL(trace_load(tmp_path("junk.bin"), &t, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ":1:"));
}

static void test_rejects_truncated_and_corrupt_zstd(void)
{
    char *text = make_csv(5000, 3);
    const char *zst = tmp_path("cut.zst");
    size_t n = write_zstd(zst, text, 1);
    CU_ASSERT_EQUAL(truncate(zst, (off_t)(n / 2)), 0);
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL(trace_load(zst, &t, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
    /* a valid magic number followed by garbage */
    unsigned char bogus[64] = {0x28, 0xb5, 0x2f, 0xfd};
    for (size_t i = 4; i < sizeof(bogus); i++)
        bogus[i] = (unsigned char)(i * 37);
    write_file(zst, bogus, sizeof(bogus));
    CU_ASSERT_EQUAL(trace_load(zst, &t, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "zstd"));
    free(text);
}

static void test_missing_file_is_not_found(void)
{
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL(trace_load(tmp_path("nope.csv"), &t, &err), AUG_ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nope.csv"));
    CU_ASSERT_EQUAL(trace_load(tmpdir, &t, &err), AUG_EIO); /* a directory */
}

static void test_trace_without_requests_is_rejected(void)
{
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text("empty.csv", "time,key,size\n", &t, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no requests"));
    CU_ASSERT_EQUAL(load_text("empty2.csv", "", &t, &err), AUG_EINVAL);
}

static void test_percent_of_unique_bytes_rounds_down(void)
{
    trace_t t = {.unique_bytes = 95682560};
    CU_ASSERT_EQUAL(trace_percent_bytes(&t, 1), 956825);
    CU_ASSERT_EQUAL(trace_percent_bytes(&t, 10), 9568256);
    CU_ASSERT_EQUAL(trace_percent_bytes(&t, 0.5), 478412);
    CU_ASSERT_EQUAL(trace_percent_bytes(&t, 100), 95682560);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void test_replay_counts_every_request(void)
{
    /* LRU with room for two 10-byte objects:
     * a(m) b(m) a(h) c(m, evicts b) b(m, evicts a) a(m, evicts c) a(h) d(50 B: m, too big) */
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(load_text("lru.csv",
                                    "time,key,size\n1,1,10\n2,2,10\n3,1,10\n4,3,10\n5,2,10\n"
                                    "6,1,10\n7,1,10\n8,4,50\n",
                                    &t, &err),
                          0);
    trace_result_t r;
    CU_ASSERT_EQUAL_FATAL(trace_replay(t, "lru", 20, &r, &err), 0);
    CU_ASSERT_EQUAL(r.requests, 8);
    CU_ASSERT_EQUAL(r.misses, 6);
    CU_ASSERT_EQUAL(r.bytes, 120);
    CU_ASSERT_EQUAL(r.miss_bytes, 100);
    CU_ASSERT_EQUAL(r.evictions, 3);
    CU_ASSERT_EQUAL(r.cache_bytes, 20);
    /* Belady: a(m) b(m) a(h) c(m: evicts a, next used at 6, after b at 5) b(h) a(m: evicts
     * b or c, both never used again) a(h) d(m) */
    CU_ASSERT_EQUAL_FATAL(trace_replay(t, "belady", 20, &r, &err), 0);
    CU_ASSERT_EQUAL(r.misses, 5);
    CU_ASSERT_EQUAL(r.miss_bytes, 90);
    trace_free(t);
}

static void test_replay_rejects_unknown_policy_and_zero_size(void)
{
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(load_text("one.csv", "1,1,1\n", &t, &err), 0);
    trace_result_t r;
    CU_ASSERT_EQUAL(trace_replay(t, "lfu", 10, &r, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lfu"));
    CU_ASSERT_EQUAL(trace_replay(t, "lru", 0, &r, &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(trace_replay(t, "belady", 0, &r, &err), AUG_EINVAL);
    CU_ASSERT_TRUE(trace_policy_known("belady"));
    CU_ASSERT_TRUE(trace_policy_known("sieve"));
    CU_ASSERT_FALSE(trace_policy_known("opt"));
    trace_free(t);
}

/* Belady the slow way: on a miss, scan the future of every resident key. */
static uint64_t naive_belady_misses(const trace_t *t, uint64_t cap, uint8_t *hit_out)
{
    uint64_t *res = malloc(t->n_keys * sizeof(*res)); /* resident size, 0 = absent */
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    memset(res, 0, t->n_keys * sizeof(*res));
    uint64_t used = 0, misses = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        uint32_t id = t->ids[i];
        if (res[id]) {
            hit_out[i] = 1;
            continue;
        }
        hit_out[i] = 0;
        misses++;
        if (t->sizes[i] > cap) continue;
        while (used + t->sizes[i] > cap) {
            uint64_t far = 0, victim = 0;
            for (uint64_t k = 0; k < t->n_keys; k++) {
                if (!res[k]) continue;
                uint64_t j = i + 1;
                while (j < t->n && t->ids[j] != k)
                    j++;
                if (j >= far) {
                    far = j;
                    victim = k;
                }
            }
            used -= res[victim];
            res[victim] = 0;
        }
        res[id] = t->sizes[i];
        used += t->sizes[i];
    }
    free(res);
    return misses;
}

static void test_belady_matches_naive_model(void)
{
    char *text = make_csv(2500, 77);
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(load_text("belady.csv", text, &t, &err), 0);
    uint8_t *want = malloc(t->n), *got = malloc(t->n);
    CU_ASSERT_FATAL(want && got);
    static const uint64_t caps[] = {4096, 40000, 300000};
    for (size_t c = 0; c < 3; c++) {
        uint64_t misses = naive_belady_misses(t, caps[c], want);
        belady_t *b = belady_create(caps[c], t->n_keys);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        uint64_t m = 0;
        for (uint64_t i = 0; i < t->n; i++) {
            got[i] = (uint8_t)belady_access(b, t->ids[i], t->sizes[i], t->next[i]);
            m += !got[i];
            CU_ASSERT(belady_used_bytes(b) <= caps[c]);
        }
        CU_ASSERT_EQUAL(m, misses);
        CU_ASSERT_EQUAL(memcmp(want, got, t->n), 0);
        CU_ASSERT(misses > t->n_keys && misses < t->n); /* evictions did happen */
        trace_result_t r, lru;
        CU_ASSERT_EQUAL(trace_replay(t, "belady", caps[c], &r, &err), 0);
        CU_ASSERT_EQUAL(trace_replay(t, "lru", caps[c], &lru, &err), 0);
        CU_ASSERT_EQUAL(r.misses, misses);
        CU_ASSERT(r.misses <= lru.misses);
        belady_destroy(b);
    }
    free(want);
    free(got);
    free(text);
    trace_free(t);
}

static void test_replay_of_arc_oltp_matches_reference(void)
{
    if (access(OLTP_PATH, R_OK) != 0) {
        printf("skipped: %s not found (run from the repository root next to ../shared)\n ",
               OLTP_PATH);
        return;
    }
    trace_t *t;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(trace_load(OLTP_PATH, &t, &err), 0);
    CU_ASSERT_EQUAL(t->n, 914145);
    CU_ASSERT_EQUAL(t->n_keys, 186880);
    CU_ASSERT_EQUAL(t->unique_bytes, 95682560);
    uint64_t cap = trace_percent_bytes(t, 1);
    trace_result_t r;
    CU_ASSERT_EQUAL_FATAL(trace_replay(t, "lru", cap, &r, &err), 0);
    double mr = (double)r.misses / (double)r.requests;
    CU_ASSERT_DOUBLE_EQUAL(mr, OLTP_LRU_1PCT, REFERENCE_TOLERANCE);
    CU_ASSERT_EQUAL_FATAL(trace_replay(t, "s3fifo", cap, &r, &err), 0);
    mr = (double)r.misses / (double)r.requests;
    CU_ASSERT_DOUBLE_EQUAL(mr, OLTP_S3FIFO_1PCT, REFERENCE_TOLERANCE);
    trace_free(t);
}

/* ---- plot --------------------------------------------------------------------------------- */

static void test_plot_writes_one_line_per_series(void)
{
    const double x[] = {1 << 20, 5 << 20, 10 << 20}, y1[] = {0.6, 0.4, 0.3},
                 y2[] = {0.5, 0.38, 0.32};
    svgplot_series_t s[] = {{"lru", x, y1, 3}, {"a<b&c", x, y2, 3}};
    const char *path = tmp_path("plot.svg");
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(svgplot_write(path, "t \"1\"", s, 2, &err), 0);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "<svg"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "</svg>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, ">lru<"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "a&lt;b&amp;c"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "t &quot;1&quot;"));
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "<polyline")); p++)
        lines++;
    CU_ASSERT_EQUAL(lines, 2);
    CU_ASSERT_EQUAL(svgplot_write("/nonexistent-dir/x.svg", "t", s, 2, &err), AUG_EIO);
    /* a single point and an empty series do not divide by zero */
    svgplot_series_t one[] = {{"one", x, y1, 1}, {"none", x, y1, 0}};
    CU_ASSERT_EQUAL(svgplot_write(path, "t", one, 2, &err), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("trace", suite_init, suite_cleanup);
    if (!s) return 1;
    struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"reads plain csv", test_reads_plain_csv},
        {"reads zstd csv like plain", test_reads_zstd_csv_like_plain},
        {"reads concatenated zstd frames", test_reads_concatenated_zstd_frames},
        {"accepts no header, crlf, blank lines and no final newline",
         test_accepts_no_header_crlf_blank_lines_and_no_final_newline},
        {"rejects malformed lines naming file and line",
         test_rejects_malformed_lines_naming_file_and_line},
        {"rejects binary junk", test_rejects_binary_junk},
        {"rejects truncated and corrupt zstd", test_rejects_truncated_and_corrupt_zstd},
        {"missing file is not found", test_missing_file_is_not_found},
        {"trace without requests is rejected", test_trace_without_requests_is_rejected},
        {"percent of unique bytes rounds down", test_percent_of_unique_bytes_rounds_down},
        {"replay counts every request", test_replay_counts_every_request},
        {"replay rejects unknown policy and zero size",
         test_replay_rejects_unknown_policy_and_zero_size},
        {"belady matches naive model", test_belady_matches_naive_model},
        {"replay of arc_oltp matches reference", test_replay_of_arc_oltp_matches_reference},
        {"plot writes one line per series", test_plot_writes_one_line_per_series},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
                      CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
