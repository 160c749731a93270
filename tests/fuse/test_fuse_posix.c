/* test_fuse_posix.c - the mount behaves as a local filesystem where an object store allows,
 * and says so with the right errno where it does not. A real FUSE mount over a scratch 6-node
 * cluster is served by a child process running the library; this process makes the system
 * calls, and checks the store side through a backend of its own. Skipped (exit 0) when
 * /dev/fuse cannot be used. */
#include "testlib.h"

#include "cache/cache.h"
#include "fuse/augur_fuse.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BUCKET "posix"
#define INLINE_MAX 1024
#define STRIPE (64 * 1024)

static test_cluster_t cl;
static char mnt[1024];  /* the mountpoint */
static char root[1100]; /* mnt/BUCKET */
static pid_t server = -1;
static backend_t *store; /* this process's own view of the store (the "S3 side") */

/* ---- the server ------------------------------------------------------------------------------ */

static void wake(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR1);
}

/* The child: serve the mount until SIGTERM (or the parent dies). Exit 0 when every staged
 * write was uploaded. */
static void serve(int ready_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    aug_err_t err;
    backend_t *b = NULL;
    cache_t *c = NULL;
    augfs_t *fs = NULL;
    int rc = backend_open(&cl.cfg, &b, &err);
    if (rc == 0) rc = cache_open(&cl.cfg, b, &c, &err);
    if (rc == 0) rc = augfs_mount(c, &cl.cfg, mnt, NULL, &fs, &err);
    if (rc == 0) rc = augfs_start(fs, wake, NULL, &err);
    if (rc != 0) {
        fprintf(stderr, "server: %s\n", err.msg);
        exit(2);
    }
    char ok = 0;
    if (write(ready_fd, &ok, 1) != 1) exit(2);
    close(ready_fd);
    int sig;
    sigwait(&set, &sig);
    int unsaved = augfs_stop(fs);
    cache_close(c);
    backend_close(b);
    exit(unsaved ? 1 : 0);
}

static int start_server(void)
{
    /* fork with one thread only: the store's threads are stopped first, started again after */
    if (store) backend_close(store);
    store = NULL;
    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(NULL);
    server = fork();
    if (server < 0) return -1;
    if (server == 0) {
        close(p[0]);
        serve(p[1]);
    }
    close(p[1]);
    char ok = 1;
    ssize_t n = read(p[0], &ok, 1);
    close(p[0]);
    aug_err_t err;
    if (backend_open(&cl.cfg, &store, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return -1;
    }
    return n == 1 && ok == 0 ? 0 : -1;
}

/* Stop the server; returns its exit status (0: clean, everything uploaded). */
static int stop_server(void)
{
    if (server <= 0) return -1;
    kill(server, SIGTERM);
    int ws = 0;
    waitpid(server, &ws, 0);
    server = -1;
    umount2(mnt, MNT_DETACH); /* in case it died without unmounting */
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void cleanup_at_exit(void)
{
    if (server > 0) stop_server();
}

/* ---- helpers --------------------------------------------------------------------------------- */

static void path_of(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", root, rel);
}

/* Write len bytes of data to rel (created or truncated); 0 or -1. */
static int write_file(const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    ssize_t w = write(fd, data, len);
    int rc = close(fd);
    return w == (ssize_t)len && rc == 0 ? 0 : -1;
}

/* Read up to cap bytes of rel into buf; returns the count or -1. */
static ssize_t read_file(const char *rel, void *buf, size_t cap)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), rel);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, (char *)buf + got, cap - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

/* errno of a call that must fail, or 0 if it succeeded. */
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

/* The store's size of key, or -1 when it is missing. */
static long long store_size(const char *key)
{
    backend_manifest_t *m;
    if (backend_head(store, BUCKET, key, &m, NULL) != 0) return -1;
    long long s = (long long)m->size;
    backend_manifest_free(m);
    return s;
}

/* The size of key in the store once it is want, waiting up to 10 s: close() hands the upload
 * to the mount's background workers, so the store has a closed file soon, not at once. Returns
 * the last size seen (-1: missing). */
static long long store_size_soon(const char *key, long long want)
{
    long long s = store_size(key);
    for (int i = 0; i < 1000 && s != want; i++) {
        usleep(10 * 1000);
        s = store_size(key);
    }
    return s;
}

/* ---- files ------------------------------------------------------------------------------------
 */

static void test_written_file_reads_back(void)
{
    uint8_t data[200000], back[200001];
    test_fill(data, sizeof(data), 1, 0);
    CU_ASSERT_EQUAL(write_file("rw.bin", data, sizeof(data)), 0);
    CU_ASSERT_EQUAL(read_file("rw.bin", back, sizeof(back)), (ssize_t)sizeof(data));
    CU_ASSERT_EQUAL(memcmp(data, back, sizeof(data)), 0);
}

static void test_closed_file_reaches_the_store(void)
{
    CU_ASSERT_EQUAL(write_file("closed.txt", "12345", 5), 0);
    CU_ASSERT_EQUAL(store_size_soon("closed.txt", 5), 5);
}

static void test_fsynced_file_is_in_the_store_when_fsync_returns(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "fsynced.txt");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "123456", 6), 6);
    CU_ASSERT_EQUAL(fsync(fd), 0);
    CU_ASSERT_EQUAL(store_size("fsynced.txt"), 6); /* still open: fsync put it there */
    CU_ASSERT_EQUAL(write(fd, "78", 2), 2);
    CU_ASSERT_EQUAL(fdatasync(fd), 0);
    CU_ASSERT_EQUAL(store_size("fsynced.txt"), 8);
    CU_ASSERT_EQUAL(close(fd), 0);
}

/* 1 when the directory dir lists name. */
static int lists(const char *dir, const char *name)
{
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, name) == 0) found++;
    closedir(dp);
    return found == 1;
}

/* Exit status of another process opening path read-only (0: it could). */
static int open_elsewhere(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 2;
}

static void test_created_file_exists_at_once(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "at-once.txt");
    int fd = open(p, O_RDONLY | O_CREAT, 0600);
    CU_ASSERT_TRUE(fd >= 0);
    /* for this mount at once, in the store once closed */
    CU_ASSERT_EQUAL(store_size("at-once.txt"), -1);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(st.st_size, 0);
    CU_ASSERT_TRUE(lists(root, "at-once.txt"));
    CU_ASSERT_EQUAL(open_elsewhere(p), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)), EEXIST);
    close(fd);
    CU_ASSERT_EQUAL(store_size("at-once.txt"), 0);
    CU_ASSERT_TRUE(lists(root, "at-once.txt"));
}

static void test_created_file_written_before_close_is_listed_once(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "listed-once.txt");
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "abc", 3), 3);
    CU_ASSERT_TRUE(lists(root, "listed-once.txt"));
    CU_ASSERT_EQUAL(fsync(fd), 0); /* now in the store too: still listed once */
    CU_ASSERT_EQUAL(store_size("listed-once.txt"), 3);
    CU_ASSERT_TRUE(lists(root, "listed-once.txt"));
    CU_ASSERT_EQUAL(close(fd), 0);
}

static void test_created_file_removed_before_close_never_reaches_the_store(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "short-lived.txt");
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "abc", 3), 3);
    CU_ASSERT_EQUAL(unlink(p), 0);
    struct stat st;
    CU_ASSERT_EQUAL(ERRNO_OF(stat(p, &st)), ENOENT);
    CU_ASSERT_FALSE(lists(root, "short-lived.txt"));
    CU_ASSERT_EQUAL(close(fd), 0);
    CU_ASSERT_EQUAL(store_size("short-lived.txt"), -1);
    /* the name is free again */
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CU_ASSERT_TRUE(fd >= 0);
    if (fd >= 0) close(fd);
    CU_ASSERT_EQUAL(store_size_soon("short-lived.txt", 0), 0);
}

static void test_created_file_blocks_mkdir_and_rmdir(void)
{
    char d[PATH_MAX], f[PATH_MAX];
    path_of(d, sizeof(d), "busy-dir");
    path_of(f, sizeof(f), "busy-dir/new");
    CU_ASSERT_EQUAL(mkdir(d, 0755), 0);
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(f, 0755)), EEXIST);
    CU_ASSERT_EQUAL(ERRNO_OF(rmdir(d)), ENOTEMPTY);
    CU_ASSERT_EQUAL(close(fd), 0);
}

static void test_new_file_belongs_to_the_caller(void)
{
    CU_ASSERT_EQUAL(write_file("mine.txt", "x", 1), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "mine.txt");
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_uid, geteuid());
    CU_ASSERT_EQUAL(st.st_gid, getegid());
    CU_ASSERT_TRUE(S_ISREG(st.st_mode));
}

static void test_open_missing_file_is_enoent(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "no-such-file");
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_RDONLY)), ENOENT);
    struct stat st;
    CU_ASSERT_EQUAL(ERRNO_OF(stat(p, &st)), ENOENT);
    path_of(p, sizeof(p), "no-such-dir/file");
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT, 0644)), ENOENT);
}

static void test_o_excl_on_existing_file_is_eexist(void)
{
    CU_ASSERT_EQUAL(write_file("excl.txt", "a", 1), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "excl.txt");
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)), EEXIST);
    path_of(p, sizeof(p), "excl-new.txt");
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CU_ASSERT_TRUE(fd >= 0);
    if (fd >= 0) close(fd);
}

static void test_o_trunc_empties_the_file(void)
{
    CU_ASSERT_EQUAL(write_file("trunc.txt", "0123456789", 10), 0);
    CU_ASSERT_EQUAL(write_file("trunc.txt", "ab", 2), 0);
    char buf[32];
    CU_ASSERT_EQUAL(read_file("trunc.txt", buf, sizeof(buf)), 2);
    CU_ASSERT_EQUAL(store_size_soon("trunc.txt", 2), 2);
}

static void test_o_append_writes_at_the_end(void)
{
    CU_ASSERT_EQUAL(write_file("append.txt", "abc", 3), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "append.txt");
    int fd = open(p, O_WRONLY | O_APPEND);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
    CU_ASSERT_EQUAL(write(fd, "def", 3), 3);
    close(fd);
    char buf[16] = {0};
    CU_ASSERT_EQUAL(read_file("append.txt", buf, sizeof(buf)), 6);
    CU_ASSERT_STRING_EQUAL(buf, "abcdef");
}

/* Random writes, holes and truncations into a file spanning several staging blocks, checked
 * against the same operations on a buffer. */
static void test_random_writes_match_a_model(void)
{
    const size_t max = 3u << 20;
    uint8_t *model = calloc(1, max), *back = malloc(max + 1), *chunk = malloc(300000);
    CU_ASSERT_TRUE_FATAL(model && back && chunk);
    test_fill(model, 1500000, 7, 0);
    CU_ASSERT_EQUAL(write_file("random.bin", model, 1500000), 0);
    size_t size = 1500000;
    char p[PATH_MAX];
    path_of(p, sizeof(p), "random.bin");
    int fd = open(p, O_RDWR);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    uint64_t seed = 99;
    for (int i = 0; i < 40; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t off = (size_t)(seed >> 33) % (max - 300000);
        size_t len = 1 + (size_t)(seed >> 13) % 299999;
        if (i % 10 == 9) {
            size_t ns = off % max;
            CU_ASSERT_EQUAL(ftruncate(fd, (off_t)ns), 0);
            if (ns > size) memset(model + size, 0, ns - size);
            size = ns;
            struct stat st;
            CU_ASSERT_EQUAL(fstat(fd, &st), 0);
            CU_ASSERT_EQUAL((size_t)st.st_size, size); /* seen at once */
            continue;
        }
        test_fill(chunk, len, seed, 0);
        CU_ASSERT_EQUAL(pwrite(fd, chunk, len, (off_t)off), (ssize_t)len);
        if (off > size) memset(model + size, 0, off - size);
        memcpy(model + off, chunk, len);
        if (off + len > size) size = off + len;
    }
    CU_ASSERT_EQUAL(pread(fd, back, max, 0), (ssize_t)size);
    CU_ASSERT_EQUAL(memcmp(model, back, size), 0);
    CU_ASSERT_EQUAL(close(fd), 0);
    CU_ASSERT_EQUAL(read_file("random.bin", back, max + 1), (ssize_t)size);
    CU_ASSERT_EQUAL(memcmp(model, back, size), 0);
    CU_ASSERT_EQUAL(store_size_soon("random.bin", (long long)size), (long long)size);
    free(model);
    free(back);
    free(chunk);
}

static void test_truncate_is_seen_at_once(void)
{
    CU_ASSERT_EQUAL(write_file("t2.txt", "0123456789", 10), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "t2.txt");
    CU_ASSERT_EQUAL(truncate(p, 4), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 4);
    CU_ASSERT_EQUAL(store_size_soon("t2.txt", 4), 4);
    CU_ASSERT_EQUAL(truncate(p, 20), 0);
    char buf[32];
    CU_ASSERT_EQUAL(read_file("t2.txt", buf, sizeof(buf)), 20);
    CU_ASSERT_EQUAL(memcmp(buf, "0123\0\0\0\0", 8), 0);
}

static void test_unlinked_open_file_stays_readable(void)
{
    CU_ASSERT_EQUAL(write_file("gone.txt", "still here", 10), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "gone.txt");
    int fd = open(p, O_RDONLY);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(unlink(p), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(access(p, F_OK)), ENOENT);
    char buf[16] = {0};
    CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), 10);
    CU_ASSERT_STRING_EQUAL(buf, "still here");
    close(fd);
    CU_ASSERT_EQUAL(store_size("gone.txt"), -1);
}

static void test_open_reader_keeps_its_version(void)
{
    CU_ASSERT_EQUAL(write_file("ver.txt", "first", 5), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "ver.txt");
    int fd = open(p, O_RDONLY | O_DIRECT); /* past the page cache: what the mount serves */
    if (fd < 0) fd = open(p, O_RDONLY);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    /* replaced over S3 while open */
    test_source_t src = {.seed = 3, .len = 7000, .chunk = 7000};
    CU_ASSERT_EQUAL(backend_put(store, BUCKET, "ver.txt", NULL, test_source_read, &src, NULL, NULL),
                    0);
    char buf[8192] __attribute__((aligned(4096)));
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(memcmp(buf, "first", 5), 0);
    close(fd);
}

static void test_backend_read_failure_is_eio(void)
{
    /* written over S3, never read through the mount: no cached block can answer */
    test_source_t src = {.seed = 11, .len = 300000, .chunk = 65536};
    CU_ASSERT_EQUAL_FATAL(
        backend_put(store, BUCKET, "fragile.bin", NULL, test_source_read, &src, NULL, NULL), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "fragile.bin");
    int fd = open(p, O_RDONLY);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    /* three of six nodes gone with k=4: the bytes cannot be rebuilt */
    for (int i = 0; i < 3; i++)
        test_node_down(&cl, i);
    char buf[4096];
    CU_ASSERT_EQUAL(ERRNO_OF(pread(fd, buf, sizeof(buf), 0)), EIO);
    for (int i = 0; i < 3; i++)
        test_node_up(&cl, i);
    close(fd);
}

static void test_mmap_reads_and_writes(void)
{
    CU_ASSERT_EQUAL(write_file("mmap.bin", "hello mmap world", 16), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "mmap.bin");
    int fd = open(p, O_RDWR);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    char *m = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CU_ASSERT_TRUE_FATAL(m != MAP_FAILED);
    CU_ASSERT_EQUAL(memcmp(m, "hello", 5), 0);
    memcpy(m, "HELLO", 5);
    CU_ASSERT_EQUAL(msync(m, 16, MS_SYNC), 0);
    munmap(m, 16);
    CU_ASSERT_EQUAL(close(fd), 0);
    char buf[32] = {0};
    CU_ASSERT_EQUAL(read_file("mmap.bin", buf, sizeof(buf)), 16);
    CU_ASSERT_STRING_EQUAL(buf, "HELLO mmap world");
}

/* ---- names -------------------------------------------------------------------------------------
 */

static void test_name_over_255_bytes_is_enametoolong(void)
{
    char name[300], p[PATH_MAX];
    memset(name, 'n', 256);
    name[256] = '\0';
    path_of(p, sizeof(p), name);
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT, 0644)), ENAMETOOLONG);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(p, 0755)), ENAMETOOLONG);
    struct stat st;
    CU_ASSERT_EQUAL(ERRNO_OF(stat(p, &st)), ENAMETOOLONG);
    name[255] = '\0'; /* exactly 255 is fine */
    path_of(p, sizeof(p), name);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    CU_ASSERT_TRUE(fd >= 0);
    if (fd >= 0) close(fd);
}

static void test_key_over_1024_bytes_is_enametoolong(void)
{
    /* four directories of 250 bytes: keys below them are already 1004 bytes long */
    char rel[PATH_MAX] = "", comp[251], p[PATH_MAX];
    memset(comp, 'd', 250);
    comp[250] = '\0';
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(rel);
        snprintf(rel + n, sizeof(rel) - n, "%s%s", i ? "/" : "", comp);
        path_of(p, sizeof(p), rel);
        CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
    }
    char name[40];
    memset(name, 'f', 30);
    name[30] = '\0';
    snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%s", name);
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT, 0644)), ENAMETOOLONG);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(p, 0755)), ENAMETOOLONG);
    CU_ASSERT_EQUAL(ERRNO_OF(symlink("x", p)), ENAMETOOLONG);
}

static void test_hard_link_is_eperm(void)
{
    CU_ASSERT_EQUAL(write_file("linked.txt", "x", 1), 0);
    char a[PATH_MAX], b[PATH_MAX];
    path_of(a, sizeof(a), "linked.txt");
    path_of(b, sizeof(b), "linked2.txt");
    CU_ASSERT_EQUAL(ERRNO_OF(link(a, b)), EPERM);
}

static void test_files_only_live_inside_buckets(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/top-level-file", mnt);
    CU_ASSERT_EQUAL(ERRNO_OF(open(p, O_WRONLY | O_CREAT, 0644)), EPERM);
    snprintf(p, sizeof(p), "%s/Not_A_Bucket", mnt);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(p, 0755)), EINVAL);
}

/* ---- directories -------------------------------------------------------------------------------
 */

static void test_mkdir_at_top_creates_a_bucket(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/newbucket", mnt);
    CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
    CU_ASSERT_EQUAL(backend_bucket_stat(store, "newbucket", NULL, NULL), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(p, 0755)), EEXIST);
    CU_ASSERT_EQUAL(rmdir(p), 0);
    CU_ASSERT_EQUAL(backend_bucket_stat(store, "newbucket", NULL, NULL), AUG_ENOENT);
}

static void test_empty_directory_is_kept_as_a_marker(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "empty-dir");
    CU_ASSERT_EQUAL(mkdir(p, 0750), 0);
    CU_ASSERT_EQUAL(store_size("empty-dir/"), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0750);
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(p, 0755)), EEXIST);
    CU_ASSERT_EQUAL(rmdir(p), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(stat(p, &st)), ENOENT);
}

static void test_rmdir_of_non_empty_directory_is_enotempty(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "full-dir");
    CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
    CU_ASSERT_EQUAL(write_file("full-dir/f", "x", 1), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(rmdir(p)), ENOTEMPTY);
    snprintf(p, sizeof(p), "%s/%s", mnt, BUCKET);
    CU_ASSERT_EQUAL(ERRNO_OF(rmdir(p)), ENOTEMPTY); /* a bucket with keys */
}

static void test_emptied_directory_stays(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "implied");
    /* a directory made over S3, implied by its only key */
    test_source_t src = {.seed = 1, .len = 3, .chunk = 3};
    CU_ASSERT_EQUAL(
        backend_put(store, BUCKET, "implied/only", NULL, test_source_read, &src, NULL, NULL), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
    path_of(p, sizeof(p), "implied/only");
    CU_ASSERT_EQUAL(unlink(p), 0);
    path_of(p, sizeof(p), "implied");
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(rmdir(p), 0);
}

static void test_wrong_kind_gives_eisdir_and_enotdir(void)
{
    char d[PATH_MAX], f[PATH_MAX], x[PATH_MAX];
    path_of(d, sizeof(d), "kind-dir");
    path_of(f, sizeof(f), "kind-file");
    CU_ASSERT_EQUAL(mkdir(d, 0755), 0);
    CU_ASSERT_EQUAL(write_file("kind-file", "x", 1), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(unlink(d)), EISDIR);
    CU_ASSERT_EQUAL(ERRNO_OF(rmdir(f)), ENOTDIR);
    CU_ASSERT_EQUAL(ERRNO_OF(open(d, O_WRONLY)), EISDIR);
    path_of(x, sizeof(x), "kind-file/sub");
    CU_ASSERT_EQUAL(ERRNO_OF(mkdir(x, 0755)), ENOTDIR);
    CU_ASSERT_EQUAL(ERRNO_OF(rename(f, d)), EISDIR);
    CU_ASSERT_EQUAL(ERRNO_OF(rename(d, f)), ENOTDIR);
}

static int count_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

#define MANY_ENTRIES 1050 /* more than a listing page (1000) */
#define MANY_THREADS 8

static void *put_many(void *arg)
{
    intptr_t t = (intptr_t)arg;
    intptr_t failed = 0;
    for (int i = (int)t; i < MANY_ENTRIES; i += MANY_THREADS) {
        char key[64];
        snprintf(key, sizeof(key), "many/f%05d", i);
        test_source_t src = {.seed = (uint64_t)i, .len = 1, .chunk = 1};
        if (backend_put(store, BUCKET, key, NULL, test_source_read, &src, NULL, NULL) != 0)
            failed++;
    }
    return (void *)failed;
}

static void test_readdir_pages_through_many_entries(void)
{
    /* put over S3, from several threads, to keep the test quick */
    const int n = MANY_ENTRIES;
    pthread_t th[MANY_THREADS];
    for (intptr_t t = 0; t < MANY_THREADS; t++)
        pthread_create(&th[t], NULL, put_many, (void *)t);
    intptr_t failed = 0;
    for (int t = 0; t < MANY_THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        failed += (intptr_t)r;
    }
    CU_ASSERT_EQUAL_FATAL(failed, 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "many");
    CU_ASSERT_EQUAL(count_entries(p), n);
    /* every name once, in order, sizes from the listing */
    DIR *dp = opendir(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
    int next = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        char want[16];
        snprintf(want, sizeof(want), "f%05d", next++);
        if (strcmp(want, e->d_name) != 0) bad++;
    }
    closedir(dp);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(next, n);
}

/* ---- rename -----------------------------------------------------------------------------------
 */

static void test_rename_moves_the_file_without_copying(void)
{
    CU_ASSERT_EQUAL(write_file("mv-src.bin", "0123456789abcdef", 16), 0);
    CU_ASSERT_EQUAL(store_size_soon("mv-src.bin", 16), 16);
    backend_manifest_t *before = NULL, *after = NULL;
    CU_ASSERT_EQUAL(backend_head(store, BUCKET, "mv-src.bin", &before, NULL), 0);
    char a[PATH_MAX], b[PATH_MAX];
    path_of(a, sizeof(a), "mv-src.bin");
    path_of(b, sizeof(b), "mv-dst.bin");
    CU_ASSERT_EQUAL(rename(a, b), 0);
    CU_ASSERT_EQUAL(store_size("mv-src.bin"), -1);
    CU_ASSERT_EQUAL(backend_head(store, BUCKET, "mv-dst.bin", &after, NULL), 0);
    if (before && after) CU_ASSERT_STRING_EQUAL(before->etag, after->etag);
    backend_manifest_free(before);
    backend_manifest_free(after);
    char buf[32] = {0};
    CU_ASSERT_EQUAL(read_file("mv-dst.bin", buf, sizeof(buf)), 16);
}

static void test_rename_noreplace_on_existing_is_eexist(void)
{
    CU_ASSERT_EQUAL(write_file("nr-a", "a", 1), 0);
    CU_ASSERT_EQUAL(write_file("nr-b", "b", 1), 0);
    char a[PATH_MAX], b[PATH_MAX];
    path_of(a, sizeof(a), "nr-a");
    path_of(b, sizeof(b), "nr-b");
    CU_ASSERT_EQUAL(ERRNO_OF(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE)), EEXIST);
    CU_ASSERT_EQUAL(rename(a, b), 0); /* plain rename replaces */
    char buf[4] = {0};
    CU_ASSERT_EQUAL(read_file("nr-b", buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(buf[0], 'a');
}

static void test_rename_of_directory_moves_every_key(void)
{
    char a[PATH_MAX], b[PATH_MAX];
    path_of(a, sizeof(a), "tree");
    CU_ASSERT_EQUAL(mkdir(a, 0755), 0);
    path_of(a, sizeof(a), "tree/sub");
    CU_ASSERT_EQUAL(mkdir(a, 0755), 0);
    path_of(a, sizeof(a), "tree/sub/empty");
    CU_ASSERT_EQUAL(mkdir(a, 0755), 0);
    CU_ASSERT_EQUAL(write_file("tree/x", "x", 1), 0);
    CU_ASSERT_EQUAL(write_file("tree/sub/y", "yy", 2), 0);
    path_of(a, sizeof(a), "tree");
    path_of(b, sizeof(b), "tree2");
    CU_ASSERT_EQUAL(rename(a, b), 0);
    CU_ASSERT_EQUAL(store_size("tree2/x"), 1);
    CU_ASSERT_EQUAL(store_size("tree2/sub/y"), 2);
    CU_ASSERT_EQUAL(store_size("tree2/sub/empty/"), 0);
    CU_ASSERT_EQUAL(store_size("tree/x"), -1);
    struct stat st;
    CU_ASSERT_EQUAL(ERRNO_OF(stat(a, &st)), ENOENT);
    path_of(b, sizeof(b), "tree2/sub/empty");
    CU_ASSERT_EQUAL(stat(b, &st), 0);
    /* onto a directory that is not empty */
    path_of(a, sizeof(a), "tree3");
    CU_ASSERT_EQUAL(mkdir(a, 0755), 0);
    path_of(b, sizeof(b), "tree2");
    CU_ASSERT_EQUAL(ERRNO_OF(rename(a, b)), ENOTEMPTY);
    CU_ASSERT_EQUAL(rename(b, a), 0); /* onto an empty one */
    CU_ASSERT_EQUAL(store_size("tree3/sub/y"), 2);
}

static void test_rename_of_open_file_keeps_its_writes(void)
{
    char a[PATH_MAX], b[PATH_MAX];
    path_of(a, sizeof(a), "open-mv");
    path_of(b, sizeof(b), "open-mv2");
    int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "before", 6), 6);
    CU_ASSERT_EQUAL(rename(a, b), 0);
    CU_ASSERT_EQUAL(write(fd, " after", 6), 6);
    CU_ASSERT_EQUAL(close(fd), 0);
    char buf[32] = {0};
    CU_ASSERT_EQUAL(read_file("open-mv2", buf, sizeof(buf)), 12);
    CU_ASSERT_STRING_EQUAL(buf, "before after");
    CU_ASSERT_EQUAL(store_size("open-mv"), -1);
}

/* ---- attributes --------------------------------------------------------------------------------
 */

static void test_chmod_chown_utimens_are_kept(void)
{
    CU_ASSERT_EQUAL(write_file("attrs.txt", "abc", 3), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "attrs.txt");
    CU_ASSERT_EQUAL(chmod(p, 0640), 0);
    CU_ASSERT_EQUAL(chown(p, 1234, 5678), 0);
    struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT},
                             {.tv_sec = 1000000000, .tv_nsec = 5}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
    CU_ASSERT_EQUAL(st.st_uid, 1234);
    CU_ASSERT_EQUAL(st.st_gid, 5678);
    CU_ASSERT_EQUAL(st.st_mtim.tv_sec, 1000000000);
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL(store_size_soon("attrs.txt", 3), 3); /* with every change made before */
    CU_ASSERT_EQUAL_FATAL(backend_head(store, BUCKET, "attrs.txt", &m, NULL), 0);
    CU_ASSERT_EQUAL(m->mode & 07777, 0640);
    CU_ASSERT_EQUAL(m->uid, 1234);
    CU_ASSERT_EQUAL(m->mtime_ns, 1000000000LL * 1000000000LL + 5);
    CU_ASSERT_EQUAL(m->size, 3);
    backend_manifest_free(m);
    /* UTIME_OMIT for both changes nothing; UTIME_NOW moves mtime to now */
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, omit, 0), 0);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mtim.tv_sec, 1000000000);
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, now, 0), 0);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_TRUE(st.st_mtim.tv_sec > 1000000000);
}

static int64_t ns_of(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* mtime and ctime of path in ns; 0, or -1 when stat fails. */
static int dir_times(const char *path, int64_t *m, int64_t *c)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *m = ns_of(st.st_mtim);
    *c = ns_of(st.st_ctim);
    return 0;
}

static void test_directory_times_follow_its_entries(void)
{
    char d[PATH_MAX], d2[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    path_of(d, sizeof(d), "dt");
    path_of(d2, sizeof(d2), "dt2");
    path_of(a, sizeof(a), "dt/a");
    path_of(b, sizeof(b), "dt/b");
    CU_ASSERT_EQUAL_FATAL(mkdir(d, 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(d2, 0755), 0);
    int64_t m0, c0, m, c, m2, c2;
    CU_ASSERT_EQUAL_FATAL(dir_times(d, &m0, &c0), 0);
    CU_ASSERT_EQUAL(write_file("dt/a", "x", 1), 0); /* created */
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0 && c > c0);
    m0 = m, c0 = c;
    CU_ASSERT_EQUAL(rename(a, b), 0); /* renamed within */
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0 && c > c0);
    m0 = m, c0 = c;
    CU_ASSERT_EQUAL(dir_times(d2, &m2, &c2), 0);
    path_of(a, sizeof(a), "dt2/b");
    CU_ASSERT_EQUAL(rename(b, a), 0); /* renamed out: both directories change */
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0 && c > c0);
    m0 = m, c0 = c;
    int64_t m3, c3;
    CU_ASSERT_EQUAL(dir_times(d2, &m3, &c3), 0);
    CU_ASSERT_TRUE(m3 > m2 && c3 > c2);
    CU_ASSERT_EQUAL(symlink("target", b), 0); /* a link is an entry too */
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0);
    m0 = m;
    CU_ASSERT_EQUAL(unlink(b), 0); /* removed */
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0);
    m0 = m;
    path_of(a, sizeof(a), "dt/sub");
    CU_ASSERT_EQUAL(mkdir(a, 0755), 0);
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0);
    m0 = m;
    CU_ASSERT_EQUAL(rmdir(a), 0);
    CU_ASSERT_EQUAL(dir_times(d, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0);
    /* the bucket is a directory like the others */
    CU_ASSERT_EQUAL(dir_times(root, &m0, &c0), 0);
    CU_ASSERT_EQUAL(write_file("dt-top", "x", 1), 0);
    CU_ASSERT_EQUAL(dir_times(root, &m, &c), 0);
    CU_ASSERT_TRUE(m > m0 && c > c0);
}

static void test_access_time_moves_on_read_as_relatime(void)
{
    CU_ASSERT_EQUAL(write_file("atime.txt", "read me", 7), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "atime.txt");
    struct timespec old[2] = {{.tv_sec = 1000000000, .tv_nsec = 0},
                              {.tv_sec = 1000000100, .tv_nsec = 0}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, old, 0), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_atim.tv_sec, 1000000000); /* as set */
    CU_ASSERT_EQUAL(st.st_mtim.tv_sec, 1000000100);
    char buf[16];
    CU_ASSERT_EQUAL(read_file("atime.txt", buf, sizeof(buf)), 7);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    int64_t first = ns_of(st.st_atim);
    CU_ASSERT_TRUE(st.st_atim.tv_sec > 1000000100); /* older than the mtime: moved to now */
    CU_ASSERT_EQUAL(st.st_mtim.tv_sec, 1000000100); /* a read changes no mtime */
    CU_ASSERT_EQUAL(read_file("atime.txt", buf, sizeof(buf)), 7);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(ns_of(st.st_atim), first); /* newer than the mtime and recent: kept */
}

static void test_s3_object_without_mode_shows_as_0644_of_the_mounter(void)
{
    test_source_t src = {.seed = 5, .len = 10, .chunk = 10};
    CU_ASSERT_EQUAL(
        backend_put(store, BUCKET, "from-s3.txt", NULL, test_source_read, &src, NULL, NULL), 0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "from-s3.txt");
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode, S_IFREG | 0644);
    CU_ASSERT_EQUAL(st.st_uid, getuid());
    CU_ASSERT_EQUAL(st.st_size, 10);
    uint8_t want[10], got[16];
    test_fill(want, sizeof(want), 5, 0);
    CU_ASSERT_EQUAL(read_file("from-s3.txt", got, sizeof(got)), 10);
    CU_ASSERT_EQUAL(memcmp(want, got, 10), 0);
}

static void test_symlink_reads_back(void)
{
    char p[PATH_MAX], buf[PATH_MAX];
    path_of(p, sizeof(p), "link");
    CU_ASSERT_EQUAL(symlink("../some/target", p), 0);
    ssize_t n = readlink(p, buf, sizeof(buf));
    CU_ASSERT_EQUAL(n, 14);
    if (n >= 0) buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, "../some/target");
    struct stat st;
    CU_ASSERT_EQUAL(lstat(p, &st), 0);
    CU_ASSERT_TRUE(S_ISLNK(st.st_mode));
    CU_ASSERT_EQUAL(ERRNO_OF(symlink("x", p)), EEXIST);
}

static void test_user_xattrs_are_s3_metadata(void)
{
    CU_ASSERT_EQUAL(write_file("xattr.txt", "x", 1), 0);
    char p[PATH_MAX], v[64] = {0};
    path_of(p, sizeof(p), "xattr.txt");
    CU_ASSERT_EQUAL(setxattr(p, "user.color", "blue", 4, 0), 0);
    CU_ASSERT_EQUAL(getxattr(p, "user.color", v, sizeof(v)), 4);
    CU_ASSERT_STRING_EQUAL(v, "blue");
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL(store_size_soon("xattr.txt", 1), 1);
    CU_ASSERT_EQUAL_FATAL(backend_head(store, BUCKET, "xattr.txt", &m, NULL), 0);
    const char *meta = backend_manifest_meta(m, "x-amz-meta-color");
    CU_ASSERT_TRUE(meta && strcmp(meta, "blue") == 0);
    backend_manifest_free(m);
    CU_ASSERT_EQUAL(ERRNO_OF(setxattr(p, "user.color", "red", 3, XATTR_CREATE)), EEXIST);
    CU_ASSERT_EQUAL(ERRNO_OF(setxattr(p, "user.size", "1", 1, XATTR_REPLACE)), ENODATA);
    CU_ASSERT_EQUAL(ERRNO_OF(getxattr(p, "user.nothing", v, sizeof(v))), ENODATA);
    char list[128];
    CU_ASSERT_EQUAL(listxattr(p, list, sizeof(list)), 11);
    CU_ASSERT_EQUAL(removexattr(p, "user.color"), 0);
    CU_ASSERT_EQUAL(ERRNO_OF(removexattr(p, "user.color")), ENODATA);
    CU_ASSERT_EQUAL(listxattr(p, list, sizeof(list)), 0);
}

static void test_statfs_reports_the_nodes_capacity(void)
{
    struct statvfs sv;
    CU_ASSERT_EQUAL(statvfs(root, &sv), 0);
    CU_ASSERT_TRUE(sv.f_blocks > 0);
    CU_ASSERT_TRUE(sv.f_bavail <= sv.f_blocks);
    CU_ASSERT_EQUAL(sv.f_namemax, 255);
}

/* ---- lifetime ----------------------------------------------------------------------------------
 */

static void test_files_survive_a_remount(void)
{
    uint8_t data[70000], back[70001];
    test_fill(data, sizeof(data), 21, 0);
    CU_ASSERT_EQUAL(write_file("persist.bin", data, sizeof(data)), 0);
    CU_ASSERT_EQUAL(stop_server(), 0);
    CU_ASSERT_EQUAL_FATAL(start_server(), 0);
    CU_ASSERT_EQUAL(read_file("persist.bin", back, sizeof(back)), (ssize_t)sizeof(data));
    CU_ASSERT_EQUAL(memcmp(data, back, sizeof(data)), 0);
}

static void test_sigterm_uploads_files_still_open(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "open-at-stop.txt");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "not closed yet", 14), 14);
    CU_ASSERT_EQUAL(store_size("open-at-stop.txt"), -1); /* created: staged only */
    CU_ASSERT_EQUAL(stop_server(), 0);
    CU_ASSERT_EQUAL(store_size("open-at-stop.txt"), 14);
    CU_ASSERT_EQUAL(ERRNO_OF(write(fd, "x", 1)), ENOTCONN);
    close(fd);
    CU_ASSERT_EQUAL_FATAL(start_server(), 0);
}

/* ---- main ---------------------------------------------------------------------------------------
 */

int main(void)
{
    int fd = open("/dev/fuse", O_RDWR);
    if (fd < 0 || geteuid() != 0) {
        printf("test_fuse_posix: skipped (needs root and a usable /dev/fuse)\n");
        if (fd >= 0) close(fd);
        return 0;
    }
    close(fd);
    test_cluster_init(&cl, "fuse-posix", 6, 4, 2, STRIPE, INLINE_MAX);
    cl.cfg.cache.ram_size = 64 << 20;
    if (snprintf(cl.cfg.general.state_dir, sizeof(cl.cfg.general.state_dir), "%s/state", cl.dir) >=
            (int)sizeof(cl.cfg.general.state_dir) ||
        snprintf(mnt, sizeof(mnt), "%s/mnt", cl.dir) >= (int)sizeof(mnt) ||
        snprintf(root, sizeof(root), "%s/%s", mnt, BUCKET) >= (int)sizeof(root)) {
        fprintf(stderr, "scratch directory path too long: %s\n", cl.dir);
        return 1;
    }
    mkdir(mnt, 0755);
    atexit(cleanup_at_exit);
    if (start_server() != 0) {
        fprintf(stderr, "cannot start the mount server\n");
        return 1;
    }
    aug_err_t err;
    if (backend_bucket_create(store, BUCKET, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("fuse mount: files", NULL, NULL);
    CU_add_test(s, "written file reads back", test_written_file_reads_back);
    CU_add_test(s, "closed file reaches the store", test_closed_file_reaches_the_store);
    CU_add_test(s, "fsynced file is in the store when fsync returns",
                test_fsynced_file_is_in_the_store_when_fsync_returns);
    CU_add_test(s, "created file exists at once", test_created_file_exists_at_once);
    CU_add_test(s, "created file written before close is listed once",
                test_created_file_written_before_close_is_listed_once);
    CU_add_test(s, "created file removed before close never reaches the store",
                test_created_file_removed_before_close_never_reaches_the_store);
    CU_add_test(s, "created file blocks mkdir and rmdir", test_created_file_blocks_mkdir_and_rmdir);
    CU_add_test(s, "new file belongs to the caller", test_new_file_belongs_to_the_caller);
    CU_add_test(s, "open of a missing file is ENOENT", test_open_missing_file_is_enoent);
    CU_add_test(s, "O_EXCL on an existing file is EEXIST", test_o_excl_on_existing_file_is_eexist);
    CU_add_test(s, "O_TRUNC empties the file", test_o_trunc_empties_the_file);
    CU_add_test(s, "O_APPEND writes at the end", test_o_append_writes_at_the_end);
    CU_add_test(s, "random writes match a model", test_random_writes_match_a_model);
    CU_add_test(s, "truncate is seen at once", test_truncate_is_seen_at_once);
    CU_add_test(s, "unlinked open file stays readable", test_unlinked_open_file_stays_readable);
    CU_add_test(s, "open reader keeps its version", test_open_reader_keeps_its_version);
    CU_add_test(s, "mmap reads and writes", test_mmap_reads_and_writes);
    s = CU_add_suite("fuse mount: names", NULL, NULL);
    CU_add_test(s, "name over 255 bytes is ENAMETOOLONG", test_name_over_255_bytes_is_enametoolong);
    CU_add_test(s, "key over 1024 bytes is ENAMETOOLONG", test_key_over_1024_bytes_is_enametoolong);
    CU_add_test(s, "hard link is EPERM", test_hard_link_is_eperm);
    CU_add_test(s, "files only live inside buckets", test_files_only_live_inside_buckets);
    s = CU_add_suite("fuse mount: directories", NULL, NULL);
    CU_add_test(s, "mkdir at the top creates a bucket", test_mkdir_at_top_creates_a_bucket);
    CU_add_test(s, "empty directory is kept as a marker", test_empty_directory_is_kept_as_a_marker);
    CU_add_test(s, "rmdir of a non-empty directory is ENOTEMPTY",
                test_rmdir_of_non_empty_directory_is_enotempty);
    CU_add_test(s, "emptied directory stays", test_emptied_directory_stays);
    CU_add_test(s, "wrong kind gives EISDIR and ENOTDIR", test_wrong_kind_gives_eisdir_and_enotdir);
    CU_add_test(s, "readdir pages through many entries", test_readdir_pages_through_many_entries);
    s = CU_add_suite("fuse mount: rename", NULL, NULL);
    CU_add_test(s, "rename moves the file without copying",
                test_rename_moves_the_file_without_copying);
    CU_add_test(s, "RENAME_NOREPLACE on an existing name is EEXIST",
                test_rename_noreplace_on_existing_is_eexist);
    CU_add_test(s, "rename of a directory moves every key",
                test_rename_of_directory_moves_every_key);
    CU_add_test(s, "rename of an open file keeps its writes",
                test_rename_of_open_file_keeps_its_writes);
    s = CU_add_suite("fuse mount: attributes", NULL, NULL);
    CU_add_test(s, "chmod, chown and utimens are kept", test_chmod_chown_utimens_are_kept);
    CU_add_test(s, "directory times follow its entries", test_directory_times_follow_its_entries);
    CU_add_test(s, "access time moves on read as relatime",
                test_access_time_moves_on_read_as_relatime);
    CU_add_test(s, "S3 object without mode shows as 0644 of the mounter",
                test_s3_object_without_mode_shows_as_0644_of_the_mounter);
    CU_add_test(s, "symlink reads back", test_symlink_reads_back);
    CU_add_test(s, "user xattrs are S3 metadata", test_user_xattrs_are_s3_metadata);
    CU_add_test(s, "statfs reports the nodes' capacity", test_statfs_reports_the_nodes_capacity);
    s = CU_add_suite("fuse mount: lifetime", NULL, NULL);
    CU_add_test(s, "files survive a remount", test_files_survive_a_remount);
    CU_add_test(s, "SIGTERM uploads files still open", test_sigterm_uploads_files_still_open);
    /* last: it takes nodes away, and the server's store takes a while to trust them again */
    CU_add_test(s, "backend read failure is EIO", test_backend_read_failure_is_eio);
    int status = test_run_all();
    int server_status = stop_server();
    if (server_status != 0) {
        fprintf(stderr, "the mount server exited with status %d\n", server_status);
        status = 1;
    }
    backend_close(store);
    test_cluster_destroy(&cl);
    return status;
}
