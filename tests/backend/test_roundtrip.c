/* test_roundtrip.c - what goes into the backend comes out: sizes around every boundary, every
 * k+m shape, large streamed objects, range reads, abandoned uploads, ETags and attributes. */
#include "testlib.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUCKET "bkt"
/* Small enough that a test crosses many inline/shard/stripe boundaries quickly. */
#define INLINE_MAX 1024

/* ---- helpers --------------------------------------------------------------------------- */

/* A cluster of n nodes with bucket BUCKET created; CU_FAILs and returns NULL on error. */
static backend_t *cluster_open(test_cluster_t *c, const char *tag, int n, int k, int m,
                               uint64_t stripe, uint64_t inline_max)
{
    test_cluster_init(c, tag, n, k, m, stripe, inline_max);
    backend_t *b = test_backend_open(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    aug_err_t err;
    int rc = backend_bucket_create(b, BUCKET, &err);
    if (rc != 0) fprintf(stderr, "bucket create: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return b;
}

/* The shard length the backend derives from a stripe size (ceil(stripe/k) rounded to 64). */
static uint64_t shard_len_for(uint64_t stripe, int k)
{
    uint64_t per = (stripe + (uint64_t)k - 1) / (uint64_t)k;
    return (per + 63) / 64 * 64;
}

/* MD5 hex of len bytes of stream seed. */
static void stream_md5_hex(uint64_t seed, uint64_t len, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    uint8_t buf[65536];
    for (uint64_t pos = 0; pos < len;) {
        size_t n = len - pos < sizeof(buf) ? (size_t)(len - pos) : sizeof(buf);
        test_fill(buf, n, seed, pos);
        EVP_DigestUpdate(ctx, buf, n);
        pos += n;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    aug_hex(d, dl, out);
}

/* Put then read back the whole key, checking size and every byte; returns 1 when all held. */
static int round_trip(backend_t *b, const char *key, uint64_t seed, uint64_t len)
{
    if (test_put(b, BUCKET, key, seed, len) != 0) {
        fprintf(stderr, "round trip of %llu bytes: put failed\n", (unsigned long long)len);
        return 0;
    }
    int ok = 0;
    int rc = test_get_check(b, BUCKET, key, seed, len, &ok);
    if (rc != 0 || !ok)
        fprintf(stderr, "round trip of %llu bytes: read rc %d ok %d\n", (unsigned long long)len, rc,
                ok);
    /* the ETag is hashed beside the stripes, from two alternating buffers: every size around
     * inline and stripe boundaries must still give the MD5 of the whole stream */
    backend_manifest_t *m = NULL;
    char md5[33];
    stream_md5_hex(seed, len, md5);
    int etag_ok = backend_head(b, BUCKET, key, &m, NULL) == 0 && strcmp(m->etag, md5) == 0;
    if (!etag_ok)
        fprintf(stderr, "round trip of %llu bytes: etag %s, want %s\n", (unsigned long long)len,
                m ? m->etag : "(none)", md5);
    backend_manifest_free(m);
    return rc == 0 && ok && etag_ok;
}

/* Count committed blobs (leaf files named "\xff") under dir. */
static int count_leaves(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            n += count_leaves(p);
        else if (!strcmp(de->d_name, "\xff"))
            n++;
    }
    closedir(dh);
    return n;
}

/* Chunk files over every node of the cluster. */
static int count_chunks(const test_cluster_t *c)
{
    int n = 0;
    for (int i = 0; i < c->n_nodes; i++) {
        char p[PATH_MAX], d[PATH_MAX + 8];
        test_node_path(c, i, p, sizeof(p));
        snprintf(d, sizeof(d), "%s/d", p);
        n += count_leaves(d);
    }
    return n;
}

/* Files in every node's tmp/ directory (abandoned writes must leave none). */
static int count_tmp_files(const test_cluster_t *c)
{
    int n = 0;
    for (int i = 0; i < c->n_nodes; i++) {
        char p[PATH_MAX], d[PATH_MAX + 8];
        test_node_path(c, i, p, sizeof(p));
        snprintf(d, sizeof(d), "%s/tmp", p);
        DIR *dh = opendir(d);
        if (!dh) continue;
        struct dirent *de;
        while ((de = readdir(dh)) != NULL)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
        closedir(dh);
    }
    return n;
}

/* Round trip every size around the inline, shard and stripe boundaries of a k+m cluster. */
static void boundary_round_trips(const char *tag, int n, int k, int m, uint64_t stripe)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, tag, n, k, m, stripe, INLINE_MAX);
    uint64_t sl = shard_len_for(stripe, k), sb = (uint64_t)k * sl;
    uint64_t bounds[] = {INLINE_MAX, sl, 2 * sl, sb - sl, sb, 2 * sb, 3 * sb + sl, 5 * sb};
    uint64_t seed = 1;
    int failures = 0;
    CU_ASSERT(round_trip(b, "empty", seed++, 0));
    CU_ASSERT(round_trip(b, "one", seed++, 1));
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        for (int d = -1; d <= 1; d++) {
            uint64_t len = bounds[i] + (uint64_t)(int64_t)d;
            if (bounds[i] == 0 && d < 0) continue;
            char key[64];
            snprintf(key, sizeof(key), "size-%llu", (unsigned long long)len);
            if (!round_trip(b, key, seed++, len)) {
                fprintf(stderr, "%s: %d+%d stripe %llu: size %llu failed\n", tag, k, m,
                        (unsigned long long)stripe, (unsigned long long)len);
                failures++;
            }
        }
    }
    CU_ASSERT_EQUAL(failures, 0);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- sizes and shapes ------------------------------------------------------------------ */

static void test_empty_object_round_trips(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-empty", 6, 4, 2, 4096, INLINE_MAX);
    CU_ASSERT(round_trip(b, "empty", 7, 0));
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, "empty", &m, NULL), 0);
    CU_ASSERT_EQUAL(m->size, 0);
    CU_ASSERT_STRING_EQUAL(m->etag, "d41d8cd98f00b204e9800998ecf8427e");
    test_buffer_t buf = {0};
    CU_ASSERT_EQUAL(backend_read(b, m, 0, 100, test_buffer_append, &buf, NULL), 0);
    CU_ASSERT_EQUAL(buf.len, 0);
    free(buf.data);
    backend_manifest_free(m);
    CU_ASSERT_EQUAL(count_chunks(&c), 0); /* nothing but a manifest */
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_one_byte_object_round_trips(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-one", 6, 4, 2, 4096, INLINE_MAX);
    CU_ASSERT(round_trip(b, "one", 8, 1));
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_objects_up_to_inline_max_live_in_the_manifest(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-inline", 6, 4, 2, 4096, INLINE_MAX);
    CU_ASSERT(round_trip(b, "a", 1, INLINE_MAX - 1));
    CU_ASSERT(round_trip(b, "b", 2, INLINE_MAX));
    CU_ASSERT_EQUAL(count_chunks(&c), 0);
    CU_ASSERT(round_trip(b, "c", 3, INLINE_MAX + 1));
    CU_ASSERT_EQUAL(count_chunks(&c), 6); /* one chunk file per node for the striped one */
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_inline_max_zero_stores_only_empty_objects_inline(void)
{
    test_cluster_t c;
    test_cluster_init(&c, "rt-inline0", 6, 4, 2, 4096, 0);
    backend_t *b = test_backend_open(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(backend_bucket_create(b, BUCKET, NULL), 0);
    CU_ASSERT(round_trip(b, "empty", 1, 0));
    CU_ASSERT_EQUAL(count_chunks(&c), 0);
    CU_ASSERT(round_trip(b, "one", 2, 1));
    CU_ASSERT(round_trip(b, "more", 3, 5000));
    CU_ASSERT_EQUAL(count_chunks(&c), 12);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_sizes_around_boundaries_round_trip_with_1_plus_0(void)
{
    boundary_round_trips("rt-1p0", 1, 1, 0, 4096);
}

static void test_sizes_around_boundaries_round_trip_with_1_plus_2(void)
{
    boundary_round_trips("rt-1p2", 3, 1, 2, 5000);
}

static void test_sizes_around_boundaries_round_trip_with_3_plus_2(void)
{
    /* 10000 / 3 = 3334 -> shard 3392, stripe 10176: shards and stripes are not powers of 2 */
    boundary_round_trips("rt-3p2", 5, 3, 2, 10000);
}

static void test_sizes_around_boundaries_round_trip_with_4_plus_2(void)
{
    boundary_round_trips("rt-4p2-4k", 6, 4, 2, 4096);
    boundary_round_trips("rt-4p2-64k", 7, 4, 2, 65536);
}

static void test_sizes_around_boundaries_round_trip_with_16_plus_8(void)
{
    boundary_round_trips("rt-16p8", 24, 16, 8, 65536);
}

static void test_hundred_mib_object_streams_round_trip(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-big", 6, 4, 2, 1 << 20, 32 << 10);
    const uint64_t len = (100ull << 20) + 12345; /* not a whole number of stripes */
    test_source_t src = {.seed = 99, .len = len, .chunk = 1 << 20};
    backend_manifest_t *m = NULL;
    aug_err_t err;
    int rc = backend_put(b, BUCKET, "big", NULL, test_source_read, &src, &m, &err);
    if (rc != 0) fprintf(stderr, "put big: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(m->size, len);
    char md5[33];
    stream_md5_hex(99, len, md5);
    CU_ASSERT_STRING_EQUAL(m->etag, md5);
    backend_manifest_free(m);
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, "big", &m, NULL), 0);
    test_sink_t sink = {.seed = 99};
    CU_ASSERT_EQUAL(backend_read(b, m, 0, UINT64_MAX, test_sink_check, &sink, NULL), 0);
    CU_ASSERT_EQUAL(sink.pos, len);
    CU_ASSERT_EQUAL(sink.mismatches, 0);
    /* a range crossing one stripe boundary far into the object */
    test_sink_t part = {.seed = 99, .pos = (77ull << 20) - 5000};
    CU_ASSERT_EQUAL(backend_read(b, m, part.pos, 10000, test_sink_check, &part, NULL), 0);
    CU_ASSERT_EQUAL(part.pos, (77ull << 20) + 5000);
    CU_ASSERT_EQUAL(part.mismatches, 0);
    backend_manifest_free(m);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- ranges ---------------------------------------------------------------------------- */

/* Read [off, off+len) of m and check it is exactly the expected bytes of stream seed. */
static int range_ok(backend_t *b, const backend_manifest_t *m, uint64_t seed, uint64_t off,
                    uint64_t len)
{
    uint64_t want_end = off >= m->size ? off : (len > m->size - off ? m->size : off + len);
    test_sink_t sink = {.seed = seed, .pos = off};
    aug_err_t err;
    int rc = backend_read(b, m, off, len, test_sink_check, &sink, &err);
    int ok = rc == 0 && sink.pos == want_end && sink.mismatches == 0;
    if (!ok)
        fprintf(stderr, "range [%llu,+%llu) of %llu bytes: rc %d got to %llu want %llu, %llu bad\n",
                (unsigned long long)off, (unsigned long long)len, (unsigned long long)m->size, rc,
                (unsigned long long)sink.pos, (unsigned long long)want_end,
                (unsigned long long)sink.mismatches);
    return ok;
}

/* A deterministic PRNG (xorshift64*) for offsets and lengths. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

static void test_range_reads_return_exactly_the_requested_bytes(void)
{
    test_cluster_t c;
    /* k=3, stripe 10000: shard 3392, stripe 10176 bytes */
    backend_t *b = cluster_open(&c, "rt-range", 5, 3, 2, 10000, INLINE_MAX);
    const uint64_t sb = 3 * 3392, len = 5 * sb + 777, seed = 4242;
    CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, "r", seed, len), 0);
    backend_manifest_t *m = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, "r", &m, NULL), 0);
    int bad = 0;
    /* around every stripe and shard boundary */
    for (uint64_t s = 0; s <= 5; s++) {
        for (int j = 0; j < 3; j++) {
            uint64_t edge = s * sb + (uint64_t)j * 3392;
            if (edge >= len) continue;
            bad += !range_ok(b, m, seed, edge, 1);
            if (edge > 0) bad += !range_ok(b, m, seed, edge - 1, 2);
            if (edge > 3) bad += !range_ok(b, m, seed, edge - 3, 3392 + 6);
        }
    }
    bad += !range_ok(b, m, seed, sb - 10, sb + 20);    /* spans three stripes */
    bad += !range_ok(b, m, seed, 0, len);              /* whole */
    bad += !range_ok(b, m, seed, 0, UINT64_MAX);       /* whole, open ended */
    bad += !range_ok(b, m, seed, len - 100, 100);      /* suffix */
    bad += !range_ok(b, m, seed, len - 100, 1000);     /* suffix, clamped */
    bad += !range_ok(b, m, seed, len - 1, UINT64_MAX); /* last byte */
    bad += !range_ok(b, m, seed, len, 10);             /* at the end: nothing */
    bad += !range_ok(b, m, seed, len + 5000, 10);      /* beyond the end: nothing */
    bad += !range_ok(b, m, seed, 12345, 0);            /* empty range */
    uint64_t rs = 0x1234567;
    for (int i = 0; i < 200; i++) {
        uint64_t off = rng_next(&rs) % (len + 100);
        uint64_t l = rng_next(&rs) % (2 * sb);
        bad += !range_ok(b, m, seed, off, l);
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_manifest_free(m);

    /* the same holds for an inline object */
    CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, "small", seed, 900), 0);
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, "small", &m, NULL), 0);
    CU_ASSERT(range_ok(b, m, seed, 0, 900));
    CU_ASSERT(range_ok(b, m, seed, 899, 10));
    CU_ASSERT(range_ok(b, m, seed, 100, 1));
    CU_ASSERT(range_ok(b, m, seed, 450, 300));
    CU_ASSERT(range_ok(b, m, seed, 900, 1));
    CU_ASSERT(range_ok(b, m, seed, 5000, 1));
    backend_manifest_free(m);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- abandoned uploads ----------------------------------------------------------------- */

/* A deterministic source that fails with code once fail_at bytes were produced. */
typedef struct failing_source {
    test_source_t s;
    uint64_t fail_at;
    int code;
} failing_source_t;

static ssize_t failing_source_read(void *arg, void *buf, size_t len)
{
    failing_source_t *f = arg;
    if (f->s.pos >= f->fail_at) return f->code;
    if (len > f->fail_at - f->s.pos) len = (size_t)(f->fail_at - f->s.pos);
    return test_source_read(&f->s, buf, len);
}

/* Head of key into a version hex and etag; returns the backend code. */
static int head_version(backend_t *b, const char *key, char vid[33], char etag[73])
{
    backend_manifest_t *m = NULL;
    int rc = backend_head(b, BUCKET, key, &m, NULL);
    if (rc != 0) return rc;
    backend_version_hex(m, vid);
    snprintf(etag, 73, "%s", m->etag);
    backend_manifest_free(m);
    return 0;
}

static void test_failing_source_leaves_old_version_and_nothing_new(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-abandon", 6, 4, 2, 4096, INLINE_MAX);
    /* one old version striped, one inline */
    CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, "striped", 11, 3 * 4096 + 5), 0);
    CU_ASSERT_EQUAL_FATAL(test_put(b, BUCKET, "inline", 12, 500), 0);
    char vid_s[33], et_s[73], vid_i[33], et_i[73];
    CU_ASSERT_EQUAL_FATAL(head_version(b, "striped", vid_s, et_s), 0);
    CU_ASSERT_EQUAL_FATAL(head_version(b, "inline", vid_i, et_i), 0);
    int chunks = count_chunks(&c);
    /* fail before any byte, inside the inline head, at its edge, mid stripe, after stripes */
    uint64_t fail_points[] = {0, 10, INLINE_MAX, INLINE_MAX + 1, 4096 + 100, 5 * 4096};
    const char *keys[] = {"striped", "inline", "fresh"};
    for (size_t f = 0; f < sizeof(fail_points) / sizeof(fail_points[0]); f++) {
        for (size_t k = 0; k < 3; k++) {
            failing_source_t src = {.s = {.seed = 500 + f, .len = 10 * 4096, .chunk = 1000},
                                    .fail_at = fail_points[f],
                                    .code = AUG_EIO};
            aug_err_t err;
            aug_err_clear(&err);
            backend_manifest_t *out = NULL;
            int rc = backend_put(b, BUCKET, keys[k], NULL, failing_source_read, &src, &out, &err);
            CU_ASSERT_EQUAL(rc, AUG_EIO);
            CU_ASSERT_PTR_NULL(out);
            CU_ASSERT(err.msg[0] != '\0');
        }
    }
    char vid[33], et[73];
    CU_ASSERT_EQUAL(head_version(b, "striped", vid, et), 0);
    CU_ASSERT_STRING_EQUAL(vid, vid_s);
    CU_ASSERT_STRING_EQUAL(et, et_s);
    CU_ASSERT_EQUAL(head_version(b, "inline", vid, et), 0);
    CU_ASSERT_STRING_EQUAL(vid, vid_i);
    CU_ASSERT_STRING_EQUAL(et, et_i);
    CU_ASSERT_EQUAL(head_version(b, "fresh", vid, et), AUG_ENOENT);
    int ok = 0;
    CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "striped", 11, 3 * 4096 + 5, &ok), 0);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(test_get_check(b, BUCKET, "inline", 12, 500, &ok), 0);
    CU_ASSERT(ok);
    /* no new chunk file was committed and no temporary file was left behind */
    CU_ASSERT_EQUAL(count_chunks(&c), chunks);
    CU_ASSERT_EQUAL(count_tmp_files(&c), 0);
    backend_list_opts_t lo = {0};
    backend_list_result_t *res = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_list(b, BUCKET, &lo, &res, NULL), 0);
    CU_ASSERT_EQUAL(res->n_objects, 2);
    backend_list_free(res);
    backend_close(b);
    test_cluster_destroy(&c);
}

/* ---- ETag and attributes --------------------------------------------------------------- */

static void test_etag_is_md5_hex_of_content(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-etag", 6, 4, 2, 4096, INLINE_MAX);
    uint64_t sizes[] = {0, 1, 63, INLINE_MAX, INLINE_MAX + 1, 4096, 3 * 4096 + 17, 200000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char key[32], md5[33];
        snprintf(key, sizeof(key), "e%zu", i);
        test_source_t src = {.seed = 70 + i, .len = sizes[i], .chunk = 777};
        backend_manifest_t *put = NULL, *head = NULL;
        CU_ASSERT_EQUAL_FATAL(backend_put(b, BUCKET, key, NULL, test_source_read, &src, &put, NULL),
                              0);
        stream_md5_hex(70 + i, sizes[i], md5);
        CU_ASSERT_STRING_EQUAL(put->etag, md5);
        CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, key, &head, NULL), 0);
        CU_ASSERT_STRING_EQUAL(head->etag, md5);
        CU_ASSERT_EQUAL(head->size, sizes[i]);
        backend_manifest_free(put);
        backend_manifest_free(head);
    }
    backend_close(b);
    test_cluster_destroy(&c);
}

/* Check that head returns exactly the attributes a put was given. */
static void check_attrs(const backend_manifest_t *m, const backend_put_attrs_t *a)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->content_type);
    CU_ASSERT_STRING_EQUAL(m->content_type, a->content_type);
    CU_ASSERT_EQUAL(m->mode, a->mode);
    CU_ASSERT_EQUAL(m->uid, a->uid);
    CU_ASSERT_EQUAL(m->gid, a->gid);
    CU_ASSERT_EQUAL(m->mtime_ns, a->mtime_ns);
    CU_ASSERT_EQUAL(m->n_meta, a->n_meta);
    for (size_t i = 0; i < a->n_meta; i++) {
        const char *v = backend_manifest_meta(m, a->meta[i].name);
        CU_ASSERT_PTR_NOT_NULL(v);
        if (v) CU_ASSERT_STRING_EQUAL(v, a->meta[i].value);
    }
    CU_ASSERT_PTR_NULL(backend_manifest_meta(m, "x-amz-meta-absent"));
    CU_ASSERT_EQUAL(m->deleted, 0);
}

static void test_attributes_round_trip_through_head(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-attrs", 6, 4, 2, 4096, INLINE_MAX);
    backend_kv_t meta[] = {
        {"x-amz-meta-seed", "12345"},
        {"x-amz-meta-empty", ""},
        {"x-amz-meta-utf8", "gr\xc3\xbc\xc3\x9f dich"},
        {"content-encoding", "gzip"},
    };
    backend_put_attrs_t a = {.content_type = "application/x-augur; charset=utf-8",
                             .mode = 0100640,
                             .uid = 1000,
                             .gid = 4294967294u,
                             .mtime_ns = 1234567890123456789LL,
                             .n_meta = 4,
                             .meta = meta};
    uint64_t sizes[] = {10, 3 * 4096 + 1}; /* inline and striped manifests */
    for (size_t i = 0; i < 2; i++) {
        char key[32];
        snprintf(key, sizeof(key), "dir/attrs-%zu", i);
        test_source_t src = {.seed = 1, .len = sizes[i]};
        backend_manifest_t *put = NULL, *head = NULL;
        CU_ASSERT_EQUAL_FATAL(backend_put(b, BUCKET, key, &a, test_source_read, &src, &put, NULL),
                              0);
        check_attrs(put, &a);
        CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, key, &head, NULL), 0);
        check_attrs(head, &a);
        CU_ASSERT_STRING_EQUAL(head->bucket, BUCKET);
        CU_ASSERT_STRING_EQUAL(head->key, key);
        CU_ASSERT_EQUAL(memcmp(head->version_id, put->version_id, BACKEND_VERSION_ID_LEN), 0);
        CU_ASSERT_EQUAL(head->written_ns, put->written_ns);
        backend_manifest_free(put);
        backend_manifest_free(head);
    }
    /* without attributes: nothing set, mtime defaults to the write time */
    test_source_t src = {.seed = 2, .len = 5};
    backend_manifest_t *head = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_put(b, BUCKET, "plain", NULL, test_source_read, &src, NULL, NULL),
                          0);
    CU_ASSERT_EQUAL_FATAL(backend_head(b, BUCKET, "plain", &head, NULL), 0);
    CU_ASSERT_PTR_NULL(head->content_type);
    CU_ASSERT_EQUAL(head->n_meta, 0);
    CU_ASSERT_EQUAL(head->mode, 0);
    CU_ASSERT(head->mtime_ns > 0);
    backend_manifest_free(head);
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_overwrite_makes_new_content_current(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-over", 6, 4, 2, 4096, INLINE_MAX);
    uint64_t sizes[] = {3 * 4096, 100, 0, 5000, 4096 * 2 + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        CU_ASSERT(round_trip(b, "k", 300 + i, sizes[i]));
    backend_close(b);
    test_cluster_destroy(&c);
}

static void test_keys_of_every_allowed_shape_round_trip(void)
{
    test_cluster_t c;
    backend_t *b = cluster_open(&c, "rt-keys", 6, 4, 2, 4096, INLINE_MAX);
    char c255[256], long_dir[1025], long_key[1025];
    memset(c255, 'x', 255);
    c255[255] = '\0';
    /* 4 components of 255 bytes and a trailing '/': 1024 bytes */
    snprintf(long_dir, sizeof(long_dir), "%s/%s/%s/%s/", c255, c255, c255, c255);
    /* 255 + 255 + 255 + 254 + 1 bytes and 4 separators: 1024 bytes */
    snprintf(long_key, sizeof(long_key), "%s/%s/%s/%.254s/z", c255, c255, c255, c255);
    CU_ASSERT_EQUAL_FATAL(strlen(long_dir), 1024);
    CU_ASSERT_EQUAL_FATAL(strlen(long_key), 1024);
    const char *keys[] = {
        "a",
        "a/b",
        "a/b/c",
        "dir/",
        "a/",
        c255,
        long_dir,
        long_key,
        "gr\xc3\xbc\xc3\x9f/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80",
        "sp ace/%41/back\\slash/\"q\"",
        "-dash",
        "~tilde",
        "x..y/...",
        ".hidden/.x",
    };
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++) {
        uint64_t len = i % 2 ? 100 : 5000; /* inline and striped */
        if (!round_trip(b, keys[i], 600 + i, len)) fprintf(stderr, "key '%.40s...'\n", keys[i]);
    }
    /* all still readable after every key was written (no key shadows another) */
    int ok = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = test_get_check(b, BUCKET, keys[i], 600 + i, i % 2 ? 100 : 5000, &ok);
        if (rc != 0 || !ok) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    backend_list_opts_t lo = {0};
    backend_list_result_t *res = NULL;
    CU_ASSERT_EQUAL_FATAL(backend_list(b, BUCKET, &lo, &res, NULL), 0);
    CU_ASSERT_EQUAL(res->n_objects, n);
    backend_list_free(res);
    /* keys that cannot be paths are refused, not mangled */
    const char *refused[] = {"", "/lead", "a//b", "./a", "a/../b", "a/.", "bad\xff", "ctl\x01"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        test_source_t src = {.seed = 1, .len = 10};
        aug_err_t err;
        aug_err_clear(&err);
        int rc = backend_put(b, BUCKET, refused[i], NULL, test_source_read, &src, NULL, &err);
        CU_ASSERT_EQUAL(rc, AUG_EINVAL);
        CU_ASSERT(err.msg[0] != '\0');
    }
    char too_long[1026];
    memset(too_long, 'a', 1025);
    too_long[1025] = '\0';
    for (int i = 200; i < 1025; i += 201)
        too_long[i] = '/';
    test_source_t src = {.seed = 1, .len = 10};
    CU_ASSERT_EQUAL(backend_put(b, BUCKET, too_long, NULL, test_source_read, &src, NULL, NULL),
                    AUG_ETOOLONG);
    backend_close(b);
    test_cluster_destroy(&c);
}

int main(void)
{
    aug_log_set_level(AUG_LOG_ERROR);
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("backend round trips", NULL, NULL);
    CU_add_test(s, "empty object round trips", test_empty_object_round_trips);
    CU_add_test(s, "one byte object round trips", test_one_byte_object_round_trips);
    CU_add_test(s, "objects up to inline_max live in the manifest",
                test_objects_up_to_inline_max_live_in_the_manifest);
    CU_add_test(s, "inline_max 0 stores only empty objects inline",
                test_inline_max_zero_stores_only_empty_objects_inline);
    CU_add_test(s, "sizes around boundaries round trip with 1+0",
                test_sizes_around_boundaries_round_trip_with_1_plus_0);
    CU_add_test(s, "sizes around boundaries round trip with 1+2",
                test_sizes_around_boundaries_round_trip_with_1_plus_2);
    CU_add_test(s, "sizes around boundaries round trip with 3+2",
                test_sizes_around_boundaries_round_trip_with_3_plus_2);
    CU_add_test(s, "sizes around boundaries round trip with 4+2",
                test_sizes_around_boundaries_round_trip_with_4_plus_2);
    CU_add_test(s, "sizes around boundaries round trip with 16+8",
                test_sizes_around_boundaries_round_trip_with_16_plus_8);
    CU_add_test(s, "100 MiB object streams round trip", test_hundred_mib_object_streams_round_trip);
    CU_add_test(s, "range reads return exactly the requested bytes",
                test_range_reads_return_exactly_the_requested_bytes);
    CU_add_test(s, "failing source leaves old version and nothing new",
                test_failing_source_leaves_old_version_and_nothing_new);
    CU_add_test(s, "etag is md5 hex of content", test_etag_is_md5_hex_of_content);
    CU_add_test(s, "attributes round trip through head", test_attributes_round_trip_through_head);
    CU_add_test(s, "overwrite makes new content current", test_overwrite_makes_new_content_current);
    CU_add_test(s, "keys of every allowed shape round trip",
                test_keys_of_every_allowed_shape_round_trip);
    return test_run_all();
}
