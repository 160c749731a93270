/* node.c - opening nodes by spec and whole-blob helpers over any driver. */
#include "node.h"

#include <stdlib.h>
#include <string.h>

int node_open(const char *spec, node_t **out, aug_err_t *err)
{
    if (strncmp(spec, "dir:", 4) == 0) return node_dir_open(spec + 4, out, err);
    return aug_err_set(err, AUG_EINVAL, "node '%s': unknown driver (expected dir:/path)", spec);
}

int node_get_all(node_t *n, const char *name, size_t max, void **buf, size_t *len)
{
    node_stat_t st;
    int rc = n->ops->stat(n, name, &st);
    if (rc != 0) return rc;
    if (st.size > max) return AUG_ECORRUPT;
    /* one spare byte tells us if the blob grew between stat and read */
    char *p = malloc(st.size + 1);
    if (!p) return AUG_ENOMEM;
    size_t got;
    rc = n->ops->get(n, name, 0, p, st.size + 1, &got);
    if (rc != 0) {
        free(p);
        return rc;
    }
    if (got > st.size) {
        free(p);
        return node_get_all(n, name, max, buf, len);
    }
    *buf = p;
    *len = got;
    return 0;
}

int node_put_all(node_t *n, const char *name, const void *buf, size_t len)
{
    node_writer_t *w;
    int rc = n->ops->put_begin(n, name, &w);
    if (rc != 0) return rc;
    rc = n->ops->put_append(w, buf, len);
    if (rc != 0) {
        n->ops->put_abort(w);
        return rc;
    }
    return n->ops->put_commit(w);
}
