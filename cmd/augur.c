/* augur.c - the `augur` command line: buckets, objects, listing and heal over the backend. */
#include "backend/backend.h"
#include "cmd/cmd.h"
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONF "/etc/augur/augur.conf"

static const char usage_text[] =
    "usage: augur [-c CONF] [-v] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  mb BUCKET                      create a bucket\n"
    "  rb BUCKET                      remove an empty bucket\n"
    "  ls [BUCKET[/PREFIX]] [-r]      list buckets, or keys (-r: recursively)\n"
    "  put FILE|- BUCKET/KEY          store a file (or standard input) as a key\n"
    "  get BUCKET/KEY FILE|-          fetch a key into a file (or standard output)\n"
    "  stat BUCKET/KEY                show a key's attributes and layout\n"
    "  rm BUCKET/KEY                  delete a key\n"
    "  heal [--verbose]               restore full redundancy of every object\n"
    "  status [--json]                ask the running augurd for nodes, cache and prefetch\n"
    "  mount MOUNTPOINT [-o OPTS] [-f] mount the buckets as a filesystem\n"
    "  umount MOUNTPOINT              flush staged writes and unmount\n"
    "  trace replay ...               replay a cache trace (augur trace replay --help)\n"
    "\n"
    "options:\n"
    "  -c CONF      configuration file (default $AUGUR_CONF or " DEFAULT_CONF ")\n"
    "  -v           log progress to stderr (-vv for debug)\n"
    "  --version    print the version\n";

/* Print one line to stderr and return the exit status for err's code. */
static int fail(const aug_err_t *err)
{
    fprintf(stderr, "augur: %s\n", err->msg[0] ? err->msg : aug_strerror(err->code));
    return err->code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "augur: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see augur --help)\n");
    return CMD_EXIT_USAGE;
}

/* Split "BUCKET/KEY" (key may be empty when allow_empty_key) into its parts. */
static int split_path(const char *arg, char *bucket, size_t blen, const char **key,
                      int allow_empty_key)
{
    const char *slash = strchr(arg, '/');
    size_t n = slash ? (size_t)(slash - arg) : strlen(arg);
    if (n == 0 || n >= blen) return -1;
    memcpy(bucket, arg, n);
    bucket[n] = '\0';
    *key = slash ? slash + 1 : "";
    if (!allow_empty_key && **key == '\0') return -1;
    return 0;
}

static void format_time(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- verbs ----------------------------------------------------------------------------- */

static int cmd_mb(backend_t *b, int argc, char **argv)
{
    aug_err_t err;
    if (argc != 2) return usage_error("mb takes one bucket name%s", "");
    if (backend_bucket_create(b, argv[1], &err) != 0) return fail(&err);
    return CMD_EXIT_OK;
}

static int cmd_rb(backend_t *b, int argc, char **argv)
{
    aug_err_t err;
    if (argc != 2) return usage_error("rb takes one bucket name%s", "");
    if (backend_bucket_delete(b, argv[1], &err) != 0) return fail(&err);
    return CMD_EXIT_OK;
}

static int list_buckets(backend_t *b)
{
    aug_err_t err;
    backend_bucket_info_t *buckets;
    size_t n;
    if (backend_bucket_list(b, &buckets, &n, &err) != 0) return fail(&err);
    for (size_t i = 0; i < n; i++) {
        char when[32];
        format_time(buckets[i].created_ns, when, sizeof(when));
        printf("%s  %s\n", when, buckets[i].name);
    }
    free(buckets);
    return CMD_EXIT_OK;
}

static int cmd_ls(backend_t *b, int argc, char **argv)
{
    int recursive = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--recursive") == 0) recursive = 1;
        else if (!target) target = argv[i];
        else return usage_error("ls: unexpected argument '%s'", argv[i]);
    }
    if (!target) return list_buckets(b);
    char bucket[BACKEND_BUCKET_MAX + 2];
    const char *prefix;
    if (split_path(target, bucket, sizeof(bucket), &prefix, 1) != 0)
        return usage_error("ls: '%s' is not BUCKET[/PREFIX]", target);
    backend_list_opts_t opts = {.prefix = prefix, .delimiter = recursive ? NULL : "/"};
    char *marker = NULL;
    int status = CMD_EXIT_OK;
    for (;;) {
        aug_err_t err;
        backend_list_result_t *res;
        opts.start_after = marker;
        if (backend_list(b, bucket, &opts, &res, &err) != 0) {
            status = fail(&err);
            break;
        }
        /* objects and prefixes arrive as two sorted lists: print them merged */
        size_t i = 0, j = 0;
        while (i < res->n_objects || j < res->n_prefixes) {
            int take_prefix = j < res->n_prefixes &&
                              (i == res->n_objects ||
                               strcmp(res->prefixes[j], res->objects[i]->key) < 0);
            if (take_prefix) {
                printf("%19s  %12s  %s\n", "", "PRE", res->prefixes[j++]);
            } else {
                const backend_manifest_t *m = res->objects[i++];
                char when[32];
                format_time(m->mtime_ns, when, sizeof(when));
                printf("%s  %12llu  %s\n", when, (unsigned long long)m->size, m->key);
            }
        }
        free(marker);
        marker = res->truncated && res->next_marker ? strdup(res->next_marker) : NULL;
        backend_list_free(res);
        if (!marker) break;
    }
    free(marker);
    return status;
}

static ssize_t read_fd(void *arg, void *buf, size_t len)
{
    int fd = *(int *)arg;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) return n;
        if (errno != EINTR) return AUG_EIO;
    }
}

static int cmd_put(backend_t *b, int argc, char **argv)
{
    if (argc != 3) return usage_error("put takes FILE|- and BUCKET/KEY%s", "");
    char bucket[BACKEND_BUCKET_MAX + 2];
    const char *key;
    if (split_path(argv[2], bucket, sizeof(bucket), &key, 0) != 0)
        return usage_error("put: '%s' is not BUCKET/KEY", argv[2]);
    int fd = strcmp(argv[1], "-") == 0 ? STDIN_FILENO : open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "augur: cannot open %s: %s\n", argv[1], strerror(errno));
        return CMD_EXIT_FAIL;
    }
    backend_put_attrs_t attrs = {0};
    struct stat st;
    if (fd != STDIN_FILENO && fstat(fd, &st) == 0) {
        attrs.mode = st.st_mode & 07777;
        attrs.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    }
    attrs.uid = getuid();
    attrs.gid = getgid();
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_put(b, bucket, key, &attrs, read_fd, &fd, NULL, &err);
    if (fd != STDIN_FILENO) close(fd);
    if (rc != 0) {
        if (rc == AUG_EIO && strstr(err.msg, "abandoned"))
            snprintf(err.msg, sizeof(err.msg), "cannot read %s", argv[1]);
        return fail(&err);
    }
    return CMD_EXIT_OK;
}

static int write_fd(void *arg, const void *buf, size_t len)
{
    int fd = *(int *)arg;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AUG_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cmd_get(backend_t *b, int argc, char **argv)
{
    if (argc != 3) return usage_error("get takes BUCKET/KEY and FILE|-%s", "");
    char bucket[BACKEND_BUCKET_MAX + 2];
    const char *key;
    if (split_path(argv[1], bucket, sizeof(bucket), &key, 0) != 0)
        return usage_error("get: '%s' is not BUCKET/KEY", argv[1]);
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m;
    if (backend_head(b, bucket, key, &m, &err) != 0) return fail(&err);
    int to_stdout = strcmp(argv[2], "-") == 0;
    char tmp[PATH_MAX];
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
        /* a temporary file beside the target, renamed only once every byte is verified */
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.augur-XXXXXX", argv[2]) >= sizeof(tmp)) {
            backend_manifest_free(m);
            return usage_error("get: path too long: %s", argv[2]);
        }
        fd = mkstemp(tmp);
        if (fd < 0) {
            fprintf(stderr, "augur: cannot write %s: %s\n", argv[2], strerror(errno));
            backend_manifest_free(m);
            return CMD_EXIT_FAIL;
        }
        /* mkstemp makes the file 0600; give it the mode a new file gets under the umask */
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    int rc = backend_read(b, m, 0, m->size, write_fd, &fd, &err);
    backend_manifest_free(m);
    if (!to_stdout) {
        if (rc == 0 && (fsync(fd) != 0 || close(fd) != 0)) {
            rc = aug_err_set(&err, AUG_EIO, "cannot write %s: %s", argv[2], strerror(errno));
        } else if (rc != 0) {
            close(fd);
        }
        if (rc == 0 && rename(tmp, argv[2]) != 0)
            rc = aug_err_set(&err, AUG_EIO, "cannot write %s: %s", argv[2], strerror(errno));
        if (rc != 0) unlink(tmp);
    }
    return rc == 0 ? CMD_EXIT_OK : fail(&err);
}

static int cmd_stat(backend_t *b, int argc, char **argv)
{
    if (argc != 2) return usage_error("stat takes BUCKET/KEY%s", "");
    char bucket[BACKEND_BUCKET_MAX + 2];
    const char *key;
    if (split_path(argv[1], bucket, sizeof(bucket), &key, 0) != 0)
        return usage_error("stat: '%s' is not BUCKET/KEY", argv[1]);
    aug_err_t err;
    backend_manifest_t *m;
    if (backend_head(b, bucket, key, &m, &err) != 0) return fail(&err);
    char when[32], vid[33];
    format_time(m->mtime_ns, when, sizeof(when));
    backend_version_hex(m, vid);
    printf("bucket:        %s\nkey:           %s\nsize:          %llu\netag:          \"%s\"\n"
           "modified:      %s UTC\nversion:       %s\nmode:          %04o\nowner:         "
           "%u:%u\n",
           m->bucket, m->key, (unsigned long long)m->size, m->etag, when, vid, m->mode, m->uid,
           m->gid);
    if (m->content_type) printf("content-type:  %s\n", m->content_type);
    for (size_t i = 0; i < m->n_meta; i++)
        printf("meta:          %s: %s\n", m->meta[i].name, m->meta[i].value);
    backend_manifest_free(m);
    return CMD_EXIT_OK;
}

static int cmd_rm(backend_t *b, int argc, char **argv)
{
    if (argc != 2) return usage_error("rm takes BUCKET/KEY%s", "");
    char bucket[BACKEND_BUCKET_MAX + 2];
    const char *key;
    if (split_path(argv[1], bucket, sizeof(bucket), &key, 0) != 0)
        return usage_error("rm: '%s' is not BUCKET/KEY", argv[1]);
    aug_err_t err;
    if (backend_delete(b, bucket, key, &err) != 0) return fail(&err);
    return CMD_EXIT_OK;
}

static void print_line(void *arg, const char *line)
{
    (void)arg;
    printf("%s\n", line);
    fflush(stdout);
}

static int cmd_heal(backend_t *b, int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) verbose = 1;
        else return usage_error("heal: unexpected argument '%s'", argv[i]);
    }
    if (verbose && aug_log_get_level() < AUG_LOG_INFO) aug_log_set_level(AUG_LOG_INFO);
    backend_heal_stats_t st;
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_heal(b, print_line, NULL, &st, &err);
    printf("checked %llu objects: repaired %llu manifest copies and %llu shards; "
           "removed %llu unreferenced chunks; %llu unrecoverable\n",
           (unsigned long long)st.objects_checked, (unsigned long long)st.manifests_repaired,
           (unsigned long long)st.shards_repaired, (unsigned long long)st.garbage_removed,
           (unsigned long long)st.objects_unrecoverable);
    fflush(stdout);
    return rc == 0 ? CMD_EXIT_OK : fail(&err);
}

typedef struct verb {
    const char *name;
    int (*run)(backend_t *b, int argc, char **argv);
} verb_t;

static const verb_t verbs[] = {
    {"mb", cmd_mb},   {"rb", cmd_rb},     {"ls", cmd_ls}, {"put", cmd_put},
    {"get", cmd_get}, {"stat", cmd_stat}, {"rm", cmd_rm}, {"heal", cmd_heal},
};

int main(int argc, char **argv)
{
    const char *conf = getenv("AUGUR_CONF");
    int verbosity = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            if (i + 1 == argc) return usage_error("-c needs a configuration file%s", "");
            conf = argv[++i];
        }
        else if (strcmp(argv[i], "-v") == 0) verbosity++;
        else if (strcmp(argv[i], "-vv") == 0) verbosity += 2;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return CMD_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("augur %s\n", AUGUR_VERSION);
            return CMD_EXIT_OK;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (i == argc) {
        fputs(usage_text, stderr);
        return CMD_EXIT_USAGE;
    }
    aug_log_set_level(verbosity >= 2 ? AUG_LOG_DEBUG : verbosity ? AUG_LOG_INFO : AUG_LOG_ERROR);
    if (strcmp(argv[i], "trace") == 0) return cmd_trace_main(argc - i, argv + i);
    if (strcmp(argv[i], "mount") == 0) {
        if (conf) setenv("AUGUR_CONF", conf, 1); /* augur -c CONF mount ... */
        return cmd_mount_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "umount") == 0) return cmd_umount_main(argc - i, argv + i);
    const verb_t *verb = NULL;
    for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
        if (strcmp(verbs[v].name, argv[i]) == 0) verb = &verbs[v];
    if (!verb && strcmp(argv[i], "status") != 0)
        return usage_error("unknown command '%s'", argv[i]);

    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    if (aug_config_load(&cfg, conf ? conf : DEFAULT_CONF, &err) != 0) return fail(&err);
    if (strcmp(argv[i], "status") == 0) return cmd_status_main(&cfg, argc - i, argv + i);
    backend_t *b;
    if (backend_open(&cfg, &b, &err) != 0) return fail(&err);
    int status = verb->run(b, argc - i, argv + i);
    backend_close(b);
    return status;
}
