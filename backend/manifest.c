/* manifest.c - the binary form of manifests (and bucket records), checked by CRC32C.
 *
 * Layout, all integers little endian:
 *   "AUGM" u8 format u8 flags(1 deleted, 2 inline) | str bucket | str key | id[16]
 *   u64 size | i64 mtime_ns | i64 written_ns | str etag | str content_type (flag 4 if set)
 *   u32 mode uid gid | u32 n_meta {str name, str value}
 *   inline: u32 len + bytes | else: u32 n_objects {id[16] u64 size u8 k u8 m u32 shard_len
 *   str node * (k+m)} u32 n_extents {u32 obj u64 off u64 len}
 *   u32 crc32c of everything before it
 * where str is u32 length + bytes. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC "AUGM"
#define MANIFEST_FORMAT 1
#define FLAG_DELETED 1
#define FLAG_INLINE 2
#define FLAG_CTYPE 4

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int failed;
} wbuf_t;

static void put_bytes(wbuf_t *w, const void *src, size_t n)
{
    /* n == 0 comes with src NULL (an unset string): memcpy(_, NULL, 0) is undefined */
    if (w->failed || n == 0) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) {
            w->failed = 1;
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u8(wbuf_t *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void put_u32(wbuf_t *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(w, b, 4);
}

static void put_u64(wbuf_t *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void put_str(wbuf_t *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

int manifest_encode(const backend_manifest_t *m, uint8_t **out, size_t *len)
{
    wbuf_t w = {0};
    const struct backend_layout *l = m->layout;
    uint8_t flags = (uint8_t)((m->deleted ? FLAG_DELETED : 0) |
                              (l && l->is_inline ? FLAG_INLINE : 0) |
                              (m->content_type ? FLAG_CTYPE : 0));
    put_bytes(&w, MANIFEST_MAGIC, 4);
    put_u8(&w, MANIFEST_FORMAT);
    put_u8(&w, flags);
    put_str(&w, m->bucket);
    put_str(&w, m->key);
    put_bytes(&w, m->version_id, BACKEND_VERSION_ID_LEN);
    put_u64(&w, m->size);
    put_u64(&w, (uint64_t)m->mtime_ns);
    put_u64(&w, (uint64_t)m->written_ns);
    put_str(&w, m->etag);
    put_str(&w, m->content_type);
    put_u32(&w, m->mode);
    put_u32(&w, m->uid);
    put_u32(&w, m->gid);
    put_u32(&w, (uint32_t)m->n_meta);
    for (size_t i = 0; i < m->n_meta; i++) {
        put_str(&w, m->meta[i].name);
        put_str(&w, m->meta[i].value);
    }
    if (l && l->is_inline) {
        put_u32(&w, (uint32_t)l->inline_len);
        put_bytes(&w, l->inline_data, l->inline_len);
    } else {
        uint32_t nobj = l ? l->n_objects : 0, next = l ? l->n_extents : 0;
        put_u32(&w, nobj);
        for (uint32_t i = 0; i < nobj; i++) {
            const backend_object_t *o = &l->objects[i];
            put_bytes(&w, o->id, BACKEND_VERSION_ID_LEN);
            put_u64(&w, o->size);
            put_u8(&w, o->k);
            put_u8(&w, o->m);
            put_u32(&w, o->shard_len);
            for (int j = 0; j < o->k + o->m; j++) put_str(&w, o->nodes[j]);
        }
        put_u32(&w, next);
        for (uint32_t i = 0; i < next; i++) {
            put_u32(&w, l->extents[i].obj);
            put_u64(&w, l->extents[i].obj_off);
            put_u64(&w, l->extents[i].len);
        }
    }
    if (!w.failed) put_u32(&w, aug_crc32c(0, w.p, w.len));
    if (w.failed) {
        free(w.p);
        return AUG_ENOMEM;
    }
    *out = w.p;
    *len = w.len;
    return 0;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} rbuf_t;

static const uint8_t *take(rbuf_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint8_t get_u8(rbuf_t *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t get_u32(rbuf_t *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                   (uint32_t)p[3] << 24
             : 0;
}

static uint64_t get_u64(rbuf_t *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

/* A malloc'd NUL-terminated copy of the next string; NULL on a malformed buffer. */
static char *get_str(rbuf_t *r)
{
    uint32_t n = get_u32(r);
    const uint8_t *p = take(r, n);
    if (!p) return NULL;
    if (memchr(p, '\0', n)) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Copy the next string into a fixed buffer of size cap. */
static void get_str_into(rbuf_t *r, char *dst, size_t cap)
{
    char *s = get_str(r);
    if (!s) return;
    if (strlen(s) >= cap) r->bad = 1;
    else memcpy(dst, s, strlen(s) + 1);
    free(s);
}

static int decode_layout(rbuf_t *r, uint8_t flags, struct backend_layout *l)
{
    if (flags & FLAG_INLINE) {
        l->is_inline = 1;
        uint32_t n = get_u32(r);
        const uint8_t *p = take(r, n);
        if (!p) return AUG_ECORRUPT;
        l->inline_data = malloc(n ? n : 1);
        if (!l->inline_data) return AUG_ENOMEM;
        memcpy(l->inline_data, p, n);
        l->inline_len = n;
        return 0;
    }
    uint32_t nobj = get_u32(r);
    if (r->bad || nobj > 65536) return AUG_ECORRUPT;
    l->objects = calloc(nobj ? nobj : 1, sizeof(*l->objects));
    if (!l->objects) return AUG_ENOMEM;
    for (uint32_t i = 0; i < nobj; i++) {
        backend_object_t *o = &l->objects[i];
        const uint8_t *id = take(r, BACKEND_VERSION_ID_LEN);
        if (!id) return AUG_ECORRUPT;
        memcpy(o->id, id, BACKEND_VERSION_ID_LEN);
        o->size = get_u64(r);
        o->k = get_u8(r);
        o->m = get_u8(r);
        o->shard_len = get_u32(r);
        if (r->bad || o->k < 1 || o->k > 16 || o->m > 8 || o->shard_len == 0)
            return AUG_ECORRUPT;
        l->n_objects = i + 1;
        o->nodes = calloc((size_t)(o->k + o->m), sizeof(char *));
        if (!o->nodes) return AUG_ENOMEM;
        for (int j = 0; j < o->k + o->m; j++)
            if (!(o->nodes[j] = get_str(r))) return AUG_ECORRUPT;
    }
    uint32_t next = get_u32(r);
    if (r->bad || next > (1u << 24)) return AUG_ECORRUPT;
    l->extents = calloc(next ? next : 1, sizeof(*l->extents));
    if (!l->extents) return AUG_ENOMEM;
    for (uint32_t i = 0; i < next; i++) {
        backend_extent_t *e = &l->extents[i];
        e->obj = get_u32(r);
        e->obj_off = get_u64(r);
        e->len = get_u64(r);
        if (r->bad || e->obj >= nobj || e->obj_off > l->objects[e->obj].size ||
            e->len > l->objects[e->obj].size - e->obj_off)
            return AUG_ECORRUPT;
    }
    l->n_extents = next;
    return 0;
}

int manifest_decode(const uint8_t *buf, size_t len, backend_manifest_t **out)
{
    if (len < 10 || memcmp(buf, MANIFEST_MAGIC, 4) != 0) return AUG_ECORRUPT;
    uint32_t stored = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
                      (uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24;
    if (aug_crc32c(0, buf, len - 4) != stored) return AUG_ECORRUPT;
    rbuf_t r = {.p = buf, .len = len - 4, .pos = 4};
    if (get_u8(&r) != MANIFEST_FORMAT) return AUG_ECORRUPT;
    uint8_t flags = get_u8(&r);
    backend_manifest_t *m = calloc(1, sizeof(*m));
    if (!m) return AUG_ENOMEM;
    m->layout = calloc(1, sizeof(*m->layout));
    int rc = m->layout ? 0 : AUG_ENOMEM;
    if (rc == 0) {
        m->deleted = (flags & FLAG_DELETED) != 0;
        get_str_into(&r, m->bucket, sizeof(m->bucket));
        m->key = get_str(&r);
        const uint8_t *id = take(&r, BACKEND_VERSION_ID_LEN);
        if (id) memcpy(m->version_id, id, BACKEND_VERSION_ID_LEN);
        m->size = get_u64(&r);
        m->mtime_ns = (int64_t)get_u64(&r);
        m->written_ns = (int64_t)get_u64(&r);
        get_str_into(&r, m->etag, sizeof(m->etag));
        char *ct = get_str(&r);
        if (flags & FLAG_CTYPE) m->content_type = ct;
        else free(ct);
        m->mode = get_u32(&r);
        m->uid = get_u32(&r);
        m->gid = get_u32(&r);
        uint32_t nmeta = get_u32(&r);
        if (r.bad || nmeta > 4096) rc = AUG_ECORRUPT;
        else if (nmeta && !(m->meta = calloc(nmeta, sizeof(*m->meta)))) rc = AUG_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < nmeta; i++) {
            m->meta[i].name = get_str(&r);
            m->meta[i].value = get_str(&r);
            m->n_meta = i + 1;
            if (r.bad) rc = AUG_ECORRUPT;
        }
        if (rc == 0 && !r.bad) rc = decode_layout(&r, flags, m->layout);
        if (rc == 0 && (r.bad || r.pos != r.len || !m->key)) rc = AUG_ECORRUPT;
    }
    if (rc != 0) {
        backend_manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void layout_free(struct backend_layout *l)
{
    if (!l) return;
    free(l->inline_data);
    for (uint32_t i = 0; i < l->n_objects; i++) {
        if (l->objects[i].nodes)
            for (int j = 0; j < l->objects[i].k + l->objects[i].m; j++)
                free(l->objects[i].nodes[j]);
        free(l->objects[i].nodes);
    }
    free(l->objects);
    free(l->extents);
    free(l);
}

void backend_manifest_free(backend_manifest_t *m)
{
    if (!m) return;
    free(m->key);
    free(m->content_type);
    for (size_t i = 0; i < m->n_meta; i++) {
        free(m->meta[i].name);
        free(m->meta[i].value);
    }
    free(m->meta);
    layout_free(m->layout);
    free(m);
}

backend_manifest_t *manifest_clone(const backend_manifest_t *m)
{
    uint8_t *buf;
    size_t len;
    backend_manifest_t *copy = NULL;
    if (manifest_encode(m, &buf, &len) != 0) return NULL;
    if (manifest_decode(buf, len, &copy) != 0) copy = NULL;
    free(buf);
    return copy;
}

int manifest_newer(const backend_manifest_t *a, const backend_manifest_t *b)
{
    if (a->written_ns != b->written_ns) return a->written_ns > b->written_ns;
    return memcmp(a->version_id, b->version_id, BACKEND_VERSION_ID_LEN) > 0;
}

int manifest_name(const char *bucket, const char *key, char *out, size_t len)
{
    if ((size_t)snprintf(out, len, NS_MANIFESTS "%s/%s", bucket, key) >= len) return AUG_ETOOLONG;
    return 0;
}

void backend_version_hex(const backend_manifest_t *m, char out[33])
{
    aug_hex(m->version_id, BACKEND_VERSION_ID_LEN, out);
}

const char *backend_manifest_meta(const backend_manifest_t *m, const char *name)
{
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].name, name) == 0) return m->meta[i].value;
    return NULL;
}

int backend_manifest_encode(const backend_manifest_t *m, uint8_t **buf, size_t *len)
{
    return manifest_encode(m, buf, len);
}

int backend_manifest_decode(const uint8_t *buf, size_t len, backend_manifest_t **out)
{
    return manifest_decode(buf, len, out);
}

backend_manifest_t *backend_manifest_copy(const backend_manifest_t *m)
{
    return manifest_clone(m);
}

int backend_manifest_is_inline(const backend_manifest_t *m)
{
    return m->layout && m->layout->is_inline;
}
