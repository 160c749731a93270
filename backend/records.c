/* records.c - small records (manifests, bucket records) replicated on every node; the newest
 * valid copy wins, and copies that are missing, corrupt or older can be repaired. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* A node that failed is skipped for this long before it is tried again. */
#define NODE_RETRY_NS (2LL * 1000000000LL)

void backend_note_node_timed(backend_t *b, int i, int rc, int64_t start_ns)
{
    atomic_fetch_add(&b->node_timed[i], 1);
    atomic_fetch_add(&b->node_time_us[i], (uint64_t)((aug_mono_ns() - start_ns) / 1000));
    backend_note_node(b, i, rc);
}

void backend_note_node(backend_t *b, int i, int rc)
{
    atomic_fetch_add(&b->node_ops[i], 1);
    if (rc == AUG_EIO || rc == AUG_ECORRUPT) atomic_fetch_add(&b->node_errors[i], 1);
    if (rc == AUG_EIO) {
        if (atomic_exchange(&b->node_down[i], 1) == 0)
            aug_warn("node %s is unreachable; continuing without it", b->nodes[i]->spec);
        atomic_store(&b->node_down_since[i], aug_mono_ns());
    } else if (rc == 0 || rc == AUG_ENOENT || rc == AUG_ECORRUPT) {
        if (atomic_exchange(&b->node_down[i], 0) == 1)
            aug_info("node %s is reachable again", b->nodes[i]->spec);
    }
}

int backend_node_usable(backend_t *b, int i)
{
    if (!atomic_load(&b->node_down[i])) return 1;
    return aug_mono_ns() - atomic_load(&b->node_down_since[i]) > NODE_RETRY_NS;
}

int records_quorum(const backend_t *b)
{
    return b->n_nodes - b->write_quorum + 1;
}

int listing_nodes(const backend_t *b)
{
    int n = records_quorum(b) + b->m;
    return n < b->n_nodes ? n : b->n_nodes;
}

int record_read(backend_t *b, const char *name, backend_manifest_t **out, int *stale)
{
    backend_manifest_t *copies[AUG_MAX_NODES] = {0};
    int answered = 0;
    int state[AUG_MAX_NODES]; /* 0 skipped/down, 1 missing, 2 corrupt, 3 present */
    backend_manifest_t *best = NULL;
    /* a record acknowledged on write_quorum nodes is on at least one of any
     * n - write_quorum + 1 nodes: fewer answers could miss the newest copy */
    int needed = records_quorum(b), present = 0;
    for (int i = 0; i < b->n_nodes; i++)
        state[i] = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        /* With no repairs to find, that many valid copies decide: the rest of the nodes can
         * only confirm them. A missing or damaged copy among them makes us read every node. */
        if (!stale && present >= needed && present == answered) break;
        if (!backend_node_usable(b, i)) continue;
        void *buf = NULL;
        size_t len = 0;
        int64_t t0 = aug_mono_ns();
        int rc = node_get_all(b->nodes[i], name, MANIFEST_MAX, &buf, &len);
        backend_note_node_timed(b, i, rc, t0);
        if (rc == AUG_EIO || rc == AUG_ENOMEM || rc == AUG_EINVAL) continue;
        answered++;
        if (rc == AUG_ENOENT) {
            state[i] = 1;
            continue;
        }
        if (rc == 0) rc = manifest_decode(buf, len, &copies[i]);
        free(buf);
        if (rc != 0) {
            if (rc == AUG_ECORRUPT)
                aug_warn("node %s: copy of %s failed its checksum; ignoring it",
                         b->nodes[i]->spec, name);
            state[i] = 2;
            continue;
        }
        state[i] = 3;
        present++;
        if (!best || manifest_newer(copies[i], best)) best = copies[i];
    }
    int rc = 0;
    if (answered < needed) rc = AUG_EUNAVAIL;
    else if (!best) rc = AUG_ENOENT;
    if (stale) {
        for (int i = 0; i < b->n_nodes; i++)
            stale[i] = state[i] == 1 || state[i] == 2 ||
                       (state[i] == 3 && best && copies[i] != best &&
                        manifest_newer(best, copies[i]));
    }
    for (int i = 0; i < b->n_nodes; i++)
        if (copies[i] != best) backend_manifest_free(copies[i]);
    if (rc != 0) {
        backend_manifest_free(best);
        best = NULL;
    }
    *out = best;
    return rc;
}

/* 1 when node i already holds a valid copy of name newer than m. Fix: record_write and
 * record_repair replaced copies blindly, so a put that started first (older written_ns) but
 * finished last, or a heal-on-read racing a put, rolled a newer acknowledged version back on
 * every node. Checked just before each commit; a write landing between this check and the
 * rename can still be overwritten (closing that needs a conditional commit in the driver). */
static int node_has_newer(backend_t *b, int i, const char *name, const backend_manifest_t *m)
{
    void *buf = NULL;
    size_t len = 0;
    if (node_get_all(b->nodes[i], name, MANIFEST_MAX, &buf, &len) != 0) return 0;
    backend_manifest_t *cur = NULL;
    int newer = manifest_decode(buf, len, &cur) == 0 && manifest_newer(cur, m);
    free(buf);
    backend_manifest_free(cur);
    return newer;
}

int record_write(backend_t *b, const char *name, const backend_manifest_t *m, aug_err_t *err)
{
    uint8_t *buf;
    size_t len;
    if (manifest_encode(m, &buf, &len) != 0) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    /* Two phases (fix: committing to each node in turn and counting afterwards left a refused
     * write visible, since one copy is the newest and wins every read). Stage the copy on
     * every reachable node; commit only when at least write_quorum of them took it, else
     * abort them all. Only a node failing between the phases can still leave a partial. */
    node_writer_t *w[AUG_MAX_NODES] = {0};
    int staged = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        if (!backend_node_usable(b, i)) continue;
        node_t *nd = b->nodes[i];
        int rc = nd->ops->put_begin(nd, name, &w[i]);
        if (rc == 0 && (rc = nd->ops->put_append(w[i], buf, len)) != 0) nd->ops->put_abort(w[i]);
        if (rc != 0) w[i] = NULL;
        else staged++;
        backend_note_node(b, i, rc);
    }
    free(buf);
    int ok = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        if (!w[i]) continue;
        if (staged < b->write_quorum) {
            b->nodes[i]->ops->put_abort(w[i]);
            continue;
        }
        if (node_has_newer(b, i, name, m)) {
            /* superseded here already: the node holds what a later write left, as it should */
            b->nodes[i]->ops->put_abort(w[i]);
            ok++;
            continue;
        }
        int rc = b->nodes[i]->ops->put_commit(w[i]);
        backend_note_node(b, i, rc);
        if (rc == 0) ok++;
    }
    if (ok < b->write_quorum)
        return aug_err_set(err, AUG_EQUORUM,
                           "only %d of %d nodes took the write; %d are needed (write_quorum)", ok,
                           b->n_nodes, b->write_quorum);
    return 0;
}

int record_repair(backend_t *b, const char *name, const backend_manifest_t *m, const int *which)
{
    uint8_t *buf;
    size_t len;
    if (manifest_encode(m, &buf, &len) != 0) return 0;
    int ok = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        if (!which[i] || !backend_node_usable(b, i)) continue;
        /* the copy found stale may have been replaced by a newer write since it was read */
        if (node_has_newer(b, i, name, m)) continue;
        int rc = node_put_all(b->nodes[i], name, buf, len);
        backend_note_node(b, i, rc);
        if (rc == 0) ok++;
    }
    free(buf);
    return ok;
}
