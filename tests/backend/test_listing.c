/* test_listing.c - backend_list behaves as S3 ListObjects: checked against an in-memory model
 * over randomised puts, overwrites and deletes while nodes go down and come back, plus the
 * bucket life cycle. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_NODES 6
#define K 4
#define M 2
#define STRIPE 4096
#define INLINE_MAX 64
#define BUCKET "list"

static test_cluster_t cl;
static backend_t *be;
static int down[N_NODES];

/* ---- deterministic randomness ------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* ---- the model: live keys sorted bytewise ------------------------------------------------- */

typedef struct model_key {
    char *key;
    uint64_t size;
} model_key_t;

typedef struct model {
    model_key_t *keys;
    size_t n, cap;
} model_t;

static model_t model;

static size_t model_find(const model_t *md, const char *key, int *found)
{
    size_t lo = 0, hi = md->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(md->keys[mid].key, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static void model_put(model_t *md, const char *key, uint64_t size)
{
    int found;
    size_t i = model_find(md, key, &found);
    if (found) {
        md->keys[i].size = size;
        return;
    }
    if (md->n == md->cap) {
        md->cap = md->cap ? md->cap * 2 : 64;
        md->keys = realloc(md->keys, md->cap * sizeof(*md->keys));
    }
    memmove(md->keys + i + 1, md->keys + i, (md->n - i) * sizeof(*md->keys));
    md->keys[i].key = strdup(key);
    md->keys[i].size = size;
    md->n++;
}

static void model_delete(model_t *md, const char *key)
{
    int found;
    size_t i = model_find(md, key, &found);
    if (!found) return;
    free(md->keys[i].key);
    memmove(md->keys + i, md->keys + i + 1, (md->n - i - 1) * sizeof(*md->keys));
    md->n--;
}

static void model_clear(model_t *md)
{
    for (size_t i = 0; i < md->n; i++)
        free(md->keys[i].key);
    free(md->keys);
    memset(md, 0, sizeof(*md));
}

/* One entry of a listing: a key (with its size) or a common prefix. */
typedef struct entry {
    char *name;
    int is_prefix;
    uint64_t size;
} entry_t;

typedef struct listing {
    entry_t *e;
    size_t n;
    int truncated;
} listing_t;

static void listing_free(listing_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

static void listing_add(listing_t *l, const char *name, int is_prefix, uint64_t size)
{
    l->e = realloc(l->e, (l->n + 1) * sizeof(*l->e));
    l->e[l->n].name = strdup(name);
    l->e[l->n].is_prefix = is_prefix;
    l->e[l->n].size = size;
    l->n++;
}

/* What S3 returns: keys with the prefix, those with the delimiter after the prefix rolled up
 * into prefix + text up to and including it; entries strictly after start_after (a common
 * prefix at or before it was handed out already); the first max_keys of them. */
static void model_list(const model_t *md, const backend_list_opts_t *o, listing_t *out)
{
    const char *prefix = o->prefix ? o->prefix : "";
    size_t plen = strlen(prefix), max = o->max_keys ? o->max_keys : 1000;
    const char *delim = o->delimiter && *o->delimiter ? o->delimiter : NULL;
    const char *after = o->start_after && *o->start_after ? o->start_after : NULL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < md->n; i++) {
        const char *key = md->keys[i].key;
        if (strncmp(key, prefix, plen) != 0) continue;
        const char *hit = delim ? strstr(key + plen, delim) : NULL;
        char *name = hit ? strndup(key, (size_t)(hit - key) + strlen(delim)) : strdup(key);
        int skip = (after && strcmp(name, after) <= 0) ||
                   (hit && out->n > 0 && out->e[out->n - 1].is_prefix &&
                    strcmp(out->e[out->n - 1].name, name) == 0);
        if (!skip) {
            if (out->n == max) {
                out->truncated = 1;
                free(name);
                break;
            }
            listing_add(out, name, hit != NULL, hit ? 0 : md->keys[i].size);
        }
        free(name);
    }
}

/* ---- comparing the backend with the model ------------------------------------------------- */

static char *describe(const backend_list_opts_t *o)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "prefix=%s%s%s delimiter=%s%s%s start_after=%s%s%s max_keys=%zu",
             o->prefix ? "'" : "", o->prefix ? o->prefix : "NULL", o->prefix ? "'" : "",
             o->delimiter ? "'" : "", o->delimiter ? o->delimiter : "NULL", o->delimiter ? "'" : "",
             o->start_after ? "'" : "", o->start_after ? o->start_after : "NULL",
             o->start_after ? "'" : "", o->max_keys);
    return buf;
}

/* Merge a backend result into one ordered listing (objects and prefixes interleaved); checks
 * that each part is sorted and that objects are live and whole. Returns 0 when well formed. */
static int result_to_listing(const backend_list_result_t *r, listing_t *out)
{
    int bad = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i + 1 < r->n_objects; i++)
        if (strcmp(r->objects[i]->key, r->objects[i + 1]->key) >= 0) bad = 1;
    for (size_t i = 0; i + 1 < r->n_prefixes; i++)
        if (strcmp(r->prefixes[i], r->prefixes[i + 1]) >= 0) bad = 1;
    size_t i = 0, j = 0;
    while (i < r->n_objects || j < r->n_prefixes) {
        if (j < r->n_prefixes &&
            (i == r->n_objects || strcmp(r->prefixes[j], r->objects[i]->key) < 0)) {
            listing_add(out, r->prefixes[j++], 1, 0);
        } else {
            const backend_manifest_t *m = r->objects[i++];
            if (m->deleted || strcmp(m->bucket, BUCKET) != 0) bad = 1;
            listing_add(out, m->key, 0, m->size);
        }
    }
    out->truncated = r->truncated;
    return bad;
}

static int listings_equal(const listing_t *a, const listing_t *b)
{
    if (a->n != b->n || a->truncated != b->truncated) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, b->e[i].name) != 0 || a->e[i].is_prefix != b->e[i].is_prefix ||
            a->e[i].size != b->e[i].size)
            return 0;
    return 1;
}

static void print_listing(const char *label, const listing_t *l)
{
    fprintf(stderr, "  %s (%zu entries%s):", label, l->n, l->truncated ? ", truncated" : "");
    for (size_t i = 0; i < l->n && i < 40; i++)
        fprintf(stderr, " %s%s", l->e[i].name, l->e[i].is_prefix ? "(P)" : "");
    fprintf(stderr, "\n");
}

static unsigned mismatches; /* reported in detail only for the first few */

/* One backend_list call checked against the model; returns 0 when it matched. */
static int check_one(const backend_list_opts_t *o)
{
    listing_t want, got;
    backend_list_result_t *r = NULL;
    aug_err_t err;
    aug_err_clear(&err);
    model_list(&model, o, &want);
    int rc = backend_list(be, BUCKET, o, &r, &err);
    if (rc != 0) {
        fprintf(stderr, "\n  backend_list(%s): %d %s\n", describe(o), rc, err.msg);
        CU_FAIL("backend_list failed");
        listing_free(&want);
        return 1;
    }
    int bad = result_to_listing(r, &got);
    int same = !bad && listings_equal(&want, &got);
    /* next_marker: the last entry returned, whenever more follow */
    if (same && r->truncated)
        same = r->next_marker && got.n > 0 && strcmp(r->next_marker, got.e[got.n - 1].name) == 0;
    if (!same && mismatches++ < 5) {
        fprintf(stderr, "\n  backend_list(%s) differs from the model%s\n", describe(o),
                bad ? " (malformed result)" : "");
        print_listing("want", &want);
        print_listing("got", &got);
        fprintf(stderr, "  next_marker=%s\n", r->next_marker ? r->next_marker : "NULL");
    }
    CU_ASSERT(same);
    backend_list_free(r);
    listing_free(&want);
    listing_free(&got);
    return !same;
}

/* Page through with next_marker in pages of page_size: the pages together must be exactly
 * the unpaged listing. */
static void check_paging(const backend_list_opts_t *o, size_t page_size)
{
    backend_list_opts_t all = *o, page = *o;
    all.max_keys = 1000;
    page.max_keys = page_size;
    listing_t want, got = {0};
    model_list(&model, &all, &want);
    char *marker = o->start_after ? strdup(o->start_after) : NULL;
    int ok = 1;
    for (int pages = 0; ok; pages++) {
        backend_list_result_t *r = NULL;
        aug_err_t err;
        page.start_after = marker;
        if (pages > 2000 || backend_list(be, BUCKET, &page, &r, &err) != 0) {
            ok = 0;
            break;
        }
        listing_t one;
        if (result_to_listing(r, &one) != 0 || one.n > page_size) ok = 0;
        if (r->truncated && (one.n == 0 || !r->next_marker)) ok = 0;
        for (size_t i = 0; i < one.n; i++)
            listing_add(&got, one.e[i].name, one.e[i].is_prefix, one.e[i].size);
        listing_free(&one);
        free(marker);
        marker = r->truncated && r->next_marker ? strdup(r->next_marker) : NULL;
        int more = r->truncated;
        backend_list_free(r);
        if (!more) break;
    }
    free(marker);
    if (ok) ok = listings_equal(&want, &got);
    if (!ok && mismatches++ < 5) {
        fprintf(stderr, "\n  paging by %zu (%s) differs from the model\n", page_size, describe(o));
        print_listing("want", &want);
        print_listing("got", &got);
    }
    CU_ASSERT(ok);
    listing_free(&want);
    listing_free(&got);
}

/* ---- cluster --------------------------------------------------------------------------- */

static void node_down(int i)
{
    if (down[i]) return;
    test_node_down(&cl, i);
    down[i] = 1;
}

/* Bring node i back and tell the backend now (it would otherwise retry it only later). */
static void node_up(int i)
{
    if (!down[i]) return;
    test_node_up(&cl, i);
    down[i] = 0;
    backend_node_status_t st;
    backend_node_status(be, i, &st);
    CU_ASSERT(st.up);
}

static int n_down(void)
{
    int n = 0;
    for (int i = 0; i < cl.n_nodes; i++)
        n += down[i];
    return n;
}

static void all_up(void)
{
    for (int i = 0; i < cl.n_nodes; i++)
        node_up(i);
}

static int suite_setup(void)
{
    test_cluster_init(&cl, "listing", N_NODES, K, M, STRIPE, INLINE_MAX);
    be = test_backend_open(&cl);
    memset(down, 0, sizeof(down));
    return be ? 0 : 1;
}

/* Three nodes, one data and two parity shards (write quorum 2): the same merge logic at half
 * the cost per put, for the test that needs over a thousand keys. */
static int suite_setup_small(void)
{
    test_cluster_init(&cl, "listing-many", 3, 1, 2, STRIPE, INLINE_MAX);
    be = test_backend_open(&cl);
    memset(down, 0, sizeof(down));
    return be ? 0 : 1;
}

static int suite_teardown(void)
{
    all_up();
    backend_close(be);
    test_cluster_destroy(&cl);
    model_clear(&model);
    return 0;
}

/* Start each test from an empty bucket BUCKET on all nodes up. */
static void fresh_bucket(void)
{
    aug_err_t err;
    all_up();
    backend_list_opts_t o = {0};
    backend_list_result_t *r;
    if (backend_bucket_stat(be, BUCKET, NULL, NULL) == 0) {
        /* empty it: delete every live key, then the bucket */
        for (;;) {
            CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
            size_t n = r->n_objects;
            for (size_t i = 0; i < n; i++)
                CU_ASSERT_EQUAL(backend_delete(be, BUCKET, r->objects[i]->key, &err), 0);
            int more = r->truncated;
            backend_list_free(r);
            if (!more) break;
        }
        CU_ASSERT_EQUAL_FATAL(backend_bucket_delete(be, BUCKET, &err), 0);
    }
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(be, BUCKET, &err), 0);
    model_clear(&model);
}

static int put_key(const char *key, uint64_t size)
{
    int rc = test_put(be, BUCKET, key, size * 7 + 1, size);
    if (rc == 0) model_put(&model, key, size);
    return rc;
}

static int delete_key(const char *key)
{
    aug_err_t err;
    int rc = backend_delete(be, BUCKET, key, &err);
    if (rc == 0) model_delete(&model, key);
    return rc;
}

static void list_expect(const char *prefix, const char *delim, const char *after, size_t max)
{
    backend_list_opts_t o = {
        .prefix = prefix, .delimiter = delim, .start_after = after, .max_keys = max};
    check_one(&o);
}

/* ---- the randomised model test ----------------------------------------------------------- */

/* Keys over '-', '.', '/', 'a', 'b' and 'é' (two bytes, above every ASCII byte), so that
 * byte order, prefixes of prefixes and directory markers all matter. */
static const char *const fixed_keys[] = {
    "a",  "a/b", "a-",    "a-/c",     "a/b/", "\xc3\xa9/x", "a/b/c", "a.b",
    "a/", "b",   "b-/a/", "\xc3\xa9", "a--",  "-",          ".a/-",  "a/-/b",
};

#define POOL_MAX 64

static char *pool[POOL_MAX];
static size_t pool_n;

static void random_component(char *out)
{
    static const char *const pieces[] = {"a", "b", "-", ".", "\xc3\xa9", "a", "b"};
    do {
        out[0] = '\0';
        size_t n = 1 + rnd_below(3);
        for (size_t i = 0; i < n; i++)
            strcat(out, pieces[rnd_below(7)]);
    } while (strcmp(out, ".") == 0 || strcmp(out, "..") == 0);
}

static void build_pool(void)
{
    pool_n = 0;
    for (size_t i = 0; i < sizeof(fixed_keys) / sizeof(fixed_keys[0]); i++)
        pool[pool_n++] = strdup(fixed_keys[i]);
    while (pool_n < POOL_MAX) {
        char key[128] = "", comp[16];
        size_t parts = 1 + rnd_below(3);
        for (size_t i = 0; i < parts; i++) {
            random_component(comp);
            if (i) strcat(key, "/");
            strcat(key, comp);
        }
        if (rnd_below(5) == 0) strcat(key, "/");
        int dup = 0;
        for (size_t i = 0; i < pool_n; i++)
            dup |= strcmp(pool[i], key) == 0;
        CU_ASSERT_EQUAL(backend_check_key(key, NULL), 0);
        if (!dup) pool[pool_n++] = strdup(key);
    }
}

static void free_pool(void)
{
    for (size_t i = 0; i < pool_n; i++)
        free(pool[i]);
    pool_n = 0;
}

/* A prefix of a random pool key, cut at a character boundary (possibly the whole key). */
static char *random_cut(void)
{
    const char *k = pool[rnd_below(pool_n)];
    size_t len = strlen(k), cut = rnd_below(len + 1);
    while (cut > 0 && cut < len && ((unsigned char)k[cut] & 0xc0) == 0x80)
        cut--;
    return strndup(k, cut);
}

static char *random_prefix(void)
{
    /* including prefixes no valid key can start with: "../", "a//", "./" */
    static const char *const odd[] = {"a/", "a-", "\xc3\xa9", "zz",  "a/b/",
                                      "-",  "b",  "../",      "a//", "./"};
    switch (rnd_below(10)) {
    case 0:
    case 1:
    case 2:
        return NULL;
    case 3:
        return strdup("");
    case 4:
        return strdup(odd[rnd_below(10)]);
    default:
        return random_cut();
    }
}

static char *random_start_after(const backend_list_opts_t *o)
{
    switch (rnd_below(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
        return NULL;
    case 4:
        return strdup(pool[rnd_below(pool_n)]);
    case 5:
    case 6:
        return random_cut();
    default: {
        /* an entry of the full listing: a key or a common prefix, as a marker would be */
        backend_list_opts_t all = *o;
        all.start_after = NULL;
        all.max_keys = 1000;
        listing_t l;
        model_list(&model, &all, &l);
        char *s = l.n ? strdup(l.e[rnd_below(l.n)].name) : NULL;
        listing_free(&l);
        return s;
    }
    }
}

static void random_queries(int n)
{
    /* S3 takes any string as the delimiter: multi-byte ones too */
    static const char *const delims[] = {NULL, "/", "-", "/", "/b", "\xc3\xa9"};
    static const size_t maxes[] = {1, 2, 3, 7, 1000, 0};
    for (int q = 0; q < n; q++) {
        backend_list_opts_t o = {0};
        char *prefix = random_prefix();
        o.prefix = prefix;
        o.delimiter = delims[rnd_below(6)];
        char *after = random_start_after(&o);
        o.start_after = after;
        o.max_keys = maxes[rnd_below(6)];
        check_one(&o);
        if (q % 4 == 0) check_paging(&o, maxes[rnd_below(4)]);
        free(prefix);
        free(after);
    }
}

static void random_writes(int n)
{
    for (int w = 0; w < n; w++) {
        const char *key = pool[rnd_below(pool_n)];
        int found;
        model_find(&model, key, &found);
        if (found && rnd_below(3) == 0) {
            CU_ASSERT_EQUAL(delete_key(key), 0);
        } else if (!found && rnd_below(4) == 0) {
            aug_err_t err;
            CU_ASSERT_EQUAL(backend_delete(be, BUCKET, key, &err), AUG_ENOENT);
        } else {
            /* mostly inline; one in eight erasure coded over one to three stripes */
            uint64_t size = rnd_below(8) == 0 ? INLINE_MAX + 1 + rnd_below(3 * STRIPE)
                                              : rnd_below(INLINE_MAX + 1);
            CU_ASSERT_EQUAL(put_key(key, size), 0);
        }
    }
}

static void test_listing_matches_model_while_nodes_fail(void)
{
    rng_state = 20240611;
    fresh_bucket();
    build_pool();
    for (int batch = 0; batch < 10; batch++) {
        /* writes need write_quorum = k + 1 nodes: at most one down */
        while (n_down() > 1) {
            int i = (int)rnd_below(N_NODES);
            if (down[i]) node_up(i);
        }
        if (rnd_below(2)) {
            int i = (int)rnd_below(N_NODES);
            if (down[i])
                node_up(i);
            else if (n_down() == 0)
                node_down(i);
        }
        random_writes(10);
        /* listings must hold with up to m nodes down */
        if (n_down() < M && rnd_below(3) == 0) {
            int i = (int)rnd_below(N_NODES);
            node_down(i);
        }
        if (n_down() < M && rnd_below(3) == 0) {
            int i = (int)rnd_below(N_NODES);
            node_down(i);
        }
        random_queries(8);
        if (batch % 5 == 4) {
            /* a disk swapped for an empty one, then heal restores its copies */
            all_up();
            int i = (int)rnd_below(N_NODES);
            test_node_replace_empty(&cl, i);
            backend_node_status_t st;
            backend_node_status(be, i, &st);
            random_queries(4);
            backend_heal_stats_t hs;
            aug_err_t err;
            CU_ASSERT_EQUAL(backend_heal(be, NULL, NULL, &hs, &err), 0);
            CU_ASSERT_EQUAL(hs.objects_unrecoverable, 0);
        }
    }
    all_up();
    /* a prefix cut of every fixed key, with each delimiter, once more with all nodes up */
    for (size_t i = 0; i < sizeof(fixed_keys) / sizeof(fixed_keys[0]); i++) {
        const char *delims[] = {NULL, "/", "-"};
        for (int d = 0; d < 3; d++) {
            char *p = strndup(pool[i], rnd_below(strlen(pool[i]) + 1));
            while (strlen(p) > 0 && ((unsigned char)p[strlen(p) - 1] & 0xc0) == 0xc0)
                p[strlen(p) - 1] = '\0'; /* never end on a lead byte */
            list_expect(p, delims[d], NULL, 1000);
            free(p);
        }
    }
    free_pool();
}

/* ---- specific behaviours ----------------------------------------------------------------- */

static void test_directory_markers_list_as_keys(void)
{
    fresh_bucket();
    const char *keys[] = {"dir/", "dir/a", "dir/sub/", "dir/sub/x", "dir-x", "dir0"};
    for (size_t i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(put_key(keys[i], i), 0);
    list_expect(NULL, NULL, NULL, 0);
    list_expect("dir/", "/", NULL, 0);
    list_expect(NULL, "/", NULL, 0);
    list_expect("dir/sub/", "/", NULL, 0);
    list_expect("dir/sub/", NULL, NULL, 0);
    list_expect("dir", "/", NULL, 0);
    list_expect("dir/", "/", "dir/", 0);

    /* and concretely, so the model itself is checked once */
    backend_list_opts_t o = {.prefix = "dir/", .delimiter = "/"};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 2);
    CU_ASSERT_EQUAL(r->n_prefixes, 1);
    if (r->n_objects == 2) {
        CU_ASSERT_STRING_EQUAL(r->objects[0]->key, "dir/");
        CU_ASSERT_STRING_EQUAL(r->objects[1]->key, "dir/a");
    }
    if (r->n_prefixes == 1) CU_ASSERT_STRING_EQUAL(r->prefixes[0], "dir/sub/");
    CU_ASSERT_FALSE(r->truncated);
    backend_list_free(r);

    backend_list_opts_t top = {.delimiter = "/"};
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &top, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_prefixes, 1);
    CU_ASSERT_EQUAL(r->n_objects, 2);
    if (r->n_prefixes == 1) CU_ASSERT_STRING_EQUAL(r->prefixes[0], "dir/");
    if (r->n_objects == 2) {
        CU_ASSERT_STRING_EQUAL(r->objects[0]->key, "dir-x");
        CU_ASSERT_STRING_EQUAL(r->objects[1]->key, "dir0");
    }
    backend_list_free(r);
}

static void test_byte_order_is_used(void)
{
    fresh_bucket();
    /* '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' < 'A' < 'a' < 0xc3 (first byte of é) */
    const char *keys[] = {"x\xc3\xa9", "xa", "xA", "x0", "x/", "x.", "x-", "x"};
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(put_key(keys[i], 1), 0);
    backend_list_opts_t o = {0};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL_FATAL(r->n_objects, 8);
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_STRING_EQUAL(r->objects[i]->key, keys[7 - i]);
    backend_list_free(r);
    list_expect("x", "/", NULL, 0);
    list_expect("x", "-", NULL, 0);
    list_expect(NULL, NULL, "x/", 0);
    list_expect(NULL, NULL, "x\xc3", 0);
}

static void test_tombstoned_keys_never_appear(void)
{
    fresh_bucket();
    CU_ASSERT_EQUAL(put_key("t/a", 1), 0);
    CU_ASSERT_EQUAL(put_key("t/b", 2), 0);
    CU_ASSERT_EQUAL(put_key("t/c", 3), 0);
    CU_ASSERT_EQUAL(delete_key("t/b"), 0);
    CU_ASSERT_EQUAL(put_key("t/c", 30), 0); /* overwrite */
    CU_ASSERT_EQUAL(delete_key("t/a"), 0);
    CU_ASSERT_EQUAL(put_key("t/a", 10), 0); /* re-created after delete */
    CU_ASSERT_EQUAL(delete_key("t/a"), 0);
    CU_ASSERT_EQUAL(put_key("t/d", 4), 0);
    for (size_t max = 1; max <= 3; max++) {
        list_expect(NULL, NULL, NULL, max);
        list_expect("t/", NULL, NULL, max);
        list_expect("t/", "/", "t/a", max);
        backend_list_opts_t o = {.max_keys = max};
        check_paging(&o, max);
    }
    backend_list_opts_t o = {0};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 2);
    if (r->n_objects == 2) {
        CU_ASSERT_STRING_EQUAL(r->objects[0]->key, "t/c");
        CU_ASSERT_EQUAL(r->objects[0]->size, 30);
        CU_ASSERT_STRING_EQUAL(r->objects[1]->key, "t/d");
    }
    backend_list_free(r);
}

static void test_common_prefix_of_deleted_keys_does_not_appear(void)
{
    fresh_bucket();
    const char *keys[] = {"gone/1", "gone/2", "gone/sub/3", "half/1", "half/2", "kept/1", "z"};
    for (size_t i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(put_key(keys[i], i), 0);
    CU_ASSERT_EQUAL(delete_key("gone/1"), 0);
    CU_ASSERT_EQUAL(delete_key("gone/2"), 0);
    CU_ASSERT_EQUAL(delete_key("gone/sub/3"), 0);
    CU_ASSERT_EQUAL(delete_key("half/1"), 0);
    backend_list_opts_t o = {.delimiter = "/"};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_prefixes, 2);
    if (r->n_prefixes == 2) {
        CU_ASSERT_STRING_EQUAL(r->prefixes[0], "half/");
        CU_ASSERT_STRING_EQUAL(r->prefixes[1], "kept/");
    }
    CU_ASSERT_EQUAL(r->n_objects, 1);
    backend_list_free(r);
    for (size_t max = 1; max <= 4; max++) {
        list_expect(NULL, "/", NULL, max);
        list_expect("gone/", "/", NULL, max);
        backend_list_opts_t p = {.delimiter = "/"};
        check_paging(&p, max);
    }
}

static void test_common_prefix_before_start_after_is_not_repeated(void)
{
    fresh_bucket();
    const char *keys[] = {"a/1", "a/2", "a/3/x", "b", "c/1"};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(put_key(keys[i], i), 0);
    const char *afters[] = {"", "a", "a/", "a/1", "a/3", "a/3/x", "a0", "b", "c", "c/", "c/1", "d"};
    for (size_t i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
        list_expect(NULL, "/", afters[i], 0);
        list_expect("a/", "/", afters[i], 0);
        list_expect(NULL, NULL, afters[i], 2);
    }
    /* concretely: after "a/1" the prefix "a/" was handed out already */
    backend_list_opts_t o = {.delimiter = "/", .start_after = "a/1"};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 1);
    CU_ASSERT_EQUAL(r->n_prefixes, 1);
    if (r->n_prefixes == 1) CU_ASSERT_STRING_EQUAL(r->prefixes[0], "c/");
    backend_list_free(r);
}

static void test_truncation_and_next_marker(void)
{
    fresh_bucket();
    const char *keys[] = {"k1", "k2", "p/1", "p/2", "q"};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(put_key(keys[i], i), 0);
    /* entries: k1 k2 p/ q; with max_keys 3 the third is the prefix p/ */
    backend_list_opts_t o = {.delimiter = "/", .max_keys = 3};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 2);
    CU_ASSERT_EQUAL(r->n_prefixes, 1);
    CU_ASSERT_TRUE(r->truncated);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->next_marker);
    CU_ASSERT_STRING_EQUAL(r->next_marker, "p/");
    backend_list_free(r);
    /* exactly max_keys entries: not truncated */
    o.max_keys = 4;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_FALSE(r->truncated);
    CU_ASSERT_EQUAL(r->n_objects + r->n_prefixes, 4);
    backend_list_free(r);
    /* exactly max_keys live entries followed only by tombstones: not truncated */
    CU_ASSERT_EQUAL(put_key("r", 1), 0);
    CU_ASSERT_EQUAL(delete_key("r"), 0);
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_FALSE(r->truncated);
    backend_list_free(r);
    for (size_t max = 1; max <= 5; max++) {
        backend_list_opts_t p = {.delimiter = "/"};
        check_paging(&p, max);
        backend_list_opts_t q = {0};
        check_paging(&q, max);
    }
}

static void test_empty_bucket_lists_nothing(void)
{
    fresh_bucket();
    backend_list_opts_t o = {.delimiter = "/", .prefix = "x"};
    backend_list_result_t *r;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects + r->n_prefixes, 0);
    CU_ASSERT_FALSE(r->truncated);
    backend_list_free(r);
}

static void test_prefix_that_cannot_start_a_key_matches_nothing(void)
{
    /* the prefix becomes a path on each node: "../other/" must not reach another bucket,
     * and an impossible path must not make the nodes look failed */
    aug_err_t err;
    fresh_bucket();
    CU_ASSERT_EQUAL(put_key("a/x", 1), 0);
    CU_ASSERT_EQUAL(put_key("..a", 2), 0);
    CU_ASSERT_EQUAL(put_key(".b/c", 3), 0);
    if (backend_bucket_stat(be, "other-bkt", NULL, NULL) != 0)
        CU_ASSERT_EQUAL(backend_bucket_create(be, "other-bkt", &err), 0);
    CU_ASSERT_EQUAL(test_put(be, "other-bkt", "secret", 9, 9), 0);
    char long_dir[300];
    memset(long_dir, 'x', 256);
    strcpy(long_dir + 256, "/");
    /* the first 12 match nothing; the last 3 are ordinary partial components */
    const char *prefixes[] = {"../other-bkt/", "../",    "./",  "a/../",   "a/./",
                              "a//",           "/",      "//",  "a/\xff/", "a/x/\xff/",
                              "a/\x01/",       long_dir, "a/.", "a/..",    ".."};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        backend_list_opts_t o = {.prefix = prefixes[i]};
        backend_list_result_t *r = NULL;
        CU_ASSERT_EQUAL_FATAL(backend_list(be, BUCKET, &o, &r, &err), 0);
        if (i < 12 && r->n_objects + r->n_prefixes != 0)
            fprintf(stderr, "\n  prefix #%zu listed %zu keys, first '%s' in %s\n", i, r->n_objects,
                    r->n_objects ? r->objects[0]->key : "",
                    r->n_objects ? r->objects[0]->bucket : "");
        if (i < 12) CU_ASSERT_EQUAL(r->n_objects + r->n_prefixes, 0);
        for (size_t j = 0; j < r->n_objects; j++)
            CU_ASSERT_STRING_EQUAL(r->objects[j]->bucket, BUCKET);
        backend_list_free(r);
        list_expect(prefixes[i], NULL, NULL, 0);
        list_expect(prefixes[i], "/", NULL, 0);
        /* every node is still taken as up */
        backend_manifest_t *m = NULL;
        CU_ASSERT_EQUAL(backend_head(be, BUCKET, "a/x", &m, &err), 0);
        backend_manifest_free(m);
    }
    CU_ASSERT_EQUAL(backend_delete(be, "other-bkt", "secret", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "other-bkt", &err), 0);
}

static void test_listing_tolerates_m_nodes_down_but_not_more(void)
{
    fresh_bucket();
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof(key), "n/%02d", i);
        CU_ASSERT_EQUAL(put_key(key, (uint64_t)i * 11), 0);
    }
    for (int a = 0; a < N_NODES; a++) {
        for (int b = a + 1; b < N_NODES; b++) {
            node_down(a);
            node_down(b);
            list_expect(NULL, NULL, NULL, 0);
            list_expect("n/", "/", "n/05", 7);
            all_up();
        }
    }
    /* with all but one node gone the answer cannot be trusted: refuse */
    for (int i = 1; i < N_NODES; i++)
        node_down(i);
    backend_list_opts_t o = {0};
    backend_list_result_t *r = NULL;
    aug_err_t err;
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_list(be, BUCKET, &o, &r, &err), AUG_EUNAVAIL);
    CU_ASSERT(err.msg[0] != '\0');
    all_up();
    list_expect(NULL, NULL, NULL, 0);
}

static void test_listing_spans_many_batches(void)
{
    /* more names than one node answers in a round (1000), with tombstones among them and one
     * node that missed some writes, so the merge must stitch rounds together */
    fresh_bucket();
    char key[32];
    for (int i = 0; i < 1060; i++) {
        if (i == 350) node_down(1);
        if (i == 700) node_up(1);
        snprintf(key, sizeof(key), "%s/%04d", i % 3 ? "d" : "e", i);
        CU_ASSERT_EQUAL_FATAL(put_key(key, (uint64_t)(i % 50)), 0);
    }
    for (int i = 0; i < 1060; i += 7) {
        snprintf(key, sizeof(key), "%s/%04d", i % 3 ? "d" : "e", i);
        CU_ASSERT_EQUAL(delete_key(key), 0);
    }
    list_expect(NULL, NULL, NULL, 1000);
    list_expect(NULL, NULL, "d/0500", 1000);
    list_expect("d/", NULL, "d/0900", 1000);
    /* pages larger than the usual round of 1,000 names per node take one round */
    list_expect(NULL, NULL, NULL, 5000);
    list_expect("d/", NULL, "d/0100", 1500);
    list_expect(NULL, "/", NULL, 0);
    list_expect("e", "/", NULL, 1);
    backend_list_opts_t o = {0};
    check_paging(&o, 400);
    for (int i = 0; i < cl.n_nodes; i++) { /* any one of the three may be away */
        node_down(i);
        list_expect(NULL, NULL, NULL, 1000);
        list_expect(NULL, NULL, NULL, 5000);
        list_expect(NULL, NULL, "d/0999", 1000);
        list_expect(NULL, "/", "d", 1);
        all_up();
    }
}

static void test_listing_sees_past_nodes_that_are_behind(void)
{
    /* a listing reads only as many nodes as a write quorum guarantees to overlap; the first
     * of them missing a key, or holding an older copy of it, must not hide the newest */
    fresh_bucket();
    CU_ASSERT_EQUAL_FATAL(put_key("old", 3), 0);
    CU_ASSERT_EQUAL_FATAL(put_key("gone", 4), 0);
    node_down(0);
    CU_ASSERT_EQUAL_FATAL(put_key("old", 9), 0);
    CU_ASSERT_EQUAL_FATAL(put_key("new", 5), 0);
    CU_ASSERT_EQUAL_FATAL(delete_key("gone"), 0);
    node_up(0);
    list_expect(NULL, NULL, NULL, 1000);
    list_expect(NULL, NULL, "gone", 1);
    node_down(1);
    list_expect(NULL, NULL, NULL, 1000);
    all_up();
}

static void test_listing_survives_an_emptied_disk_and_a_missed_write(void)
{
    /* Two faults, no more than the data survives (m = 2): a key written while node 1 was
     * away, then node 0's disk replaced by an empty one before heal. The key's data is still
     * on 4 nodes and readable, so the listing must still show it. */
    fresh_bucket();
    CU_ASSERT_EQUAL_FATAL(put_key("before", 2), 0);
    node_down(1);
    CU_ASSERT_EQUAL_FATAL(put_key("missed", 6), 0);
    node_up(1);
    test_node_replace_empty(&cl, 0);
    backend_close(be); /* a restart initialises the new disk, which then answers "empty" */
    be = test_backend_open(&cl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(be);
    list_expect(NULL, NULL, NULL, 1000);
    list_expect(NULL, NULL, NULL, 1);
    aug_err_t err;
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL(backend_head(be, BUCKET, "missed", &m, &err), 0);
    backend_manifest_free(m);
}

/* ---- buckets ----------------------------------------------------------------------------- */

static void expect_buckets(const char *const *want, size_t n)
{
    backend_bucket_info_t *list = NULL;
    size_t got = 0;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(backend_bucket_list(be, &list, &got, &err), 0);
    CU_ASSERT_EQUAL(got, n);
    for (size_t i = 0; i < n && i < got; i++) {
        CU_ASSERT_STRING_EQUAL(list[i].name, want[i]);
        CU_ASSERT(list[i].created_ns > 0);
    }
    free(list);
}

static void test_listing_a_missing_bucket_is_enoent(void)
{
    backend_list_opts_t o = {0};
    backend_list_result_t *r = NULL;
    aug_err_t err;
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_list(be, "no-such-bucket", &o, &r, &err), AUG_ENOENT);
    CU_ASSERT_EQUAL(err.code, AUG_ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-bucket"));
}

static void test_bucket_create_list_delete(void)
{
    aug_err_t err;
    fresh_bucket();
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt-b", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt-a", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt.c", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt-a", &err), AUG_EEXIST);
    const char *three[] = {"bkt-a", "bkt-b", "bkt.c", BUCKET};
    expect_buckets(three, 4);
    int64_t created = 0;
    CU_ASSERT_EQUAL(backend_bucket_stat(be, "bkt-a", &created, &err), 0);
    CU_ASSERT(created > 0);

    /* a bucket holding a key cannot go, and trying changes nothing */
    CU_ASSERT_EQUAL(test_put(be, "bkt-a", "deep/key", 5, 5000), 0);
    char *before = test_tree_snapshot(cl.dir);
    aug_err_clear(&err);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "bkt-a", &err), AUG_ENOTEMPTY);
    CU_ASSERT_EQUAL(err.code, AUG_ENOTEMPTY);
    char *after = test_tree_snapshot(cl.dir);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);
    expect_buckets(three, 4);
    int ok = 0;
    CU_ASSERT_EQUAL(test_get_check(be, "bkt-a", "deep/key", 5, 5000, &ok), 0);
    CU_ASSERT(ok);

    /* once its last key is deleted it can */
    CU_ASSERT_EQUAL(backend_delete(be, "bkt-a", "deep/key", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "bkt-a", &err), 0);
    CU_ASSERT_EQUAL(backend_bucket_stat(be, "bkt-a", NULL, &err), AUG_ENOENT);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "bkt-a", &err), AUG_ENOENT);
    const char *two[] = {"bkt-b", "bkt.c", BUCKET};
    expect_buckets(two, 3);
    backend_list_opts_t o = {0};
    backend_list_result_t *r = NULL;
    CU_ASSERT_EQUAL(backend_list(be, "bkt-a", &o, &r, &err), AUG_ENOENT);
    CU_ASSERT_EQUAL(test_put(be, "bkt-a", "k", 1, 10), AUG_ENOENT);

    /* re-created, it is empty: the old key does not come back */
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt-a", &err), 0);
    expect_buckets(three, 4);
    CU_ASSERT_EQUAL_FATAL(backend_list(be, "bkt-a", &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects + r->n_prefixes, 0);
    backend_list_free(r);
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL(backend_head(be, "bkt-a", "deep/key", &m, &err), AUG_ENOENT);
    CU_ASSERT_EQUAL(test_put(be, "bkt-a", "new", 2, 20), 0);
    CU_ASSERT_EQUAL_FATAL(backend_list(be, "bkt-a", &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 1);
    backend_list_free(r);

    /* buckets do not see each other's keys, even where one name prefixes another */
    CU_ASSERT_EQUAL(backend_bucket_create(be, "bkt-a0", &err), 0);
    CU_ASSERT_EQUAL(test_put(be, "bkt-a0", "other", 3, 30), 0);
    CU_ASSERT_EQUAL_FATAL(backend_list(be, "bkt-a", &o, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_objects, 1);
    if (r->n_objects == 1) CU_ASSERT_STRING_EQUAL(r->objects[0]->key, "new");
    backend_list_free(r);

    /* clean up for the other tests */
    CU_ASSERT_EQUAL(backend_delete(be, "bkt-a", "new", &err), 0);
    CU_ASSERT_EQUAL(backend_delete(be, "bkt-a0", "other", &err), 0);
    const char *gone[] = {"bkt-a", "bkt-a0", "bkt-b", "bkt.c"};
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(backend_bucket_delete(be, gone[i], &err), 0);
    const char *one[] = {BUCKET};
    expect_buckets(one, 1);
}

static void test_bucket_list_with_nodes_down(void)
{
    aug_err_t err;
    fresh_bucket();
    node_down(1);
    CU_ASSERT_EQUAL(backend_bucket_create(be, "while-down", &err), 0);
    node_down(4);
    const char *two[] = {BUCKET, "while-down"};
    expect_buckets(two, 2);
    all_up();
    node_down(2);
    CU_ASSERT_EQUAL(backend_bucket_delete(be, "while-down", &err), 0);
    all_up();
    node_down(0);
    node_down(3);
    const char *one[] = {BUCKET};
    expect_buckets(one, 1); /* node 2 still has the live record; the newer deletion wins */
    all_up();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    aug_log_set_level(AUG_LOG_ERROR); /* nodes going down on purpose warn */
    CU_pSuite s = CU_add_suite("listing", suite_setup, suite_teardown);
    CU_add_test(s, "listing a missing bucket is ENOENT", test_listing_a_missing_bucket_is_enoent);
    CU_add_test(s, "empty bucket lists nothing", test_empty_bucket_lists_nothing);
    CU_add_test(s, "directory markers list as keys", test_directory_markers_list_as_keys);
    CU_add_test(s, "byte order is used", test_byte_order_is_used);
    CU_add_test(s, "tombstoned keys never appear", test_tombstoned_keys_never_appear);
    CU_add_test(s, "common prefix of deleted keys does not appear",
                test_common_prefix_of_deleted_keys_does_not_appear);
    CU_add_test(s, "common prefix before start_after is not repeated",
                test_common_prefix_before_start_after_is_not_repeated);
    CU_add_test(s, "truncation and next_marker", test_truncation_and_next_marker);
    CU_add_test(s, "prefix that cannot start a key matches nothing",
                test_prefix_that_cannot_start_a_key_matches_nothing);
    CU_add_test(s, "listing tolerates m nodes down but not more",
                test_listing_tolerates_m_nodes_down_but_not_more);
    CU_add_test(s, "listing matches the model while nodes fail",
                test_listing_matches_model_while_nodes_fail);
    CU_pSuite many = CU_add_suite("many names", suite_setup_small, suite_teardown);
    CU_add_test(many, "listing spans many batches", test_listing_spans_many_batches);
    CU_add_test(many, "listing sees past nodes that are behind",
                test_listing_sees_past_nodes_that_are_behind);
    CU_add_test(many, "listing survives an emptied disk and a missed write",
                test_listing_survives_an_emptied_disk_and_a_missed_write);
    CU_pSuite b = CU_add_suite("buckets", suite_setup, suite_teardown);
    CU_add_test(b, "bucket create, list, delete", test_bucket_create_list_delete);
    CU_add_test(b, "bucket list with nodes down", test_bucket_list_with_nodes_down);
    return test_run_all();
}
