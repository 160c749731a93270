/* trace_read.c - load a `time,key,size` CSV trace, plain or zstd-compressed, into arrays. */
#include "cache/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Bytes read (or decompressed) per step: big enough to amortise calls, small next to a trace. */
#define TRACE_CHUNK (1u << 20)
/* Longest line accepted; a request line is at most ~60 characters, so anything longer is
 * not a trace (or is binary). */
#define TRACE_LINE_MAX 4096
/* The only header accepted. */
#define TRACE_HEADER "time,key,size"
/* Characters of an offending line quoted in an error message. */
#define TRACE_QUOTE_MAX 60

/* Where the text comes from: a plain file, or a zstd stream decompressed on the fly. */
typedef struct trace_src {
    FILE *f;
    const char *name;
    ZSTD_DStream *zs;   /* NULL for plain text */
    unsigned char *raw; /* bytes read from f, not yet consumed */
    size_t raw_len;
    size_t raw_pos;
    size_t zstd_left; /* last ZSTD_decompressStream hint: 0 when a frame just ended */
} trace_src_t;

/* The trace being built, with its key -> dense id map (open addressing, linear probing). */
typedef struct trace_build {
    trace_t *t;
    uint64_t cap; /* allocated requests */
    uint64_t *map_keys;
    uint32_t *map_ids; /* id + 1; 0 marks an empty slot */
    uint64_t map_mask;
    uint64_t lineno;
    int seen_first; /* a non-blank line was seen (the header is only allowed first) */
} trace_build_t;

/* Read f's next bytes into s->raw. Returns 0 (raw_len 0 at end of file) or AUG_EIO. */
static int trace_src_refill(trace_src_t *s, aug_err_t *err)
{
    s->raw_pos = 0;
    s->raw_len = fread(s->raw, 1, TRACE_CHUNK, s->f);
    if (s->raw_len == 0 && ferror(s->f))
        return aug_err_set(err, AUG_EIO, "%s: read failed: %s", s->name, strerror(errno));
    return 0;
}

/* Fill dst with up to cap bytes of text; *got 0 means the end. Returns 0, AUG_EIO, or
 * AUG_EINVAL for corrupt or truncated compressed data. */
static int trace_src_read(trace_src_t *s, char *dst, size_t cap, size_t *got, aug_err_t *err)
{
    *got = 0;
    if (!s->zs) {
        if (s->raw_pos == s->raw_len) {
            int rc = trace_src_refill(s, err);
            if (rc) return rc;
        }
        size_t n = s->raw_len - s->raw_pos < cap ? s->raw_len - s->raw_pos : cap;
        memcpy(dst, s->raw + s->raw_pos, n);
        s->raw_pos += n;
        *got = n;
        return 0;
    }
    ZSTD_outBuffer out = {dst, cap, 0};
    while (out.pos == 0) {
        if (s->raw_pos == s->raw_len) {
            int rc = trace_src_refill(s, err);
            if (rc) return rc;
            if (s->raw_len == 0) {
                if (s->zstd_left != 0)
                    return aug_err_set(err, AUG_EINVAL,
                                       "%s: the zstd data ends in the middle of a frame "
                                       "(truncated file?)",
                                       s->name);
                return 0;
            }
        }
        ZSTD_inBuffer in = {s->raw, s->raw_len, s->raw_pos};
        size_t ret = ZSTD_decompressStream(s->zs, &out, &in);
        s->raw_pos = in.pos;
        if (ZSTD_isError(ret))
            return aug_err_set(err, AUG_EINVAL, "%s: corrupt zstd data: %s", s->name,
                               ZSTD_getErrorName(ret));
        s->zstd_left = ret;
    }
    *got = out.pos;
    return 0;
}

/* Append request (key, size) to the trace, numbering the key. 0 or AUG_ENOMEM. */
static int trace_build_add(trace_build_t *b, uint64_t tm, uint64_t key, uint64_t size,
                           aug_err_t *err)
{
    trace_t *t = b->t;
    if (t->n + 1 >= TRACE_NEVER)
        return aug_err_set(err, AUG_EINVAL, "trace has more than %u requests", TRACE_NEVER - 1);
    if (t->n == b->cap) {
        uint64_t cap = b->cap ? b->cap * 2 : 65536;
        uint64_t *k = realloc(t->keys, cap * sizeof(*k));
        if (k) t->keys = k;
        uint64_t *s = realloc(t->sizes, cap * sizeof(*s));
        if (s) t->sizes = s;
        uint32_t *id = realloc(t->ids, cap * sizeof(*id));
        if (id) t->ids = id;
        uint64_t *tms = realloc(t->times, cap * sizeof(*tms));
        if (tms) t->times = tms;
        if (!k || !s || !id || !tms)
            return aug_err_set(err, AUG_ENOMEM, "out of memory loading trace");
        b->cap = cap;
    }
    if (t->n_keys * 2 >= b->map_mask + 1) {
        uint64_t nslots = (b->map_mask + 1) * 2;
        uint64_t *mk = calloc(nslots, sizeof(*mk));
        uint32_t *mi = calloc(nslots, sizeof(*mi));
        if (!mk || !mi) {
            free(mk);
            free(mi);
            return aug_err_set(err, AUG_ENOMEM, "out of memory loading trace");
        }
        for (uint64_t i = 0; i <= b->map_mask; i++) {
            if (!b->map_ids[i]) continue;
            uint64_t j = aug_hash64(&b->map_keys[i], 8, 0) & (nslots - 1);
            while (mi[j])
                j = (j + 1) & (nslots - 1);
            mk[j] = b->map_keys[i];
            mi[j] = b->map_ids[i];
        }
        free(b->map_keys);
        free(b->map_ids);
        b->map_keys = mk;
        b->map_ids = mi;
        b->map_mask = nslots - 1;
    }
    uint64_t j = aug_hash64(&key, 8, 0) & b->map_mask;
    while (b->map_ids[j] && b->map_keys[j] != key)
        j = (j + 1) & b->map_mask;
    if (!b->map_ids[j]) {
        b->map_keys[j] = key;
        b->map_ids[j] = (uint32_t)(++t->n_keys);
        t->unique_bytes += size;
    }
    t->keys[t->n] = key;
    t->sizes[t->n] = size;
    t->times[t->n] = tm;
    t->ids[t->n] = b->map_ids[j] - 1;
    t->total_bytes += size;
    t->n++;
    return 0;
}

/* Parse an unsigned decimal at *p, advancing it. Returns 0, or -1 on no digits/overflow. */
static int trace_parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9') return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

/* Report a malformed line, quoting its start. Returns AUG_EINVAL. */
static int trace_bad_line(const trace_build_t *b, const char *name, const char *line, size_t len,
                          const char *why, aug_err_t *err)
{
    int q = len > TRACE_QUOTE_MAX ? TRACE_QUOTE_MAX : (int)len;
    return aug_err_set(err, AUG_EINVAL, "%s:%llu: %s in '%.*s%s' (expected a request line %s)",
                       name, (unsigned long long)b->lineno, why, q, line,
                       len > (size_t)q ? "..." : "",
                       b->lineno == 1 ? "or the header " TRACE_HEADER : "time,key,size");
}

/* Parse one line (without its newline) into the trace. Returns 0, AUG_EINVAL or ENOMEM. */
static int trace_parse_line(trace_build_t *b, const char *name, const char *line, size_t len,
                            aug_err_t *err)
{
    b->lineno++;
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return 0;
    const char *p = line, *end = line + len;
    if (!b->seen_first) {
        b->seen_first = 1;
        if (*p != '-' && (*p < '0' || *p > '9')) {
            if (len == strlen(TRACE_HEADER) && memcmp(line, TRACE_HEADER, len) == 0) return 0;
            return trace_bad_line(b, name, line, len, "unknown header", err);
        }
    }
    uint64_t tm, key, size;
    if (p < end && *p == '-') p++;
    if (trace_parse_u64(&p, end, &tm) != 0 || (p < end && *p != ','))
        return trace_bad_line(b, name, line, len, "time is not an integer", err);
    if (p++ == end) return trace_bad_line(b, name, line, len, "key and size missing", err);
    if (trace_parse_u64(&p, end, &key) != 0 || (p < end && *p != ','))
        return trace_bad_line(b, name, line, len, "key is not a 64-bit unsigned integer", err);
    if (p++ == end) return trace_bad_line(b, name, line, len, "size missing", err);
    if (trace_parse_u64(&p, end, &size) != 0 || (p < end && *p != ','))
        return trace_bad_line(b, name, line, len, "size is not an unsigned integer", err);
    if (p != end) return trace_bad_line(b, name, line, len, "more than 3 fields", err);
    if (size == 0) return trace_bad_line(b, name, line, len, "size must be at least 1", err);
    return trace_build_add(b, tm, key, size, err);
}

/* Read every line of s into b. */
static int trace_read_lines(trace_src_t *s, trace_build_t *b, aug_err_t *err)
{
    size_t bufcap = TRACE_CHUNK + TRACE_LINE_MAX;
    char *buf = malloc(bufcap);
    if (!buf) return aug_err_set(err, AUG_ENOMEM, "out of memory loading trace");
    size_t len = 0;
    int rc = 0;
    for (;;) {
        size_t got;
        rc = trace_src_read(s, buf + len, bufcap - len, &got, err);
        if (rc) break;
        if (got == 0) {
            if (len) rc = trace_parse_line(b, s->name, buf, len, err);
            break;
        }
        len += got;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl) break;
            rc = trace_parse_line(b, s->name, buf + start, (size_t)(nl - (buf + start)), err);
            if (rc) goto out;
            start = (size_t)(nl - buf) + 1;
        }
        len -= start;
        memmove(buf, buf + start, len);
        if (len >= TRACE_LINE_MAX) {
            b->lineno++;
            rc = trace_bad_line(b, s->name, buf, len, "line too long (binary file?)", err);
            break;
        }
    }
out:
    free(buf);
    return rc;
}

/* Fill t->next: for each request, the index of the next request for the same key. */
static int trace_link_next(trace_t *t, aug_err_t *err)
{
    uint32_t *last = malloc((t->n_keys ? t->n_keys : 1) * sizeof(*last));
    t->next = malloc((t->n ? t->n : 1) * sizeof(*t->next));
    if (!last || !t->next) {
        free(last);
        return aug_err_set(err, AUG_ENOMEM, "out of memory loading trace");
    }
    for (uint64_t k = 0; k < t->n_keys; k++)
        last[k] = TRACE_NEVER;
    for (uint64_t i = t->n; i-- > 0;) {
        t->next[i] = last[t->ids[i]];
        last[t->ids[i]] = (uint32_t)i;
    }
    free(last);
    return 0;
}

/* Sniff zstd by magic number, read every line, then link next uses. On success *out is
 * the trace (trace_free); on failure NULL and err says why. */
int trace_load_file(FILE *f, const char *name, trace_t **out, aug_err_t *err)
{
    trace_src_t s = {.f = f, .name = name};
    trace_build_t b = {0};
    int rc = AUG_ENOMEM;
    *out = NULL;
    b.t = calloc(1, sizeof(*b.t));
    s.raw = malloc(TRACE_CHUNK);
    b.map_mask = 1023;
    b.map_keys = calloc(b.map_mask + 1, sizeof(*b.map_keys));
    b.map_ids = calloc(b.map_mask + 1, sizeof(*b.map_ids));
    if (!b.t || !s.raw || !b.map_keys || !b.map_ids) {
        aug_err_set(err, rc, "out of memory loading trace");
        goto out;
    }
    rc = trace_src_refill(&s, err);
    if (rc) goto out;
    /* zstd frames start with the little-endian magic 0xFD2FB528 */
    if (s.raw_len >= 4 && s.raw[0] == 0x28 && s.raw[1] == 0xb5 && s.raw[2] == 0x2f &&
        s.raw[3] == 0xfd) {
        s.zs = ZSTD_createDStream();
        if (!s.zs) {
            rc = aug_err_set(err, AUG_ENOMEM, "out of memory loading trace");
            goto out;
        }
        ZSTD_initDStream(s.zs);
    }
    rc = trace_read_lines(&s, &b, err);
    if (rc == 0 && b.t->n == 0)
        rc = aug_err_set(err, AUG_EINVAL, "%s: the trace holds no requests", name);
    if (rc == 0) rc = trace_link_next(b.t, err);
    if (rc == 0) {
        /* the key map stays with the trace for trace_key_id */
        b.t->map_keys = b.map_keys;
        b.t->map_ids = b.map_ids;
        b.t->map_mask = b.map_mask;
        b.map_keys = NULL;
        b.map_ids = NULL;
        *out = b.t;
        b.t = NULL;
    }
out:
    if (s.zs) ZSTD_freeDStream(s.zs);
    free(s.raw);
    free(b.map_keys);
    free(b.map_ids);
    trace_free(b.t);
    return rc;
}

/* Open path and load it; AUG_ENOENT or AUG_EIO if it cannot be opened. */
int trace_load(const char *path, trace_t **out, aug_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *out = NULL;
        return aug_err_set(err, errno == ENOENT ? AUG_ENOENT : AUG_EIO, "%s: cannot open: %s", path,
                           strerror(errno));
    }
    int rc = trace_load_file(f, path, out, err);
    fclose(f);
    return rc;
}

/* Free t and its arrays (NULL is fine). */
void trace_free(trace_t *t)
{
    if (!t) return;
    free(t->keys);
    free(t->sizes);
    free(t->times);
    free(t->ids);
    free(t->next);
    free(t->map_keys);
    free(t->map_ids);
    free(t);
}

/* Look key up in the map built while loading. */
int64_t trace_key_id(const trace_t *t, uint64_t key)
{
    uint64_t j = aug_hash64(&key, 8, 0) & t->map_mask;
    while (t->map_ids[j] && t->map_keys[j] != key)
        j = (j + 1) & t->map_mask;
    return t->map_ids[j] ? (int64_t)t->map_ids[j] - 1 : -1;
}

/* percent % of the unique bytes, rounded down (saturating). */
uint64_t trace_percent_bytes(const trace_t *t, double percent)
{
    double v = (double)t->unique_bytes * (percent / 100.0);
    if (!(v > 0)) return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}
