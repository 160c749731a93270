/* listing.c - ListObjects over every reachable node: each node's names are listed in byte order
 * in batches, merged, and each key's newest manifest decides whether it is live. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A listing takes as many names per node and round as its page asks (plus one, to tell
 * whether more follow), within these bounds: each round walks every node's directory once, so
 * a page of 10,000 keys in rounds of 1,000 walked it ten times. The merge is exact up to the
 * smallest last name of any node whose batch was full. */
#define LIST_BATCH_MAX 16384
/* Sorts after every byte of valid UTF-8: appended to a prefix, it skips all names below it. */
#define AFTER_ALL "\xff"

typedef struct name_batch {
    char **names;
    size_t n, cap;
    int full;
    int failed;
} name_batch_t;

static int batch_add(void *arg, const char *name)
{
    name_batch_t *nb = arg;
    char *copy = strdup(name);
    if (!copy) {
        nb->failed = 1;
        return 1;
    }
    nb->names[nb->n++] = copy;
    if (nb->n == nb->cap) {
        nb->full = 1;
        return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct lister {
    backend_t *b;
    const char *bucket;
    size_t nsp_len; /* length of "m/BUCKET/" */
    const backend_list_opts_t *opts;
    size_t max;
    backend_list_result_t *res;
    char *last_prefix; /* most recent common prefix seen */
    int done;
} lister_t;

static int push_object(lister_t *ls, backend_manifest_t *m)
{
    backend_list_result_t *r = ls->res;
    backend_manifest_t **p = realloc(r->objects, (r->n_objects + 1) * sizeof(*p));
    if (!p) return AUG_ENOMEM;
    r->objects = p;
    r->objects[r->n_objects++] = m;
    return 0;
}

static int push_prefix(lister_t *ls, const char *prefix)
{
    backend_list_result_t *r = ls->res;
    char **p = realloc(r->prefixes, (r->n_prefixes + 1) * sizeof(*p));
    if (!p) return AUG_ENOMEM;
    r->prefixes = p;
    if (!(r->prefixes[r->n_prefixes] = strdup(prefix))) return AUG_ENOMEM;
    r->n_prefixes++;
    return 0;
}

/* Record the entry (object or prefix) just found; the entry past max marks truncation. */
static int take_entry(lister_t *ls, backend_manifest_t *m, const char *prefix)
{
    backend_list_result_t *r = ls->res;
    if (r->n_objects + r->n_prefixes == ls->max) {
        r->truncated = 1;
        ls->done = 1;
        backend_manifest_free(m);
        return 0;
    }
    const char *last = m ? m->key : prefix;
    free(r->next_marker);
    r->next_marker = strdup(last);
    if (!r->next_marker) {
        backend_manifest_free(m);
        return AUG_ENOMEM;
    }
    return m ? push_object(ls, m) : push_prefix(ls, prefix);
}

/* Consider one node name in order. *cursor is advanced past what was consumed; *skip is set
 * when the cursor jumped past a whole common prefix (names up to it are then passed over). */
static int consider(lister_t *ls, const char *name, char **cursor, int *skip)
{
    const char *key = name + ls->nsp_len;
    const char *delim = ls->opts->delimiter;
    size_t plen = ls->opts->prefix ? strlen(ls->opts->prefix) : 0;
    char *cp = NULL;
    if (delim && *delim) {
        const char *hit = strstr(key + plen, delim);
        if (hit) {
            size_t cplen = (size_t)(hit - key) + strlen(delim);
            cp = strndup(key, cplen);
            if (!cp) return AUG_ENOMEM;
        }
    }
    int rc = 0;
    if (cp && ls->opts->start_after && strcmp(cp, ls->opts->start_after) <= 0) {
        /* this prefix was handed out on an earlier page */
    } else {
        backend_manifest_t *m = NULL;
        int r = record_read(ls->b, name, &m, NULL);
        if (r == AUG_EUNAVAIL) rc = r;
        else if (r == 0 && !m->deleted) {
            if (cp) {
                rc = take_entry(ls, NULL, cp);
                backend_manifest_free(m);
            } else {
                rc = take_entry(ls, m, NULL);
            }
            m = NULL;
        } else {
            backend_manifest_free(m);
            free(cp);
            cp = NULL; /* a tombstone: keep looking below the prefix */
        }
        if (cp == NULL) {
            free(*cursor);
            *cursor = strdup(name);
            return rc == 0 && !*cursor ? AUG_ENOMEM : rc;
        }
    }
    /* jump past everything below the common prefix */
    free(*cursor);
    size_t n = ls->nsp_len + strlen(cp) + sizeof(AFTER_ALL);
    *cursor = malloc(n);
    if (*cursor) snprintf(*cursor, n, "%.*s%s" AFTER_ALL, (int)ls->nsp_len, name, cp);
    free(cp);
    *skip = 1;
    return *cursor ? rc : AUG_ENOMEM;
}

void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int names_merge_round(backend_t *b, const char *nsprefix, const char *cursor, size_t batch,
                      int want, char ***out, size_t *n_out, int *exhausted)
{
    name_batch_t batches[AUG_MAX_NODES] = {{0}};
    int answered = 0, rc = 0;
    const char *bound = NULL; /* names above this may be missing from a full batch */
    size_t total = 0;
    for (int i = 0; i < b->n_nodes && rc == 0 && answered < want; i++) {
        if (!backend_node_usable(b, i)) continue;
        batches[i].names = malloc(batch * sizeof(char *));
        batches[i].cap = batch;
        if (!batches[i].names) {
            rc = AUG_ENOMEM;
            break;
        }
        int r = b->nodes[i]->ops->list(b->nodes[i], nsprefix, cursor, batch_add, &batches[i]);
        backend_note_node(b, i, r);
        if (batches[i].failed) rc = AUG_ENOMEM;
        if (r != 0) {
            batches[i].full = 0;
            continue;
        }
        answered++;
        total += batches[i].n;
        if (batches[i].full) {
            const char *last = batches[i].names[batches[i].n - 1];
            if (!bound || strcmp(last, bound) < 0) bound = last;
        }
    }
    if (rc == 0 && answered < records_quorum(b)) rc = AUG_EUNAVAIL;
    char **merged = rc == 0 ? malloc((total ? total : 1) * sizeof(char *)) : NULL;
    if (rc == 0 && !merged) rc = AUG_ENOMEM;
    size_t nm = 0;
    for (int i = 0; i < b->n_nodes; i++) {
        for (size_t j = 0; j < batches[i].n; j++) {
            char *nm_i = batches[i].names[j];
            if (rc == 0 && (!bound || strcmp(nm_i, bound) <= 0)) merged[nm++] = nm_i;
            else if (nm_i != bound) free(nm_i);
        }
    }
    /* bound itself was kept in merged (it is <= bound) unless we failed */
    if (rc != 0 && bound) free((char *)bound);
    for (int i = 0; i < b->n_nodes; i++) free(batches[i].names);
    if (rc != 0) {
        names_free(merged, nm);
        return rc;
    }
    qsort(merged, nm, sizeof(char *), cmp_str);
    size_t u = 0; /* drop duplicates: the same name comes from several nodes */
    for (size_t i = 0; i < nm; i++) {
        if (u > 0 && strcmp(merged[i], merged[u - 1]) == 0) free(merged[i]);
        else merged[u++] = merged[i];
    }
    *out = merged;
    *n_out = u;
    *exhausted = bound == NULL;
    return 0;
}

/* One round: merge a batch of names after cursor and consider them in order. */
static int list_round(lister_t *ls, const char *nsprefix, char **cursor)
{
    char **merged;
    size_t nm;
    int exhausted;
    size_t batch = ls->max + 1;
    if (batch < NAMES_BATCH) batch = NAMES_BATCH;
    if (batch > LIST_BATCH_MAX) batch = LIST_BATCH_MAX;
    /* a listing shows acknowledged keys, which enough nodes hold (listing_nodes); each
     * further node would only walk the same directory again */
    int rc = names_merge_round(ls->b, nsprefix, *cursor, batch, listing_nodes(ls->b), &merged, &nm,
                               &exhausted);
    if (rc != 0) return rc;
    /* After a common prefix the cursor jumps past every name below it. The rest of the batch
     * is still exact, so go on with its names beyond the cursor: fetching a new batch from
     * every node for each common prefix made delimiter listings quadratic. */
    for (size_t i = 0; rc == 0 && i < nm && !ls->done; i++) {
        if (*cursor && strcmp(merged[i], *cursor) <= 0) continue;
        int skip = 0;
        rc = consider(ls, merged[i], cursor, &skip);
    }
    if (rc == 0 && exhausted) ls->done = 1;
    names_free(merged, nm);
    return rc;
}

int backend_list(backend_t *b, const char *bucket, const backend_list_opts_t *opts,
                 backend_list_result_t **out, aug_err_t *err)
{
    int rc = backend_bucket_stat(b, bucket, NULL, err);
    if (rc != 0) return rc;
    const char *prefix = opts->prefix ? opts->prefix : "";
    if (strlen(prefix) > BACKEND_KEY_MAX)
        return aug_err_set(err, AUG_ETOOLONG, "prefix longer than %d bytes", BACKEND_KEY_MAX);
    /* The prefix up to its last '/' becomes a directory path on the nodes. When it could not
     * begin any valid key ("../", "a//", "\xff/", a component over 255 bytes) nothing
     * matches, and it must not reach a node: "../other/" would list another bucket's keys
     * and an impossible path would make every node look failed. */
    int matches_nothing = 0;
    const char *last_slash = strrchr(prefix, '/');
    if (last_slash) {
        char *dir = strndup(prefix, (size_t)(last_slash - prefix) + 1);
        if (!dir) return aug_err_set(err, AUG_ENOMEM, "out of memory");
        matches_nothing = backend_check_key(dir, NULL) != 0;
        free(dir);
    }
    char nsprefix[PATH_MAX];
    snprintf(nsprefix, sizeof(nsprefix), NS_MANIFESTS "%s/%s", bucket, prefix);
    lister_t ls = {.b = b, .bucket = bucket, .opts = opts, .done = matches_nothing};
    ls.nsp_len = strlen(NS_MANIFESTS) + strlen(bucket) + 1;
    ls.max = opts->max_keys ? opts->max_keys : 1000;
    ls.res = calloc(1, sizeof(*ls.res));
    if (!ls.res) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    char *cursor = NULL;
    if (opts->start_after && *opts->start_after) {
        size_t n = ls.nsp_len + strlen(opts->start_after) + 1;
        cursor = malloc(n);
        if (cursor) snprintf(cursor, n, NS_MANIFESTS "%s/%s", bucket, opts->start_after);
        else rc = AUG_ENOMEM;
    }
    while (rc == 0 && !ls.done) rc = list_round(&ls, nsprefix, &cursor);
    free(cursor);
    free(ls.last_prefix);
    if (rc != 0) {
        backend_list_free(ls.res);
        if (rc == AUG_EUNAVAIL)
            return aug_err_set(err, rc, "too many nodes are unreachable to list '%s' reliably",
                               bucket);
        return aug_err_set(err, rc, "listing '%s' failed: %s", bucket, aug_strerror(rc));
    }
    if (!ls.res->truncated) {
        free(ls.res->next_marker);
        ls.res->next_marker = NULL;
    }
    *out = ls.res;
    return 0;
}

void backend_list_free(backend_list_result_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_objects; i++) backend_manifest_free(r->objects[i]);
    for (size_t i = 0; i < r->n_prefixes; i++) free(r->prefixes[i]);
    free(r->objects);
    free(r->prefixes);
    free(r->next_marker);
    free(r);
}
