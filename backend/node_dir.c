/* node_dir.c - the `dir` node driver: a node is a directory, normally one per disk.
 *
 * A blob named "a/b/c" lives in the file ROOT/a/b/c/LEAF, so that "a/b/c" and "a/b/c/d" can
 * both exist; a name ending in '/' ("a/b/") uses LEAF_SLASH in ROOT/a/b. The leaf names are
 * bytes that never occur in valid UTF-8, so no key component can collide with them. Writes go
 * to ROOT/tmp, are fsynced and renamed into place, and the directory is fsynced. The file
 * ROOT/augur-node marks an initialised node: without it the disk is taken as missing (a
 * mount point whose disk is gone), never as an empty node. */
#include "node.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LEAF_PLAIN "\xff"
#define LEAF_SLASH "\xfe"
#define MARKER_NAME "augur-node"
#define MARKER_TEXT "augur node directory, format 1\n"
/* renames can race with a concurrent remove() pruning the same empty directory */
#define COMMIT_RETRIES 8
/* A large blob's pages are handed to the disk every this many bytes while it is written,
 * so that the fsync at commit finds little left: otherwise a put computes, then waits for
 * the whole blob to reach the disk, one after the other. */
#define WRITEBACK_STEP (8u << 20)

/* Room for a node's own paths below its root (names are at most ~1.1 KiB; see names.c). */
#define ROOT_MAX (PATH_MAX - 1600)

typedef struct dir_node {
    node_t base;
    char root[ROOT_MAX];
} dir_node_t;

struct node_writer {
    dir_node_t *node;
    int fd;
    uint64_t written, started; /* bytes appended; bytes whose writeback was started */
    char tmp_path[PATH_MAX];
    char name[PATH_MAX];
};

/* Map a name to its directory (relative to root) and leaf. Returns 0 or AUG_EINVAL. */
static int name_split(const char *name, char *dir, size_t dirlen, const char **leaf)
{
    size_t n = strlen(name);
    if (n == 0 || name[0] == '/' || n >= dirlen) return AUG_EINVAL;
    memcpy(dir, name, n + 1);
    if (dir[n - 1] == '/') {
        dir[n - 1] = '\0';
        *leaf = LEAF_SLASH;
    } else {
        *leaf = LEAF_PLAIN;
    }
    return 0;
}

static int leaf_path(dir_node_t *d, const char *name, char *out, size_t len)
{
    char dir[PATH_MAX];
    const char *leaf;
    if (name_split(name, dir, sizeof(dir), &leaf) != 0) return AUG_EINVAL;
    if ((size_t)snprintf(out, len, "%s/%s/%s", d->root, dir, leaf) >= len) return AUG_EINVAL;
    return 0;
}

static int marker_present(dir_node_t *d)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/" MARKER_NAME, d->root);
    return access(p, F_OK) == 0;
}

/* Translate errno after a failed call on name: missing name on a present node is ENOENT,
 * anything else (or a missing node) is EIO. */
static int errno_to_code(dir_node_t *d, int e)
{
    if (e == ENOENT || e == ENOTDIR) return marker_present(d) ? AUG_ENOENT : AUG_EIO;
    if (e == ENOMEM) return AUG_ENOMEM;
    return AUG_EIO;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* mkdir -p of path below root, fsyncing each parent whose entry was created so the new
 * directories survive a crash. */
static int make_dirs(dir_node_t *d, const char *path)
{
    char buf[PATH_MAX];
    size_t rootlen = strlen(d->root);
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + rootlen + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) == 0) {
            char *slash = strrchr(buf, '/');
            *slash = '\0';
            fsync_dir(buf);
            *slash = '/';
        } else if (errno != EEXIST) {
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0755) == 0) {
        char *slash = strrchr(buf, '/');
        *slash = '\0';
        fsync_dir(buf);
    } else if (errno != EEXIST) {
        return -1;
    }
    return 0;
}

static int dir_put_begin(node_t *n, const char *name, node_writer_t **out)
{
    dir_node_t *d = (dir_node_t *)n;
    if (!marker_present(d)) return AUG_EIO;
    node_writer_t *w = calloc(1, sizeof(*w));
    if (!w) return AUG_ENOMEM;
    w->node = d;
    snprintf(w->name, sizeof(w->name), "%s", name);
    unsigned char rnd[12];
    char hex[25];
    if (aug_random_bytes(rnd, sizeof(rnd)) != 0) {
        free(w);
        return AUG_EIO;
    }
    aug_hex(rnd, sizeof(rnd), hex);
    char tmpdir[ROOT_MAX + 8];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", d->root);
    if (mkdir(tmpdir, 0755) != 0 && errno != EEXIST) {
        free(w);
        return AUG_EIO;
    }
    snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/%s.tmp", tmpdir, hex);
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = errno_to_code(d, errno);
        free(w);
        return rc == AUG_ENOENT ? AUG_EIO : rc;
    }
    *out = w;
    return 0;
}

static int dir_put_append(node_writer_t *w, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = write(w->fd, p, len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return AUG_EIO;
        }
        p += k;
        len -= (size_t)k;
        w->written += (uint64_t)k;
    }
    if (w->written - w->started >= WRITEBACK_STEP) {
        /* only a start: durability is still the fsync at commit, so a failure is ignored */
        (void)sync_file_range(w->fd, (off_t)w->started, (off_t)(w->written - w->started),
                              SYNC_FILE_RANGE_WRITE);
        w->started = w->written;
    }
    return 0;
}

static void dir_put_abort(node_writer_t *w)
{
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp_path);
    free(w);
}

static int dir_put_commit(node_writer_t *w)
{
    dir_node_t *d = w->node;
    char target[PATH_MAX], dir[PATH_MAX];
    if (fsync(w->fd) != 0 || close(w->fd) != 0) {
        w->fd = -1;
        dir_put_abort(w);
        return AUG_EIO;
    }
    w->fd = -1;
    if (leaf_path(d, w->name, target, sizeof(target)) != 0) {
        dir_put_abort(w);
        return AUG_EINVAL;
    }
    snprintf(dir, sizeof(dir), "%s", target);
    *strrchr(dir, '/') = '\0';
    int rc = AUG_EIO;
    for (int attempt = 0; attempt < COMMIT_RETRIES; attempt++) {
        if (make_dirs(d, dir) != 0) break;
        if (rename(w->tmp_path, target) == 0) {
            rc = fsync_dir(dir) == 0 ? 0 : AUG_EIO;
            break;
        }
        if (errno != ENOENT) break;
    }
    if (rc != 0) unlink(w->tmp_path);
    free(w);
    return rc;
}

static int dir_get(node_t *n, const char *name, uint64_t off, void *buf, size_t len, size_t *got)
{
    dir_node_t *d = (dir_node_t *)n;
    char path[PATH_MAX];
    if (leaf_path(d, name, path, sizeof(path)) != 0) return AUG_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_to_code(d, errno);
    size_t total = 0;
    while (total < len) {
        ssize_t k = pread(fd, (char *)buf + total, len - total, (off_t)(off + total));
        if (k < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return AUG_EIO;
        }
        if (k == 0) break;
        total += (size_t)k;
    }
    close(fd);
    *got = total;
    return 0;
}

struct node_blob {
    dir_node_t *node;
    int fd;
};

static int dir_open_blob(node_t *n, const char *name, node_blob_t **out)
{
    dir_node_t *d = (dir_node_t *)n;
    char path[PATH_MAX];
    if (leaf_path(d, name, path, sizeof(path)) != 0) return AUG_EINVAL;
    node_blob_t *h = malloc(sizeof(*h));
    if (!h) return AUG_ENOMEM;
    h->node = d;
    h->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (h->fd < 0) {
        int rc = errno_to_code(d, errno);
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

static int dir_read_blob(node_blob_t *h, uint64_t off, void *buf, size_t len, size_t *got)
{
    size_t total = 0;
    while (total < len) {
        ssize_t k = pread(h->fd, (char *)buf + total, len - total, (off_t)(off + total));
        if (k < 0) {
            if (errno == EINTR) continue;
            return AUG_EIO;
        }
        if (k == 0) break;
        total += (size_t)k;
    }
    *got = total;
    return 0;
}

static void dir_close_blob(node_blob_t *h)
{
    if (!h) return;
    close(h->fd);
    free(h);
}

static int dir_patch(node_t *n, const char *name, uint64_t off, const void *buf, size_t len)
{
    dir_node_t *d = (dir_node_t *)n;
    char path[PATH_MAX];
    if (leaf_path(d, name, path, sizeof(path)) != 0) return AUG_EINVAL;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno_to_code(d, errno);
    ssize_t k = pwrite(fd, buf, len, (off_t)off);
    int rc = (k == (ssize_t)len && fsync(fd) == 0) ? 0 : AUG_EIO;
    close(fd);
    return rc;
}

/* Remove now-empty directories from dir up to (not including) the namespace's top folder. */
static void prune_dirs(dir_node_t *d, char *dir)
{
    size_t rootlen = strlen(d->root);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) <= rootlen) return;
        /* stop at ROOT/<namespace>: its parent is root */
        if (strchr(dir + rootlen + 1, '/') == NULL) return;
        if (rmdir(dir) != 0) return;
        *slash = '\0';
        fsync_dir(dir);
    }
}

static int dir_remove(node_t *n, const char *name)
{
    dir_node_t *d = (dir_node_t *)n;
    char path[PATH_MAX];
    if (leaf_path(d, name, path, sizeof(path)) != 0) return AUG_EINVAL;
    if (unlink(path) != 0) return errno_to_code(d, errno);
    *strrchr(path, '/') = '\0';
    fsync_dir(path);
    prune_dirs(d, path);
    return 0;
}

static int dir_stat(node_t *n, const char *name, node_stat_t *st)
{
    dir_node_t *d = (dir_node_t *)n;
    char path[PATH_MAX];
    struct stat s;
    if (leaf_path(d, name, path, sizeof(path)) != 0) return AUG_EINVAL;
    if (stat(path, &s) != 0) return errno_to_code(d, errno);
    st->size = (uint64_t)s.st_size;
    st->mtime_ns = (int64_t)s.st_mtim.tv_sec * 1000000000LL + s.st_mtim.tv_nsec;
    return 0;
}

/* ---- ordered listing ------------------------------------------------------------------- */

enum { CAND_PLAIN = 0, CAND_SLASH = 1, CAND_SUB = 2 };

/* One place a name can come from inside a directory, sorted by the name it stands for: the
 * child itself (PLAIN), the child with a '/' (SLASH) and the names below it (SUB). All three
 * share one text, "child/", in the walk's arena; PLAIN compares it without the '/'. */
typedef struct cand {
    size_t off;   /* of the text in the arena */
    uint32_t len; /* bytes compared: the child's length, plus the '/' for SLASH and SUB */
    int kind;
} cand_t;

static int cand_cmp(const void *a, const void *b, void *arena)
{
    const cand_t *x = a, *y = b;
    const char *t = arena;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(t + x->off, t + y->off, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->kind - y->kind;
}

typedef struct list_ctx {
    dir_node_t *node;
    const char *after;
    node_name_fn fn;
    void *arg;
    int stopped;
    char name[PATH_MAX]; /* the name being built */
} list_ctx_t;

static int leaf_exists(int dirfd, const char *child, const char *leaf)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/%s", child, leaf);
    return faccessat(dirfd, rel, F_OK, 0) == 0;
}

static int emit(list_ctx_t *c)
{
    if (c->after && strcmp(c->name, c->after) <= 0) return 0;
    if (c->fn(c->arg, c->name)) c->stopped = 1;
    return 0;
}

/* True when every name below prefix sub (which ends in '/') sorts at or before after. */
static int subtree_before_after(const char *sub, const char *after)
{
    if (!after) return 0;
    size_t n = strlen(sub);
    return strcmp(sub, after) <= 0 && strncmp(after, sub, n) != 0;
}

/* The candidates a child contributes (a bit per kind) given the listing's cursor: a later page
 * skips everything at or before its cursor here, before sorting, instead of after. c->name
 * holds the directory's prefix (plen bytes); the child is appended to it as scratch. */
static unsigned wanted_kinds(list_ctx_t *c, size_t plen, const char *child, size_t len)
{
    if (!c->after) return 7u;
    if (plen + len + 2 > sizeof(c->name)) return 0;
    memcpy(c->name + plen, child, len);
    c->name[plen + len] = '\0';
    unsigned kinds = 0;
    if (strcmp(c->name, c->after) > 0) kinds |= 1u << CAND_PLAIN;
    c->name[plen + len] = '/';
    c->name[plen + len + 1] = '\0';
    if (strcmp(c->name, c->after) > 0) kinds |= 1u << CAND_SLASH;
    if (!subtree_before_after(c->name, c->after)) kinds |= 1u << CAND_SUB;
    return kinds;
}

typedef struct cand_set {
    cand_t *v;
    size_t n, cap;
    char *arena;
    size_t used, room;
} cand_set_t;

static void cand_set_free(cand_set_t *s)
{
    free(s->v);
    free(s->arena);
}

/* Add child (len bytes) as the candidates in kinds. Returns 0 or AUG_ENOMEM. */
static int cand_add(cand_set_t *s, const char *child, size_t len, unsigned kinds)
{
    if (s->n + 3 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 192;
        cand_t *v = realloc(s->v, cap * sizeof(*v));
        if (!v) return AUG_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if (s->used + len + 2 > s->room) {
        size_t room = s->room ? s->room * 2 : 8192;
        while (room < s->used + len + 2)
            room *= 2;
        char *a = realloc(s->arena, room);
        if (!a) return AUG_ENOMEM;
        s->arena = a;
        s->room = room;
    }
    size_t off = s->used;
    memcpy(s->arena + off, child, len);
    s->arena[off + len] = '/';
    s->arena[off + len + 1] = '\0';
    s->used += len + 2;
    for (int kind = CAND_PLAIN; kind <= CAND_SUB; kind++) {
        if (!(kinds & (1u << kind))) continue;
        s->v[s->n++] =
            (cand_t){.off = off, .len = (uint32_t)(len + (kind != CAND_PLAIN)), .kind = kind};
    }
    return 0;
}

/* Walk directory dirfd whose names start with c->name[0..plen); only children starting with
 * partial are considered. Returns 0 or an error code. */
static int walk_dir(list_ctx_t *c, int dirfd, size_t plen, const char *partial)
{
    DIR *dh = fdopendir(dirfd);
    if (!dh) {
        close(dirfd);
        return AUG_EIO;
    }
    cand_set_t s = {0};
    int rc = 0;
    size_t partlen = strlen(partial);
    struct dirent *de;
    while (rc == 0 && (de = readdir(dh)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) continue;
        if (strcmp(nm, LEAF_PLAIN) == 0 || strcmp(nm, LEAF_SLASH) == 0) continue;
        if (strncmp(nm, partial, partlen) != 0) continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        size_t len = strlen(nm);
        unsigned kinds = wanted_kinds(c, plen, nm, len);
        if (kinds) rc = cand_add(&s, nm, len, kinds);
    }
    if (rc == 0 && s.n > 1) qsort_r(s.v, s.n, sizeof(*s.v), cand_cmp, s.arena);
    for (size_t i = 0; rc == 0 && i < s.n && !c->stopped; i++) {
        const cand_t *k = &s.v[i];
        const char *text = s.arena + k->off;
        size_t clen = k->kind == CAND_PLAIN ? k->len : k->len - 1; /* the child's length */
        if (plen + clen + 2 > sizeof(c->name)) continue;
        memcpy(c->name + plen, text, k->len);
        c->name[plen + k->len] = '\0';
        char child[NAME_MAX + 1];
        memcpy(child, text, clen);
        child[clen] = '\0';
        if (k->kind == CAND_PLAIN) {
            if ((!c->after || strcmp(c->name, c->after) > 0) &&
                leaf_exists(dirfd, child, LEAF_PLAIN))
                emit(c);
        } else if (k->kind == CAND_SLASH) {
            if ((!c->after || strcmp(c->name, c->after) > 0) &&
                leaf_exists(dirfd, child, LEAF_SLASH))
                emit(c);
        } else if (!subtree_before_after(c->name, c->after)) {
            int sub = openat(dirfd, child, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0) rc = walk_dir(c, sub, plen + k->len, "");
        }
    }
    cand_set_free(&s);
    closedir(dh);
    return rc;
}

static int dir_list(node_t *n, const char *prefix, const char *after, node_name_fn fn,
                    void *arg)
{
    dir_node_t *d = (dir_node_t *)n;
    if (!marker_present(d)) return AUG_EIO;
    list_ctx_t c = {.node = d, .after = after, .fn = fn, .arg = arg};
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    if (dlen >= sizeof(c.name)) return AUG_EINVAL;
    memcpy(c.name, prefix, dlen);
    c.name[dlen] = '\0';
    char path[PATH_MAX];
    if (strlen(d->root) + dlen + 2 > sizeof(path)) return AUG_EINVAL;
    memcpy(path, d->root, strlen(d->root));
    path[strlen(d->root)] = '/';
    memcpy(path + strlen(d->root) + 1, prefix, dlen);
    path[strlen(d->root) + 1 + dlen] = '\0';
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* ENOTDIR: the prefix runs through a leaf file ("a/\xff/"): no names, not a dead node */
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? (marker_present(d) ? 0 : AUG_EIO) : AUG_EIO;
    const char *partial = prefix + dlen;
    /* a name equal to the directory prefix itself ("x/") sorts before all below it */
    if (*partial == '\0' && dlen > 0 && faccessat(fd, LEAF_SLASH, F_OK, 0) == 0) emit(&c);
    if (c.stopped) {
        close(fd);
        return 0;
    }
    return walk_dir(&c, fd, dlen, partial);
}

static int dir_sweep_partial(node_t *n, int64_t cutoff_ns)
{
    dir_node_t *d = (dir_node_t *)n;
    char tmpdir[ROOT_MAX + 8];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", d->root);
    int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return 0;
    DIR *dh = fdopendir(dfd);
    if (!dh) {
        close(dfd);
        return 0;
    }
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, 0) != 0) continue;
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (mtime < cutoff_ns && unlinkat(dfd, de->d_name, 0) == 0) removed++;
    }
    closedir(dh);
    return removed;
}

/* ---- health ---------------------------------------------------------------------------- */

static int dir_is_empty(const char *path)
{
    DIR *dh = opendir(path);
    if (!dh) return 0;
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(dh)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "lost+found")) {
            empty = 0;
            break;
        }
    }
    closedir(dh);
    return empty;
}

static int write_marker(dir_node_t *d)
{
    char p[PATH_MAX], tmp[PATH_MAX];
    snprintf(p, sizeof(p), "%s/" MARKER_NAME, d->root);
    snprintf(tmp, sizeof(tmp), "%s/." MARKER_NAME ".tmp", d->root);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    ssize_t len = (ssize_t)strlen(MARKER_TEXT);
    int ok = write(fd, MARKER_TEXT, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, p) != 0) {
        unlink(tmp);
        return -1;
    }
    return fsync_dir(d->root);
}

static int dir_health(node_t *n, node_health_t *h)
{
    dir_node_t *d = (dir_node_t *)n;
    struct stat st;
    memset(h, 0, sizeof(*h));
    if (stat(d->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(h->reason, sizeof(h->reason), "directory missing");
        return 0;
    }
    if (!marker_present(d)) {
        if (!dir_is_empty(d->root)) {
            snprintf(h->reason, sizeof(h->reason),
                     "directory holds files but no " MARKER_NAME " marker; not initialising");
            return 0;
        }
        if (write_marker(d) != 0) {
            snprintf(h->reason, sizeof(h->reason), "cannot initialise: %s", strerror(errno));
            return 0;
        }
        aug_info("node %s: initialised empty directory", n->spec);
    }
    struct statvfs vfs;
    if (statvfs(d->root, &vfs) == 0) {
        h->total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        h->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    }
    h->up = 1;
    return 0;
}

static void dir_close(node_t *n)
{
    free(n);
}

static const node_ops_t dir_ops = {
    .put_begin = dir_put_begin,
    .put_append = dir_put_append,
    .put_commit = dir_put_commit,
    .put_abort = dir_put_abort,
    .get = dir_get,
    .open_blob = dir_open_blob,
    .read_blob = dir_read_blob,
    .close_blob = dir_close_blob,
    .patch = dir_patch,
    .remove = dir_remove,
    .stat = dir_stat,
    .list = dir_list,
    .sweep_partial = dir_sweep_partial,
    .health = dir_health,
    .close = dir_close,
};

int node_dir_open(const char *path, node_t **out, aug_err_t *err)
{
    if (path[0] != '/' || strlen(path) >= ROOT_MAX)
        return aug_err_set(err, AUG_EINVAL, "node directory '%s' must be an absolute path", path);
    dir_node_t *d = calloc(1, sizeof(*d));
    if (!d) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    d->base.ops = &dir_ops;
    snprintf(d->base.spec, sizeof(d->base.spec), "dir:%s", path);
    snprintf(d->root, sizeof(d->root), "%s", path);
    size_t n = strlen(d->root);
    while (n > 1 && d->root[n - 1] == '/') d->root[--n] = '\0';
    *out = &d->base;
    return 0;
}
