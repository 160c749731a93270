/* staging.c - the staging directory survives the process: a note beside each staged file with
 * unsaved changes says which key and version it belongs to, and the next mount uploads the
 * complete ones a dead process left behind (a crash, SIGKILL, or uploads that kept failing). */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

/* A staged file without a note is only removed once this old: its owner may have just created
 * it and not locked it yet. */
#define ORPHAN_AGE_S 10
/* Bytes moved per step when uploading a recovered file. */
#define RECOVER_CHUNK (1u << 20)
/* The base of a file created by the mount and not in the store yet: the key must still be
 * missing when it is recovered. */
#define NO_BASE "none (created, not in the store yet)"

/* The note's path for a staged file. */
static void note_path(const char *stage_path, char *out, size_t len)
{
    snprintf(out, len, "%s.key", stage_path);
}

/* Write the note atomically (temporary file, rename): a crash leaves the old or the new one. */
static int write_note(const char *path, const fnode_t *n, int complete)
{
    char tmp[PATH_MAX + 16], vid[33];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    backend_version_hex(n->base, vid);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "key: %s/%s\nbucket: %s\nname: %s\nbase: %s\nsize: %llu\ncomplete: %s\n", n->bucket,
            n->key, n->bucket, n->key, n->created ? NO_BASE : vid, (unsigned long long)n->size,
            complete ? "yes" : "no, bytes not rewritten are in the base version");
    /* a file created here has no version in the store to take its attributes from */
    fprintf(f, "mode: %o\nuid: %u\ngid: %u\n", (unsigned)n->a.mode, (unsigned)n->a.uid,
            (unsigned)n->a.gid);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void stage_note(augfs_t *fs, fnode_t *n, int force)
{
    (void)fs;
    if (!n->stage_path) return;
    char path[PATH_MAX + 8];
    note_path(n->stage_path, path, sizeof(path));
    if (!n->dirty_data || n->unlinked) {
        if (n->noted) unlink(path);
        n->noted = 0;
        return;
    }
    int want = fnode_complete(n) ? 2 : 1;
    if (want == n->noted && !force) return;
    /* keys with a line break cannot be named in the note: they stay unrecoverable */
    if (strchr(n->key, '\n') || write_note(path, n, want == 2) != 0) {
        aug_warn("mount: cannot describe %s for recovery after a crash", n->stage_path);
        return;
    }
    n->noted = want;
}

void stage_account(augfs_t *fs, fnode_t *n)
{
    int now = n->dirty_data && !n->unlinked;
    uint64_t bytes = now ? fnode_size(n) : 0;
    /* unsigned arithmetic: adding the difference modulo 2^64 also subtracts */
    if (now != n->counted) atomic_fetch_add(&fs->staged_files, now ? 1 : UINT64_MAX);
    atomic_fetch_add(&fs->staged_bytes, bytes - n->counted_bytes);
    n->counted = now;
    n->counted_bytes = bytes;
}

void stage_uncount(augfs_t *fs, fnode_t *n)
{
    if (n->counted) atomic_fetch_sub(&fs->staged_files, 1);
    atomic_fetch_sub(&fs->staged_bytes, n->counted_bytes);
    n->counted = 0;
    n->counted_bytes = 0;
}

void augfs_staged(augfs_t *fs, uint64_t *files, uint64_t *bytes)
{
    *files = atomic_load(&fs->staged_files);
    *bytes = atomic_load(&fs->staged_bytes);
}

/* ---- recovery ---------------------------------------------------------------------------- */

/* What a note says. */
typedef struct note {
    char bucket[BACKEND_BUCKET_MAX + 1];
    char key[BACKEND_KEY_MAX + 2];
    char base[33];
    int created; /* base is NO_BASE */
    int complete;
    uint32_t mode, uid, gid;
} note_t;

/* Copy a field of a note into dst (cap bytes); 0, or -1 when it does not fit. */
static int take_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int read_note(const char *path, note_t *nt)
{
    memset(nt, 0, sizeof(*nt));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[BACKEND_KEY_MAX + 64];
    int bad = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "bucket: ", 8) == 0)
            bad |= take_field(nt->bucket, sizeof(nt->bucket), line + 8);
        else if (strncmp(line, "name: ", 6) == 0)
            bad |= take_field(nt->key, sizeof(nt->key), line + 6);
        else if (strcmp(line, "base: " NO_BASE) == 0)
            nt->created = 1;
        else if (strncmp(line, "base: ", 6) == 0)
            bad |= take_field(nt->base, sizeof(nt->base), line + 6);
        else if (strncmp(line, "mode: ", 6) == 0)
            nt->mode = (uint32_t)strtoul(line + 6, NULL, 8);
        else if (strncmp(line, "uid: ", 5) == 0)
            nt->uid = (uint32_t)strtoul(line + 5, NULL, 10);
        else if (strncmp(line, "gid: ", 5) == 0)
            nt->gid = (uint32_t)strtoul(line + 5, NULL, 10);
        else if (strncmp(line, "complete: ", 10) == 0)
            nt->complete = strcmp(line + 10, "yes") == 0;
    }
    fclose(f);
    int based = nt->created ? nt->mode != 0 : strlen(nt->base) == 32;
    return !bad && nt->bucket[0] && nt->key[0] && based ? 0 : -1;
}

/* Upload the staged file open on fd as a new version of nt's key, with the attributes of cur
 * (the version it was staged from; NULL for a file created here: those of the note) and the
 * staged file's mtime. */
static int upload_staged(augfs_t *fs, int fd, const note_t *nt, const backend_manifest_t *cur,
                         aug_err_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return aug_err_set(err, AUG_EIO, "stat: %s", strerror(errno));
    fattrs_t a = {.mode = nt->mode, .uid = nt->uid, .gid = nt->gid};
    if (cur && fattrs_from_manifest(fs, cur, 0, &a) != 0)
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    fattrs_drop_data_meta(&a);
    a.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    backend_put_attrs_t pa;
    fattrs_to_put(&a, &pa);
    cache_writer_t *w;
    char *buf = malloc(RECOVER_CHUNK);
    int rc = buf ? cache_writer_open(fs->c, nt->bucket, nt->key, &pa, &w, err)
                 : aug_err_set(err, AUG_ENOMEM, "out of memory");
    for (off_t pos = 0; rc == 0 && pos < st.st_size;) {
        ssize_t r = pread(fd, buf, RECOVER_CHUNK, pos);
        if (r <= 0) {
            rc = aug_err_set(err, AUG_EIO, "reading the staged file: %s",
                             r < 0 ? strerror(errno) : "it shrank");
            cache_writer_abort(w);
            break;
        }
        rc = cache_writer_write(w, buf, (size_t)r, err);
        pos += r;
    }
    if (rc == 0) rc = cache_writer_commit(w, NULL, err);
    free(buf);
    fattrs_free(&a);
    return rc;
}

/* 1 when the process that made staging file stage (its name starts with the pid) is gone. */
static int owner_gone(const char *stage)
{
    const char *base = strrchr(stage, '/');
    base = base ? base + 1 : stage;
    char *end;
    long pid = strtol(base, &end, 10);
    if (end == base || *end != '-' || pid <= 0) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Deal with one staged file left in the directory: 1 uploaded, 0 left alone, -1 kept after a
 * failure or a conflict (logged). */
static int recover_one(augfs_t *fs, const char *stage)
{
    int fd = open(stage, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* a live mount owns it */
        close(fd);
        return 0;
    }
    char note[PATH_MAX + 8];
    note_path(stage, note, sizeof(note));
    note_t nt;
    struct stat st;
    if (read_note(note, &nt) != 0) {
        /* no note: its changes were uploaded before the process ended (a file still open when
         * it was killed, say, after an fsync) */
        if (access(note, F_OK) != 0 && fstat(fd, &st) == 0 &&
            (owner_gone(stage) || st.st_mtime + ORPHAN_AGE_S < time(NULL)))
            unlink(stage);
        close(fd);
        return 0;
    }
    int rc = -1;
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *cur = NULL;
    char vid[33] = "";
    int found = cache_head(fs->c, nt.bucket, nt.key, &cur, &err);
    if (found == 0) backend_version_hex(cur, vid);
    if (!nt.complete)
        aug_error("mount: %s holds changes to %s/%s made before a crash, but only part of the "
                  "file: kept for you (see %s)",
                  stage, nt.bucket, nt.key, note);
    else if (nt.created ? found != AUG_ENOENT : (found != 0 || strcmp(vid, nt.base) != 0))
        aug_error("mount: %s holds changes to %s/%s made before a crash, but the key was changed "
                  "or removed since: kept for you (see %s)",
                  stage, nt.bucket, nt.key, note);
    else if (upload_staged(fs, fd, &nt, cur, &err) != 0)
        aug_error("mount: cannot upload %s (changes to %s/%s made before a crash): %s; kept, "
                  "tried again at the next mount",
                  stage, nt.bucket, nt.key, err.msg);
    else
        rc = 1;
    backend_manifest_free(cur);
    if (rc == 1) {
        aug_warn("mount: uploaded %s/%s from %s, staged before the mount stopped unexpectedly",
                 nt.bucket, nt.key, stage);
        unlink(note);
        unlink(stage);
    }
    close(fd);
    return rc;
}

int stage_recover(augfs_t *fs)
{
    DIR *d = opendir(fs->stage_dir);
    if (!d) return 0;
    int uploaded = 0;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".stage") != 0) continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", fs->stage_dir, e->d_name) >= sizeof(path))
            continue;
        if (recover_one(fs, path) == 1) uploaded++;
    }
    closedir(d);
    return uploaded;
}
