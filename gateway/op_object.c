/* op_object.c - requests that name a key: PutObject, GetObject, HeadObject, DeleteObject,
 * CopyObject, with conditional requests, ranges and response-* overrides. Multipart requests
 * are handed to op_multipart.c. */
#include "auth.h"
#include "gw.h"
#include "op.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers S3 keeps with an object and returns on GET and HEAD. */
static const char *const kept_headers[] = {"content-encoding", "content-disposition",
                                           "cache-control", "expires", "content-language"};
#define N_KEPT (sizeof(kept_headers) / sizeof(kept_headers[0]))

typedef struct meta_list {
    backend_kv_t items[128];
    size_t n;
    size_t bytes;
} meta_list_t;

static enum MHD_Result collect_meta(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    meta_list_t *ml = cls;
    char lower[256];
    size_t n = strlen(key);
    if (n >= sizeof(lower)) return MHD_YES;
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)key[i]);
    int keep = strncmp(lower, "x-amz-meta-", 11) == 0;
    for (size_t i = 0; !keep && i < N_KEPT; i++) keep = strcmp(lower, kept_headers[i]) == 0;
    if (!keep || ml->n == sizeof(ml->items) / sizeof(ml->items[0])) return MHD_YES;
    /* aws-chunked describes how this request's body was sent, not the object */
    if (strcmp(lower, "content-encoding") == 0 && value) {
        if (strncmp(value, "aws-chunked", 11) == 0) {
            value += 11;
            while (*value == ',' || *value == ' ') value++;
        }
        if (!*value) return MHD_YES;
    }
    ml->items[ml->n].name = strdup(lower);
    ml->items[ml->n].value = strdup(value ? value : "");
    ml->bytes += n + strlen(value ? value : "");
    ml->n++;
    return MHD_YES;
}

static void meta_list_free(meta_list_t *ml)
{
    for (size_t i = 0; i < ml->n; i++) {
        free(ml->items[i].name);
        free(ml->items[i].value);
    }
    ml->n = 0;
}

/* S3 limits user metadata to 2 KiB. */
#define USER_META_MAX 2048

int op_attrs_from_headers(gw_request_t *r, backend_put_attrs_t *attrs, meta_list_t **out)
{
    meta_list_t *ml = calloc(1, sizeof(*ml));
    if (!ml) {
        gw_respond_error(r, "InternalError", NULL);
        return -1;
    }
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_meta, ml);
    if (ml->bytes > USER_META_MAX) {
        meta_list_free(ml);
        free(ml);
        gw_respond_error(r, "MetadataTooLarge",
                         "Your metadata headers exceed the maximum allowed metadata size.");
        return -1;
    }
    memset(attrs, 0, sizeof(*attrs));
    attrs->content_type = gw_header(r, "Content-Type");
    attrs->mode = 0644;
    attrs->meta = ml->items;
    attrs->n_meta = ml->n;
    *out = ml;
    return 0;
}

void op_attrs_free(meta_list_t *ml)
{
    if (!ml) return;
    meta_list_free(ml);
    free(ml);
}

/* ---- PUT ------------------------------------------------------------------------------- */

static int put_piece(gw_request_t *r, const uint8_t *data, size_t len)
{
    aug_err_t err;
    aug_err_clear(&err);
    if (cache_writer_write(r->cwriter, data, len, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return -1;
    }
    return 0;
}

static void respond_put_ok(gw_request_t *r, const backend_manifest_t *m)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char etag[BACKEND_ETAG_MAX + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", m->etag);
    MHD_add_response_header(resp, "ETag", etag);
    if (r->checksum_name[0]) MHD_add_response_header(resp, r->checksum_name, r->checksum_want);
    gw_respond(r, 200, resp);
}

static void finish_put(gw_request_t *r)
{
    aug_err_t err;
    aug_err_clear(&err);
    if (r->has_declared_len && r->bytes_in < r->declared_len && !r->chunked) {
        gw_respond_error(r, "IncompleteBody", NULL);
        return;
    }
    if (r->checksum_name[0])
        cache_writer_set_meta(r->cwriter, r->checksum_name, r->checksum_want);
    backend_manifest_t *m = NULL;
    cache_writer_t *w = r->cwriter;
    r->cwriter = NULL;
    if (cache_writer_commit(w, &m, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    respond_put_ok(r, m);
    backend_manifest_free(m);
}

/* Checks common to PutObject and UploadPart before the body is read. */
int op_check_upload_headers(gw_request_t *r)
{
    const char *te = gw_header(r, "Transfer-Encoding");
    if (!r->has_declared_len && !(te && strcasecmp(te, "chunked") == 0 && r->chunked)) {
        if (!r->chunked) {
            gw_respond_error(r, "MissingContentLength", NULL);
            return -1;
        }
    }
    if (r->has_declared_len && r->declared_len > GW_PUT_MAX) {
        gw_respond_error(r, "EntityTooLarge", NULL);
        return -1;
    }
    return 0;
}

static void put_object(gw_request_t *r)
{
    if (gw_check_acl_header(r) != 0 || op_check_upload_headers(r) != 0) return;
    backend_put_attrs_t attrs;
    meta_list_t *ml;
    if (op_attrs_from_headers(r, &attrs, &ml) != 0) return;
    aug_err_t err;
    aug_err_clear(&err);
    /* a file closed on a mount of this process may still be uploading: this write goes after it */
    cache_pending_wait(r->gw->cache, r->bucket, r->key);
    int rc = cache_writer_open(r->gw->cache, r->bucket, r->key, &attrs, &r->cwriter, &err);
    op_attrs_free(ml);
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    r->on_body = put_piece;
    r->on_finish = finish_put;
}

/* ---- conditions -------------------------------------------------------------------------- */

/* Does the ETag list (e.g. "\"a\", W/\"b\"" or "*") name etag? */
static int etag_matches(const char *list, const char *etag)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '*') return 1;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        int quoted = *p == '"';
        if (quoted) p++;
        const char *end = quoted ? strchr(p, '"') : p + strcspn(p, ", ");
        if (!end) end = p + strlen(p);
        if ((size_t)(end - p) == strlen(etag) && strncmp(p, etag, (size_t)(end - p)) == 0)
            return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Evaluate If-Match / If-None-Match / If-(Un)Modified-Since (with the given header prefix,
 * "" or "x-amz-copy-source-") against m. Returns 0 to proceed, 304 or 412. */
int op_check_conditions(gw_request_t *r, const backend_manifest_t *m, const char *prefix)
{
    char name[64];
    snprintf(name, sizeof(name), "%sif-match", prefix);
    const char *im = gw_header(r, name);
    snprintf(name, sizeof(name), "%sif-none-match", prefix);
    const char *inm = gw_header(r, name);
    snprintf(name, sizeof(name), "%sif-modified-since", prefix);
    const char *ims = gw_header(r, name);
    snprintf(name, sizeof(name), "%sif-unmodified-since", prefix);
    const char *ius = gw_header(r, name);
    int64_t mtime_s = m->mtime_ns / 1000000000LL, t;
    int copy = *prefix != '\0';
    if (im) {
        if (!etag_matches(im, m->etag)) return 412;
    } else if (ius && gw_parse_http_time(ius, &t) == 0 && mtime_s > t / 1000000000LL) {
        return 412;
    }
    if (inm) {
        if (etag_matches(inm, m->etag)) return copy ? 412 : 304;
    } else if (ims && gw_parse_http_time(ims, &t) == 0 && mtime_s <= t / 1000000000LL &&
               t <= aug_now_ns()) {
        return copy ? 412 : 304;
    }
    return 0;
}

/* ---- GET and HEAD ------------------------------------------------------------------------ */

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    gw_request_t *r = cls;
    (void)pos; /* the reader is sequential and libmicrohttpd asks in order */
    aug_err_t err;
    aug_err_clear(&err);
    ssize_t n = cache_reader_read(r->reader, buf, max, &err);
    if (n > 0) {
        r->bytes_out += (uint64_t)n;
        return n;
    }
    if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    /* the status is sent already: cutting the connection is how the client learns */
    aug_warn("gateway: request %s: %s", r->request_id, err.msg);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Bodies up to this size are read whole and sent from one buffer (headers and body in one
 * send); larger ones stream through a reader. */
#define SMALL_BODY_MAX (64u << 10)
/* libmicrohttpd's buffer for streamed bodies. */
#define STREAM_BLOCK (256u << 10)

static struct MHD_Response *response_streamed(gw_request_t *r, uint64_t len)
{
    /* a buffer no larger than the body: MHD allocates (and zeroes) it per response */
    size_t block = len < STREAM_BLOCK ? (size_t)(len ? len : 1) : STREAM_BLOCK;
    return MHD_create_response_from_callback(len, block, read_body, r, NULL);
}

static struct MHD_Response *response_buffered(gw_request_t *r, uint64_t len, aug_err_t *err)
{
    char *buf = malloc(len ? len : 1);
    if (!buf) return NULL;
    uint64_t got = 0;
    while (got < len) {
        ssize_t n = cache_reader_read(r->reader, buf + got, (size_t)(len - got), err);
        if (n <= 0) {
            free(buf);
            if (n == 0) aug_err_set(err, AUG_ECORRUPT, "object shorter than its manifest");
            return NULL;
        }
        got += (uint64_t)n;
    }
    r->bytes_out += len;
    return MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
}

/* Parse a Range header against size. Returns 1 with [*lo, *hi] for a satisfiable single
 * range, 0 to ignore it (absent or not a single byte range), -1 if unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *lo, uint64_t *hi)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end) return 0;
        if (n == 0) return -1;
        if (size == 0) return 0;
        *lo = n >= size ? 0 : size - n;
        *hi = size - 1;
        return 1;
    }
    if (!isdigit((unsigned char)*p)) return 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-') return 0;
    const char *q = end + 1;
    unsigned long long b = UINT64_MAX;
    if (*q) {
        b = strtoull(q, &end, 10);
        if (*end || !isdigit((unsigned char)*q)) return 0;
        if (b < a) return 0;
    }
    if (a >= size) return -1;
    *lo = a;
    *hi = b >= size ? size - 1 : b;
    return 1;
}

/* Part boundaries of a multipart object ("augur-parts" = sizes, comma separated). */
static int part_range(const backend_manifest_t *m, int part, uint64_t *lo, uint64_t *len,
                      int *count)
{
    const char *parts = backend_manifest_meta(m, "augur-parts");
    if (!parts) {
        *count = 1;
        if (part != 1) return -1;
        *lo = 0;
        *len = m->size;
        return 0;
    }
    uint64_t off = 0;
    int i = 0, found = 0;
    for (const char *p = parts; *p;) {
        char *end;
        uint64_t sz = strtoull(p, &end, 10);
        i++;
        if (i == part) {
            *lo = off;
            *len = sz;
            found = 1;
        }
        off += sz;
        p = *end == ',' ? end + 1 : end;
    }
    *count = i;
    return found ? 0 : -1;
}

/* whole: the answer carries the whole object (a stored checksum describes only that). */
static void op_add_object_headers(gw_request_t *r, struct MHD_Response *resp,
                                  const backend_manifest_t *m, int whole)
{
    char buf[BACKEND_ETAG_MAX + 3], when[64];
    snprintf(buf, sizeof(buf), "\"%s\"", m->etag);
    MHD_add_response_header(resp, "ETag", buf);
    gw_time_http(m->mtime_ns, when, sizeof(when));
    MHD_add_response_header(resp, "Last-Modified", when);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    const char *ct = gw_param(r, "response-content-type");
    MHD_add_response_header(resp, "Content-Type",
                            ct ? ct : m->content_type ? m->content_type : "binary/octet-stream");
    static const char *const overrides[][2] = {
        {"response-content-language", "content-language"},
        {"response-expires", "expires"},
        {"response-cache-control", "cache-control"},
        {"response-content-disposition", "content-disposition"},
        {"response-content-encoding", "content-encoding"},
    };
    const size_t n_overrides = sizeof(overrides) / sizeof(overrides[0]);
    for (size_t i = 0; i < m->n_meta; i++) {
        const char *name = m->meta[i].name;
        int kept = strncmp(name, "x-amz-meta-", 11) == 0;
        for (size_t j = 0; !kept && j < N_KEPT; j++) kept = strcmp(name, kept_headers[j]) == 0;
        if (strncmp(name, "x-amz-checksum-", 15) == 0) {
            /* not on a range or a part, as S3: SDKs validate the body they got against it */
            const char *mode = gw_header(r, "x-amz-checksum-mode");
            kept = whole && mode && strcasecmp(mode, "ENABLED") == 0;
        }
        /* a response-* parameter replaces the stored header: leave the stored one out
         * (MHD_del_response_header() needs the exact value, so deleting it later fails and
         * the answer carried both) */
        for (size_t j = 0; kept && j < n_overrides; j++)
            if (strcmp(name, overrides[j][1]) == 0 && gw_param(r, overrides[j][0])) kept = 0;
        if (kept) MHD_add_response_header(resp, name, m->meta[i].value);
    }
    for (size_t i = 0; i < n_overrides; i++) {
        const char *v = gw_param(r, overrides[i][0]);
        if (v) MHD_add_response_header(resp, overrides[i][1], v);
    }
}

static void respond_not_modified(gw_request_t *r, const backend_manifest_t *m)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char buf[BACKEND_ETAG_MAX + 3], when[64];
    snprintf(buf, sizeof(buf), "\"%s\"", m->etag);
    MHD_add_response_header(resp, "ETag", buf);
    gw_time_http(m->mtime_ns, when, sizeof(when));
    MHD_add_response_header(resp, "Last-Modified", when);
    gw_respond(r, 304, resp);
}

static void get_object(gw_request_t *r, int head)
{
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m;
    /* a file closed on a mount of this process may still be uploading: read what was closed */
    cache_pending_wait(r->gw->cache, r->bucket, r->key);
    if (cache_head(r->gw->cache, r->bucket, r->key, &m, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    r->manifest = m;
    int cond = op_check_conditions(r, m, "");
    if (cond == 304) {
        respond_not_modified(r, m);
        return;
    }
    if (cond == 412) {
        gw_respond_error(r, "PreconditionFailed", NULL);
        return;
    }
    uint64_t lo = 0, len = m->size;
    int ranged = 0, parts = 0;
    const char *pn = gw_param(r, "partNumber");
    if (pn) {
        char *end;
        long part = strtol(pn, &end, 10);
        if (*end || part < 1 || part > BACKEND_MAX_PARTS || part_range(m, (int)part, &lo, &len, &parts) != 0) {
            gw_respond_error(r, "InvalidPartNumber", "The requested partnumber is not satisfiable");
            return;
        }
        ranged = parts > 1 || m->size > 0;
    } else {
        uint64_t hi;
        int rr = parse_range(gw_header(r, "Range"), m->size, &lo, &hi);
        if (rr < 0) {
            gw_respond_error(r, "InvalidRange", NULL);
            return;
        }
        if (rr > 0) {
            ranged = 1;
            len = hi - lo + 1;
        }
    }
    if (!head && cache_reader_open(r->gw->cache, m, lo, len, &r->reader, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    struct MHD_Response *resp = head || len > SMALL_BODY_MAX
                                    ? response_streamed(r, len)
                                    : response_buffered(r, len, &err);
    if (!resp && err.code != AUG_OK) {
        gw_respond_backend_error(r, &err);
        return;
    }
    if (!resp) {
        gw_respond_error(r, "InternalError", NULL);
        return;
    }
    op_add_object_headers(r, resp, m, lo == 0 && len == m->size);
    if (parts > 0) {
        char pc[16];
        snprintf(pc, sizeof(pc), "%d", parts);
        MHD_add_response_header(resp, "x-amz-mp-parts-count", pc);
    }
    if (ranged && m->size > 0) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)lo,
                 (unsigned long long)(lo + len - 1), (unsigned long long)m->size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    gw_respond(r, ranged && (pn == NULL || m->size > 0) ? 206 : 200, resp);
}

/* ---- DELETE -------------------------------------------------------------------------------- */

static void delete_object(gw_request_t *r)
{
    aug_err_t err;
    aug_err_clear(&err);
    /* a file closed on a mount of this process may still be uploading: this write goes after it */
    cache_pending_wait(r->gw->cache, r->bucket, r->key);
    int rc = cache_delete(r->gw->cache, r->bucket, r->key, &err);
    if (rc == AUG_ENOENT && backend_bucket_stat(r->gw->backend, r->bucket, NULL, NULL) == 0)
        rc = 0; /* deleting a missing key succeeds, as on S3 */
    if (rc != 0) gw_respond_backend_error(r, &err);
    else gw_respond_empty(r, 204);
}

/* ---- COPY --------------------------------------------------------------------------------- */

/* Parse x-amz-copy-source ("/bucket/key" or "bucket/key", URL-encoded, optional
 * ?versionId=null) and look the source up. Returns 0 with *src, or -1 with an error queued. */
int op_copy_source(gw_request_t *r, backend_manifest_t **src)
{
    const char *h = gw_header(r, "x-amz-copy-source");
    char *copy = h ? strdup(h) : NULL;
    if (!copy) {
        gw_respond_error(r, "InvalidArgument", "Copy Source must mention the source bucket and "
                                               "key: sourcebucket/sourcekey");
        return -1;
    }
    char *q = strchr(copy, '?');
    if (q) {
        *q = '\0';
        if (strcmp(q + 1, "versionId=null") != 0) {
            free(copy);
            gw_respond_error(r, "InvalidArgument", "Invalid version id specified");
            return -1;
        }
    }
    /* percent-decode in place */
    char *o = copy;
    for (char *p = copy; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    char *path = copy[0] == '/' ? copy + 1 : copy;
    char *slash = strchr(path, '/');
    if (!slash || slash == path || !slash[1]) {
        free(copy);
        gw_respond_error(r, "InvalidArgument", "Copy Source must mention the source bucket and "
                                               "key: sourcebucket/sourcekey");
        return -1;
    }
    *slash = '\0';
    /* the copy reads the source: the signer must be allowed to read its bucket, or a key
     * limited to one bucket could copy any object into it */
    if (!r->auth || !r->auth->key || !auth_creds_allows(r->auth->key, path, false)) {
        free(copy);
        gw_respond_error(r, "AccessDenied", NULL);
        return -1;
    }
    aug_err_t err;
    aug_err_clear(&err);
    cache_pending_wait(r->gw->cache, path, slash + 1); /* a source closed on a mount here */
    int rc = cache_head(r->gw->cache, path, slash + 1, src, &err);
    free(copy);
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return -1;
    }
    int cond = op_check_conditions(r, *src, "x-amz-copy-source-");
    if (cond != 0) {
        backend_manifest_free(*src);
        *src = NULL;
        gw_respond_error(r, "PreconditionFailed", NULL);
        return -1;
    }
    return 0;
}

void op_respond_copy_result(gw_request_t *r, const char *root, const backend_manifest_t *m)
{
    char when[40];
    gw_time_iso(m->mtime_ns, when, sizeof(when));
    gw_xml_t *x = gw_xml_begin(root);
    gw_xml_text(x, "LastModified", when);
    gw_xml_textf(x, "ETag", "\"%s\"", m->etag);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

static void copy_object(gw_request_t *r)
{
    if (gw_check_acl_header(r) != 0) return;
    const char *directive = gw_header(r, "x-amz-metadata-directive");
    if (directive && strcmp(directive, "COPY") != 0 && strcmp(directive, "REPLACE") != 0) {
        gw_respond_error(r, "InvalidArgument", "Unknown metadata directive.");
        return;
    }
    int replace = directive && strcmp(directive, "REPLACE") == 0;
    backend_manifest_t *src;
    if (op_copy_source(r, &src) != 0) return;
    if (!replace && strcmp(src->bucket, r->bucket) == 0 && strcmp(src->key, r->key) == 0) {
        backend_manifest_free(src);
        gw_respond_error(r, "InvalidRequest",
                         "This copy request is illegal because it is trying to copy an object "
                         "to itself without changing the object's metadata, storage class, "
                         "website redirect location or encryption attributes.");
        return;
    }
    backend_put_attrs_t attrs = {0};
    meta_list_t *ml = NULL;
    if (replace) {
        if (op_attrs_from_headers(r, &attrs, &ml) != 0) {
            backend_manifest_free(src);
            return;
        }
    } else {
        attrs.content_type = src->content_type;
        attrs.mode = src->mode;
        attrs.uid = src->uid;
        attrs.gid = src->gid;
        attrs.meta = src->meta;
        attrs.n_meta = src->n_meta;
    }
    backend_piece_t piece = {.manifest = src, .off = 0, .len = src->size};
    backend_manifest_t *m = NULL;
    aug_err_t err;
    aug_err_clear(&err);
    /* a file closed on a mount of this process may still be uploading: this write goes after it */
    cache_pending_wait(r->gw->cache, r->bucket, r->key);
    int rc = cache_put_composed(r->gw->cache, r->bucket, r->key, &attrs, &piece, 1,
                                  src->etag, &m, &err);
    op_attrs_free(ml);
    backend_manifest_free(src);
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    op_respond_copy_result(r, "CopyObjectResult", m);
    backend_manifest_free(m);
}

/* ---- object sub-resources ------------------------------------------------------------------ */

static void object_acl(gw_request_t *r)
{
    backend_manifest_t *m;
    aug_err_t err;
    if (cache_head(r->gw->cache, r->bucket, r->key, &m, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    backend_manifest_free(m);
    gw_respond_owner_acl(r);
}

static int check_key(gw_request_t *r)
{
    aug_err_t err;
    int rc = backend_check_key(r->key, &err);
    if (rc == 0) return 0;
    if (rc == AUG_ETOOLONG && strlen(r->key) > BACKEND_KEY_MAX)
        gw_respond_error(r, "KeyTooLongError", NULL);
    else gw_respond_error(r, "InvalidArgument", err.msg);
    return -1;
}

void op_object(gw_request_t *r)
{
    const char *m = r->method;
    if (check_key(r) != 0) return;
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        int head = m[0] == 'H';
        if (gw_param(r, "uploadId")) op_list_parts(r);
        else if (gw_param(r, "acl")) object_acl(r);
        else if (gw_param(r, "tagging") || gw_param(r, "retention") || gw_param(r, "legal-hold") ||
                 gw_param(r, "torrent") || gw_param(r, "attributes"))
            gw_respond_error(r, "NotImplemented", NULL);
        else get_object(r, head);
    } else if (strcmp(m, "PUT") == 0) {
        if (gw_param(r, "uploadId") || gw_param(r, "partNumber")) op_upload_part(r);
        else if (gw_param(r, "acl")) {
            if (gw_check_acl_header(r) == 0) gw_collect_body(r, GW_XML_BODY_MAX, object_acl);
        } else if (gw_param(r, "tagging") || gw_param(r, "retention") ||
                   gw_param(r, "legal-hold"))
            gw_respond_error(r, "NotImplemented", NULL);
        else if (gw_header(r, "x-amz-copy-source")) copy_object(r);
        else put_object(r);
    } else if (strcmp(m, "DELETE") == 0) {
        if (gw_param(r, "uploadId")) op_abort_upload(r);
        else if (gw_param(r, "tagging")) gw_respond_error(r, "NotImplemented", NULL);
        else delete_object(r);
    } else if (strcmp(m, "POST") == 0) {
        if (gw_param(r, "uploads")) op_create_upload(r);
        else if (gw_param(r, "uploadId")) op_complete_upload(r);
        else gw_respond_error(r, "NotImplemented", NULL);
    } else {
        gw_respond_error(r, "MethodNotAllowed", NULL);
    }
}
