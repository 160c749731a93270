/* test_config.c - augur.conf loading (defaults, sizes, node lists, every "file:line:" error),
 * the size and duration parsers, and the CRC32C check value. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------------------------- */

/* Load text as "t.conf" over fresh defaults; returns the code, err receives the message. */
static int load_text(aug_config_t *cfg, const char *text, aug_err_t *err)
{
    aug_config_defaults(cfg);
    aug_err_clear(err);
    return aug_config_load_string(cfg, text, "t.conf", err);
}

/* The error must be AUG_ECONFIG, start with "t.conf:LINE: " and mention needle. */
static void expect_error_at(const char *text, int line, const char *needle)
{
    aug_config_t cfg;
    aug_err_t err;
    char want[64];
    int rc = load_text(&cfg, text, &err);
    snprintf(want, sizeof(want), "t.conf:%d: ", line);
    CU_ASSERT_EQUAL(rc, AUG_ECONFIG);
    CU_ASSERT_EQUAL(err.code, AUG_ECONFIG);
    if (strncmp(err.msg, want, strlen(want)) != 0 || (needle && !strstr(err.msg, needle))) {
        fprintf(stderr, "\n  config:\n%s\n  want prefix '%s' and '%s', got '%s'\n", text, want,
                needle ? needle : "", err.msg);
        CU_FAIL("wrong config error message");
    }
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n')); /* one line for the user */
}

static const char six_nodes[] = "nodes = dir:/n/1, dir:/n/2, dir:/n/3, dir:/n/4, dir:/n/5, "
                                "dir:/n/6\n";

/* ---- loading ----------------------------------------------------------------------------- */

static void test_empty_config_gives_defaults(void)
{
    aug_config_t cfg;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text(&cfg, "", &err), 0);
    CU_ASSERT_EQUAL(cfg.general.log_level, AUG_LOG_WARN);
    CU_ASSERT_STRING_EQUAL(cfg.general.state_dir, "/var/lib/augur");
    CU_ASSERT_EQUAL(cfg.backend.data_shards, 4);
    CU_ASSERT_EQUAL(cfg.backend.parity_shards, 2);
    CU_ASSERT_EQUAL(cfg.backend.write_quorum, 5); /* k + 1 */
    CU_ASSERT_EQUAL(cfg.backend.n_nodes, 0);
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 32u << 10);
    CU_ASSERT_EQUAL(cfg.backend.stripe_size, 1u << 20);
    CU_ASSERT_EQUAL(cfg.backend.gc_grace_ms, 3600u * 1000);
    CU_ASSERT_EQUAL(cfg.backend.scrub_interval_ms, 24u * 3600 * 1000);
    CU_ASSERT_STRING_EQUAL(cfg.path, "t.conf");
}

static void test_comments_and_blank_lines_are_ignored(void)
{
    aug_config_t cfg;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text(&cfg,
                              "# a comment\n; another\n\n[general]\n   \n"
                              "log_level = debug ; inline comment\n",
                              &err),
                    0);
    CU_ASSERT_EQUAL(cfg.general.log_level, AUG_LOG_DEBUG);
}

static void test_write_quorum_default_is_capped_at_k_plus_m(void)
{
    aug_config_t cfg;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text(&cfg, "[backend]\ndata_shards = 3\nparity_shards = 0\n", &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.write_quorum, 3);
    CU_ASSERT_EQUAL(load_text(&cfg, "[backend]\ndata_shards = 6\nparity_shards = 3\n", &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.write_quorum, 7);
}

static void test_sizes_take_suffixes(void)
{
    aug_config_t cfg;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text(&cfg, "[backend]\ninline_max = 64K\nstripe_size = 2M\n", &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 64u << 10);
    CU_ASSERT_EQUAL(cfg.backend.stripe_size, 2u << 20);
    CU_ASSERT_EQUAL(load_text(&cfg, "[backend]\ninline_max = 1M\nstripe_size = 64MiB\n", &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 1u << 20);
    CU_ASSERT_EQUAL(cfg.backend.stripe_size, 64u << 20);
    CU_ASSERT_EQUAL(load_text(&cfg, "[backend]\ninline_max = 0\nstripe_size = 4096\n", &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 0);
    CU_ASSERT_EQUAL(cfg.backend.stripe_size, 4096);
}

static void test_durations_and_paths_are_read(void)
{
    aug_config_t cfg;
    aug_err_t err;
    CU_ASSERT_EQUAL(load_text(&cfg,
                              "[general]\nstate_dir = /srv/state\nlog_level = ERROR\n"
                              "[backend]\ngc_grace = 90s\nscrub_interval = 0\n",
                              &err),
                    0);
    CU_ASSERT_STRING_EQUAL(cfg.general.state_dir, "/srv/state");
    CU_ASSERT_EQUAL(cfg.general.log_level, AUG_LOG_ERROR);
    CU_ASSERT_EQUAL(cfg.backend.gc_grace_ms, 90000);
    CU_ASSERT_EQUAL(cfg.backend.scrub_interval_ms, 0);
}

static void test_nodes_list_on_one_line(void)
{
    aug_config_t cfg;
    aug_err_t err;
    char text[512];
    snprintf(text, sizeof(text), "[backend]\n%s", six_nodes);
    CU_ASSERT_EQUAL(load_text(&cfg, text, &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.n_nodes, 6);
    CU_ASSERT_STRING_EQUAL(cfg.backend.nodes[0], "dir:/n/1");
    CU_ASSERT_STRING_EQUAL(cfg.backend.nodes[5], "dir:/n/6");
}

static void test_nodes_list_continues_on_indented_lines(void)
{
    aug_config_t cfg;
    aug_err_t err;
    const char *text = "[backend]\n"
                       "nodes = dir:/n/1, dir:/n/2,\n"
                       "        dir:/n/3\n"
                       "\t# a comment inside the list\n"
                       "    , dir:/n/4 ,dir:/n/5,\n"
                       "  dir:/n/6\n"
                       "inline_max = 1K\n";
    CU_ASSERT_EQUAL(load_text(&cfg, text, &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.n_nodes, 6);
    for (int i = 0; i < cfg.backend.n_nodes && i < 6; i++) {
        char want[32];
        snprintf(want, sizeof(want), "dir:/n/%d", i + 1);
        CU_ASSERT_STRING_EQUAL(cfg.backend.nodes[i], want);
    }
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 1024);
}

static void test_the_shipped_config_loads(void)
{
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    int rc = aug_config_load(&cfg, "etc/augur.conf", &err);
    if (rc != 0) fprintf(stderr, "\n  etc/augur.conf: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(cfg.backend.n_nodes >= cfg.backend.data_shards + cfg.backend.parity_shards);
    CU_ASSERT_STRING_EQUAL(cfg.predictor.model, "markov");
    CU_ASSERT_STRING_EQUAL(cfg.cache.ram_policy, "learned");
}

static void test_predictor_section_is_read_and_checked(void)
{
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    CU_ASSERT_EQUAL(aug_config_load_string(&cfg,
                                           "[predictor]\nmodel = lstm\nmin_confidence = 75\n"
                                           "prefetch_tier = ssd\ntable_keys = 64K\n"
                                           "save_interval = 30s\n",
                                           "p.conf", &err),
                    0);
    CU_ASSERT_STRING_EQUAL(cfg.predictor.model, "lstm");
    CU_ASSERT_EQUAL(cfg.predictor.min_confidence, 75);
    CU_ASSERT_STRING_EQUAL(cfg.predictor.prefetch_tier, "ssd");
    CU_ASSERT_EQUAL(cfg.predictor.table_keys, 65536);
    CU_ASSERT_EQUAL(cfg.predictor.save_interval_ms, 30000);
    expect_error_at("[predictor]\n\nmodel = oracle\n", 3, "markov, lstm or off");
    expect_error_at("[predictor]\nprefetch_tier = tape\n", 2, "ram, ssd or off");
    expect_error_at("[predictor]\nmin_confidence = 101\n", 2, "min_confidence");
    expect_error_at("[predictor]\ntable_keys = 3\n", 2, "table_keys");
}

/* ---- errors, each at its line ------------------------------------------------------------ */

static void test_unknown_section_is_reported_at_its_key(void)
{
    expect_error_at("[general]\nlog_level = info\n\n[nonsense]\nram = 1G\n", 5, "[nonsense]");
}

static void test_key_before_any_section_is_refused(void)
{
    expect_error_at("# top\nlog_level = info\n", 2, "outside any [section]");
}

static void test_unknown_key_is_reported_at_its_line(void)
{
    expect_error_at("[backend]\ndata_shards = 4\n# c\nparity = 2\n", 4, "parity");
}

static void test_bad_int_is_reported(void)
{
    expect_error_at("[backend]\ndata_shards = four\n", 2, "data_shards");
    expect_error_at("[backend]\n\ndata_shards = 4x\n", 3, "data_shards");
    expect_error_at("[backend]\ndata_shards = 0\n", 2, "data_shards");
    expect_error_at("[backend]\ndata_shards = 17\n", 2, "data_shards");
    expect_error_at("[backend]\nparity_shards = -1\n", 2, "parity_shards");
    expect_error_at("[backend]\nparity_shards = 99999999999999999999999\n", 2, "parity_shards");
    expect_error_at("[backend]\ndata_shards =\n", 2, "data_shards");
}

static void test_bad_size_is_reported(void)
{
    expect_error_at("[backend]\ninline_max = 12Q\n", 2, "inline_max");
    expect_error_at("[backend]\ninline_max = 1.5K\n", 2, "inline_max");
    expect_error_at("[backend]\ninline_max = K\n", 2, "inline_max");
    expect_error_at("[backend]\ninline_max = 2M\n", 2, "inline_max");   /* above 1M */
    expect_error_at("[backend]\nstripe_size = 1K\n", 2, "stripe_size"); /* below 4K */
    expect_error_at("[backend]\nstripe_size = 1G\n", 2, "stripe_size"); /* above 64M */
    expect_error_at("[backend]\nstripe_size = 9223372036854775808\n", 2, "stripe_size");
}

static void test_bad_other_values_are_reported(void)
{
    expect_error_at("[general]\nlog_level = loud\n", 2, "log_level");
    expect_error_at("[general]\nstate_dir = relative/dir\n", 2, "state_dir");
    expect_error_at("[backend]\ngc_grace = 1 week\n", 2, "gc_grace");
    expect_error_at("[backend]\nnodes = /no/scheme, dir:/b\n", 2, "/no/scheme");
    expect_error_at("[backend]\nnodes = dir:relative\n", 2, "dir:relative");
    expect_error_at("[backend]\nnodes = dir:/a,\n  dir:/b,\n  dir:/a\n", 4, "twice");
}

static void test_too_few_nodes_for_k_plus_m(void)
{
    expect_error_at("[backend]\ndata_shards = 4\nparity_shards = 2\n"
                    "nodes = dir:/a, dir:/b,\n   dir:/c, dir:/d, dir:/e\n",
                    5, "too few");
    expect_error_at("[backend]\nnodes = dir:/a, dir:/b, dir:/c\n", 2, "too few");
}

static void test_write_quorum_out_of_range(void)
{
    char text[512];
    snprintf(text, sizeof(text), "[backend]\n%s\nwrite_quorum = 7\n", six_nodes);
    expect_error_at(text, 4, "write_quorum");
    snprintf(text, sizeof(text), "[backend]\nwrite_quorum = 3\n%s", six_nodes);
    expect_error_at(text, 2, "write_quorum");
    expect_error_at("[backend]\nwrite_quorum = 0\n", 2, "write_quorum");
    expect_error_at("[backend]\nwrite_quorum = 25\n", 2, "write_quorum");
}

static void test_write_quorum_in_range_is_kept(void)
{
    aug_config_t cfg;
    aug_err_t err;
    char text[512];
    snprintf(text, sizeof(text), "[backend]\n%swrite_quorum = 6\n", six_nodes);
    CU_ASSERT_EQUAL(load_text(&cfg, text, &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.write_quorum, 6);
    snprintf(text, sizeof(text), "[backend]\n%swrite_quorum = 4\n", six_nodes);
    CU_ASSERT_EQUAL(load_text(&cfg, text, &err), 0);
    CU_ASSERT_EQUAL(cfg.backend.write_quorum, 4);
}

static void test_non_ini_line_is_reported(void)
{
    expect_error_at("[general]\nlog_level = info\njust some words\n", 3, "INI");
    /* libinih reads on after a bad line: the first error in the file is the one reported */
    expect_error_at("[general\nlog_level = info\n", 1, NULL);
    expect_error_at("[general]\nwords\nbogus = 1\n", 2, "INI");
    expect_error_at("[general]\nlog_level = info\n[backend\n[backend]\ndata_shards = x\n", 3, NULL);
    /* and an error found by augur before a later bad line wins too */
    expect_error_at("[general]\nbogus = 1\nwords\n", 2, "bogus");
}

/* Longest line libinih takes whole, without its newline (its buffer is 200 bytes). */
#define LONGEST_LINE 198

static void long_line(char *out, size_t width)
{
    /* "[general]\nstate_dir = /xxxx...x\n" with the state_dir line exactly width bytes */
    int n = sprintf(out, "[general]\nstate_dir = /");
    size_t fill = width - strlen("state_dir = /");
    memset(out + n, 'x', fill);
    strcpy(out + n + fill, "\n");
}

static void test_line_too_long_in_string(void)
{
    aug_config_t cfg;
    aug_err_t err;
    char text[1024];
    long_line(text, LONGEST_LINE);
    CU_ASSERT_EQUAL(load_text(&cfg, text, &err), 0);
    CU_ASSERT_EQUAL(strlen(cfg.general.state_dir), LONGEST_LINE - strlen("state_dir = "));
    long_line(text, LONGEST_LINE + 1);
    expect_error_at(text, 2, "line longer");
    long_line(text, 600);
    expect_error_at(text, 2, "line longer");
}

/* Write text to a scratch file and load it. */
static int load_file(const char *dir, const char *text, aug_config_t *cfg, aug_err_t *err,
                     char *path, size_t len)
{
    snprintf(path, len, "%s/augur.conf", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    aug_config_defaults(cfg);
    aug_err_clear(err);
    return aug_config_load(cfg, path, err);
}

static void test_file_errors_name_the_file_and_line(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], want[PATH_MAX + 32], text[1024];
    aug_config_t cfg;
    aug_err_t err;
    test_scratch_dir("config-file", dir, sizeof(dir));

    CU_ASSERT_EQUAL(
        load_file(dir, "[backend]\n\n\nstripe_size = huge\n", &cfg, &err, path, sizeof(path)),
        AUG_ECONFIG);
    snprintf(want, sizeof(want), "%s:4: ", path);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);

    long_line(text, LONGEST_LINE);
    CU_ASSERT_EQUAL(load_file(dir, text, &cfg, &err, path, sizeof(path)), 0);
    long_line(text, LONGEST_LINE + 1);
    CU_ASSERT_EQUAL(load_file(dir, text, &cfg, &err, path, sizeof(path)), AUG_ECONFIG);
    snprintf(want, sizeof(want), "%s:2: line longer", path);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);
    long_line(text, 700);
    CU_ASSERT_EQUAL(load_file(dir, text, &cfg, &err, path, sizeof(path)), AUG_ECONFIG);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);

    CU_ASSERT_EQUAL(load_file(dir, "[general]\nlog_level = info\n[backend]\nnot ini\n", &cfg, &err,
                              path, sizeof(path)),
                    AUG_ECONFIG);
    snprintf(want, sizeof(want), "%s:4: ", path);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);

    /* a good file, and one without a final newline */
    CU_ASSERT_EQUAL(load_file(dir, "[backend]\ninline_max = 2K", &cfg, &err, path, sizeof(path)),
                    0);
    CU_ASSERT_EQUAL(cfg.backend.inline_max, 2048);
    CU_ASSERT_STRING_EQUAL(cfg.path, path);
    test_remove_tree(dir);
}

static void test_missing_file_is_a_config_error(void)
{
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    CU_ASSERT_EQUAL(aug_config_load(&cfg, "/nonexistent/augur.conf", &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/augur.conf"));
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
}

static void test_unreadable_file_is_a_config_error(void)
{
    /* a directory opens for reading but every read fails: not an empty configuration */
    char dir[PATH_MAX];
    aug_config_t cfg;
    aug_err_t err;
    test_scratch_dir("config-dir", dir, sizeof(dir));
    aug_config_defaults(&cfg);
    CU_ASSERT_EQUAL(aug_config_load(&cfg, dir, &err), AUG_ECONFIG);
    CU_ASSERT_EQUAL(strncmp(err.msg, dir, strlen(dir)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot read"));
    test_remove_tree(dir);
}

/* ---- parsers ----------------------------------------------------------------------------- */

static void expect_size(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    int rc = aug_parse_size(s, &v);
    if (rc != 0 || v != want)
        fprintf(stderr, "\n  aug_parse_size('%s') = %d, %llu; want %llu\n", s, rc,
                (unsigned long long)v, (unsigned long long)want);
    CU_ASSERT(rc == 0 && v == want);
}

static void expect_bad_size(const char *s)
{
    uint64_t v;
    int rc = aug_parse_size(s, &v);
    if (rc != AUG_EINVAL) fprintf(stderr, "\n  aug_parse_size('%s') accepted\n", s);
    CU_ASSERT_EQUAL(rc, AUG_EINVAL);
}

static void test_parse_size(void)
{
    expect_size("0", 0);
    expect_size("4096", 4096);
    expect_size("1K", 1024);
    expect_size("1k", 1024);
    expect_size("1KB", 1024);
    expect_size("1KiB", 1024);
    expect_size("1kib", 1024);
    expect_size("3M", 3u << 20);
    expect_size("2G", 2ULL << 30);
    expect_size("5T", 5ULL << 40);
    expect_size("10B", 10);
    expect_size("10 K", 10240);
    expect_size(" 7", 7);
    expect_size("18446744073709551615", UINT64_MAX);
    expect_size("16777215T", 16777215ULL << 40);
    expect_bad_size("");
    expect_bad_size("K");
    expect_bad_size("-1");
    expect_bad_size("+1");
    expect_bad_size("1.5M");
    expect_bad_size("1X");
    expect_bad_size("1KK");
    expect_bad_size("1BB");
    expect_bad_size("1iB");
    expect_bad_size("1Ki");
    expect_bad_size("12 34");
    expect_bad_size("18446744073709551616"); /* 2^64 */
    expect_bad_size("16777216T");            /* 2^64 */
    expect_bad_size("17179869184G");         /* 2^64 */
}

static void expect_duration(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    int rc = aug_parse_duration_ms(s, &v);
    if (rc != 0 || v != want)
        fprintf(stderr, "\n  aug_parse_duration_ms('%s') = %d, %llu; want %llu\n", s, rc,
                (unsigned long long)v, (unsigned long long)want);
    CU_ASSERT(rc == 0 && v == want);
}

static void test_parse_duration(void)
{
    expect_duration("0", 0);
    expect_duration("30", 30000);
    expect_duration("30s", 30000);
    expect_duration("250ms", 250);
    expect_duration("10m", 600000);
    expect_duration("2h", 7200000);
    expect_duration("1d", 86400000);
    expect_duration("18446744073709551615ms", UINT64_MAX);
    const char *bad[] = {"",
                         "s",
                         "-1s",
                         "1.5h",
                         "10 min",
                         "1w",
                         "1hh",
                         "10S",
                         "18446744073709551615s",
                         "99999999999999999999",
                         "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        int rc = aug_parse_duration_ms(bad[i], &v);
        if (rc != AUG_EINVAL) fprintf(stderr, "\n  aug_parse_duration_ms('%s') accepted\n", bad[i]);
        CU_ASSERT_EQUAL(rc, AUG_EINVAL);
    }
}

static void test_crc32c_check_value(void)
{
    CU_ASSERT_EQUAL(aug_crc32c(0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL(aug_crc32c(0, "", 0), 0);
    /* chaining: the CRC of a whole equals the CRC continued over its parts */
    uint32_t c = aug_crc32c(0, "1234", 4);
    CU_ASSERT_EQUAL(aug_crc32c(c, "56789", 5), 0xE3069283u);
    /* 32 zero bytes: the iSCSI test vector from RFC 3720 B.4 */
    uint8_t zeros[32] = {0};
    CU_ASSERT_EQUAL(aug_crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
}

static void test_strerror_names_every_code(void)
{
    for (int code = AUG_ECANCELED; code <= AUG_OK; code++) {
        const char *s = aug_strerror(code);
        CU_ASSERT_PTR_NOT_NULL(s);
        CU_ASSERT_STRING_NOT_EQUAL(s, "unknown error");
    }
    CU_ASSERT_STRING_EQUAL(aug_strerror(AUG_ENOENT), "not found");
    CU_ASSERT_STRING_EQUAL(aug_strerror(-999), "unknown error");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "empty config gives defaults", test_empty_config_gives_defaults);
    CU_add_test(s, "comments and blank lines are ignored",
                test_comments_and_blank_lines_are_ignored);
    CU_add_test(s, "write_quorum default is capped at k+m",
                test_write_quorum_default_is_capped_at_k_plus_m);
    CU_add_test(s, "sizes take suffixes", test_sizes_take_suffixes);
    CU_add_test(s, "durations and paths are read", test_durations_and_paths_are_read);
    CU_add_test(s, "nodes list on one line", test_nodes_list_on_one_line);
    CU_add_test(s, "nodes list continues on indented lines",
                test_nodes_list_continues_on_indented_lines);
    CU_add_test(s, "the shipped etc/augur.conf loads", test_the_shipped_config_loads);
    CU_pSuite e = CU_add_suite("config errors", NULL, NULL);
    CU_add_test(e, "unknown section", test_unknown_section_is_reported_at_its_key);
    CU_add_test(e, "key before any section", test_key_before_any_section_is_refused);
    CU_add_test(e, "unknown key", test_unknown_key_is_reported_at_its_line);
    CU_add_test(e, "bad int", test_bad_int_is_reported);
    CU_add_test(e, "predictor section", test_predictor_section_is_read_and_checked);
    CU_add_test(e, "bad size", test_bad_size_is_reported);
    CU_add_test(e, "bad other values", test_bad_other_values_are_reported);
    CU_add_test(e, "too few nodes for k+m", test_too_few_nodes_for_k_plus_m);
    CU_add_test(e, "write_quorum out of range", test_write_quorum_out_of_range);
    CU_add_test(e, "write_quorum in range is kept", test_write_quorum_in_range_is_kept);
    CU_add_test(e, "non-INI line", test_non_ini_line_is_reported);
    CU_add_test(e, "line too long (string)", test_line_too_long_in_string);
    CU_add_test(e, "file errors name the file and line", test_file_errors_name_the_file_and_line);
    CU_add_test(e, "missing file", test_missing_file_is_a_config_error);
    CU_add_test(e, "unreadable file (a directory)", test_unreadable_file_is_a_config_error);
    CU_pSuite p = CU_add_suite("parsers", NULL, NULL);
    CU_add_test(p, "aug_parse_size", test_parse_size);
    CU_add_test(p, "aug_parse_duration_ms", test_parse_duration);
    CU_add_test(p, "aug_crc32c check value", test_crc32c_check_value);
    CU_add_test(p, "aug_strerror names every code", test_strerror_names_every_code);
    return test_run_all();
}
