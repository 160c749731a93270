/* augurd.c - the augur daemon: the S3 gateway and the FUSE mount over one cache over the
 * backend, and a scrubber that walks every object on a schedule, repairs what is damaged and
 * collects unreferenced data. */
#include "backend/backend.h"
#include "cache/cache.h"
#include "fuse/augur_fuse.h"
#include "gateway/gateway.h"
#include "cmd/cmd.h"
#include "common/common.h"

#include <errno.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONF "/etc/augur/augur.conf"

static volatile sig_atomic_t stop_requested;
static admin_heal_stats_t heal_stats; /* for /metrics */
static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP) reload_requested = 1;
    else stop_requested = 1;
}

/* SIGHUP: read the configuration again and apply what can change without a restart (log
 * level, cache tier sizes and policies, prefetch budgets). A broken file changes nothing. */
static void reload(const char *path, cache_t *cache)
{
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    if (aug_config_load(&cfg, path, &err) != 0) {
        aug_error("reload refused, keeping the running configuration: %s", err.msg);
        return;
    }
    aug_log_set_level(cfg.general.log_level);
    if (cache_reconfigure(cache, &cfg, &err) != 0) {
        aug_error("reload: %s", err.msg);
        return;
    }
    aug_warn("configuration %s reloaded", path);
}

/* The mount ended from outside (fusermount -u): stop the daemon the way SIGTERM does. */
static void wake_on_unmount(void *arg)
{
    (void)arg;
    stop_requested = 1;
}

/* The admin endpoint asks the mount for its staged writes through this. */
static void mount_staged(void *arg, uint64_t *files, uint64_t *bytes)
{
    augfs_staged(arg, files, bytes);
}

static void log_repair(void *arg, const char *line)
{
    (void)arg;
    aug_info("scrub: %s", line);
}

/* Sleep up to ms milliseconds, waking early when a stop is requested. */
static void sleep_interruptible(uint64_t ms)
{
    while (ms > 0 && !stop_requested) {
        uint64_t step = ms < 200 ? ms : 200;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void scrub_once(backend_t *b)
{
    backend_heal_stats_t st;
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_heal(b, log_repair, NULL, &st, &err);
    atomic_fetch_add(&heal_stats.runs, 1);
    atomic_fetch_add(&heal_stats.shards_repaired, st.shards_repaired);
    atomic_fetch_add(&heal_stats.manifests_repaired, st.manifests_repaired);
    aug_info("scrub: checked %llu objects, repaired %llu manifest copies and %llu shards, "
             "removed %llu unreferenced chunks",
             (unsigned long long)st.objects_checked, (unsigned long long)st.manifests_repaired,
             (unsigned long long)st.shards_repaired, (unsigned long long)st.garbage_removed);
    if (rc != 0) aug_warn("scrub: %s", err.msg);
}

/* Abort multipart uploads abandoned for longer than expiry_ms in every bucket. */
static void expire_uploads(backend_t *b, uint64_t expiry_ms)
{
    backend_bucket_info_t *buckets;
    size_t n;
    if (expiry_ms == 0 || backend_bucket_list(b, &buckets, &n, NULL) != 0) return;
    int64_t cutoff = aug_now_ns() - (int64_t)expiry_ms * 1000000LL;
    for (size_t i = 0; i < n; i++) {
        int expired = 0;
        backend_upload_expire(b, buckets[i].name, cutoff, &expired, NULL);
    }
    free(buckets);
}

static int usage(FILE *to, int status)
{
    fprintf(to, "usage: augurd [-c CONF] [--version]\n"
                "  -c CONF      configuration file (default $AUGUR_CONF or " DEFAULT_CONF ")\n"
                "  --check      check the configuration and exit\n"
                "  --version    print the version\n");
    return status;
}

int main(int argc, char **argv)
{
    const char *conf = getenv("AUGUR_CONF");
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) conf = argv[++i];
        else if (strcmp(argv[i], "--check") == 0) check_only = 1;
        else if (strcmp(argv[i], "--version") == 0) {
            printf("augurd %s\n", AUGUR_VERSION);
            return CMD_EXIT_OK;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return usage(stdout, CMD_EXIT_OK);
        } else {
            fprintf(stderr, "augurd: unknown argument '%s'\n", argv[i]);
            return usage(stderr, CMD_EXIT_USAGE);
        }
    }
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    if (aug_config_load(&cfg, conf ? conf : DEFAULT_CONF, &err) != 0) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        return CMD_EXIT_USAGE;
    }
    aug_log_set_level(cfg.general.log_level);
    backend_t *b;
    if (backend_open(&cfg, &b, &err) != 0) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    if (check_only) {
        backend_close(b);
        printf("augurd: configuration %s is valid\n", cfg.path);
        return CMD_EXIT_OK;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error return, not a signal */
    cache_t *cache = NULL;
    if (cache_open(&cfg, b, &cache, &err) != 0) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        backend_close(b);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    gateway_t *gw = NULL;
    if (cfg.gateway.listen[0] && gateway_start(&cfg, cache, &gw, &err) != 0) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        cache_close(cache);
        backend_close(b);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    admin_t *admin = NULL;
    if (cfg.admin.listen[0] && admin_start(&cfg, cache, gw, &heal_stats, &admin, &err) != 0) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        gateway_stop(gw);
        cache_close(cache);
        backend_close(b);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    augfs_t *mnt = NULL;
    if (cfg.fuse.mountpoint[0] &&
        (augfs_mount(cache, &cfg, cfg.fuse.mountpoint, NULL, &mnt, &err) != 0 ||
         augfs_start(mnt, wake_on_unmount, NULL, &err) != 0)) {
        fprintf(stderr, "augurd: %s\n", err.msg);
        if (mnt) augfs_stop(mnt);
        admin_stop(admin);
        gateway_stop(gw);
        cache_close(cache);
        backend_close(b);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    if (mnt) admin_set_staged(admin, mount_staged, mnt);
    /* systemd (Type=notify) learns that the gateway listens and the mount is in place */
    sd_notifyf(0, "READY=1\nSTATUS=serving %d nodes", backend_node_count(b));
    aug_log(AUG_LOG_INFO, "augurd %s started with %d nodes (%d+%d)", AUGUR_VERSION,
            backend_node_count(b), cfg.backend.data_shards, cfg.backend.parity_shards);
    fprintf(stderr,
            "augurd %s: %d nodes, S3 on %s, mount on %s, scrubbing every %llu s; Ctrl-C stops\n",
            AUGUR_VERSION, backend_node_count(b), gw ? cfg.gateway.listen : "(off)",
            mnt ? cfg.fuse.mountpoint : "(off)",
            (unsigned long long)(cfg.backend.scrub_interval_ms / 1000));
    /* the first scrub waits one interval: a restart should not cost a full walk */
    int64_t last_scrub = aug_mono_ns(), last_expiry = 0;
    const int64_t hour_ns = 3600LL * 1000000000LL;
    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            sd_notify(0, "RELOADING=1");
            reload(cfg.path, cache);
            sd_notify(0, "READY=1");
        }
        int64_t now = aug_mono_ns();
        if (gw && (last_expiry == 0 || now - last_expiry >= hour_ns)) {
            expire_uploads(b, cfg.gateway.multipart_expiry_ms);
            last_expiry = now;
        }
        if (cfg.backend.scrub_interval_ms > 0 &&
            now - last_scrub >= (int64_t)cfg.backend.scrub_interval_ms * 1000000LL) {
            scrub_once(b);
            last_scrub = aug_mono_ns();
        }
        sleep_interruptible(1000);
    }
    sd_notify(0, "STOPPING=1");
    aug_log(AUG_LOG_INFO, "augurd stopping");
    admin_stop(admin);
    gateway_stop(gw);
    /* staged writes are uploaded before the cache and backend go away */
    if (mnt && augfs_stop(mnt) > 0)
        aug_error("some staged files could not be uploaded; they are kept in the staging "
                  "directory");
    cache_close(cache);
    backend_close(b);
    return CMD_EXIT_OK;
}
