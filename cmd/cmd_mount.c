/* cmd_mount.c - `augur mount` and `augur umount`: mount the buckets with FUSE in a process
 * that stays behind (returning once the mount is ready, as mount helpers do), and unmount
 * once the files written through it are uploaded. */
#include "backend/backend.h"
#include "cache/cache.h"
#include "cmd/cmd.h"
#include "common/common.h"
#include "fuse/augur_fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONF "/etc/augur/augur.conf"
/* `augur umount` waits this long for the mount's process to upload and exit. */
#define UMOUNT_WAIT_S 600

static const char mount_usage[] =
    "usage: augur mount [MOUNTPOINT] [-c CONF] [-o OPTIONS] [-f] [--log FILE]\n"
    "  MOUNTPOINT   an existing directory (default: [fuse] mountpoint of the configuration)\n"
    "  -c CONF      configuration file (default $AUGUR_CONF or " DEFAULT_CONF ")\n"
    "  -o OPTIONS   FUSE mount options, comma separated: allow_other, ro, debug,\n"
    "               attr_timeout=S, entry_timeout=S, ... (default_permissions is always on)\n"
    "  -f           stay in the foreground (Ctrl-C unmounts)\n"
    "  --log FILE   where the background process logs (default: nowhere)\n"
    "Buckets show as directories at the top of the mount; mkdir there creates a bucket.\n";

static const char umount_usage[] =
    "usage: augur umount [-l] MOUNTPOINT\n"
    "  -l           detach now even if files are open (they get errors from then on)\n"
    "Waits until the mount's process has uploaded every staged write and exited.\n";

static int usage_error(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "augur: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
    fputs(usage, stderr);
    return CMD_EXIT_USAGE;
}

/* ---- pid files: how `augur umount` finds the process serving a mountpoint ------------------ */

static void pidfile_path(const char *mountpoint, char *out, size_t len)
{
    char dir[PATH_MAX];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (geteuid() == 0)
        snprintf(dir, sizeof(dir), "/run/augur");
    else if (rt && rt[0] == '/')
        snprintf(dir, sizeof(dir), "%s/augur", rt);
    else
        snprintf(dir, sizeof(dir), "/tmp/augur-%u", (unsigned)geteuid());
    mkdir(dir, 0700);
    unsigned long long h = (unsigned long long)aug_hash64(mountpoint, strlen(mountpoint), 5);
    snprintf(out, len, "%s/mount-%016llx.pid", dir, h);
}

static void pidfile_write(const char *mountpoint)
{
    char path[PATH_MAX + 64];
    pidfile_path(mountpoint, path, sizeof(path));
    FILE *f = fopen(path, "w");
    if (!f) {
        aug_warn("mount: cannot write %s: %s (augur umount will not wait for uploads)", path,
                 strerror(errno));
        return;
    }
    fprintf(f, "%d\n%s\n", (int)getpid(), mountpoint);
    fclose(f);
}

/* The pid serving mountpoint, or -1. */
static pid_t pidfile_read(const char *mountpoint)
{
    char path[PATH_MAX + 64], line[PATH_MAX + 2];
    pidfile_path(mountpoint, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long pid = -1;
    if (fscanf(f, "%ld\n", &pid) != 1 || !fgets(line, sizeof(line), f)) pid = -1;
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (pid <= 0 || strcmp(line, mountpoint) != 0) return -1;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        unlink(path); /* left by a process that died */
        return -1;
    }
    return (pid_t)pid;
}

static void pidfile_remove(const char *mountpoint)
{
    char path[PATH_MAX + 64];
    pidfile_path(mountpoint, path, sizeof(path));
    FILE *f = fopen(path, "r");
    long pid = -1;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = -1;
        fclose(f);
    }
    if (pid == (long)getpid()) unlink(path);
}

/* ---- augur mount ------------------------------------------------------------------------------
 */

static void wake_main(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR1); /* picked up by sigwait in serve() */
}

/* Point stdin at /dev/null and stdout/stderr at log (or /dev/null). */
static void detach_stdio(const char *log)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (out < 0) out = null;
    if (null >= 0) dup2(null, STDIN_FILENO);
    if (out >= 0) {
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
    }
    if (out >= 0 && out != null) close(out);
    if (null >= 0) close(null);
}

/* Open the store, mount, report readiness on ready_fd (-1 in the foreground) and serve until
 * SIGTERM, SIGINT or an unmount from outside. Returns an exit status. */
static int serve(const aug_config_t *cfg, const char *mountpoint, const char *options, int ready_fd,
                 const char *log)
{
    /* every thread inherits this mask: the signals are taken by sigwait below */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    aug_err_t err;
    aug_err_clear(&err);
    backend_t *b = NULL;
    cache_t *c = NULL;
    augfs_t *fs = NULL;
    int rc = backend_open(cfg, &b, &err);
    if (rc == 0) rc = cache_open(cfg, b, &c, &err);
    if (rc == 0) rc = augfs_mount(c, cfg, mountpoint, options, &fs, &err);
    if (rc != 0) {
        fprintf(stderr, "augur: %s\n", err.msg[0] ? err.msg : aug_strerror(rc));
        cache_close(c);
        if (b) backend_close(b);
        return err.code == AUG_ECONFIG ? CMD_EXIT_USAGE : CMD_EXIT_FAIL;
    }
    const char *mnt = augfs_mountpoint(fs);
    pidfile_write(mnt);
    if (ready_fd >= 0) {
        if (chdir("/") != 0) aug_warn("mount: cannot chdir to /: %s", strerror(errno));
        detach_stdio(log);
        char ok = 0;
        if (write(ready_fd, &ok, 1) != 1) aug_warn("mount: cannot report readiness");
        close(ready_fd);
    }
    if (augfs_start(fs, wake_main, NULL, &err) != 0) {
        aug_error("mount: %s", err.msg);
    } else {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGHUP) {
                aug_info("mount: SIGHUP ignored (nothing to reload in augur mount)");
                continue;
            }
            aug_info("mount: %s, stopping", sig == SIGUSR1 ? "unmounted" : strsignal(sig));
            break;
        }
    }
    char keep[PATH_MAX];
    snprintf(keep, sizeof(keep), "%s", mnt);
    int unsaved = augfs_stop(fs);
    cache_close(c);
    backend_close(b);
    pidfile_remove(keep);
    if (unsaved) aug_error("mount: %d file(s) could not be uploaded (see above)", unsaved);
    return unsaved ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}

/* 1 if path is the mountpoint of an augur mount already (/proc/self/mounts). */
static int already_mounted(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) return 0;
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f) return 0;
    char line[PATH_MAX * 2 + 256];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char src[256], dir[PATH_MAX * 2], type[64];
        if (sscanf(line, "%255s %8191s %63s", src, dir, type) != 3) continue;
        if (strcmp(type, "fuse.augur") != 0) continue;
        /* the kernel writes spaces and the like as octal escapes (\040) */
        char un[PATH_MAX * 2];
        size_t j = 0;
        for (size_t i = 0; dir[i] && j + 1 < sizeof(un); i++) {
            if (dir[i] == '\\' && dir[i + 1] >= '0' && dir[i + 1] <= '3' && dir[i + 2] &&
                dir[i + 3]) {
                un[j++] =
                    (char)((dir[i + 1] - '0') * 64 + (dir[i + 2] - '0') * 8 + (dir[i + 3] - '0'));
                i += 3;
            } else {
                un[j++] = dir[i];
            }
        }
        un[j] = '\0';
        found = strcmp(un, real) == 0;
    }
    fclose(f);
    return found;
}

int cmd_mount_main(int argc, char **argv)
{
    const char *conf = getenv("AUGUR_CONF");
    const char *mountpoint = NULL, *log = NULL;
    int foreground = 0;
    char options[4096] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(mount_usage, stdout);
            return CMD_EXIT_OK;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--foreground") == 0) {
            foreground = 1;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--log") == 0) {
            if (i + 1 == argc) return usage_error(mount_usage, a, "needs a value");
            const char *v = argv[++i];
            if (a[1] == 'c')
                conf = v;
            else if (a[1] == '-')
                log = v;
            else {
                size_t n = strlen(options);
                if (n + strlen(v) + 2 > sizeof(options))
                    return usage_error(mount_usage, "-o: options too long", NULL);
                snprintf(options + n, sizeof(options) - n, "%s%s", n ? "," : "", v);
            }
        } else if (a[0] == '-' && a[1]) {
            return usage_error(mount_usage, "mount: unknown option", a);
        } else if (!mountpoint) {
            mountpoint = a;
        } else {
            return usage_error(mount_usage, "mount: unexpected argument", a);
        }
    }
    aug_config_t cfg;
    aug_err_t err;
    aug_config_defaults(&cfg);
    if (aug_config_load(&cfg, conf ? conf : DEFAULT_CONF, &err) != 0) {
        fprintf(stderr, "augur: %s\n", err.msg);
        return CMD_EXIT_USAGE;
    }
    if (!mountpoint && cfg.fuse.mountpoint[0]) mountpoint = cfg.fuse.mountpoint;
    if (!mountpoint) return usage_error(mount_usage, "mount: which directory?", NULL);
    struct stat st;
    if (stat(mountpoint, &st) != 0) {
        fprintf(stderr, "augur: cannot mount at %s: %s\n", mountpoint, strerror(errno));
        return CMD_EXIT_FAIL;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "augur: cannot mount at %s: not a directory\n", mountpoint);
        return CMD_EXIT_FAIL;
    }
    if (already_mounted(mountpoint)) {
        fprintf(stderr, "augur: %s is already an augur mount (augur umount it first)\n",
                mountpoint);
        return CMD_EXIT_FAIL;
    }
    if (cfg.general.log_level > aug_log_get_level()) aug_log_set_level(cfg.general.log_level);
    if (foreground) return serve(&cfg, mountpoint, options, -1, NULL);

    /* Fork before anything starts a thread (the store and the cache do). The parent returns
     * once the child reports the mount ready, or with the child's status if it fails. */
    int ready[2];
    if (pipe(ready) != 0) {
        fprintf(stderr, "augur: cannot start: %s\n", strerror(errno));
        return CMD_EXIT_FAIL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "augur: cannot start: %s\n", strerror(errno));
        return CMD_EXIT_FAIL;
    }
    if (pid > 0) {
        close(ready[1]);
        char status = 1;
        ssize_t n;
        while ((n = read(ready[0], &status, 1)) < 0 && errno == EINTR) {
        }
        close(ready[0]);
        if (n == 1 && status == 0) return CMD_EXIT_OK;
        int ws = 0;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        return WIFEXITED(ws) && WEXITSTATUS(ws) != 0 ? WEXITSTATUS(ws) : CMD_EXIT_FAIL;
    }
    close(ready[0]);
    setsid();
    exit(serve(&cfg, mountpoint, options, ready[1], log));
}

/* ---- augur umount -----------------------------------------------------------------------------
 */

/* The absolute form of path, resolved when possible (a dead mount cannot be resolved). */
static void absolute_path(const char *path, char *out, size_t len)
{
    char real[PATH_MAX];
    if (realpath(path, real)) {
        snprintf(out, len, "%s", real);
        return;
    }
    char cwd[PATH_MAX];
    int n0;
    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        n0 = snprintf(out, len, "%s", path);
    else
        n0 = snprintf(out, len, "%s/%s", cwd, path);
    if (n0 < 0) out[0] = '\0'; /* too long paths are cut: the unmount then fails clearly */
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
}

/* Unmount as an unprivileged user may: through fusermount3. Returns its exit status. */
static int run_fusermount(const char *mountpoint, int lazy)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (lazy)
            execlp("fusermount3", "fusermount3", "-u", "-z", "--", mountpoint, NULL);
        else
            execlp("fusermount3", "fusermount3", "-u", "--", mountpoint, NULL);
        fprintf(stderr, "augur: cannot run fusermount3: %s\n", strerror(errno));
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

int cmd_umount_main(int argc, char **argv)
{
    int lazy = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(umount_usage, stdout);
            return CMD_EXIT_OK;
        } else if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--lazy") == 0) {
            lazy = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(umount_usage, "umount: unknown option", argv[i]);
        } else if (!target) {
            target = argv[i];
        } else {
            return usage_error(umount_usage, "umount: unexpected argument", argv[i]);
        }
    }
    if (!target) return usage_error(umount_usage, "umount: which mountpoint?", NULL);
    char mnt[PATH_MAX];
    absolute_path(target, mnt, sizeof(mnt));
    pid_t pid = pidfile_read(mnt);
    /* Files still open keep a mount busy, as with any filesystem. Once it is unmounted every
     * file has been closed, so every staged write has been uploaded or is being retried by
     * the mount's process, which exits when done: wait for that. */
    if (geteuid() == 0) {
        if (umount2(mnt, lazy ? MNT_DETACH : 0) != 0) {
            int e = errno;
            if (e == EBUSY)
                fprintf(stderr,
                        "augur: cannot unmount %s: files are open on it (close them, "
                        "or use umount -l)\n",
                        mnt);
            else if (e == EINVAL)
                fprintf(stderr, "augur: %s is not mounted\n", mnt);
            else
                fprintf(stderr, "augur: cannot unmount %s: %s\n", mnt, strerror(e));
            return CMD_EXIT_FAIL;
        }
    } else if (run_fusermount(mnt, lazy) != 0) {
        return CMD_EXIT_FAIL; /* fusermount3 said why */
    }
    if (pid <= 0) return CMD_EXIT_OK;
    time_t start = time(NULL);
    int told = 0;
    while (kill(pid, 0) == 0 || errno == EPERM) {
        if (time(NULL) - start > UMOUNT_WAIT_S) {
            fprintf(stderr,
                    "augur: %s is unmounted, but process %d is still uploading staged "
                    "writes\n",
                    mnt, (int)pid);
            return CMD_EXIT_FAIL;
        }
        if (!told && time(NULL) - start >= 3) {
            fprintf(stderr, "augur: waiting for process %d to upload staged writes...\n", (int)pid);
            told = 1;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return CMD_EXIT_OK;
}
