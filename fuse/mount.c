/* mount.c - a mount's life: libfuse options, the kernel mount, the serving threads, the upload
 * workers for closed files and retries of failed uploads, and the stop that uploads staged
 * writes before unmounting. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Serving threads kept idle, and the most that serve at once. */
#define LOOP_IDLE_THREADS 10
#define LOOP_MAX_THREADS 64
/* While stopping, the serving thread is signalled this often until it notices. */
#define WAKE_INTERVAL_MS 50

/* libfuse reports why a mount failed through its log: the last line is kept for the error. */
static pthread_mutex_t fuse_msg_mu = PTHREAD_MUTEX_INITIALIZER;
static char fuse_msg[256];
/* Once a mount serves, libfuse's errors are news for the operator, not a reason to report. */
static atomic_int fuse_serving;

static void on_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
    char line[sizeof(fuse_msg)];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    if (level <= FUSE_LOG_ERR) {
        pthread_mutex_lock(&fuse_msg_mu);
        memcpy(fuse_msg, line, n + 1);
        pthread_mutex_unlock(&fuse_msg_mu);
    }
    if (level <= FUSE_LOG_ERR && atomic_load(&fuse_serving))
        aug_warn("libfuse: %s", line);
    else
        aug_debug("libfuse: %s", line);
}

static void last_fuse_msg(char *out, size_t len)
{
    pthread_mutex_lock(&fuse_msg_mu);
    snprintf(out, len, "%s", fuse_msg[0] ? fuse_msg : "see the messages above");
    fuse_msg[0] = '\0';
    pthread_mutex_unlock(&fuse_msg_mu);
}

/* mkdir -p with mode for the directories it creates. */
static int make_dirs(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

static void free_fs(augfs_t *fs)
{
    kcache_free(fs);
    times_free(fs);
    pthread_mutex_destroy(&fs->times_mu);
    pthread_mutex_destroy(&fs->nodes_mu);
    pthread_mutex_destroy(&fs->state_mu);
    pthread_cond_destroy(&fs->state_cv);
    pthread_mutex_destroy(&fs->up_mu);
    pthread_cond_destroy(&fs->up_cv);
    free(fs);
}

int augfs_mount(cache_t *c, const aug_config_t *cfg, const char *mountpoint, const char *options,
                augfs_t **out, aug_err_t *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(mountpoint, real))
        return aug_err_set(err, AUG_EINVAL, "mountpoint %s: %s", mountpoint, strerror(errno));
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return aug_err_set(err, AUG_EINVAL, "mountpoint %s is not a directory", mountpoint);
    augfs_t *fs = calloc(1, sizeof(*fs));
    if (!fs) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    pthread_mutex_init(&fs->nodes_mu, NULL);
    pthread_mutex_init(&fs->state_mu, NULL);
    pthread_cond_init(&fs->state_cv, NULL);
    pthread_mutex_init(&fs->up_mu, NULL);
    pthread_cond_init(&fs->up_cv, NULL);
    pthread_mutex_init(&fs->times_mu, NULL);
    if (kcache_init(fs) != 0) {
        free_fs(fs);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    fs->c = c;
    fs->b = cache_backend(c);
    snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", real);
    fs->uid = getuid();
    fs->gid = getgid();
    fs->start_ns = aug_now_ns();
    fs->k = cfg->backend.data_shards;
    fs->m = cfg->backend.parity_shards;
    if (cfg->fuse.staging_dir[0])
        snprintf(fs->stage_dir, sizeof(fs->stage_dir), "%s", cfg->fuse.staging_dir);
    else if ((size_t)snprintf(fs->stage_dir, sizeof(fs->stage_dir), "%s/fuse-staging",
                              cfg->general.state_dir) >= sizeof(fs->stage_dir)) {
        free_fs(fs);
        return aug_err_set(err, AUG_ECONFIG, "[general] state_dir is too long");
    }
    if (make_dirs(fs->stage_dir, 0700) != 0 || access(fs->stage_dir, W_OK | X_OK) != 0) {
        int e = errno;
        free_fs(fs);
        return aug_err_set(err, AUG_EIO,
                           "cannot use the staging directory %s: %s (set [fuse] staging_dir "
                           "or [general] state_dir to a writable directory)",
                           fs->stage_dir, strerror(e));
    }

    /* what a crashed mount left staged is in the store before anyone looks */
    kcache_own_thread(1);
    int recovered = stage_recover(fs);
    kcache_own_thread(0);
    if (recovered > 0)
        aug_warn("mount: %d file(s) staged before a crash uploaded from %s", recovered,
                 fs->stage_dir);

    /* ours first, the caller's after: libfuse lets a later option win */
    char opts[4096];
    size_t n = (size_t)snprintf(opts, sizeof(opts),
                                "fsname=augur,subtype=augur,default_permissions,"
                                "attr_timeout=%.3f,entry_timeout=%.3f,negative_timeout=0%s",
                                (double)cfg->fuse.attr_timeout_ms / 1000.0,
                                (double)cfg->fuse.entry_timeout_ms / 1000.0,
                                cfg->fuse.allow_other ? ",allow_other" : "");
    if (options && *options)
        n += (size_t)snprintf(opts + n, sizeof(opts) > n ? sizeof(opts) - n : 0, ",%s", options);
    if (n >= sizeof(opts)) {
        free_fs(fs);
        return aug_err_set(err, AUG_EINVAL, "mount options are too long");
    }
    fuse_set_log_func(on_fuse_log);
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    if (fuse_opt_add_arg(&args, "augur") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
        fuse_opt_add_arg(&args, opts) != 0) {
        fuse_opt_free_args(&args);
        free_fs(fs);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    fs->fuse = fuse_new(&args, &augfs_ops, sizeof(augfs_ops), fs);
    fuse_opt_free_args(&args);
    char why[256];
    if (!fs->fuse) {
        last_fuse_msg(why, sizeof(why));
        free_fs(fs);
        return aug_err_set(err, AUG_EINVAL, "bad mount options '%s': %s", options ? options : "",
                           why);
    }
    if (fuse_mount(fs->fuse, fs->mountpoint) != 0) {
        last_fuse_msg(why, sizeof(why));
        fuse_destroy(fs->fuse);
        free_fs(fs);
        return aug_err_set(err, AUG_EIO, "cannot mount at %s: %s", real, why);
    }
    fs->mounted = 1;
    aug_info("mount: buckets mounted at %s (staging in %s)", fs->mountpoint, fs->stage_dir);
    *out = fs;
    return 0;
}

const char *augfs_mountpoint(const augfs_t *fs)
{
    return fs->mountpoint;
}

static void on_wake(int sig)
{
    (void)sig; /* only interrupts the serving thread's wait */
}

static void *serve_main(void *arg)
{
    augfs_t *fs = arg;
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    int rc = -1;
    if (lc) {
        fuse_loop_cfg_set_clone_fd(lc, 0);
        fuse_loop_cfg_set_idle_threads(lc, LOOP_IDLE_THREADS);
        fuse_loop_cfg_set_max_threads(lc, LOOP_MAX_THREADS);
        rc = fuse_loop_mt(fs->fuse, lc);
        fuse_loop_cfg_destroy(lc);
    }
    pthread_mutex_lock(&fs->state_mu);
    fs->loop_done = 1;
    int stopping = fs->stopping;
    pthread_cond_broadcast(&fs->state_cv);
    pthread_mutex_unlock(&fs->state_mu);
    if (!stopping) {
        if (rc != 0)
            aug_warn("mount: serving %s ended with an error", fs->mountpoint);
        else
            aug_info("mount: %s was unmounted", fs->mountpoint);
        if (fs->on_end) fs->on_end(fs->on_end_arg);
    }
    return NULL;
}

static int flush_all(augfs_t *fs, aug_err_t *err);

static void *retry_main(void *arg)
{
    augfs_t *fs = arg;
    kcache_own_thread(1); /* its uploads are the mount's own changes */
    pthread_mutex_lock(&fs->state_mu);
    while (!fs->stopping) {
        struct timespec until = aug_deadline_in(RETRY_INTERVAL_MS * 1000000LL);
        pthread_cond_timedwait(&fs->state_cv, &fs->state_mu, &until);
        if (fs->stopping) break;
        pthread_mutex_unlock(&fs->state_mu);
        fnode_retry_pending(fs);
        pthread_mutex_lock(&fs->state_mu);
    }
    pthread_mutex_unlock(&fs->state_mu);
    return NULL;
}

/* An upload worker: closed files reach the store here, not in close(). */
static void *upload_main(void *arg)
{
    augfs_t *fs = arg;
    kcache_own_thread(1); /* its uploads are the mount's own changes */
    fnode_upload_queued(fs);
    return NULL;
}

/* Stop the upload workers; what they left queued is uploaded by the caller's flush. */
static void stop_uploads(augfs_t *fs)
{
    pthread_mutex_lock(&fs->up_mu);
    fs->up_stopping = 1;
    pthread_cond_broadcast(&fs->up_cv);
    pthread_mutex_unlock(&fs->up_mu);
    for (int i = 0; i < fs->up_started; i++)
        pthread_join(fs->up_threads[i], NULL);
    fs->up_started = 0;
    fnode_drain_queue(fs);
}

int augfs_start(augfs_t *fs, void (*on_end)(void *arg), void *arg, aug_err_t *err)
{
    fs->on_end = on_end;
    fs->on_end_arg = arg;
    struct sigaction old;
    if (sigaction(SIGUSR2, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_wake; /* no SA_RESTART: the wait must return */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR2, &sa, NULL);
    }
    int rc = pthread_create(&fs->retry_thread, NULL, retry_main, fs);
    if (rc != 0) return aug_err_set(err, AUG_ENOMEM, "cannot start a thread: %s", strerror(rc));
    fs->retry_started = 1;
    for (; fs->up_started < UPLOAD_WORKERS; fs->up_started++) {
        rc = pthread_create(&fs->up_threads[fs->up_started], NULL, upload_main, fs);
        if (rc != 0) return aug_err_set(err, AUG_ENOMEM, "cannot start a thread: %s", strerror(rc));
    }
    /* the serving thread must be able to receive SIGUSR2 whatever the caller blocks */
    sigset_t wake, saved;
    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &wake, &saved);
    atomic_store(&fuse_serving, 1);
    rc = pthread_create(&fs->loop_thread, NULL, serve_main, fs);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) return aug_err_set(err, AUG_ENOMEM, "cannot start a thread: %s", strerror(rc));
    fs->loop_started = 1;
    /* from now on the kernel can be told: writes over S3 show in the mount at once */
    kcache_listen(fs, 1);
    fs->listening = 1;
    return 0;
}

int augfs_flush(augfs_t *fs, aug_err_t *err)
{
    kcache_own_thread(1);
    int rc = flush_all(fs, err);
    kcache_own_thread(0);
    return rc;
}

/* augfs_flush(), on a thread marked as the mount's own. */
static int flush_all(augfs_t *fs, aug_err_t *err)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, NULL, NULL, &arr);
    if (count < 0) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int failed = 0;
    for (ssize_t i = 0; i < count; i++) {
        fnode_t *n = arr[i];
        pthread_mutex_lock(&n->mu);
        int rc = fnode_flush(fs, n);
        int had_pending = rc == 0 && fnode_clear_pending(fs, n);
        if (rc != 0) failed++;
        pthread_mutex_unlock(&n->mu);
        if (rc == 0 && had_pending) fnode_put(fs, n);
        fnode_put(fs, n);
    }
    free(arr);
    if (failed)
        return aug_err_set(err, AUG_EIO,
                           "%d staged file(s) could not be uploaded; they are "
                           "kept and retried",
                           failed);
    return 0;
}

/* Stop serving: ask the loop to end and wake its thread until it has. */
static void stop_serving(augfs_t *fs)
{
    pthread_mutex_lock(&fs->state_mu);
    fs->stopping = 1;
    pthread_cond_broadcast(&fs->state_cv);
    pthread_mutex_unlock(&fs->state_mu);
    if (!fs->loop_started) return;
    fuse_exit(fs->fuse);
    pthread_mutex_lock(&fs->state_mu);
    while (!fs->loop_done) {
        pthread_kill(fs->loop_thread, SIGUSR2);
        struct timespec until = aug_deadline_in(WAKE_INTERVAL_MS * 1000000LL);
        pthread_cond_timedwait(&fs->state_cv, &fs->state_mu, &until);
    }
    pthread_mutex_unlock(&fs->state_mu);
    pthread_join(fs->loop_thread, NULL);
    fs->loop_started = 0;
}

/* Count the open files whose changes are still not in the store. */
static int count_unsaved(augfs_t *fs)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, NULL, NULL, &arr);
    if (count < 0) return 0;
    int unsaved = 0;
    for (ssize_t i = 0; i < count; i++) {
        pthread_mutex_lock(&arr[i]->mu);
        if ((arr[i]->dirty_data || arr[i]->dirty_attrs) && !arr[i]->unlinked) unsaved++;
        pthread_mutex_unlock(&arr[i]->mu);
        fnode_put(fs, arr[i]);
    }
    free(arr);
    return unsaved;
}

/* Drop the references pending uploads hold, freeing their nodes (which log what is kept). */
static void drop_pending(augfs_t *fs)
{
    fnode_t **arr;
    ssize_t count = fnode_collect(fs, NULL, NULL, &arr);
    if (count < 0) return;
    for (ssize_t i = 0; i < count; i++) {
        pthread_mutex_lock(&arr[i]->mu);
        int pending = fnode_clear_pending(fs, arr[i]);
        pthread_mutex_unlock(&arr[i]->mu);
        if (pending) fnode_put(fs, arr[i]);
        fnode_put(fs, arr[i]);
    }
    free(arr);
}

int augfs_stop(augfs_t *fs)
{
    if (!fs) return 0;
    /* no invalidation reaches a mount being stopped */
    if (fs->listening) kcache_listen(fs, 0);
    fs->listening = 0;
    /* upload while still serving: a writer blocked on us is not left hanging meanwhile */
    if (fs->loop_started) augfs_flush(fs, NULL);
    stop_serving(fs);
    if (fs->retry_started) {
        pthread_join(fs->retry_thread, NULL);
        fs->retry_started = 0;
    }
    stop_uploads(fs);
    /* last chance for what changed meanwhile or failed before; what still fails is named in
     * the log when its node is freed below */
    augfs_flush(fs, NULL);
    int unsaved = count_unsaved(fs);
    if (fs->mounted) fuse_unmount(fs->fuse);
    fs->mounted = 0;
    augfs_release_all(fs);
    drop_pending(fs);
    fuse_destroy(fs->fuse);
    aug_info("mount: %s stopped", fs->mountpoint);
    free_fs(fs);
    return unsaved;
}
