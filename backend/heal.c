/* heal.c - walk every bucket and object, restore full redundancy, collect unreferenced data. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing set of referenced data object ids, for the collection sweep. */
typedef struct id_set {
    uint8_t (*ids)[BACKEND_VERSION_ID_LEN];
    uint8_t *used;
    size_t cap, n;
} id_set_t;

static int id_set_grow(id_set_t *s);

static int id_set_add(id_set_t *s, const uint8_t *id)
{
    if ((s->n + 1) * 2 > s->cap && id_set_grow(s) != 0) return AUG_ENOMEM;
    size_t i = aug_hash64(id, BACKEND_VERSION_ID_LEN, 1) & (s->cap - 1);
    while (s->used[i]) {
        if (memcmp(s->ids[i], id, BACKEND_VERSION_ID_LEN) == 0) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->used[i] = 1;
    memcpy(s->ids[i], id, BACKEND_VERSION_ID_LEN);
    s->n++;
    return 0;
}

static int id_set_has(const id_set_t *s, const uint8_t *id)
{
    if (s->cap == 0) return 0;
    size_t i = aug_hash64(id, BACKEND_VERSION_ID_LEN, 1) & (s->cap - 1);
    while (s->used[i]) {
        if (memcmp(s->ids[i], id, BACKEND_VERSION_ID_LEN) == 0) return 1;
        i = (i + 1) & (s->cap - 1);
    }
    return 0;
}

static int id_set_grow(id_set_t *s)
{
    id_set_t bigger = {.cap = s->cap ? s->cap * 2 : 1024};
    bigger.ids = calloc(bigger.cap, BACKEND_VERSION_ID_LEN);
    bigger.used = calloc(bigger.cap, 1);
    if (!bigger.ids || !bigger.used) {
        free(bigger.ids);
        free(bigger.used);
        return AUG_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->used[i]) id_set_add(&bigger, s->ids[i]);
    free(s->ids);
    free(s->used);
    *s = bigger;
    return 0;
}

typedef struct healer {
    backend_t *b;
    backend_heal_report_fn report;
    void *arg;
    backend_heal_stats_t st;
    id_set_t refs;
    int incomplete; /* the walk missed something: do not collect garbage */
} healer_t;

static void say(healer_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(healer_t *h, const char *fmt, ...)
{
    if (!h->report) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    h->report(h->arg, line);
}

static int discard(void *arg, const void *buf, size_t len)
{
    (void)arg, (void)buf, (void)len;
    return 0;
}

/* Heal one replicated record (manifest or bucket record); returns it for further checks. */
static int heal_record(healer_t *h, const char *name, backend_manifest_t **out)
{
    int stale[AUG_MAX_NODES];
    backend_manifest_t *m = NULL;
    int rc = record_read(h->b, name, &m, stale);
    if (rc != 0) {
        if (rc != AUG_ENOENT) h->incomplete = 1;
        return rc;
    }
    int n = record_repair(h->b, name, m, stale);
    if (n > 0) {
        h->st.manifests_repaired += (uint64_t)n;
        say(h, "repaired %d cop%s of %s", n, n == 1 ? "y" : "ies", name);
    }
    *out = m;
    return 0;
}

static void heal_object(healer_t *h, const backend_manifest_t *m)
{
    const struct backend_layout *l = m->layout;
    h->st.objects_checked++;
    if (l->is_inline) return;
    for (uint32_t i = 0; i < l->n_objects; i++) {
        const backend_object_t *o = &l->objects[i];
        if (id_set_add(&h->refs, o->id) != 0) h->incomplete = 1;
        int repaired = 0;
        aug_err_t err;
        aug_err_clear(&err);
        int rc = object_read(h->b, o, 0, o->size, discard, NULL, 1, &repaired, &err);
        if (repaired > 0) {
            h->st.shards_repaired += (uint64_t)repaired;
            say(h, "%s/%s: rebuilt %d shard%s", m->bucket, m->key, repaired,
                repaired == 1 ? "" : "s");
        }
        if (rc != 0) {
            h->st.objects_unrecoverable++;
            say(h, "%s/%s: cannot be repaired: %s", m->bucket, m->key, err.msg);
        }
    }
}

/* Visit every name under nsprefix across nodes, in order. */
static int walk_names(healer_t *h, const char *nsprefix,
                      void (*visit)(healer_t *h, const char *name))
{
    char *cursor = NULL;
    for (;;) {
        char **names;
        size_t n;
        int exhausted;
        int rc = names_merge_round(h->b, nsprefix, cursor, NAMES_BATCH, h->b->n_nodes, &names, &n,
                                   &exhausted);
        if (rc != 0) {
            free(cursor);
            h->incomplete = 1;
            return rc;
        }
        for (size_t i = 0; i < n; i++) visit(h, names[i]);
        free(cursor);
        cursor = n ? strdup(names[n - 1]) : NULL;
        names_free(names, n);
        if (exhausted || !cursor) break;
    }
    free(cursor);
    return 0;
}

static void visit_manifest(healer_t *h, const char *name)
{
    backend_manifest_t *m;
    if (heal_record(h, name, &m) != 0) return;
    if (!m->deleted) heal_object(h, m);
    backend_manifest_free(m);
}

static void visit_bucket(healer_t *h, const char *name)
{
    backend_manifest_t *rec;
    if (heal_record(h, name, &rec) != 0) return;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), NS_MANIFESTS "%s/", rec->bucket);
    walk_names(h, prefix, visit_manifest);
    /* parts of multipart uploads in progress are data in use too */
    snprintf(prefix, sizeof(prefix), NS_UPLOADS "%s/", rec->bucket);
    walk_names(h, prefix, visit_manifest);
    backend_manifest_free(rec);
}

typedef struct sweep {
    healer_t *h;
    node_t *node;
    int64_t cutoff;
    char **doomed;
    size_t n, cap;
} sweep_t;

/* List callback: note chunk files that are unreferenced and old enough. */
static int sweep_consider(void *arg, const char *name)
{
    sweep_t *sw = arg;
    const char *base = strrchr(name, '/');
    uint8_t id[BACKEND_VERSION_ID_LEN];
    if (!base || strlen(base + 1) < 2 * BACKEND_VERSION_ID_LEN + 2 ||
        aug_unhex(base + 1, id, sizeof(id)) != 0 || id_set_has(&sw->h->refs, id))
        return 0;
    node_stat_t st;
    if (sw->node->ops->stat(sw->node, name, &st) != 0 || st.mtime_ns > sw->cutoff) return 0;
    if (sw->n == sw->cap) {
        size_t cap = sw->cap ? sw->cap * 2 : 64;
        char **p = realloc(sw->doomed, cap * sizeof(*p));
        if (!p) return 1;
        sw->doomed = p;
        sw->cap = cap;
    }
    if ((sw->doomed[sw->n] = strdup(name)) != NULL) sw->n++;
    return 0;
}

/* Remove chunk files no manifest refers to, once older than the grace period (a put in
 * progress writes its chunks before its manifest). Removal waits until the listing is over
 * so the walk never sees directories pruned under it. */
static void collect_node(healer_t *h, int i)
{
    node_t *nd = h->b->nodes[i];
    sweep_t sw = {.h = h, .node = nd};
    sw.cutoff = aug_now_ns() - (int64_t)h->b->gc_grace_ms * 1000000LL;
    if (nd->ops->sweep_partial) {
        int n = nd->ops->sweep_partial(nd, sw.cutoff);
        if (n > 0) say(h, "node %s: removed %d abandoned temporary file%s", nd->spec, n,
                       n == 1 ? "" : "s");
    }
    nd->ops->list(nd, NS_DATA, NULL, sweep_consider, &sw);
    for (size_t j = 0; j < sw.n; j++) {
        if (nd->ops->remove(nd, sw.doomed[j]) == 0) {
            h->st.garbage_removed++;
            say(h, "node %s: removed unreferenced %s", nd->spec, sw.doomed[j]);
        }
        free(sw.doomed[j]);
    }
    free(sw.doomed);
}

int backend_heal(backend_t *b, backend_heal_report_fn report, void *arg,
                 backend_heal_stats_t *stats, aug_err_t *err)
{
    healer_t h = {.b = b, .report = report, .arg = arg};
    int up = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        backend_node_status_t ns;
        backend_node_status(b, i, &ns);
        if (ns.up) up++;
        else say(&h, "node %s is down: %s", ns.spec, ns.reason);
    }
    int rc = walk_names(&h, NS_BUCKETS, visit_bucket);
    if (rc == 0 && !h.incomplete && up == b->n_nodes)
        for (int i = 0; i < b->n_nodes; i++) collect_node(&h, i);
    free(h.refs.ids);
    free(h.refs.used);
    if (stats) *stats = h.st;
    if (rc == AUG_EUNAVAIL || (rc == 0 && h.incomplete && up < b->n_nodes - b->write_quorum + 1))
        return aug_err_set(err, AUG_EUNAVAIL, "too many nodes are down to heal (%d of %d up)", up,
                           b->n_nodes);
    if (rc != 0) return aug_err_set(err, rc, "heal failed: %s", aug_strerror(rc));
    if (h.st.objects_unrecoverable > 0)
        return aug_err_set(err, AUG_EUNAVAIL, "%llu object(s) could not be repaired",
                           (unsigned long long)h.st.objects_unrecoverable);
    if (up < b->n_nodes)
        return aug_err_set(err, AUG_EUNAVAIL,
                           "%d node(s) down: redundancy cannot be restored until they are back "
                           "or replaced",
                           b->n_nodes - up);
    return 0;
}
