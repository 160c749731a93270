/* test_names.c - which bucket names and keys the backend accepts (S3's rules plus being a
 * path in the mount), and that an operation with a refused name changes nothing on any node. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------------------------- */

static void expect_key(const char *key, int want, const char *label)
{
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_check_key(key, &err);
    if (rc != want) fprintf(stderr, "\n  key %s: got %d (%s), want %d\n", label, rc, err.msg, want);
    CU_ASSERT_EQUAL(rc, want);
    if (want != 0) {
        CU_ASSERT_EQUAL(err.code, want);
        CU_ASSERT(err.msg[0] != '\0');
        CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
    }
}

static void key_ok(const char *key)
{
    expect_key(key, 0, key);
}

static void key_bad(const char *key)
{
    expect_key(key, AUG_EINVAL, key);
}

static void expect_bucket(const char *bucket, int want)
{
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_check_bucket_name(bucket, &err);
    if (rc != want)
        fprintf(stderr, "\n  bucket '%s': got %d (%s), want %d\n", bucket, rc, err.msg, want);
    CU_ASSERT_EQUAL(rc, want);
    if (want != 0) {
        CU_ASSERT_EQUAL(err.code, want);
        CU_ASSERT(err.msg[0] != '\0');
        for (const char *p = err.msg; *p; p++)
            CU_ASSERT((unsigned char)*p >= 0x20);
    }
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- keys -------------------------------------------------------------------------------- */

static void test_ordinary_keys_are_accepted(void)
{
    key_ok("a");
    key_ok("a/b");
    key_ok("a-/c");
    key_ok("dir/sub/file.txt");
    key_ok("a b (1).txt");
    key_ok("..a");
    key_ok("a..");
    key_ok("...");
    key_ok(".hidden/.x");
    key_ok("a-");
    key_ok("%2F~!@#$^&*()_+=[]{};:'\",<>?\\|`");
}

static void test_trailing_slash_marks_a_directory(void)
{
    key_ok("dir/");
    key_ok("a/b/");
    key_bad("dir//");
    key_bad("/");
}

static void test_utf8_keys_are_accepted(void)
{
    key_ok("\xc3\xa9/x");                        /* é/x */
    key_ok("\xe2\x82\xac");                      /* € */
    key_ok("\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf"); /* U+1F600, U+10FFFF */
    key_ok("\xef\xbf\xbf");                      /* U+FFFF is a noncharacter but valid UTF-8 */
    key_ok("\xc2\x80");                          /* U+0080 */
    key_ok("\xed\x9f\xbf");                      /* U+D7FF, just below the surrogates */
}

static void test_empty_key_is_refused(void)
{
    key_bad("");
}

static void test_empty_components_are_refused(void)
{
    key_bad("/a");
    key_bad("a//b");
    key_bad("//");
    key_bad("a/b//");
}

static void test_dot_components_are_refused(void)
{
    key_bad(".");
    key_bad("..");
    key_bad("./a");
    key_bad("../a");
    key_bad("a/.");
    key_bad("a/..");
    key_bad("a/./b");
    key_bad("a/../b");
    key_bad("a/./");
    key_bad("a/../");
    key_bad("./");
}

static void test_control_characters_are_refused(void)
{
    key_bad("a\x01");
    key_bad("a\tb");
    key_bad("line\nbreak");
    key_bad("cr\r");
    key_bad("\x1f");
    key_bad("del\x7f"); /* DEL is a control character as well */
}

static void test_invalid_utf8_is_refused(void)
{
    const char *bad[] = {
        "\xff",
        "a\xfe",
        "\x80",
        "a\xc3",
        "\xc3(",
        "\xc0\xaf",
        "\xc1\xbf",
        "\xe0\x80\xaf",
        "\xe2\x82",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xf0\x80\x80\xaf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "a/\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char label[64];
        snprintf(label, sizeof(label), "invalid UTF-8 #%zu", i);
        expect_key(bad[i], AUG_EINVAL, label);
    }
}

static void test_component_over_255_bytes_is_too_long(void)
{
    char key[600];
    char *c255 = repeat('x', 255), *c256 = repeat('x', 256);
    key_ok(c255);
    snprintf(key, sizeof(key), "a/%s/b", c255);
    key_ok(key);
    snprintf(key, sizeof(key), "%s/", c255);
    key_ok(key);
    expect_key(c256, AUG_ETOOLONG, "256-byte component");
    snprintf(key, sizeof(key), "a/%s", c256);
    expect_key(key, AUG_ETOOLONG, "a/256-byte component");
    snprintf(key, sizeof(key), "%s/", c256);
    expect_key(key, AUG_ETOOLONG, "256-byte directory component");
    /* bytes, not characters: 128 two-byte characters are 256 bytes */
    key[0] = '\0';
    for (int i = 0; i < 128; i++)
        strcat(key, "\xc3\xa9");
    expect_key(key, AUG_ETOOLONG, "128 x e-acute");
    key[254] = '\0'; /* 127 characters: 254 bytes */
    key_ok(key);
    free(c255);
    free(c256);
}

/* A key of exactly len bytes made of components of at most 200 bytes. */
static char *long_key(size_t len)
{
    char *k = repeat('k', len);
    for (size_t i = 200; i < len - 1; i += 201)
        k[i] = '/';
    return k;
}

static void test_key_over_1024_bytes_is_too_long(void)
{
    char *k1024 = long_key(1024), *k1025 = long_key(1025);
    key_ok(k1024);
    expect_key(k1025, AUG_ETOOLONG, "1025-byte key");
    char *c = repeat('z', 2000);
    expect_key(c, AUG_ETOOLONG, "2000-byte key");
    free(k1024);
    free(k1025);
    free(c);
}

/* ---- bucket names ------------------------------------------------------------------------ */

static void test_valid_bucket_names(void)
{
    const char *ok[] = {"abc", "a-b",  "a.b",   "my.bucket-1", "0ab",    "ab9",
                        "123", "a--b", "1.2.3", "1.2.3.4.5",   "1.2.3.a"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect_bucket(ok[i], 0);
    char *b63 = repeat('b', 63);
    expect_bucket(b63, 0);
    free(b63);
}

static void test_bucket_name_length_is_3_to_63(void)
{
    expect_bucket("", AUG_EINVAL);
    expect_bucket("a", AUG_EINVAL);
    expect_bucket("ab", AUG_EINVAL);
    char *b64 = repeat('b', 64);
    expect_bucket(b64, AUG_EINVAL);
    free(b64);
}

static void test_bucket_name_characters(void)
{
    const char *bad[] = {"ABC",  "aBc", "a_b", "a b",    "a/b", "a:b",       "abc\xc3\xa9",
                         "a\tb", "a+b", "ab!", "ab\ncd", "a\n", "a\x1b[2Jb", "\xff\xfe"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bucket(bad[i], AUG_EINVAL);
}

static void test_bucket_name_starts_and_ends_with_alnum(void)
{
    const char *bad[] = {"-ab", "ab-", ".ab", "ab.", "-a-", ".a."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bucket(bad[i], AUG_EINVAL);
}

static void test_bucket_name_dots(void)
{
    const char *bad[] = {"a..b", "a.-b", "a-.b", "my..bucket"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bucket(bad[i], AUG_EINVAL);
}

static void test_bucket_name_like_an_ip_address_is_refused(void)
{
    const char *bad[] = {"192.168.1.1", "1.2.3.4", "10.0.0.255", "999.999.999.999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bucket(bad[i], AUG_EINVAL);
}

/* ---- refused names change nothing --------------------------------------------------------- */

static test_cluster_t cl;
static backend_t *be;

static int cluster_setup(void)
{
    test_cluster_init(&cl, "names", 6, 4, 2, 4096, 64);
    be = test_backend_open(&cl);
    if (!be) return 1;
    aug_err_t err;
    return backend_bucket_create(be, "good", &err) != 0;
}

static int cluster_teardown(void)
{
    backend_close(be);
    test_cluster_destroy(&cl);
    return 0;
}

/* The put must fail with want and leave every node exactly as it was. */
static void expect_put_refused(const char *bucket, const char *key, int want, const char *label)
{
    char *before = test_tree_snapshot(cl.dir);
    aug_err_t err;
    aug_err_clear(&err);
    test_source_t src = {.seed = 1, .len = 10000, .chunk = 4096};
    int rc = backend_put(be, bucket, key, NULL, test_source_read, &src, NULL, &err);
    if (rc != want) fprintf(stderr, "\n  put %s: got %d (%s), want %d\n", label, rc, err.msg, want);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_EQUAL(err.code, want);
    CU_ASSERT_EQUAL(src.pos, 0); /* refused before a byte was read */
    char *after = test_tree_snapshot(cl.dir);
    if (strcmp(before, after) != 0)
        fprintf(stderr, "\n  put %s changed the nodes:\n--- before\n%s--- after\n%s", label, before,
                after);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);
}

static void test_put_with_bad_key_changes_nothing(void)
{
    char *k1025 = long_key(1025), *c256 = repeat('c', 256);
    expect_put_refused("good", "", AUG_EINVAL, "empty key");
    expect_put_refused("good", "/abs", AUG_EINVAL, "leading slash");
    expect_put_refused("good", "a//b", AUG_EINVAL, "a//b");
    expect_put_refused("good", "a/../b", AUG_EINVAL, "a/../b");
    expect_put_refused("good", "a/.", AUG_EINVAL, "a/.");
    expect_put_refused("good", "bad\xff", AUG_EINVAL, "invalid UTF-8");
    expect_put_refused("good", "ctl\x01", AUG_EINVAL, "control character");
    expect_put_refused("good", k1025, AUG_ETOOLONG, "1025-byte key");
    expect_put_refused("good", c256, AUG_ETOOLONG, "256-byte component");
    free(k1025);
    free(c256);
}

static void test_put_with_bad_bucket_changes_nothing(void)
{
    expect_put_refused("Good", "k", AUG_EINVAL, "upper-case bucket");
    expect_put_refused("go", "k", AUG_EINVAL, "short bucket");
    expect_put_refused("1.2.3.4", "k", AUG_EINVAL, "IP bucket");
    expect_put_refused("missing", "k", AUG_ENOENT, "missing bucket");
}

static void test_make_bucket_with_bad_name_changes_nothing(void)
{
    const char *bad[] = {"", "ab", "UPPER", "a..b", "-ab", "ab-", "10.0.0.1", "a_b", "a/b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *before = test_tree_snapshot(cl.dir);
        aug_err_t err;
        aug_err_clear(&err);
        CU_ASSERT_EQUAL(backend_bucket_create(be, bad[i], &err), AUG_EINVAL);
        CU_ASSERT_EQUAL(err.code, AUG_EINVAL);
        char *after = test_tree_snapshot(cl.dir);
        if (strcmp(before, after) != 0) fprintf(stderr, "\n  mb '%s' changed the nodes\n", bad[i]);
        CU_ASSERT_STRING_EQUAL(before, after);
        free(before);
        free(after);
    }
    backend_bucket_info_t *list;
    size_t n;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_bucket_list(be, &list, &n, &err), 0);
    CU_ASSERT_EQUAL(n, 1);
    if (n >= 1) CU_ASSERT_STRING_EQUAL(list[0].name, "good");
    free(list);
}

static void test_other_calls_refuse_bad_names(void)
{
    char *before = test_tree_snapshot(cl.dir);
    aug_err_t err;
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL(backend_head(be, "good", "a//b", &m, &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(backend_head(be, "BAD", "a", &m, &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(backend_delete(be, "good", "..", &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(backend_delete(be, "good", "x\x7f", &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "a..b", &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(backend_bucket_stat(be, "ab", NULL, &err), AUG_EINVAL);
    backend_list_opts_t opts = {0};
    backend_list_result_t *res = NULL;
    CU_ASSERT_EQUAL(backend_list(be, "A_B", &opts, &res, &err), AUG_EINVAL);
    char *longp = repeat('p', 1025);
    opts.prefix = longp;
    CU_ASSERT_EQUAL(backend_list(be, "good", &opts, &res, &err), AUG_ETOOLONG);
    free(longp);
    char *after = test_tree_snapshot(cl.dir);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);
}

static void test_good_names_round_trip(void)
{
    /* the same edge cases on the accepted side really store and come back */
    char *c255 = repeat('x', 255), *k1024 = long_key(1024);
    char dirkey[300];
    snprintf(dirkey, sizeof(dirkey), "%s/", c255);
    const char *keys[] = {c255, dirkey, k1024, "\xc3\xa9/x", "\xf0\x9f\x98\x80", "..a", "a b"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int ok = 0;
        CU_ASSERT_EQUAL(test_put(be, "good", keys[i], 40 + i, 100 + 50 * i), 0);
        CU_ASSERT_EQUAL(test_get_check(be, "good", keys[i], 40 + i, 100 + 50 * i, &ok), 0);
        CU_ASSERT(ok);
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        aug_err_t err;
        CU_ASSERT_EQUAL(backend_delete(be, "good", keys[i], &err), 0);
    }
    free(c255);
    free(k1024);
}

/* A source that fails with AUG_EIO once it has produced fail_at bytes. */
typedef struct failing_source {
    test_source_t src;
    uint64_t fail_at;
} failing_source_t;

static ssize_t failing_read(void *arg, void *buf, size_t len)
{
    failing_source_t *f = arg;
    if (f->src.pos >= f->fail_at) return AUG_EIO;
    return test_source_read(&f->src, buf, len);
}

/* Only the regular files of a snapshot (an emptied staging directory may stay behind). */
static void keep_files(char *snap)
{
    char *w = snap;
    for (char *line = snap; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = (size_t)(nl - line) + 1;
        if (line[0] == 'f') {
            memmove(w, line, len);
            w += len;
        }
        line += len;
    }
    *w = '\0';
}

static void test_abandoned_put_leaves_nothing_behind(void)
{
    aug_err_t err;
    char *before = test_tree_snapshot(cl.dir);
    /* inline, and erasure coded over several 4 KiB stripes, failing at several points */
    uint64_t fail_at[] = {0, 10, 4096, 9000, 19999};
    for (size_t i = 0; i < sizeof(fail_at) / sizeof(fail_at[0]); i++) {
        failing_source_t f = {.src = {.seed = 3, .len = 20000, .chunk = 1000},
                              .fail_at = fail_at[i]};
        aug_err_clear(&err);
        CU_ASSERT_EQUAL(backend_put(be, "good", "abandoned", NULL, failing_read, &f, NULL, &err),
                        AUG_EIO);
        backend_manifest_t *m = NULL;
        CU_ASSERT_EQUAL(backend_head(be, "good", "abandoned", &m, &err), AUG_ENOENT);
    }
    char *after = test_tree_snapshot(cl.dir);
    keep_files(before);
    keep_files(after);
    if (strcmp(before, after) != 0)
        fprintf(stderr, "\n  abandoned puts left files:\n--- before\n%s--- after\n%s", before,
                after);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite k = CU_add_suite("keys", NULL, NULL);
    CU_add_test(k, "ordinary keys are accepted", test_ordinary_keys_are_accepted);
    CU_add_test(k, "trailing slash marks a directory", test_trailing_slash_marks_a_directory);
    CU_add_test(k, "UTF-8 keys are accepted", test_utf8_keys_are_accepted);
    CU_add_test(k, "empty key is refused", test_empty_key_is_refused);
    CU_add_test(k, "empty components are refused", test_empty_components_are_refused);
    CU_add_test(k, "'.' and '..' components are refused", test_dot_components_are_refused);
    CU_add_test(k, "control characters are refused", test_control_characters_are_refused);
    CU_add_test(k, "invalid UTF-8 is refused", test_invalid_utf8_is_refused);
    CU_add_test(k, "component over 255 bytes is too long",
                test_component_over_255_bytes_is_too_long);
    CU_add_test(k, "key over 1024 bytes is too long", test_key_over_1024_bytes_is_too_long);
    CU_pSuite b = CU_add_suite("bucket names", NULL, NULL);
    CU_add_test(b, "valid bucket names", test_valid_bucket_names);
    CU_add_test(b, "length is 3 to 63", test_bucket_name_length_is_3_to_63);
    CU_add_test(b, "only a-z 0-9 . -", test_bucket_name_characters);
    CU_add_test(b, "starts and ends with a letter or digit",
                test_bucket_name_starts_and_ends_with_alnum);
    CU_add_test(b, "no '..', '.-' or '-.'", test_bucket_name_dots);
    CU_add_test(b, "not like an IP address", test_bucket_name_like_an_ip_address_is_refused);
    CU_pSuite c = CU_add_suite("refused names change nothing", cluster_setup, cluster_teardown);
    CU_add_test(c, "put with a bad key", test_put_with_bad_key_changes_nothing);
    CU_add_test(c, "put with a bad bucket", test_put_with_bad_bucket_changes_nothing);
    CU_add_test(c, "mb with a bad name", test_make_bucket_with_bad_name_changes_nothing);
    CU_add_test(c, "other calls refuse bad names", test_other_calls_refuse_bad_names);
    CU_add_test(c, "good edge-case names round-trip", test_good_names_round_trip);
    CU_add_test(c, "abandoned put leaves nothing behind", test_abandoned_put_leaves_nothing_behind);
    return test_run_all();
}
