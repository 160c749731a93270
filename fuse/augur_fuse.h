/* augur_fuse.h - the FUSE mount: buckets as directories at the top, keys as paths below,
 * served through the tiered cache with libfuse3.
 *
 * Layout: /BUCKET/KEY... Directories are implied by '/' in keys; an empty directory is kept as
 * a marker key "DIR/". Files being written are staged in a local file and uploaded as a new
 * version when closed, flushed or fsynced; a failed upload is kept and retried.
 *
 * Life of a mount (the same in `augur mount` and in augurd):
 *
 *     augfs_mount()   kernel mount in place, nothing served yet, no thread started
 *     augfs_start()   requests served on background threads
 *     ...             augfs_flush() at any time; the mount may also end from outside
 *                     (fusermount3 -u, umount), which calls the on_end callback
 *     augfs_stop()    upload staged writes, stop serving, unmount, free
 *
 * Threads are only created by augfs_start(), so a daemon may fork between augfs_mount() and
 * augfs_start() - but open the cache after forking, since it starts threads of its own.
 * augfs_start() installs a handler for SIGUSR2 (doing nothing) if none is installed: the
 * signal is sent to the serving thread to wake it when the mount is stopped. Keep SIGUSR2
 * unblocked in the thread that calls augfs_start().
 *
 * augfs_flush() and augfs_stop() may be called from any thread, but not from a signal
 * handler. Errors are negative AUG_E* codes with a sentence in *err (err may be NULL). */
#ifndef AUGUR_FUSE_H
#define AUGUR_FUSE_H

#include "cache/cache.h"
#include "common/common.h"

typedef struct augfs augfs_t;

/* Mount the buckets of c at mountpoint (an existing directory). options are libfuse's -o
 * options, comma separated (allow_other, ro, default_permissions, debug, attr_timeout=S,
 * ...), or NULL; they are applied after those that cfg->fuse implies, so they win.
 * default_permissions is always on: the kernel checks access against the mode, owner and
 * group the mount reports. The staging directory (cfg->fuse.staging_dir, or
 * STATE_DIR/fuse-staging) is created if missing; complete staged files a process that died
 * left there are uploaded before the mount appears (see the log for those kept). c must
 * outlive the mount. On success the caller ends the mount with augfs_stop(). */
int augfs_mount(cache_t *c, const aug_config_t *cfg, const char *mountpoint, const char *options,
                augfs_t **out, aug_err_t *err);

/* Serve requests on background threads until augfs_stop() or an unmount from outside. When
 * serving ends for any reason other than augfs_stop(), on_end(arg) is called (may be NULL)
 * from the serving thread; it should just wake whoever will call augfs_stop(). */
int augfs_start(augfs_t *fs, void (*on_end)(void *arg), void *arg, aug_err_t *err);

/* Upload every staged file with unsaved changes now. Returns 0, or the first error (the
 * files that failed stay staged and are retried). */
int augfs_flush(augfs_t *fs, aug_err_t *err);

/* Files written through the mount whose changes are not uploaded yet, and their bytes (a
 * snapshot: thread-safe, never blocks). */
void augfs_staged(augfs_t *fs, uint64_t *files, uint64_t *bytes);

/* The mountpoint, as an absolute path without symbolic links. */
const char *augfs_mountpoint(const augfs_t *fs);

/* Upload staged writes, stop serving, unmount (lazily, if files are still open: they get
 * ENOTCONN from then on) and free fs. Returns the number of files whose changes could not
 * be uploaded: their staged copies stay in the staging directory and are named in the log.
 * NULL is allowed. */
int augfs_stop(augfs_t *fs);

#endif
