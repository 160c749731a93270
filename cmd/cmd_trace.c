/* cmd_trace.c - `augur trace replay`: compare eviction policies on a recorded trace. */
#include "cmd/cmd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/trace.h"
#include "common/common.h"

#define TRACE_USAGE                                                                                \
    "usage: augur trace replay --trace FILE --size SIZE[,SIZE...] --policy P[,P...]\n"             \
    "                          [--prefetch] [--model markov|lstm] [--min-prob P]\n"               \
    "                          [--csv] [--plot FILE.svg]\n"                                        \
    "\n"                                                                                           \
    "Replays a `time,key,size` CSV trace (plain or .zst) through each policy at each cache\n"      \
    "size and prints requests, object and byte miss ratios, evictions and replay speed.\n"         \
    "\n"                                                                                           \
    "  --trace FILE     the trace\n"                                                               \
    "  --size LIST      cache sizes: bytes with an optional K/M/G/T suffix, or a percentage\n"     \
    "                   of the trace's unique bytes (e.g. 1%,5%,10%)\n"                            \
    "  --policy LIST    lru, fifo, s3fifo, sieve, arc, learned, belady (offline optimum)\n"        \
    "  --prefetch       learned: also prefetch the predictor's guesses into the same cache\n"     \
    "  --model NAME     learned: the predictor model, markov (default) or lstm\n"                 \
    "  --min-prob P     learned: ignore guesses less likely than P (default 0.6)\n"               \
    "  --csv            print CSV rows instead of a table; traffic_ratio is the bytes fetched\n"   \
    "                   (misses and prefetches) over the bytes requested, prefetch_precision\n"   \
    "                   the share of prefetched bytes a request used\n"                           \
    "  --plot FILE.svg  also draw miss ratio against cache size\n"

/* Most entries a --size or --policy list may hold; far more than anyone compares at once. */
#define TRACE_LIST_MAX 64

/* One --size entry: a byte count, or a share of the unique bytes. */
typedef struct size_spec {
    char text[32];
    int is_percent;
    double percent;
    uint64_t bytes;
} size_spec_t;

typedef struct replay_opts {
    const char *trace;
    trace_learned_opts_t learned;
    const char *plot;
    int csv;
    size_spec_t sizes[TRACE_LIST_MAX];
    size_t n_sizes;
    char *policies[TRACE_LIST_MAX];
    size_t n_policies;
    char *policy_buf; /* owns the strings policies[] points into */
} replay_opts_t;

/* Report a bad command line in one line on stderr; returns CMD_EXIT_USAGE. */
static int trace_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int trace_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("augur trace replay: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see augur trace replay --help)\n", stderr);
    va_end(ap);
    return CMD_EXIT_USAGE;
}

/* Parse one --size entry. Returns 0 or -1 (not a size). */
static int trace_parse_size_spec(const char *s, size_spec_t *out)
{
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(out->text)) return -1;
    memcpy(out->text, s, len + 1);
    if (s[len - 1] == '%') {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end != s + len - 1 || end == s || !(v > 0) || !isfinite(v)) return -1;
        out->is_percent = 1;
        out->percent = v;
        return 0;
    }
    out->is_percent = 0;
    if (aug_parse_size(s, &out->bytes) != 0 || out->bytes == 0) return -1;
    return 0;
}

/* Parse the comma-separated --size list. Returns 0 or CMD_EXIT_USAGE. */
static int trace_parse_sizes(const char *list, replay_opts_t *o)
{
    char buf[1024];
    if (strlen(list) >= sizeof(buf)) return trace_usage_error("--size: list too long");
    strcpy(buf, list);
    char *save = NULL;
    o->n_sizes = 0;
    for (char *s = buf;; s = NULL) {
        char *item = strtok_r(s, ",", &save);
        if (!item) break;
        if (o->n_sizes == TRACE_LIST_MAX)
            return trace_usage_error("--size: more than %d sizes", TRACE_LIST_MAX);
        if (trace_parse_size_spec(item, &o->sizes[o->n_sizes]) != 0)
            return trace_usage_error("--size: '%s' is not a size (bytes with an optional "
                                     "K/M/G/T suffix, or a percentage such as 5%%)",
                                     item);
        o->n_sizes++;
    }
    if (o->n_sizes == 0) return trace_usage_error("--size: no sizes given");
    return 0;
}

/* Parse the comma-separated --policy list. Returns 0 or CMD_EXIT_USAGE. */
static int trace_parse_policies(const char *list, replay_opts_t *o)
{
    free(o->policy_buf);
    o->policy_buf = strdup(list);
    if (!o->policy_buf) return trace_usage_error("out of memory");
    o->n_policies = 0;
    char *save = NULL;
    for (char *s = o->policy_buf;; s = NULL) {
        char *item = strtok_r(s, ",", &save);
        if (!item) break;
        if (o->n_policies == TRACE_LIST_MAX)
            return trace_usage_error("--policy: more than %d policies", TRACE_LIST_MAX);
        if (!trace_policy_known(item))
            return trace_usage_error("--policy: unknown policy '%s' (known: lru, fifo, s3fifo, "
                                     "sieve, arc, learned, belady)",
                                     item);
        o->policies[o->n_policies++] = item;
    }
    if (o->n_policies == 0) return trace_usage_error("--policy: no policies given");
    return 0;
}

/* The value of option name at argv[*i], as "--name VALUE" or "--name=VALUE"; NULL if argv[*i]
 * is not that option. *missing is set when the option has no value. */
static const char *trace_opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Parse `replay` options (argv[0] is "replay"). Returns 0, CMD_EXIT_USAGE, or -1 for --help. */
static int trace_parse_replay(int argc, char **argv, replay_opts_t *o)
{
    int have_size = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return -1;
        if (strcmp(argv[i], "--csv") == 0) {
            o->csv = 1;
        } else if (strcmp(argv[i], "--prefetch") == 0) {
            o->learned.prefetch = 1;
        } else if ((v = trace_opt_value(argc, argv, &i, "--model", &missing))) {
            if (strcmp(v, "markov") != 0 && strcmp(v, "lstm") != 0)
                return trace_usage_error("--model: unknown model '%s' (known: markov, lstm)", v);
            o->learned.model = v;
        } else if ((v = trace_opt_value(argc, argv, &i, "--min-prob", &missing))) {
            char *end;
            double pr = strtod(v, &end);
            if (end == v || *end || !(pr >= 0 && pr <= 1))
                return trace_usage_error("--min-prob: '%s' is not a probability (0..1)", v);
            o->learned.min_prob = (float)pr;
        } else if ((v = trace_opt_value(argc, argv, &i, "--trace", &missing))) {
            o->trace = v;
        } else if ((v = trace_opt_value(argc, argv, &i, "--plot", &missing))) {
            o->plot = v;
        } else if ((v = trace_opt_value(argc, argv, &i, "--size", &missing))) {
            int rc = trace_parse_sizes(v, o);
            if (rc) return rc;
            have_size = 1;
        } else if ((v = trace_opt_value(argc, argv, &i, "--policy", &missing))) {
            int rc = trace_parse_policies(v, o);
            if (rc) return rc;
        } else if (missing) {
            return trace_usage_error("%s needs a value", argv[i]);
        } else {
            return trace_usage_error("unknown argument '%s'", argv[i]);
        }
    }
    if (!o->trace || !*o->trace) return trace_usage_error("--trace FILE is required");
    if (!have_size) return trace_usage_error("--size is required");
    if (o->n_policies == 0) return trace_usage_error("--policy is required");
    if (o->plot && !*o->plot) return trace_usage_error("--plot needs a file name");
    return 0;
}

/* Write the SVG: one line per policy through its (cache size, miss ratio) points. */
static int trace_write_plot(const replay_opts_t *o, const trace_result_t *res,
                            const char *trace_name)
{
    size_t ns = o->n_sizes, np = o->n_policies;
    double *x = malloc(ns * np * sizeof(*x)), *y = malloc(ns * np * sizeof(*y));
    svgplot_series_t *series = calloc(np, sizeof(*series));
    int rc = CMD_EXIT_OK;
    if (!x || !y || !series) {
        fputs("augur trace replay: out of memory\n", stderr);
        rc = CMD_EXIT_FAIL;
        goto out;
    }
    for (size_t p = 0; p < np; p++) {
        double *px = x + p * ns, *py = y + p * ns;
        for (size_t s = 0; s < ns; s++) {
            /* insertion sort by cache size so the line runs left to right */
            const trace_result_t *r = &res[p * ns + s];
            double rx = (double)r->cache_bytes, ry = (double)r->misses / (double)r->requests;
            size_t j = s;
            while (j > 0 && px[j - 1] > rx) {
                px[j] = px[j - 1];
                py[j] = py[j - 1];
                j--;
            }
            px[j] = rx;
            py[j] = ry;
        }
        series[p] = (svgplot_series_t){.label = o->policies[p], .x = px, .y = py, .n = ns};
    }
    const char *base = strrchr(trace_name, '/');
    char title[300];
    snprintf(title, sizeof(title), "miss ratio vs cache size: %s", base ? base + 1 : trace_name);
    aug_err_t err;
    if (svgplot_write(o->plot, title, series, np, &err) != 0) {
        fprintf(stderr, "augur trace replay: %s\n", err.msg);
        rc = CMD_EXIT_FAIL;
    }
out:
    free(x);
    free(y);
    free(series);
    return rc;
}

/* Print one result row. */
static void trace_print_row(const replay_opts_t *o, const char *policy, const size_spec_t *spec,
                            const trace_result_t *r)
{
    double mr = (double)r->misses / (double)r->requests;
    double bmr = r->bytes ? (double)r->miss_bytes / (double)r->bytes : 0;
    double rate = r->seconds > 0 ? (double)r->requests / r->seconds : 0;
    double traffic =
        r->bytes ? (double)(r->miss_bytes + r->prefetch_bytes) / (double)r->bytes : 0;
    double precision =
        r->prefetch_bytes ? (double)r->prefetch_used_bytes / (double)r->prefetch_bytes : 0;
    double pred_ms_per_1k = (double)r->predictor_cpu_ns / 1e6 / ((double)r->requests / 1000.0);
    if (o->csv) {
        printf("%s,%llu,%llu,%.6f,%.6f,%.6f,%.6f,%llu,%.6f,%.0f,%.4f,%llu,%llu\n", policy,
               (unsigned long long)r->cache_bytes, (unsigned long long)r->requests, mr, bmr,
               traffic, precision, (unsigned long long)r->evictions, r->seconds, rate,
               pred_ms_per_1k, (unsigned long long)r->prefetch_bytes,
               (unsigned long long)(r->prefetch_bytes - r->prefetch_used_bytes));
    } else {
        char hs[32], cs[64];
        snprintf(cs, sizeof(cs), "%s%s%s%s", aug_format_size(r->cache_bytes, hs, sizeof(hs)),
                 spec->is_percent ? " (" : "", spec->is_percent ? spec->text : "",
                 spec->is_percent ? ")" : "");
        printf("%-8s %-22s %12llu %10.4f %15.4f %8.4f %9.4f %12llu %10.2fM %9.3f\n", policy, cs,
               (unsigned long long)r->requests, mr, bmr, traffic, precision,
               (unsigned long long)r->evictions, rate / 1e6, pred_ms_per_1k);
    }
    fflush(stdout);
}

/* Load the trace once and replay every (policy, size) over it. */
static int trace_run_replay(const replay_opts_t *o)
{
    trace_t *t;
    aug_err_t err;
    if (o->plot) {
        /* fail before a long replay, not after it; "a" leaves an existing file intact */
        FILE *f = fopen(o->plot, "a");
        if (!f) {
            fprintf(stderr, "augur trace replay: %s: cannot create: %s\n", o->plot,
                    strerror(errno));
            return CMD_EXIT_FAIL;
        }
        fclose(f);
    }
    if (trace_load(o->trace, &t, &err) != 0) {
        fprintf(stderr, "augur trace replay: %s\n", err.msg);
        return CMD_EXIT_FAIL;
    }
    uint64_t bytes[TRACE_LIST_MAX];
    for (size_t s = 0; s < o->n_sizes; s++) {
        const size_spec_t *sp = &o->sizes[s];
        bytes[s] = sp->is_percent ? trace_percent_bytes(t, sp->percent) : sp->bytes;
        if (bytes[s] == 0) {
            trace_free(t);
            return trace_usage_error("--size: %s of %llu unique bytes is 0 bytes", sp->text,
                                     (unsigned long long)t->unique_bytes);
        }
    }
    trace_result_t *res = calloc(o->n_policies * o->n_sizes, sizeof(*res));
    if (!res) {
        trace_free(t);
        fputs("augur trace replay: out of memory\n", stderr);
        return CMD_EXIT_FAIL;
    }
    if (o->csv) {
        puts("policy,cache_bytes,requests,miss_ratio,byte_miss_ratio,traffic_ratio,"
             "prefetch_precision,evictions,seconds,requests_per_second,predictor_ms_per_1k,"
             "prefetched_bytes,prefetch_wasted_bytes");
    } else {
        char hs[32];
        printf("trace %s: %llu requests, %llu keys, %s unique (%llu bytes)\n", o->trace,
               (unsigned long long)t->n, (unsigned long long)t->n_keys,
               aug_format_size(t->unique_bytes, hs, sizeof(hs)),
               (unsigned long long)t->unique_bytes);
        printf("%-8s %-22s %12s %10s %15s %8s %9s %12s %11s %9s\n", "policy", "cache_size",
               "requests", "miss_ratio", "byte_miss_ratio", "traffic", "precision", "evictions",
               "requests/s", "pred_ms/1k");
    }
    int rc = CMD_EXIT_OK;
    for (size_t p = 0; p < o->n_policies && rc == CMD_EXIT_OK; p++) {
        for (size_t s = 0; s < o->n_sizes; s++) {
            trace_result_t *r = &res[p * o->n_sizes + s];
            int learned = strcmp(o->policies[p], "learned") == 0;
            int rrc = learned ? trace_replay_learned(t, bytes[s], &o->learned, r, &err)
                              : trace_replay(t, o->policies[p], bytes[s], r, &err);
            if (rrc != 0) {
                fprintf(stderr, "augur trace replay: %s\n", err.msg);
                rc = CMD_EXIT_FAIL;
                break;
            }
            trace_print_row(o, o->policies[p], &o->sizes[s], r);
        }
    }
    if (rc == CMD_EXIT_OK && o->plot) rc = trace_write_plot(o, res, o->trace);
    free(res);
    trace_free(t);
    return rc;
}

/* Dispatch `augur trace SUBCOMMAND`; returns a CMD_EXIT_* status. */
int cmd_trace_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("augur trace: missing subcommand (known: replay); see augur trace --help\n", stderr);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(TRACE_USAGE, stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "replay") != 0) {
        fprintf(stderr, "augur trace: unknown subcommand '%s' (known: replay)\n", argv[1]);
        return CMD_EXIT_USAGE;
    }
    replay_opts_t o = {0};
    trace_learned_opts_default(&o.learned);
    int rc = trace_parse_replay(argc - 1, argv + 1, &o);
    if (rc < 0) {
        fputs(TRACE_USAGE, stdout);
        rc = CMD_EXIT_OK;
    } else if (rc == 0) {
        rc = trace_run_replay(&o);
    }
    free(o.policy_buf);
    return rc;
}
