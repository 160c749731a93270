/* paths.c - mount paths to buckets and keys, and AUG_E* codes to errno. */
#include "internal.h"

#include <errno.h>
#include <string.h>

int fpath_parse(const char *path, fpath_t *out)
{
    memset(out, 0, sizeof(*out));
    if (path[0] != '/') return -EINVAL;
    /* every component is a file name: over NAME_MAX is ENAMETOOLONG, whatever it is */
    const char *p = path + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n > BACKEND_COMPONENT_MAX) return -ENAMETOOLONG;
        if (!slash) break;
        p = slash + 1;
    }
    const char *name = path + 1;
    if (*name == '\0') {
        out->kind = FP_ROOT;
        return 0;
    }
    const char *slash = strchr(name, '/');
    size_t blen = slash ? (size_t)(slash - name) : strlen(name);
    if (blen > BACKEND_BUCKET_MAX) return -EINVAL;
    memcpy(out->bucket, name, blen);
    out->bucket[blen] = '\0';
    if (backend_check_bucket_name(out->bucket, NULL) != 0) return -EINVAL;
    if (!slash || slash[1] == '\0') {
        out->kind = FP_BUCKET;
        return 0;
    }
    const char *key = slash + 1;
    size_t klen = strlen(key);
    if (klen > BACKEND_KEY_MAX) return -ENAMETOOLONG;
    memcpy(out->key, key, klen + 1);
    aug_err_t err;
    int rc = backend_check_key(out->key, &err);
    if (rc == AUG_ETOOLONG) return -ENAMETOOLONG;
    if (rc != 0) return -EINVAL;
    out->kind = FP_KEY;
    return 0;
}

int fpath_marker(const fpath_t *p, char *out)
{
    size_t n = strlen(p->key);
    if (n + 1 > BACKEND_KEY_MAX) return -ENAMETOOLONG;
    memcpy(out, p->key, n);
    out[n] = '/';
    out[n + 1] = '\0';
    return 0;
}

int augfs_errno(int aug_code)
{
    switch (aug_code) {
    case AUG_OK:
        return 0;
    case AUG_EINVAL:
        return -EINVAL;
    case AUG_ENOENT:
        return -ENOENT;
    case AUG_EEXIST:
        return -EEXIST;
    case AUG_ENOTEMPTY:
        return -ENOTEMPTY;
    case AUG_ENOMEM:
        return -ENOMEM;
    case AUG_ETOOLONG:
        return -ENAMETOOLONG;
    case AUG_ECANCELED:
        return -EINTR;
    /* a node failed, too few are up, or the data cannot be rebuilt: the request failed,
     * the store did not say no */
    case AUG_EIO:
    case AUG_EQUORUM:
    case AUG_EUNAVAIL:
    case AUG_ECORRUPT:
    default:
        return -EIO;
    }
}
